"""Checkpoints: every way of choosing one resolves to the right position on real stores (SQLite,
PostgreSQL, MariaDB; and a store written by the eventsourcing library, which keeps no time the
database can read), and the checkpoint book persists, refuses duplicates, survives reopening and
reports a corrupt file without touching it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from inspector.core import ownstore
from inspector.core.checkpoints import (BeyondHead, Checkpoint, CheckpointBook, CheckpointBookError, EmptyCorrelation,
                                        ReplayError, StoreIdentity, UnknownEvent, book_path, make_checkpoint,
                                        position_at_time, resolve)
from inspector.core.errors import InspectorError
from inspector.core.ownstore import NewCommand, NewEvent
from inspector.core.session import open_store
from tests.conftest import new_database

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
CORR_A, CORR_B = str(uuid.uuid4()), str(uuid.uuid4())


def sample_events() -> list[NewEvent]:
    """Twelve events over three streams, one a minute (two share a minute), with a correlation
    run by an agent in the middle and one of a person at the end; causes chain inside each run."""
    rows = [
        ("product-1", "ProductAdded", {"price": 10.0}, 0, "user:carol", None),
        ("product-2", "ProductAdded", {"price": 20.0}, 1, "user:carol", None),
        ("order-1", "OrderPlaced", {"total": 10.0}, 2, "customer:1", None),
        ("product-1", "PriceChanged", {"price": 1.0}, 3, "agent:bot", CORR_A),
        ("product-2", "PriceChanged", {"price": 2.0}, 3, "agent:bot", CORR_A),
        ("order-2", "OrderPlaced", {"total": 1.0}, 4, "customer:2", CORR_A),
        ("order-2", "OrderFlagged", {"rule": "cheap"}, 5, "agent:watch", CORR_A),
        ("order-1", "OrderPaid", {}, 6, "agent:psp", None),
        ("product-1", "PriceChanged", {"price": 10.0}, 7, "user:alice", CORR_B),
        ("product-2", "PriceChanged", {"price": 20.0}, 8, "user:alice", CORR_B),
        ("order-3", "OrderPlaced", {"total": 30.0}, 9, "customer:1", None),
        ("order-2", "OrderCancelled", {}, 10, "user:alice", CORR_B),
    ]
    out, versions, last_in = [], {}, {}
    for stream, etype, data, minute, actor, corr in rows:
        versions[stream] = versions.get(stream, 0) + 1
        eid = str(uuid.uuid4())
        cause = last_in.get(corr) if corr else None
        last_in[corr] = eid
        out.append(NewEvent(eid, stream, versions[stream], etype, T0 + dt.timedelta(minutes=minute), data,
                            {"n": len(out) + 1}, cause, corr, actor))
    return out


def sample_commands() -> list[NewCommand]:
    return [NewCommand(str(uuid.uuid4()), "BulkReprice", "agent:bot", T0 + dt.timedelta(minutes=3), {"x": 1}, CORR_A),
            NewCommand(str(uuid.uuid4()), "RestorePrices", "user:alice", T0 + dt.timedelta(minutes=7), {}, CORR_B)]


def write_store(url: str, events: list[NewEvent], commands: list[NewCommand] = ()) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            ownstore.create_schema(conn)
            ownstore.append_events(conn, events)
            if commands:
                ownstore.append_commands(conn, commands)
    finally:
        engine.dispose()


def open_own(url: str, plugin_manager):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs(), layout="inspector")


@pytest.fixture
def sample(db_url, plugin_manager):
    events = sample_events()
    write_store(db_url, events, sample_commands())
    opened = open_own(db_url, plugin_manager)
    yield opened, events
    opened.store.close()


def test_each_way_of_choosing_resolves_on_a_real_store(sample):
    opened, events = sample
    store = opened.store
    pos = {e.event_id: p.position for e, p in zip(events, store.iter_events())}
    positions = [p.position for p in store.iter_events()]
    head = positions[-1]
    assert resolve(store, {"at": positions[5]}) == positions[5]
    assert resolve(store, {"at": head}) == head
    # by time: the last position recorded at or before the time, an event exactly at it included
    at = lambda minute, **kw: (T0 + dt.timedelta(minutes=minute, **kw)).isoformat()  # noqa: E731
    assert resolve(store, {"at_time": at(3)}) == positions[4]  # two events share minute 3
    assert resolve(store, {"at_time": at(3, microseconds=-1)}) == positions[2]
    assert resolve(store, {"at_time": at(2, seconds=30)}) == positions[2]
    assert resolve(store, {"at_time": at(-5)}) == positions[0] - 1
    assert resolve(store, {"at_time": at(60)}) == head
    assert resolve(store, {"at_time": "2026-10-20T11:03:00+02:00"}) == positions[4]  # offsets are honoured
    # just before an event, a correlation, an actor's run
    assert resolve(store, {"before_event": events[6].event_id}) == pos[events[6].event_id] - 1
    assert resolve(store, {"before_correlation": CORR_A}) == positions[3] - 1
    assert resolve(store, {"before_correlation": CORR_B}) == positions[8] - 1
    assert resolve(store, {"before_actor": "user:alice"}) == positions[8] - 1
    assert resolve(store, {"before_actor": "customer:1", "since": at(3)}) == positions[10] - 1
    assert resolve(store, {"before_actor": "customer:1", "since": at(2)}) == positions[2] - 1


def test_checkpoints_are_made_with_their_spec_and_target(sample):
    opened, events = sample
    cp = make_checkpoint(opened.store, "before the bot", {"before_correlation": CORR_A}, note="bad reprice")
    assert (cp.name, cp.note, cp.spec) == ("before the bot", "bad reprice", {"before_correlation": CORR_A})
    assert cp.target == {"correlation_ids": [CORR_A]}
    assert cp.created_at.tzinfo is not None
    assert Checkpoint.from_json(json.loads(json.dumps(cp.to_json()))) == cp
    actor = make_checkpoint(opened.store, "alice", {"before_actor": "user:alice", "since": "2026-10-20"})
    assert actor.spec == {"before_actor": "user:alice", "since": "2026-10-20T00:00:00+00:00"}
    assert actor.target == {"actor": "user:alice", "since": "2026-10-20T00:00:00+00:00"}
    assert make_checkpoint(opened.store, "p", {"at": 3}).target is None


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_clear_errors(sample):
    opened, events = sample
    store = opened.store
    head = store.head()
    with pytest.raises(BeyondHead) as e:
        resolve(store, {"at": head + 1})
    assert f"#{head}" in _one_line(e)
    with pytest.raises(UnknownEvent) as e:
        resolve(store, {"before_event": str(uuid.uuid4())})
    assert "no event with id" in _one_line(e)
    with pytest.raises(UnknownEvent):
        resolve(store, {"before_event": "not-a-uuid"})
    with pytest.raises(EmptyCorrelation) as e:
        resolve(store, {"before_correlation": str(uuid.uuid4())})
    assert "correlation" in _one_line(e)
    with pytest.raises(EmptyCorrelation):
        resolve(store, {"before_actor": "user:alice", "since": (T0 + dt.timedelta(hours=1)).isoformat()})
    with pytest.raises(ReplayError) as e:
        resolve(store, {"at": 1, "at_time": T0.isoformat()})
    _one_line(e)
    with pytest.raises(ReplayError):
        resolve(store, {"at_time": "yesterday"})
    with pytest.raises(ReplayError):
        make_checkpoint(store, "  ", {"at": 1})
    assert all(issubclass(c, InspectorError) for c in (BeyondHead, UnknownEvent, EmptyCorrelation, CheckpointBookError))


def test_a_store_without_sql_time_refuses_a_time_checkpoint(tmp_path, plugin_manager):
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Dog(Aggregate):
        @event("Registered")
        def __init__(self, name: str):
            self.name = name

    url, _ = new_database("sqlite", tmp_path)
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": make_url(url).database})
    app.save(Dog("Rex"))
    o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        assert o.layout.name == "eventsourcing"
        with pytest.raises(ReplayError) as e:
            position_at_time(o.store, T0)
        assert "by time" in _one_line(e) and "eventsourcing" in str(e.value)
        assert resolve(o.store, {"at": 1}) == 1
    finally:
        o.store.close()
        app.close()


# -- the book ----------------------------------------------------------------------------------------


def test_the_book_persists_rejects_duplicates_and_survives_reopening(sample, data_dir):
    opened, events = sample
    book = CheckpointBook.for_store(opened)
    assert book.path.parent == data_dir / "checkpoints" and book.list() == []
    late = book.add(make_checkpoint(opened.store, "late", {"at": opened.store.head()}))
    early = book.add(make_checkpoint(opened.store, "early", {"before_correlation": CORR_A}, "the bot"))
    with pytest.raises(CheckpointBookError) as e:
        book.add(make_checkpoint(opened.store, "early", {"at": 1}))
    assert "exists already" in _one_line(e)
    again = CheckpointBook.for_store(opened)  # a new instance reads the file
    assert again.list() == [early, late]  # by position
    assert again.get("early") == early
    moved = again.add(make_checkpoint(opened.store, "early", {"at": 1}), replace=True)
    assert CheckpointBook.for_store(opened).get("early") == moved
    assert CheckpointBook.for_store(opened).remove("late") == late
    assert [c.name for c in CheckpointBook.for_store(opened).list()] == ["early"]
    with pytest.raises(CheckpointBookError):
        book.get("late")
    with pytest.raises(CheckpointBookError):
        book.remove("late")
    doc = json.loads(book.path.read_text())
    assert doc["format"] == "inspector.checkpoints/1" and doc["store"] == StoreIdentity.of(opened).to_json()
    assert list(doc["checkpoints"][0]) == ["name", "position", "note", "created_at", "spec"]
    assert not list(book.path.parent.glob("*.tmp"))  # no temporary files left


def test_a_corrupt_book_is_reported_and_left_alone(sample, data_dir):
    opened, _ = sample
    book = CheckpointBook.for_store(opened)
    book.add(make_checkpoint(opened.store, "one", {"at": 1}))
    for bad in ('{"format": "inspector.checkpoints/1", "checkpoints": [', '[1, 2]', '{"format": "other"}',
                json.dumps({"format": "inspector.checkpoints/1", "store": {"url": "sqlite:///x", "layout": "inspector",
                                                                            "table": "t"}, "checkpoints": []})):
        book.path.write_text(bad)
        for action in (book.list, lambda: book.add(make_checkpoint(opened.store, "two", {"at": 2})),
                       lambda: book.remove("one")):
            with pytest.raises(CheckpointBookError) as e:
                action()
            assert str(book.path) in _one_line(e) and "left as it is" in str(e.value)
            assert book.path.read_text() == bad


def test_the_store_identity_has_no_password_and_tells_tables_apart():
    a = StoreIdentity("postgresql+psycopg://me@db/shop", "inspector", "inspector_events")

    class Fake:
        def __init__(self, name, table):
            from inspector.core.layout import Layout

            self.name = name
            self.layout = Layout.of("inspector", "t", table, {"position": "position"})
            self.engine = None

    assert StoreIdentity.of(Fake("postgresql+psycopg://me:secret@db/shop", "inspector_events")) == a
    assert StoreIdentity.of(Fake("postgresql+psycopg://me:***@db/shop", "inspector_events")) == a
    assert "secret" not in str(book_path(a)) and "***" not in a.url
    other = StoreIdentity.of(Fake("postgresql+psycopg://me@db/shop", "east.inspector_events"))
    assert book_path(other) != book_path(a)
