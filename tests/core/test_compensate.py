"""Compensation plans: proposals through plugins, expected versions and idempotency keys, editing
with per-field validation, the speculative apply and its residual, the plan's JSON, and the
``inspector compensate`` command; on real SQLite and PostgreSQL stores. Nothing here writes to the
store (``test_submit`` covers the write path)."""

from __future__ import annotations

import json
import textwrap

import pytest
import sqlalchemy as sa

from inspector.cli import main
from inspector.core.commands import CommandError, CommandField, CommandSpec
from inspector.core.compensate import (FORMAT, CompensationError, CompensationPlan, Composer, StoreContext,
                                       histories_for, idempotency_key, load_plan, speculate)
from inspector.core.history import build_history
from inspector.core.replay import preview_skip
from inspector.core.replay_values import Selection
from inspector.plugins.manager import PluginManager
from tests.core.test_checkpoints import CORR_A, open_own, sample_events, write_store

#: A test plugin for the sample store (tests/core/test_checkpoints.py): read models of prices and
#: orders, a SetPrice and a VoidOrder command, and proposals that restore every price the plan
#: changes; for orders it says why it proposes nothing.
PLUGIN = textwrap.dedent('''
    from inspector.core.commands import (CommandField, CommandSpec, CompensationNote, ProposedEvent,
                                         ProposedStep)
    from inspector.core.projection import Projection
    from inspector.plugins.hookspecs import hookimpl

    def _key(prefix):
        return lambda e: e.stream.split("-", 1)[1] if e.stream.startswith(prefix) else None

    def _price(state, e):
        return {**state, "price": (e.data or {}).get("price", state.get("price"))}

    def _order(state, e):
        status = {"OrderPlaced": "placed", "OrderPaid": "paid", "OrderFlagged": "flagged",
                  "OrderCancelled": "cancelled"}[e.type]
        return {**state, "status": status, **({"total": e.data["total"]} if "total" in (e.data or {}) else {})}

    PRICES = Projection("prices", "Prices", _key("product-"), _price)
    ORDERS = Projection("orders_t", "Orders", _key("order-"), _order)

    def _check_price(values):
        return {"price": "must be positive"} if values["price"] <= 0 else {}

    SET_PRICE = CommandSpec(
        "SetPrice", "Set a price",
        (CommandField("product", "Product"), CommandField("price", "Price", "decimal"),
         CommandField("note", "Note", required=False)),
        stream=lambda v: f"product-{v['product']}",
        events=lambda v: [ProposedEvent("PriceChanged", {"price": v["price"]})],
        validate=_check_price)
    CANCEL = CommandSpec(
        "VoidOrder", "Void an order", (CommandField("order", "Order"),),
        stream=lambda v: f"order-{v['order']}",
        events=lambda v: [ProposedEvent("OrderCancelled", {})])

    @hookimpl
    def register_projections():
        return [PRICES, ORDERS]

    @hookimpl
    def register_commands():
        return [SET_PRICE, CANCEL]

    @hookimpl
    def propose_compensations(plan, context):
        out = []
        ids = {}
        for e in plan.dropped.events:
            if e.type == "PriceChanged":
                ids.setdefault(e.stream.split("-", 1)[1], []).append(e.event_id)
        for product, eids in sorted(ids.items()):
            target = context.target_row("prices", product)
            if target != context.head_row("prices", product):
                out.append(ProposedStep("SetPrice", {"product": product, "price": target["price"]}, tuple(eids),
                                        f"restore the price of {product}"))
        if any(e.stream.startswith("order-") for e in plan.dropped.events):
            out.append(CompensationNote("orders placed in the run cannot be un-placed; cancel them by hand"))
        return out
''')


@pytest.fixture
def manager(tmp_path):
    path = tmp_path / "shop_test_plugin.py"
    path.write_text(PLUGIN)
    pm = PluginManager(paths=[path], entry_points_=True, checkout=False)
    mine = {p.name: p for p in pm.status()}["shop_test_plugin"]
    assert mine.ok, mine.error
    return pm


@pytest.fixture
def incident(db_url, manager):
    """The sample store cut before alice's fix: the bot's run (CORR_A) is still in effect."""
    events = sample_events()[:8]
    write_store(db_url, events)
    opened = open_own(db_url, manager)
    yield opened, events
    opened.store.close()


def _compose(opened, manager, names=("prices", "orders_t")):
    projections = {p.name: p for p in manager.projections()}
    hs = {n: build_history(opened.store, projections[n]) for n in names}
    rp = preview_skip(opened.store, Selection(correlation_ids=(CORR_A,)), histories=hs)
    ctx = StoreContext(opened.store, rp, hs)
    return ctx, Composer(ctx, manager.commands())


def test_plugins_propose_steps_with_expected_versions_keys_and_notes(incident, manager):
    opened, events = incident
    ctx, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    assert [(s.command, dict(s.values), s.stream) for s in plan.steps] == [
        ("SetPrice", {"product": "1", "price": 10.0, "note": None}, "product-1"),
        ("SetPrice", {"product": "2", "price": 20.0, "note": None}, "product-2")]
    # each product stream holds ProductAdded and the bot's PriceChanged: version 2 now
    assert [s.expected_version for s in plan.steps] == [2, 2]
    bot_price_events = {e.stream: e.event_id for e in events if e.correlation_id == CORR_A and e.type == "PriceChanged"}
    assert [s.compensates for s in plan.steps] == [(bot_price_events["product-1"],), (bot_price_events["product-2"],)]
    # (installed plugins such as the demo shop's add notes of their own)
    assert [n.text for n in plan.notes if n.plugin == "shop_test_plugin"] == [
        "orders placed in the run cannot be un-placed; cancel them by hand"]
    # the key depends on the command, stream and compensated events only: the same in every plan
    again = composer.propose(manager)
    assert again.plan_id != plan.plan_id
    assert [s.idempotency_key for s in again.steps] == [s.idempotency_key for s in plan.steps]
    assert plan.steps[0].idempotency_key == idempotency_key("SetPrice", "product-1", plan.steps[0].compensates)
    assert len(set(plan.steps[0].event_ids() + plan.steps[1].event_ids())) == 2


def test_the_speculative_apply_shows_an_empty_residual_and_what_is_left(incident, manager):
    opened, _ = incident
    ctx, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    spec = speculate(plan, ctx)
    prices = spec.residual("prices")
    assert prices.computed and prices.empty
    assert prices.result == {"1": {"price": 10.0}, "2": {"price": 20.0}}
    # the order the bot's run placed is still there after the price steps: the residual says so
    orders = spec.residual("orders_t")
    assert orders.computed and not orders.empty and orders.extra == ("2",)
    assert not spec.empty
    assert [(e.stream, e.version, e.type) for e in spec.events] == [("product-1", 3, "PriceChanged"),
                                                                     ("product-2", 3, "PriceChanged")]
    assert all(e.correlation_id == plan.plan_id for e in spec.events)
    # removing a step leaves that product's price in the residual; a wrong price shows as a cell
    fewer = speculate(composer.remove(plan, 2), ctx).residual("prices")
    assert fewer.cells == ({"key": "2", "field": "price", "result": 2.0, "target": 20.0},)
    wrong = speculate(composer.edit(plan, 1, {"product": "1", "price": "9.5"}), ctx).residual("prices")
    assert wrong.cells == ({"key": "1", "field": "price", "result": 9.5, "target": 10.0},)
    # cancelling the order by hand: still not the target (which has no such order), and the residual says that
    cancelled = composer.add(plan, "VoidOrder", {"order": "2"}, reason="the order was placed at a wrong price")
    assert speculate(cancelled, ctx).residual("orders_t").extra == ("2",)


def test_editing_validates_per_field_and_renumbers_versions(incident, manager):
    opened, _ = incident
    ctx, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    with pytest.raises(CommandError) as e:
        composer.edit(plan, 1, {"product": "1", "price": "ten"})
    assert e.value.errors == {"price": "not a number: 'ten'"}
    with pytest.raises(CommandError) as e:
        composer.edit(plan, 1, {"product": "1", "price": "-1"})
    assert e.value.errors == {"price": "must be positive"}
    with pytest.raises(CommandError) as e:
        composer.edit(plan, 1, {"product": "", "price": "1.234", "colour": "red"})
    assert e.value.errors == {"product": "required", "price": "at most 2 decimals", "colour": "SetPrice has no field 'colour'"}
    with pytest.raises(CommandError, match="unknown command 'Nope'"):
        composer.add(plan, "Nope", {})
    # a second step on product-1 expects the first one's event; moving it first swaps the versions
    two = composer.add(plan, "SetPrice", {"product": "1", "price": "11"}, reason="round up")
    assert [(s.index, s.stream, s.expected_version, s.origin) for s in two.steps] == [
        (1, "product-1", 2, "proposed"), (2, "product-2", 2, "proposed"), (3, "product-1", 3, "added")]
    moved = composer.move(two, 3, 1)
    assert [(s.stream, s.expected_version, s.origin) for s in moved.steps] == [
        ("product-1", 2, "added"), ("product-1", 3, "proposed"), ("product-2", 2, "proposed")]
    edited = composer.edit(plan, 2, {"product": "2", "price": "19.99"})
    assert edited.steps[1].origin == "edited" and edited.steps[1].events[0].data == {"price": 19.99}
    assert edited.steps[1].idempotency_key == plan.steps[1].idempotency_key  # same command, stream and events
    # a new stream: the step expects none
    new = composer.add(plan, "SetPrice", {"product": "9", "price": "5"})
    assert new.steps[-1].expected_version is None
    with pytest.raises(CompensationError, match="no step 7"):
        composer.remove(plan, 7)


def test_the_plan_round_trips_through_json_and_refuses_other_documents(incident, manager, tmp_path):
    opened, _ = incident
    ctx, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    path = plan.export(tmp_path / "comp.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["replay_plan"]["format"] == "inspector.replay-plan/1"
    back = load_plan(path)
    assert back == plan and back.sha256() == plan.sha256()
    changed = json.loads(path.read_text())
    changed["steps"][0]["values"]["price"] = 99
    assert CompensationPlan.from_json(changed).sha256() != plan.sha256()
    with pytest.raises(CompensationError, match="not a compensation plan"):
        CompensationPlan.from_json(doc["replay_plan"])
    broken = dict(doc)
    del broken["steps"][0]["idempotency_key"]
    with pytest.raises(CompensationError, match="malformed compensation plan"):
        CompensationPlan.from_json(broken)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CompensationError, match="cannot read compensation plan"):
        load_plan(tmp_path / "bad.json")


def test_a_plugin_that_raises_while_proposing_is_disabled_and_the_others_still_propose(incident, manager, tmp_path):
    bad = tmp_path / "bad_proposer.py"
    bad.write_text("from inspector.plugins.hookspecs import hookimpl\n\n"
                   "@hookimpl\ndef propose_compensations(plan, context):\n    raise RuntimeError('boom')\n")
    manager.load_path(bad)
    opened, _ = incident
    _, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    assert len(plan.steps) == 2
    info = {p.name: p for p in manager.status()}["bad_proposer"]
    assert not info.ok and "propose_compensations raised RuntimeError: boom" in info.error


def test_a_proposal_that_does_not_validate_becomes_a_note(incident, manager, tmp_path):
    odd = tmp_path / "odd_proposer.py"
    odd.write_text("from inspector.core.commands import ProposedStep\n"
                   "from inspector.plugins.hookspecs import hookimpl\n\n"
                   "@hookimpl\ndef propose_compensations(plan, context):\n"
                   "    return [ProposedStep('SetPrice', {'product': '1', 'price': 0}), 'junk']\n")
    manager.load_path(odd)
    opened, _ = incident
    _, composer = _compose(opened, manager)
    plan = composer.propose(manager)
    texts = [n.text for n in plan.notes if n.plugin == "odd_proposer"]
    assert texts == ["proposal dropped: SetPrice: price: must be positive",
                     "ignored a str returned by propose_compensations"]
    assert len(plan.steps) == 2


def test_command_fields_parse_typed_input():
    f = {t: CommandField("x", "X", t, choices=("EUR", "USD")) for t in ("text", "int", "decimal", "bool", "choice",
                                                                        "json")}
    assert f["text"].parse("  a ") == "a"
    assert f["int"].parse("12") == 12 and f["int"].parse(7) == 7
    for bad in ("1.5", "x", True):
        with pytest.raises(ValueError):
            f["int"].parse(bad)
    assert f["decimal"].parse("19.90") == 19.9 and f["decimal"].parse(3) == 3.0
    for bad in ("nan", "inf", "1.999", "x"):
        with pytest.raises(ValueError):
            f["decimal"].parse(bad)
    assert f["bool"].parse("yes") is True and f["bool"].parse("0") is False
    assert f["choice"].parse("USD") == "USD"
    with pytest.raises(ValueError, match="not one of EUR, USD"):
        f["choice"].parse("GBP")
    assert f["json"].parse('{"a": [1]}') == {"a": [1]}
    with pytest.raises(ValueError, match="not JSON"):
        f["json"].parse("{")
    with pytest.raises(ValueError, match="required"):
        f["text"].parse("  ")
    assert CommandField("y", "Y", required=False).parse("") is None
    with pytest.raises(ValueError, match="unknown type"):
        CommandField("z", "Z", "colour")
    spec = CommandSpec("Nothing", "Appends nothing", (), stream=lambda v: "s", events=lambda v: [])
    with pytest.raises(CommandError, match="appends no events"):
        spec.build({})


def test_a_capped_or_missing_diff_has_no_residual_with_the_reason(incident, manager):
    opened, _ = incident
    projections = {p.name: p for p in manager.projections()}
    rp = preview_skip(opened.store, Selection(correlation_ids=(CORR_A,)), projections=[projections["prices"]],
                      limit=1)
    hs = histories_for(opened.store, rp, projections)
    ctx = StoreContext(opened.store, rp, hs)
    plan = Composer(ctx, manager.commands()).propose(manager)
    spec = speculate(plan, ctx)
    assert not spec.residual("prices").computed and "capped" in spec.residual("prices").note
    assert not speculate(plan, ctx, projections=["orders_t"]).residual("orders_t").computed


# -- the command line -------------------------------------------------------------------------------


def test_cli_compensate_proposes_writes_the_plan_and_shows_the_residual(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    write_store(url, sample_events()[:8])
    plugin = tmp_path / "shop_test_plugin.py"
    plugin.write_text(PLUGIN)
    rp, cp = tmp_path / "replay.json", tmp_path / "comp.json"
    assert main(["preview", url, "--plugin", str(plugin), "--skip-correlation", CORR_A, "--projection", "prices",
                 "--projection", "streams", "--out", str(rp)]) == 0
    capsys.readouterr()
    before = sa.create_engine(url).connect().execute(sa.text("SELECT COUNT(*) FROM inspector_events")).scalar()
    # a session nobody chose a role for is a viewer's: its values are masked, so it cannot compose
    assert main(["compensate", url, "--plugin", str(plugin), "--plan", str(rp), "--out", str(cp)]) == 1
    assert "composing compensations needs the auditor or operator role" in capsys.readouterr().err
    assert not cp.exists()
    assert main(["compensate", url, "--plugin", str(plugin), "--plan", str(rp), "--out", str(cp),
                 "--role", "auditor"]) == 0
    out = capsys.readouterr().out
    assert "1. SetPrice(product='1', price=10.0, note=None) -> product-1 expecting v2" in out
    assert "residual on prices: empty" in out
    assert "no residual on streams" in out
    plan = load_plan(cp)
    assert len(plan.steps) == 2
    # the operator edits the plan by hand; --edit validates it again and shows the new residual
    doc = json.loads(cp.read_text())
    doc["steps"][1]["values"]["price"] = 15
    cp.write_text(json.dumps(doc))
    assert main(["compensate", url, "--plugin", str(plugin), "--edit", str(cp), "--format", "json",
                 "--role", "operator"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["speculation"]["residuals"]["prices"]["cells"] == [
        {"key": "2", "field": "price", "result": 15.0, "target": 20.0}]
    assert res["plan"]["steps"][1]["events"][0]["data"] == {"price": 15.0}
    doc["steps"][1]["values"]["price"] = "free"
    cp.write_text(json.dumps(doc))
    assert main(["compensate", url, "--plugin", str(plugin), "--edit", str(cp), "--role", "auditor"]) == 1
    assert "step 2: SetPrice: price: not a number: 'free'" in capsys.readouterr().err
    # another store: refused; and nothing was ever written
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    write_store(other, sample_events()[:3])
    assert main(["compensate", other, "--plugin", str(plugin), "--plan", str(rp), "--role", "auditor"]) == 1
    assert "the plan was made for" in capsys.readouterr().err
    after = sa.create_engine(url).connect().execute(sa.text("SELECT COUNT(*) FROM inspector_events")).scalar()
    assert after == before == 8


def test_a_viewer_cannot_compose_and_a_masked_plan_is_never_submitted(incident, manager, db_url, tmp_path):
    from inspector.core.roles import MASK, RoleError
    from inspector.core.session import open_store
    from inspector.core.submit import SubmitError, submit

    opened, _ = incident
    ctx, composer = _compose(opened, manager)
    viewer = open_store(db_url, manager.layout_definitions(), manager.codecs(), layout="inspector", role="viewer",
                        masking_rules=manager.masking_rules())
    try:
        with pytest.raises(RoleError, match="needs the auditor or operator role"):
            StoreContext(viewer, ctx.plan, ctx.histories)
    finally:
        viewer.store.close()
    # a plan whose values hold the marker (composed from masked data elsewhere, or edited) is refused
    plan = composer.add(composer.propose(manager), "SetPrice", {"product": "3", "price": "1", "note": MASK})
    with pytest.raises(SubmitError, match=r"step\(s\) 3 hold the viewer's mask"):
        submit(plan, db_url, actor="user:ops", reason="test", role="operator", execute=True, manager=manager)
    assert opened.store.count() == 8
