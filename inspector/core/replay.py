"""Replay plans: what a rollback would do, seen before anything changes. Nothing here writes.

Two kinds of plan. A **truncate** drops every event after a checkpoint P (in all streams, or only
in chosen streams or categories) and replays the rest. A **skip** replays the whole log without a
chosen set of events: event ids, correlations, or an actor's run between two times. A plan is a
frozen value; ``to_json()`` gives the document below, ``from_json()`` reads it back equal, and
``export(path)`` writes it, so the plan the GUI shows is the plan the CLI forks from.

The JSON document (field names are stable; times are ISO 8601 with offset)::

    {"format": "inspector.replay-plan/1",
     "kind": "truncate" | "skip",
     "store": {"url": URL without password, "layout": name, "table": events table},
     "head_position": the store's newest position when the plan was made,
     "created_at": when the plan was made,
     "position": truncate: keep the events at or before this position; skip: null,
     "checkpoint": the checkpoint truncated to ({"name", "position", "note", "created_at", "spec"}) or null,
     "streams": [...], "categories": [...]: a truncate limited to these (both empty: every stream),
     "selection": skip: the events skipped; truncate: the run the operator was after, or null:
         {"event_ids": [...], "correlation_ids": [...], "actor": name | null,
          "since": ISO | null (inclusive), "until": ISO | null (exclusive)},
     "dropped": the events the plan leaves out (an event set, below),
     "collateral": truncate: the dropped events outside "selection" (all of them without one);
         skip: null,
     "orphans": {"count", "capped", "traced", "explanation",
                 "events": [event + "caused_by": the id of its cause (a dropped event or another orphan)]},
     "projections": {name: {"method": "history" | "refold" | "not_computed", "keys_recomputed": n | null,
                            "rows_added", "rows_removed", "rows_changed", "cells_changed" (null when
                            not computed), "capped", "note": why not computed | null,
                            "added": [{"key", "values": {field: value}}], "removed": [same],
                            "changed": [{"key", "field", "old", "new"}]}},
     "notes": [text, ...]}

An event set is ``{"count", "by_type": {type: n}, "by_stream": {stream: n}, "by_actor": {actor: n},
"capped", "events": [{"position", "event_id", "stream", "type", "actor", "recorded_at",
"correlation_id"}]}``; a missing type, stream or actor counts under ``"(none)"``. Counts are
exact; ``events`` lists the first ``limit`` (default 1,000) by position, ``capped`` saying when
there are more. Diff lists are capped the same way (counts exact). A diff goes from the current
head to the plan's result: ``added`` rows exist only after the replay, ``removed`` only now,
``changed`` cells have ``old`` (now) and ``new`` (after); None-valued fields are absent.

How each projection's result is worked out: a truncate of every stream is ``History.diff(head,
P)`` (method ``history``). A skip, or a truncate of some streams, recomputes only the rows the
left-out events touch (method ``refold``): their keys (``projection.key``); the streams those rows
live in (the streams of the left-out events, and of the rows' versions in the History, looked up
by position); every event of those streams read by SQL and folded from scratch without the
left-out events; compared with the rows at head as the History has them.

Limits accepted: (1) a refold reads every event of the involved streams, so its cost is those
streams' size: a projection whose touched rows would need more than ``REFOLD_MAX_EVENTS`` events
(or ``REFOLD_MAX_VERSIONS`` versions, ``REFOLD_MAX_STREAMS`` streams) is reported
``not_computed`` with the reason instead, typically a row per event type touched by a common
type; (2) an event of a touched row that lives in a stream where no event ever changed that row,
and that changed nothing itself, is not seen, even though without the left-out events it might
have changed the row; (3) projections are taken as pure (the same events give the same rows);
(4) lineage is traced for at most ``MAX_TRACED`` left-out events (orphans say so when not traced)."""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import json
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .checkpoints import (BeyondHead, Checkpoint, EmptyCorrelation, EmptySelection, ReplayError, StoreIdentity,
                          UnknownEvent, iso, parse_iso)
from .command_log import batches, id_match
from .history import History, build_history
from .lineage import MAX_NODES, LineageNode, _Walk
from .model import EventFilter, RecordedEvent
from .projection import Projection
from .rows import text
from .store import EventStore, is_uuid
from .store_files import write_atomic

FORMAT = "inspector.replay-plan/1"
LIST_LIMIT = 1000  # events, orphans and diff entries listed per plan (counts stay exact)
MAX_TRACED = 50_000  # left-out events whose lineage is followed
REFOLD_MAX_VERSIONS = 200_000  # row versions a refold of one projection may replay
REFOLD_MAX_STREAMS = 20_000  # streams a refold of one projection may read
REFOLD_MAX_EVENTS = 150_000  # events a refold of one projection may read
NONE = "(none)"
UTC = dt.timezone.utc
PAGE = 2000


# -- values ----------------------------------------------------------------------------------------


def _strs(xs: Iterable[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(x) for x in xs))


@dataclass(frozen=True)
class Selection:
    """A set of events as an operator names them: these event ids, these correlations, and the
    events of ``actor`` recorded from ``since`` (inclusive) until ``until`` (exclusive), either
    bound open. The set is the union of the parts given. Times are compared by the database, as
    ``inspector events --since/--until`` compares them (SQLite: to the millisecond)."""

    event_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()
    actor: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_ids", _strs(self.event_ids))
        object.__setattr__(self, "correlation_ids", _strs(self.correlation_ids))
        for name in ("since", "until"):
            v = getattr(self, name)
            object.__setattr__(self, name, iso(parse_iso(v)) if v is not None else None)
        if self.actor is None and (self.since or self.until):
            raise ReplayError("since/until bound an actor's run: give the actor too")

    def is_empty(self) -> bool:
        return not (self.event_ids or self.correlation_ids or self.actor is not None)

    def to_json(self) -> dict[str, Any]:
        return {"event_ids": list(self.event_ids), "correlation_ids": list(self.correlation_ids),
                "actor": self.actor, "since": self.since, "until": self.until}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> "Selection | None":
        if doc is None:
            return None
        return cls(tuple(doc.get("event_ids") or ()), tuple(doc.get("correlation_ids") or ()), doc.get("actor"),
                   doc.get("since"), doc.get("until"))


_REF_FIELDS = ("position", "event_id", "stream", "type", "actor", "recorded_at", "correlation_id")


@dataclass(frozen=True)
class EventRef:
    """One listed event (no payload). ``recorded_at`` is ISO 8601 text or None."""

    position: int
    event_id: str | None
    stream: str | None
    type: str | None
    actor: str | None
    recorded_at: str | None
    correlation_id: str | None

    @classmethod
    def of(cls, e: RecordedEvent | LineageNode) -> "EventRef":
        at = e.recorded_at if isinstance(e, RecordedEvent) else e.at
        eid = e.event_id if isinstance(e, RecordedEvent) else (e.id if e.id != str(e.position) else None)
        return cls(int(e.position), eid, e.stream, e.type, e.actor, at.isoformat() if at else None, e.correlation_id)

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _REF_FIELDS}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "EventRef":
        return cls(*(d.get(f) for f in _REF_FIELDS))


@dataclass(frozen=True)
class Orphan(EventRef):
    """An event a plan keeps although something it descends from is left out."""

    caused_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "caused_by": self.caused_by}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Orphan":
        return cls(*(d.get(f) for f in _REF_FIELDS), caused_by=d.get("caused_by"))


Counts = tuple[tuple[str, int], ...]


def _counts(d: Mapping[str, int]) -> Counts:
    """Largest first, then by name (two stable sorts: much faster than a tuple key on 100k names)."""
    by_name = sorted((kv for kv in d.items() if kv[1]), key=operator.itemgetter(0))
    return tuple(sorted(by_name, key=operator.itemgetter(1), reverse=True))


@dataclass(frozen=True)
class EventSet:
    """Events a plan leaves out: exact counts (in total, by type, stream and actor, largest
    first) and the first events by position (``capped`` when there are more)."""

    count: int
    by_type: Counts
    by_stream: Counts
    by_actor: Counts
    events: tuple[EventRef, ...]
    capped: bool

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "by_type": dict(self.by_type), "by_stream": dict(self.by_stream),
                "by_actor": dict(self.by_actor), "capped": self.capped, "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> "EventSet | None":
        if d is None:
            return None
        return cls(int(d["count"]), tuple((k, int(n)) for k, n in d["by_type"].items()),
                   tuple((k, int(n)) for k, n in d["by_stream"].items()),
                   tuple((k, int(n)) for k, n in d["by_actor"].items()),
                   tuple(EventRef.from_json(e) for e in d["events"]), bool(d["capped"]))

    def minus(self, other: "EventSet", events: tuple[EventRef, ...], capped: bool) -> "EventSet":
        """These counts less ``other``'s (a subset), with the given list."""
        def sub(a: Counts, b: Counts) -> Counts:
            left = dict(a)
            for k, n in b:
                left[k] = left.get(k, 0) - n
            return _counts(left)

        return EventSet(self.count - other.count, sub(self.by_type, other.by_type),
                        sub(self.by_stream, other.by_stream), sub(self.by_actor, other.by_actor), events, capped)


@dataclass(frozen=True)
class OrphanSet:
    """Lineage descendants of left-out events that the plan keeps. ``traced`` is False where
    lineage was not followed (the store records none, or too many events are left out), and
    ``explanation`` says why; ``count`` is a lower bound when the walk hit its cap (noted)."""

    count: int
    events: tuple[Orphan, ...]
    capped: bool
    traced: bool
    explanation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "capped": self.capped, "traced": self.traced, "explanation": self.explanation,
                "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "OrphanSet":
        return cls(int(d["count"]), tuple(Orphan.from_json(e) for e in d["events"]), bool(d["capped"]),
                   bool(d["traced"]), d.get("explanation"))


@dataclass(frozen=True)
class ProjectionDiff:
    """One read model from now (head) to the plan's result. Rows are ``{"key", "values"}`` and
    cells ``{"key", "field", "old", "new"}``, values JSON-able (times as ISO text); lists hold at
    most the plan's limit each (``capped``), the counts are exact. ``method`` is "history",
    "refold" or "not_computed" (counts None, ``note`` says why)."""

    projection: str
    method: str
    keys_recomputed: int | None
    rows_added: int | None
    rows_removed: int | None
    rows_changed: int | None
    cells_changed: int | None
    added: tuple[dict[str, Any], ...]
    removed: tuple[dict[str, Any], ...]
    changed: tuple[dict[str, Any], ...]
    capped: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "keys_recomputed": self.keys_recomputed, "rows_added": self.rows_added,
                "rows_removed": self.rows_removed, "rows_changed": self.rows_changed,
                "cells_changed": self.cells_changed, "capped": self.capped, "note": self.note,
                "added": list(self.added), "removed": list(self.removed), "changed": list(self.changed)}

    @classmethod
    def from_json(cls, name: str, d: Mapping[str, Any]) -> "ProjectionDiff":
        def n(k: str) -> int | None:
            return None if d.get(k) is None else int(d[k])

        return cls(name, d["method"], n("keys_recomputed"), n("rows_added"), n("rows_removed"), n("rows_changed"),
                   n("cells_changed"), tuple(d["added"]), tuple(d["removed"]), tuple(d["changed"]),
                   bool(d.get("capped", False)), d.get("note"))

    def apply_to(self, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The plan's resulting state, given the state now ({key: {field: JSON value}}): what a
        GUI shows as "after". Refused on a capped diff, which does not hold every change."""
        if self.capped or self.method == "not_computed":
            raise ReplayError(f"the diff of {self.projection} is {'capped' if self.capped else 'not computed'}: "
                              "it cannot rebuild the whole state")
        out = {k: dict(v) for k, v in rows.items()}
        for r in self.removed:
            out.pop(r["key"], None)
        for r in self.added:
            out[r["key"]] = dict(r["values"])
        for c in self.changed:
            row = out.setdefault(c["key"], {})
            if c["new"] is None:
                row.pop(c["field"], None)
            else:
                row[c["field"]] = c["new"]
        return out


@dataclass(frozen=True)
class ReplayPlan:
    """A truncate or skip preview (see the module docstring for every field)."""

    kind: str
    store: StoreIdentity
    head_position: int
    created_at: str
    position: int | None
    checkpoint: Checkpoint | None
    streams: tuple[str, ...]
    categories: tuple[str, ...]
    selection: Selection | None
    dropped: EventSet
    collateral: EventSet | None
    orphans: OrphanSet
    projections: tuple[ProjectionDiff, ...] = ()
    notes: tuple[str, ...] = ()

    def projection(self, name: str) -> ProjectionDiff:
        for p in self.projections:
            if p.projection == name:
                return p
        raise ReplayError(f"the plan holds no projection {name!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "kind": self.kind, "store": self.store.to_json(), "head_position": self.head_position,
            "created_at": self.created_at, "position": self.position,
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
            "streams": list(self.streams), "categories": list(self.categories),
            "selection": self.selection.to_json() if self.selection else None,
            "dropped": self.dropped.to_json(), "collateral": self.collateral.to_json() if self.collateral else None,
            "orphans": self.orphans.to_json(),
            "projections": {p.projection: p.to_json() for p in self.projections}, "notes": list(self.notes),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ReplayPlan":
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
            raise ReplayError(f"not a replay plan (format {got!r}, expected {FORMAT!r})")
        try:
            cp = doc.get("checkpoint")
            return cls(
                doc["kind"], StoreIdentity.from_json(doc["store"]), int(doc["head_position"]), doc["created_at"],
                doc.get("position"), Checkpoint.from_json(cp) if cp else None, tuple(doc.get("streams") or ()),
                tuple(doc.get("categories") or ()), Selection.from_json(doc.get("selection")),
                EventSet.from_json(doc["dropped"]), EventSet.from_json(doc.get("collateral")),
                OrphanSet.from_json(doc["orphans"]),
                tuple(ProjectionDiff.from_json(n, p) for n, p in (doc.get("projections") or {}).items()),
                tuple(doc.get("notes") or ()))
        except (KeyError, TypeError, ValueError) as e:
            raise ReplayError(f"replay plan is incomplete or malformed ({type(e).__name__}: {e})") from None

    def export(self, path: str | Path) -> Path:
        """Write the JSON document (atomically: a temporary file, then a rename)."""
        return write_document(path, self.dumps())


def write_document(path: str | Path, text: str) -> Path:
    """Write a plan's document atomically, with the usual permissions: a plan is for sharing."""
    p = Path(path)
    write_atomic(p, text, shared=True)
    return p


def read_document(path: str | Path, what: str, error: type[Exception] = ReplayError) -> Any:
    """A plan file's JSON; ``error`` with one line when it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise error(f"cannot read {what} {path}: {' '.join(str(e).split())}") from None


def load_plan(path: str | Path) -> ReplayPlan:
    return ReplayPlan.from_json(read_document(path, "replay plan"))


# -- JSON values -----------------------------------------------------------------------------------


def json_value(v: Any) -> Any:
    """A state value as plans carry it: numbers, text, bools, None (missing, NaN, NA), times as ISO
    8601 in UTC (naive ones are UTC), numpy scalars as Python ones, anything else as text."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, np.generic):
        return json_value(v.item())
    if isinstance(v, dt.datetime):
        if v != v:  # NaT
            return None
        return (v.astimezone(UTC) if v.tzinfo is not None else v.replace(tzinfo=UTC)).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def same_value(a: Any, b: Any) -> bool:
    """Equal as a History compares values: None is missing, ints and floats are numbers, other
    kinds equal only to their own kind."""
    if a is None or b is None:
        return a is None and b is None
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def _row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for f, v in row.items():
        j = json_value(v)
        if j is not None:
            out[f] = j
    return out


# -- SQL -------------------------------------------------------------------------------------------


def _clause(store: EventStore, flt: EventFilter, tag: str) -> tuple[str, dict[str, Any]]:
    """``store.where(flt)`` as a bare condition whose bind names carry ``tag`` (so several can
    be combined in one statement)."""
    where, params = store.where(flt)
    sql = where[len(" WHERE "):] if where else "1 = 1"
    for name in sorted(params, key=len, reverse=True):
        sql = re.sub(rf"(?<![:\w]):{re.escape(name)}\b", f":{tag}_{name}", sql)
    return sql, {f"{tag}_{k}": v for k, v in params.items()}


def _ids_clause(store: EventStore, logical: str, values: Sequence[Any], tag: str) -> tuple[str, dict[str, Any]]:
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


def _and(*parts: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return " AND ".join(f"({s})" for s, _ in parts), {k: v for _, p in parts for k, v in p.items()}


def _or(*parts: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return " OR ".join(f"({s})" for s, _ in parts), {k: v for _, p in parts for k, v in p.items()}


def selection_where(store: EventStore, sel: Selection) -> tuple[str, dict[str, Any]]:
    """The SQL condition (and binds) that picks a selection's events."""
    parts = []
    if sel.event_ids:
        parts.append(_ids_clause(store, "event_id", sel.event_ids, "sid"))
    if sel.correlation_ids:
        parts.append(_ids_clause(store, "correlation_id", sel.correlation_ids, "scor"))
    if sel.actor is not None:
        since = parse_iso(sel.since) if sel.since else None
        until = parse_iso(sel.until) if sel.until else None
        parts.append(_clause(store, EventFilter(actor=sel.actor, since=since, until=until), "sact"))
    if not parts:
        raise EmptySelection("nothing selected: give event ids, correlation ids or an actor")
    return _or(*parts)


def _range(store: EventStore, after: int | None, upto: int, wide: bool = False) -> tuple[str, dict[str, Any]]:
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
    return _counts(out)


# -- event sets ------------------------------------------------------------------------------------


class _Tally:
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
        return EventSet(self.count, _counts(self.by["type"]), _counts(self.by["stream"]), _counts(self.by["actor"]),
                        tuple(self.events), self.count > len(self.events))


def _sql_event_set(store: EventStore, where: tuple[str, dict[str, Any]], limit: int,
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
            t = _Tally(limit)
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


# -- lineage ---------------------------------------------------------------------------------------


def _node(e: RecordedEvent) -> LineageNode:
    eid = e.event_id
    return LineageNode("event", eid if eid is not None else str(e.position), e.position, e.stream, e.type, e.actor,
                       e.recorded_at, e.correlation_id, e.causation_id, e.version)


def _untraceable(store: EventStore) -> str | None:
    lay = store.layout
    if lay.lineage == "none":
        who = "the eventsourcing library keeps none" if lay.name == "eventsourcing" else f"layout {lay.name} maps none"
        return f"this store records no causation ({who}), so no orphans can be found"
    if store.expr("causation_id") is None:
        return f"layout {lay.name} keeps no causation the database can read, so no orphans can be found"
    if lay.lineage == "ids" and store.expr("event_id") is None:
        return f"layout {lay.name} gives events no id a cause could name, so no orphans can be found"
    return None


def trace_orphans(store: EventStore, left_out: Sequence[LineageNode], head: int, limit: int = LIST_LIMIT,
                  max_orphans: int = MAX_NODES) -> OrphanSet:
    """Everything the left-out events caused, directly or not, that is not left out itself: a
    breadth-first walk down the causation links (``lineage``'s batched ``causation IN (...)``
    queries), up to ``head``."""
    why = _untraceable(store)
    if why:
        return OrphanSet(0, (), False, False, why)
    with store.engine.connect() as conn:
        walk = _Walk(store, conn, len(left_out) + max_orphans)
        walk.add(left_out)
        walk.descendants(left_out)
        graph = walk.graph("earliest left-out event", [])
    out_ids = {n.id for n in left_out}
    found = [n for n in graph.nodes if n.kind == "event" and n.id not in out_ids and (n.position or 0) <= head]
    orphans = []
    for n in found[:limit]:
        cause = graph.parent(n.id)
        orphans.append(Orphan(**EventRef.of(n).to_json(), caused_by=cause.id if cause is not None else None))
    note = None
    if walk.truncated:
        note = f"the lineage walk stopped at {max_orphans} descendants: there may be more orphans"
    return OrphanSet(len(found), tuple(orphans), len(found) > len(orphans), True, note)


# -- projections -----------------------------------------------------------------------------------


def _prepare(store: EventStore, head: int, projections: Iterable[Projection],
             histories: Mapping[str, History] | None) -> dict[str, History]:
    """The histories to diff, by projection name: those given (brought up to ``head``), then the
    missing projections built."""
    out = dict(histories or {})
    for p in projections:
        if p.name not in out:
            out[p.name] = build_history(store, p)
    for name, h in out.items():
        if not h.filter.with_(types=()).is_empty():
            raise ReplayError(f"the history of {name} is of a filtered store; previews need a whole-store history")
        if h.head is None or h.head < head:
            h.extend(store)
    return dict(sorted(out.items()))


def frame_rows(df: Any, limit: int) -> tuple[dict[str, Any], ...]:
    """The first ``limit`` rows of a History frame as ``{"key", "values"}``, column by column."""
    df = df.head(limit)
    keys = [str(k) for k in df["key"].tolist()]
    rows: list[dict[str, Any]] = [{} for _ in keys]
    plain = (str, int, bool)
    for name in df.columns:
        if name == "key":
            continue
        f = "key" if name == "key_" else name
        for row, v in zip(rows, df[name].tolist()):
            if v.__class__ in plain:
                row[f] = v
            else:
                v = json_value(v)
                if v is not None:
                    row[f] = v
    return tuple({"key": k, "values": r} for k, r in zip(keys, rows))


def rows_by_key(df: Any) -> dict[str, dict[str, Any]]:
    """A History frame as {key: {field: JSON value}}, missing values left out."""
    return {r["key"]: r["values"] for r in frame_rows(df, len(df))}


def history_diff(h: History, head: int, position: int, limit: int = LIST_LIMIT) -> ProjectionDiff:
    """Head to ``position`` as the History has it (a truncate of every stream)."""
    d = h.diff(head, position)
    ch = d.changed
    changed = tuple({"key": str(r["key"]), "field": "key" if r["field"] == "key_" else r["field"],
                     "old": json_value(r["old"]), "new": json_value(r["new"])}
                    for r in ch.head(limit).to_dict("records"))
    capped = max(len(d.added), len(d.removed), len(ch)) > limit
    return ProjectionDiff(h.projection.name, "history", None, len(d.added), len(d.removed),
                          int(ch["key"].nunique()) if len(ch) else 0, len(ch), frame_rows(d.added, limit),
                          frame_rows(d.removed, limit), changed, capped)


def _key_of(p: Projection, types: frozenset[str] | None, e: RecordedEvent) -> str | None:
    if types is not None and e.type not in types:
        return None
    k = p.key(e)
    return k if k is None or type(k) is str else str(k)


def _version_positions(h: History, keys: Iterable[str]) -> np.ndarray:
    """Positions of every row version of ``keys`` (the events that changed those rows). Reads the
    History's arrays at once; ``versions(key)`` per key is the public, slower way, used should
    those arrays ever change shape."""
    keys = list(keys)
    try:
        codes = [c for c in (h._code(k) for k in keys) if c is not None]
        return h._pos[np.isin(h._vkey, np.asarray(codes, h._vkey.dtype))] if codes else np.empty(0, np.int64)
    except AttributeError:  # pragma: no cover - the History's internals moved
        parts = [h.versions(k)["valid_from"].to_numpy() for k in keys]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _positions_clause(store: EventStore, positions: Sequence[int]) -> str:
    """``position IN (...)`` with the integers written out: thousands of them bind and parse much
    faster than as parameters, and being ints they cannot inject anything."""
    return f"{store.expr('position')} IN ({', '.join(str(int(p)) for p in positions)})"


def _streams_at(store: EventStore, positions: Iterable[int]) -> set[str]:
    s = store.expr("stream")
    out: set[str] = set()
    for chunk in batches(sorted(set(int(p) for p in positions)), 5000):
        rows = store._fetch_page(f"SELECT DISTINCT {s} FROM {store._from} WHERE {_positions_clause(store, chunk)}", {})
        out.update(text(r[0]) for r in rows if r[0] is not None)
    return out


def _stream_events(store: EventStore, streams: set[str], head: int, types: set[str] | None
                   ) -> list[RecordedEvent]:
    """Every event of these streams up to ``head`` (of ``types``, when given), by position. Read
    a batch of streams at a time in the database's own order and sorted here: an ORDER BY over
    rows scattered across the table costs the database more than the sort costs Python."""
    pos = store.expr("position")
    typed = (" AND " + _clause(store, EventFilter(types=tuple(sorted(types))), "st")[0]) if types and \
        store.expr("type") else ""
    tparams = _clause(store, EventFilter(types=tuple(sorted(types))), "st")[1] if typed else {}
    events: list[RecordedEvent] = []
    for chunk in batches(sorted(streams)):
        where, params = _ids_clause(store, "stream", chunk, "ss")
        sql = f"SELECT {store._select} FROM {store._from} WHERE {where} AND {pos} <= :upto{typed}"
        events.extend(store.rows.events(store._fetch_page(sql, {**params, **tparams, "upto": int(head)})))
    events.sort(key=lambda e: e.position)
    return events


def _fold(p: Projection, state: dict[str, Any] | None, e: RecordedEvent) -> dict[str, Any] | None:
    new = p.apply(p.initial() if state is None else dict(state), e)
    if new is not None and None in new.values():
        return {f: v for f, v in new.items() if v is not None}
    return new


def _head_rows(h: History, head: int, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The rows of ``keys`` present at ``head``, as the History has them (JSON values)."""
    df = h.as_of(head)
    df = df[df["key"].isin(list(keys))]
    return rows_by_key(df)


def _too_big(name: str, keys: int, what: str) -> ProjectionDiff:
    return ProjectionDiff(name, "not_computed", keys, None, None, None, None, (), (), (), False,
                          f"not recomputed: the {keys} row(s) it touches {what}; build the plan on fewer events, or "
                          "diff that read model by fork")


def _count_in_streams(store: EventStore, streams: set[str], head: int) -> int:
    n = 0
    for chunk in batches(sorted(streams)):
        where, params = _ids_clause(store, "stream", chunk, "cn")
        n += int(store._fetch_page(f"SELECT COUNT(*) FROM {store._from} WHERE {where} AND "
                                   f"{store.expr('position')} <= :upto", {**params, "upto": int(head)})[0][0])
    return n


def refold_diffs(store: EventStore, histories: Mapping[str, History], touched: Mapping[str, Mapping[str, set[str]]],
                 left_out: set[int], head: int, limit: int = LIST_LIMIT) -> list[ProjectionDiff]:
    """Per projection, the rows the left-out events touch (``touched[name]``: key -> streams of
    its left-out events), folded from scratch with and without them (see the module docstring).
    A projection whose touched rows have more than ``REFOLD_MAX_VERSIONS`` versions, or live in
    more than ``REFOLD_MAX_STREAMS`` streams holding more than ``REFOLD_MAX_EVENTS`` events (a row
    per event type touched by a common type, say), is not recomputed: its diff says so instead of
    reading most of the store."""
    skipped: dict[str, ProjectionDiff] = {}
    route: dict[str | None, list[str]] = {}  # stream -> the projections that need its events
    for name, keys in touched.items():
        if not keys:
            continue
        positions = _version_positions(histories[name], keys)
        if len(positions) > REFOLD_MAX_VERSIONS:
            skipped[name] = _too_big(name, len(keys), f"have {len(positions)} versions (more than "
                                                      f"{REFOLD_MAX_VERSIONS})")
            continue
        mine = set().union(*keys.values())
        if store.expr("stream") is not None:
            mine |= _streams_at(store, [p for p in positions.tolist() if p not in left_out])
            mine.discard(None)  # type: ignore[arg-type]
            if len(mine) > REFOLD_MAX_STREAMS:
                skipped[name] = _too_big(name, len(keys), f"live in {len(mine)} streams (more than "
                                                          f"{REFOLD_MAX_STREAMS})")
                continue
            n = _count_in_streams(store, mine, head)
            if n > REFOLD_MAX_EVENTS:
                skipped[name] = _too_big(name, len(keys), f"live in streams of {n} events (more than "
                                                          f"{REFOLD_MAX_EVENTS})")
                continue
        for st_ in mine:
            route.setdefault(st_, []).append(name)
    folding = {n: h for n, h in histories.items() if touched.get(n) and n not in skipped}
    kinds = [h.types for h in folding.values()]
    types = set().union(*kinds) if kinds and all(t is not None for t in kinds) else None
    if not folding:
        events: list[RecordedEvent] = []
    elif store.expr("stream") is None:  # no streams to narrow the read: all of it, for every projection
        events = list(iter_events(store, _range(store, None, head)))
        route = collections.defaultdict(lambda: list(folding))
    else:
        events = _stream_events(store, set(route), head, types)
    # the rows now are the History's; only the rows after are folded (without the left-out events)
    after: dict[str, dict[str, dict[str, Any] | None]] = {n: {} for n in folding}
    for e in events:
        if e.position in left_out:
            continue
        for name in route.get(e.stream, ()):
            h = folding[name]
            p = h.projection
            k = _key_of(p, h.types, e)
            if k is not None and k in touched[name]:
                rows_ = after[name]
                rows_[k] = _fold(p, rows_.get(k), e)
    out = []
    for name in histories:
        if name in skipped:
            out.append(skipped[name])
            continue
        keys = touched.get(name) or {}
        now = _head_rows(histories[name], head, keys) if keys else {}
        new = after.get(name, {})
        added, removed, changed, rows_changed = [], [], [], 0
        for k in sorted(keys):
            va, b = now.get(k), new.get(k)
            vb = _row_values(b) if b is not None else None
            if va is None and vb is None:
                continue
            if va is None:
                added.append({"key": k, "values": vb})
            elif vb is None:
                removed.append({"key": k, "values": va})
            else:
                cells = [{"key": k, "field": f, "old": va.get(f), "new": vb.get(f)}
                         for f in list(va) + [f for f in vb if f not in va] if not same_value(va.get(f), vb.get(f))]
                rows_changed += bool(cells)
                changed.extend(cells)
        capped = max(len(added), len(removed), len(changed)) > limit
        out.append(ProjectionDiff(name, "refold", len(keys), len(added), len(removed), rows_changed, len(changed),
                                  tuple(added[:limit]), tuple(removed[:limit]), tuple(changed[:limit]), capped))
    return out


# -- previews --------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(UTC).isoformat()


def _store(store: Any) -> EventStore:
    return getattr(store, "store", store)


def _head(store: EventStore) -> int:
    head = store.head()
    if head is None:
        raise EmptySelection("the store has no events: there is nothing to preview")
    return head


class _Scan:
    """One pass over the left-out events: their tally, the keys they touch per projection (with
    the streams they live in), their positions, and their lineage nodes (while few enough)."""

    def __init__(self, histories: Mapping[str, History], limit: int) -> None:
        self.tally = _Tally(limit)
        self.histories = histories
        self.touched: dict[str, dict[str, set[str]]] = {n: {} for n in histories}
        self.positions: set[int] = set()
        self.nodes: list[LineageNode] = []

    def add(self, e: RecordedEvent) -> None:
        self.tally.add(e)
        self.positions.add(e.position)
        if len(self.nodes) <= MAX_TRACED:
            self.nodes.append(_node(e))
        for name, h in self.histories.items():
            k = _key_of(h.projection, h.types, e)
            if k is not None:
                self.touched[name].setdefault(k, set()).add(e.stream)

    def orphans(self, store: EventStore, head: int, limit: int) -> OrphanSet:
        if len(self.nodes) > MAX_TRACED:
            return OrphanSet(0, (), False, False, f"lineage not traced: {self.tally.count} events are left out "
                                                  f"(more than {MAX_TRACED})")
        return trace_orphans(store, self.nodes, head, limit)


def _check_streams(store: EventStore, streams: Sequence[str], categories: Sequence[str]) -> None:
    if streams:
        where = _ids_clause(store, "stream", streams, "cs")
        s = store.expr("stream")
        have = {_norm(text(r[0])) for r in store._fetch_page(f"SELECT DISTINCT {s} FROM {store._from} WHERE {where[0]}",
                                                             where[1])}
        missing = [x for x in streams if _norm(x) not in have]
        if missing:
            raise EmptySelection(f"no stream named {', '.join(map(repr, missing[:5]))} in this store")
    for c in categories:
        if not store.read_page(EventFilter(category=c), limit=1).events:
            raise EmptySelection(f"no events in category {c!r} in this store")


def _truncate_scope(store: EventStore, position: int, head: int, streams: Sequence[str],
                    categories: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The events a truncate drops: after ``position`` up to ``head``, in these streams or
    categories when any are given."""
    scope = _range(store, position, head)
    parts = [_ids_clause(store, "stream", streams, "ts")] if streams else []
    parts += [_clause(store, EventFilter(category=c), f"tc{i}") for i, c in enumerate(categories)]
    return _and(scope, _or(*parts)) if parts else scope


def _collateral(store: EventStore, dropped: EventSet, scope: tuple[str, dict[str, Any]], target: Selection,
                limit: int) -> EventSet:
    """The dropped events outside ``target``: the target's own (few) events are read and counted,
    the rest follows by subtraction; the first ``limit`` of the rest are listed."""
    sql, params = selection_where(store, target)
    inside = _Tally(limit)
    for e in iter_events(store, _and(scope, (sql, params))):
        inside.add(e)
    n = dropped.count - inside.count
    rest = ()
    if n:
        outside = (f"CASE WHEN ({sql}) THEN 1 ELSE 0 END = 0", params)  # NULLs count as outside
        rest = tuple(EventRef.of(e) for e, _ in zip(iter_events(store, _and(scope, outside), page=limit + 1),
                                                    range(limit)))
    return dropped.minus(inside.result(), rest, n > len(rest))


def preview_truncate(store: Any, to: int | Checkpoint, *, streams: Sequence[str] = (), categories: Sequence[str] = (),
                     target: Selection | None = None, projections: Iterable[Projection] = (),
                     histories: Mapping[str, History] | None = None, limit: int = LIST_LIMIT) -> ReplayPlan:
    """What dropping every event after ``to`` (a position or a Checkpoint) would do: in every
    stream, or only in ``streams`` / ``categories``. ``target`` is the run the operator is after
    (taken from a checkpoint placed before a correlation or an actor's run when not given): the
    dropped events outside it are the collateral. Read models: those of ``histories`` (by
    projection name) and of ``projections`` (built when no history is given)."""
    store = _store(store)
    checkpoint = to if isinstance(to, Checkpoint) else None
    position = int(checkpoint.position if checkpoint else to)
    head = _head(store)
    if position > head:
        raise BeyondHead(f"position {position} is beyond the head of the store (#{head})")
    if target is None and checkpoint is not None and checkpoint.target:
        target = Selection(**checkpoint.target)
    streams, categories = _strs(streams), _strs(categories)
    if streams or categories:
        _check_streams(store, streams, categories)
    if position >= head:
        raise EmptySelection(f"nothing to drop: position {position} is the head of the store")
    hist = _prepare(store, head, projections, histories)
    scope = _truncate_scope(store, position, head, streams, categories)
    notes = []
    if not streams and not categories:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            pos = store.expr("position")
            first = int(store._fetch_page(f"SELECT MIN({pos}) FROM {store._from}", {})[0][0])
            wait = _sql_event_set(store, scope, limit, pool, _range(store, position, head, wide=True),
                                  (head - position) / max(head - first + 1, 1))
            diffs = [history_diff(h, head, position, limit) for h in hist.values()]
            dropped = wait()
        orphans = (OrphanSet(0, (), False, False, f"lineage not traced: {dropped.count} events are dropped (more "
                             f"than {MAX_TRACED}); a truncate of every stream drops everything recorded later, so "
                             "only a cause recorded after its effect could leave an orphan")
                   if dropped.count > MAX_TRACED else
                   trace_orphans(store, [_node(e) for e in iter_events(store, scope)], head, limit))
    else:
        scan = _Scan(hist, limit)
        for e in iter_events(store, scope):
            scan.add(e)
        dropped = scan.tally.result()
        if not dropped.count:
            raise EmptySelection(f"nothing to drop: no events of those streams after position {position}")
        orphans = scan.orphans(store, head, limit)
        diffs = refold_diffs(store, hist, scan.touched, scan.positions, head, limit)
        notes.append("state diffs recompute the rows the dropped events touch, from the events of the streams "
                     "those rows live in")
    has_target = target is not None and not target.is_empty()
    collateral = _collateral(store, dropped, scope, target, limit) if has_target else dropped
    return ReplayPlan("truncate", StoreIdentity.of(store), head, _now(), position, checkpoint, streams, categories,
                      target, dropped, collateral, orphans, tuple(diffs), tuple(notes))


def _check_selection(store: EventStore, sel: Selection) -> None:
    """Every named event must exist and every named correlation have events."""
    def found(logical: str, values: Sequence[str], tag: str) -> set[str]:
        where = _ids_clause(store, logical, values, tag)
        e = store.expr(logical)
        rows = store._fetch_page(f"SELECT DISTINCT {e} FROM {store._from} WHERE {where[0]}", where[1])
        return {_norm(text(r[0])) for r in rows}

    if sel.event_ids:
        have = found("event_id", sel.event_ids, "ce")
        missing = [i for i in sel.event_ids if _norm(i) not in have]
        if missing:
            raise UnknownEvent(f"no event with id {', '.join(map(repr, missing[:5]))} in this store")
    if sel.correlation_ids:
        have = found("correlation_id", sel.correlation_ids, "cc")
        missing = [c for c in sel.correlation_ids if _norm(c) not in have]
        if missing:
            raise EmptyCorrelation(f"no events carry correlation id {', '.join(map(repr, missing[:5]))} in this store")


def _norm(v: str | None) -> str | None:
    return v.lower() if v is not None and is_uuid(v) else v


def preview_skip(store: Any, selection: Selection, *, projections: Iterable[Projection] = (),
                 histories: Mapping[str, History] | None = None, limit: int = LIST_LIMIT) -> ReplayPlan:
    """What replaying the whole log without ``selection``'s events would do: the skipped events,
    the orphans they leave, and each read model's rows as if they had never happened."""
    store = _store(store)
    if selection.is_empty():
        raise EmptySelection("nothing to skip: give event ids, correlation ids or an actor")
    head = _head(store)
    _check_selection(store, selection)
    hist = _prepare(store, head, projections, histories)
    scope = _and(_range(store, None, head), selection_where(store, selection))
    scan = _Scan(hist, limit)
    for e in iter_events(store, scope):
        scan.add(e)
    if not scan.tally.count:
        raise EmptySelection(f"nothing to skip: no events by {selection.actor!r} in that time"
                             if selection.actor else "nothing to skip: the selection matches no events")
    orphans = scan.orphans(store, head, limit)
    diffs = refold_diffs(store, hist, scan.touched, scan.positions, head, limit)
    notes = ("state diffs recompute the rows the skipped events touch, from the events of the streams those rows "
             "live in",)
    return ReplayPlan("skip", StoreIdentity.of(store), head, _now(), None, None, (), (), selection,
                      scan.tally.result(), None, orphans, tuple(diffs), notes)


def left_out_where(store: Any, plan: ReplayPlan) -> tuple[str, dict[str, Any]]:
    """The SQL condition for the events ``plan`` leaves out, up to its head (``fork`` uses it)."""
    store = _store(store)
    if plan.kind == "skip":
        if plan.selection is None:
            raise ReplayError("a skip plan without a selection")
        return _and(_range(store, None, plan.head_position), selection_where(store, plan.selection))
    return _truncate_scope(store, plan.position, plan.head_position, plan.streams, plan.categories)


__all__ = ["FORMAT", "LIST_LIMIT", "MAX_TRACED", "EventRef", "EventSet", "Orphan", "OrphanSet", "ProjectionDiff",
           "ReplayPlan", "Selection", "iter_events", "json_value", "left_out_where", "load_plan",
           "preview_skip", "preview_truncate", "same_value", "selection_where", "trace_orphans"]
