"""History: a projection folded once into versioned columns. Property tests against a naive full
replay written here with plain dicts, over random stores written with ``ownstore`` into real
SQLite and PostgreSQL databases; and the ``streams`` row of stores written by the eventsourcing
library against what the library itself reconstructs."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from inspector.core import ownstore
from inspector.core.errors import InspectorError
from inspector.core.history import CURRENT, BuildCancelled, History, build_history, iter_build
from inspector.core.ownstore import NewEvent
from inspector.core.projection import Projection
from inspector.core.session import open_store
from inspector.plugins.builtin.projections import STREAMS
from tests.conftest import new_database

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
STREAM_NAMES = ("acct-1", "acct-2", "user-1", "user-2", "solo")
TYPES = ("Opened", "Changed", "Touched", "Closed", "Noise")
FIELDS = ("a", "b", "at", "key", "count")


# -- the projection under test, and the naive replay it is checked against ----------------------


def _key(e):
    return None if e.type == "Noise" else e.stream


def _with_payload(state, e):
    """A copy of ``state`` with the payload's fields set (None: removed)."""
    new = dict(state)
    for f, v in (e.data or {}).items():
        if v is None:
            new.pop(f, None)
        else:
            new[f] = v
    return new


def _apply(state, e):
    """Deletes (Closed), leaves rows unchanged (Touched), removes fields (None in the payload),
    and mixes kinds: payload values are ints, floats, bools, strings; ``at`` is also a time."""
    if e.type == "Closed":
        return None
    if e.type == "Touched":
        return dict(state)
    new = _with_payload(state, e)
    new["events"] = state.get("events", 0) + 1
    new["last"] = e.type
    new.setdefault("at", e.recorded_at)
    return new


PLAIN = Projection("test", "Test", _key, _apply)
TYPED = Projection("typed", "Typed", _key, _apply, types=("Opened", "Changed", "Closed", "Touched"))


def replay(events, projection: Projection, upto: int | None = None, until: dt.datetime | None = None) -> dict:
    """Fold ``projection`` over the events (position <= upto, recorded_at <= until) with plain
    dicts: key -> {field: value}, None-valued fields dropped."""
    states: dict[str, dict] = {}
    for e in events:
        if (upto is not None and e.position > upto) or (until is not None and e.recorded_at > until):
            continue
        if projection.types and e.type not in projection.types:
            continue
        k = projection.key(e)
        if k is None:
            continue
        new = projection.apply(dict(states[k]) if k in states else projection.initial(), e)
        if new is None:
            states.pop(k, None)
        else:
            states[k] = {f: v for f, v in new.items() if v is not None}
    return states


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _na(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def same(a: Any, b: Any) -> bool:
    """Equal as a History compares values: ints and floats are numbers, other kinds by type."""
    a, b = _plain(a), _plain(b)
    if _na(a) or _na(b):
        return _na(a) and _na(b)
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b
    if type(a) in (int, float) and type(b) in (int, float):
        return a == b
    return type(a) is type(b) and a == b


def rows(df: pd.DataFrame) -> dict[str, dict]:
    out = {}
    for rec in df.to_dict("records"):
        k = str(rec.pop("key"))
        out[k] = {("key" if f == "key_" else f): _plain(v) for f, v in rec.items() if not _na(v)}
    return out


def assert_states(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for k, row in expected.items():
        got = actual[k]
        assert sorted(got) == sorted(row), k
        bad = {f: (got[f], v) for f, v in row.items() if not same(got[f], v)}
        assert not bad, (k, bad)


def assert_diff(h: History, events, projection: Projection, p1: int, p2: int) -> None:
    d = h.diff(p1, p2)
    s1, s2 = replay(events, projection, p1), replay(events, projection, p2)
    assert list(d.added["key"]) == sorted(s2.keys() - s1.keys())
    assert list(d.removed["key"]) == sorted(s1.keys() - s2.keys())
    assert_states(rows(d.added), {k: s2[k] for k in s2.keys() - s1.keys()})
    assert_states(rows(d.removed), {k: s1[k] for k in s1.keys() - s2.keys()})
    expected = {}
    for k in s1.keys() & s2.keys():
        for f in s1[k].keys() | s2[k].keys():
            old, new = s1[k].get(f), s2[k].get(f)
            if not same(old, new):
                expected[(k, f)] = (old, new)
    got = {(r["key"], "key" if r["field"] == "key_" else r["field"]): (r["old"], r["new"])
           for r in d.changed.to_dict("records")}
    assert sorted(got) == sorted(expected)
    for cell, (old, new) in expected.items():
        assert same(got[cell][0], old) and same(got[cell][1], new), (cell, got[cell], (old, new))
    # sorted by key, then by column order
    keys = list(d.changed["key"])
    assert keys == sorted(keys)


def force(h: History, form: str | None) -> None:
    """Keep every column of ``h`` in one form (normally each takes the smallest), so that each
    form meets the same checks."""
    if form is not None:
        for col in h._cols.values():
            col.store(h._vkey, len(h._keys), *col.entries(h._vkey), form=form)
            assert col.form == form


# -- random stores --------------------------------------------------------------------------------

values = st.one_of(st.none(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False, width=32), st.booleans(),
                   st.sampled_from(["x", "y", ""]), st.just(2**60 + 1))
payloads = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)
ids = st.one_of(st.none(), st.builds(lambda: str(uuid.uuid4())), st.sampled_from(["corr-a", "corr-b"]))
raw_events = st.lists(st.tuples(st.sampled_from(STREAM_NAMES), st.sampled_from(TYPES), payloads,
                                st.integers(0, 2), st.sampled_from([None, "user:a", "agent:b"]), ids), max_size=30)


def new_events(spec, start: dt.datetime, version: dict[str, int]) -> list[NewEvent]:
    out, t = [], start
    for stream, etype, data, step, actor, corr in spec:
        t += dt.timedelta(seconds=step)  # times rise with position, ties included
        version[stream] = version.get(stream, 0) + 1
        out.append(NewEvent(str(uuid.uuid4()), stream, version[stream], etype, t, data, None, corr, corr, actor))
    return out


class Store:
    """A real database the examples rewrite: ``reset`` empties it, ``write`` appends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.version: dict[str, int] = {}
        self.last = T0

    def reset(self) -> None:
        ownstore.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            ownstore.create_schema(conn)
        self.version, self.last = {}, T0

    def write(self, spec) -> None:
        events = new_events(spec, self.last, self.version)
        with self.engine.begin() as conn:
            ownstore.append_events(conn, events)
        if events:
            self.last = events[-1].recorded_at

    def open(self, plugin_manager):
        definitions, codecs = plugin_manager.layout_definitions(), plugin_manager.codecs()
        return open_store(self.url, definitions, codecs, layout="inspector").store


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url, drop = new_database(request.param, tmp_path)
    s = Store(url)
    yield s
    s.engine.dispose()
    drop()


FORMS = st.sampled_from([None, "sparse", "keyed", "dense"])
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(spec=raw_events, typed=st.booleans(), page=st.integers(1, 7), form=FORMS, data=st.data())
def test_as_of_diff_and_changes_equal_a_naive_replay(db, plugin_manager, spec, typed, page, form, data):
    db.reset()
    db.write(spec)
    store = db.open(plugin_manager)
    try:
        projection = TYPED if typed else PLAIN
        h = build_history(store, projection, page_size=page)
        events = list(store.iter_events())
    finally:
        store.close()
    force(h, form)
    positions = [e.position for e in events]
    assert h.head == (positions[-1] if positions else None)
    probes = sorted(set(positions) | {0, (positions[-1] + 5) if positions else 1})
    for p in data.draw(st.lists(st.sampled_from(probes), max_size=8)) + probes[:1] + probes[-1:]:
        assert_states(rows(h.as_of(p)), replay(events, projection, p))
        df = h.as_of(p)
        assert list(df["key"]) == sorted(df["key"])
    assert_states(rows(h.as_of()), replay(events, projection))
    for _ in range(4):
        p1, p2 = data.draw(st.sampled_from(probes)), data.draw(st.sampled_from(probes))
        assert_diff(h, events, projection, p1, p2)
    # changes(key), replayed cell by cell, give the row after every change
    for key in sorted(replay(events, projection).keys() | {e.stream for e in events})[:3]:
        ch = h.changes(key)
        state: dict[str, Any] = {}
        for p, group in ch.groupby("position", sort=True):
            for r in group.to_dict("records"):
                f = "key" if r["field"] == "key_" else r["field"]
                assert same(state.get(f), r["old"]), (key, p, f)
                if _na(r["new"]):
                    state.pop(f, None)
                else:
                    state[f] = _plain(r["new"])
            assert_states({key: state}, {key: replay(events, projection, p).get(key, {})})
        if len(ch):
            by_pos = {e.position: e for e in events}
            for r in ch.to_dict("records"):
                e = by_pos[r["position"]]
                assert (r["type"], r["actor"], r["correlation_id"], r["event_id"]) == (
                    e.type, e.actor, e.correlation_id, e.event_id)


BIG = [("acct-1", "Opened", {"a": 2**60 + 1}, 0, None, None)]  # an int a float column would change
POINT = [("acct-1", "Opened", {"a": 0.0}, 0, None, None)]


@PROPERTY
@given(first=raw_events, second=raw_events, typed=st.booleans(), form=FORMS)
@example(first=BIG, second=POINT, typed=False, form="keyed")
@example(first=BIG, second=POINT, typed=False, form="dense")
def test_extend_reads_only_new_events_and_equals_a_fresh_build(db, plugin_manager, first, second, typed, form):
    db.reset()
    db.write(first)
    projection = TYPED if typed else PLAIN
    store = db.open(plugin_manager)
    try:
        h = build_history(store, projection, page_size=4)
        force(h, form)  # extending starts from each form
        head = h.head
        db.write(second)
        reads: list[int] = []
        n = h.extend(store, page_size=4, progress=lambda done, to: reads.append(done))
        fresh = build_history(store, projection, page_size=4)
        events = list(store.iter_events())
    finally:
        store.close()
    after = [e for e in events if head is None or e.position > head]
    assert n == len([e for e in after if not projection.types or e.type in projection.types])
    assert all(head is None or p > head for p in reads)
    assert h.head == fresh.head == (events[-1].position if events else None)
    for p in [0] + [e.position for e in events]:
        assert_states(rows(h.as_of(p)), rows(fresh.as_of(p)))
        assert_states(rows(h.as_of(p)), replay(events, projection, p))
    if events:
        assert_diff(h, events, projection, 0, events[-1].position)
    for key in {e.stream for e in events}:
        a, b = h.changes(key), fresh.changes(key)
        assert list(a["position"]) == list(b["position"]) and list(a["field"]) == list(b["field"])
        assert all(same(x, y) for x, y in zip(a["new"], b["new"]))
        va, vb = h.versions(key), fresh.versions(key)
        assert list(va["valid_from"]) == list(vb["valid_from"]) and list(va["valid_to"]) == list(vb["valid_to"])


@PROPERTY
@given(spec=raw_events, data=st.data())
def test_as_of_a_time_is_the_replay_of_events_recorded_by_then(db, plugin_manager, spec, data):
    db.reset()
    db.write(spec)
    store = db.open(plugin_manager)
    try:
        h = build_history(store, PLAIN)
        events = list(store.iter_events())
    finally:
        store.close()
    times = sorted({e.recorded_at for e in events}) or [T0]
    us = dt.timedelta(microseconds=1)
    for t in data.draw(st.lists(st.sampled_from(times), min_size=1, max_size=5)):
        for probe in (t - us, t, t + us):
            assert_states(rows(h.as_of(time=probe)), replay(events, PLAIN, until=probe))
    assert_states(rows(h.as_of(time=times[0] - dt.timedelta(days=1))), {})
    assert_states(rows(h.as_of(time=times[-1] + dt.timedelta(days=1))), replay(events, PLAIN))


# -- beyond the properties -------------------------------------------------------------------------


def test_the_versioned_table(sqlite_url, plugin_manager):
    s = Store(sqlite_url)
    s.reset()
    s.write([("acct-1", "Opened", {"a": 1}, 1, "user:a", None), ("acct-2", "Opened", {"a": "x"}, 1, None, None),
             ("acct-1", "Changed", {"a": 2, "b": True}, 1, None, None), ("acct-1", "Closed", {}, 1, None, None),
             ("acct-1", "Opened", {"b": False}, 1, None, None)])
    store = s.open(plugin_manager)
    h = build_history(store, PLAIN)
    store.close()
    v = h.versions()
    assert list(v["key"]) == ["acct-1"] * 4 + ["acct-2"]
    assert list(v["valid_from"]) == [1, 3, 4, 5, 2]
    assert list(v["valid_to"]) == [3, 4, 5, CURRENT, CURRENT]
    assert list(v["deleted"]) == [False, False, True, False, False]
    assert [_plain(x) if not _na(x) else None for x in v["b"]] == [None, True, None, False, None]
    assert list(v["a"]) == [1, 2, None, None, "x"]  # ints and a string: an object column
    assert h.as_of(3).set_index("key").loc["acct-1", "b"]
    assert "acct-1" not in set(h.as_of(4)["key"])
    ch = h.changes("acct-1", "a")
    assert list(zip(ch["position"], ch["old"], ch["new"])) == [(1, None, 1), (3, 1, 2), (4, 2, None)]
    assert h.nbytes > 0 and h.head == 5
    positions, micros = h.change_points()
    assert list(positions) == [1, 2, 3, 4, 5] and not positions.flags.writeable
    epoch, us = dt.datetime(1970, 1, 1, tzinfo=UTC), dt.timedelta(microseconds=1)
    assert list(micros) == [(T0 + dt.timedelta(seconds=i) - epoch) // us for i in range(1, 6)]
    assert h.changes("no such key").empty and list(h.changes("no such key").columns)[-3:] == ["field", "old", "new"]


def test_times_out_of_order_end_the_run_at_the_first_late_one(sqlite_url, plugin_manager):
    """A change recorded before T but after (in position) one recorded later than T is not in the
    read model as of T: the model had not got past the later one yet."""
    s = Store(sqlite_url)
    s.reset()
    t = [T0, T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(minutes=5)]  # the third one commits late
    with s.engine.begin() as conn:
        ownstore.append_events(conn, [NewEvent(str(uuid.uuid4()), f"acct-{i}", 1, "Opened", t[i], {"a": i})
                                      for i in range(3)])
    store = s.open(plugin_manager)
    h = build_history(store, PLAIN)
    store.close()
    assert h.position_at(T0 + dt.timedelta(minutes=7)) == 1
    assert sorted(h.as_of(time=T0 + dt.timedelta(minutes=7))["key"]) == ["acct-0"]
    assert sorted(h.as_of(time=T0 + dt.timedelta(minutes=10))["key"]) == ["acct-0", "acct-1", "acct-2"]
    assert h.as_of(time=T0 - dt.timedelta(seconds=1)).empty
    with pytest.raises(ValueError):
        h.as_of(1, time=T0)


def test_times_in_diffs_and_change_logs_are_the_utc_instants_the_state_shows(sqlite_url, plugin_manager):
    """A diff's and a change log's old/new times are timezone-aware UTC datetimes, equal to the
    cells of the states on either side: a caller can compare them, and print them with their zone."""
    s = Store(sqlite_url)
    s.reset()
    with s.engine.begin() as conn:
        ownstore.append_events(conn, [NewEvent(str(uuid.uuid4()), "acct-1", v, "Changed", T0 + dt.timedelta(minutes=v),
                                               {"a": v}) for v in (1, 2, 3)])
    store = s.open(plugin_manager)
    h = build_history(store, STREAMS)
    store.close()
    d = h.diff(1, 3).changed.set_index("field")
    before, after = h.as_of(1).iloc[0], h.as_of(3).iloc[0]
    for cell, state in (("old", before), ("new", after)):
        t = d.loc["updated_at", cell]
        assert isinstance(t, dt.datetime) and t.utcoffset() == dt.timedelta(0)
        assert t == state["updated_at"]
    assert d.loc["updated_at", "new"] == T0 + dt.timedelta(minutes=3)
    log = h.changes("acct-1", "updated_at")
    assert list(log["new"]) == [T0 + dt.timedelta(minutes=v) for v in (1, 2, 3)]
    assert str(log["new"].iloc[0]).endswith("+00:00")


def test_cancelling_stops_a_build_and_leaves_an_extension_undone(sqlite_url, plugin_manager):
    s = Store(sqlite_url)
    s.reset()
    s.write([(f"acct-{i % 7}", "Changed", {"a": i}, 1, None, None) for i in range(50)])
    store = s.open(plugin_manager)
    pages: list[int] = []
    with pytest.raises(BuildCancelled):
        build_history(store, PLAIN, page_size=5, progress=lambda done, head: pages.append(done),
                      should_cancel=lambda: len(pages) >= 2)
    assert pages == [5, 10]  # stopped after two pages of ten

    gen = iter_build(store, PLAIN, page_size=5)  # a worker that stops iterating
    assert next(gen) == (5, 50)
    gen.close()

    h = build_history(store, PLAIN, page_size=5)
    before = rows(h.as_of())
    s.write([("acct-9", "Opened", {"a": "new"}, 1, None, None)] * 1)
    with pytest.raises(BuildCancelled):
        h.extend(store, page_size=5, should_cancel=lambda: True)
    assert h.head == 50 and rows(h.as_of()) == before
    running = h.iter_extend(store, page_size=5)  # one extension at a time
    next(running)
    with pytest.raises(InspectorError, match="being extended already"):
        h.extend(store)
    running.close()
    assert h.extend(store) == 1 and "acct-9" in rows(h.as_of())
    store.close()


def test_a_projection_that_changes_its_state_in_place_is_refused(sqlite_url, plugin_manager):
    def mutate(state, e):
        state["n"] = state.get("n", 0) + 1
        return state

    s = Store(sqlite_url)
    s.reset()
    s.write([("acct-1", "Changed", {}, 1, None, None)] * 2)
    store = s.open(plugin_manager)
    with pytest.raises(Exception, match="must return a new dict"):
        build_history(store, Projection("bad", "Bad", _key, mutate))
    store.close()


def test_types_are_pushed_down_to_sql(sqlite_url, plugin_manager):
    s = Store(sqlite_url)
    s.reset()
    s.write([("acct-1", t, {"a": 1}, 1, None, None) for t in ("Opened", "Noise", "Noise", "Changed", "Noise")])
    store = s.open(plugin_manager)
    h = build_history(store, TYPED)
    store.close()
    assert h.filter.types == TYPED.types and h.events_read == 2 and h.head == 5


# -- stores written by the eventsourcing library ---------------------------------------------------


class Member(Aggregate):
    @event("Joined")
    def __init__(self, name: str, tier: str, limit: int):
        self.name, self.tier, self.limit = name, tier, limit

    @event("Renamed")
    def rename(self, name: str) -> None:
        self.name = name

    @event("TierChanged")
    def change_tier(self, tier: str, limit: int) -> None:
        self.tier, self.limit = tier, limit


class Members(Application):
    snapshotting_intervals = {Member: 4}


def test_streams_rows_match_what_the_library_reconstructs(tmp_path, plugin_manager):
    url, _ = new_database("sqlite", tmp_path)
    app = Members(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": make_url(url).database})
    members = [Member(f"member {i}", "basic", 100 * i) for i in range(4)]
    for m in members:
        app.save(m)
    for i in range(40):  # saved one change at a time, so the aggregates interleave
        m = members[(i * 3) % 4]
        if i % 3:
            m.rename(f"name {i}")
        else:
            m.change_tier(("silver", "gold")[i % 2], 1000 + i)
        app.save(m)
    o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    assert o.layout.name == "eventsourcing"
    h = build_history(o.store, STREAMS, page_size=7)
    events = list(o.store.iter_events())
    o.store.close()
    assert len(events) == 44
    for e in events:
        row = h.as_of(e.position).set_index("key").loc[e.stream]
        agg = app.repository.get(UUID(e.stream), version=e.version)
        stored = app.recorder.select_events(UUID(e.stream), gt=e.version - 1, lte=e.version)
        assert row["version"] == agg.version == e.version
        assert row["last_type"] == stored[0].topic == e.type
        assert row["category"] == "Member"
        assert (row["name"], row["tier"], row["limit"]) == (agg.name, agg.tier, agg.limit)
        assert row["last_position"] == e.position
    app.close()


def _set_apply(state, e):
    """Sets the payload's fields (None removes one) and ``last``, never reading the state: a
    projection that can declare ``page_fields``. Values mix kinds (ints, floats, bools, strings,
    an int beyond a float's exact range), so columns change kind as pages come."""
    new = _with_payload(state, e)
    new["last"] = e.type
    return new


def _set_page(events):
    """``_set_apply`` as columns: some fields given by index lists, ``last`` by every event."""
    cols: dict = {}
    for i, e in enumerate(events):
        for f, v in (e.data or {}).items():
            idx, vals = cols.setdefault(f, ([], []))
            idx.append(i)
            vals.append(v)
    cols["last"] = (None, [e.type for e in events])
    return cols


SET_FIELDS = Projection("set-fields", "Set fields", _key, _set_apply, page_fields=_set_page)
SET_FIELDS_GENERIC = Projection("set-fields-generic", "Set fields", _key, _set_apply)
GENERIC_STREAMS = Projection(name="streams-generic", title="Streams", key=STREAMS.key, apply=STREAMS.apply)


@PROPERTY
@given(first=raw_events, second=raw_events, page=st.integers(1, 7), which=st.sampled_from(["streams", "set"]))
def test_a_projection_with_page_fields_folds_as_its_apply_does(db, plugin_manager, first, second, page, which):
    """``streams`` (and any projection that only sets fields from the event) gives the fold whole
    pages as columns (``page_fields``); the History is the one its plain ``apply`` makes, column
    order included, built at once or extended, with pages prepared here or by a reader process,
    and equals a naive replay."""
    fast_p, slow_p = (STREAMS, GENERIC_STREAMS) if which == "streams" else (SET_FIELDS, SET_FIELDS_GENERIC)
    assert fast_p.page_fields is not None and slow_p.page_fields is None
    db.reset()
    db.write(first)
    store = db.open(plugin_manager)
    try:
        fast = build_history(store, fast_p, page_size=page, alongside=True)  # pages prepared by a reader process
        db.write(second)
        fast.extend(store, page_size=page, alongside=True)
        slow = build_history(store, slow_p, page_size=page)
        whole = build_history(store, fast_p, page_size=page, alongside=False)
        events = list(store.iter_events())
    finally:
        store.close()
    for h in (fast, whole):
        assert h.columns == slow.columns
        pd.testing.assert_frame_equal(h.versions(), slow.versions())
        for p in [0] + [e.position for e in events]:
            pd.testing.assert_frame_equal(h.as_of(p), slow.as_of(p))
            assert_states(rows(h.as_of(p)), replay(events, slow_p, p))
        for key in sorted({e.stream for e in events}):
            pd.testing.assert_frame_equal(h.changes(key), slow.changes(key))


def _failing_page(events):
    if any(e.type == "Closed" for e in events):
        raise ValueError("no closing here")
    return _set_page(events)


FAILING = Projection("failing", "Failing", _key, _set_apply, page_fields=_failing_page)


@pytest.mark.parametrize("alongside", [False, True])
def test_a_failure_while_reading_alongside_reaches_the_caller_and_stops_the_reader(sqlite_url, plugin_manager,
                                                                                  alongside):
    import multiprocessing

    s = Store(sqlite_url)
    s.reset()
    s.write([("acct-1", "Opened", {"a": 1}, 1, None, None)] * 3 + [("acct-1", "Closed", {}, 1, None, None)])
    store = s.open(plugin_manager)
    try:
        with pytest.raises(ValueError, match="no closing here"):
            build_history(store, FAILING, page_size=2, alongside=alongside)
        # closing a build half way stops the reader process too
        gen = iter_build(store, SET_FIELDS, page_size=1, alongside=alongside)
        assert next(gen)[0] == 1
        gen.close()
        assert multiprocessing.active_children() == []
        h = build_history(store, SET_FIELDS, page_size=1, alongside=alongside)  # and the store is still usable
        assert rows(h.as_of())["acct-1"] == {"a": 1, "last": "Closed"}
    finally:
        store.close()
        s.engine.dispose()


def test_reader_processes_are_forked_only_where_that_is_safe(sqlite_url):
    """A fork copies one thread: a process with other threads, Qt's included (invisible to
    ``threading``), must prepare pages itself, or a lock held elsewhere hangs the reader."""
    import subprocess
    import sys

    Store(sqlite_url).reset()
    probe = ("import sys, threading; from sqlalchemy import create_engine; "
             "from inspector.core.history_reader import can_read_alongside; "
             "store = type('S', (), {'engine': create_engine(sys.argv[1])})(); "
             "QT"
             "print(can_read_alongside(store, 10**6), can_read_alongside(store, 10))")

    def ask(qt: str) -> str:
        r = subprocess.run([sys.executable, "-c", probe.replace("QT", qt), sqlite_url], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert ask("") == ["True", "False"]  # a big read in a plain process; a small one is not worth a process
    assert ask("import PySide6.QtCore; ") == ["False", "False"]
    assert ask("t = threading.Thread(target=threading.Event().wait, daemon=True); t.start(); ") == ["False", "False"]
