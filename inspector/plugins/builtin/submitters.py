"""The built-in submitters: how a compensation's events are appended to the inspector's own layout,
the Python ``eventsourcing`` library's tables (SQLite and PostgreSQL) and Message DB. Each runs
inside the one transaction ``inspector.core.submit`` opens for a step; what it reads as the stream
version is read under the lock its store's own writers take, so the version check is exact."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from inspector.core import ownstore
from inspector.core.commands import AppendEvent, Submitter
from inspector.core.store import is_uuid
from inspector.core.compensate import EVENT_ID_NAMESPACE
from inspector.core.audit_table import table_in
from inspector.core.submit import StreamConflict, SubmitError
from inspector.plugins.hookspecs import hookimpl


def _split(qualified: str) -> tuple[str | None, str]:
    schema, _, name = qualified.rpartition(".")
    return (schema or None), name



# -- the inspector's own layout ------------------------------------------------------------------

def _own(base: sa.Table, qualified: str) -> sa.Table:
    """``base`` (an ``ownstore`` table) in the schema the store keeps it in."""
    return table_in(base, _split(qualified)[0])


def own_stream_version(conn: Connection, store: Any, stream: str) -> int | None:
    """MAX(version) of the stream. On PostgreSQL and MariaDB the stream's newest row is locked
    first (a writer of the same stream waits), and MAX is read by a second statement, which at
    READ COMMITTED sees what that writer committed. A stream with no rows has nothing to lock: the
    unique (stream, version) index turns the race into an IntegrityError the caller handles."""
    t = _own(ownstore.events_table, store.layout.table)
    if conn.dialect.name in ("postgresql", "mysql", "mariadb"):
        conn.execute(sa.select(t.c.version).where(t.c.stream == stream).order_by(t.c.version.desc()).limit(1)
                     .with_for_update()).first()
    v = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.stream == stream)).scalar()
    return None if v is None else int(v)


def own_append(conn: Connection, store: Any, events: Sequence[AppendEvent], step: Any = None, plan: Any = None,
               actor: str | None = None, reason: str | None = None) -> list[int]:
    """Insert the events into ``inspector_events`` (metadata, causation, correlation and actor in
    their columns) and, where the store keeps a command log, the compensating command into
    ``inspector_commands`` (id from the idempotency key, correlation = the plan id), so lineage
    and the command log show who asked for what and why."""
    t = _own(ownstore.events_table, store.layout.table)
    positions = []
    for e in events:
        r = conn.execute(t.insert().values(
            event_id=e.event_id, stream=e.stream, version=e.version, type=e.type, recorded_at=e.recorded_at,
            data=dict(e.data), metadata=dict(e.metadata), causation_id=e.causation_id,
            correlation_id=e.correlation_id, actor=e.actor))
        positions.append(int(r.inserted_primary_key[0]))
    cmd = store.layout.commands
    if step is not None and plan is not None and cmd is not None and events:
        ct = _own(ownstore.commands_table, cmd.table)
        conn.execute(ct.insert().values(
            command_id=str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{step.idempotency_key}:command")), type=step.command,
            actor=actor or events[0].actor, issued_at=events[0].recorded_at, payload=dict(step.values),
            correlation_id=plan.plan_id, reason=reason))
    return positions


# -- the eventsourcing library ---------------------------------------------------------------------

_TOPIC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_TEXT_TYPES = ("text", "varchar", "character varying", "char", "character", "string", "nvarchar", "clob")


def _es_cols(store: Any) -> dict[str, str]:
    return {k: store.layout.ref(k).column for k in ("stream", "version", "type", "payload")}


def _es_check_plain_json(conn: Connection, store: Any) -> None:
    """Refuse stores whose states are compressed or encrypted: the application's compressor and
    cipher (and its key) are not the inspector's to use. An empty table is taken as plain JSON."""
    q = store.dialect
    state = conn.execute(sa.text(f"SELECT e.{q.quote(_es_cols(store)['payload'])} FROM {q.table(store.layout.table)} e "
                                 f"ORDER BY {store.expr('position')} DESC LIMIT 1")).scalar()
    if state is None:
        return
    try:
        doc = json.loads(bytes(state).decode("utf-8")) if not isinstance(state, str) else json.loads(state)
        if isinstance(doc, dict):
            return
    except (UnicodeDecodeError, ValueError):
        pass
    raise SubmitError(f"the states in {store.layout.table} are not plain JSON (the application compresses or encrypts "
                      "them, COMPRESSOR_TOPIC / CIPHER_TOPIC): the inspector cannot write them as the application "
                      "reads them; a plugin submitter for this application is needed")


def _es_originator(conn: Connection, store: Any, stream: str) -> tuple[str, str]:
    """(SQL for the id parameter, the id as stored). PostgreSQL uuid columns take the UUID; text
    columns keep ids as the library writes them: on SQLite a UUID as 32 hex digits (unless the
    stream already exists in the dashed form), elsewhere the text as given."""
    col_type = store.column_type("stream").lower()
    if col_type == "uuid":
        if not is_uuid(stream):
            raise SubmitError(f"stream {stream!r} is not a UUID, and {store.layout.table} keeps originator ids as uuid")
        return "CAST(:oid AS uuid)", str(uuid.UUID(stream))
    if not any(col_type.startswith(t) for t in _TEXT_TYPES):
        raise SubmitError(f"cannot write originator ids into a {col_type} column ({store.layout.table}); "
                          "a plugin submitter for this store is needed")
    if conn.dialect.name == "sqlite" and is_uuid(stream):
        u = uuid.UUID(stream)
        q, cols = store.dialect, _es_cols(store)
        found = conn.execute(sa.text(f"SELECT {q.quote(cols['stream'])} FROM {q.table(store.layout.table)} "
                                     f"WHERE {q.quote(cols['stream'])} IN (:a, :b) LIMIT 1"),
                             {"a": u.hex, "b": str(u)}).scalar()
        return ":oid", found or u.hex
    return ":oid", stream


def es_stream_version(conn: Connection, store: Any, stream: str) -> int | None:
    """MAX(originator_version) of the aggregate, after taking the lock the library's PostgreSQL
    recorder takes for every insert (``LOCK TABLE ... IN EXCLUSIVE MODE``: inserts commit in
    notification-id order and readers tailing the table miss nothing). SQLite steps already hold
    the database's write lock."""
    _es_check_plain_json(conn, store)
    q, cols = store.dialect, _es_cols(store)
    table = q.table(store.layout.table)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    param, oid = _es_originator(conn, store, stream)
    v = conn.execute(sa.text(f"SELECT MAX({q.quote(cols['version'])}) FROM {table} WHERE {q.quote(cols['stream'])} = "
                             f"{param}"), {"oid": oid}).scalar()
    return None if v is None else int(v)


def es_append(conn: Connection, store: Any, events: Sequence[AppendEvent]) -> list[int]:
    """Insert rows as the library's recorder does: the topic (``module:Class``, the event type),
    and the state as its ``JSONTranscoder`` writes it (compact JSON, UTF-8) of the event's data,
    plus a ``timestamp`` (the library's transcoded datetime) when the data has none. The table has
    no metadata column: causation, correlation, actor and reason stay in the audit table."""
    q, cols = store.dialect, _es_cols(store)
    table = q.table(store.layout.table)
    pos = store.layout.ref("position")
    returning = f" RETURNING {q.quote(pos.column)}" if conn.dialect.name == "postgresql" and pos.column else ""
    positions = []
    for e in events:
        if not _TOPIC.match(e.type):
            raise SubmitError(f"event type {e.type!r} is not an eventsourcing topic (module:Class): the library "
                              "could not read the event back")
        param, oid = _es_originator(conn, store, e.stream)
        data = {k: v for k, v in e.data.items() if k not in ("originator_id", "originator_version")}
        data.setdefault("timestamp", {"_type_": "datetime_iso", "_data_": e.recorded_at.isoformat()})
        state = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        stmt = sa.text(f"INSERT INTO {table} ({q.quote(cols['stream'])}, {q.quote(cols['version'])}, "
                       f"{q.quote(cols['type'])}, {q.quote(cols['payload'])}) VALUES ({param}, :v, :topic, :state)"
                       f"{returning}").bindparams(sa.bindparam("state", type_=sa.LargeBinary()))
        r = conn.execute(stmt, {"oid": oid, "v": e.version, "topic": e.type, "state": state})
        positions.append(int(r.scalar_one() if returning else r.lastrowid))
    if conn.dialect.name == "postgresql" and events:
        # the library's subscribers LISTEN on a channel named after the table; wake them on commit
        conn.exec_driver_sql(f"NOTIFY {q.quote(_split(store.layout.table)[1].replace('.', '_'))}")
    return positions


# -- Message DB ----------------------------------------------------------------------------------------


def _mdb_prefix(store: Any) -> str:
    schema, _ = _split(store.layout.table)
    return f"{store.dialect.quote(schema)}." if schema else ""


def mdb_stream_version(conn: Connection, store: Any, stream: str) -> int | None:
    """The stream's last position (0-based; None: no stream), under the advisory lock
    ``write_message`` takes (one per category), so no other writer of the category slips in."""
    p = _mdb_prefix(store)
    conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({p}hash_64({p}category(CAST(:s AS varchar))))"), {"s": stream})
    v = conn.execute(sa.text(f"SELECT MAX(position) FROM {store.dialect.table(store.layout.table)} "
                             "WHERE stream_name = :s"), {"s": stream}).scalar()
    return None if v is None else int(v)


def _eventide_causation(conn: Connection, store: Any, event_id: str | None) -> dict[str, Any]:
    """Eventide's causation keys for the compensated event (stream, position, global position), so
    lineage in Message DB terms leads from the compensation to what it compensates."""
    if not event_id or not is_uuid(event_id):
        return {}
    row = conn.execute(sa.text(f"SELECT stream_name, position, global_position FROM "
                               f"{store.dialect.table(store.layout.table)} WHERE id = CAST(:id AS uuid)"),
                       {"id": event_id}).first()
    if row is None:
        return {}
    return {"causationMessageStreamName": row[0], "causationMessagePosition": int(row[1]),
            "causationMessageGlobalPosition": int(row[2])}


def mdb_append(conn: Connection, store: Any, events: Sequence[AppendEvent]) -> list[int]:
    """Each event through Message DB's own ``write_message`` with its expected version (the
    position before it; -1: an empty stream), so the store's own check has the last word. Its
    functions name their tables without a schema, as the ``message_store`` role's search path
    allows; the step sets that search path for its transaction so any login can call them.
    Metadata: the inspector's keys plus Eventide's causation keys; Eventide's
    ``correlationStreamName`` is a stream name, which a plan id is not, so it is not set."""
    schema, _ = _split(store.layout.table)
    p = _mdb_prefix(store)
    if schema:
        conn.execute(sa.text("SELECT set_config('search_path', quote_ident(:s) || ', ' || "
                             "current_setting('search_path'), true)"), {"s": schema})
    table = store.dialect.table(store.layout.table)
    positions = []
    for e in events:
        meta = {**_eventide_causation(conn, store, e.causation_id), **dict(e.metadata)}
        try:
            conn.execute(sa.text(f"SELECT {p}write_message(CAST(:id AS varchar), CAST(:stream AS varchar), "
                                 "CAST(:type AS varchar), CAST(:data AS jsonb), CAST(:meta AS jsonb), "
                                 "CAST(:expected AS bigint))"),
                         {"id": e.event_id, "stream": e.stream, "type": e.type,
                          "data": json.dumps(dict(e.data), ensure_ascii=False, allow_nan=False),
                          "meta": json.dumps(meta, ensure_ascii=False, allow_nan=False, default=str),
                          "expected": e.version - 1})
        except sa.exc.DBAPIError as err:
            msg = " ".join(str(getattr(err, "orig", err)).split())
            if "wrong expected version" in msg.lower():
                raise StreamConflict(f"write_message refused: {msg.split(' CONTEXT:')[0]}") from None
            raise
        gp = conn.execute(sa.text(f"SELECT global_position FROM {table} WHERE id = CAST(:id AS uuid)"),
                          {"id": e.event_id}).scalar_one()
        positions.append(int(gp))
    return positions


OWN = Submitter("inspector", "Inspector's own layout", ("inspector",), own_stream_version, own_append, 1,
                note="events with metadata, causation, correlation and actor columns; the command in the command log")
EVENTSOURCING = Submitter(
    "eventsourcing", "Python eventsourcing library (SQLite, PostgreSQL)", ("eventsourcing",), es_stream_version,
    es_append, 1,
    note="event types must be the application's topics (module:Class); the library's tables have no metadata, so "
         "causation, correlation, actor and reason are kept in the audit table only; compressed or encrypted "
         "stores are refused")
MESSAGE_DB = Submitter("message-db", "Message DB (write_message)", ("message-db",), mdb_stream_version, mdb_append, 0,
                       note="through message_store.write_message with the expected version; positions start at 0")


@hookimpl
def register_submitters():
    """The built-in submitters: the inspector's own layout, eventsourcing and Message DB."""
    return [OWN, EVENTSOURCING, MESSAGE_DB]
