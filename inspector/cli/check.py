"""``inspector check``: the integrity checks of a store (``core.integrity``), as text for people or
JSON for CI, with an exit code a pipeline can gate on."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import EXIT_ERROR, add_source, plugins, session

#: Findings at or above the --fail-on severity were found (0: none; 1: the tool failed or a check
#: could not run; 2: usage). Like linters: a distinct code for "ran fine, found problems".
EXIT_FINDINGS = 3
SHOW_EVENTS = 12  # positions per finding in the text output
SHOW_EXAMPLES = 5

EPILOG = """\
exit codes:
  0  no finding at or above --fail-on (default: error); warnings and info do not fail
  3  findings at or above --fail-on were found
  1  the store could not be read, or a check failed to run (and nothing above fails)
  2  usage error

severities: error (the store breaks its own rules: duplicate positions, version gaps, corrupt
payloads), warning (worth a look: times going backwards, causes naming nothing, payloads no codec
reads, gaps a layout does not make in normal use), info (normal for this layout, with the reason:
sequence gaps, Marten tombstone gaps, types no domain projection reads).

unhandled_types compares event types with the projections plugins register, leaving out the
built-in streams and types projections (they read every type). Findings name events by position
and never quote payload values."""


def cmd_check(args: argparse.Namespace) -> int:
    from ..core import integrity
    from ..core.session import open_store

    url, role = session(args)
    pm = plugins(args)
    opened = open_store(url, pm.layout_definitions(), pm.codecs(), layout=args.layout, mapping=args.mapping,
                        role=role, masking_rules=pm.masking_rules())
    projections = integrity.domain_projections(pm.call_each("register_projections"))
    tty = sys.stderr.isatty()

    def progress(p: integrity.Progress) -> None:
        if tty:
            print(f"\r\033[Kchecking {p.check}: {p.fraction:.0%} ({p.index + 1}/{p.total})", end="", file=sys.stderr,
                  flush=True)

    try:
        report = integrity.check(opened.store, projections, progress=progress, checks=args.check, limit=args.limit)
    finally:
        if tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        opened.store.close()
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str))
    else:
        print(render_text(report))
    if args.fail_on != "never" and report.has(args.fail_on):
        return EXIT_FINDINGS
    if any(c.status == "failed" for c in report.checks):
        return EXIT_ERROR
    return 0


def render_text(report: Any) -> str:
    """The report for a terminal: findings worst first, then how each check went, then a summary."""
    from ..core.integrity import SEVERITIES

    span = f", #{report.first_position}–#{report.last_position}" if report.first_position is not None else ""
    lines = [f"{report.store or 'store'} (layout {report.layout}, {report.backend}): {report.events:,} events{span}", ""]
    order = sorted(report.findings, key=lambda f: SEVERITIES.index(f.severity))
    explained: set[str] = set()
    for f in order:
        lines.append(f"{f.severity.upper():<8} {f.check:<20} {f.title}")
        if f.detail not in explained:  # findings of one kind share their explanation: said once
            lines += _wrap(f.detail, 9)
            explained.add(f.detail)
        if f.events:
            shown = ", ".join(f"#{p}" for p in f.events[:SHOW_EVENTS])
            more = f" … ({f.count:,} in all)" if f.count > min(len(f.events), SHOW_EVENTS) else ""
            lines.append(f"{'':9}events: {shown}{more}")
        if f.streams:
            lines.append(f"{'':9}streams: {', '.join(f.streams[:SHOW_EVENTS])}"
                         + (" …" if len(f.streams) > SHOW_EVENTS else ""))
        for ex in f.examples[:SHOW_EXAMPLES]:
            lines.append(f"{'':11}{ex}")
        if len(f.examples) > SHOW_EXAMPLES:
            lines.append(f"{'':11}… {len(f.examples) - SHOW_EXAMPLES} more listed in --format json")
        lines.append("")
    if not order:
        lines += ["no findings", ""]
    lines.append("checks:")
    for c in report.checks:
        took = f" ({c.seconds:.2f} s)" if c.status == "ran" else ""
        lines.append(f"  {c.status:<9} {c.name:<20} {c.note}{took}")
    counts = report.counts()
    lines.append("")
    lines.append("summary: " + ", ".join(f"{counts[s]} {s}" + ("s" if counts[s] != 1 and s != "info" else "")
                                         for s in SEVERITIES) + (" (cancelled)" if report.cancelled else ""))
    return "\n".join(lines)


def _wrap(text: str, indent: int, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * indent) if text else []


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from ..core.integrity import CHECKS, DEFAULT_LIMIT

    c = sub.add_parser("check", parents=[common], help="integrity checks: gaps, duplicates, version gaps, times, "
                       "causes, undecodable events, unhandled types", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source(c)
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--check", action="append", choices=tuple(CHECKS), metavar="NAME",
                   help="run only this check (repeat for several): " + ", ".join(CHECKS))
    c.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, metavar="N",
                   help=f"events listed per finding (counts are always exact); default {DEFAULT_LIMIT}")
    c.add_argument("--fail-on", choices=("error", "warning", "info", "never"), default="error",
                   help="the least severity that makes the exit code 3 (default: error)")
    c.set_defaults(func=cmd_check)
