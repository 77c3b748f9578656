"""The inspector's own event-store layout ("inspector"): the tables it writes when it creates a
store itself (the bundled demo, forks of a store, compensations), and the one writer for them.

The schema is SQLAlchemy Core so one definition gives the right types on SQLite, PostgreSQL and
MariaDB/MySQL. Times and JSON go through two small column types so every writer stores them the
same way: SQLite keeps fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, which sorts in time
order and which ``julianday()`` parses), PostgreSQL ``timestamptz`` and ``jsonb``, MariaDB
``DATETIME(6)`` in UTC and ``LONGTEXT``.

Uniqueness (``event_id``; ``stream, version``) is declared as unique *indexes* rather than table
constraints, so bulk loaders can create the tables bare, load, then build every index once
(``create_schema(conn, indexes=False)`` ... ``create_indexes(conn)``)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from itertools import islice
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateTable

#: The layout name stores written by this module carry in ``inspector_store_info``.
LAYOUT = "inspector"
SCHEMA_VERSION = 1

EVENTS_TABLE = "inspector_events"
COMMANDS_TABLE = "inspector_commands"
STORE_INFO_TABLE = "inspector_store_info"

#: Rows per executemany in the writers; bounds memory when appending from a generator.
BATCH_SIZE = 10_000

_MYSQL = ("mysql", "mariadb")

_json_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _c_encoder() -> Any:
    """CPython's C encoder built once. ``JSONEncoder.encode`` builds a new one on every call,
    which is most of the cost for the small documents events are; bulk writers encode millions."""
    from json import encoder as _enc

    if _enc.c_make_encoder is None:  # pragma: no cover - other Pythons
        return None
    try:
        make = _enc.c_make_encoder(None, _json_encoder.default, _enc.encode_basestring, None, ":", ",",
                                   False, False, False)
        return make if "".join(make({"a": [1, 2.5, None, "ü"]}, 0)) == '{"a":[1,2.5,null,"ü"]}' else None
    except Exception:  # pragma: no cover - a changed private signature: fall back to the public path
        return None


_c_encode = _c_encoder()


def encode_json(value: Any) -> str:
    """Compact JSON text as this layout stores it (no spaces, UTF-8 kept, NaN refused since
    PostgreSQL and MariaDB would reject it). Same output as
    ``json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``."""
    if _c_encode is None or isinstance(value, str):
        return _json_encoder.encode(value)
    return "".join(_c_encode(value, 0))


def format_time(value: dt.datetime, dialect_name: str) -> str | dt.datetime:
    """The value to bind for a time column on ``dialect_name``: fixed-width UTC text on SQLite,
    a naive UTC datetime on MariaDB/MySQL (``DATETIME(6)`` has no zone), an aware UTC datetime
    elsewhere. Naive input is refused: an audit trail must not guess time zones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware (UTC), got naive {value!r}")
    utc = value.astimezone(dt.timezone.utc)
    if dialect_name == "sqlite":
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if dialect_name in _MYSQL:
        return utc.replace(tzinfo=None)
    return utc


def parse_time(value: str | dt.datetime | None) -> dt.datetime | None:
    """An aware UTC datetime from what any of the three backends returns for a time column."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


class UtcTime(sa.types.TypeDecorator):
    """A UTC instant: TEXT on SQLite, TIMESTAMP WITH TIME ZONE on PostgreSQL, DATETIME(6) on
    MariaDB/MySQL. Binds aware datetimes (see ``format_time``), returns aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        return None if value is None else format_time(value, dialect.name)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return parse_time(value)


class JsonDocument(sa.types.TypeDecorator):
    """A JSON value: JSONB on PostgreSQL, LONGTEXT on MariaDB/MySQL, TEXT elsewhere. Binds any
    JSON-compatible Python value (encoded by ``encode_json``), returns it decoded."""

    impl = sa.Text()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value  # psycopg's JSONB adapter encodes it
        return encode_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, (str, bytes)):
            return json.loads(value)
        return value


metadata = sa.MetaData()

_ID = sa.String(36)  # a UUID in its 36-character text form

# Full Unicode (the JSON keeps non-ASCII text as is) and binary collation, so stream names and ids
# compare exactly as on SQLite and PostgreSQL instead of case-insensitively.
_MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

events_table = sa.Table(
    EVENTS_TABLE,
    metadata,
    # INTEGER PRIMARY KEY on SQLite makes it the rowid; AUTOINCREMENT there keeps positions from
    # being reused after the newest events are deleted, as BIGSERIAL / AUTO_INCREMENT do elsewhere.
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", _ID, nullable=False),
    sa.Column("stream", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),  # per stream, starts at 1
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("recorded_at", UtcTime(), nullable=False),
    sa.Column("data", JsonDocument(), nullable=False),
    sa.Column("metadata", JsonDocument(), nullable=True),
    sa.Column("causation_id", _ID, nullable=True),
    sa.Column("correlation_id", _ID, nullable=True),
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Index("ux_inspector_events_event_id", "event_id", unique=True),
    sa.Index("ux_inspector_events_stream_version", "stream", "version", unique=True),
    sa.Index("ix_inspector_events_correlation_id", "correlation_id"),
    sa.Index("ix_inspector_events_causation_id", "causation_id"),  # lineage walks causes downwards
    sa.Index("ix_inspector_events_type_position", "type", "position"),
    # (recorded_at, type) covers the timeline histogram: an index-only scan instead of the table
    sa.Index("ix_inspector_events_recorded_at_type", "recorded_at", "type"),
    sa.Index("ix_inspector_events_actor", "actor"),
    sqlite_autoincrement=True,
    **_MYSQL_TABLE,
)

commands_table = sa.Table(
    COMMANDS_TABLE,
    metadata,
    sa.Column("command_id", _ID, primary_key=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("issued_at", UtcTime(), nullable=False),
    sa.Column("payload", JsonDocument(), nullable=False),
    sa.Column("correlation_id", _ID, nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Index("ix_inspector_commands_correlation_id", "correlation_id"),
    sa.Index("ix_inspector_commands_issued_at", "issued_at"),
    **_MYSQL_TABLE,
)

store_info_table = sa.Table(
    STORE_INFO_TABLE,
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=True),
    **_MYSQL_TABLE,
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``recorded_at`` must be timezone-aware; ``position`` is the database's."""

    event_id: str
    stream: str
    version: int
    type: str
    recorded_at: dt.datetime
    data: Any
    metadata: Mapping[str, Any] | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class NewCommand:
    """A command to record: who asked for what, when, and why."""

    command_id: str
    type: str
    actor: str
    issued_at: dt.datetime
    payload: Any
    correlation_id: str
    reason: str | None = None


def create_schema(conn: Connection, *, indexes: bool = True) -> None:
    """Create the layout's tables that do not exist yet (and, unless ``indexes=False``, their
    missing indexes). Honours the connection's ``schema_translate_map``. Does not commit."""
    for table in metadata.sorted_tables:
        schema = conn.schema_for_object(table)
        if not conn.dialect.has_table(conn, table.name, schema=schema):
            conn.execute(CreateTable(table))
    if indexes:
        create_indexes(conn)


def create_indexes(conn: Connection) -> None:
    """Create the layout's missing indexes (after a bulk load into bare tables)."""
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
            index.create(conn, checkfirst=True)


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def append_events(conn: Connection, events: Iterable[NewEvent]) -> int:
    """Insert events in the given order (positions follow it); returns how many. Uniqueness of
    ``event_id`` and ``(stream, version)`` is the database's to enforce. Does not commit."""
    rows = (
        {
            "event_id": e.event_id,
            "stream": e.stream,
            "version": e.version,
            "type": e.type,
            "recorded_at": e.recorded_at,
            "data": e.data,
            "metadata": None if e.metadata is None else dict(e.metadata),
            "causation_id": e.causation_id,
            "correlation_id": e.correlation_id,
            "actor": e.actor,
        }
        for e in events
    )
    return _insert(conn, events_table, rows)


def append_commands(conn: Connection, commands: Iterable[NewCommand]) -> int:
    """Insert commands into the command log; returns how many. Does not commit."""
    rows = (
        {
            "command_id": c.command_id,
            "type": c.type,
            "actor": c.actor,
            "issued_at": c.issued_at,
            "payload": c.payload,
            "correlation_id": c.correlation_id,
            "reason": c.reason,
        }
        for c in commands
    )
    return _insert(conn, commands_table, rows)


def _insert(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    stmt = table.insert()
    for batch in _batches(rows, BATCH_SIZE):
        conn.execute(stmt, batch)  # a list of dicts: executemany / insertmanyvalues
        count += len(batch)
    return count


def write_store_info(conn: Connection, info: Mapping[str, Any]) -> None:
    """Set keys in ``inspector_store_info`` (values stored as text; replaces existing keys)."""
    if not info:
        return
    keys = list(info)
    conn.execute(store_info_table.delete().where(store_info_table.c.key.in_(keys)))
    conn.execute(
        store_info_table.insert(),
        [{"key": k, "value": None if info[k] is None else str(info[k])} for k in keys],
    )


def read_store_info(conn: Connection) -> dict[str, str | None]:
    """All of ``inspector_store_info`` as a dict (empty when the table is missing)."""
    if not conn.dialect.has_table(conn, STORE_INFO_TABLE, schema=conn.schema_for_object(store_info_table)):
        return {}
    rows = conn.execute(sa.select(store_info_table.c.key, store_info_table.c.value))
    return {k: v for k, v in rows}
