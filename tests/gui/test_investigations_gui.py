"""Saved investigations in the desktop app (``gui.investigations_panel``): "Bookmark…" in the event
table's context menu (and Ctrl+D) saves a bookmark the Bookmarks dock lists, a click on it selects
the event; "Add a note…" on a checkpoint; removing; a corrupt file is shown and left alone; on the
demo shop (SQLite) and on small SQLite and PostgreSQL stores."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel

from inspector.core.checkpoints import Checkpoint, CheckpointBook
from inspector.core.investigations import InvestigationBook, investigation_of
from inspector.core.session import open_store
from tests.conftest import new_database
from tests.core.test_tail import write_own
from tests.gui.conftest import WAIT_MS


@pytest.fixture(autouse=True)
def actor(monkeypatch):
    monkeypatch.setenv("INSPECTOR_ACTOR", "user:auditor-1")


@pytest.fixture
def win(data_dir, window):
    window.investigations_panel.set_store(window.opened.store)
    window.checkpoints_panel.set_store(window.opened.store)
    return window


def _action(menu, text):
    return next(a for a in menu.actions() if a.text() == text)


def test_bookmark_from_the_event_menu_and_go_to_it(qtbot, win):
    w, panel = win, win.investigations_panel
    assert panel.empty.isVisible() and not panel.tabs.isVisible()
    ev = w.model.event_at(3)
    menu = w.rollback.event_menu(ev)
    assert "Checkpoint just before this event…" in [a.text() for a in menu.actions()]  # the menu keeps its entries
    assert menu.actions()[-1].text() == "Bookmark…"  # added after them
    _action(menu, "Bookmark…").trigger()
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.findChild(QLabel, "bookmarkWhat").text().startswith(f"#{ev.position} · {ev.type} on {ev.stream}")
    dialog.label_edit.setText("odd price")
    dialog.note_edit.setPlainText("ask pricing why")
    dialog.accept()
    assert panel.dialog is None and w.bookmarks_dock.isVisible()
    [b] = panel.bookmarks()
    assert (b.position, b.event_id, b.label, b.note, b.actor) == (ev.position, ev.event_id, "odd price",
                                                                   "ask pricing why", "user:auditor-1")
    assert (b.event_type, b.stream) == (ev.type, ev.stream)
    item = panel.tree.topLevelItem(0)
    assert [item.text(c) for c in range(5)] == [f"#{ev.position}", "odd price", ev.type, ev.stream, "ask pricing why"]
    assert panel.tabs.tabText(0) == "Bookmarks (1)" and panel.tabs.isVisible()
    assert InvestigationBook.for_store(w.opened).bookmarks() == [b]  # saved, per store

    # a bookmark far beyond the rows loaded: a click on it selects that event
    far = w.opened.store.get(2500)
    panel.add_bookmark(far, "late one")
    assert [x.position for x in panel.bookmarks()] == [ev.position, 2500]
    panel.goto_item(panel.tree.topLevelItem(1))
    qtbot.waitUntil(lambda: (w.selected_event() or ev).position == 2500, timeout=WAIT_MS)
    assert w.selected_event().event_id == far.event_id

    # Ctrl+D bookmarks the selected event
    act = w.investigations.bookmark_action
    assert act.shortcut().toString() == "Ctrl+D"
    act.trigger()
    assert panel.dialog.findChild(QLabel, "bookmarkWhat").text().startswith("#2500 ")
    panel.dialog.reject()
    assert panel.dialog is None and len(panel.bookmarks()) == 2

    # edit, then remove
    panel.select(b.id)
    dialog = panel.edit_selected()
    assert dialog.label_edit.text() == "odd price"
    dialog.note_edit.setPlainText("pricing answered: a test")
    dialog.accept()
    assert panel.bookmarks()[0].note == "pricing answered: a test"
    panel.remove(b.id)
    assert [x.label for x in panel.bookmarks()] == ["late one"]
    doc = investigation_of(w.opened)
    assert [x["label"] for x in doc["bookmarks"]] == ["late one"]


def test_note_on_a_checkpoint(qtbot, win):
    w, panel = win, win.investigations_panel
    CheckpointBook.for_store(w.opened).add(Checkpoint("before-drill", 120))
    w.checkpoints_panel.reload()
    cp = w.checkpoints_panel.checkpoints()[0]
    menu = w.checkpoints_panel.context_menu(cp)
    _action(menu, "Add a note…").trigger()
    dialog = panel.dialog
    assert dialog is not None and dialog.windowTitle() == "Note on checkpoint"
    dialog.note_edit.setPlainText("the drill began right after this")
    dialog.accept()
    [n] = panel.notes()
    assert (n.checkpoint, n.text, n.actor) == ("before-drill", "the drill began right after this", "user:auditor-1")
    assert panel.tabs.currentIndex() == 1 and panel.notes_tree.topLevelItem(0).text(0) == "checkpoint before-drill"
    panel.ask_note(None)
    panel.dialog.note_edit.setPlainText("free note")
    panel.dialog.accept()
    assert [x.checkpoint for x in panel.notes()] == ["before-drill", None]
    assert panel.title.text().startswith("0 bookmarks, 2 notes")
    empty = panel.ask_note(None)
    empty.accept()  # nothing written: no note
    assert len(panel.notes()) == 2
    panel.remove(n.id)
    assert [x.text for x in panel.notes()] == ["free note"]


def test_corrupt_file_is_shown_and_left_alone(qtbot, win):
    w, panel = win, win.investigations_panel
    book = InvestigationBook.for_store(w.opened)
    book.path.parent.mkdir(parents=True, exist_ok=True)
    book.path.write_text("{ not json", encoding="utf-8")
    errors = []
    panel.sig_error.connect(errors.append)
    panel.reload()
    assert panel.message.isVisible() and "cannot be read" in panel.message.text() and errors
    assert panel.add_bookmark(w.model.event_at(0)) is None
    assert book.path.read_text(encoding="utf-8") == "{ not json"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bookmarks_on_small_stores(qtbot, backend, tmp_path, plugin_manager):
    from inspector.gui.main_window import MainWindow

    url, drop = new_database(backend, tmp_path)
    try:
        write_own(url, 12)
        opened = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
        w = MainWindow(opened, plugin_manager)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.model.total == 12 and not w.model.is_loading(), timeout=WAIT_MS)
        panel = w.investigations_panel
        w.table.selectRow(5)
        w.investigations.bookmark_action.trigger()
        panel.dialog.label_edit.setText(backend)
        panel.dialog.accept()
        [b] = panel.bookmarks()
        assert b.position == 6 and b.label == backend
        panel.goto_item(panel.tree.topLevelItem(0))
        assert w.selected_event().position == 6
        assert InvestigationBook.for_store(opened).path.parent.name == "investigations"
        w.close()
    finally:
        drop()
