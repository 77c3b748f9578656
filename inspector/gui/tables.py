"""The look every table of the app shares: whole-row single selection, no grid, elided one-line
cells, rows of a fixed height, a left-aligned header whose last section stretches."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


def style_table(t: QTableView, *, alternating: bool = True, row_pad: int = 8, smooth_rows: bool = False) -> QTableView:
    """Apply the shared look to ``t`` (``row_pad``: pixels above the font's height per row;
    ``smooth_rows``: scroll rows by pixel too, for long tables)."""
    t.setSelectionBehavior(QAbstractItemView.SelectRows)
    t.setSelectionMode(QAbstractItemView.SingleSelection)
    t.setAlternatingRowColors(alternating)
    t.setShowGrid(False)
    t.setWordWrap(False)
    t.setTextElideMode(Qt.ElideRight)
    t.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
    if smooth_rows:
        t.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
    t.setCornerButtonEnabled(False)
    v = t.verticalHeader()
    v.hide()
    v.setSectionResizeMode(QHeaderView.Fixed)
    v.setDefaultSectionSize(t.fontMetrics().height() + row_pad)
    h = t.horizontalHeader()
    h.setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
    h.setHighlightSections(False)
    h.setStretchLastSection(True)
    return t
