"""Browsing commands: detect, events, demo, open, bench and plugins."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from .common import (EXIT_ERROR, add_filters, add_source, dumps, fail, filter_from, open_source, plugins, run_gui,
                     session)


def cmd_detect(args: argparse.Namespace) -> int:
    from ..core.connect import create_engine, normalize_url
    from ..core.detect import detect

    pm = plugins(args)
    engine = create_engine(args.url, read_only=True)
    try:
        det = detect(engine, pm.layout_definitions())
    finally:
        engine.dispose()
    if args.format == "toml":
        chosen = det.candidates[0] if det.candidates else (det.proposals[0] if det.proposals else None)
        if chosen is None:
            return fail(f"no event-like table found (tables: {', '.join(det.tables) or 'none'})")
        from ..core.connect import redact
        from ..core.propose import proposal_toml

        sys.stdout.write(proposal_toml(chosen, url=redact(normalize_url(args.url))))
        return 0
    print(json.dumps(det.to_json(), indent=2, ensure_ascii=False))
    return 0 if (det.candidates or det.proposals) else EXIT_ERROR


CSV_COLUMNS = ("position", "stream", "version", "type", "recorded_at", "event_id", "causation_id",
               "correlation_id", "actor", "data", "metadata", "decode_error")


def _preview(v: Any, width: int) -> str:
    s = json.dumps(v, ensure_ascii=False, default=str, separators=(",", ":")) if not isinstance(v, str) else v
    s = " ".join(s.split())
    return s if len(s) <= width else s[: max(width - 1, 0)] + "…"


def cmd_events(args: argparse.Namespace) -> int:
    opened = open_source(args)
    store = opened.store
    flt = filter_from(args)
    limit = args.limit
    out = sys.stdout

    def events():
        if args.desc:
            cursor, left = None, limit or float("inf")
            while left > 0:
                page = store.read_page(flt, limit=int(min(500, left)), cursor=cursor, descending=True)
                yield from page.events
                left -= len(page.events)
                if not page.has_more:
                    return
                cursor = page.last_key
            return
        n = 0
        for e in store.iter_events(flt, page_size=min(limit, 1000) if limit else 1000):
            yield e
            n += 1
            if limit and n >= limit:
                return

    try:
        if args.format == "jsonl":
            for e in events():
                out.write(dumps(e.to_json()) + "\n")
        elif args.format == "csv":
            w = csv.writer(out)
            w.writerow(CSV_COLUMNS)
            for e in events():
                row = e.to_json()
                w.writerow([dumps(row[c]) if c in ("data", "metadata") and row[c] is not None
                            else ("" if row[c] is None else row[c]) for c in CSV_COLUMNS])
        else:
            width = shutil.get_terminal_size((160, 20)).columns
            head = f"{'position':>9}  {'recorded_at (UTC)':<23}  {'stream':<24} {'ver':>4}  {'type':<22} {'actor':<18} payload"
            out.write(head + "\n")
            shown = 0
            for e in events():
                t = e.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] if e.recorded_at else "-"
                payload = ("⚠ " + e.decode_error) if e.decode_error else _preview(e.data, 200)
                line = (f"{e.position:>9}  {t:<23}  {_preview(e.stream or '-', 24):<24} "
                        f"{'' if e.version is None else e.version:>4}  {_preview(e.type or '-', 22):<22} "
                        f"{_preview(e.actor or '-', 18):<18} ")
                out.write(line + _preview(payload, max(width - len(line), 20)) + "\n")
                shown += 1
            print(f"({shown} events; layout {opened.layout.name})", file=sys.stderr)
        out.flush()
    finally:
        store.close()
    return 0


def _demo_params(path: Path) -> dict[str, int] | None:
    """The parameters an existing demo store was built with (from its inspector_store_info)."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            info = dict(con.execute("SELECT key, value FROM inspector_store_info").fetchall())
        finally:
            con.close()
        return {"events": int(info["requested_events"]), "seed": int(info["seed"])}
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None


def cmd_demo(args: argparse.Namespace) -> int:
    from ..core.demo import create_demo, default_demo_path

    path = Path(args.path).expanduser() if args.path else default_demo_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {"events": args.events, "seed": args.seed}
    if path.exists() and not args.force and _demo_params(path) == params:
        print(f"demo store: {path} (reused; --force rebuilds it)", file=sys.stderr)
    else:
        tty = sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if tty:
                print(f"\rbuilding demo store: {done:,}/{total:,} events", end="", file=sys.stderr, flush=True)

        summary = create_demo(path, events=args.events, seed=args.seed, progress=progress)
        if tty:
            print(file=sys.stderr)
        print(f"demo store: {path} ({summary.events:,} events, {summary.commands:,} commands, "
              f"{summary.first_time:%Y-%m-%d} to {summary.last_time:%Y-%m-%d})", file=sys.stderr)
    if args.no_gui:
        print(json.dumps({"path": str(path), "url": f"sqlite:///{path}", **params}))
        return 0
    _, role = session(args, url=str(path))
    return run_gui(url=str(path), screenshot=args.screenshot, plugin_paths=args.plugin or (), role=role.value)


def cmd_open(args: argparse.Namespace) -> int:
    url, role = session(args)
    return run_gui(url=url, role=role.value, layout=args.layout, mapping=args.mapping, screenshot=args.screenshot,
                   projection=args.projection, at=args.at,
                    plugin_paths=args.plugin or ())


def cmd_bench(args: argparse.Namespace) -> int:
    from ..core.bench import run_bench

    pm = plugins(args)
    history = None if args.history == "none" else args.history
    def sweep(opened):  # Qt is imported only when the GUI figure is wanted
        from ..gui.bench import slider_sweep

        return slider_sweep(opened, pm, history)

    gui = sweep if history and not args.no_gui else None
    result = run_bench(url=args.url, synthetic=args.synthetic, pm=pm, backend_url=args.backend_url,
                       layout=args.layout, mapping=args.mapping, seed=args.seed, repeats=args.repeats,
                       history=history, gui=gui)
    print(json.dumps(result, indent=2))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    pm = plugins(args)
    rows = [i.to_json() for i in pm.status()]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "ok" if r["ok"] else f"DISABLED: {r['error']}"
            print(f"{r['name']:<20} {r['source']:<12} {', '.join(r['hooks']) or '-':<36} {state}")
    return 0 if all(r["ok"] for r in rows) else EXIT_ERROR




def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:

    d = sub.add_parser("detect", parents=[common], help="detect the store's layout (or propose a mapping)")
    d.add_argument("url")
    d.add_argument("--format", choices=("json", "toml"), default="json")
    d.set_defaults(func=cmd_detect)

    e = sub.add_parser("events", parents=[common], help="list events, filtered in SQL")
    add_source(e)
    add_filters(e)
    e.add_argument("--limit", type=int, default=100, metavar="N", help="at most N events (0: all); default 100")
    e.add_argument("--desc", action="store_true", help="newest first")
    e.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    e.set_defaults(func=cmd_events)

    m = sub.add_parser("demo", parents=[common], help="create the demo shop store and open it")
    m.add_argument("--path", metavar="FILE", help="where to create it (default: the user data directory)")
    m.add_argument("--events", type=int, default=50_000, metavar="N")
    m.add_argument("--seed", type=int, default=7, metavar="N")
    m.add_argument("--force", action="store_true", help="rebuild even if a store with these parameters exists")
    m.add_argument("--no-gui", action="store_true", help="only create it; print its path as JSON")
    m.add_argument("--screenshot", metavar="FILE.png", help="render the loaded main window to a PNG and exit")
    m.set_defaults(func=cmd_demo)

    o = sub.add_parser("open", parents=[common], help="open a store in the desktop app")
    add_source(o)
    o.add_argument("--screenshot", metavar="FILE.png", help="render the loaded main window to a PNG and exit")
    o.add_argument("--projection", metavar="NAME", help="open this read model in the state panel (see inspector plugins)")
    o.add_argument("--at", type=int, metavar="P", help="select the event at position P (moves the time slider)")
    o.set_defaults(func=cmd_open)

    b = sub.add_parser("bench", parents=[common], help="measure read speed; prints one JSON object")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("url", nargs="?")
    src.add_argument("--synthetic", type=int, metavar="N", help="benchmark a fresh N-event demo store")
    b.add_argument("--backend-url", metavar="URL", help="with --synthetic: load the demo into this server database")
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--history", default="streams", metavar="NAME",
                   help="the projection whose history build, state-as-of and diff are measured (none: skip)")
    b.add_argument("--no-gui", action="store_true", help="skip the slider sweep (gui_max_block_ms)")
    b.add_argument("--repeats", type=int, default=31, help="timed repetitions per figure (median reported)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--layout", metavar="NAME")
    g.add_argument("--mapping", metavar="FILE")
    b.set_defaults(func=cmd_bench)

    pl = sub.add_parser("plugins", parents=[common], help="list plugins, their hooks and errors")
    pl.add_argument("--format", choices=("table", "json"), default="table")
    pl.set_defaults(func=cmd_plugins)
