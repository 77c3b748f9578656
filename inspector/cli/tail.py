"""``inspector tail``: print a store's new events as they are appended (``core.tail``), until
Ctrl+C (or ``--limit``). Errors and connection news go to stderr; the events to stdout."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from .common import add_filters, add_source, dumps, filter_from, open_source


def _cut(v: Any, width: int) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str, separators=(",", ":"))
    s = " ".join(s.split())
    return s if len(s) <= width else s[: max(width - 1, 0)] + "…"


def _line(e: Any, width: int) -> str:
    t = e.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] if e.recorded_at else "-"
    head = (f"{e.position:>9}  {t:<23}  {_cut(e.stream or '-', 24):<24} {'' if e.version is None else e.version:>4}  "
            f"{_cut(e.type or '-', 22):<22} {_cut(e.actor or '-', 18):<18} ")
    payload = ("⚠ " + e.decode_error) if e.decode_error else _cut(e.data, 200)
    return head + _cut(payload, max(width - len(head), 20))


def cmd_tail(args: argparse.Namespace) -> int:
    from ..core.tail import Backoff, Tail

    opened = open_source(args)
    store = opened.store
    flt = filter_from(args)
    backoff = Backoff(args.interval, max(args.interval, args.max_interval))
    tail = Tail(store, flt, batch=args.batch, backoff=backoff, listen=False if args.no_listen else None,
                channels=args.channel or None)
    out, err = sys.stdout, sys.stderr
    width = shutil.get_terminal_size((160, 20)).columns
    shown = 0
    try:
        for u in tail.follow():
            if u.woken_by == "start":
                how = (f"LISTEN on {', '.join(tail.channels)} and polling every {backoff.initial:g}–{backoff.maximum:g} s"
                       if tail.listen else f"polling every {backoff.initial:g}–{backoff.maximum:g} s")
                where = f"#{u.after}" if u.after is not None else "the first event"
                print(f"inspector: following {opened.url} ({opened.layout.name}) after {where}; {how}; Ctrl+C stops",
                      file=err, flush=True)
            if u.error:
                print(f"inspector: poll {u.poll} failed: {u.error}; retrying in {u.delay:.0f} s", file=err, flush=True)
            if u.notice:
                print(f"inspector: {u.notice}", file=err, flush=True)
            for e in u.events:
                out.write((dumps(e.to_json()) if args.format == "jsonl" else _line(e, width)) + "\n")
                shown += 1
                if args.limit and shown >= args.limit:
                    out.flush()
                    return 0
            if u.events:
                out.flush()
    except KeyboardInterrupt:
        print(f"\ninspector: stopped ({shown} new event{'s' if shown != 1 else ''})", file=err)
        return 0
    finally:
        tail.close()
        store.close()
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("tail", parents=[common], help="follow a store: print new events as they are appended",
                       description="Print the store's new events as they arrive, until Ctrl+C. Polls the head with "
                                   "backoff while idle (--interval doubling to --max-interval) and, on PostgreSQL "
                                   "stores whose writers NOTIFY (the eventsourcing library), wakes on the "
                                   "notification at once.")
    add_source(t)
    add_filters(t, category_help="stream category", after_help="start after position P (default: the head now, so "
                "only events appended from now on)")
    t.add_argument("--format", choices=("table", "jsonl"), default="table")
    t.add_argument("--limit", type=int, default=0, metavar="N", help="stop after N events (default: never)")
    t.add_argument("--interval", type=float, default=0.5, metavar="S", help="first poll interval while idle (seconds)")
    t.add_argument("--max-interval", type=float, default=30.0, metavar="S", help="longest poll interval while idle")
    t.add_argument("--batch", type=int, default=1000, metavar="N", help="events read per query")
    t.add_argument("--no-listen", action="store_true", help="poll only, even where the store NOTIFYs")
    t.add_argument("--channel", action="append", metavar="NAME",
                   help="LISTEN on this PostgreSQL channel (repeatable; default: the layout's, if it notifies)")
    t.set_defaults(func=cmd_tail)
