"""The demo store's journal: event and command rows recorded in insert-column order under a clock
counted in events, stamped with times an hour at a time, and bulk-loaded into SQLite."""

from __future__ import annotations

import datetime as dt
import heapq
import sqlite3
from pathlib import Path
from random import Random
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex

from . import ownstore
from .demo_catalog import STAFF_IP, USER_AGENTS, customer_client
from .ownstore import encode_json as _json

CHUNK = 20_000  # rows per executemany (and per progress callback)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant digit

Rows = list[list[Any]]
#: Activities due at (day, hour), each after its share of that hour's planned events.
Hooks = dict[tuple[int, int], list[tuple[float, Callable[[], None]]]]


class Journal:
    """The rows a simulation records, and its clock. Follow-ups are scheduled a number of *events*
    later; rows are generated an hour of simulated time at a time and only then stamped with times
    spread over that hour, so times rise with position and memory stays bounded by one hour of
    events. Subclasses say what happens (``_spontaneous``); everything draws from ``rng``."""

    def __init__(self, rng: Random, per_day: float, t0_us: int) -> None:
        self.rng = rng
        self.per_day = per_day  # follow-up delays are counted in events
        self.t0_us = t0_us
        self.evs: Rows = []
        self.cmds: Rows = []
        self.emitted = self.commands = self.streams = 0
        self.first_us = self.last_us = 0
        self.heap: list[tuple[int, int, Callable[..., None], tuple]] = []
        self.seq = 0
        self._prefix: dict[int, str] = {}

    def _uuid(self) -> str:
        """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, by string surgery (2x faster)."""
        h = "%032x" % self.rng.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    def _cmd(self, ctype: str, actor: str, payload: Any, reason: str | None = None, corr: str | None = None) -> tuple:
        """Record a command; returns the context its events are emitted under."""
        cid = self._uuid()
        corr = corr or self._uuid()
        if actor.startswith("user:"):
            extra = f',"ip":"{STAFF_IP[actor]}","user_agent":{_json(USER_AGENTS[4])}'
            delay = 200_000 + int(self.rng.random() * 1_500_000)
        elif actor.startswith("customer:"):
            extra = customer_client(int(actor[9:]))
            delay = 150_000 + int(self.rng.random() * 900_000)
        else:
            extra, delay = "", 2_000 + int(self.rng.random() * 60_000)
        self.cmds.append([cid, ctype, actor, None, _json(payload), corr, reason, len(self.evs), delay])
        self.commands += 1
        return (cid, corr, f'{{"command_id":"{cid}","command_type":"{ctype}"', actor, extra)

    def _emit(self, stream: str, version: int, etype: str, data: Any, ctx: tuple, causation: str, actor: str) -> str:
        eid = self._uuid()
        _, corr, head, cactor, extra = ctx
        meta = (f'{head},"actor":"{actor}","causation_id":"{causation}","correlation_id":"{corr}",'
                f'"schema_version":1{extra if actor == cactor else ""}}}')
        self.evs.append([eid, stream, version, etype, None, _json(data), meta, causation, corr, actor])
        if version == 1:
            self.streams += 1
        self.emitted += 1
        return eid

    def _later(self, fn: Callable[..., None], delay: int, *args: Any) -> None:
        heapq.heappush(self.heap, (self.emitted + max(1, delay), self.seq, fn, args))
        self.seq += 1

    def _days(self, lo: float, hi: float) -> int:
        """A follow-up delay between ``lo`` and ``hi`` days, in events (at least 10, so it lands
        after the order's own quick follow-ups even in tiny stores)."""
        return max(10, int(self.per_day * (lo + (hi - lo) * self.rng.random())))

    def _iso(self, us: int) -> str:
        day, rem = divmod(us, 86_400_000_000)
        prefix = self._prefix.get(day)
        if prefix is None:
            prefix = self._prefix[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat() + "T"
        h, rem = divmod(rem, 3_600_000_000)
        m, rem = divmod(rem, 60_000_000)
        s, f = divmod(rem, 1_000_000)
        return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{f:06d}Z"

    def _flush(self, day: int, hour: int) -> tuple[Rows, Rows]:
        """Stamp the hour's rows with times spread over the hour, rising with position."""
        evs, cmds = self.evs, self.cmds
        self.evs, self.cmds = [], []
        if not evs:  # every command emits at least one event at once, so there are none either
            assert not cmds
            return evs, cmds
        base = self.t0_us + (day * 24 + hour) * 3_600_000_000
        step = 3_600_000_000 / len(evs)
        rnd = self.rng.random
        offsets = [int((j + 0.1 + 0.8 * rnd()) * step) for j in range(len(evs))]  # within the hour
        prefix = self._iso(base)[:14]  # "YYYY-MM-DDTHH:"
        for ev, off in zip(evs, offsets):
            m, rem = divmod(off, 60_000_000)
            ev[4] = f"{prefix}{m:02d}:{rem // 1_000_000:02d}.{rem % 1_000_000:06d}Z"
        for c in cmds:
            c[3] = self._iso(base + offsets[c[7]] - c[8])  # may fall in the previous hour
            del c[7:]
        self.first_us = self.first_us or base + offsets[0]
        self.last_us = base + offsets[-1]
        return evs, cmds

    def _spontaneous(self) -> None:
        """Something that happens when nothing is due: the subclass's story."""
        raise NotImplementedError

    def _clock(self, total: int, weights: list[list[float]], hooks: Hooks) -> Iterator[tuple[Rows, Rows]]:
        """Run until ``total`` events, one day per row of ``weights``, each hour's share of events in
        proportion to its weight: hooks first when due, then due follow-ups, else something
        spontaneous. Yields, per hour, the event rows and command rows generated in it."""
        days = len(weights)
        scale = max(0, total - self.emitted) / sum(map(sum, weights))
        goal = float(self.emitted)
        for day in range(days):
            for hour in range(24):
                planned = weights[day][hour] * scale
                goal += planned
                target = total if (day, hour) == (days - 1, 23) else goal
                todo = sorted(hooks.get((day, hour), []), key=lambda h: h[0])
                start = self.emitted
                while self.emitted < target:
                    if todo and self.emitted - start >= todo[0][0] * planned:
                        todo.pop(0)[1]()
                    elif self.heap and self.heap[0][0] <= self.emitted:
                        _, _, fn, args = heapq.heappop(self.heap)
                        fn(*args)
                    else:
                        self._spontaneous()
                for _, hook in todo:
                    hook()
                yield self._flush(day, hour)


_EVENT_SQL = (f"INSERT INTO {ownstore.EVENTS_TABLE} (event_id, stream, version, type, recorded_at, data, metadata,"
              " causation_id, correlation_id, actor) VALUES (?,?,?,?,?,?,?,?,?,?)")
_COMMAND_SQL = (f"INSERT INTO {ownstore.COMMANDS_TABLE} (command_id, type, actor, issued_at, payload, correlation_id,"
                " reason) VALUES (?,?,?,?,?,?,?)")


class BulkWriter:
    """A throwaway SQLite build of ``ownstore``'s schema: rows go in through the stdlib ``sqlite3``
    module in chunks of precomputed JSON, indexes and statistics once at the end (``finish``). As a
    context manager it always closes the file, and leaves it in the normal journal mode on success."""

    def __init__(self, path: Path, total: int, progress: Callable[[int, int], None] | None) -> None:
        engine = sa.create_engine(sa.URL.create("sqlite", database=str(path)))
        try:
            with engine.begin() as conn:
                ownstore.create_schema(conn, indexes=False)  # indexes once, after the load
        finally:
            engine.dispose()
        self.total, self.progress, self.written = total, progress, 0
        self.ev_rows: Rows = []
        self.cmd_rows: Rows = []
        self.db = sqlite3.connect(path, isolation_level=None)
        try:
            # A throwaway build: no journal, no syncs; a second sorter thread for CREATE INDEX.
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "cache_size=-65536",
                           "threads=2"):
                self.db.execute(f"PRAGMA {pragma}")
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        try:
            if exc_type is None:
                self.db.execute("PRAGMA locking_mode=NORMAL")
                self.db.execute("PRAGMA journal_mode=DELETE")
        finally:
            self.db.close()

    def add(self, evs: Rows, cmds: Rows) -> None:
        self.ev_rows += evs
        self.cmd_rows += cmds
        if len(self.ev_rows) >= CHUNK:
            self._write()

    def _write(self) -> None:
        db = self.db
        db.execute("BEGIN")
        db.executemany(_EVENT_SQL, self.ev_rows)
        db.executemany(_COMMAND_SQL, self.cmd_rows)
        db.execute("COMMIT")
        self.written += len(self.ev_rows)
        self.ev_rows, self.cmd_rows = [], []
        if self.progress is not None:
            self.progress(min(self.written, self.total), self.total)

    def finish(self, info: dict[str, Any]) -> None:
        """Write what is left, then the indexes, the ``info`` rows of the store-info table and statistics."""
        if self.ev_rows or self.cmd_rows:
            self._write()
        db = self.db
        dialect = sqlite_dialect.dialect()
        db.execute("BEGIN")
        for table in ownstore.metadata.sorted_tables:
            for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
                db.execute(str(CreateIndex(index).compile(dialect=dialect)))
        db.executemany(f"INSERT INTO {ownstore.STORE_INFO_TABLE} (key, value) VALUES (?, ?)",
                       [(k, str(v)) for k, v in info.items()])
        db.execute("COMMIT")
        # full statistics (under a second per million rows): with sampled ones SQLite scans the table
        # through the type index for the timeline instead of the covering (recorded_at, type) index
        db.execute("ANALYZE")

    def first_recorded_at(self, correlation_id: str) -> str:
        """The stored time of the first event of a correlation."""
        return self.db.execute(f"SELECT min(recorded_at) FROM {ownstore.EVENTS_TABLE} WHERE correlation_id = ?",
                               (correlation_id,)).fetchone()[0]
