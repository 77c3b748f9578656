"""A read-only Qt table model over a pandas DataFrame of projection rows (one row per key), with
some cells marked: changed since the previous state shown, or different at head.

Everything costly is done by plain functions that run on a worker: ``prepare_frame`` turns the
frame into a ``FrameData`` (typed columns, cells formatted on demand; a projection's keys stay
categorical codes, ``CodeKeys``), ``marks_from_diff`` turns a
``History.diff`` into ``Marks``. The model itself only swaps them in, so ``rowCount`` and ``data``
are O(1) and a new state costs the GUI thread a few signals. When the columns stay the same, rows
that appear or disappear are inserted and removed as runs (the view keeps its selection and
scroll position); after a large jump it resets instead."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

KEY_COLUMN = "key"
KeyRole = int(Qt.UserRole) + 1  # the row's key
MarkRole = int(Qt.UserRole) + 2  # "changed" | "added" | "removed" | "here" | "future" | None for a cell
#: More runs of inserted/removed rows than this and the model resets instead of moving rows.
MAX_RUNS = 64

CHANGED = QColor("#ffe08a")  # changed since the previous position
ADDED = QColor("#c9efcf")  # a row that did not exist at the previous position
HEAD = QColor("#cfe2ff")  # differs at head (diff against head)
GONE = QColor("#f8d0d0")  # deleted by head (diff against head)
FUTURE = QColor("#9aa3ad")  # change log entries after the slider's position
INK = QColor("#1a1a1a")  # text on a coloured cell, readable in light and dark themes

_DISPLAY, _ALIGN, _BG, _FG, _FONT, _TIP = (int(r) for r in (Qt.DisplayRole, Qt.TextAlignmentRole, Qt.BackgroundRole,
                                                             Qt.ForegroundRole, Qt.FontRole, Qt.ToolTipRole))
_ROLES = frozenset((_DISPLAY, _ALIGN, _BG, _FG, _FONT, _TIP, KeyRole, MarkRole))
_MARK_ROLES = frozenset((_BG, _FG, _FONT, _TIP, MarkRole))
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)
_LEFT = int(Qt.AlignLeft | Qt.AlignVCenter)
_FLAGS = Qt.ItemIsEnabled | Qt.ItemIsSelectable


def display(value: Any) -> str:
    """A cell as text: blanks for missing values, compact JSON for nested ones."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):  # pandas Timestamps too: local time, like the event table
        if value != value:  # NaT
            return ""
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone().isoformat(sep=" ", timespec="milliseconds")[:23]
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value) if not value.is_integer() or abs(value) >= 1e15 else f"{value:.1f}"
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return repr(value)
    if isinstance(value, np.generic):
        return display(value.item())
    if value is pd.NA:
        return ""
    return str(value)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NAT = int(np.iinfo(np.int64).min)


@dataclass(frozen=True, eq=False)
class Column:
    """One column as the frame holds it, untouched: ``kind`` "codes" (``data`` int codes into
    ``labels``, -1 missing), "time" (int64 UTC microseconds, NaT missing), "masked" (``data``
    with a ``mask`` of missing cells) or "plain" (any numpy array; NaN missing)."""

    kind: str
    data: np.ndarray
    labels: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __getitem__(self, i: int) -> Any:
        """The cell as a Python value (None where missing)."""
        k, v = self.kind, self.data[i]
        if k == "codes":
            return None if v < 0 else self.labels[v]
        if k == "time":
            return None if v == _NAT else _EPOCH + dt.timedelta(microseconds=int(v))
        if k == "masked" and self.mask[i]:
            return None
        if isinstance(v, np.generic):
            v = v.item()
        return None if isinstance(v, float) and v != v else v

    def take(self, rows: np.ndarray) -> "Column":
        return Column(self.kind, self.data[rows], self.labels, None if self.mask is None else self.mask[rows])


#: id(categories) -> (a weak reference to them, their labels as an object array); see ``_labels``
_LABELS: dict[int, tuple[weakref.ref, np.ndarray]] = {}  # no lock: single dict operations (workers)


def _labels(categories) -> np.ndarray:
    """A categorical column's labels as an object array, converted once per categories object
    (kept while the categories live). A history's columns share one pool of values per column,
    the same ``Index`` in every frame it reads (300k keys on a 1M-event store); converting it
    (pyarrow strings to Python objects) is one long call that holds the GIL, and it ran for every
    column of every slider move on the worker, stalling the GUI thread's painting for 100 ms and
    more at a time."""
    key = id(categories)
    got = _LABELS.get(key)
    if got is not None and got[0]() is categories:
        return got[1]
    labels = _to_objects(categories)
    labels.setflags(write=False)
    try:
        ref = weakref.ref(categories, lambda r, k=key: _forget_labels(k, r))
    except TypeError:  # not weakly referenceable: not cached
        return labels
    _LABELS[key] = (ref, labels)
    return labels


#: Labels converted per call: each call holds the GIL, so the GUI thread waits at most one chunk.
LABEL_CHUNK = 16_384


def _to_objects(categories) -> np.ndarray:
    """``categories.to_numpy(dtype=object)`` in chunks, letting other threads run between them
    (the first frame of a history converts every column's pool: 300k labels each on 1M)."""
    n = len(categories)
    if n <= LABEL_CHUNK:
        return categories.to_numpy(dtype=object)
    out = np.empty(n, dtype=object)
    for i in range(0, n, LABEL_CHUNK):
        out[i:i + LABEL_CHUNK] = categories[i:i + LABEL_CHUNK].to_numpy(dtype=object)
        time.sleep(0)  # give the GIL away: the GUI thread paints between chunks
    return out


def _forget_labels(key: int, ref: weakref.ref) -> None:
    got = _LABELS.get(key)
    if got is not None and got[0] is ref:
        _LABELS.pop(key, None)


def _column(series) -> Column:
    """A pandas column as a ``Column``, without converting its cells to Python objects: turning a
    whole frame into an object array is one long C call that holds the GIL, so it would stall the
    GUI thread while a worker prepares a state (``display`` converts the cells in view instead)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return Column("codes", series.cat.codes.to_numpy(), _labels(dtype.categories))
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        return Column("time", np.asarray(series.array.as_unit("us").asi8, np.int64))  # naive times are UTC
    array = series.array
    if hasattr(array, "_mask") and hasattr(array, "_data"):  # pandas' nullable Int64 / boolean
        return Column("masked", array._data, mask=array._mask)
    return Column("plain", series.to_numpy())


class CodeKeys:
    """A frame's keys as categorical codes (the key column of a projection): a read-only sequence
    whose items are made on demand, so preparing a frame of 300k rows builds no Python object per
    row (that would hold the GIL for tens of milliseconds and stall the GUI thread)."""

    __slots__ = ("codes", "labels", "cats")

    def __init__(self, codes: np.ndarray, labels: np.ndarray, cats) -> None:
        self.codes, self.labels, self.cats = codes, labels, cats

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.labels[self.codes[i]].tolist()
        return self.labels[self.codes[i]]

    def __iter__(self):
        return iter(self.labels[self.codes].tolist())

    def code_of(self, key: Any) -> int:
        """The key's code, or -1 (not a category)."""
        try:
            code = self.cats.get_loc(key)
        except (KeyError, TypeError, ValueError):
            return -1
        return code if isinstance(code, (int, np.integer)) else -1


class CodeRows:
    """key -> row for ``CodeKeys`` (``get`` and ``in``), a vectorised scan per lookup (lookups are
    few: the selected row, a change log's key)."""

    __slots__ = ("keys",)

    def __init__(self, keys: CodeKeys) -> None:
        self.keys = keys

    def get(self, key: Any, default: Any = None) -> Any:
        code = self.keys.code_of(key)
        if code < 0:
            return default
        hits = np.flatnonzero(self.keys.codes == code)
        return int(hits[0]) if len(hits) else default

    def __contains__(self, key: Any) -> bool:
        return self.get(key, -1) >= 0

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, eq=False)
class FrameData:
    """A frame ready to show: column names (the key first, unless keyed by row number), the
    columns, the keys in row order and each key's row."""

    columns: tuple[str, ...]
    data: tuple[Column, ...]
    keys: tuple[Any, ...]
    rows: dict[Any, int]
    numeric: tuple[bool, ...]  # per column: right-align

    @property
    def n_rows(self) -> int:
        return len(self.keys)

    def cell(self, row: int, column: int) -> Any:
        return self.data[column][row]


EMPTY = FrameData((), (), (), {}, ())


def prepare_frame(df, key_column: str | None = KEY_COLUMN) -> FrameData:
    """Worker body: ``df`` as ``FrameData``, keyed by ``key_column`` (shown first; taken from the
    index when it is not a column), or by row number when ``key_column`` is None."""
    if df is None:
        return EMPTY
    if key_column is None:
        cols = [str(c) for c in df.columns]
        keys = tuple(range(len(df)))
    else:
        if key_column not in df.columns:
            df = df.reset_index().rename(columns={df.index.name or "index": key_column})
        cols = [key_column] + [str(c) for c in df.columns if c != key_column]
        keys = None
    data = tuple(_column(df[c]) for c in cols)
    numeric = tuple(c.kind in ("plain", "masked") and c.data.dtype.kind in "iufb" for c in data)
    if keys is None:
        k = data[0]
        cats = df[key_column].dtype.categories if k.kind == "codes" else None
        if cats is not None and cats.is_unique and not (k.data < 0).any():
            # O(1) here: keys stay int codes (no 300k-string tuple and dict built holding the GIL)
            keys = CodeKeys(k.data, k.labels, cats)
            return FrameData(tuple(cols), data, keys, CodeRows(keys), numeric)
        keys = tuple(df[key_column].to_numpy(dtype=object).tolist())
    return FrameData(tuple(cols), data, keys, {k: i for i, k in enumerate(keys)}, numeric)


@dataclass(frozen=True)
class Marks:
    """Which cells to colour. ``cells`` maps key -> {column: the other value} (the value before,
    or the value at head); ``rows`` maps key -> "added" | "removed" for whole rows (and, in a
    change log, "here" | "future" for entries at or after the slider's position)."""

    mode: str = "previous"  # "previous" | "head"
    cells: dict[Any, dict[str, Any]] = field(default_factory=dict)
    rows: dict[Any, str] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(c) for c in self.cells.values())


def marks_from_diff(diff, mode: str = "previous") -> Marks:
    """``History.diff(a, b)`` as marks on the frame at ``a`` (mode "head": the frame shown is the
    earlier one, the other value is the later one) or at ``b`` (mode "previous": the frame shown is
    the later one, the other value is the earlier one)."""
    cells: dict[Any, dict[str, Any]] = {}
    rows: dict[Any, str] = {}
    changed = getattr(diff, "changed", None)
    if changed is not None and len(changed):
        other = "new" if mode == "head" else "old"
        for key, fld, val in zip(changed["key"].tolist(), changed["field"].tolist(), changed[other].tolist()):
            cells.setdefault(key, {})[str(fld)] = val
    shown_only, other_only = (diff.removed, diff.added) if mode == "head" else (diff.added, diff.removed)
    for k in _keys_of(shown_only):
        rows[k] = "removed" if mode == "head" else "added"
    del other_only  # rows that exist only at the other end cannot be coloured in this frame
    return Marks(mode, cells, rows)


def _keys_of(part) -> list:
    """Keys of a diff's added/removed part: a DataFrame (key column or index) or a sequence."""
    if part is None:
        return []
    if hasattr(part, "columns"):
        return part[KEY_COLUMN].tolist() if KEY_COLUMN in part.columns else part.index.tolist()
    return list(part)


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Sorted indices as (first, last) runs of consecutive values."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(indices) - 1]))
    return [(int(indices[s]), int(indices[e])) for s, e in zip(starts, ends)]


@dataclass(frozen=True, eq=False)
class RowPlan:
    """How to get from the rows of ``old`` to those of ``new`` without a reset: remove these runs
    of old rows, then insert these runs of new rows (indices in ``new``)."""

    old: FrameData
    new: FrameData
    removed: tuple[tuple[int, int], ...]
    added: tuple[tuple[int, int], ...]


def plan_rows(old: FrameData, new: FrameData, max_runs: int = MAX_RUNS) -> RowPlan | None:
    """Worker body (or GUI fallback): a ``RowPlan``, or None when a reset is simpler (other
    columns, another order, or more than ``max_runs`` runs of rows to move)."""
    if old.columns != new.columns or not old.n_rows or not new.n_rows:
        return None
    ok, nk = old.keys, new.keys
    if isinstance(ok, CodeKeys) and isinstance(nk, CodeKeys) and ok.cats is nk.cats:
        # the same categories (one history): compare int codes, numpy releases the GIL
        oc, nc = np.asarray(ok.codes), np.asarray(nk.codes)
        gone, came = ~np.isin(oc, nc), ~np.isin(nc, oc)
        removed, added = _runs(np.flatnonzero(gone)), _runs(np.flatnonzero(came))
        if len(removed) + len(added) > max_runs or not np.array_equal(oc[~gone], nc[~came]):
            return None
        return RowPlan(old, new, tuple(removed), tuple(added))
    old_idx, new_idx = pd.Index(old.keys), pd.Index(new.keys)
    gone = ~old_idx.isin(new_idx)
    came = ~new_idx.isin(old_idx)
    removed, added = _runs(np.flatnonzero(gone)), _runs(np.flatnonzero(came))
    if len(removed) + len(added) > max_runs:
        return None
    if not old_idx[~gone].equals(new_idx[~came]):  # rows kept must keep their order
        return None
    return RowPlan(old, new, tuple(removed), tuple(added))


class _MovingRows:
    """The rows while runs of rows move: old row i (i >= 0) or new row ~i. Qt asks for the count on
    every move but rarely for a row, so the list (a Python int per row: 10+ ms on a 300k-row read
    model, on the GUI thread) is only built when a row is asked for, replaying the moves so far."""

    def __init__(self, n: int) -> None:
        self._base, self._n = n, n
        self._moves: list[tuple[int, int, bool]] = []
        self._rows: list[int] | None = None

    def __len__(self) -> int:
        return self._n

    def remove(self, first: int, last: int) -> None:
        self._n -= last - first + 1
        self._apply(first, last, False)

    def insert(self, first: int, last: int) -> None:
        self._n += last - first + 1
        self._apply(first, last, True)

    def _apply(self, first: int, last: int, insert: bool) -> None:
        rows = self._rows
        if rows is None:
            self._moves.append((first, last, insert))
        elif insert:
            rows[first:first] = [~j for j in range(first, last + 1)]
        else:
            del rows[first:last + 1]

    def __getitem__(self, r: int) -> int:
        if self._rows is None:
            self._rows, moves = list(range(self._base)), self._moves
            self._moves = []
            for first, last, insert in moves:
                self._apply(first, last, insert)
        return self._rows[r]


class FrameModel(QAbstractTableModel):
    """Rows of a ``FrameData``; colours and tooltips from ``Marks``."""

    def __init__(self, parent=None, bold_first: bool = True):
        super().__init__(parent)
        self.bold_first = bold_first  # the first column is the key: bold
        self._data: FrameData = EMPTY
        self._marks = Marks()
        self._bold = QFont()
        self._bold.setBold(True)
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self.resets = 0  # how often a new frame reset the model (tests, diagnostics)
        self._view: _MovingRows | None = None  # while rows move: old row i, or new row ~i
        # change logs (sorted by position): rows [lo, hi) are at the slider's position, rows from
        # hi on after it
        self._split: tuple[int, int] | None = None
        self._pending: FrameData | None = None

    # -- content -------------------------------------------------------------------------------
    @property
    def frame(self) -> FrameData:
        return self._data

    @property
    def marks(self) -> Marks:
        return self._marks

    def set_frame(self, data: FrameData, marks: Marks | None = None, plan: RowPlan | None = None) -> None:
        """Show ``data``. With the same columns and order, rows that disappear or appear are
        removed and inserted as runs (``plan``, computed here unless a worker did it against the
        frame shown now); otherwise the model resets."""
        new_marks = marks or Marks()
        self._split = None
        if plan is None or plan.old is not self._data or plan.new is not data:
            plan = plan_rows(self._data, data)
        if plan is None:
            self.beginResetModel()
            self._data, self._marks = data, new_marks
            self.endResetModel()
            self.resets += 1
            return
        # While rows move the model shows old rows (by index >= 0) and new rows (by ~index), so
        # nothing is copied per run; every cell is refreshed from ``data`` at the end.
        view = _MovingRows(self._data.n_rows)
        self._pending = data
        self._view = view
        try:
            for first, last in reversed(plan.removed):
                self.beginRemoveRows(QModelIndex(), first, last)
                view.remove(first, last)
                self.endRemoveRows()
            for first, last in plan.added:
                self.beginInsertRows(QModelIndex(), first, last)
                view.insert(first, last)
                self.endInsertRows()
        finally:
            self._view = None
            self._pending = None
        self._data, self._marks = data, new_marks
        self._all_changed()

    def set_marks(self, marks: Marks | None) -> None:
        self._marks = marks or Marks()
        self._all_changed()

    def set_split(self, split: tuple[int, int] | None) -> None:
        """Mark rows [lo, hi) "here" and rows from hi on "future" (None: no such marks)."""
        if split != self._split:
            self._split = split
            self._all_changed()

    def _all_changed(self) -> None:
        if self._data.n_rows and self._data.columns:
            self.dataChanged.emit(self.index(0, 0), self.index(self._data.n_rows - 1, len(self._data.columns) - 1))

    # -- lookups -------------------------------------------------------------------------------
    def _n(self) -> int:
        return self._data.n_rows if self._view is None else len(self._view)

    def _ref(self, r: int) -> tuple[FrameData, int]:
        """Where row ``r`` lives: in the frame shown, or (while rows move) the old or new one."""
        if self._view is None:
            return self._data, r
        i = self._view[r]
        return (self._data, i) if i >= 0 else (self._pending, ~i)

    def key_at(self, row: int) -> Any:
        if not 0 <= row < self._n():
            return None
        d, i = self._ref(row)
        return d.keys[i]

    def row_of(self, key: Any) -> int:
        """The key's row, or -1."""
        return self._data.rows.get(key, -1)

    def column_of(self, name: str) -> int:
        try:
            return self._data.columns.index(name)
        except ValueError:
            return -1

    def marked_cells(self) -> set[tuple[Any, str]]:
        """(key, column) of every coloured cell, whole marked rows included."""
        out = {(k, c) for k, cols in self._marks.cells.items() if k in self._data.rows for c in cols}
        for k, kind in self._marks.rows.items():
            if k in self._data.rows and kind in ("added", "removed"):
                out.update((k, c) for c in self._data.columns)
        return out

    # -- Qt model API ---------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._n()

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._data.columns)

    def _mark(self, key: Any, r: int, c: int) -> tuple[str | None, Any]:
        split = self._split
        if split is not None and r >= split[0]:
            return ("here" if r < split[1] else "future"), None
        row_mark = self._marks.rows.get(key)
        if row_mark:
            return row_mark, None
        cells = self._marks.cells.get(key)
        if cells:
            col = self._data.columns[c]
            if col in cells:
                return "changed", cells[col]
        return None, None

    def _cell(self, index: QModelIndex | QPersistentModelIndex) -> tuple[FrameData, int, int, int] | None:
        """(frame, row in it, view row, column) of ``index``, or None outside the table."""
        r, c = index.row(), index.column()
        d = self._data
        if self._view is None:
            return (d, r, r, c) if 0 <= r < d.n_rows and 0 <= c < len(d.columns) else None
        if 0 <= r < len(self._view) and 0 <= c < len(d.columns):
            d, i = self._ref(r)
            return d, i, r, c
        return None

    def _mark_of(self, d: FrameData, i: int, r: int, c: int) -> tuple[str | None, Any]:
        if self._view is not None or (not self._marks.rows and not self._marks.cells and self._split is None):
            return None, None  # nothing marked, or rows are moving (colours follow with dataChanged)
        return self._mark(d.keys[i], r, c)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole) -> Any:
        if role not in _ROLES:
            return None
        cell = self._cell(index)
        if cell is None:
            return None
        d, i, r, c = cell
        mark, other = self._mark_of(d, i, r, c) if role in _MARK_ROLES else (None, None)
        return self._answer(role, d, i, c, mark, other)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, span) -> None:  # noqa: N802 - Qt name
        """Every role a view asks for when it paints a cell, in one call (Qt 6 delegates use this):
        one Python call per cell instead of one per role keeps painting cheap while workers hold
        the GIL."""
        cell = self._cell(index)
        if cell is None:
            for rd in span:
                rd.clearData()
            return
        d, i, r, c = cell
        mark, other = self._mark_of(d, i, r, c)
        for rd in span:
            role = rd.role()
            v = self._answer(role, d, i, c, mark, other) if role in _ROLES else None
            if v is None:
                rd.clearData()
            else:
                rd.setData(v)

    def _answer(self, role: int, d: FrameData, i: int, c: int, mark: str | None, other: Any) -> Any:
        if role == _DISPLAY:
            v = d.data[c][i]
            return v if type(v) is str else display(v)
        if role == _ALIGN:
            return _RIGHT if d.numeric[c] else _LEFT
        if role == KeyRole:
            return d.keys[i]
        if role == MarkRole:
            return mark
        if mark is None:
            return self._bold if role == _FONT and c == 0 and self.bold_first else None
        if mark == "future":  # a change log entry after the slider's position
            return FUTURE if role == _FG else ("after the slider's position" if role == _TIP else None)
        if mark == "here":  # a change log entry at the slider's position
            return CHANGED if role == _BG else INK if role == _FG else (
                "at the slider's position" if role == _TIP else None)
        if role == _BG:
            if mark == "changed":
                return HEAD if self._marks.mode == "head" else CHANGED
            return GONE if mark == "removed" else ADDED
        if role == _FG:
            return INK
        if role == _FONT:
            return self._strike if mark == "removed" else (self._bold if c == 0 and self.bold_first else None)
        return self._tooltip(mark, other, d.data[c][i])

    def _tooltip(self, mark: str, other: Any, value: Any) -> str:
        head = self._marks.mode == "head"
        if mark == "added":
            return "new row since the previous position"
        if mark == "removed":
            return "row deleted by head"
        if head:
            return f"here: {display(value) or '(empty)'}\nat head: {display(other) or '(empty)'}"
        return f"was: {display(other) or '(empty)'}\nnow: {display(value) or '(empty)'}"

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and 0 <= section < len(self._data.columns):
            if role == Qt.DisplayRole:
                return self._data.columns[section]
            return None
        if orientation == Qt.Vertical and 0 <= section < self._n() and role == Qt.DisplayRole:
            return str(section + 1)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else Qt.NoItemFlags


class MarkDelegate(QStyledItemDelegate):
    """Paints a selected cell that carries a mark in its mark's colour with the selection tinted
    over it, so selecting the row that just changed does not hide which cells changed.

    ``follow(table)`` installs it on the table's current row only: every other row keeps Qt's own
    C++ delegate, so painting calls no Python delegate per cell."""

    @classmethod
    def follow(cls, table) -> "MarkDelegate":
        d = cls(table)
        d._table, d._row = table, -1
        table.selectionModel().currentRowChanged.connect(d._place)
        m = table.model()
        for sig in (m.modelReset, m.rowsInserted, m.rowsRemoved, m.layoutChanged):
            sig.connect(d._place)
        return d

    def _place(self, *_args) -> None:
        t = self._table
        cur = t.currentIndex()
        row = cur.row() if cur.isValid() else -1
        if row == self._row:
            return
        if self._row >= 0:
            t.setItemDelegateForRow(self._row, None)
        self._row = row
        if row >= 0:
            t.setItemDelegateForRow(row, self)

    def paint(self, painter, option, index) -> None:
        if not (option.state & QStyle.State_Selected) or index.data(Qt.BackgroundRole) is None:
            super().paint(painter, option, index)
            return
        option.state &= ~QStyle.State_Selected
        super().paint(painter, option, index)
        tint = QColor(option.palette.color(QPalette.Highlight))
        tint.setAlpha(90)
        painter.fillRect(option.rect, tint)
