"""The demo shop plugin's projections on the bundled demo store, around its incident: the
pricing-bot's BulkReprice cuts a few prices to a tenth, customers order at those prices, and
hours later a human restores them."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest
from inspector_shop import CUSTOMER_BALANCES, ORDERS, PRODUCTS

from inspector.core.demo import create_demo
from inspector.core.history import build_history
from inspector.core.model import EventFilter
from inspector.core.session import open_store
from inspector.plugins.manager import PluginManager

US = dt.timedelta(microseconds=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return create_demo(tmp_path_factory.mktemp("shop") / "demo.sqlite", events=12_000)


@pytest.fixture(scope="module")
def store(demo):
    pm = PluginManager()
    s = open_store(str(demo.path), pm.layout_definitions(), pm.codecs()).store
    yield s
    s.close()


@pytest.fixture(scope="module")
def incident(demo, store):
    """The incident and the positions of its events: the bad reprice and the repair."""
    inc = dict(demo.incident)
    inc["bad"] = [e.position for e in store.iter_events(EventFilter(correlation_id=inc["correlation_id"]))]
    inc["fix"] = [e.position for e in store.iter_events(EventFilter(correlation_id=inc["fix_correlation_id"]))]
    assert len(inc["bad"]) == len(inc["fix"]) == len(inc["skus"]) >= 5
    return inc


@pytest.fixture(scope="module")
def products(store):
    return build_history(store, PRODUCTS)


def _prices(h, **at) -> dict[str, float]:
    return {str(k): float(v) for k, v in h.as_of(**at).set_index("key")["price"].items()}


def test_products_before_during_and_after_the_bad_reprice(products, incident):
    skus = incident["skus"]
    before = _prices(products, position=incident["bad"][0] - 1)
    during = _prices(products, position=incident["bad"][-1])
    repaired = _prices(products, position=incident["fix"][-1])
    for sku in skus:
        assert during[sku] == round(before[sku] / 10, 2), sku  # a tenth right after the pricing-bot's run
        assert repaired[sku] == before[sku], sku  # the list price back once alice is done
    others = set(before) - set(skus)
    assert all(during[s] == before[s] for s in others)  # nothing else moved
    # the same moments by time: just before the run started, and when the repair was recorded
    started = dt.datetime.fromisoformat(incident["started_at"])
    fixed = dt.datetime.fromisoformat(incident["fixed_at"])
    assert _prices(products, time=started - US) == before
    assert {s: _prices(products, time=fixed - US)[s] for s in skus} == {s: during[s] for s in skus}


def test_products_at_head_are_restored(products, incident):
    head = _prices(products)
    during = _prices(products, position=incident["bad"][-1])
    for sku in incident["skus"]:
        ch = products.changes(sku, "price")
        later = ch[ch["position"] > incident["fix"][-1]]
        if later.empty:
            assert head[sku] == _prices(products, position=incident["fix"][-1])[sku]
        else:  # repriced since, by the usual small steps
            assert head[sku] == later["new"].iloc[-1]
            assert incident["correlation_id"] not in set(later["correlation_id"])
        assert head[sku] > 5 * during[sku]
        # who changed the price, when: the bad run and the repair are both in the change log
        cut = ch[ch["correlation_id"] == incident["correlation_id"]].iloc[0]
        assert (cut["actor"], cut["type"], cut["new"]) == ("agent:pricing-bot", "PriceChanged", during[sku])
        fix = ch[ch["correlation_id"] == incident["fix_correlation_id"]].iloc[0]
        assert (fix["actor"], fix["old"], fix["new"]) == ("user:alice", during[sku], cut["old"])


def test_products_stock_follows_the_inventory_events(store, products):
    available: dict[str, int] = {}
    for e in store.iter_events(EventFilter(types=("StockReceived", "StockReserved", "StockReleased"))):
        available[e.stream.split("-", 1)[1]] = e.data["available"]
    stock = products.as_of().set_index("key")["stock"]
    assert {str(k): int(v) for k, v in stock.dropna().items()} == available


def test_orders_at_head_hold_the_orders_placed_at_wrong_prices(store, incident, products):
    orders = build_history(store, ORDERS).as_of().set_index("key")
    during = _prices(products, position=incident["bad"][-1])
    assert set(incident["orders"]) <= set(orders.index)
    for oid in incident["orders"]:
        placed = next(store.iter_events(EventFilter(stream=f"order-{oid}", types=("OrderPlaced",))))
        lines = placed.data["lines"]
        row = orders.loc[oid]
        assert row["total"] == placed.data["total"] == round(sum(l["qty"] * l["unit_price"] for l in lines), 2)
        assert (row["lines"], row["customer"]) == (len(lines), placed.data["customer_id"])
        assert row["placed_at"] == placed.recorded_at
        cheap = [l for l in lines if l["sku"] in incident["skus"]]
        assert cheap and all(l["unit_price"] == during[l["sku"]] for l in cheap)
        assert row["flagged"] and row["flag_rule"] == "price_below_cost"
    statuses = Counter(orders["status"])
    assert set(statuses) <= {"placed", "paid", "shipped", "cancelled", "returned"} and statuses["shipped"]


def test_customer_balances_add_up_the_balance_events(store):
    h = build_history(store, CUSTOMER_BALANCES)
    df = h.as_of().set_index("key")
    credit: dict[str, float] = defaultdict(float)
    ordered: dict[str, float] = defaultdict(float)
    for e in store.iter_events(EventFilter(types=("CustomerBalanceAdjusted", "OrderPlaced"))):
        if e.type == "OrderPlaced":
            ordered[e.data["customer_id"]] += e.data["total"]
        else:
            credit[e.stream.split("-", 1)[1]] += e.data["amount"]
    registered = {e.stream.split("-", 1)[1] for e in store.iter_events(EventFilter(types=("CustomerRegistered",)))}
    assert set(df.index) == registered | set(ordered)
    assert {k: float(v) for k, v in df["balance"].items() if v} == {k: v for k, v in credit.items()}
    assert all(abs(df.loc[k, "ordered"] - v) < 0.005 for k, v in ordered.items())
    assert h.filter.types == CUSTOMER_BALANCES.types  # only these are read from SQL
