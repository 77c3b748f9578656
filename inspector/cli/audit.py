"""Audit commands: ``audit`` (the command log as an audit table: actor, command, time, streams
changed, reason; filters and text search) and ``who`` (who changed a projection row or field, with
the command and reason behind each change)."""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from typing import Any

from .common import add_source, dumps, open_source, parse_when

_UTC_FMT = "%Y-%m-%d %H:%M:%S"


def _t(v: Any) -> str:
    return v.strftime(_UTC_FMT) if v is not None else "-"


def _cut(s: Any, n: int) -> str:
    s = "" if s is None else " ".join(str(s).split())
    return s if len(s) <= n else s[: max(1, n - 1)] + "…"


def _streams_text(e: Any, width: int = 36) -> str:
    """The streams in ``width`` characters, with how many were left out: ``a, b… (+3)``."""
    total = e.streams_total if e.streams_total is not None else len(e.streams)
    names = ", ".join(e.streams)
    if total <= 1 or len(names) <= width:
        return _cut(names, width) if total == len(e.streams) else _cut(f"{names} (+{total - len(e.streams)})", width)
    shown = _cut(names, width - 8)
    listed = len([n for n in shown.split(", ") if n])
    more = total - listed + (1 if shown.endswith("…") else 0)
    return f"{shown} (+{more})"


def cmd_audit(args: argparse.Namespace) -> int:
    from ..core.audit import audit_table

    from ..core.errors import InspectorError

    if args.limit < 0 or (args.limit == 0 and not args.out):
        raise InspectorError("--limit must be at least 1 (0, with --out: every row)")
    fmt = None
    if args.out:
        from ..core.export import format_of

        fmt = format_of(args.out, args.export_format)  # before any work: a bad name fails at once
    limit = args.limit or float("inf")
    opened = open_source(args)
    entries, first = [], None
    try:
        cursor = None
        while True:
            page = audit_table(opened.store, actor=args.actor, command=args.command_type, since=args.since,
                               until=args.until, text=args.text, limit=int(min(500, limit - len(entries))),
                               cursor=cursor, newest_first=not args.oldest_first)
            first = first or page
            entries += page.entries
            cursor = page.cursor
            if cursor is None or len(entries) >= limit:
                break
    finally:
        opened.store.close()
    more = cursor is not None
    if args.out:
        return _export(args, opened, entries, first, fmt, more)
    if args.format == "json":
        print(dumps({"source": first.source or None, "stand_ins": first.stand_ins, "explanation": first.explanation,
                     "more": more, "entries": [e.to_json() for e in entries]}))
        return 0
    if first.explanation:
        print(f"note: {first.explanation}", file=sys.stderr)
    if args.format == "csv":
        w = csv.writer(sys.stdout)
        cols = AUDIT_COLUMNS
        w.writerow(cols)
        for e in entries:
            d = e.to_json()
            d["streams"] = " ".join(e.streams)
            w.writerow(["" if d[c] is None else d[c] for c in cols])
        return 0
    width = shutil.get_terminal_size((160, 20)).columns
    head = f"{'time (UTC)':<19}  {'actor':<20} {'command':<20} {'events':>6}  {'streams':<36} {'source':<10} reason"
    print(head)
    for e in entries:
        src = {"command log": "log", "first event of correlation": "1st event"}.get(e.source, e.source)
        line = (f"{_t(e.time):<19}  {_cut(e.actor or '-', 20):<20} {_cut(e.command or '-', 20):<20} "
                f"{'' if e.events is None else e.events:>6}  {_streams_text(e, 36):<36} {_cut(src, 10):<10} ")
        print(line + _cut(e.reason or "", max(width - len(line), 20)))
    print(f"({len(entries)} rows{'; more: raise --limit' if more else ''}; layout {opened.layout.name})",
          file=sys.stderr)
    return 0


def cmd_who(args: argparse.Namespace) -> int:
    from ..core.audit import who_changed
    from .history import _history

    opened, hist = _history(args)
    try:
        rows = who_changed(opened.store, hist, args.key, args.field)
    finally:
        opened.store.close()
    if args.format == "json":
        print(dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]))
        return 0
    if not rows:
        print(f"no changes to {args.key!r}" + (f" field {args.field!r}" if args.field else ""))
        return 0
    width = shutil.get_terminal_size((160, 20)).columns
    print(f"{'position':>9}  {'time (UTC)':<19}  {'field':<14} {'old → new':<28} {'actor':<20} {'command':<18} reason")
    for r in rows:
        change = f"{_cut(r['old'], 12)} → {_cut(r['new'], 12)}"
        line = (f"{r['position']:>9}  {_t(r['time']):<19}  {_cut(r['field'], 14):<14} {_cut(change, 28):<28} "
                f"{_cut(r['actor'] or '-', 20):<20} {_cut(r['command'] or '-', 18):<18} ")
        print(line + _cut(r["reason"] or "", max(width - len(line), 20)))
    sources = {r["source"] for r in rows}
    if "first event of correlation" in sources:
        print("note: this store keeps no command log: each correlation's first event stands in for the command",
              file=sys.stderr)
    return 0


AUDIT_COLUMNS = ("time", "actor", "command", "command_id", "correlation_id", "streams", "events", "reason", "source",
                 "position")


def _export(args: argparse.Namespace, opened: Any, entries: list, first: Any, fmt: str, more: bool) -> int:
    """The audit rows to CSV, JSON Lines or Parquet (``core.export``), recorded in the operator log."""
    from ..core.export import write_rows
    from ..core.oplog_records import record_export

    rows = []
    for e in entries:
        d = e.to_json()
        rows.append({c: (" ".join(e.streams) if c == "streams" else d.get(c)) for c in AUDIT_COLUMNS})
    result = write_rows(rows, args.out, fmt, columns=AUDIT_COLUMNS)
    record_export(result.path, what=f"audit-{fmt}", role=opened.role, store=opened,
                  params={"actor": args.actor, "command": args.command_type, "since": str(args.since or "") or None,
                          "until": str(args.until or "") or None, "text": bool(args.text), "rows": result.rows})
    if first is not None and first.explanation:
        print(f"note: {first.explanation}", file=sys.stderr)
    if more:
        print(f"note: only the first {len(entries)} rows: --limit 0 exports every row", file=sys.stderr)
    print(dumps(result.to_json()))
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    au = sub.add_parser("audit", parents=[common], help="the command log as an audit table: who asked for what, "
                        "when, which streams it changed, why")
    add_source(au)
    au.add_argument("--actor", metavar="A", help="only this actor (exact)")
    # not dest="command": that is the subcommand's name, which main() dispatches on
    au.add_argument("--command", dest="command_type", metavar="C", help="only this command type (exact)")
    au.add_argument("--since", type=parse_when, metavar="ISO", help="at or after this time")
    au.add_argument("--until", type=parse_when, metavar="ISO", help="before this time")
    au.add_argument("--text", metavar="Q", help="text in the command type, actor, reason or payload "
                    "(case-insensitive; not for viewers)")
    au.add_argument("--limit", type=int, default=100, metavar="N", help="at most N rows (default 100)")
    au.add_argument("--oldest-first", action="store_true", help="oldest first (default: newest first)")
    au.add_argument("--format", choices=("table", "json", "csv"), default="table")
    au.add_argument("--out", metavar="FILE", help="export the rows to a file instead: CSV, JSON Lines or Parquet "
                    "(by suffix or --export-format; --limit 0 for every row)")
    au.add_argument("--export-format", choices=("csv", "jsonl", "parquet"), help="with --out: the file's format")
    au.set_defaults(func=cmd_audit)

    who = sub.add_parser("who", parents=[common], help="who changed a projection row (or one field): every change "
                         "with actor, time, command and reason")
    add_source(who)
    who.add_argument("--projection", required=True, metavar="NAME", help="e.g. products, streams")
    who.add_argument("--key", required=True, metavar="K", help="the row's key")
    who.add_argument("--field", metavar="F", help="only this column")
    who.add_argument("--format", choices=("table", "json"), default="table")
    who.set_defaults(func=cmd_who)
