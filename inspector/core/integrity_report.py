"""The values an integrity run produces (``core.integrity``): findings, how each check went, the
report and its documented JSON form, and progress. Plain frozen values, JSON-able both ways."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import InspectorError

FORMAT = "inspector-integrity/1"
SEVERITIES = ("error", "warning", "info")
DEFAULT_LIMIT = 100  # events listed per finding (the count is always exact)

#: The checks, in the order they run and are reported.
CHECKS: dict[str, str] = {
    "position_gaps": "Gaps in global positions",
    "duplicate_positions": "Duplicate global positions",
    "stream_versions": "Per-stream version gaps and duplicates",
    "time_order": "Times going backwards in position order",
    "unhandled_types": "Event types no projection handles",
    "dangling_causes": "Causes that point at nothing",
    "undecodable": "Events whose payload cannot be decoded",
}


@dataclass(frozen=True)
class Finding:
    """One kind of problem a check found. ``events`` are positions (the first ``limit``, in position
    order); ``count`` is the exact number of such events (for gaps: of gaps, each named by the event
    right after it). ``examples`` are short lines, one per listed occurrence."""

    check: str
    severity: str
    title: str
    detail: str
    events: tuple[int, ...] = ()
    count: int = 0
    streams: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "title": self.title, "detail": self.detail,
                "events": list(self.events), "count": self.count, "streams": list(self.streams),
                "examples": list(self.examples)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Finding":
        return cls(d["check"], d["severity"], d["title"], d.get("detail", ""), tuple(d.get("events", ())),
                   int(d.get("count", 0)), tuple(d.get("streams", ())), tuple(d.get("examples", ())))


@dataclass(frozen=True)
class CheckResult:
    """How one check went: ``status`` is "ran", "skipped" (``note`` says why), "failed" (``note``
    holds the error) or "cancelled". For a check that ran, ``note`` says what it compared."""

    name: str
    title: str
    status: str
    note: str = ""
    findings: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status, "note": self.note,
                "findings": self.findings, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CheckResult":
        return cls(d["name"], d.get("title", CHECKS.get(d["name"], d["name"])), d["status"], d.get("note", ""),
                   int(d.get("findings", 0)), float(d.get("seconds", 0.0)))


@dataclass(frozen=True)
class IntegrityReport:
    store: str
    layout: str
    backend: str
    events: int
    checks: tuple[CheckResult, ...]
    findings: tuple[Finding, ...]
    limit: int = DEFAULT_LIMIT
    cancelled: bool = False
    first_position: int | None = None
    last_position: int | None = None
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def counts(self) -> dict[str, int]:
        """Findings per severity (every severity present, zero or not)."""
        out = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out

    def has(self, severity: str) -> bool:
        """Whether a finding of ``severity`` or worse exists."""
        worst = SEVERITIES.index(severity)
        return any(SEVERITIES.index(f.severity) <= worst for f in self.findings)

    def result(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def of(self, check: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.check == check)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (field names are stable)::

            {"format": "inspector-integrity/1", "store", "layout", "backend", "events",
             "first_position", "last_position", "checked_at" (ISO 8601), "limit", "cancelled",
             "summary": {"error": n, "warning": n, "info": n},
             "checks": [{"name", "title", "status": "ran"|"skipped"|"failed"|"cancelled", "note",
                         "findings", "seconds"}, ...],
             "findings": [{"check", "severity", "title", "detail", "events": [position, ...],
                           "count", "streams": [...], "examples": [...]}, ...]}"""
        return {"format": FORMAT, "store": self.store, "layout": self.layout, "backend": self.backend,
                "events": self.events, "first_position": self.first_position, "last_position": self.last_position,
                "checked_at": self.checked_at.isoformat(), "limit": self.limit, "cancelled": self.cancelled,
                "summary": self.counts(), "checks": [c.to_json() for c in self.checks],
                "findings": [f.to_json() for f in self.findings]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "IntegrityReport":
        if d.get("format") != FORMAT:
            raise InspectorError(f"not an integrity report (format {d.get('format')!r}, expected {FORMAT!r})")
        return cls(d["store"], d["layout"], d["backend"], int(d["events"]),
                   tuple(CheckResult.from_json(c) for c in d["checks"]),
                   tuple(Finding.from_json(f) for f in d["findings"]), int(d.get("limit", DEFAULT_LIMIT)),
                   bool(d.get("cancelled")), d.get("first_position"), d.get("last_position"),
                   dt.datetime.fromisoformat(d["checked_at"]))


@dataclass(frozen=True)
class Progress:
    """Where a run is: check ``index`` (0-based) of ``total``, ``fraction`` (0..1) of that check."""

    check: str
    title: str
    index: int
    total: int
    fraction: float = 0.0
    message: str = ""

    @property
    def overall(self) -> float:
        return min(1.0, (self.index + max(0.0, min(1.0, self.fraction))) / max(1, self.total))


class Skip(Exception):
    """Raised inside a check: it cannot run on this store (the message says why)."""


# -- wording the checks share ----------------------------------------------------------------------


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def when(t: float | None) -> str:
    if t is None:
        return "?"
    return dt.datetime.fromtimestamp(float(t), dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


TIME_DETAIL = ("An event's time is earlier than the time of the event before it in position order. Writers "
                "that commit concurrently (a time taken before a slower commit) and clock skew between "
                "application servers cause this; a reader that filters by time and one that reads in position "
                "order then see different histories.")


def time_finding(n: int, worst: float, rows: Sequence[tuple[int, int, float, float]]) -> Finding:
    title = f"{plural(n, 'event')} earlier than the event before it (up to {duration(worst)} back)"
    examples = tuple(f"#{pos} at {when(t)}: {duration(pt - t)} before #{prev} ({when(pt)})" for prev, pos, pt, t in rows)
    return Finding("time_order", "warning", title, TIME_DETAIL, tuple(r[1] for r in rows), n, (), examples)


def duration(seconds: float) -> str:
    s = abs(float(seconds))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
