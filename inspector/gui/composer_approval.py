"""Maker-checker in the composer's Submit tab (``core.approval``): whether the plan requires
approval by a second operator (a checkbox that changes the plan, and so its SHA-256), its approval
status as read from the store, and "Approve…" for an operator who is not the intended submitter.

The status is read on a worker through the browsing session (read-only) whenever the plan
changes, after an approval, and on "Check again"; the submit tab keeps Submit and Dry run disabled
while it says no (``blocking``), with the reason. The core refuses the same submissions anyway:
this only says so before anyone types a store's name."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.approval import Approval, ApprovalStatus, approve, evaluate, read_approvals, same_actor
from inspector.core.compensate import CompensationPlan
from inspector.core.connect import redact
from inspector.core.roles import Role

from .dialog_parts import ERROR_STYLE, OK_STYLE, ok_cancel, open_dialog
from .preview_views import plural
from .workers import Cancelled, TaskRunner, describe

class ApproveDialog(QDialog):
    """Who approves (never the intended submitter) and why; accepted, the box records it."""

    def __init__(self, plan: CompensationPlan, write_url: str, submitter: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("approveDialog")
        self.setWindowTitle("Approve the compensation plan")
        self.submitter = submitter.strip()
        who = (f"The intended submitter is <b>{html.escape(self.submitter)}</b>: the approver must be another "
               "operator.") if self.submitter else ("No submitter is named yet: whoever submits must be another "
                                                    "operator than the approver.")
        self.text = text = QLabel(f"You approve exactly this plan: <b>{plural(len(plan.steps), 'step')}</b> for "
                      f"<b>{html.escape(plan.store.url)}</b>, sha256 <code>{plan.sha256()}</code>. Any later edit "
                      f"changes the hash and needs a new approval.<br><br>{who}<br><br>The approval is stored in "
                      f"the store ({html.escape(redact(write_url))}, table inspector_approvals) and in your "
                      "operator log.", self)
        text.setWordWrap(True)
        text.setTextFormat(Qt.RichText)
        text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.approver_edit = QLineEdit(self)
        self.approver_edit.setObjectName("approverName")
        self.approver_edit.setPlaceholderText("who approves, e.g. user:bob")
        self.note_edit = QLineEdit(self)
        self.note_edit.setObjectName("approvalNote")
        self.note_edit.setPlaceholderText("why (optional), e.g. checked against TICKET-42")
        self.problem = QLabel(self)
        self.problem.setObjectName("approveProblem")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        self.buttons = ok_cancel(self, "Approve", self._accept)
        self.ok = self.buttons.button(QDialogButtonBox.Ok)
        self.approver_edit.textChanged.connect(self._sync)
        form = QFormLayout()
        form.addRow("Approver", self.approver_edit)
        form.addRow("Note", self.note_edit)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(560)
        self._sync()

    def why_not(self) -> str | None:
        name = self.approver_edit.text().strip()
        if not name:
            return "name the approver"
        if self.submitter and same_actor(name, self.submitter):
            return (f"{name} is the intended submitter: a plan is approved by another operator than the one who "
                    "submits it")
        return None

    def _sync(self) -> None:
        why = self.why_not()
        self.ok.setEnabled(why is None)
        self.problem.setText("" if why is None or not self.approver_edit.text().strip() else f"⚠ {why}")

    def _accept(self) -> None:
        if self.why_not() is None:
            self.accept()


class ApprovalBox(QWidget):
    """See the module docstring. ``approvals`` holds what was read (None: not yet), ``error``
    why it could not be read, ``approval`` the last one made here."""

    sig_plan_edited = Signal(object)  # the plan with requires_approval changed
    sig_changed = Signal()  # the status changed: the submit tab re-checks its buttons

    def __init__(self, runner: TaskRunner, role: Role | None, source: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("approvalBox")
        self._runner, self.role, self.source = runner, role, source
        self.plan: CompensationPlan | None = None
        self.approvals: list[Approval] | None = None
        self.error: str | None = None
        self.approval: Approval | None = None
        self.error_text: str | None = None  # why the last approval made here failed
        self.approve_dialog: ApproveDialog | None = None
        self.write_url, self.submitter = "", ""
        self._ready = False
        self._sha: tuple[CompensationPlan, str] | None = None  # the plan shown and its SHA-256
        self._reading = None
        self._approving = None

        self.require_box = QCheckBox("Requires approval by a second operator", self)
        self.require_box.setObjectName("requireApproval")
        self.require_box.setToolTip("maker-checker: another operator approves exactly this plan (its SHA-256) "
                                    "before it can be submitted; any edit after the approval needs a new one")
        self.require_box.toggled.connect(self._toggled)
        self.label = QLabel(self)
        self.label.setObjectName("approvalStatus")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.check_button = QPushButton("Check again", self)
        self.check_button.setObjectName("checkApprovals")
        self.check_button.setToolTip("read the plan's approvals from the store again")
        self.check_button.clicked.connect(self.read)
        self.approve_button = QPushButton("Approve…", self)
        self.approve_button.setObjectName("approveButton")
        self.approve_button.setToolTip("record your approval of this plan (you cannot be the one who submits it)")
        self.approve_button.clicked.connect(self.ask_approval)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.require_box)
        row.addWidget(self.label, 1)
        row.addWidget(self.check_button)
        row.addWidget(self.approve_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        self._show()

    # -- state ------------------------------------------------------------------------------------------
    def set_plan(self, plan: CompensationPlan | None, ready: bool) -> None:
        if plan is not None and plan is not self.plan:
            self.plan, self.approvals, self.error = plan, None, None
            self.require_box.blockSignals(True)
            self.require_box.setChecked(plan.requires_approval)
            self.require_box.blockSignals(False)
            self.read()
        self._ready = ready and plan is not None
        self._show()

    def set_context(self, write_url: str, submitter: str) -> None:
        """The submit tab's write URL and actor (the intended submitter)."""
        self.write_url, self.submitter = write_url.strip(), submitter.strip()
        self._show()
        self.sig_changed.emit()  # another submitter may be refused (their own approval) or allowed

    def status(self) -> ApprovalStatus | None:
        if self.plan is None or self.approvals is None:
            return None
        if self._sha is None or self._sha[0] is not self.plan:  # asked several times per keystroke
            self._sha = (self.plan, self.plan.sha256())
        return evaluate(self.plan, self.approvals, self.submitter or None, sha=self._sha[1])

    def blocking(self) -> str | None:
        """Why the plan cannot be submitted yet as far as approval goes (None: it can)."""
        if self.plan is None:
            return None
        if self.approvals is None:
            if not self.plan.requires_approval:
                return None  # only an approval of an earlier version would make it required: the core checks
            if self.error:
                return f"the plan's approvals cannot be read ({self.error})"
            return "wait for the approval check"
        s = self.status()
        return None if s.ok else s.message()

    def is_busy(self) -> bool:
        return self._approving is not None

    def _can_approve(self) -> str | None:
        if self.role is None or self.role is not Role.OPERATOR:
            return f"approving needs the operator role (this session is {self.role or 'unknown'})"
        if self.plan is None or not self._ready:
            return "wait for the plan"
        if not self.plan.steps:
            return "the plan has no steps"
        s = self.status()
        if s is None or not s.required:
            return "the plan does not require approval"
        if not self.write_url:
            return "give a write URL: the approval is stored in the store"
        if self._approving is not None:
            return "approving…"
        return None

    def _show(self) -> None:
        self.require_box.setEnabled(self._ready and self._approving is None)
        why = self._can_approve()
        self.approve_button.setEnabled(why is None)
        self.approve_button.setToolTip(why or "record your approval of this plan (you cannot be the one who submits "
                                              "it)")
        self.check_button.setEnabled(self.plan is not None and self._reading is None)
        s = self.status()
        if self.plan is None:
            text, style = "", ""
        elif self.approvals is None:
            text = f"⚠ Approvals cannot be read: {html.escape(self.error)}" if self.error else "Checking approvals…"
            style = ERROR_STYLE if self.error else ""
        elif not s.required:
            text, style = "Approval: not required.", ""
        elif s.ok:
            text, style = f"✔ Approved by {html.escape(', '.join(a.describe() for a in s.valid))}.", OK_STYLE
        else:
            text, style = f"⚠ {html.escape(s.message()[0].upper() + s.message()[1:])}.", ERROR_STYLE
        if self.plan is not None and s is not None and s.required:
            text += f" <span style='color: #777;'>sha256 {s.plan_sha256[:16]}…</span>"
        self.label.setText(text)
        self.label.setStyleSheet(style)

    # -- reading ----------------------------------------------------------------------------------------
    def read(self) -> None:
        """Read the plan's approvals on a worker (the browsing session, else the write URL read-only)."""
        plan = self.plan
        target = self.source if self.source is not None else (self.write_url or None)
        if plan is None:
            return
        if target is None:
            self.approvals, self.error = None, "no connection to the store yet: give the write URL"
            self._show()
            self.sig_changed.emit()
            return
        if self._reading is not None:
            self._reading.cancel()
        self._reading = self._runner.submit(
            read_approvals, target, plan, label="reading approvals", owner=self,
            on_finished=lambda rows, p=plan: self._read(p, rows, None),
            on_error=lambda e, p=plan: self._read(p, None, e))
        self._show()

    def _read(self, plan: CompensationPlan, rows: list[Approval] | None, exc: BaseException | None) -> None:
        self._reading = None
        if isinstance(exc, Cancelled) or plan is not self.plan:
            self._show()
            return
        self.approvals = rows
        self.error = describe(exc) if exc is not None else None
        self._show()
        self.sig_changed.emit()

    # -- changing and approving ---------------------------------------------------------------------------
    def _toggled(self, on: bool) -> None:
        if self.plan is not None and self._ready and on != self.plan.requires_approval:
            self.sig_plan_edited.emit(replace(self.plan, requires_approval=on))

    def ask_approval(self) -> ApproveDialog | None:
        """The approver's dialog (non-blocking: ``approve_dialog``); accepted, it approves on a worker."""
        if self._can_approve() is not None:
            return None
        return open_dialog(self, "approve_dialog", ApproveDialog(self.plan, self.write_url, self.submitter, self),
                           lambda d: self.start_approval(d.approver_edit.text().strip(), d.note_edit.text().strip()))

    def start_approval(self, approver: str, note: str = "") -> None:
        if self._can_approve() is not None:
            return
        plan = self.plan
        self._approving = self._runner.submit(
            approve, plan, self.write_url, actor=approver, role=self.role, note=note, label="approving the plan",
            owner=self, on_finished=self._approved, on_error=self._approve_failed)
        self.label.setText(f"Approving as {html.escape(approver)}…")
        self.label.setStyleSheet("")
        self._show()
        self.sig_changed.emit()

    def _approved(self, approval: Approval) -> None:
        self._approving = None
        self.approval, self.error = approval, None
        self.read()
        self.sig_changed.emit()

    def _approve_failed(self, exc: BaseException) -> None:
        self._approving = None
        self._show()
        if not isinstance(exc, Cancelled):
            self.error_text = describe(exc)
            self.label.setText(f"⚠ Not approved: {html.escape(self.error_text)}")
            self.label.setStyleSheet(ERROR_STYLE)
        self.sig_changed.emit()
