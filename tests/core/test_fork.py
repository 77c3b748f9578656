"""Forks: a new SQLite store in the inspector's own layout that reads back exactly the expected
events (from SQLite and PostgreSQL sources, and from a store the eventsourcing library wrote),
with the source's positions and versions; the source is byte-identical (SQLite) or row-identical
(PostgreSQL) afterwards; existing files are refused and failed forks leave nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from inspector.core import ownstore
from inspector.core.checkpoints import BeyondHead, ReplayError, make_checkpoint
from inspector.core.fork import ForkCancelled, fork_plan, fork_to
from inspector.core.ownstore import NewEvent
from inspector.core.replay import preview_skip, preview_truncate
from inspector.core.replay_values import Selection, load_plan
from inspector.core.session import open_store
from tests.conftest import new_database
from tests.core.test_checkpoints import CORR_A, CORR_B, T0, open_own, sample_commands, sample_events, write_store
from tests.core.test_replay import _fingerprint

FIELDS = ("position", "event_id", "stream", "version", "type", "recorded_at", "data", "metadata", "causation_id",
          "correlation_id", "actor")


def read_back(path: Path, plugin_manager):
    o = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        assert o.layout.name == "inspector"
        events = list(o.store.iter_events())
        with o.store.engine.connect() as c:
            info = dict(c.execute(sa.text("SELECT key, value FROM inspector_store_info")).fetchall())
            commands = [tuple(r) for r in c.execute(sa.text(
                "SELECT command_id, type, actor, correlation_id FROM inspector_commands ORDER BY command_id"))]
    finally:
        o.store.close()
    return events, info, commands


def same_events(a, b) -> None:
    assert [tuple(getattr(e, f) for f in FIELDS) for e in a] == [tuple(getattr(e, f) for f in FIELDS) for e in b]


@pytest.fixture(params=["sqlite", "postgresql"])
def source(request, tmp_path, plugin_manager):
    url, drop = new_database(request.param, tmp_path)
    write_store(url, sample_events(), sample_commands())
    opened = open_own(url, plugin_manager)
    yield url, opened
    opened.store.close()
    drop()


def test_a_fork_to_a_checkpoint_reads_back_the_events_up_to_it(source, tmp_path, plugin_manager):
    url, opened = source
    before = _fingerprint(url)
    original = list(opened.store.iter_events())
    cp = make_checkpoint(opened.store, "before the bot", {"before_correlation": CORR_A})
    out = tmp_path / "fork.sqlite"
    seen = []
    summary = fork_to(opened, cp, out, progress=lambda done, of: seen.append((done, of)))
    events, info, commands = read_back(out, plugin_manager)
    same_events(events, [e for e in original if e.position <= cp.position])
    assert summary.events == len(events) == 3 and summary.head_position == events[-1].position == cp.position
    assert (summary.kind, summary.position, summary.left_out, summary.ids_made) == ("truncate", cp.position, 9, 0)
    assert summary.commands == 0 and commands == []  # both commands belong to correlations after the checkpoint
    assert info["fork_kind"] == "truncate" and info["fork_checkpoint"] == "before the bot"
    assert info["forked_from"] == summary.source.url and info["layout"] == "inspector"
    assert seen[-1] == (cp.position, cp.position)
    assert _fingerprint(url) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # the whole store, commands included
    whole = fork_to(opened, opened.store.head(), tmp_path / "whole.sqlite")
    events, _, commands = read_back(tmp_path / "whole.sqlite", plugin_manager)
    same_events(events, original)
    assert whole.commands == 2 and sorted(c[3] for c in commands) == sorted([CORR_A, CORR_B])
    assert _fingerprint(url) == before


def test_a_fork_of_a_skip_plan_keeps_positions_and_version_gaps(source, tmp_path, plugin_manager):
    url, opened = source
    before = _fingerprint(url)
    original = list(opened.store.iter_events())
    plan = preview_skip(opened, Selection(correlation_ids=(CORR_A,)))
    plan_file = plan.export(tmp_path / "plan.json")
    summary = fork_plan(opened, load_plan(plan_file), tmp_path / "skip.sqlite")
    events, info, commands = read_back(tmp_path / "skip.sqlite", plugin_manager)
    kept = [e for e in original if e.correlation_id != CORR_A]
    same_events(events, kept)
    assert summary.events == 8 and summary.left_out == 4 and summary.kind == "skip"
    assert [e.version for e in events if e.stream == "order-2"] == [3]  # the gap where the skipped events were
    assert [c[3] for c in commands] == [CORR_B]  # the bot's command had only skipped events
    assert json.loads(info["fork_selection"]) == plan.selection.to_json()
    # a truncate plan limited to one stream
    plan = preview_truncate(opened, 4, streams=["product-1"])
    fork_plan(opened, plan, tmp_path / "some.sqlite")
    events, _, _ = read_back(tmp_path / "some.sqlite", plugin_manager)
    same_events(events, [e for e in original if not (e.position > 4 and e.stream == "product-1")])
    assert _fingerprint(url) == before


def test_a_fork_refuses_to_overwrite_and_leaves_nothing_when_it_fails(source, tmp_path, plugin_manager):
    url, opened = source
    out = tmp_path / "fork.sqlite"
    out.write_text("mine")
    with pytest.raises(ReplayError) as e:
        fork_to(opened, 3, out)
    assert "exists already" in str(e.value) and "\n" not in str(e.value)
    assert out.read_text() == "mine"

    def boom(done, of):
        raise KeyboardInterrupt

    names = sorted(p.name for p in tmp_path.iterdir())
    other = tmp_path / "other.sqlite"
    with pytest.raises(KeyboardInterrupt):
        fork_to(opened, opened.store.head(), other, progress=boom)
    with pytest.raises(ForkCancelled) as e:
        fork_plan(opened, preview_skip(opened, Selection(correlation_ids=(CORR_A,))), other, should_cancel=lambda: True)
    assert "cancelled" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no fork, no temporary file
    summary = fork_to(opened, 3, out, overwrite=True)
    assert summary.events == 3 and len(read_back(out, plugin_manager)[0]) == 3
    with pytest.raises(BeyondHead):
        fork_to(opened, opened.store.head() + 1, tmp_path / "x.sqlite")
    with pytest.raises(ReplayError):
        fork_to(opened, 3, tmp_path / "no-such-folder" / "x.sqlite")
    if url.startswith("sqlite"):
        with pytest.raises(ReplayError) as e:
            fork_to(opened, 3, make_url(url).database, overwrite=True)
        assert "the store being forked" in str(e.value)


def test_a_plan_forks_only_the_store_it_was_made_for_as_it_was(tmp_path, plugin_manager):
    a, b = (new_database("sqlite", tmp_path)[0] for _ in range(2))
    write_store(a, sample_events())
    write_store(b, sample_events())
    oa, ob = open_own(a, plugin_manager), open_own(b, plugin_manager)
    try:
        plan = preview_skip(oa, Selection(correlation_ids=(CORR_A,)))
        with pytest.raises(ReplayError) as e:
            fork_plan(ob, plan, tmp_path / "f.sqlite")
        assert "made for" in str(e.value)
        writer = sa.create_engine(a)
        with writer.begin() as c:  # one event of the skipped run disappears from the source
            c.execute(sa.text("DELETE FROM inspector_events WHERE position = 5"))
        writer.dispose()
        with pytest.raises(ReplayError) as e:
            fork_plan(oa, plan, tmp_path / "f.sqlite")
        assert "changed since the plan" in str(e.value)
        assert not (tmp_path / "f.sqlite").exists()
    finally:
        oa.store.close()
        ob.store.close()


def test_awkward_payloads_are_kept(tmp_path, plugin_manager):
    """NaN in a payload (JSON text may hold it; the layout's JSON columns refuse it) and a payload
    that does not decode survive a fork, as text and as an ``$undecoded`` wrapper."""
    url, _ = new_database("sqlite", tmp_path)
    write_store(url, [NewEvent(str(uuid.uuid4()), "s-1", 1, "A", T0, {"a": 1})])
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE inspector_events SET data = '{\"a\": NaN, \"b\": [1, 2]}'"))
        ownstore.append_events(c, [NewEvent(str(uuid.uuid4()), "s-1", 2, "B", T0, {"x": 1})])
        c.execute(sa.text("UPDATE inspector_events SET data = X'00ff10' WHERE version = 2"))
    engine.dispose()
    o = open_own(url, plugin_manager)
    try:
        source = list(o.store.iter_events())
        summary = fork_to(o, o.store.head(), tmp_path / "f.sqlite")
    finally:
        o.store.close()
    events, _, _ = read_back(tmp_path / "f.sqlite", plugin_manager)
    assert events[0].data == {"a": "nan", "b": [1, 2]}
    assert source[1].data is None and summary.undecoded == 1
    wrapped = events[1].data["$undecoded"]
    assert wrapped["encoding"] == "base64" and wrapped["raw"] == "AP8Q" and wrapped["error"]


def test_a_store_written_by_the_eventsourcing_library_can_be_forked(tmp_path, plugin_manager):
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("Opened")
        def __init__(self, owner: str):
            self.owner, self.balance = owner, 0

        @event("Deposited")
        def deposit(self, amount: int) -> None:
            self.balance += amount

    url, _ = new_database("sqlite", tmp_path)
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": make_url(url).database})
    accounts = [Account(f"owner {i}") for i in range(3)]
    for a in accounts:
        app.save(a)
    for i in range(12):
        accounts[i % 3].deposit(i)
        app.save(accounts[i % 3])
    app.close()  # the library's WAL is folded into the file now, not during the fork
    before = _fingerprint(url)
    o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        assert o.layout.name == "eventsourcing"
        source = list(o.store.iter_events())
        one = fork_to(o, 10, tmp_path / "one.sqlite")
        fork_to(o, 10, tmp_path / "two.sqlite")
        plan = preview_truncate(o, 4, streams=[source[0].stream])
        three = fork_plan(o, plan, tmp_path / "three.sqlite")
    finally:
        o.store.close()
    assert _fingerprint(url) == before
    events, info, commands = read_back(tmp_path / "one.sqlite", plugin_manager)
    assert one.events == 10 and one.ids_made == 10 and one.commands is None and commands == []
    assert [(e.position, e.stream, e.version, e.type, e.data, e.recorded_at) for e in events] == [
        (e.position, e.stream, e.version, e.type, e.data, e.recorded_at) for e in source[:10]]
    assert [e.event_id for e in events] == [e.event_id for e in read_back(tmp_path / "two.sqlite", plugin_manager)[0]]
    assert len({e.event_id for e in events}) == 10 and all(uuid.UUID(e.event_id) for e in events)
    assert info["forked_from_layout"] == "eventsourcing"
    kept = [e for e in source if not (e.position > 4 and e.stream == source[0].stream)]
    assert three.events == len(kept) and [e.position for e in read_back(tmp_path / "three.sqlite",
                                                                           plugin_manager)[0]] == [
        e.position for e in kept]
    assert all(isinstance(e.recorded_at, dt.datetime) for e in events)
