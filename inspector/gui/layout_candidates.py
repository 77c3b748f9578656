"""The layouts that fit a tested database, best first, each with the reasons detection gave (and
the layout's notes) beneath it; the connect dialog lets the user pick one to override the best."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from inspector.core.detect import LayoutCandidate

CandidateRole = Qt.ItemDataRole.UserRole


class CandidateTree(QTreeWidget):
    """One top-level row per LayoutCandidate (layout, confidence, table); reasons and notes are its
    children, spanning the row. Proposals and custom mappings are in italics."""

    def __init__(self, parent: QWidget | None = None, objectName: str = "candidateList"):  # noqa: N803 - Qt's spelling
        super().__init__(parent, objectName=objectName)
        self.setHeaderLabels(["Layout", "Confidence", "Table"])
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setRootIsDecorated(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(False)

    def show_candidates(self, cands: list[LayoutCandidate]) -> None:
        """List ``cands`` in order and choose the first."""
        self.clear()
        for cand in cands:
            self._add(cand)
        if self.topLevelItemCount():
            self.setCurrentItem(self.topLevelItem(0))

    def candidates(self) -> list[LayoutCandidate]:
        return [self.topLevelItem(i).data(0, CandidateRole) for i in range(self.topLevelItemCount())]

    def selected_candidate(self) -> LayoutCandidate | None:
        """The candidate of the current row, or of the row a chosen reason belongs to."""
        item = self.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        return item.data(0, CandidateRole) if item is not None else None

    def select_layout(self, name: str) -> None:
        """Choose the candidate whose layout is ``name``; KeyError when none is listed."""
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(0, CandidateRole).layout.name == name:
                self.setCurrentItem(item)
                return
        raise KeyError(name)

    def _add(self, cand: LayoutCandidate) -> QTreeWidgetItem:
        lay = cand.layout
        title = {"proposed": f"Proposed mapping for {lay.table}", "mapping": f"Custom mapping: {lay.title}"}.get(
            cand.source, lay.title)
        item = QTreeWidgetItem([title, f"{cand.confidence:.0%}", lay.table])
        item.setData(0, CandidateRole, cand)
        item.setToolTip(0, f"layout {lay.name} ({cand.source})")
        if cand.source != "known":
            f = QFont(item.font(0))
            f.setItalic(True)
            item.setFont(0, f)
        for reason in cand.reasons:
            child = QTreeWidgetItem([reason])
            child.setFlags(Qt.ItemFlag.ItemIsEnabled)
            child.setToolTip(0, reason)
            item.addChild(child)
        for note in lay.notes:
            child = QTreeWidgetItem([f"note: {note}"])
            child.setFlags(Qt.ItemFlag.ItemIsEnabled)
            child.setForeground(0, QBrush(QColor("gray")))
            item.addChild(child)
        self.addTopLevelItem(item)
        for i in range(item.childCount()):  # reasons read across the whole row
            item.child(i).setFirstColumnSpanned(True)
        item.setExpanded(True)
        for col in (0, 1, 2):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return item
