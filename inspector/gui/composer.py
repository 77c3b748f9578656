"""The compensation composer, opened from the preview dialog for the replay plan it shows: the
steps plugins propose, a form per step built from its command's fields (errors per field), the
speculative result with the residual against the replay's target, export of the plan JSON that
``inspector submit --plan`` reads (recorded in the operator log with the file's hash), and
submission (``composer_submit``, with maker-checker).

Every change to the plan (propose, edit, remove, add, move) runs on a worker together with the
speculative apply that follows it (``composer_tasks``), one at a time: the store is read only off
the GUI thread, and the plan on screen is always the one the residual was computed for. The form itself validates as
the operator types, with the command's own ``CommandSpec.check``."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.commands import CommandError
from inspector.core.compensate import CompensationPlan, Composer, Speculation
from inspector.core.oplog_records import compensation_summary, record_export
from inspector.core.replay_values import ReplayPlan

from .composer_forms import StepEditor
from .composer_submit import SubmitPanel, submitter_for
from .composer_tasks import change, prepare
from .composer_views import ResidualView, StepsModel, speculation_summary
from .dialog_parts import busy_row, export_reported, report, result_label, show_progress, title_label
from .oplog_gui import warn
from .preview_request import PreviewRequest
from .preview_views import _titled, fit_columns, make_table, plural
from .workers import Cancelled, TaskRunner, describe

__all__ = ["ComposerDialog"]


# -- the dialog -----------------------------------------------------------------------------------


class ComposerDialog(QDialog):
    """See the module docstring. ``plan`` / ``speculation`` hold what is shown once proposed."""

    sig_plan_changed = Signal(object)  # CompensationPlan
    sig_submitted = Signal(object)  # what inspector.core.submit returned

    def __init__(self, store, replay_plan: ReplayPlan, runner: TaskRunner, manager: Any,
                 projections: Sequence[Any] = (), histories: Mapping[str, Any] | None = None,
                 role: Any = None, request: PreviewRequest | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("composerDialog")
        self.setWindowTitle(f"Compensate: {request.title() if request is not None else replay_plan.kind}")
        self.setModal(False)
        self.store, self.replay_plan, self._runner, self.manager = store, replay_plan, runner, manager
        self.projections = list(projections)
        self._titles = {p.name: p.title or p.name for p in self.projections}
        self.composer: Composer | None = None
        self.plan: CompensationPlan | None = None
        self.speculation: Speculation | None = None
        self.error_text: str | None = None
        self.exported: Path | None = None
        self.built: dict[str, Any] = {}
        self._task = None
        self._cancel = threading.Event()
        self.submitter = submitter_for(manager, replay_plan.store.layout)
        first_version = self.submitter.first_version if self.submitter is not None else 1

        title = title_label(f"Compensate: {request.title() if request is not None else replay_plan.kind}", self)
        sub = QLabel(self)
        sub.setWordWrap(True)
        sub.setTextFormat(Qt.RichText)
        sub.setForegroundRole(QPalette.PlaceholderText)
        sub.setText(f"{html.escape(replay_plan.store.url)} · layout {html.escape(replay_plan.store.layout)} · "
                    f"head #{replay_plan.head_position:,}. Commands appended after the head that bring the read "
                    "models to the replay's result. Nothing is written until you submit.")
        self.busy, self.progress, busy = busy_row(self, "composerBusy")
        self.notes = QLabel(self)
        self.notes.setObjectName("composerNotes")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.RichText)
        self.notes.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.notes.hide()

        # steps
        self.steps_model = StepsModel(self)
        self.steps_table = make_table("composerSteps", self.steps_model, self)
        self.steps_table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._step_chosen(cur.row()))
        self.up_button = self._button("▲ Up", "stepUp", "run this step earlier", lambda: self._move(-1))
        self.down_button = self._button("▼ Down", "stepDown", "run this step later", lambda: self._move(1))
        self.remove_button = self._button("Remove", "stepRemove", "drop this step from the plan", self.remove_step)
        self.command_combo = QComboBox(self)
        self.command_combo.setObjectName("commandPicker")
        self.command_combo.setToolTip("the compensating commands the loaded plugins register")
        self.add_button = self._button("Add step…", "stepAdd", "fill in a new step of the chosen command",
                                       lambda: self.begin_add(self.command_combo.currentData()))
        step_buttons = QHBoxLayout()
        for b in (self.up_button, self.down_button, self.remove_button):
            step_buttons.addWidget(b)
        step_buttons.addStretch(1)
        step_buttons.addWidget(self.command_combo)
        step_buttons.addWidget(self.add_button)
        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(_titled("Steps (run in this order, one transaction each)", self.steps_table, left), 1)
        ll.addLayout(step_buttons)

        # the form
        self.editor = StepEditor(self)
        self.editor.sig_apply.connect(self._apply)
        self.editor.sig_cancel_add.connect(lambda: self._step_chosen(self.steps_table.currentIndex().row(), True))
        self.form, self.apply_button, self.revert_button = self.editor.form, self.editor.apply_button, \
            self.editor.revert_button
        top = QSplitter(Qt.Horizontal, self)
        top.addWidget(left)
        top.addWidget(self.editor)
        top.setSizes([640, 460])
        top.setChildrenCollapsible(False)

        # speculative result and submission
        self.summary = QLabel(self)
        self.summary.setObjectName("speculationSummary")
        self.summary.setWordWrap(True)
        self.residual_view = ResidualView(self)
        spec_page = QWidget(self)
        sl = QVBoxLayout(spec_page)
        sl.setContentsMargins(4, 4, 4, 0)
        sl.addWidget(self.summary)
        sl.addWidget(self.residual_view, 1)
        self.submit_panel = SubmitPanel(replay_plan.store, self.submitter, role, self._runner, manager, self,
                                        source=store)  # the browsing store reads the plan's approvals
        self.submit_panel.sig_submitted.connect(self.sig_submitted)
        self.submit_panel.sig_plan_edited.connect(self._plan_edited)
        self.submit_panel.sig_busy.connect(lambda _b: self._sync_buttons())
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("composerTabs")
        self.tabs.addTab(spec_page, "Speculative result")
        self.tabs.addTab(self.submit_panel, "Submit")
        split = QSplitter(Qt.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.tabs)
        split.setSizes([330, 420])
        split.setChildrenCollapsible(False)

        self.result = result_label(self, "composerResult")
        self.export_button = self._button("Export plan…", "exportCompensation",
                                          "write the plan as JSON (inspector submit --plan reads it)",
                                          self._export_clicked)
        self.close_button = self._button("Close", "composerClose", "", self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.export_button)
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(sub)
        lay.addLayout(busy)
        lay.addWidget(self.notes)
        lay.addWidget(split, 1)
        lay.addWidget(self.result)
        lay.addLayout(bottom)
        self.resize(1180, 860)

        self._sync_buttons()
        self._task = self._runner.submit(
            prepare, store, replay_plan, self.projections, dict(histories or {}), manager, first_version,
            self._cancel.is_set, label="compensation proposals", owner=self, on_progress=self._progress,
            on_finished=self._prepared, on_error=self._failed)

    def _button(self, text: str, name: str, tip: str, slot) -> QPushButton:
        b = QPushButton(text, self)
        b.setObjectName(name)
        if tip:
            b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def _fill_commands(self, commands) -> None:
        """The commands the composer was built with (on the worker), so the list offered is the one
        ``Composer.spec`` knows."""
        self.command_combo.clear()
        for name, spec in sorted(commands.items()):
            self.command_combo.addItem(f"{spec.title or name} ({name})", name)
        if not commands:
            self.command_combo.addItem("no plugin registers commands", None)

    # -- state ----------------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._task is not None

    def is_submitting(self) -> bool:
        return self.submit_panel.is_busy()

    def _set_busy(self, text: str | None) -> None:
        self.busy.setVisible(text is not None)
        self.progress.setVisible(text is not None)
        if text is not None:
            self.busy.setText(text)
            self.progress.setRange(0, 0)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        ready = self.composer is not None and self._task is None and not self.is_submitting()
        row = self.selected_index()
        n = len(self.plan.steps) if self.plan is not None else 0
        self.up_button.setEnabled(ready and row is not None and row > 1)
        self.down_button.setEnabled(ready and row is not None and row < n)
        self.remove_button.setEnabled(ready and row is not None)
        self.add_button.setEnabled(ready and self.command_combo.currentData() is not None)
        self.command_combo.setEnabled(ready)
        self.editor.set_ready(ready)
        self.export_button.setEnabled(ready and n > 0)
        self.submit_panel.set_plan(self.plan if ready else None, self.speculation)

    def _progress(self, value) -> None:
        show_progress(self.busy, self.progress, value)

    def _prepared(self, result) -> None:
        self._task = None
        self.composer, plan, spec, heads, self.built = result
        self._fill_commands(self.composer.commands)
        self._set_busy(None)
        notes = [f"<b>{html.escape(n.plugin)}</b>: {html.escape(n.text)}" if n.plugin else html.escape(n.text)
                 for n in plan.notes]
        self.notes.setText("<br>".join(f"• {n}" for n in notes))
        self.notes.setVisible(bool(notes))
        self._show(plan, spec, heads, 1 if plan.steps else None)

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        if isinstance(exc, Cancelled):
            return
        self._set_busy(None)
        self.error_text = describe(exc)
        self._report(f"⚠ Cannot compose a compensation: {self.error_text}", True)

    def _show(self, plan: CompensationPlan, spec: Speculation, heads: dict, select: int | None) -> None:
        self.plan, self.speculation = plan, spec
        self.steps_model.set_plan(plan)
        fit_columns(self.steps_table)
        self.summary.setText(f"{plural(len(plan.steps), 'step')} · {speculation_summary(spec)}")
        changed = [d.projection for d in self.replay_plan.projections
                   if d.rows_changed or d.rows_added or d.rows_removed]
        self.residual_view.set_speculation(spec, self._titles, changed, heads)
        if select is not None and plan.steps:
            self.select_step(min(select, len(plan.steps)))
        else:
            self.editor.clear("No steps. Add one from the commands plugins register." if not plan.steps
                              else "Select a step to edit it, or add one.")
        self._sync_buttons()
        self.sig_plan_changed.emit(plan)

    # -- steps ----------------------------------------------------------------------------------------
    def selected_index(self) -> int | None:
        """The 1-based index of the selected step."""
        row = self.steps_table.currentIndex().row()
        return row + 1 if self.plan is not None and 0 <= row < len(self.plan.steps) else None

    def select_step(self, index: int) -> None:
        self.steps_table.selectRow(index - 1)
        self._step_chosen(index - 1)

    def _step_chosen(self, row: int, force: bool = False) -> None:
        if self.plan is None or self.composer is None:
            return
        if not (0 <= row < len(self.plan.steps)):
            if force:
                self.editor.clear("Select a step to edit it, or add one.")
            return
        s = self.plan.steps[row]
        try:
            self.editor.edit(s, self.composer.spec(s.command))
        except CommandError as e:
            self.editor.clear(f"Step {s.index}: {html.escape(str(e))}")
        self._sync_buttons()

    def begin_add(self, command: str | None) -> None:
        """Show an empty form for a new step of ``command`` ("Add to plan" adds it at the end)."""
        if command is None or self.composer is None:
            return
        self.steps_table.clearSelection()
        self.editor.add(self.composer.spec(command))

    def _apply(self, op: str, target: Any, raw: dict, reason: str) -> None:
        if op == "edit":
            self._change("edit", target, raw, reason=reason, select=target)
        else:
            self._change("add", target, raw, reason=reason, select=len(self.plan.steps) + 1)

    def remove_step(self) -> None:
        index = self.selected_index()
        if index is not None:
            self._change("remove", index, select=index)

    def _move(self, delta: int) -> None:
        index = self.selected_index()
        if index is not None:
            self._change("move", index, index + delta, select=index + delta)

    def _change(self, op: str, *args: Any, select: int | None = None, **kwargs: Any) -> None:
        if self.composer is None or self._task is not None:
            return
        self._set_busy({"edit": "applying the edit", "add": "adding the step", "remove": "removing the step",
                        "move": "moving the step"}[op] + " and re-running the speculative apply…")
        self._task = self._runner.submit(
            change, self.composer, op, self.plan, *args, label=f"compensation: {op}", owner=self,
            on_finished=lambda r: self._changed(r, select), on_error=self._change_failed, **kwargs)
        self._sync_buttons()

    def _changed(self, result, select: int | None) -> None:
        self._task = None
        self._set_busy(None)
        self._report("")
        plan, spec, heads = result
        self._show(plan, spec, heads, select)

    def _change_failed(self, exc: BaseException) -> None:
        self._task = None
        self._set_busy(None)
        if isinstance(exc, Cancelled):
            return
        if isinstance(exc, CommandError) and exc.errors:
            self.editor.show_errors(exc.errors)
        self._report(f"⚠ {describe(exc) if not isinstance(exc, CommandError) else exc}", True)
        self._sync_buttons()

    def _plan_edited(self, plan: CompensationPlan) -> None:
        """The Submit tab changed the plan itself (requires approval or not): same steps, new hash."""
        if self.plan is None or self._task is not None or self.is_submitting() or plan.steps != self.plan.steps:
            return
        self.plan = plan
        self._sync_buttons()
        self.sig_plan_changed.emit(plan)

    # -- export ---------------------------------------------------------------------------------------
    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the compensation plan", self._suggested(),
                                              "Compensation plans (*.json)")
        if path:
            self.export_plan(path)

    def _suggested(self) -> str:
        from .composer_submit import store_name

        name = Path(store_name(self.replay_plan.store.url) or "store").stem
        return str(Path.home() / f"{name}-compensation.json")

    def export_plan(self, path: str | Path) -> Path | None:
        """Write the plan's JSON to ``path`` (what ``inspector submit --plan`` reads)."""
        out = export_reported(self.plan, path, self.result) if self.plan is not None else None
        if out is None:
            return None
        self.exported = out
        self._report(f"Plan exported to {out} ({plural(len(self.plan.steps), 'step')}, sha256 "
                     f"{self.plan.sha256()[:12]}…). <code>inspector submit --plan {out.name}</code> submits it.")
        # in the operator log with the file's hash (a failure warns in the status bar: the file exists)
        record_export(out, what="compensation-plan", role=self.submit_panel.role, store=self.plan.store,
                      params=compensation_summary(self.plan, self.speculation), warn=lambda m: warn(self, m))
        return out

    def _report(self, text: str, error: bool = False) -> None:
        report(self.result, text, error)

    # -- closing --------------------------------------------------------------------------------------
    def reject(self) -> None:
        if self.is_submitting():  # steps commit one by one; stopping here would leave it half-done
            self._report("A submission is running: each step commits on its own, so it is not interrupted; close "
                         "the composer once it has finished.", True)
            self.tabs.setCurrentWidget(self.submit_panel)
            return
        self._cancel.set()
        self._runner.cancel_owned_by(self)
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self.is_submitting():
            event.ignore()
            self.reject()
            return
        self._cancel.set()
        self._runner.cancel_owned_by(self)
        super().closeEvent(event)
