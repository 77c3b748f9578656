"""Audit views (``inspector.core.audit``, ``inspector audit`` / ``inspector who``): the command log as
an audit table with filters, text search and keyset pages; each correlation's first event standing
in where a store keeps no command log; compensations submitted through the inspector with their
reason; who changed a projection row or field. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
import sqlalchemy as sa

from inspector.core.audit import (SOURCE_AUDIT, SOURCE_FIRST_EVENT, SOURCE_LOG, audit_facets, audit_table,
                                  command_source, who_changed)
from inspector.core.audit_sources import AuditTableSource
from inspector.core.demo import create_demo
from inspector.core.errors import UnsupportedFilter
from inspector.core.history import build_history
from inspector.core.ownstore import NewCommand, NewEvent
from inspector.core.roles import MASK, RoleError
from inspector.core.session import open_store
from tests.conftest import new_database
from tests.core.test_checkpoints import write_store
from tests.core.test_submit import ACTOR, REASON, compose, go, own_plan, own_store
from tests.core.test_submit import plugins, pm  # noqa: F401 - fixtures: the submit tests' plugins and manager
from tests.fixtures import inspector as own_fixture
from tests.fixtures import marten

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _open(url: str, plugin_manager, role: str = "auditor", layout: str | None = None):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs(), layout=layout, role=role,
                      masking_rules=plugin_manager.masking_rules())


def _projection(plugin_manager, name: str):
    return {p.name: p for p in plugin_manager.projections()}[name]


def _all(store, **kw) -> list:
    """Every row, page by page (asserting no page repeats a row of another)."""
    out, cursor, seen = [], None, set()
    while True:
        page = audit_table(store, cursor=cursor, **kw)
        for e in page.entries:
            ident = (e.source, e.command_id)
            assert ident not in seen, f"row {ident} came twice"
            seen.add(ident)
        out += page.entries
        cursor = page.cursor
        if cursor is None:
            return out


# -- a small store with a command log, on SQLite and PostgreSQL ----------------------------------------

C1, C2, C3 = (str(uuid.UUID(int=i)) for i in (1, 2, 3))
CORR_ORDER, CORR_PRICE, CORR_PING = "corr-order-1", "corr-price-1", "corr-ping"


def _commands() -> list[NewCommand]:
    return [
        NewCommand(C1, "PlaceOrder", "customer:1", T0, {"order": "1", "note": "gift wrap"}, CORR_ORDER,
                   "web checkout"),
        NewCommand(C2, "ChangePrice", "agent:pricing-bot", T0 + dt.timedelta(minutes=10),
                   {"sku": "A1", "note": "Secret NEEDLE"}, CORR_PRICE, "competitor_match"),
        NewCommand(C3, "CancelOrder", "user:ann", T0 + dt.timedelta(minutes=20), {"order": "1"}, CORR_ORDER,
                   "customer called support"),
        NewCommand(str(uuid.UUID(int=4)), "Ping", "system:cron", T0 + dt.timedelta(minutes=30), {}, CORR_PING, None),
    ]


def _events() -> list[NewEvent]:
    placed, requested = str(uuid.uuid4()), str(uuid.uuid4())

    def ev(eid, stream, version, etype, minute, data, cause, corr, actor):
        return NewEvent(eid, stream, version, etype, T0 + dt.timedelta(minutes=minute, seconds=1), data, {},
                        cause, corr, actor)

    return [
        ev(placed, "order-1", 1, "OrderPlaced", 0, {"total": 10}, C1, CORR_ORDER, "customer:1"),
        # caused by an event, not by the command: the chain leads to PlaceOrder
        ev(requested, "payment-1", 1, "PaymentRequested", 1, {"amount": 10}, placed, CORR_ORDER, "agent:psp"),
        ev(str(uuid.uuid4()), "product-A1", 1, "PriceChanged", 10, {"price": 9.5}, C2, CORR_PRICE, "agent:pricing-bot"),
        ev(str(uuid.uuid4()), "order-1", 2, "OrderCancelled", 20, {"why": "support"}, C3, CORR_ORDER, "user:ann"),
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def logged(request, tmp_path, plugin_manager):
    url, drop = new_database(request.param, tmp_path)
    write_store(url, _events(), _commands())
    opened = _open(url, plugin_manager)
    yield opened
    opened.store.close()
    drop()


def test_the_command_log_is_an_audit_table_newest_first_with_streams_and_reasons(logged):
    store = logged.store
    assert command_source(store) == (SOURCE_LOG, None)
    page = audit_table(store)
    assert page.source == SOURCE_LOG and not page.stand_ins and page.explanation is None and page.cursor is None
    assert [e.command for e in page.entries] == ["Ping", "CancelOrder", "ChangePrice", "PlaceOrder"]
    by = {e.command: e for e in page.entries}
    assert by["ChangePrice"].actor == "agent:pricing-bot" and by["ChangePrice"].reason == "competitor_match"
    assert by["ChangePrice"].streams == ("product-A1",) and by["ChangePrice"].events == 1
    assert by["ChangePrice"].time == T0 + dt.timedelta(minutes=10) and by["ChangePrice"].command_id == C2
    # streams come from the correlation's events: both commands of the order's correlation list them
    assert by["PlaceOrder"].streams == ("order-1", "payment-1") and by["PlaceOrder"].events == 3
    assert by["Ping"].streams == () and by["Ping"].events == 0 and by["Ping"].reason is None
    assert {e.source for e in page.entries} == {SOURCE_LOG}
    assert by["PlaceOrder"].payload == {"order": "1", "note": "gift wrap"}
    oldest = audit_table(store, newest_first=False)
    assert [e.command for e in oldest.entries] == ["PlaceOrder", "ChangePrice", "CancelOrder", "Ping"]


def test_pages_follow_each_other_without_repeats_in_both_orders(logged):
    store = logged.store
    for newest_first in (True, False):
        whole = audit_table(store, newest_first=newest_first).entries
        paged = _all(store, limit=1, newest_first=newest_first)
        assert [e.command_id for e in paged] == [e.command_id for e in whole]
    first = audit_table(store, limit=3)
    assert len(first.entries) == 3 and first.has_more
    rest = audit_table(store, limit=3, cursor=first.cursor)
    assert [e.command for e in rest.entries] == ["PlaceOrder"] and rest.cursor is None


def test_filters_and_text_search_run_in_sql(logged):
    store = logged.store
    assert [e.command for e in audit_table(store, actor="user:ann").entries] == ["CancelOrder"]
    assert [e.command for e in audit_table(store, command="PlaceOrder").entries] == ["PlaceOrder"]
    assert audit_table(store, actor="nobody").entries == ()
    window = audit_table(store, since=T0 + dt.timedelta(minutes=10), until=T0 + dt.timedelta(minutes=20))
    assert [e.command for e in window.entries] == ["ChangePrice"]  # since inclusive, until exclusive
    # text: payload (case-insensitive), reason, command type, actor
    assert [e.command for e in audit_table(store, text="needle").entries] == ["ChangePrice"]
    assert [e.command for e in audit_table(store, text="SUPPORT").entries] == ["CancelOrder"]
    assert [e.command for e in audit_table(store, text="cancel").entries] == ["CancelOrder"]
    assert [e.command for e in audit_table(store, text="customer:").entries] == ["PlaceOrder"]
    assert [e.command for e in audit_table(store, text="order", actor="customer:1").entries] == ["PlaceOrder"]
    assert audit_table(store, text="100% no_such").entries == ()
    facets = audit_facets(store)
    assert facets["actors"] == ["agent:pricing-bot", "customer:1", "system:cron", "user:ann"]
    assert facets["commands"] == ["CancelOrder", "ChangePrice", "Ping", "PlaceOrder"]


def test_a_viewer_cannot_search_the_audit_tables_text(logged, plugin_manager):
    viewer = _open(logged.url, plugin_manager, role="viewer")
    try:
        with pytest.raises(RoleError, match="viewer cannot search"):
            audit_table(viewer.store, text="needle")
        assert len(audit_table(viewer.store).entries) == 4  # the table itself is for everyone
        assert len(audit_table(viewer.store, actor="user:ann").entries) == 1
    finally:
        viewer.store.close()


def test_who_changed_follows_causes_to_the_command_and_its_reason(logged, plugin_manager):
    store = logged.store
    hist = build_history(store, _projection(plugin_manager, "streams"))
    pay = who_changed(store, hist, "payment-1", "version")
    assert len(pay) == 1
    assert pay[0]["command"] == "PlaceOrder" and pay[0]["command_id"] == C1 and pay[0]["reason"] == "web checkout"
    assert pay[0]["actor"] == "customer:1" and pay[0]["event_actor"] == "agent:psp"  # the command's actor
    assert pay[0]["source"] == SOURCE_LOG and pay[0]["event_type"] == "PaymentRequested"
    order = who_changed(store, hist, "order-1", "version")
    assert [(r["old"], r["new"], r["command"], r["actor"], r["reason"]) for r in order] == [
        (None, 1, "PlaceOrder", "customer:1", "web checkout"),
        (1, 2, "CancelOrder", "user:ann", "customer called support")]
    assert order[1]["time"] == T0 + dt.timedelta(minutes=20, seconds=1)
    assert order[1]["command_time"] == T0 + dt.timedelta(minutes=20)
    whole = who_changed(store, hist, "order-1")
    assert {r["field"] for r in whole} >= {"version", "last_type"} and len(whole) > len(order)
    assert who_changed(store, hist, "no-such-stream") == []


def test_a_command_log_time_filter_needs_a_readable_time(logged):
    from dataclasses import replace

    from inspector.core.roles import RoleStore

    s = logged.store
    untimed = replace(s.layout, commands=replace(s.layout.commands, time_kind="none"))
    store = RoleStore(s.engine, untimed, s.codecs, role="auditor")
    assert len(audit_table(store).entries) == 4  # ordered by command id, undated
    assert all(e.time is None for e in audit_table(store).entries)
    with pytest.raises(UnsupportedFilter, match="time"):
        audit_table(store, since=T0)


# -- no command log: each correlation's first event stands in -------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def unlogged(request, tmp_path, plugin_manager):
    """The sample events with correlations but no command log: the inspector layout without its
    ``inspector_commands`` on SQLite, Marten (which keeps none) on PostgreSQL."""
    url, drop = new_database(request.param, tmp_path)
    if request.param == "sqlite":
        written = own_fixture.create(url)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE inspector_commands")
        engine.dispose()
    else:
        written = marten.create(url)
    opened = _open(url, plugin_manager)
    yield opened, written
    opened.store.close()
    drop()


def test_without_a_command_log_each_correlations_first_event_stands_in(unlogged):
    opened, written = unlogged
    store = opened.store
    firsts: dict[str, object] = {}
    for e in written.events:
        firsts.setdefault(e.correlation_id, e)
    page = audit_table(store, newest_first=False)
    assert page.source == SOURCE_FIRST_EVENT and page.stand_ins
    assert "no command log" in page.explanation and "first event stands in" in page.explanation
    assert [e.position for e in page.entries] == sorted(f.position for f in firsts.values())
    for entry in page.entries:
        first = firsts[entry.correlation_id]
        members = [e for e in written.events if e.correlation_id == entry.correlation_id]
        assert entry.source == SOURCE_FIRST_EVENT and entry.command == first.type and entry.actor == first.actor
        assert entry.command_id == first.event_id and entry.time == first.recorded_at and entry.reason is None
        assert entry.events == len(members)
        assert set(entry.streams) == {e.stream for e in members} and entry.streams[0] == first.stream
    newest = _all(store, limit=3)
    assert [e.position for e in newest] == sorted((f.position for f in firsts.values()), reverse=True)
    # filters apply to the first event
    alice = [f for f in firsts.values() if f.actor == "user:alice"]
    assert {e.position for e in audit_table(store, actor="user:alice").entries} == {f.position for f in alice}
    kind = next(iter(firsts.values())).type
    assert {e.command for e in audit_table(store, command=kind).entries} == {kind}
    hits = audit_table(store, text="expedite").entries  # the payload, case-insensitively
    assert hits and all("expedite" in written.by_position()[e.position].searchable.lower() for e in hits)
    t = sorted(f.recorded_at for f in firsts.values())
    assert [e.time for e in audit_table(store, since=t[1], until=t[3], newest_first=False).entries] == t[1:3]


def test_who_changed_without_a_command_log_names_the_stand_in(unlogged, plugin_manager):
    opened, written = unlogged
    store = opened.store
    hist = build_history(store, _projection(plugin_manager, "streams"))
    target = written.events[5]
    rows = who_changed(store, hist, target.stream, "version")
    assert rows and all(r["source"] == SOURCE_FIRST_EVENT for r in rows)
    for r in rows:
        ev = written.by_position()[r["position"]]
        first = next(e for e in written.events if e.correlation_id == ev.correlation_id)
        assert (r["command"], r["command_id"], r["actor"]) == (first.type, first.event_id, first.actor)
        assert r["event_actor"] == ev.actor and r["reason"] is None


def test_a_store_without_correlations_explains_that_nothing_stands_in(tmp_path, plugin_manager):
    from tests.core.test_eventsourcing_stores import env_for, run_bank

    url = f"sqlite:///{tmp_path / 'bank.sqlite'}"
    run_bank(env_for("sqlite", url)).close()
    opened = _open(url, plugin_manager)
    try:
        page = audit_table(opened.store)
        assert page.source == "" and page.entries == () and page.cursor is None
        assert "no command log" in page.explanation and "records no correlation" in page.explanation
    finally:
        opened.store.close()


# -- compensations submitted through the inspector -------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def compensated(request, tmp_path, pm):  # noqa: F811 - test_submit's plugin manager fixture
    url, drop = new_database(request.param, tmp_path)
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    report = go(plan, url, pm)
    assert report.ok
    opened = _open(url, pm)
    yield opened, plan, report, pm
    opened.store.close()
    drop()


def test_submitted_compensations_appear_once_with_actor_reason_and_stream(compensated):
    opened, plan, report, pm_ = compensated
    store = opened.store
    page = audit_table(store, newest_first=False)
    # the own layout's submitter also wrote each step to inspector_commands: listed once, from inspector_audit
    assert [e.source for e in page.entries] == [SOURCE_AUDIT] * 3
    assert [(e.command, e.actor, e.reason) for e in page.entries] == [("Credit", ACTOR, REASON)] * 3
    assert [e.streams for e in page.entries] == [("account-1",), ("account-2",), ("account-3",)]
    assert [e.command_id for e in page.entries] == [s.idempotency_key for s in plan.steps]
    assert {e.correlation_id for e in page.entries} == {plan.plan_id}
    assert [e.position for e in page.entries] == [o.positions[0] for o in report.outcomes]
    assert all(e.events == 1 and e.time is not None for e in page.entries)
    assert len(audit_table(store, text="inc-42").entries) == 3  # the reason, case-insensitively
    assert len(audit_table(store, actor=ACTOR, command="Credit").entries) == 3
    assert audit_table(store, actor="user:nobody").entries == ()
    assert audit_table(store, until=T0).entries == ()
    assert [e.streams for e in _all(store, limit=1, newest_first=False)] == [e.streams for e in page.entries]
    assert ACTOR in audit_facets(store)["actors"]

    # a later submission (new rows in inspector_audit and inspector_commands) is listed once too
    url = plan.store.url  # the test databases need no password
    later = compose(store, plan.replay_plan, pm_, [("Credit", {"account": "4", "amount": 7}, ())])
    assert go(later, url, pm_).ok
    page = audit_table(store, newest_first=False)
    assert [e.source for e in page.entries] == [SOURCE_AUDIT] * 4 and page.entries[-1].correlation_id == later.plan_id
    # the page asks for its own plans' steps only, in batches however many plans a page holds
    t = AuditTableSource(store).table
    row = {k: "x" for k in ("idempotency_key", "plan_sha256", "command", "stream", "event_ids", "positions",
                            "compensates", "actor", "reason", "submitter")}
    writer = sa.create_engine(url)
    with writer.begin() as c:
        c.execute(t.insert().values(dict(row, audit_id=99, idempotency_key="k7", plan_id="p7", step=1, submitted_at=T0)))
    writer.dispose()
    source = AuditTableSource(store)
    with store.engine.connect() as conn:
        assert source.plan_commands(conn, ["p7"]) == {("p7", "x")}
        assert {p for p, _ in source.plan_commands(conn, [later.plan_id, plan.plan_id])} == {later.plan_id, plan.plan_id}
        many = [f"plan-{i}" for i in range(2500)] + ["p7", None]
        assert source.plan_commands(conn, many) == {("p7", "x")}


def test_who_changed_names_the_compensations_reason(compensated):
    opened, plan, report, pm_ = compensated
    store = opened.store
    hist = build_history(store, _projection(pm_, "streams"))
    rows = who_changed(store, hist, "account-1", "version")
    last = rows[-1]
    assert last["position"] == report.outcomes[0].positions[0]
    assert (last["source"], last["command"], last["actor"], last["reason"]) == (SOURCE_AUDIT, "Credit", ACTOR, REASON)
    assert last["command_id"] == plan.steps[0].idempotency_key
    assert all(r["source"] is None for r in rows[:-1])  # written without commands: nothing to name


# -- the demo: the pricing-bot's bad BulkReprice ---------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return create_demo(tmp_path_factory.mktemp("audit-demo") / "demo.sqlite", events=2000, seed=7)


@pytest.fixture(scope="module")
def demo_store(demo, plugin_manager):
    opened = _open(str(demo.path), plugin_manager)
    yield opened.store
    opened.store.close()


def test_who_changed_a_demo_product_names_the_pricing_bots_bulk_reprice_and_its_reason(demo, demo_store,
                                                                                      plugin_manager):
    inc = demo.incident
    hist = build_history(demo_store, _projection(plugin_manager, "products"))
    sku = inc["skus"][0]
    rows = who_changed(demo_store, hist, sku, "price")
    bad = [r for r in rows if r["command_id"] == inc["command_id"]]
    assert len(bad) == 1
    assert bad[0]["command"] == "BulkReprice" and bad[0]["actor"] == "agent:pricing-bot"
    assert bad[0]["reason"] == "competitor sync re-run after feed format update"
    assert bad[0]["new"] == pytest.approx(bad[0]["old"] / 10, abs=0.01)
    fix = [r for r in rows if r["command_id"] == inc["fix_command_id"]]
    assert fix and fix[0]["command"] == "RestorePrices" and fix[0]["actor"] == "user:alice"
    assert "restoring list prices" in fix[0]["reason"]
    assert rows[0]["command"] == "ImportCatalog" and rows[0]["reason"] == "initial catalog import"
    assert all(r["source"] == SOURCE_LOG for r in rows)
    # stock changes are caused by events (an order's reservation): their chain leads to the order's command
    stock = who_changed(demo_store, hist, sku, "stock")
    assert stock and all(r["command"] for r in stock)
    assert {"PlaceOrder"} & {r["command"] for r in stock}


def test_the_demo_incident_is_found_by_text_and_lists_every_repriced_product(demo, demo_store):
    inc = demo.incident
    hits = audit_table(demo_store, text="feed format").entries
    assert [e.command_id for e in hits] == [inc["command_id"]]
    e = hits[0]
    assert (e.command, e.actor, e.source) == ("BulkReprice", "agent:pricing-bot", SOURCE_LOG)
    assert set(e.streams) == {f"product-{s}" for s in inc["skus"]} and e.events == inc["price_changes"]
    bot = _all(demo_store, actor="agent:pricing-bot", command="BulkReprice", limit=7)
    assert inc["command_id"] in {x.command_id for x in bot}
    day = dt.datetime.fromisoformat(inc["date"]).replace(tzinfo=UTC)
    that_day = audit_table(demo_store, actor="agent:pricing-bot", since=day, until=day + dt.timedelta(days=1),
                           limit=1000).entries
    assert inc["command_id"] in {x.command_id for x in that_day}
    assert all(day <= x.time < day + dt.timedelta(days=1) for x in that_day)


def test_a_viewer_sees_command_payloads_masked(demo, plugin_manager):
    viewer = _open(str(demo.path), plugin_manager, role="viewer")
    try:
        e = audit_table(viewer.store, command="RegisterCustomer", limit=1).entries[0]
        assert e.payload["email"] == MASK and e.payload["name"] == MASK and e.actor.startswith("customer:")
    finally:
        viewer.store.close()


# -- the command line -------------------------------------------------------------------------------------


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from inspector.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_audit_prints_a_table_json_and_csv(demo, capsys):
    inc = demo.incident
    path = str(demo.path)
    code, out, _ = _cli(capsys, "audit", path, "--role", "auditor", "--text", "feed format", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["source"] == SOURCE_LOG and not doc["stand_ins"] and doc["more"] is False
    assert [e["command_id"] for e in doc["entries"]] == [inc["command_id"]]
    assert doc["entries"][0]["reason"] == "competitor sync re-run after feed format update"
    code, out, err = _cli(capsys, "audit", path, "--actor", "agent:pricing-bot", "--command", "BulkReprice",
                          "--limit", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("time (UTC)") and len(lines) == 4 and "more: raise --limit" in err
    assert all("agent:pricing-bot" in line and "BulkReprice" in line for line in lines[1:])
    code, out, _ = _cli(capsys, "audit", path, "--limit", "5", "--format", "csv", "--oldest-first")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5 and rows[0]["command"] == "ImportCatalog" and rows[0]["source"] == SOURCE_LOG
    assert rows[0]["reason"] == "initial catalog import"
    code, _, err = _cli(capsys, "audit", path, "--text", "feed")  # the default role is viewer: no text search
    assert code == 1 and err.startswith("inspector: error:") and "viewer" in err


def test_cli_who_names_the_command_and_reason(demo, capsys):
    inc = demo.incident
    sku = inc["skus"][0]
    code, out, _ = _cli(capsys, "who", str(demo.path), "--projection", "products", "--key", sku, "--field", "price",
                        "--format", "json")
    rows = json.loads(out)
    assert code == 0 and any(r["command_id"] == inc["command_id"] and r["command"] == "BulkReprice"
                             and r["reason"] == "competitor sync re-run after feed format update" for r in rows)
    assert all(isinstance(r["time"], str) for r in rows)
    code, out, _ = _cli(capsys, "who", str(demo.path), "--projection", "products", "--key", sku, "--field", "price")
    assert code == 0 and "BulkReprice" in out and "competitor sync re-run" in out and "agent:pricing-bot" in out
    code, out, _ = _cli(capsys, "who", str(demo.path), "--projection", "products", "--key", "NOPE")
    assert "no changes to 'NOPE'" in out


def test_cli_audit_explains_stand_ins_on_stderr(unlogged, capsys):
    opened, _ = unlogged
    code, out, err = _cli(capsys, "audit", opened.url, "--limit", "2")
    assert code == 0 and "first event stands in" in err and len(out.splitlines()) == 3
    code, out, _ = _cli(capsys, "audit", opened.url, "--format", "json")
    doc = json.loads(out)
    assert doc["stand_ins"] and doc["source"] == SOURCE_FIRST_EVENT and "no command log" in doc["explanation"]


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_cli_audit_exports_every_row_to_a_file(demo, capsys, tmp_path, suffix):
    import pandas as pd

    from inspector.core.oplog import OperatorLog

    path = str(demo.path)
    code, out, _ = _cli(capsys, "audit", path, "--limit", "1000000", "--format", "json")
    expected = json.loads(out)["entries"]
    out_file = tmp_path / f"audit.{suffix}"
    code, out, _ = _cli(capsys, "audit", path, "--limit", "0", "--out", str(out_file))
    assert code == 0 and json.loads(out)["rows"] == len(expected) > 100  # more than one default page
    back = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}[suffix](
        out_file)
    assert list(back["command_id"]) == [e["command_id"] for e in expected]
    assert list(back["reason"].fillna("")) == [e["reason"] or "" for e in expected]
    logged = [e for e in OperatorLog(None).entries() if e.action == "export"]
    assert logged[-1].params["what"] == f"audit-{suffix}" and logged[-1].params["rows"] == len(expected)


def test_inspector_history_names_a_submitted_compensations_command(compensated, capsys):
    opened, plan, report, _ = compensated
    url = opened.store.engine.url.render_as_string(hide_password=False)
    from inspector.cli import main

    code = main(["history", url, "--projection", "streams", "--key", "account-1", "--field", "version",
                 "--role", "auditor", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and rows[-1]["command"] == f"Credit by {ACTOR}"
