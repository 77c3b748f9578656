"""``inspector compensate``: from a replay plan, the compensating commands plugins propose, and
their effect applied in memory (the residual against the plan's target). Writes nothing to the
store; ``inspector submit`` is the one command that does."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import add_source, open_source, plugins


def _residual_lines(spec: Any) -> list[str]:
    lines = []
    for r in spec.residuals:
        if not r.computed:
            lines.append(f"residual on {r.projection}: not computed ({r.note})")
        elif r.empty:
            lines.append(f"residual on {r.projection}: empty (the compensation fully reverts the plan's changes "
                         f"to {len(r.keys)} row(s))")
        else:
            lines.append(f"residual on {r.projection}: {len(r.cells)} cell(s) differ, {len(r.missing)} row(s) "
                         f"missing, {len(r.extra)} row(s) extra")
            for c in r.cells[:20]:
                lines.append(f"  {c['key']}.{c['field']}: would be {c['result']!r}, target {c['target']!r}")
            lines += [f"  {k}: the target has this row, the result not" for k in r.missing[:20]]
            lines += [f"  {k}: the result has this row, the target not" for k in r.extra[:20]]
    return lines


def summary(plan: Any, spec: Any) -> str:
    """A compensation plan for a person: its steps, the plugins' notes and the residual."""
    lines = [f"compensation plan {plan.plan_id} for {plan.store.url} (head #{plan.head_position}), "
             f"{len(plan.steps)} step(s)"]
    if plan.requires_approval:
        lines.append(f"requires approval by a second operator before it is submitted (sha256 {plan.sha256()})")
    for s in plan.steps:
        ev = "new stream" if s.expected_version is None else f"v{s.expected_version}"
        vals = ", ".join(f"{k}={v!r}" for k, v in s.values.items())
        lines.append(f"{s.index:>3}. {s.command}({vals}) -> {s.stream} expecting {ev}; "
                     f"{len(s.events)} event(s); compensates {len(s.compensates)}"
                     + (f"; {s.reason}" if s.reason else ""))
    lines += [f"note ({n.plugin or 'inspector'}): {n.text}" for n in plan.notes]
    lines += _residual_lines(spec)
    lines += [f"note: {n}" for n in spec.notes]
    return "\n".join(lines)


def cmd_compensate(args: argparse.Namespace) -> int:
    from ..core.oplog import sha256_file
    from ..core.oplog_records import compensation_summary, file_result
    from .oplog import recording

    source = args.edit or args.plan
    params = {"replay_plan": args.plan, "edit": args.edit, "require_approval": args.require_approval,
              "out": args.out, "input_sha256": sha256_file(source) if source and Path(source).is_file() else None}
    with recording(args, "compensate", params) as rec:  # a plan is a read: a log that cannot be written warns
        plan, spec = _compensate(args, rec)
        rec.result = compensation_summary(plan, spec)
        if args.out:
            path = plan.export(args.out)
            rec.result["file"] = file_result(path)
            print(f"compensation plan written to {path}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"plan": plan.to_json(), "speculation": spec.to_json()}, indent=2, ensure_ascii=False,
                         default=str))
    else:
        print(summary(plan, spec))
    return 0


def _compensate(args: argparse.Namespace, rec: Any) -> tuple[Any, Any]:
    from ..core.checkpoints import StoreIdentity
    from ..core.compensate import Composer, CompensationError, StoreContext, histories_for, load_plan, speculate
    from ..core.replay_values import load_plan as load_replay_plan

    pm = plugins(args)
    if args.plan and args.edit:
        raise CompensationError("give --plan (a replay plan) or --edit (a compensation plan), not both")
    comp_plan = load_plan(args.edit) if args.edit else None
    replay_plan = comp_plan.replay_plan if comp_plan else load_replay_plan(args.plan)
    opened = open_source(args)
    try:
        here = StoreIdentity.of(opened)
        rec.store = here
        if replay_plan.store != here:
            raise CompensationError(f"the plan was made for {replay_plan.store.url} ({replay_plan.store.layout} "
                                    f"{replay_plan.store.table}), not this store ({here.url})")
        projections = {p.name: p for p in pm.projections()}
        histories = histories_for(opened.store, replay_plan, projections)
        context = StoreContext(opened.store, replay_plan, histories)
        composer = Composer(context, pm.commands())
        plan = composer.rebuild(comp_plan) if comp_plan else composer.propose(pm)
        if args.require_approval is not None:  # None: an edited plan keeps what it said
            plan = replace(plan, requires_approval=args.require_approval)
        spec = speculate(plan, context)
    finally:
        opened.store.close()
    return plan, spec


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    c = sub.add_parser("compensate", parents=[common],
                       help="propose compensating commands for a replay plan and show their effect; writes nothing")
    add_source(c)
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--plan", metavar="REPLAYPLAN.json", help="a replay plan (inspector preview … --out)")
    g.add_argument("--edit", metavar="COMPPLAN.json", help="a compensation plan edited by hand: validate every step "
                   "again, rebuild its events and expected versions, and show the residual")
    c.add_argument("--out", metavar="COMPPLAN.json", help="write the compensation plan here (for inspector submit)")
    c.add_argument("--require-approval", action=argparse.BooleanOptionalAction, default=None,
                   help="submitting needs an approval of exactly this plan by a second operator (inspector approve); "
                        "with --edit, --no-require-approval drops it (an approved plan needs approval again anyway)")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(func=cmd_compensate)
