"""Built-in projections that fit any store: one row per stream, one row per event type."""

from __future__ import annotations

from typing import Any

from inspector.core.model import RecordedEvent
from inspector.core.projection import Projection, State
from inspector.plugins.hookspecs import hookimpl

#: The columns ``streams`` sets itself; a payload field of the same name (or named ``key``, the
#: History's row-key column) is kept as ``data.<name>``.
STREAM_COLUMNS = ("stream", "category", "version", "last_type", "last_position", "updated_at", "actor")
_RESERVED = frozenset(STREAM_COLUMNS) | {"key"}
_SCALARS = (str, int, float, bool)


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
    new = dict(state) if state else dict.fromkeys(STREAM_COLUMNS)  # a new row: its own columns first
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


def _stream_delta(state: State, e: RecordedEvent) -> State:
    """The fields ``_stream_apply`` sets from ``state`` (None: removed), in the order it adds them:
    its new state is ``state`` updated with these, None values dropped. Lets a History fold skip
    copying and comparing every field of a row per event."""
    new = {} if state else dict.fromkeys(STREAM_COLUMNS)
    data = e.data
    if isinstance(data, dict):
        for name, value in data.items():
            if value is None or type(value) in _SCALARS:
                new[f"data.{name}" if name in _RESERVED else name] = value
    stream, etype = e.stream, e.type
    new["stream"] = stream
    new["category"] = category_of(stream, etype)
    new["version"] = e.version
    new["last_type"] = etype
    new["last_position"] = e.position
    new["updated_at"] = e.recorded_at
    new["actor"] = e.actor
    return new


_stream_apply.delta = _stream_delta  # type: ignore[attr-defined]


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
