"""Maker-checker and the operator log in the desktop app, on a copy of the demo shop: a preview, its
export and the composer's export are recorded; ticking "requires approval" changes the plan (and
its hash) and disables Submit with the reason; "Approve…" refuses the intended submitter as
approver and records another operator's approval; unticking after the approval is an edit the
approval does not cover; the approved plan is submitted and the log holds approve, submit.begin
and submit; an auditor cannot approve; a log that cannot be written warns in the status bar for
a preview and refuses a submission."""

from __future__ import annotations


from inspector.core import oplog
from inspector.core.roles import Role
from tests.gui.conftest import WAIT_MS
from tests.gui.test_composer_gui import STORE_FILE, _compose, _db_count, _window, demo_path, ops_path  # noqa: F401

MAKER, CHECKER = "user:maker", "user:checker"


def _actions() -> list[str]:
    return [e.action for e in oplog.OperatorLog().entries()]


def _checked(qtbot, box) -> None:
    qtbot.waitUntil(lambda: box.approvals is not None and box._reading is None, timeout=WAIT_MS)


def test_require_approve_and_submit(qtbot, ops_path, plugin_manager, tmp_path):  # noqa: F811
    window, opened = _window(qtbot, ops_path, plugin_manager, Role.OPERATOR)
    preview, c = _compose(qtbot, window)
    assert _actions() == ["preview"]
    entry = oplog.OperatorLog().entries()[0]
    assert entry.role == "operator" and entry.params["selection"]["actor"] == "agent:pricing-bot"
    assert entry.result["dropped"] == preview.plan.dropped.count
    preview.export_plan(tmp_path / "replay.json")
    assert _actions()[-1] == "export" and oplog.OperatorLog().entries()[-1].params["what"] == "replay-plan"

    panel = c.submit_panel
    box = panel.approval_box
    c.tabs.setCurrentWidget(panel)
    _checked(qtbot, box)
    assert box.label.text().startswith("Approval: not required") and not box.approve_button.isEnabled()
    panel.url_edit.setText(str(ops_path))
    panel.actor_edit.setText(MAKER)
    panel.reason_edit.setText("TICKET-7 revert the pricing-bot run")
    assert panel.submit_button.isEnabled()

    # ticking the box changes the plan: same steps, the flag, a new hash; Submit waits for an approval
    before = c.plan
    box.require_box.setChecked(True)
    assert c.plan.requires_approval and c.plan.steps == before.steps and c.plan.sha256() != before.sha256()
    assert panel.plan is c.plan
    _checked(qtbot, box)
    assert not panel.submit_button.isEnabled() and not panel.dry_button.isEnabled()
    assert "requires approval by a second operator" in panel.problem.text()
    assert "nobody has approved it" in box.label.text()
    out = c.export_plan(tmp_path / "comp.json")
    exported = oplog.OperatorLog().entries()[-1]
    assert exported.params["what"] == "compensation-plan" and exported.params["requires_approval"]
    assert exported.result["sha256"] == oplog.sha256_file(out)

    # the intended submitter cannot approve; another operator can
    assert box.approve_button.isEnabled()
    box.approve_button.click()
    dialog = box.approve_dialog
    assert dialog is not None and c.plan.sha256() in dialog.text.text() and MAKER in dialog.text.text()
    dialog.approver_edit.setText(" User:Maker")
    assert not dialog.ok.isEnabled() and "intended submitter" in dialog.problem.text()
    dialog.approver_edit.setText(CHECKER)
    assert dialog.ok.isEnabled()
    dialog.note_edit.setText("looks right")
    dialog.ok.click()
    qtbot.waitUntil(lambda: box.approval is not None and bool(box.approvals), timeout=WAIT_MS)
    _checked(qtbot, box)
    assert box.approval.approver == CHECKER and box.approval.plan_sha256 == c.plan.sha256()
    assert "Approved by user:checker" in box.label.text()
    assert panel.submit_button.isEnabled()
    assert _db_count(ops_path, "select count(*) from inspector_approvals where approver = ?", CHECKER) == 1
    assert _actions()[-1] == "approve"

    # unticking after the approval is an edit the approval does not cover
    box.require_box.setChecked(False)
    _checked(qtbot, box)
    assert not c.plan.requires_approval and not panel.submit_button.isEnabled()
    assert "changed since it was approved" in panel.problem.text()
    box.require_box.setChecked(True)  # back to the approved version
    _checked(qtbot, box)
    assert panel.submit_button.isEnabled()
    # the approver as the submitter: refused with the reason
    panel.actor_edit.setText(CHECKER)
    assert not panel.submit_button.isEnabled() and "cannot approve their own submission" in panel.problem.text()
    panel.actor_edit.setText(MAKER)

    before_events = _db_count(ops_path, "select count(*) from inspector_events")
    panel.submit_button.click()
    assert "Maker-checker: approved by user:checker" in panel.confirm_dialog.text.text()
    panel.confirm_dialog.name_edit.setText(STORE_FILE)
    panel.confirm_dialog.ok.click()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.report is not None, timeout=WAIT_MS)
    assert panel.report.executed and panel.report.ok
    assert _db_count(ops_path, "select count(*) from inspector_events") == before_events + len(c.plan.steps)
    assert _actions()[-2:] == ["submit.begin", "submit"]
    done = oplog.OperatorLog().entries()[-1]
    assert done.actor == MAKER and {o["status"] for o in done.result["outcomes"]} == {"applied"}
    assert oplog.verify().ok
    c.close()
    preview.close()
    window.close()
    opened.store.close()


def test_an_auditor_cannot_approve(qtbot, ops_path, plugin_manager):  # noqa: F811
    window, opened = _window(qtbot, ops_path, plugin_manager, Role.AUDITOR)
    preview, c = _compose(qtbot, window)
    box = c.submit_panel.approval_box
    _checked(qtbot, box)
    box.require_box.setChecked(True)  # an auditor may compose and mark the plan
    _checked(qtbot, box)
    c.submit_panel.url_edit.setText(str(ops_path))  # disabled for an auditor, set anyway
    box.set_context(str(ops_path), "")
    assert not box.approve_button.isEnabled() and "operator role" in box.approve_button.toolTip()
    c.close()
    preview.close()
    window.close()
    opened.store.close()


def test_a_log_that_cannot_be_written(qtbot, ops_path, plugin_manager, tmp_path, monkeypatch):  # noqa: F811
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "oplog").write_text("a file where the log's folder would be")
    monkeypatch.setenv("INSPECTOR_DATA_DIR", str(blocked))
    window, opened = _window(qtbot, ops_path, plugin_manager, Role.OPERATOR)
    preview, c = _compose(qtbot, window)  # the preview is shown all the same
    assert "was not recorded in the operator log" in window.statusBar().currentMessage()
    panel = c.submit_panel
    panel.url_edit.setText(str(ops_path))
    panel.actor_edit.setText(MAKER)
    panel.reason_edit.setText("TICKET-8")
    _checked(qtbot, panel.approval_box)
    before = _db_count(ops_path, "select count(*) from inspector_events")
    panel.start(execute=True)
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.error_text is not None, timeout=WAIT_MS)
    assert "submission refused, nothing was written" in panel.status.text()
    assert _db_count(ops_path, "select count(*) from inspector_events") == before
    c.close()
    preview.close()
    window.close()
    opened.store.close()
