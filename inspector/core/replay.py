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

import concurrent.futures
import datetime as dt
from typing import Any, Iterable, Mapping, Sequence

from .checkpoints import (BeyondHead, Checkpoint, EmptyCorrelation, EmptySelection, ReplayError, StoreIdentity,
                          UnknownEvent)
from .history import History
from .lineage import MAX_NODES, LineageNode, _Walk
from .model import EventFilter, RecordedEvent
from .projection import Projection
from .replay_fold import (REFOLD_MAX_EVENTS, REFOLD_MAX_STREAMS, REFOLD_MAX_VERSIONS, frame_rows, history_diff,
                          key_of, prepare_histories, refold_diffs, rows_by_key)
from .replay_sql import (NONE, PAGE, Tally, all_of, any_of, filter_clause, ids_clause, iter_events, position_range,
                         selection_where, sql_event_set)
from .replay_values import (FORMAT, LIST_LIMIT, Counts, EventRef, EventSet, Orphan, OrphanSet, ProjectionDiff,
                            ReplayPlan, Selection, distinct_strs, json_value, load_plan, read_document, same_value,
                            write_document)
from .rows import text
from .store import EventStore, is_uuid

MAX_TRACED = 50_000  # left-out events whose lineage is followed
UTC = dt.timezone.utc


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
        self.tally = Tally(limit)
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
            k = key_of(h.projection, h.types, e)
            if k is not None:
                self.touched[name].setdefault(k, set()).add(e.stream)

    def orphans(self, store: EventStore, head: int, limit: int) -> OrphanSet:
        if len(self.nodes) > MAX_TRACED:
            return OrphanSet(0, (), False, False, f"lineage not traced: {self.tally.count} events are left out "
                                                  f"(more than {MAX_TRACED})")
        return trace_orphans(store, self.nodes, head, limit)


def _check_streams(store: EventStore, streams: Sequence[str], categories: Sequence[str]) -> None:
    if streams:
        where = ids_clause(store, "stream", streams, "cs")
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
    scope = position_range(store, position, head)
    parts = [ids_clause(store, "stream", streams, "ts")] if streams else []
    parts += [filter_clause(store, EventFilter(category=c), f"tc{i}") for i, c in enumerate(categories)]
    return all_of(scope, any_of(*parts)) if parts else scope


def _collateral(store: EventStore, dropped: EventSet, scope: tuple[str, dict[str, Any]], target: Selection,
                limit: int) -> EventSet:
    """The dropped events outside ``target``: the target's own (few) events are read and counted,
    the rest follows by subtraction; the first ``limit`` of the rest are listed."""
    sql, params = selection_where(store, target)
    inside = Tally(limit)
    for e in iter_events(store, all_of(scope, (sql, params))):
        inside.add(e)
    n = dropped.count - inside.count
    rest = ()
    if n:
        outside = (f"CASE WHEN ({sql}) THEN 1 ELSE 0 END = 0", params)  # NULLs count as outside
        rest = tuple(EventRef.of(e) for e, _ in zip(iter_events(store, all_of(scope, outside), page=limit + 1),
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
    streams, categories = distinct_strs(streams), distinct_strs(categories)
    if streams or categories:
        _check_streams(store, streams, categories)
    if position >= head:
        raise EmptySelection(f"nothing to drop: position {position} is the head of the store")
    hist = prepare_histories(store, head, projections, histories)
    scope = _truncate_scope(store, position, head, streams, categories)
    notes = []
    if not streams and not categories:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            pos = store.expr("position")
            first = int(store._fetch_page(f"SELECT MIN({pos}) FROM {store._from}", {})[0][0])
            wait = sql_event_set(store, scope, limit, pool, position_range(store, position, head, wide=True),
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
        where = ids_clause(store, logical, values, tag)
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
    hist = prepare_histories(store, head, projections, histories)
    scope = all_of(position_range(store, None, head), selection_where(store, selection))
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
        return all_of(position_range(store, None, plan.head_position), selection_where(store, plan.selection))
    return _truncate_scope(store, plan.position, plan.head_position, plan.streams, plan.categories)


# what this module held before ``replay_values``, ``replay_sql`` and ``replay_fold`` were split off,
# still importable from here
__all__ = ["FORMAT", "LIST_LIMIT", "MAX_TRACED", "EventRef", "EventSet", "Orphan", "OrphanSet", "ProjectionDiff",
           "ReplayPlan", "Selection", "iter_events", "json_value", "left_out_where", "load_plan",
           "preview_skip", "preview_truncate", "same_value", "selection_where", "trace_orphans",
           "NONE", "PAGE", "REFOLD_MAX_EVENTS", "REFOLD_MAX_STREAMS", "REFOLD_MAX_VERSIONS", "Counts", "frame_rows",
           "history_diff", "read_document", "refold_diffs", "rows_by_key", "write_document"]
