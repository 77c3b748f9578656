"""The Audit dock's models and worker bodies: each row's display text is made on a worker
(``audit_cells``, ``load_who``), so the models' ``data`` is a tuple lookup; ``AuditModel`` appends
keyset pages of ``core.audit.audit_table`` as the view asks for more, dropping pages for old
filters by generation."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QModelIndex, Qt, Signal

from inspector.core.audit import SOURCE_FIRST_EVENT, audit_table, who_changed

from .event_model import local_time
from .frame_model import display
from .preview_views import _Table
from .workers import Cancelled, TaskRunner, describe

PAGE_SIZE = 200
AUDIT_COLUMNS = ("Time", "Actor", "Command", "Events", "Streams", "Source", "Reason")
WHO_COLUMNS = ("#", "Time", "Field", "Old", "New", "Actor", "Command", "Source", "Reason")
_SOURCE_SHORT = {"command log": "command log", SOURCE_FIRST_EVENT: "first event", "inspector_audit": "inspector"}
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)
_LEFT = int(Qt.AlignLeft | Qt.AlignVCenter)


def _streams(e) -> str:
    total = e.streams_total if e.streams_total is not None else len(e.streams)
    text = ", ".join(e.streams[:5])
    return text + (f" (+{total - min(5, len(e.streams))})" if total > min(5, len(e.streams)) else "")


def audit_cells(entries: Sequence) -> list[tuple[tuple[str, ...], str]]:
    """Worker body: each entry's display texts and tooltip."""
    out = []
    for e in entries:
        cells = (local_time(e.time), e.actor or "", e.command or "", "" if e.events is None else f"{e.events:,}",
                 _streams(e), _SOURCE_SHORT.get(e.source, e.source), e.reason or "")
        tip = "\n".join(x for x in (f"command id: {e.command_id}" if e.command_id else "",
                                    f"correlation: {e.correlation_id}" if e.correlation_id else "",
                                    "streams: " + ", ".join(e.streams) if e.streams else "",
                                    f"reason: {e.reason}" if e.reason else "", f"source: {e.source}") if x)
        out.append((cells, tip))
    return out


def load_page(store, filters: dict, cursor, limit: int = PAGE_SIZE):
    """Worker body: one page of the audit table and its display texts."""
    page = audit_table(store, cursor=cursor, limit=limit, **filters)
    return page, audit_cells(page.entries)


def load_who(store, history, key, field):
    """Worker body: who changed ``key`` (or its ``field``), with display texts."""
    rows = who_changed(store, history, key, field)
    cells = []
    for r in rows:
        cmd = r["command"] or ""
        tip = "\n".join(x for x in (f"event: {r['event_type']} by {r['event_actor']}" if r["event_type"] else "",
                                    f"command id: {r['command_id']}" if r["command_id"] else "",
                                    f"correlation: {r['correlation_id']}" if r["correlation_id"] else "",
                                    f"reason: {r['reason']}" if r["reason"] else "") if x)
        cells.append(((str(r["position"]), local_time(r["time"]), r["field"] or "", display(r["old"]),
                       display(r["new"]), r["actor"] or "", cmd, _SOURCE_SHORT.get(r["source"], r["source"] or ""),
                       r["reason"] or ""), tip))
    return rows, cells


class RowsModel(_Table):
    """Read-only rows whose display texts were made on a worker: ``data`` is a tuple lookup."""

    def __init__(self, headers: Sequence[str], numeric: Sequence[int] = (), parent=None):
        super().__init__(parent)
        self.columns = tuple(headers)
        self.numeric = frozenset(numeric)
        self.items: list[Any] = []
        self._cells: list[tuple[tuple[str, ...], str]] = []

    def set_rows(self, items: Sequence[Any], cells: Sequence[tuple[tuple[str, ...], str]]) -> None:
        self.beginResetModel()
        self.items, self._cells = list(items), list(cells)
        self.endResetModel()

    def append_rows(self, items: Sequence[Any], cells: Sequence[tuple[tuple[str, ...], str]]) -> None:
        if not items:
            return
        n = len(self.items)
        self.beginInsertRows(QModelIndex(), n, n + len(items) - 1)
        self.items += items
        self._cells += cells
        self.endInsertRows()

    @property
    def rows(self) -> list[Any]:  # what ``_Table`` counts
        return self.items

    def data(self, index, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.DisplayRole:
            return self._cells[index.row()][0][index.column()]
        if role == Qt.ToolTipRole:
            cells, tip = self._cells[index.row()]
            return f"{cells[index.column()]}\n\n{tip}" if tip else cells[index.column()]
        if role == Qt.TextAlignmentRole:
            return _RIGHT if index.column() in self.numeric else _LEFT
        if role == Qt.UserRole:
            return self.items[index.row()]
        return None


class AuditModel(RowsModel):
    """The audit table: keyset pages appended as the view asks for more (``fetchMore``)."""

    sig_page = Signal(object)  # the AuditPage that arrived
    sig_error = Signal(str)

    def __init__(self, runner: TaskRunner, parent=None):
        super().__init__(AUDIT_COLUMNS, numeric=(3,), parent=parent)
        self.runner = runner
        self.store = None
        self.filters: dict[str, Any] = {}
        self.cursor = None
        self.page = None  # the last page that arrived
        self._gen = 0
        self._task = None

    def load(self, store, filters: dict[str, Any]) -> None:
        """Start again from the first page of ``store`` with ``filters``."""
        self._gen += 1
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.store, self.filters, self.cursor, self.page = store, dict(filters), None, None
        self.set_rows([], [])
        if store is not None:
            self._request()

    def is_loading(self) -> bool:
        return self._task is not None

    def _request(self) -> None:
        gen = self._gen
        self._task = self.runner.submit(load_page, self.store, self.filters, self.cursor, label="reading the audit "
                                        "table", owner=self, on_finished=lambda r: self._arrived(gen, r),
                                        on_error=lambda e: self._failed(gen, e))

    def _arrived(self, gen: int, result) -> None:
        if gen != self._gen:
            return
        self._task = None
        page, cells = result
        self.page, self.cursor = page, page.cursor
        self.append_rows(list(page.entries), cells)
        self.sig_page.emit(page)

    def _failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self._task = None
        self.cursor = None
        if not isinstance(exc, Cancelled):
            self.sig_error.emit(describe(exc))

    def canFetchMore(self, parent=QModelIndex()) -> bool:  # noqa: N802 - Qt name
        return not parent.isValid() and self.cursor is not None and self._task is None

    def fetchMore(self, parent=QModelIndex()) -> None:  # noqa: N802 - Qt name
        if self.canFetchMore(parent):
            self._request()
