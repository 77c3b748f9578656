"""The connect dialog and the mapping editor over real databases: detection shown with its reasons,
stores opened read-only, recent connections kept without passwords (in a temporary settings scope),
errors kept to one line, and custom tables mapped, previewed and saved as TOML."""

from __future__ import annotations

import json
import os
import sqlite3

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import sqlalchemy as sa
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog, QFileDialog

from inspector.core.demo import create_demo
from inspector.core.layout import load_mapping
from inspector.core.model import EventFilter
from inspector.gui.connect_dialog import RECENT_KEY, ConnectDialog
from inspector.gui.mapping_editor import MappingEditor

WAIT_MS = 20000
SECRET = "s3cret-pw"
LEDGER_ROWS = 60
CORRUPT_ENTRY = 5


def _point_settings_at(path) -> None:
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(path))


@pytest.fixture(autouse=True)
def settings_dir(tmp_path, tmp_path_factory, qapp):
    """Every QSettings("inspector", "inspector") of the test lives in tmp_path; afterwards they
    point at a throwaway folder, never back at the user's own settings."""
    d = tmp_path / "settings"
    d.mkdir()
    _point_settings_at(d)
    yield d
    _point_settings_at(tmp_path_factory.getbasetemp() / "settings-sandbox")


def settings_text(d) -> str:
    return "\n".join(p.read_text(errors="replace") for p in d.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("connect") / "shop.sqlite"
    create_demo(path, events=1000, days=2)
    return path


@pytest.fixture
def ledger_path(tmp_path):
    path = tmp_path / "ledger.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table ledger(entry_no integer primary key, account text, seq int, kind text, at text, body text)")
    seqs: dict[str, int] = {}
    for i in range(1, LEDGER_ROWS + 1):
        account = f"acct-{i % 6}"
        seqs[account] = seqs.get(account, 0) + 1
        body = '{"amount": 12, "memo":' if i == CORRUPT_ENTRY else json.dumps({"amount": i * 5, "memo": f"entry {i}"})
        con.execute("insert into ledger values (?,?,?,?,?,?)",
                    (i, account, seqs[account], ("Credit", "Debit", "Fee")[i % 3], f"2026-10-0{1 + i // 30}T{i % 24:02d}:15:00+00:00", body))
    con.commit()
    con.close()
    return path


def make_dialog(qtbot, plugin_manager) -> ConnectDialog:
    d = ConnectDialog(plugin_manager)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


def test_connection(qtbot, d: ConnectDialog) -> bool:
    with qtbot.waitSignal(d.sig_tested, timeout=WAIT_MS) as sig:
        qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    return sig.args[0]


test_connection.__test__ = False  # a helper, not a test


def test_sqlite_path_is_detected_with_reasons_and_opened(qtbot, plugin_manager, demo_path, settings_dir):
    d = make_dialog(qtbot, plugin_manager)
    qtbot.keyClicks(d.url_edit, str(demo_path))
    assert not d.password_edit.isVisible()  # a file needs no password
    assert test_connection(qtbot, d) is True
    shown = d.candidates_shown()
    assert shown[0].layout.name == "inspector"
    top = d.candidate_list.topLevelItem(0)
    assert top.text(0) == shown[0].layout.title and top.text(1) == "100%" and top.text(2) == "inspector_events"
    reasons = [top.child(i).text(0) for i in range(top.childCount())]
    assert reasons and any("inspector_events has position" in r for r in reasons)
    assert "Detected: Inspector's own layout" in d.status_label.text()
    assert d.selected_candidate() is shown[0]

    with qtbot.waitSignal(d.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    assert d.result() == QDialog.DialogCode.Accepted
    opened = d.result_store()
    try:
        assert opened.layout.name == "inspector"
        assert opened.store.count() == 1000
        page = opened.store.read_page(limit=5)
        assert [e.position for e in page.events] == [1, 2, 3, 4, 5] and page.events[0].data is not None
        with pytest.raises(sa.exc.OperationalError):  # read-only at the database
            with opened.store.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM inspector_events"))
    finally:
        opened.store.close()
    url, layout_name, mapping = d.result_spec()
    assert url == f"sqlite:///{demo_path}" and layout_name == "inspector" and mapping is None

    # remembered, and offered by the next dialog
    assert QSettings("inspector", "inspector").value(RECENT_KEY) in ([url], url)
    assert str(demo_path) in settings_text(settings_dir)
    d2 = make_dialog(qtbot, plugin_manager)
    assert d2.recent_list.count() == 1 and d2.recent_list.item(0).text() == str(demo_path)
    d2.recent_list.itemClicked.emit(d2.recent_list.item(0))
    assert d2.url_edit.text() == str(demo_path)


def test_open_without_testing_tests_first(qtbot, plugin_manager, demo_path):
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(str(demo_path))
    with qtbot.waitSignal(d.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    d.result_store().store.close()


def test_browse_picks_a_sqlite_file_and_tests_it(qtbot, plugin_manager, demo_path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(demo_path), "")))
    d = make_dialog(qtbot, plugin_manager)
    with qtbot.waitSignal(d.sig_tested, timeout=WAIT_MS):
        qtbot.mouseClick(d.browse_button, Qt.MouseButton.LeftButton)
    assert d.url_edit.text() == str(demo_path)
    assert d.candidates_shown()[0].layout.name == "inspector"


def test_a_layout_can_be_chosen_over_the_best_guess(qtbot, plugin_manager, tmp_path):
    """A file holding an eventsourcing table next to the inspector's own: both fit, best first."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    path = tmp_path / "both.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    app.save(Aggregate())
    app.close()
    con = sqlite3.connect(path)
    con.execute("create table inspector_events(position integer primary key, event_id text, stream text, "
                "version int, type text, recorded_at text, data text, metadata text)")
    con.commit()
    con.close()
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(str(path))
    assert test_connection(qtbot, d)
    names = [c.layout.name for c in d.candidates_shown()]
    assert set(names) == {"inspector", "eventsourcing"}
    confidences = [c.confidence for c in d.candidates_shown()]
    assert confidences == sorted(confidences, reverse=True)
    assert d.selected_candidate().layout.name == names[0]  # the best is chosen unless overridden
    # override: click the other candidate's row
    other = d.candidate_list.topLevelItem(1)
    rect = d.candidate_list.visualItemRect(other)
    qtbot.mouseClick(d.candidate_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert d.selected_candidate().layout.name == names[1]
    with qtbot.waitSignal(d.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    opened = d.result_store()
    assert opened.layout.name == names[1] and opened.store.count() == (1 if names[1] == "eventsourcing" else 0)
    assert d.result_spec()[1] == names[1]
    opened.store.close()


def test_passwords_are_never_remembered(qtbot, plugin_manager, settings_dir):
    d = make_dialog(qtbot, plugin_manager)
    d.remember(f"postgresql://alice:{SECRET}@db.example.com:5432/shop")
    d.remember("/tmp/some/events.sqlite")
    stored = QSettings("inspector", "inspector").value(RECENT_KEY)
    assert stored == ["sqlite:////tmp/some/events.sqlite", "postgresql+psycopg://alice:***@db.example.com:5432/shop"]
    assert SECRET not in settings_text(settings_dir)
    # choosing it asks for the password again, and never puts "***" in the URL
    d.use_recent(stored[1])
    assert d.url_edit.text() == "postgresql+psycopg://alice@db.example.com:5432/shop"
    assert d.password_edit.isVisible() and d.password_edit.text() == ""
    assert "required" in d.password_edit.placeholderText()
    d.password_edit.setText("again")
    assert d.connection_url() == "postgresql+psycopg://alice:again@db.example.com:5432/shop"


def test_postgres_url_with_password_is_stored_redacted(qtbot, plugin_manager, pg_url, settings_dir):
    from sqlalchemy.engine import make_url

    writer = sa.create_engine(pg_url)
    with writer.begin() as conn:
        conn.execute(sa.text("create table inspector_events(position bigint primary key, event_id text, stream text, "
                             "version int, type text, recorded_at timestamptz, data jsonb, metadata jsonb)"))
        conn.execute(sa.text("insert into inspector_events values (1, 'e1', 'order-1', 1, 'OrderPlaced', now(), "
                             "'{\"n\": 1}', '{}')"))
    writer.dispose()
    with_password = make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(with_password)
    assert d.password_edit.isVisible()
    assert test_connection(qtbot, d), d.status_label.text()
    assert SECRET not in d.status_label.text()
    with qtbot.waitSignal(d.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    opened = d.result_store()
    assert opened.store.count() == 1 and SECRET not in opened.url
    opened.store.close()
    assert d.result_spec()[0].endswith(make_url(pg_url).database) and SECRET in d.result_spec()[0]

    stored = QSettings("inspector", "inspector").value(RECENT_KEY)
    stored = [stored] if isinstance(stored, str) else stored
    assert stored[0].startswith("postgresql+psycopg://postgres:***@")
    assert SECRET not in settings_text(settings_dir)

    # the next dialog asks for it; with the password re-entered it connects again
    d2 = make_dialog(qtbot, plugin_manager)
    d2.recent_list.itemClicked.emit(d2.recent_list.item(0))
    assert "***" not in d2.url_edit.text() and d2.password_edit.isVisible()
    qtbot.keyClicks(d2.password_edit, SECRET)
    assert test_connection(qtbot, d2)
    assert d2.candidates_shown()[0].layout.name == "inspector"
    d2.reject()


def test_unreachable_server_shows_one_line_and_stays_open(qtbot, plugin_manager, settings_dir):
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText("postgresql://postgres@127.0.0.1:1/x")
    assert test_connection(qtbot, d) is False
    msg = d.status_label.text()
    assert msg.startswith("cannot reach postgresql at 127.0.0.1:1/x") and "\n" not in msg
    assert "Traceback" not in msg
    assert d.candidate_list.topLevelItemCount() == 0 and not d.edit_mapping_button.isEnabled()
    with qtbot.waitSignal(d.sig_tested, timeout=WAIT_MS):  # Open tests again, and fails again
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    assert d.isVisible() and d.result() != QDialog.DialogCode.Accepted and d.result_store() is None
    assert QSettings("inspector", "inspector").value(RECENT_KEY) in (None, [], "")


def test_missing_sqlite_file_is_one_line(qtbot, plugin_manager, tmp_path):
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(str(tmp_path / "nope.sqlite"))
    assert test_connection(qtbot, d) is False
    assert d.status_label.text() == f"no such SQLite file: {tmp_path / 'nope.sqlite'}"


def test_custom_table_goes_through_the_mapping_editor(qtbot, plugin_manager, ledger_path, tmp_path, monkeypatch):
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(str(ledger_path))
    with qtbot.waitSignal(d.sig_mapping_editor_opened, timeout=WAIT_MS) as opened_sig:
        qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    editor: MappingEditor = opened_sig.args[0]
    assert editor is d.mapping_editor and editor.isVisible()
    assert editor.current_table().name == "ledger"
    assert "looks event-like" in d.status_label.text()

    # start from nothing: without a position there is nothing to read
    with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
        for logical in editor.column_combos:
            editor.set_column(logical, None)
    assert "position" in editor.preview_error and not editor.ok_button.isEnabled()
    assert editor.preview_table.rowCount() == 0

    with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
        for logical, column in (("position", "entry_no"), ("stream", "account"), ("version", "seq"),
                                ("type", "kind"), ("recorded_at", "at"), ("payload", "body")):
            editor.set_column(logical, column)
        editor.set_time_kind("iso_text")
    assert editor.preview_error is None and editor.preview_warning is None
    assert editor.preview_table.rowCount() == 20 and len(editor.preview) == 20
    first = editor.preview[0]
    assert (first.position, first.stream, first.version, first.type) == (1, "acct-1", 1, "Debit")
    assert first.data == {"amount": 5, "memo": "entry 1"} and first.recorded_at is not None
    broken = editor.preview[CORRUPT_ENTRY - 1]
    assert broken.data is None and broken.decode_error.startswith("corrupt JSON")
    assert "1 with decode errors" in editor.status.text()
    bad_row = [editor.preview_table.item(CORRUPT_ENTRY - 1, c) for c in range(editor.preview_table.columnCount())]
    assert any(i is not None and "corrupt JSON" in i.text() for i in bad_row)
    assert bad_row[0].background().color().red() > bad_row[0].background().color().blue()

    # a time kind the database reads as nonsense is flagged
    with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
        editor.set_time_kind("epoch_ms")
    assert editor.preview_warning and "check the time kind" in editor.preview_warning
    with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
        editor.set_time_kind("iso_text")

    # Save writes a mapping file that load_mapping reads back
    target = tmp_path / "ledger.toml"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    text = target.read_text()
    assert text.startswith("# Event-store mapping for table ledger")
    loaded = load_mapping(target)
    assert loaded.table == "ledger" and loaded.time_kind == "iso_text"
    assert {k: v.spec() for k, v in loaded.fields.items()} == {
        "position": "entry_no", "stream": "account", "version": "seq", "type": "kind", "recorded_at": "at",
        "payload": "body"}

    # Use mapping -> listed first in the dialog -> Open reads the ledger through it
    qtbot.mouseClick(editor.ok_button, Qt.MouseButton.LeftButton)
    assert editor.result() == QDialog.DialogCode.Accepted
    assert d.candidates_shown()[0].source == "mapping"
    with qtbot.waitSignal(d.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(d.open_button, Qt.MouseButton.LeftButton)
    opened = d.result_store()
    try:
        assert opened.store.count() == LEDGER_ROWS
        assert opened.store.count(EventFilter(types=("Fee",))) == LEDGER_ROWS // 3
        assert opened.store.histogram().axis == "time"
    finally:
        opened.store.close()
    url, name, mapping = d.result_spec()
    assert name is None and mapping.table == "ledger" and mapping.fields == loaded.fields


def test_mapping_editor_json_paths_and_sql(qtbot, plugin_manager, ledger_path):
    from inspector.core.connect import create_engine
    from inspector.core.schema import reflect

    engine = create_engine(str(ledger_path))
    try:
        editor = MappingEditor(engine, reflect(engine), plugin_manager.codecs())
        qtbot.addWidget(editor)
        editor.show()
        with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
            pass  # the first preview: position from the integer primary key
        assert editor.spec_edits["position"].text() == "entry_no"
        with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
            editor.set_spec("actor", "body->memo")
            editor.set_spec("type", "sql:upper(e.kind)")
        assert editor.column_combos["actor"].currentData() == "body"
        assert editor.preview[0].actor == "entry 1" and editor.preview[0].type == "DEBIT"
        with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
            editor.set_spec("type", "sql:no_such_function(e.kind)")
        assert "no such function" in editor.preview_error and not editor.ok_button.isEnabled()
        with qtbot.waitSignal(editor.sig_preview_ready, timeout=WAIT_MS):
            editor.set_spec("stream", "nope")
        assert "nope" in editor.preview_error and "ledger" in editor.preview_error
    finally:
        engine.dispose()


def test_loading_a_bad_mapping_file_is_one_line(qtbot, plugin_manager, ledger_path, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[layout]\ntable = "ledger"\n[fields]\nstream = "account"\n')
    d = make_dialog(qtbot, plugin_manager)
    d.url_edit.setText(str(ledger_path))
    with qtbot.waitSignal(d.sig_mapping_editor_opened, timeout=WAIT_MS) as sig:
        qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    sig.args[0].reject()
    d.load_mapping_file(bad)
    assert "position" in d.status_label.text() and "\n" not in d.status_label.text()
