"""Integrity checks (``core.integrity``) and ``inspector check`` on real stores with problems put in
on purpose, on SQLite, PostgreSQL and MariaDB: a deleted event (a position gap, a version gap and
a cause that names nothing), a dangling cause, a time going backwards, duplicated positions and
versions, corrupt and binary payloads in a hand-made table, unhandled event types; sequence gaps
that PostgreSQL leaves after a rollback reported as info, which SQLite never leaves; Marten's
tombstones and Message DB's position causes; a store written by the real ``eventsourcing``
package (no lineage: the cause check is skipped and says why; times read from the payloads)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from inspector.cli import main
from inspector.core import integrity
from inspector.core.errors import InspectorError
from inspector.core.integrity import CHECKS, IntegrityReport
from inspector.core.layout import Layout
from inspector.core.projection import Projection
from inspector.core.session import open_store
from tests.fixtures import inspector as own_fixture
from tests.fixtures import marten, messagedb, rails

UTC = dt.timezone.utc
SECRET = "SECRET-4711"  # a payload value that must never appear in a report


def _open(url, plugin_manager, **kw):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs(), **kw)


def _run(url, plugin_manager, projections=None, **kw):
    opened = _open(url, plugin_manager, role=kw.pop("role", "auditor"), **{k: kw.pop(k) for k in ("mapping",) if k in kw})
    try:
        return integrity.check(opened.store, projections, **kw)
    finally:
        opened.store.close()


def _one(report: IntegrityReport, check: str):
    found = report.of(check)
    assert len(found) == 1, (check, found)
    return found[0]


def _ran(report: IntegrityReport, *names: str) -> None:
    for n in names:
        assert report.result(n).status == "ran", report.result(n)


# -- the inspector's own layout --------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_a_sound_store_has_only_the_time_step_the_fixture_writes(db_url, plugin_manager):
    w = own_fixture.create(db_url, events=40)
    report = _run(w.url, plugin_manager)
    assert [c.name for c in report.checks] == list(CHECKS)
    _ran(report, *(c for c in CHECKS if c != "unhandled_types"))
    assert report.result("unhandled_types").status == "skipped"
    assert "no projections" in report.result("unhandled_types").note
    assert report.events == 40 and not report.has("error")
    # the fixture's last event carries an older time than the one before it (concurrent writers)
    t = _one(report, "time_order")
    assert t.severity == "warning" and t.events == (w.events[-1].position,) and t.count == 1
    assert f"#{w.events[-2].position}" in t.examples[0] and "1.5 s" in t.examples[0]
    assert [f.check for f in report.findings] == ["time_order"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_a_deleted_event_and_a_dangling_cause(db_url, backend, plugin_manager):
    w = own_fixture.create(db_url, events=40)
    ev = w.events
    gone = ev[21]  # its successor in the flow (22) names it as its cause
    assert ev[22].causation_id == gone.event_id
    later_in_stream = next(e for e in ev[22:] if e.stream == gone.stream)
    engine = sa.create_engine(w.url)
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM inspector_events WHERE position = :p"), {"p": gone.position})
        c.execute(sa.text("UPDATE inspector_events SET causation_id = :c WHERE position = :p"),
                  {"c": str(uuid.uuid4()), "p": ev[10].position})
    engine.dispose()
    report = _run(w.url, plugin_manager)

    gap = _one(report, "position_gaps")
    assert gap.events == (ev[22].position,) and gap.count == 1
    assert gap.examples == (f"after #{ev[20].position}: #{gone.position} missing",)
    # SQLite gives a rolled-back number back: only a deletion leaves a gap; servers' sequences do not
    assert gap.severity == ("warning" if backend == "sqlite" else "info")

    versions = _one(report, "stream_versions")
    assert versions.severity == "error" and versions.count == 1
    assert versions.events == (later_in_stream.position,) and versions.streams == (gone.stream,)
    assert f"version {gone.version - 1} then {gone.version + 1}" in versions.examples[0]

    causes = _one(report, "dangling_causes")
    assert causes.severity == "warning" and causes.count == 2
    assert causes.events == (ev[10].position, ev[22].position)
    assert gone.event_id in causes.examples[1]
    assert not report.of("duplicate_positions") and not report.of("undecodable")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_rolled_back_append_leaves_a_gap_only_on_postgresql(db_url, backend, plugin_manager):
    w = own_fixture.create(db_url, events=12)
    last = w.events[-1]
    row = dict(event_id=str(uuid.uuid4()), stream=last.stream, version=last.version + 1, type="Rejected",
               recorded_at=dt.datetime(2026, 3, 29, 2, 0, tzinfo=UTC), data={}, metadata=None)
    from inspector.core import ownstore

    engine = sa.create_engine(w.url)
    with engine.connect() as c:  # an append that fails after taking its number
        ownstore.append_events(c, [ownstore.NewEvent(**row)])
        c.rollback()
    with engine.begin() as c:
        ownstore.append_events(c, [ownstore.NewEvent(**dict(row, event_id=str(uuid.uuid4()), type="Accepted"))])
    engine.dispose()
    report = _run(w.url, plugin_manager, checks=["position_gaps", "stream_versions"])
    assert [c.name for c in report.checks] == ["position_gaps", "stream_versions"]
    assert not report.of("stream_versions")
    if backend == "sqlite":
        assert not report.findings and report.result("position_gaps").note == "no gaps"
        return
    gap = _one(report, "position_gaps")
    assert gap.severity == "info" and gap.count == 1 and gap.events == (last.position + 2,)
    assert "PostgreSQL sequences skip numbers after rolled-back transactions" in gap.detail
    assert "gaps are normal for this layout" in gap.detail


# -- a hand-made table: duplicates and broken payloads ---------------------------------------------

HAND_MADE = {
    "sqlite": "CREATE TABLE ledger (pos INTEGER, stream TEXT, ver INTEGER, kind TEXT, at TEXT, body BLOB, "
              "eid TEXT, cause TEXT)",
    "postgresql": "CREATE TABLE ledger (pos bigint, stream text, ver integer, kind text, at text, body bytea, "
                  "eid text, cause text)",
    "mysql": "CREATE TABLE ledger (pos bigint, stream varchar(100), ver int, kind varchar(100), at varchar(40), "
             "body longblob, eid varchar(40), cause varchar(40))",
}


def _ledger_mapping() -> Layout:
    return Layout.of("ledger", "Hand-made ledger", "ledger",
                     {"position": "pos", "stream": "stream", "version": "ver", "type": "kind", "recorded_at": "at",
                      "payload": "body", "event_id": "eid", "causation_id": "cause"}, time_kind="iso_text")


def _write_ledger(url: str, backend: str) -> dict[str, int]:
    """Twelve events, with: position 5 held by two rows, version 2 of acct-b twice, a corrupt JSON
    payload (#7) and unrecognised bytes quoting a secret (#9), a time earlier than the one before
    (#8), a cause naming no event (#10), and a type no projection reads (Audited)."""
    t0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    rows = []
    versions: dict[str, int] = {}
    for i in range(1, 12):
        stream = "acct-a" if i % 2 else "acct-b"
        versions[stream] = versions.get(stream, 0) + 1
        body = json.dumps({"n": i, "owner": SECRET}).encode()
        at = t0 + dt.timedelta(minutes=i)
        rows.append(dict(pos=i, stream=stream, ver=versions[stream], kind="Audited" if i == 11 else "Deposited",
                         at=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), body=body, eid=f"e-{i}",
                         cause=f"e-{i - 1}" if i > 1 else None))
    rows[6]["body"] = b'{"n": 7, "owner": "' + SECRET.encode() + b'", '  # truncated JSON
    rows[8]["body"] = b"\x00\x01\x02" + SECRET.encode() + b"\x00\xff" * 20  # binary, not ciphertext-like
    rows[7]["at"] = (t0 + dt.timedelta(minutes=6, seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # before #7
    rows[9]["cause"] = "e-404"
    rows.append(dict(rows[4], ver=rows[4]["ver"], eid="e-5bis", cause="e-4"))  # a second row at position 5
    rows.append(dict(pos=12, stream="acct-b", ver=2, kind="Deposited", at=rows[10]["at"], eid="e-12", cause=None,
                     body=json.dumps({"n": 12}).encode()))  # version 2 of acct-b again
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text(HAND_MADE[backend]))
        c.execute(sa.text("INSERT INTO ledger (pos, stream, ver, kind, at, body, eid, cause) "
                          "VALUES (:pos, :stream, :ver, :kind, :at, :body, :eid, :cause)"), rows)
    engine.dispose()
    return {"dup_pos": 5, "corrupt": 7, "binary": 9, "earlier": 8, "dangling": 10, "dup_version": 12}


DEPOSITS = Projection("balances", "Balances", key=lambda e: e.stream, apply=lambda s, e: s, types=("Deposited",))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_a_hand_made_table_with_duplicates_and_broken_payloads(db_url, backend, plugin_manager):
    where = _write_ledger(db_url, backend)
    report = _run(db_url, plugin_manager, [DEPOSITS], mapping=_ledger_mapping())
    _ran(report, *CHECKS)

    dup = _one(report, "duplicate_positions")
    assert dup.severity == "error" and dup.events == (where["dup_pos"],) and dup.count == 1
    assert dup.examples == ("#5: 2 rows",) and "2 rows in all" in dup.title

    versions = report.of("stream_versions")
    dups = [f for f in versions if "duplicate" in f.title]
    # version 2 of acct-b twice, and the second row at position 5 repeats version 3 of acct-a
    assert len(dups) == 1 and dups[0].severity == "error" and dups[0].streams == ("acct-a", "acct-b")
    assert dups[0].events == (where["dup_pos"], where["dup_version"]) and dups[0].count == 2
    assert dups[0].examples == ("acct-a: version 3 again (#5)", "acct-b: version 2 again (#12)")
    assert not [f for f in versions if "gap" in f.title]

    undecodable = {f.severity: f for f in report.of("undecodable")}
    assert undecodable["error"].events == (where["corrupt"],) and "corrupt JSON" in undecodable["error"].title
    assert undecodable["warning"].events == (where["binary"],)
    assert "unrecognised binary payload" in undecodable["warning"].title

    earlier = _one(report, "time_order")
    assert earlier.events == (where["earlier"],) and earlier.severity == "warning"

    causes = _one(report, "dangling_causes")
    assert causes.events == (where["dangling"],) and "e-404" in causes.examples[0]

    types = _one(report, "unhandled_types")
    assert types.severity == "info" and types.events == (11,) and "Audited" in types.title
    assert report.result("unhandled_types").note == "compared with the types that balances read"

    # no payload value anywhere in the report, not even the binary payload's bytes in hex
    text = json.dumps(report.to_json())
    assert SECRET not in text and SECRET.encode().hex()[:8] not in text and "00 01 02" not in text
    assert IntegrityReport.from_json(json.loads(text)) == report


def test_paged_reads_keep_rows_that_share_a_position_together(sqlite_url, plugin_manager):
    from inspector.core.integrity_sql import Run

    _write_ledger(sqlite_url, "sqlite")
    opened = _open(sqlite_url, plugin_manager, mapping=_ledger_mapping())
    try:
        assert not opened.store.layout.position_unique
        run = Run(opened.store, None, 10)
        pages = [[r[0] for r in rows] for rows in run.scan("e.pos, e.eid", run.from_("position"), page=5)]
    finally:
        opened.store.close()
    assert pages[0] == [1, 2, 3, 4, 5, 5]  # the page ends after both rows at position 5
    assert sorted(p for page in pages for p in page) == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12]


def test_limit_caps_the_events_listed_not_the_count(sqlite_url, plugin_manager):
    w = own_fixture.create(sqlite_url, events=40)
    engine = sa.create_engine(w.url)
    with engine.begin() as c:  # every third event deleted: 13 gaps
        c.execute(sa.text("DELETE FROM inspector_events WHERE position % 3 = 0"))
    engine.dispose()
    report = _run(w.url, plugin_manager, checks=["position_gaps"], limit=4)
    gap = _one(report, "position_gaps")
    assert gap.count == 13 and len(gap.events) == len(gap.examples) == 4
    assert gap.events == (4, 7, 10, 13) and "13 gaps" in gap.title and "13 positions missing" in gap.title


def test_unhandled_types_treats_a_projection_without_types_as_reading_all(sqlite_url, plugin_manager):
    w = own_fixture.create(sqlite_url, events=20)
    everything = Projection("all", "All", key=lambda e: e.stream, apply=lambda s, e: s)
    report = _run(w.url, plugin_manager, [DEPOSITS, everything], checks=["unhandled_types"])
    assert not report.findings and "all reads every event type" in report.result("unhandled_types").note
    types = {e.type for e in w.events}
    report = _run(w.url, plugin_manager, [DEPOSITS], checks=["unhandled_types"])
    assert {f.title.split()[3] for f in report.findings} == types
    assert sum(f.count for f in report.findings) == 20
    # each type's first events, ``limit`` of them, from one query for all the types
    report = _run(w.url, plugin_manager, [DEPOSITS], checks=["unhandled_types"], limit=2)
    assert {f.title.split()[3]: f.events for f in report.findings} == \
        {t: tuple(sorted(e.position for e in w.events if e.type == t))[:2] for t in types}


def test_domain_projections_leave_out_the_built_in_ones(plugin_manager):
    names = [p.name for p in integrity.domain_projections(plugin_manager.call_each("register_projections"))]
    assert "streams" not in names and "types" not in names
    assert {"products", "orders"} <= set(names)


# -- other layouts ---------------------------------------------------------------------------------


def test_marten_sequence_gaps_and_tombstones_are_normal(pg_url, plugin_manager):
    w = marten.create(pg_url, events=20)
    engine = sa.create_engine(w.url)
    with engine.begin() as c:  # the async daemon fills a gap with a tombstone on its own stream
        c.execute(sa.text("INSERT INTO mt_streams (id, type, version) VALUES (:s, NULL, 0)"),
                  {"s": "00000000-0000-0000-0000-000000000001"})
        c.execute(sa.text("INSERT INTO mt_events (seq_id, id, stream_id, version, data, type) VALUES "
                          "(nextval('mt_events_sequence'), :id, :s, 0, '{}', 'tombstone')"),
                  {"id": str(uuid.uuid4()), "s": "00000000-0000-0000-0000-000000000001"})
    engine.dispose()
    report = _run(w.url, plugin_manager, [DEPOSITS])
    gap = _one(report, "position_gaps")
    assert gap.severity == "info" and "tombstone" in gap.detail and gap.count == 1
    assert not report.of("stream_versions")  # the tombstone's version 0 is no version gap
    assert all("tombstone" not in f.title for f in report.of("unhandled_types"))
    assert not report.of("dangling_causes") and "event ids" in report.result("dangling_causes").note


def test_message_db_causes_are_global_positions(pg_url, plugin_manager):
    w = messagedb.create(pg_url, events=20)
    victim = next(e for e in w.events if e.causation_id)
    engine = sa.create_engine(w.url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE message_store.messages SET metadata = jsonb_set(metadata, "
                          "'{causationMessageGlobalPosition}', '99999') WHERE global_position = :p"),
                  {"p": victim.position})
    engine.dispose()
    report = _run(w.url, plugin_manager)
    causes = _one(report, "dangling_causes")
    assert causes.severity == "warning" and causes.events == (victim.position,) and "99999" in causes.examples[0]
    assert "global positions" in report.result("dangling_causes").note
    assert _one(report, "position_gaps").severity == "info"
    assert not report.of("stream_versions")  # positions start at 0 on this layout


def test_rails_event_store_links_explain_their_version_gaps(sqlite_url, plugin_manager):
    w = rails.create(sqlite_url, events=20)
    report = _run(w.url, plugin_manager, checks=["stream_versions"])
    f = _one(report, "stream_versions")
    assert f.severity == "warning" and "first stream" in f.detail
    assert f.streams == (w.notes["link_stream"],)

    # causes inside binary metadata: the cause check decodes every event, and the decoding check
    # takes its tally from that pass instead of reading and decoding every event again
    engine = sa.create_engine(w.url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE event_store_events SET data = :b WHERE id = 3"), {"b": b"\x00\x01\x02" * 20})
    engine.dispose()
    opened = _open(w.url, plugin_manager)
    store, read, rows_read, reports = opened.store, [], [], []
    fetch = store._fetch_page
    store._fetch_page = lambda sql, params: read.append(len(rows := fetch(sql, params))) or rows
    try:
        for checks in (["dangling_causes"], ["undecodable"], ["dangling_causes", "undecodable"]):
            read.clear()
            reports.append(integrity.check(store, checks=checks))
            rows_read.append(sum(read))
    finally:
        opened.store.close()
    assert store.expr("causation_id") is None and reports[2].result("dangling_causes").status == "ran"
    assert rows_read[2] == rows_read[0] and rows_read[1] >= reports[1].events
    assert reports[2].result("undecodable").note == reports[1].result("undecodable").note
    assert reports[2].of("undecodable") == reports[1].of("undecodable") and reports[1].of("undecodable")[0].events == (3,)
    assert reports[2].of("dangling_causes") == reports[0].of("dangling_causes")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_eventsourcing_store_has_no_lineage_to_check(db_url, backend, plugin_manager):
    from tests.core.test_eventsourcing_stores import env_for, run_bank

    run_bank(env_for(backend, db_url))
    report = _run(db_url, plugin_manager)
    skipped = report.result("dangling_causes")
    assert skipped.status == "skipped"
    assert skipped.note == "this store records no causation or correlation (the eventsourcing library keeps none)"
    _ran(report, "position_gaps", "duplicate_positions", "stream_versions", "undecodable", "time_order")
    assert "inside the payloads" in report.result("time_order").note
    assert not report.has("warning"), report.findings
    # alone, the time check cannot read payload times and says so
    alone = _run(db_url, plugin_manager, checks=["time_order"])
    assert alone.result("time_order").status == "skipped" and "inside encoded payloads" in alone.result("time_order").note


# -- running -------------------------------------------------------------------------------------


def test_cancelling_keeps_what_was_found(sqlite_url, plugin_manager):
    w = own_fixture.create(sqlite_url, events=20)
    seen = []
    opened = _open(w.url, plugin_manager)
    try:
        report = integrity.check(opened.store, progress=seen.append,
                                 should_cancel=lambda: any(p.check == "stream_versions" for p in seen))
    finally:
        opened.store.close()
    assert report.cancelled
    assert [c.status for c in report.checks][:2] == ["ran", "ran"]
    assert all(c.status == "cancelled" for c in report.checks[2:])
    assert seen[0].overall == 0.0 and all(0.0 <= p.overall <= 1.0 for p in seen)


def test_a_failing_check_does_not_stop_the_others(sqlite_url, plugin_manager):
    w = own_fixture.create(sqlite_url, events=10)
    broken = Layout.of("broken", "Broken", "inspector_events",
                       {"position": "position", "stream": "stream", "version": "sql:e.no_such_column + 1",
                        "type": "type", "payload": "data"})
    report = _run(w.url, plugin_manager, mapping=broken, checks=["position_gaps", "stream_versions"])
    assert report.result("position_gaps").status == "ran"
    failed = report.result("stream_versions")
    assert failed.status == "failed" and "no_such_column" in failed.note and "Traceback" not in failed.note


def test_unknown_checks_are_refused(sqlite_url, plugin_manager):
    w = own_fixture.create(sqlite_url, events=5)
    opened = _open(w.url, plugin_manager)
    try:
        with pytest.raises(InspectorError, match="no check named gaps"):
            integrity.check(opened.store, checks=["gaps"])
    finally:
        opened.store.close()


def test_a_viewer_gets_the_same_findings_without_payload_values(sqlite_url, plugin_manager):
    _write_ledger(sqlite_url, "sqlite")
    viewer = _run(sqlite_url, plugin_manager, [DEPOSITS], mapping=_ledger_mapping(), role="viewer")
    auditor = _run(sqlite_url, plugin_manager, [DEPOSITS], mapping=_ledger_mapping(), role="auditor")
    assert [(f.check, f.severity, f.title, f.events, f.count) for f in viewer.findings] == \
        [(f.check, f.severity, f.title, f.events, f.count) for f in auditor.findings]
    assert SECRET not in json.dumps(viewer.to_json())


# -- the command line ------------------------------------------------------------------------------


def test_cli_exit_codes_and_json(sqlite_url, plugin_manager, capsys):
    w = own_fixture.create(sqlite_url, events=20)
    assert main(["check", w.url]) == 0  # a warning (the fixture's time step) does not fail
    out = capsys.readouterr().out
    assert "WARNING  time_order" in out and "summary: 0 errors, 1 warning, " in out
    assert "skipped   unhandled_types" not in out  # the shop's projections are loaded through the plugins
    assert main(["check", w.url, "--fail-on", "warning"]) == 3
    capsys.readouterr()

    engine = sa.create_engine(w.url)
    with engine.begin() as c:
        c.execute(sa.text("DROP INDEX ux_inspector_events_stream_version"))
        c.execute(sa.text("UPDATE inspector_events SET version = 1 WHERE position = 8"))
    engine.dispose()
    assert main(["check", w.url, "--format", "json", "--check", "stream_versions", "--check", "position_gaps",
                 "--limit", "1"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "inspector-integrity/1" and doc["limit"] == 1
    assert [c["name"] for c in doc["checks"]] == ["position_gaps", "stream_versions"]
    assert doc["summary"]["error"] >= 1
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert any(8 in f["events"] for f in errors) and all(len(f["events"]) <= 1 for f in doc["findings"])


def test_cli_refuses_unknown_checks_and_reports_unreadable_stores(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "sqlite:///x.sqlite", "--check", "nope"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    missing = tmp_path / "none.sqlite"
    assert main(["check", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("inspector: error:") and "Traceback" not in err


def test_cli_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "3  findings at or above --fail-on" in out
    for name in CHECKS:
        assert name in out
