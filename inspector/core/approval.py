"""Maker-checker: a compensation plan that requires approval is submitted only once a second
operator has approved exactly that plan (its SHA-256).

``approve(plan, write_url, actor=, role=)`` records an approval in the target store, in the table
``inspector_approvals`` next to ``inspector_audit`` (same schema), through the write URL, one row
in one transaction, and in the operator log (``core.oplog``): the log entry is written inside
the transaction, before the commit, so an approval the log cannot record is not made at all.
``core.submit.submit`` calls ``enforce`` before anything is written (dry runs too: a dry run says
what executing would do, and executing would be refused).

The rules (``evaluate``):

* A plan *requires approval* when it says so (``CompensationPlan.requires_approval``) **or** when
  any version of it (same ``plan_id``) was approved: removing the flag after an approval is an
  edit like any other.
* It may be submitted only when an approval of its current SHA-256 exists by an actor other than
  the submitting one (names compared trimmed and case-insensitively). An approval of another
  version is refused with both hashes ("the plan changed since it was approved").
* Approving is for operators only (viewers and auditors cannot approve). The approver cannot be
  the submitter: the maker of a plan is whoever submits it (a plan does not record who composed
  it), so "four eyes" means the approver and the submitter are different people. Approving one's
  own plan is therefore allowed, but the approval does not count for one's own submission.
* Each approval approves one version; approving a newer version does not revoke an older one
  (there is no revocation yet).

Identities are the names operators give (``--actor``); the row also keeps the operating-system
account and the database login of the write URL, which the machine and the database did check.
Separation of duties that holds against a determined insider needs the database's grants too
(approvers with INSERT on ``inspector_approvals``, submitters without it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from .audit_table import schema_of_table, table_in
from .compensate import CompensationPlan
from .connect import create_engine, describe_error, normalize_url, redact
from .errors import InspectorError
from .masking import MASK
from .ownstore import UtcTime
from .roles import RoleError
from .submit import (OPERATOR, SubmitError, check_write_url, ensure_table, install_write_session, write_transaction,
                     masked_steps)

APPROVALS_TABLE = "inspector_approvals"
UTC = dt.timezone.utc


class ApprovalError(InspectorError):
    """An approval that cannot be recorded as asked."""


class ApprovalRefused(SubmitError):
    """A submission refused by maker-checker (see the module docstring)."""


_md = sa.MetaData()
approvals_table = sa.Table(
    APPROVALS_TABLE, _md,
    sa.Column("approval_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("plan_id", sa.String(36), nullable=False, index=False),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
    sa.Column("approver", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("os_user", sa.String(255), nullable=False),
    sa.Column("login", sa.String(255), nullable=True),  # the write URL's database user (None: SQLite)
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("steps", sa.Integer(), nullable=False),
    sa.Column("approved_at", UtcTime(), nullable=False),
    sa.Column("oplog_seq", sa.BigInteger(), nullable=True),  # the approver's operator log entry: an anchor
    sa.Column("oplog_hash", sa.String(64), nullable=True),
    sqlite_autoincrement=True, mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
)


def schema_of(plan: CompensationPlan) -> str | None:
    """The schema of the plan's events table: where ``inspector_audit`` and the approvals live."""
    return schema_of_table(plan.store.table)


def table_for(schema: str | None) -> sa.Table:
    return table_in(approvals_table, schema)


def same_actor(a: str | None, b: str | None) -> bool:
    return (a or "").strip().casefold() == (b or "").strip().casefold()


@dataclass(frozen=True)
class Approval:
    approval_id: int
    plan_id: str
    plan_sha256: str
    approver: str
    role: str
    os_user: str
    login: str | None
    note: str
    steps: int
    approved_at: dt.datetime
    oplog_seq: int | None = None
    oplog_hash: str | None = None

    def describe(self) -> str:
        return f"{self.approver} at {self.approved_at.isoformat(timespec='seconds')}"

    def to_json(self) -> dict[str, Any]:
        return {"approval_id": self.approval_id, "plan_id": self.plan_id, "plan_sha256": self.plan_sha256,
                "approver": self.approver, "role": self.role, "os_user": self.os_user, "login": self.login,
                "note": self.note, "steps": self.steps, "approved_at": self.approved_at.isoformat(),
                "oplog_seq": self.oplog_seq, "oplog_hash": self.oplog_hash}


# -- reading and judging -------------------------------------------------------------------------------------


def approvals_for(conn: Connection, plan: CompensationPlan) -> list[Approval]:
    """Every approval of any version of ``plan`` (its ``plan_id``) in the store of ``conn``,
    oldest first (none when the table does not exist yet)."""
    schema = schema_of(plan)
    if not conn.dialect.has_table(conn, APPROVALS_TABLE, schema=schema):
        return []
    t = table_for(schema)
    rows = conn.execute(sa.select(t).where(t.c.plan_id == plan.plan_id).order_by(t.c.approval_id)).mappings()
    return [Approval(**{k: r[k] for k in r.keys()}) for r in rows]


def read_approvals(target: Any, plan: CompensationPlan) -> list[Approval]:
    """``approvals_for`` through ``target``: a URL (opened read-only), an Engine, or a store
    (``EventStore`` / ``OpenedStore``, its read-only engine)."""
    dispose = False
    if isinstance(target, str):
        engine, dispose = create_engine(target, read_only=True), True
    elif isinstance(target, sa.engine.Engine):
        engine = target
    else:
        engine = getattr(getattr(target, "store", target), "engine")
    try:
        with engine.connect() as conn:
            return approvals_for(conn, plan)
    finally:
        if dispose:
            engine.dispose()


@dataclass(frozen=True)
class ApprovalStatus:
    """What maker-checker says of a plan, given its approvals and the submitting actor (None:
    not known yet, e.g. a form not filled in: then no approval is set aside as the submitter's)."""

    plan_sha256: str
    flagged: bool  # the plan says it requires approval
    required: bool  # flagged, or some version of it was approved
    valid: tuple[Approval, ...]  # of this version, by someone other than the submitter
    own: tuple[Approval, ...]  # of this version, by the submitter
    stale: tuple[Approval, ...]  # of other versions
    submitter: str | None = None

    @property
    def ok(self) -> bool:
        return not self.required or bool(self.valid)

    def message(self) -> str:
        sha = self.plan_sha256
        if not self.required:
            return "this plan does not require approval"
        if self.valid:
            return f"approved by {', '.join(a.describe() for a in self.valid)} (sha256 {sha})"
        if self.own:
            return (f"an operator cannot approve their own submission: the only approval of this plan (sha256 {sha}) "
                    f"is by {self.own[-1].approver}, who is submitting it; another operator must approve it")
        if self.stale:
            last = self.stale[-1]
            return (f"the plan changed since it was approved: {last.approver} approved sha256 {last.plan_sha256} at "
                    f"{last.approved_at.isoformat(timespec='seconds')}, the plan submitted has sha256 {sha}; this "
                    "version needs an approval of its own (inspector approve)")
        return (f"this plan requires approval by a second operator before it can be submitted, and nobody has "
                f"approved it (sha256 {sha}): another operator runs inspector approve URL --plan FILE --actor NAME "
                "--write-url URL")

    def to_json(self) -> dict[str, Any]:
        return {"plan_sha256": self.plan_sha256, "flagged": self.flagged, "required": self.required, "ok": self.ok,
                "message": self.message(), "submitter": self.submitter,
                "approvals": [a.to_json() for a in self.valid], "own": [a.to_json() for a in self.own],
                "stale": [a.to_json() for a in self.stale]}


def evaluate(plan: CompensationPlan, approvals: Sequence[Approval], submitter: str | None = None,
             sha: str | None = None) -> ApprovalStatus:
    sha = sha or plan.sha256()
    mine = [a for a in approvals if a.plan_id == plan.plan_id]
    this = [a for a in mine if a.plan_sha256 == sha]
    known = bool((submitter or "").strip())
    own = tuple(a for a in this if known and same_actor(a.approver, submitter))
    valid = tuple(a for a in this if a not in own)
    stale = tuple(a for a in mine if a.plan_sha256 != sha)
    return ApprovalStatus(sha, plan.requires_approval, plan.requires_approval or bool(mine), valid, own, stale,
                          submitter if known else None)


def enforce(conn: Connection, plan: CompensationPlan, submitter: str, sha: str | None = None) -> ApprovalStatus:
    """Raise ``ApprovalRefused`` unless ``submitter`` may submit ``plan`` (see the module docstring)."""
    status = evaluate(plan, approvals_for(conn, plan), submitter, sha)
    if not status.ok:
        raise ApprovalRefused(f"submission refused: {status.message()}")
    return status


# -- approving ------------------------------------------------------------------------------------------------


def approve(plan: CompensationPlan, write_url: str, *, actor: str, role: Any, note: str = "",
            log_path: Any = None, on_recorded: Callable[[Any], None] | None = None) -> Approval:
    """Record ``actor``'s approval of exactly this ``plan`` (its SHA-256) in the store at
    ``write_url`` and in the operator log (``log_path``: another log than this user's). Refused
    (``RoleError`` / ``ApprovalError``) unless the role is operator, an actor is given, the write
    URL is the plan's database and the plan holds no viewer's mask. The log entry is written inside
    the row's transaction: when the log cannot be written, nothing is approved."""
    from . import oplog

    role_name = str(getattr(role, "value", role) or "")
    if role_name != OPERATOR:
        raise RoleError(f"approving a plan needs the operator role (this session's role is {role_name or 'none'!r}): "
                        "viewers and auditors cannot approve")
    actor = str(actor or "").strip()
    if not actor:
        raise ApprovalError("approving needs an actor: the name the approval records (--actor)")
    if not str(write_url or "").strip():
        raise ApprovalError("approving needs a write URL: the approval is stored in the plan's store")
    check_write_url(plan, write_url, ApprovalError)
    if not plan.steps:
        raise ApprovalError("the plan has no steps: there is nothing to approve")
    if masked_steps(plan):
        raise ApprovalError(f"the plan holds the viewer's mask {MASK!r}: it was composed from masked data and can "
                            "never be submitted, so it is not approved")
    schema = schema_of(plan)
    events_table = plan.store.table.rsplit(".", 1)[-1]
    sha = plan.sha256()
    engine = create_engine(write_url, read_only=False)
    install_write_session(engine)
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, events_table, schema=schema):
                raise ApprovalError(f"the write URL {redact(write_url)} has no table {plan.store.table}: it is not "
                                    f"the plan's store")
        table = ensure_table(engine, table_for(schema), "approvals table", ApprovalError)
        login = make_url(normalize_url(write_url)).username
        at = dt.datetime.now(UTC)
        row = {"plan_id": plan.plan_id, "plan_sha256": sha, "approver": actor, "role": role_name,
               "os_user": oplog.os_user(), "login": login, "note": str(note or "").strip(),
               "steps": len(plan.steps), "approved_at": at}
        entry = None
        try:
            with write_transaction(engine) as conn:
                approval_id = int(conn.execute(table.insert().values(**row)).inserted_primary_key[0])
                entry = oplog.record("approve", actor=actor, role=role_name, store=plan.store,
                                     params={"plan_id": plan.plan_id, "plan_sha256": sha, "steps": len(plan.steps),
                                             "requires_approval": plan.requires_approval,
                                             "write_url": redact(write_url), "note": row["note"]},
                                     result={"ok": True, "approval_id": approval_id, "table": APPROVALS_TABLE},
                                     path=log_path)
                if on_recorded is not None:
                    on_recorded(entry)
                conn.execute(table.update().where(table.c.approval_id == approval_id)
                             .values(oplog_seq=entry.seq, oplog_hash=entry.hash))
        except oplog.OplogError as e:
            raise ApprovalError(f"nothing was approved: {e}") from None
        except sa.exc.DBAPIError as e:
            why = describe_error(e, engine.url)
            if entry is not None:  # logged, then the commit failed: the log must not claim an approval
                try:
                    oplog.record("approve", actor=actor, role=role_name, store=plan.store,
                                 params={"plan_id": plan.plan_id, "plan_sha256": sha, "voids": entry.seq},
                                 result={"ok": False, "error": why}, path=log_path)
                except oplog.OplogError:
                    pass  # the message below says it was not stored; entry ``entry.seq`` is then wrong
            raise ApprovalError(f"the approval was not stored: {why}") from None
        return Approval(approval_id, plan.plan_id, sha, actor, role_name, row["os_user"], login, row["note"],
                        len(plan.steps), at, entry.seq, entry.hash)
    finally:
        engine.dispose()


__all__ = ["APPROVALS_TABLE", "Approval", "ApprovalError", "ApprovalRefused", "ApprovalStatus", "approve",
           "approvals_for", "enforce", "evaluate", "read_approvals"]
