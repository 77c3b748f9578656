"""The small dialogs of saved investigations (``gui.investigations_panel``): a bookmark's label and
note, and a note on the investigation or on a checkpoint."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from .dialog_parts import ok_cancel


class BookmarkDialog(QDialog):
    """Label and note for a bookmark on the event described by ``what``."""

    def __init__(self, what: str, label: str = "", note: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("bookmarkDialog")
        self.setWindowTitle("Bookmark event")
        head = QLabel(what, self)
        head.setObjectName("bookmarkWhat")
        head.setWordWrap(True)
        head.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label_edit = QLineEdit(label, self)
        self.label_edit.setObjectName("bookmarkLabel")
        self.label_edit.setPlaceholderText("a short label (optional)")
        self.note_edit = QPlainTextEdit(note, self)
        self.note_edit.setObjectName("bookmarkNote")
        self.note_edit.setPlaceholderText("why it matters (optional)")
        self.note_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 5)
        hint = QLabel("Kept in the inspector's own data for this store and included in evidence bundles; the "
                      "store itself is never written.", self)
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.PlaceholderText)
        buttons = ok_cancel(self, "Save bookmark", self.accept)
        form = QFormLayout()
        form.addRow("Label", self.label_edit)
        form.addRow("Note", self.note_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)


class NoteDialog(QDialog):
    """A note on the investigation, or on the checkpoint named ``checkpoint``."""

    def __init__(self, checkpoint: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("noteDialog")
        self.setWindowTitle("Note on checkpoint" if checkpoint else "Note")
        head = QLabel(f"On checkpoint “{checkpoint}”" if checkpoint else "On the investigation of this store", self)
        head.setWordWrap(True)
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setObjectName("noteText")
        self.note_edit.setPlaceholderText("what you found, what to ask, what to do next")
        buttons = ok_cancel(self, "Save note", self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(self.note_edit, 1)
        layout.addWidget(buttons)
        self.setMinimumSize(420, 220)
