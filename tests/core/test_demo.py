"""The bundled demo store: determinism, store invariants, and the pricing-bot incident."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from inspector.core import ownstore
from inspector.core.demo import DemoSummary, create_demo, default_demo_path

SMALL = 3000


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSummary:
    return create_demo(tmp_path_factory.mktemp("demo") / "demo.sqlite", events=SMALL, seed=7)


def _rows(path: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def _dump(path: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    return (
        _rows(path, "SELECT * FROM inspector_events ORDER BY position"),
        _rows(path, "SELECT * FROM inspector_commands ORDER BY command_id"),
        _rows(path, "SELECT * FROM inspector_store_info ORDER BY key"),
    )


def test_same_seed_same_store_other_seed_other_store(demo: DemoSummary, tmp_path) -> None:
    again = tmp_path / "again.sqlite"
    again.write_bytes(b"not a database")  # an existing file is replaced
    second = create_demo(again, events=SMALL, seed=7)
    assert _dump(again) == _dump(demo.path)
    assert (second.events, second.commands, second.streams, second.incident) == (
        demo.events, demo.commands, demo.streams, demo.incident)
    other = create_demo(tmp_path / "other.sqlite", events=SMALL, seed=8)
    assert _dump(other.path)[0] != _dump(demo.path)[0]


def test_summary_and_store_info(demo: DemoSummary) -> None:
    (events,), = _rows(demo.path, "SELECT count(*) FROM inspector_events")
    (commands,), = _rows(demo.path, "SELECT count(*) FROM inspector_commands")
    (streams,), = _rows(demo.path, "SELECT count(DISTINCT stream) FROM inspector_events")
    assert (demo.events, demo.commands, demo.streams) == (events, commands, streams)
    first, last = _rows(demo.path, "SELECT min(recorded_at), max(recorded_at) FROM inspector_events")[0]
    assert ownstore.parse_time(first) == demo.first_time and ownstore.parse_time(last) == demo.last_time
    assert demo.first_time.date().isoformat() == "2026-10-02" and demo.last_time.date().isoformat() == "2026-10-31"
    info = dict(_rows(demo.path, "SELECT key, value FROM inspector_store_info"))
    assert info["layout"] == "inspector" and info["schema_version"] == "1"
    assert info["seed"] == "7" and info["events"] == str(events) and info["created_by"].startswith("inspector")
    (mode,), = _rows(demo.path, "PRAGMA journal_mode")
    assert mode == "delete"


def test_positions_versions_and_times(demo: DemoSummary) -> None:
    rows = _rows(demo.path, "SELECT position, stream, version, recorded_at FROM inspector_events ORDER BY position")
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    versions: dict[str, list[int]] = defaultdict(list)
    for _, stream, version, _ in rows:
        versions[stream].append(version)
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), stream
    times = [r[3] for r in rows]
    assert all(len(t) == 27 and t.endswith("Z") for t in times)
    assert all(a < b for a, b in zip(times, times[1:])), "times rise with position"
    assert all("-" in s and s.split("-", 1)[0] in {"product", "inventory", "order", "payment", "customer"}
               for s in versions)


def test_lineage_is_closed(demo: DemoSummary) -> None:
    orphans = _rows(demo.path, """
        SELECT count(*) FROM inspector_events e
        WHERE NOT EXISTS (SELECT 1 FROM inspector_commands c WHERE c.correlation_id = e.correlation_id)""")
    assert orphans == [(0,)]
    bad_causes = _rows(demo.path, """
        SELECT e.position, e.causation_id FROM inspector_events e
        WHERE NOT EXISTS (SELECT 1 FROM inspector_commands c WHERE c.command_id = e.causation_id)
          AND NOT EXISTS (SELECT 1 FROM inspector_events p WHERE p.event_id = e.causation_id
                                                           AND p.position < e.position)""")
    assert bad_causes == []
    silent = _rows(demo.path, """
        SELECT count(*) FROM inspector_commands c
        WHERE NOT EXISTS (SELECT 1 FROM inspector_events e WHERE e.causation_id = c.command_id)""")
    assert silent == [(0,)], "every command caused at least one event"
    early = _rows(demo.path, """
        SELECT count(*) FROM inspector_commands c JOIN inspector_events e ON e.causation_id = c.command_id
        WHERE c.issued_at >= e.recorded_at""")
    assert early == [(0,)], "a command is issued before the events it causes"


def test_ids_are_uuid4(demo: DemoSummary) -> None:
    ids = [r[0] for r in _rows(demo.path, """
        SELECT event_id FROM inspector_events UNION ALL SELECT correlation_id FROM inspector_events
        UNION ALL SELECT command_id FROM inspector_commands""")]
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


def test_metadata_matches_columns(demo: DemoSummary) -> None:
    rows = _rows(demo.path, """
        SELECT e.metadata, e.actor, e.causation_id, e.correlation_id, c.type, c.correlation_id
        FROM inspector_events e LEFT JOIN inspector_commands c ON c.command_id = json_extract(e.metadata, '$.command_id')""")
    actors = set()
    for meta, actor, causation, correlation, command_type, command_corr in rows:
        m = json.loads(meta)
        assert (m["actor"], m["causation_id"], m["correlation_id"]) == (actor, causation, correlation)
        assert m["command_type"] == command_type and command_corr == correlation and m["schema_version"] == 1
        assert ("ip" in m) == actor.startswith(("user:", "customer:"))
        actors.add(actor.split(":")[0] if actor.startswith("customer:") else actor)
    assert {"customer", "user:alice", "agent:pricing-bot", "agent:inventory-bot", "agent:fraud-watch",
            "agent:support-bot"} <= actors


def test_the_incident_is_there(demo: DemoSummary) -> None:
    changes = _rows(demo.path, """
        SELECT position, correlation_id, json_extract(data, '$.sku'), json_extract(data, '$.old_price'),
               json_extract(data, '$.new_price')
        FROM inspector_events WHERE type = 'PriceChanged' AND actor = 'agent:pricing-bot' ORDER BY position""")
    cut = [c for c in changes if abs(c[4] - c[3] / 10) <= 0.0051]
    correlations = {c[1] for c in cut}
    assert len(correlations) == 1, "one pricing-bot batch cut prices by 90%"
    corr = correlations.pop()
    assert len(cut) >= 5 and all(c[1] == corr for c in cut)
    ((command_type, actor, reason),) = _rows(
        demo.path, "SELECT type, actor, reason FROM inspector_commands WHERE correlation_id = ?", corr)
    assert (command_type, actor) == ("BulkReprice", "agent:pricing-bot") and reason
    wrong = {c[2]: c[4] for c in cut}
    original = {c[2]: c[3] for c in cut}
    after = max(c[0] for c in cut)

    fixes = _rows(demo.path, """
        SELECT position, json_extract(data, '$.sku'), json_extract(data, '$.old_price'), json_extract(data, '$.new_price')
        FROM inspector_events WHERE type = 'PriceChanged' AND actor = 'user:alice' AND position > ?
        ORDER BY position""", after)
    restored: dict[str, tuple[float, float]] = {}
    for _, sku, old, new in fixes:
        if sku in wrong:
            restored.setdefault(sku, (old, new))
    assert restored == {sku: (wrong[sku], original[sku]) for sku in wrong}, "alice restores every price"
    fixed_at = min(p for p, sku, _, _ in fixes if sku in wrong)

    orders = _rows(demo.path, """
        SELECT event_id, stream, data FROM inspector_events
        WHERE type = 'OrderPlaced' AND position > ? AND position < ? ORDER BY position""", after, fixed_at)
    at_wrong = [(eid, stream) for eid, stream, data in orders
                if any(line["sku"] in wrong and line["unit_price"] == wrong[line["sku"]]
                       for line in json.loads(data)["lines"])]
    assert len(at_wrong) >= 5
    follow_ups = defaultdict(set)
    for cause, actor, etype in _rows(demo.path, f"""
            SELECT causation_id, actor, type FROM inspector_events
            WHERE causation_id IN ({','.join('?' * len(at_wrong))})""", *[e for e, _ in at_wrong]):
        follow_ups[cause].add((actor, etype))
    for eid, stream in at_wrong:
        assert ("agent:inventory-bot", "StockReserved") in follow_ups[eid], stream
        assert ("agent:fraud-watch", "OrderFlagged") in follow_ups[eid], stream
    cancelled = _rows(demo.path, f"""
        SELECT count(*) FROM inspector_events WHERE type = 'OrderCancelled'
        AND stream IN ({','.join('?' * len(at_wrong))})""", *[s for _, s in at_wrong])
    assert cancelled[0][0] < len(at_wrong), "the orders at wrong prices mostly remain"

    inc = demo.incident
    assert inc["correlation_id"] == corr and inc["actor"] == "agent:pricing-bot"
    assert inc["day"] == 18 and inc["date"] == "2026-10-20" and inc["started_at"].startswith("2026-10-20")
    assert sorted(inc["skus"]) == sorted(wrong) and inc["price_changes"] == len(cut)
    assert inc["orders_at_wrong_prices"] == len(at_wrong) == len(inc["orders"])
    assert inc["fix_actor"] == "user:alice" and inc["started_at"] < inc["fixed_at"]


def test_readable_through_the_ownstore_tables(demo: DemoSummary) -> None:
    engine = sa.create_engine(f"sqlite:///{demo.path}")
    try:
        with engine.connect() as conn:
            ev = ownstore.events_table
            first = conn.execute(sa.select(ev).order_by(ev.c.position).limit(1)).mappings().one()
            cmd = conn.execute(sa.select(ownstore.commands_table).limit(1)).mappings().one()
            assert ownstore.read_store_info(conn)["layout"] == "inspector"
    finally:
        engine.dispose()
    assert first["recorded_at"] == demo.first_time and isinstance(first["data"], dict)
    assert first["metadata"]["schema_version"] == 1 and isinstance(cmd["payload"], dict)
    indexes = {r[0] for r in _rows(demo.path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {ix.name for t in ownstore.metadata.sorted_tables for ix in t.indexes} <= indexes


@pytest.mark.parametrize("events", [1_000, 10_000])
def test_size_scales_and_progress_is_reported(events: int, tmp_path) -> None:
    calls: list[tuple[int, int]] = []
    summary = create_demo(tmp_path / "sized.sqlite", events=events, seed=3, progress=lambda d, t: calls.append((d, t)))
    assert abs(summary.events - events) <= 0.02 * events
    assert summary.incident["price_changes"] >= 5 and summary.incident["orders_at_wrong_prices"] >= 5
    assert calls and calls[-1] == (events, events)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and {t for _, t in calls} == {events}


def test_a_failed_build_leaves_the_previous_store(tmp_path) -> None:
    path = tmp_path / "demo.sqlite"
    path.write_bytes(b"previous")

    def boom(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the user cancels mid-build

    with pytest.raises(KeyboardInterrupt):
        create_demo(path, events=1000, progress=boom)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.sqlite"]


def test_rejects_tiny_or_empty_requests(tmp_path) -> None:
    with pytest.raises(ValueError):
        create_demo(tmp_path / "x.sqlite", events=10)
    with pytest.raises(ValueError):
        create_demo(tmp_path / "x.sqlite", events=1000, days=0)


def test_default_demo_path() -> None:
    path = default_demo_path()
    assert path.name == "demo.sqlite" and "inspector" in str(path.parent).lower()
