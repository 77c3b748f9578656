"""Values that cross layers: recorded events, filters and pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

#: The logical fields a layout can map, in display order.
EVENT_FIELDS = (
    "position",
    "stream",
    "version",
    "type",
    "recorded_at",
    "event_id",
    "causation_id",
    "correlation_id",
    "actor",
    "payload",
    "metadata",
    "category",  # optional: where a store keeps a stream category (else: the stream name's prefix)
)

#: The logical fields of a command log.
COMMAND_FIELDS = ("command_id", "type", "actor", "issued_at", "payload", "correlation_id")


class RecordedEvent(NamedTuple):
    """One stored event, decoded. ``data`` is None when the payload could not be decoded;
    ``decode_error`` then says why. ``raw`` keeps the stored payload for the raw-bytes view.

    Immutable like the frozen dataclasses elsewhere, but a NamedTuple: reading a page is bound by
    building these, and a tuple is built several times faster than a frozen dataclass."""

    position: int
    stream: str | None
    version: int | None
    type: str | None
    recorded_at: dt.datetime | None
    event_id: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None
    data: Any = None
    metadata: Any = None
    decode_error: str | None = None
    encoding: str | None = None
    raw: bytes | str | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON row: ISO 8601 times with offset, decoded data or null."""
        return {
            "position": self.position,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "event_id": self.event_id,
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "actor": self.actor,
            "data": self.data,
            "metadata": self.metadata,
            "decode_error": self.decode_error,
        }


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What to read. Every field is pushed down into SQL as a WHERE clause."""

    stream: str | None = None
    category: str | None = None
    types: tuple[str, ...] = ()
    after: int | None = None  # position strictly greater than
    before: int | None = None  # position strictly less than
    since: dt.datetime | None = None  # recorded_at >=
    until: dt.datetime | None = None  # recorded_at <
    actor: str | None = None
    correlation_id: str | None = None
    text: str | None = None

    def with_(self, **changes: Any) -> "EventFilter":
        return replace(self, **changes)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))


@dataclass(frozen=True, slots=True)
class Page:
    """A keyset page in reading order. ``has_more`` says whether more rows follow in the direction
    read; ``first_key``/``last_key`` are the keyset cursors (sort value, position) of its ends."""

    events: tuple[RecordedEvent, ...]
    has_more: bool
    first_key: tuple[Any, int] | None = None
    last_key: tuple[Any, int] | None = None

    @property
    def first_position(self) -> int | None:
        return self.events[0].position if self.events else None

    @property
    def last_position(self) -> int | None:
        return self.events[-1].position if self.events else None


@dataclass(frozen=True, slots=True)
class HistogramBin:
    start: float  # epoch seconds (time axis) or position (position axis)
    end: float
    counts: dict[str, int]  # event type -> count

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Histogram:
    """Events per time bucket per type, counted in SQL. ``axis`` is "time" or "position" (stores
    that keep no queryable time, such as the eventsourcing library's, are binned by position)."""

    axis: str
    bucket_seconds: float
    bins: tuple[HistogramBin, ...]
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreamSummary:
    stream: str
    category: str | None
    events: int
    last_position: int


@dataclass(frozen=True, slots=True)
class CategorySummary:
    category: str
    streams: int
    events: int
