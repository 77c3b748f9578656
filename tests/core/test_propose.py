"""Proposed mappings for event tables the inspector does not know, on SQLite, PostgreSQL and
MariaDB: the proposal names the right columns with a reason for each, and opening the store with
it (as proposed, saved and reloaded, or after a one-line edit) reads the events correctly."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import uuid
import zlib

import pytest
import sqlalchemy as sa

from inspector.core.detect import choose, detect
from inspector.core.errors import LayoutError
from inspector.core.layout import load_mapping
from inspector.core.model import EventFilter
from inspector.core.propose import MAX_CONFIDENCE, MIN_CONFIDENCE, mapping_header, propose_layouts, proposal_toml, propose_table
from inspector.core.schema import reflect
from inspector.core.session import open_store

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


# -- writing fixtures (a plain read-write engine; the inspector's own engines are read-only) ------


def _write(url: str, ddl: list[str], insert: str, rows: list[dict]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in ddl:
                conn.execute(sa.text(stmt))
            if rows:
                conn.execute(sa.text(insert), rows)
    finally:
        engine.dispose()


def _time(backend: str, t: dt.datetime):
    """A bound value for a native time column: text on SQLite, naive UTC on MariaDB."""
    if backend == "sqlite":
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")
    if backend == "mysql":
        return t.replace(tzinfo=None)
    return t


def _cast(backend: str, name: str, pg_type: str) -> str:
    return f"CAST(:{name} AS {pg_type})" if backend == "postgresql" else f":{name}"


def _defs(plugin_manager):
    return plugin_manager.layout_definitions()


def _fields(layout) -> dict[str, str]:
    return {k: v.spec() for k, v in layout.fields.items()}


def _propose(url: str):
    engine = sa.create_engine(url)
    try:
        return propose_layouts(engine, reflect(engine))
    finally:
        engine.dispose()


def _reason(cand, logical: str) -> str:
    hits = [r for r in cand.reasons if r.startswith(f"{logical} = ") or r.startswith(f"{logical}: ")]
    assert hits, f"no reason for {logical} in {cand.reasons}"
    return hits[0]


# -- 1. a ledger: native time, JSON body, JSON headers with lineage keys, UUID ids --------------

LEDGER_ROWS = 300
ACCOUNTS = 37


def _ledger_rows() -> list[dict]:
    rows, seqs = [], {}
    for i in range(LEDGER_ROWS):
        acct = f"account-{i % ACCOUNTS}"
        seqs[acct] = seqs.get(acct, 0) + 1
        kind = "Opened" if seqs[acct] == 1 else ("Deposited" if i % 2 else "Withdrawn")
        rows.append(dict(
            entry_no=1000 + 3 * i,  # gaps, as sequences leave them
            account_ref=acct, seq=seqs[acct], kind=kind,
            booked_at=BASE + dt.timedelta(minutes=i),
            body={"amount": i * 10, "currency": "EUR" if i % 4 else "CHF"},
            headers={"correlationId": f"corr-{i // 3}", "causationId": f"cmd-{i}", "user": f"clerk-{i % 5}"},
            entry_uuid=str(uuid.UUID(int=i + 1)),
        ))
    return rows


def _make_ledger(backend: str, url: str, rows: list[dict] | None = None) -> str:
    """The ledger plus two ordinary tables; returns the ledger's qualified name."""
    if backend == "postgresql":
        table = "acct.entries"
        ddl = ["CREATE SCHEMA acct",
               "CREATE TABLE acct.entries (entry_no bigint PRIMARY KEY, account_ref varchar(40) NOT NULL, "
               "seq integer NOT NULL, kind varchar(60) NOT NULL, booked_at timestamptz NOT NULL, body json NOT NULL, "
               "headers jsonb, entry_uuid uuid NOT NULL, UNIQUE (account_ref, seq))"]
    elif backend == "mysql":
        table = "entries"
        ddl = ["CREATE TABLE entries (entry_no bigint PRIMARY KEY, account_ref varchar(40) NOT NULL, seq int NOT NULL, "
               "kind varchar(60) NOT NULL, booked_at datetime(6) NOT NULL, body json NOT NULL, headers json, "
               "entry_uuid char(36) NOT NULL, UNIQUE KEY uq_account_seq (account_ref, seq))"]
    else:
        table = "entries"
        ddl = ["CREATE TABLE entries (entry_no integer PRIMARY KEY, account_ref text NOT NULL, seq integer NOT NULL, "
               "kind text NOT NULL, booked_at timestamp NOT NULL, body text NOT NULL, headers text, "
               "entry_uuid text NOT NULL, UNIQUE (account_ref, seq))"]
    ddl += ["CREATE TABLE accounts (id integer PRIMARY KEY, name varchar(80), opened_at timestamp NULL)",
            "CREATE TABLE users (id integer PRIMARY KEY, name varchar(80), email varchar(120))"]
    insert = (f"INSERT INTO {table} VALUES (:entry_no, :account_ref, :seq, :kind, :booked_at, "
              f"{_cast(backend, 'body', 'json')}, {_cast(backend, 'headers', 'jsonb')}, {_cast(backend, 'entry_uuid', 'uuid')})")
    rows = _ledger_rows() if rows is None else rows
    params = [dict(r, booked_at=_time(backend, r["booked_at"]), body=json.dumps(r["body"]),
                   headers=json.dumps(r["headers"])) for r in rows]
    _write(url, ddl, insert, params)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i in range(12):
            conn.execute(sa.text("INSERT INTO accounts VALUES (:i, :n, :t)"),
                         dict(i=i + 1, n=f"Account {i}", t=_time(backend, BASE)))
            conn.execute(sa.text("INSERT INTO users VALUES (:i, :n, :e)"), dict(i=i + 1, n=f"user {i}", e=f"u{i}@example.org"))
    engine.dispose()
    return table


LEDGER_FIELDS = {
    "position": "entry_no", "stream": "account_ref", "version": "seq", "type": "kind", "recorded_at": "booked_at",
    "event_id": "entry_uuid", "payload": "body", "metadata": "headers", "correlation_id": "headers->correlationId",
    "causation_id": "headers->causationId", "actor": "headers->user",
}


def test_ledger_is_proposed_with_a_reason_per_field(backend, db_url, plugin_manager):
    table = _make_ledger(backend, db_url)
    engine = sa.create_engine(db_url)
    try:
        det = detect(engine, _defs(plugin_manager))
    finally:
        engine.dispose()
    assert det.candidates == ()  # not one of the known layouts
    assert [p.layout.table for p in det.proposals] == [table]  # accounts and users are not event tables
    cand = det.proposals[0]
    assert cand.source == "proposed"
    assert 0.5 <= cand.confidence <= MAX_CONFIDENCE
    lay = cand.layout
    assert lay.name == "custom" and lay.title == f"Proposed mapping for {table}"
    assert _fields(lay) == LEDGER_FIELDS
    assert lay.time_kind == "timestamp" and lay.version_base == 1 and lay.stream_separator == "-"
    assert _reason(cand, "position").startswith("position = entry_no: integer primary key, unique and increasing in 200 sampled rows")
    assert "37 distinct values repeat across 200 sampled rows" in _reason(cand, "stream")
    assert "JSON in 200/200 sampled values" in _reason(cand, "payload")
    assert "timestamp type" in _reason(cand, "recorded_at")
    assert "(account_ref, seq)" in _reason(cand, "version")
    assert "correlationId" in _reason(cand, "correlation_id")
    assert "UUIDs" in _reason(cand, "event_id")
    assert [r.split(" = ")[0] for r in cand.reasons] == list(lay.fields)  # one reason per field, in field order
    # choose() does not open a guess silently: it says a mapping is needed
    with pytest.raises(LayoutError, match=rf"no known event-store layout found; table {table} looks event-like.*--mapping"):
        choose(det)
    assert det.to_json()["proposals"][0]["fields"]["correlation_id"] == "headers->correlationId"


def _check_ledger_store(store, rows: list[dict]) -> None:
    events = list(store.iter_events(page_size=64))
    assert len(events) == len(rows)
    for e, r in zip(events, rows):
        assert (e.position, e.stream, e.version, e.type) == (r["entry_no"], r["account_ref"], r["seq"], r["kind"])
        assert e.recorded_at == r["booked_at"]
        assert e.data == r["body"] and e.metadata == r["headers"]
        assert e.correlation_id == r["headers"]["correlationId"]
        assert e.causation_id == r["headers"]["causationId"]
        assert e.actor == r["headers"]["user"]
        assert e.event_id == r["entry_uuid"]
        assert e.decode_error is None
    by_stream = [r for r in rows if r["account_ref"] == "account-5"]
    page = store.read_page(EventFilter(stream="account-5"), limit=100)
    assert [(e.position, e.version) for e in page.events] == [(r["entry_no"], r["seq"]) for r in by_stream]
    assert store.count(EventFilter(types=("Opened",))) == ACCOUNTS
    since, until = BASE + dt.timedelta(minutes=100), BASE + dt.timedelta(minutes=150)  # half open, exact bounds
    assert store.count(EventFilter(since=since, until=until)) == 50
    assert store.count(EventFilter(since=since, until=since)) == 0
    assert store.count(EventFilter(correlation_id="corr-7")) == 3
    assert store.count(EventFilter(actor="clerk-2")) == sum(1 for r in rows if r["headers"]["user"] == "clerk-2")
    assert store.count(EventFilter(text="chf")) == sum(1 for r in rows if r["body"]["currency"] == "CHF")
    assert store.find_event(rows[17]["entry_uuid"]).position == rows[17]["entry_no"]
    assert store.histogram(bins=10).axis == "time"


def test_ledger_proposal_opens_as_is_and_after_save_and_reload(backend, db_url, plugin_manager, tmp_path):
    table = _make_ledger(backend, db_url)
    rows = _ledger_rows()
    engine = sa.create_engine(db_url)
    try:
        cand = propose_layouts(engine, reflect(engine))[0]
    finally:
        engine.dispose()
    opened = open_store(db_url, _defs(plugin_manager), mapping=cand.layout)
    try:
        assert opened.candidate.source == "mapping"
        _check_ledger_store(opened.store, rows)
    finally:
        opened.store.close()

    path = tmp_path / "mapping.toml"
    cand.layout.save(path, header=mapping_header(cand, url="db"))
    text = path.read_text()
    for reason in cand.reasons:  # every field choice is explained above the TOML it produced
        assert f"#   {reason}" in text
    assert text == proposal_toml(cand, url="db")
    reloaded = load_mapping(path)
    assert reloaded == cand.layout and reloaded.table == table
    opened = open_store(db_url, _defs(plugin_manager), mapping=path)
    try:
        _check_ledger_store(opened.store, rows)
    finally:
        opened.store.close()


def test_empty_ledger_is_proposed_from_names_types_and_constraints(backend, db_url):
    table = _make_ledger(backend, db_url, rows=[])
    engine = sa.create_engine(db_url)
    try:
        schema = reflect(engine)
        cand = propose_table(engine, schema.get(table))
    finally:
        engine.dispose()
    fields = _fields(cand.layout)
    for logical in ("position", "stream", "version", "type", "recorded_at", "event_id", "payload"):
        assert fields[logical] == LEDGER_FIELDS[logical], logical
    assert "unique index on (account_ref, seq)" in _reason(cand, "version")
    assert any("the table is empty" in r for r in cand.reasons)
    assert cand.confidence < 0.6  # no sampled evidence: a weaker proposal


# -- 2. epoch-millisecond times and JSON payloads in a BLOB (some zlib-compressed) --------------

DEVICES = 8


def _device_rows() -> list[dict]:
    rows, counters = [], {}
    t0 = int(BASE.timestamp() * 1000)
    for i in range(240):
        dev = f"sensor-{i % DEVICES}"
        counters[dev] = counters.get(dev, -1) + 1
        data = {"reading": i / 4, "unit": "C", "n": i}
        raw = json.dumps(data).encode()
        rows.append(dict(rec_id=i + 1, device_id=dev, counter=counters[dev],
                         event_name=["Booted", "Measured", "Measured", "Alarmed"][i % 4] if counters[dev] else "Booted",
                         at_ms=t0 + i * 1500, payload=zlib.compress(raw) if i % 4 == 3 else raw,
                         correlation=f"run-{i // 10}", data=data))
    return rows


def _make_devices(backend: str, url: str) -> str:
    blob = {"sqlite": "blob", "postgresql": "bytea", "mysql": "longblob"}[backend]
    text = "varchar(64)" if backend == "mysql" else "text"
    ddl = [f"CREATE TABLE device_log (rec_id bigint PRIMARY KEY, device_id {text} NOT NULL, counter integer NOT NULL, "
           f"event_name {text} NOT NULL, at_ms bigint NOT NULL, payload {blob} NOT NULL, correlation {text})"]
    rows = [{k: v for k, v in r.items() if k != "data"} for r in _device_rows()]
    _write(url, ddl, "INSERT INTO device_log VALUES (:rec_id, :device_id, :counter, :event_name, :at_ms, :payload, "
                     ":correlation)", rows)
    return "device_log"


def test_epoch_ms_and_blob_json_payload(backend, db_url, plugin_manager, tmp_path):
    _make_devices(backend, db_url)
    rows = _device_rows()
    engine = sa.create_engine(db_url)
    try:
        det = detect(engine, _defs(plugin_manager))
    finally:
        engine.dispose()
    assert det.candidates == () and len(det.proposals) == 1
    cand = det.proposals[0]
    lay = cand.layout
    assert _fields(lay) == {"position": "rec_id", "stream": "device_id", "version": "counter", "type": "event_name",
                            "recorded_at": "at_ms", "payload": "payload", "correlation_id": "correlation"}
    assert lay.time_kind == "epoch_ms"
    assert lay.version_base == 0
    assert "epoch milliseconds" in _reason(cand, "recorded_at")
    assert "JSON in 200/200 sampled values (zlib-compressed in 50)" in _reason(cand, "payload")
    assert "stored as bytes" in _reason(cand, "payload")
    assert "starts at 0" in _reason(cand, "version")
    assert "(device_id, counter) unique in 200 sampled rows" in _reason(cand, "version")

    path = tmp_path / "devices.toml"
    lay.save(path, header=mapping_header(cand))
    opened = open_store(db_url, _defs(plugin_manager), mapping=path)
    store = opened.store
    try:  # filters run in SQL: epoch milliseconds compare as seconds through time_kind
        assert store.count() == len(rows)
        since = BASE + dt.timedelta(seconds=59)  # rows 40 .. 79 are 60 s .. 118.5 s in
        assert store.count(EventFilter(since=since, until=since + dt.timedelta(seconds=60))) == 40
        assert store.count(EventFilter(stream="sensor-3", types=("Measured",))) == sum(
            1 for r in rows if r["device_id"] == "sensor-3" and r["event_name"] == "Measured")
        assert store.count(EventFilter(correlation_id="run-4")) == 10
        assert store.histogram(bins=12).axis == "time"
    finally:
        store.close()


def test_epoch_ms_events_read_back(backend, db_url, plugin_manager):
    _make_devices(backend, db_url)
    rows = _device_rows()
    [cand] = _propose(db_url)
    opened = open_store(db_url, _defs(plugin_manager), mapping=cand.layout)
    store = opened.store
    try:
        events = list(store.iter_events())
        assert [(e.position, e.stream, e.version, e.type, e.correlation_id) for e in events] == [
            (r["rec_id"], r["device_id"], r["counter"], r["event_name"], r["correlation"]) for r in rows]
        assert [e.data for e in events] == [r["data"] for r in rows]  # plain and zlib-compressed JSON bytes
        assert [e.recorded_at for e in events] == [dt.datetime.fromtimestamp(r["at_ms"] / 1000, UTC) for r in rows]
    finally:
        store.close()


# -- 3. the proposal misses or mistakes one field; a one-line edit of the saved TOML fixes it ----


def _audit_rows() -> list[dict]:
    rows, revs = [], {}
    for i in range(120):
        key = f"doc-{i % 9}"
        revs[key] = revs.get(key, 0) + 1
        created = BASE + dt.timedelta(seconds=30 * i)
        effective = BASE + dt.timedelta(days=(i * 7) % 40)  # business time: not in insertion order
        rows.append(dict(id=i + 1, object_key=key, rev=revs[key], action=["create", "update", "approve"][i % 3],
                         created_at=created, effective_at=effective,
                         doc={"title": f"Doc {i % 9}", "rev": revs[key]}, clerk=f"clerk-{i % 4}"))
    return rows


def _make_audit(backend: str, url: str) -> str:
    text = "varchar(64)" if backend == "mysql" else "text"
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"  # Axon's form; both times are ISO-8601 text
    ddl = [f"CREATE TABLE audit_trail (id integer PRIMARY KEY, object_key {text} NOT NULL, rev integer NOT NULL, "
           f"action {text} NOT NULL, created_at {text} NOT NULL, effective_at {text} NOT NULL, doc text NOT NULL, "
           f"clerk {text})"]
    rows = [dict(r, created_at=r["created_at"].strftime(iso), effective_at=r["effective_at"].strftime(iso),
                 doc=json.dumps(r["doc"])) for r in _audit_rows()]
    _write(url, ddl, "INSERT INTO audit_trail VALUES (:id, :object_key, :rev, :action, :created_at, :effective_at, "
                     ":doc, :clerk)", rows)
    return "audit_trail"


def _one_line_edit(path, old: str | None, new: str) -> None:
    before = path.read_text()
    after = before.replace(old, new) if old else before.replace("[fields]\n", f"[fields]\n{new}\n")
    changed = [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]
    assert len([d for d in changed if d[0] == "+"]) == 1, changed
    path.write_text(after)


def test_missed_actor_is_fixed_by_adding_one_line(backend, db_url, plugin_manager, tmp_path):
    _make_audit(backend, db_url)
    rows = _audit_rows()
    [cand] = _propose(db_url)
    fields = _fields(cand.layout)
    assert fields == {"position": "id", "stream": "object_key", "version": "rev", "type": "action",
                      "recorded_at": "created_at", "payload": "doc"}
    assert cand.layout.time_kind == "iso_text"
    assert "ISO-8601 text in 120/120 sampled values" in _reason(cand, "recorded_at")
    assert "actor" not in fields
    assert "not mapped (no column found): event_id, causation_id, correlation_id, actor, metadata" in cand.reasons
    assert "columns not used: effective_at, clerk" in cand.reasons
    assert cand.layout.notes == ()  # nothing the edit below would make stale is saved in the file

    path = tmp_path / "audit.toml"
    cand.layout.save(path, header=mapping_header(cand))
    assert "#   columns not used: effective_at, clerk" in path.read_text()  # the header tells the user
    _one_line_edit(path, None, 'actor = "clerk"')
    opened = open_store(db_url, _defs(plugin_manager), mapping=path)
    store = opened.store
    try:
        events = list(store.iter_events())
        assert [(e.stream, e.version, e.type, e.actor, e.data) for e in events] == [
            (r["object_key"], r["rev"], r["action"], r["clerk"], r["doc"]) for r in rows]
        assert [e.recorded_at for e in events] == [r["created_at"] for r in rows]
        assert store.count(EventFilter(actor="clerk-1")) == 30
        since = BASE + dt.timedelta(minutes=10)  # rows 20 .. 39 (600 s .. 1170 s in), bounds exact
        assert store.count(EventFilter(since=since, until=since + dt.timedelta(minutes=10))) == 20
        assert store.count(EventFilter(stream="doc-2", types=("approve",))) == sum(
            1 for r in rows if r["object_key"] == "doc-2" and r["action"] == "approve")
    finally:
        store.close()


def test_wrong_time_column_is_fixed_by_changing_one_line(backend, db_url, plugin_manager, tmp_path):
    _make_audit(backend, db_url)
    rows = _audit_rows()
    [cand] = _propose(db_url)
    path = tmp_path / "audit.toml"
    path.write_text(proposal_toml(cand))
    # the proposal shows the insertion time; this audit wants the business time
    _one_line_edit(path, 'recorded_at = "created_at"', 'recorded_at = "effective_at"')
    lay = load_mapping(path)
    assert lay.ref("recorded_at").column == "effective_at"
    opened = open_store(db_url, _defs(plugin_manager), mapping=path)
    store = opened.store
    try:
        events = list(store.iter_events())
        assert [e.recorded_at for e in events] == [r["effective_at"] for r in rows]
        day = BASE + dt.timedelta(days=7, seconds=-1)
        want = sum(1 for r in rows if day <= r["effective_at"] < day + dt.timedelta(days=1))
        assert want > 0 and store.count(EventFilter(since=day, until=day + dt.timedelta(days=1))) == want
    finally:
        store.close()


# -- 4. no event tables -------------------------------------------------------------------------


def test_no_event_tables_gives_no_confident_proposal(backend, db_url, plugin_manager):
    text = "varchar(120)" if backend == "mysql" else "text"
    ddl = [f"CREATE TABLE users (id integer PRIMARY KEY, name {text}, email {text})",
           f"CREATE TABLE products (sku varchar(20) PRIMARY KEY, title {text}, price numeric(10, 2))",
           f"CREATE TABLE sessions (token varchar(64) PRIMARY KEY, user_id integer, expires_at timestamp NULL)",
           "CREATE TABLE tags (label varchar(40))",
           # a status per customer and a time: the skeleton of events, but no payload and no versions
           f"CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer, status {text}, "
           f"created_at timestamp NULL, total numeric(10, 2))"]
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        for stmt in ddl:
            conn.execute(sa.text(stmt))
        for i in range(50):
            conn.execute(sa.text("INSERT INTO users VALUES (:i, :n, :e)"), dict(i=i + 1, n=f"User {i}", e=f"u{i}@example.org"))
            conn.execute(sa.text("INSERT INTO products VALUES (:s, :t, :p)"), dict(s=f"SKU-{i}", t=f"Thing {i % 7}", p=i * 1.5))
            conn.execute(sa.text("INSERT INTO sessions VALUES (:t, :u, :x)"),
                         dict(t=uuid.uuid4().hex, u=i % 6, x=_time(backend, BASE + dt.timedelta(hours=i))))
            conn.execute(sa.text("INSERT INTO orders VALUES (:i, :c, :s, :t, :p)"),
                         dict(i=i + 1, c=i % 7, s=["open", "paid", "shipped"][i % 3],
                              t=_time(backend, BASE + dt.timedelta(minutes=i)), p=i * 2.5))
    try:
        schema = reflect(engine)
        for t in schema.tables:
            cand = propose_table(engine, t)
            assert cand is None or cand.confidence < MIN_CONFIDENCE, (t.name, cand)
        det = detect(engine, _defs(plugin_manager))
    finally:
        engine.dispose()
    assert det.candidates == () and det.proposals == ()
    with pytest.raises(LayoutError) as err:
        choose(det)
    msg = str(err.value)
    assert msg.startswith("no event-like table found (tables: ")
    for name in ("users", "products", "sessions", "tags", "orders"):
        assert name in msg


def test_category_filter_on_proposed_mapping(backend, db_url, plugin_manager):
    _make_ledger(backend, db_url)
    [cand] = _propose(db_url)
    assert cand.layout.stream_separator == "-"
    opened = open_store(db_url, _defs(plugin_manager), mapping=cand.layout)
    try:
        assert opened.store.count(EventFilter(category="account")) == LEDGER_ROWS
        assert opened.store.count(EventFilter(category="acc")) == 0
        assert [c.category for c in opened.store.categories()] == ["account"]
    finally:
        opened.store.close()


def test_rowid_order_xml_payload_and_lineage_keys_in_nested_metadata(sqlite_url, plugin_manager):
    """No integer column (SQLite's rowid orders the rows), a payload that is not JSON, an ``event``
    column holding type names, and lineage keys spelled ``$correlationId`` and nested ``ctx.causationId``."""
    rows = []
    for i in range(60):
        rows.append(dict(msg_uuid=uuid.uuid4().hex, aggregate=f"cart-{i % 6}", event=["Added", "Removed"][i % 2],
                         body=f"<item n='{i}'/>", sent_at=(BASE + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         meta=json.dumps({"$correlationId": f"c{i // 2}", "ctx": {"causationId": f"m{i}"}, "user": "ann"})))
    _write(sqlite_url, ["CREATE TABLE outbox (msg_uuid text PRIMARY KEY, aggregate text, event text, body text, "
                        "sent_at text, meta text)"],
           "INSERT INTO outbox VALUES (:msg_uuid, :aggregate, :event, :body, :sent_at, :meta)", rows)
    [cand] = _propose(sqlite_url)
    assert _fields(cand.layout) == {
        "position": "rowid", "stream": "aggregate", "type": "event", "recorded_at": "sent_at", "event_id": "msg_uuid",
        "causation_id": "meta->ctx.causationId", "correlation_id": "meta->$correlationId", "actor": "meta->user",
        "payload": "body", "metadata": "meta"}
    assert cand.layout.time_kind == "iso_text"
    assert "SQLite's implicit rowid" in _reason(cand, "position")
    assert "are not JSON" in _reason(cand, "payload")
    assert cand.confidence < MAX_CONFIDENCE  # weaker evidence: no integer order, no JSON payload
    opened = open_store(sqlite_url, _defs(plugin_manager), mapping=cand.layout)
    try:
        events = list(opened.store.iter_events(page_size=25))
        assert [e.position for e in events] == list(range(1, 61))
        assert [(e.stream, e.type, e.data, e.correlation_id, e.causation_id, e.actor) for e in events] == [
            (r["aggregate"], r["event"], r["body"], json.loads(r["meta"])["$correlationId"], f"m{i}", "ann")
            for i, r in enumerate(rows)]
        assert opened.store.count(EventFilter(correlation_id="c3")) == 2
    finally:
        opened.store.close()


# -- 5. on the known layouts' own fixtures, the heuristics find what the definitions know ----------

KNOWN = [("marten", "create", "postgresql"), ("messagedb", "create", "postgresql"), ("axon", "create_jdbc", "sqlite"),
         ("axon", "create_jdbc", "postgresql"), ("axon", "create_jpa", "mysql"), ("inspector", "create", "mysql")]


@pytest.mark.parametrize("module, writer, backend", KNOWN, ids=[f"{m}.{w}-{b}" for m, w, b in KNOWN])
def test_proposal_for_a_known_layout_matches_its_definition(module, writer, backend, db_url, plugin_manager):
    import importlib

    getattr(importlib.import_module(f"tests.fixtures.{module}"), writer)(db_url, events=240)
    engine = sa.create_engine(db_url)
    try:
        known = detect(engine, _defs(plugin_manager), propose=False).best
        cand = propose_table(engine, reflect(engine).get(known.layout.table))
    finally:
        engine.dispose()
    assert cand.confidence < known.confidence  # a guess never outranks a recognised store
    kf, pf = _fields(known.layout), _fields(cand.layout)
    for logical in ("position", "stream", "version", "type", "recorded_at", "event_id", "payload"):
        if logical in kf and not kf[logical].startswith("sql:"):  # joined fields are beyond a one-table guess
            assert pf.get(logical) == kf[logical], (logical, cand.reasons)
    for logical, spec in pf.items():  # and whatever else it maps, the definition maps the same way
        assert kf.get(logical, spec) == spec, (logical, cand.reasons)
    assert (cand.layout.time_kind, cand.layout.version_base) == (known.layout.time_kind, known.layout.version_base)
