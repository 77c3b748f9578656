"""Live tail (``core.tail``): events appended by another process are picked up on the next poll
(SQLite and PostgreSQL); on PostgreSQL a NOTIFY from the eventsourcing library's own recorder wakes
the waiter before the poll timer would (polls are counted, never seconds); the idle backoff grows
and resets; a dropped LISTEN connection and a store that refuses connections for a while are
reported and recovered from; ``inspector tail`` prints new events and ends cleanly on Ctrl+C."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from inspector.core import ownstore
from inspector.core.model import EventFilter
from inspector.core.ownstore import NewEvent
from inspector.core.session import open_store
from inspector.core.tail import Backoff, Tail, count_between, notify_channels
from tests.conftest import new_database

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
WAIT_S = 30  # a guard against hanging, never asserted on
FAST = Backoff(0.02, 0.1, jitter=0)
NEVER = Backoff(600.0, 600.0, jitter=0)  # the timer alone would not poll again within the test

# -- writers in another process -------------------------------------------------------------------

APPEND = r"""
import datetime as dt, json, sys, uuid
import sqlalchemy as sa
from inspector.core import ownstore
url, stream, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = sa.create_engine(url)
t = ownstore.events_table
with engine.begin() as c:
    v = c.execute(sa.select(sa.func.max(t.c.version)).where(t.c.stream == stream)).scalar() or 0
    new = [ownstore.NewEvent(str(uuid.uuid4()), stream, v + i + 1, "Appended", dt.datetime.now(dt.timezone.utc),
                             {"i": i}, actor="agent:writer") for i in range(n)]
    ownstore.append_events(c, new)
engine.dispose()
print(json.dumps([e.event_id for e in new]))
"""

ES_APP = r"""
import json, os, sys
os.environ.update(json.loads(sys.argv[1]))
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

class Ticket(Aggregate):
    @event("Opened")
    def __init__(self, title):
        self.title = title

class Desk(Application):
    pass

app = Desk()
ids = []
for i in range(int(sys.argv[2])):
    t = Ticket(f"ticket {i}")
    app.save(t)  # the recorder: LOCK TABLE, NOTIFY desk_events, INSERT, in one transaction
    ids.append(str(t.id))
app.close()
print(json.dumps(ids))
"""


def _run(code: str, *args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True, text=True,
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def append_elsewhere(url: str, n: int, stream: str = "order-9") -> list[str]:
    """Append ``n`` events to the inspector layout from another process; their event ids."""
    return _run(APPEND, url, stream, str(n))


def es_env(url: str) -> dict[str, str]:
    u = make_url(url)
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": u.database,
            "POSTGRES_HOST": u.host, "POSTGRES_PORT": str(u.port or 5432), "POSTGRES_USER": u.username,
            "POSTGRES_PASSWORD": u.password or ""}


def es_save_elsewhere(url: str, n: int) -> list[str]:
    """Save ``n`` new aggregates with the real eventsourcing library in another process."""
    return _run(ES_APP, json.dumps(es_env(url)), str(n))


# -- stores ---------------------------------------------------------------------------------------


def write_own(url: str, n: int = 5) -> None:
    engine = sa.create_engine(url)
    t0 = dt.datetime(2026, 10, 1, tzinfo=UTC)
    with engine.begin() as c:
        ownstore.create_schema(c)
        ownstore.append_events(c, [NewEvent(str(uuid.uuid4()), f"order-{i % 2}", i // 2 + 1, "OrderPlaced",
                                            t0 + dt.timedelta(minutes=i), {"n": i}) for i in range(n)])
    engine.dispose()


@pytest.fixture(params=("sqlite", "postgresql"))
def own_url(request, tmp_path):
    url, drop = new_database(request.param, tmp_path)
    write_own(url)
    yield url
    drop()


@pytest.fixture
def es_url(pg_url):
    es_save_elsewhere(pg_url, 2)  # the library creates its tables
    return pg_url


def opened(url: str, plugin_manager, layout: str | None = None):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs(), layout=layout)


def follow_in_thread(tail: Tail) -> tuple[queue.Queue, threading.Thread]:
    q: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            for u in tail.follow(idle=True):
                q.put(u)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            q.put(e)
        q.put(None)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return q, th


def next_update(q: queue.Queue, pred=lambda u: True):
    while True:
        u = q.get(timeout=WAIT_S)
        if isinstance(u, BaseException):
            raise u
        assert u is not None, "the tail stopped"
        if pred(u):
            return u


# -- backoff ---------------------------------------------------------------------------------------


def test_backoff_policy():
    b = Backoff()
    assert [b.base(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    rng = random.Random(3)
    for n in range(10):
        d = b.delay(n, rng)
        assert b.base(n) * 0.9 <= d <= b.base(n)  # jitter only shortens, by at most 10 %
    assert Backoff(jitter=0).delay(2, rng) == 2


def test_backoff_grows_while_idle_and_resets_on_activity(sqlite_url, plugin_manager):
    write_own(sqlite_url)
    o = opened(sqlite_url, plugin_manager)
    try:
        tail = Tail(o.store, backoff=Backoff(0.5, 30, jitter=0))
        delays = [tail.poll("start").delay] + [tail.poll().delay for _ in range(8)]
        assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
        append_elsewhere(sqlite_url, 1)
        u = tail.poll()
        assert u.count == 1 and u.delay == 0.5 and tail.idle_polls == 0
        assert [tail.poll().delay for _ in range(3)] == [0.5, 1, 2]
    finally:
        o.store.close()


# -- picking up another process's events ------------------------------------------------------------


def test_next_poll_picks_up_events_appended_by_another_process(own_url, plugin_manager):
    o = opened(own_url, plugin_manager)
    try:
        tail = Tail(o.store)
        start = tail.poll("start")
        assert start.head == 5 and start.position == 5 and not start.events
        assert tail.poll().idle
        ids = append_elsewhere(own_url, 3)
        u = tail.poll()
        assert [e.event_id for e in u.events] == ids
        assert [e.position for e in u.events] == [6, 7, 8] and u.head == 8 and u.position == 8
        assert u.after == 5 and u.head_changed and not u.pending and u.count == 3
        assert tail.poll().idle
        assert count_between(o.store, 5, 8) == 3 and count_between(o.store, 8, 8) == 0
    finally:
        o.store.close()


def test_follow_picks_up_events_within_a_poll(own_url, plugin_manager):
    o = opened(own_url, plugin_manager)
    tail = Tail(o.store, backoff=FAST)
    q, th = follow_in_thread(tail)
    try:
        assert next_update(q).woken_by == "start"
        ids = append_elsewhere(own_url, 4)
        polls_begun = tail.polls  # the poll under way now may have looked before the commit; the next cannot
        got: list = []
        while len(got) < 4:
            u = next_update(q, lambda u: u.events)
            got += u.events
        assert [e.event_id for e in got] == ids
        assert u.poll <= polls_begun + 1
    finally:
        tail.cancel()
        th.join(WAIT_S)
        o.store.close()
    assert not th.is_alive()


def test_filter_batches_and_counts(own_url, plugin_manager):
    o = opened(own_url, plugin_manager)
    try:
        tail = Tail(o.store, EventFilter(stream="order-7"), batch=2)
        tail.poll("start")
        append_elsewhere(own_url, 2, "order-8")
        ids = append_elsewhere(own_url, 5, "order-7")
        first = tail.poll()
        assert first.pending and first.delay == 0 and [e.event_id for e in first.events] == ids[:2]
        second = tail.poll()
        assert second.pending and [e.event_id for e in second.events] == ids[2:4]
        third = tail.poll()
        assert not third.pending and [e.event_id for e in third.events] == ids[4:] and third.position == 12

        counter = Tail(o.store, EventFilter(stream="order-8"), start=5, read_events=False)
        u = counter.poll("start")
        assert u.count == 2 and u.events == () and u.position == 12  # counted, not read
    finally:
        o.store.close()


def test_start_position_replays_then_follows(own_url, plugin_manager):
    o = opened(own_url, plugin_manager)
    try:
        tail = Tail(o.store, EventFilter(after=2))
        u = tail.poll("start")
        assert u.after == 2 and [e.position for e in u.events] == [3, 4, 5]
    finally:
        o.store.close()


def test_cancel_ends_a_long_wait(sqlite_url, plugin_manager):
    write_own(sqlite_url)
    o = opened(sqlite_url, plugin_manager)
    tail = Tail(o.store, backoff=NEVER)
    q, th = follow_in_thread(tail)
    try:
        next_update(q)
        tail.cancel()
        th.join(WAIT_S)
        assert not th.is_alive()
        assert q.get(timeout=1) is None
    finally:
        o.store.close()


def test_sqlite_and_inspector_layout_do_not_listen(own_url, plugin_manager):
    o = opened(own_url, plugin_manager)
    try:
        assert notify_channels(o.store) == ()
        assert not Tail(o.store).listen
        assert not Tail(o.store, channels=["x"]).listen or o.store.dialect.name == "postgresql"
    finally:
        o.store.close()


# -- PostgreSQL LISTEN/NOTIFY -------------------------------------------------------------------------


def test_eventsourcing_notify_wakes_the_waiter_before_the_timer(es_url, plugin_manager):
    o = opened(es_url, plugin_manager)
    assert o.layout.name == "eventsourcing"
    assert notify_channels(o.store) == ("desk_events",)
    tail = Tail(o.store, backoff=NEVER)
    assert tail.listen
    q, th = follow_in_thread(tail)
    try:
        start = next_update(q)
        assert start.woken_by == "start" and start.head == 2
        ids = es_save_elsewhere(es_url, 3)  # three transactions, three NOTIFYs
        got: list = []
        while len(got) < 3:
            u = next_update(q, lambda u: u.events)
            assert u.woken_by == "notify"
            got += u.events
        assert [e.stream for e in got] == ids
        assert [e.position for e in got] == [3, 4, 5]
        # only NOTIFYs woke it: the timer never ran out (each poll was preceded by a notification)
        assert tail.polls == 1 + tail.notified
    finally:
        tail.cancel()
        th.join(WAIT_S)
        o.store.close()
    assert not tail.listening  # the LISTEN connection is closed with the tail


def test_dropped_listen_connection_is_reported_and_recovered(es_url, plugin_manager):
    o = opened(es_url, plugin_manager)
    tail = Tail(o.store, backoff=NEVER, error_backoff=Backoff(0.05, 0.2, jitter=0))
    q, th = follow_in_thread(tail)
    admin = sa.create_engine(es_url, isolation_level="AUTOCOMMIT")
    try:
        next_update(q)
        pid = tail.waiter.backend_pid
        with admin.connect() as c:
            assert c.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        u = next_update(q, lambda u: u.notice)
        notices = [u.notice]
        while "is back" not in notices[-1]:
            notices.append(next_update(q, lambda u: u.notice).notice)
        text = " | ".join(notices)
        assert "lost the LISTEN connection on desk_events" in text and "is back" in text
        assert tail.listening and tail.waiter.backend_pid != pid
        ids = es_save_elsewhere(es_url, 1)
        u = next_update(q, lambda u: u.events)
        assert u.woken_by == "notify" and [e.stream for e in u.events] == ids
    finally:
        tail.cancel()
        th.join(WAIT_S)
        admin.dispose()
        o.store.close()


def test_store_refusing_connections_is_reported_and_recovered(pg_url, plugin_manager):
    write_own(pg_url)
    o = opened(pg_url, plugin_manager)
    name = make_url(pg_url).database
    admin = sa.create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        tail = Tail(o.store, backoff=FAST, error_backoff=Backoff(0.5, 2.0, jitter=0))
        tail.poll("start")
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name})
        failed = [tail.poll(), tail.poll()]
        assert all(u.error for u in failed) and [u.delay for u in failed] == [0.5, 1.0]
        assert tail.head == 5  # what was known is kept
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        ids = append_elsewhere(pg_url, 2)
        u = tail.poll()
        assert u.error is None and "after 2 failed polls" in u.notice
        assert [e.event_id for e in u.events] == ids
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        o.store.close()


# -- the command line ---------------------------------------------------------------------------------


def _sigint_as_in_a_terminal() -> None:
    """In the child before exec: Ctrl+C's default handling. A test run started in the background
    of a shell (``pytest &``) ignores SIGINT, every child inherits that, and Python then installs
    no KeyboardInterrupt handler, as for any background job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args: str, env_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, INSPECTOR_DATA_DIR=str(env_dir), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "inspector.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_sigint_as_in_a_terminal)


def test_cli_tail_prints_new_events_as_jsonl(own_url, tmp_path):
    p = _cli("tail", own_url, "--format", "jsonl", "--limit", "3", "--interval", "0.05", "--max-interval", "0.2",
             env_dir=tmp_path)
    try:
        first = p.stderr.readline()
        assert "following" in first and "after #5" in first
        ids = append_elsewhere(own_url, 3)
        out, err = p.communicate(timeout=WAIT_S)
    finally:
        p.kill()
    assert p.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["event_id"] for r in rows] == ids and [r["position"] for r in rows] == [6, 7, 8]


def test_cli_tail_ends_cleanly_on_ctrl_c(sqlite_url, tmp_path):
    write_own(sqlite_url)
    p = _cli("tail", sqlite_url, env_dir=tmp_path)
    try:
        assert "Ctrl+C stops" in p.stderr.readline()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=WAIT_S)
    finally:
        p.kill()
    assert p.returncode == 0
    assert "stopped (0 new events)" in err and "Traceback" not in err and out == ""
