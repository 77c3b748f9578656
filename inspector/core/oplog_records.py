"""What each action puts in the operator log (``core.oplog``), shared by the command line and the
desktop app so both record the same thing: summaries of replay plans, compensation plans, forks
and submissions that hold ids, positions, counts and hashes but never payload values; an export's
file hash; and ``submit_logged``, a submission with its entries around it.

Failure policy (a log that cannot be written):

* an executed submission writes ``submit.begin`` *before* the first write, and is refused when
  that entry cannot be written (nothing is submitted); when its outcome entry cannot be written
  afterwards, the events are in the store and the store's ``inspector_audit`` has them, and the
  caller is told (the command line exits 1 after printing the report);
* an approval is refused when its entry cannot be written (``core.approval``);
* reads (previews, dry runs, plans, forks, exports) go on, and the caller is warned (stderr, the
  status bar): what was read cannot be taken back, and refusing to show it protects nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from . import oplog

#: Statuses whose message is kept: version text only (failures may quote a database error, and a
#: database error may quote a value).
_MESSAGES = ("conflict", "would_conflict", "not_run")


def replay_summary(plan: Any) -> dict[str, Any]:
    """A replay plan (truncate or skip preview) as counts and a hash."""
    out: dict[str, Any] = {
        "kind": plan.kind, "head_position": plan.head_position, "position": plan.position,
        "checkpoint": plan.checkpoint.name if plan.checkpoint else None,
        "dropped": plan.dropped.count, "collateral": plan.collateral.count if plan.collateral else None,
        "orphans": plan.orphans.count if plan.orphans.traced else None,
        "projections": {p.projection: {"method": p.method, "rows_added": p.rows_added, "rows_removed": p.rows_removed,
                                       "rows_changed": p.rows_changed, "cells_changed": p.cells_changed}
                        for p in plan.projections},
        "sha256": oplog.sha256_json(plan.to_json()),
    }
    return out


def selection_params(selection: Any) -> dict[str, Any] | None:
    return selection.to_json() if selection is not None else None


def compensation_summary(plan: Any, speculation: Any = None) -> dict[str, Any]:
    """A compensation plan by its steps' identities (command, stream, versions, compensated event
    ids, keys); not their values."""
    out: dict[str, Any] = {
        "plan_id": plan.plan_id, "sha256": plan.sha256(), "requires_approval": plan.requires_approval,
        "head_position": plan.head_position, "replay_plan_sha256": oplog.sha256_json(plan.replay_plan.to_json()),
        "steps": [{"index": s.index, "command": s.command, "stream": s.stream,
                   "expected_version": s.expected_version, "events": len(s.events),
                   "compensates": list(s.compensates), "idempotency_key": s.idempotency_key, "origin": s.origin}
                  for s in plan.steps],
    }
    if speculation is not None:
        out["residual"] = {"empty": speculation.empty,
                           "projections": {r.projection: {"computed": r.computed, "cells": len(r.cells),
                                                          "missing": len(r.missing), "extra": len(r.extra)}
                                           for r in speculation.residuals}}
    return out


def report_summary(report: Any) -> dict[str, Any]:
    """A ``SubmitReport``: each step's outcome, positions and key."""
    return {"ok": report.ok, "executed": report.executed, "stopped_at": report.stopped_at,
            "submitter": report.submitter, "plan_sha256": report.plan_sha256,
            "outcomes": [{"index": o.index, "command": o.command, "stream": o.stream, "status": o.status,
                          "positions": list(o.positions), "expected_version": o.expected_version,
                          "actual_version": o.actual_version, "idempotency_key": o.idempotency_key,
                          **({"message": o.message} if o.status in _MESSAGES else {})}
                         for o in report.outcomes]}


def fork_summary(summary: Any) -> dict[str, Any]:
    return {"path": str(summary.path), "events": summary.events, "head_position": summary.head_position,
            "commands": summary.commands, "kind": summary.kind, "position": summary.position,
            "left_out": summary.left_out, "renumbered": summary.renumbered}


def file_result(path: str | Path) -> dict[str, Any]:
    """An exported file: where, how big, its SHA-256 (whoever holds the file can check it against
    the log)."""
    p = Path(path)
    return {"ok": True, "path": str(p.resolve()), "bytes": p.stat().st_size, "sha256": oplog.sha256_file(p)}


def record_export(path: str | Path, *, what: str, actor: str | None = None, role: Any = None, store: Any = None,
                  params: Mapping[str, Any] | None = None, warn: Callable[[str], None] | None = None,
                  log_path: str | Path | None = None) -> oplog.LogEntry | None:
    """Record that ``what`` (e.g. ``"replay-plan"``, ``"compensation-plan"``, ``"events-csv"``,
    ``"evidence-bundle"``) was exported to ``path`` (its size and SHA-256). A log that cannot be
    written warns (``warn``, default stderr) and returns None: the file exists either way."""
    try:
        result = file_result(path)
    except OSError as e:
        result = {"ok": False, "path": str(path), "error": str(e)}
    try:
        return oplog.record("export", actor=actor, role=role, store=store, params={"what": what, **dict(params or {})},
                            result=result, path=log_path)
    except oplog.OplogError as e:
        (warn or oplog.warn_stderr)(f"this export was not recorded in the operator log: {e}")
        return None


def submit_params(plan: Any, write_url: str, reason: str, execute: bool, plan_file: str | Path | None) -> dict:
    from .connect import redact

    return {"plan_id": plan.plan_id, "plan_sha256": plan.sha256(), "requires_approval": plan.requires_approval,
            "steps": len(plan.steps), "write_url": redact(write_url), "execute": bool(execute),
            "reason": (reason or "").strip(), "plan_file": str(plan_file) if plan_file else None}


def submit_logged(plan: Any, write_url: str, *, actor: str, reason: str, role: Any, execute: bool = False,
                  manager: Any = None, on_step: Callable[[Any], None] | None = None,
                  plan_file: str | Path | None = None, warn: Callable[[str], None] | None = None,
                  log_path: str | Path | None = None) -> Any:
    """``core.submit.submit`` with its operator log entries (see the module docstring for what is
    refused and what only warned): ``submit.begin`` before an executed submission, ``submit``
    with its outcome, or the refusal, after. Returns the ``SubmitReport``; ``OplogError`` when an
    executed submission cannot be logged before it starts (nothing was written). An outcome that
    cannot be logged is told to ``warn`` (default: stderr); for an executed submission the caller
    should treat that as an error (the command line exits 1)."""
    from .submit import submit

    params = submit_params(plan, write_url, reason, execute, plan_file)
    if execute:
        try:
            oplog.record("submit.begin", actor=actor, role=role, store=plan.store, params=params,
                         result={"phase": "begin"}, path=log_path)
        except oplog.OplogError as e:
            raise oplog.OplogError(f"submission refused, nothing was written: {e}") from None
    with oplog.recording("submit", actor=actor, role=role, store=plan.store, params=params, warn=warn,
                         path=log_path) as rec:
        report = submit(plan, write_url, actor=actor, reason=reason, role=role, execute=execute, manager=manager,
                        on_step=on_step)
        rec.result = report_summary(report)
    return report
