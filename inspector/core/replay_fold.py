"""The read models of replay plans (``core.replay``): each projection's diff from head to the
plan's result, from its History (a truncate of every stream) or by folding again, without the
left-out events, the rows they touch from the events of the streams those rows live in (a refold,
within the ``REFOLD_MAX_*`` budgets)."""

from __future__ import annotations

import collections
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .checkpoints import ReplayError
from .command_log import batches
from .history import History, build_history
from .model import EventFilter, RecordedEvent
from .projection import Projection
from .replay_sql import filter_clause, ids_clause, iter_events, position_range
from .replay_values import LIST_LIMIT, ProjectionDiff, json_value, same_value
from .rows import text
from .store import EventStore

REFOLD_MAX_VERSIONS = 200_000  # row versions a refold of one projection may replay
REFOLD_MAX_STREAMS = 20_000  # streams a refold of one projection may read
REFOLD_MAX_EVENTS = 150_000  # events a refold of one projection may read


# -- projections -----------------------------------------------------------------------------------


def prepare_histories(store: EventStore, head: int, projections: Iterable[Projection],
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


def _row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for f, v in row.items():
        j = json_value(v)
        if j is not None:
            out[f] = j
    return out


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


def key_of(p: Projection, types: frozenset[str] | None, e: RecordedEvent) -> str | None:
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
    typed = (" AND " + filter_clause(store, EventFilter(types=tuple(sorted(types))), "st")[0]) if types and \
        store.expr("type") else ""
    tparams = filter_clause(store, EventFilter(types=tuple(sorted(types))), "st")[1] if typed else {}
    events: list[RecordedEvent] = []
    for chunk in batches(sorted(streams)):
        where, params = ids_clause(store, "stream", chunk, "ss")
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
        where, params = ids_clause(store, "stream", chunk, "cn")
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
        events = list(iter_events(store, position_range(store, None, head)))
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
            k = key_of(p, h.types, e)
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
