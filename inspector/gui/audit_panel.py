"""The Audit dock: the command log as an audit table (``core.audit.audit_table``) with filters and
text search, and "Who changed this" for the state panel's selected row or cell
(``core.audit.who_changed``).

Pages of the audit table load on a worker as the view scrolls (``gui.audit_models``). Where the
store keeps no command log a banner says that each correlation's first event stands in.
Double-clicking a row asks the window to filter to its correlation
(``sig_correlation_requested``), or, where the store cannot filter by correlation, to select its
first event (``sig_position_requested``). ``Audit`` wires the dock into the main window."""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from PySide6.QtCore import QModelIndex, QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from inspector.core.audit import SOURCE_FIRST_EVENT, STAND_IN_NOTE, audit_facets
from inspector.core.audit_sources import correlation_usable
from inspector.core.roles import role_of

from .audit_models import AuditModel, RowsModel, WHO_COLUMNS, load_who
from .panels import add_bottom_dock
from .tables import style_table
from .workers import Cancelled, TaskRunner, describe


def _parse_time(text: str) -> dt.datetime | None:
    s = text.strip()
    if not s:
        return None
    t = dt.datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    return t.astimezone() if t.tzinfo is None else t  # typed in local time, like the table shows


class AuditPanel(QWidget):
    """Two tabs: the audit table with its filters, and who changed the selected row or cell."""

    sig_correlation_requested = Signal(str)
    sig_position_requested = Signal(int)
    sig_error = Signal(str)
    sig_who_loaded = Signal()

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("auditPanel")
        self.runner = runner or TaskRunner(self)
        self.store = None
        self._who_token = 0
        self._who_task = None
        self.who_subject: tuple[Any, str | None] | None = None

        self.actor_combo = self._combo("auditActor", "actor (any)")
        self.command_combo = self._combo("auditCommand", "command (any)")
        self.since_edit = self._edit("auditSince", "since (local time)", 130)
        self.until_edit = self._edit("auditUntil", "until (local time)", 130)
        self.text_edit = self._edit("auditText", "search type, actor, reason, payload…", 200)
        self.apply_button = QPushButton("Search", self)
        self.apply_button.setObjectName("auditApply")
        self.apply_button.clicked.connect(self.apply)
        self.banner = QLabel(self)
        self.banner.setObjectName("auditBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fff4ce; color: #3d3000; padding: 4px 6px; "
                                  "border: 1px solid #e6c65c; border-radius: 3px; }")
        self.banner.hide()
        self.status = QLabel(self)
        self.status.setObjectName("auditStatus")
        self.status.setForegroundRole(QPalette.PlaceholderText)
        self.model = AuditModel(self.runner, self)
        self.model.sig_page.connect(self._page_arrived)
        self.model.sig_error.connect(self._failed)
        stamp = self.fontMetrics().horizontalAdvance("2026-10-28 09:12:03.910") + 18
        self.table = self._table("auditTable", self.model, (stamp, 130, 130, 60, 240, 100, 260))
        self.table.doubleClicked.connect(self._activated)
        self.table.setToolTip("double-click a row to show its correlation in the event table and timeline")

        # two rows: in one the filters made the dock (tabbed with Lineage) so wide at its minimum
        # that the State panel beside it lost a third of its width
        filters = QVBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.setSpacing(4)
        first, second = QHBoxLayout(), QHBoxLayout()
        for w in (self.actor_combo, self.command_combo, self.since_edit, self.until_edit):
            first.addWidget(w)
        second.addWidget(self.text_edit, 1)
        second.addWidget(self.apply_button)
        filters.addLayout(first)
        filters.addLayout(second)
        commands = QWidget(self)
        lay = QVBoxLayout(commands)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(filters)
        lay.addWidget(self.banner)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)

        self.who_title = QLabel("Select a row (or cell) in the State panel and choose “Who changed this…” from its "
                                "context menu", self)
        self.who_title.setObjectName("whoTitle")
        self.who_title.setWordWrap(True)
        self.who_note = QLabel(self)
        self.who_note.setObjectName("whoNote")
        self.who_note.setWordWrap(True)
        self.who_note.setForegroundRole(QPalette.PlaceholderText)
        self.who_note.hide()
        self.who_model = RowsModel(WHO_COLUMNS, numeric=(0,), parent=self)
        self.who_table = self._table("whoTable", self.who_model, (60, stamp, 90, 80, 80, 130, 120, 100, 260))
        self.who_table.doubleClicked.connect(self._who_activated)
        self.who_table.setToolTip("double-click a change to select its event")
        who = QWidget(self)
        wl = QVBoxLayout(who)
        wl.setContentsMargins(0, 4, 0, 0)
        wl.setSpacing(4)
        wl.addWidget(self.who_title)
        wl.addWidget(self.who_table, 1)
        wl.addWidget(self.who_note)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("auditTabs")
        self.tabs.addTab(commands, "Commands")
        self.tabs.addTab(who, "Who changed this")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.tabs)

    # -- construction -------------------------------------------------------------------------------
    def _combo(self, name: str, placeholder: str) -> QComboBox:
        c = QComboBox(self)
        c.setObjectName(name)
        c.setEditable(True)
        c.setInsertPolicy(QComboBox.NoInsert)
        c.lineEdit().setPlaceholderText(placeholder)
        c.lineEdit().returnPressed.connect(self.apply)
        c.activated.connect(lambda _i: self.apply())
        c.setMinimumContentsLength(14)
        c.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        return c

    def _edit(self, name: str, placeholder: str, width: int) -> QLineEdit:
        e = QLineEdit(self)
        e.setObjectName(name)
        e.setPlaceholderText(placeholder)
        e.setClearButtonEnabled(True)
        e.setMinimumWidth(width)
        e.returnPressed.connect(self.apply)
        return e

    def _table(self, name: str, model, widths: Sequence[int]) -> QTableView:
        t = QTableView(self)
        t.setObjectName(name)
        t.setModel(model)
        style_table(t)
        for i, w in enumerate(widths):
            t.horizontalHeader().resizeSection(i, w)
        t.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        return t

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(900, 260)

    # -- store and filters ----------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self._who_token += 1
        self.who_subject = None
        self.who_model.set_rows([], [])
        self.who_note.hide()
        for c in (self.actor_combo, self.command_combo):
            c.clear()
            c.addItem("")
        searchable = store is None or role_of(store).sees_personal_data
        if not searchable:
            self.text_edit.clear()
        self.text_edit.setEnabled(searchable)
        self.text_edit.setPlaceholderText("search type, actor, reason, payload…" if searchable
                                          else "no text search for viewers")
        self.banner.hide()
        self.status.setText("")
        self.model.load(store, self.filters() if store is not None else {})
        if store is not None:
            self.runner.submit(audit_facets, store, label="reading actors and commands", owner=self,
                               on_finished=lambda f, s=store: self._facets(s, f), on_error=lambda _e: None)

    def _facets(self, store, facets: dict) -> None:
        if store is not self.store:
            return
        for combo, values in ((self.actor_combo, facets["actors"]), (self.command_combo, facets["commands"])):
            text = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([""] + list(values))
            combo.setEditText(text)
            combo.blockSignals(False)

    def filters(self) -> dict[str, Any]:
        """The filters as typed (raises ValueError for a time that is no ISO date-time)."""
        return {"actor": self.actor_combo.currentText().strip() or None,
                "command": self.command_combo.currentText().strip() or None,
                "since": _parse_time(self.since_edit.text()), "until": _parse_time(self.until_edit.text()),
                "text": self.text_edit.text().strip() or None}

    def set_filters(self, **kw: Any) -> None:
        """Set some filters (actor, command, since, until, text as text) and search."""
        widgets = {"actor": self.actor_combo, "command": self.command_combo, "since": self.since_edit,
                   "until": self.until_edit, "text": self.text_edit}
        for k, v in kw.items():
            w = widgets[k]
            (w.setEditText if isinstance(w, QComboBox) else w.setText)("" if v is None else str(v))
        self.apply()

    def apply(self) -> None:
        if self.store is None:
            return
        try:
            flt = self.filters()
        except ValueError as e:
            self.status.setText(f"⚠ not a date-time: {e}")
            return
        self.status.setText("reading…")
        self.model.load(self.store, flt)

    def is_loading(self) -> bool:
        return self.model.is_loading() or self._who_task is not None

    # -- results ----------------------------------------------------------------------------------------
    def _page_arrived(self, page) -> None:
        self.banner.setVisible(bool(page.explanation))
        self.banner.setText(f"⚠ {page.explanation}" if page.explanation else "")
        n = self.model.rowCount()
        more = " · scroll for more" if page.has_more else ""
        self.status.setText(f"{n:,} rows{more}" if n else "No commands match these filters.")

    def _failed(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")
        self.sig_error.emit(message)

    def _activated(self, index: QModelIndex) -> None:
        e = self.model.items[index.row()] if index.isValid() else None
        if e is None:
            return
        if e.correlation_id and self.store is not None and correlation_usable(self.store) is None:
            self.sig_correlation_requested.emit(e.correlation_id)
        elif e.position is not None:
            self.sig_position_requested.emit(int(e.position))

    # -- who changed this ---------------------------------------------------------------------------------
    def show_who(self, store, history, key, field: str | None = None, projection: str = "") -> None:
        """Who changed ``key`` (or its ``field``) in ``history``: read on a worker, shown in the second tab."""
        self.tabs.setCurrentIndex(1)
        if store is None or history is None:
            self.who_title.setText("Choose a projection in the State panel first.")
            return
        self._who_token += 1
        token = self._who_token
        if self._who_task is not None:
            self._who_task.cancel()
        self.who_subject = (key, field)
        what = f"{key}" + (f" · {field}" if field else "")
        self._who_label = f"{projection + ': ' if projection else ''}{what}"
        self.who_title.setText(f"Who changed {self._who_label}: reading…")
        self._who_task = self.runner.submit(load_who, store, history, key, field, label="who changed this",
                                            owner=self, on_finished=lambda r: self._who_arrived(token, r),
                                            on_error=lambda e: self._who_failed(token, e))

    def _who_arrived(self, token: int, result) -> None:
        if token != self._who_token:
            return
        self._who_task = None
        rows, cells = result
        self.who_model.set_rows(rows, cells)
        people = sorted({r["actor"] for r in rows if r["actor"]})
        self.who_title.setText(f"Who changed {self._who_label}: {len(rows):,} change(s) by "
                               f"{', '.join(people[:4]) or 'unknown'}{' …' if len(people) > 4 else ''}"
                               if rows else f"No changes to {self._who_label}.")
        stand_in = any(r["source"] == SOURCE_FIRST_EVENT for r in rows)
        self.who_note.setText(STAND_IN_NOTE if stand_in else "")
        self.who_note.setVisible(stand_in)
        self.sig_who_loaded.emit()

    def _who_failed(self, token: int, exc: BaseException) -> None:
        if token != self._who_token:
            return
        self._who_task = None
        if not isinstance(exc, Cancelled):
            self.who_title.setText(f"⚠ who changed {self._who_label}: {describe(exc)}")
            self.sig_error.emit(describe(exc))

    def _who_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_position_requested.emit(int(self.who_model.items[index.row()]["position"]))


class Audit(QObject):
    """The Audit dock in the main window (``window``): tabbed with the Lineage dock, told when the
    store changes, and reached from the State panel's table through its context-menu entry
    "Who changed this…" (added here: the state panel itself is not changed). While the "Who
    changed this" tab is shown it follows the state panel's selected row."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.panel = AuditPanel(window.runner, window)
        self.dock = add_bottom_dock(window, self.panel, "Audit", "auditDock", window.lineage_dock)
        window.sig_store_changed.connect(lambda opened: self.panel.set_store(opened.store if opened else None))
        self.panel.sig_correlation_requested.connect(window.show_correlation)
        self.panel.sig_position_requested.connect(window.select_position)
        self.panel.sig_error.connect(lambda m: window.statusBar().showMessage(f"audit: {m}", 15000))
        sp = window.state_panel
        self.who_action = QAction("Who changed this…", sp.table)
        self.who_action.setObjectName("whoChangedAction")
        self.who_action.setToolTip("every change of the selected row (or cell) with actor, time, command and reason")
        self.who_action.triggered.connect(self.who_from_state)
        sp.table.setContextMenuPolicy(Qt.ActionsContextMenu)
        sp.table.addAction(self.who_action)
        sp.sig_changes_shown.connect(self._follow)

    def _selection(self) -> tuple[Any, str | None] | None:
        sp = self.w.state_panel
        idx = sp.table.currentIndex()
        if not idx.isValid():
            return None
        key = sp.model.key_at(idx.row())
        columns = sp.model.frame.columns
        name = columns[idx.column()] if idx.column() < len(columns) else None
        return key, (None if idx.column() == 0 or name == "key" else name)

    def who_from_state(self) -> None:
        """Who changed the state panel's selected row (or, for a cell other than the key, its field)."""
        sp = self.w.state_panel
        sel = self._selection()
        if sel is None or sp.history is None:
            self.w.statusBar().showMessage("select a row of a projection in the State panel first", 8000)
            return
        self.dock.show()
        self.dock.raise_()
        p = sp.projection()
        self.panel.show_who(sp.store, sp.history, sel[0], sel[1], p.name if p else "")

    def _follow(self, key) -> None:
        if self.dock.isVisible() and self.panel.tabs.currentIndex() == 1 and self.panel.who_subject is not None:
            sel = self._selection()
            if sel is not None and sel[0] == key and sel != self.panel.who_subject:
                sp = self.w.state_panel
                p = sp.projection()
                self.panel.show_who(sp.store, sp.history, sel[0], sel[1], p.name if p else "")
