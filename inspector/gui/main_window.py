"""The main window: filter bar on top, the timeline below it, and streams | events | detail in the
middle; a status bar with the layout, counts, running work and a cancel button.

All database work goes through one ``TaskRunner`` per window, so closing the window can cancel
and wait for exactly its own work. The timeline is built separately; the window works without it.
Checkpoints and rollback previews (the Checkpoints dock, flags, context menus, the Rollback menu)
are wired in by ``rollback.Rollback``."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QDockWidget,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTableView,
    QToolBar,
    QToolButton,
    QWidget,
)

from inspector.core.model import EventFilter
from inspector.core.roles import role_of

from .tables import style_table
from .detail import DetailPanel
from .event_model import COLUMN_INDEX, COLUMNS, EventRole, EventTableModel
from .filter_bar import FilterBar
from .role_badge import RoleBadge, title_suffix
from .streams import StreamsPanel
from .workers import TaskRunner

from .timeline import TimelineWidget

#: Sample text that sizes each column at start (the payload column takes the rest; longer
#: values are elided, with the full text in the tooltip).
COLUMN_SAMPLES = {"position": "000000", "time": "2026-10-02 00:00:00.000", "stream": "product-KIT0001",
                  "version": "00", "type": "PaymentCaptured", "actor": "user:carol", "correlation": "11e20b8f…"}


class EventTable(QTableView):
    """The events view: says so when nothing matches instead of showing an empty grid."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.empty_text = ""

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().paintEvent(event)
        model = self.model()
        if self.empty_text and model is not None and model.rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(QPalette.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(20, 20, -20, -20), Qt.AlignHCenter | Qt.AlignTop | Qt.TextWordWrap,
                       self.empty_text)
            p.end()


class MainWindow(QMainWindow):
    sig_store_changed = Signal(object)  # OpenedStore

    def __init__(self, opened, plugin_manager=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.plugin_manager = plugin_manager
        self.opened = None
        self._store_total: int | None = None
        self.runner = TaskRunner(self)
        self.resize(1400, 850)

        self.model = EventTableModel(self.runner, self)
        self.filter_bar = FilterBar(self.runner, self)
        self.streams_panel = StreamsPanel(self.runner, self)
        self.detail = DetailPanel(self)
        self.table = self._make_table()

        self.splitter = QSplitter(Qt.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.streams_panel)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([215, 865, 320])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.filter_toolbar = QToolBar("Filter", self)
        self.filter_toolbar.setObjectName("filterToolbar")
        self.filter_toolbar.setMovable(False)
        self.filter_toolbar.setFloatable(False)
        self.filter_toolbar.addWidget(self.filter_bar)
        self.addToolBar(Qt.TopToolBarArea, self.filter_toolbar)

        self._make_timeline()
        self._make_temporal()
        self._make_rollback()
        self._make_integrity()
        self._make_audit()
        self._make_investigations()
        self._make_status_bar()
        self._make_live()
        self._make_menus()
        self._connect()
        self.set_opened(opened)
        if plugin_manager is not None:
            from .plugins_dialog import disabled_summary

            notice = disabled_summary(plugin_manager)
            if notice:
                self.statusBar().showMessage(notice, 60000)

    # -- construction -------------------------------------------------------------------------
    def _make_table(self) -> EventTable:
        t = EventTable(self)
        t.setObjectName("eventTable")
        t.setModel(self.model)
        style_table(t, row_pad=10, smooth_rows=True)
        h = t.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.Interactive)
        fm, hfm = t.fontMetrics(), h.fontMetrics()
        for key, sample in COLUMN_SAMPLES.items():
            col = COLUMN_INDEX[key]
            title = str(self.model.headerData(col, Qt.Horizontal))
            # bold header text plus the sort arrow, or the sample, whichever is wider
            h.resizeSection(col, max(fm.horizontalAdvance(sample), int(hfm.horizontalAdvance(title) * 1.1)) + 16)
        h.setSortIndicator(0, Qt.AscendingOrder)
        t.setSortingEnabled(True)  # the model re-queries with ORDER BY (see EventTableModel.sort)
        return t

    def _make_timeline(self) -> None:
        # the window's runner: the status bar lists the timeline's queries and Cancel reaches them
        self.timeline = TimelineWidget(self, runner=self.runner)
        self.timeline.setObjectName("timeline")
        dock = QDockWidget("Timeline", self)
        dock.setObjectName("timelineDock")
        dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
        dock.setAllowedAreas(Qt.TopDockWidgetArea | Qt.BottomDockWidgetArea)
        dock.setWidget(self.timeline)
        self.addDockWidget(Qt.TopDockWidgetArea, dock)
        self.resizeDocks([dock], [180], Qt.Vertical)
        self.timeline_dock = dock
        sig = getattr(self.timeline, "sig_range_clicked", None)
        if sig is not None:
            sig.connect(self._range_clicked)
        err = getattr(self.timeline, "sig_error", None)
        if err is not None:
            err.connect(lambda message: self.statusBar().showMessage(f"timeline: {message}", 15000))

    def _make_temporal(self) -> None:
        """The temporal slider docked under the timeline; the state and lineage panels below."""
        from .lineage_panel import LineagePanel
        from .slider import TemporalSlider
        from .state_panel import StatePanel

        self.slider = TemporalSlider(self)
        projections = self.plugin_manager.projections() if self.plugin_manager is not None else []
        self.state_panel = StatePanel(self.slider, self.runner, projections, self)
        self.lineage_panel = LineagePanel(self.runner, self)
        docks = []
        for title, name, widget, area in (("Time slider", "sliderDock", self.slider, Qt.TopDockWidgetArea),
                                          ("State", "stateDock", self.state_panel, Qt.BottomDockWidgetArea),
                                          ("Lineage", "lineageDock", self.lineage_panel, Qt.BottomDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            docks.append(dock)
        self.slider_dock, self.state_dock, self.lineage_dock = docks
        self.splitDockWidget(self.timeline_dock, self.slider_dock, Qt.Vertical)
        self.splitDockWidget(self.state_dock, self.lineage_dock, Qt.Horizontal)
        # once the window has its size: the state table (many columns) gets most of the width
        QTimer.singleShot(0, lambda: self.resizeDocks([self.state_dock, self.lineage_dock],
                                                      [int(self.width() * 0.6), int(self.width() * 0.4)],
                                                      Qt.Horizontal))
        self.resizeDocks([self.state_dock], [260], Qt.Vertical)
        self._pending_position: int | None = None
        self._auto_selecting = False
        self.slider.sig_position_changed.connect(self._slider_moved)
        self.lineage_panel.sig_event_activated.connect(self.select_position)
        self.lineage_panel.sig_correlation_requested.connect(self.show_correlation)
        self.state_panel.sig_error.connect(lambda m: self.statusBar().showMessage(f"state: {m}", 15000))

    def _make_rollback(self) -> None:
        from .rollback import Rollback

        self.rollback = Rollback(self)
        self.checkpoints_panel = self.rollback.panel
        self.checkpoints_dock = self.rollback.dock

    def _make_integrity(self) -> None:
        """The Integrity dock (checks and findings; double-click selects an event): gui.integrity_panel."""
        from .integrity_panel import attach

        self.integrity_panel, self.integrity_dock = attach(self)

    def _make_audit(self) -> None:
        """The Audit dock (command log as an audit table; who changed a state row): gui.audit_panel."""
        from .audit_panel import Audit

        self.audit = Audit(self)
        self.audit_panel, self.audit_dock = self.audit.panel, self.audit.dock

    def _make_investigations(self) -> None:
        """The Bookmarks dock, "Bookmark…" on events, notes on checkpoints: gui.investigations_panel."""
        from .investigations_panel import Investigations

        self.investigations = Investigations(self)
        self.investigations_panel, self.bookmarks_dock = self.investigations.panel, self.investigations.dock

    def _make_live(self) -> None:
        """The Follow toggle and the live head/lag line in the status bar: gui.live."""
        from .live import Live

        self.live = Live(self)

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setObjectName("statusBar")
        sb.setSizeGripEnabled(True)
        self.layout_label = QLabel(self)
        self.layout_label.setObjectName("layoutLabel")
        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self.activity_label = QLabel(self)
        self.activity_label.setObjectName("activityLabel")
        self.progress = QProgressBar(self)
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 0)
        self.progress.setFixedSize(QSize(110, 12))
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("cancel running queries (results still on their way are dropped)")
        self.cancel_button.clicked.connect(self.cancel_work)
        sb.addWidget(self.layout_label)
        sb.addPermanentWidget(self.activity_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.count_label)
        self._activity([])

    def _make_menus(self) -> None:
        mb = self.menuBar()
        mb.setObjectName("menuBar")
        file_menu = mb.addMenu("&File")
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.Open, triggered=self.open_dialog)
        self.reload_action = QAction("&Reload", self, shortcut=QKeySequence.Refresh, triggered=self.reload)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close)
        for a in (self.open_action, self.reload_action):
            file_menu.addAction(a)
        from .export_actions import ExportActions
        self.export_actions = ExportActions(self, file_menu)  # Export events…, Export report…, Evidence bundle…
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        view = mb.addMenu("&View")
        self.view_actions: dict[str, QAction] = {}
        for name, widget in (("Filter bar", self.filter_toolbar), ("Streams", self.streams_panel),
                             ("Event detail", self.detail)):
            act = QAction(name, self, checkable=True, checked=True)
            act.toggled.connect(widget.setVisible)
            view.addAction(act)
            self.view_actions[name] = act
        for name, dock in (("Timeline", self.timeline_dock), ("Time slider", self.slider_dock),
                           ("State", self.state_dock), ("Lineage", self.lineage_dock),
                           ("Checkpoints", self.checkpoints_dock), ("Integrity", self.integrity_dock), ("Audit", self.audit_dock),
                           ("Bookmarks", self.bookmarks_dock)):
            act = dock.toggleViewAction()
            act.setText(name)
            view.addAction(act)
            self.view_actions[name] = act
        status = QAction("Status bar", self, checkable=True, checked=True)
        status.toggled.connect(self.statusBar().setVisible)
        view.addAction(status)
        self.view_actions["Status bar"] = status
        view.addAction(self.live.follow_action)
        view.addSeparator()
        find = QAction("Search payloads", self, shortcut=QKeySequence.Find)
        find.triggered.connect(lambda: self.filter_bar.text_edit.setFocus())
        view.addAction(find)
        clear = QAction("Clear filter", self, shortcut=QKeySequence("Ctrl+Shift+L"))
        clear.triggered.connect(self.filter_bar.clear)
        view.addAction(clear)

        self.rollback.add_menu(mb)
        help_menu = mb.addMenu("&Help")
        self.plugins_action = QAction("&Plugins…", self, triggered=self.show_plugins)
        help_menu.addAction(self.plugins_action)
        help_menu.addAction(QAction("&About inspector", self, triggered=self._about))
        self.role_badge = RoleBadge(mb)
        mb.setCornerWidget(self.role_badge, Qt.TopRightCorner)
        self.find_action = find

    def show_plugins(self):
        """The Plugins dialog (found plugins, their hooks, errors, and the commands they register)."""
        from .plugins_dialog import PluginsDialog

        from ..plugins.manager import PluginManager

        dialog = PluginsDialog(self.plugin_manager or PluginManager(), self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _connect(self) -> None:
        self.filter_bar.sig_filter_changed.connect(self.apply_filter)
        self.streams_panel.sig_stream_selected.connect(self.filter_bar.set_stream)
        self.model.sig_count_changed.connect(self._count_changed)
        self.model.sig_page_loaded.connect(self._page_loaded)
        self.model.sig_error.connect(self.show_error)
        self.model.modelReset.connect(lambda: self.detail.show_event(None))
        self.model.dataChanged.connect(self._rows_changed)
        self.table.selectionModel().currentRowChanged.connect(self._current_row_changed)
        self.table.selectionModel().currentRowChanged.connect(self._follow_selection)
        self.model.sig_page_loaded.connect(self._select_pending)
        self.runner.sig_activity.connect(self._activity)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_indicator_changed)

    # -- store ------------------------------------------------------------------------------------
    def set_opened(self, opened) -> None:
        """Show another store in this window (File → Open…)."""
        old = self.opened
        self.runner.cancel_all()
        self.opened = opened
        self._store_total = None
        store = opened.store if opened else None
        if old is not None and old.store is not store:
            old.store.close()
        self._show_role(opened)
        if opened is not None:
            c = opened.candidate
            self.setWindowTitle(f"inspector — {opened.url} ({opened.layout.title}) {title_suffix(role_of(opened))}")
            self.layout_label.setText(f"Layout: {c.layout.name} · {c.confidence:.0%} confidence")
            self.layout_label.setToolTip("\n".join((c.layout.title, *c.reasons)))
        else:
            self.setWindowTitle("inspector")
            self.layout_label.setText("no store")
        self.filter_bar.set_store(store)
        self.streams_panel.set_store(store)
        self.model.set_store(store)
        self.table.horizontalHeader().setSortIndicator(0, Qt.AscendingOrder)
        self.timeline.set_store(store)
        self.state_panel.set_store(store)
        self.lineage_panel.set_store(store)
        self.rollback.set_store(store)
        self.detail.show_event(None)
        self.sig_store_changed.emit(opened)

    def _show_role(self, opened) -> None:
        """The badge, and what a viewer cannot do: search payload text (the matches would tell
        whether a masked value is stored)."""
        role = role_of(opened) if opened is not None else None
        masker = getattr(opened.store, "masker", None) if opened is not None else None
        self.role_badge.set_role(role, masker.rules if masker is not None else ())
        searchable = role is None or role.sees_personal_data
        edit = self.filter_bar.text_edit
        if not searchable:
            edit.clear()
        edit.setEnabled(searchable)
        edit.setPlaceholderText("search payloads…" if searchable else "no text search for viewers")
        edit.setToolTip("text inside the stored payload (case-insensitive where the database allows)" if searchable
                        else "viewers cannot search payload text: the matches would tell whether a masked value is stored")
        self.find_action.setEnabled(searchable)

    def role(self):
        """The session's role (``core.roles.Role``), or None without a store."""
        return role_of(self.opened) if self.opened is not None else None

    def apply_filter(self, flt: EventFilter) -> None:
        self.table.empty_text = "No events match this filter." if not flt.is_empty() else "This store holds no events."
        self.model.set_filter(flt)
        self.timeline.set_filter(flt)
        if flt.stream is not None:
            self.streams_panel.select("stream", flt.stream)
        elif flt.category is not None:
            self.streams_panel.select("category", flt.category)
        else:
            self.streams_panel.select("all", None)

    def reload(self) -> None:
        self.model.reload()
        self.state_panel.reload()
        self.streams_panel.reload()
        self.checkpoints_panel.reload()
        self.timeline.set_filter(self.model.filter)

    def _range_clicked(self, start: float, end: float, axis: str) -> None:
        self.filter_bar.set_range(float(start), float(end), str(axis))

    # -- table and detail --------------------------------------------------------------------------
    def _sort_indicator_changed(self, column: int, _order) -> None:
        if COLUMNS[column][2] is None:  # not sortable in SQL: put the arrow back where the order is
            h = self.table.horizontalHeader()
            h.blockSignals(True)
            h.setSortIndicator(self.model.sort_column(), Qt.DescendingOrder if self.model.descending else Qt.AscendingOrder)
            h.blockSignals(False)

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        ev = current.data(EventRole) if current.isValid() else None
        self.detail.show_event(ev)
        # mark the selected event on the timeline, on whichever axis it draws
        x = None
        if ev is not None:
            x = ev.position if self.timeline.axis == "position" else ev.recorded_at
        self.timeline.set_cursor(x)

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        cur = self.table.currentIndex()
        if cur.isValid() and top.row() <= cur.row() <= bottom.row():
            self.detail.show_event(cur.data(EventRole))

    def _page_loaded(self, first: int, n: int) -> None:
        if first == 0 and n and not self.table.currentIndex().isValid():
            self._auto_selecting = True  # not the user's choice: the slider stays where it is
            try:
                self.table.selectRow(0)
            finally:
                self._auto_selecting = False
        self._count_changed(self.model.total)
        # A page that exactly fills its placeholders changes no geometry, so the view would not ask
        # for the next one while the user waits at the bottom: ask on its behalf.
        QTimer.singleShot(0, self._fetch_if_at_end)

    def _fetch_if_at_end(self) -> None:
        m = self.model
        if not m.canFetchMore(QModelIndex()) or m.rowCount() == 0:
            return
        last = self.table.visualRect(m.index(m.rowCount() - 1, 0))
        if last.isValid() and self.table.viewport().rect().intersects(last):
            m.fetchMore(QModelIndex())

    # -- slider, state and lineage -------------------------------------------------------------------
    def _follow_selection(self, current: QModelIndex, _previous: QModelIndex) -> None:
        """The selected event moves the slider (and the timeline's cursor) and shows its lineage."""
        ev = current.data(EventRole) if current.isValid() else None
        if ev is None:
            return
        self.lineage_panel.show_event(ev)
        if self.slider.has_stops():  # the cursor line stays the slider's, not the selection's
            if not self._auto_selecting:
                self.slider.set_position(ev.position, ev.recorded_at)
            self._slider_moved(self.slider.position())

    def _slider_moved(self, position: int) -> None:
        """The slider is drawn on the timeline as its cursor line."""
        t = self.slider.time()
        self.timeline.set_cursor(t if self.timeline.axis == "time" and t is not None else position)

    def select_position(self, position: int) -> None:
        """Select the event at ``position`` in the table: among the rows loaded if it is there, else
        the table (and timeline) is filtered to start at it."""
        self._pending_position = None
        if self._select_loaded(position):
            return
        self._pending_position = int(position)
        self.filter_bar.set_filter(EventFilter(after=int(position) - 1))

    def show_correlation(self, correlation_id: str) -> None:
        """Filter the table and the timeline to one correlation (the filter bar's correlation field)."""
        self.filter_bar.set_filter(EventFilter(correlation_id=correlation_id))

    def _select_loaded(self, position: int) -> bool:
        m = self.model
        for r in range(m.rowCount()):
            ev = m.event_at(r)
            if ev is not None and ev.position == position:
                already = self.table.currentIndex().row() == r
                self.table.selectRow(r)
                self.table.scrollTo(m.index(r, 0))
                if already:  # no selection change to follow (the row was auto-selected): follow it here
                    self._follow_selection(m.index(r, 0), QModelIndex())
                return True
        return False

    def _select_pending(self, _first: int, _n: int) -> None:
        if self._pending_position is not None and self._select_loaded(self._pending_position):
            self._pending_position = None

    def selected_event(self):
        cur = self.table.currentIndex()
        return cur.data(EventRole) if cur.isValid() else None

    # -- status bar --------------------------------------------------------------------------------
    def _count_changed(self, n) -> None:
        if n is not None and self.model.filter.is_empty():
            self._store_total = n
        loaded = self.model.loaded_rows()
        if n is None:
            text = "counting…"
        elif self.model.filter.is_empty() or self._store_total is None:
            text = f"{n:,} events"
        else:
            text = f"{n:,} of {self._store_total:,} events"
        if n is not None and loaded < n:
            text += f" · {loaded:,} loaded"
        self.count_label.setText(text)

    def _activity(self, labels: list) -> None:
        busy = bool(labels)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            first = labels[0]
            more = f" (+{len(labels) - 1})" if len(labels) > 1 else ""
            self.activity_label.setText(f"{first}…{more}")
        else:
            self.activity_label.setText("")

    def show_error(self, message: str) -> None:
        self.filter_bar.show_message(message)
        self.statusBar().showMessage(message, 15000)

    def cancel_work(self) -> None:
        n = self.runner.cancel_all()
        self.statusBar().showMessage(f"cancelled {n} running task(s)", 5000)

    def is_loaded(self) -> bool:
        """Everything the window shows on open has arrived: first page, count, streams, timeline."""
        if self.opened is None:
            return True
        if self.model.is_loading() or self.model.is_counting() or self.streams_panel.is_loading():
            return False
        if not self.runner.is_idle() or QThreadPool.globalInstance().activeThreadCount():
            return False
        return not self.timeline.is_loading() and self.state_panel.is_idle()

    # -- actions -------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        from .connect_dialog import ConnectDialog

        dialog = ConnectDialog(self.plugin_manager, self)
        if dialog.exec():
            opened = dialog.result_store()
            if opened is not None:
                self.set_opened(opened)

    def _about(self) -> None:
        QMessageBox.about(self, "About inspector",
                          "<b>inspector</b><p>Audit inspector for event-sourced systems whose events live in SQL "
                          "databases. Browsing sessions are read-only at the database.</p>")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        self.rollback.shutdown()
        self.state_panel.shutdown()
        self.runner.shutdown()
        if self.opened is not None:
            self.opened.store.close()
        super().closeEvent(event)
