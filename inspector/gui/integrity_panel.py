"""The Integrity dock: runs the store's integrity checks (``core.integrity``) on a worker with
progress and cancel, lists the findings (severity, check, title, how many events) and, for the
selected finding, its explanation and its events; double-clicking an event selects it in the main
table (``sig_event_activated``). With no finding selected, the detail side says how each check
went (ran, or skipped and why). ``attach`` wires the dock into the main window."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core import integrity
from inspector.core.integrity import Finding, IntegrityReport

from .panels import add_bottom_dock
from .tables import style_table
from .workers import Cancelled, TaskRunner, describe

#: Events listed per finding in the panel (the count shown is always exact).
PANEL_LIMIT = 500
COLORS = {"error": QColor("#c62828"), "warning": QColor("#b26a00"), "info": QColor("#1565c0")}
ICONS = {"error": QStyle.SP_MessageBoxCritical, "warning": QStyle.SP_MessageBoxWarning,
         "info": QStyle.SP_MessageBoxInformation}
FindingRole = Qt.UserRole + 1


class FindingsModel(QAbstractTableModel):
    """The findings of one report, worst first."""

    HEADERS = ("Severity", "Check", "Finding", "Events")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.findings: list[Finding] = []
        self._icons: dict[str, Any] = {}

    def set_findings(self, findings: Sequence[Finding]) -> None:
        self.beginResetModel()
        self.findings = sorted(findings, key=lambda f: integrity.SEVERITIES.index(f.severity))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(self.findings)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.findings):
            return None
        f, col = self.findings[index.row()], index.column()
        if role == Qt.DisplayRole:
            return (f.severity, f.check, f.title, f"{f.count:,}")[col]
        if role == Qt.DecorationRole and col == 0:
            icon = self._icons.get(f.severity)
            if icon is None:
                from PySide6.QtWidgets import QApplication

                icon = self._icons[f.severity] = QApplication.style().standardIcon(ICONS[f.severity])
            return icon
        if role == Qt.ForegroundRole and col == 0:
            return QBrush(COLORS[f.severity])
        if role == Qt.FontRole and col == 0 and f.severity == "error":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.TextAlignmentRole and col == 3:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole:
            return f.detail
        if role == FindingRole:
            return f
        return None


def run_checks(store, projections, limit: int = PANEL_LIMIT):
    """Worker body: the checks as a generator of ``Progress`` returning the report."""
    return integrity.iter_check(store, projections, limit=limit)


class IntegrityPanel(QWidget):
    """See the module docstring."""

    sig_event_activated = Signal(int)  # a position to select in the main table
    sig_finished = Signal(object)  # the IntegrityReport

    def __init__(self, runner: TaskRunner | None = None, projections: Sequence[Any] = (),
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("integrityPanel")
        self._runner = runner or TaskRunner(self)
        self.projections = list(projections)
        self.store = None
        self.report: IntegrityReport | None = None
        self._task = None
        self._token = 0

        self.run_button = QPushButton("Run checks", self)
        self.run_button.setObjectName("integrityRunButton")
        self.run_button.setToolTip("check positions, versions, times, causes, payloads and event types "
                                   "(read-only; large stores take a while: the payloads are decoded)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("integrityCancelButton")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("integrityProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(140)
        self.progress.hide()
        self.status = QLabel("Run the checks to see the store's integrity findings.", self)
        self.status.setObjectName("integrityStatus")
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        self.model = FindingsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("integrityFindings")
        self.table.setModel(self.model)
        style_table(self.table)
        h = self.table.horizontalHeader()
        h.setStretchLastSection(False)
        for col, mode in ((0, QHeaderView.ResizeToContents), (1, QHeaderView.ResizeToContents),
                          (2, QHeaderView.Stretch), (3, QHeaderView.ResizeToContents)):
            h.setSectionResizeMode(col, mode)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._show(cur))

        self.detail = QLabel(self)
        self.detail.setObjectName("integrityDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.RichText)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.detail.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.events = QTableWidget(0, 2, self)
        self.events.setObjectName("integrityEvents")
        self.events.setHorizontalHeaderLabels(["#", "What"])
        style_table(self.events)
        self.events.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.events.setToolTip("double-click an event to select it in the event table")
        eh = self.events.horizontalHeader()
        eh.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        eh.setSectionResizeMode(1, QHeaderView.Stretch)
        self.events.itemDoubleClicked.connect(self._event_activated)
        self.events.itemActivated.connect(self._event_activated)

        scroll = QScrollArea(self)
        scroll.setObjectName("integrityDetailScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(self.detail)
        self.detail.setContentsMargins(4, 2, 4, 2)
        right = QSplitter(Qt.Vertical, self)
        right.addWidget(scroll)
        right.addWidget(self.events)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)
        right.setMinimumWidth(280)
        self.splitter = QSplitter(Qt.Horizontal, self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([600, 400])
        self.splitter.setChildrenCollapsible(False)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self._set_running(False)
        self.run_button.setEnabled(False)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(640, 260)

    # -- public API ------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        """Another store (or none): drop the report and any run in progress."""
        self.cancel()
        self.store = store
        self.report = None
        self.model.set_findings(())
        self._show(QModelIndex())
        self.run_button.setEnabled(store is not None)
        self.status.setText("Run the checks to see the store's integrity findings." if store is not None else "no store")

    def is_running(self) -> bool:
        return self._task is not None

    def run(self) -> None:
        if self.store is None or self._task is not None:
            return
        self._token += 1
        token = self._token
        self.report = None
        self.model.set_findings(())
        self._show(QModelIndex())
        self._set_running(True)
        self.status.setText("checking…")
        self._task = self._runner.submit(
            run_checks, self.store, self.projections, label="integrity checks", owner=self,
            on_finished=lambda r: self._finished(token, r), on_error=lambda e: self._failed(token, e),
            on_progress=lambda p: self._progress(token, p))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self._token += 1
            self._set_running(False)
            self.status.setText("cancelled")

    def select_finding(self, row: int) -> None:
        self.table.selectRow(row)

    # -- worker results --------------------------------------------------------------------------
    def _progress(self, token: int, p: integrity.Progress) -> None:
        if token != self._token:
            return
        self.progress.setValue(int(p.overall * 1000))
        self.status.setText(f"{p.title} ({p.index + 1}/{p.total}): {p.message}")

    def _finished(self, token: int, report: IntegrityReport) -> None:
        if token != self._token:
            return
        self._task = None
        self._set_running(False)
        self.report = report
        self.model.set_findings(report.findings)
        c = report.counts()
        parts = [f"{c[s]} {s}" + ("s" if c[s] != 1 and s != "info" else "") for s in integrity.SEVERITIES]
        skipped = sum(1 for r in report.checks if r.status != "ran")
        self.status.setText(f"{report.events:,} events checked: {', '.join(parts)}"
                            + (f" · {skipped} check(s) not run" if skipped else ""))
        self._show(QModelIndex())
        if report.findings:
            self.table.selectRow(0)
        self.sig_finished.emit(report)

    def _failed(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self._task = None
        self._set_running(False)
        self.status.setText("cancelled" if isinstance(exc, Cancelled) else f"checks failed: {describe(exc)}")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and self.store is not None)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    # -- the detail side -------------------------------------------------------------------------
    def _show(self, index: QModelIndex) -> None:
        f = index.data(FindingRole) if index.isValid() else None
        self.events.setRowCount(0)
        if f is None:
            self.detail.setText(self._checks_html())
            self.events.setVisible(False)
            return
        color = COLORS[f.severity].name()
        shown = len(f.events)
        more = f" (the first {shown:,} of {f.count:,} listed)" if f.count > shown else ""
        streams = ""
        if f.streams:
            streams = "<br><b>Streams:</b> " + _esc(", ".join(f.streams[:20])) + (" …" if len(f.streams) > 20 else "")
        self.detail.setText(f"<b style='color:{color}'>{_esc(f.severity.upper())}</b> &nbsp;<b>{_esc(f.title)}</b>"
                            f"<br>{_esc(f.detail)}{streams}<br><i>{f.count:,} event(s){more}; double-click one to "
                            f"select it</i>")
        notes = list(f.examples) if len(f.examples) == len(f.events) else [""] * len(f.events)
        self.events.setRowCount(shown)
        for r, (pos, note) in enumerate(zip(f.events, notes)):
            item = QTableWidgetItem(f"#{pos}")
            item.setData(Qt.UserRole, int(pos))
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.events.setItem(r, 0, item)
            what = QTableWidgetItem(note.split(": ", 1)[1] if note.startswith(f"#{pos}: ") else note)
            what.setData(Qt.UserRole, int(pos))
            self.events.setItem(r, 1, what)
        self.events.setVisible(True)

    def _checks_html(self) -> str:
        if self.report is None:
            return ""
        rows = []
        for c in self.report.checks:
            mark = {"ran": "✓", "skipped": "–", "failed": "✗", "cancelled": "…"}.get(c.status, "?")
            rows.append(f"{mark} <b>{_esc(c.title)}</b>: {_esc(c.status)}" + (f" — {_esc(c.note)}" if c.note else ""))
        return "<br>".join(rows)

    def _event_activated(self, item: QTableWidgetItem) -> None:
        pos = item.data(Qt.UserRole)
        if pos is not None:
            self.sig_event_activated.emit(int(pos))


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attach(window) -> tuple[IntegrityPanel, QDockWidget]:
    """The Integrity dock on ``window`` (the ``MainWindow``), tabbed with the lineage dock; events
    activated in it are selected in the window's table; it follows the window's store."""
    pm = window.plugin_manager
    projections = integrity.domain_projections(pm.call_each("register_projections")) if pm is not None else []
    panel = IntegrityPanel(window.runner, projections, window)
    dock = add_bottom_dock(window, panel, "Integrity", "integrityDock", window.lineage_dock)
    panel.sig_event_activated.connect(window.select_position)
    window.sig_store_changed.connect(lambda opened: panel.set_store(opened.store if opened is not None else None))
    return panel, dock
