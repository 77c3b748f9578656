"""The eventsourcing plugin: readable values for what the library's own JSONTranscoder writes, and
discovery through its entry point. Values are transcoded by eventsourcing itself, never by hand."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from importlib.metadata import entry_points

import pytest
from eventsourcing.application import Application
from eventsourcing.cipher import AESCipher
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

import inspector_eventsourcing as plugin
from inspector.core.codecs import Decoded
from inspector.core.session import open_store

CET = dt.timezone(dt.timedelta(hours=1), "CET")
WHEN = dt.datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=CET)
ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
OTHER = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


@pytest.fixture
def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


def readable(value):
    """What the plugin should show for a Python value the library transcodes."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: readable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [readable(v) for v in value]
    return value


VALUES = [
    WHEN,
    WHEN.astimezone(dt.timezone.utc),
    dt.datetime(2026, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    ID,
    Decimal("12.50"),
    Decimal("-0.000001"),
    Decimal("1E+3"),
    [ID, Decimal("1.1"), WHEN],
    {"id": ID, "lines": [{"sku": OTHER, "price": Decimal("9.99"), "at": WHEN}], "note": "plain"},
    {"deep": {"deeper": [[{"when": WHEN}]]}},
    {"_type_": "not a marker", "extra": 1},  # three keys: left alone, as the library does
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_untranscode_shows_what_the_library_wrote(transcoder, value):
    raw = transcoder.encode(value)
    assert b"_type_" in raw or value == VALUES[-1]
    assert plugin.untranscode(json.loads(raw)) == readable(value)
    assert readable(transcoder.decode(raw)) == readable(value)  # the library reads it back the same


def test_the_readable_values_parse_back_to_the_originals(transcoder):
    shown = plugin.untranscode(json.loads(transcoder.encode({"at": WHEN, "id": ID, "amount": Decimal("12.50")})))
    assert dt.datetime.fromisoformat(shown["at"]) == WHEN and dt.datetime.fromisoformat(shown["at"]).utcoffset() == WHEN.utcoffset()
    assert uuid.UUID(shown["id"]) == ID and shown["id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert Decimal(shown["amount"]) == Decimal("12.50") and shown["amount"] == "12.50"  # precision kept


def test_the_plugin_knows_every_name_the_library_registers():
    """The names come from eventsourcing itself: an Application's own transcoder."""
    transcoder = Application().construct_transcoder()
    assert isinstance(transcoder, JSONTranscoder)
    assert set(transcoder.names) == {"uuid_hex", "decimal_str", "datetime_iso"}
    assert set(transcoder.names) <= set(plugin.READERS)


@pytest.mark.parametrize(
    "marker",
    [
        {"_type_": "email_address_as_str", "_data_": "ann@example.com"},  # an application's own transcoding
        {"_type_": "uuid_hex", "_data_": "not-a-uuid"},
        {"_type_": "uuid_hex", "_data_": 42},
        {"_type_": "decimal_str", "_data_": "twelve"},
        {"_type_": "datetime_iso", "_data_": None},
        {"_type_": "tuple_as_list", "_data_": "abc"},
        {"_type_": ["unhashable"], "_data_": 1},
    ],
    ids=lambda m: f"{m['_type_']}-{m['_data_']}",
)
def test_markers_it_cannot_read_are_kept_with_their_data(marker):
    assert plugin.untranscode(marker) == marker
    assert plugin.untranscode({"wrapped": [marker]}) == {"wrapped": [marker]}


def test_data_inside_an_unknown_marker_is_still_made_readable(transcoder):
    inner = json.loads(transcoder.encode(ID))
    assert plugin.untranscode({"_type_": "custom", "_data_": {"id": inner}}) == {"_type_": "custom", "_data_": {"id": str(ID)}}


def test_other_custom_names():
    assert plugin.untranscode({"_type_": "date_iso", "_data_": "2026-02-03"}) == "2026-02-03"
    assert plugin.untranscode({"_type_": "tuple_as_list", "_data_": [1, 2]}) == [1, 2]


def test_discovered_through_its_entry_point(plugin_manager):
    eps = [ep for ep in entry_points(group="inspector.plugins") if ep.name == "eventsourcing"]
    assert [ep.value for ep in eps] == ["inspector_eventsourcing"]
    info = next(i for i in plugin_manager.status() if i.name == "eventsourcing")
    assert (info.source, info.module, info.ok, info.error) == ("entry point", "inspector_eventsourcing", True, None)
    assert info.hooks == ["propose_compensations", "register_codecs"]
    assert plugin.TRANSCODED in plugin_manager.codecs()


def test_pipeline_with_plugins_reads_library_payloads(plugin_manager, transcoder):
    """The bytes an application stores: transcoded JSON, optionally zlib-compressed (its
    ZlibCompressor), optionally encrypted after that (its AESCipher)."""
    from eventsourcing.compressor import ZlibCompressor

    pipeline = plugin_manager.pipeline()
    state = transcoder.encode({"id": ID, "amount": Decimal("3.30"), "at": WHEN})
    want = {"id": str(ID), "amount": "3.30", "at": WHEN.isoformat()}
    assert pipeline.decode(state) == Decoded(want, "json")
    assert pipeline.decode(ZlibCompressor().compress(state)) == Decoded(want, "zlib+json")
    cipher = AESCipher({AESCipher.CIPHER_KEY: AESCipher.create_key(32)})
    d = pipeline.decode(cipher.encrypt(ZlibCompressor().compress(state)))
    assert (d.value, d.encoding) == (None, "encrypted") and "without the key" in d.error


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, opened_at: dt.datetime, limit: Decimal, refs: list):
        self.owner = owner
        self.limit = limit

    @event("LimitChanged")
    def change_limit(self, limit: Decimal) -> None:
        self.limit = limit


@pytest.mark.parametrize("env", [{}, {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}], ids=["plain", "zlib"])
def test_a_store_written_by_the_library_reads_as_plain_values(tmp_path, plugin_manager, env):
    path = tmp_path / "bank.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), **env})
    account = Account("ann", WHEN, Decimal("100.00"), [ID, {"other": OTHER}])
    account.change_limit(Decimal("250.5"))
    app.save(account)
    app.close()

    store = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs()).store
    assert store.layout.name == "eventsourcing"
    opened, changed = store.read_page().events
    assert opened.decode_error is None and opened.encoding == ("zlib+json" if env else "json")
    assert opened.stream == account.id.hex and opened.type.endswith("Account.Opened")
    assert opened.data["opened_at"] == WHEN.isoformat()
    assert opened.data["limit"] == "100.00"
    assert opened.data["refs"] == [str(ID), {"other": str(OTHER)}]
    assert dt.datetime.fromisoformat(opened.data["timestamp"]).tzinfo is not None
    assert changed.data["limit"] == "250.5"
    assert "_type_" not in json.dumps([opened.data, changed.data])


def test_an_encrypted_library_store_reports_encrypted_events(tmp_path, plugin_manager):
    path = tmp_path / "secret.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                           "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher", "CIPHER_KEY": AESCipher.create_key(16),
                           "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    account = Account("bob", WHEN, Decimal("1"), [])
    for i in range(5):
        account.change_limit(Decimal(i))
    app.save(account)
    app.close()
    events = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs()).store.read_page().events
    assert len(events) == 6
    for e in events:
        assert (e.data, e.encoding) == (None, "encrypted") and e.decode_error.startswith("encrypted payload (")
