"""What every command shares: exit codes, one-line errors, plugin loading, opening a store,
time arguments, filters and strict JSON output."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
EXIT_ERROR = 1


def fail(msg: str, code: int = EXIT_ERROR) -> int:
    print(f"inspector: error: {msg}", file=sys.stderr)
    return code


def parse_when(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; naive values are UTC."""
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-10-18 or 2026-10-18T09:30:00Z)")
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def plugins(args: argparse.Namespace):
    """The command's plugin manager: loaded once per command (a command and ``open_source`` both
    ask), warning once about each plugin that is disabled."""
    from ..plugins.manager import PluginManager

    pm = getattr(args, "_plugin_manager", None)
    if pm is not None:
        return pm
    pm = PluginManager(paths=getattr(args, "plugin", None) or ())
    for info in pm.status():
        if not info.ok and getattr(args, "command", "") != "plugins":
            print(f"inspector: warning: plugin {info.name} disabled: {info.error}", file=sys.stderr)
    args._plugin_manager = pm
    return pm


def add_session_options(common: argparse.ArgumentParser) -> None:
    """``--role`` and ``--profile``, on the parent parser every command shares."""
    common.add_argument("--role", choices=("viewer", "auditor", "operator"),
                        help="viewer: personal data masked; auditor: sees everything; operator: may also submit "
                             "(default: the profile's role, else viewer); a profile's role is a ceiling")
    common.add_argument("--profile", metavar="NAME", help="a connection profile (inspector profile list): its URL "
                        "when none is given, and its role as the ceiling")


def session(args: argparse.Namespace, url: str | None = None) -> tuple[str, Any]:
    """(URL, role) of the command's session: the URL given (or ``url``), else the profile's; the
    role asked for, checked against the ceiling of the profile and of every profile of the URL
    (``core.profiles``). Raises InspectorError with one line."""
    from ..core.errors import InspectorError
    from ..core.profiles import ProfileBook, resolve_role

    book = ProfileBook()
    name = getattr(args, "profile", None)
    profile = book.get(name) if name else None
    url = url or getattr(args, "url", None) or (profile.url if profile else None)
    if not url:
        raise InspectorError("give a database URL (or --profile NAME)")
    return url, resolve_role(getattr(args, "role", None), url, profile, book)


def open_source(args: argparse.Namespace):
    from ..core.session import open_store

    url, role = session(args)
    pm = plugins(args)
    return open_store(url, pm.layout_definitions(), pm.codecs(), layout=args.layout, mapping=args.mapping,
                      role=role, masking_rules=pm.masking_rules())


def add_source(p: argparse.ArgumentParser, optional: bool = True) -> None:
    """The store's URL (``optional``: may be left to ``--profile``; not where subcommands follow,
    since argparse would hand the URL to the subcommand) and how to read it."""
    if optional:
        p.add_argument("url", nargs="?", help="SQLAlchemy URL (postgresql://…, mysql://…, sqlite:///file) or a "
                       "SQLite file path (optional with --profile)")
    else:
        p.add_argument("url", help="SQLAlchemy URL (postgresql://…, mysql://…, sqlite:///file) or a SQLite file path")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--layout", metavar="NAME", help="use this known layout instead of the detected one (NAME, or "
                   "NAME:TABLE where several tables fit it)")
    g.add_argument("--mapping", metavar="FILE", help="a TOML mapping file for a layout the inspector does not know")


def run_gui(**kwargs: Any) -> int:
    """Open the desktop app. On a machine without a display there is no window to open: the app
    renders its loaded window to a PNG instead (offscreen) and says where, rather than letting Qt
    abort the process."""
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        if not kwargs.get("screenshot"):
            if not kwargs.get("url"):
                return fail("no display to show the connection dialog on (DISPLAY is not set); "
                             "give a store: inspector open URL", EXIT_USAGE)
            kwargs["screenshot"] = str(Path("inspector-window.png").resolve())
            print(f"inspector: no display (DISPLAY is not set): rendering the window to {kwargs['screenshot']} "
                  "instead; open that picture, or run on a desktop to use the app", file=sys.stderr)
    from ..gui.app import run

    return run(**kwargs)


# -- commands ---------------------------------------------------------------------------------


def json_safe(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)  # NaN/Infinity decoded from a stored payload: valid JSON has no such numbers
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v


def dumps(obj: Any) -> str:
    """Strict JSON (never NaN/Infinity), non-JSON values as text."""
    try:
        return json.dumps(obj, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(json_safe(obj), ensure_ascii=False, default=str, allow_nan=False)


def add_filters(p: argparse.ArgumentParser, category_help: str = "stream category (prefix before the separator, "
                "e.g. order)", after_help: str = "positions greater than P") -> None:
    """The event filters (``events``, ``tail``, exports; ``filter_from`` reads them)."""
    p.add_argument("--stream", metavar="S", help="exact stream name")
    p.add_argument("--category", metavar="C", help=category_help)
    p.add_argument("--type", action="append", metavar="T", help="event type (repeat or comma-separate)")
    p.add_argument("--after", type=int, metavar="P", help=after_help)
    p.add_argument("--before", type=int, metavar="P", help="positions less than P")
    p.add_argument("--since", type=parse_when, metavar="ISO", help="recorded at or after this time")
    p.add_argument("--until", type=parse_when, metavar="ISO", help="recorded before this time")
    p.add_argument("--actor", metavar="A")
    p.add_argument("--correlation", metavar="C", help="correlation id")
    p.add_argument("--text", metavar="Q", help="case-insensitive text search in payloads")


def listed(items: list[Any], row: Any, empty: str) -> tuple[list[Any], str]:
    """(JSON, text) of a book's ``items`` (those with ``to_json``): one ``row(item)`` line each,
    or ``empty`` when there are none."""
    return [x.to_json() for x in items], ("\n".join(row(x) for x in items) if items else empty)


def print_result(args: argparse.Namespace, out: Any, text: str) -> int:
    """``out`` as indented JSON with ``--format json``, else ``text``; exit code 0."""
    print(json.dumps(out, indent=2, ensure_ascii=False) if args.format == "json" else text)
    return 0


def filter_from(args: argparse.Namespace):
    from ..core.model import EventFilter

    types: list[str] = []
    for t in args.type or ():
        types.extend(x.strip() for x in t.split(",") if x.strip())
    return EventFilter(
        stream=args.stream, category=args.category, types=tuple(types), after=args.after, before=args.before,
        since=args.since, until=args.until, actor=args.actor, correlation_id=args.correlation, text=args.text,
    )


