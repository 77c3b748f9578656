"""TOML mapping files: a layout survives the round trip unchanged, and every mistake a user can make
in one gets a one-line message that names the file and says what to write instead."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from inspector.core.errors import LayoutError, MappingFileError
from inspector.core.layout import CommandLog, FieldRef, Layout, layout_from_mapping, load_mapping
from inspector.core.session import open_store

FULL = Layout.of(
    "ledger",
    "Ledger entries",
    "acct.entries",
    {
        "position": "entry_no",
        "stream": "account_ref",
        "version": "seq",
        "type": "kind",
        "recorded_at": "booked_at",
        "event_id": "entry_uuid",
        "causation_id": "headers->causation.id",
        "correlation_id": "headers->correlationId",
        "actor": "headers->user",
        "payload": "body",
        "metadata": "headers",
        "category": "sql:split_part(e.account_ref, ':', 1)",
    },
    time_kind="epoch_ms",
    time_payload_key="occurredAt",
    stream_separator=":",
    joins="LEFT JOIN acct.accounts a ON a.ref = e.account_ref",
    join_fields=("category",),
    version_base=0,
    lineage="positions",
    commands=CommandLog.of("acct.commands", time_kind="iso_text", command_id="id", type="name", actor="who",
                           issued_at="at", payload="args", correlation_id="args->corr"),
    notes=("first note", "a note with \"quotes\" and a # hash"),
)


def test_round_trip_preserves_everything(tmp_path):
    path = tmp_path / "ledger.toml"
    FULL.save(path, header="# a header\n# of comments")
    back = load_mapping(path)
    assert back == FULL
    assert back.to_mapping() == FULL.to_mapping()
    assert back.commands == FULL.commands and back.notes == FULL.notes and back.joins == FULL.joins
    assert back.ref("causation_id") == FieldRef(column="headers", path="causation.id")
    assert back.ref("category") == FieldRef(sql="split_part(e.account_ref, ':', 1)")
    assert path.read_text().startswith("# a header\n# of comments\n[layout]")
    # and again: saving what was loaded gives the same file
    path2 = tmp_path / "again.toml"
    back.save(path2, header="# a header\n# of comments")
    assert path2.read_text() == path.read_text()


def test_defaults_of_a_minimal_mapping(tmp_path):
    path = tmp_path / "min.toml"
    path.write_text('[layout]\ntable = "journal"\n\n[fields]\nposition = "id"\n')
    lay = load_mapping(path)
    assert (lay.name, lay.title, lay.table, lay.time_kind, lay.version_base, lay.lineage, lay.stream_separator) == (
        "custom", "Custom mapping", "journal", "timestamp", 1, "ids", "-")
    assert lay.commands is None and lay.notes == () and lay.joins == ""


GOOD_LAYOUT = '[layout]\ntable = "journal"\n'
GOOD_FIELDS = '[fields]\nposition = "id"\n'

BAD = [
    ("not toml", "layout = [\n", r"is not valid TOML"),
    ("no layout", GOOD_FIELDS, r"missing \[layout\] table"),
    ("no table", '[layout]\nname = "x"\n' + GOOD_FIELDS, r'\[layout\] needs table = "name"'),
    ("table not a string", "[layout]\ntable = 3\n" + GOOD_FIELDS, r"\[layout\] needs table"),
    ("no fields", GOOD_LAYOUT, r"missing \[fields\] table"),
    ("unknown field", GOOD_LAYOUT + GOOD_FIELDS + 'streem = "s"\n',
     r"unknown field\(s\) streem; known fields: position, stream, version"),
    ("no position", GOOD_LAYOUT + '[fields]\nstream = "s"\n', r'\[fields\] needs position = "<column>" \(the global order\)'),
    ("bad time_kind", '[layout]\ntable = "journal"\ntime_kind = "epoch_us"\n' + GOOD_FIELDS,
     r"time_kind must be one of timestamp, iso_text, epoch_s, epoch_ms, payload, none, not 'epoch_us'"),
    ("bad lineage", '[layout]\ntable = "journal"\nlineage = "both"\n' + GOOD_FIELDS,
     r"lineage must be one of ids, positions, none, not 'both'"),
    ("typo in a layout key", '[layout]\ntable = "journal"\ntime-kind = "epoch_ms"\n' + GOOD_FIELDS,
     r"unknown key\(s\) in \[layout\]: time-kind; known keys: name, title, table, time_kind"),
    ("typo in a section", GOOD_LAYOUT + GOOD_FIELDS + '[field]\nstream = "s"\n', r"unknown section\(s\) field"),
    ("field not a string", GOOD_LAYOUT + "[fields]\nposition = 1\n", r"field position must be a non-empty string"),
    ("empty field", GOOD_LAYOUT + GOOD_FIELDS + 'stream = ""\n', r"field stream must be a non-empty string"),
    ("empty sql", GOOD_LAYOUT + '[fields]\nposition = "sql:  "\n', r'field position = \'sql:  \' has no SQL after "sql:"'),
    ("json path without a path", GOOD_LAYOUT + GOOD_FIELDS + 'actor = "meta->"\n',
     r'field actor = \'meta->\' is not "column", "column->json.path" or "sql:<expression>"'),
    ("json path without a column", GOOD_LAYOUT + GOOD_FIELDS + 'actor = "->user"\n', r"field actor = '->user' is not"),
    ("version_base 2", '[layout]\ntable = "journal"\nversion_base = 2\n' + GOOD_FIELDS,
     r"version_base must be 0 or 1 \(the first version of a stream\), not 2"),
    ("version_base text", '[layout]\ntable = "journal"\nversion_base = "one"\n' + GOOD_FIELDS,
     r"version_base must be 0 or 1"),
    ("empty separator", '[layout]\ntable = "journal"\nstream_separator = ""\n' + GOOD_FIELDS,
     r"stream_separator must be a non-empty string"),
    ("join_fields not a list", '[layout]\ntable = "journal"\njoins = "x"\njoin_fields = "stream"\n' + GOOD_FIELDS,
     r"join_fields must be a list of field names"),
    ("join_fields unknown", '[layout]\ntable = "journal"\njoins = "x"\njoin_fields = ["steam"]\n' + GOOD_FIELDS,
     r"join_fields names unknown field\(s\) steam"),
    ("commands without table", GOOD_LAYOUT + GOOD_FIELDS + '[commands.fields]\ncommand_id = "id"\n',
     r"\[commands\] needs table and \[commands.fields\]"),
    ("unknown command field", GOOD_LAYOUT + GOOD_FIELDS + '[commands]\ntable = "c"\n[commands.fields]\nwho = "u"\n',
     r"unknown command field\(s\) who; known: command_id, type, actor, issued_at, payload, correlation_id"),
    ("command field not a string", GOOD_LAYOUT + GOOD_FIELDS + '[commands]\ntable = "c"\n[commands.fields]\nactor = 1\n',
     r"\[commands.fields\] field actor must be a non-empty string"),
    ("bad command time_kind", GOOD_LAYOUT + GOOD_FIELDS + '[commands]\ntable = "c"\ntime_kind = "x"\n[commands.fields]\n',
     r"\[commands\] time_kind must be one of"),
]


@pytest.mark.parametrize("text, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_mapping_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    with pytest.raises(MappingFileError, match=message) as err:
        load_mapping(path)
    msg = str(err.value)
    assert str(path) in msg  # names the file
    assert "\n" not in msg.strip() or "TOML" in msg  # one line (the TOML parser's own message may quote a line)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(MappingFileError, match=r"mapping file not found: .*nope\.toml"):
        load_mapping(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(MappingFileError, match=r"is not UTF-8 text \(byte 0x89 at offset 0\)"):
        load_mapping(binary)
    with pytest.raises(MappingFileError, match=r"cannot read mapping file"):
        load_mapping(tmp_path)  # a directory


def test_layout_from_mapping_names_its_source():
    with pytest.raises(MappingFileError, match=r"^inline: missing \[layout\] table$"):
        layout_from_mapping({}, source="inline")


def _journal(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE journal (id integer PRIMARY KEY, stream_name varchar(80), kind varchar(80), "
                             "body text)"))
        conn.execute(sa.text("INSERT INTO journal VALUES (1, 'order-1', 'Placed', '{\"a\": 1}')"))
    engine.dispose()


def test_mapping_naming_a_missing_column_lists_the_columns(db_url, plugin_manager, tmp_path):
    _journal(db_url)
    path = tmp_path / "mapping.toml"
    path.write_text('[layout]\ntable = "journal"\n\n[fields]\nposition = "id"\nstream = "stream"\ntype = "kind"\n'
                    'payload = "body"\n')
    with pytest.raises(LayoutError) as err:
        open_store(db_url, plugin_manager.layout_definitions(), mapping=path)
    assert type(err.value) is LayoutError  # the file is well formed; the database disagrees
    assert str(err.value) == ("field stream names column 'stream', which journal does not have "
                              "(columns: id, stream_name, kind, body)")
    # the same file with the column fixed opens and reads
    path.write_text(path.read_text().replace('stream = "stream"', 'stream = "stream_name"'))
    opened = open_store(db_url, plugin_manager.layout_definitions(), mapping=path)
    try:
        [e] = list(opened.store.iter_events())
        assert (e.position, e.stream, e.type, e.data) == (1, "order-1", "Placed", {"a": 1})
    finally:
        opened.store.close()


def test_mapping_naming_a_missing_table_lists_the_tables(db_url, plugin_manager, tmp_path):
    _journal(db_url)
    path = tmp_path / "mapping.toml"
    path.write_text('[layout]\ntable = "journals"\n\n[fields]\nposition = "id"\n')
    with pytest.raises(LayoutError, match=re.escape("table 'journals' not found in the database (tables: journal)")):
        open_store(db_url, plugin_manager.layout_definitions(), mapping=path)


def test_mapping_with_a_json_path_on_a_missing_column(sqlite_url, plugin_manager, tmp_path):
    _journal(sqlite_url)
    path = tmp_path / "mapping.toml"
    path.write_text('[layout]\ntable = "journal"\n\n[fields]\nposition = "id"\ncorrelation_id = "meta->corr"\n')
    with pytest.raises(LayoutError, match=r"field correlation_id names column 'meta', which journal does not have"):
        open_store(sqlite_url, plugin_manager.layout_definitions(), mapping=path)
