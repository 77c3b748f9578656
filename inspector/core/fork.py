"""Forks: a branch, not a destruction. The events up to a checkpoint, or the log without what a
plan leaves out, written into a NEW SQLite file in the inspector's own layout (``ownstore``), which
opens like any store and can be shared and diffed against the original. The original is only read
(through its read-only session).

What a fork keeps, and why:

- **positions**: the source's, so an event has the same ``#position`` in both stores and a diff
  lines up; the gaps a skip leaves are visible. (A source whose positions are not unique is
  renumbered 1, 2, ... in its order instead; the summary says so.)
- **stream versions**: the source's, gaps included: a gap in a stream is where the skipped
  events were, which is real information. Stores numbering from 0 keep doing so.
- **ids, lineage, actors, payloads and metadata** as decoded. Where the source has no event id
  (the eventsourcing library), a stable one is made from the source and the position (uuid5), so
  forking twice gives the same ids. A payload that could not be decoded is kept as
  ``{"$undecoded": {"error", "encoding": "base64" | "text" | null, "raw"}}``; an event without a
  time takes the time of the event before it (the layout requires one); both are counted.
- **commands**: where the source keeps a command log, the commands of every correlation that
  keeps at least one event (so a command whose events were all left out is left out too). Their
  ``reason`` is not carried: the command-log reader does not read one.

The file is written under a temporary name next to the target (no journal: it is thrown away on
failure) and renamed into place only when complete, so a failed fork leaves nothing behind; an
existing file is refused unless ``overwrite``. Events are read and written a page at a time, so a
fork of any size holds one page in memory (plus the set of kept correlation ids, for commands)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import sqlalchemy as sa

from . import ownstore
from .checkpoints import BeyondHead, Checkpoint, EmptySelection, ReplayError, StoreIdentity
from .command_log import _reader, batches, has_command_log
from .model import RecordedEvent
from .replay import left_out_where
from .replay_sql import iter_events, position_range
from .replay_values import ReplayPlan
from .store import EventStore

UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_ID_NAMESPACE = uuid.UUID("5b0f3c2e-8f43-4d7a-9d0c-6a1f2f0e9c11")  # ids made for events that have none
PAGE = 5000


@dataclass(frozen=True)
class ForkSummary:
    """What a fork wrote. ``head_position`` is the fork's newest position (None: no events);
    ``commands`` is None where the source keeps no command log."""

    path: Path
    events: int
    head_position: int | None
    commands: int | None
    source: StoreIdentity
    kind: str  # "truncate" | "skip"
    position: int | None  # truncate: the checkpoint position
    left_out: int  # events of the source (up to its head then) not written
    renumbered: bool = False
    ids_made: int = 0
    undecoded: int = 0
    untimed: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "events": self.events, "head_position": self.head_position,
                "commands": self.commands, "source": self.source.to_json(), "kind": self.kind,
                "position": self.position, "left_out": self.left_out, "renumbered": self.renumbered,
                "ids_made": self.ids_made, "undecoded": self.undecoded, "untimed": self.untimed,
                "notes": list(self.notes)}


def _store(store: Any) -> EventStore:
    return getattr(store, "store", store)


class _Rows:
    """Source events as rows of ``inspector_events``, with what had to be made up counted."""

    def __init__(self, source: StoreIdentity, keep_positions: bool) -> None:
        self.source, self.keep_positions = source, keep_positions
        self.count = self.ids_made = self.undecoded = self.untimed = 0
        self.last_time = _EPOCH
        self.last_position: int | None = None
        self.versions: dict[str, int] = {}
        self.correlations: set[str] = set()

    def row(self, e: RecordedEvent) -> dict[str, Any]:
        self.count += 1
        self.last_position = e.position if self.keep_positions else self.count
        eid = e.event_id
        if eid is None:
            eid = str(uuid.uuid5(_ID_NAMESPACE, f"{self.source.key}#{e.position}"))
            self.ids_made += 1
        at = e.recorded_at
        if at is None:
            at = self.last_time
            self.untimed += 1
        self.last_time = at
        stream = e.stream if e.stream is not None else "(none)"
        version = e.version
        if version is None:
            version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        data = e.data
        if data is None:
            self.undecoded += 1
            raw = e.raw
            enc = "base64" if isinstance(raw, (bytes, bytearray, memoryview)) else ("text" if raw is not None else None)
            data = {"$undecoded": {"error": e.decode_error or "the event has no payload", "encoding": enc,
                                   "raw": base64.b64encode(bytes(raw)).decode("ascii") if enc == "base64" else raw}}
        if e.correlation_id is not None:
            self.correlations.add(e.correlation_id)
        etype = e.type if e.type is not None else "(none)"
        out = {"event_id": eid, "stream": stream, "version": version, "type": etype, "recorded_at": at, "data": data,
               "metadata": e.metadata, "causation_id": e.causation_id, "correlation_id": e.correlation_id,
               "actor": e.actor}
        if self.keep_positions:
            out["position"] = e.position
        return out


def _json_safe(v: Any) -> Any:
    """A value the layout's JSON columns accept: NaN and infinities as text, times as ISO 8601,
    bytes as base64, other non-JSON values as text."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    return str(v)


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterable[dict[str, Any]], size: int = PAGE) -> int:
    """``ownstore``'s insert, a batch at a time; a batch whose JSON the encoder refuses (NaN, a
    value JSON has no type for) is made safe and sent again: bind values are encoded before
    anything reaches the database, so nothing of the refused batch was written."""
    n = 0
    stmt = table.insert()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        try:
            conn.execute(stmt, batch)
        except sa.exc.StatementError as e:
            if not isinstance(e.orig, (TypeError, ValueError)):
                raise
            for r in batch:
                for k in ("data", "metadata", "payload"):
                    if k in r:
                        r[k] = _json_safe(r[k])
            conn.execute(stmt, batch)

    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            flush()
            n += len(batch)
            batch = []
    if batch:
        flush()
        n += len(batch)
    return n


def _commands(store: EventStore, correlations: set[str]) -> Iterator[dict[str, Any]]:
    """The source's commands of these correlations, as rows of ``inspector_commands``."""
    reader = _reader(store)
    seen: set[str] = set()
    with store.engine.connect() as conn:
        for chunk in batches(sorted(correlations)):
            m = reader.match("correlation_id", chunk, "fc_")
            if m is None:
                return
            for c in reader.fetch(conn, *m):
                if c.command_id in seen:
                    continue
                seen.add(c.command_id)
                yield {"command_id": c.command_id, "type": c.type or "(none)", "actor": c.actor or "(none)",
                       "issued_at": c.issued_at or _EPOCH, "payload": c.payload if c.payload is not None else {},
                       "correlation_id": c.correlation_id or "", "reason": None}


class ForkCancelled(ReplayError):
    """A fork stopped by its caller; nothing was written."""


def _write(store: EventStore, events: Iterator[RecordedEvent], out: str | Path, overwrite: bool, info: dict[str, Any],
           head: int, progress: Callable[[int, int], None] | None,
           should_cancel: Callable[[], bool] | None) -> tuple[Path, _Rows, int | None]:
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise ReplayError(f"{out} exists already: choose another file (or allow overwriting it)")
    if out.is_dir():
        raise ReplayError(f"{out} is a folder: give the fork a file name")
    if not out.parent.is_dir():
        raise ReplayError(f"folder {out.parent} does not exist")
    source = StoreIdentity.of(store)
    if store.dialect.name == "sqlite" and out.exists() and _sqlite_path(source.url) == out.resolve():
        raise ReplayError(f"{out} is the store being forked: a fork goes into a new file")
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.forking")
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(tmp)))

    @sa.event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:  # a throwaway file until it is renamed: no journal
        dbapi_conn.execute("PRAGMA journal_mode=OFF")
        dbapi_conn.execute("PRAGMA synchronous=OFF")

    rows = _Rows(source, store.layout.position_unique)
    n_commands: int | None = None
    try:
        def step(done: int) -> None:
            if should_cancel is not None and should_cancel():
                raise ForkCancelled("the fork was cancelled: nothing was written")
            if progress is not None:
                progress(done, head)

        def stream() -> Iterator[dict[str, Any]]:
            for i, e in enumerate(events, 1):
                if i % PAGE == 0:
                    step(e.position)
                yield rows.row(e)

        with engine.begin() as conn:
            ownstore.create_schema(conn, indexes=False)  # indexes once, after the load
            _insert(conn, ownstore.events_table, stream())
            if has_command_log(store):
                n_commands = _insert(conn, ownstore.commands_table, _commands(store, rows.correlations))
            ownstore.create_indexes(conn)
            ownstore.write_store_info(conn, {**info, "layout": ownstore.LAYOUT,
                                             "schema_version": ownstore.SCHEMA_VERSION, "events": rows.count})
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")  # statistics for the timeline's covering index, as the demo has
        engine.dispose()
        step(head)  # the last word before the fork appears: a cancel now still leaves nothing
        for suffix in ("-journal", "-wal", "-shm"):  # a replaced store's leftovers must not pair with the fork
            out.with_name(out.name + suffix).unlink(missing_ok=True)
        os.replace(tmp, out)
    except sa.exc.SQLAlchemyError as e:
        engine.dispose()
        tmp.unlink(missing_ok=True)
        raise ReplayError(f"the fork could not be written: {' '.join(str(getattr(e, 'orig', e)).split())[:300]}"
                          ) from None
    except BaseException:
        engine.dispose()
        tmp.unlink(missing_ok=True)
        raise
    return out, rows, n_commands


def _sqlite_path(url: str) -> Path | None:
    try:
        db = sa.engine.make_url(url).database or ""
    except sa.exc.ArgumentError:
        return None
    db = db[5:].split("?", 1)[0] if db.startswith("file:") else db
    return Path(db).resolve() if db and db != ":memory:" else None


def _info(store: EventStore, kind: str, **extra: Any) -> dict[str, Any]:
    src = StoreIdentity.of(store)
    return {"created_by": "inspector fork", "forked_at": dt.datetime.now(UTC).isoformat(), "fork_kind": kind,
            "forked_from": src.url, "forked_from_layout": src.layout, "forked_from_table": src.table,
            **{k: v for k, v in extra.items() if v is not None}}


def _summary(path: Path, rows: _Rows, commands: int | None, store: EventStore, kind: str, position: int | None,
             left_out: int) -> ForkSummary:
    notes = []
    if not store.layout.position_unique:
        notes.append("the source's positions are not unique: the fork numbers its events 1, 2, ... in order")
    if commands is None:
        notes.append("the source keeps no command log: the fork has no commands")
    return ForkSummary(path, rows.count, rows.last_position, commands, StoreIdentity.of(store), kind, position,
                       left_out, not store.layout.position_unique, rows.ids_made, rows.undecoded, rows.untimed,
                       tuple(notes))


def _count(store: EventStore, where: tuple[str, dict[str, Any]]) -> int:
    return int(store._fetch_page(f"SELECT COUNT(*) FROM {store._from} WHERE {where[0]}", where[1])[0][0])


def fork_to(store: Any, to: int | Checkpoint, out: str | Path, *, overwrite: bool = False,
            progress: Callable[[int, int], None] | None = None,
            should_cancel: Callable[[], bool] | None = None) -> ForkSummary:
    """Write every event at or before ``to`` (a position or a Checkpoint) into a new SQLite
    store at ``out``. ``progress(position, of)`` is called every few thousand events and once
    before the file is put in place; ``should_cancel()`` is asked as often, and True stops the
    fork (``ForkCancelled``) with nothing written. An exception from either has the same effect."""
    store = _store(store)
    position = int(to.position if isinstance(to, Checkpoint) else to)
    head = store.head()
    if head is None:
        raise EmptySelection("the store has no events: there is nothing to fork")
    if position > head:
        raise BeyondHead(f"position {position} is beyond the head of the store (#{head})")
    kept = position_range(store, None, position)
    name = to.name if isinstance(to, Checkpoint) else None
    path, rows, n_cmd = _write(store, iter_events(store, kept, PAGE), out, overwrite,
                               _info(store, "truncate", fork_position=position, fork_checkpoint=name,
                                     source_head=head), position, progress, should_cancel)
    return _summary(path, rows, n_cmd, store, "truncate", position, _count(store, position_range(store, position, head)))


def fork_plan(store: Any, plan: ReplayPlan, out: str | Path, *, overwrite: bool = False,
              progress: Callable[[int, int], None] | None = None,
              should_cancel: Callable[[], bool] | None = None) -> ForkSummary:
    """Write the result of ``plan`` into a new SQLite store at ``out``: the source's events up to
    the plan's head without those it leaves out. Refused when the plan was made for another store,
    or when the events it leaves out are no longer the ones it counted (preview again)."""
    store = _store(store)
    here = StoreIdentity.of(store)
    if plan.store != here:
        raise ReplayError(f"the plan was made for {plan.store.url} ({plan.store.layout} {plan.store.table}), "
                          f"not this store ({here.url})")
    head = store.head()
    if head is None or head < plan.head_position:
        raise ReplayError(f"the store no longer reaches the plan's head #{plan.head_position}: preview again")
    out_where = left_out_where(store, plan)
    pos = store.expr("position")
    left = {int(r[0]) for r in store._fetch_page(f"SELECT {pos} FROM {store._from} WHERE {out_where[0]}",
                                                 out_where[1])}
    if len(left) != plan.dropped.count:
        raise ReplayError(f"the store changed since the plan was made ({len(left)} events would be left out now, "
                          f"{plan.dropped.count} in the plan): preview again")
    upto = position_range(store, None, plan.head_position)
    if plan.kind == "truncate" and not plan.streams and not plan.categories:
        events: Iterator[RecordedEvent] = iter_events(store, position_range(store, None, plan.position), PAGE)
    else:
        events = (e for e in iter_events(store, upto, PAGE) if e.position not in left)
    info = _info(store, plan.kind, fork_position=plan.position, source_head=plan.head_position,
                 fork_streams=",".join(plan.streams) or None, fork_categories=",".join(plan.categories) or None,
                 fork_selection=(json.dumps(plan.selection.to_json()) if plan.selection else None),
                 fork_plan_created_at=plan.created_at)
    path, rows, n_cmd = _write(store, events, out, overwrite, info, plan.head_position, progress, should_cancel)
    return _summary(path, rows, n_cmd, store, plan.kind, plan.position, len(left))


__all__ = ["ForkCancelled", "ForkSummary", "fork_plan", "fork_to"]
