"""Submission, the one write path: idempotent steps with an expected version and an audit row in one
transaction each, on real SQLite, PostgreSQL and MariaDB stores; 20 submitters racing in separate
processes; a foreign append (conflict, refresh, resume); processes killed between steps and inside
a step; the writers of the inspector's own layout, the eventsourcing library (read back by the
library itself) and Message DB (through its own ``write_message``); dry runs and refusals; and
``inspector submit``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from inspector.cli import main
from inspector.core.audit_table import AUDIT_TABLE
from inspector.core.checkpoints import StoreIdentity
from inspector.core.compensate import CompensationPlan, Composer, StoreContext, load_plan
from inspector.core.model import EventFilter
from inspector.core.ownstore import NewEvent
from inspector.core.replay import preview_skip, preview_truncate
from inspector.core.replay_values import Selection
from inspector.core.roles import Role
from inspector.core.session import open_store
from inspector.core.submit import (SubmitError, audit_rows, refresh_plan, submit)
from inspector.plugins.manager import PluginManager
from tests.conftest import new_database
from tests.core.test_checkpoints import open_own, write_store
from tests.core.test_eventsourcing_stores import env_for
from tests.fixtures import messagedb

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BAD = "5b0e8a4e-0000-4000-8000-00000000bad0"  # the correlation of the wrong credits
ACTOR, REASON = "user:olga", "INC-42: the bot credited twice"
RACERS = 20


class Account(Aggregate):
    """A library aggregate whose ``Credited`` events the compensation appends."""

    @event("Opened")
    def __init__(self, owner: str):
        self.owner = owner
        self.balance = 0

    @event("Credited")
    def credit(self, amount: int) -> None:
        self.balance += amount


class Ledger(Application):
    """Tables ``ledger_events`` on PostgreSQL, ``stored_events`` on SQLite."""


TOPIC = get_topic(Account.Credited)

#: The test plugin: ``Credit(account, amount)`` appends ``Credited`` to ``account-<id>``;
#: ``EsCredit`` appends the library aggregate's own ``Credited`` topic to the aggregate's stream.
PLUGIN = textwrap.dedent(f'''
    from inspector.core.commands import CommandField, CommandSpec, ProposedEvent
    from inspector.plugins.hookspecs import hookimpl

    CREDIT = CommandSpec(
        "Credit", "Credit an account", (CommandField("account", "Account"), CommandField("amount", "Amount", "int")),
        stream=lambda v: f"account-{{v['account']}}",
        events=lambda v: [ProposedEvent("Credited", {{"account": v["account"], "amount": v["amount"]}})])
    ES_CREDIT = CommandSpec(
        "EsCredit", "Credit a ledger account", (CommandField("account", "Account id"),
                                                CommandField("amount", "Amount", "int")),
        stream=lambda v: v["account"], events=lambda v: [ProposedEvent({TOPIC!r}, {{"amount": v["amount"]}})],
        layouts=("eventsourcing",))

    @hookimpl
    def register_commands():
        return [CREDIT, ES_CREDIT]
''')

#: Wraps the own layout's writer: appends step 2's events, then waits inside the open transaction
#: (until the test kills the process) or raises.
WRAPPED = textwrap.dedent('''
    import sys
    from dataclasses import replace
    from inspector.plugins.builtin.submitters import OWN
    from inspector.plugins.hookspecs import hookimpl

    def _append(conn, store, events, step=None, plan=None, actor=None, reason=None):
        positions = OWN.append(conn, store, events, step=step, plan=plan, actor=actor, reason=reason)
        if step.index == 2:
            if MODE == "hang":
                print("appended", flush=True)
                sys.stdin.readline()  # held inside the step's transaction until killed
            raise RuntimeError("the disk is on fire")
        return positions

    @hookimpl
    def register_submitters():
        return [replace(OWN, name="wrapped", append=_append)]
''')

#: Message DB's writer with a version check that trusts the plan: only write_message can refuse.
TRUSTING = textwrap.dedent('''
    from dataclasses import replace
    from inspector.plugins.builtin.submitters import MESSAGE_DB
    from inspector.plugins.hookspecs import hookimpl

    @hookimpl
    def register_submitters():
        return [replace(MESSAGE_DB, name="trusting", stream_version=lambda conn, store, stream: None)]
''')

LEDGER_LAYOUT = textwrap.dedent('''
    from dataclasses import dataclass
    from inspector.core.detect import LayoutCandidate
    from inspector.core.layout import Layout
    from inspector.plugins.hookspecs import hookimpl

    @dataclass(frozen=True)
    class LedgerLayout:
        name: str = "ledger"
        title: str = "ACME ledger"

        def match(self, schema, engine):
            return [LayoutCandidate(Layout.of(self.name, self.title, t.qualified,
                        {"position": "no", "stream": "acct", "type": "kind", "payload": "body"}, time_kind="none"),
                        0.9, ("table ledger",)) for t in schema.find("ledger")]

    @hookimpl
    def register_layouts():
        return [LedgerLayout()]
''')


def _plugin_file(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.py"
    p.write_text(text)
    return p


@pytest.fixture
def plugins(tmp_path) -> dict[str, Path]:
    return {"base": _plugin_file(tmp_path, "submit_test_commands", PLUGIN),
            "hang": _plugin_file(tmp_path, "submit_test_hang", "MODE = 'hang'\n" + WRAPPED),
            "raise": _plugin_file(tmp_path, "submit_test_raise", "MODE = 'raise'\n" + WRAPPED),
            "trusting": _plugin_file(tmp_path, "submit_test_trusting", TRUSTING),
            "ledger": _plugin_file(tmp_path, "submit_test_ledger", LEDGER_LAYOUT)}


def manager(plugins: dict[str, Path], *extra: str) -> PluginManager:
    pm = PluginManager(paths=[plugins["base"], *(plugins[e] for e in extra)], entry_points_=True, checkout=False)
    assert all(p.ok for p in pm.status()), [p.error for p in pm.status() if not p.ok]
    return pm


@pytest.fixture
def pm(plugins) -> PluginManager:
    return manager(plugins)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    u, drop = new_database(request.param, tmp_path)
    yield u
    drop()


# -- stores and plans ---------------------------------------------------------------------------------


def _ev(stream: str, version: int, etype: str, minute: int, data: dict, actor: str, corr: str | None = None,
        eid: str | None = None) -> NewEvent:
    return NewEvent(eid or str(uuid.uuid4()), stream, version, etype, T0 + dt.timedelta(minutes=minute), data,
                    {"n": minute}, None, corr, actor)


def own_store(url: str) -> dict[str, str]:
    """Two accounts, each credited once by mistake (correlation BAD); returns the wrong events' ids."""
    wrong = {"1": str(uuid.uuid4()), "2": str(uuid.uuid4())}
    write_store(url, [
        _ev("account-1", 1, "Opened", 0, {"account": "1"}, "user:ann"),
        _ev("account-1", 2, "Credited", 1, {"account": "1", "amount": 100}, "user:ann"),
        _ev("account-2", 1, "Opened", 2, {"account": "2"}, "user:bob"),
        _ev("account-1", 3, "Credited", 3, {"account": "1", "amount": 999}, "agent:bot", BAD, wrong["1"]),
        _ev("account-2", 2, "Credited", 4, {"account": "2", "amount": 500}, "agent:bot", BAD, wrong["2"]),
    ])
    return wrong


def compose(store: Any, replay_plan: Any, pm: PluginManager, steps: list[tuple[str, dict, tuple[str, ...]]],
            first_version: int = 1) -> CompensationPlan:
    composer = Composer(StoreContext(store, replay_plan, {}), pm.commands(), first_version)
    plan = CompensationPlan(str(uuid.uuid4()), dt.datetime.now(UTC).isoformat(), replay_plan.store,
                            replay_plan.head_position, replay_plan, ())
    for command, values, compensates in steps:
        plan = composer.add(plan, command, values, reason=f"undo {', '.join(compensates) or 'nothing'}",
                            compensates=compensates)
    return plan


def own_plan(url: str, pm: PluginManager, wrong: dict[str, str]) -> CompensationPlan:
    """Debit both wrong credits back; then a goodwill credit to a new account (an empty stream)."""
    opened = open_own(url, pm)
    try:
        rp = preview_skip(opened.store, Selection(correlation_ids=(BAD,)))
        plan = compose(opened.store, rp, pm, [("Credit", {"account": "1", "amount": -999}, (wrong["1"],)),
                                              ("Credit", {"account": "2", "amount": -500}, (wrong["2"],)),
                                              ("Credit", {"account": "3", "amount": 5}, ())])
    finally:
        opened.store.close()
    assert [s.expected_version for s in plan.steps] == [3, 2, None]
    return plan


def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def has_audit(url: str, schema: str | None = None) -> bool:
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).has_table(AUDIT_TABLE, schema=schema)
    finally:
        engine.dispose()


def stream_counts(url: str, plan: CompensationPlan) -> dict[str, int]:
    """Events of the plan (by correlation) per stream, in the own layout."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT stream, COUNT(*) FROM inspector_events WHERE correlation_id = :c "
                                        "GROUP BY stream"), {"c": plan.plan_id}).all()
    finally:
        engine.dispose()
    return {r[0]: int(r[1]) for r in rows}


def go(plan: CompensationPlan, url: str, pm: PluginManager, execute: bool = True, **kw: Any):
    return submit(plan, url, actor=kw.pop("actor", ACTOR), reason=kw.pop("reason", REASON),
                  role=kw.pop("role", "operator"), execute=execute, manager=pm, **kw)


def statuses(report) -> list[str]:
    return [o.status for o in report.outcomes]


# -- subprocess submitters ---------------------------------------------------------------------------


def worker() -> None:
    """A submitter in its own process: ``python -c 'from tests.core.test_submit import worker;
    worker()' ARGS`` (JSON). With ``barrier`` it says "ready" and waits for a line on stdin before
    submitting; with ``hold_after`` it says which step it finished and waits (to be killed)."""
    args = json.loads(sys.argv[1])
    pm = PluginManager(paths=args["plugins"], entry_points_=True, checkout=False)
    plan = load_plan(args["plan"])

    def on_step(o) -> None:
        if o.index == args.get("hold_after"):
            print(f"step {o.index} {o.status}", flush=True)
            sys.stdin.readline()

    if args.get("barrier"):
        print("ready", flush=True)
        sys.stdin.readline()
    report = submit(plan, args["url"], actor=args["actor"], reason=REASON, role="operator", execute=True,
                    manager=pm, on_step=on_step)
    print(json.dumps(report.to_json()), flush=True)


def spawn(plan_file: Path, url: str, plugin_files: list[Path], **args: Any) -> subprocess.Popen:
    doc = {"plan": str(plan_file), "url": url, "plugins": [str(p) for p in plugin_files], "actor": ACTOR, **args}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", "from tests.core.test_submit import worker; worker()",
                             json.dumps(doc)], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def first_line(p: subprocess.Popen) -> str:
    line = p.stdout.readline()
    if not line:
        p.wait()
        raise AssertionError(f"the submitter process ended early: {p.stderr.read()}")
    return line.strip()


# -- the own layout ------------------------------------------------------------------------------------


def test_submitting_twice_appends_each_step_once_with_metadata_and_audit(db_url, pm):
    wrong = own_store(db_url)
    plan = own_plan(db_url, pm, wrong)
    seen = []
    first = go(plan, db_url, pm, on_step=seen.append)
    assert statuses(first) == ["applied"] * 3 and first.ok and first.stopped_at is None
    assert [o.index for o in seen] == [1, 2, 3]
    again = go(plan, db_url, pm)
    assert statuses(again) == ["skipped"] * 3 and again.ok
    assert "already applied" in again.outcomes[0].message and ACTOR in again.outcomes[0].message
    assert [o.positions for o in again.outcomes] == [o.positions for o in first.outcomes]
    assert stream_counts(db_url, plan) == {"account-1": 1, "account-2": 1, "account-3": 1}
    assert scalar(db_url, "SELECT COUNT(*) FROM inspector_events") == 8

    rows = audit_rows(open_own(db_url, pm))
    assert [(r["step"], r["idempotency_key"], r["actor"], r["reason"], r["plan_id"]) for r in rows] == [
        (s.index, s.idempotency_key, ACTOR, REASON, plan.plan_id) for s in plan.steps]
    assert rows[0]["event_ids"] == list(plan.steps[0].event_ids()) and rows[0]["compensates"] == [wrong["1"]]
    assert rows[0]["positions"] == list(first.outcomes[0].positions) and rows[0]["plan_sha256"] == plan.sha256()
    assert rows[2]["expected_version"] is None and rows[0]["expected_version"] == 3

    # read back through the inspector: the layout's columns carry causation, correlation and actor
    opened = open_own(db_url, pm)
    try:
        e = opened.store.read_page(EventFilter(stream="account-1"), limit=1, descending=True).events[0]
        new = opened.store.read_page(EventFilter(stream="account-3")).events
    finally:
        opened.store.close()
    assert (e.version, e.type, e.data) == (4, "Credited", {"account": "1", "amount": -999})
    assert (e.event_id, e.causation_id, e.correlation_id, e.actor) == (
        plan.steps[0].event_ids()[0], wrong["1"], plan.plan_id, ACTOR)
    assert e.metadata["reason"] == REASON and e.metadata["idempotency_key"] == plan.steps[0].idempotency_key
    assert e.position == first.outcomes[0].positions[0]
    assert [(x.version, x.causation_id) for x in new] == [(1, None)]
    # the command log records the compensating commands under the plan's correlation
    assert scalar(db_url, "SELECT COUNT(*) FROM inspector_commands WHERE correlation_id = :c AND type = 'Credit' "
                  "AND reason = :r AND actor = :a", c=plan.plan_id, r=REASON, a=ACTOR) == 3


def test_a_dry_run_writes_nothing_and_says_what_it_would_do(url, pm, tmp_path):
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    path = Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None
    before = hashlib.sha256(path.read_bytes()).hexdigest() if path else None
    dry = go(plan, url, pm, execute=False)
    assert statuses(dry) == ["would_apply"] * 3 and dry.ok and not dry.executed
    assert "(now at version 3)" in dry.outcomes[0].message and "(a new stream)" in dry.outcomes[2].message
    assert not has_audit(url) and stream_counts(url, plan) == {}
    if path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before

    # a foreign append to step 2's stream: the dry run sees the conflict and stops there
    write_more(url, [_ev("account-2", 3, "Credited", 9, {"account": "2", "amount": 1}, "user:bob")])
    dry = go(plan, url, pm, execute=False)
    assert statuses(dry) == ["would_apply", "would_conflict", "not_run"] and not dry.ok and dry.stopped_at == 2
    assert "expected version 2, the stream is at version 3" in dry.outcomes[1].message
    assert not has_audit(url)

    # after applying step 1 for real, the dry run reports it as used, with when and by whom
    opened = open_own(url, pm)
    fresh = refresh_plan(plan, opened)
    opened.store.close()
    assert go(fresh, url, pm).ok
    dry = go(fresh, url, pm, execute=False)
    assert statuses(dry) == ["would_skip"] * 3 and "key used at" in dry.outcomes[0].message
    assert ACTOR in dry.outcomes[0].message


def write_more(url: str, events: list[NewEvent]) -> None:
    """A foreign writer appends to the own layout."""
    from inspector.core import ownstore

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            ownstore.append_events(conn, events)
    finally:
        engine.dispose()


def test_a_foreign_append_is_a_conflict_and_after_refreshing_the_plan_resumes(url, pm):
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    write_more(url, [_ev("account-2", 3, "Credited", 9, {"account": "2", "amount": 1}, "user:bob")])
    report = go(plan, url, pm)
    assert statuses(report) == ["applied", "conflict", "not_run"] and not report.ok and report.stopped_at == 2
    c = report.outcomes[1]
    assert (c.expected_version, c.actual_version) == (2, 3)
    assert c.message.startswith("step 2 (Credit on account-2): expected version 2, the stream is at version 3")
    assert stream_counts(url, plan) == {"account-1": 1}  # nothing of step 2, nothing of step 3
    assert [r["step"] for r in audit_rows(open_own(url, pm))] == [1]

    fresh = refresh_plan(plan, url, manager=pm)
    assert [s.expected_version for s in fresh.steps] == [3, 3, None]  # step 1 keeps its (applied) version
    assert [s.idempotency_key for s in fresh.steps] == [s.idempotency_key for s in plan.steps]
    resumed = go(fresh, url, pm)
    assert statuses(resumed) == ["skipped", "applied", "applied"] and resumed.ok
    assert stream_counts(url, plan) == {"account-1": 1, "account-2": 1, "account-3": 1}
    assert scalar(url, "SELECT MAX(version) FROM inspector_events WHERE stream = 'account-2'") == 4
    assert [r["step"] for r in audit_rows(open_own(url, pm))] == [1, 2, 3]


def test_twenty_concurrent_submitters_apply_every_step_exactly_once(url, pm, plugins, tmp_path):
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    plan_file = plan.export(tmp_path / "plan.json")
    procs = [spawn(plan_file, url, [plugins["base"]], barrier=True) for _ in range(RACERS)]
    try:
        for p in procs:
            assert first_line(p) == "ready"
        for p in procs:  # all are connected and waiting: release them together
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate()
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(r["ok"] for r in results), [r["outcomes"] for r in results if not r["ok"]]
    for i in range(3):
        got = [r["outcomes"][i]["status"] for r in results]
        assert got.count("applied") == 1 and got.count("skipped") == RACERS - 1, got
    assert stream_counts(url, plan) == {"account-1": 1, "account-2": 1, "account-3": 1}
    assert scalar(url, f"SELECT COUNT(*) FROM {AUDIT_TABLE}") == 3
    assert scalar(url, "SELECT COUNT(*) FROM inspector_commands WHERE correlation_id = :c", c=plan.plan_id) == 3


def test_a_submitter_killed_between_steps_is_completed_by_the_rerun(url, pm, plugins, tmp_path):
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    p = spawn(plan.export(tmp_path / "plan.json"), url, [plugins["base"]], hold_after=1)
    try:
        assert first_line(p) == "step 1 applied"
    finally:
        p.kill()
        p.wait()
    assert stream_counts(url, plan) == {"account-1": 1}
    assert [r["step"] for r in audit_rows(open_own(url, pm))] == [1]
    rerun = go(plan, url, pm)
    assert statuses(rerun) == ["skipped", "applied", "applied"]
    assert stream_counts(url, plan) == {"account-1": 1, "account-2": 1, "account-3": 1}
    assert scalar(url, f"SELECT COUNT(*) FROM {AUDIT_TABLE}") == 3


def test_a_submitter_killed_inside_a_step_leaves_nothing_of_that_step(url, pm, plugins, tmp_path):
    wrong = own_store(url)
    plan = own_plan(url, pm, wrong)
    p = spawn(plan.export(tmp_path / "plan.json"), url, [plugins["base"], plugins["hang"]])
    try:
        assert first_line(p) == "appended"  # step 2's events are inserted, its transaction is open
    finally:
        p.kill()
        p.wait()
    assert stream_counts(url, plan) == {"account-1": 1}
    assert [r["step"] for r in audit_rows(open_own(url, pm))] == [1]
    assert scalar(url, "SELECT COUNT(*) FROM inspector_commands WHERE correlation_id = :c", c=plan.plan_id) == 1
    rerun = go(plan, url, pm)
    assert statuses(rerun) == ["skipped", "applied", "applied"]
    assert stream_counts(url, plan) == {"account-1": 1, "account-2": 1, "account-3": 1}


def test_a_failure_inside_a_step_rolls_the_whole_step_back_and_stops(url, plugins):
    wrong = own_store(url)
    pm = manager(plugins, "raise")
    plan = own_plan(url, pm, wrong)
    report = go(plan, url, pm)
    assert statuses(report) == ["applied", "failed", "not_run"] and report.stopped_at == 2
    assert "the disk is on fire" in report.outcomes[1].message and "nothing of it was written" in report.outcomes[1].message
    assert stream_counts(url, plan) == {"account-1": 1}
    assert scalar(url, f"SELECT COUNT(*) FROM {AUDIT_TABLE}") == 1
    assert scalar(url, "SELECT COUNT(*) FROM inspector_commands WHERE correlation_id = :c", c=plan.plan_id) == 1


# -- refusals -----------------------------------------------------------------------------------------


def test_refusals_name_what_is_missing_and_write_nothing(sqlite_url, pm, plugins, tmp_path):
    wrong = own_store(sqlite_url)
    plan = own_plan(sqlite_url, pm, wrong)
    for role in ("viewer", "auditor", Role.AUDITOR, "", None):
        with pytest.raises(SubmitError, match="needs the operator role"):
            go(plan, sqlite_url, pm, role=role)
    # an auditor may look at what a submission would do, a viewer not even that
    assert statuses(go(plan, sqlite_url, pm, execute=False, role=Role.AUDITOR)) == ["would_apply"] * len(plan.steps)
    with pytest.raises(SubmitError, match="a dry run of a submission needs the operator role or the auditor role"):
        go(plan, sqlite_url, pm, execute=False, role="viewer")
    with pytest.raises(SubmitError, match="needs an actor"):
        go(plan, sqlite_url, pm, actor="  ")
    with pytest.raises(SubmitError, match="needs a reason"):
        go(plan, sqlite_url, pm, reason="")
    with pytest.raises(SubmitError, match="needs a write URL"):
        go(plan, "", pm)
    # the same store under another name is another database: refused before connecting
    copy = tmp_path / "copy.sqlite"
    shutil.copy(sqlite_url.split("///", 1)[1], copy)
    with pytest.raises(SubmitError, match="names another database than the plan's store"):
        go(plan, f"sqlite:///{copy}", pm)
    # the right database, but not the plan's table
    other = CompensationPlan(plan.plan_id, plan.created_at, StoreIdentity(plan.store.url, "inspector", "ledger_events"),
                             plan.head_position, plan.replay_plan, plan.steps)
    with pytest.raises(SubmitError, match="is not the plan's store"):
        go(other, sqlite_url, pm)
    # a command that writes only another layout's stores
    es_step = dataclasses.replace(plan.steps[0], command="EsCredit")
    with pytest.raises(SubmitError, match="writes only eventsourcing stores"):
        go(CompensationPlan(plan.plan_id, plan.created_at, plan.store, plan.head_position, plan.replay_plan,
                            (es_step,)), sqlite_url, pm)
    assert go(plan, sqlite_url, pm, role=Role.OPERATOR, execute=False).ok  # the enum is accepted
    assert not has_audit(sqlite_url) and stream_counts(sqlite_url, plan) == {}


def test_a_layout_without_a_submitter_needs_a_plugin(tmp_path, plugins):
    import sqlite3

    db = tmp_path / "ledger.sqlite"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE ledger (no INTEGER PRIMARY KEY, acct TEXT, kind TEXT, body TEXT)")
    c.executemany("INSERT INTO ledger (acct, kind, body) VALUES (?, ?, ?)",
                  [(f"account-{i % 2}", "Credited", f'{{"amount": {i}}}') for i in range(4)])
    c.commit()
    c.close()
    pm = manager(plugins, "ledger")
    opened = open_store(str(db), pm.layout_definitions(), pm.codecs())
    try:
        assert opened.layout.name == "ledger"
        plan = compose(opened.store, preview_truncate(opened.store, 2), pm, [("Credit", {"account": "1", "amount": 1}, ())])
    finally:
        opened.store.close()
    before = db.read_bytes()
    with pytest.raises(SubmitError, match="'ledger' layout: submitting to it needs a plugin submitter"):
        go(plan, f"sqlite:///{db}", pm)
    assert db.read_bytes() == before


# -- the eventsourcing library ---------------------------------------------------------------------------


def test_eventsourcing_stores_get_events_the_library_reads_back(url, pm):
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    env = env_for(backend, url)
    app = Ledger(env=env)
    acc, other = Account("ann"), Account("bob")
    acc.credit(100)
    acc.credit(999)  # the mistake
    app.save(acc, other)
    app.close()

    opened = open_store(url, pm.layout_definitions(), pm.codecs())
    try:
        assert opened.layout.name == "eventsourcing"
        stream = acc.id.hex if backend == "sqlite" else str(acc.id)  # as the inspector shows it
        rp = preview_truncate(opened.store, 2)
        plan = compose(opened.store, rp, pm, [("EsCredit", {"account": stream, "amount": -999}, ())])
    finally:
        opened.store.close()
    assert plan.steps[0].expected_version == 3
    report = go(plan, url, pm)
    assert statuses(report) == ["applied"], report.outcomes
    assert statuses(go(plan, url, pm)) == ["skipped"]

    app = Ledger(env=env)
    try:
        got = app.repository.get(acc.id)
        last = list(app.recorder.select_notifications(start=1, limit=100))[-1]
    finally:
        app.close()
    assert (got.balance, got.version, got.owner) == (100, 4, "ann")
    assert (last.id, last.topic, last.originator_version) == (report.outcomes[0].positions[0], TOPIC, 4)
    assert json.loads(last.state)["amount"] == -999

    opened = open_store(url, pm.layout_definitions(), pm.codecs())
    try:
        e = opened.store.read_page(EventFilter(stream=stream), limit=1, descending=True).events[0]
        rows = audit_rows(opened)
    finally:
        opened.store.close()
    assert (e.version, e.type, e.data["amount"], e.decode_error) == (4, TOPIC, -999, None)
    # no metadata column in the library's tables: who and why live in the audit row
    assert [(r["actor"], r["reason"], r["event_ids"], r["plan_id"]) for r in rows] == [
        (ACTOR, REASON, list(plan.steps[0].event_ids()), plan.plan_id)]


def test_compressed_eventsourcing_stores_are_refused(sqlite_url, pm):
    env = env_for("sqlite", sqlite_url, COMPRESSOR_TOPIC="eventsourcing.compressor:ZlibCompressor")
    app = Ledger(env=env)
    acc = Account("ann")
    acc.credit(1)
    app.save(acc)
    app.close()
    opened = open_store(sqlite_url, pm.layout_definitions(), pm.codecs())
    try:
        plan = compose(opened.store, preview_truncate(opened.store, 1), pm,
                       [("EsCredit", {"account": acc.id.hex, "amount": -1}, ())])
    finally:
        opened.store.close()
    report = go(plan, sqlite_url, pm)
    assert statuses(report) == ["failed"] and "not plain JSON" in report.outcomes[0].message
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM stored_events") == 2
    assert scalar(sqlite_url, f"SELECT COUNT(*) FROM {AUDIT_TABLE}") == 0


# -- Message DB --------------------------------------------------------------------------------------------


def _mdb_plan(pg_url: str, pm: PluginManager) -> tuple[CompensationPlan, Any]:
    written = messagedb.create(pg_url, events=12)
    target = written.events[5]
    opened = open_store(pg_url, pm.layout_definitions(), pm.codecs())
    try:
        assert opened.layout.name == "message-db"
        rp = preview_skip(opened.store, Selection(event_ids=(target.event_id,)))
        plan = compose(opened.store, rp, pm, [("Credit", {"account": "9", "amount": 5}, (target.event_id,)),
                                              ("Credit", {"account": "9", "amount": 6}, ())], first_version=0)
    finally:
        opened.store.close()
    assert [s.expected_version for s in plan.steps] == [None, 0]
    return plan, target


def test_message_db_writes_through_write_message(pg_url, pm):
    plan, target = _mdb_plan(pg_url, pm)
    report = go(plan, pg_url, pm)
    assert statuses(report) == ["applied", "applied"], report.outcomes
    assert statuses(go(plan, pg_url, pm)) == ["skipped", "skipped"]
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT position, global_position, id::text, type, data, metadata FROM "
                                        "message_store.messages WHERE stream_name = 'account-9' ORDER BY position")).all()
    finally:
        engine.dispose()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (0, report.outcomes[0].positions[0], plan.steps[0].event_ids()[0], "Credited", {"account": "9", "amount": 5}),
        (1, report.outcomes[1].positions[0], plan.steps[1].event_ids()[0], "Credited", {"account": "9", "amount": 6})]
    meta = rows[0][5]
    assert (meta["correlation_id"], meta["causation_id"], meta["actor"], meta["reason"]) == (
        plan.plan_id, target.event_id, ACTOR, REASON)
    assert meta["causationMessageGlobalPosition"] == target.position and meta["causationMessageStreamName"] == target.stream
    assert "correlationStreamName" not in meta
    assert scalar(pg_url, f"SELECT COUNT(*) FROM message_store.{AUDIT_TABLE}") == 2  # next to messages

    opened = open_store(pg_url, pm.layout_definitions(), pm.codecs())
    try:
        got = opened.store.read_page(EventFilter(stream="account-9")).events
    finally:
        opened.store.close()
    assert [(e.version, e.event_id) for e in got] == [(0, plan.steps[0].event_ids()[0]), (1, plan.steps[1].event_ids()[0])]
    assert got[0].causation_id == str(target.position)  # Eventide's causation is a global position
    assert got[0].metadata["correlation_id"] == plan.plan_id and got[0].metadata["actor"] == ACTOR


def _foreign_write(pg_url: str, stream: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL search_path TO message_store, public")
            conn.execute(sa.text("SELECT message_store.write_message(CAST(:id AS varchar), CAST(:s AS varchar), "
                                 "'Credited', CAST('{}' AS jsonb))"), {"id": str(uuid.uuid4()), "s": stream})
    finally:
        engine.dispose()


def test_message_db_conflicts_from_our_check_and_from_write_message(pg_url, plugins, pm):
    plan, _ = _mdb_plan(pg_url, pm)
    _foreign_write(pg_url, "account-9")
    report = go(plan, pg_url, pm)
    assert statuses(report) == ["conflict", "not_run"]
    assert "expected no stream (not created yet), the stream is at version 0" in report.outcomes[0].message
    # a writer that trusts the plan: write_message's own expected-version check refuses
    report = go(plan, pg_url, manager(plugins, "trusting"))
    assert statuses(report) == ["conflict", "not_run"] and report.submitter == "trusting"
    assert "Wrong expected version: -1 (Stream: account-9, Stream Version: 0)" in report.outcomes[0].message
    assert scalar(pg_url, "SELECT COUNT(*) FROM message_store.messages WHERE stream_name = 'account-9'") == 1
    assert scalar(pg_url, f"SELECT COUNT(*) FROM message_store.{AUDIT_TABLE}") == 0
    fresh = refresh_plan(plan, pg_url, manager=pm)
    assert [s.expected_version for s in fresh.steps] == [0, 1]
    assert statuses(go(fresh, pg_url, pm)) == ["applied", "applied"]
    assert scalar(pg_url, "SELECT MAX(position) FROM message_store.messages WHERE stream_name = 'account-9'") == 2


# -- the command line ---------------------------------------------------------------------------------------


def test_inspector_submit(sqlite_url, pm, plugins, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INSPECTOR_DATA_DIR", str(tmp_path / "data"))
    wrong = own_store(sqlite_url)
    plan_file = own_plan(sqlite_url, pm, wrong).export(tmp_path / "plan.json")
    base = ["submit", sqlite_url, "--plugin", str(plugins["base"]), "--plan", str(plan_file), "--write-url",
            sqlite_url, "--actor", ACTOR, "--reason", REASON]
    assert main(base) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs the operator role" in err and "'viewer'" in err

    assert main(base + ["--role", "operator"]) == 0
    out = capsys.readouterr().out
    assert out.count("would_apply") == 3 and "dry run (nothing written" in out
    assert not has_audit(sqlite_url)

    assert main(base + ["--role", "operator", "--execute", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["executed"] and [o["status"] for o in doc["outcomes"]] == ["applied"] * 3
    assert main(base + ["--role", "operator", "--execute"]) == 0
    assert capsys.readouterr().out.count("skipped") >= 3

    # a plan composed before a foreign append: exit 1 with the conflicting step on one line
    opened = open_own(sqlite_url, pm)
    try:
        late = compose(opened.store, load_plan(plan_file).replay_plan, pm, [("Credit", {"account": "2", "amount": 1}, ())])
    finally:
        opened.store.close()
    write_more(sqlite_url, [_ev("account-2", 4, "Credited", 9, {"account": "2", "amount": 1}, "user:bob")])
    late_file = late.export(tmp_path / "late.json")
    args = base[:5] + [str(late_file)] + base[6:] + ["--role", "operator", "--execute"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "step 1 conflict: step 1 (Credit on account-2): expected version 3, the stream is at version 4" in captured.err
    assert main(["submit", str(tmp_path / "elsewhere.sqlite")] + base[2:] + ["--role", "operator"]) == 1
    assert "the plan was made for" in capsys.readouterr().err
