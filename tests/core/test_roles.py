"""Roles and personal data on real stores: what a viewer's store masks (payloads, metadata, raw
payloads, decode errors, command payloads, fields a layout reads from payloads, projections built
on it), what it refuses (text search), connection profiles and their ceilings, and the CLI's output
for a viewer, which must hold none of the demo's personal data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from inspector.core.codecs import Codec
from inspector.core.command_log import find_commands
from inspector.core.demo import create_demo
from inspector.core.history import build_history
from inspector.core.layout import Layout
from inspector.core.model import EventFilter
from inspector.core.profiles import ProfileBook, ProfileError, ceiling, profile_url, resolve_role
from inspector.core.masking import compile_path, mask_value
from inspector.core.roles import (MASK, RAW_WITHHELD, DEFAULT_ROLE, MaskRule, Role, RoleError, RoleStore, require,
                                  role_of)
from inspector.core.session import open_store

PERSONAL_TYPES = ("CustomerRegistered", "CustomerEmailChanged", "CustomerAddressChanged")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("roles") / "shop.sqlite"
    create_demo(path, events=2000, seed=7, days=4)
    return path


def _open(path, pm, role):
    return open_store(str(path), pm.layout_definitions(), pm.codecs(), role=role, masking_rules=pm.masking_rules())


def personal_values(path: Path, pm) -> set[str]:
    """The demo's personal data as an auditor reads it: names, e-mail addresses, phone numbers,
    streets and the customers' IP addresses."""
    o = _open(path, pm, "auditor")
    try:
        found: set[str] = set()
        for e in o.store.iter_events(EventFilter(types=PERSONAL_TYPES)):
            found.update(str(e.data[k]) for k in ("name", "email", "phone", "street") if k in e.data)
            if "ip" in (e.metadata or {}):
                found.add(e.metadata["ip"])
    finally:
        o.store.close()
    assert len(found) > 50 and any("@" in v for v in found)
    return found


@pytest.fixture(scope="module")
def personal(demo, plugin_manager) -> set[str]:
    return personal_values(demo, plugin_manager)


def leaked(text: str, personal: set[str]) -> list[str]:
    return sorted(v for v in personal if v in text)


# -- masking values --------------------------------------------------------------------------------


def test_paths_nested_lists_globs_and_any_depth():
    doc = {"name": "Ann", "Shipping": {"address": {"street": "Main St 1", "city": "Cork"}, "method": "post"},
           "lines": [{"sku": "A", "note": "for Ann"}, {"sku": "B"}],
           "contact": {"work_email": "ann@corp.example", "phone": None}, "n": 3}
    pats = tuple(compile_path(p) for p in ("shipping.address.street", "lines[].note", "**.*email*",
                                           "contact.phone", "n"))
    out = mask_value(doc, pats)
    assert out == {"name": "Ann", "Shipping": {"address": {"street": MASK, "city": "Cork"}, "method": "post"},
                   "lines": [{"sku": "A", "note": MASK}, {"sku": "B"}],
                   "contact": {"work_email": MASK, "phone": MASK}, "n": MASK}
    assert doc["lines"][0]["note"] == "for Ann"  # the input is never changed
    assert mask_value(doc, (compile_path("nothing.here"),)) is doc  # nothing masked: the same object
    assert mask_value(doc, (compile_path("shipping"),))["Shipping"] == MASK  # a container masked whole
    assert compile_path("a.b.**") == ("a", "b") and compile_path("[].email") == ("email",)
    for bad in ("", "a..b", "a[0]", "**"):
        with pytest.raises(ValueError):
            compile_path(bad)


def test_rules_validate_and_scope_by_type_and_layout():
    with pytest.raises(ValueError):
        MaskRule()
    with pytest.raises(ValueError):
        MaskRule(fields=("a[1]",))
    r = MaskRule(fields="email", types=("Customer*",), layouts=("inspector",))
    assert r.fields == ("email",) and r.for_type("CustomerRegistered") and not r.for_type("OrderPlaced")
    assert r.for_type(None)  # an event of unknown type: every rule may be about it
    assert r.for_layout("inspector") and not r.for_layout("marten")


def test_role_order_and_permissions():
    assert [r.rank for r in (Role.VIEWER, Role.AUDITOR, Role.OPERATOR)] == [0, 1, 2]
    assert not Role.VIEWER.sees_personal_data and Role.AUDITOR.sees_personal_data
    assert Role.OPERATOR.can_submit and not Role.AUDITOR.can_submit
    assert Role.parse("Operator") is Role.OPERATOR and DEFAULT_ROLE is Role.VIEWER
    with pytest.raises(RoleError, match="roles: viewer, auditor, operator"):
        Role.parse("admin")


# -- a viewer's store --------------------------------------------------------------------------------


def test_a_viewer_store_holds_no_personal_value(demo, plugin_manager, personal):
    o = _open(demo, plugin_manager, "viewer")
    try:
        assert o.role is Role.VIEWER and role_of(o) is Role.VIEWER
        text = []
        n = 0
        for e in o.store.iter_events():
            text.append(json.dumps(e.to_json(), ensure_ascii=False, default=str))
            assert e.raw == RAW_WITHHELD
            n += 1
        assert n == o.store.count()
        assert leaked("\n".join(text), personal) == []
        reg = next(o.store.iter_events(EventFilter(types=("CustomerRegistered",))))
        assert {reg.data[k] for k in ("name", "email", "phone", "street", "city", "postcode")} == {MASK}
        assert reg.data["customer_id"] and reg.data["country"] != MASK  # pseudonyms and coarse data stay
        assert reg.metadata["ip"] == MASK and reg.metadata["user_agent"] == MASK
        product = next(o.store.iter_events(EventFilter(types=("ProductAdded",))))
        assert product.data["name"] != MASK  # a product's name is not a customer's
    finally:
        o.store.close()


def test_auditor_and_operator_stores_read_as_stored(demo, plugin_manager, personal):
    for role in ("auditor", "operator"):
        o = _open(demo, plugin_manager, role)
        try:
            reg = next(o.store.iter_events(EventFilter(types=("CustomerRegistered",))))
            assert reg.data["email"] in personal and reg.raw and reg.raw != RAW_WITHHELD
            assert o.role is Role(role) and role_of(o.store) is Role(role)
            if role == "auditor":
                with pytest.raises(RoleError, match="needs the operator role; this session is auditor"):
                    require(o, "submitting", submit=True)
            else:
                assert require(o, "submitting", submit=True) is Role.OPERATOR
        finally:
            o.store.close()


def test_text_search_is_refused_to_a_viewer(demo, plugin_manager, personal):
    email = next(v for v in personal if "@" in v)
    viewer, auditor = _open(demo, plugin_manager, "viewer"), _open(demo, plugin_manager, "auditor")
    try:
        assert auditor.store.count(EventFilter(text=email)) >= 1
        for call in (lambda s: s.count(EventFilter(text=email)), lambda s: s.read_page(EventFilter(text="x")),
                     lambda s: s.histogram(EventFilter(text=email)), lambda s: s.event_types(EventFilter(text="a"))):
            with pytest.raises(RoleError, match="cannot search payload text"):
                call(viewer.store)
        assert viewer.store.count(EventFilter(types=("CustomerRegistered",))) >= 1  # other filters work
    finally:
        viewer.store.close()
        auditor.store.close()


def test_projections_and_command_payloads_are_masked(demo, plugin_manager, personal):
    by_name = {p.name: p for p in plugin_manager.projections()}
    o = _open(demo, plugin_manager, "viewer")
    try:
        for name in ("customer_balances", "streams", "orders"):
            df = build_history(o.store, by_name[name]).as_of()
            assert len(df) and leaked(df.to_json(date_format="iso"), personal) == []
        balances = build_history(o.store, by_name["customer_balances"]).as_of()
        assert set(balances["name"].dropna()) == {MASK}
        reg = next(o.store.iter_events(EventFilter(types=("CustomerRegistered",))))
        cmd = find_commands(o.store, [reg.causation_id])[reg.causation_id]
        assert cmd.type == "RegisterCustomer" and cmd.payload == {"email": MASK, "name": MASK}
    finally:
        o.store.close()


def test_decode_errors_and_text_payloads_are_withheld(demo, plugin_manager, tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(demo.read_bytes())
    con = sqlite3.connect(path)
    for pos, payload in ((3, b"\x00\x01secret bytes ann@x.example"), (4, "plain text: call Ann on 555-0100"),
                         (5, '{"email": "ann@x.example", '), (6, b"LEAK ann@x.example")):
        con.execute("UPDATE inspector_events SET data = ? WHERE position = ?", (payload, pos))
    con.commit()
    con.close()

    def leaky(raw):  # a plugin codec whose exception quotes the payload
        raise ValueError(f"cannot read {raw!r}")

    codecs = list(plugin_manager.codecs()) + [Codec("leaky", sniff=lambda raw: raw[:4] in (b"LEAK", "LEAK"),
                                                    decode=leaky, priority=1)]
    a, v = (open_store(str(path), plugin_manager.layout_definitions(), codecs, role=role,
                       masking_rules=plugin_manager.masking_rules()) for role in ("auditor", "viewer"))
    try:
        assert "73 65 63" in a.store.get(3).decode_error  # the auditor's error quotes the bytes in hex
        assert "ann@x.example" in a.store.get(6).decode_error
        e3, e4, e5, e6 = (v.store.get(p) for p in (3, 4, 5, 6))
        assert e3.data is None and e3.decode_error == "unrecognised binary payload (28 bytes)"
        assert a.store.get(4).data.startswith("plain text") and e4.data == MASK  # text cannot be masked field-wise
        assert e5.decode_error == a.store.get(5).decode_error and e5.decode_error.startswith("corrupt JSON")
        assert e6.decode_error == "payload not decoded (leaky); the reason is withheld from viewers"
        assert {e.raw for e in (e3, e4, e5, e6)} == {RAW_WITHHELD}
    finally:
        a.store.close()
        v.store.close()


def test_no_rules_fails_closed(demo, plugin_manager):
    o = open_store(str(demo), plugin_manager.layout_definitions(), plugin_manager.codecs(), role="viewer")
    try:
        product = next(o.store.iter_events(EventFilter(types=("ProductAdded",))))
        assert set(product.data) == {"sku", "name", "category", "price", "currency"}  # keys stay
        assert set(product.data.values()) == {MASK} and set(product.metadata.values()) == {MASK}
    finally:
        o.store.close()


def test_fields_a_layout_reads_from_payloads_are_masked_and_not_filterable(sqlite_url):
    eng = sa.create_engine(sqlite_url)
    with eng.begin() as c:
        c.execute(sa.text("CREATE TABLE ev (pos INTEGER PRIMARY KEY, kind TEXT, body TEXT, meta TEXT)"))
        for i, who in enumerate(("ann@shop.example", "bob@shop.example"), 1):
            c.execute(sa.text("INSERT INTO ev VALUES (:p, 'Paid', :b, :m)"),
                      {"p": i, "b": json.dumps({"amount": i}), "m": json.dumps({"user": {"email": who}})})
    lay = Layout.of("custom", "custom", "ev", {"position": "pos", "type": "kind", "payload": "body",
                                               "metadata": "meta", "actor": "meta->user.email"}, time_kind="none")
    rules = [MaskRule(metadata=("user.email",))]
    auditor, viewer = (RoleStore(eng, lay, None, "custom", r, rules) for r in ("auditor", "viewer"))
    assert [e.actor for e in auditor.iter_events()] == ["ann@shop.example", "bob@shop.example"]
    assert [(e.actor, e.metadata, e.data) for e in viewer.iter_events()] == [
        (MASK, {"user": {"email": MASK}}, {"amount": 1}), (MASK, {"user": {"email": MASK}}, {"amount": 2})]
    with pytest.raises(RoleError, match="cannot filter by actor"):
        viewer.count(EventFilter(actor="ann@shop.example"))
    eng.dispose()


@pytest.mark.postgres
def test_a_viewer_store_on_postgresql_masks_jsonb(demo, pg_url, plugin_manager, personal):
    """The demo copied into PostgreSQL, where payloads come back as jsonb the driver has parsed."""
    from inspector.core import ownstore
    from inspector.core.ownstore import NewEvent
    from inspector.core.rows import parse_time

    src = sqlite3.connect(demo)
    rows = src.execute("SELECT event_id, stream, version, type, recorded_at, data, metadata, causation_id, "
                       "correlation_id, actor FROM inspector_events ORDER BY position LIMIT 600").fetchall()
    src.close()
    eng = sa.create_engine(pg_url)
    with eng.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_events(conn, [NewEvent(event_id=r[0], stream=r[1], version=r[2], type=r[3],
                                               recorded_at=parse_time(r[4]), data=json.loads(r[5]),
                                               metadata=json.loads(r[6]), causation_id=r[7], correlation_id=r[8],
                                               actor=r[9]) for r in rows])
    eng.dispose()
    o = _open(pg_url, plugin_manager, "viewer")
    try:
        assert o.store.dialect.name == "postgresql"
        events = list(o.store.iter_events())
        assert len(events) == 600 and any(e.type == "CustomerRegistered" for e in events)
        assert leaked(json.dumps([e.to_json() for e in events], ensure_ascii=False, default=str), personal) == []
        reg = next(e for e in events if e.type == "CustomerRegistered")
        assert reg.data["email"] == MASK and reg.raw == RAW_WITHHELD
        with pytest.raises(RoleError):
            o.store.count(EventFilter(text="example.com"))
    finally:
        o.store.close()


# -- profiles ----------------------------------------------------------------------------------------


def test_profiles_keep_no_password_and_cap_the_role(tmp_path, demo):
    book = ProfileBook(tmp_path / "profiles.json")
    p = book.add("prod", "postgresql://ann:s3cret@db.example/shop", "viewer", note="production")
    assert p.url == "postgresql+psycopg://ann@db.example/shop" and "s3cret" not in book.path.read_text()
    book.add("demo", str(demo), Role.AUDITOR)
    with pytest.raises(ProfileError, match="exists already"):
        book.add("demo", str(demo), "viewer")
    with pytest.raises(ProfileError, match="bad profile name"):
        book.add("two words", str(demo), "viewer")
    assert [x.name for x in book.list()] == ["demo", "prod"]

    # a profile's role: the default and the ceiling, reached by name or by URL (with or without password)
    assert resolve_role(None, "postgresql://ann:other@db.example/shop", book=book) is Role.VIEWER
    with pytest.raises(RoleError, match="exceeds profile 'prod'"):
        resolve_role("auditor", "postgres://ann@db.example/shop", book=book)
    assert resolve_role(None, f"sqlite:///{demo}", book=book) is Role.AUDITOR
    assert resolve_role("viewer", str(demo), book.get("demo"), book) is Role.VIEWER  # lower is fine
    with pytest.raises(RoleError):
        resolve_role("operator", str(demo), book.get("demo"), book)
    # no profile: no ceiling, and the default is viewer
    assert resolve_role(None, "sqlite:///elsewhere.sqlite", book=book) is DEFAULT_ROLE
    assert resolve_role("operator", "sqlite:///elsewhere.sqlite", book=book) is Role.OPERATOR
    # --profile caps a session even on another URL (diff --against a fork)
    assert ceiling("sqlite:///elsewhere.sqlite", book.get("prod"), book).role is Role.VIEWER

    assert book.remove("prod").name == "prod" and [x.name for x in book.list()] == ["demo"]
    with pytest.raises(ProfileError, match="no profile 'prod'; profiles: demo"):
        book.get("prod")
    assert profile_url(str(demo)) == f"sqlite:///{demo.resolve()}"


def test_a_damaged_profiles_file_is_an_error_not_no_ceiling(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="damaged"):
        resolve_role(None, "sqlite:///x.sqlite", book=ProfileBook(path))


# -- the command line ----------------------------------------------------------------------------------


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSPECTOR_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "inspector.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_a_viewers_cli_output_holds_no_personal_data(demo, personal, data_dir, plugin_manager):
    o = _open(demo, plugin_manager, "auditor")
    try:
        reg = next(o.store.iter_events(EventFilter(types=("CustomerRegistered",))))
        late = list(o.store.iter_events(EventFilter(types=("CustomerRegistered",))))[-1]
    finally:
        o.store.close()
    commands = [
        ("events", str(demo), "--limit", "0", "--format", "jsonl"),
        ("events", str(demo), "--limit", "0", "--format", "csv"),
        ("events", str(demo), "--type", "CustomerRegistered", "--limit", "20"),
        ("state", str(demo), "--projection", "customer_balances"),
        ("state", str(demo), "--projection", "orders"),
        ("state", str(demo), "--projection", "streams", "--format", "csv"),
        ("history", str(demo), "--projection", "streams", "--key", reg.stream, "--format", "json"),
        ("lineage", str(demo), "--correlation", reg.correlation_id),
        ("lineage", str(demo), "--event", reg.event_id, "--format", "tree"),
        ("preview", str(demo), "--truncate-to", str(late.position - 1), "--projection", "customer_balances",
         "--projection", "streams", "--format", "json"),
    ]
    for args in commands:
        r = cli(*args, data_dir=data_dir)
        assert r.returncode == 0, (args, r.stderr)
        assert len(r.stdout) > 100, args
        assert leaked(r.stdout + r.stderr, personal) == [], args
        if args[0] in ("events", "state", "preview") and "orders" not in args:
            assert MASK in r.stdout, args
    # the same as an auditor shows them: the check above looks for values that are there
    r = cli("state", str(demo), "--projection", "customer_balances", "--role", "auditor", data_dir=data_dir)
    assert r.returncode == 0 and leaked(r.stdout, personal)


def test_cli_roles_profiles_and_ceilings(demo, data_dir, personal):
    email = next(v for v in personal if "@" in v)
    r = cli("events", str(demo), "--text", email, data_dir=data_dir)
    assert r.returncode == 1 and "a viewer cannot search payload text" in r.stderr and "Traceback" not in r.stderr
    r = cli("events", str(demo), "--text", email, "--role", "auditor", "--format", "jsonl", data_dir=data_dir)
    assert r.returncode == 0 and email in r.stdout

    r = cli("profile", "add", "shop", str(demo), "--role", "viewer", "--note", "the demo", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    r = cli("profile", "--format", "json", "list", data_dir=data_dir)
    assert json.loads(r.stdout) == [{"name": "shop", "url": f"sqlite:///{demo.resolve()}", "role": "viewer",
                                     "note": "the demo"}]
    # the profile's URL when none is given; its role a ceiling however the store is reached
    r = cli("events", "--profile", "shop", "--type", "CustomerRegistered", "--format", "jsonl", data_dir=data_dir)
    assert r.returncode == 0 and MASK in r.stdout and not leaked(r.stdout, personal)
    for args in (("events", "--profile", "shop", "--role", "auditor"), ("events", str(demo), "--role", "operator")):
        r = cli(*args, data_dir=data_dir)
        assert r.returncode == 1 and "exceeds profile 'shop'" in r.stderr, args
    r = cli("events", data_dir=data_dir)
    assert r.returncode == 1 and "give a database URL (or --profile NAME)" in r.stderr
    r = cli("events", "--profile", "nope", data_dir=data_dir)
    assert r.returncode == 1 and "no profile 'nope'; profiles: shop" in r.stderr
    r = cli("profile", "remove", "shop", data_dir=data_dir)
    assert r.returncode == 0 and cli("profile", "list", data_dir=data_dir).stdout.startswith("no profiles yet")
    r = cli("profile", "add", "srv", "postgresql://ann:pw@db.example/shop", "--role", "auditor", data_dir=data_dir)
    assert r.returncode == 0 and "password was not saved" in r.stderr
    assert "pw@" not in (data_dir / "profiles.json").read_text()


def test_values_a_viewer_read_are_recognisable():
    from inspector.core.masking import holds_mask

    assert holds_mask({"lines": [{"note": MASK}]}) and holds_mask(RAW_WITHHELD)
    assert not holds_mask({"email": "ann@x.example", "n": [1, 2.5, None]})
