"""The SQL of replay plans (``core.replay``): conditions for selections, position ranges and
many ids (combinable in one statement), events read in keyset pages, and the event sets a plan
leaves out, counted by the database (``GROUP BY``, in parallel) or one by one."""

from __future__ import annotations

import concurrent.futures
import re
from typing import Any, Callable, Iterator, Sequence

from .checkpoints import EmptySelection, ReplayError, parse_iso
from .command_log import batches, id_match
from .model import EventFilter, RecordedEvent
from .replay_values import Counts, EventRef, EventSet, Selection, sorted_counts
from .rows import text
from .store import EventStore

NONE = "(none)"
PAGE = 2000


# -- SQL -------------------------------------------------------------------------------------------


def filter_clause(store: EventStore, flt: EventFilter, tag: str) -> tuple[str, dict[str, Any]]:
    """``store.where(flt)`` as a bare condition whose bind names carry ``tag`` (so several can
    be combined in one statement)."""
    where, params = store.where(flt)
    sql = where[len(" WHERE "):] if where else "1 = 1"
    for name in sorted(params, key=len, reverse=True):
        sql = re.sub(rf"(?<![:\w]):{re.escape(name)}\b", f":{tag}_{name}", sql)
    return sql, {f"{tag}_{k}": v for k, v in params.items()}


def ids_clause(store: EventStore, logical: str, values: Sequence[Any], tag: str) -> tuple[str, dict[str, Any]]:
    """``<field> IN (...)`` for many values, written so the field's index stays usable."""
    expr = store.expr(logical)
    if expr is None:
        raise ReplayError(f"layout {store.layout.name} keeps no {logical.replace('_', ' ')} the database can read")
    ref = store.layout.ref(logical)
    plain = logical == "position" or (ref is not None and ref.column is not None and not ref.path)
    ctype = "bigint" if logical == "position" else (store.column_type(logical) if plain else None)
    parts, params = [], {}
    for i, chunk in enumerate(batches(list(values))):
        sql, p = id_match(store.dialect, expr, ctype, chunk, f"{tag}{i}_", plain)
        parts.append(sql)
        params.update(p)
    return ("(" + " OR ".join(parts) + ")" if parts else "1 = 0"), params


def all_of(*parts: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return " AND ".join(f"({s})" for s, _ in parts), {k: v for _, p in parts for k, v in p.items()}


def any_of(*parts: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return " OR ".join(f"({s})" for s, _ in parts), {k: v for _, p in parts for k, v in p.items()}


def selection_where(store: EventStore, sel: Selection) -> tuple[str, dict[str, Any]]:
    """The SQL condition (and binds) that picks a selection's events."""
    parts = []
    if sel.event_ids:
        parts.append(ids_clause(store, "event_id", sel.event_ids, "sid"))
    if sel.correlation_ids:
        parts.append(ids_clause(store, "correlation_id", sel.correlation_ids, "scor"))
    if sel.actor is not None:
        since = parse_iso(sel.since) if sel.since else None
        until = parse_iso(sel.until) if sel.until else None
        parts.append(filter_clause(store, EventFilter(actor=sel.actor, since=since, until=until), "sact"))
    if not parts:
        raise EmptySelection("nothing selected: give event ids, correlation ids or an actor")
    return any_of(*parts)


def position_range(store: EventStore, after: int | None, upto: int, wide: bool = False) -> tuple[str, dict[str, Any]]:
    """Positions in (after, upto]. ``wide``: written so SQLite cannot use the position index for
    it (a unary plus), which lets it scan a covering index of the grouped column instead."""
    pos = store.expr("position")
    if wide and store.dialect.name == "sqlite":
        pos = f"+{pos}"
    if after is None:
        return f"{pos} <= :r_upto", {"r_upto": int(upto)}
    return f"{pos} > :r_after AND {pos} <= :r_upto", {"r_after": int(after), "r_upto": int(upto)}


def iter_events(store: EventStore, where: tuple[str, dict[str, Any]], page: int = PAGE) -> Iterator[RecordedEvent]:
    """The events matching a condition, in position order, in keyset pages (built from the
    store's own SELECT and decoder, as ``bench`` does). Where positions are not unique a page
    ends after all the rows of its last position, so none is lost between pages."""
    sql, params = where
    pos = store.expr("position")
    base = f"SELECT {store._select} FROM {store._from} WHERE ({sql})"
    unique = store.layout.position_unique
    after: int | None = None
    while True:
        q = base + (f" AND {pos} > :it_after" if after is not None else "") + f" ORDER BY {pos} LIMIT {int(page)}"
        events = store.rows.events(store._fetch_page(q, {**params, "it_after": after} if after is not None else params))
        if len(events) < page:
            yield from events
            return
        last = events[-1].position
        if unique:
            yield from events
            after = last
            continue
        head = [e for e in events if e.position != last]
        yield from head
        if not head:
            yield from store.rows.events(store._fetch_page(base + f" AND {pos} = :it_at", {**params, "it_at": last}))
            after = last
        else:
            after = last - 1


def _group_counts(store: EventStore, logical: str, where: tuple[str, dict[str, Any]]) -> Counts:
    """(value, events) pairs, largest first, counted and ordered by the database (so a hundred
    thousand streams cost Python one list, not a dict and a sort)."""
    expr = store.expr(logical)
    rows = store._fetch_page(f"SELECT {expr}, COUNT(*) FROM {store._from} WHERE {where[0]} GROUP BY {expr} "
                             "ORDER BY 2 DESC, 1", where[1])
    if all(type(k) is str for k, _ in rows):  # the common case: names already, one row each
        return tuple(rows)
    out: dict[str, int] = {}
    for k, n in rows:
        name = text(k)
        name = NONE if name is None else name
        out[name] = out.get(name, 0) + int(n)
    return sorted_counts(out)


# -- event sets ------------------------------------------------------------------------------------


class Tally:
    """Counts and the capped list of events seen one by one."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self.by: dict[str, dict[str, int]] = {"type": {}, "stream": {}, "actor": {}}
        self.events: list[EventRef] = []

    def add(self, e: RecordedEvent) -> None:
        self.count += 1
        for f, d in self.by.items():
            k = getattr(e, f)
            k = NONE if k is None else k
            d[k] = d.get(k, 0) + 1
        if len(self.events) < self.limit:
            self.events.append(EventRef.of(e))

    def result(self) -> EventSet:
        return EventSet(self.count, sorted_counts(self.by["type"]), sorted_counts(self.by["stream"]), sorted_counts(self.by["actor"]),
                        tuple(self.events), self.count > len(self.events))


def sql_event_set(store: EventStore, where: tuple[str, dict[str, Any]], limit: int,
                   pool: concurrent.futures.Executor, wide: tuple[str, dict[str, Any]] | None = None,
                   wide_share: float = 0.0) -> Callable[[], EventSet]:
    """Counts by GROUP BY in the database (each on its own connection, in parallel with the
    caller) and the first ``limit`` events; returns a function that waits for them. ``wide`` is
    the same condition written so the database reads a whole covering index instead of the
    position range: faster once the events counted are more than a tenth of the store
    (``wide_share``; SQLite otherwise walks the table's rows for them). Where a field lives where
    the database cannot group by it, the events are counted as they are read instead."""
    fields = ("type", "stream", "actor")
    if any(store.expr(f) is None and store.layout.has(f) for f in fields):
        def scan() -> EventSet:
            t = Tally(limit)
            for e in iter_events(store, where):
                t.add(e)
            return t.result()

        return pool.submit(scan).result

    # the share is estimated from positions, so every count can start at once (type counts read
    # their own (type, position) index either way)
    grouped = wide if wide is not None and wide_share * 10 > 1 else where
    jobs = {f: pool.submit(_group_counts, store, f, where if f == "type" else grouped)
            for f in ("type", "stream", "actor") if store.layout.has(f)}
    if "type" not in jobs:
        jobs["count"] = pool.submit(store._fetch_page, f"SELECT COUNT(*) FROM {store._from} WHERE {where[0]}",
                                    where[1])

    def counts() -> tuple[int, dict[str, Counts]]:
        out = {f: j.result() for f, j in jobs.items() if f != "count"}
        n = sum(c for _, c in out["type"]) if "type" in out else int(jobs["count"].result()[0][0])
        return n, out

    listed = pool.submit(lambda: [EventRef.of(e) for e, _ in zip(iter_events(store, where, page=limit + 1),
                                                                  range(limit))])

    def wait() -> EventSet:
        n, counted = counts()
        for f in fields:
            counted.setdefault(f, ((NONE, n),) if n else ())
        events = tuple(listed.result())
        return EventSet(n, counted["type"], counted["stream"], counted["actor"], events, n > len(events))

    return wait
