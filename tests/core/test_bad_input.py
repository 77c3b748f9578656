"""Damaged and odd stores read through the real reader (``open_store``) on every backend: a bad
event carries a readable ``decode_error``, its neighbours decode, and the page is read to the end.

The stores are the inspector's own layout (``inspector_events``) built with plain SQL, so corrupt
values can be written; ``data`` is a binary column (BLOB, bytea, LONGBLOB) where raw bytes are
needed. Detection recognises the table by its column names."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from inspector.core.codecs import BUILTIN_CODECS, Codec
from inspector.core.model import EventFilter
from inspector.core.session import OpenedStore, open_store

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

TYPES = {  # backend -> (position, binary, text, time)
    "sqlite": ("INTEGER", "BLOB", "TEXT", "TEXT"),
    "postgresql": ("BIGINT", "BYTEA", "TEXT", "TIMESTAMPTZ"),
    "mysql": ("BIGINT", "LONGBLOB", "LONGTEXT", "DATETIME(6)"),
}

#: PyMySQL sends bytes parameters hex-escaped, twice their size, and MariaDB's default
#: max_allowed_packet is 16 MiB: large binary values are written in pieces there.
CHUNK = 4 * 2**20


@dataclass
class Row:
    position: int
    data: Any
    recorded_at: dt.datetime | None = None
    metadata: str | None = None
    type: str = "Placed"
    stream: str | None = None


def backend_of(url: str) -> str:
    return sa.make_url(url).get_backend_name()


def build(url: str, rows: list[Row], *, data: str = "binary", unique: bool = True) -> None:
    """Create ``inspector_events`` with a ``data`` column of kind ``data`` ("binary" or "text")
    and write ``rows`` as given, with a writable engine of our own."""
    backend = backend_of(url)
    pos, binary, text, time = TYPES[backend]
    key = " PRIMARY KEY" if unique else ""
    ddl = (f"CREATE TABLE inspector_events (position {pos} NOT NULL{key}, event_id VARCHAR(64), "
           f"stream VARCHAR(200), version INTEGER, type VARCHAR(200), recorded_at {time} NULL, "
           f"data {binary if data == 'binary' else text}, metadata {text}, causation_id VARCHAR(64), "
           f"correlation_id VARCHAR(64), actor VARCHAR(64))")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(ddl))
            insert = sa.text(
                "INSERT INTO inspector_events (position, event_id, stream, version, type, recorded_at, data, "
                "metadata, causation_id, correlation_id, actor) VALUES (:position, :event_id, :stream, "
                ":version, :type, :recorded_at, :data, :metadata, NULL, :corr, 'user:1')")
            for i, r in enumerate(rows):
                t = r.recorded_at
                if t is not None and backend == "sqlite":
                    t = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                elif t is not None and backend == "mysql":
                    t = t.replace(tzinfo=None)  # DATETIME keeps UTC without a zone
                data, rest = r.data, b""
                if backend == "mysql" and isinstance(data, bytes) and len(data) > CHUNK:
                    data, rest = data[:CHUNK], data[CHUNK:]  # see CHUNK
                conn.execute(insert, dict(position=r.position, event_id=f"ev-{i}", stream=r.stream or f"order-{r.position % 3}",
                                          version=i + 1, type=r.type, recorded_at=t, data=data,
                                          metadata=r.metadata, corr=f"c-{r.position}"))
                for k in range(0, len(rest), CHUNK):
                    conn.execute(sa.text("UPDATE inspector_events SET data = CONCAT(data, :chunk) WHERE event_id = :id"),
                                 {"chunk": rest[k:k + CHUNK], "id": f"ev-{i}"})
    finally:
        engine.dispose()


def opened(url: str, plugin_manager, codecs: list[Codec] | None = None) -> OpenedStore:
    o = open_store(url, plugin_manager.layout_definitions(), codecs if codecs is not None else plugin_manager.codecs())
    assert o.layout.name == "inspector"
    return o


def readable(msg: str | None) -> bool:
    return bool(msg) and msg.isprintable() and len(msg) < 400


def good(n: int) -> bytes:
    return json.dumps({"n": n, "item": "ok"}).encode()


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


# -- corrupt payloads ----------------------------------------------------------------------------


def aes_ciphertext() -> bytes:
    from eventsourcing.cipher import AESCipher

    return AESCipher({AESCipher.CIPHER_KEY: AESCipher.create_key(16)}).encrypt(zlib.compress(good(0)))


BAD = {  # position -> (stored bytes, encoding, words the error must contain)
    2: (b'{"n": 2, "item": "o', "json", "corrupt JSON"),
    4: (zlib.compress(good(4))[:-7], "zlib", "zlib stream truncated"),
    6: (b'{"item": "caf\xe9 cr\xe8me"}', "json", "not valid UTF-8 (byte 0xe9"),
    8: (b"\xff\xfe\x00garbage\x00\x01", "binary", "unrecognised binary payload (12 bytes): ff fe 00"),
    10: (None, "encrypted", "encrypted payload"),  # real AES-GCM ciphertext, filled in below
    12: (zlib.compress(b'{"n": '), "zlib+json", "corrupt JSON"),
}


def test_each_bad_event_carries_its_error_and_the_neighbours_decode(db_url, plugin_manager):
    payloads = {p: (aes_ciphertext() if p == 10 else raw) for p, (raw, _, _) in BAD.items()}
    rows = []
    for p in range(1, 15):
        data = payloads.get(p, zlib.compress(good(p)) if p % 5 == 0 else good(p))
        rows.append(Row(p, data, at(p), metadata='{"by": "test"}' if p != 13 else '{"by": '))
    build(db_url, rows)
    store = opened(db_url, plugin_manager).store

    for events in (store.read_page(limit=100).events,
                   tuple(store.iter_events(page_size=3)),  # page boundaries fall next to bad rows
                   store.read_page(limit=100, descending=True).events[::-1]):
        assert [e.position for e in events] == list(range(1, 15))
        for e in events:
            if e.position in BAD:
                _, encoding, words = BAD[e.position]
                assert e.data is None and e.encoding == encoding, e
                assert readable(e.decode_error) and words in e.decode_error, e.decode_error
                assert e.raw is not None and bytes(e.raw) == payloads[e.position]  # kept for the raw view
            elif e.position == 13:  # a corrupt metadata column: the payload is still shown
                assert e.data == {"n": 13, "item": "ok"} and e.metadata is None
                assert e.decode_error.startswith("metadata: corrupt JSON")
            else:
                assert e.decode_error is None, e
                assert e.data == {"n": e.position, "item": "ok"}
                assert e.metadata == {"by": "test"}
                assert e.encoding == ("zlib+json" if e.position % 5 == 0 else "json")
            assert e.recorded_at == at(e.position)
    assert store.get(6).decode_error.startswith("payload is not valid UTF-8")
    assert store.count() == 14
    assert sum(b.total for b in store.histogram(bins=10).bins) == 14


def test_corrupt_json_in_a_text_column(db_url, plugin_manager):
    build(db_url, [Row(1, '{"a": 1}', at(1)), Row(2, '{"a": [1, 2', at(2)), Row(3, "not json at all", at(3)),
                   Row(4, '<note>plain xml</note>', at(4)), Row(5, '{"a": 5}', at(5))], data="text")
    events = opened(db_url, plugin_manager).store.read_page().events
    assert [(e.data, e.encoding) for e in events] == [
        ({"a": 1}, "json"), (None, "json"), ("not json at all", "text"), ("<note>plain xml</note>", "xml"), ({"a": 5}, "json")]
    assert readable(events[1].decode_error) and "corrupt JSON" in events[1].decode_error
    assert [e.decode_error is None for e in events] == [True, False, True, True, True]


def test_a_plugin_codec_that_raises_does_not_stop_the_page(db_url, plugin_manager):
    def explode(raw):
        raise RuntimeError("protobuf plugin bug")

    proto = Codec("protobuf", sniff=lambda raw: isinstance(raw, bytes) and raw[:1] == b"\x0a", decode=explode, priority=5)
    build(db_url, [Row(1, good(1), at(1)), Row(2, b"\x0a\x02hi", at(2)), Row(3, good(3), at(3))])
    events = opened(db_url, plugin_manager, list(BUILTIN_CODECS) + [proto]).store.read_page().events
    assert [e.data for e in events] == [{"n": 1, "item": "ok"}, None, {"n": 3, "item": "ok"}]
    assert events[1].decode_error == "codec protobuf failed: RuntimeError: protobuf plugin bug"


# -- times -------------------------------------------------------------------------------------


def test_null_timestamps(db_url, plugin_manager):
    """Events without a time read with ``recorded_at=None``; counts count them, time filters and
    histogram bins (which are times) leave them out, sorting by time puts them first."""
    times = {1: at(0), 2: None, 3: at(10), 4: None, 5: at(20), 6: at(30)}
    build(db_url, [Row(p, good(p), t) for p, t in times.items()])
    store = opened(db_url, plugin_manager).store
    events = store.read_page().events
    assert [e.recorded_at for e in events] == list(times.values())
    assert all(e.decode_error is None for e in events)
    assert store.count() == 6
    assert store.count(EventFilter(since=at(5))) == 3
    h = store.histogram(bins=30)
    assert h.axis == "time" and sum(b.total for b in h.bins) == 4 and h.types == ("Placed",)
    assert [e.position for e in store.read_page(sort="recorded_at").events] == [2, 4, 1, 3, 5, 6]
    assert [s.events for s in store.streams()] and sum(s.events for s in store.streams()) == 6
    b = store.bounds()
    assert (b.events, b.first_time, b.last_time) == (6, at(0), at(30))


@pytest.mark.parametrize("missing", [(1,), (4,), (1, 4)], ids=["first", "last", "both-ends"])
def test_histogram_when_the_events_at_the_ends_have_no_time(db_url, plugin_manager, missing):
    """The histogram's default range comes from the ends of the position order; an event without a
    time there must not leave the histogram empty."""
    build(db_url, [Row(p, good(p), None if p in missing else at(p * 10)) for p in (1, 2, 3, 4)])
    store = opened(db_url, plugin_manager).store
    assert store.count() == 4
    assert sum(b.total for b in store.histogram(bins=10).bins) == 4 - len(missing)


# -- size --------------------------------------------------------------------------------------


def test_ten_megabyte_payload(db_url, plugin_manager):
    big = {"blob": "x" * (10 * 2**20), "n": 2}
    raw = json.dumps(big).encode()
    assert len(raw) > 10 * 2**20
    build(db_url, [Row(1, good(1), at(1)), Row(2, raw, at(2)), Row(3, zlib.compress(raw), at(3)), Row(4, good(4), at(4))])
    store = opened(db_url, plugin_manager).store
    page = store.read_page(limit=10)
    assert [e.position for e in page.events] == [1, 2, 3, 4] and not page.has_more
    assert [e.encoding for e in page.events] == ["json", "json", "zlib+json", "json"]
    assert page.events[1].data == big and page.events[2].data == big
    assert page.events[3].data == {"n": 4, "item": "ok"}
    assert all(e.decode_error is None for e in page.events)


# -- duplicate positions -------------------------------------------------------------------------


DUPES = [1, 2, 2, 3, 3, 3, 4, 5, 5]


def read_all(store, page_size: int) -> list:
    """Every page, with a guard so a reader that loops forever fails instead of hanging."""
    events = []
    for i, page in enumerate(store.iter_pages(page_size=page_size)):
        assert i <= len(DUPES), "the reader keeps returning pages: it loops"
        events.extend(page.events)
    return events


def test_duplicate_positions_are_read_without_looping_or_crashing(db_url, plugin_manager):
    """A table without a unique position (a broken copy, a hand-made export). What happens: the
    reader always ends, never repeats an event, and shows every position (every row, see below),
    and ``count()`` counts every row."""
    build(db_url, [Row(p, good(p), at(p)) for p in DUPES], unique=False)
    store = opened(db_url, plugin_manager).store
    assert store.count() == len(DUPES)
    for size in range(1, len(DUPES) + 2):
        events = read_all(store, size)
        positions = [e.position for e in events]
        assert positions == sorted(positions) and set(positions) == set(DUPES)
        assert len({e.event_id for e in events}) == len(events)  # nothing shown twice
        assert all(e.data == {"n": e.position, "item": "ok"} for e in events)
    assert [e.position for e in read_all(store, 100)] == DUPES  # one page holds them all
    assert store.get(3).position == 3
    assert sum(s.events for s in store.streams()) == len(DUPES)


def test_duplicate_positions_every_row_is_read_at_any_page_size(db_url, plugin_manager):
    """Rows sharing a position are never split across pages in a way that loses one: SQLite and
    PostgreSQL order them by row identity (rowid, ctid); without one (MariaDB here) a page ends
    after all the rows of its last position."""
    build(db_url, [Row(p, good(p), at(p)) for p in DUPES], unique=False)
    store = opened(db_url, plugin_manager).store
    for size in range(1, len(DUPES) + 2):
        events = read_all(store, size)
        assert len(events) == len(DUPES), size
        assert sorted(e.event_id for e in events) == sorted(f"ev-{i}" for i in range(len(DUPES)))
        back, cursor = [], None
        while True:
            page = store.read_page(limit=size, cursor=cursor, descending=True)
            back.extend(page.events)
            if not page.has_more:
                break
            cursor = page.last_key
        assert sorted(e.event_id for e in back) == sorted(e.event_id for e in events), size


# -- empty -----------------------------------------------------------------------------------


def test_empty_store(db_url, plugin_manager):
    build(db_url, [])
    store = opened(db_url, plugin_manager).store
    assert store.count() == 0
    page = store.read_page()
    assert page.events == () and not page.has_more and page.first_key is None and page.last_key is None
    assert store.read_page(descending=True).events == ()
    assert list(store.iter_events()) == []
    h = store.histogram()
    assert h.bins == () and h.types == ()
    assert store.streams() == [] and store.categories() == [] and store.event_types() == []
    assert store.head() is None and store.get(1) is None
    b = store.bounds()
    assert (b.events, b.first_position, b.last_position, b.first_time, b.last_time) == (0, None, None, None, None)
