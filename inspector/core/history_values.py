"""The storage of a History's values (see ``history``): pools of distinct values as int32 codes,
id columns packed as UUID bytes, typed value arrays and one column in its three forms (sparse,
keyed, dense), with the vectorised helpers reading and merging them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import numpy as np
import pandas as pd

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
