"""The composer's Submit tab: writing a compensation plan to a store through
``inspector.core.submit`` (the one write path), over a connection of its own.

Before anything can be typed it says whether it can submit at all: the store's layout needs a
plugin submitter, and the session needs the operator role. Then it asks for the write URL (never
the browsing session's: that one is read-only on purpose), the actor and the reason; a
confirmation asks the operator to type the name of the store being written to (the database's
name, or the SQLite file's name); the steps then run on a worker, each row of the outcome table
filling in as its transaction commits or is refused.

Maker-checker (``composer_approval``): the tab shows whether the plan requires a second operator's
approval and whether it has one, offers "Approve…" to an operator who is not the intended
submitter, and keeps Submit and Dry run disabled, with the reason, while the approval is missing
or was given to an earlier version. Submissions are recorded in the operator log
(``core.oplog_records.submit_logged``): one that cannot be recorded before it starts is refused."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from inspector.core.checkpoints import StoreIdentity
from inspector.core.compensate import CompensationPlan, Speculation
from inspector.core.connect import normalize_url, redact
from inspector.core.oplog_records import submit_logged
from inspector.core.roles import Role
from inspector.core.submit import StepOutcome, SubmitReport, find_submitter

from .composer_approval import ApprovalBox
from .dialog_parts import ERROR_STYLE, OK_STYLE, ok_cancel, open_dialog
from .frame_model import ADDED, CHANGED, GONE, INK
from .preview_views import RowsModel, _titled, fit_columns, make_table, plural
from .workers import Cancelled, TaskRunner, describe

OUTCOME_COLUMNS = ("#", "Command", "Stream", "Outcome", "Message")
OUTCOME_COLOR = {"applied": ADDED, "skipped": CHANGED, "conflict": GONE, "failed": GONE, "would_apply": ADDED,
                 "would_skip": CHANGED, "would_conflict": GONE}


# -- plain helpers --------------------------------------------------------------------------------


def store_name(url: str) -> str:
    """The name an operator types to confirm a write: the SQLite file's name, else the database's
    name (the host when the URL names no database)."""
    text = (url or "").strip()
    try:
        u = make_url(normalize_url(text))  # a bare path is a SQLite file, as everywhere in the app
    except Exception:  # noqa: BLE001 - not a URL: the last part of what was typed
        return Path(text).name
    if u.get_backend_name() == "sqlite":
        db = u.database or ""
        return Path(db).name if db and db != ":memory:" else ":memory:"
    return u.database or u.host or text


def as_role(role: Any) -> Role | None:
    """The session's ``Role`` from a Role or its name (None: none, or not a role)."""
    try:
        return Role.parse(role) if role is not None else None
    except Exception:  # noqa: BLE001 - RoleError, or a value that is no role at all
        return None


def submitter_for(manager: Any, layout: str) -> Any:
    """The ``Submitter`` ``inspector.core.submit`` would use for ``layout`` (None: none)."""
    if manager is None:
        return None
    try:
        return find_submitter(manager, layout)
    except Exception:  # noqa: BLE001 - a manager without the hook: nothing can submit
        return None


# -- the confirmation -----------------------------------------------------------------------------


class ConfirmSubmitDialog(QDialog):
    """"Type the store's name": the Submit button stays disabled until the name typed matches."""

    def __init__(self, plan: CompensationPlan, speculation: Speculation | None, write_url: str, actor: str,
                 reason: str, parent: QWidget | None = None, approval: str | None = None):
        super().__init__(parent)
        self.setObjectName("confirmSubmitDialog")
        self.setWindowTitle("Submit the compensation")
        self.name = store_name(write_url)
        events = sum(len(s.events) for s in plan.steps)
        planned_on = store_name(plan.store.url)
        lines = [f"This appends <b>{plural(events, 'event')}</b> in <b>{plural(len(plan.steps), 'step')}</b> "
                 f"to the store <b>{html.escape(self.name)}</b> ({html.escape(redact(write_url))}), as "
                 f"<b>{html.escape(actor)}</b>, for “{html.escape(reason)}”.",
                 "Each step is one transaction with its expected stream version and idempotency key: a step "
                 "already applied is skipped, a stream that moved since the plan is a conflict and stops the run.",
                 f"Plan sha256 <code>{plan.sha256()[:16]}…</code>"]
        if approval:
            lines.append(f"Maker-checker: {html.escape(approval)}.")
        if planned_on != self.name:
            lines.append(f"<span style='{ERROR_STYLE}'>⚠ The plan was made on <b>{html.escape(planned_on)}</b>, "
                         f"not on {html.escape(self.name)}.</span>")
        if speculation is not None and not speculation.empty:
            lines.append(f"<span style='{ERROR_STYLE}'>⚠ The residual is not empty everywhere: this does not "
                         "fully revert the plan's changes.</span>")
        self.text = text = QLabel("<br><br>".join(lines), self)
        text.setWordWrap(True)
        text.setTextFormat(Qt.RichText)
        ask = QLabel(f"Type the store's name, <b>{html.escape(self.name)}</b>, to confirm:", self)
        ask.setTextFormat(Qt.RichText)
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("confirmName")
        self.buttons = ok_cancel(self, f"Submit {plural(len(plan.steps), 'step')}", self._accept)
        self.ok = self.buttons.button(QDialogButtonBox.Ok)
        self.ok.setEnabled(False)
        self.name_edit.textChanged.connect(lambda t: self.ok.setEnabled(t.strip() == self.name))
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(ask)
        lay.addWidget(self.name_edit)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(560)

    def _accept(self) -> None:
        if self.name_edit.text().strip() == self.name:
            self.accept()


class OutcomesModel(RowsModel):
    """Each step with its outcome ("pending" until reported), the outcome cell coloured."""

    def __init__(self, parent=None):
        super().__init__(OUTCOME_COLUMNS, parent=parent)

    def data(self, index, role: int = Qt.DisplayRole):
        if index.isValid() and index.column() == 3 and role in (Qt.BackgroundRole, Qt.ForegroundRole) \
                and 0 <= index.row() < len(self.rows):
            color = OUTCOME_COLOR.get(self.rows[index.row()][3])
            return (color if role == Qt.BackgroundRole else INK) if color is not None else None
        return super().data(index, role)


# -- the tab --------------------------------------------------------------------------------------


class _StepSignal(QObject):
    """Carries ``submit``'s per-step callback (called on the worker) to the GUI thread."""

    sig = Signal(object)


class SubmitPanel(QWidget):
    """See the module docstring. ``report`` holds the last ``SubmitReport`` (a dry run's too),
    ``outcomes`` each step's ``StepOutcome`` as reported."""

    sig_submitted = Signal(object)  # the SubmitReport of an executed submission
    sig_step = Signal(object)  # each StepOutcome as its step ends, while a submission runs
    sig_busy = Signal(bool)
    sig_plan_edited = Signal(object)  # the plan with requires_approval changed (the composer takes it)

    def __init__(self, store: StoreIdentity, submitter: Any, role: Any, runner: TaskRunner, manager: Any,
                 parent: QWidget | None = None, source: Any = None):
        super().__init__(parent)
        self.setObjectName("submitPanel")
        self.store, self.submitter, self._runner, self.manager = store, submitter, runner, manager
        self.role = as_role(role)
        self.plan: CompensationPlan | None = None
        self.speculation: Speculation | None = None
        self.report: SubmitReport | None = None
        self.error_text: str | None = None
        self.outcomes: dict[int, StepOutcome] = {}
        self.confirm_dialog: ConfirmSubmitDialog | None = None
        self._task = None
        self._ready = False
        self._executing = False
        self._step = _StepSignal(self)
        self._step.sig.connect(self._on_step)
        self.log_warning: str | None = None  # the submission's outcome could not be written to the operator log
        self._log_warn = _StepSignal(self)  # submit_logged warns on the worker
        self._log_warn.sig.connect(self._logged_badly)
        # maker-checker; ``source`` (the browsing store) reads the approvals, read-only
        self.approval_box = ApprovalBox(runner, self.role, source, self)
        self.approval_box.sig_plan_edited.connect(self.sig_plan_edited)
        self.approval_box.sig_changed.connect(self._sync)

        self.availability = QLabel(self)
        self.availability.setObjectName("submitAvailability")
        self.availability.setWordWrap(True)
        self.availability.setTextFormat(Qt.RichText)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName("writeUrl")
        self.url_edit.setPlaceholderText("the store's URL with a login allowed to write, e.g. "
                                         "postgresql://writer@db/shop, or the SQLite file's path")
        self.url_edit.setToolTip("a connection of its own, opened for each step: the browsing session stays read-only")
        self.actor_edit = QLineEdit(self)
        self.actor_edit.setObjectName("submitActor")
        self.actor_edit.setPlaceholderText("who submits, e.g. user:alice (recorded on every event and in the audit)")
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setObjectName("submitReason")
        self.reason_edit.setPlaceholderText("why, e.g. the ticket (recorded on every event and in the audit)")
        for e in (self.url_edit, self.actor_edit, self.reason_edit):
            e.textChanged.connect(self._sync)
        for e in (self.url_edit, self.actor_edit):
            e.textChanged.connect(lambda _t: self.approval_box.set_context(self.url_edit.text(),
                                                                           self.actor_edit.text()))
        self.dry_button = QPushButton("Dry run", self)
        self.dry_button.setObjectName("dryRunButton")
        self.dry_button.setToolTip("what each step would do, read through a read-only session: nothing is written")
        self.dry_button.clicked.connect(lambda: self.start(execute=False))
        self.submit_button = QPushButton("Submit…", self)
        self.submit_button.setObjectName("submitButton")
        self.submit_button.setToolTip("asks you to type the store's name, then appends the plan step by step")
        self.submit_button.clicked.connect(self.ask_confirmation)
        self.problem = QLabel(self)
        self.problem.setObjectName("submitProblem")
        self.problem.setWordWrap(True)
        self.problem.setForegroundRole(QPalette.PlaceholderText)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("submitProgress")
        self.progress.setFixedHeight(12)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel(self)
        self.status.setObjectName("submitStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.hide()
        self.model = OutcomesModel(self)
        self.table = make_table("submitOutcomes", self.model, self, alternating=False)

        form = QFormLayout()
        form.addRow("Write URL", self.url_edit)
        form.addRow("Actor", self.actor_edit)
        form.addRow("Reason", self.reason_edit)
        row = QHBoxLayout()
        row.addWidget(self.problem, 1)
        row.addWidget(self.dry_button)
        row.addWidget(self.submit_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 4)
        lay.addWidget(self.availability)
        lay.addLayout(form)
        lay.addWidget(self.approval_box)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(_titled("Steps and their outcome", self.table, self), 1)
        self._describe_availability()
        self._sync()

    # -- what can be done -----------------------------------------------------------------------------
    def can_submit_here(self) -> str | None:
        """Why this session cannot submit at all (None: it can)."""
        if self.submitter is None:
            return (f"Stores of layout {self.store.layout} need a plugin submitter: no loaded plugin registers one "
                    "for it, so this plan can be exported but not submitted.")
        if self.role is None or not self.role.can_submit:
            return (f"This session's role is {self.role or 'unknown'}: submitting needs the operator role. Reconnect "
                    "as an operator (the plan can still be exported).")
        return None

    def _describe_availability(self) -> None:
        why = self.can_submit_here()
        if why:
            self.availability.setText(f"<span style='{ERROR_STYLE}'>⚠ {html.escape(why)}</span>")
        else:
            s = self.submitter
            note = (s.note or "").strip().rstrip(".")
            note = f" ({html.escape(note[:1].lower() + note[1:])})" if note else ""
            self.availability.setText(
                f"Session role: <b>{self.role}</b>. Submitted through <b>{html.escape(s.title or s.name)}</b>{note}. "
                "Each step is one transaction on a connection opened from the write URL below, never the browsing "
                "session's.")
        for e in (self.url_edit, self.actor_edit, self.reason_edit):
            e.setEnabled(why is None)

    def problems(self) -> list[str]:
        """What keeps the Submit button disabled, in words."""
        why = self.can_submit_here()
        if why:
            return [why]
        out = []
        if self.plan is None:
            out.append("wait for the plan")
        elif not self.plan.steps:
            out.append("add a step")
        for edit, what in ((self.url_edit, "a write URL"), (self.actor_edit, "an actor"),
                           (self.reason_edit, "a reason")):
            if not edit.text().strip():
                out.append(f"give {what}")
        approval = self.approval_box.blocking()
        if approval and self.plan is not None and self.plan.steps:
            out.append(approval)
        elif self.approval_box.is_busy():
            out.append("wait for the approval")
        return out

    def is_busy(self) -> bool:
        return self._task is not None

    def set_plan(self, plan: CompensationPlan | None, speculation: Speculation | None) -> None:
        """The plan to submit (None while it changes). A different plan clears the outcomes."""
        if self.is_busy():
            return
        if plan is not None and plan is not self.plan:  # plans are frozen: a change is a new one
            self.plan, self.speculation = plan, speculation
            self.outcomes, self.report = {}, None
            self.status.hide()
            self._fill()
        self._ready = plan is not None
        self.approval_box.set_plan(plan if plan is not None else self.plan, plan is not None)
        self._sync()

    def _sync(self) -> None:
        probs = self.problems()
        ok = not probs and not self.is_busy() and self._ready
        self.submit_button.setEnabled(ok)
        self.dry_button.setEnabled(ok)
        self.problem.setText("" if not probs or self.can_submit_here() else "To submit: " + "; ".join(probs) + ".")

    def _fill(self) -> None:
        rows, tips = [], []
        running = next((s.index for s in self.plan.steps if s.index not in self.outcomes), None) \
            if self.plan is not None and self.is_busy() else None
        for s in self.plan.steps if self.plan is not None else ():
            o = self.outcomes.get(s.index)
            status = o.status if o is not None else ("running…" if s.index == running else "pending")
            message = o.message if o is not None else ""
            if o is not None and o.positions:
                message += f" · at {', '.join(f'#{p}' for p in o.positions)}"
            rows.append((s.index, s.command, s.stream, status.replace("_", " "), message))
            tips.append(message or None)
        self.model.set_rows(rows, tips)
        fit_columns(self.table)

    # -- submitting -----------------------------------------------------------------------------------
    def ask_confirmation(self) -> ConfirmSubmitDialog | None:
        """The "type the store's name" dialog (non-blocking: ``confirm_dialog``); accepted, it submits."""
        if self.problems() or self.is_busy() or self.plan is None:
            return None
        status = self.approval_box.status()
        dialog = ConfirmSubmitDialog(self.plan, self.speculation, self.url_edit.text().strip(),
                                     self.actor_edit.text().strip(), self.reason_edit.text().strip(), self,
                                     approval=status.message() if status is not None and status.required else None)
        return open_dialog(self, "confirm_dialog", dialog, lambda _d: self.start(execute=True))

    def start(self, execute: bool) -> None:
        """Submit (``execute``, once the name was typed) or dry-run the plan on a worker."""
        if self.plan is None or self.is_busy() or self.problems():
            return
        plan = self.plan
        url = self.url_edit.text().strip()
        self.report, self.error_text, self.outcomes, self._executing = None, None, {}, execute
        self.progress.setRange(0, len(plan.steps))
        self.progress.setValue(0)
        self.progress.show()
        self.status.setStyleSheet("")
        self.status.setText(f"{'Submitting' if execute else 'Dry run of'} {plural(len(plan.steps), 'step')} "
                            f"to {redact(url)}…")
        self.status.show()
        self.log_warning = None
        # recorded in the operator log: refused when it cannot be before an executed submission starts
        self._task = self._runner.submit(
            submit_logged, plan, url, actor=self.actor_edit.text().strip(), reason=self.reason_edit.text().strip(),
            role=self.role, execute=execute, manager=self.manager, on_step=self._step.sig.emit,
            warn=self._log_warn.sig.emit,
            label="submitting the compensation" if execute else "dry run of the compensation", owner=self,
            on_finished=self._finished, on_error=self._failed)
        self._fill()
        self.sig_busy.emit(True)
        self._sync()

    def _logged_badly(self, message: str) -> None:
        self.log_warning = message
        from .oplog_gui import warn

        warn(self, message)

    def _on_step(self, o: StepOutcome) -> None:
        if self.is_busy():
            self.outcomes[o.index] = o
            self.progress.setValue(len(self.outcomes))
            self._fill()
            self.sig_step.emit(o)

    def _ended(self) -> None:
        self._task = None
        self.progress.hide()
        self.sig_busy.emit(False)
        self._sync()

    def _finished(self, report: SubmitReport) -> None:
        self.report = report
        self.outcomes = {o.index: o for o in report.outcomes}
        self._ended()
        self._fill()
        counts: dict[str, int] = {}
        for o in report.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        text = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) or "no step ran"
        head = "Submitted" if report.executed else "Dry run, nothing written"
        if report.stopped_at is not None:
            head += f"; stopped at step {report.stopped_at}"
        self.status.setStyleSheet((OK_STYLE if report.executed else "") if report.ok else ERROR_STYLE)
        seen = " Reload the main window to see the new events." if counts.get("applied") else ""
        unlogged = f" ⚠ {self.log_warning}." if self.log_warning else ""
        if unlogged:
            self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(f"{head}: {text}.{seen}{unlogged}")
        if report.executed:
            self.sig_submitted.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self._ended()
        self._fill()
        self.error_text = describe(exc)
        self.status.setStyleSheet(ERROR_STYLE)
        applied = sorted(i for i, o in self.outcomes.items() if o.status == "applied")
        done = (f" Steps {', '.join(map(str, applied))} were applied before it and stay applied; submitting again "
                "skips them." if applied else " Nothing was written.")
        self.status.setText("Cancelled." if isinstance(exc, Cancelled)
                            else f"⚠ The submission stopped: {self.error_text}.{done if self._executing else ''}")
