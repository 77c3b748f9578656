"""The built-in projections (``streams``, ``types``) on the bundled demo store, checked against
what the database counts itself; and their discovery through the plugin manager."""

from __future__ import annotations

import sqlite3
from importlib.metadata import entry_points

import pytest

from inspector.core.bench import copy_to_server
from inspector.core.demo import create_demo
from inspector.core.history import build_history
from inspector.core.model import EventFilter
from inspector.core.session import open_store
from inspector.plugins.builtin.projections import STREAMS, TYPES, category_of
from inspector.plugins.manager import PluginManager


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return create_demo(tmp_path_factory.mktemp("projections") / "demo.sqlite", events=3000)


@pytest.fixture(scope="module")
def store(demo):
    pm = PluginManager()
    s = open_store(str(demo.path), pm.layout_definitions(), pm.codecs()).store
    yield s
    s.close()


def _sql(demo, query: str) -> list[tuple]:
    with sqlite3.connect(f"file:{demo.path}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


def test_types_counts_equal_the_stores_own(store, demo):
    h = build_history(store, TYPES, page_size=500)
    df = h.as_of().set_index("key")
    assert {k: int(v) for k, v in df["count"].items()} == dict(store.event_types())
    ends = {t: (lo, hi) for t, lo, hi in _sql(demo, "SELECT type, MIN(position), MAX(position) FROM inspector_events "
                                                    "GROUP BY type")}
    assert {k: (int(r.first_position), int(r.last_position)) for k, r in df.iterrows()} == ends
    # as of any position, the counts are those of the events up to there
    p = demo.events // 3
    early = h.as_of(p).set_index("key")["count"]
    assert {k: int(v) for k, v in early.items()} == dict(store.event_types(EventFilter(before=p + 1)))


def test_streams_rows_carry_each_streams_latest_version_and_event(store, demo):
    h = build_history(store, STREAMS, page_size=700)
    df = h.as_of().set_index("key")
    latest = {s: (v, p) for s, v, p in _sql(demo, "SELECT stream, MAX(version), MAX(position) FROM inspector_events "
                                                  "GROUP BY stream")}
    assert sorted(df.index) == sorted(latest)
    assert {s: (int(r.version), int(r.last_position)) for s, r in df.iterrows()} == latest
    last = dict(_sql(demo, "SELECT stream, type FROM inspector_events e WHERE position = "
                           "(SELECT MAX(position) FROM inspector_events f WHERE f.stream = e.stream)"))
    assert {s: r.last_type for s, r in df.iterrows()} == last
    summaries = {s.stream: s for s in store.streams(limit=10_000)}
    assert {s: r.category for s, r in df.iterrows()} == {s: summaries[s].category for s in df.index}
    # payload fields merged, the latest value winning: a customer's email is the last one set
    customer = next(s for s in df.index if s.startswith("customer-"))
    emails = [e.data["email"] for e in store.iter_events(EventFilter(stream=customer)) if "email" in e.data]
    assert df.loc[customer, "email"] == emails[-1]
    # products carry a payload field named like a stream column: kept as data.category
    product = next(s for s in df.index if s.startswith("product-"))
    assert df.loc[product, "category"] == "product" and df.loc[product, "data.category"]
    assert str(df["updated_at"].dtype) == "datetime64[us, UTC]"


def test_streams_versions_as_of_any_position(store, demo):
    h = build_history(store, STREAMS)
    for p in (1, demo.events // 2, demo.events - 7):
        df = h.as_of(p).set_index("key")
        want = dict(_sql(demo, f"SELECT stream, MAX(version) FROM inspector_events WHERE position <= {p} "
                               "GROUP BY stream"))
        assert {s: int(v) for s, v in df["version"].items()} == want


def test_the_same_history_from_postgresql(store, demo, pg_url):
    """The built-ins read the same rows through another backend (the demo copied into PostgreSQL)."""
    url, table = copy_to_server(demo.path, pg_url, "demo")
    pm = PluginManager()
    pg = open_store(url, pm.layout_definitions(), pm.codecs(), layout=f"inspector:{table}").store
    try:
        a, b = build_history(store, STREAMS), build_history(pg, STREAMS, page_size=999)
    finally:
        pg.close()
    assert sorted(a.columns) == sorted(b.columns)  # jsonb reorders payload keys, so first-seen order differs
    for p in (demo.events // 4, demo.events):
        x, y = (h.as_of(p)[["key"] + sorted(a.columns)].astype(object) for h in (a, b))
        assert x.where(x.notna(), None).values.tolist() == y.where(y.notna(), None).values.tolist()


def test_category_of():
    assert category_of("order-100001", "OrderPlaced") == "order"
    assert category_of("4f1c", "bank.domain:BankAccount.Deposited") == "BankAccount"
    assert category_of("solo", None) == "solo"


def test_projections_are_discovered_through_the_plugin_manager(plugin_manager):
    names = [p.name for p in PluginManager().projections()]
    assert {"streams", "types", "products", "orders", "customer_balances"} <= set(names)
    groups = {ep.name: ep.value for ep in entry_points(group="inspector.plugins")}
    assert groups.get("builtin_projections") == "inspector.plugins.builtin.projections"
    assert groups.get("shop") == "inspector_shop"
    info = {i.name: i for i in plugin_manager.status()}
    assert "register_projections" in info["builtin_projections"].hooks and info["builtin_projections"].ok
