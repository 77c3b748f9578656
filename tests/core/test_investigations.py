"""Saved investigations (``core.investigations``) on SQLite and PostgreSQL stores: bookmarks and
notes are added, listed and removed, persist across reopening, stay with their own store, are
handed whole to evidence bundles; a corrupt file is reported and left untouched; and the
``inspector bookmark`` / ``inspector note`` commands."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from inspector.cli import main
from inspector.core import ownstore
from inspector.core.checkpoints import Checkpoint, CheckpointBook, StoreIdentity
from inspector.core.investigations import (FORMAT, InvestigationBook, InvestigationError, investigation_of,
                                           investigation_path)
from inspector.core.ownstore import NewEvent
from inspector.core.session import open_store
from tests.conftest import new_database

UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def actor(monkeypatch):
    monkeypatch.setenv("INSPECTOR_ACTOR", "user:auditor-1")


def write_own(url: str, n: int = 6) -> list[str]:
    engine = sa.create_engine(url)
    t0 = dt.datetime(2026, 10, 1, tzinfo=UTC)
    new = [NewEvent(str(uuid.uuid4()), f"order-{i % 2}", i // 2 + 1, "OrderPlaced", t0 + dt.timedelta(minutes=i),
                    {"n": i}) for i in range(n)]
    with engine.begin() as c:
        ownstore.create_schema(c)
        ownstore.append_events(c, new)
    engine.dispose()
    return [e.event_id for e in new]


@pytest.fixture(params=("sqlite", "postgresql"))
def store_url(request, tmp_path):
    url, drop = new_database(request.param, tmp_path)
    ids = write_own(url)
    yield url, ids
    drop()


def opened(url, plugin_manager):
    return open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())


def test_bookmarks_and_notes_persist_per_store(store_url, plugin_manager, data_dir):
    url, ids = store_url
    o = opened(url, plugin_manager)
    try:
        book = InvestigationBook.for_store(o)
        assert book.bookmarks() == [] and book.notes() == [] and not book.path.exists()
        b3 = book.add_bookmark(3, ids[2], "suspicious", "placed twice?", event_type="OrderPlaced", stream="order-0")
        b1 = book.add_bookmark(1, ids[0])
        assert (b3.id, b1.id) == ("b1", "b2") and b3.actor == "user:auditor-1"
        assert [b.position for b in book.bookmarks()] == [1, 3]  # by position
        n1 = book.add_note("ask the warehouse about order-0")
        n2 = book.add_note("rolled back here in the drill", checkpoint="before-drill", actor="user:bob")
        assert book.notes(checkpoint="before-drill") == [n2] and book.notes() == [n1, n2]
        assert book.path.parent == data_dir / "investigations"
    finally:
        o.store.close()

    again = InvestigationBook.for_store(opened(url, plugin_manager))  # reopened: the same file
    assert [b.to_json() for b in again.bookmarks()] == [b1.to_json(), b3.to_json()]
    assert again.bookmark("1") == b3 and again.bookmark("b2") == b1
    assert again.update_bookmark("b1", note="placed twice: yes").note == "placed twice: yes"
    assert again.remove_bookmark("b2").position == 1
    assert [b.id for b in again.bookmarks()] == ["b1"]
    assert again.remove_note("1").text.startswith("ask")
    assert again.add_bookmark(5).id == "b3"  # ids are never reused
    assert again.add_note("later").id == "n3"
    with pytest.raises(InvestigationError, match="no bookmark 'b9'"):
        again.remove_bookmark("b9")
    with pytest.raises(InvestigationError, match="no note"):
        again.remove_note("n1")
    with pytest.raises(InvestigationError, match="needs some text"):
        again.add_note("   ")

    doc = investigation_of(opened(url, plugin_manager))
    assert doc["format"] == FORMAT and doc["store"]["layout"] == "inspector"
    assert [b["id"] for b in doc["bookmarks"]] == ["b1", "b3"] and [n["id"] for n in doc["notes"]] == ["n2", "n3"]
    assert doc["bookmarks"][0] == {"id": "b1", "position": 3, "event_id": ids[2], "label": "suspicious",
                                   "note": "placed twice: yes", "created_at": b3.created_at.isoformat(),
                                   "actor": "user:auditor-1", "event_type": "OrderPlaced", "stream": "order-0"}
    json.dumps(doc)  # JSON-able as it is


def test_each_store_has_its_own_investigation(tmp_path, plugin_manager):
    urls = [new_database("sqlite", tmp_path)[0] for _ in range(2)]
    for u in urls:
        write_own(u)
    a, b = (InvestigationBook.for_store(opened(u, plugin_manager)) for u in urls)
    a.add_bookmark(2, label="only in a")
    assert b.bookmarks() == [] and a.path != b.path
    b.add_note("only in b")
    assert a.notes() == [] and [n.text for n in b.notes()] == ["only in b"]
    # the same store under another layout is another investigation, and the password is not part of it
    ident = StoreIdentity.of(opened(urls[0], plugin_manager))
    assert investigation_path(ident) == a.path
    assert InvestigationBook(StoreIdentity(ident.url, "other", ident.table)).path != a.path


def test_corrupt_file_is_reported_and_left_untouched(sqlite_url, plugin_manager):
    write_own(sqlite_url)
    book = InvestigationBook.for_store(opened(sqlite_url, plugin_manager))
    book.add_bookmark(1)
    book.path.write_text('{"format": "inspector.investigations/1", "store": ', encoding="utf-8")
    before = book.path.read_bytes()
    for call in (book.bookmarks, book.notes, book.to_json, lambda: book.add_note("x"), lambda: book.add_bookmark(2),
                 lambda: book.remove_bookmark("b1")):
        with pytest.raises(InvestigationError, match="cannot be read .* left as it is"):
            call()
    assert book.path.read_bytes() == before
    # a file of another store copied over is refused too
    other = {"format": FORMAT, "store": {"url": "sqlite:///elsewhere", "layout": "inspector", "table": "t"},
             "bookmarks": [], "notes": []}
    book.path.write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(InvestigationError, match="belongs to sqlite:///elsewhere"):
        book.bookmarks()
    assert not list(book.path.parent.glob("*.tmp"))


def test_cli_bookmark_and_note(store_url, capsys):
    url, ids = store_url
    assert main(["bookmark", url, "add", "--event", ids[3], "--label", "L", "--note", "N"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["position"] == 4 and b["event_id"] == ids[3] and b["label"] == "L" and b["actor"] == "user:auditor-1"
    assert main(["bookmark", url, "add", "--event", "#2", "--actor", "user:eve"]) == 0
    assert json.loads(capsys.readouterr().out)["event_id"] == ids[1]
    assert main(["bookmark", url, "list", "--format", "json"]) == 0
    assert [r["position"] for r in json.loads(capsys.readouterr().out)] == [2, 4]
    assert main(["bookmark", url, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "position", "event_type"] and table[1].startswith("b2")
    assert main(["bookmark", url, "remove", "b1"]) == 0
    capsys.readouterr()
    assert main(["bookmark", url, "add", "--event", "#99"]) == 1
    assert "no event at position 99" in capsys.readouterr().err
    assert main(["bookmark", url, "add", "--event", "12"]) == 1
    assert "write #12" in capsys.readouterr().err
    assert main(["bookmark", url, "remove", "b1"]) == 1
    assert "no bookmark 'b1'" in capsys.readouterr().err

    from inspector.plugins.manager import PluginManager

    store = opened(url, PluginManager())
    CheckpointBook.for_store(store).add(Checkpoint("before-drill", 3))
    store.store.close()
    assert main(["note", url, "add", "drill started after this", "--checkpoint", "before-drill"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == "before-drill"
    assert main(["note", url, "add", "free note"]) == 0
    capsys.readouterr()
    assert main(["note", url, "add", "x", "--checkpoint", "nope"]) == 1
    assert "no checkpoint named 'nope'" in capsys.readouterr().err
    assert main(["note", url, "list", "--checkpoint", "before-drill", "--format", "json"]) == 0
    assert [n["text"] for n in json.loads(capsys.readouterr().out)] == ["drill started after this"]
    assert main(["note", url, "remove", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "n1"
    assert main(["note", url, "list", "--format", "json"]) == 0
    assert [n["id"] for n in json.loads(capsys.readouterr().out)] == ["n2"]


def test_an_evidence_bundle_includes_the_saved_investigation(store_url, tmp_path, capsys):
    import zipfile

    store_url, ids = store_url
    assert main(["bookmark", store_url, "add", "--event", ids[2], "--label", "odd order"]) == 0
    assert main(["note", store_url, "add", "the second order looks duplicated"]) == 0
    out = tmp_path / "evidence.zip"
    assert main(["bundle", store_url, "--stream", "order-0", "--note", "INC-7", "--out", str(out)]) == 0
    capsys.readouterr()
    doc = json.loads(zipfile.ZipFile(out).read("investigation.json"))
    assert [b["label"] for b in doc["bookmarks"]] == ["odd order"]
    assert [n["text"] for n in doc["notes"]] == ["the second order looks duplicated", "INC-7"]
    assert main(["verify", str(out)]) == 0
