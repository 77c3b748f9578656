"""Audit views: the store's command log as an audit table (who asked for what, when, what it changed,
why), and "who changed this" for a projection row or field.

``audit_table`` merges, in time order, one keyset page of each source (``core.audit_sources``): the
command log where the layout has one, otherwise each correlation's first event standing in for the
command (the page says so: ``AuditPage.explanation``), plus the compensations submitted through
the inspector (``inspector_audit``). Every filter and the text search run in SQL; a viewer cannot
search text (the matches would tell whether a masked payload holds a value), as ``RoleStore``
refuses payload search. The cursor keeps one key per source, so a page never repeats or skips a
row whatever the sources' clocks do. ``who_changed`` joins ``History.changes`` with the same sources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit_sources import (SOURCE_AUDIT, SOURCE_FIRST_EVENT, SOURCE_LOG, AuditEntry, AuditQuery, AuditTableSource,
                            FirstEventSource, LogSource, correlation_streams, correlation_usable)
from .command_log import batches, has_command_log, id_match
from .roles import RoleError, role_of
from .store import EventStore

__all__ = ["AuditCursor", "AuditEntry", "AuditPage", "AuditQuery", "DEFAULT_LIMIT", "SOURCE_AUDIT",
           "SOURCE_FIRST_EVENT", "SOURCE_LOG", "STAND_IN_NOTE", "audit_facets", "audit_table", "command_source",
           "who_changed"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
#: Causes followed upwards from a changing event to the command it answered.
MAX_HOPS = 64
STAND_IN_NOTE = ("this store keeps no command log: each correlation's first event stands in for the command "
                 "that started it (its type as the command, its actor as the actor)")


@dataclass(frozen=True)
class AuditCursor:
    """Where the next page starts: the last key read from each source, the sources read to their
    end, and the order (a cursor continues in the order it was made in)."""

    keys: tuple[tuple[str, tuple], ...]
    done: frozenset[str]
    newest_first: bool


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit table. ``source`` says what stands for commands (``SOURCE_LOG``,
    ``SOURCE_FIRST_EVENT``, or "" where nothing can); ``explanation`` is what a UI should say
    about it (None where the store keeps a command log); ``cursor`` is None on the last page."""

    entries: tuple[AuditEntry, ...]
    cursor: AuditCursor | None
    source: str
    explanation: str | None

    @property
    def stand_ins(self) -> bool:
        return self.source == SOURCE_FIRST_EVENT

    @property
    def has_more(self) -> bool:
        return self.cursor is not None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source or None, "stand_ins": self.stand_ins, "explanation": self.explanation,
                "more": self.has_more, "entries": [e.to_json() for e in self.entries]}


def command_source(store: EventStore) -> tuple[str, str | None]:
    """(what stands for commands in this store, the explanation a UI shows, or None)."""
    if has_command_log(store):
        return SOURCE_LOG, None
    why = correlation_usable(store)
    if why is None:
        return SOURCE_FIRST_EVENT, STAND_IN_NOTE
    return "", (f"this store keeps no command log and {why}, so nothing can stand in for commands: only "
                "compensations submitted through the inspector are listed")


def _check_text(store: EventStore, text: str | None) -> None:
    if text and not role_of(store).sees_personal_data:
        raise RoleError("a viewer cannot search the audit table's text: the matches would tell whether a masked "
                        "value is stored (open the store as an auditor to search)")


def _sources(store: EventStore, conn: Connection, source: str) -> list[Any]:
    out: list[Any] = []
    if source == SOURCE_LOG:
        out += LogSource.all(store)
    elif source == SOURCE_FIRST_EVENT:
        out.append(FirstEventSource(store))
    if AuditTableSource.exists(store, conn):
        out.append(AuditTableSource(store))
    return out


def audit_table(store: EventStore, *, actor: str | None = None, command: str | None = None,
                since: dt.datetime | None = None, until: dt.datetime | None = None, text: str | None = None,
                limit: int = DEFAULT_LIMIT, cursor: AuditCursor | None = None, newest_first: bool = True
                ) -> AuditPage:
    """One page of the audit table (see the module docstring), newest first unless
    ``newest_first=False``. Give the previous page's ``cursor`` (with the same filters) for the
    next. Raises ``RoleError`` for a viewer's text search and ``UnsupportedFilter`` for a time
    filter on a store whose times the database cannot read."""
    text = (text or "").strip() or None
    _check_text(store, text)
    query = AuditQuery(actor or None, command or None, since, until, text)
    limit = max(1, min(int(limit), MAX_LIMIT))
    if cursor is not None:
        newest_first = cursor.newest_first
    source, note = command_source(store)
    keys = dict(cursor.keys) if cursor else {}
    done = set(cursor.done) if cursor else set()
    with store.engine.connect() as conn:
        sources = [s for s in _sources(store, conn, source) if s.name not in done]
        fetched = {s.name: s.fetch(conn, query, keys.get(s.name), limit + 1, newest_first) for s in sources}
        twice: set[tuple[str, str]] = set()
        if source == SOURCE_LOG and any(isinstance(s, AuditTableSource) for s in sources):
            plans = (e.correlation_id for rows in fetched.values() for e, _ in rows if e.source == SOURCE_LOG)
            twice = next(s for s in sources if isinstance(s, AuditTableSource)).plan_commands(conn, plans)
        entries, used = _merge(sources, fetched, limit, newest_first, keys, twice)
        entries = _with_streams(store, conn, entries)
    more = False
    for s in sources:
        if used[s.name] < len(fetched[s.name]):
            more = True
        else:
            done.add(s.name)
    cur = AuditCursor(tuple(sorted(keys.items())), frozenset(done), newest_first) if more else None
    return AuditPage(tuple(entries), cur, source, note)


def _merge(sources: list[Any], fetched: Mapping[str, list[tuple[AuditEntry, tuple]]], limit: int,
           newest_first: bool, keys: dict[str, tuple], twice: set[tuple[str, str]]
           ) -> tuple[list[AuditEntry], dict[str, int]]:
    """Take up to ``limit`` rows across the sources in time order (each source's own order kept),
    moving each source's key past what was taken. A command-log row that a submitter also wrote
    to ``inspector_audit`` counts as taken but is listed once, from ``inspector_audit``."""
    def order(entry: AuditEntry, rank: int) -> tuple:
        t = entry.time
        stamp = t.timestamp() if t else 0.0
        return (t is None, -stamp if newest_first else stamp, rank)

    lists = [[(order(e, rank), s.name, e, k) for e, k in fetched[s.name]] for rank, s in enumerate(sources)]
    merged = heapq.merge(*lists, key=lambda item: item[0])  # takes heads only: each source's order is kept
    used = {s.name: 0 for s in sources}
    out: list[AuditEntry] = []
    taken = 0
    for _, name, entry, key in merged:
        if taken >= limit:
            break
        taken += 1
        used[name] += 1
        keys[name] = key
        if entry.source == SOURCE_LOG and (entry.correlation_id, entry.command) in twice:
            continue
        out.append(entry)
    return out, used


def _with_streams(store: EventStore, conn: Connection, entries: list[AuditEntry]) -> list[AuditEntry]:
    """The streams and event counts of the entries' correlations (one aggregate query per batch)."""
    corrs = [e.correlation_id for e in entries if e.source != SOURCE_AUDIT and e.correlation_id]
    if not corrs:
        return entries
    agg = correlation_streams(store, conn, corrs)
    out = []
    for e in entries:
        got = agg.get(e.correlation_id) if e.source != SOURCE_AUDIT and e.correlation_id else None
        if got is not None:
            e = dataclasses.replace(e, streams=got[0], streams_total=got[1], events=got[2])
        elif e.source != SOURCE_AUDIT and not correlation_usable(store):
            e = dataclasses.replace(e, streams_total=0, events=0)  # a command whose correlation has no events
        out.append(e)
    return out


def audit_facets(store: EventStore, limit: int = 200) -> dict[str, list[str]]:
    """The actors and command types the audit table can be filtered by (at most ``limit`` each,
    sorted), for a UI's choices: from the command log, or the events' types and actors where
    first events stand in, plus ``inspector_audit``'s."""
    source, _ = command_source(store)
    actors: set[str] = set()
    commands: set[str] = set()
    q = store.dialect
    with store.engine.connect() as conn:
        def distinct(from_: str, expr: str | None, into: set[str]) -> None:
            if expr is not None:
                sql = f"SELECT {expr} FROM {from_} WHERE {expr} IS NOT NULL GROUP BY {expr} LIMIT {int(limit)}"
                into.update(str(r[0]) for r in conn.execute(sa.text(sql)))

        if source == SOURCE_LOG:
            log = LogSource(store, True)
            distinct(log.r.from_, log.r.expr("actor"), actors)
            distinct(log.r.from_, log.r.expr("type"), commands)
        elif source == SOURCE_FIRST_EVENT:
            from_ = f"{q.table(store.layout.table)} e"
            if "actor" not in store.layout.join_fields:
                distinct(from_, store.expr("actor"), actors)
            if "type" not in store.layout.join_fields:
                distinct(from_, store.expr("type"), commands)
        if AuditTableSource.exists(store, conn):
            t = AuditTableSource(store).table
            actors.update(r[0] for r in conn.execute(sa.select(t.c.actor).distinct().limit(limit)))
            commands.update(r[0] for r in conn.execute(sa.select(t.c.command).distinct().limit(limit)))
    return {"actors": sorted(actors)[:limit], "commands": sorted(commands)[:limit]}


# -- who changed this ---------------------------------------------------------------------------------


@dataclass
class _Changer:
    time: dt.datetime | None
    type: str | None
    actor: str | None
    corr: str | None
    cause: str | None
    event_id: str | None


def _py(v: Any) -> Any:
    """numpy scalars, pandas timestamps and missing values as plain Python values."""
    if v is None or isinstance(v, (str, list, dict, tuple)):
        return v
    import pandas as pd

    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def who_changed(store: EventStore, history: Any, key: str, field: str | None = None,
                changes: Any = None) -> list[dict[str, Any]]:
    """Every change of ``key``'s row in ``history`` (a ``History`` folded over ``store``), or of
    one ``field``, oldest first, with who asked for it: ``position``, ``time`` (of the event),
    ``event_type``, ``event_actor``, ``field``, ``old``, ``new``, and ``actor``, ``command``,
    ``command_id``, ``command_time``, ``reason``, ``source`` (``SOURCE_*``, None where nothing is
    known), ``correlation_id``, ``event_id``. ``actor`` is the command's where one is found,
    else the event's.

    The command is, in this order: the step of a compensation submitted through the inspector that
    appended the event (``inspector_audit``: its reason); the command the event's causation chain
    leads to (followed through the events' causes, batched per hop); the command of its correlation
    issued last before the event; without a command log, the correlation's first event."""
    df = history.changes(key, field) if changes is None else changes  # ``changes``: that frame, already read
    if not len(df):
        return []
    changers: dict[int, _Changer] = {}
    cols = ["position", "recorded_at", "type", "actor", "correlation_id", "causation_id", "event_id"]
    for pos, t, etype, actor, corr, cause, eid in df[cols].drop_duplicates("position").itertuples(index=False):
        changers[int(pos)] = _Changer(_py(t), _py(etype), _py(actor), _py(corr), _py(cause), _py(eid))
    found = _commands_of(store, changers)
    out = []
    for r in df.itertuples(index=False):
        pos = int(r.position)
        ch = changers[pos]
        cmd = found.get(pos)
        out.append({
            "position": pos, "time": ch.time, "event_type": ch.type, "event_actor": ch.actor,
            "field": _py(r.field), "old": _py(r.old), "new": _py(r.new),
            "actor": (cmd.actor if cmd is not None and cmd.actor else ch.actor),
            "command": cmd.command if cmd else None, "command_id": cmd.command_id if cmd else None,
            "command_time": cmd.time if cmd else None, "reason": cmd.reason if cmd else None,
            "source": cmd.source if cmd else None, "correlation_id": ch.corr, "event_id": ch.event_id,
        })
    return out


def _commands_of(store: EventStore, changers: dict[int, _Changer]) -> dict[int, AuditEntry]:
    found: dict[int, AuditEntry] = {}
    with store.engine.connect() as conn:
        if AuditTableSource.exists(store, conn):
            by_pos, by_id = AuditTableSource(store).by_position(conn)
            for p, ch in changers.items():
                hit = by_pos.get(p) or (by_id.get(ch.event_id) if ch.event_id else None)
                if hit is not None:
                    found[p] = hit
        rest = {p: ch for p, ch in changers.items() if p not in found}
        if rest and has_command_log(store):
            log = LogSource(store, True)
            found.update(_through_causes(store, conn, log, rest))
            rest = {p: ch for p, ch in rest.items() if p not in found}
            by_corr = log.by_correlations(conn, [ch.corr for ch in rest.values() if ch.corr])
            for p, ch in rest.items():
                cands = by_corr.get(ch.corr or "", [])
                before = [c for c in cands if c.time is not None and ch.time is not None and c.time <= ch.time]
                if before or cands:
                    found[p] = (before or cands)[-1 if before else 0]
        elif rest and correlation_usable(store) is None:
            firsts = FirstEventSource(store).first_of(conn, [ch.corr for ch in rest.values() if ch.corr])
            for p, ch in rest.items():
                if ch.corr in firsts:
                    found[p] = firsts[ch.corr]
    return found


def _through_causes(store: EventStore, conn: Connection, log: LogSource, changers: Mapping[int, _Changer]
                    ) -> dict[int, AuditEntry]:
    """Follow each event's causation upwards, a batch per hop, until it names a logged command."""
    if store.layout.lineage != "ids":
        return {}
    eid, cause = store.expr("event_id"), store.expr("causation_id")
    current = {p: ch.cause for p, ch in changers.items() if ch.cause}
    found: dict[int, AuditEntry] = {}
    commands: dict[str, AuditEntry] = {}
    parents: dict[str, str | None] = {}
    for _ in range(MAX_HOPS):
        if not current:
            break
        ask = [c for c in set(current.values()) if c not in commands and c not in parents]
        commands.update(log.by_ids(conn, ask))
        if eid is not None and cause is not None:
            parents.update(_causes(store, conn, [c for c in ask if c not in commands]))
        nxt = {}
        for p, c in current.items():
            if c in commands:
                found[p] = commands[c]
            elif parents.get(c):
                nxt[p] = parents[c]
        current = nxt
    return found


def _causes(store: EventStore, conn: Connection, event_ids: Iterable[str]) -> dict[str, str | None]:
    """event id -> its causation id, for the events among ``event_ids`` (one query per batch)."""
    q, lay = store.dialect, store.layout
    ref = lay.ref("event_id")
    plain = ref is not None and ref.column is not None and not ref.path
    out: dict[str, str | None] = {}
    for chunk in batches(list(event_ids)):
        where, params = id_match(q, store.expr("event_id"), store.column_type("event_id") if plain else None,
                                 chunk, "h_", plain)
        sql = (f"SELECT {store.expr('event_id')}, {store.expr('causation_id')} FROM {q.table(lay.table)} e "
               f"{lay.joins} WHERE {where}")
        for e, c in conn.execute(sa.text(sql), params):
            out[str(e)] = str(c) if c is not None else None
    return out


