"""Rollback commands that write nothing to the store: checkpoints (kept in the inspector's own
data), previews of a truncate or a skip (a replay plan, JSON), and forks into a new SQLite file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import add_source, listed, open_source, parse_when, print_result


def _progress(what: str):
    """A progress callback printing to a terminal's stderr (silent when piped)."""
    tty = sys.stderr.isatty()

    def report(done: int, of: int) -> None:
        if tty:
            print(f"\r{what}: position {done:,} of {of:,}", end="", file=sys.stderr, flush=True)

    return report, (lambda: print(file=sys.stderr) if tty else None)


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    if args.at is not None:
        return {"at": args.at}
    if args.at_time is not None:
        return {"at_time": args.at_time.isoformat()}
    if args.before_event is not None:
        return {"before_event": args.before_event}
    if args.before_correlation is not None:
        return {"before_correlation": args.before_correlation}
    spec = {"before_actor": args.before_actor}
    if args.since is not None:
        spec["since"] = args.since.isoformat()
    return spec


def _checkpoint_row(c: Any) -> str:
    how = ", ".join(f"{k}={v}" for k, v in c.spec.items())
    note = f"  {c.note}" if c.note else ""
    return f"{c.name:<20} #{c.position:<10} {how}{note}"


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from ..core.checkpoints import CheckpointBook, make_checkpoint

    from ..core.errors import InspectorError

    if args.action == "add" and args.since is not None and args.before_actor is None:
        raise InspectorError("--since bounds an actor's run: use it with --before-actor")
    opened = open_source(args)
    try:
        book = CheckpointBook.for_store(opened)
        if args.action == "add":
            c = book.add(make_checkpoint(opened.store, args.name, _spec(args), args.note or ""), replace=args.replace)
            out: Any = c.to_json()
            text = f"checkpoint {c.name!r} at #{c.position} ({book.path})"
        elif args.action == "remove":
            c = book.remove(args.name)
            out, text = c.to_json(), f"removed checkpoint {c.name!r} (#{c.position})"
        else:
            out, text = listed(book.list(), _checkpoint_row, "no checkpoints for this store yet")
    finally:
        opened.store.close()
    return print_result(args, out, text)


def _projections(args: argparse.Namespace) -> list[Any]:
    from ..core.errors import InspectorError
    from .common import plugins

    pm = plugins(args)
    by_name = {p.name: p for p in pm.projections()}
    names = args.projection or ["streams"]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InspectorError(f"no projection {missing[0]!r}; projections: {', '.join(sorted(by_name)) or 'none'}")
    return [by_name[n] for n in names]


def _summary(plan: Any) -> str:
    """A plan for a person: what goes, what is lost besides, what is orphaned, what changes."""
    lines = []
    if plan.kind == "truncate":
        scope = ""
        if plan.streams or plan.categories:
            scope = " in " + ", ".join([f"stream {s}" for s in plan.streams] + [f"category {c}" for c in plan.categories])
        lines.append(f"truncate to #{plan.position}{scope} (head #{plan.head_position})")
    else:
        lines.append(f"skip {json.dumps(plan.selection.to_json(), ensure_ascii=False)} (head #{plan.head_position})")

    def tally(title: str, s: Any) -> None:
        top = ", ".join(f"{k} {v:,}" for k, v in s.by_type[:6])  # largest first
        actors = ", ".join(f"{k} {v:,}" for k, v in s.by_actor[:4])
        lines.append(f"{title}: {s.count:,} events in {len(s.by_stream):,} streams" + (f"; {top}" if top else "")
                     + (f"; by {actors}" if actors else ""))

    tally("dropped" if plan.kind == "truncate" else "skipped", plan.dropped)
    if plan.collateral is not None and plan.selection is not None:
        tally("collateral (legitimate events lost too)", plan.collateral)
    o = plan.orphans
    lines.append(f"orphans: {o.count:,}" + (f" ({o.explanation})" if o.explanation else ""))
    for p in plan.projections:
        if p.method == "not_computed":
            lines.append(f"{p.projection}: not computed ({p.note})")
        else:
            lines.append(f"{p.projection}: {p.rows_added:,} rows added, {p.rows_removed:,} removed, "
                         f"{p.rows_changed:,} changed ({p.cells_changed:,} cells)")
            for c in p.changed[:5]:
                lines.append(f"  {c['key']}.{c['field']}: {c['old']!r} -> {c['new']!r}")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)


def cmd_preview(args: argparse.Namespace) -> int:
    from ..core.errors import InspectorError
    from ..core.oplog_records import file_result, replay_summary
    from .oplog import recording

    if (args.stream or args.category) and args.truncate_to is None:
        raise InspectorError("--stream and --category limit a truncate: use them with --truncate-to")
    if (args.since or args.until) and args.skip_actor is None:
        raise InspectorError("--since and --until bound an actor's run: use them with --skip-actor")
    projections = _projections(args)
    params = {"truncate_to": args.truncate_to, "streams": args.stream or [], "categories": args.category or [],
              "skip_events": args.skip_event or [], "skip_correlations": args.skip_correlation or [],
              "skip_actor": args.skip_actor, "since": args.since, "until": args.until,
              "projections": [p.name for p in projections], "limit": args.limit, "out": args.out}
    with recording(args, "preview", params) as rec:  # a read: a log that cannot be written warns
        plan = _preview(args, projections, rec)
        rec.result = replay_summary(plan)
        if args.out:
            path = plan.export(args.out)
            rec.result["file"] = file_result(path)
            print(f"plan written to {path}", file=sys.stderr)
    print(plan.dumps() if args.format == "json" else _summary(plan))
    return 0


def _preview(args: argparse.Namespace, projections: list[Any], rec: Any) -> Any:
    from ..core.checkpoints import CheckpointBook, StoreIdentity
    from ..core.history import build_history
    from ..core.replay import preview_skip, preview_truncate
    from ..core.replay_values import Selection

    opened = open_source(args)
    rec.store = StoreIdentity.of(opened)
    report, done = _progress("folding read models")
    try:
        histories = {}
        for p in projections:
            histories[p.name] = build_history(opened.store, p, progress=report)
        done()
        if args.truncate_to is not None:
            to: Any = args.truncate_to
            if not to.lstrip("#").isdigit():  # a checkpoint's name
                to = CheckpointBook.for_store(opened).get(to)
            else:
                to = int(to.lstrip("#"))
            plan = preview_truncate(opened.store, to, streams=args.stream or (), categories=args.category or (),
                                    histories=histories, limit=args.limit)
        else:
            sel = Selection(tuple(args.skip_event or ()), tuple(args.skip_correlation or ()), args.skip_actor,
                            args.since.isoformat() if args.since else None,
                            args.until.isoformat() if args.until else None)
            plan = preview_skip(opened.store, sel, histories=histories, limit=args.limit)
    finally:
        opened.store.close()
    return plan


def cmd_fork(args: argparse.Namespace) -> int:
    from ..core.checkpoints import CheckpointBook, StoreIdentity
    from ..core.fork import fork_plan, fork_to
    from ..core.oplog import sha256_json
    from ..core.oplog_records import fork_summary
    from ..core.replay_values import load_plan
    from .oplog import recording

    params = {"to": args.to, "checkpoint": args.checkpoint, "plan": args.plan, "out": args.out,
              "overwrite": args.overwrite}
    with recording(args, "fork", params) as rec:  # a read of the store (the fork is a new file): warns
        opened = open_source(args)
        rec.store = StoreIdentity.of(opened)
        report, done = _progress("forking")
        try:
            if args.plan:
                rp = load_plan(args.plan)
                rec.params["plan_sha256"] = sha256_json(rp.to_json())
                summary = fork_plan(opened.store, rp, args.out, overwrite=args.overwrite, progress=report)
            else:
                to: Any = args.to if args.to is not None else CheckpointBook.for_store(opened).get(args.checkpoint)
                summary = fork_to(opened.store, to, args.out, overwrite=args.overwrite, progress=report)
        finally:
            done()
            opened.store.close()
        rec.result = fork_summary(summary)
    if args.format == "json":
        print(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
    else:
        print(f"forked {summary.events:,} events (head #{summary.head_position}) into {summary.path}; "
              f"{summary.left_out:,} left out; the original store was not changed")
        for n in summary.notes:
            print(f"note: {n}")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    cp = sub.add_parser("checkpoint", parents=[common], help="named positions to roll back to (kept locally)")
    add_source(cp, optional=False)  # ACTION follows: an optional URL would be taken for it
    cp.add_argument("--format", choices=("text", "json"), default="text")
    acts = cp.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acts.add_parser("add", help="name a position: --at, --at-time, --before-event, --before-correlation, "
                                      "--before-actor")
    add.add_argument("name", metavar="NAME")
    how = add.add_mutually_exclusive_group(required=True)
    how.add_argument("--at", type=int, metavar="P", help="the state after the event at position P")
    how.add_argument("--at-time", type=parse_when, metavar="ISO", help="after the last event recorded by then")
    how.add_argument("--before-event", metavar="ID", help="just before this event")
    how.add_argument("--before-correlation", metavar="C", help="just before this correlation's run began")
    how.add_argument("--before-actor", metavar="A", help="just before this actor's run began (see --since)")
    add.add_argument("--since", type=parse_when, metavar="ISO", help="with --before-actor: the run's first event "
                     "at or after this time")
    add.add_argument("--note", metavar="TEXT")
    add.add_argument("--replace", action="store_true", help="replace a checkpoint of the same name")
    acts.add_parser("list", help="the store's checkpoints, by position")
    rm = acts.add_parser("remove", help="forget a checkpoint")
    rm.add_argument("name", metavar="NAME")
    cp.set_defaults(func=cmd_checkpoint)

    pv = sub.add_parser("preview", parents=[common], help="what a truncate or a skip would do; writes nothing")
    add_source(pv)
    what = pv.add_mutually_exclusive_group(required=True)
    what.add_argument("--truncate-to", metavar="P|NAME", help="drop every event after position P (or a checkpoint)")
    what.add_argument("--skip-event", action="append", metavar="ID", help="replay without this event (repeatable)")
    what.add_argument("--skip-correlation", action="append", metavar="C", help="without this correlation's events")
    what.add_argument("--skip-actor", metavar="A", help="without this actor's events between --since and --until")
    pv.add_argument("--stream", action="append", metavar="S", help="with --truncate-to: only in this stream")
    pv.add_argument("--category", action="append", metavar="C", help="with --truncate-to: only in this category")
    pv.add_argument("--since", type=parse_when, metavar="ISO", help="with --skip-actor: from this time (inclusive)")
    pv.add_argument("--until", type=parse_when, metavar="ISO", help="with --skip-actor: until this time (exclusive)")
    pv.add_argument("--projection", action="append", metavar="NAME",
                    help="a read model whose resulting state to diff (repeatable; default: streams)")
    pv.add_argument("--limit", type=int, default=1000, metavar="N", help="events and diff entries listed (counts stay "
                    "exact)")
    pv.add_argument("--format", choices=("text", "json"), default="text")
    pv.add_argument("--out", metavar="PLAN.json", help="also write the plan (JSON) to this file")
    pv.set_defaults(func=cmd_preview)

    fk = sub.add_parser("fork", parents=[common], help="write a branch into a new SQLite store; the original is "
                                                       "never changed")
    add_source(fk)
    src = fk.add_mutually_exclusive_group(required=True)
    src.add_argument("--to", type=int, metavar="P", help="the events at or before position P")
    src.add_argument("--checkpoint", metavar="NAME", help="the events up to a checkpoint")
    src.add_argument("--plan", metavar="PLAN.json", help="the result of a previewed plan (from preview --out)")
    fk.add_argument("--out", required=True, metavar="FILE.sqlite")
    fk.add_argument("--overwrite", action="store_true", help="replace an existing file")
    fk.add_argument("--format", choices=("text", "json"), default="text")
    fk.set_defaults(func=cmd_fork)
