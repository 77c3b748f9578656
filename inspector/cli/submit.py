"""``inspector submit``: the one command that writes to a user's store. It appends a compensation
plan's events through its own write connection, step by step (expected version, idempotency key
and audit row in one transaction each); without ``--execute`` it only says what it would do."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import dumps, fail, plugins, session


def _line(o: Any) -> str:
    where = f" -> #{', #'.join(str(p) for p in o.positions)}" if o.positions else ""
    return f"{o.index:>3}. {o.status:<14} {o.command} on {o.stream}: {o.message}{where}"


def cmd_submit(args: argparse.Namespace) -> int:
    from ..core.compensate import load_plan
    from ..core.oplog import warn_stderr
    from ..core.oplog_records import submit_logged
    from ..core.submit import same_database

    url, role = session(args)  # the role asked for (--role), checked against the profiles' ceilings
    plan = load_plan(args.plan)
    if not same_database(url, plan.store.url):
        return fail(f"the plan was made for {plan.store.url}, not for {url}")
    text = args.format == "text"
    unlogged: list[str] = []  # the outcome could not be written to the operator log

    def warn(message: str) -> None:
        unlogged.append(message)
        warn_stderr(message)

    # recorded in the operator log: before an executed submission (refused when that fails) and its outcome
    report = submit_logged(plan, args.write_url, actor=args.actor or "", reason=args.reason or "", role=role,
                           execute=args.execute, manager=plugins(args),
                           on_step=(lambda o: print(_line(o), flush=True)) if text else None,
                           plan_file=args.plan, warn=warn)
    if not text:
        print(dumps(report.to_json()))
    else:
        counts: dict[str, int] = {}
        for o in report.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        done = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items()) or "no steps"
        what = "submitted" if report.executed else "dry run (nothing written; add --execute to submit)"
        print(f"{what}: {done}", file=sys.stderr if not report.ok else sys.stdout)
    if not report.ok:
        o = next(o for o in report.outcomes if o.index == report.stopped_at)
        return fail(f"step {o.index} {o.status.replace('_', ' ')}: {o.message}")
    if unlogged and report.executed:
        return fail("submitted, but the outcome is missing from the operator log (the store's inspector_audit "
                    "has every applied step)")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("submit", parents=[common],
                       help="append a compensation plan's events to the store (a dry run unless --execute)",
                       description="Append a compensation plan's events to the store through a write connection of "
                                   "its own. Each step is one transaction: expected version, idempotency key, events "
                                   "and an audit row. A conflict stops the plan; running it again skips what was "
                                   "applied. Without --execute nothing is written.")
    s.add_argument("url", nargs="?", help="the store the plan was made on, as browsed (URL or SQLite file path; "
                   "optional with --profile)")
    s.add_argument("--plan", required=True, metavar="COMPPLAN.json",
                   help="the compensation plan (inspector compensate … --out)")
    s.add_argument("--write-url", required=True, metavar="URL",
                   help="the connection to write with: its own URL (a login allowed to write), never the browsing one")
    s.add_argument("--actor", metavar="NAME", help="who submits: recorded in every event and audit row")
    s.add_argument("--reason", metavar="TEXT", help="why: recorded in every event and audit row")
    s.add_argument("--execute", action="store_true", help="write; without it, only say what would be written")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_submit)
