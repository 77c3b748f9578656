"""Exports, HTML reports and evidence bundles on real stores (the demo shop on SQLite, and copied
into PostgreSQL): each format read back and compared with the store's events, reports that escape
what they show, bundles whose every one-byte change is found, and a viewer's exports holding none
of the demo's personal data."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inspector.cli import main
from inspector.core import export as x
from inspector.core.bench import copy_to_server
from inspector.core.demo import create_demo
from inspector.core.evidence import (MANIFEST, MANIFEST_HASH, canonical_json, fingerprint, make_bundle,
                                     verify_bundle)
from inspector.core.history import build_history
from inspector.core.model import EventFilter
from inspector.core.report import render_report, svg_timeline, write_report
from inspector.core.session import open_store

UTC = dt.timezone.utc
PERSONAL_TYPES = ("CustomerRegistered", "CustomerEmailChanged", "CustomerAddressChanged")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "shop.sqlite"
    create_demo(path, events=2000, seed=7, days=4)
    return path


def _open(url, pm, role="auditor", layout=None):
    return open_store(str(url), pm.layout_definitions(), pm.codecs(), layout=layout, role=role,
                      masking_rules=pm.masking_rules()).store


@pytest.fixture(params=["sqlite", "postgresql"])
def source(request, demo, plugin_manager, tmp_path):
    """(url, layout) of the demo on each backend (PostgreSQL: copied into a fresh database)."""
    if request.param == "sqlite":
        return str(demo), None
    url, table = copy_to_server(demo, request.getfixturevalue("pg_url"), "shop")
    return url, f"inspector:{table}"


@pytest.fixture
def store(source, plugin_manager):
    s = _open(source[0], plugin_manager, layout=source[1])
    yield s
    s.close()


@pytest.fixture
def sqlite_store(demo, plugin_manager):
    s = _open(demo, plugin_manager)
    yield s
    s.close()


def _projection(pm, name):
    return next(p for p in pm.projections() if p.name == name)


def _same_json(a, b) -> bool:
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


# -- exports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", x.FORMATS)
def test_events_round_trip(store, fmt, tmp_path, monkeypatch):
    """Every format read back holds the store's events: the same positions, times, ids and payloads,
    written a page (and, for Parquet, a row group) at a time."""
    monkeypatch.setattr(x, "BATCH_ROWS", 700)
    flt = EventFilter(after=100, before=1800)
    want = list(store.iter_events(flt))
    out = tmp_path / f"events.{fmt}"
    seen = []
    result = x.write_events(store, flt, out, page_size=250, progress=lambda d, t: seen.append((d, t)))
    assert result.rows == len(want) == 1699 and result.format == fmt and result.bytes == out.stat().st_size
    assert seen[-1] == (len(want), len(want)) and len(seen) > 3
    if fmt == "csv":
        with open(out, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == [c for c, _ in x.EVENT_COLUMNS]
        for e, r in zip(want, rows):
            assert int(r["position"]) == e.position and r["stream"] == e.stream and int(r["version"]) == e.version
            assert dt.datetime.fromisoformat(r["recorded_at"]) == e.recorded_at
            assert r["event_id"] == e.event_id and r["actor"] == e.actor and r["type"] == e.type
            assert json.loads(r["data"]) == e.data and json.loads(r["metadata"]) == e.metadata
            assert r["decode_error"] == ""
    elif fmt == "jsonl":
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(want)
        for e, line in zip(want, lines):
            assert _same_json(json.loads(line), e.to_json())
    else:
        pf = pq.ParquetFile(out)
        assert pf.metadata.num_row_groups == 3  # 1699 rows in row groups of 700
        schema = pf.schema_arrow
        assert schema.field("position").type == pa.int64()
        assert schema.field("recorded_at").type == pa.timestamp("us", tz="UTC")
        assert schema.field("data").type == pa.string()
        meta = json.loads(schema.metadata[b"inspector.export"])
        assert meta["what"] == "events" and meta["filter"]["after"] == 100 and meta["role"] == "auditor"
        df = pd.read_parquet(out)
        assert df["position"].tolist() == [e.position for e in want]
        assert [t.to_pydatetime() for t in df["recorded_at"]] == [e.recorded_at for e in want]
        assert [json.loads(d) for d in df["data"]] == [e.data for e in want]
        assert df["event_id"].tolist() == [e.event_id for e in want]


def test_a_filtered_export_holds_what_the_filter_selects(sqlite_store, tmp_path):
    flt = EventFilter(types=("OrderPlaced", "PriceChanged"), since=dt.datetime(2026, 10, 29, tzinfo=UTC))
    out = x.write_events(sqlite_store, flt, tmp_path / "some.jsonl")
    got = [json.loads(line) for line in out.path.read_text().splitlines()]
    assert len(got) == sqlite_store.count(flt) > 50
    assert {g["type"] for g in got} == {"OrderPlaced", "PriceChanged"}


def test_decode_errors_are_exported(tmp_path, demo, plugin_manager):
    copy = tmp_path / "broken.sqlite"
    shutil.copy(demo, copy)
    with sqlite3.connect(copy) as c:
        c.execute("update inspector_events set data = ? where position = 10", ('{"sku": ',))
    s = _open(copy, plugin_manager)
    try:
        x.write_events(s, EventFilter(before=20), tmp_path / "e.parquet")
    finally:
        s.close()
    df = pd.read_parquet(tmp_path / "e.parquet")
    row = df[df["position"] == 10].iloc[0]
    assert pd.isna(row["data"]) and row["decode_error"], row.to_dict()


def test_exports_are_atomic(sqlite_store, tmp_path, monkeypatch):
    """A failed or cancelled export leaves the destination as it was and no temporary file."""
    monkeypatch.setattr(x, "BATCH_ROWS", 10)
    out = tmp_path / "audit.csv"
    out.write_text("the previous export\n")
    rows = [{"n": i, "who": "alice"} for i in range(25)] + [{"n": 25, "who": "bob", "surprise": 1}]
    with pytest.raises(x.ExportError, match="surprise"):
        x.write_rows(rows, out)
    assert out.read_text() == "the previous export\n"
    with pytest.raises(x.ExportCancelled):
        x.write_events(sqlite_store, EventFilter(), tmp_path / "gone.parquet", page_size=100,
                       should_cancel=lambda: True)
    gen = x.iter_write_events(sqlite_store, EventFilter(), tmp_path / "closed.jsonl", page_size=100)
    next(gen)
    gen.close()  # what a cancelled worker does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.csv"]


def test_shared_files_get_the_usual_mode_and_the_inspectors_own_stay_private(sqlite_store, tmp_path):
    """Exports and plans are for sharing: the mode any new file gets (0644 under umask 022). The
    inspector's own books (checkpoints, profiles, the operator log) are written 0600."""
    import stat

    from inspector.core.replay_values import write_document
    from inspector.core.store_files import write_atomic

    x.write_rows([{"n": 1}], tmp_path / "rows.csv")
    x.write_events(sqlite_store, EventFilter(), tmp_path / "events.jsonl")
    write_document(tmp_path / "plan.json", "{}")
    write_atomic(tmp_path / "own.json", "{}")
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    shared = 0o666 & ~umask  # 0o644 under the usual umask
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"rows.csv": shared, "events.jsonl": shared, "plan.json": shared, "own.json": 0o600}


def test_format_of():
    assert x.format_of("a.CSV") == "csv" and x.format_of("a.ndjson") == "jsonl" and x.format_of("a.pq") == "parquet"
    assert x.format_of("a.txt", "parquet") == "parquet"
    with pytest.raises(x.ExportError, match="a.txt"):
        x.format_of("a.txt")
    with pytest.raises(x.ExportError, match="xlsx"):
        x.format_of("a.csv", "xlsx")


def test_filter_json_round_trip():
    flt = EventFilter(stream="order-1", types=("A", "B"), after=3, since=dt.datetime(2026, 10, 1, 12, tzinfo=UTC),
                      until=dt.datetime(2026, 10, 2), text="x")
    doc = json.loads(json.dumps(x.filter_to_json(flt)))
    assert x.filter_from_json(doc) == flt.with_(until=dt.datetime(2026, 10, 2, tzinfo=UTC))
    with pytest.raises(x.ExportError, match="colour"):
        x.filter_from_json({"colour": "red"})


def test_state_and_diff_exports(store, plugin_manager, tmp_path):
    hist = build_history(store, _projection(plugin_manager, "streams"))
    df = hist.as_of(900)
    for fmt in x.FORMATS:
        r = x.write_state(hist, tmp_path / f"state.{fmt}", position=900)
        assert r.rows == len(df) > 100
    back = pd.read_parquet(tmp_path / "state.parquet")
    assert list(back.columns) == [str(c) for c in df.columns]
    assert back["key"].tolist() == df["key"].astype(str).tolist()
    assert back["version"].tolist() == df["version"].tolist()
    assert str(back["updated_at"].dtype) == "datetime64[us, UTC]"
    lines = [json.loads(line) for line in (tmp_path / "state.jsonl").read_text().splitlines()]
    assert [r["key"] for r in lines] == back["key"].tolist()

    d = hist.diff(500, 900)
    rows = list(x.diff_rows(d))
    assert {r["change"] for r in rows} == {"added", "changed"}
    assert sum(r["change"] == "changed" for r in rows) == len(d.changed)
    for fmt in x.FORMATS:
        assert x.write_diff(hist, 500, 900, tmp_path / f"diff.{fmt}").rows == len(rows)
    back = pd.read_parquet(tmp_path / "diff.parquet")
    assert list(back.columns) == ["change", "key", "field", "old", "new"]
    changed = back[back["change"] == "changed"].iloc[0]
    first = d.changed.iloc[0]
    assert changed["key"] == str(first["key"]) and json.loads(changed["new"]) == x._plain(first["new"])
    jl = [json.loads(line) for line in (tmp_path / "diff.jsonl").read_text().splitlines()]
    assert jl == [json.loads(json.dumps(r)) for r in rows]


def test_audit_rows_are_typed_from_their_values(tmp_path, monkeypatch):
    t0 = dt.datetime(2026, 10, 30, 9, 15, tzinfo=UTC)
    rows = [{"at": t0 + dt.timedelta(minutes=i), "actor": f"user:{i}", "position": i, "amount": i / 2 if i else 1,
             "ok": i % 2 == 0, "detail": {"n": i} if i else None} for i in range(5)]
    x.write_rows(rows, tmp_path / "audit.parquet")
    schema = pq.read_schema(tmp_path / "audit.parquet")
    assert [f.type for f in schema] == [pa.timestamp("us", tz="UTC"), pa.string(), pa.int64(), pa.float64(),
                                        pa.bool_(), pa.string()]
    back = pd.read_parquet(tmp_path / "audit.parquet")
    assert back["at"].iloc[2].to_pydatetime() == t0 + dt.timedelta(minutes=2)
    assert back["detail"].iloc[3] == '{"n":3}' and pd.isna(back["detail"].iloc[0])
    x.write_rows(rows, tmp_path / "audit.csv")
    text = (tmp_path / "audit.csv").read_text()
    assert text.splitlines()[0] == "at,actor,position,amount,ok,detail"
    assert text.splitlines()[1] == "2026-10-30T09:15:00+00:00,user:0,0,1.0,true,"  # a float column
    monkeypatch.setattr(x, "BATCH_ROWS", 5)  # kinds come from the first 5 rows; a later misfit is refused
    with pytest.raises(x.ExportError, match="position"):
        x.write_rows(rows + [{"position": "not a number"}], tmp_path / "bad.parquet")
    assert not (tmp_path / "bad.parquet").exists()
    x.write_rows(rows, tmp_path / "some.jsonl", columns=["actor", ("position", "text")])
    assert json.loads((tmp_path / "some.jsonl").read_text().splitlines()[1]) == {"actor": "user:1", "position": "1"}


# -- reports ---------------------------------------------------------------------------------------


def test_report_holds_filters_chart_and_escaped_payloads(tmp_path, demo, plugin_manager):
    copy = tmp_path / "html.sqlite"
    shutil.copy(demo, copy)
    with sqlite3.connect(copy) as c:
        stream = c.execute("select stream from inspector_events where type = 'OrderPlaced' limit 1").fetchone()[0]
        c.execute("update inspector_events set data = json_set(data, '$.note', ?) where stream = ? and type = "
                  "'OrderPlaced'", ("<script>alert('x')</script> & more", stream))
    s = _open(copy, plugin_manager)
    try:
        flt = EventFilter(stream=stream)
        hist = build_history(s, _projection(plugin_manager, "orders"))
        path = write_report(s, flt, tmp_path / "r.html", title="Order <b>check</b>", state=hist.as_of(),
                            diff=hist.diff(100, 900), audit=[{"who": "<alice>", "n": 1}],
                            notes=["look at <this>"], bookmarks=[{"position": 5, "label": "first & foremost"}])
    finally:
        s.close()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "</svg>" in text
    assert "<script" not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in text
    assert "Order &lt;b&gt;check&lt;/b&gt;" in text and "&lt;alice&gt;" in text and "look at &lt;this&gt;" in text
    assert "first &amp; foremost" in text
    assert f"<dt>stream</dt><dd>{stream}</dd>" in text  # the filter used
    assert "WHERE" in text and "auditor" in text and "sqlite" in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


def test_report_on_each_backend(store, tmp_path):
    flt = EventFilter(types=("OrderPlaced",))
    text = render_report(store, flt, events_limit=20)
    n = store.count(flt)
    assert f"Showing 20 of {n:,} selected events" in text
    assert text.count("<svg") == 1 and "OrderPlaced" in text
    assert "password" not in text


def test_svg_timeline_without_events():
    from inspector.core.model import Histogram

    svg = svg_timeline(Histogram("time", 60, (), ()))
    assert svg.startswith("<svg") and "no events" in svg


# -- evidence bundles ------------------------------------------------------------------------------


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _rewrite(path: Path, members: dict[str, bytes], out: Path | None = None) -> Path:
    out = out or path
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


@pytest.fixture
def bundle(store, plugin_manager, tmp_path):
    flt = EventFilter(category="order")
    path = tmp_path / "evidence.zip"
    result = make_bundle(store, flt, path, projections=[_projection(plugin_manager, "orders")],
                         investigation={"bookmarks": [{"position": 42, "label": "here"}]}, notes="first look",
                         actor="alice")
    return path, result


def test_bundle_contents_and_fingerprint(bundle, store):
    path, result = bundle
    m = _members(path)
    assert sorted(m) == ["events.jsonl", "inspector.json", "investigation.json", MANIFEST, MANIFEST_HASH,
                         "query.json", "states/orders.jsonl", "store.json"]
    events = m["events.jsonl"].decode().splitlines()
    flt = EventFilter(category="order")
    want = list(store.iter_events(flt))
    assert len(events) == len(want) == result.events > 100
    assert all(json.loads(line) == json.loads(json.dumps(e.to_json())) for line, e in zip(events, want))
    # the documented canonical form, independently of the code that wrote it
    assert events[0].encode() == json.dumps(want[0].to_json(), sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False).encode()
    query = json.loads(m["query.json"])
    assert query["filter"]["category"] == "order" and query["effective_filter"]["before"] == store.head() + 1
    assert "WHERE" in query["sql"]["where"] and query["actor"] == "alice" and query["role"] == "auditor"
    assert query["states_at"] == want[-1].position and query["states"]["orders"]["rows"] == result.states["orders"]
    doc = json.loads(m["store.json"])
    assert doc["selection"]["events_sha256"] == hashlib.sha256(m["events.jsonl"]).hexdigest()
    assert doc["head_position"] == store.head() and doc["store_events"] == store.count()
    assert doc["selection"]["count"] == len(want) and doc["selection"]["last_position"] == want[-1].position
    keep = {k: doc[k] for k in ("format", "layout", "table", "head_position", "store_events", "selection")}
    assert doc["fingerprint"] == hashlib.sha256(json.dumps(keep, sort_keys=True, separators=(",", ":"),
                                                           ensure_ascii=False).encode()).hexdigest()
    assert doc["fingerprint"] == fingerprint(doc) == result.fingerprint
    manifest = json.loads(m[MANIFEST])
    assert m[MANIFEST_HASH].decode() == f"{hashlib.sha256(m[MANIFEST]).hexdigest()}  {MANIFEST}\n"
    assert {f["path"] for f in manifest["files"]} == set(m) - {MANIFEST, MANIFEST_HASH}
    for f in manifest["files"]:
        assert f["sha256"] == hashlib.sha256(m[f["path"]]).hexdigest() and f["bytes"] == len(m[f["path"]])
    assert json.loads(m["inspector.json"])["inspector"] and json.loads(m["inspector.json"])["sqlalchemy"]
    assert json.loads(m["investigation.json"]) == {"bookmarks": [{"position": 42, "label": "here"}],
                                                   "notes": [{"text": "first look", "checkpoint": None,
                                                              "source": "bundle"}]}
    states = [json.loads(line) for line in m["states/orders.jsonl"].decode().splitlines()]
    hist_rows = states[0]
    assert set(hist_rows) == {"key", "values"} and len(states) == result.states["orders"]


def test_an_abandoned_bundle_leaves_nothing(sqlite_store, tmp_path):
    from inspector.core.evidence import EvidenceError, iter_make_bundle

    gen = iter_make_bundle(sqlite_store, EventFilter(), tmp_path / "b.zip", page_size=100)
    for _ in range(3):
        next(gen)
    gen.close()  # a cancelled worker
    with pytest.raises(EvidenceError, match="cancelled"):
        make_bundle(sqlite_store, EventFilter(), tmp_path / "c.zip", page_size=100, should_cancel=lambda: True)
    assert not list(tmp_path.iterdir())


def test_canonical_json():
    assert canonical_json({"b": float("nan"), "a": [1.5, float("-inf")], "é": "ü", 3: None}) == \
        '{"3":null,"a":[1.5,"-Infinity"],"b":"NaN","é":"ü"}'.encode()


def test_a_sound_bundle_verifies_also_against_its_store(bundle, store):
    path, result = bundle
    report = verify_bundle(path, against=store, expected_digest=result.manifest_sha256)
    assert report.ok, report.lines()
    assert report.files == 8 and report.events == result.events and report.fingerprint == result.fingerprint
    assert any("match" in n for n in report.notes)


def test_every_one_byte_change_names_its_file(bundle, tmp_path):
    path, _ = bundle
    members = _members(path)
    for name, data in members.items():
        changed = dict(members)
        i = len(data) // 2
        changed[name] = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
        report = verify_bundle(_rewrite(path, changed, tmp_path / "flipped.zip"))
        assert not report.ok, name
        expect = MANIFEST if name == MANIFEST_HASH else name  # a changed hash file says the manifest differs
        assert any(p.file == expect or p.file == name for p in report.problems), (name, report.lines())


def test_a_byte_flipped_in_the_zip_itself_is_found(bundle):
    """Without rewriting the zip: one byte of events.jsonl's compressed data."""
    path, _ = bundle
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("events.jsonl")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    report = verify_bundle(path)
    assert not report.ok and {p.file for p in report.problems} == {"events.jsonl"}, report.lines()


def test_manifest_changes_missing_and_extra_members(bundle, tmp_path):
    path, result = bundle
    m = _members(path)
    manifest = json.loads(m[MANIFEST])
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "states/orders.jsonl"]
    edited = dict(m, **{MANIFEST: json.dumps(manifest).encode()})
    report = verify_bundle(_rewrite(path, edited, tmp_path / "a.zip"))
    assert "manifest" in {p.kind for p in report.problems}
    assert any(p.file == "states/orders.jsonl" and p.kind == "extra" for p in report.problems)

    # someone changes a member and rewrites the manifest and its hash to match: only a digest kept
    # elsewhere shows it
    events = m["events.jsonl"].replace(b'"OrderPlaced"', b'"OrderPlacad"', 1)
    manifest = json.loads(m[MANIFEST])
    for f in manifest["files"]:
        if f["path"] == "events.jsonl":
            f["sha256"], f["bytes"] = hashlib.sha256(events).hexdigest(), len(events)
    mdata = json.dumps(manifest).encode()
    forged = dict(m, **{"events.jsonl": events, MANIFEST: mdata,
                        MANIFEST_HASH: f"{hashlib.sha256(mdata).hexdigest()}  {MANIFEST}\n".encode()})
    report = verify_bundle(_rewrite(path, forged, tmp_path / "b.zip"), expected_digest=result.manifest_sha256)
    kinds = {(p.kind, p.file) for p in report.problems}
    assert ("digest", MANIFEST) in kinds and ("inconsistent", "events.jsonl") in kinds

    dropped = {k: v for k, v in m.items() if k != "query.json"}
    dropped["notes.txt"] = b"added later"
    report = verify_bundle(_rewrite(path, dropped, tmp_path / "c.zip"))
    assert {(p.kind, p.file) for p in report.problems} >= {("missing", "query.json"), ("extra", "notes.txt")}

    (tmp_path / "d.zip").write_bytes(b"not a zip")
    assert verify_bundle(tmp_path / "d.zip").lines() == ["not a readable zip file: File is not a zip file"]


def test_verify_against_a_changed_store(tmp_path, demo, plugin_manager):
    copy = tmp_path / "changing.sqlite"
    shutil.copy(demo, copy)
    s = _open(copy, plugin_manager)
    try:
        make_bundle(s, EventFilter(types=("PriceChanged",)), tmp_path / "b.zip")
        head = s.head()
        with sqlite3.connect(copy) as c:  # a new event after the bundle: not part of it
            c.execute("insert into inspector_events (position, event_id, stream, version, type, recorded_at, data, "
                      "metadata, actor) select position + 1, 'new-event', stream, version + 1, type, recorded_at, "
                      "data, metadata, actor from inspector_events where position = ?", (head,))
        report = verify_bundle(tmp_path / "b.zip", against=s)
        assert report.ok and any("moved" in n for n in report.notes), report.lines()
        with sqlite3.connect(copy) as c:  # an event of the selection rewritten in place
            pos = c.execute("select max(position) from inspector_events where type = 'PriceChanged' and position "
                            "<= ?", (head,)).fetchone()[0]
            c.execute("update inspector_events set data = json_set(data, '$.new_price', 0.01) where position = ?", (pos,))
        report = verify_bundle(tmp_path / "b.zip", against=s)
        assert report.lines() == [f"events.jsonl: the event at position {pos} differs from the store's"]
    finally:
        s.close()
    viewer = _open(copy, plugin_manager, role="viewer")
    try:
        report = verify_bundle(tmp_path / "b.zip", against=viewer)
        assert len(report.problems) == 1 and "--role auditor" in report.problems[0].message
    finally:
        viewer.close()


def test_a_viewers_bundle_and_exports_hold_no_personal_data(demo, plugin_manager, tmp_path):
    auditor = _open(demo, plugin_manager)
    try:
        personal: set[str] = set()
        for e in auditor.iter_events(EventFilter(types=PERSONAL_TYPES)):
            personal.update(str(e.data[k]) for k in ("name", "email", "phone", "street") if k in e.data)
            if "ip" in (e.metadata or {}):
                personal.add(e.metadata["ip"])
    finally:
        auditor.close()
    assert len(personal) > 50 and any("@" in v for v in personal)
    viewer = _open(demo, plugin_manager, role="viewer")
    try:
        flt = EventFilter(category="customer")
        make_bundle(viewer, flt, tmp_path / "v.zip", projections=[_projection(plugin_manager, "streams")])
        write_report(viewer, flt, tmp_path / "v.html", state=build_history(viewer, _projection(plugin_manager,
                                                                                               "streams")).as_of())
        for fmt in x.FORMATS:
            x.write_events(viewer, flt, tmp_path / f"v.{fmt}")
    finally:
        viewer.close()
    texts = {name: data.decode() for name, data in _members(tmp_path / "v.zip").items()}
    texts["v.html"] = (tmp_path / "v.html").read_text()
    texts["v.csv"] = (tmp_path / "v.csv").read_text()
    texts["v.jsonl"] = (tmp_path / "v.jsonl").read_text()
    texts["v.parquet"] = pd.read_parquet(tmp_path / "v.parquet").to_json(date_format="iso")
    for name, text in texts.items():
        assert not [v for v in personal if v in text], name
    assert "•••" in texts["events.jsonl"] and "•••" in texts["states/streams.jsonl"]
    assert json.loads(texts["query.json"])["role"] == "viewer"


# -- the command line ------------------------------------------------------------------------------


def test_cli_export_report_bundle_and_verify(demo, tmp_path, capsys):
    url = str(demo)
    assert main(["export", url, "events", "--type", "OrderPlaced", "--out", str(tmp_path / "o.parquet"),
                 "--role", "auditor"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "parquet" and out["rows"] == len(pd.read_parquet(tmp_path / "o.parquet")) > 100
    assert main(["export", url, "state", "--projection", "orders", "--at", "900", "--out",
                 str(tmp_path / "s.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] > 10
    assert main(["export", url, "diff", "--projection", "orders", "--from", "500", "--to", "900", "--format",
                 "jsonl", "--out", str(tmp_path / "d.txt")]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "jsonl"
    assert main(["export", url, "events", "--out", str(tmp_path / "x.txt")]) == 1
    assert "cannot tell the format" in capsys.readouterr().err
    assert main(["report", url, "--category", "order", "--projection", "orders", "--note", "n<1>",
                 "--out", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    assert "n&lt;1&gt;" in (tmp_path / "r.html").read_text()
    zpath = tmp_path / "b.zip"
    assert main(["bundle", url, "--category", "order", "--projection", "orders", "--projection", "streams",
                 "--note", "why", "--made-by", "alice", "--out", str(zpath)]) == 0
    made = json.loads(capsys.readouterr().out)
    assert set(made["states"]) == {"orders", "streams"}
    assert main(["verify", str(zpath), "--against", url, "--digest", made["manifest_sha256"]]) == 0
    assert capsys.readouterr().out.startswith("ok: 9 files")
    m = _members(zpath)
    m["store.json"] = m["store.json"].replace(b'"dialect": "sqlite"', b'"dialect": "sqlitf"')
    _rewrite(zpath, m)
    assert main(["verify", str(zpath)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("inspector: verify: store.json: modified")
    assert main(["verify", str(zpath), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["problems"][0]["file"] == "store.json"


def test_every_export_is_in_the_operator_log_without_values(demo, tmp_path, capsys):
    from inspector.core.oplog import OperatorLog, verify

    out_csv, out_zip, out_html = tmp_path / "e.csv", tmp_path / "e.zip", tmp_path / "e.html"
    assert main(["export", str(demo), "events", "--type", "CustomerRegistered", "--out", str(out_csv),
                 "--role", "auditor"]) == 0
    assert main(["report", str(demo), "--type", "CustomerRegistered", "--out", str(out_html)]) == 0
    assert main(["bundle", str(demo), "--type", "CustomerRegistered", "--text", "@", "--role", "auditor",
                 "--out", str(out_zip)]) == 0
    capsys.readouterr()
    entries = [e.to_json() for e in OperatorLog(None).entries() if e.action == "export"]
    assert [e["params"]["what"] for e in entries] == ["events-csv", "report", "evidence-bundle"]
    assert [e["role"] for e in entries] == ["auditor", "viewer", "auditor"]
    for e, path in zip(entries, (out_csv, out_html, out_zip)):
        assert e["result"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entries[2]["params"]["filter"]["text"] is True  # searched, but not what for
    assert "@" not in json.dumps(entries, ensure_ascii=False)  # no e-mail address, nor the search term
    assert verify().ok
