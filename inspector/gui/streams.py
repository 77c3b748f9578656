"""The streams panel: categories with their counts, each opening onto its most recently written
streams; clicking one filters the event table to that category or stream."""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from inspector.core.model import CategorySummary, EventFilter, StreamSummary
from inspector.core.store import EventStore

from .workers import Cancelled, TaskRunner, describe

#: Streams read up front (most recent first, across categories) and per category on demand.
OVERVIEW_STREAMS = 2000
PER_CATEGORY = 50
CATEGORY_PAGE = 500

KIND_ROLE = Qt.UserRole + 1
NAME_ROLE = Qt.UserRole + 2
STREAMS_ROLE = Qt.UserRole + 3


def load_overview(store: EventStore) -> tuple[list[CategorySummary], list[StreamSummary]]:
    """Worker body: every category and the most recently written streams."""
    return store.categories(), store.streams(limit=OVERVIEW_STREAMS)


class StreamsPanel(QWidget):
    """Emits ``sig_stream_selected(kind, name)`` with kind "all", "category" or "stream"."""

    sig_stream_selected = Signal(str, object)

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("streamsPanel")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self._runner = runner or TaskRunner(self)
        self._store: EventStore | None = None
        self._generation = 0
        self._loading = False

        title = QLabel("Streams", self)
        title.setObjectName("panelTitle")
        self.search = QLineEdit(self)
        self.search.setObjectName("streamSearch")
        self.search.setPlaceholderText("find a stream…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_search)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("streamsTree")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Name", "Events"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(False)
        self.tree.setRootIsDecorated(True)
        h = self.tree.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.Stretch)
        h.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tree.headerItem().setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        self.tree.itemExpanded.connect(self._expanded)
        self.status = QLabel("", self)
        self.status.setObjectName("panelStatus")
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 4, 8)
        lay.setSpacing(6)
        lay.addWidget(title)
        lay.addWidget(self.search)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.status)

    # -- loading -----------------------------------------------------------------------------
    def set_store(self, store: EventStore | None) -> None:
        self._store = store
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.tree.clear()
        self.status.setText("")
        if self._store is None:
            self._loading = False
            return
        self._loading = True
        self.status.setText("reading streams…")
        gen = self._generation
        self._runner.submit(load_overview, self._store, label="reading streams", owner=self,
                            on_finished=lambda res: self._overview_arrived(gen, res),
                            on_error=lambda e: self._failed(gen, e))

    def is_loading(self) -> bool:
        return self._loading

    def _failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._loading = False
        self.status.setText("cancelled" if isinstance(exc, Cancelled) else describe(exc))

    def _overview_arrived(self, gen: int, result) -> None:
        if gen != self._generation:
            return
        self._loading = False
        cats, streams = result
        by_cat: dict[str, list[StreamSummary]] = defaultdict(list)
        for s in streams:
            by_cat[s.category or ""].append(s)
        total = sum(c.events for c in cats)
        all_item = QTreeWidgetItem(self.tree, ["All events", f"{total:,}"])
        all_item.setData(0, KIND_ROLE, "all")
        f = all_item.font(0)
        f.setBold(True)
        all_item.setFont(0, f)
        all_item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
        for c in cats:
            label = c.category or "(no category)"
            item = QTreeWidgetItem(self.tree, [f"{label} ({c.streams:,})", f"{c.events:,}"])
            item.setData(0, STREAMS_ROLE, c.streams)
            item.setData(0, KIND_ROLE, "category" if c.category else "none")
            item.setData(0, NAME_ROLE, c.category)
            item.setToolTip(0, f"category {label}: {c.streams:,} streams, {c.events:,} events; click to filter")
            item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            self._fill_category(item, by_cat.get(c.category, [])[:PER_CATEGORY], c.streams)
        top = self.tree.topLevelItem(1)
        if top is not None:  # the busiest category open, so the panel starts with streams to click
            top.setExpanded(True)
        n = len(streams)
        self.status.setText(
            f"{len(cats):,} categories · {sum(c.streams for c in cats):,} streams"
            + (f" (newest {n:,} listed)" if n >= OVERVIEW_STREAMS else "")
        )
        self._apply_search(self.search.text())

    def _fill_category(self, item: QTreeWidgetItem, streams: list[StreamSummary], total_streams: int) -> None:
        item.takeChildren()
        for s in streams:
            child = QTreeWidgetItem(item, [s.stream, f"{s.events:,}"])
            child.setData(0, KIND_ROLE, "stream")
            child.setData(0, NAME_ROLE, s.stream)
            child.setToolTip(0, f"{s.stream}: {s.events:,} events, last at position {s.last_position}")
            child.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
        missing = total_streams - len(streams)
        if missing > 0:
            more = QTreeWidgetItem(item, [f"… {missing:,} more streams", ""])
            more.setToolTip(0, "click to list more streams of this category")
            more.setData(0, KIND_ROLE, "more")
            more.setForeground(0, Qt.gray)

    def _expanded(self, item: QTreeWidgetItem) -> None:
        if item.data(0, KIND_ROLE) != "category" or self._store is None:
            return
        last = item.child(item.childCount() - 1) if item.childCount() else None
        if last is None or last.data(0, KIND_ROLE) != "more" or item.childCount() > 1:
            return  # loaded already (or nothing more to load)
        self._load_category(item)

    def _load_category(self, item: QTreeWidgetItem) -> None:
        name = item.data(0, NAME_ROLE)
        gen = self._generation
        item.child(item.childCount() - 1).setText(0, "loading…")
        total = int(item.data(0, STREAMS_ROLE) or 0)

        def arrived(streams: list[StreamSummary]) -> None:
            if gen == self._generation:
                self._fill_category(item, streams, len(streams) if len(streams) < CATEGORY_PAGE else total)

        self._runner.submit(self._store.streams, EventFilter(category=name), CATEGORY_PAGE,
                            label=f"reading streams of {name}", owner=self, on_finished=arrived,
                            on_error=lambda e: None)

    # -- interaction ---------------------------------------------------------------------------
    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind == "more":
            parent = item.parent()
            if parent is not None and parent.data(0, KIND_ROLE) == "category":
                self._load_category(parent)
            return
        if kind in ("all", "category", "stream"):
            self.sig_stream_selected.emit(kind, item.data(0, NAME_ROLE))

    def _apply_search(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.data(0, KIND_ROLE) == "all":
                top.setHidden(bool(needle))
                continue
            any_child = False
            for j in range(top.childCount()):
                child = top.child(j)
                hit = not needle or needle in child.text(0).lower()
                child.setHidden(not hit)
                any_child |= hit and child.data(0, KIND_ROLE) == "stream"
            own = not needle or needle in (top.data(0, NAME_ROLE) or "").lower()
            top.setHidden(not (own or any_child))
            if needle and any_child:
                top.setExpanded(True)

    def select(self, kind: str, name: str | None) -> None:
        """Highlight the item matching the table's filter (without emitting)."""
        self.tree.blockSignals(True)
        try:
            self.tree.clearSelection()
            it = QTreeWidgetItemIterator(self.tree)
            while it.value():
                item = it.value()
                if item.data(0, KIND_ROLE) == kind and item.data(0, NAME_ROLE) == name:
                    item.setSelected(True)
                    self.tree.scrollToItem(item)
                    break
                it += 1
        finally:
            self.tree.blockSignals(False)
