"""Export commands: export (events, a state, a diff to CSV / JSON Lines / Parquet), report (one HTML
file), bundle (an evidence zip) and verify (check a bundle, optionally against its store)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import EXIT_ERROR, add_filters, add_source, filter_from, open_source, parse_when


def _progress(label: str):
    """Progress on a terminal's stderr (nothing when stderr is a file or a pipe)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int | None) -> None:
        of = f" of {total:,}" if total else ""
        print(f"\r{label}: {done:,}{of}", end="", file=sys.stderr, flush=True)

    return show


def _done_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _projection(args: argparse.Namespace, name: str):
    from ..core.errors import InspectorError
    from .common import plugins

    by_name = {p.name: p for p in plugins(args).projections()}
    if name not in by_name:
        raise InspectorError(f"no projection {name!r}; projections: {', '.join(sorted(by_name)) or 'none'}")
    return by_name[name]


def _fold(args: argparse.Namespace, store: Any, name: str, upto: int | None = None):
    from ..core.history import build_history
    from ..core.model import EventFilter

    flt = EventFilter(before=upto + 1) if upto is not None else EventFilter()
    return build_history(store, _projection(args, name), flt, progress=_progress(f"folding {name}"))


# -- export ---------------------------------------------------------------------------------------


def _record(args: argparse.Namespace, opened: Any, what: str, path: Any, **params: Any) -> None:
    """The export in the operator log: the file's size and SHA-256, the filter (a text search only
    as searched or not: the term could be personal data), never values."""
    from ..core.export import filter_to_json
    from ..core.oplog_records import record_export

    if getattr(args, "what", "events") == "events":  # state and diff exports take no filter
        flt = filter_to_json(filter_from(args))
        flt["text"] = bool(flt.get("text"))
        params = {"filter": flt, **params}
    else:
        params = {"at": getattr(args, "at", None), "from": getattr(args, "from_", None),
                  "to": getattr(args, "to", None), **params}
    record_export(path, what=what, actor=getattr(args, "made_by", None), role=opened.role, store=opened,
                  params=params)


def cmd_export(args: argparse.Namespace) -> int:
    from ..core import export as x
    from ..core.errors import InspectorError

    fmt = x.format_of(args.out, args.format)  # before any work: a bad name fails at once
    opened = open_source(args)
    store = opened.store
    try:
        if args.what == "events":
            result = x.write_events(store, filter_from(args), args.out, fmt, progress=_progress("exporting events"))
            _done_progress()
        elif args.what == "state":
            hist = _fold(args, store, args.projection, args.at)
            _done_progress()
            result = x.write_state(hist, args.out, fmt, position=args.at, time=args.at_time)
        else:
            if args.from_ is None or args.to is None:
                raise InspectorError("give --from P and --to P")
            hist = _fold(args, store, args.projection, max(args.from_, args.to))
            _done_progress()
            result = x.write_diff(hist, args.from_, args.to, args.out, fmt)
    finally:
        store.close()
    _record(args, opened, f"{args.what}-{fmt}", result.path, rows=result.rows,
            projection=getattr(args, "projection", None))
    print(json.dumps(result.to_json()))
    return 0


# -- report ---------------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from ..core.report import write_report

    opened = open_source(args)
    store = opened.store
    flt = filter_from(args)
    try:
        kwargs: dict[str, Any] = {"title": args.title, "events_limit": args.limit, "notes": args.note or (),
                                  "author": args.made_by}
        if args.projection:
            at = args.at
            if at is None:
                last = store.read_page(flt, limit=1, descending=True).events
                at = last[0].position if last else None
            hist = _fold(args, store, args.projection, at)
            _done_progress()
            kwargs["state"] = hist.as_of(at)
            kwargs["state_title"] = f"State of {args.projection} after position {at}" if at is not None \
                else f"State of {args.projection}"
        path = write_report(store, flt, args.out, **kwargs)
    finally:
        store.close()
    _record(args, opened, "report", path, projection=args.projection)
    print(json.dumps({"path": str(path)}))
    return 0


# -- bundle and verify ----------------------------------------------------------------------------


def cmd_bundle(args: argparse.Namespace) -> int:
    from ..core.evidence import make_bundle

    opened = open_source(args)
    store = opened.store
    investigation = None
    if args.investigation:
        with open(args.investigation, encoding="utf-8") as fh:
            investigation = json.load(fh)
    else:
        from ..core.investigations import saved_investigation

        investigation = saved_investigation(opened)
    try:
        projections = [_projection(args, name) for name in (args.projection or ())]
        tty = sys.stderr.isatty()

        def progress(step: str, done: int, total: int | None) -> None:
            if tty:
                of = f" of {total:,}" if total else ""
                print(f"\r{step}: {done:,}{of}\033[K", end="", file=sys.stderr, flush=True)

        result = make_bundle(store, filter_from(args), args.out, projections=projections, at=args.at,
                             investigation=investigation, notes=args.note, actor=args.made_by, progress=progress)
        _done_progress()
    finally:
        store.close()
    _record(args, opened, "evidence-bundle", result.path, events=result.events, fingerprint=result.fingerprint,
            manifest_sha256=result.manifest_sha256)
    print(json.dumps(result.to_json()))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ..core.evidence import verify_bundle

    against = None
    if args.against:
        against = _open_against(args)
    try:
        report = verify_bundle(args.bundle, against=against, expected_digest=args.digest)
    finally:
        if against is not None:
            against.close()
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif report.ok:
        print(f"ok: {report.files} files, {report.events if report.events is not None else '?'} events, "
              f"manifest SHA-256 {report.manifest_sha256}, store fingerprint {report.fingerprint}")
        for note in report.notes:
            print(f"  {note}")
    else:
        for line in report.lines():
            print(f"inspector: verify: {line}", file=sys.stderr)
    return 0 if report.ok else EXIT_ERROR


def _open_against(args: argparse.Namespace):
    """The store to verify against: read with the layout and table the bundle records (where it
    fits), else as given or detected."""
    from ..core.errors import LayoutError

    ns = argparse.Namespace(**{**vars(args), "url": args.against})
    if not args.layout and not args.mapping:
        recorded = _recorded_layout(args.bundle)
        if recorded:
            try:
                return open_source(argparse.Namespace(**{**vars(ns), "layout": recorded})).store
            except LayoutError:
                pass  # a mapping file's layout, or another table now: detect
    return open_source(ns).store


def _recorded_layout(bundle: str) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(bundle) as zf:
            doc = json.loads(zf.read("store.json"))
        return f"{doc['layout']}:{doc['table']}"
    except Exception:  # noqa: BLE001 - a damaged bundle: verification will say what is wrong
        return None


# -- arguments ------------------------------------------------------------------------------------


def _late_common() -> argparse.ArgumentParser:
    """--plugin, --role and --profile again after ``export URL events``: defaults suppressed, so
    one given before the subcommand is not reset by the subcommand's own default."""
    from .common import add_session_options

    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    p.add_argument("--plugin", action="append", metavar="PATH", help="load a plugin from a .py file or package folder")
    add_session_options(p)
    return p


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    late = _late_common()
    fmt_help = "csv, jsonl or parquet (default: from the --out file's suffix)"

    ex = sub.add_parser("export", parents=[common], help="export events, a state or a diff to CSV, JSON Lines or Parquet")
    add_source(ex, optional=False)
    what = ex.add_subparsers(dest="what", metavar="WHAT", required=True)
    ev = what.add_parser("events", parents=[late], help="the events a filter selects, in position order")
    add_filters(ev)
    st = what.add_parser("state", parents=[late], help="a projection's read model as of a position or time")
    st.add_argument("--projection", required=True, metavar="NAME")
    when = st.add_mutually_exclusive_group()
    when.add_argument("--at", type=int, metavar="P", help="after the event at position P (default: head)")
    when.add_argument("--at-time", type=parse_when, metavar="ISO", help="after the last event at or before this time")
    df = what.add_parser("diff", parents=[late], help="what changed in a projection between two positions")
    df.add_argument("--projection", required=True, metavar="NAME")
    df.add_argument("--from", dest="from_", type=int, required=True, metavar="P")
    df.add_argument("--to", type=int, required=True, metavar="P")
    for p in (ev, st, df):
        p.add_argument("--format", choices=("csv", "jsonl", "parquet"), help=fmt_help)
        p.add_argument("--out", required=True, metavar="FILE")
    ex.set_defaults(func=cmd_export, at=None, at_time=None)

    rp = sub.add_parser("report", parents=[common], help="an HTML report: filters, timeline chart, events (and a state)")
    add_source(rp)
    add_filters(rp)
    rp.add_argument("--projection", metavar="NAME", help="add this projection's state (after the last selected event)")
    rp.add_argument("--at", type=int, metavar="P", help="the state after position P instead")
    rp.add_argument("--title", default="Investigation report")
    rp.add_argument("--note", action="append", metavar="TEXT", help="a note for the report (repeat for more)")
    rp.add_argument("--made-by", metavar="NAME", help="who made the report")
    rp.add_argument("--limit", type=int, default=500, metavar="N", help="events listed (default 500; all are counted)")
    rp.add_argument("--out", required=True, metavar="FILE.html")
    rp.set_defaults(func=cmd_report)

    bd = sub.add_parser("bundle", parents=[common], help="an evidence bundle (zip) of the events a filter selects")
    add_source(bd)
    add_filters(bd)
    bd.add_argument("--projection", action="append", metavar="NAME",
                    help="add this projection's state after the last selected event (repeat for more)")
    bd.add_argument("--at", type=int, metavar="P", help="the states after position P instead")
    bd.add_argument("--note", action="append", metavar="TEXT", help="a note kept in investigation.json (repeat)")
    bd.add_argument("--investigation", metavar="FILE.json", help="an investigation (any JSON) to include instead of the store's saved bookmarks and notes")
    bd.add_argument("--made-by", metavar="NAME", help="who made the bundle (default: the operating-system user)")
    bd.add_argument("--out", required=True, metavar="FILE.zip")
    bd.set_defaults(func=cmd_bundle)

    vf = sub.add_parser("verify", parents=[common], help="check an evidence bundle: hashes, manifest, files; "
                        "exit 1 with one line per problem")
    vf.add_argument("bundle", metavar="BUNDLE.zip")
    vf.add_argument("--against", metavar="URL", help="also re-read the store and check the selected events are unchanged")
    g = vf.add_mutually_exclusive_group()
    g.add_argument("--layout", metavar="NAME", help="with --against: the layout to read it with")
    g.add_argument("--mapping", metavar="FILE", help="with --against: a TOML mapping file")
    vf.add_argument("--digest", metavar="HEX", help="the manifest's SHA-256 as recorded elsewhere (a ticket): must match")
    vf.add_argument("--format", choices=("text", "json"), default="text")
    vf.set_defaults(func=cmd_verify)
