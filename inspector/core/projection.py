"""Projections: read models declared as pure folds over decoded events (plugins register them with
the ``register_projections`` hook; ``history`` folds them into versioned tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .model import RecordedEvent

State = dict[str, Any]


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
