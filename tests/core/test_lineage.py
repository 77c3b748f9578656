"""Command lineage against real stores: the demo shop's pricing-bot incident, every layout's
fixture writer on each backend where it exists, the real eventsourcing library, and command logs
written through ``ownstore`` on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import uuid
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from inspector.core import ownstore
from inspector.core.command_log import RecordedCommand, commands_for_correlation, find_command, find_commands
from inspector.core.demo import create_demo
from inspector.core.errors import InspectorError
from inspector.core.lineage import FORMAT, LineageGraph, correlation_lineage, event_lineage, lineage
from inspector.core.model import EventFilter
from inspector.core.ownstore import NewCommand, NewEvent
from inspector.core.session import open_store
from inspector.core.store import EventStore
from tests.conftest import new_database
from tests.fixtures import NS, Expected, Written, axon, inspector, marten, messagedb, rails

UTC = dt.timezone.utc
NODE_KEYS = {"kind", "id", "position", "stream", "version", "type", "actor", "at", "correlation_id", "causation_id"}
GRAPH_KEYS = {"format", "layout", "lineage", "query", "focus", "roots", "root_source", "nodes", "edges",
              "missing_causes", "explanation", "truncated"}


def roundtrip(g: LineageGraph) -> dict[str, Any]:
    doc = json.loads(json.dumps(g.to_json()))
    assert set(doc) == GRAPH_KEYS and doc["format"] == FORMAT
    assert all(set(n) == NODE_KEYS for n in doc["nodes"])
    assert all(set(e) == {"parent", "child"} for e in doc["edges"])
    assert LineageGraph.from_json(doc) == g
    return doc


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


# -- the demo shop: the pricing-bot incident ------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return create_demo(tmp_path_factory.mktemp("lineage-demo") / "demo.sqlite", events=3000, seed=11)


@pytest.fixture(scope="module")
def demo_store(demo, plugin_manager):
    o = open_store(f"sqlite:///{demo.path}", plugin_manager.layout_definitions(), plugin_manager.codecs())
    assert o.layout.name == "inspector" and o.layout.commands is not None
    yield o.store
    o.store.close()


def sql(demo, query: str, *params) -> list[tuple]:
    with sqlite3.connect(demo.path) as db:
        return db.execute(query, params).fetchall()


def test_incident_correlation_starts_at_the_pricing_bots_command(demo, demo_store):
    inc = demo.incident
    g = correlation_lineage(demo_store, inc["correlation_id"])
    assert g.roots == (inc["command_id"],) and g.root_source == "command" and g.explanation is None
    root = g.node(inc["command_id"])
    assert (root.kind, root.type, root.actor) == ("command", "BulkReprice", "agent:pricing-bot")
    assert root.position is None and root.at.tzinfo is not None
    expected = {r[0] for r in sql(demo, "SELECT event_id FROM inspector_events WHERE correlation_id = ? AND "
                                        "type = 'PriceChanged'", inc["correlation_id"])}
    changes = [n for n in g.nodes if n.type == "PriceChanged"]
    assert {n.id for n in changes} == expected and len(expected) == inc["price_changes"]
    assert {n.stream for n in changes} == {f"product-{sku}" for sku in inc["skus"]}
    for n in changes:
        assert g.parent(n.id) == root and n.actor == "agent:pricing-bot" and n.at >= root.at
    assert all(n.actor and n.at for n in g.nodes), "actor and time on every node"
    assert not g.truncated and g.missing_causes == ()
    doc = roundtrip(g)
    assert doc["nodes"][0]["kind"] == "command" and doc["query"] == {"correlation_id": inc["correlation_id"]}


def test_every_price_change_leads_back_to_the_command_and_the_bot(demo, demo_store):
    inc = demo.incident
    rows = sql(demo, "SELECT event_id, position FROM inspector_events WHERE correlation_id = ? AND type = 'PriceChanged'",
               inc["correlation_id"])
    assert rows
    for event_id, position in rows:
        for g in (event_lineage(demo_store, event_id), event_lineage(demo_store, position=position)):
            assert g.focus == event_id
            chain = g.ancestry(event_id)
            assert [n.kind for n in chain] == ["command", "event"]
            assert (chain[0].id, chain[0].actor, chain[0].type) == (inc["command_id"], "agent:pricing-bot", "BulkReprice")
            assert g.roots == (inc["command_id"],) and g.descendants(event_id) == ()


def descendants_by_sql(demo, event_id: str) -> set[str]:
    return {r[0] for r in sql(demo, """
        WITH RECURSIVE d(event_id) AS (
            SELECT event_id FROM inspector_events WHERE causation_id = ?
            UNION SELECT e.event_id FROM inspector_events e JOIN d ON e.causation_id = d.event_id)
        SELECT event_id FROM d""", event_id)}


def test_blast_radius_of_orders_at_wrong_prices(demo, demo_store):
    orders = demo.incident["orders"]
    assert orders
    flagged = 0
    for order_id in orders:
        placed = next(demo_store.iter_events(EventFilter(stream=f"order-{order_id}", types=("OrderPlaced",))))
        g = event_lineage(demo_store, placed.event_id)
        below = g.descendants(placed.event_id)
        assert {n.id for n in below} == descendants_by_sql(demo, placed.event_id)
        reactions = [n for n in g.children(placed.event_id) if n.actor in ("agent:inventory-bot", "agent:fraud-watch")]
        assert any(n.type == "StockReserved" and n.actor == "agent:inventory-bot" for n in reactions)
        assert all(n.causation_id == placed.event_id for n in reactions)
        fraud = [n for n in reactions if n.type == "OrderFlagged" and n.actor == "agent:fraud-watch"]
        flagged += len(fraud)
        chain = g.ancestry(placed.event_id)
        assert chain[0].kind == "command" and chain[0].type == "PlaceOrder" and chain[0].actor == f"customer:{placed.data['customer_id']}"

        lines = g.render_tree().splitlines()
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("OrderPlaced") and "<= this event" in line)
        assert re.match(r"^PlaceOrder by customer:\d+ at \S+Z \[command [0-9a-f-]{36}\]$", lines[0])
        assert indent_of(lines[at]) == 2 and lines[at].strip().startswith(f"OrderPlaced order-{order_id}@1 by customer:")
        block = []
        for line in lines[at + 1:]:
            if indent_of(line) <= indent_of(lines[at]):
                break
            block.append(line)
        for n in reactions:
            line = next(x for x in block if x.rstrip().endswith(f"#{n.position}"))
            assert indent_of(line) == 4 and line.strip().startswith(f"{n.type} {n.stream}@{n.version} by {n.actor} at ")
        roundtrip(g)
    assert flagged == len(orders), "fraud-watch flags every order at a wrong price"


def test_every_demo_correlation_matches_the_tables(demo, demo_store):
    """Commands and events of a correlation as SQL sees them; every edge is a recorded causation."""
    correlations = [r[0] for r in sql(demo, "SELECT correlation_id FROM inspector_commands ORDER BY issued_at")][::25]
    for corr in correlations + [demo.incident["fix_correlation_id"]]:
        g = correlation_lineage(demo_store, corr)
        cmds = {r[0] for r in sql(demo, "SELECT command_id FROM inspector_commands WHERE correlation_id = ?", corr)}
        events = dict(sql(demo, "SELECT event_id, causation_id FROM inspector_events WHERE correlation_id = ?", corr))
        assert {n.id for n in g.nodes if n.kind == "command"} == cmds
        assert {n.id for n in g.nodes if n.kind == "event"} == set(events)
        assert set(g.edges) == {(cause, eid) for eid, cause in events.items()}
        assert set(g.roots) == cmds and g.root_source == "command"
        rendered = g.render_tree().splitlines()
        assert len(rendered) == len(g.nodes)


def test_command_log_reads(demo, demo_store):
    inc = demo.incident
    (fix,) = commands_for_correlation(demo_store, inc["fix_correlation_id"])
    assert isinstance(fix, RecordedCommand)
    assert (fix.command_id, fix.type, fix.actor) == (inc["fix_command_id"], "RestorePrices", "user:alice")
    assert fix.payload["reverts_correlation_id"] == inc["correlation_id"]
    assert fix.issued_at.tzinfo == UTC and fix.issued_at.isoformat().startswith(inc["date"])
    assert find_command(demo_store, inc["command_id"]).payload["multiplier"] == 0.1
    assert find_command(demo_store, "no-such-command") is None
    assert commands_for_correlation(demo_store, "no-such-correlation") == ()
    assert RecordedCommand.from_json(json.loads(json.dumps(fix.to_json()))) == fix
    many = [r[0] for r in sql(demo, "SELECT command_id FROM inspector_commands")]
    assert len(many) > 500 and set(find_commands(demo_store, many)) == set(many)  # several batches


def test_cap_marks_the_graph_truncated(demo, demo_store):
    g = correlation_lineage(demo_store, demo.incident["correlation_id"], max_nodes=3)
    assert g.truncated and len(g.nodes) == 3 and "cap" in g.explanation
    assert g.render_tree().splitlines()[-2].startswith("... truncated")
    assert roundtrip(g)["truncated"] is True


def test_unknown_event_and_correlation(demo_store):
    with pytest.raises(InspectorError, match="no event with id"):
        event_lineage(demo_store, str(uuid.uuid4()))
    with pytest.raises(InspectorError, match="position"):
        event_lineage(demo_store, position=10**9)
    with pytest.raises(InspectorError):
        lineage(demo_store, event_id="x", correlation_id="y")
    g = lineage(demo_store, correlation_id="nobody")
    assert g.nodes == () and "no events or commands" in g.explanation and roundtrip(g)["roots"] == []


# -- the command log on every backend --------------------------------------------------------------


T = dt.datetime(2026, 3, 29, 0, 59, 58, 123456, tzinfo=UTC)


def _ev(n: int, stream: str, version: int, etype: str, cause: str, corr: str, actor: str, seconds: int) -> NewEvent:
    return NewEvent(str(uuid.uuid5(NS, f"lin-{n}")), stream, version, etype, T + dt.timedelta(seconds=seconds),
                    {"n": n, "note": "Grüße"}, None, cause, corr, actor)


def test_command_log_and_follow_on_every_backend(db_url, plugin_manager):
    corr, other = str(uuid.uuid5(NS, "corr-x")), str(uuid.uuid5(NS, "corr-y"))
    place = NewCommand(str(uuid.uuid5(NS, "cmd-place")), "PlaceOrder", "customer:12", T, {"lines": [{"sku": "A1"}]}, corr)
    capture = NewCommand(str(uuid.uuid5(NS, "cmd-capture")), "CapturePayment", "agent:fraud-watch",
                         T + dt.timedelta(minutes=5), {"amount": 12.5}, corr)
    e1 = _ev(1, "order-7", 1, "OrderPlaced", place.command_id, corr, "customer:12", 1)
    e2 = _ev(2, "inventory-A1", 1, "StockReserved", e1.event_id, corr, "agent:inventory-bot", 2)
    e3 = _ev(3, "audit-1", 1, "OrderAudited", e1.event_id, other, "agent:auditor", 3)  # another correlation
    e4 = _ev(4, "payment-7", 1, "PaymentCaptured", capture.command_id, corr, "agent:fraud-watch", 301)
    e5 = _ev(5, "order-7", 2, "OrderPaid", e4.event_id, corr, "agent:fraud-watch", 302)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_commands(conn, [capture, place])
        ownstore.append_events(conn, [e1, e2, e3, e4, e5])
    engine.dispose()
    o = open_store(db_url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    store = o.store
    try:
        cmds = commands_for_correlation(store, corr)
        assert [c.command_id for c in cmds] == [place.command_id, capture.command_id]  # in issue order
        assert cmds[0].issued_at == T and cmds[0].issued_at.tzinfo == UTC and cmds[1].payload == {"amount": 12.5}
        assert find_command(store, capture.command_id) == cmds[1]

        g = correlation_lineage(store, corr)
        assert g.roots == (place.command_id, capture.command_id) and g.explanation is None
        assert set(g.edges) == {(place.command_id, e1.event_id), (e1.event_id, e2.event_id), (e1.event_id, e3.event_id),
                                (capture.command_id, e4.event_id), (e4.event_id, e5.event_id)}
        assert g.node(e3.event_id).correlation_id == other  # followed out of the correlation
        assert e3.event_id not in {n.id for n in correlation_lineage(store, corr, follow=False).nodes}
        assert [line.strip().split(" ")[0] for line in g.render_tree().splitlines()] == [
            "PlaceOrder", "OrderPlaced", "StockReserved", "OrderAudited", "CapturePayment", "PaymentCaptured", "OrderPaid"]
        assert g.node(e1.event_id).at == e1.recorded_at

        h = event_lineage(store, e5.event_id)
        assert [n.id for n in h.ancestry(e5.event_id)] == [capture.command_id, e4.event_id, e5.event_id]
        assert h.ancestry(e5.event_id)[0].actor == "agent:fraud-watch"
        radius = event_lineage(store, position=h.node(e5.event_id).position - 4)  # e1
        assert radius.focus == e1.event_id
        assert {n.id for n in radius.descendants(e1.event_id)} == {e2.event_id, e3.event_id}
        roundtrip(g)
        roundtrip(h)
    finally:
        store.close()


def test_wide_graphs_query_in_batches(sqlite_url, plugin_manager):
    """1,200 events caused by one command, each causing one more in a correlation of its own: the
    walk goes breadth first in IN lists of at most 500 values, every statement filtered in SQL."""
    corr = str(uuid.uuid5(NS, "wide"))
    cmd = NewCommand(str(uuid.uuid5(NS, "wide-cmd")), "BulkImport", "system:importer", T, {}, corr)
    first = [_ev(10_000 + i, f"item-{i}", 1, "Imported", cmd.command_id, corr, "system:importer", i) for i in range(1200)]
    second = [_ev(20_000 + i, f"item-{i}", 2, "Indexed", first[i].event_id, f"c-{i}", "agent:indexer", 2000 + i)
              for i in range(1200)]
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        ownstore.create_schema(conn)
        ownstore.append_commands(conn, [cmd])
        ownstore.append_events(conn, first + second)
    engine.dispose()
    o = open_store(sqlite_url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    statements: list[tuple[str, Any]] = []
    sa.event.listen(o.store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: statements.append((statement, params)))
    try:
        g = correlation_lineage(o.store, corr)
        assert len(g.nodes) == 2401 and g.roots == (cmd.command_id,) and not g.truncated
        assert len(g.children(cmd.command_id)) == 1200
        assert {n.id for n in g.descendants(cmd.command_id)} == {e.event_id for e in first + second}
        assert all(len(g.children(e.event_id)) == 1 for e in first)
        inside = correlation_lineage(o.store, corr, follow=False)
        assert len(inside.nodes) == 1201
        one = correlation_lineage(o.store, "c-7")  # the cause and its command are outside the correlation
        assert [n.type for n in one.ancestry(second[7].event_id)] == ["BulkImport", "Imported", "Indexed"]
        capped = correlation_lineage(o.store, corr, max_nodes=1000)
        assert capped.truncated and len(capped.nodes) == 1000
    finally:
        o.store.close()
    assert statements
    for statement, params in statements:
        if statement.lstrip().upper().startswith("SELECT"):
            assert " WHERE " in statement, statement
            assert len(params or ()) <= 501, "at most 500 values per IN list"


# -- every layout's fixture on every backend where it exists --------------------------------------

IDS_CASES = [
    ("sqlite", "inspector", inspector.create),
    ("postgresql", "inspector", inspector.create),
    ("mysql", "inspector", inspector.create),
    ("postgresql", "marten", marten.create),
    ("postgresql", "message-db", messagedb.create),
    ("postgresql", "rails-event-store", rails.create),
    ("mysql", "rails-event-store", rails.create),
]


@pytest.fixture(scope="module", params=IDS_CASES, ids=[f"{b}-{n}" for b, n, _ in IDS_CASES])
def fixture_store(request, tmp_path_factory, plugin_manager):
    backend, name, write = request.param
    url, drop = new_database(backend, tmp_path_factory.mktemp("lineage"))
    try:
        written = write(url)
        o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        assert o.layout.name == name
        yield written, o.store
        o.store.close()
    finally:
        drop()


class Truth:
    """The lineage a fixture wrote, worked out in Python from what the writer returns."""

    def __init__(self, w: Written, positions: bool):
        self.events = w.events
        self.by_ref = {(str(e.position) if positions else e.event_id): e for e in w.events}

    def parent(self, e: Expected) -> Expected | None:
        return self.by_ref.get(e.causation_id) if e.causation_id else None

    def chain(self, e: Expected) -> list[str]:
        out = [e.event_id]
        while (e := self.parent(e)) is not None:
            out.append(e.event_id)
        return out[::-1]

    def below(self, e: Expected) -> set[str]:
        return {x.event_id for x in self.events if e.event_id in self.chain(x)[:-1]}

    def correlation(self, corr: str) -> set[str]:
        members = [e for e in self.events if e.correlation_id == corr]
        return {i for e in members for i in self.chain(e)}


def test_fixture_correlations(fixture_store):
    written, store = fixture_store
    positions = store.layout.lineage == "positions"
    truth = Truth(written, positions)
    correlations = sorted({e.correlation_id for e in written.events if e.correlation_id})
    assert len(correlations) >= 3
    for corr in correlations:
        g = lineage(store, correlation_id=corr)
        want = truth.correlation(corr)
        assert {n.id for n in g.nodes} == want and all(n.kind == "event" for n in g.nodes)
        by_id = {e.event_id: e for e in written.events}
        assert set(g.edges) == {(truth.parent(by_id[i]).event_id, i) for i in want if truth.parent(by_id[i])}
        roots = sorted((by_id[i] for i in want if truth.parent(by_id[i]) is None), key=lambda e: e.position)
        assert list(g.roots) == [e.event_id for e in roots]
        assert [n.position for n in g.nodes] == sorted(by_id[i].position for i in want)
        for n in g.nodes:
            e = by_id[n.id]
            assert (n.position, n.stream, n.type, n.causation_id, n.correlation_id) == (
                e.position, e.stream, e.type, e.causation_id, e.correlation_id)
            assert n.at == e.recorded_at and n.actor == e.actor
        # no command log (or none recorded): the first event stands in, and the JSON says so
        doc = roundtrip(g)
        assert doc["root_source"] == "first_event" and "stands in as the root" in doc["explanation"]
        if store.layout.commands is None:
            assert doc["explanation"].startswith("this store keeps no command log: the first event of the correlation")
        assert doc["nodes"][0]["id"] == doc["roots"][0]


def test_fixture_event_ancestry_and_descendants(fixture_store):
    written, store = fixture_store
    truth = Truth(written, store.layout.lineage == "positions")
    for e in written.events:
        g = event_lineage(store, position=e.position)
        assert g.focus == e.event_id
        assert [n.id for n in g.ancestry(e.event_id)] == truth.chain(e)
        assert {n.id for n in g.descendants(e.event_id)} == truth.below(e)
        assert g.roots == (truth.chain(e)[0],) and g.root_source == "first_event"
    e = written.events[6]
    by_position = event_lineage(store, position=e.position)
    assert event_lineage(store, e.event_id) == replace(by_position, query={"event_id": e.event_id})
    tree = event_lineage(store, e.event_id).render_tree().splitlines()
    marked = [line for line in tree if line.endswith("<= this event")]
    assert len(marked) == 1 and indent_of(marked[0]) == 2 * (len(truth.chain(e)) - 1)


def test_message_db_correlation_is_a_stream_name(pg_url, plugin_manager):
    written = messagedb.create(pg_url)
    o = open_store(pg_url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        stream = written.events[0].stream  # "order-1": the stream the conversation correlates to
        g = lineage(o.store, correlation_id=stream)
        focus = written.events[2]  # caused by position of events[1], caused by events[0]
        h = event_lineage(o.store, position=focus.position)
    finally:
        o.store.close()
    assert stream == "order-1" and g.lineage == "positions" and g.query == {"correlation_id": stream}
    assert all(g.node(r).causation_id is None for r in g.roots)
    assert written.events[0].event_id in g.roots  # written without metadata: found as the cause
    assert len(g.roots) > 1, "several conversations correlate to order-1"
    for p, c in g.edges:
        assert g.node(c).causation_id == str(g.node(p).position)
    assert [n.position for n in h.ancestry(focus.event_id)] == [e.position for e in written.events[:3]]
    assert h.node(focus.event_id).causation_id == str(written.events[1].position)


UNREADABLE_CASES = [
    ("sqlite", rails.create, "correlation id"),  # YAML in BLOBs
    ("sqlite", axon.create_jdbc, "correlation id"),
    ("postgresql", axon.create_jdbc, "correlation id"),
    ("mysql", axon.create_jpa, "correlation id"),
]


@pytest.mark.parametrize("backend,write,what", UNREADABLE_CASES,
                         ids=[f"{b}-{w.__module__.rsplit('.', 1)[1]}.{w.__name__}" for b, w, _ in UNREADABLE_CASES])
def test_lineage_inside_binary_metadata_is_explained(backend, write, what, tmp_path, plugin_manager):
    url, drop = new_database(backend, tmp_path)
    try:
        written = write(url)
        o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        try:
            g = correlation_lineage(o.store, str(uuid.uuid5(NS, "flow-0")))
            assert g.nodes == () and what in g.explanation and "cannot" in g.explanation
            e = written.events[5]
            h = event_lineage(o.store, position=e.position)
            assert [n.id for n in h.nodes] == [e.event_id] and h.roots == (e.event_id,)
            assert "causes cannot be followed" in h.explanation
            roundtrip(g)
            roundtrip(h)
        finally:
            o.store.close()
    finally:
        drop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_eventsourcing_store_gives_an_empty_graph_with_the_reason(backend, tmp_path, plugin_manager):
    from tests.core.test_eventsourcing_stores import env_for, run_bank

    url, drop = new_database(backend, tmp_path)
    try:
        run_bank(env_for(backend, url)).close()
        o = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        try:
            assert o.layout.name == "eventsourcing" and o.layout.lineage == "none"
            reason = "this store records no causation or correlation (the eventsourcing library keeps none)"
            for g in (correlation_lineage(o.store, "anything"), event_lineage(o.store, position=3),
                      lineage(o.store, event_id="x")):
                assert (g.nodes, g.edges, g.roots, g.truncated) == ((), (), (), False)
                assert g.explanation == reason and g.render_tree() == f"note: {reason}"
                assert roundtrip(g)["lineage"] == "none"
        finally:
            o.store.close()
    finally:
        drop()
