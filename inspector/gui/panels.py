"""What the docked list panels share (Checkpoints, Bookmarks, Audit, Integrity): the bottom dock
tabbed with another, the flat list tree, the placeholder shown while the list is empty, the red
message line, and the title-and-buttons row above the list."""

from __future__ import annotations

from typing import Iterable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from .dialog_parts import ERROR_STYLE


def add_bottom_dock(window: QMainWindow, widget: QWidget, title: str, name: str,
                    tab_with: QDockWidget | None = None, front: QDockWidget | None = None) -> QDockWidget:
    """``widget`` in a closable, movable dock at the bottom of ``window``, tabbed with ``tab_with``
    (when given) and leaving ``front`` (else ``tab_with``) the tab shown."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
    dock.setWidget(widget)
    window.addDockWidget(Qt.BottomDockWidgetArea, dock)
    if tab_with is not None:
        window.tabifyDockWidget(tab_with, dock)
        (front if front is not None else tab_with).raise_()
    return dock


def list_tree(parent: QWidget, name: str, columns: Sequence[str], samples: Iterable[str]) -> QTreeWidget:
    """A flat, single-selection list with ``columns``, each of the first ones as wide as its
    sample text."""
    t = QTreeWidget(parent)
    t.setObjectName(name)
    t.setColumnCount(len(columns))
    t.setHeaderLabels(list(columns))
    t.setRootIsDecorated(False)
    t.setUniformRowHeights(True)
    t.setAlternatingRowColors(True)
    t.setSelectionMode(QAbstractItemView.SingleSelection)
    h = t.header()
    h.setStretchLastSection(True)
    h.setSectionResizeMode(QHeaderView.Interactive)
    fm = parent.fontMetrics()
    for col, sample in enumerate(samples):
        h.resizeSection(col, fm.horizontalAdvance(sample) + 24)
    return t


def empty_label(parent: QWidget, text: str, name: str) -> QLabel:
    """The greyed text shown instead of an empty list."""
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.PlaceholderText)
    label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
    return label


def error_label(parent: QWidget, name: str) -> QLabel:
    """A red, word-wrapped line for what went wrong; hidden until there is something to say."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.hide()
    return label


def list_layout(panel: QWidget, title: QWidget, buttons: Iterable[QWidget], message: QWidget, body: QWidget,
                empty: QWidget) -> QVBoxLayout:
    """``title`` and ``buttons`` in a row, then ``message``, then ``body`` or (in the same place)
    ``empty``."""
    top = QHBoxLayout()
    top.setContentsMargins(0, 0, 0, 0)
    top.addWidget(title)
    top.addStretch(1)
    for b in buttons:
        top.addWidget(b)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(6, 4, 6, 4)
    layout.setSpacing(4)
    layout.addLayout(top)
    layout.addWidget(message)
    layout.addWidget(body, 1)
    layout.addWidget(empty, 1)
    return layout
