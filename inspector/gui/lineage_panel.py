"""The lineage panel: the causation tree of the selected event (``core.lineage``), the originating
command at the top and actor and time on every node.

Clicking an event node asks the window to select that event (``sig_event_activated``); the
correlation button asks it to filter to the event's correlation (``sig_correlation_requested``).
Graphs are read on a worker; an answer for an event no longer selected is dropped by token. For a
store that records no lineage the panel shows the graph's explanation instead of a tree."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from inspector.core import lineage as core_lineage
from inspector.core.lineage import LineageGraph, LineageNode

from .workers import Cancelled, TaskRunner, describe

NodeRole = Qt.UserRole + 1  # the LineageNode of a tree item
COLUMNS = ("Node", "Actor", "Time", "#")
COMMAND_COLOR = QColor("#7b4fc9")
#: Nodes drawn at most: a tree widget item costs the GUI thread, and a graph may hold 50,000.
SHOW_NODES = 5000


def _local(t: dt.datetime | None, spec: str = "seconds") -> str:
    if t is None:
        return ""
    return t.astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec=spec)


def _node_text(n: LineageNode) -> str:
    if n.kind == "command":
        return f"⌘ {n.type or 'command'}"
    where = n.stream + (f"@{n.version}" if n.version is not None else "") if n.stream else ""
    return f"{n.type or '?'}  {where}".rstrip()


def build_graph(store, position: int | None, correlation_id: str | None) -> LineageGraph:
    """Worker body: the lineage of the event at ``position``, or of a whole correlation."""
    if correlation_id is not None:
        return core_lineage.correlation_lineage(store, correlation_id)
    return core_lineage.event_lineage(store, position=position)


class LineagePanel(QWidget):
    """A tree of the selected event's causation graph; see the module docstring."""

    sig_event_activated = Signal(int)  # position of an event node the user clicked
    sig_correlation_requested = Signal(str)  # correlation id to filter the table and timeline to
    sig_loaded = Signal()

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lineagePanel")
        self._runner = runner or TaskRunner(self)
        self.store = None
        self.graph: LineageGraph | None = None
        self.current_event = None  # the RecordedEvent the panel is about
        self._token = 0
        self._task = None
        self._items: dict[str, QTreeWidgetItem] = {}

        self.title = QLabel("Lineage", self)
        self.title.setObjectName("lineageTitle")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # long titles must not widen the dock
        self.scope_button = QToolButton(self)
        self.scope_button.setObjectName("lineageScopeButton")
        self.scope_button.setText("Whole correlation")
        self.scope_button.setCheckable(True)
        self.scope_button.setToolTip("show every command and event of the correlation, not only this event's "
                                     "causes and effects")
        self.scope_button.toggled.connect(lambda _on: self._reload())
        self.correlation_button = QPushButton("Show this correlation on the timeline", self)
        self.correlation_button.setObjectName("showCorrelationButton")
        self.correlation_button.setEnabled(False)
        self.correlation_button.clicked.connect(self._correlation_clicked)

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("lineageTree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        self.tree.setAlternatingRowColors(True)
        h = self.tree.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        self.tree.itemClicked.connect(self._item_clicked)
        self.tree.itemActivated.connect(self._item_clicked)

        self.explanation = QLabel(self)
        self.explanation.setObjectName("lineageExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.explanation.setForegroundRole(QPalette.PlaceholderText)
        self.explanation.hide()

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.scope_button)
        top.addWidget(self.correlation_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.explanation)
        self._bold = QFont(self.tree.font())
        self._bold.setBold(True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(440, 260)

    # -- public API ------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self.current_event = None
        self.graph = None
        self._token += 1
        self._clear()
        self.title.setText("Lineage")
        self.correlation_button.setEnabled(False)

    def show_event(self, ev) -> None:
        """Show the lineage of ``ev`` (a RecordedEvent). An event already in the tree is only
        marked, so clicking through a graph keeps it; None keeps what is shown."""
        if ev is None or self.store is None:
            return
        self.current_event = ev
        self.correlation_button.setEnabled(bool(ev.correlation_id))
        self.correlation_button.setToolTip(f"filter the table and timeline to correlation {ev.correlation_id}"
                                           if ev.correlation_id else "this event carries no correlation id")
        node = self._node_for(ev.position)
        same_scope = not self.scope_button.isChecked() or (
            self.graph is not None and self.graph.query.get("correlation_id") == ev.correlation_id)
        if node is not None and same_scope:
            self._mark_focus(node.id)
            self._set_title()
            return
        self._reload()

    def is_loading(self) -> bool:
        return self._task is not None

    def item_for_position(self, position: int) -> QTreeWidgetItem | None:
        node = self._node_for(position)
        return self._items.get(node.id) if node else None

    def focus_id(self) -> str | None:
        item = self.tree.currentItem()
        node = item.data(0, NodeRole) if item else None
        return node.id if node else None

    # -- loading ---------------------------------------------------------------------------------
    def _reload(self) -> None:
        ev = self.current_event
        if ev is None or self.store is None:
            return
        self._token += 1
        token = self._token
        if self._task is not None:
            self._task.cancel()
        corr = ev.correlation_id if self.scope_button.isChecked() and ev.correlation_id else None
        self.title.setText(f"#{ev.position} {ev.type or ''} · reading…")
        self._task = self._runner.submit(
            build_graph, self.store, ev.position, corr, label="reading lineage", owner=self,
            on_finished=lambda g: self._arrived(token, g), on_error=lambda e: self._failed(token, e))

    def _arrived(self, token: int, graph: LineageGraph) -> None:
        if token != self._token:
            return
        self._task = None
        self._show(graph)
        self.sig_loaded.emit()

    def _failed(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self._task = None
        if isinstance(exc, Cancelled):
            return
        self.graph = None
        self._clear()
        self._set_explanation(f"⚠ {describe(exc)}")
        self.title.setText("Lineage")
        self.sig_loaded.emit()

    # -- drawing ---------------------------------------------------------------------------------
    def _clear(self) -> None:
        self.tree.clear()
        self._items = {}
        self._set_explanation(None)

    def _set_explanation(self, text: str | None) -> None:
        self.explanation.setText(text or "")
        self.explanation.setVisible(bool(text))

    def _show(self, g: LineageGraph) -> None:
        self.graph = g
        self._clear()
        self.tree.setVisible(bool(g.nodes))
        items: dict[str, QTreeWidgetItem] = {}
        # Walk from the roots (originating commands first) so each node hangs under its cause.
        stack = [(r, None) for r in reversed(g.roots)]
        while stack and len(items) < SHOW_NODES:
            nid, parent = stack.pop()
            node = g.node(nid)
            if node is None or nid in items:
                continue
            item = self._item(node)
            if parent is None:
                self.tree.addTopLevelItem(item)
            else:
                parent.addChild(item)
            items[nid] = item
            stack.extend((c.id, item) for c in reversed(g.children(nid)))
        self._items = items
        self.tree.expandAll()
        if g.truncated or len(items) < len(g.nodes):
            text = (f"… {len(g.nodes) - len(items):,} more nodes not shown" if len(items) < len(g.nodes)
                    else f"… stopped at {len(g.nodes):,} nodes")
            more = QTreeWidgetItem([text])
            more.setFlags(Qt.ItemIsEnabled)
            self.tree.addTopLevelItem(more)
        note = g.explanation
        if not g.nodes and not note:
            note = "no lineage recorded for this event"
        self._set_explanation(note)
        focus = g.focus
        if focus is None and self.current_event is not None:
            n = self._node_for(self.current_event.position)
            focus = n.id if n else None
        self._mark_focus(focus)
        self._set_title()

    def _item(self, n: LineageNode) -> QTreeWidgetItem:
        item = QTreeWidgetItem([_node_text(n), n.actor or "", _local(n.at),
                                "" if n.position is None else str(n.position)])
        item.setData(0, NodeRole, n)
        item.setTextAlignment(3, Qt.AlignRight | Qt.AlignVCenter)
        tip = "\n".join(x for x in (n.label(), f"local time {_local(n.at, 'milliseconds')}" if n.at else "",
                                     f"correlation {n.correlation_id}" if n.correlation_id else "") if x)
        for c in range(len(COLUMNS)):
            item.setToolTip(c, tip)
        if n.kind == "command":
            item.setForeground(0, QBrush(COMMAND_COLOR))
            item.setFont(0, self._bold)
        return item

    def _mark_focus(self, node_id: str | None) -> None:
        it = QTreeWidgetItemIterator(self.tree)
        while it.value():
            item = it.value()
            node = item.data(0, NodeRole)
            is_focus = node is not None and node.id == node_id
            for c in range(len(COLUMNS)):
                f = item.font(c)
                f.setBold(is_focus or (node is not None and node.kind == "command" and c == 0))
                item.setFont(c, f)
            it += 1
        item = self._items.get(node_id) if node_id else None
        if item is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)
            self.tree.scrollToItem(item)

    def _set_title(self) -> None:
        ev, g = self.current_event, self.graph
        if ev is None:
            self.title.setText("Lineage")
            return
        text = f"#{ev.position} {ev.type or ''}".rstrip()  # the dock's title says "Lineage"
        if g is not None and g.nodes:
            text += f" · {len(g.nodes):,} node{'s' if len(g.nodes) != 1 else ''}"
            if g.query.get("correlation_id"):
                text += " in its correlation"
        self.title.setText(text)
        self.title.setToolTip(text)

    def _node_for(self, position: int | None) -> LineageNode | None:
        if self.graph is None or position is None:
            return None
        return next((n for n in self.graph.nodes if n.position == position), None)

    # -- user actions ----------------------------------------------------------------------------
    def _item_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        node = item.data(0, NodeRole) if item else None
        if node is not None and node.kind == "event" and node.position is not None:
            self.sig_event_activated.emit(int(node.position))

    def click_position(self, position: int) -> bool:
        """What clicking the node of the event at ``position`` does (tests, keyboard users)."""
        item = self.item_for_position(position)
        if item is None:
            return False
        self.tree.setCurrentItem(item)
        self._item_clicked(item)
        return True

    def _correlation_clicked(self) -> None:
        if self.current_event is not None and self.current_event.correlation_id:
            self.sig_correlation_requested.emit(self.current_event.correlation_id)
