"""Built-in projections that fit any store: one row per stream, one row per event type."""

from __future__ import annotations

from typing import Any, Sequence

from inspector.core.model import RecordedEvent
from inspector.core.projection import Projection, State
from inspector.plugins.hookspecs import hookimpl

#: The columns ``streams`` sets itself; a payload field of the same name (or named ``key``, the
#: History's row-key column) is kept as ``data.<name>``.
STREAM_COLUMNS = ("stream", "category", "version", "last_type", "last_position", "updated_at", "actor")
_RESERVED = frozenset(STREAM_COLUMNS) | {"key"}
_SCALARS = (str, int, float, bool)
_COLUMN_TYPES = frozenset(_SCALARS) | {type(None)}


def category_of(stream: str, event_type: str | None) -> str:
    """A stream's category: the aggregate class of an eventsourcing-style topic type
    (``module:Aggregate.Event``), else the stream name up to its first "-" (the default stream
    separator of the layouts), else the whole name."""
    if event_type and ":" in event_type:
        cls = event_type.rsplit(":", 1)[1].split(".", 1)[0]
        if cls:
            return cls
    return stream.split("-", 1)[0]


def _stream_key(e: RecordedEvent) -> str | None:
    return e.stream


def _stream_apply(state: State, e: RecordedEvent) -> State:
    new = dict.fromkeys(STREAM_COLUMNS)  # its own columns first, as ``_stream_page`` orders new columns
    new.update(state)
    data = e.data
    if isinstance(data, dict):
        for name, value in data.items():
            if value is None or type(value) in _SCALARS:  # nested values are not columns
                new[f"data.{name}" if name in _RESERVED else name] = value
    new["stream"] = e.stream
    new["category"] = category_of(e.stream, e.type)
    new["version"] = e.version
    new["last_type"] = e.type
    new["last_position"] = e.position
    new["updated_at"] = e.recorded_at
    new["actor"] = e.actor
    return new


def _stream_page(events: Sequence[RecordedEvent]) -> dict[str, tuple[list[int] | None, list[Any]]]:
    """``_stream_apply`` for a page of events at once, as columns (``Projection.page_fields``):
    the stream columns are set by every event, each payload field by the events that carry it."""
    streams = [e.stream for e in events]
    types = [e.type for e in events]
    # a row's stream never changes: only each stream's first event in the page sets it (the later
    # ones would set the value it has), and its category too unless that depends on the event type
    first: dict[str, int] = {}
    for i, name in enumerate(streams):
        if name not in first:
            first[name] = i
    once = list(first.values())
    if any(t and ":" in t for t in set(types)):
        category: tuple[list[int] | None, list[Any]] = (None, [category_of(s, t) for s, t in zip(streams, types)])
    else:
        category = (once, [category_of(s, None) for s in first])
    columns: dict[str, tuple[list[int] | None, list[Any]]] = {
        "stream": (once, list(first)), "category": category, "version": (None, [e.version for e in events]),
        "last_type": (None, types), "last_position": (None, [e.position for e in events]),
        "updated_at": (None, [e.recorded_at for e in events]), "actor": (None, [e.actor for e in events])}
    payload: dict[str, tuple[list[int], list[Any]]] = {}
    column_types = _COLUMN_TYPES
    for i, e in enumerate(events):
        data = e.data
        if isinstance(data, dict):
            for name, value in data.items():
                if type(value) in column_types:  # nested values are not columns
                    entry = payload.get(name)
                    if entry is None:
                        entry = payload[name] = ([], [])
                    entry[0].append(i)
                    entry[1].append(value)
    for name, entry in payload.items():
        columns[f"data.{name}" if name in _RESERVED else name] = entry
    return columns


def _type_key(e: RecordedEvent) -> str | None:
    return e.type


def _type_apply(state: State, e: RecordedEvent) -> State:
    return {"count": state.get("count", 0) + 1, "first_position": state.get("first_position", e.position),
            "last_position": e.position}


STREAMS = Projection(
    name="streams",
    title="Streams",
    key=_stream_key,
    apply=_stream_apply,
    page_fields=_stream_page,
    description="One row per stream: its category, version, last event type, position, time and actor, and the "
                "top-level scalar fields of its events' payloads merged, the latest value winning.",
)

TYPES = Projection(
    name="types",
    title="Event types",
    key=_type_key,
    apply=_type_apply,
    description="One row per event type: how many events, the first and the last position.",
)


@hookimpl
def register_projections() -> list[Any]:
    """The built-in projections: streams and event types."""
    return [STREAMS, TYPES]
