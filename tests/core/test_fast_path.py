"""The page reader's specialised loop (EventStore._events) must give exactly what decoding each
row the general way (EventStore.to_event) gives, whatever the rows hold."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.core import ownstore
from inspector.core.session import open_store

UTC = dt.timezone.utc

PAYLOADS = [
    '{"sku": "A-1", "price": 9.99}',
    '{"when": {"_type_": "datetime_iso", "_data_": "2026-10-20T09:13:00+00:00"}}',  # a value codec's marker
    '{"broken": ',  # corrupt JSON
    '{"value": NaN}',  # the fast parser refuses NaN; the standard one reads it
    '["a", "list"]',
    '"just a string"',
    "plain text",
    '{"big": 123456789012345678901234567890}',
    '{"nested": {"deep": [1, 2, {"x": null}]}, "emoji": "✓ ünïcödé"}',
]


def _store(url, payloads, metas):
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        ownstore.create_schema(conn)
        t0 = dt.datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
        conn.execute(ownstore.events_table.insert(), [
            {"event_id": f"00000000-0000-4000-8000-{i:012d}", "stream": f"s-{i % 3}", "version": i // 3 + 1,
             "type": "T", "recorded_at": t0 + dt.timedelta(seconds=i), "data": "{}", "metadata": None,
             "causation_id": None, "correlation_id": f"c{i % 2}", "actor": "user:a"}
            for i in range(len(payloads))])
    eng.dispose()
    # write the raw texts over the JSON columns so nothing re-encodes them
    raw = sa.create_engine(url)
    with raw.begin() as conn:
        for i, (p, m) in enumerate(zip(payloads, metas), start=1):
            if raw.dialect.name == "postgresql":
                continue  # jsonb cannot hold corrupt JSON; the driver hands over dicts instead
            conn.execute(sa.text("UPDATE inspector_events SET data = :d, metadata = :m WHERE position = :p"),
                         {"d": p, "m": m, "p": i})
    raw.dispose()


def _compare(url, plugin_manager):
    opened = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    store = opened.store
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {store._select} FROM {store._from} ORDER BY e.position")).fetchall()
    fast = list(store._events(rows))
    slow = [store.to_event(r) for r in rows]
    store.close()
    return fast, slow


def test_fast_loop_equals_general_decoding(db_url, plugin_manager):
    metas = [None, '{"actor": "x"}', '{"oops"', "{}", '{"_type_": "uuid_hex", "_data_": "00000000000040008000000000000001"}',
             None, None, None, None]
    _store(db_url, PAYLOADS, metas)
    fast, slow = _compare(db_url, plugin_manager)
    assert fast == slow
    assert len(fast) == len(PAYLOADS)
    assert all(e.recorded_at.tzinfo == UTC for e in fast)
    if not db_url.startswith("postgresql"):  # there the payloads stay "{}" (see _store)
        big = [e.data["big"] for e in fast if isinstance(e.data, dict) and "big" in e.data]
        assert big == [123456789012345678901234567890]  # every digit, not a float


def test_a_page_with_one_integer_beyond_64_bits_reads_it_exactly(tmp_path, plugin_manager):
    """The page loop clears a page of orjson's inexact reading in one check; a page where one
    payload holds a 20-digit integer is read value by value with the exact parser, and the rest of
    the page is unchanged."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    payloads = [f'{{"n": {i}, "wei": {10**18 * i}}}' for i in range(1, 40)]
    payloads[17] = '{"n": 18, "wei": 18446744073709551616, "debt": -9223372036854775809}'
    _store(url, payloads, ['{"trace": 1700000000000000000}'] * len(payloads))
    fast, slow = _compare(url, plugin_manager)
    assert fast == slow
    assert fast[17].data == {"n": 18, "wei": 18446744073709551616, "debt": -9223372036854775809}
    assert [e.data["wei"] for e in fast[:3]] == [10**18, 2 * 10**18, 3 * 10**18]
    assert all(e.metadata == {"trace": 1700000000000000000} for e in fast)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=40)), min_size=1, max_size=12))
def test_fast_loop_equals_general_decoding_on_any_text(tmp_path_factory, plugin_manager, docs):
    url = f"sqlite:///{tmp_path_factory.mktemp('fast') / 'store.sqlite'}"
    _store(url, docs, [None] * len(docs))
    fast, slow = _compare(url, plugin_manager)
    assert fast == slow
