"""Checkpoints: named global positions in a store ("the state after every event at or before P"),
chosen by position, by time, just before an event, or just before a correlation's or an actor's
run began; and the ``CheckpointBook`` that keeps them in the inspector's own data for that store,
never in the store itself.

Each way of choosing resolves to P with a query or two on the (read-only) store:

- ``{"at": P}``: P itself (refused beyond the head).
- ``{"at_time": iso}``: the largest position recorded at or before the time (stores that keep no
  time the database can read refuse). With times out of position order (late commits) this is
  still "the last position stamped by then", which may include earlier-positioned events stamped
  later; ``History.position_at`` answers the stricter "reached by then" for read models.
- ``{"before_event": id}``: the event's position - 1. Positions need not exist: no event lies
  strictly between the event and the one before it, so the state is the same as at that one,
  and no second query is needed.
- ``{"before_correlation": c}``: the first position of the correlation's events - 1.
- ``{"before_actor": a, "since": iso}``: the actor's first position at or after ``since``
  (without ``since``: ever) - 1.

The errors here (``ReplayError`` and its subclasses) are shared by ``replay`` and ``fork``."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from .errors import InspectorError, UnsupportedFilter
from .model import EventFilter
from .store import EventStore
from .store_files import read_store_json, write_json

UTC = dt.timezone.utc
BOOK_FORMAT = "inspector.checkpoints/1"
SPEC_KINDS = ("at", "at_time", "before_event", "before_correlation", "before_actor")


# -- errors ---------------------------------------------------------------------------------------


class ReplayError(InspectorError):
    """A checkpoint, preview or fork that cannot be made as asked (one line for the user)."""


class UnknownEvent(ReplayError):
    """No event with the given id in this store."""


class EmptyCorrelation(ReplayError):
    """A correlation (or an actor's run) with no events in this store."""


class BeyondHead(ReplayError):
    """A position past the store's newest event."""


class EmptySelection(ReplayError):
    """A preview or fork that would leave out no event (or was given nothing to leave out)."""


class CheckpointBookError(ReplayError):
    """The checkpoint file of a store cannot be read, or a name is taken / unknown."""


# -- store identity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreIdentity:
    """Which store a checkpoint or plan belongs to: its URL without any password (so the same
    store is the same whether or not a password was typed), the layout and the events table."""

    url: str
    layout: str
    table: str

    @classmethod
    def of(cls, store: Any) -> "StoreIdentity":
        """Of an ``EventStore`` or an ``OpenedStore``."""
        store = getattr(store, "store", store)
        raw = store.name or str(store.engine.url)
        try:
            url = make_url(raw)._replace(password=None).render_as_string(hide_password=False)  # a namedtuple
        except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: keep the redacted text
            url = raw
        return cls(url, store.layout.name, store.layout.table)

    @property
    def key(self) -> str:
        return f"{self.url}|{self.layout}|{self.table}"

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "layout": self.layout, "table": self.table}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "StoreIdentity":
        return cls(str(doc["url"]), str(doc["layout"]), str(doc["table"]))


# -- time arguments --------------------------------------------------------------------------------


def parse_iso(value: str | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 text (a date, or a time with or without offset; no
    offset means UTC) or a datetime."""
    if isinstance(value, dt.datetime):
        t = value
    else:
        try:
            t = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ReplayError(f"not an ISO 8601 time: {value!r} (e.g. 2026-10-18 or 2026-10-18T09:30:00Z)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: dt.datetime) -> str:
    return parse_iso(t).isoformat()


# -- resolving -------------------------------------------------------------------------------------


def _head(store: EventStore) -> int:
    head = store.head()
    if head is None:
        raise EmptySelection("the store has no events: there is nothing to place a checkpoint in")
    return head


def _scalar(store: EventStore, sql: str, params: Mapping[str, Any]) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(sql), dict(params)).scalar()


def position_at(store: EventStore, position: int) -> int:
    """``position`` itself, checked against the head."""
    head = _head(store)
    p = int(position)
    if p > head:
        raise BeyondHead(f"position {p} is beyond the head of the store (#{head})")
    return p


def position_at_time(store: EventStore, time: str | dt.datetime) -> int:
    """The largest position recorded at or before ``time`` (the first position - 1 when none
    was), to the microsecond. Databases compare times less finely (SQLite's julianday() to the
    millisecond), so SQL finds the events surely before ``time - 2 ms`` and the few in the band
    around ``time`` are compared here, as decoded."""
    t = parse_iso(time)
    _head(store)
    margin = dt.timedelta(milliseconds=2)
    pos = store.expr("position")
    try:
        where, params = store.where(EventFilter(until=t - margin))
        band = [e.position for e in store.iter_events(EventFilter(since=t - margin, until=t + margin))
                if e.recorded_at is not None and e.recorded_at <= t]
    except UnsupportedFilter:
        raise ReplayError(f"cannot place a checkpoint by time on layout {store.layout.name}: its event times are "
                          "not readable by the database; choose a position or an event instead") from None
    # the last such position walking back from the head: with times rising with positions that
    # reads only the events after ``time`` (a MAX() would read them all)
    sure = _scalar(store, f"SELECT {pos} FROM {store._from}{where} ORDER BY {pos} DESC LIMIT 1", params)
    found = [int(p) for p in (sure, *band) if p is not None]
    if found:
        return max(found)
    first = _scalar(store, f"SELECT MIN({pos}) FROM {store._from}", {})
    return int(first) - 1


def _first_with(store: EventStore, logical: str, value: str) -> int | None:
    """The first position whose ``logical`` field is ``value``, compared so the field's index
    stays usable (a plain ``IN`` on the column, not a cast of it)."""
    from .command_log import id_match

    expr = store.expr(logical)
    if expr is None:
        what = logical.replace("_", " ")
        raise ReplayError(f"layout {store.layout.name} keeps no {what}s the database can read: choose a position")
    ref = store.layout.ref(logical)
    plain = ref is not None and ref.column is not None and not ref.path
    where, params = id_match(store.dialect, expr, store.column_type(logical) if plain else None, [value], "cp_", plain)
    first = _scalar(store, f"SELECT MIN({store.expr('position')}) FROM {store._from} WHERE {where}", params)
    return None if first is None else int(first)


def position_before_event(store: EventStore, event_id: str) -> int:
    """The event's position - 1 (see the module docstring)."""
    first = _first_with(store, "event_id", str(event_id))
    if first is None:
        raise UnknownEvent(f"no event with id {event_id!r} in this store")
    return first - 1


def position_before_correlation(store: EventStore, correlation_id: str) -> int:
    """Just before the correlation's first event."""
    first = _first_with(store, "correlation_id", str(correlation_id))
    if first is None:
        raise EmptyCorrelation(f"no events carry correlation id {correlation_id!r} in this store")
    return first - 1


def position_before_actor(store: EventStore, actor: str, since: str | dt.datetime | None = None) -> int:
    """Just before the actor's first event recorded at or after ``since`` (or ever); times are
    compared to the microsecond as in ``position_at_time``."""
    t = parse_iso(since) if since is not None else None
    flt = EventFilter(actor=str(actor), since=t - dt.timedelta(milliseconds=2) if t is not None else None)
    for e in store.iter_events(flt, page_size=200):
        if t is None or (e.recorded_at is not None and e.recorded_at >= t):
            return e.position - 1
    when = f" since {t.isoformat()}" if t is not None else ""
    raise EmptyCorrelation(f"no events by actor {actor!r}{when} in this store")


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as a plain dict, or a ReplayError naming what is wrong with it."""
    kinds = [k for k in SPEC_KINDS if k in spec]
    extra = set(spec) - set(SPEC_KINDS) - {"since"}
    if len(kinds) != 1 or extra or ("since" in spec and kinds != ["before_actor"]):
        raise ReplayError(f"a checkpoint is chosen by exactly one of {', '.join(SPEC_KINDS)} "
                          f"(and since with before_actor), not {sorted(spec)}")
    out = dict(spec)
    if "at" in out:
        out["at"] = int(out["at"])
    for k in ("at_time", "since"):
        if out.get(k) is not None:
            out[k] = iso(parse_iso(out[k]))
    return out


def resolve(store: EventStore, spec: Mapping[str, Any]) -> int:
    """The position a checkpoint spec names (see the module docstring)."""
    s = check_spec(spec)
    if "at" in s:
        return position_at(store, s["at"])
    if "at_time" in s:
        return position_at_time(store, s["at_time"])
    if "before_event" in s:
        return position_before_event(store, s["before_event"])
    if "before_correlation" in s:
        return position_before_correlation(store, s["before_correlation"])
    return position_before_actor(store, s["before_actor"], s.get("since"))


# -- checkpoints -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A named position: the state after every event at or before ``position``. ``spec`` records
    how it was chosen (see the module docstring); ``created_at`` is aware UTC. ``spec`` is a plain
    dict for JSON's sake: treat it as read-only."""

    name: str
    position: int
    note: str = ""
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "position": self.position, "note": self.note,
                "created_at": self.created_at.isoformat(), "spec": dict(self.spec)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Checkpoint":
        return cls(str(doc["name"]), int(doc["position"]), str(doc.get("note") or ""),
                   parse_iso(doc["created_at"]), dict(doc.get("spec") or {}))

    @property
    def target(self) -> dict[str, Any] | None:
        """The run this checkpoint was placed before (a correlation, or an actor since a time),
        as a skip selection's fields; None for the other ways of choosing."""
        if "before_correlation" in self.spec:
            return {"correlation_ids": [self.spec["before_correlation"]]}
        if "before_actor" in self.spec:
            return {"actor": self.spec["before_actor"], "since": self.spec.get("since")}
        return None


def make_checkpoint(store: EventStore, name: str, spec: Mapping[str, Any], note: str = "") -> Checkpoint:
    """Resolve ``spec`` on the store now and name the result."""
    name = str(name).strip()
    if not name:
        raise ReplayError("a checkpoint needs a name")
    s = check_spec(spec)
    return Checkpoint(name, resolve(store, s), note or "", dt.datetime.now(UTC), s)


# -- the book --------------------------------------------------------------------------------------


def data_dir() -> Path:
    """The inspector's own data directory: ``$INSPECTOR_DATA_DIR`` if set, else the platform's
    user data directory for "inspector"."""
    env = os.environ.get("INSPECTOR_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("inspector"))


def book_path(identity: StoreIdentity, root: Path | None = None) -> Path:
    """One file per store: a readable stem (the database's name) and a hash of the identity."""
    tail = identity.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or identity.layout
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", tail)[:40]
    digest = hashlib.sha256(identity.key.encode("utf-8")).hexdigest()[:16]
    return (root or data_dir() / "checkpoints") / f"{slug}-{digest}.json"


class CheckpointBook:
    """The checkpoints of one store, in one JSON file in the inspector's data directory::

        {"format": "inspector.checkpoints/1", "store": {"url", "layout", "table"},
         "checkpoints": [{"name", "position", "note", "created_at", "spec"}, ...]}

    Every call reads the file afresh and every change rewrites it atomically (a temporary file in
    the same folder, then ``os.replace``), so a crash leaves the old file or the new one. A file
    that cannot be read is reported and left alone: nothing is written over it. Two processes
    changing the same book at once: the last write wins."""

    def __init__(self, identity: StoreIdentity, path: Path | None = None) -> None:
        self.identity = identity
        self.path = Path(path) if path is not None else book_path(identity)

    @classmethod
    def for_store(cls, store: Any) -> "CheckpointBook":
        return cls(StoreIdentity.of(store))

    def _load(self) -> list[Checkpoint]:
        items = read_store_json(self.path, BOOK_FORMAT, self.identity,
                                lambda doc: [Checkpoint.from_json(c) for c in doc["checkpoints"]],
                                CheckpointBookError, "checkpoint")
        return items if items is not None else []

    def _save(self, items: list[Checkpoint]) -> None:
        write_json(self.path, {"format": BOOK_FORMAT, "store": self.identity.to_json(),
                               "checkpoints": [c.to_json() for c in sorted(items, key=lambda c: (c.position, c.name))]})

    def list(self) -> list[Checkpoint]:
        """All checkpoints, by position (then name)."""
        return sorted(self._load(), key=lambda c: (c.position, c.name))

    def get(self, name: str) -> Checkpoint:
        for c in self._load():
            if c.name == name:
                return c
        raise CheckpointBookError(f"no checkpoint named {name!r} for this store")

    def add(self, checkpoint: Checkpoint, replace: bool = False) -> Checkpoint:
        """Keep ``checkpoint``; a name already taken is refused unless ``replace``."""
        items = self._load()
        if any(c.name == checkpoint.name for c in items):
            if not replace:
                raise CheckpointBookError(f"a checkpoint named {checkpoint.name!r} exists already for this store "
                                          "(replace it, or choose another name)")
            items = [c for c in items if c.name != checkpoint.name]
        self._save(items + [checkpoint])
        return checkpoint

    def remove(self, name: str) -> Checkpoint:
        items = self._load()
        gone = [c for c in items if c.name == name]
        if not gone:
            raise CheckpointBookError(f"no checkpoint named {name!r} for this store")
        self._save([c for c in items if c.name != name])
        return gone[0]
