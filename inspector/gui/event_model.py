"""The event table: a Qt model over keyset pages of ``EventStore.read_page``.

Shaped like DB Browser for SQLite's table model: rows arrive a page at a time from a background
worker; ``fetchMore`` appends a page of placeholder rows at once (the view stays responsive and
shows "loading…") and the page fills them when it arrives; sorting rewrites the SQL ORDER BY
(keyset on the sort value and position), never a proxy model over what happens to be loaded.
Every request is tagged with the model's generation, so pages for an old filter or sort are
dropped when they arrive late."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase

from inspector.core.errors import UnsupportedFilter
from inspector.core.model import EventFilter, RecordedEvent
from inspector.core.store import EventStore

from .workers import Cancelled, TaskRunner, describe

EventRole = Qt.UserRole + 1
PAGE_SIZE = 200
PREVIEW_CHARS = 200

#: (key, header, sort key for read_page or None when the column cannot be sorted in SQL)
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("position", "#", "position"),
    ("time", "Time", "recorded_at"),
    ("stream", "Stream", "stream"),
    ("version", "Ver", "version"),
    ("type", "Type", "type"),
    ("actor", "Actor", "actor"),
    ("correlation", "Correlation", "correlation_id"),
    ("payload", "Payload", None),
)
COLUMN_INDEX = {key: i for i, (key, _h, _s) in enumerate(COLUMNS)}
PAYLOAD_COLUMN = COLUMN_INDEX["payload"]
LOADING = "loading…"
_STARTING = object()  # stands for the page task while its placeholders are being inserted
_RIGHT = Qt.AlignRight | Qt.AlignVCenter
_LEFT = Qt.AlignLeft | Qt.AlignVCenter


def local_time(t: dt.datetime | None) -> str:
    """An aware time shown in the local zone, ISO order, to the millisecond."""
    if t is None:
        return ""
    return t.astimezone().isoformat(sep=" ", timespec="milliseconds")[:23]


def short_id(value: str | None, keep: int = 8) -> str:
    """Long ids (UUIDs, hashes) cut like git's short hashes; the full id is in the tooltip."""
    if not value:
        return ""
    return value if len(value) <= keep + 4 else value[:keep] + "…"


def payload_preview(event: RecordedEvent, limit: int = PREVIEW_CHARS) -> str:
    """Compact one-line JSON of the payload, or the decode error behind a warning sign."""
    if event.decode_error:
        return f"⚠ {event.decode_error}"[:limit]
    data = event.data
    if data is None:
        return ""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(data)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Row:
    """A loaded row: the event and its display strings, computed once on the worker thread."""

    event: RecordedEvent
    cells: tuple[str, ...]

    @classmethod
    def of(cls, e: RecordedEvent) -> "Row":
        return cls(
            e,
            (
                str(e.position),
                local_time(e.recorded_at),
                e.stream or "",
                "" if e.version is None else str(e.version),
                e.type or "",
                e.actor or "",
                short_id(e.correlation_id),
                payload_preview(e),
            ),
        )


def load_page(store: EventStore, flt: EventFilter, cursor, sort: str, descending: bool, limit: int):
    """Worker body: one keyset page and its display rows."""
    page = store.read_page(flt, limit=limit, cursor=cursor, sort=sort, descending=descending)
    return page, [Row.of(e) for e in page.events]


class EventTableModel(QAbstractTableModel):
    """Rows are kept as a list of pages of ``PAGE_SIZE`` rows (only the last may be short), each
    row a ``Row`` or ``None`` (a placeholder while its page loads): ``rowCount`` and ``data`` are
    O(1) whatever has been loaded. One page request is in flight at a time, because the next
    keyset cursor is the last key of the page before it."""

    sig_count_changed = Signal(object)  # int, or None while counting
    sig_loading_changed = Signal(bool)
    sig_page_loaded = Signal(int, int)  # first row, rows
    sig_error = Signal(str)

    def __init__(self, runner: TaskRunner | None = None, parent=None, page_size: int = PAGE_SIZE):
        super().__init__(parent)
        self._runner = runner or TaskRunner(self)
        self.page_size = page_size
        self._store: EventStore | None = None
        self._filter = EventFilter()
        self._sort = "position"
        self._descending = False
        self._pages: list[list[Row | None]] = []
        self._rows = 0
        self._cursor = None
        self._has_more = False
        self._paused = False  # a cancelled or failed page: wait for reload instead of refetching
        self._pending = None  # the task loading the next page
        self._count_task = None
        self._total: int | None = None
        self._generation = 0
        fixed = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self._mono = QFont(fixed)
        self._grey = QColor("#9aa3ad")
        self._red = QColor("#c62828")

    # -- configuration -----------------------------------------------------------------------
    @property
    def store(self) -> EventStore | None:
        return self._store

    @property
    def filter(self) -> EventFilter:
        return self._filter

    @property
    def sort_key(self) -> str:
        return self._sort

    @property
    def descending(self) -> bool:
        return self._descending

    @property
    def total(self) -> int | None:
        """Rows matching the filter (from ``store.count``), None until counted."""
        return self._total

    def set_store(self, store: EventStore | None) -> None:
        self._store = store
        self._sort, self._descending = "position", False
        self._filter = EventFilter()
        self.reload()

    def set_filter(self, flt: EventFilter) -> None:
        self._filter = flt
        self.reload()

    def set_sort(self, key: str, descending: bool = False) -> None:
        self._sort, self._descending = key, descending
        self.reload()

    def reload(self) -> None:
        """Drop every row and start over: a new generation, a count, and the first page."""
        self._generation += 1
        for task in (self._pending, self._count_task):
            if task is not None and task is not _STARTING:
                task.cancel()
        self._pending = self._count_task = None
        self.beginResetModel()
        self._pages, self._rows = [], 0
        self._cursor, self._has_more, self._paused = None, self._store is not None, False
        self.endResetModel()
        self._set_total(None)
        if self._store is None:
            self.sig_loading_changed.emit(False)
            return
        self.recount()
        self.fetchMore(QModelIndex())

    def recount(self, runner: TaskRunner | None = None) -> None:
        """Count the rows matching the filter again (on ``runner``, else the model's): ``total``
        keeps its value until the count arrives."""
        if self._store is None:
            return
        gen = self._generation
        self._count_task = (runner or self._runner).submit(
            self._store.count, self._filter, label="counting events", owner=self,
            on_finished=lambda n: self._count_arrived(gen, n), on_error=lambda e: self._count_failed(gen, e),
        )

    def is_loading(self) -> bool:
        return self._pending is not None

    def is_counting(self) -> bool:
        return self._count_task is not None

    def is_paused(self) -> bool:
        """A page was cancelled or failed: nothing more is read until ``reload``."""
        return self._paused

    # -- Qt model API -----------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def _row(self, r: int) -> Row | None:
        return self._pages[r // self.page_size][r % self.page_size]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if r < 0 or r >= self._rows or c < 0 or c >= len(COLUMNS):
            return None
        row = self._row(r)
        if row is None:
            if role == Qt.DisplayRole:
                return LOADING if c == 0 else ""
            if role == Qt.ForegroundRole:
                return self._grey
            return None
        if role == Qt.DisplayRole:
            return row.cells[c]
        if role == EventRole:
            return row.event
        if role == Qt.ForegroundRole:
            if c == PAYLOAD_COLUMN and row.event.decode_error:
                return self._red
            return None
        if role == Qt.FontRole:
            return self._mono if c == PAYLOAD_COLUMN else None
        if role == Qt.TextAlignmentRole:
            return int(_RIGHT if c in (0, 3) else _LEFT)
        if role == Qt.ToolTipRole:
            return self._tooltip(row, c)
        return None

    def _tooltip(self, row: Row, c: int) -> str | None:
        e = row.event
        if c == COLUMN_INDEX["time"] and e.recorded_at:
            return f"{e.recorded_at.astimezone(dt.timezone.utc).isoformat()} (UTC)"
        if c == PAYLOAD_COLUMN:
            return e.decode_error or (row.cells[c] if len(row.cells[c]) > 80 else None)
        if c == COLUMN_INDEX["correlation"]:
            return e.correlation_id
        return row.cells[c] or None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if orientation != Qt.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ToolTipRole:
            key, _h, sort = COLUMNS[section]
            if key == "position":
                return "position: the store's global order"
            if key == "time":
                return "recorded time, in this computer's time zone (hover a cell for UTC)"
            return None if sort else "not sortable: payloads are not ordered by the database"
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.NoItemFlags
        if self._row(index.row()) is None:
            return Qt.ItemIsEnabled
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return (
            not parent.isValid()
            and self._store is not None
            and self._has_more
            and self._pending is None
            and not self._paused
        )

    def fetchMore(self, parent=QModelIndex()) -> None:
        if not self.canFetchMore(parent):
            return
        expect = self.page_size
        if self._total is not None:
            expect = max(1, min(expect, self._total - self._rows))
        first = self._rows
        gen = self._generation
        self._pending = _STARTING  # a view may ask canFetchMore() from inside the insert signals
        self.beginInsertRows(QModelIndex(), first, first + expect - 1)
        self._pages.append([None] * expect)
        self._rows += expect
        self.endInsertRows()
        if gen != self._generation:
            return  # something reloaded the model from inside those signals
        self._pending = self._runner.submit(
            load_page, self._store, self._filter, self._cursor, self._sort, self._descending, self.page_size,
            label="loading events", owner=self,
            on_finished=lambda res: self._page_arrived(gen, first, res),
            on_error=lambda e: self._page_failed(gen, first, e),
        )
        self.sig_loading_changed.emit(True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        """Re-query in the database's order for the column (keyset on value, position)."""
        if not 0 <= column < len(COLUMNS):
            return
        key = COLUMNS[column][2]
        descending = order == Qt.DescendingOrder
        if key is None:
            self.sig_error.emit(f"cannot sort by {COLUMNS[column][1].lower()}: the database does not order payloads")
            return
        if (key, descending) == (self._sort, self._descending):
            return
        self.set_sort(key, descending)

    def sort_column(self) -> int:
        return next((i for i, c in enumerate(COLUMNS) if c[2] == self._sort), 0)

    # -- results (GUI thread) ---------------------------------------------------------------
    def _page_arrived(self, gen: int, first: int, result) -> None:
        if gen != self._generation:
            return  # a page for an earlier filter or sort
        page, rows = result
        # Views and testers may call fetchMore from inside the signals below: until the cursor is
        # updated, ``_pending`` stays set so canFetchMore() says no.
        placeholders = len(self._pages[-1])
        n = len(rows)
        if n < placeholders:
            self.beginRemoveRows(QModelIndex(), first + n, first + placeholders - 1)
            del self._pages[-1][n:]
            self._rows -= placeholders - n
            if not self._pages[-1]:
                self._pages.pop()
            self.endRemoveRows()
        elif n > placeholders:  # the count was stale (events appended since)
            self.beginInsertRows(QModelIndex(), first + placeholders, first + n - 1)
            self._pages[-1].extend([None] * (n - placeholders))
            self._rows += n - placeholders
            self.endInsertRows()
        if n:
            self._pages[-1][:] = rows
        self._cursor = page.last_key if page.events else self._cursor
        self._has_more = page.has_more
        self._pending = None
        if not page.has_more and self._total is None:
            self._set_total(self._rows)
        if n:
            self.dataChanged.emit(self.index(first, 0), self.index(first + n - 1, len(COLUMNS) - 1))
        self.sig_page_loaded.emit(first, n)
        self.sig_loading_changed.emit(False)

    def _page_failed(self, gen: int, first: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._paused = True  # before the signals below, so nothing refetches from inside them
        placeholders = len(self._pages[-1]) if self._pages else 0
        if placeholders:
            self.beginRemoveRows(QModelIndex(), first, first + placeholders - 1)
            self._pages.pop()
            self._rows -= placeholders
            self.endRemoveRows()
        self._pending = None
        self.sig_loading_changed.emit(False)
        if isinstance(exc, Cancelled):
            self.sig_error.emit("loading cancelled: reload (F5) to continue")
        else:
            self.sig_error.emit(describe(exc))

    def _count_arrived(self, gen: int, n: int) -> None:
        if gen != self._generation:
            return
        self._count_task = None
        self._set_total(int(n))

    def _count_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._count_task = None
        if not isinstance(exc, (Cancelled, UnsupportedFilter)):  # the page reports filter errors
            self.sig_error.emit(f"counting failed: {describe(exc)}")
        self.sig_count_changed.emit(self._total)

    def _set_total(self, n: int | None) -> None:
        self._total = n
        self.sig_count_changed.emit(n)

    # -- new events at the end (``gui.live``) ---------------------------------------------------
    def tail_cursor(self):
        """The keyset cursor after the last row read (None before the first page)."""
        return self._cursor

    def read_new(self, runner: TaskRunner | None = None) -> None:
        """Read the rows after ``tail_cursor()`` (on ``runner``, else the model's) and
        append them, for a table sorted by position ascending that has read to its end:
        as many as the short last page has room for, or a page. The read is the page in flight
        (``is_loading``); a reload meanwhile drops it."""
        room = self.page_size - len(self._pages[-1]) if self._pages else 0
        gen = self._generation
        self._pending = (runner or self._runner).submit(
            load_page, self._store, self._filter, self._cursor, "position", False, room or self.page_size,
            label="loading new events", owner=self,
            on_finished=lambda res: self._new_arrived(gen, runner, res), on_error=lambda e: self._new_failed(gen, e))
        self.sig_loading_changed.emit(True)

    def _new_arrived(self, gen: int, runner: TaskRunner | None, result) -> None:
        """Append the rows ``read_new`` read (no more than fit the short last page, or a page): the
        total is then the row count, or while more are to come the rows are counted again."""
        if gen != self._generation:
            return  # reloaded meanwhile
        page, rows = result
        self._pending = None
        first, n = self._rows, len(rows)
        if n:
            self.beginInsertRows(QModelIndex(), first, first + n - 1)
            if self._pages and len(self._pages[-1]) < self.page_size:
                self._pages[-1].extend(rows)  # read no more than fits: the page stays within page_size
            else:
                self._pages.append(list(rows))
            self._rows += n
            self._cursor = page.last_key
            self.endInsertRows()
        self._has_more = page.has_more
        if page.has_more:
            self.recount(runner)
        else:
            self._set_total(self._rows)  # every row is read: that is the count
        self.sig_page_loaded.emit(first, n)
        self.sig_loading_changed.emit(False)

    def _new_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._pending = None
        self.sig_loading_changed.emit(False)
        if not isinstance(exc, Cancelled):
            self.sig_error.emit(f"reading new events failed: {describe(exc)}")

    # -- helpers for views ------------------------------------------------------------------
    def event_at(self, row: int) -> RecordedEvent | None:
        if 0 <= row < self._rows:
            r = self._row(row)
            return r.event if r else None
        return None

    def loaded_rows(self) -> int:
        """Rows filled with events (placeholders excluded)."""
        return self._rows - (len(self._pages[-1]) if self._pending is not None and self._pages else 0)
