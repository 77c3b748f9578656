"""Saved investigations in the desktop app: the Bookmarks dock (bookmarked events, and notes, free
or on checkpoints), "Bookmark…" in the event table's context menu (and Ctrl+D on the selected
event), and "Add a note…" on a checkpoint in the Checkpoints dock.

Adapter over ``core.investigations``: the ``InvestigationBook`` is a small JSON file in the
inspector's data directory, read and written on the GUI thread like the checkpoint book; nothing
here queries the store (a bookmark keeps the event's position, id, type and stream as shown)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from inspector.core.errors import InspectorError
from inspector.core.investigations import Bookmark, InvestigationBook, Note

from .investigation_dialogs import BookmarkDialog, NoteDialog
from .panels import add_bottom_dock, empty_label, error_label, list_layout, list_tree
from .slider import local_text

BOOKMARK_COLUMNS = ("Position", "Label", "Type", "Stream", "Note", "By", "When")
NOTE_COLUMNS = ("On", "Note", "By", "When")
ItemRole = Qt.UserRole + 1
EMPTY_TEXT = ("No bookmarks for this store yet. Right-click an event and choose “Bookmark…” (or select it and "
              "press Ctrl+D); right-click a checkpoint to add a note. Kept in the inspector's own data, never in "
              "the store, and included in evidence bundles.")


def describe_event(ev) -> str:
    when = f" · {local_text(ev.recorded_at)}" if getattr(ev, "recorded_at", None) else ""
    return f"#{ev.position} · {ev.type or '?'} on {ev.stream or '?'}{when}"


class InvestigationsPanel(QWidget):
    """Bookmarks and notes of the store shown. ``sig_goto(position)``: a bookmark was clicked."""

    sig_goto = Signal(int)
    sig_changed = Signal()
    sig_error = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("investigationsPanel")
        self.store = None
        self.book: InvestigationBook | None = None
        self.items: list[Bookmark] = []
        self.note_items: list[Note] = []

        self.title = QLabel(self)
        self.title.setObjectName("bookmarksSummary")
        self.title.setToolTip("kept in the inspector's own data for this store, never in the store")
        self.message = error_label(self, "bookmarksMessage")
        self.tree = self._tree("bookmarkTree", BOOKMARK_COLUMNS, ("#0000000", "suspicious refund", "PaymentCaptured",
                                                                   "order-000000", "why it matters", "user:carol"))
        self.tree.itemClicked.connect(lambda item, _c: self.goto_item(item))
        self.tree.itemActivated.connect(lambda item, _c: self.goto_item(item))
        self.notes_tree = self._tree("noteTree", NOTE_COLUMNS, ("checkpoint before-pricing-bot", "x" * 40, "user:carol"))
        self.empty = empty_label(self, EMPTY_TEXT, "bookmarksEmpty")
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("investigationTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.tree, "Bookmarks")
        self.tabs.addTab(self.notes_tree, "Notes")
        self.tabs.currentChanged.connect(lambda _i: self._update_buttons())

        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setObjectName("bookmarkEdit")
        self.edit_button.clicked.connect(self.edit_selected)
        self.note_button = QPushButton("Add note…", self)
        self.note_button.setObjectName("noteAdd")
        self.note_button.setToolTip("a note on the investigation as a whole")
        self.note_button.clicked.connect(lambda: self.ask_note(None))
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName("bookmarkRemove")
        self.remove_button.setToolTip("forget this bookmark or note (the store is not touched)")
        self.remove_button.clicked.connect(self._remove_clicked)
        self.dialog: QDialog | None = None

        list_layout(self, self.title, (self.edit_button, self.note_button, self.remove_button), self.message,
                    self.tabs, self.empty)
        self._fill()

    def _tree(self, name: str, columns, samples) -> QTreeWidget:
        t = list_tree(self, name, columns, samples)
        t.currentItemChanged.connect(lambda *_: self._update_buttons())
        return t

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(560, 220)

    # -- store and lists ------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self.book = InvestigationBook.for_store(store) if store is not None else None
        self.reload()

    def reload(self) -> None:
        self.message.hide()
        self.items, self.note_items = [], []
        if self.book is not None:
            try:
                self.items, self.note_items = self.book.bookmarks(), self.book.notes()
            except InspectorError as e:
                self._show_error(str(e))
        self._fill()
        self.sig_changed.emit()

    def _show_error(self, text: str) -> None:
        self.message.setText(f"⚠ {text}")
        self.message.show()
        self.sig_error.emit(text)

    def _fill(self) -> None:
        current = self.selected_bookmark()
        self.tree.clear()
        for b in self.items:
            item = QTreeWidgetItem([f"#{b.position}", b.label, b.event_type or "", b.stream or "", b.note, b.actor,
                                    local_text(b.created_at)])
            item.setData(0, ItemRole, b)
            item.setToolTip(0, f"{b.id} · event {b.event_id}" if b.event_id else b.id)
            item.setToolTip(4, b.note)
            item.setTextAlignment(0, Qt.AlignRight | Qt.AlignVCenter)
            self.tree.addTopLevelItem(item)
            if current is not None and b.id == current.id:
                self.tree.setCurrentItem(item)
        self.notes_tree.clear()
        for n in self.note_items:
            item = QTreeWidgetItem([f"checkpoint {n.checkpoint}" if n.checkpoint else "investigation", n.text, n.actor,
                                    local_text(n.created_at)])
            item.setData(0, ItemRole, n)
            item.setToolTip(1, n.text)
            self.notes_tree.addTopLevelItem(item)
        nb, nn = len(self.items), len(self.note_items)
        self.tabs.setTabText(0, f"Bookmarks ({nb})")
        self.tabs.setTabText(1, f"Notes ({nn})")
        has = bool(nb or nn)
        self.title.setText(f"{nb} bookmark{'s' if nb != 1 else ''}, {nn} note{'s' if nn != 1 else ''} · "
                           "click a bookmark to go to its event" if has else "")
        self.tabs.setVisible(has)
        self.empty.setVisible(not has)
        self._update_buttons()

    def _update_buttons(self) -> None:
        on_bookmarks = self.tabs.currentIndex() == 0
        self.edit_button.setEnabled(on_bookmarks and self.selected_bookmark() is not None)
        self.remove_button.setEnabled(self.selected_bookmark() is not None if on_bookmarks
                                      else self.selected_note() is not None)
        self.note_button.setEnabled(self.book is not None)

    # -- selection ------------------------------------------------------------------------------------
    def bookmarks(self) -> list[Bookmark]:
        return list(self.items)

    def notes(self) -> list[Note]:
        return list(self.note_items)

    def selected_bookmark(self) -> Bookmark | None:
        item = self.tree.currentItem()
        return item.data(0, ItemRole) if item is not None else None

    def selected_note(self) -> Note | None:
        item = self.notes_tree.currentItem()
        return item.data(0, ItemRole) if item is not None else None

    def select(self, item_id: str) -> bool:
        for tree, tab in ((self.tree, 0), (self.notes_tree, 1)):
            for i in range(tree.topLevelItemCount()):
                item = tree.topLevelItem(i)
                if item.data(0, ItemRole).id == item_id:
                    self.tabs.setCurrentIndex(tab)
                    tree.setCurrentItem(item)
                    return True
        return False

    def goto_item(self, item: QTreeWidgetItem | None) -> None:
        b = item.data(0, ItemRole) if item is not None else None
        if isinstance(b, Bookmark):
            self.sig_goto.emit(b.position)

    # -- changes --------------------------------------------------------------------------------------
    def add_bookmark(self, ev, label: str = "", note: str = "") -> Bookmark | None:
        """Bookmark ``ev`` (a RecordedEvent) now."""
        if self.book is None:
            return None
        try:
            b = self.book.add_bookmark(ev.position, ev.event_id, label, note, event_type=ev.type, stream=ev.stream)
        except InspectorError as e:
            self._show_error(str(e))
            return None
        self.reload()
        self.select(b.id)
        return b

    def add_note(self, text: str, checkpoint: str | None = None) -> Note | None:
        if self.book is None:
            return None
        try:
            n = self.book.add_note(text, checkpoint)
        except InspectorError as e:
            self._show_error(str(e))
            return None
        self.reload()
        self.select(n.id)
        return n

    def remove(self, item_id: str) -> None:
        if self.book is None:
            return
        try:
            (self.book.remove_bookmark if item_id.startswith("b") else self.book.remove_note)(item_id)
        except InspectorError as e:
            self._show_error(str(e))
            return
        self.reload()

    def _remove_clicked(self) -> None:
        item = self.selected_bookmark() if self.tabs.currentIndex() == 0 else self.selected_note()
        if item is None:
            return
        what = f"the bookmark on #{item.position}" if isinstance(item, Bookmark) else "this note"
        if QMessageBox.question(self, "Remove", f"Forget {what}? The store is not touched.") == QMessageBox.Yes:
            self.remove(item.id)

    # -- dialogs (non-blocking; ``self.dialog`` while one is open) -------------------------------------
    def ask_bookmark(self, ev) -> "BookmarkDialog | None":
        if self.book is None or ev is None:
            return None
        dialog = BookmarkDialog(describe_event(ev), parent=self)

        def done(result: int) -> None:
            if result:
                self.add_bookmark(ev, dialog.label_edit.text(), dialog.note_edit.toPlainText())
            self._closed(dialog)

        return self._open(dialog, done)

    def edit_selected(self) -> "BookmarkDialog | None":
        b = self.selected_bookmark()
        if b is None or self.book is None:
            return None
        dialog = BookmarkDialog(f"#{b.position} · {b.event_type or '?'} on {b.stream or '?'}", b.label, b.note, self)
        dialog.setWindowTitle("Edit bookmark")

        def done(result: int) -> None:
            if result:
                try:
                    self.book.update_bookmark(b.id, label=dialog.label_edit.text(),
                                              note=dialog.note_edit.toPlainText())
                except InspectorError as e:
                    self._show_error(str(e))
                self.reload()
            self._closed(dialog)

        return self._open(dialog, done)

    def ask_note(self, checkpoint: str | None) -> "NoteDialog | None":
        if self.book is None:
            return None
        dialog = NoteDialog(checkpoint, self)

        def done(result: int) -> None:
            if result and dialog.note_edit.toPlainText().strip():
                self.add_note(dialog.note_edit.toPlainText(), checkpoint)
                self.tabs.setCurrentIndex(1)
            self._closed(dialog)

        return self._open(dialog, done)

    def _open(self, dialog: QDialog, done) -> QDialog:
        if self.dialog is not None:
            self.dialog.reject()
        self.dialog = dialog
        dialog.finished.connect(done)
        dialog.open()
        return dialog

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()


class Investigations(QObject):
    """Wires the panel into a ``MainWindow``: the Bookmarks dock (tabbed with the Checkpoints dock),
    "Bookmark…" in the event table's context menu, Ctrl+D, and notes on checkpoints."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.panel = InvestigationsPanel(window)
        anchor = getattr(window, "checkpoints_dock", None) or getattr(window, "lineage_dock", None)
        self.dock = add_bottom_dock(window, self.panel, "Bookmarks", "bookmarksDock", anchor,
                                    getattr(window, "lineage_dock", None))

        self.bookmark_action = QAction("Bookmark the selected event…", window)
        self.bookmark_action.setObjectName("bookmarkAction")
        self.bookmark_action.setShortcut(QKeySequence("Ctrl+D"))
        self.bookmark_action.triggered.connect(self._bookmark_selected)
        window.addAction(self.bookmark_action)  # the shortcut works wherever the focus is in the window

        self.panel.sig_goto.connect(self.goto)
        self.panel.sig_error.connect(lambda m: window.statusBar().showMessage(f"bookmarks: {m}", 15000))
        window.sig_store_changed.connect(lambda opened: self.panel.set_store(opened.store if opened else None))
        self._extend_event_menu()
        sig = getattr(getattr(window, "checkpoints_panel", None), "sig_note_requested", None)
        if sig is not None:
            sig.connect(lambda cp: self.ask_checkpoint_note(cp.name))
        if getattr(window, "opened", None) is not None:
            self.panel.set_store(window.opened.store)

    def _extend_event_menu(self) -> None:
        """Add "Bookmark…" to the event table's context menu, which ``rollback.Rollback.event_menu``
        builds."""
        rollback = getattr(self.w, "rollback", None)
        if rollback is not None:
            rollback.add_event_menu_extension(self._bookmark_entry)

    def _bookmark_entry(self, menu, ev) -> None:
        menu.addSeparator()
        menu.addAction("Bookmark…", lambda: self.ask_bookmark(ev)).setObjectName("bookmarkEvent")

    def ask_bookmark(self, ev) -> BookmarkDialog | None:
        self.show_panel()
        return self.panel.ask_bookmark(ev)

    def _bookmark_selected(self) -> None:
        ev = self.w.selected_event()
        if ev is None:
            QMessageBox.information(self.w, "Bookmark", "Select an event in the table first.")
            return
        self.ask_bookmark(ev)

    def ask_checkpoint_note(self, name: str) -> NoteDialog | None:
        self.show_panel()
        return self.panel.ask_note(name)

    def goto(self, position: int) -> None:
        self.w.select_position(int(position))

    def show_panel(self) -> None:
        self.dock.show()
        self.dock.raise_()
