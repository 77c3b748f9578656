"""Maker-checker on real SQLite and PostgreSQL stores: a plan that requires approval is refused
(dry run and execute) until another operator approves exactly its SHA-256; an approval by the
submitting actor does not count; a plan edited after its approval (its steps, or the flag itself)
is refused with both hashes; viewers and auditors cannot approve; the approval row and its
operator log entry are one transaction; and ``inspector compensate --require-approval``,
``inspector approve`` and ``inspector submit`` on the command line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from inspector.cli import main
from inspector.core import oplog
from inspector.core.approval import (APPROVALS_TABLE, ApprovalError, ApprovalRefused, approve, evaluate,
                                     read_approvals)
from inspector.core.audit_table import AUDIT_TABLE
from inspector.core.compensate import CompensationPlan, Composer, StoreContext, load_plan
from inspector.core.roles import Role, RoleError
from inspector.core.submit import SubmitError
from tests.core.test_checkpoints import open_own
from tests.core.test_submit import (ACTOR, REASON, go, has_audit, own_plan, own_store, plugins, pm,  # noqa: F401
                                    scalar, statuses, url)

CHECKER = "user:kim"


def flagged(url: str, pm) -> CompensationPlan:
    plan = replace(own_plan(url, pm, own_store(url)), requires_approval=True)
    assert plan.requires_approval and plan.to_json()["requires_approval"] is True
    return plan


def approvals_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(APPROVALS_TABLE):
            return 0
    finally:
        engine.dispose()
    return scalar(url, f"SELECT COUNT(*) FROM {APPROVALS_TABLE}")


def test_the_flag_is_part_of_the_plan_and_its_hash_and_absent_plans_keep_theirs(sqlite_url, pm, tmp_path):
    plan = own_plan(sqlite_url, pm, own_store(sqlite_url))
    assert "requires_approval" not in plan.to_json()  # old plans: same document, same SHA-256
    on = replace(plan, requires_approval=True)
    assert on.sha256() != plan.sha256()
    assert load_plan(on.export(tmp_path / "on.json")) == on
    assert load_plan(plan.export(tmp_path / "off.json")).requires_approval is False
    doc = json.loads((tmp_path / "on.json").read_text())
    doc["requires_approval"] = "false"  # a string would be truthy: refused, not guessed
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="requires_approval is 'false', not true or false"):
        load_plan(tmp_path / "odd.json")


def test_require_approval_refuses_then_another_operators_approval_lets_it_through(url, pm):
    plan = flagged(url, pm)
    for execute in (False, True):
        with pytest.raises(ApprovalRefused, match="requires approval by a second operator") as e:
            go(plan, url, pm, execute=execute)
        assert plan.sha256() in str(e.value) and isinstance(e.value, SubmitError)
    assert not has_audit(url)

    a = approve(plan, url, actor=CHECKER, role=Role.OPERATOR, note="checked against INC-42")
    assert (a.approver, a.plan_sha256, a.plan_id, a.steps) == (CHECKER, plan.sha256(), plan.plan_id, 3)
    rows = read_approvals(url, plan)
    assert [(r.approver, r.plan_sha256, r.note, r.role) for r in rows] == [
        (CHECKER, plan.sha256(), "checked against INC-42", "operator")]
    # the approval's operator log entry, anchored in the row
    entry = oplog.OperatorLog().entries()[-1]
    assert (entry.action, entry.actor, entry.params["plan_sha256"]) == ("approve", CHECKER, plan.sha256())
    assert (rows[0].oplog_seq, rows[0].oplog_hash) == (entry.seq, entry.hash)
    assert oplog.verify(anchors=[(rows[0].oplog_seq, rows[0].oplog_hash)]).ok

    status = evaluate(plan, rows, ACTOR)
    assert status.ok and status.required and "approved by user:kim" in status.message()
    assert statuses(go(plan, url, pm, execute=False)) == ["would_apply"] * 3
    assert statuses(go(plan, url, pm)) == ["applied"] * 3
    assert scalar(url, f"SELECT COUNT(*) FROM {AUDIT_TABLE} WHERE plan_sha256 = :s", s=plan.sha256()) == 3


def test_an_approval_by_the_submitting_actor_does_not_count(url, pm):
    plan = flagged(url, pm)
    approve(plan, url, actor="User:Olga ", role="operator")  # ACTOR, spelt differently
    with pytest.raises(ApprovalRefused, match="cannot approve their own submission") as e:
        go(plan, url, pm)
    assert "is by User:Olga, who is submitting it" in str(e.value)
    assert not has_audit(url)
    # the same approver may submit as someone else's checker: another operator submits
    assert go(plan, url, pm, actor="user:pat").ok


def test_a_plan_edited_after_its_approval_is_refused_with_both_hashes(url, pm):
    plan = flagged(url, pm)
    approve(plan, url, actor=CHECKER, role="operator")
    opened = open_own(url, pm)
    try:
        edited = Composer(StoreContext(opened.store, plan.replay_plan, {}), pm.commands()).edit(
            plan, 3, {"account": "3", "amount": 5000})
    finally:
        opened.store.close()
    assert edited.requires_approval and edited.plan_id == plan.plan_id and edited.sha256() != plan.sha256()
    for execute in (False, True):
        with pytest.raises(ApprovalRefused, match="the plan changed since it was approved") as e:
            go(edited, url, pm, execute=execute)
        msg = str(e.value)
        assert f"approved sha256 {plan.sha256()}" in msg and f"submitted has sha256 {edited.sha256()}" in msg
    # dropping the flag after the approval is an edit too
    unflagged = replace(plan, requires_approval=False)
    with pytest.raises(ApprovalRefused, match="changed since it was approved"):
        go(unflagged, url, pm)
    assert not has_audit(url)
    # the new version approved: it goes through
    approve(edited, url, actor=CHECKER, role="operator")
    assert go(edited, url, pm).ok


def test_only_operators_approve_and_the_store_must_be_the_plans(sqlite_url, pm, tmp_path):
    plan = flagged(sqlite_url, pm)
    for role in ("viewer", "auditor", Role.AUDITOR, None):
        with pytest.raises(RoleError, match="needs the operator role"):
            approve(plan, sqlite_url, actor=CHECKER, role=role)
    with pytest.raises(ApprovalError, match="needs an actor"):
        approve(plan, sqlite_url, actor=" ", role="operator")
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"")
    with pytest.raises(ApprovalError, match="another database"):
        approve(plan, f"sqlite:///{other}", actor=CHECKER, role="operator")
    with pytest.raises(ApprovalError, match="no steps"):
        approve(replace(plan, steps=()), sqlite_url, actor=CHECKER, role="operator")
    assert approvals_count(sqlite_url) == 0
    assert not oplog.OperatorLog().entries()


def test_the_row_and_its_log_entry_are_one_transaction(url, pm, monkeypatch, tmp_path):
    plan = flagged(url, pm)
    real = oplog.record

    def broken(*a, **k):
        raise oplog.OplogError("the disk is full")

    monkeypatch.setattr(oplog, "record", broken)
    with pytest.raises(ApprovalError, match="nothing was approved: the disk is full"):
        approve(plan, url, actor=CHECKER, role="operator")
    assert approvals_count(url) == 0  # the table was made, the row rolled back
    monkeypatch.setattr(oplog, "record", real)

    # a failure after the entry (the row's update) rolls the row back, and the log says so
    def fail_after(entry):
        raise sa.exc.OperationalError("UPDATE", {}, Exception("connection lost"))

    with pytest.raises(ApprovalError, match="the approval was not stored"):
        approve(plan, url, actor=CHECKER, role="operator", on_recorded=fail_after)
    assert approvals_count(url) == 0
    last, void = oplog.OperatorLog().entries()[-2:]
    assert last.result["ok"] is True and void.result["ok"] is False and void.params["voids"] == last.seq
    with pytest.raises(ApprovalRefused):
        go(plan, url, pm)
    approve(plan, url, actor=CHECKER, role="operator")
    assert approvals_count(url) == 1 and go(plan, url, pm).ok


def test_cli_require_approval_approve_and_submit(sqlite_url, pm, plugins, tmp_path, capsys):  # noqa: F811
    plan = own_plan(sqlite_url, pm, own_store(sqlite_url))
    raw = plan.export(tmp_path / "raw.json")
    cp = tmp_path / "plan.json"
    base = [sqlite_url, "--plugin", str(plugins["base"])]
    assert main(["compensate", *base, "--edit", str(raw), "--require-approval", "--out", str(cp),
                 "--role", "operator"]) == 0
    assert "requires approval by a second operator" in capsys.readouterr().out
    assert load_plan(cp).requires_approval
    sub = ["submit", *base, "--plan", str(cp), "--write-url", sqlite_url, "--actor", ACTOR, "--reason", REASON,
           "--role", "operator", "--execute"]
    assert main(sub) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "requires approval by a second operator" in err
    ap = ["approve", *base, "--plan", str(cp), "--write-url", sqlite_url, "--actor", CHECKER]
    assert main(ap) == 1 and "needs the operator role" in capsys.readouterr().err  # the default role: viewer
    assert main(ap + ["--role", "operator", "--format", "json", "--note", "ok by me"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["approval"]["approver"] == CHECKER and doc["status"]["ok"]
    assert doc["approval"]["plan_sha256"] == load_plan(cp).sha256()
    assert main(sub) == 0
    capsys.readouterr()
    # the checker cannot submit what they approved
    assert sub[8] == "--actor"
    assert main(sub[:9] + [CHECKER] + sub[10:]) == 1
    assert "cannot approve their own submission" in capsys.readouterr().err
    actions = [e.action for e in oplog.OperatorLog().entries()]
    assert actions[:2] == ["compensate", "submit.begin"] and "approve" in actions
    assert actions.count("submit") >= 2  # the refusal and the submission
    refused = next(e for e in oplog.OperatorLog().entries() if e.action == "submit")
    assert refused.result["ok"] is False and "requires approval" in refused.result["error"]


def test_message_db_approvals_live_next_to_its_audit_table(pg_url, pm):  # noqa: F811
    from tests.core.test_submit import _mdb_plan

    plan, _target = _mdb_plan(pg_url, pm)
    plan = replace(plan, requires_approval=True)
    with pytest.raises(ApprovalRefused):
        go(plan, pg_url, pm)
    approve(plan, pg_url, actor=CHECKER, role="operator")
    assert scalar(pg_url, f"SELECT COUNT(*) FROM message_store.{APPROVALS_TABLE}") == 1
    assert statuses(go(plan, pg_url, pm)) == ["applied", "applied"]
