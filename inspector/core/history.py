"""History: a projection folded once over a store into versioned columns, so the read model as of
any position is a vectorised filter and diffs and "who changed this field" are array lookups.

What is kept (numpy arrays in position order; a later fold appends and closes intervals):

- **row versions**, one per event that changed a row: position, recorded_at, row key, the index
  of the row's next version (a version is valid from its position, inclusive, to the next one's,
  exclusive; ``CURRENT`` while it is the latest), deleted, and who or what caused it (event type,
  actor, correlation, causation and event ids);
- **columns**, each in one of three forms, whichever is smallest for it (re-chosen as it grows):
  *sparse*, one value version per change of the column in a row: the row version that set the
  value (valid_from), the one that replaced or removed it (valid_to) and the value; *keyed*, each
  row's current value plus the sparse entries of values since replaced (columns set once per row,
  such as a stream's name); or *dense*, the value in force after every row version (columns that
  change at most versions, such as a stream's version). Values sit in typed arrays: float64,
  int64, int8 bools, int64 UTC microseconds, or int32 codes into the column's pool of strings
  (shown as categoricals) or of other values.

``History.versions()`` materialises the wide versioned table, every column of every row version.
It is not stored wide because a row version changes few of its columns: a wide copy would cost
columns x versions, most of them repeats. State as of a position P is ``valid_from <= P <
valid_to`` over row versions, then per column the same test over value versions, or a gather at
the rows' keys (keyed) or at their versions in force (dense). A diff compares only the rows with a
version between its two positions, and only the values set or ended there.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator

import numpy as np
import pandas as pd

from .errors import InspectorError
from .model import EventFilter
from .progress import drive
from .projection import Projection
from .history_fold import _Fold, _no_gc
from .history_reader import can_read_alongside, prepared_pages
from .history_values import (_EPOCH, _NONE, _OPEN, _US, CURRENT, UTC, _Column, _Ids, _objects, _Pool,
                             _Rows, _same, _shown)
from .store import EventStore

__all__ = ["CURRENT", "BuildCancelled", "Diff", "History", "Progress", "build_history", "iter_build"]

Progress = tuple[int, int]  # (position folded up to, head position being folded to)


class BuildCancelled(InspectorError):
    """A history build or extension was cancelled; a History being extended is left as it was."""


@dataclass(frozen=True)
class Diff:
    """From one position to another: rows that appear (as of the second), rows that go (as of the
    first), and the cells that differ in rows present at both (key, field, old, new)."""

    added: pd.DataFrame
    removed: pd.DataFrame
    changed: pd.DataFrame


def _reading(method: Callable[..., Any]) -> Callable[..., Any]:
    """Reads wait for an extension being merged in (the fold itself runs alongside them)."""

    @functools.wraps(method)
    def read(self: History, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return read


class History:
    """A projection folded over a store. Build with ``build_history`` / ``iter_build``; bring up
    to date with ``extend``; read with ``as_of``, ``diff``, ``changes`` and ``versions``. Reading
    from several threads while one extends it is safe; two extensions at once are refused.

    Values are compared as the History stores them: None and a missing field are the same, ints
    and floats are numbers (1 == 1.0), bools, strings and times are their own kinds. A column
    named ``key`` is shown as ``key_`` (``key`` is the row key)."""

    def __init__(self, projection: Projection, flt: EventFilter = EventFilter()) -> None:
        types = tuple(projection.types)
        if types and flt.types:
            types = tuple(t for t in flt.types if t in set(types))
            flt = flt.with_(types=types or flt.types)  # nothing in common: read the filter's, fold none
        self.projection = projection
        self.filter = flt.with_(types=types or flt.types)
        #: the event types folded (None: all)
        self.types = frozenset(types) if (projection.types and flt.types) else (
            frozenset(projection.types or flt.types) or None)
        self.head: int | None = None  # the last position folded (whether or not it changed a row)
        self.events_read = 0
        self._keys: list[str] = []
        self._rank = np.empty(0, np.int32)  # key code -> rank in key order
        self._by_rank = np.empty(0, np.int32)  # rank -> key code
        self._last = np.empty(0, np.int32)  # key code -> its latest row version (-1: none)
        self._key_dtype: pd.CategoricalDtype | None = None
        self._keys_in_order: np.ndarray | None = None
        self._pos = np.empty(0, np.int64)
        self._time = np.empty(0, np.int64)
        self._time_max: np.ndarray | None = None
        self._vkey = np.empty(0, np.int32)
        self._vto = np.empty(0, np.int32)
        self._del = np.empty(0, bool)
        self._type = np.empty(0, np.int32)
        self._actor = np.empty(0, np.int32)
        self._types, self._actors = _Pool(), _Pool()
        self._eid, self._corr, self._cause = _Ids(), _Ids(), _Ids()
        self._cols: dict[str, _Column] = {}
        self._object_bytes: int | None = None
        self._lock = threading.RLock()
        self._folding = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- size --------------------------------------------------------------------------------
    @property
    def versions_count(self) -> int:
        return len(self._pos)

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    @_reading
    def change_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions, recorded_at as int64 UTC microseconds; unknown: int64 min) of the events
        that changed a row, ascending: the only positions where ``as_of`` changes. Read-only."""
        pos, time = self._pos.view(), self._time.view()
        pos.flags.writeable = time.flags.writeable = False
        return pos, time

    @property
    @_reading
    def nbytes(self) -> int:
        """Bytes held: every array, plus each distinct Python object (keys, pooled strings and
        values) once, as ``sys.getsizeof`` counts it, plus a list slot for it."""
        arrays = [self._rank, self._by_rank, self._last, self._pos, self._time, self._vkey, self._vto, self._del,
                  self._type, self._actor]
        vrank = getattr(self, "_vrank", None)  # a read cache, while it is kept
        if vrank is not None:
            arrays.append(vrank[2])
        for ids in (self._eid, self._corr, self._cause):
            arrays += [ids.codes] + ([ids.uuids] if ids.uuids is not None else [])
        if self._object_bytes is None:
            seen: set[int] = set()
            total = 0
            lists = [self._keys, self._types.values, self._actors.values]
            lists += [ids.text for ids in (self._eid, self._corr, self._cause) if ids.text is not None]
            lists += [c.pool.values for c in self._cols.values()]
            for values in lists:
                total += 8 * len(values)
                for v in values:
                    if id(v) not in seen:
                        seen.add(id(v))
                        total += sys.getsizeof(v)
            self._object_bytes = total
        return sum(a.nbytes for a in arrays) + sum(c.nbytes for c in self._cols.values()) + self._object_bytes

    # -- folding -----------------------------------------------------------------------------
    def iter_extend(self, store: EventStore, page_size: int = 5000, should_cancel: Callable[[], bool] | None = None,
                    alongside: bool | None = None) -> Generator[Progress, None, int]:
        """Fold the events after ``head`` (only those), yielding (position done, head) per page;
        returns how many events were read. The History changes only when the fold completes, so a
        cancelled or abandoned run leaves it as it was. Positions that commit out of order (a
        slow transaction on a server database) after ``head`` moved past them are not seen.
        ``alongside``: for a projection with ``page_fields``, read and prepare pages in a second
        process (None: when ``history_reader.can_read_alongside`` says it pays)."""
        head = store.head()
        flt = self.filter
        if flt.types and store.expr("type") is None:
            flt = flt.with_(types=())  # cannot push the types down: the fold filters them itself
        if flt.before is not None and head is not None:
            head = min(head, flt.before - 1)
        if head is None or (self.head is not None and head <= self.head):
            return 0
        after = self.head
        if flt.after is not None:
            after = flt.after if after is None else max(after, flt.after)
        with self._lock:
            if self._folding:
                raise InspectorError(f"the history of {self.projection.name} is being extended already")
            self._folding = True
        try:
            run = _Fold(self)
            flt = flt.with_(after=after, before=head + 1)
            if run.fields is not None:
                if alongside is None:
                    first = store.bounds().first_position if after is None else after
                    alongside = can_read_alongside(store, head - (first or 0))
                pages: Iterator[Any] = prepared_pages(store, self.projection, self.types, flt, page_size,
                                                      run.fields.seen, alongside)
                fold, reached = run.fields.fold_prepared, (lambda p: p.last_position)
            else:
                pages = (page.events for page in store.iter_pages(flt, page_size))
                fold, reached = run.fold, (lambda events: events[-1].position)
            try:
                while True:
                    # a page makes many objects but no cycles: the cyclic collector would only walk
                    # the rows' states again and again, so it is paused while a page is read and folded
                    with _no_gc():
                        page = next(pages, None)
                        if page is None:
                            break
                        if should_cancel is not None and should_cancel():
                            raise BuildCancelled(f"building the history of {self.projection.name} was cancelled")
                        fold(page)
                    yield reached(page), head
            finally:
                pages.close()
            if should_cancel is not None and should_cancel():
                raise BuildCancelled(f"building the history of {self.projection.name} was cancelled")
            with self._lock:
                run.commit(head)
        finally:
            self._folding = False
        return run.read

    def extend(self, store: EventStore, page_size: int = 5000, progress: Callable[[int, int], None] | None = None,
               should_cancel: Callable[[], bool] | None = None, alongside: bool | None = None) -> int:
        """Fold the events appended since the last fold; returns how many were read."""
        return drive(self.iter_extend(store, page_size, should_cancel, alongside), progress)

    # -- positions and times -----------------------------------------------------------------
    def _vp(self, position: int | None) -> int:
        """How many row versions are in force at ``position`` (all of them for None)."""
        if position is None:
            return len(self._pos)
        return int(np.searchsorted(self._pos, position, "right"))

    @_reading
    def position_at(self, time: dt.datetime) -> int | None:
        """The position the read model had reached at ``time``: the end of the longest run of
        changes, in position order, all recorded at or before ``time`` (None: before the first).
        With times rising with position that is the last change at or before ``time``; a change
        recorded early but committed late does not pull the later ones in. Changes without a
        time never end the run. Naive times are UTC."""
        t = time if time.tzinfo is not None else time.replace(tzinfo=UTC)
        if self._time_max is None:
            self._time_max = np.maximum.accumulate(self._time) if len(self._time) else self._time
        n = int(np.searchsorted(self._time_max, (t - _EPOCH) // _US, "right"))
        return int(self._pos[n - 1]) if n else None

    def _resolve(self, position: int | None, time: dt.datetime | None) -> int:
        if time is not None:
            if position is not None:
                raise ValueError("give a position or a time, not both")
            p = self.position_at(time)
            return 0 if p is None else self._vp(p)
        return self._vp(position)

    # -- reading -----------------------------------------------------------------------------
    def _live(self, vp: int) -> _Rows:
        """The rows present at ``vp``."""
        alive = self._vto[:vp] >= vp
        deleted = self._del[:vp]
        if deleted.any():
            alive &= ~deleted
        return self._rows(np.flatnonzero(alive))

    def _vranks(self) -> np.ndarray:
        """Each row version's key rank (``_rank[_vkey]``), kept until either changes: a read takes
        its rows' ranks from it in storage order rather than by a jump per row into ``_rank``."""
        kept = getattr(self, "_vrank", None)
        if kept is None or kept[0] is not self._vkey or kept[1] is not self._rank:
            kept = self._vrank = (self._vkey, self._rank, self._rank.take(self._vkey))
        return kept[2]

    def _rows(self, live: np.ndarray) -> _Rows:
        """The rows whose versions in force are ``live`` (ascending, one per row), placed in key
        order: by marking their ranks in an array of flags and counting them, or by sorting them
        when they are few."""
        rank = self._vranks().take(live)
        n_keys = len(self._keys)
        if len(live) * 16 < n_keys:
            by = np.argsort(rank)
            ranks = rank.take(by).astype(np.intp)
            row = np.empty(len(live), np.intp)
            row[by] = np.arange(len(live))
            return _Rows(live, row, ranks, self._by_rank.take(ranks).astype(np.intp), n_keys)
        flags = np.zeros(n_keys, bool)
        flags[rank] = True
        ranks = np.flatnonzero(flags)
        slot = np.cumsum(flags, dtype=np.intp)  # rank -> 1 + its row if present ...
        slot *= flags
        slot -= 1  # ... -> its row, or -1
        return _Rows(live, slot.take(rank), ranks, self._by_rank.take(ranks).astype(np.intp), n_keys, slot)

    def _key_column(self, ranks: np.ndarray) -> pd.Categorical:
        if self._key_dtype is None:
            self._key_dtype = pd.CategoricalDtype(pd.Index(self._sorted_keys()))
        return pd.Categorical.from_codes(ranks, dtype=self._key_dtype, validate=False)  # ranks are valid codes

    def _frame(self, vp: int, rows: _Rows, subset: bool = False) -> pd.DataFrame:
        data: dict[str, Any] = {"key": self._key_column(rows.ranks)}
        for name, col in self._cols.items():
            data["key_" if name == "key" else name] = col.output(col.raw(self._vkey, self._rank, vp, rows, subset))
        return pd.DataFrame(data, copy=False)  # no copy into consolidated blocks

    @_reading
    def as_of(self, position: int | None = None, time: dt.datetime | None = None) -> pd.DataFrame:
        """The read model after every event at or before ``position`` (or reached by ``time``,
        see ``position_at``; head when neither is given): one row per key, sorted by key."""
        vp = self._resolve(position, time)
        return self._frame(vp, self._live(vp))

    @_reading
    def diff(self, p1: int | None, p2: int | None) -> Diff:
        """What changed from ``p1`` to ``p2`` (positions, inclusive; None is head)."""
        v1, v2 = self._vp(p1), self._vp(p2)
        lo, hi = min(v1, v2), max(v1, v2)
        end, start, j = self._touched(lo, hi)
        prev = np.full(len(end), -1, np.intp)  # the version in force at lo (-1: none)
        had = np.flatnonzero(j >= 0)
        prev[had] = start.take(j.take(had))
        at_hi = ~self._del.take(end)
        at_lo = prev >= 0
        at_lo[had] = ~self._del.take(prev.take(had))
        only_hi, only_lo, both = at_hi & ~at_lo, at_lo & ~at_hi, np.flatnonzero(at_lo & at_hi)
        # a row whose key has no version before the window has no values but those set in it
        fresh = self._rows(end[only_hi]) if not (only_hi & (prev >= 0)).any() else None
        changed, fresh_frame = self._compare(lo, hi, end.take(both), start, j.take(both), v1 > v2, fresh)
        hi_frame = fresh_frame if fresh_frame is not None else self._frame(hi, self._rows(end[only_hi]), subset=True)
        lo_frame = self._frame(lo, self._rows(np.sort(prev[only_lo])), subset=True)  # rows deleted in the window
        return Diff(hi_frame, lo_frame, changed) if v1 <= v2 else Diff(lo_frame, hi_frame, changed)

    def _touched(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows with a version in [lo, hi), the only ones that can differ between row versions
        ``lo`` and ``hi``: their versions in force at hi (``end``, ascending), the window's last
        ones (next version at or after hi), those in force at lo (``start``, ascending), the ones
        whose next version is in it, and for each of ``end`` the index of its row's in ``start``
        (-1: the row had no version before the window)."""
        vto = self._vto
        end = lo + np.flatnonzero(vto[lo:hi] >= hi)
        before = vto[:lo]
        start = np.flatnonzero((before >= lo) & (before < hi))
        at_start = np.full(len(self._keys), -1, np.intp)  # key code -> index in ``start``
        at_start[self._vkey.take(start)] = np.arange(len(start))
        return end, start, at_start.take(self._vkey.take(end))

    def _compare(self, lo: int, hi: int, end: np.ndarray, start: np.ndarray, j: np.ndarray, backwards: bool,
                 fresh: _Rows | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The cells that differ between row versions ``lo`` and ``hi`` in the rows whose versions
        in force there are ``start[j]`` and ``end`` (``start`` and ``end`` ascending), and the
        frame at ``hi`` of the rows ``fresh`` (new in the window; None: not asked), from one read
        of each column: the dense form's values at both versions (read in storage order, as
        versions in random order would cost a cache miss each), the others' values ended or set
        in the window. Cells are placed by row (key order), then column, by counting: no sort."""
        rows = self._rows(end)
        m, nf = len(end), (len(fresh.codes) if fresh is not None else 0)
        # a value's place, by its row's key rank: the fresh rows' (0..nf-1), then a place for the values
        # not wanted (nf), then the rows compared (nf + 1 + row); a column's values at hi are placed in
        # one array of them all, those at lo in one of the rows compared and that place (row - nf - 1)
        slot = np.full(len(self._keys), nf, np.intp)
        if fresh is not None:
            slot[fresh.ranks] = np.arange(nf)
        slot[rows.ranks] = np.arange(nf + 1, nf + 1 + m)
        cells = []
        data: dict[str, Any] = {"key": self._key_column(fresh.ranks)} if fresh is not None else {}
        for order, (name, col) in enumerate(self._cols.items()):
            kind = col.kind
            if col.form == "dense":
                a, b = col.dense.take(start).take(j), col.dense.take(end)
                if fresh is not None:
                    raw = col.raw(self._vkey, self._rank, hi, fresh, True)
                    data["key_" if name == "key" else name] = col.output(raw)
            else:
                p1, x1, parts = col.window(self._vkey, self._rank, lo, hi, slot, nf)
                none, dtype = _NONE[kind], x1.dtype
                a = np.full(m + 1, none, dtype)  # the rows compared, then the place not wanted (-1)
                a[p1 - (nf + 1)] = x1
                a = a[:m]
                placed = np.full(nf + 1 + m, none, dtype)
                for p2, x2 in parts:
                    placed[p2] = x2
                b = placed[nf + 1:]
                if fresh is not None:
                    # a view: unless the rows compared would hold much of it, they are kept with it
                    placed = placed[:nf] if m < nf // 8 else placed[:nf].copy()
                    data["key_" if name == "key" else name] = col.output(placed)
            if backwards:
                a, b = b, a
            at = np.flatnonzero(~_same(kind, a, b))
            if len(at):
                cells.append((order, col, rows.row.take(at) if col.form == "dense" else at, a.take(at), b.take(at)))
        # counting sort: each row's cells start after the cells of the rows before it
        first = np.zeros(m + 1, np.intp)
        for _, _, r, _, _ in cells:
            first[r + 1] += 1  # a column has a row at most once
        first = np.cumsum(first)
        table = np.empty((4, int(first[-1])), object)  # key, field, old, new: the frame's one block
        row, field = np.empty(table.shape[1], np.intp), np.empty(table.shape[1], np.intp)
        with _no_gc():  # many objects, no cycles
            for order, col, r, a, b in cells:
                at = first.take(r)
                first[r] += 1
                row[at], field[at] = r, order
                table[2, at], table[3, at] = _shown(col.kind, a, col.pool), _shown(col.kind, b, col.pool)
            table[0] = self._sorted_keys().take(rows.ranks.take(row))
            table[1] = _objects(list(self._cols)).take(field)
            changed = pd.DataFrame(table.T, columns=["key", "field", "old", "new"], dtype=object, copy=False)
        return changed, (pd.DataFrame(data, copy=False) if fresh is not None else None)

    @_reading
    def changes(self, key: str, field: str | None = None) -> pd.DataFrame:
        """Every change of ``key``'s row (or of one of its fields), oldest first: the event that
        made it (position, time, type, actor, correlation/causation/event ids), field, old, new.
        A removed field or a deleted row shows as a change to None."""
        code = self._code(key)
        mine = np.flatnonzero(self._vkey == code) if code is not None else np.empty(0, np.int64)
        cols = [c for name, c in self._cols.items() if field is None or name == field]
        vs, orders, olds, news = [], [], [], []
        for order, col in enumerate(cols if len(mine) else []):
            if col.form == "dense":
                raw = col.dense[mine]
                before = np.concatenate([np.full(1, _NONE[col.kind], raw.dtype), raw[:-1]])
                at = np.flatnonzero(~_same(col.kind, raw, before))
                v, old, new = mine[at], before[at], raw[at]
            else:
                starts, ends, vals = col.entries_of(self._vkey, mine)
                if not len(starts):
                    continue
                none = np.full(1, _NONE[col.kind], vals.dtype)
                joined = np.concatenate([[False], ends[:-1] == starts[1:]])  # the value before is the previous one
                old = np.where(joined, np.concatenate([none, vals[:-1]]), none[0]).astype(vals.dtype)
                removed = (ends != _OPEN) & ~np.concatenate([ends[:-1] == starts[1:], [False]])
                v = np.concatenate([starts, ends[removed]])
                old = np.concatenate([old, vals[removed]])
                new = np.concatenate([vals, np.full(int(removed.sum()), _NONE[col.kind], vals.dtype)])
            vs.append(v.astype(np.int64))
            orders.append(np.full(len(v), order, np.int32))
            olds.append(_shown(col.kind, old, col.pool))
            news.append(_shown(col.kind, new, col.pool))
        v = np.concatenate(vs) if vs else np.empty(0, np.int64)
        order = np.concatenate(orders) if orders else np.empty(0, np.int32)
        by = np.lexsort((order, v))
        v, order = v[by], order[by]
        names = _objects([c.name for c in cols])
        obj = (lambda parts: pd.Series(np.concatenate(parts)[by] if parts else [], dtype=object))
        return pd.DataFrame({
            "position": self._pos[v],
            "recorded_at": pd.DatetimeIndex(self._time[v].view("M8[us]")).tz_localize("UTC"),
            "type": pd.Series(self._types.array()[self._type[v]], dtype=object),
            "actor": pd.Series(self._actors.array()[self._actor[v]], dtype=object),
            "correlation_id": pd.Series(self._corr.get(v), dtype=object),
            "causation_id": pd.Series(self._cause.get(v), dtype=object),
            "event_id": pd.Series(self._eid.get(v), dtype=object),
            "key": pd.Series([key] * len(v), dtype=object),
            "field": pd.Series(names[order], dtype=object),
            "old": obj(olds),
            "new": obj(news),
        })

    @_reading
    def versions(self, key: str | None = None) -> pd.DataFrame:
        """The versioned table, materialised: one row per row version (of ``key``, or all; by key
        then position) with key, valid_from (position, inclusive), valid_to (the position where
        the next version starts, exclusive; ``CURRENT`` for the latest), deleted, recorded_at and
        every column as it was right after that version."""
        if key is None:
            sel = np.arange(len(self._pos))
        else:
            code = self._code(key)
            sel = np.flatnonzero(self._vkey == code) if code is not None else np.empty(0, np.int64)
        if len(sel):
            sel = sel[np.lexsort((sel, self._rank[self._vkey[sel]]))]
        to = self._vto[sel]
        valid_to = np.full(len(sel), CURRENT, np.int64)
        closed = to != _OPEN
        valid_to[closed] = self._pos[to[closed]]
        data: dict[str, Any] = {"key": self._key_column(self._rank[self._vkey[sel]]), "valid_from": self._pos[sel],
                                "valid_to": valid_to, "deleted": self._del[sel],
                                "recorded_at": pd.DatetimeIndex(self._time[sel].view("M8[us]")).tz_localize("UTC")}
        for name, col in self._cols.items():
            data["key_" if name == "key" else name] = col.output(col.at_versions(self._vkey, sel))
        return pd.DataFrame(data, copy=False)

    def _code(self, key: str) -> int | None:
        """The key's code (binary search in key order; no hash index is kept between folds)."""
        ks = self._sorted_keys()
        i = int(np.searchsorted(ks, key))
        return int(self._by_rank[i]) if i < len(ks) and ks[i] == key else None

    def _sorted_keys(self) -> np.ndarray:
        if self._keys_in_order is None:
            self._keys_in_order = _objects(self._keys)[self._by_rank]
        return self._keys_in_order


def iter_build(store: EventStore, projection: Projection, flt: EventFilter = EventFilter(), page_size: int = 5000,
               should_cancel: Callable[[], bool] | None = None,
               alongside: bool | None = None) -> Generator[Progress, None, History]:
    """Build a History as a generator: yields (position done, head) per page and returns the
    History (``StopIteration.value``). A worker may stop iterating or close it to cancel;
    ``should_cancel`` is checked before every page and raises ``BuildCancelled``."""
    h = History(projection, flt)
    yield from h.iter_extend(store, page_size, should_cancel, alongside)
    return h


def build_history(store: EventStore, projection: Projection, flt: EventFilter = EventFilter(), page_size: int = 5000,
                  progress: Callable[[int, int], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None, alongside: bool | None = None) -> History:
    """Fold ``projection`` over the store's events (those ``flt`` selects; the projection's
    ``types`` are pushed down to SQL) once, into a History (``alongside``: see ``iter_extend``)."""
    return drive(iter_build(store, projection, flt, page_size, should_cancel, alongside), progress)
