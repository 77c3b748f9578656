"""``inspector bookmark`` and ``inspector note``: the saved investigation of a store (bookmarks on
events, notes on checkpoints or on the whole), kept in the inspector's own data (``core.investigations``)."""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable

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


def _run(args: argparse.Namespace, add: Callable[[Any, Any], Any], remove: Callable[[Any, str], Any],
         items: Callable[[Any], list], columns: tuple[str, ...]) -> int:
    """The ``add``, ``remove`` or ``list`` action of ``bookmark`` or ``note`` on the store's book:
    ``add(opened, book)``, ``remove(book, id)``, ``items(book)`` listed under ``columns``."""
    opened, book = _book(args)
    try:
        if args.action == "add":
            print(dumps(add(opened, book).to_json()))
        elif args.action == "remove":
            print(dumps(remove(book, args.id).to_json()))
        else:
            _print([x.to_json() for x in items(book)], args.format, columns)
    finally:
        opened.store.close()
    return 0


def cmd_bookmark(args: argparse.Namespace) -> int:
    def add(opened, book):
        ev = _find_event(opened.store, args.event)
        return book.add_bookmark(ev.position, ev.event_id, args.label or "", args.note or "", args.actor, ev.type,
                                 ev.stream)

    return _run(args, add, lambda book, i: book.remove_bookmark(i), lambda book: book.bookmarks(),
                ("id", "position", "event_type", "stream", "label", "note", "actor", "created_at"))


def cmd_note(args: argparse.Namespace) -> int:
    def add(opened, book):
        if args.checkpoint:
            from ..core.checkpoints import CheckpointBook

            CheckpointBook.for_store(opened).get(args.checkpoint)  # a checkpoint of this store, or say so
        return book.add_note(args.text, args.checkpoint, args.actor)

    return _run(args, add, lambda book, i: book.remove_note(i),
                lambda book: book.notes(getattr(args, "checkpoint", None)),
                ("id", "checkpoint", "text", "actor", "created_at"))


def _command(sub: Any, common: argparse.ArgumentParser, name: str, func: Callable, help: str, description: str):
    """``inspector NAME URL ACTION``: the subparsers for its actions."""
    p = sub.add_parser(name, parents=[common], help=help, description=description)
    add_source(p, optional=False)
    p.set_defaults(func=func)
    return p.add_subparsers(dest="action", metavar="ACTION", required=True)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    bs = _command(sub, common, "bookmark", cmd_bookmark, "bookmarks on events, kept in the inspector's own data",
                  "Bookmark events of a store (kept per store in the inspector's data directory, never in the store; "
                  "included in evidence bundles).")
    a = bs.add_parser("add", help="bookmark an event")
    a.add_argument("--event", required=True, metavar="ID|#POS", help="the event's id, or #position")
    a.add_argument("--label", metavar="L", help="a short label")
    a.add_argument("--note", metavar="N", help="why it matters")
    a.add_argument("--actor", metavar="NAME", help="who bookmarks (default: $INSPECTOR_ACTOR, else user:<login>)")
    ls = bs.add_parser("list", help="list the store's bookmarks")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rm = bs.add_parser("remove", help="remove a bookmark")
    rm.add_argument("id", metavar="ID", help="the bookmark's id (b3, or 3)")

    ns = _command(sub, common, "note", cmd_note, "notes on checkpoints or on the investigation",
                  "Notes on a store's investigation, free or on a checkpoint (kept per store in the inspector's data "
                  "directory; included in evidence bundles).")
    a = ns.add_parser("add", help="write a note")
    a.add_argument("text", metavar="TEXT")
    a.add_argument("--checkpoint", metavar="NAME", help="on this checkpoint (inspector checkpoint list)")
    a.add_argument("--actor", metavar="NAME", help="who writes (default: $INSPECTOR_ACTOR, else user:<login>)")
    ls = ns.add_parser("list", help="list the notes")
    ls.add_argument("--checkpoint", metavar="NAME", help="only the notes on this checkpoint")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    rm = ns.add_parser("remove", help="remove a note")
    rm.add_argument("id", metavar="N", help="the note's id (n2, or 2)")
