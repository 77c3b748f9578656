"""The main window over a real store: first page, selection → detail, filters, decode errors,
streams panel, timeline clicks and the headless screenshot."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt

from inspector.core.errors import UnsupportedFilter
from inspector.core.model import EventFilter

from tests.gui.conftest import WAIT_MS
from tests.gui.conftest import settled as _settled


def test_window_shows_first_page_and_names_its_parts(window, opened):
    assert window.windowTitle() == f"inspector — {opened.url} ({opened.layout.title}) [auditor]"
    for name in ("eventTable", "filterBar", "detailPanel", "streamsPanel", "statusBar"):
        assert window.findChild(object, name) is not None, name
    assert window.model.rowCount() == 200
    assert window.model.total == opened.store.count()
    assert f"{opened.store.count():,}" in window.count_label.text()
    assert "inspector" in window.layout_label.text()


def test_the_state_panel_gets_most_of_the_bottom_width(qtbot, window):
    """The read model's table has many columns: beside it the Lineage dock and the docks tabbed
    with it (Checkpoints, Integrity, Audit, Bookmarks) leave it most of the window's width."""
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.state_dock.width() > window.lineage_dock.width(), timeout=WAIT_MS)
    assert window.state_dock.width() >= 0.55 * (window.state_dock.width() + window.lineage_dock.width())


def test_selecting_a_row_shows_it_in_the_detail_panel(qtbot, window):
    window.table.selectRow(5)
    ev = window.model.event_at(5)
    assert window.detail.current == ev
    assert window.detail.values["stream"].text() == f"{ev.stream}@{ev.version}"
    assert window.detail.values["type"].text() == ev.type
    assert window.detail.payload_tree.topLevelItemCount() > 0
    assert not window.detail.banner.isVisible()
    qtbot.mouseClick(window.detail.raw_button, Qt.LeftButton)
    assert window.detail.stack.currentWidget() is window.detail.raw_view
    assert window.detail.raw_view.toPlainText()


def test_filter_bar_filters_the_table(qtbot, window, opened):
    store = opened.store
    actor = next(e.actor for e in store.read_page(limit=50).events if e.actor)
    window.filter_bar.actor_edit.setText(actor)
    qtbot.mouseClick(window.filter_bar.apply_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _settled(window) and window.model.rowCount() > 0, timeout=WAIT_MS)
    want = store.count(EventFilter(actor=actor))
    assert window.model.total == want
    rows = window.model.rowCount()
    assert rows == min(want, 200)
    assert {window.model.event_at(r).actor for r in range(rows)} == {actor}
    assert f"{want:,} of {store.count():,}" in window.count_label.text()


def test_decode_error_shows_the_banner(qtbot, window, corrupt_positions):
    pos = corrupt_positions[0]
    window.filter_bar.set_filter(EventFilter(after=pos - 1, before=pos + 1))
    assert window.filter_bar.from_edit.text() == f"#{pos}"
    qtbot.waitUntil(lambda: _settled(window) and window.model.rowCount() == 1, timeout=WAIT_MS)
    window.table.selectRow(0)
    assert window.detail.current.position == pos
    assert window.detail.banner.isVisible()
    assert "corrupt JSON" in window.detail.banner.text()
    payload = window.model.index(0, 7)
    assert payload.data().startswith("⚠")


def test_bad_filter_text_and_unsupported_filters_are_reported_in_the_bar(qtbot, window, opened, monkeypatch):
    bar = window.filter_bar
    bar.from_edit.setText("next tuesday")
    bar.apply()
    assert bar.message.isVisible() and "from" in bar.message.text()
    bar.from_edit.clear()

    def refuse(*a, **k):
        raise UnsupportedFilter("cannot filter by actor on layout test: it is not mapped")

    monkeypatch.setattr(opened.store, "read_page", refuse)
    bar.actor_edit.setText("user:alice")
    bar.apply()
    qtbot.waitUntil(lambda: "cannot filter by actor" in bar.message.text(), timeout=WAIT_MS)
    assert "cannot filter by actor" in window.statusBar().currentMessage()
    assert window.model.rowCount() == 0


def test_streams_panel_filters_by_category_and_stream(qtbot, window, opened):
    panel = window.streams_panel
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.tree.topLevelItemCount() > 1, timeout=WAIT_MS)
    cat_item = panel.tree.topLevelItem(1)
    category = cat_item.data(0, Qt.UserRole + 2)
    panel._clicked(cat_item)
    assert window.model.filter.category == category
    assert window.filter_bar.stream_edit.text() == f"{category}{opened.layout.stream_separator}*"
    qtbot.waitUntil(lambda: _settled(window), timeout=WAIT_MS)
    assert window.model.total == opened.store.count(EventFilter(category=category))
    stream_item = cat_item.child(0)
    panel._clicked(stream_item)
    qtbot.waitUntil(lambda: _settled(window), timeout=WAIT_MS)
    stream = stream_item.data(0, Qt.UserRole + 2)
    assert {window.model.event_at(r).stream for r in range(window.model.rowCount())} == {stream}


def test_timeline_click_sets_the_time_range(qtbot, window, opened):
    if window.timeline is None:
        pytest.skip("timeline widget not available")
    first = opened.store.read_page(limit=1).events[0].recorded_at
    start = first.timestamp()
    window.timeline.sig_range_clicked.emit(start, start + 86400.0, "time")
    flt = window.model.filter
    assert flt.since == first and flt.until == first + dt.timedelta(days=1)
    qtbot.waitUntil(lambda: _settled(window), timeout=WAIT_MS)
    assert window.model.total == opened.store.count(EventFilter(since=flt.since, until=flt.until))
    window.timeline.sig_range_clicked.emit(10.0, 20.0, "position")
    assert (window.model.filter.after, window.model.filter.before) == (9, 20)
    assert window.model.filter.since is None


def test_run_renders_a_screenshot(qtbot, shop_path, tmp_path, capsys):
    from inspector.gui.app import run

    png = tmp_path / "shot.png"
    assert run(str(shop_path), screenshot=str(png)) == 0
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out


def test_run_screenshot_reports_a_bad_store_in_one_line(qtbot, tmp_path, capsys):
    from inspector.gui.app import run

    assert run(str(tmp_path / "missing.sqlite"), screenshot=str(tmp_path / "x.png")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such SQLite file" in err[0]
