"""History commands: lineage (who caused what), and later state, diff and history of projections."""

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


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    ln = sub.add_parser("lineage", parents=[common], help="the causation graph of an event or a correlation")
    add_source(ln)
    which = ln.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", metavar="ID", help="an event id, or #POSITION")
    which.add_argument("--correlation", metavar="ID", help="a correlation id (Message DB: a stream name)")
    ln.add_argument("--format", choices=("json", "tree"), default="json")
    ln.set_defaults(func=cmd_lineage)
