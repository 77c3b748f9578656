"""The columnar fold, for projections that declare ``page_fields`` (see ``Projection``): a row's
new state is its old one updated with fields computed from the event alone, so a page of events
becomes, per field, the events that set it and their values, and whether each one changes the
row is decided with numpy instead of a Python comparison per field and event.

Each value is reduced to an identity, a (tag, bits) pair equal exactly when the History counts
two values equal: numbers by their float value (1 == 1.0), bools, times (UTC microseconds) and
codes into the column's pool (strings and other values) each under their own tag. A fold keeps,
per field, the identity of every row's current value; a page compares each event's value with
the one before it in the same row (earlier in the page, else carried from the previous pages or,
in an extension, read back from the History once per row)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .history_values import (_EPOCH, _EXACT_FLOAT, _US, UTC, _as_key, _Column, _micros, _missing, _objects, _Pool,
                             _pooled, _portable, Portable)
from .model import RecordedEvent
from .projection import Projection

if TYPE_CHECKING:
    from .history_fold import _Fold

_ABSENT, _NUM, _BIG, _BOOL, _TIME, _CODE = range(6)  # identity tags
_INT64 = (-(2**63), 2**63 - 1)


def _identity(x: Any, code: int) -> tuple[int, int]:
    """The identity of one pooled value (``code``: its code in the column's pool)."""
    t = x.__class__
    if t is bool:
        return _BOOL, int(x)
    if t is int:
        if abs(x) <= _EXACT_FLOAT:
            return _NUM, int(np.float64(x).view(np.int64))
        if _INT64[0] < x <= _INT64[1]:
            return _BIG, x
        return _CODE, code
    if t is float:
        return _NUM, int(np.float64(x + 0.0).view(np.int64))
    if t is dt.datetime:
        return _TIME, ((x if x.tzinfo is not None else x.replace(tzinfo=UTC)) - _EPOCH) // _US
    return _CODE, code


def identities(kind: str | None, raw: np.ndarray, pool: _Pool) -> tuple[np.ndarray, np.ndarray]:
    """(tag, bits) of stored values of ``kind`` (missing ones: tag _ABSENT, bits 0)."""
    n = len(raw)
    tag, bits = np.zeros(n, np.int8), np.zeros(n, np.int64)
    if kind is None or not n:
        return tag, bits
    here = ~_missing(kind, raw)
    if kind == "float":
        tag[here], bits[here] = _NUM, (raw[here] + 0.0).view(np.int64)  # + 0.0: -0.0 is 0.0
    elif kind == "int":
        vals = raw[here]
        small = np.abs(vals) <= _EXACT_FLOAT
        t, b = np.full(len(vals), _BIG, np.int8), vals.copy()
        t[small], b[small] = _NUM, vals[small].astype(np.float64).view(np.int64)
        tag[here], bits[here] = t, b
    elif kind in ("bool", "time", "text"):
        tag[here], bits[here] = {"bool": _BOOL, "time": _TIME, "text": _CODE}[kind], raw[here]
    else:  # codes into a typed pool: numbers, bools and times are compared by value
        at = np.flatnonzero(here)
        pairs = [_identity(pool.values[c], c) for c in raw[at].tolist()]
        if pairs:
            tag[at] = [p[0] for p in pairs]
            bits[at] = [p[1] for p in pairs]
    return tag, bits


Codes = tuple[np.ndarray, list[Any]]  # (int32 codes, -1 for None; the distinct values they index)


def _factorized(xs: list[Any]) -> Codes:
    local, uniq = pd.factorize(_objects(xs))  # None -> -1
    return local.astype(np.int32), list(uniq)


def _take(codes: Codes, at: np.ndarray) -> Codes:
    """The codes at ``at``, over only the distinct values they still use."""
    local, uniq = codes
    sel = local[at]
    if len(at) == len(local):
        return codes
    used = np.unique(sel[sel >= 0])
    remap = np.full(len(uniq) + 1, -1, np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return remap[sel], [uniq[i] for i in used.tolist()]


def pooled_codes(codes: Codes, pool: _Pool) -> np.ndarray:
    """Codes into ``pool`` for factorized values (-1 stays -1)."""
    local, uniq = codes
    if not uniq:
        return local
    return np.append(pool.encode(uniq), np.int32(-1))[local]


class EventMeta(NamedTuple):
    """What a History keeps of the events that make row versions: positions, times (int64 UTC
    microseconds; _NAT: unknown), and factorized types, actors and ids."""

    position: np.ndarray
    time: np.ndarray
    type: Codes
    actor: Codes
    event_id: Codes
    correlation_id: Codes
    causation_id: Codes

    @classmethod
    def of(cls, evs: list[RecordedEvent]) -> EventMeta:
        return cls(np.array([e.position for e in evs], np.int64), _micros([e.recorded_at for e in evs]),
                   _factorized([e.type for e in evs]), _factorized([e.actor for e in evs]),
                   _factorized([e.event_id for e in evs]), _factorized([e.correlation_id for e in evs]),
                   _factorized([e.causation_id for e in evs]))

    def take(self, at: np.ndarray) -> EventMeta:
        """The facts of the events at indices ``at`` (ascending)."""
        if len(at) == len(self.position):
            return self
        return EventMeta(self.position[at], self.time[at], *(_take(c, at) for c in self[2:]))


class Field(NamedTuple):
    """One field of a prepared page: the events that set it (ascending; None: all), which of them
    remove it (None: none), and the values of the others as far as they can be typed without
    the column's pool (``history_values._portable``)."""

    events: np.ndarray | None
    removed: np.ndarray | None  # bool per event of ``events``
    values: Portable


class PreparedPage(NamedTuple):
    """A page of events made ready for a columnar fold, without the History: what ``prepare``
    computes from the events alone (in this process, or in a reader process alongside), mostly
    as arrays, which cross between processes cheaply."""

    read: int  # events read
    last_position: int | None
    keys: Codes  # the row key of each event that has one (the others are left out below)
    fields: dict[str, Field]  # page_fields of those events
    meta: EventMeta  # and their facts
    ties: dict[int, list[str]]  # event -> its fields in its own order, where it sets several new ones


def prepare(projection: Projection, types: frozenset[str] | None, events: list[RecordedEvent],
            seen: set[str]) -> PreparedPage:
    """A page ready for ``FieldsFold.fold_prepared``. ``seen``: the fields set so far in this fold
    (or columns of the History), updated; a field's first value that is not None always makes a
    new column, and where one event makes several, its own field order (``page_fields`` of that
    event alone) orders them, whatever the paging."""
    key = projection.key
    ks = [None if types is not None and e.type not in types else _as_key(key(e)) for e in events]
    kept = events
    if None in ks:
        at = [i for i, k in enumerate(ks) if k is not None]
        kept, ks = [events[i] for i in at], [ks[i] for i in at]
    n = len(kept)
    fields: dict[str, Field] = {}
    firsts: dict[int, int] = {}
    for name, (idx, xs) in (projection.page_fields(kept) if kept else {}).items():
        xs = xs if isinstance(xs, list) else list(xs)
        ev = None if idx is None else np.asarray(idx, np.int64)
        if len(xs) != (n if ev is None else len(ev)):
            raise ValueError(f"page_fields of {projection.name}: field {name!r} has "
                             f"{n if ev is None else len(ev)} events but {len(xs)} values")
        if not xs:
            continue
        if ev is not None and (ev[1:] < ev[:-1]).any():  # given in another order: event order
            by = np.argsort(ev, kind="stable")
            ev, xs = ev[by], [xs[i] for i in by.tolist()]
        removed = None
        if None in xs:
            removed = np.fromiter((x is None for x in xs), bool, len(xs))
            present = [x for x in xs if x is not None]
        else:
            present = xs
        if name not in seen and len(present):
            first = int(np.argmin(removed)) if removed is not None else 0
            j = first if ev is None else int(ev[first])
            seen.add(name)
            firsts[j] = firsts.get(j, 0) + 1
        fields[name] = Field(ev, removed, _portable(present) if present else ("int", np.empty(0, np.int64)))
    ties = {j: list(projection.page_fields([kept[j]])) for j, count in firsts.items() if count > 1}
    return PreparedPage(len(events), events[-1].position if events else None, _factorized(ks), fields,
                        EventMeta.of(kept), ties)


class FieldsFold:
    """The columnar side of one ``_Fold``: it turns pages into the fold's row versions, value
    chunks and removals (what ``_Fold.commit`` merges), never holding a row's state as a dict."""

    def __init__(self, fold: _Fold) -> None:
        self.run = fold
        h = fold.h
        n_old = fold.n_old
        self.cap = n_old
        self.exists = np.zeros(n_old, bool)  # key code -> the row exists now
        if n_old:
            last = h._last[:n_old]
            has = last >= 0
            self.exists[has] = ~h._del[last[has]]
        self.loaded = np.zeros(n_old, bool)  # old rows whose values were read back from the History
        self.tags: dict[str, np.ndarray] = {}  # field -> key code -> the identity of its current value
        self.bits: dict[str, np.ndarray] = {}
        self.pending: dict[str, _Column] = {}  # fields met but not set yet: their pools
        self.seen = set(h._cols)  # fields set so far (see ``prepare``)

    # -- carried identities --------------------------------------------------------------------
    def _reserve(self, n: int) -> None:
        """Room for ``n`` row keys in every per-key array (grown by doubling)."""
        if n <= self.cap:
            return
        cap = max(n, 2 * self.cap, 1024)

        def grow(a: np.ndarray) -> np.ndarray:
            out = np.zeros(cap, a.dtype)
            out[:len(a)] = a
            return out

        self.exists = grow(self.exists)
        for d in (self.tags, self.bits):
            for name in d:
                d[name] = grow(d[name])
        self.cap = cap

    def _carried(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.tags:
            self.tags[name], self.bits[name] = np.zeros(self.cap, np.int8), np.zeros(self.cap, np.int64)
        return self.tags[name], self.bits[name]

    def _load(self, kc: np.ndarray) -> None:
        """Read back, once per row, the current values of rows folded before this fold."""
        n_old = self.run.n_old
        need = np.unique(kc[kc < n_old])
        need = need[~self.loaded[need]]
        if not len(need):
            return
        self.loaded[need] = True
        have = need[self.exists[need]]
        if not len(have):
            return
        h = self.run.h
        last = h._last[have]
        for name, col in h._cols.items():
            tag, bits = self._carried(name)
            tag[have], bits[have] = identities(col.kind, col.current(h._vkey, have, last), col.pool)

    def _column(self, name: str) -> _Column:
        col = self.run.cols.get(name)
        if col is None:
            col = self.pending.get(name)
            if col is None:
                col = self.pending[name] = _Column(name)
        return col

    # -- a page ----------------------------------------------------------------------------------
    def fold(self, events: list[RecordedEvent]) -> None:
        self.fold_prepared(prepare(self.run.h.projection, self.run.types, events, self.seen))

    def fold_prepared(self, page: PreparedPage) -> None:
        fold = self.run
        fold.read += page.read
        local, uniq = page.keys
        n = len(local)
        if not n:
            return
        codes = list(map(fold.codes.get, uniq))  # None: a key not seen yet
        if None in codes:
            codes = [fold.code(k) if c is None else c for k, c in zip(uniq, codes)]
        kc = np.array(codes, np.int64)[local]
        self._reserve(len(fold.keys))
        if fold.n_old:
            self._load(kc)
        changed = np.zeros(n, bool)
        order = np.argsort(kc, kind="stable")
        sk = kc[order]
        step = sk[1:] != sk[:-1]
        firsts = order[np.concatenate(([True], step))]
        changed[firsts[~self.exists[kc[firsts]]]] = True  # a row's first event makes it
        self.exists[kc] = True
        every = (order, ~step)  # the sort of all events by key, shared by fields every event sets
        touched = []
        for name, (idx, isnone, portable) in page.fields.items():
            ev = np.arange(n) if idx is None else idx
            col = self._column(name)
            kind, arr = _pooled(portable, col.pool) if len(portable[1]) else (None, np.empty(0, np.int64))
            t, b = identities(kind, arr, col.pool)
            if isnone is None:
                tag, bits = t, b
            else:
                tag, bits = np.zeros(len(ev), np.int8), np.zeros(len(ev), np.int64)
                tag[~isnone], bits[~isnone] = t, b
            if idx is None:
                k = kc
                o, same = every
            else:
                k = kc[ev]
                o = np.argsort(k, kind="stable")
                same = k[o][1:] == k[o][:-1]
            ctag, cbits = self._carried(name)
            ptag, pbits = ctag[k], cbits[k]  # each event's previous value: carried ...
            inner, pred = o[1:][same], o[:-1][same]
            ptag[inner], pbits[inner] = tag[pred], bits[pred]  # ... or its row's previous event's here
            ch = (tag != ptag) | ((bits != pbits) & (tag != _ABSENT))
            last = o[np.concatenate((~same, [True]))]
            ctag[k[last]], cbits[k[last]] = tag[last], bits[last]
            if ch.any():
                changed[ev[ch]] = True
                touched.append((name, col, ev, ch, tag != _ABSENT, isnone, kind, arr))
        made = np.flatnonzero(changed)
        if not len(made):
            return
        version = np.cumsum(changed) - 1 + fold.next
        self._new_columns(page.ties, touched)
        for name, col, ev, ch, present, isnone, kind, arr in touched:
            sets = ch & present
            if sets.any():
                at = np.flatnonzero(sets) if isnone is None else (np.cumsum(~isnone) - 1)[sets]
                fold.chunks.setdefault(name, []).append((kind, version[ev[sets]].astype(np.int32), arr[at]))
            ends = ch & ~present
            if ends.any():
                fold.gone.setdefault(name, []).append(version[ev[ends]].astype(np.int32))
        fold.versions_made(page.meta.take(made), kc[made].astype(np.int32), np.zeros(len(made), bool))
        fold.next += len(made)

    def _new_columns(self, ties: dict[int, list[str]], touched: list[tuple[Any, ...]]) -> None:
        """Add the fields set for the first time to the fold's columns, in the order they are first
        set; fields first set by the same event in the order that event's own fields give."""
        fold = self.run
        new = []
        for name, col, ev, ch, present, *_ in touched:
            if name not in fold.cols and (ch & present).any():
                j = int(ev[np.argmax(ch & present)])
                new.append((j, ties[j].index(name) if j in ties and name in ties[j] else 0, name, col))
        new.sort(key=lambda item: item[:2])
        for _, _, name, col in new:
            fold.cols[name] = col
            self.pending.pop(name, None)
