"""Rollback previews wired into the main window: the Checkpoints dock, the checkpoint flags on the
timeline, the "Checkpoint…" and "Preview skipping…" entries of the event table's context menu, the
slider's and the timeline's "Checkpoint here…", and the Rollback menu. Kept apart from
``main_window`` so the window stays about browsing; the window creates one ``Rollback`` and tells
it when the store changes.

Previews reuse the projection histories the state panel has built (and keep the ones a preview had
to build, for the next preview on the same store), so a preview does not fold the store again."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu, QMenuBar, QMessageBox

from inspector.core.checkpoints import Checkpoint

from .checkpoints_panel import CheckpointDialog, CheckpointsPanel, short_id
from .dialog_parts import open_dialog
from .event_model import EventRole
from .panels import add_bottom_dock
from .preview_dialog import PreviewDialog, PreviewRequest, SkipDialog
from .slider import local_text

UTC = dt.timezone.utc


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-")


class Rollback(QObject):
    """See the module docstring. ``window`` is the ``MainWindow``."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.store = None
        self.previews: list[PreviewDialog] = []
        self.checkpoint_dialog: CheckpointDialog | None = None
        self.skip_dialog: SkipDialog | None = None
        self._built: dict[str, Any] = {}  # histories built by previews, for the store shown
        self._menu_extensions: list[Callable[[QMenu, Any], None]] = []

        self.panel = CheckpointsPanel(window.runner, window)
        self.dock = add_bottom_dock(window, self.panel, "Checkpoints", "checkpointsDock", window.lineage_dock)

        self.panel.sig_flags.connect(window.timeline.set_flags)
        self.panel.sig_goto.connect(self.goto)
        self.panel.sig_preview.connect(self.preview_truncate)
        self.panel.sig_error.connect(lambda m: window.statusBar().showMessage(f"checkpoints: {m}", 15000))
        window.slider.sig_checkpoint_requested.connect(self.checkpoint_at)
        window.timeline.sig_context_requested.connect(self._timeline_menu)
        window.table.setContextMenuPolicy(Qt.CustomContextMenu)
        window.table.customContextMenuRequested.connect(self._table_menu)

    # -- store ------------------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        for d in list(self.previews):
            d.abandon()
        self.previews.clear()
        self._built.clear()
        self.store = store
        self.panel.set_store(store)

    def shutdown(self) -> None:
        for d in list(self.previews):
            d.abandon()

    # -- menus ------------------------------------------------------------------------------------------
    def add_menu(self, mb: QMenuBar, before: QAction | None = None) -> QMenu:
        menu = QMenu("&Rollback", mb)
        menu.setObjectName("rollbackMenu")
        show = QAction("&Checkpoints", self, shortcut=QKeySequence("Ctrl+Shift+K"), triggered=self.show_panel)
        at_slider = QAction("Checkpoint at the slider's position…", self, triggered=self._checkpoint_at_slider)
        at_event = QAction("Checkpoint just before the selected event…", self, triggered=self._checkpoint_selected)
        truncate = QAction("Preview &truncate to checkpoint…", self, triggered=self._preview_truncate_menu)
        skip = QAction("Preview &skip…", self, triggered=self.ask_skip)
        self.menu_actions = {"checkpoints": show, "at_slider": at_slider, "at_event": at_event,
                             "truncate": truncate, "skip": skip}
        menu.addAction(show)
        menu.addSeparator()
        menu.addAction(at_slider)
        menu.addAction(at_event)
        menu.addSeparator()
        menu.addAction(truncate)
        menu.addAction(skip)
        if before is not None:
            mb.insertMenu(before, menu)
        else:
            mb.addMenu(menu)
        self.menu = menu
        return menu

    def add_event_menu_extension(self, extend: Callable[[QMenu, Any], None]) -> None:
        """Have ``extend(menu, ev)`` add entries to every ``event_menu`` after its own (in the
        order added)."""
        self._menu_extensions.append(extend)

    def event_menu(self, ev) -> QMenu:
        """The event table's context menu for ``ev`` (a RecordedEvent), with the entries of
        ``add_event_menu_extension``."""
        menu = QMenu(self.w)
        menu.setObjectName("eventMenu")
        menu.addAction("Checkpoint just before this event…", lambda: self.checkpoint_before_event(ev))
        if ev.correlation_id:
            menu.addAction("Checkpoint just before this correlation…", lambda: self.checkpoint_before_correlation(ev))
        menu.addSeparator()
        a = menu.addAction("Preview skipping this event…", lambda: self.preview_skip_event(ev))
        if not ev.event_id:
            a.setEnabled(False)
            a.setToolTip("this store gives events no id a skip could name; skip its correlation instead")
        if ev.correlation_id:
            menu.addAction("Preview skipping this correlation…", lambda: self.preview_skip_correlation(ev))
            menu.addSeparator()
            menu.addAction("Show this correlation", lambda: self.w.show_correlation(ev.correlation_id))
        menu.setToolTipsVisible(True)
        for extend in self._menu_extensions:
            extend(menu, ev)
        return menu

    def _table_menu(self, pos) -> None:
        index = self.w.table.indexAt(pos)
        ev = index.data(EventRole) if index.isValid() else None
        if ev is None or self.store is None:
            return
        self.w.table.selectRow(index.row())
        menu = self.event_menu(ev)
        menu.exec(self.w.table.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def timeline_menu(self, x: float, axis: str) -> QMenu:
        """The timeline's context menu at ``x`` (epoch seconds or a position)."""
        menu = QMenu(self.w)
        if axis == "position":
            p = max(0, math.floor(x))
            menu.addAction(f"Checkpoint here (#{p})…",
                           lambda: self.ask_checkpoint({"at": p}, f"At #{p}: keeps every event up to #{p}.", f"at-{p}"))
        else:
            t = dt.datetime.fromtimestamp(x, UTC).replace(microsecond=0)
            text = local_text(t)
            menu.addAction(f"Checkpoint here ({text})…", lambda: self.ask_checkpoint(
                {"at_time": t.isoformat()}, f"At {text}: keeps every event recorded by then.",
                "at-" + t.astimezone().strftime("%Y%m%d-%H%M")))
        return menu

    def _timeline_menu(self, x: float, axis: str, global_pos) -> None:
        if self.store is not None:
            menu = self.timeline_menu(x, axis)
            menu.exec(global_pos)
            menu.deleteLater()

    # -- checkpoints ------------------------------------------------------------------------------------
    def show_panel(self) -> None:
        self.dock.show()
        self.dock.raise_()

    def ask_checkpoint(self, spec: dict, description: str, suggestion: str) -> CheckpointDialog | None:
        """The dialog naming a checkpoint chosen by ``spec`` (non-blocking; ``checkpoint_dialog``)."""
        if self.store is None:
            return None
        if self.checkpoint_dialog is not None:
            self.checkpoint_dialog.reject()
        dialog = CheckpointDialog(self.store, spec, description, _slug(suggestion), self.w.runner, self.w)
        self.checkpoint_dialog = dialog
        dialog.finished.connect(lambda result, d=dialog: self._checkpoint_dialog_done(d, result))
        dialog.open()
        return dialog

    def _checkpoint_dialog_done(self, dialog: CheckpointDialog, result: int) -> None:
        if self.checkpoint_dialog is dialog:
            self.checkpoint_dialog = None
        cp = dialog.checkpoint if result else None
        dialog.deleteLater()
        if cp is None:
            return
        self.panel.reload()
        self.panel.select(cp.name)
        self.show_panel()
        self.w.statusBar().showMessage(f"checkpoint {cp.name} added: keeps every event up to #{cp.position}", 10000)

    def checkpoint_before_event(self, ev) -> CheckpointDialog | None:
        spec = {"before_event": ev.event_id} if ev.event_id else {"at": ev.position - 1}
        when = f" · {local_text(ev.recorded_at)}" if ev.recorded_at else ""
        return self.ask_checkpoint(spec, f"Just before event #{ev.position} ({ev.type or '?'} on {ev.stream or '?'}"
                                         f"{when}): keeps every event before it.",
                                   f"before-{ev.type or 'event'}-{ev.position}")

    def checkpoint_before_correlation(self, ev) -> CheckpointDialog | None:
        c = ev.correlation_id
        who = (ev.actor or "").split(":")[-1] or "run"
        return self.ask_checkpoint({"before_correlation": c},
                                   f"Just before correlation {short_id(c, 13)} began (its first event), e.g. "
                                   f"{ev.actor or 'someone'}'s run: keeps every event before it. A truncate to it "
                                   "counts the rest of what it drops as collateral.",
                                   f"before-{who}-{str(c)[:8]}")

    def checkpoint_at(self, position: int) -> CheckpointDialog | None:
        t = self.w.slider.time()
        when = f" ({local_text(t)})" if t is not None and position == self.w.slider.position() else ""
        return self.ask_checkpoint({"at": int(position)}, f"At #{position}{when}: keeps every event up to it.",
                                   f"at-{position}")

    def _checkpoint_at_slider(self) -> None:
        p = self.w.slider.position()
        if p is None:
            QMessageBox.information(self.w, "Checkpoint", "The time slider has no position yet: choose a projection "
                                                          "in the state panel first.")
            return
        self.checkpoint_at(p)

    def _checkpoint_selected(self) -> None:
        ev = self.w.selected_event()
        if ev is None:
            QMessageBox.information(self.w, "Checkpoint", "Select an event in the table first.")
            return
        self.checkpoint_before_event(ev)

    def goto(self, cp: Checkpoint, anchor: int | None, t) -> None:
        """Move the slider and the table to the checkpoint's last kept event."""
        target = anchor if anchor is not None else cp.position
        if self.w.slider.has_stops():
            self.w.slider.set_position(target, t)
        self.w.select_position(target)

    # -- previews ---------------------------------------------------------------------------------------
    def preview_histories(self) -> dict[str, Any]:
        """Histories a preview may read as they are: those previews built, then the state panel's
        (unless it is extending them right now)."""
        out = dict(self._built)
        panel = self.w.state_panel
        if not panel.is_extending():
            out.update(panel.built_histories())
        return out

    def open_preview(self, request: PreviewRequest) -> PreviewDialog | None:
        if self.store is None:
            return None
        pm = self.w.plugin_manager
        projections = pm.projections() if pm is not None else []
        current = self.w.state_panel.projection()
        dialog = PreviewDialog(self.store, request, self.w.runner, projections, self.preview_histories(),
                               current.name if current is not None else None, self.w)
        dialog.sig_event_activated.connect(self.w.select_position)
        dialog.sig_histories_built.connect(lambda built, s=self.store: self._keep(s, built))
        dialog.finished.connect(lambda _r, d=dialog: self._preview_closed(d))
        self.previews.append(dialog)
        dialog.show()
        return dialog

    def _keep(self, store, built: dict) -> None:
        if store is self.store:
            self._built.update(built)

    def _preview_closed(self, dialog: PreviewDialog) -> None:
        if dialog in self.previews:
            self.previews.remove(dialog)
        dialog.deleteLater()

    def preview_truncate(self, cp: Checkpoint) -> PreviewDialog | None:
        return self.open_preview(PreviewRequest.truncate(cp))

    def preview_skip_event(self, ev) -> PreviewDialog | None:
        from inspector.core.replay_values import Selection

        return self.open_preview(PreviewRequest.skip(Selection(event_ids=(ev.event_id,))))

    def preview_skip_correlation(self, ev) -> PreviewDialog | None:
        from inspector.core.replay_values import Selection

        return self.open_preview(PreviewRequest.skip(Selection(correlation_ids=(ev.correlation_id,))))

    def _preview_truncate_menu(self) -> None:
        items = self.panel.checkpoints()
        if not items:
            QMessageBox.information(self.w, "Preview truncate",
                                    "This store has no checkpoints yet. Right-click an event and choose "
                                    "“Checkpoint just before this event…”, or use ⚑ on the time slider.")
            return
        cp = items[0]
        if len(items) > 1:
            labels = [f"{c.name} (#{c.position})" for c in items]
            sel = self.panel.selected()
            current = next((i for i, c in enumerate(items) if sel is not None and c.name == sel.name), 0)
            label, ok = QInputDialog.getItem(self.w, "Preview truncate", "Truncate to checkpoint:", labels, current,
                                             False)
            if not ok:
                return
            cp = items[labels.index(label)]
        self.preview_truncate(cp)

    def ask_skip(self) -> SkipDialog | None:
        if self.store is None:
            return None
        ev = self.w.selected_event()
        dialog = SkipDialog(None, ev.correlation_id if ev is not None else None, None, self.w)

        def accepted(d: SkipDialog) -> None:
            if d.selection is not None:
                self.open_preview(PreviewRequest.skip(d.selection))

        return open_dialog(self, "skip_dialog", dialog, accepted)
