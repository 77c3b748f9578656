"""Reading a store's command log (who asked for what, when), where its layout keeps one
(``Layout.commands``). Read-only, through the store's engine; every lookup is one SQL query per
batch of at most ``BATCH`` ids."""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .dialects import Dialect
from .layout import CommandLog, FieldRef
from .rows import parse_time, text
from .store import EventStore, is_uuid

BATCH = 500  # ids per IN (...) list: well under every backend's bind-parameter limit

_TEXT_TYPES = ("char", "text", "string", "clob")


@dataclass(frozen=True, slots=True)
class RecordedCommand:
    """One command from a command log. ``issued_at`` is aware UTC (None where the log keeps no
    readable time); ``payload`` is decoded through the store's codecs (None if it cannot be)."""

    command_id: str
    type: str | None
    actor: str | None
    issued_at: dt.datetime | None
    payload: Any
    correlation_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "type": self.type,
            "actor": self.actor,
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "payload": self.payload,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "RecordedCommand":
        at = doc.get("issued_at")
        return cls(doc["command_id"], doc.get("type"), doc.get("actor"),
                   dt.datetime.fromisoformat(at) if at else None, doc.get("payload"), doc.get("correlation_id"))


# -- SQL that matches ids ---------------------------------------------------------------------


def id_match(dialect: Dialect, expr: str, column_type: str | None, values: Iterable[Any], prefix: str,
             plain_column: bool = True) -> tuple[str, dict[str, Any]]:
    """``<expr> IN (...)`` for a batch of ids given as text, written so an index on the column
    stays usable where it can: a plain text column is compared as it is, a PostgreSQL uuid column
    against uuid values (text that is no UUID cannot match and is dropped), an integer column against
    integers; anything else (JSON paths, other types) as text. Returns (SQL, bind parameters)."""
    ctype = (column_type or "").lower()
    vals = list(dict.fromkeys(str(v) for v in values))
    cast = ""
    if plain_column and dialect.name == "postgresql" and ctype == "uuid":
        vals = [v for v in vals if is_uuid(v)]
        cast = "uuid"
    elif plain_column and ("int" in ctype or ctype in ("serial", "bigserial")):
        if all(_is_int(v) for v in vals):
            vals = [int(v) for v in vals]  # type: ignore[misc]
        else:
            expr = dialect.as_text(expr)
    elif not (plain_column and (any(t in ctype for t in _TEXT_TYPES) or (not ctype and dialect.name != "postgresql"))):
        expr = dialect.as_text(expr)
    if not vals:
        return "1 = 0", {}
    names = [f"{prefix}{i}" for i in range(len(vals))]
    binds = [f"CAST(:{n} AS {cast})" if cast else f":{n}" for n in names]
    return f"{expr} IN ({', '.join(binds)})", dict(zip(names, vals))


def batches(values: Iterable[Any], size: int = BATCH) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for v in values:
        chunk.append(v)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _is_int(v: str) -> bool:
    return v.lstrip("-").isdigit()


# -- the command log -----------------------------------------------------------------------------

_types_cache: "weakref.WeakKeyDictionary[Engine, dict[str, dict[str, str]]]" = weakref.WeakKeyDictionary()


class _LogReader:
    """The SQL for one store's command log, built once per call."""

    def __init__(self, store: EventStore, log: CommandLog):
        self.store, self.log = store, log
        self.q = store.dialect
        self.types = _column_types(store.engine, log.table)
        cols = []
        for logical in ("command_id", "type", "actor", "issued_at", "payload", "correlation_id"):
            e = self.expr(logical)
            cols.append(f"{e if e is not None else 'NULL'} AS c_{logical}")
        self.select = ", ".join(cols)
        self.from_ = f"{self.q.table(log.table)} e"

    def ref(self, logical: str) -> FieldRef | None:
        return self.log.fields.get(logical)

    def expr(self, logical: str) -> str | None:
        ref = self.ref(logical)
        if ref is None:
            return None
        if ref.sql is not None:
            return f"({ref.sql})"
        col = f"e.{self.q.quote(ref.column)}"
        if ref.path:
            return self.q.json_text(col, ref.path, self.types.get(ref.column.lower(), "text"))
        return col

    def match(self, logical: str, values: Iterable[str], prefix: str) -> tuple[str, dict[str, Any]] | None:
        e = self.expr(logical)
        if e is None:
            return None
        ref = self.ref(logical)
        plain = ref is not None and ref.column is not None and not ref.path
        return id_match(self.q, e, self.types.get(ref.column.lower()) if plain else None, values, prefix, plain)

    def fetch(self, conn: Connection, where: str, params: dict[str, Any]) -> list[RecordedCommand]:
        rows = conn.execute(sa.text(f"SELECT {self.select} FROM {self.from_} WHERE {where}"), params).fetchall()
        unit = 1000 if self.log.time_kind == "epoch_ms" else 1
        out = []
        for cid, ctype, actor, at, payload, corr in rows:
            if cid is None:
                continue
            issued = parse_time(at, unit) if self.log.time_kind not in ("payload", "none") else None
            out.append(RecordedCommand(text(cid), text(ctype), text(actor), issued,
                                       self.store.codecs.decode(payload).value, text(corr)))
        out.sort(key=lambda c: (c.issued_at is None, c.issued_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                c.command_id))
        return out


def _column_types(engine: Engine, table: str) -> dict[str, str]:
    """The command table's column types (lower case), reflected once per engine."""
    per_engine = _types_cache.setdefault(engine, {})
    if table not in per_engine:
        schema, _, name = table.rpartition(".")
        try:
            cols = sa.inspect(engine).get_columns(name, schema=schema or None)
            per_engine[table] = {c["name"].lower(): _type_name(c["type"]) for c in cols}
        except Exception:  # noqa: BLE001 - unknown types only cost the index: compare as text
            per_engine[table] = {}
    return per_engine[table]


def _type_name(t: Any) -> str:
    try:
        name = str(t.compile()).lower()
    except Exception:  # noqa: BLE001 - types without a generic rendering
        name = type(t).__name__.lower()
    return name.split("(")[0].strip()


def has_command_log(store: EventStore) -> bool:
    log = store.layout.commands
    return log is not None and "command_id" in log.fields


def _reader(store: EventStore) -> _LogReader | None:
    return _LogReader(store, store.layout.commands) if has_command_log(store) else None


def _run(store: EventStore, conn: Connection | None, fn):
    if conn is not None:
        return fn(conn)
    with store.engine.connect() as c:
        return fn(c)


def find_commands(store: EventStore, command_ids: Iterable[str], conn: Connection | None = None
                  ) -> dict[str, RecordedCommand]:
    """The commands with these ids that the log holds (id -> command); {} without a command log."""
    reader = _reader(store)
    ids = list(dict.fromkeys(str(i) for i in command_ids if i is not None))
    if reader is None or not ids:
        return {}

    def go(c: Connection) -> dict[str, RecordedCommand]:
        found: dict[str, RecordedCommand] = {}
        for chunk in batches(ids):
            where, params = reader.match("command_id", chunk, "cid_")
            for cmd in reader.fetch(c, where, params):
                found[cmd.command_id] = cmd
        return found

    return _run(store, conn, go)


def find_command(store: EventStore, command_id: str, conn: Connection | None = None) -> RecordedCommand | None:
    """The command with this id, or None (also where the layout keeps no command log)."""
    return find_commands(store, [command_id], conn).get(str(command_id))


def commands_for_correlation(store: EventStore, correlation_id: str, conn: Connection | None = None,
                             limit: int | None = None) -> tuple[RecordedCommand, ...]:
    """The commands of one correlation in the order they were issued; () without a command log
    (or one that records no correlation)."""
    reader = _reader(store)
    if reader is None:
        return ()
    m = reader.match("correlation_id", [correlation_id], "corr_")
    if m is None:
        return ()
    where, params = m
    if limit is not None:  # the first ``limit`` issued
        order = [e for e in (reader.expr("issued_at"), reader.expr("command_id")) if e is not None]
        where += f" ORDER BY {', '.join(order)} LIMIT {int(limit)}"
    return tuple(_run(store, conn, lambda c: reader.fetch(c, where, params)))
