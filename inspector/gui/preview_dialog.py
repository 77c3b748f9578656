"""The preview dialog: what a truncate to a checkpoint, or a skip of some events, would do, before
anything changes. The plan (``core.replay``) is computed on a worker (building any missing
projection history first, with progress); its tabs show the dropped events, the collateral loss,
the orphans and each projection's state diff. From it the plan can be exported as JSON, or forked
into a new SQLite store (``core.fork``, on a worker; the original is only read), or compensated:
"Compensate…" opens the composer (``composer``) on the plan, with the histories the preview used.
Each preview, export and fork is recorded in the operator log (``core.oplog``; a log that cannot
be written is a warning in the status bar).

``PreviewRequest`` (``preview_request``) says what to preview; ``SkipDialog`` asks which events to
skip."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoints import StoreIdentity
from inspector.core.errors import InspectorError
from inspector.core.fork import ForkSummary, fork_plan
from inspector.core.oplog import sha256_json
from inspector.core.oplog_records import file_result, fork_summary, replay_summary, selection_params
from inspector.core.replay_values import ReplayPlan, Selection

from .dialog_parts import (ERROR_STYLE, busy_row, export_reported, ok_cancel, report, result_label, show_progress,
                           title_label)
from .oplog_gui import record_read
from .preview_request import PreviewRequest, compute_preview, describe_selection
from .preview_views import DiffView, EventSetView, OrphansView, plural
from .workers import Cancelled, TaskRunner, describe

__all__ = ["COMPENSATE_TIP", "COMPENSATE_VIEWER_TIP", "PreviewDialog", "PreviewRequest", "SkipDialog"]

COMPENSATE_TIP = ("compose the commands that undo this (plugins propose them), see their effect in memory, and "
                  "submit them through a write connection")
COMPENSATE_VIEWER_TIP = ("composing compensations needs the auditor or operator role: a viewer's values are masked, "
                         "and masked values must never be written back")


class _ForkProgress(QObject):
    """Carries ``fork_plan``'s progress callback (called on the worker) to the GUI thread."""

    sig = Signal(int, int)


# -- the dialog --------------------------------------------------------------------------------------


class PreviewDialog(QDialog):
    """A replay plan, computed on open; see the module docstring. ``plan`` holds it once shown."""

    sig_event_activated = Signal(int)  # a position the user double-clicked
    sig_histories_built = Signal(dict)  # {projection name: History} built for this preview
    sig_forked = Signal(object)  # ForkSummary

    def __init__(self, store, request: PreviewRequest, runner: TaskRunner, projections: Sequence[Any] = (),
                 histories: Mapping[str, Any] | None = None, prefer_projection: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("previewDialog")
        self.setWindowTitle(f"Preview: {request.title()}")
        self.store, self.request, self._runner = store, request, runner
        self.projections = list(projections)
        self._titles = {p.name: p.title or p.name for p in self.projections}
        self._prefer = prefer_projection
        self.plan: ReplayPlan | None = None
        self.error_text: str | None = None
        self.fork_summary: ForkSummary | None = None
        self.exported: Path | None = None
        self._task = None
        self._histories = dict(histories or {})  # those the plan was computed with, for the composer
        self.composers: list = []
        self._fork_task = None
        self._fork_cancel: threading.Event | None = None
        self._cancel = threading.Event()
        self._fork_progress = _ForkProgress(self)
        self._fork_progress.sig.connect(self._forking)

        self.title = title_label(request.title(), self)
        self.title.setObjectName("previewTitle")
        self.subtitle = QLabel(request.subtitle(), self)
        self.subtitle.setObjectName("previewSubtitle")
        self.subtitle.setTextFormat(Qt.RichText)
        self.subtitle.setWordWrap(True)
        self.subtitle.setForegroundRole(QPalette.PlaceholderText)
        self.summary = QLabel(self)
        self.summary.setObjectName("previewSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.summary.hide()
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.busy, self.progress, busy = busy_row(self, "previewBusy", "previewProgress")
        self.error = QLabel(self)
        self.error.setObjectName("previewError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b71c1c; font-weight: 600; padding: 12px 2px;")
        self.error.setAlignment(Qt.AlignTop | Qt.AlignLeft)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("previewTabs")
        self.dropped_view = EventSetView("previewDropped", self)
        self.collateral_view = EventSetView("previewCollateral", self)
        self.orphans_view = OrphansView(self)
        self.diff_view = DiffView(self)
        for v in (self.dropped_view, self.collateral_view, self.orphans_view):
            v.sig_event_activated.connect(self.sig_event_activated)
        self.tabs.addTab(self.dropped_view, "Dropped")
        self.tabs.addTab(self.collateral_view, "Collateral")
        self.tabs.addTab(self.orphans_view, "Orphans")
        self.tabs.addTab(self.diff_view, "State diff")
        # the body: blank while computing, then the error or the tabs
        self.body = QStackedWidget(self)
        self.body.setObjectName("previewBody")
        self.body.addWidget(QWidget(self.body))
        self.body.addWidget(self.error)
        self.body.addWidget(self.tabs)

        self.result = result_label(self, "previewResult")

        self.export_button = QPushButton("Export plan…", self)
        self.export_button.setObjectName("exportPlanButton")
        self.export_button.setToolTip("write the plan as JSON (inspector fork --plan reads it)")
        self.export_button.clicked.connect(self._export_clicked)
        self.fork_button = QPushButton("Fork…", self)
        self.fork_button.setObjectName("forkButton")
        self.fork_button.setToolTip("write the result into a NEW SQLite store (the original is never modified)")
        self.fork_button.clicked.connect(self._fork_clicked)
        self.compensate_button = QPushButton("Compensate…", self)
        self.compensate_button.setObjectName("compensateButton")
        self.compensate_button.setToolTip(COMPENSATE_TIP)
        self.compensate_button.clicked.connect(self.open_composer)
        self.close_button = QPushButton("Cancel", self)
        self.close_button.setObjectName("previewClose")
        self.close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for b in (self.export_button, self.fork_button, self.compensate_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addLayout(busy)
        lay.addWidget(self.summary)
        lay.addWidget(self.body, 1)
        lay.addWidget(self.result)
        lay.addLayout(buttons)
        self.resize(1100, 680)
        self._set_actions(False)
        self._start(dict(histories or {}))

    # -- computing -------------------------------------------------------------------------------------
    def _start(self, histories: dict) -> None:
        self._task = self._runner.submit(
            compute_preview, self.store, self.request, self.projections, histories, self._cancel.is_set,
            label="preview", owner=self, on_progress=self._progress, on_finished=self._done, on_error=self._failed)

    def _progress(self, value) -> None:
        show_progress(self.busy, self.progress, value)

    def _done(self, result) -> None:
        self._task = None
        plan, built = result
        self._histories.update(built)
        self._set_busy(False)
        if built:
            self.sig_histories_built.emit(built)
        self.show_plan(plan)
        self._record("preview", replay_summary(plan))

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        if isinstance(exc, Cancelled):
            return
        self._set_busy(False)
        self.show_error(describe(exc))
        self._record("preview", {"ok": False, "error": self.error_text})

    def _record(self, action: str, result: Any, **params: Any) -> None:
        """This preview (or its export or fork) in the operator log; a failure warns in the status bar."""
        r = self.request
        base = {"kind": r.kind, "checkpoint": r.checkpoint.to_json() if r.checkpoint is not None else None,
                "selection": selection_params(r.selection),
                "projections": [p.name for p in self.projections]}
        try:
            store: Any = StoreIdentity.of(self.store)
        except Exception:  # noqa: BLE001 - a stand-in store in a test: its name is enough
            store = None
        record_read(self, action, role=self._session_role(), store=store, params={**base, **params}, result=result)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.busy.setVisible(busy)
        self.close_button.setText("Cancel" if busy else "Close")

    def is_busy(self) -> bool:
        return self._task is not None or self._fork_task is not None

    def show_error(self, text: str) -> None:
        self.error_text = text
        self.error.setText(f"⚠ Cannot preview this: {text}")
        self.body.setCurrentWidget(self.error)
        self.summary.hide()
        self._set_actions(False)

    def show_plan(self, plan: ReplayPlan) -> None:
        self.plan = plan
        d, c, o = plan.dropped, plan.collateral, plan.orphans
        skip = plan.kind == "skip"
        self.dropped_view.set_events(d)
        self.dropped_view.set_explanation(
            "The events the skip leaves out." if skip else f"Every event after #{plan.position}, up to the head "
                                                           f"#{plan.head_position}.")
        i = self.tabs.indexOf(self.collateral_view)
        if skip or c is None:
            self.collateral_view.set_events(None)
            self.tabs.setTabText(i, "Collateral (n/a)")
            self.tabs.setTabEnabled(i, False)
            self.tabs.setTabToolTip(i, "not applicable to a skip: it leaves out only the selected events")
        else:
            self.collateral_view.set_events(c)
            if plan.selection is not None and not plan.selection.is_empty():
                why = (f"Legitimate events a truncate would lose as well: the dropped events outside "
                       f"{describe_selection(plan.selection)}, the run this checkpoint was placed before.")
            else:
                why = ("Legitimate events a truncate would lose as well. The checkpoint was not placed before a run "
                       "(a correlation or an actor's), so every dropped event counts as collateral.")
            self.collateral_view.set_explanation(why)
            self.tabs.setTabText(i, f"Collateral ({c.count:,})")
        self.tabs.setTabText(self.tabs.indexOf(self.dropped_view), f"Dropped ({d.count:,})")
        self.orphans_view.set_orphans(o)
        self.tabs.setTabText(self.tabs.indexOf(self.orphans_view),
                             f"Orphans ({o.count:,}{'+' if o.capped and not o.events else ''})" if o.traced
                             else "Orphans (not traced)")
        self.diff_view.set_diffs(plan.projections, self._titles, self._prefer)
        changed = sum(1 for p in plan.projections if p.method != "not_computed"
                      and (p.rows_changed or p.rows_added or p.rows_removed))
        self.tabs.setTabText(self.tabs.indexOf(self.diff_view), f"State diff ({changed}/{len(plan.projections)})")
        parts = [f"<b>{plural(d.count, 'event')}</b> {'skipped' if skip else 'dropped'}"]
        if not skip and c is not None:
            parts.append(f"<b>{c.count:,}</b> of them collateral")
        parts.append(f"<b>{o.count:,}</b> orphan{'s' if o.count != 1 else ''}" if o.traced else "orphans not traced")
        parts.append(f"<b>{changed}</b> of {len(plan.projections)} read models change")
        self.summary.setText(" · ".join(parts) + f" · head #{plan.head_position}"
                             + "".join(f"<br><i>{html.escape(n)}</i>" for n in plan.notes))
        self.summary.show()
        self.body.setCurrentWidget(self.tabs)
        self._set_actions(True)

    def _set_actions(self, on: bool) -> None:
        self.export_button.setEnabled(on)
        self.fork_button.setEnabled(on)
        viewer = not self._session_role().sees_personal_data
        self.compensate_button.setEnabled(on and not viewer)
        self.compensate_button.setToolTip(COMPENSATE_VIEWER_TIP if viewer else COMPENSATE_TIP)

    def _session_role(self):
        """The main window's session role, else the role the store was opened for."""
        from inspector.core.roles import Role, role_of

        role = getattr(self.parent(), "role", None)  # MainWindow.role() is the session's
        return Role.parse((role() if callable(role) else role) or role_of(self.store))

    def open_composer(self):
        """The compensation composer for the plan shown (non-modal; kept in ``composers``). The
        plugin manager and the session role come from the main window (else the role the store was
        opened for: a plain ``EventStore`` is an auditor's)."""
        from .composer import ComposerDialog

        if self.plan is None:
            return None
        window = self.parent()
        role = self._session_role()
        dialog = ComposerDialog(self.store, self.plan, self._runner, getattr(window, "plugin_manager", None),
                                self.projections, self._histories, role, self.request, window)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _o=None, d=dialog: self.composers.remove(d) if d in self.composers else None)
        self.composers.append(dialog)
        dialog.show()
        return dialog

    # -- export and fork -------------------------------------------------------------------------------
    def _suggested(self, suffix: str) -> str:
        engine = getattr(self.store, "engine", None)
        db = engine.url.database if engine is not None and engine.dialect.name == "sqlite" else None
        base = Path(db) if db and db != ":memory:" else None
        folder = base.parent if base is not None and base.parent.is_dir() else Path.home()
        stem = base.stem if base is not None else "store"
        what = self.request.checkpoint.name if self.request.kind == "truncate" else "skip"
        return str(folder / f"{stem}-{what}{suffix}")

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the replay plan", self._suggested("-plan.json"),
                                              "Replay plans (*.json)")
        if path:
            self.export_plan(path)

    def export_plan(self, path: str | Path) -> Path | None:
        """Write the plan's JSON to ``path``; the outcome is shown in the dialog."""
        out = export_reported(self.plan, path, self.result) if self.plan is not None else None
        if out is None:
            return None
        self.exported = out
        self._report(f"Plan exported to {out}. <code>inspector fork URL --plan {out.name} --out FILE</code> "
                     "forks from it.")
        self._record("export", file_result(out), what="replay-plan", plan_sha256=sha256_json(self.plan.to_json()))
        return out

    def _fork_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Fork into a new SQLite store", self._suggested("-fork.sqlite"),
                                              "SQLite stores (*.sqlite *.db)")
        if path:
            # the file dialog asked before an existing file is replaced (fork itself refuses the source)
            self.fork(path, overwrite=Path(path).exists())

    def fork(self, path: str | Path, overwrite: bool = False) -> None:
        """Fork the plan into a new SQLite store at ``path`` on a worker; the summary is shown
        when done (``fork_summary``)."""
        if self.plan is None or self._fork_task is not None:
            return
        cancel = threading.Event()
        self._fork_cancel = cancel
        sig = self._fork_progress.sig
        self._set_actions(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.busy.setText(f"Forking into {path}…")
        self.busy.show()
        self.close_button.setText("Cancel fork")
        self._report("")
        self._fork_task = self._runner.submit(
            fork_plan, self.store, self.plan, path, overwrite=overwrite, progress=lambda done, of: sig.emit(done, of),
            should_cancel=cancel.is_set, label="fork", owner=self, on_finished=self._forked,
            on_error=self._fork_failed)

    def _forking(self, done: int, of: int) -> None:
        if self._fork_task is not None and of:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, of) / of))

    def _fork_ended(self) -> None:
        self._fork_task = None
        self._set_busy(False)
        self._set_actions(self.plan is not None)

    def _forked(self, s: ForkSummary) -> None:
        self._fork_ended()
        self.fork_summary = s
        head = f" (head #{s.head_position})" if s.head_position is not None else ""
        extra = [f"{s.commands:,} commands"] if s.commands is not None else []
        extra += [f"{n} {w}" for n, w in ((s.ids_made, "ids made"), (s.undecoded, "undecoded payloads kept"),
                                          (s.untimed, "untimed events")) if n]
        extra += ["positions renumbered"] if s.renumbered else []
        self._report(f"Forked {plural(s.events, 'event')}{head} into {s.path}; {s.left_out:,} left out"
                     + (f" · {', '.join(extra)}" if extra else "")
                     + ". The original store was not modified.")
        self._record("fork", fork_summary(s), plan_sha256=sha256_json(self.plan.to_json()) if self.plan else None)
        self.sig_forked.emit(s)

    def _fork_failed(self, exc: BaseException) -> None:
        self._fork_ended()
        self._report("Fork cancelled: nothing was written." if isinstance(exc, Cancelled)
                     else f"⚠ the fork failed: {describe(exc)}", not isinstance(exc, Cancelled))
        if not isinstance(exc, Cancelled):
            self._record("fork", {"ok": False, "error": describe(exc)})

    def _report(self, text: str, error: bool = False) -> None:
        report(self.result, text, error)

    # -- closing ---------------------------------------------------------------------------------------
    def reject(self) -> None:
        if self._fork_task is not None:  # "Cancel fork": stop it, keep the dialog
            self._fork_cancel.set()
            self._fork_task.cancel()
            return
        self._cancel.set()
        self._runner.cancel_owned_by(self)
        super().reject()

    def abandon(self) -> None:
        """Stop everything (a fork too) and close: the window is showing another store."""
        if self._fork_cancel is not None:
            self._fork_cancel.set()
        self._fork_task = None
        self._cancel.set()
        self._runner.cancel_owned_by(self)
        self.done(QDialog.Rejected)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self._fork_cancel is not None:
            self._fork_cancel.set()
        self._cancel.set()
        self._runner.cancel_owned_by(self)
        super().closeEvent(event)


class SkipDialog(QDialog):
    """Asks which events a skip preview leaves out: event ids, correlation ids, and/or an actor's
    run between two times (comma- or space-separated ids; ISO 8601 times, UTC when no offset)."""

    def __init__(self, event_id: str | None = None, correlation_id: str | None = None, actor: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("skipDialog")
        self.setWindowTitle("Preview skip")
        self.selection: Selection | None = None
        self.events_edit = QLineEdit(event_id or "", self)
        self.events_edit.setObjectName("skipEvents")
        self.correlations_edit = QLineEdit(correlation_id or "", self)
        self.correlations_edit.setObjectName("skipCorrelations")
        self.actor_edit = QLineEdit(actor or "", self)
        self.actor_edit.setObjectName("skipActor")
        self.since_edit = QLineEdit(self)
        self.since_edit.setPlaceholderText("e.g. 2026-10-20 (inclusive; optional)")
        self.until_edit = QLineEdit(self)
        self.until_edit.setPlaceholderText("e.g. 2026-10-21 (exclusive; optional)")
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()
        intro = QLabel("Replay the whole log without these events (any of them): the preview shows the state as if "
                       "they had never happened. Nothing is written.", self)
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Event ids", self.events_edit)
        form.addRow("Correlation ids", self.correlations_edit)
        form.addRow("Actor", self.actor_edit)
        form.addRow("Since", self.since_edit)
        form.addRow("Until", self.until_edit)
        buttons = ok_cancel(self, "Preview", self.submit)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.setMinimumWidth(520)

    @staticmethod
    def _ids(text: str) -> tuple[str, ...]:
        return tuple(x for x in text.replace(",", " ").split() if x)

    def submit(self) -> None:
        try:
            sel = Selection(self._ids(self.events_edit.text()), self._ids(self.correlations_edit.text()),
                            self.actor_edit.text().strip() or None, self.since_edit.text().strip() or None,
                            self.until_edit.text().strip() or None)
        except InspectorError as e:
            self._fail(str(e))
            return
        if sel.is_empty():
            self._fail("give at least one event id, correlation id or actor")
            return
        self.selection = sel
        self.accept()

    def _fail(self, text: str) -> None:
        self.error.setText(f"⚠ {text}")
        self.error.show()
