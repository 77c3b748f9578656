"""Following a store as it grows. ``Tail`` asks the head (``SELECT MAX(position)``, one index
lookup) on a timer that backs off while nothing happens, wakes early on PostgreSQL NOTIFY where the
layout's writers send one, and hands back what was appended since the last poll: the events
themselves (the CLI) or only the new head and a count (the desktop app, which then extends what it
holds). Qt-free: the app drives ``follow()`` on a worker thread, the CLI in the foreground.

The backoff policy (``Backoff``): after the k-th idle poll in a row the next poll waits
``initial * factor**(k-1)`` seconds, at most ``maximum`` (0.5, 1, 2, 4, 8, 16, 30, 30… by default),
each delay shortened by up to ``jitter`` (10 %) at random so many followers do not poll in step.
Any new event resets it to ``initial``; more new events than one batch polls again at once. A
failed poll waits on ``error_backoff`` (1 s doubling to 30 s) and is reported on the update.

LISTEN: the ``eventsourcing`` library's PostgreSQL recorder sends ``NOTIFY <events table>`` in
every insert transaction, as does the inspector's own writer for that layout (``core.submit``).
For those layouts the tail keeps one dedicated autocommit connection LISTENing on that channel,
and a notification ends the wait at once. The timer keeps running underneath (writers that do not
notify are still seen). A lost LISTEN connection is reported and reconnected with backoff; until
then the timer alone drives the polls, and the first poll after it is back is immediate (NOTIFYs
sent meanwhile are lost)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .connect import CONNECT_TIMEOUT_S, describe_error
from .model import EventFilter, RecordedEvent
from .store import EventStore

#: Longest a wait blocks before it looks at its cancel flag again (seconds).
SLICE_S = 0.2
#: Layouts whose writers NOTIFY a channel named after the events table on PostgreSQL.
NOTIFYING_LAYOUTS = ("eventsourcing",)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with downward jitter (see the module docstring)."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def base(self, n: int) -> float:
        """The delay after ``n`` + 1 idle (or failed) polls in a row, before jitter."""
        return min(self.maximum, self.initial * self.factor ** min(max(n, 0), 64))

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        d = self.base(n)
        if self.jitter and rng is not None:
            d *= 1.0 - self.jitter * rng.random()
        return d


def notify_channels(store: EventStore) -> tuple[str, ...]:
    """The NOTIFY channels this store's writers signal on (none off PostgreSQL or for layouts whose
    writers do not notify). The eventsourcing recorder names its channel after the events table
    (9.4 on: the bare table name; 9.2/9.3 with a schema: ``schema.table`` with the dot replaced)."""
    if store.dialect.name != "postgresql" or store.layout.name not in NOTIFYING_LAYOUTS:
        return ()
    schema, _, table = store.layout.table.rpartition(".")
    channels = [table]
    if schema and schema != "public":
        channels.append(f"{schema}_{table}")
    return tuple(dict.fromkeys(channels))


def count_between(store: EventStore, after: int | None, head: int | None) -> int:
    """How many events lie in (``after``, ``head``]: how far something that has read up to
    ``after`` lags behind ``head`` (an index range count: cheap while the lag is small)."""
    if head is None or (after is not None and after >= head):
        return 0
    return store.count(EventFilter(after=after, before=head + 1))




@dataclass(frozen=True)
class TailUpdate:
    """What one poll found. ``after``: what had been read before it; ``position``: what has been
    read now (events matching the filter in between are ``events``, or only counted in
    ``count``); ``pending``: more than one batch arrived, the next poll follows at once.
    ``woken_by``: what started the poll ("start", "timer", "notify", "wake"). ``error``: the poll
    failed (retried with backoff); ``notice``: news about the connection, e.g. LISTEN lost or back."""

    poll: int
    head: int | None
    after: int | None
    position: int | None
    events: tuple[RecordedEvent, ...] = ()
    count: int = 0
    head_changed: bool = False
    pending: bool = False
    woken_by: str = "timer"
    error: str | None = None
    notice: str | None = None
    delay: float = 0.0  # how long the tail will wait before the next poll

    @property
    def idle(self) -> bool:
        return not (self.events or self.count or self.head_changed or self.error or self.notice)

    def to_json(self) -> dict[str, Any]:
        return {"poll": self.poll, "head": self.head, "after": self.after, "position": self.position,
                "count": self.count, "pending": self.pending, "woken_by": self.woken_by, "error": self.error,
                "notice": self.notice, "delay": round(self.delay, 3)}


class NotifyWaiter:
    """A dedicated autocommit psycopg 3 connection LISTENing on ``channels`` (the pool's
    connections are short-lived and read-only; a LISTEN must outlive them)."""

    def __init__(self, engine: Any, channels: Sequence[str]):
        self.engine = engine
        self.channels = tuple(channels)
        self.conn: Any = None

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    @property
    def backend_pid(self) -> int | None:
        return self.conn.info.backend_pid if self.connected else None

    def connect(self) -> None:
        import psycopg
        from psycopg import sql

        if self.engine.dialect.driver != "psycopg":
            raise RuntimeError(f"LISTEN needs the psycopg (3) driver, not {self.engine.dialect.driver}")
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams = {**cparams, "autocommit": True}
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        conn = psycopg.connect(*cargs, **cparams)
        try:
            for ch in self.channels:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ch)))
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def wait(self, timeout: float) -> bool:
        """True when a notification arrived within ``timeout`` seconds (any still queued are
        drained: a burst of NOTIFYs is one wake-up). Raises psycopg's error on a lost connection,
        after closing it."""
        try:
            got = any(True for _ in self.conn.notifies(timeout=max(0.0, timeout), stop_after=1))
            if got:
                for _ in self.conn.notifies(timeout=0.0):
                    pass
            return got
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


class Tail:
    """Follows ``store`` (see the module docstring). ``start``: read events after this position
    (None: only those appended after the first poll). ``read_events=False``: only the head and a
    count of the new events (``flt`` applies to both). ``listen``: use NOTIFY where the layout
    sends it (None: whenever ``notify_channels`` names a channel; ``channels`` overrides them).
    ``poll``/``wait`` run on one thread; ``wake``/``cancel`` may be called from any."""

    def __init__(self, store: EventStore, flt: EventFilter = EventFilter(), *, start: int | None = None,
                 read_events: bool = True, batch: int = 1000, backoff: Backoff = Backoff(),
                 error_backoff: Backoff = Backoff(1.0, 30.0), listen: bool | None = None,
                 channels: Sequence[str] | None = None, rng: random.Random | None = None):
        self.store = store
        self.filter = flt.with_(after=None, before=None)
        self._upper = flt.before  # events at or past it never match
        self.read_events = read_events
        self.batch = max(1, int(batch))
        self.backoff, self.error_backoff = backoff, error_backoff
        self.rng = rng if rng is not None else random.Random()
        self.channels = tuple(channels) if channels is not None else notify_channels(store)
        pg = store.dialect.name == "postgresql"
        self.listen = pg and bool(self.channels) and (listen is None or bool(listen))
        self._start = start if start is not None else flt.after
        self._started = False
        self.position: int | None = None  # read up to (None: before the first event)
        self.head: int | None = None
        self.polls = 0
        self.idle_polls = 0  # in a row
        self.errors = 0  # failed polls in a row
        self.delay = 0.0  # before the next poll
        self.waiter: NotifyWaiter | None = None
        self.notified = 0  # waits ended by a NOTIFY
        self._listen_failures = 0
        self._listen_retry_at = 0.0
        self._listen_lost = False
        self._notices: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._cancelled = threading.Event()

    # -- control (any thread) ------------------------------------------------------------------
    def wake(self) -> None:
        """End the current wait: poll now."""
        self._wake.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def listening(self) -> bool:
        return self.waiter is not None and self.waiter.connected

    def _notice(self, text: str) -> None:
        with self._lock:
            self._notices.append(text)

    # -- polling -------------------------------------------------------------------------------
    def poll(self, woken_by: str = "timer") -> TailUpdate:
        """Look once: the head, and what was appended since the last poll."""
        self.polls += 1
        after, old_head = self.position, self.head
        events: tuple[RecordedEvent, ...] = ()
        count, pending, error = 0, False, None
        try:
            head = self.store.head()
            if not self._started:
                self._started = True
                self.position = after = self._start if self._start is not None else head
            if head is not None and (self.position is None or head > self.position):
                events, count, pending = self._read(head)
            self.head = head
        except Exception as e:  # noqa: BLE001 - a failed poll is reported and retried
            error = describe_error(e)
        if error is not None:
            self.errors += 1
            self.delay = self.error_backoff.delay(self.errors - 1, self.rng)
        else:
            if self.errors:
                self._notice(f"reading the store again after {self.errors} failed poll{'s' if self.errors != 1 else ''}")
            self.errors = 0
            if pending:
                self.delay = 0.0
                self.idle_polls = 0
            elif (self.head != old_head and old_head is not None) or count or events:  # activity
                self.idle_polls = 0
                self.delay = self.backoff.delay(0, self.rng)
            else:
                self.delay = self.backoff.delay(self.idle_polls, self.rng)
                self.idle_polls += 1
        with self._lock:
            notice, self._notices = ("; ".join(self._notices) or None), []
        return TailUpdate(self.polls, self.head, after, self.position, events, count,
                          error is None and self.head != old_head and self.polls > 1, pending, woken_by, error,
                          notice, self.delay)

    def _read(self, head: int) -> tuple[tuple[RecordedEvent, ...], int, bool]:
        lo = self.position
        hi = head + 1 if self._upper is None else min(head + 1, self._upper)
        if lo is not None and hi <= lo + 1:
            self.position = head  # nothing after ``lo`` can match
            return (), 0, False
        flt = self.filter.with_(after=lo, before=hi)
        if not self.read_events:
            n = self.store.count(flt)
            self.position = head
            return (), n, False
        page = self.store.read_page(flt, limit=self.batch)
        if page.has_more and page.events:
            self.position = page.events[-1].position
            return page.events, len(page.events), True
        self.position = head
        return page.events, len(page.events), False

    # -- waiting -------------------------------------------------------------------------------
    def _ensure_listener(self) -> bool:
        """Connect the LISTEN connection if it is wanted and due; True when it just came back."""
        if not self.listen or self.listening or time.monotonic() < self._listen_retry_at:
            return False
        if self.waiter is None:
            self.waiter = NotifyWaiter(self.store.engine, self.channels)
        try:
            self.waiter.connect()
        except Exception as e:  # noqa: BLE001 - reported; the timer keeps polling
            self._listen_failed(e, "cannot LISTEN")
            return False
        back = self._listen_lost
        if back:
            self._notice(f"LISTEN on {', '.join(self.channels)} is back")
        self._listen_lost, self._listen_failures = False, 0
        return back

    def _listen_failed(self, exc: BaseException, what: str) -> None:
        self._listen_failures += 1
        delay = self.error_backoff.delay(self._listen_failures - 1, self.rng)
        self._listen_retry_at = time.monotonic() + delay
        self._listen_lost = True
        self._notice(f"{what} on {', '.join(self.channels)} ({describe_error(exc)}); polling, trying again in {delay:.0f} s")

    def wait(self, timeout: float | None = None, should_cancel: Callable[[], bool] | None = None) -> str:
        """Wait ``timeout`` seconds (default: the delay the last poll chose) or until a NOTIFY,
        ``wake()`` or cancellation; returns "timer", "notify", "wake" or "cancel"."""
        timeout = self.delay if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if self._ensure_listener():
            return "wake"  # LISTEN is back: notifications sent while it was down are lost, so look now
        while True:
            if self._cancelled.is_set() or (should_cancel is not None and should_cancel()):
                return "cancel"
            if self._wake.is_set():
                self._wake.clear()
                return "wake" if not self._cancelled.is_set() else "cancel"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timer"
            step = min(left, SLICE_S)
            if self.listening:
                try:
                    if self.waiter.wait(step):
                        self.notified += 1
                        return "notify"
                except Exception as e:  # noqa: BLE001 - the connection dropped: report, poll, reconnect
                    self._listen_failed(e, "lost the LISTEN connection")
            else:
                self._wake.wait(step)
                if self._ensure_listener():
                    return "wake"

    def follow(self, should_cancel: Callable[[], bool] | None = None, idle: bool = False) -> Iterator[TailUpdate]:
        """Poll, wait, poll… until cancelled (``cancel()`` or ``should_cancel``), yielding each
        update that found something (every one with ``idle``). Closes the LISTEN connection when
        it ends, however it ends."""
        woken = "start"
        try:
            self._ensure_listener()  # LISTEN before the first look at the head: no NOTIFY falls in between
            while not (self._cancelled.is_set() or (should_cancel is not None and should_cancel())):
                update = self.poll(woken)
                if idle or not update.idle or woken == "start":
                    yield update
                woken = self.wait(None, should_cancel)
                if woken == "cancel":
                    return
        finally:
            self.close()

    def close(self) -> None:
        if self.waiter is not None:
            self.waiter.close()

    def __enter__(self) -> "Tail":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["Backoff", "NotifyWaiter", "Tail", "TailUpdate", "count_between", "notify_channels"]
