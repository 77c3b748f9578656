"""Compensating commands as plugins declare them, and the values that cross the plugin boundary.

A plugin registers ``CommandSpec`` objects (``register_commands``): a name, a typed field list,
optional cross-field validation, the stream a command targets and the events it appends there.
``propose_compensations`` returns ``ProposedStep`` objects (a command with values, the events it
compensates and why) or ``CompensationNote`` objects saying why nothing can be proposed.
``register_submitters`` returns ``Submitter`` objects: how a command's events are written to one
store layout inside the transaction the inspector opens (see ``inspector.core.submit``).

Values are plain JSON (str, int, float, bool, None, lists and dicts of them); a field's ``type``
says how text typed into a form becomes a value and what is accepted."""

from __future__ import annotations

import decimal
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from .errors import InspectorError

#: The field types a form knows how to edit.
FIELD_TYPES = ("text", "int", "decimal", "bool", "choice", "json")


class CommandError(InspectorError, ValueError):
    """A command that cannot be built: unknown, or values that do not validate (``errors`` per field)."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


@dataclass(frozen=True)
class CommandField:
    """One input of a command. ``decimal`` values are kept as numbers with at most ``places``
    decimals (money); ``choice`` accepts only ``choices``; ``json`` any JSON value."""

    name: str
    title: str
    type: str = "text"
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""
    places: int = 2

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r} (one of {', '.join(FIELD_TYPES)})")

    def parse(self, raw: Any) -> Any:
        """The value for ``raw`` (typed text or an already typed value); ValueError says why not."""
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if self.required:
                raise ValueError("required")
            return None
        t = self.type
        if t == "text":
            return str(raw) if not isinstance(raw, str) else raw.strip()
        if t == "int":
            if isinstance(raw, bool):
                raise ValueError("not a whole number")
            if isinstance(raw, int):
                return raw
            try:
                d = decimal.Decimal(str(raw).strip())
            except decimal.InvalidOperation:
                raise ValueError(f"not a whole number: {raw!r}") from None
            if d != d.to_integral_value():
                raise ValueError(f"not a whole number: {raw!r}")
            return int(d)
        if t == "decimal":
            if isinstance(raw, bool):
                raise ValueError("not a number")
            try:
                d = decimal.Decimal(str(raw).strip())
            except decimal.InvalidOperation:
                raise ValueError(f"not a number: {raw!r}") from None
            if not d.is_finite():
                raise ValueError(f"not a finite number: {raw!r}")
            if -d.as_tuple().exponent > self.places and d != round(d, self.places):
                raise ValueError(f"at most {self.places} decimals")
            f = float(round(d, self.places))
            return int(f) if self.places == 0 else f
        if t == "bool":
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("true", "yes", "1", "on"):
                return True
            if s in ("false", "no", "0", "off"):
                return False
            raise ValueError(f"not yes/no: {raw!r}")
        if t == "choice":
            if str(raw) not in self.choices:
                raise ValueError(f"not one of {', '.join(self.choices)}")
            return str(raw)
        # json
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError as e:
                raise ValueError(f"not JSON: {e}") from None
        json.dumps(raw, allow_nan=False)  # raises on what JSON cannot hold
        return raw

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "type": self.type, "required": self.required,
                "choices": list(self.choices), "help": self.help}


@dataclass(frozen=True)
class ProposedEvent:
    """An event a command appends: its type and data (JSON), optional extra metadata. The
    inspector adds the event id, version, time, causation, correlation, actor and reason."""

    type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "data": dict(self.data), "metadata": None if self.metadata is None else dict(self.metadata)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ProposedEvent":
        return cls(d["type"], dict(d.get("data") or {}), d.get("metadata"))


Values = Mapping[str, Any]


@dataclass(frozen=True)
class CommandSpec:
    """A compensating command. ``stream(values)`` names the stream it appends to and
    ``events(values)`` the events, both pure functions of validated values. ``validate(values)``
    returns cross-field errors ({field: message}; "" for the command as a whole). ``layouts``
    lists the store layouts whose events it knows how to write (empty: any)."""

    name: str
    title: str
    fields: tuple[CommandField, ...]
    stream: Callable[[Values], str]
    events: Callable[[Values], Sequence[ProposedEvent]]
    validate: Callable[[Values], Mapping[str, str]] | None = None
    description: str = ""
    layouts: tuple[str, ...] = ()

    def field(self, name: str) -> CommandField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def check(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Parse ``raw`` field by field: (values, errors per field). Unknown fields are errors."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in self.fields:
            try:
                values[f.name] = f.parse(raw.get(f.name))
            except ValueError as e:
                errors[f.name] = str(e)
        for k in raw:
            if k not in values and k not in errors:
                errors[k] = f"{self.name} has no field {k!r}"
        if not errors and self.validate is not None:
            errors.update({k: str(v) for k, v in (self.validate(values) or {}).items() if v})
        return values, errors

    def build(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str, tuple[ProposedEvent, ...]]:
        """(values, stream, events) for valid ``raw``; CommandError with the errors otherwise."""
        values, errors = self.check(raw)
        if errors:
            detail = "; ".join(f"{k or self.name}: {v}" for k, v in errors.items())
            raise CommandError(f"{self.name}: {detail}", errors)
        events = tuple(self.events(values))
        if not events:
            raise CommandError(f"{self.name} appends no events with these values")
        return values, str(self.stream(values)), events

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "layouts": list(self.layouts), "fields": [f.to_json() for f in self.fields]}


@dataclass(frozen=True)
class ProposedStep:
    """A plugin's proposal: run ``command`` with ``values`` to compensate the events with ids
    ``compensates``, for ``reason``. The inspector adds the expected version and idempotency key."""

    command: str
    values: Mapping[str, Any]
    compensates: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class CompensationNote:
    """Why a plugin proposes nothing (or not everything) for a plan, shown to the operator."""

    text: str
    plugin: str = ""


@runtime_checkable
class CompensationContext(Protocol):
    """What ``propose_compensations`` may look at besides the plan (``inspector.core.compensate``
    has the implementation). Rows are {field: JSON value} dicts; None when there is no such row."""

    def head_row(self, projection: str, key: str) -> dict[str, Any] | None:
        """The row as it is now (at the plan's head)."""

    def target_row(self, projection: str, key: str) -> dict[str, Any] | None:
        """The row as the replay plan would leave it: the state a compensation should reach."""

    def stream_version(self, stream: str) -> int | None:
        """The stream's current version (None: no such stream)."""


@dataclass(frozen=True)
class AppendEvent:
    """An event as a submitter writes it: everything decided, ids included."""

    event_id: str
    stream: str
    version: int  # the event's version in the layout's own numbering
    type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    recorded_at: Any  # timezone-aware datetime
    causation_id: str | None
    correlation_id: str
    actor: str


@dataclass(frozen=True)
class Submitter:
    """How events are appended to stores of ``layouts``. Both callables run inside the one
    transaction the inspector opens for a step (``conn`` is a SQLAlchemy Connection in it; ``store``
    the target's ``EventStore``): ``stream_version(conn, store, stream)`` returns the stream's
    current version or None when it has no events (read with a lock where the database needs one
    to serialise writers); ``append(conn, store, events)`` writes the events and returns their
    positions, raising on any conflict so the transaction rolls back (``submit.StreamConflict``
    when the store refuses the expected version). ``append`` may also name ``step``, ``plan``,
    ``actor`` or ``reason`` among its parameters to receive them. A submitter that hands the
    command to an external handler still runs in that transaction, so its audit row is written
    only when the handler accepted the command."""

    name: str
    title: str
    layouts: tuple[str, ...]
    stream_version: Callable[..., int | None]
    append: Callable[..., Sequence[int]]
    #: the version a stream's first event gets in this layout (1 for most, 0 for Message DB)
    first_version: int = 1
    note: str = ""
