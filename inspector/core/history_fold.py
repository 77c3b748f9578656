"""One fold of a projection into a History (a build or an extension): rows' states as Python
dicts or, for projections with ``page_fields``, as per-field codes compared page by page with numpy;
then the merge of the new row versions and values into the History's arrays."""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING, Any, Generator, Iterable

import numpy as np

from .errors import InspectorError
from .history_fields import EventMeta, FieldsFold, pooled_codes
from .history_values import (_DENSER, _DTYPE, _MISSING, _NONE, _NUMBERS, _OPEN, _as_key, _beyond_float, _Column,
                             _convert, _encode, _join, _next_in_group, _python, fill_forward, KeyOrder)
from .model import RecordedEvent

if TYPE_CHECKING:
    from .history import History


@contextlib.contextmanager
def _no_gc() -> Generator[None, None, None]:
    """The cyclic garbage collector paused (reference counting still frees objects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- one fold ------------------------------------------------------------------------------------


class _Fold:
    """One pass of folding events into a History (a build or an extension): Python lists for a
    page, numpy chunks per page, and the merge into the History's arrays in ``commit``."""

    def __init__(self, h: History) -> None:
        self.h = h
        p = h.projection
        self.key, self.apply, self.initial = p.key, p.apply, p.initial
        self.types = h.types
        self.keys = list(h._keys)
        self.codes = {k: i for i, k in enumerate(self.keys)}
        self.n_old = len(self.keys)
        self.states: dict[int, dict[str, Any] | None] = {}  # rows touched in this fold; None: absent
        self.next = len(h._pos)  # the next row version's index
        self.read = 0
        self.cols = dict(h._cols)  # existing columns first, then new ones in first-seen order
        self.chunks: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}  # name -> (kind, vfrom, vals)
        self.gone: dict[str, list[np.ndarray]] = {}  # name -> versions that removed the column
        self.meta: list[tuple[np.ndarray, ...]] = []  # per page: pos, time, key, deleted, type, actor
        self.ids: list[list[tuple[np.ndarray, list[str]]]] = [[], [], []]
        self.fields = FieldsFold(self) if p.page_fields is not None else None

    def versions_made(self, meta: EventMeta, vkey: np.ndarray, dels: np.ndarray) -> None:
        """Record new row versions: their events' facts, row keys and deletions."""
        h = self.h
        self.meta.append((meta.position, meta.time, vkey, dels, pooled_codes(meta.type, h._types),
                          pooled_codes(meta.actor, h._actors)))
        for chunks, codes in zip(self.ids, (meta.event_id, meta.correlation_id, meta.causation_id)):
            chunks.append(codes)

    def code(self, key: str) -> int:
        """The row code of ``key``, given a new one the first time it is seen."""
        c = self.codes.get(key)
        if c is None:
            c = self.codes[key] = len(self.keys)
            self.keys.append(key)
        return c

    def fold(self, events: Iterable[RecordedEvent]) -> None:
        keyf, apply, initial, types = self.key, self.apply, self.initial, self.types
        codes, states = self.codes, self.states
        events = list(events)
        if self.fields is not None:
            self.fields.fold(events)
            return
        self.read += len(events)
        ks = [None if types is not None and e.type not in types else _as_key(keyf(e)) for e in events]
        if self.n_old:
            old_keys = {codes[k] for k in ks if k is not None and k in codes} - states.keys()
            self._restore({c for c in old_keys if c < self.n_old})
        sets: dict[str, tuple[list[int], list[Any]]] = {}
        gone: dict[str, list[int]] = {}
        evs: list[RecordedEvent] = []
        vkey: list[int] = []
        dels: list[bool] = []
        v = self.next
        for e, k in zip(events, ks):
            if k is None:
                continue
            c = self.code(k)
            old = states.get(c)
            try:
                new = apply(initial() if old is None else old, e)
            except Exception as exc:
                exc.add_note(f"projection {self.h.projection.name} failed at position {e.position}")
                raise
            if new is None:
                if old is None:
                    continue
                for f in old:
                    gone.setdefault(f, []).append(v)
            else:
                if new is old:
                    raise InspectorError(f"projection {self.h.projection.name} changed the state it was given at "
                                         f"position {e.position}; apply must return a new dict")
                if None in new.values():
                    new = {f: x for f, x in new.items() if x is not None}
                changed = old is None
                for f, x in new.items():
                    o = _MISSING if old is None else old.get(f, _MISSING)
                    # changed unless equal and of one kind (ints and floats are both numbers)
                    if o is not x and (o is _MISSING or o != x or (o.__class__ is not x.__class__ and not (
                            o.__class__ in _NUMBERS and x.__class__ in _NUMBERS))):
                        s = sets.get(f)
                        if s is None:
                            s = sets[f] = ([], [])
                        s[0].append(v)
                        s[1].append(x)
                        changed = True
                if old is not None and not old.keys() <= new.keys():
                    for f in old.keys() - new.keys():
                        gone.setdefault(f, []).append(v)
                    changed = True
                if not changed:
                    continue
            states[c] = new
            evs.append(e)
            vkey.append(c)
            dels.append(new is None)
            v += 1
        self.next = v
        if not evs:
            return
        self.versions_made(EventMeta.of(evs), np.array(vkey, np.int32), np.array(dels, bool))
        for f, (vs, xs) in sets.items():
            col = self.cols.get(f)
            if col is None:
                col = self.cols[f] = _Column(f)
            kind, vals = _encode(xs, col.pool)
            self.chunks.setdefault(f, []).append((kind, np.array(vs, np.int32), vals))
        for f, vs in gone.items():
            self.gone.setdefault(f, []).append(np.array(vs, np.int32))

    def _restore(self, codes: set[int]) -> None:
        """Current states of rows folded before this fold, read back from the arrays."""
        if not codes:
            return
        h = self.h
        want = np.array(sorted(codes), np.int32)
        last = h._last[want]
        absent = last < 0  # a key met before without ever making a row
        absent[~absent] = h._del[last[~absent]]
        for c, a in zip(want.tolist(), absent.tolist()):
            self.states[c] = None if a else {}
        here = want[~absent]
        for col in h._cols.values():
            raw = col.current(h._vkey, here, h._last[here])
            for c, x in zip(here.tolist(), _python(col.kind, raw, col.pool)):
                if x is not None:
                    self.states[c][col.name] = x

    def commit(self, head: int) -> None:
        h = self.h
        v0, v1 = len(h._pos), self.next
        if self.meta:
            pos, time, vkey, dels, etype, actor = (np.concatenate(parts) for parts in zip(*self.meta))
        else:
            pos = time = np.empty(0, np.int64)
            vkey = etype = actor = np.empty(0, np.int32)
            dels = np.empty(0, bool)
        n_keys = len(self.keys)
        all_key = np.concatenate([h._vkey, vkey])
        korder = KeyOrder(all_key)
        # close each touched row's previous version
        new = np.arange(v0, v1, dtype=np.int32)
        nxt, first = _next_in_group(vkey, new, korder.of(new))
        last = np.concatenate([h._last, np.full(n_keys - len(h._last), -1, np.int32)])
        vto = np.concatenate([h._vto, nxt])
        prev = last[vkey[first]]
        vto[prev[prev >= 0]] = (v0 + first[prev >= 0]).astype(np.int32)
        last_before = last.copy()
        if len(vkey):
            np.maximum.at(last, vkey, np.arange(v0, v1, dtype=np.int32))
        for col in self.cols.values():
            self._commit_column(col, all_key, n_keys, v0, last_before, korder)
        for pool in (h._types, h._actors):
            pool.release()
        for ids, chunks in zip((h._eid, h._corr, h._cause), self.ids):
            if chunks:
                ids.append(chunks)
        h.head = head if h.head is None else max(h.head, head)
        h.events_read += self.read
        h._pos = np.concatenate([h._pos, pos])
        h._time = np.concatenate([h._time, time])
        h._vkey, h._vto, h._last = all_key, vto, last
        h._del = np.concatenate([h._del, dels])
        h._type = np.concatenate([h._type, etype])
        h._actor = np.concatenate([h._actor, actor])
        h._cols = self.cols
        h._time_max = h._object_bytes = None
        if n_keys != len(h._keys):
            h._keys = self.keys
            h._by_rank = np.argsort(np.array(self.keys, dtype=np.str_), kind="stable").astype(np.int32)
            h._rank = np.empty(n_keys, np.int32)
            h._rank[h._by_rank] = np.arange(n_keys, dtype=np.int32)
            h._key_dtype = h._keys_in_order = None

    def _commit_column(self, col: _Column, all_key: np.ndarray, n_keys: int, v0: int,
                       last_before: np.ndarray, korder: KeyOrder) -> None:
        chunks, gone = self.chunks.get(col.name, []), self.gone.get(col.name, [])
        if not chunks and not gone and (col.form != "dense" or len(all_key) == v0):
            if col.form == "keyed" and len(col.cur_from) < n_keys:  # rows new in this fold
                col.cur_from = np.concatenate([col.cur_from, np.full(n_keys - len(col.cur_from), _OPEN, np.int32)])
                col.cur_val = np.concatenate([col.cur_val, np.full(n_keys - len(col.cur_val), _NONE[col.kind],
                                                                   col.cur_val.dtype)])
            return
        kind = col.kind
        for k, _, _ in chunks:
            kind = _join(kind, k)
        stored = [a for a in (col.vals, col.cur_val, col.dense) if a is not None] if col.kind == "int" else []
        if kind == "float" and any(_beyond_float(v) for v in [v for k, _, v in chunks if k == "int"] + stored):
            kind = "obj"  # a float column would change these ints' values
        if kind == "obj":
            col.pool.make_typed()
        col.convert(kind)
        vals = np.concatenate([_convert(k, v, kind, col.pool) for k, _, v in chunks]) if chunks else \
            np.empty(0, _DTYPE[kind])
        sets = np.concatenate([v for _, v, _ in chunks]) if chunks else np.empty(0, np.int32)
        ends = np.concatenate(gone) if gone else np.empty(0, np.int32)
        col.pool.release()
        if col.form == "dense":
            col.dense = np.concatenate([col.dense, self._filled(kind, col.dense, all_key[v0:], v0, sets, vals, ends,
                                                                last_before)])
            col.changes += len(sets)
            size = np.dtype(_DTYPE[kind]).itemsize
            if len(all_key) * size > _DENSER * col.changes * (8 + size):  # no longer worth it
                col.store(all_key, n_keys, *col.entries(all_key))
            return
        col.store(all_key, n_keys, *self._appended(col.entries(all_key[:v0]), korder, sets, vals, ends),
                  korder=korder)

    @staticmethod
    def _filled(kind: str, old: np.ndarray, vkey: np.ndarray, v0: int, sets: np.ndarray, vals: np.ndarray,
                ends: np.ndarray, last_before: np.ndarray) -> np.ndarray:
        """A dense column's values after each new row version: the value set or removed there,
        else the row's value after its previous version."""
        n = len(vkey)
        raw = np.full(n, _NONE[kind], _DTYPE[kind])
        raw[sets - v0] = vals
        known = np.zeros(n, bool)
        known[sets - v0] = True
        known[ends - v0] = True
        order = np.argsort(vkey, kind="stable")
        ks = vkey[order]
        inside, source = fill_forward(ks, known[order])  # a value set or removed earlier in this fold
        out = np.empty(n, raw.dtype)
        out[inside] = raw[order[source[inside]]]
        before = last_before[ks[~inside]]
        out[~inside] = np.where(before >= 0, old[np.clip(before, 0, None)] if len(old) else _NONE[kind], _NONE[kind])
        raw[order] = out
        return raw

    @staticmethod
    def _appended(entries: tuple[np.ndarray, np.ndarray, np.ndarray], korder: KeyOrder, sets: np.ndarray,
                  vals: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A column's entries with this fold's sets and removals added: each closes the value the
        row had before, each set value lasts until the row's next set or removal."""
        vfrom, vto, old = entries
        # each row version sets or removes a column at most once: sorting by version interleaves them
        all_key = korder.vkey
        every = np.concatenate([sets, ends])
        order = np.argsort(every, kind="stable") if len(ends) else np.arange(len(sets))  # sets ascend
        versions = every[order]
        nxt, first = _next_in_group(all_key[versions], versions, korder.of(versions))
        new_vto = np.empty(len(sets), np.int32)
        is_set = order < len(sets)
        new_vto[order[is_set]] = nxt[is_set]
        vto = vto.copy()
        opened = np.flatnonzero(vto == _OPEN)
        if len(opened):
            okeys = all_key[vfrom[opened]]
            by = np.argsort(okeys, kind="stable")
            okeys, opened = okeys[by], opened[by]
            fkeys, fvers = all_key[versions[first]], versions[first]
            at = np.clip(np.searchsorted(okeys, fkeys), 0, len(okeys) - 1)
            hit = okeys[at] == fkeys
            vto[opened[at[hit]]] = fvers[hit]
        return np.concatenate([vfrom, sets]), np.concatenate([vto, new_vto]), np.concatenate([old, vals])
