"""Where audit rows come from, one SQL source each: the store's command log, the first event of
each correlation (standing in where the store keeps no command log), and ``inspector_audit`` (the
compensations submitted through the inspector). Each source reads one keyset page of its own
order; ``core.audit`` merges them in time order. Read-only, through the store's engine."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit_table import AUDIT_TABLE, audit_schema, audit_table_for
from .command_log import _reader, batches, id_match
from .errors import UnsupportedFilter
from .model import EventFilter
from .rows import parse_time, text
from .store import EventStore, time_bound

UTC = dt.timezone.utc
SOURCE_LOG = "command log"
SOURCE_FIRST_EVENT = "first event of correlation"
SOURCE_AUDIT = "inspector_audit"
#: Stream names kept per row (the first touched); ``AuditEntry.streams_total`` counts them all.
MAX_STREAMS = 50


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit table: who asked for what, when, what it changed and why.

    ``source`` says where the row comes from: ``"command log"`` (a command of the store's own log),
    ``"first event of correlation"`` (no command log: the correlation's first event stands in, its
    type as the command and its id as the command id) or ``"inspector_audit"`` (a step of a
    compensation submitted through the inspector: ``command_id`` is the step's idempotency key,
    ``correlation_id`` the plan id). ``streams`` are the streams its events changed (at most
    ``MAX_STREAMS``, in the order first touched; ``streams_total`` counts them all), ``events``
    how many events they are (None where the store cannot tell). ``position`` is the first event's
    position where known. ``time`` is aware UTC or None."""

    time: dt.datetime | None
    actor: str | None
    command: str | None
    command_id: str | None
    correlation_id: str | None
    streams: tuple[str, ...]
    events: int | None
    reason: str | None
    source: str
    position: int | None = None
    payload: Any = None
    streams_total: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat() if self.time else None, "actor": self.actor, "command": self.command,
                "command_id": self.command_id, "correlation_id": self.correlation_id, "streams": list(self.streams),
                "streams_total": self.streams_total if self.streams_total is not None else len(self.streams),
                "events": self.events, "reason": self.reason, "source": self.source, "position": self.position,
                "payload": self.payload}


@dataclass(frozen=True)
class AuditQuery:
    """The filters of an audit table: ``actor`` and ``command`` match exactly; ``since``
    (inclusive) and ``until`` (exclusive) bound the time; ``text`` is a case-insensitive substring
    of the command type, actor, reason or payload."""

    actor: str | None = None
    command: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None


Fetched = list[tuple[AuditEntry, tuple]]  # rows in the source's order, each with its keyset key


def _aware(t: dt.datetime) -> dt.datetime:
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def _keyset(t: str | None, i: str, after: tuple | None, newest_first: bool) -> tuple[str, dict[str, Any]]:
    """WHERE text for "after this (time, id) key" in the source's order (time None: by id only)."""
    if after is None:
        return "", {}
    op = "<" if newest_first else ">"
    if t is None:
        return f"{i} {op} :k_id", {"k_id": after[-1]}
    # the leading range on the time alone lets the database walk its index from the key
    return (f"({t} {op}= :k_t AND ({t} {op} :k_t OR {i} {op} :k_id))", {"k_t": after[0], "k_id": after[1]})


# -- the command log ----------------------------------------------------------------------------------


class LogSource:
    """The store's command log (``Layout.commands``). Times it cannot read (NULL, or a log whose
    time sits in the payload) form a second source, ``timed=False``, ordered by command id and
    merged after the timed rows. The reason comes from the log's ``reason`` field where the layout
    maps one, else from a column named ``reason`` (the inspector's own ``inspector_commands``)."""

    def __init__(self, store: EventStore, timed: bool):
        reader = _reader(store)
        assert reader is not None
        self.store, self.r, self.timed = store, reader, timed
        self.name = "log" if timed else "log_untimed"
        q = store.dialect
        reason = reader.expr("reason")
        if reason is None and "reason" in reader.types:
            reason = f"e.{q.quote('reason')}"
        self.reason = reason
        self.t = reader.expr("issued_at") if reader.log.time_kind not in ("payload", "none") else None
        self.id = reader.expr("command_id")
        self.unit = 1000 if reader.log.time_kind == "epoch_ms" else 1

    @classmethod
    def all(cls, store: EventStore) -> list["LogSource"]:
        timed = cls(store, True)
        return [timed, cls(store, False)] if timed.t is not None else [cls(store, False)]

    def _select(self) -> str:
        return f"{self.r.select}, {self.reason or 'NULL'} AS c_reason, {self.t or 'NULL'} AS c_sort"

    def rows(self, conn: Connection, where: str, params: dict[str, Any], tail: str = "") -> list[tuple[AuditEntry, tuple]]:
        sql = f"SELECT {self._select()} FROM {self.r.from_} WHERE {where} {tail}"
        out = []
        for cid, ctype, actor, at, payload, corr, reason, sort in conn.execute(sa.text(sql), params):
            if cid is None:
                continue
            issued = parse_time(at, self.unit) if self.t is not None else None
            e = AuditEntry(issued, text(actor), text(ctype), text(cid), text(corr), (), None, text(reason), SOURCE_LOG,
                           payload=self.store.codecs.decode(payload).value)
            out.append((e, (sort, cid) if self.timed else (cid,)))
        return out

    def filters(self, f: AuditQuery) -> tuple[list[str], dict[str, Any]]:
        q, r = self.store.dialect, self.r
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for logical, value, p in (("actor", f.actor, "a_actor"), ("type", f.command, "a_command")):
            if value is None:
                continue
            e = r.expr(logical)
            clauses.append(f"{e} = :{p}" if e is not None else "1 = 0")
            params[p] = value
        for value, p, op in ((f.since, "a_since", ">="), (f.until, "a_until", "<")):
            if value is None:
                continue
            if self.t is None:
                raise UnsupportedFilter("this command log keeps no time the database can read: it cannot be "
                                        "filtered by time")
            col = (r.ref("issued_at").column or "").lower()
            e, b, params[p] = time_bound(q, self.t, r.log.time_kind, r.types.get(col, "text"), value, p)
            clauses.append(f"{e} {op} {b}")
        if f.text:
            parts = [q.contains(e, "text", "a_text") for e in (r.expr("type"), r.expr("actor"), self.reason) if e]
            pay = r.ref("payload")
            if pay is not None and r.expr("payload") is not None:
                ctype = r.types.get((pay.column or "").lower(), "text") if not pay.path else "text"
                parts.append(q.contains(r.expr("payload"), ctype, "a_text"))
            clauses.append(f"({' OR '.join(parts)})" if parts else "1 = 0")
            params["a_text"] = f.text
        return clauses, params

    def fetch(self, conn: Connection, f: AuditQuery, after: tuple | None, limit: int, newest_first: bool) -> Fetched:
        if not self.timed and self.t is not None and (f.since is not None or f.until is not None):
            return []  # a time filter leaves out the commands without a time
        clauses, params = self.filters(f)
        d = "DESC" if newest_first else "ASC"
        if self.timed:
            clauses.insert(0, f"{self.t} IS NOT NULL")
            order = f"{self.t} {d}, {self.id} {d}"
            ks, kp = _keyset(self.t, self.id, after, newest_first)
        else:
            if self.t is not None:
                clauses.insert(0, f"{self.t} IS NULL")
            order = f"{self.id} {d}"
            ks, kp = _keyset(None, self.id, after, newest_first)
        if ks:
            clauses.append(ks)
            params.update(kp)
        return self.rows(conn, " AND ".join(clauses) or "1 = 1", params, f"ORDER BY {order} LIMIT {int(limit)}")

    # -- lookups (who changed this) -----------------------------------------------------------------
    def by_ids(self, conn: Connection, ids: Iterable[str]) -> dict[str, AuditEntry]:
        found: dict[str, AuditEntry] = {}
        for chunk in batches(list(dict.fromkeys(ids))):
            where, params = self.r.match("command_id", chunk, "w_")
            found.update((e.command_id, e) for e, _ in self.rows(conn, where, params))
        return found

    def by_correlations(self, conn: Connection, corrs: Iterable[str]) -> dict[str, list[AuditEntry]]:
        out: dict[str, list[AuditEntry]] = {}
        for chunk in batches(list(dict.fromkeys(corrs))):
            m = self.r.match("correlation_id", chunk, "w_")
            if m is None:
                return out
            for e, _ in self.rows(conn, *m):
                out.setdefault(e.correlation_id, []).append(e)
        for v in out.values():
            v.sort(key=lambda e: (e.time is None, e.time or dt.datetime.min.replace(tzinfo=UTC)))
        return out


# -- the first event of each correlation ------------------------------------------------------------


def correlation_usable(store: EventStore) -> str | None:
    """Why the database cannot group this store's events by correlation, or None where it can."""
    lay = store.layout
    if lay.lineage == "none" or not lay.has("correlation_id"):
        return f"layout {lay.name} records no correlation"
    if store.expr("correlation_id") is None:
        return f"layout {lay.name} keeps correlation ids inside metadata the database cannot read"
    return None


class FirstEventSource:
    """Each correlation's first event, standing in for the command that started it: the
    correlations are grouped in SQL (``GROUP BY correlation`` with ``MIN(position)``), the page's
    first events joined back for their type, actor and time; the filters apply to that event."""

    name = "first_event"

    def __init__(self, store: EventStore):
        self.store = store
        lay, q = store.layout, store.dialect
        self.pos, self.corr = store.expr("position"), store.expr("correlation_id")
        joins_needed = {"position", "correlation_id"} & set(lay.join_fields)
        self.inner_from = f"{q.table(lay.table)} e {lay.joins if joins_needed else ''}".strip()
        self.table, self.joins = q.table(lay.table), lay.joins
        self.payload_time = (lay.time_payload_key or "timestamp") if lay.time_kind == "payload" else None
        cols = []
        for f in ("type", "actor", "recorded_at", "stream", "correlation_id", "event_id"):
            e = store.expr(f)
            if f == "recorded_at" and lay.time_kind in ("payload", "none"):
                e = store.expr("payload") if self.payload_time else None
            cols.append(f"{e if e is not None else 'NULL'} AS s_{f}")
        self.cols = ", ".join(cols)
        self.unit = 1000 if lay.time_kind == "epoch_ms" else 1

    def _sql(self, conds: list[str], tail: str) -> str:
        inner = (f"SELECT {self.corr} AS a_corr, MIN({self.pos}) AS a_first FROM {self.inner_from} "
                 f"WHERE {self.corr} IS NOT NULL GROUP BY {self.corr}")
        return (f"SELECT f.a_first, {self.cols} FROM ({inner}) f JOIN {self.table} e ON {self.pos} = f.a_first "
                f"{self.joins} WHERE {' AND '.join(conds) or '1 = 1'} {tail}")

    def _entries(self, rows: Iterable[Any]) -> list[tuple[AuditEntry, tuple]]:
        out, seen = [], set()
        for first, etype, actor, at, stream, corr, eid in rows:
            if first in seen:  # a layout whose joins repeat an event (one row per stream it is linked to)
                continue
            seen.add(first)
            if self.payload_time:
                data = self.store.codecs.decode(at).value
                at = data.get(self.payload_time) if isinstance(data, dict) else None
            e = AuditEntry(parse_time(at, self.unit), text(actor), text(etype), text(eid) or f"#{int(first)}",
                           text(corr), (), None, None, SOURCE_FIRST_EVENT, int(first))
            out.append((e, (int(first),)))
        return out

    def filters(self, f: AuditQuery) -> tuple[list[str], dict[str, Any]]:
        store, q = self.store, self.store.dialect
        where, params = store.where(EventFilter(actor=f.actor, types=(f.command,) if f.command else (),
                                                since=f.since, until=f.until))
        clauses = [where[len(" WHERE "):]] if where else []
        if f.text:
            parts = [q.contains(e, "text", "a_text") for e in (store.expr("type"), store.expr("actor")) if e]
            if store.layout.ref("payload") is not None and store.expr("payload") is not None:
                parts.append(q.contains(store.expr("payload"), store.column_type("payload"), "a_text"))
            clauses.append(f"({' OR '.join(parts)})" if parts else "1 = 0")
            params["a_text"] = f.text
        return clauses, params

    def fetch(self, conn: Connection, f: AuditQuery, after: tuple | None, limit: int, newest_first: bool) -> Fetched:
        clauses, params = self.filters(f)
        if after is not None:
            clauses.append(f"f.a_first {'<' if newest_first else '>'} :k_first")
            params["k_first"] = after[0]
        d = "DESC" if newest_first else "ASC"
        sql = self._sql(clauses, f"ORDER BY f.a_first {d} LIMIT {int(limit)}")
        return self._entries(conn.execute(sa.text(sql), params))

    def first_of(self, conn: Connection, corrs: Iterable[str]) -> dict[str, AuditEntry]:
        """The first event of each of these correlations (who changed this, without a command log)."""
        out: dict[str, AuditEntry] = {}
        for chunk in batches(list(dict.fromkeys(corrs))):
            where, params = correlation_match(self.store, chunk, "w_")
            inner = (f"SELECT {self.corr} AS a_corr, MIN({self.pos}) AS a_first FROM {self.inner_from} "
                     f"WHERE {where} GROUP BY {self.corr}")
            sql = (f"SELECT f.a_first, {self.cols} FROM ({inner}) f JOIN {self.table} e ON {self.pos} = f.a_first "
                   f"{self.joins}")
            out.update((e.correlation_id, e) for e, _ in self._entries(conn.execute(sa.text(sql), params)))
        return out


def correlation_match(store: EventStore, values: Iterable[str], prefix: str) -> tuple[str, dict[str, Any]]:
    """``<the events' correlation> IN (...)``, typed so an index on the column stays usable."""
    ref = store.layout.ref("correlation_id")
    plain = ref is not None and ref.column is not None and not ref.path
    return id_match(store.dialect, store.expr("correlation_id"), store.column_type("correlation_id") if plain else None,
                    values, prefix, plain)


def correlation_streams(store: EventStore, conn: Connection, corrs: Iterable[str]
                        ) -> dict[str, tuple[tuple[str, ...], int, int]]:
    """correlation -> (its first ``MAX_STREAMS`` streams in the order first touched, how many
    streams, how many events), aggregated in SQL, one query per batch of correlations."""
    if correlation_usable(store) or store.expr("stream") is None:
        return {}
    lay, q = store.layout, store.dialect
    corr, stream, pos = store.expr("correlation_id"), store.expr("stream"), store.expr("position")
    from_ = f"{q.table(lay.table)} e {lay.joins}".strip()
    out: dict[str, tuple[tuple[str, ...], int, int]] = {}
    acc: dict[str, tuple[list[str], int, int]] = {}
    for chunk in batches(list(dict.fromkeys(corrs))):
        where, params = correlation_match(store, chunk, "g_")
        grouped = (f"SELECT {corr} AS g_corr, {stream} AS g_stream, COUNT(*) AS g_n, MIN({pos}) AS g_first "
                   f"FROM {from_} WHERE {where} GROUP BY {corr}, {stream}")
        ranked = (f"SELECT g_corr, g_stream, ROW_NUMBER() OVER (PARTITION BY g_corr ORDER BY g_first) AS g_rn, "
                  f"COUNT(*) OVER (PARTITION BY g_corr) AS g_ns, SUM(g_n) OVER (PARTITION BY g_corr) AS g_total "
                  f"FROM ({grouped}) y")
        sql = f"SELECT g_corr, g_stream, g_ns, g_total FROM ({ranked}) x WHERE g_rn <= {MAX_STREAMS} ORDER BY g_corr, g_rn"
        for c, s, ns, total in conn.execute(sa.text(sql), params):
            streams, _, _ = acc.setdefault(text(c), ([], int(ns), int(total)))
            if s is not None:
                streams.append(text(s))
    for c, (streams, ns, total) in acc.items():
        out[c] = (tuple(streams), ns, total)
    return out


# -- inspector_audit ----------------------------------------------------------------------------------


class AuditTableSource:
    """The steps of compensations submitted through the inspector (``core.submit``), from the
    ``inspector_audit`` table next to the store's events, ordered by its ``audit_id``."""

    name = "inspector_audit"

    def __init__(self, store: EventStore):
        self.store = store
        self.table = audit_table_for(audit_schema(store))

    @staticmethod
    def exists(store: EventStore, conn: Connection) -> bool:
        return conn.dialect.has_table(conn, AUDIT_TABLE, schema=audit_schema(store))

    def _entry(self, r: Mapping[str, Any]) -> tuple[AuditEntry, tuple]:
        positions = [int(p) for p in json.loads(r["positions"] or "[]")]
        events = json.loads(r["event_ids"] or "[]")
        e = AuditEntry(_aware(r["submitted_at"]) if r["submitted_at"] else None, r["actor"], r["command"],
                       r["idempotency_key"], r["plan_id"], (r["stream"],), len(events), r["reason"], SOURCE_AUDIT,
                       min(positions) if positions else None, streams_total=1)
        return e, (int(r["audit_id"]),)

    def fetch(self, conn: Connection, f: AuditQuery, after: tuple | None, limit: int, newest_first: bool) -> Fetched:
        c = self.table.c
        stmt = sa.select(c.audit_id, c.submitted_at, c.actor, c.command, c.stream, c.reason, c.idempotency_key,
                         c.plan_id, c.event_ids, c.positions)
        if f.actor is not None:
            stmt = stmt.where(c.actor == f.actor)
        if f.command is not None:
            stmt = stmt.where(c.command == f.command)
        if f.since is not None:
            stmt = stmt.where(c.submitted_at >= _aware(f.since))
        if f.until is not None:
            stmt = stmt.where(c.submitted_at < _aware(f.until))
        if f.text:
            needle = f.text.lower()
            stmt = stmt.where(sa.or_(*(sa.func.lower(col).contains(needle, autoescape=True)
                                       for col in (c.command, c.actor, c.reason, c.stream))))
        if after is not None:
            stmt = stmt.where(c.audit_id < after[0] if newest_first else c.audit_id > after[0])
        stmt = stmt.order_by(c.audit_id.desc() if newest_first else c.audit_id).limit(int(limit))
        return [self._entry(r) for r in conn.execute(stmt).mappings()]

    def plan_commands(self, conn: Connection, plan_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(plan id, command) of the submitted steps of ``plan_ids`` (a page's command-log
        correlations): the commands a submitter also wrote to the store's own command log, listed
        once (from here). Reads only those plans' rows, in batches, not the whole table."""
        c = self.table.c
        out: set[tuple[str, str]] = set()
        for chunk in batches(sorted({p for p in plan_ids if p})):
            q = sa.select(c.plan_id, c.command).where(c.plan_id.in_(chunk)).distinct()
            out.update((r[0], r[1]) for r in conn.execute(q))
        return out

    def by_position(self, conn: Connection) -> tuple[dict[int, AuditEntry], dict[str, AuditEntry]]:
        """Each submitted event's step: by position, and by event id."""
        c = self.table.c
        by_pos: dict[int, AuditEntry] = {}
        by_id: dict[str, AuditEntry] = {}
        rows = conn.execute(sa.select(c.audit_id, c.submitted_at, c.actor, c.command, c.stream, c.reason,
                                      c.idempotency_key, c.plan_id, c.event_ids, c.positions)).mappings()
        for r in rows:
            e, _ = self._entry(r)
            by_pos.update((int(p), e) for p in json.loads(r["positions"] or "[]"))
            by_id.update((str(i), e) for i in json.loads(r["event_ids"] or "[]"))
        return by_pos, by_id


__all__ = ["AuditEntry", "AuditQuery", "AuditTableSource", "FirstEventSource", "LogSource", "MAX_STREAMS",
           "SOURCE_AUDIT", "SOURCE_FIRST_EVENT", "SOURCE_LOG", "correlation_streams", "correlation_usable",
           "time_bound"]

