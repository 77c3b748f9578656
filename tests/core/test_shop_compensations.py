"""The shop plugin's compensating commands and proposals, on the demo story: a fork of the demo
store taken after the pricing-bot's bad BulkReprice and before alice's fix (the incident open),
on SQLite and PostgreSQL. Skipping the bot's run is previewed; the shop proposes one RestorePrice
per cut price, and folding those in memory lands the products read model exactly on the preview.
Also: per-field validation, deterministic idempotency keys, notes for what is not compensated,
and the eventsourcing plugin's note for stores the library wrote."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from inspector_shop import CUSTOMER_BALANCES, ORDERS, PRODUCTS
from inspector_shop.compensations import COMMANDS

from inspector.core import ownstore
from inspector.core.compensate import Composer, StoreContext, histories_for, speculate
from inspector.core.demo import create_demo
from inspector.core.fork import fork_to
from inspector.core.history import build_history
from inspector.core.model import EventFilter, RecordedEvent
from inspector.core.ownstore import NewEvent
from inspector.core.replay import preview_skip, preview_truncate
from inspector.core.replay_fold import rows_by_key
from inspector.core.replay_values import ReplayPlan, Selection, same_value
from inspector.core.session import open_store
from tests.conftest import new_database

SHOP = {p.name: p for p in (PRODUCTS, ORDERS, CUSTOMER_BALANCES)}
SPECS = {c.name: c for c in COMMANDS}
HEX64 = re.compile(r"[0-9a-f]{64}")


# -- the demo story ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return create_demo(tmp_path_factory.mktemp("shop-comp") / "demo.sqlite", events=2000, seed=7)


def _open(url: str, plugin_manager):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs(), layout="inspector").store


@pytest.fixture(scope="module")
def source(demo, plugin_manager):
    s = _open(str(demo.path), plugin_manager)
    yield s
    s.close()


@pytest.fixture(scope="module")
def incident(demo, source):
    """The incident: the bot's run (its event per SKU), alice's fix, the prices before the run."""
    inc = dict(demo.incident)
    bad = list(source.iter_events(EventFilter(correlation_id=inc["correlation_id"])))
    fix = [e.position for e in source.iter_events(EventFilter(correlation_id=inc["fix_correlation_id"]))]
    assert len(bad) == len(inc["skus"]) >= 5 and fix[0] > bad[-1].position
    inc["bad"] = {e.stream.removeprefix("product-"): e for e in bad}
    inc["open_until"] = fix[0] - 1  # the last position before alice's fix: the incident is open
    before = build_history(source, PRODUCTS).as_of(position=bad[0].position - 1)
    inc["before"] = rows_by_key(before[before["key"].isin(inc["skus"])])
    return inc


def _fork_into(backend: str, source, incident, tmp_path: Path, plugin_manager):
    """The demo up to just before alice's fix, as a store on ``backend``: (url, store, drop)."""
    fork = fork_to(source, incident["open_until"], tmp_path / "open-incident.sqlite")
    if backend == "sqlite":
        url = f"sqlite:///{fork.path}"
        return url, _open(url, plugin_manager), lambda: None
    url, drop = new_database(backend, tmp_path)
    src = _open(f"sqlite:///{fork.path}", plugin_manager)
    events = [NewEvent(e.event_id, e.stream, e.version, e.type, e.recorded_at, e.data, e.metadata, e.causation_id,
                       e.correlation_id, e.actor) for e in src.iter_events()]
    src.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # positions follow the insert order: the fork's 1..n again
        ownstore.create_schema(conn)
        ownstore.append_events(conn, events)
    engine.dispose()
    return url, _open(url, plugin_manager), drop


class Story:
    """A store with the incident open, the skip preview of the bot's run and its context."""

    def __init__(self, url, store, incident, plugin_manager) -> None:
        self.url, self.store, self.incident, self.pm = url, store, incident, plugin_manager
        self.replay = self.preview()
        self.context = StoreContext(store, self.replay, histories_for(store, self.replay, SHOP))
        self.composer = Composer(self.context, plugin_manager.commands())

    def preview(self) -> ReplayPlan:
        return preview_skip(self.store, Selection(correlation_ids=(self.incident["correlation_id"],)),
                            projections=SHOP.values())

    def propose(self):
        return self.composer.propose(self.pm)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def story(request, source, incident, tmp_path_factory, plugin_manager):
    url, store, drop = _fork_into(request.param, source, incident, tmp_path_factory.mktemp(request.param),
                                  plugin_manager)
    try:
        yield Story(url, store, incident, plugin_manager)
    finally:
        store.close()
        drop()


def _stream_version(store, stream: str) -> int:
    return max(e.version for e in store.iter_events(EventFilter(stream=stream)))


def test_one_restore_price_per_cut_price_and_no_residual(story):
    inc = story.incident
    assert story.replay.dropped.count == len(inc["skus"])
    plan = story.propose()
    assert [s.command for s in plan.steps] == ["RestorePrice"] * len(inc["skus"])
    assert sorted(s.values["sku"] for s in plan.steps) == sorted(inc["skus"])
    assert not [n for n in plan.notes if n.plugin == "eventsourcing"]  # not an eventsourcing-library store
    for s in plan.steps:
        sku = s.values["sku"]
        bot = inc["bad"][sku]
        before = inc["before"][sku]
        assert s.stream == f"product-{sku}" and s.plugin == "shop" and s.origin == "proposed"
        assert s.expected_version == _stream_version(story.store, s.stream) == bot.version  # nothing since
        assert HEX64.fullmatch(s.idempotency_key)
        assert s.compensates == (bot.event_id,)
        assert inc["correlation_id"] in s.reason and "agent:pricing-bot" in s.reason
        assert same_value(s.values["price"], before["price"])  # the list price before the cut
        assert same_value(s.values["old_price"], bot.data["new_price"])  # the cut price it replaces
        assert s.values["currency"] == "EUR" and s.values["reason"] == before.get("price_reason")
        (event,) = s.events
        assert event.type == "PriceChanged"
        assert set(event.data) == {"sku", "old_price", "new_price", "currency", "reason"}  # the shop's own shape
    spec = speculate(plan, story.context)
    products = spec.residual("products")
    assert products.computed and products.empty, products.to_json()
    assert set(products.keys) == set(inc["skus"])
    for r in spec.residuals:
        assert r.empty or not r.computed, r.to_json()
    assert len(spec.events) == len(inc["skus"])


def test_a_missing_step_leaves_its_price_in_the_residual(story):
    plan = story.propose()
    dropped = plan.steps[0]
    fewer = story.composer.remove(plan, dropped.index)
    residual = speculate(fewer, story.context).residual("products")
    assert residual.computed and not residual.empty
    sku = dropped.values["sku"]
    assert {(c["key"], c["field"]) for c in residual.cells} >= {(sku, "price")}
    assert {c["key"] for c in residual.cells} == {sku}
    cell = next(c for c in residual.cells if c["field"] == "price")
    assert same_value(cell["target"], dropped.values["price"]) and same_value(cell["result"],
                                                                              dropped.values["old_price"])


def test_a_wrong_price_shows_in_the_residual(story):
    plan = story.propose()
    step = plan.steps[-1]
    wrong = round(step.values["price"] + 1, 2)
    edited = story.composer.edit(plan, step.index, {**step.values, "price": str(wrong)})
    changed = edited.steps[-1]
    assert changed.origin == "edited" and changed.idempotency_key == step.idempotency_key  # same events undone
    assert changed.expected_version == step.expected_version
    residual = speculate(edited, story.context).residual("products")
    assert [(c["key"], c["field"]) for c in residual.cells] == [(step.values["sku"], "price")]
    assert same_value(residual.cells[0]["result"], wrong)
    assert same_value(residual.cells[0]["target"], step.values["price"])


def test_idempotency_keys_are_the_same_for_the_same_plan(story):
    first, second = story.propose(), story.propose()
    assert first.plan_id != second.plan_id
    keys = [s.idempotency_key for s in first.steps]
    assert keys == [s.idempotency_key for s in second.steps]
    assert len(set(keys)) == len(keys)
    # a new preview of the same run, and the plan read back from its JSON, give the same keys again
    again = story.preview()
    context = StoreContext(story.store, ReplayPlan.from_json(again.to_json()), story.context.histories)
    third = Composer(context, story.pm.commands()).propose(story.pm)
    assert [s.idempotency_key for s in third.steps] == keys
    assert [s.event_ids() for s in third.steps] == [s.event_ids() for s in first.steps]


def test_orders_the_plan_leaves_out_get_a_note_not_a_step(story):
    """A truncate to just before the bot's run leaves out its cut prices and every order, payment
    and stock movement since: prices are restored, the rest is explained."""
    inc = story.incident
    start = min(e.position for e in inc["bad"].values())
    replay = preview_truncate(story.store, start - 1, projections=SHOP.values())
    assert dict(replay.dropped.by_type).get("OrderPlaced")
    context = StoreContext(story.store, replay, histories_for(story.store, replay, SHOP))
    plan = Composer(context, story.pm.commands()).propose(story.pm)
    assert {s.command for s in plan.steps} == {"RestorePrice"}
    assert set(inc["skus"]) <= {s.values["sku"] for s in plan.steps}
    texts = [n.text for n in plan.notes if n.plugin == "shop"]
    order_notes = [t for t in texts if "order streams" in t]
    assert order_notes and "OrderPlaced" in order_notes[0] and "no compensation proposed" in order_notes[0]
    assert any("payment streams" in t for t in texts)
    # the orders stay: the residual says so rather than hiding it
    spec = speculate(plan, context)
    assert not spec.residual("orders").empty
    assert not {c["key"] for c in spec.residual("products").cells if c["field"] == "price"}


def test_nothing_is_proposed_where_the_price_is_already_back(demo, source, incident, plugin_manager):
    """On the whole demo store alice has restored the prices: the target equals head for every
    product the bot touched, so there is nothing to do and a note says why."""
    replay = preview_skip(source, Selection(correlation_ids=(incident["correlation_id"],)), projections=SHOP.values())
    context = StoreContext(source, replay, histories_for(source, replay, SHOP))
    plan = Composer(context, plugin_manager.commands()).propose(plugin_manager)
    assert plan.steps == ()
    (note,) = [n for n in plan.notes if n.plugin == "shop"]
    assert "already" in note.text and all(sku in note.text for sku in incident["skus"])


# -- submitting (inspector.core.submit) ---------------------------------------------------------------


def test_after_submit_the_head_matches_the_skip_preview(source, incident, tmp_path, plugin_manager):
    """The demo story to its end: the proposed plan, submitted to the fork, leaves the products read
    model at head exactly as the skip preview showed it; submitted again, it writes nothing."""
    from inspector.core.submit import APPLIED, SKIPPED, audit_rows, submit

    url, store, drop = _fork_into("sqlite", source, incident, tmp_path, plugin_manager)
    try:
        story = Story(url, store, incident, plugin_manager)
        plan = story.propose()
        target = story.context.target_rows("products")
        first = submit(plan, url, actor="user:alice", reason="undo the pricing-bot's bad BulkReprice",
                       role="operator", execute=True, manager=plugin_manager)
        assert first.ok and [o.status for o in first.outcomes] == [APPLIED] * len(plan.steps)
        after = _open(url, plugin_manager)
        try:
            head = rows_by_key(build_history(after, PRODUCTS).as_of())
            for sku in incident["skus"]:
                bad = {f for f in set(head[sku]) | set(target[sku])
                       if not same_value(head[sku].get(f), target[sku].get(f))}
                assert not bad, (sku, {f: (head[sku].get(f), target[sku].get(f)) for f in bad})
            written = [e for e in after.iter_events(EventFilter(correlation_id=plan.plan_id))]
            assert sorted(e.event_id for e in written) == sorted(i for s in plan.steps for i in s.event_ids())
            assert {e.actor for e in written} == {"user:alice"}
            assert [r["idempotency_key"] for r in audit_rows(after)] == [s.idempotency_key for s in plan.steps]
            count = sum(1 for _ in after.iter_events())
        finally:
            after.close()
        again = submit(plan, url, actor="user:alice", reason="again", role="operator", execute=True,
                       manager=plugin_manager)
        assert [o.status for o in again.outcomes] == [SKIPPED] * len(plan.steps)
        after = _open(url, plugin_manager)
        try:
            assert sum(1 for _ in after.iter_events()) == count
        finally:
            after.close()
    finally:
        store.close()
        drop()


# -- the commands -------------------------------------------------------------------------------------


def test_fields_are_checked_one_by_one():
    restore = SPECS["RestorePrice"]
    values, errors = restore.check({"sku": "KIT0001", "price": "-1", "currency": "XYZ"})
    assert set(errors) == {"currency"} and "EUR" in errors["currency"]  # range checks wait for the fields to parse
    values, errors = restore.check({"sku": "KIT0001", "price": "-1", "currency": "EUR"})
    assert errors == {"price": "must not be negative"}
    _, errors = restore.check({"sku": "KIT 1", "price": "ten", "currency": "EUR", "colour": "red"})
    assert "not a number" in errors["price"] and "colour" in errors and "sku" not in errors  # sku waits
    _, errors = restore.check({"sku": "KIT 1", "price": "10", "currency": "EUR"})
    assert errors == {"sku": "no spaces allowed"}
    _, errors = restore.check({"price": "1.234", "currency": "EUR"})
    assert errors["sku"] == "required" and "decimals" in errors["price"]
    values, errors = restore.check({"sku": "KIT0001", "price": "12.5", "currency": "EUR"})
    assert errors == {} and values["price"] == 12.5 and values["reason"] is None
    _, errors = SPECS["RefundPayment"].check({"payment_id": "1", "order_id": "1", "amount": "0", "currency": "EUR"})
    assert errors == {"amount": "must be greater than 0"}
    _, errors = SPECS["RestockItem"].check({"sku": "KIT0001", "qty": "1.5", "available": "3"})
    assert "whole number" in errors["qty"]
    _, errors = SPECS["AdjustBalance"].check({"customer_id": "1001", "amount": "0", "currency": "EUR",
                                              "reason": "goodwill"})
    assert errors == {"amount": "must not be 0"}
    _, errors = SPECS["CancelOrder"].check({"order_id": "100001"})
    assert errors == {"reason": "required"}


def _recorded(stream: str, version: int, etype: str, data: dict) -> RecordedEvent:
    return RecordedEvent(1, stream, version, etype, dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc), "e", None,
                         "c", "user:alice", data, {})


@pytest.mark.parametrize("command, raw, projection, key, expected", [
    ("RestorePrice", {"sku": "KIT0001", "price": "24.99", "currency": "EUR", "reason": "manual_correction",
                      "old_price": "2.5"},
     PRODUCTS, "KIT0001", {"price": 24.99, "currency": "EUR", "price_reason": "manual_correction"}),
    ("RestockItem", {"sku": "KIT0001", "qty": "3", "available": "40"}, PRODUCTS, "KIT0001", {"stock": 40}),
    ("CancelOrder", {"order_id": "100001", "reason": "sold at a wrong price"}, ORDERS, "100001",
     {"status": "cancelled", "status_reason": "sold at a wrong price"}),
    ("AdjustBalance", {"customer_id": "1001", "amount": "15", "currency": "EUR", "reason": "goodwill"},
     CUSTOMER_BALANCES, "1001", {"balance": 15.0, "adjustments": 1, "last_reason": "goodwill"}),
])
def test_the_commands_events_fold_like_the_shops_own(command, raw, projection, key, expected):
    _, stream, events = SPECS[command].build(raw)
    state = projection.initial()
    for n, e in enumerate(events, 1):
        rec = _recorded(stream, n, e.type, dict(e.data))
        assert projection.key(rec) == key
        state = projection.apply(state, rec)
    assert {k: state.get(k) for k in expected} == expected


def test_refund_payment_writes_the_shops_payment_shape():
    _, stream, (event,) = SPECS["RefundPayment"].build({"payment_id": "100001", "order_id": "100001",
                                                        "amount": "49.9", "currency": "EUR"})
    assert stream == "payment-100001" and event.type == "PaymentRefunded"
    assert event.data == {"payment_id": "100001", "order_id": "100001", "amount": 49.9, "currency": "EUR"}


def test_the_plugin_registers_its_hooks(plugin_manager):
    info = plugin_manager.plugins["shop"]
    assert info.ok and {"register_commands", "propose_compensations"} <= set(info.hooks)
    assert set(SPECS) <= set(plugin_manager.commands())
    assert plugin_manager.plugins["eventsourcing"].ok
    assert "propose_compensations" in plugin_manager.plugins["eventsourcing"].hooks


# -- the eventsourcing library's stores -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_eventsourcing_store_gets_the_explanation_and_no_steps(backend, tmp_path, plugin_manager):
    from tests.core.test_eventsourcing_stores import env_for, run_bank

    url, drop = new_database(backend, tmp_path)
    try:
        run_bank(env_for(backend, url)).close()
        opened = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        try:
            assert opened.layout.name == "eventsourcing"
            replay = preview_truncate(opened.store, 10)
            context = StoreContext(opened.store, replay, {})
            plan = Composer(context, plugin_manager.commands()).propose(plugin_manager)
        finally:
            opened.store.close()
    finally:
        drop()
    assert plan.steps == ()
    notes = [n for n in plan.notes if n.plugin == "eventsourcing"]
    assert len(notes) == 1 and "register commands" in notes[0].text and "topics" in notes[0].text
    assert not [n for n in plan.notes if n.plugin == "shop"]  # not the shop's events
