"""The inspector's own audit trail on the command line: ``inspector log`` (the operator log's
entries), ``inspector verify-log`` (is the hash chain intact?) and ``inspector approve`` (the
checker's half of maker-checker); and ``recording``, which the other commands use to record what
they did.

Who an entry names: ``--actor`` where the command has one (``submit``, ``approve``), otherwise the
operating-system account (``getpass.getuser()``): previews, plans and forks are reads, and the
account that ran them is who read."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import EXIT_ERROR, dumps, fail, session


def _role(args: argparse.Namespace) -> Any:
    try:
        return session(args)[1]
    except Exception:  # noqa: BLE001 - no URL / profile: the command itself says so; the entry has no role
        return getattr(args, "role", None)


def recording(args: argparse.Namespace, action: str, params: dict[str, Any] | None = None, *,
              actor: str | None = None, required: bool = False):
    """``core.oplog.recording`` for a command: the actor (``actor``, else the OS user), the
    session's role, the store's URL (the command sets ``rec.store`` once it has opened it), and a
    warning on stderr when the log cannot be written (``required``: an error instead)."""
    from ..core import oplog

    url = getattr(args, "url", None)
    return oplog.recording(action, actor=actor, role=_role(args), store=url, params=params, required=required)


# -- inspector log / verify-log ---------------------------------------------------------------------


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.strip().isdigit() or len(digest.strip()) != 64:
        raise argparse.ArgumentTypeError(f"an anchor is SEQ:HASH (64 hex), not {text!r}")
    return int(seq), digest.strip().lower()


def cmd_verify_log(args: argparse.Namespace) -> int:
    from ..core.oplog import verify

    report = verify(args.log, args.anchor or ())
    if args.format == "json":
        print(dumps(report.to_json()))
    else:
        print(report.summary())
        for p in report.problems[1:]:
            print(f"  {'line ' + str(p.line) + ': ' if p.line else ''}{p.message}")
        if report.more_problems:
            print("  … (more problems not listed)")
        for w in report.warnings:
            print(f"warning: {w}")
    return 0 if report.ok else EXIT_ERROR


def _entry_line(e: Any) -> str:
    result = e.result if isinstance(e.result, dict) else {}
    if result.get("ok") is False:
        outcome = "failed: " + str(result.get("error") or "")[:120]
    elif "outcomes" in result:
        counts: dict[str, int] = {}
        for o in result["outcomes"]:
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        outcome = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no steps"
    else:
        outcome = ", ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, (dict, list)))[:160]
    store = (e.store or {}).get("url", "") if isinstance(e.store, dict) else ""
    return f"{e.seq:>6} {e.at[:19]} {e.action:<13} {e.actor} ({e.role or '-'}) {store}  {outcome}".rstrip()


def cmd_log(args: argparse.Namespace) -> int:
    from ..core.oplog import OperatorLog

    log = OperatorLog(args.log)
    entries = log.entries()
    if args.action:
        entries = [e for e in entries if e.action == args.action or e.action.startswith(args.action + ".")]
    if args.tail is not None:
        entries = entries[-args.tail:] if args.tail > 0 else []
    if args.format == "json":
        print(dumps([e.to_json() for e in entries]))
    elif not entries:
        print(f"no entries in {log.path}", file=sys.stderr)
    else:
        print("\n".join(_entry_line(e) for e in entries))
    return 0


# -- inspector approve ---------------------------------------------------------------------------------


def cmd_approve(args: argparse.Namespace) -> int:
    from ..core.approval import approve, evaluate, read_approvals
    from ..core.compensate import load_plan
    from ..core.submit import same_database

    url, role = session(args)
    plan = load_plan(args.plan)
    if not same_database(url, plan.store.url):
        return fail(f"the plan was made for {plan.store.url}, not for {url}")
    a = approve(plan, args.write_url, actor=args.actor or "", role=role, note=args.note or "")
    status = evaluate(plan, read_approvals(args.write_url, plan))
    if args.format == "json":
        print(dumps({"approval": a.to_json(), "status": status.to_json()}))
    else:
        print(f"approved plan {plan.plan_id} (sha256 {a.plan_sha256}, {len(plan.steps)} step(s)) as {a.approver}; "
              f"approval {a.approval_id} in {plan.store.url}, operator log entry {a.oplog_seq}:{a.oplog_hash}")
        if not plan.requires_approval:
            print("note: the plan does not ask for approval; from now on any edit of it needs a new approval",
                  file=sys.stderr)
        print(f"the approver cannot submit it: {a.approver} submitting this plan is refused", file=sys.stderr)
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    v = sub.add_parser("verify-log", parents=[common], help="check the operator log's hash chain (exit 1: changed)",
                       description="Check every entry of the operator log, the chain between entries and the "
                                   "head file: any edited, deleted, inserted or reordered entry, and entries removed "
                                   "from the end, are reported with the first bad line. Exit 0: intact; 1: changed.")
    v.add_argument("--log", metavar="PATH", help="another operator log than this user's")
    v.add_argument("--anchor", action="append", type=_anchor, metavar="SEQ:HASH",
                   help="an entry's hash kept elsewhere (a ticket, an approval row): the log must still hold it")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.set_defaults(func=cmd_verify_log)

    lg = sub.add_parser("log", parents=[common], help="show the operator log: previews, plans, exports, approvals and "
                                                      "submissions made with this inspector")
    lg.add_argument("--log", metavar="PATH", help="another operator log than this user's")
    lg.add_argument("--tail", type=int, metavar="N", help="only the last N entries")
    lg.add_argument("--action", metavar="NAME", help="only entries of this action (submit includes submit.begin)")
    lg.add_argument("--format", choices=("text", "json"), default="text")
    lg.set_defaults(func=cmd_log)

    ap = sub.add_parser("approve", parents=[common], help="approve a compensation plan as a second operator "
                                                          "(maker-checker)",
                        description="Record your approval of exactly this compensation plan (its SHA-256) in the "
                                    "store, in the table inspector_approvals next to inspector_audit, and in the "
                                    "operator log. A plan that requires approval can then be submitted by an "
                                    "operator other than you; an edited plan needs a new approval.")
    ap.add_argument("url", nargs="?", help="the store the plan was made on, as browsed (optional with --profile)")
    ap.add_argument("--plan", required=True, metavar="COMPPLAN.json", help="the compensation plan to approve")
    ap.add_argument("--write-url", required=True, metavar="URL", help="the connection to store the approval with")
    ap.add_argument("--actor", required=True, metavar="NAME", help="who approves (never the one who will submit)")
    ap.add_argument("--note", metavar="TEXT", help="why it is approved (kept with the approval)")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.set_defaults(func=cmd_approve)
