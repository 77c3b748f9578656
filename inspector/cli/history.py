"""History commands: lineage (who caused what), and the read model as of any moment (state, diff,
history of a row), from a projection folded once over the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import add_source, open_source


def cmd_lineage(args: argparse.Namespace) -> int:
    from ..core.lineage import lineage

    opened = open_source(args)
    try:
        position = None
        event_id = args.event
        if event_id is not None and event_id.startswith("#") and event_id[1:].isdigit():
            event_id, position = None, int(args.event[1:])
        graph = lineage(opened.store, event_id=event_id, position=position, correlation_id=args.correlation)
    finally:
        opened.store.close()
    if args.format == "tree":
        print(graph.render_tree())  # notes (no lineage recorded, truncated) are part of the tree text
    else:
        print(json.dumps(graph.to_json(), indent=2, ensure_ascii=False, default=str))
    return 0


def _frame_json(df: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON row objects: NaN/NaT as null, times as ISO 8601 with offset."""
    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="us", default_handler=str))


def _history(args: argparse.Namespace):
    """Open the store and fold the named projection over it (progress on a terminal's stderr)."""
    import sys

    from ..core.errors import InspectorError
    from ..core.history import build_history
    from .common import plugins

    pm = plugins(args)
    by_name = {p.name: p for p in pm.projections()}
    if args.projection not in by_name:
        raise InspectorError(f"no projection {args.projection!r}; projections: {', '.join(sorted(by_name)) or 'none'}")
    opened = open_source(args)
    tty = sys.stderr.isatty()

    def progress(done: int, head: int) -> None:
        if tty:
            print(f"\rfolding {args.projection}: position {done:,} of {head:,}", end="", file=sys.stderr, flush=True)

    try:
        hist = build_history(opened.store, by_name[args.projection], progress=progress)
    finally:
        if tty:
            print(file=sys.stderr)
    return opened, hist


def cmd_state(args: argparse.Namespace) -> int:
    import sys

    opened, hist = _history(args)
    try:
        df = hist.as_of(position=args.at, time=args.at_time)
    finally:
        opened.store.close()
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    else:
        print(json.dumps(_frame_json(df), indent=2, ensure_ascii=False))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from ..core.errors import InspectorError

    if args.against is not None:
        if args.from_ is not None or args.to is not None:
            raise InspectorError("give --from and --to (two positions of one store) or --against (another store)")
        return _diff_against(args)
    if args.from_ is None or args.to is None:
        raise InspectorError("give --from P and --to P, or --against URL")
    opened, hist = _history(args)
    try:
        d = hist.diff(args.from_, args.to)
    finally:
        opened.store.close()
    out = {"projection": args.projection, "from": args.from_, "to": args.to,
           "added": _frame_json(d.added), "removed": _frame_json(d.removed), "changed": _frame_json(d.changed)}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _diff_against(args: argparse.Namespace) -> int:
    """The projection at the head of ``url`` against the head of ``--against`` (e.g. a fork
    against its original): ``old`` is the other store's value, ``new`` this one's."""
    from ..core.compare import compare_states

    opened, hist = _history(args)
    try:
        mine = hist.as_of()
    finally:
        opened.store.close()
    other = argparse.Namespace(**{**vars(args), "url": args.against, "layout": None, "mapping": None})
    opened, hist = _history(other)
    try:
        theirs = hist.as_of()
    finally:
        opened.store.close()
    out = {"projection": args.projection, "store": args.url, "against": args.against, **compare_states(theirs, mine)}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_row_history(args: argparse.Namespace) -> int:
    from ..core.audit import who_changed
    from ..core.command_log import has_command_log

    opened, hist = _history(args)
    try:
        df = hist.changes(args.key, args.field)
        if len(df) and has_command_log(opened.store) and "causation_id" in df:
            # "through which command": as `inspector who` finds it (causes, correlation, or the
            # inspector's own audit table for a submitted compensation)
            by_pos = {r["position"]: f"{r['command']} by {r['actor']}" for r in who_changed(opened.store, hist, args.key,
                                                                                             args.field, df) if r["command"]}
            df.insert(df.columns.get_loc("causation_id"), "command", [by_pos.get(int(p)) for p in df["position"]])
    finally:
        opened.store.close()
    if args.format == "json":
        print(json.dumps(_frame_json(df), indent=2, ensure_ascii=False))
    else:
        print(df.to_string(index=False, max_colwidth=40) if len(df) else f"no changes to {args.key!r}")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    ln = sub.add_parser("lineage", parents=[common], help="the causation graph of an event or a correlation")
    add_source(ln)
    which = ln.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", metavar="ID", help="an event id, or #POSITION")
    which.add_argument("--correlation", metavar="ID", help="a correlation id (Message DB: a stream name)")
    ln.add_argument("--format", choices=("json", "tree"), default="json")
    ln.set_defaults(func=cmd_lineage)

    from .common import parse_when

    st = sub.add_parser("state", parents=[common], help="a projection's whole read model as of a position or time")
    add_source(st)
    st.add_argument("--projection", required=True, metavar="NAME", help="e.g. streams, types (see inspector plugins)")
    when = st.add_mutually_exclusive_group()
    when.add_argument("--at", type=int, metavar="P", help="after the event at position P (inclusive; default: head)")
    when.add_argument("--at-time", type=parse_when, metavar="ISO", help="after the last event at or before this time")
    st.add_argument("--format", choices=("json", "csv"), default="json")
    st.set_defaults(func=cmd_state)

    df = sub.add_parser("diff", parents=[common], help="what changed in a projection between two positions")
    add_source(df)
    df.add_argument("--projection", required=True, metavar="NAME")
    df.add_argument("--from", dest="from_", type=int, metavar="P", help="the state after position P ...")
    df.add_argument("--to", type=int, metavar="P", help="... against the state after position P")
    df.add_argument("--against", metavar="URL", help="instead: this store's head against another store's head "
                    "(a fork against its original; the other store's layout is detected)")
    df.add_argument("--format", choices=("json",), default="json")
    df.set_defaults(func=cmd_diff)

    hi = sub.add_parser("history", parents=[common], help="who changed a projection row (or one field), when, how")
    add_source(hi)
    hi.add_argument("--projection", required=True, metavar="NAME")
    hi.add_argument("--key", required=True, metavar="K", help="the row's key (e.g. a stream name)")
    hi.add_argument("--field", metavar="F", help="only this column")
    hi.add_argument("--format", choices=("table", "json"), default="table")
    hi.set_defaults(func=cmd_row_history)
