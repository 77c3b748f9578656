"""Checkpoints in the desktop app: the panel listing a store's checkpoints (name, position, time,
how it was chosen, note) with go to / preview truncate / remove, and the small dialog that names a
new one.

Adapter over ``core.checkpoints``: the ``CheckpointBook`` (a small JSON file in the inspector's data
directory) is read on the GUI thread; anything that queries the store (resolving a new checkpoint,
the time of each checkpoint's last kept event for the timeline's flags) runs on the window's
``TaskRunner``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Mapping

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoints import Checkpoint, CheckpointBook, make_checkpoint, parse_iso
from inspector.core.errors import InspectorError
from inspector.core.model import EventFilter

from .dialog_parts import ok_cancel
from .panels import empty_label, error_label, list_layout, list_tree
from .slider import local_text
from .timeline import Flag
from .workers import Cancelled, TaskRunner, describe

COLUMNS = ("Name", "Position", "Last kept event", "Chosen", "Note")
CheckpointRole = Qt.UserRole + 1
EMPTY_TEXT = ("No checkpoints for this store yet. Right-click an event: “Checkpoint just before this event…”, "
              "or use ⚑ on the time slider, or right-click the timeline.")


def short_id(value: Any, n: int = 8) -> str:
    s = str(value)
    return s if len(s) <= n + 1 else s[:n] + "…"


def _utc_text(value: str | None) -> str:
    if not value:
        return ""
    try:
        t = parse_iso(value)
    except InspectorError:
        return str(value)
    if t.time() == dt.time(0):
        return t.date().isoformat()
    return t.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def describe_spec(spec: Mapping[str, Any]) -> str:
    """How a checkpoint was chosen, in a few words."""
    if "at" in spec:
        return f"at #{spec['at']}"
    if "at_time" in spec:
        return f"at time {_utc_text(spec['at_time'])}"
    if "before_event" in spec:
        return f"before event {short_id(spec['before_event'])}"
    if "before_correlation" in spec:
        return f"before correlation {short_id(spec['before_correlation'])}"
    if "before_actor" in spec:
        since = f" since {_utc_text(spec.get('since'))}" if spec.get("since") else ""
        return f"before {spec['before_actor']}'s run{since}"
    return "?"


def anchor_events(store, positions) -> dict[int, tuple[int | None, dt.datetime | None]]:
    """Worker body: for each checkpoint position, the last event at or before it (its position
    and time), which is where its flag stands: one keyset read per checkpoint."""
    out = {}
    for p in sorted(set(int(x) for x in positions)):
        page = store.read_page(EventFilter(before=p + 1), limit=1, descending=True)
        e = page.events[0] if page.events else None
        out[p] = (e.position, e.recorded_at) if e is not None else (None, None)
    return out


def create_checkpoint(store, name: str, spec: Mapping[str, Any], note: str, replace: bool) -> Checkpoint:
    """Worker body: resolve ``spec`` on the store and keep the checkpoint in its book."""
    cp = make_checkpoint(store, name, spec, note)
    return CheckpointBook.for_store(store).add(cp, replace=replace)


class CheckpointsPanel(QWidget):
    """The checkpoints of the open store, by position; see the module docstring."""

    sig_goto = Signal(object, object, object)  # Checkpoint, last kept position (or None), its time
    sig_preview = Signal(object)  # Checkpoint: preview a truncate to it
    sig_flags = Signal(list)  # [timeline.Flag]: what the timeline should draw
    sig_changed = Signal()  # the list was read again
    sig_error = Signal(str)
    sig_note_requested = Signal(object)  # Checkpoint: write an investigation note on it (gui.investigations_panel)

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("checkpointsPanel")
        self._runner = runner or TaskRunner(self)
        self.store = None
        self.book: CheckpointBook | None = None
        self.items: list[Checkpoint] = []
        self.anchors: dict[int, tuple[int | None, dt.datetime | None]] = {}
        self._token = 0

        self.title = QLabel(self)
        self.title.setObjectName("checkpointsSummary")
        self.title.setToolTip("checkpoints are kept in the inspector's own data for this store, never in the store")
        self.tree = list_tree(self, "checkpointTree", COLUMNS, ("before-pricing-bot", "#0000000", "2026-10-20 09:18:45",
                                                                "before correlation a087b32f"))
        self.tree.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu_requested)
        self.tree.itemDoubleClicked.connect(lambda *_: self.goto_selected())
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.empty = empty_label(self, EMPTY_TEXT, "checkpointsEmpty")
        self.message = error_label(self, "checkpointsMessage")

        self.goto_button = QPushButton("Go to", self)
        self.goto_button.setObjectName("checkpointGoto")
        self.goto_button.setToolTip("move the slider and the event table to the checkpoint's last kept event")
        self.goto_button.clicked.connect(self.goto_selected)
        self.preview_button = QPushButton("Preview truncate…", self)
        self.preview_button.setObjectName("checkpointPreview")
        self.preview_button.setToolTip("what dropping every event after this checkpoint would do (nothing is written)")
        self.preview_button.clicked.connect(self.preview_selected)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName("checkpointRemove")
        self.remove_button.setToolTip("forget this checkpoint (the store is not touched)")
        self.remove_button.clicked.connect(self._remove_clicked)

        list_layout(self, self.title, (self.goto_button, self.preview_button, self.remove_button), self.message,
                    self.tree, self.empty)
        self._fill()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(560, 220)

    # -- store and list ------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self.book = CheckpointBook.for_store(store) if store is not None else None
        self.anchors = {}
        self.reload()

    def reload(self) -> None:
        """Read the book again, then look up where each checkpoint's flag stands."""
        self._token += 1
        self.message.hide()
        self.items = []
        if self.book is not None:
            try:
                self.items = self.book.list()
            except InspectorError as e:
                self._show_error(str(e))
        self._fill()
        self.sig_changed.emit()
        self._emit_flags()
        missing = [c.position for c in self.items if c.position not in self.anchors]
        if missing and self.store is not None:
            token = self._token
            self._runner.submit(anchor_events, self.store, missing, label="checkpoint times", owner=self,
                                on_finished=lambda res: self._anchors_arrived(token, res),
                                on_error=lambda e: self._anchors_failed(token, e))

    def _anchors_arrived(self, token: int, found: dict) -> None:
        self.anchors.update(found)
        if token == self._token:
            self._fill()
            self._emit_flags()

    def _anchors_failed(self, token: int, exc: BaseException) -> None:
        if token == self._token and not isinstance(exc, Cancelled):
            self.sig_error.emit(f"checkpoint times: {describe(exc)}")

    def _show_error(self, text: str) -> None:
        self.message.setText(f"⚠ {text}")
        self.message.show()
        self.sig_error.emit(text)

    def flags(self) -> list[Flag]:
        out = []
        for c in self.items:
            _, t = self.anchors.get(c.position, (None, None))
            tip = f"checkpoint {c.name}: keeps every event up to #{c.position} ({describe_spec(c.spec)})"
            out.append(Flag(c.name, c.position, t, tip + (f"\n{c.note}" if c.note else "")))
        return out

    def _emit_flags(self) -> None:
        self.sig_flags.emit(self.flags())

    def _fill(self) -> None:
        current = self.selected()
        self.tree.clear()
        for c in self.items:
            anchor, t = self.anchors.get(c.position, (None, None))
            when = local_text(t) if t is not None else ("before the first event" if c.position in self.anchors
                                                         else "…")
            if anchor is not None and anchor != c.position:
                when += f" (#{anchor})"
            item = QTreeWidgetItem([c.name, f"#{c.position}", when, describe_spec(c.spec), c.note])
            item.setData(0, CheckpointRole, c)
            item.setToolTip(0, f"created {local_text(c.created_at)}")
            item.setToolTip(3, json.dumps(dict(c.spec), ensure_ascii=False))
            item.setToolTip(4, c.note)
            item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            self.tree.addTopLevelItem(item)
            if current is not None and c.name == current.name:
                self.tree.setCurrentItem(item)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(self.tree.topLevelItemCount() - 1))
        has = bool(self.items)
        self.title.setText(f"{len(self.items)} checkpoint{'s' if len(self.items) != 1 else ''} · "
                           "double-click one to go to it" if has else "")
        self.tree.setVisible(has)
        self.empty.setVisible(not has)
        self._update_buttons()

    def _update_buttons(self) -> None:
        on = self.selected() is not None
        for b in (self.goto_button, self.preview_button, self.remove_button):
            b.setEnabled(on)

    # -- selection and actions -----------------------------------------------------------------------
    def checkpoints(self) -> list[Checkpoint]:
        return list(self.items)

    def selected(self) -> Checkpoint | None:
        item = self.tree.currentItem()
        return item.data(0, CheckpointRole) if item is not None else None

    def select(self, name: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, CheckpointRole).name == name:
                self.tree.setCurrentItem(item)
                return True
        return False

    def goto(self, cp: Checkpoint) -> None:
        anchor, t = self.anchors.get(cp.position, (None, None))
        self.sig_goto.emit(cp, anchor, t)

    def goto_selected(self) -> None:
        cp = self.selected()
        if cp is not None:
            self.goto(cp)

    def preview_selected(self) -> None:
        cp = self.selected()
        if cp is not None:
            self.sig_preview.emit(cp)

    def remove(self, name: str) -> None:
        if self.book is None:
            return
        try:
            self.book.remove(name)
        except InspectorError as e:
            self._show_error(str(e))
            return
        self.reload()

    def _remove_clicked(self) -> None:
        cp = self.selected()
        if cp is None:
            return
        answer = QMessageBox.question(self, "Remove checkpoint",
                                      f"Forget the checkpoint “{cp.name}” (#{cp.position})?\n"
                                      "Only the inspector's note of it is removed; the store is not touched.")
        if answer == QMessageBox.Yes:
            self.remove(cp.name)

    def context_menu(self, cp: Checkpoint) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Go to", lambda: self.goto(cp))
        menu.addAction("Preview truncate to this checkpoint…", lambda: self.sig_preview.emit(cp))
        menu.addAction("Add a note…", lambda: self.sig_note_requested.emit(cp))
        menu.addSeparator()
        menu.addAction("Remove", self._remove_clicked)
        return menu

    def _menu_requested(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        self.tree.setCurrentItem(item)
        menu = self.context_menu(item.data(0, CheckpointRole))
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()


class CheckpointDialog(QDialog):
    """Names a checkpoint chosen elsewhere (``spec``, described by ``description``): name and
    note, then resolves and keeps it on a worker. Errors (a name taken, an event gone) stay in the
    dialog; ``checkpoint`` holds the result once accepted."""

    def __init__(self, store, spec: Mapping[str, Any], description: str, suggestion: str,
                 runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("checkpointDialog")
        self.setWindowTitle("New checkpoint")
        self.store, self.spec, self._runner = store, dict(spec), runner
        self.checkpoint: Checkpoint | None = None
        self._busy = False
        try:
            self._taken = {c.name for c in CheckpointBook.for_store(store).list()}
        except InspectorError:
            self._taken = set()

        what = QLabel(description, self)
        what.setObjectName("checkpointWhat")
        what.setWordWrap(True)
        what.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.name_edit = QLineEdit(self._unique(suggestion), self)
        self.name_edit.setObjectName("checkpointName")
        self.name_edit.selectAll()
        self.note_edit = QLineEdit(self)
        self.note_edit.setObjectName("checkpointNote")
        self.note_edit.setPlaceholderText("why this point (optional)")
        self.replace_box = QCheckBox("Replace the checkpoint of that name", self)
        self.replace_box.setObjectName("checkpointReplace")
        self.replace_box.hide()
        self.error = error_label(self, "checkpointError")
        hint = QLabel("Kept in the inspector's own data for this store; the store itself is never written.", self)
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.PlaceholderText)

        self.buttons = ok_cancel(self, "Add checkpoint", self.submit)
        self.name_edit.textChanged.connect(self._name_changed)

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Note", self.note_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(what)
        layout.addLayout(form)
        layout.addWidget(self.replace_box)
        layout.addWidget(self.error)
        layout.addWidget(hint)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)

    def _unique(self, name: str) -> str:
        if name not in self._taken:
            return name
        i = 2
        while f"{name}-{i}" in self._taken:
            i += 1
        return f"{name}-{i}"

    def _name_changed(self, text: str) -> None:
        self.error.hide()
        taken = text.strip() in self._taken
        self.replace_box.setVisible(taken)
        if not taken:
            self.replace_box.setChecked(False)

    def submit(self) -> None:
        """Resolve and keep the checkpoint (on a worker); accepted when it is kept."""
        if self._busy:
            return
        name = self.name_edit.text().strip()
        if not name:
            self._fail("a checkpoint needs a name")
            return
        if name in self._taken and not self.replace_box.isChecked():
            self.replace_box.show()
            self._fail(f"a checkpoint named “{name}” exists already: choose another name, or tick Replace")
            return
        self._busy = True
        self.buttons.setEnabled(False)
        self._runner.submit(create_checkpoint, self.store, name, self.spec, self.note_edit.text().strip(),
                            self.replace_box.isChecked(), label="adding checkpoint", owner=self,
                            on_finished=self._created, on_error=self._failed)

    def _created(self, cp: Checkpoint) -> None:
        self._busy = False
        self.buttons.setEnabled(True)
        self.checkpoint = cp
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.buttons.setEnabled(True)
        if not isinstance(exc, Cancelled):
            self._fail(describe(exc))

    def _fail(self, text: str) -> None:
        self.error.setText(f"⚠ {text}")
        self.error.show()

    def is_busy(self) -> bool:
        return self._busy
