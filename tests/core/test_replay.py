"""Replay plans: property tests against a naive replay with plain dicts, over random stores written
with ``ownstore`` into real SQLite and PostgreSQL databases (as ``test_history`` does); the plan's
JSON; clear errors; and that previews never write."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.core import ownstore
from inspector.core.checkpoints import (BeyondHead, EmptyCorrelation, EmptySelection, ReplayError, UnknownEvent,
                                        make_checkpoint)
from inspector.core.history import build_history
from inspector.core.model import EventFilter
from inspector.core.ownstore import NewEvent
from inspector.core.projection import Projection
from inspector.core.replay import preview_skip, preview_truncate
from inspector.core.replay_values import FORMAT, ReplayPlan, Selection, json_value, load_plan, same_value
from inspector.core.session import open_store
from tests.conftest import new_database
from tests.core.test_checkpoints import CORR_A, CORR_B, open_own, sample_commands, sample_events, write_store
from tests.core.test_history import PLAIN, T0, TYPED, payloads, replay, rows

UTC = dt.timezone.utc
STREAMS = ("acct-1", "acct-2", "user-1", "user-2", "solo")
TYPES = ("Opened", "Changed", "Touched", "Closed", "Noise")
ACTORS = (None, "user:a", "agent:b", "agent:c")
CORRS = (None, "corr-a", "corr-b", "corr-c")


def _actor_key(e):
    return e.actor


def _actor_apply(state, e):
    """A row fed by many streams (the actor's events, wherever they are): its refold has to find
    every stream the actor wrote to."""
    new = dict(state)
    new["events"] = state.get("events", 0) + 1
    new["last_stream"] = e.stream
    if isinstance((e.data or {}).get("a"), int) and not isinstance(e.data["a"], bool):
        new["sum_a"] = state.get("sum_a", 0) + e.data["a"]
    return new


BY_ACTOR = Projection("by_actor", "By actor", _actor_key, _actor_apply)
PROJECTIONS = (PLAIN, TYPED, BY_ACTOR)


# -- random stores with lineage ---------------------------------------------------------------------

spec_events = st.lists(st.tuples(st.sampled_from(STREAMS), st.sampled_from(TYPES), payloads, st.integers(0, 2),
                                 st.sampled_from(ACTORS), st.sampled_from(CORRS), st.integers(-3, 30)),
                       min_size=1, max_size=30)


def make_events(spec) -> list[NewEvent]:
    """Events one to two seconds apart (ties too); a non-negative ``cause`` below the event's index
    names an earlier event as its cause."""
    out, t, versions = [], T0, {}
    for i, (stream, etype, data, step, actor, corr, cause) in enumerate(spec):
        t += dt.timedelta(seconds=step)
        versions[stream] = versions.get(stream, 0) + 1
        causation = out[cause].event_id if 0 <= cause < i else None
        out.append(NewEvent(str(uuid.uuid4()), stream, versions[stream], etype, t, data, {"i": i}, causation, corr,
                            actor))
    return out


class Db:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)

    def reset(self, events: list[NewEvent]) -> None:
        ownstore.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            ownstore.create_schema(conn)
            ownstore.append_events(conn, events)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url, drop = new_database(request.param, tmp_path)
    d = Db(url)
    yield d
    d.engine.dispose()
    drop()


PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- the naive side ---------------------------------------------------------------------------------


def normal(states: dict) -> dict:
    """Naive states as plans carry values (times as ISO text, None dropped)."""
    return {k: {f: json_value(v) for f, v in row.items() if json_value(v) is not None} for k, row in states.items()}


def assert_same_states(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for k, row in expected.items():
        assert sorted(actual[k]) == sorted(row), k
        bad = {f: (actual[k][f], v) for f, v in row.items() if not same_value(actual[k][f], v)}
        assert not bad, (k, bad)


def assert_diff_matches(diff, before: dict, after: dict) -> None:
    """The plan's diff is exactly the naive before/after comparison."""
    assert {r["key"] for r in diff.added} == after.keys() - before.keys()
    assert {r["key"] for r in diff.removed} == before.keys() - after.keys()
    assert_same_states({r["key"]: r["values"] for r in diff.added}, {k: after[k] for k in after.keys() - before.keys()})
    assert_same_states({r["key"]: r["values"] for r in diff.removed},
                       {k: before[k] for k in before.keys() - after.keys()})
    expected = {(k, f): (before[k].get(f), after[k].get(f)) for k in before.keys() & after.keys()
                for f in before[k].keys() | after[k].keys() if not same_value(before[k].get(f), after[k].get(f))}
    got = {(c["key"], c["field"]): (c["old"], c["new"]) for c in diff.changed}
    assert sorted(got) == sorted(expected)
    for cell, (old, new) in expected.items():
        assert same_value(got[cell][0], old) and same_value(got[cell][1], new), cell
    assert (diff.rows_added, diff.rows_removed, diff.cells_changed) == (len(diff.added), len(diff.removed),
                                                                         len(diff.changed))
    assert diff.rows_changed == len({k for k, _ in expected})


def naive_orphans(events, left: set[int]) -> dict[int, str]:
    """Position -> cause id of every event descending (by causation) from a left-out event, kept."""
    by_id = {e.event_id: e for e in events}
    children = collections.defaultdict(list)
    for e in events:
        if e.causation_id in by_id:
            children[e.causation_id].append(e)
    seen, frontier = set(), [e for e in events if e.position in left]
    while frontier:
        nxt = []
        for e in frontier:
            for c in children[e.event_id]:
                if c.position not in seen and c.position not in left:
                    seen.add(c.position)
                    nxt.append(c)
        frontier = nxt
    return {e.position: e.causation_id for e in events if e.position in seen}


def assert_event_set(s, events, limit: int) -> None:
    assert s.count == len(events)
    for f, got in (("type", s.by_type), ("stream", s.by_stream), ("actor", s.by_actor)):
        assert dict(got) == dict(collections.Counter("(none)" if getattr(e, f) is None else getattr(e, f)
                                                     for e in events))
        assert [n for _, n in got] == sorted((n for _, n in got), reverse=True)  # largest first
    assert [r.position for r in s.events] == [e.position for e in events[:limit]]
    assert s.capped == (len(events) > limit)
    for r, e in zip(s.events, events):
        assert (r.event_id, r.stream, r.type, r.actor, r.correlation_id) == (e.event_id, e.stream, e.type, e.actor,
                                                                              e.correlation_id)
        assert dt.datetime.fromisoformat(r.recorded_at) == e.recorded_at


def check_plan(plan: ReplayPlan, events, left: set[int], limit: int) -> None:
    """Everything a plan says, against the naive replay of ``events`` without ``left``."""
    kept = [e for e in events if e.position not in left]
    assert_event_set(plan.dropped, [e for e in events if e.position in left], limit)
    orphans = naive_orphans(events, left)
    assert plan.orphans.traced and plan.orphans.count == len(orphans)
    if not plan.orphans.capped:
        assert {o.position: o.caused_by for o in plan.orphans.events} == orphans
    for p in PROJECTIONS:
        d = plan.projection(p.name)
        before, after = normal(replay(events, p)), normal(replay(kept, p))
        if not d.capped:
            assert_diff_matches(d, before, after)
            assert_same_states(d.apply_to(before), after)
    assert ReplayPlan.from_json(json.loads(plan.dumps())) == plan


# -- properties -------------------------------------------------------------------------------------


def _open(db, plugin_manager, events):
    db.reset(events)
    opened = open_own(db.url, plugin_manager)
    stored = list(opened.store.iter_events())
    return opened, stored


@PROPERTY
@given(spec=spec_events, data=st.data())
def test_a_truncate_is_the_state_as_of_its_checkpoint(db, plugin_manager, spec, data):
    opened, events = _open(db, plugin_manager, make_events(spec))
    store = opened.store
    try:
        histories = {p.name: build_history(store, p) for p in PROJECTIONS[:2]}  # the third is built by the preview
        positions = [e.position for e in events]
        p = data.draw(st.sampled_from([positions[0] - 1] + positions))
        limit = data.draw(st.sampled_from([2, 1000]))
        if p == positions[-1]:
            with pytest.raises(EmptySelection):
                preview_truncate(store, p, histories=histories, projections=PROJECTIONS)
            return
        plan = preview_truncate(store, p, histories=histories, projections=PROJECTIONS, limit=limit)
    finally:
        store.close()
    assert (plan.kind, plan.position, plan.head_position) == ("truncate", p, positions[-1])
    assert all(d.method == "history" for d in plan.projections)
    check_plan(plan, events, {e.position for e in events if e.position > p}, limit)
    assert plan.collateral == plan.dropped  # no target: everything dropped is collateral
    for name, h in histories.items():
        d = plan.projection(name)
        if not d.capped:  # the resulting state is the History's state as of the checkpoint, and the naive one
            head = normal(replay(events, h.projection))
            assert_same_states(d.apply_to(head), normal(rows(h.as_of(p))))
            assert_same_states(d.apply_to(head), normal(replay(events, h.projection, p)))


@PROPERTY
@given(spec=spec_events, data=st.data())
def test_a_truncate_of_some_streams_replays_the_others_whole(db, plugin_manager, spec, data):
    opened, events = _open(db, plugin_manager, make_events(spec))
    store = opened.store
    positions = [e.position for e in events]
    p = data.draw(st.sampled_from([positions[0] - 1] + positions[:-1]))
    present = sorted({e.stream for e in events})
    streams = data.draw(st.lists(st.sampled_from(present), max_size=2, unique=True))
    categories = data.draw(st.lists(st.sampled_from(sorted({s.split("-")[0] for s in present})), max_size=1))
    if not streams and not categories:
        streams = present[:1]
    chosen = lambda e: e.stream in streams or e.stream.split("-")[0] in categories  # noqa: E731
    left = {e.position for e in events if e.position > p and chosen(e)}
    try:
        if not left:
            with pytest.raises(EmptySelection):
                preview_truncate(store, p, streams=streams, categories=categories, projections=PROJECTIONS)
            return
        plan = preview_truncate(store, p, streams=streams, categories=categories, projections=PROJECTIONS)
    finally:
        store.close()
    assert all(d.method == "refold" for d in plan.projections)
    assert (plan.streams, plan.categories) == (tuple(streams), tuple(categories))
    check_plan(plan, events, left, 1000)


def _selection(data, events) -> Selection:
    ids = data.draw(st.lists(st.sampled_from([e.event_id for e in events]), max_size=2, unique=True))
    corrs = data.draw(st.lists(st.sampled_from(sorted({e.correlation_id for e in events if e.correlation_id})
                                               or ["-"]), max_size=1))
    corrs = [c for c in corrs if c != "-"]
    actor = data.draw(st.sampled_from([None] + sorted({e.actor for e in events if e.actor})))
    since = until = None
    if actor is not None:
        times = sorted({e.recorded_at for e in events})
        since = data.draw(st.sampled_from([None] + times))
        until = data.draw(st.sampled_from([None] + times))
    return Selection(tuple(ids), tuple(corrs), actor, since.isoformat() if since else None,
                     until.isoformat() if until else None)


def _in(sel: Selection, e) -> bool:
    if e.event_id in sel.event_ids or e.correlation_id in sel.correlation_ids:
        return True
    return e.actor is not None and e.actor == sel.actor and (
        sel.since is None or e.recorded_at >= dt.datetime.fromisoformat(sel.since)) and (
        sel.until is None or e.recorded_at < dt.datetime.fromisoformat(sel.until))


@PROPERTY
@given(spec=spec_events, data=st.data())
def test_a_skip_is_the_replay_of_the_log_without_those_events(db, plugin_manager, spec, data):
    opened, events = _open(db, plugin_manager, make_events(spec))
    store = opened.store
    sel = _selection(data, events)
    left = {e.position for e in events if _in(sel, e)}
    limit = data.draw(st.sampled_from([1, 1000]))
    try:
        histories = {p.name: build_history(store, p) for p in PROJECTIONS}
        if sel.is_empty() or not left:
            with pytest.raises(EmptySelection):
                preview_skip(store, sel, histories=histories)
            return
        plan = preview_skip(store, sel, histories=histories, limit=limit)
    finally:
        store.close()
    assert (plan.kind, plan.selection, plan.collateral, plan.position) == ("skip", sel, None, None)
    assert all(d.method == "refold" for d in plan.projections)
    check_plan(plan, events, left, limit)


@PROPERTY
@given(spec=spec_events, data=st.data())
def test_the_collateral_of_a_truncate_is_what_it_drops_outside_its_target(db, plugin_manager, spec, data):
    events = make_events(spec)
    corrs = sorted({e.correlation_id for e in events if e.correlation_id})
    opened, events = _open(db, plugin_manager, events)
    store = opened.store
    try:
        if not corrs:
            return
        corr = data.draw(st.sampled_from(corrs))
        cp = make_checkpoint(store, "before", {"before_correlation": corr})
        first = min(e.position for e in events if e.correlation_id == corr)
        assert cp.position == first - 1
        plan = preview_truncate(store, cp, limit=3)
    finally:
        store.close()
    assert plan.checkpoint == cp and plan.selection == Selection(correlation_ids=(corr,))
    dropped = [e for e in events if e.position > cp.position]
    assert_event_set(plan.dropped, dropped, 3)
    assert_event_set(plan.collateral, [e for e in dropped if e.correlation_id != corr], 3)


# -- the document and the errors -------------------------------------------------------------------


@pytest.fixture
def sample(sqlite_url, plugin_manager):
    events = sample_events()
    write_store(sqlite_url, events, sample_commands())
    opened = open_own(sqlite_url, plugin_manager)
    yield opened, events
    opened.store.close()


def test_the_plan_document_has_the_documented_fields(sample, tmp_path):
    opened, events = sample
    cp = make_checkpoint(opened.store, "before the bot", {"before_correlation": CORR_A}, "x")
    plan = preview_truncate(opened, cp, projections=[PLAIN])
    doc = json.loads(plan.dumps())
    assert list(doc) == ["format", "kind", "store", "head_position", "created_at", "position", "checkpoint",
                         "streams", "categories", "selection", "dropped", "collateral", "orphans", "projections",
                         "notes"]
    assert doc["format"] == FORMAT == "inspector.replay-plan/1"
    assert list(doc["store"]) == ["url", "layout", "table"]
    assert list(doc["selection"]) == ["event_ids", "correlation_ids", "actor", "since", "until"]
    assert list(doc["dropped"]) == ["count", "by_type", "by_stream", "by_actor", "capped", "events"]
    assert list(doc["dropped"]["events"][0]) == ["position", "event_id", "stream", "type", "actor", "recorded_at",
                                                 "correlation_id"]
    assert list(doc["orphans"]) == ["count", "capped", "traced", "explanation", "events"]
    assert list(doc["projections"]["test"]) == ["method", "keys_recomputed", "rows_added", "rows_removed",
                                                "rows_changed", "cells_changed", "capped", "note", "added",
                                                "removed", "changed"]
    assert list(doc["checkpoint"]) == ["name", "position", "note", "created_at", "spec"]
    assert doc["dropped"]["count"] == 9 and doc["collateral"]["count"] == 5  # 4 events of the bot's run
    assert doc["collateral"]["by_actor"] == {"user:alice": 3, "agent:psp": 1, "customer:1": 1}
    out = plan.export(tmp_path / "plan.json")
    assert load_plan(out) == plan == ReplayPlan.from_json(doc)
    skip = preview_skip(opened, Selection(correlation_ids=(CORR_A,)), projections=[PLAIN])
    sdoc = json.loads(skip.dumps())
    assert sdoc["kind"] == "skip" and sdoc["collateral"] is None and sdoc["position"] is None
    assert ReplayPlan.from_json(sdoc) == skip
    with pytest.raises(ReplayError):
        ReplayPlan.from_json({**doc, "format": "inspector-lineage/1"})
    with pytest.raises(ReplayError):
        ReplayPlan.from_json({k: v for k, v in doc.items() if k != "dropped"})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ReplayError):
        load_plan(tmp_path / "bad.json")


def test_orphans_are_what_the_skipped_events_caused(sample):
    opened, events = sample
    plan = preview_skip(opened, Selection(event_ids=(events[3].event_id,)))
    # the bot's first price change caused the rest of its run, one after the other
    assert [o.event_id for o in plan.orphans.events] == [e.event_id for e in events[4:7]]
    assert [o.caused_by for o in plan.orphans.events] == [e.event_id for e in events[3:6]]
    whole = preview_skip(opened, Selection(correlation_ids=(CORR_A,)))
    assert whole.orphans.count == 0 and whole.orphans.traced


def test_a_refold_too_big_for_its_budget_says_so(sample, monkeypatch):
    import inspector.core.replay_fold as replay_module

    opened, events = sample
    # product-1's row lives in 3 events; agent:bot's row in product-1 and product-2: 6 events
    monkeypatch.setattr(replay_module, "REFOLD_MAX_EVENTS", 3)
    plan = preview_skip(opened, Selection(event_ids=(events[3].event_id,)), projections=[PLAIN, BY_ACTOR])
    by = {p.projection: p for p in plan.projections}
    assert by["by_actor"].method == "not_computed" and by["by_actor"].rows_added is None
    assert "6 events (more than 3)" in by["by_actor"].note and "\n" not in by["by_actor"].note
    assert by["test"].method == "refold"
    assert by["test"].changed == ({"key": "product-1", "field": "events", "old": 3, "new": 2},)
    with pytest.raises(ReplayError):
        by["by_actor"].apply_to({})
    assert ReplayPlan.from_json(json.loads(plan.dumps())) == plan


def _one_line(exc) -> str:
    assert "\n" not in str(exc.value) and str(exc.value)
    return str(exc.value)


def test_clear_errors(sample):
    opened, events = sample
    head = opened.store.head()
    with pytest.raises(UnknownEvent) as e:
        preview_skip(opened, Selection(event_ids=(events[0].event_id, "no-such-id")))
    assert "'no-such-id'" in _one_line(e)
    with pytest.raises(EmptyCorrelation) as e:
        preview_skip(opened, Selection(correlation_ids=(str(uuid.uuid4()),)))
    _one_line(e)
    with pytest.raises(EmptySelection) as e:
        preview_skip(opened, Selection())
    _one_line(e)
    with pytest.raises(EmptySelection) as e:
        preview_skip(opened, Selection(actor="user:alice", until=T0.isoformat()))
    _one_line(e)
    with pytest.raises(BeyondHead) as e:
        preview_truncate(opened, head + 1)
    assert f"#{head}" in _one_line(e)
    with pytest.raises(EmptySelection) as e:
        preview_truncate(opened, head)
    _one_line(e)
    with pytest.raises(EmptySelection) as e:
        preview_truncate(opened, 1, streams=["no-such-stream"])
    assert "no-such-stream" in _one_line(e)
    with pytest.raises(EmptySelection):
        preview_truncate(opened, 1, categories=["nothing"])
    with pytest.raises(ReplayError):
        Selection(since=T0.isoformat())  # a time window needs an actor
    with pytest.raises(ReplayError):
        preview_truncate(opened, 1, histories={"x": build_history(opened.store, PLAIN, EventFilter(stream="order-1"))})


def test_a_store_without_lineage_says_so(tmp_path, plugin_manager):
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from sqlalchemy.engine import make_url

    class Counter(Aggregate):
        @event("Started")
        def __init__(self):
            self.n = 0

        @event("Bumped")
        def bump(self, by: int):
            self.n += by

    url, _ = new_database("sqlite", tmp_path)
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": make_url(url).database})
    c = Counter()
    for i in range(5):
        c.bump(i)
    app.save(c)
    o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        streams = [p for p in plugin_manager.projections() if p.name == "streams"]
        plan = preview_truncate(o, 3, projections=streams)
    finally:
        o.store.close()
        app.close()
    assert not plan.orphans.traced and plan.orphans.events == ()
    assert "records no causation" in plan.orphans.explanation
    (d,) = plan.projections
    assert [c["field"] for c in d.changed if c["field"] in ("version", "n")] == ["version"]
    assert [(c["old"], c["new"]) for c in d.changed if c["field"] == "version"] == [(6, 3)]


# -- previews never write ---------------------------------------------------------------------------


def _fingerprint(url: str) -> Any:
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            return hashlib.sha256(Path(engine.url.database).read_bytes()).hexdigest()
        text = (lambda c: c) if engine.dialect.name == "mysql" else (lambda c: f"CAST({c} AS text)")
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(
                f"SELECT position, event_id, stream, version, type, recorded_at, {text('data')}, {text('metadata')}, "
                "causation_id, correlation_id, actor FROM inspector_events ORDER BY position"))]
    finally:
        engine.dispose()


def test_previews_leave_the_store_as_it_was(backend, tmp_path, plugin_manager):
    """On every backend (MariaDB included): the previews run, and the store is unchanged."""
    url, drop = new_database(backend, tmp_path)
    try:
        events = sample_events()
        write_store(url, events, sample_commands())
        before = _fingerprint(url)
        opened = open_own(url, plugin_manager)
        try:
            projections = plugin_manager.projections()
            full = preview_truncate(opened, 4, projections=projections)
            some = preview_truncate(opened, 4, streams=["order-2"], projections=projections)
            skip = preview_skip(opened, Selection(correlation_ids=(CORR_A, CORR_B)), projections=projections)
            actor = preview_skip(opened, Selection(actor="agent:bot", since=T0.isoformat()), projections=projections)
        finally:
            opened.store.close()
        assert _fingerprint(url) == before
    finally:
        drop()
    assert (full.dropped.count, some.dropped.count, skip.dropped.count, actor.dropped.count) == (8, 3, 7, 2)
    streams = {p.projection: p for p in skip.projections}["streams"]
    assert streams.rows_removed == 1 and {c["key"] for c in streams.changed} == {"product-1", "product-2"}
