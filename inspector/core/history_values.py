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
_UTC_US = pd.DatetimeTZDtype("us", UTC)


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
        index = self.index()
        codes = list(map(index.get, uniq))  # None: a value not seen yet
        if None in codes:
            start = len(self.values)
            fresh = [u for u, c in zip(uniq, codes) if c is None]
            index.update(zip(fresh, range(start, start + len(fresh))))
            self.values.extend(fresh)
            new = iter(range(start, start + len(fresh)))
            codes = [next(new) if c is None else c for c in codes]
        codes.append(-1)
        return np.array(codes, np.int32)[local]

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


_DASHES = [8, 13, 18, 23]


def _pack_uuids(ids: list[Any]) -> np.ndarray | None:
    """(n, 16) bytes of canonical (lower-case, dashed) UUID strings; None if any is not one."""
    if not ids:
        return np.empty((0, 16), np.uint8)
    if set(map(type, ids)) != {str} or (np.fromiter(map(len, ids), np.int64, len(ids)) != 36).any():
        return None
    text = "".join(ids)
    if not text.isascii() or text != text.lower():
        return None
    chars = np.frombuffer(text.encode("ascii"), np.uint8).reshape(-1, 36)
    if (chars[:, _DASHES] != ord("-")).any():
        return None
    try:
        packed = bytes.fromhex(text.replace("-", ""))  # C speed; refuses anything but hex digits ...
    except ValueError:
        return None
    if len(packed) != 16 * len(ids):  # ... and whitespace, which it skips
        return None
    return np.frombuffer(packed, np.uint8).reshape(-1, 16).copy()


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
    try:  # the common case, all in one time zone, at nearly twice the speed of to_datetime
        index = pd.DatetimeIndex(xs)
    except (ValueError, TypeError):  # naive and aware mixed, or several time zones
        index = pd.to_datetime(xs, utc=True)
    return np.asarray(index.as_unit("us").asi8, dtype=np.int64)


#: values analysed without a pool: (kind, typed array) for numbers, bools and times; ("text",
#: (local codes, distinct strings)); (None, the list) for anything else, which needs the pool
Portable = tuple[str | None, Any]


def _portable(xs: list[Any]) -> Portable:
    """One page's values of a column (no None among them) as far as they can be typed without
    the column's pool: the part of encoding a reader process can do."""
    types = set(map(type, xs))
    if len(types) == 1:
        t = next(iter(types))
        if t is str:
            local, uniq = pd.factorize(_objects(xs))
            return "text", (local.astype(np.int32), list(uniq))
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
    return None, xs


def _pooled(portable: Portable, pool: _Pool) -> tuple[str, np.ndarray]:
    """Portable values as (kind, typed array) of a column with this pool."""
    kind, raw = portable
    if kind == "text":  # only the distinct strings go through the pool
        local, uniq = raw
        return ("obj" if pool.typed else "text"), pool.encode(uniq)[local]
    if kind is None:
        pool.make_typed()
        return "obj", pool.encode(raw)
    return kind, raw


def _encode(xs: list[Any], pool: _Pool) -> tuple[str, np.ndarray]:
    """One page's values of a column (no None among them) as (kind, typed array)."""
    return _pooled(_portable(xs), pool)


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
    """An object array of values for old/new columns (None: missing). Times are timezone-aware
    UTC ``datetime``s, which pandas Timestamps equal and subclass: made in half the time, and not
    tracked by the cyclic garbage collector (a diff holds tens of thousands of them)."""
    if kind in ("text", "obj"):
        return pool.array()[raw]
    if kind == "time":
        out = pd.DatetimeIndex(raw.view("M8[us]")).tz_localize("UTC").to_pydatetime()
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


def fill_forward(keys: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Along items sorted by key (then version): whether a known item (a value set or removed)
    comes earlier in the same key, or is this one (``inside``), and the index of the latest such
    item (``source``, valid where ``inside``)."""
    n = len(keys)
    if not n:
        return np.empty(0, bool), np.empty(0, np.int64)
    step = np.arange(n)
    starts = np.concatenate(([True], keys[1:] != keys[:-1]))
    group = np.maximum.accumulate(np.where(starts, step, 0))
    source = np.maximum.accumulate(np.where(known, step, -1))
    return source >= group, source


class KeyOrder:
    """Row versions sorted by row key (then version), computed once per commit and shared by the
    columns: the key order of a large set of versions is then a filter, not another sort."""

    def __init__(self, vkey: np.ndarray) -> None:
        self.vkey = vkey
        self._order: np.ndarray | None = None

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.argsort(self.vkey, kind="stable")
        return self._order

    def of(self, versions: np.ndarray) -> np.ndarray:
        """Indices into ``versions`` (ascending, distinct) sorting them by key, stably."""
        n = len(self.vkey)
        if len(versions) * 16 < n:  # few: sorting them is cheaper than a pass over all versions
            return np.argsort(self.vkey[versions], kind="stable")
        at = np.full(n, -1, np.int64)
        at[versions] = np.arange(len(versions))
        picked = at[self.order]
        return picked[picked >= 0]


def _next_in_group(keys: np.ndarray, versions: np.ndarray,
                   order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For items in ascending version order: the version of the next item with the same key
    (_OPEN for the last of each key), and the indices of each key's first item. ``order``: the
    items sorted by key (stable), if known."""
    if order is None:
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


class _Rows:
    """Rows being read (those present at a point, or some of them): ``live``, their versions in
    force, ascending (storage order); ``row``, where each one goes in key order; ``ranks`` and
    ``codes``, the rows' key ranks and codes in key order; ``slot``, key rank -> row (-1: none)."""

    __slots__ = ("live", "row", "ranks", "codes", "n_keys", "_slot", "_versions")

    def __init__(self, live: np.ndarray, row: np.ndarray, ranks: np.ndarray, codes: np.ndarray, n_keys: int,
                 slot: np.ndarray | None = None) -> None:
        self.live, self.row, self.ranks, self.codes, self.n_keys = live, row, ranks, codes, n_keys
        self._slot, self._versions = slot, None

    @property
    def slot(self) -> np.ndarray:
        if self._slot is None:
            self._slot = np.full(self.n_keys, -1, np.intp)
            self._slot[self.ranks] = np.arange(len(self.ranks))
        return self._slot

    @property
    def versions(self) -> np.ndarray:
        """The versions in force in key order."""
        if self._versions is None:
            self._versions = np.empty(len(self.live), np.intp)
            self._versions[self.row] = self.live
        return self._versions


class _Entries:
    """What reads need of a column's entries besides the entries: each one's row key rank
    (``rank[vkey[vfrom]]``: a read would jump into the row versions for every value; ``rank_of``:
    the key ranks they are of, as new keys change them), the index of the
    first entry ever ended (the count if none is: many columns are set once per row, so their
    entries up to any point are all in force), the ended entries ordered by the version that
    ended them, ``by_end`` and ``ends`` (a diff finds the values ended in its window by search),
    and for the keyed form the row keys by the version that set their current value,
    ``cur_order`` (reads find the few set after a point, or in a window, by search)."""

    __slots__ = ("vfrom", "vto", "cur_from", "rank_of", "ranks", "first_ended", "by_end", "ends", "cur_order")

    def __init__(self, vkey: np.ndarray, rank: np.ndarray, vfrom: np.ndarray, vto: np.ndarray,
                 cur_from: np.ndarray | None) -> None:
        self.vfrom, self.vto, self.cur_from = vfrom, vto, cur_from
        self.rank_of, self.ranks = rank, rank.take(vkey.take(vfrom))
        ended = np.flatnonzero(vto != _OPEN)
        self.first_ended = int(ended[0]) if len(ended) else len(vto)
        self.by_end = ended[np.argsort(vto[ended], kind="stable")].astype(np.int32)
        self.ends = vto.take(self.by_end)
        self.cur_order = None if cur_from is None else np.argsort(cur_from, kind="stable").astype(np.int32)

    def set_since(self, lo: int, hi: int = _OPEN) -> np.ndarray:
        """Row keys whose current value (keyed form) was set by a row version in [lo, hi)."""
        return self.cur_order[self._first(lo):self._first(hi)]

    def _first(self, v: int) -> int:
        """The first index in ``cur_order`` whose key's value was set at or after version ``v``:
        a binary search in Python (``searchsorted`` with a sorter would copy it as intp)."""
        order, cur = self.cur_order, self.cur_from
        a, b = 0, len(order)
        while a < b:
            mid = (a + b) // 2
            if cur[order[mid]] < v:
                a = mid + 1
            else:
                b = mid
        return a

    @property
    def nbytes(self) -> int:
        return self.ranks.nbytes + self.by_end.nbytes + self.ends.nbytes + \
            (self.cur_order.nbytes if self.cur_order is not None else 0)


class _Column:
    """One column of a History in one of three forms, whichever is smallest for it (module
    docstring). The entries of the *sparse* form: entry i sets the column of row
    ``vkey[vfrom[i]]`` from row version vfrom[i] (ascending) until row version vto[i] (exclusive;
    _OPEN while current). *Keyed*: each row key's current value (``cur_val``, set by version
    ``cur_from``; _OPEN: none) plus the entries of values since replaced or removed, which suits
    columns set once per row. *Dense*: ``dense[v]`` is the value in force in row ``vkey[v]``
    after row version v, which suits columns that change at most versions."""

    __slots__ = ("name", "kind", "form", "changes", "vfrom", "vto", "vals", "dense", "cur_from", "cur_val", "pool",
                 "_open", "_bykey", "_ix")

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
        self._ix: _Entries | None = None

    # -- reading ---------------------------------------------------------------------------
    def _index(self, vkey: np.ndarray, rank: np.ndarray) -> _Entries:
        """The entries' read index (``_Entries``), built on first read and kept until the entries
        change (``store`` gives them new arrays); its key ranks until the keys do."""
        ix = getattr(self, "_ix", None)
        if ix is None or ix.vfrom is not self.vfrom or ix.vto is not self.vto or \
                getattr(ix, "cur_from", False) is not self.cur_from:
            ix = self._ix = _Entries(vkey, rank, self.vfrom, self.vto, self.cur_from)
        elif ix.rank_of is not rank:
            ix.rank_of, ix.ranks = rank, rank.take(vkey.take(self.vfrom))
        return ix

    def visible(self, vkey: np.ndarray, rank: np.ndarray, vp: int) -> tuple[np.ndarray, np.ndarray]:
        """(row key rank, value) of the entries in force once row versions [0, vp) are applied."""
        ix = self._index(vkey, rank)
        n = int(np.searchsorted(self.vfrom, self.vfrom.dtype.type(vp)))  # an int would copy vfrom as int64
        if n <= ix.first_ended:  # none of them ended yet: no test, and slices, not copies
            return ix.ranks[:n], self.vals[:n]
        here = np.flatnonzero(self.vto[:n] >= vp)  # ``take`` at indices: a boolean mask's branches mispredict
        return ix.ranks.take(here), self.vals.take(here)

    def raw(self, vkey: np.ndarray, rank: np.ndarray, vp: int, rows: _Rows, subset: bool) -> np.ndarray:
        """Stored values (missing: _NONE) at ``vp`` of ``rows``, in key order (``subset``: not
        every row present at ``vp`` is asked for). Values are read in storage order and placed at
        their rows: a jump per row into a column of a million versions costs a cache miss."""
        n, dtype = len(rows.live), self._raw_dtype()
        if self.form == "dense":
            out = np.empty(n, dtype)
            out[rows.row] = self.dense.take(rows.live).astype(dtype, copy=False)  # cast first, as below
            return out
        if not n:
            return np.empty(0, dtype)
        if subset and n * 32 < len(self.vfrom):  # a few rows: look each one's value up
            return self.at_versions(vkey, rows.versions)
        if self.form == "keyed":
            out = self.cur_val.take(rows.codes).astype(dtype, copy=False)
            since = self._index(vkey, rank).set_since(vp)  # rows whose value was set at or after vp: few
            if len(since) < n:
                at = rows.slot.take(rank.take(since))
                out[at[at >= 0]] = _NONE[self.kind]
            else:
                out[np.flatnonzero(self.cur_from.take(rows.codes) >= vp)] = _NONE[self.kind]
        else:
            out = np.full(n, _NONE[self.kind], dtype)
        if len(self.vfrom):
            ranks, vals = self.visible(vkey, rank, vp)
            at = rows.slot.take(ranks)
            if subset:
                keep = np.flatnonzero(at >= 0)
                at, vals = at.take(keep), vals.take(keep)
            out[at] = vals.astype(dtype, copy=False)  # a cast while scattering costs more than a pass
        return out

    def _raw_dtype(self) -> np.dtype:
        """The type ``raw`` gathers values into: the stored one, but for text the narrowest that
        holds the pool's codes, the one pandas keeps a categorical's codes in (as its
        ``coerce_indexer_dtype`` picks it), so they are not copied again and move fewer bytes."""
        if self.kind != "text":
            return np.dtype(_DTYPE[self.kind])
        n = len(self.pool.values)
        return np.dtype(np.int8 if n < 127 else np.int16 if n < 32767 else np.int32)

    def window(self, vkey: np.ndarray, rank: np.ndarray, lo: int, hi: int, slot: np.ndarray,
               dump: int) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The values that can differ between row versions ``lo`` and ``hi`` (lo <= hi; not for
        the dense form), each at its row's place ``slot[key rank]``: (places, values) of those in force
        at ``lo`` that end in [lo, hi), and parts (places, values) of those set in [lo, hi) still
        in force at ``hi``; a row has at most one of each. A value in force at both is the same
        value; one set and ended in between is at neither. Values that are not wanted are placed at
        ``dump`` rather than left out, so the entries are read as slices, not copied. Values are of
        the type ``raw`` gathers."""
        ix = self._index(vkey, rank)
        at, dtype = self.vfrom.dtype.type, self._raw_dtype()  # an int would copy vfrom as int64
        i, j = np.searchsorted(ix.ends, [at(lo), at(hi)])
        gone = ix.by_end[i:j]
        p1 = np.where(self.vfrom.take(gone) < lo, slot.take(ix.ranks.take(gone)), dump)
        x1 = self.vals.take(gone).astype(dtype, copy=False)
        a, b = np.searchsorted(self.vfrom, [at(lo), at(hi)])
        parts = [(np.where(self.vto[a:b] >= hi, slot.take(ix.ranks[a:b]), dump),
                  self.vals[a:b].astype(dtype, copy=False))]
        if self.form == "keyed":  # current values are in force at hi
            now = ix.set_since(lo, hi)
            parts.append((slot.take(rank.take(now)), self.cur_val.take(now).astype(dtype, copy=False)))
        return p1, x1, parts

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
        if kind == "text":  # codes are -1 or into the pool: no need to check them
            return pd.Categorical.from_codes(raw, dtype=self.pool.dtype(), validate=False)
        if kind == "obj":
            return self.pool.array()[raw]
        if kind == "time":  # naive values with a UTC type are read as UTC: no tz_localize pass
            return pd.DatetimeIndex(raw.view("M8[us]"), dtype=_UTC_US)
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

    def _dense(self, vkey: np.ndarray, korder: KeyOrder) -> np.ndarray:
        """The sparse entries (``vfrom``, ``vto``, ``vals``) as the dense form: each value filled
        forward along its row's versions until it is replaced or removed."""
        n, kind = len(vkey), self.kind
        raw = np.full(n, _NONE[kind], _DTYPE[kind])
        known = np.zeros(n, bool)
        known[self.vto[self.vto != _OPEN]] = True  # removed there, unless set there again:
        raw[self.vfrom] = self.vals
        known[self.vfrom] = True
        order = korder.order
        inside, source = fill_forward(vkey[order], known[order])
        out = np.full(n, _NONE[kind], raw.dtype)
        out[order[inside]] = raw[order[source[inside]]]
        return out

    def store(self, vkey: np.ndarray, n_keys: int, vfrom: np.ndarray, vto: np.ndarray, vals: np.ndarray,
              form: str | None = None, korder: KeyOrder | None = None) -> None:
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
            self.dense = self.at_versions(vkey, np.arange(len(vkey))) if korder is None else \
                self._dense(vkey, korder)
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
        ix = getattr(self, "_ix", None)  # the read index, while it is kept
        return sum(a.nbytes for a in arrays + (bykey or ()) if a is not None) + (ix.nbytes if ix is not None else 0)
