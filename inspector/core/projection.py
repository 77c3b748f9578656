"""Projections: read models declared as pure folds over decoded events (plugins register them with
the ``register_projections`` hook; ``history`` folds them into versioned tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .model import RecordedEvent

State = dict[str, Any]
#: ``page_fields(events)`` -> {field: (indices of the events that set it or None for all, values)}
PageFields = Callable[[Sequence[RecordedEvent]], Mapping[str, tuple[Sequence[int] | None, Sequence[Any]]]]


@dataclass(frozen=True)
class Projection:
    """For each event, ``key(event)`` names the row it changes (None: not this projection's
    business); ``apply(state, event)`` returns that row's new state, a flat dict of column ->
    JSON-able scalar, from its previous one (``initial()`` for a row not seen yet), or None to
    delete the row. Values are JSON-able scalars or datetimes. Both must be pure: the same events
    always give the same rows."""

    name: str
    title: str
    key: Callable[[RecordedEvent], str | None]
    apply: Callable[[State, RecordedEvent], State | None]
    initial: Callable[[], State] = dict
    # the event types it reads (empty: all); lets a build push a type filter down to SQL
    types: tuple[str, ...] = field(default=())
    description: str = ""
    #: Optional, for speed: the same fold as ``apply`` for a page of events at once, for
    #: projections whose new row is the old one updated with fields computed from the event alone
    #: (``apply`` never reads the state, never deletes a row). Given the events that have a key,
    #: in order, it returns for each field the indices of the events that set it (each at most
    #: once, in any order; None for every event) and the values they set, None meaning the field
    #: is removed. An event may leave out a field that it would set to the value its row already
    #: has (such as a stream's name after the stream's first event in the page). A History then
    #: compares values per field with numpy instead of per event in Python. ``apply`` stays the
    #: definition: both must give the same rows (a property test checks ``streams``).
    page_fields: PageFields | None = None
