"""``inspector bookmark`` and ``inspector note``: the saved investigation of a store (bookmarks on
events, notes on checkpoints or on the whole), kept in the inspector's own data (``core.investigations``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import add_source, dumps, open_source


def _book(args: argparse.Namespace):
    from ..core.investigations import InvestigationBook

    opened = open_source(args)
    return opened, InvestigationBook.for_store(opened)


def _find_event(store: Any, ref: str):
    """``#P`` (or a bare number the store has no event id for): the event at position P; else the
    event with that id."""
    from ..core.errors import InspectorError, UnsupportedFilter

    text = ref.strip()
    if text.startswith("#"):
        try:
            position = int(text[1:])
        except ValueError:
            raise InspectorError(f"not a position: {ref!r} (write #1234)") from None
        ev = store.get(position)
        if ev is None:
            raise InspectorError(f"no event at position {position} in this store")
        return ev
    try:
        ev = store.find_event(text)
    except UnsupportedFilter:
        raise InspectorError(f"layout {store.layout.name} keeps no event ids: name the event by position (#1234)") from None
    if ev is None:
        hint = f" (for position {text}, write #{text})" if text.isdigit() else ""
        raise InspectorError(f"no event with id {text!r} in this store{hint}")
    return ev


def _print(rows: list[dict], fmt: str, columns: tuple[str, ...]) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        return
    widths = {c: min(40, max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "")) for r in rows)))
              for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        cells = []
        for c in columns:
            v = "" if r.get(c) is None else str(r.get(c))
            cells.append((v if len(v) <= widths[c] else v[: widths[c] - 1] + "…").ljust(widths[c]))
        print("  ".join(cells).rstrip())


def cmd_bookmark(args: argparse.Namespace) -> int:
    opened, book = _book(args)
    try:
        if args.action == "add":
            ev = _find_event(opened.store, args.event)
            b = book.add_bookmark(ev.position, ev.event_id, args.label or "", args.note or "", args.actor,
                                  ev.type, ev.stream)
            print(dumps(b.to_json()))
        elif args.action == "remove":
            print(dumps(book.remove_bookmark(args.id).to_json()))
        else:
            rows = [b.to_json() for b in book.bookmarks()]
            _print(rows, args.format, ("id", "position", "event_type", "stream", "label", "note", "actor", "created_at"))
    finally:
        opened.store.close()
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    opened, book = _book(args)
    try:
        if args.action == "add":
            if args.checkpoint:
                from ..core.checkpoints import CheckpointBook

                CheckpointBook.for_store(opened).get(args.checkpoint)  # a checkpoint of this store, or say so
            print(dumps(book.add_note(args.text, args.checkpoint, args.actor).to_json()))
        elif args.action == "remove":
            print(dumps(book.remove_note(args.id).to_json()))
        else:
            rows = [n.to_json() for n in book.notes(getattr(args, "checkpoint", None))]
            _print(rows, args.format, ("id", "checkpoint", "text", "actor", "created_at"))
    finally:
        opened.store.close()
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser("bookmark", parents=[common], help="bookmarks on events, kept in the inspector's own data",
                       description="Bookmark events of a store (kept per store in the inspector's data directory, "
                                   "never in the store; included in evidence bundles).")
    add_source(b, optional=False)
    bs = b.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = bs.add_parser("add", help="bookmark an event")
    a.add_argument("--event", required=True, metavar="ID|#POS", help="the event's id, or #position")
    a.add_argument("--label", metavar="L", help="a short label")
    a.add_argument("--note", metavar="N", help="why it matters")
    a.add_argument("--actor", metavar="NAME", help="who bookmarks (default: $INSPECTOR_ACTOR, else user:<login>)")
    ls = bs.add_parser("list", help="list the store's bookmarks")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rm = bs.add_parser("remove", help="remove a bookmark")
    rm.add_argument("id", metavar="ID", help="the bookmark's id (b3, or 3)")
    b.set_defaults(func=cmd_bookmark)

    n = sub.add_parser("note", parents=[common], help="notes on checkpoints or on the investigation",
                       description="Notes on a store's investigation, free or on a checkpoint (kept per store in the "
                                   "inspector's data directory; included in evidence bundles).")
    add_source(n, optional=False)
    ns = n.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = ns.add_parser("add", help="write a note")
    a.add_argument("text", metavar="TEXT")
    a.add_argument("--checkpoint", metavar="NAME", help="on this checkpoint (inspector checkpoint list)")
    a.add_argument("--actor", metavar="NAME", help="who writes (default: $INSPECTOR_ACTOR, else user:<login>)")
    ls = ns.add_parser("list", help="list the notes")
    ls.add_argument("--checkpoint", metavar="NAME", help="only the notes on this checkpoint")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rm = ns.add_parser("remove", help="remove a note")
    rm.add_argument("id", metavar="N", help="the note's id (n2, or 2)")
    n.set_defaults(func=cmd_note)
