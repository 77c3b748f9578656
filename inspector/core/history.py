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

import collections
import contextlib
import datetime as dt
import functools
import gc
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable

import numpy as np
import pandas as pd

from .errors import InspectorError
from .model import EventFilter, RecordedEvent
from .projection import Projection
from .store import EventStore

UTC = dt.timezone.utc
CURRENT = int(np.iinfo(np.int64).max)  # valid_to of a row version that is still the latest
_OPEN = int(np.iinfo(np.int32).max)  # the same in row-version index space
_NAT = int(np.iinfo(np.int64).min)  # a missing int or time
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_US = dt.timedelta(microseconds=1)
_MISSING = object()
_EXACT_FLOAT = 2**53  # ints beyond this would change value in a float column
_NUMBERS = (int, float)
_INT_FLOAT = {int, float}
_DENSER = 1.25  # a column changes form only when another one is this many times smaller

#: per kind of column: the stored dtype and the value that means "missing" in a gathered array
_DTYPE = {"float": np.float64, "int": np.int64, "time": np.int64, "bool": np.int8, "text": np.int32, "obj": np.int32}
_NONE: dict[str, Any] = {"float": np.nan, "int": _NAT, "time": _NAT, "bool": -1, "text": -1, "obj": -1}

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


# -- value storage -------------------------------------------------------------------------------


def _objects(xs: list[Any]) -> np.ndarray:
    """A 1-d object array of ``xs`` (np.array would turn a list of tuples into 2-d)."""
    return np.fromiter(xs, dtype=object, count=len(xs))


class _Pool:
    """Distinct values of one column as int32 codes. A typed pool tells values apart by type as
    well (1 and True are equal in Python but different values of a column; 1 and 1.0 are one
    number, as everywhere in a History)."""

    __slots__ = ("values", "typed", "_index", "_dtype", "_array")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.typed = False
        self._index: dict[Any, int] | None = {}
        self._dtype: pd.CategoricalDtype | None = None
        self._array: np.ndarray | None = None

    @staticmethod
    def _key(x: Any) -> Any:
        if type(x) in _NUMBERS:
            return ("number", x)
        try:
            hash(x)
        except TypeError:
            return (type(x), repr(x))
        return (type(x), x)

    def make_typed(self) -> None:
        if not self.typed:
            self.typed, self._index = True, None

    def index(self) -> dict[Any, int]:
        if self._index is None:
            key = self._key if self.typed else (lambda x: x)
            self._index = {key(v): i for i, v in enumerate(self.values)}
        return self._index

    def _code(self, x: Any, key: Any) -> int:
        index = self.index()
        c = index.get(key)
        if c is None:
            c = index[key] = len(self.values)
            self.values.append(x)
        return c

    def encode(self, xs: list[Any]) -> np.ndarray:
        """Codes for ``xs`` (None -> -1), adding values not seen yet."""
        if self.typed:
            return np.fromiter((-1 if x is None else self._code(x, self._key(x)) for x in xs), np.int32, len(xs))
        local, uniq = pd.factorize(_objects(xs))  # C speed; None -> -1
        remap = np.empty(len(uniq) + 1, np.int32)
        remap[-1] = -1
        for i, u in enumerate(uniq):
            remap[i] = self._code(u, u)
        return remap[local]

    def release(self) -> None:
        """Drop the lookup index between folds (rebuilt on demand)."""
        self._index = None

    def dtype(self) -> pd.CategoricalDtype:
        if self._dtype is None or len(self._dtype.categories) != len(self.values):  # values only grow
            self._dtype = pd.CategoricalDtype(pd.Index(_objects(self.values)))
        return self._dtype

    def array(self) -> np.ndarray:
        """The values as an object array; code -1 reads its trailing None."""
        if self._array is None or len(self._array) != len(self.values) + 1:
            self._array = _objects(self.values + [None])
        return self._array


def _as_key(k: Any) -> str | None:
    return k if k is None or type(k) is str else str(k)


_NIBBLE = np.full(256, 255, np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_DASHES = [8, 13, 18, 23]
_HEX_AT = [i for i in range(36) if i not in _DASHES]


def _pack_uuids(ids: list[Any]) -> np.ndarray | None:
    """(n, 16) bytes of canonical (lower-case, dashed) UUID strings; None if any is not one."""
    if not ids:
        return np.empty((0, 16), np.uint8)
    if set(map(type, ids)) != {str} or (np.fromiter(map(len, ids), np.int64, len(ids)) != 36).any():
        return None
    try:
        chars = np.frombuffer("".join(ids).encode("ascii"), np.uint8).reshape(-1, 36)
    except UnicodeEncodeError:
        return None
    nibbles = _NIBBLE[chars[:, _HEX_AT]]
    if (chars[:, _DASHES] != ord("-")).any() or (nibbles == 255).any():
        return None
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def _uuid_text(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Ids:
    """Optional id strings, one per row version (event, correlation, causation ids). Ids repeat
    only close together (a command's events), so each page's distinct ids are appended without a
    global index; while every id is a canonical UUID they are kept as 16 bytes."""

    __slots__ = ("codes", "uuids", "text")

    def __init__(self) -> None:
        self.codes = np.empty(0, np.int32)
        self.uuids: np.ndarray | None = np.empty((0, 16), np.uint8)
        self.text: list[str] | None = None

    def __len__(self) -> int:
        return len(self.uuids) if self.uuids is not None else len(self.text)

    def append(self, chunks: list[tuple[np.ndarray, list[str]]]) -> None:
        base, codes, fresh = len(self), [self.codes], []
        for local, uniq in chunks:
            codes.append(np.where(local >= 0, local + base, -1).astype(np.int32))
            fresh.extend(uniq)
            base += len(uniq)
        self.codes = np.concatenate(codes)
        if self.uuids is not None:
            packed = _pack_uuids(fresh)
            if packed is not None:
                self.uuids = np.concatenate([self.uuids, packed])
                return
            self.text = [_uuid_text(bytes(r)) for r in self.uuids]
            self.uuids = None
        self.text.extend(fresh)

    def get(self, versions: Iterable[int]) -> list[str | None]:
        out: list[str | None] = []
        for c in self.codes[np.asarray(versions, np.int64)].tolist():
            if c < 0:
                out.append(None)
            else:
                out.append(_uuid_text(self.uuids[c].tobytes()) if self.uuids is not None else self.text[c])
        return out


def _micros(xs: list[Any]) -> np.ndarray:
    """UTC microseconds since the epoch (_NAT for None); naive times are UTC."""
    return np.asarray(pd.to_datetime(xs, utc=True).as_unit("us").asi8, dtype=np.int64)


def _encode(xs: list[Any], pool: _Pool) -> tuple[str, np.ndarray]:
    """One page's values of a column as (kind, typed array)."""
    types = set(map(type, xs))
    if len(types) == 1:
        t = next(iter(types))
        if t is str and not pool.typed:
            return "text", pool.encode(xs)
        if t is float:
            return "float", np.array(xs, np.float64)
        if t is int:
            try:
                vals = np.array(xs, np.int64)
            except OverflowError:
                pass
            else:
                if not (vals == _NAT).any():  # the one int that means "missing"
                    return "int", vals
        if t is bool:
            return "bool", np.array(xs, np.int8)
        if t is dt.datetime:
            return "time", _micros(xs)
    elif types == _INT_FLOAT and all(abs(x) <= _EXACT_FLOAT for x in xs if type(x) is int):
        return "float", np.array(xs, np.float64)
    pool.make_typed()
    return "obj", pool.encode(xs)


def _join(a: str | None, b: str | None) -> str | None:
    if a is None or a == b:
        return b
    if b is None:
        return a
    return "float" if {a, b} == {"int", "float"} else "obj"


def _beyond_float(ints: np.ndarray) -> bool:
    """Whether any of these stored ints (missing ones aside) has no exact float."""
    known = ints[ints != _NAT]
    return bool(len(known)) and bool((np.abs(known) > _EXACT_FLOAT).any())


def _missing(kind: str, raw: np.ndarray) -> np.ndarray:
    return np.isnan(raw) if kind == "float" else raw == _NONE[kind]


def _same(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equal values, missing equal to missing."""
    if kind == "float":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def _python(kind: str, raw: np.ndarray, pool: _Pool) -> list[Any]:
    """Python values as a projection's ``apply`` gets them back (None: missing)."""
    if kind == "time":
        return [None if u == _NAT else _EPOCH + dt.timedelta(microseconds=u) for u in raw.tolist()]
    if kind == "bool":
        return [None if b < 0 else bool(b) for b in raw.tolist()]
    if kind in ("text", "obj"):
        return [pool.values[c] if c >= 0 else None for c in raw.tolist()]
    gone = _missing(kind, raw).tolist()
    return [None if g else x for g, x in zip(gone, raw.tolist())]


def _shown(kind: str, raw: np.ndarray, pool: _Pool) -> np.ndarray:
    """An object array of values for old/new columns (times as Timestamps; None: missing)."""
    if kind in ("text", "obj"):
        return pool.array()[raw]
    if kind == "time":
        out = np.array(pd.DatetimeIndex(raw.view("M8[us]")).tz_localize("UTC").astype(object), dtype=object)
    elif kind == "bool":
        out = (raw == 1).astype(object)
    else:
        out = raw.astype(object)
    out[_missing(kind, raw)] = None
    return out


def _convert(kind: str | None, raw: np.ndarray, to: str, pool: _Pool) -> np.ndarray:
    """Stored values (missing ones too) of ``kind`` as values of kind ``to``."""
    if kind is None or len(raw) == 0:
        return raw.astype(_DTYPE[to])
    if kind == to:
        return raw
    if kind == "text" and to == "obj":
        return raw  # the same codes: the pool is typed now
    out = np.full(len(raw), _NONE[to], _DTYPE[to])
    here = ~_missing(kind, raw)
    out[here] = raw[here] if to == "float" else pool.encode(_python(kind, raw[here], pool))
    return out


def _distinct(codes: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of ``codes`` (all in [0, n)), ascending: by sorting when they are few,
    by marking an array of ``n`` flags when they are many."""
    if len(codes) * 16 < n:
        return np.unique(codes)
    flags = np.zeros(n, bool)
    flags[codes] = True
    return np.flatnonzero(flags).astype(codes.dtype)


def _next_in_group(keys: np.ndarray, versions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items in ascending version order: the version of the next item with the same key
    (_OPEN for the last of each key), and the indices of each key's first item."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    same = ks[1:] == ks[:-1]
    nxt = np.full(len(keys), _OPEN, np.int32)
    nxt[order[:-1]] = np.where(same, versions[order[1:]], _OPEN)
    first = order[np.concatenate(([True], ~same))] if len(keys) else order
    return nxt, first


def _previous_in_group(keys: np.ndarray) -> np.ndarray:
    """For items in ascending version order: the index of the previous item with the same key (-1)."""
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    prev = np.full(len(keys), -1, np.int64)
    prev[order[1:]] = np.where(same, order[:-1], -1)
    return prev


class _Column:
    """One column of a History in one of three forms, whichever is smallest for it (module
    docstring). The entries of the *sparse* form: entry i sets the column of row
    ``vkey[vfrom[i]]`` from row version vfrom[i] (ascending) until row version vto[i] (exclusive;
    _OPEN while current). *Keyed*: each row key's current value (``cur_val``, set by version
    ``cur_from``; _OPEN: none) plus the entries of values since replaced or removed, which suits
    columns set once per row. *Dense*: ``dense[v]`` is the value in force in row ``vkey[v]``
    after row version v, which suits columns that change at most versions."""

    __slots__ = ("name", "kind", "form", "changes", "vfrom", "vto", "vals", "dense", "cur_from", "cur_val", "pool",
                 "_open", "_bykey")

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind: str | None = None
        self.form = "sparse"
        self.changes = 0  # values set so far: the sparse form's length
        self.vfrom = np.empty(0, np.int32)
        self.vto = np.empty(0, np.int32)
        self.vals = np.empty(0, np.int64)
        self.dense: np.ndarray | None = None
        self.cur_from: np.ndarray | None = None
        self.cur_val: np.ndarray | None = None
        self.pool = _Pool()
        self._open: tuple[np.ndarray, np.ndarray] | None = None
        self._bykey: tuple[np.ndarray, np.ndarray] | None = None

    # -- reading ---------------------------------------------------------------------------
    def visible(self, vp: int) -> np.ndarray:
        """Entries in force once row versions [0, vp) are applied."""
        n = int(np.searchsorted(self.vfrom, vp, "left"))
        return np.flatnonzero(self.vto[:n] >= vp)

    def raw(self, vkey: np.ndarray, vp: int, codes: np.ndarray, versions: np.ndarray, slot: np.ndarray,
            subset: bool) -> np.ndarray:
        """Stored values (missing: _NONE) of rows ``codes`` whose versions in force at ``vp`` are
        ``versions``; ``slot`` maps key code -> row, -1 for rows not asked for (``subset``: not
        every row present at ``vp`` is asked for)."""
        if self.form == "dense":
            return self.dense[versions]
        if not len(codes):
            return np.empty(0, _DTYPE[self.kind])
        if subset and len(codes) * 32 < len(self.vfrom):  # a few rows: look each one's value up
            return self.at_versions(vkey, versions)
        if self.form == "keyed":
            out = self.cur_val[codes]
            out[self.cur_from[codes] >= vp] = _NONE[self.kind]
        else:
            out = np.full(len(codes), _NONE[self.kind], _DTYPE[self.kind])
        if len(self.vfrom):
            entries = self.visible(vp)
            rows = slot[vkey[self.vfrom[entries]]]
            if subset:
                keep = rows >= 0
                entries, rows = entries[keep], rows[keep]
            out[rows] = self.vals[entries]
        return out

    def window(self, vkey: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """(key, vfrom, vto, value) of the values that can differ between row versions ``lo`` and
        ``hi`` (lo <= hi): those set or ended by a version in [lo, hi), which include the value
        each such row had at ``lo`` and has at ``hi`` (not for the dense form)."""
        a, b = np.searchsorted(self.vfrom, [lo, hi], "left")
        wanted = (self.vto >= lo) & (self.vto < hi)
        wanted[a:b] = True
        entries = np.flatnonzero(wanted)
        vfrom, vto, vals = self.vfrom[entries], self.vto[entries], self.vals[entries]
        keys = vkey[vfrom]
        if self.form == "keyed":
            now = np.flatnonzero((self.cur_from >= lo) & (self.cur_from < hi))
            keys, vfrom = np.concatenate([keys, now]), np.concatenate([vfrom, self.cur_from[now]])
            vto = np.concatenate([vto, np.full(len(now), _OPEN, np.int32)])
            vals = np.concatenate([vals, self.cur_val[now]])
        return keys, vfrom, vto, vals

    def at_versions(self, vkey: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """Stored values in force right after each of the row versions ``sel``."""
        if self.form == "dense":
            return self.dense[sel]
        out = np.full(len(sel), _NONE[self.kind], _DTYPE[self.kind])
        if len(self.vfrom) and len(sel):
            comp, order = self._by_key(vkey)
            skey = vkey[sel].astype(np.int64)
            j = np.searchsorted(comp, (skey << 31) | sel, "right") - 1
            jj = np.clip(j, 0, None)
            found = order[jj]
            ok = (j >= 0) & ((comp[jj] >> 31) == skey) & (self.vto[found] > sel)
            out[ok] = self.vals[found[ok]]
        if self.form == "keyed" and len(sel):
            k = vkey[sel]
            now = self.cur_from[k] <= sel
            out[now] = self.cur_val[k[now]]
        return out

    def _by_key(self, vkey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries ordered by (row key, vfrom): (key << 31 | vfrom, entry index); kept until
        the entries change."""
        bykey = getattr(self, "_bykey", None)
        if bykey is None or len(bykey[1]) != len(self.vfrom):
            comp = (vkey[self.vfrom].astype(np.int64) << 31) | self.vfrom
            order = np.argsort(comp, kind="stable").astype(np.int32)
            bykey = self._bykey = (comp[order], order)
        return bykey

    def current(self, vkey: np.ndarray, codes: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Stored values in force now in rows ``codes`` (present rows; ``last``: their latest versions)."""
        if self.form == "dense":
            return self.dense[last]
        if self.form == "keyed":
            return self.cur_val[codes]
        if self._open is None:  # kept until the column changes: an extension asks page after page
            entries = np.flatnonzero(self.vto == _OPEN)
            keys = vkey[self.vfrom[entries]]
            order = np.argsort(keys, kind="stable")
            self._open = (keys[order], entries[order])
        okeys, entries = self._open
        out = np.full(len(codes), _NONE[self.kind], _DTYPE[self.kind])
        if len(okeys):
            at = np.clip(np.searchsorted(okeys, codes), 0, len(okeys) - 1)
            hit = okeys[at] == codes
            out[hit] = self.vals[entries[at[hit]]]
        return out

    def entries_of(self, vkey: np.ndarray, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(valid_from, valid_to, value) of one row's values, oldest first; ``mine`` are the row's
        versions (not for the dense form)."""
        at = np.searchsorted(self.vfrom, mine, "left")
        inside = at < len(self.vfrom)
        entries = at[inside][self.vfrom[at[inside]] == mine[inside]]  # a version sets a column at most once
        starts, ends, vals = self.vfrom[entries], self.vto[entries], self.vals[entries]
        if self.form == "keyed" and len(mine):
            code = vkey[mine[0]]
            if self.cur_from[code] != _OPEN:
                starts = np.append(starts, self.cur_from[code])
                ends = np.append(ends, np.int32(_OPEN))
                vals = np.append(vals, self.cur_val[code]).astype(vals.dtype)
        return starts, ends, vals

    def output(self, raw: np.ndarray) -> Any:
        """A pandas column of stored values."""
        kind = self.kind
        if kind == "float":
            return raw
        if kind == "text":
            return pd.Categorical.from_codes(raw, dtype=self.pool.dtype())
        if kind == "obj":
            return self.pool.array()[raw]
        if kind == "time":
            return pd.DatetimeIndex(raw.view("M8[us]")).tz_localize("UTC")
        if kind == "int":
            return pd.arrays.IntegerArray(raw, raw == _NAT)
        return pd.arrays.BooleanArray(raw == 1, raw < 0)

    # -- forms -----------------------------------------------------------------------------
    def entries(self, vkey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sparse form's (vfrom, vto, vals), whatever the form."""
        if self.form == "sparse":
            return self.vfrom, self.vto, self.vals
        if self.form == "keyed":
            has = np.flatnonzero(self.cur_from != _OPEN)
            vfrom = np.concatenate([self.vfrom, self.cur_from[has]])
            order = np.argsort(vfrom, kind="stable")
            return (vfrom[order], np.concatenate([self.vto, np.full(len(has), _OPEN, np.int32)])[order],
                    np.concatenate([self.vals, self.cur_val[has]])[order])
        raw = self.dense
        prev = _previous_in_group(vkey)
        before = np.where(prev >= 0, raw[np.clip(prev, 0, None)], _NONE[self.kind]).astype(raw.dtype)
        points = np.flatnonzero(~_same(self.kind, raw, before)).astype(np.int32)  # where the value changes
        nxt, _ = _next_in_group(vkey[points], points)
        valued = ~_missing(self.kind, raw[points])
        return points[valued], nxt[valued], raw[points[valued]]

    def store(self, vkey: np.ndarray, n_keys: int, vfrom: np.ndarray, vto: np.ndarray, vals: np.ndarray,
              form: str | None = None) -> None:
        """Keep the entries (sparse form's arrays) in the smallest form (or ``form``); a form
        changes only when another is clearly smaller, so columns do not flip back and forth."""
        size = np.dtype(_DTYPE[self.kind]).itemsize
        n_open = int(np.count_nonzero(vto == _OPEN))
        sizes = {"sparse": len(vfrom) * (8 + size), "dense": len(vkey) * size,
                 "keyed": n_keys * (4 + size) + (len(vfrom) - n_open) * (8 + size)}
        if form is None:
            form = min(sizes, key=sizes.get)
            if sizes[self.form] <= _DENSER * sizes[form]:
                form = self.form
        self.form, self.changes, self._open, self._bykey = "sparse", len(vfrom), None, None
        self.dense = self.cur_from = self.cur_val = None
        self.vfrom, self.vto, self.vals = vfrom, vto, vals
        if form == "dense":
            self.dense = self.at_versions(vkey, np.arange(len(vkey)))
            self.vfrom, self.vto, self.vals = np.empty(0, np.int32), np.empty(0, np.int32), vals[:0]
        elif form == "keyed":
            now = vto == _OPEN
            keys = vkey[vfrom[now]]
            self.cur_from = np.full(n_keys, _OPEN, np.int32)
            self.cur_from[keys] = vfrom[now]
            self.cur_val = np.full(n_keys, _NONE[self.kind], _DTYPE[self.kind])
            self.cur_val[keys] = vals[now]
            self.vfrom, self.vto, self.vals = vfrom[~now], vto[~now], vals[~now]
        self.form, self._bykey = form, None

    def convert(self, to: str) -> None:
        """Stored values as values of kind ``to`` (a column of ints that meets a float...)."""
        for name in ("vals", "dense", "cur_val"):
            raw = getattr(self, name)
            if raw is not None:
                setattr(self, name, _convert(self.kind, raw, to, self.pool))
        self.kind = to

    @property
    def nbytes(self) -> int:
        arrays = (self.vfrom, self.vto, self.vals, self.dense, self.cur_from, self.cur_val)
        bykey = getattr(self, "_bykey", None)  # a lookup index, while it is kept
        return sum(a.nbytes for a in arrays + (bykey or ()) if a is not None)


# -- the history ---------------------------------------------------------------------------------


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
    def iter_extend(self, store: EventStore, page_size: int = 5000,
                    should_cancel: Callable[[], bool] | None = None) -> Generator[Progress, None, int]:
        """Fold the events after ``head`` (only those), yielding (position done, head) per page;
        returns how many events were read. The History changes only when the fold completes, so a
        cancelled or abandoned run leaves it as it was. Positions that commit out of order (a
        slow transaction on a server database) after ``head`` moved past them are not seen."""
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
            pages = iter(store.iter_pages(flt.with_(after=after, before=head + 1), page_size))
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
                        run.fold(page.events)
                    yield page.events[-1].position, head
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()
            if should_cancel is not None and should_cancel():
                raise BuildCancelled(f"building the history of {self.projection.name} was cancelled")
            with self._lock:
                run.commit(head)
        finally:
            self._folding = False
        return run.read

    def extend(self, store: EventStore, page_size: int = 5000, progress: Callable[[int, int], None] | None = None,
               should_cancel: Callable[[], bool] | None = None) -> int:
        """Fold the events appended since the last fold; returns how many were read."""
        return _drive(self.iter_extend(store, page_size, should_cancel), progress)

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
    def _live(self, vp: int) -> tuple[np.ndarray, np.ndarray]:
        """(key codes, their versions in force) of the rows present at ``vp``, in key order."""
        live = np.flatnonzero((self._vto[:vp] >= vp) & ~self._del[:vp])
        at_rank = np.full(len(self._keys), -1, np.int64)
        at_rank[self._rank[self._vkey[live]]] = live
        ranks = np.flatnonzero(at_rank >= 0)
        return self._by_rank[ranks], at_rank[ranks]

    def _key_column(self, codes: np.ndarray) -> pd.Categorical:
        if self._key_dtype is None:
            self._key_dtype = pd.CategoricalDtype(pd.Index(self._sorted_keys()))
        return pd.Categorical.from_codes(self._rank[codes], dtype=self._key_dtype)

    def _frame(self, vp: int, codes: np.ndarray, versions: np.ndarray, subset: bool = False) -> pd.DataFrame:
        slot = np.full(len(self._keys), -1, np.int32)
        slot[codes] = np.arange(len(codes), dtype=np.int32)
        data: dict[str, Any] = {"key": self._key_column(codes)}
        for name, col in self._cols.items():
            data["key_" if name == "key" else name] = col.output(col.raw(self._vkey, vp, codes, versions, slot, subset))
        return pd.DataFrame(data, copy=False)  # no copy into consolidated blocks

    @_reading
    def as_of(self, position: int | None = None, time: dt.datetime | None = None) -> pd.DataFrame:
        """The read model after every event at or before ``position`` (or reached by ``time``,
        see ``position_at``; head when neither is given): one row per key, sorted by key."""
        vp = self._resolve(position, time)
        return self._frame(vp, *self._live(vp))

    @_reading
    def diff(self, p1: int | None, p2: int | None) -> Diff:
        """What changed from ``p1`` to ``p2`` (positions, inclusive; None is head)."""
        v1, v2 = self._vp(p1), self._vp(p2)
        lo, hi = min(v1, v2), max(v1, v2)
        (c1, s1), (c2, s2) = self._live(v1), self._live(v2)
        at1 = np.full(len(self._keys), -1, np.int64)
        at1[c1] = s1
        at2 = np.full(len(self._keys), -1, np.int64)
        at2[c2] = s2
        new, gone = at1[c2] < 0, at2[c1] < 0
        both = (at1 >= 0) & (at2 >= 0)
        # only rows with a version between the two can differ, and only in values set or ended there
        touched = _distinct(self._vkey[lo:hi], len(self._keys))
        touched = touched[both[touched]]
        ranks, orders, olds, news = [], [], [], []
        where = np.empty(len(self._keys), np.int64)  # key code -> its index in ``keys`` (per column)
        for order, col in enumerate(self._cols.values()):
            if col.form == "dense":
                keys, a, b = touched, col.dense[at1[touched]], col.dense[at2[touched]]
            else:
                ekeys, vfrom, vto, vals = col.window(self._vkey, lo, hi)
                mine = both[ekeys]
                keys = _distinct(ekeys[mine], len(self._keys))
                where[keys] = np.arange(len(keys))
                i = where[ekeys]  # read only where ``mine``: other entries' keys may be stale
                a = np.full(len(keys), _NONE[col.kind], _DTYPE[col.kind])
                b = a.copy()
                then = mine & (vfrom < lo) & (vto >= lo)
                a[i[then]] = vals[then]
                later = mine & (vfrom < hi) & (vto >= hi)
                b[i[later]] = vals[later]
                if v1 > v2:
                    a, b = b, a
            at = np.flatnonzero(~_same(col.kind, a, b))
            if len(at):
                ranks.append(self._rank[keys[at]])
                orders.append(np.full(len(at), order, np.int32))
                olds.append(_shown(col.kind, a[at], col.pool))
                news.append(_shown(col.kind, b[at], col.pool))
        names = _objects(list(self._cols))
        if ranks:
            rank, order = np.concatenate(ranks), np.concatenate(orders)
            by = np.lexsort((order, rank))
            changed = pd.DataFrame({"key": pd.Series(self._sorted_keys()[rank[by]], dtype=object),
                                    "field": pd.Series(names[order[by]], dtype=object),
                                    "old": pd.Series(np.concatenate(olds)[by], dtype=object),
                                    "new": pd.Series(np.concatenate(news)[by], dtype=object)})
        else:
            changed = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("key", "field", "old", "new")})
        return Diff(self._frame(v2, c2[new], s2[new], subset=True), self._frame(v1, c1[gone], s1[gone], subset=True),
                    changed)

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
        data: dict[str, Any] = {"key": self._key_column(self._vkey[sel]), "valid_from": self._pos[sel],
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
        delta = getattr(apply, "delta", None)
        if delta is not None:
            v = self._fold_delta(delta, events, ks, sets, gone, evs, vkey, dels, v)
        else:
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
        pos = [e.position for e in evs]
        time = [e.recorded_at for e in evs]
        etype = [e.type for e in evs]
        actor = [e.actor for e in evs]
        eid = [e.event_id for e in evs]
        corr = [e.correlation_id for e in evs]
        cause = [e.causation_id for e in evs]
        h = self.h
        self.meta.append((np.array(pos, np.int64), _micros(time), np.array(vkey, np.int32), np.array(dels, bool),
                          h._types.encode(etype), h._actors.encode(actor)))
        for chunks, values in zip(self.ids, (eid, corr, cause)):
            local, uniq = pd.factorize(_objects(values))
            chunks.append((local.astype(np.int32), list(uniq)))
        for f, (vs, xs) in sets.items():
            col = self.cols.get(f)
            if col is None:
                col = self.cols[f] = _Column(f)
            kind, vals = _encode(xs, col.pool)
            self.chunks.setdefault(f, []).append((kind, np.array(vs, np.int32), vals))
        for f, vs in gone.items():
            self.gone.setdefault(f, []).append(np.array(vs, np.int32))

    def _fold_delta(self, delta: Callable[[dict[str, Any], RecordedEvent], dict[str, Any]],
                    events: list[RecordedEvent], ks: list[str | None], sets: dict[str, tuple[list[int], list[Any]]],
                    gone: dict[str, list[int]], evs: list[RecordedEvent], vkey: list[int], dels: list[bool],
                    v: int) -> int:
        """The fold for a projection whose ``apply`` has a ``delta(state, event)``: the fields it
        sets (None: removes), its new state being the old one updated with them. A row's state is
        then updated in place and only those fields are compared."""
        states, initial = self.states, self.initial
        missing, numbers = _MISSING, _NUMBERS
        pairs: collections.defaultdict[str, list[tuple[int, Any]]] = collections.defaultdict(list)  # field -> (v, x)
        ends: collections.defaultdict[str, list[int]] = collections.defaultdict(list)
        for e, k in zip(events, ks):
            if k is None:
                continue
            c = self.code(k)
            old = states.get(c)
            try:
                upd = delta(initial() if old is None else old, e)
            except Exception as exc:
                exc.add_note(f"projection {self.h.projection.name} failed at position {e.position}")
                raise
            if old is None:
                new = {f: x for f, x in upd.items() if x is not None}
                for f, x in new.items():
                    pairs[f].append((v, x))
                states[c] = new
            else:
                changed = False
                for f, x in upd.items():
                    o = old.get(f, missing)
                    if x is None:
                        if o is not missing:
                            del old[f]
                            ends[f].append(v)
                            changed = True
                    elif o is not x and (o is missing or o != x or (o.__class__ is not x.__class__ and not (
                            o.__class__ in numbers and x.__class__ in numbers))):
                        old[f] = x
                        pairs[f].append((v, x))
                        changed = True
                if not changed:
                    continue
            evs.append(e)
            vkey.append(c)
            dels.append(False)
            v += 1
        for f, vx in pairs.items():
            vs, xs = zip(*vx)
            sets[f] = (list(vs), list(xs))
        gone.update(ends)
        return v

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
        # close each touched row's previous version
        nxt, first = _next_in_group(vkey, np.arange(v0, v1, dtype=np.int32))
        last = np.concatenate([h._last, np.full(n_keys - len(h._last), -1, np.int32)])
        vto = np.concatenate([h._vto, nxt])
        prev = last[vkey[first]]
        vto[prev[prev >= 0]] = (v0 + first[prev >= 0]).astype(np.int32)
        last_before = last.copy()
        if len(vkey):
            np.maximum.at(last, vkey, np.arange(v0, v1, dtype=np.int32))
        for col in self.cols.values():
            self._commit_column(col, all_key, n_keys, v0, last_before)
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
                       last_before: np.ndarray) -> None:
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
        col.store(all_key, n_keys, *self._appended(col.entries(all_key[:v0]), all_key, sets, vals, ends))

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
        step = np.arange(n)
        starts = np.concatenate(([True], ks[1:] != ks[:-1])) if n else np.empty(0, bool)
        group = np.maximum.accumulate(np.where(starts, step, 0)) if n else step
        source = np.maximum.accumulate(np.where(known[order], step, -1)) if n else step
        inside = source >= group  # a value set or removed earlier in this fold
        out = np.empty(n, raw.dtype)
        out[inside] = raw[order[source[inside]]]
        before = last_before[ks[~inside]]
        out[~inside] = np.where(before >= 0, old[np.clip(before, 0, None)] if len(old) else _NONE[kind], _NONE[kind])
        raw[order] = out
        return raw

    @staticmethod
    def _appended(entries: tuple[np.ndarray, np.ndarray, np.ndarray], all_key: np.ndarray, sets: np.ndarray,
                  vals: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A column's entries with this fold's sets and removals added: each closes the value the
        row had before, each set value lasts until the row's next set or removal."""
        vfrom, vto, old = entries
        # each row version sets or removes a column at most once: sorting by version interleaves them
        every = np.concatenate([sets, ends])
        order = np.argsort(every, kind="stable")
        versions = every[order]
        nxt, first = _next_in_group(all_key[versions], versions)
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


def _drive(gen: Generator[Progress, None, Any], progress: Callable[[int, int], None] | None) -> Any:
    while True:
        try:
            done, head = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(done, head)


def iter_build(store: EventStore, projection: Projection, flt: EventFilter = EventFilter(), page_size: int = 5000,
               should_cancel: Callable[[], bool] | None = None) -> Generator[Progress, None, History]:
    """Build a History as a generator: yields (position done, head) per page and returns the
    History (``StopIteration.value``). A worker may stop iterating or close it to cancel;
    ``should_cancel`` is checked before every page and raises ``BuildCancelled``."""
    h = History(projection, flt)
    yield from h.iter_extend(store, page_size, should_cancel)
    return h


def build_history(store: EventStore, projection: Projection, flt: EventFilter = EventFilter(), page_size: int = 5000,
                  progress: Callable[[int, int], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> History:
    """Fold ``projection`` over the store's events (those ``flt`` selects; the projection's
    ``types`` are pushed down to SQL) once, into a History."""
    return _drive(iter_build(store, projection, flt, page_size, should_cancel), progress)
