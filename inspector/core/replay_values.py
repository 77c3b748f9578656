"""The values of replay plans (``core.replay``): the selection an operator names, the event
sets, orphans and projection diffs a plan holds, the plan itself with its JSON document (described
in ``core.replay``) and how state values are written in it (``json_value``, ``same_value``)."""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .checkpoints import Checkpoint, ReplayError, StoreIdentity, iso, parse_iso
from .lineage import LineageNode
from .model import RecordedEvent
from .store_files import write_atomic

FORMAT = "inspector.replay-plan/1"
LIST_LIMIT = 1000  # events, orphans and diff entries listed per plan (counts stay exact)
UTC = dt.timezone.utc


# -- values ----------------------------------------------------------------------------------------


def distinct_strs(xs: Iterable[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(x) for x in xs))


@dataclass(frozen=True)
class Selection:
    """A set of events as an operator names them: these event ids, these correlations, and the
    events of ``actor`` recorded from ``since`` (inclusive) until ``until`` (exclusive), either
    bound open. The set is the union of the parts given. Times are compared by the database, as
    ``inspector events --since/--until`` compares them (SQLite: to the millisecond)."""

    event_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()
    actor: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_ids", distinct_strs(self.event_ids))
        object.__setattr__(self, "correlation_ids", distinct_strs(self.correlation_ids))
        for name in ("since", "until"):
            v = getattr(self, name)
            object.__setattr__(self, name, iso(parse_iso(v)) if v is not None else None)
        if self.actor is None and (self.since or self.until):
            raise ReplayError("since/until bound an actor's run: give the actor too")

    def is_empty(self) -> bool:
        return not (self.event_ids or self.correlation_ids or self.actor is not None)

    def to_json(self) -> dict[str, Any]:
        return {"event_ids": list(self.event_ids), "correlation_ids": list(self.correlation_ids),
                "actor": self.actor, "since": self.since, "until": self.until}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> "Selection | None":
        if doc is None:
            return None
        return cls(tuple(doc.get("event_ids") or ()), tuple(doc.get("correlation_ids") or ()), doc.get("actor"),
                   doc.get("since"), doc.get("until"))


_REF_FIELDS = ("position", "event_id", "stream", "type", "actor", "recorded_at", "correlation_id")


@dataclass(frozen=True)
class EventRef:
    """One listed event (no payload). ``recorded_at`` is ISO 8601 text or None."""

    position: int
    event_id: str | None
    stream: str | None
    type: str | None
    actor: str | None
    recorded_at: str | None
    correlation_id: str | None

    @classmethod
    def of(cls, e: RecordedEvent | LineageNode) -> "EventRef":
        at = e.recorded_at if isinstance(e, RecordedEvent) else e.at
        eid = e.event_id if isinstance(e, RecordedEvent) else (e.id if e.id != str(e.position) else None)
        return cls(int(e.position), eid, e.stream, e.type, e.actor, at.isoformat() if at else None, e.correlation_id)

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _REF_FIELDS}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "EventRef":
        return cls(*(d.get(f) for f in _REF_FIELDS))


@dataclass(frozen=True)
class Orphan(EventRef):
    """An event a plan keeps although something it descends from is left out."""

    caused_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "caused_by": self.caused_by}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Orphan":
        return cls(*(d.get(f) for f in _REF_FIELDS), caused_by=d.get("caused_by"))


Counts = tuple[tuple[str, int], ...]


def sorted_counts(d: Mapping[str, int]) -> Counts:
    """Largest first, then by name (two stable sorts: much faster than a tuple key on 100k names)."""
    by_name = sorted((kv for kv in d.items() if kv[1]), key=operator.itemgetter(0))
    return tuple(sorted(by_name, key=operator.itemgetter(1), reverse=True))


@dataclass(frozen=True)
class EventSet:
    """Events a plan leaves out: exact counts (in total, by type, stream and actor, largest
    first) and the first events by position (``capped`` when there are more)."""

    count: int
    by_type: Counts
    by_stream: Counts
    by_actor: Counts
    events: tuple[EventRef, ...]
    capped: bool

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "by_type": dict(self.by_type), "by_stream": dict(self.by_stream),
                "by_actor": dict(self.by_actor), "capped": self.capped, "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> "EventSet | None":
        if d is None:
            return None
        return cls(int(d["count"]), tuple((k, int(n)) for k, n in d["by_type"].items()),
                   tuple((k, int(n)) for k, n in d["by_stream"].items()),
                   tuple((k, int(n)) for k, n in d["by_actor"].items()),
                   tuple(EventRef.from_json(e) for e in d["events"]), bool(d["capped"]))

    def minus(self, other: "EventSet", events: tuple[EventRef, ...], capped: bool) -> "EventSet":
        """These counts less ``other``'s (a subset), with the given list."""
        def sub(a: Counts, b: Counts) -> Counts:
            left = dict(a)
            for k, n in b:
                left[k] = left.get(k, 0) - n
            return sorted_counts(left)

        return EventSet(self.count - other.count, sub(self.by_type, other.by_type),
                        sub(self.by_stream, other.by_stream), sub(self.by_actor, other.by_actor), events, capped)


@dataclass(frozen=True)
class OrphanSet:
    """Lineage descendants of left-out events that the plan keeps. ``traced`` is False where
    lineage was not followed (the store records none, or too many events are left out), and
    ``explanation`` says why; ``count`` is a lower bound when the walk hit its cap (noted)."""

    count: int
    events: tuple[Orphan, ...]
    capped: bool
    traced: bool
    explanation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "capped": self.capped, "traced": self.traced, "explanation": self.explanation,
                "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "OrphanSet":
        return cls(int(d["count"]), tuple(Orphan.from_json(e) for e in d["events"]), bool(d["capped"]),
                   bool(d["traced"]), d.get("explanation"))


@dataclass(frozen=True)
class ProjectionDiff:
    """One read model from now (head) to the plan's result. Rows are ``{"key", "values"}`` and
    cells ``{"key", "field", "old", "new"}``, values JSON-able (times as ISO text); lists hold at
    most the plan's limit each (``capped``), the counts are exact. ``method`` is "history",
    "refold" or "not_computed" (counts None, ``note`` says why)."""

    projection: str
    method: str
    keys_recomputed: int | None
    rows_added: int | None
    rows_removed: int | None
    rows_changed: int | None
    cells_changed: int | None
    added: tuple[dict[str, Any], ...]
    removed: tuple[dict[str, Any], ...]
    changed: tuple[dict[str, Any], ...]
    capped: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "keys_recomputed": self.keys_recomputed, "rows_added": self.rows_added,
                "rows_removed": self.rows_removed, "rows_changed": self.rows_changed,
                "cells_changed": self.cells_changed, "capped": self.capped, "note": self.note,
                "added": list(self.added), "removed": list(self.removed), "changed": list(self.changed)}

    @classmethod
    def from_json(cls, name: str, d: Mapping[str, Any]) -> "ProjectionDiff":
        def n(k: str) -> int | None:
            return None if d.get(k) is None else int(d[k])

        return cls(name, d["method"], n("keys_recomputed"), n("rows_added"), n("rows_removed"), n("rows_changed"),
                   n("cells_changed"), tuple(d["added"]), tuple(d["removed"]), tuple(d["changed"]),
                   bool(d.get("capped", False)), d.get("note"))

    def apply_to(self, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The plan's resulting state, given the state now ({key: {field: JSON value}}): what a
        GUI shows as "after". Refused on a capped diff, which does not hold every change."""
        if self.capped or self.method == "not_computed":
            raise ReplayError(f"the diff of {self.projection} is {'capped' if self.capped else 'not computed'}: "
                              "it cannot rebuild the whole state")
        out = {k: dict(v) for k, v in rows.items()}
        for r in self.removed:
            out.pop(r["key"], None)
        for r in self.added:
            out[r["key"]] = dict(r["values"])
        for c in self.changed:
            row = out.setdefault(c["key"], {})
            if c["new"] is None:
                row.pop(c["field"], None)
            else:
                row[c["field"]] = c["new"]
        return out


@dataclass(frozen=True)
class ReplayPlan:
    """A truncate or skip preview (see the module docstring for every field)."""

    kind: str
    store: StoreIdentity
    head_position: int
    created_at: str
    position: int | None
    checkpoint: Checkpoint | None
    streams: tuple[str, ...]
    categories: tuple[str, ...]
    selection: Selection | None
    dropped: EventSet
    collateral: EventSet | None
    orphans: OrphanSet
    projections: tuple[ProjectionDiff, ...] = ()
    notes: tuple[str, ...] = ()

    def projection(self, name: str) -> ProjectionDiff:
        for p in self.projections:
            if p.projection == name:
                return p
        raise ReplayError(f"the plan holds no projection {name!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "kind": self.kind, "store": self.store.to_json(), "head_position": self.head_position,
            "created_at": self.created_at, "position": self.position,
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
            "streams": list(self.streams), "categories": list(self.categories),
            "selection": self.selection.to_json() if self.selection else None,
            "dropped": self.dropped.to_json(), "collateral": self.collateral.to_json() if self.collateral else None,
            "orphans": self.orphans.to_json(),
            "projections": {p.projection: p.to_json() for p in self.projections}, "notes": list(self.notes),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ReplayPlan":
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
            raise ReplayError(f"not a replay plan (format {got!r}, expected {FORMAT!r})")
        try:
            cp = doc.get("checkpoint")
            return cls(
                doc["kind"], StoreIdentity.from_json(doc["store"]), int(doc["head_position"]), doc["created_at"],
                doc.get("position"), Checkpoint.from_json(cp) if cp else None, tuple(doc.get("streams") or ()),
                tuple(doc.get("categories") or ()), Selection.from_json(doc.get("selection")),
                EventSet.from_json(doc["dropped"]), EventSet.from_json(doc.get("collateral")),
                OrphanSet.from_json(doc["orphans"]),
                tuple(ProjectionDiff.from_json(n, p) for n, p in (doc.get("projections") or {}).items()),
                tuple(doc.get("notes") or ()))
        except (KeyError, TypeError, ValueError) as e:
            raise ReplayError(f"replay plan is incomplete or malformed ({type(e).__name__}: {e})") from None

    def export(self, path: str | Path) -> Path:
        """Write the JSON document (atomically: a temporary file, then a rename)."""
        return write_document(path, self.dumps())


def write_document(path: str | Path, text: str) -> Path:
    """Write a plan's document atomically, with the usual permissions: a plan is for sharing."""
    p = Path(path)
    write_atomic(p, text, shared=True)
    return p


def read_document(path: str | Path, what: str, error: type[Exception] = ReplayError) -> Any:
    """A plan file's JSON; ``error`` with one line when it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise error(f"cannot read {what} {path}: {' '.join(str(e).split())}") from None


def load_plan(path: str | Path) -> ReplayPlan:
    return ReplayPlan.from_json(read_document(path, "replay plan"))


# -- JSON values -----------------------------------------------------------------------------------


def json_value(v: Any) -> Any:
    """A state value as plans carry it: numbers, text, bools, None (missing, NaN, NA), times as ISO
    8601 in UTC (naive ones are UTC), numpy scalars as Python ones, anything else as text."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, np.generic):
        return json_value(v.item())
    if isinstance(v, dt.datetime):
        if v != v:  # NaT
            return None
        return (v.astimezone(UTC) if v.tzinfo is not None else v.replace(tzinfo=UTC)).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def same_value(a: Any, b: Any) -> bool:
    """Equal as a History compares values: None is missing, ints and floats are numbers, other
    kinds equal only to their own kind."""
    if a is None or b is None:
        return a is None and b is None
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b
