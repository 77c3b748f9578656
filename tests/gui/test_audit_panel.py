"""The Audit dock in the main window over the demo shop: the audit table with its filters and
pages, the banner where a store keeps no command log, double-click filtering the window to a
correlation, and "Who changed this…" from a row and a cell of the State panel."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from PySide6.QtCore import Qt

from inspector.core.audit import SOURCE_FIRST_EVENT, SOURCE_LOG, audit_table
from inspector.core.model import EventFilter
from inspector.core.session import open_store
from inspector.gui.main_window import MainWindow

from tests.gui.conftest import WAIT_MS
from tests.gui.conftest import settled as _settled


def _wait_audit(qtbot, w) -> None:
    qtbot.waitUntil(lambda: not w.audit_panel.model.is_loading() and w.audit_panel.model.page is not None,
                    timeout=WAIT_MS)


def _window(qtbot, opened, plugin_manager) -> MainWindow:
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and _settled(w), timeout=WAIT_MS)
    _wait_audit(qtbot, w)
    return w


@pytest.fixture
def auditor(shop_path, plugin_manager):
    o = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs(), role="auditor")
    yield o
    o.store.close()


def _incident(store):
    """The pricing-bot's BulkReprice that touched the most products (the incident)."""
    runs = audit_table(store, actor="agent:pricing-bot", command="BulkReprice", limit=1000).entries
    return max(runs, key=lambda e: e.events)


def _double_click(qtbot, table, row: int) -> None:
    table.window().audit_dock.raise_()  # tabbed behind Lineage until chosen
    qtbot.waitUntil(table.isVisible, timeout=WAIT_MS)
    index = table.model().index(row, 0)
    table.scrollTo(index)
    pos = table.visualRect(index).center()
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=pos)  # a view acts on a double-click after a press
    qtbot.mouseDClick(table.viewport(), Qt.LeftButton, pos=pos)


def test_the_audit_dock_lists_the_command_log_and_filters_it(qtbot, window, qtmodeltester):
    w = window
    _wait_audit(qtbot, w)
    panel, model = w.audit_panel, w.audit_panel.model
    assert "Audit" in w.view_actions and w.audit_dock.objectName() == "auditDock"
    assert model.rowCount() == 200 and model.canFetchMore()  # one page, more on scroll
    assert not panel.banner.isVisible() and model.page.source == SOURCE_LOG
    assert model.headerData(0, Qt.Horizontal) == "Time"
    qtmodeltester.check(model)
    first = [model.items[r].command_id for r in range(model.rowCount())]
    model.fetchMore()
    qtbot.waitUntil(lambda: not model.is_loading() and model.rowCount() > 200, timeout=WAIT_MS)
    ids = [model.items[r].command_id for r in range(model.rowCount())]
    assert ids[:200] == first and len(set(ids)) == len(ids)
    times = [model.items[r].time for r in range(model.rowCount())]
    assert times == sorted(times, reverse=True)  # newest first across pages
    qtbot.waitUntil(lambda: panel.actor_combo.count() > 1, timeout=WAIT_MS)
    assert panel.actor_combo.findText("agent:pricing-bot") > 0 and panel.command_combo.findText("BulkReprice") > 0
    panel.set_filters(actor="agent:pricing-bot", command="BulkReprice")
    _wait_audit(qtbot, w)
    assert model.rowCount() > 0 and not model.canFetchMore()
    assert {(model.items[r].actor, model.items[r].command) for r in range(model.rowCount())} == {
        ("agent:pricing-bot", "BulkReprice")}
    assert model.data(model.index(0, 1)) == "agent:pricing-bot" and f"{model.rowCount()} rows" in panel.status.text()
    panel.set_filters(since="not a time")
    assert "not a date-time" in panel.status.text()
    panel.set_filters(actor="nobody", command=None, since=None)
    _wait_audit(qtbot, w)
    assert model.rowCount() == 0 and "No commands match" in panel.status.text()


def test_an_auditor_searches_text_and_double_click_filters_the_window_to_the_correlation(
        qtbot, auditor, plugin_manager):
    w = _window(qtbot, auditor, plugin_manager)
    panel, model = w.audit_panel, w.audit_panel.model
    inc = _incident(auditor.store)
    assert panel.text_edit.isEnabled()
    panel.set_filters(text="FEED FORMAT")
    _wait_audit(qtbot, w)
    assert [model.items[r].command_id for r in range(model.rowCount())] == [inc.command_id]
    assert model.data(model.index(0, 4)).startswith("product-") and model.data(model.index(0, 3)) == str(inc.events)
    assert "feed format" in model.data(model.index(0, 0), Qt.ToolTipRole)
    _double_click(qtbot, panel.table, 0)
    assert w.model.filter == EventFilter(correlation_id=inc.correlation_id)
    assert w.filter_bar.correlation_edit.text() == inc.correlation_id
    qtbot.waitUntil(lambda: _settled(w) and w.model.total is not None, timeout=WAIT_MS)
    assert w.model.total == inc.events
    assert {w.model.event_at(r).correlation_id for r in range(w.model.rowCount())} == {inc.correlation_id}
    w.close()


def test_a_store_without_a_command_log_shows_the_banner(qtbot, shop_path, tmp_path, plugin_manager):
    path = tmp_path / "no-log.sqlite"
    shutil.copy(shop_path, path)
    c = sqlite3.connect(path)
    c.execute("DROP TABLE inspector_commands")
    c.commit()
    c.close()
    opened = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    try:
        w = _window(qtbot, opened, plugin_manager)
        panel, model = w.audit_panel, w.audit_panel.model
        w.audit_dock.raise_()
        qtbot.waitUntil(panel.banner.isVisible, timeout=WAIT_MS)
        assert "no command log" in panel.banner.text() and "first event stands in" in panel.banner.text()
        assert model.rowCount() > 0 and {model.items[r].source for r in range(model.rowCount())} == {SOURCE_FIRST_EVENT}
        assert model.data(model.index(0, 5)) == "first event"
        e = model.items[0]
        _double_click(qtbot, panel.table, 0)
        assert w.model.filter == EventFilter(correlation_id=e.correlation_id)
        w.close()
    finally:
        opened.store.close()


def test_who_changed_this_from_a_state_cell_and_row(qtbot, auditor, plugin_manager, qtmodeltester):
    w = _window(qtbot, auditor, plugin_manager)
    inc = _incident(auditor.store)
    sku = inc.streams[0].removeprefix("product-")
    sp, panel = w.state_panel, w.audit_panel
    assert sp.table.contextMenuPolicy() == Qt.ActionsContextMenu and w.audit.who_action in sp.table.actions()
    sp.choose("products")
    qtbot.waitUntil(lambda: sp.history is not None and sp.is_idle() and sp.model.row_of(sku) >= 0, timeout=WAIT_MS)
    row, col = sp.model.row_of(sku), sp.model.column_of("price")
    sp.table.setCurrentIndex(sp.model.index(row, col))
    w.audit.who_action.trigger()
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.who_model.rowCount() > 0, timeout=WAIT_MS)
    assert panel.tabs.currentIndex() == 1 and w.audit_dock.isVisible()
    rows = panel.who_model.items
    assert {r["field"] for r in rows} == {"price"} and panel.who_subject == (sku, "price")
    bad = [r for r in rows if r["command_id"] == inc.command_id]
    assert len(bad) == 1 and bad[0]["command"] == "BulkReprice" and bad[0]["actor"] == "agent:pricing-bot"
    assert bad[0]["reason"] == inc.reason
    i = rows.index(bad[0])
    assert panel.who_model.data(panel.who_model.index(i, 6)) == "BulkReprice"
    assert panel.who_model.data(panel.who_model.index(i, 8)) == inc.reason
    assert sku in panel.who_title.text() and "agent:pricing-bot" in panel.who_title.text()
    qtmodeltester.check(panel.who_model)
    # double-click a change: the window selects its event
    _double_click(qtbot, panel.who_table, i)
    qtbot.waitUntil(lambda: w.selected_event() is not None and w.selected_event().position == bad[0]["position"],
                    timeout=WAIT_MS)
    # the key cell: every field of the row
    sp.table.setCurrentIndex(sp.model.index(row, 0))
    w.audit.who_from_state()
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.who_subject == (sku, None), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len({r["field"] for r in panel.who_model.items}) > 1, timeout=WAIT_MS)
    assert {"price", "name"} <= {r["field"] for r in panel.who_model.items}
    w.close()


def test_a_viewer_filters_but_cannot_search_text(qtbot, shop_path, plugin_manager):
    opened = open_store(str(shop_path), plugin_manager.layout_definitions(), plugin_manager.codecs(), role="viewer",
                        masking_rules=plugin_manager.masking_rules())
    try:
        w = _window(qtbot, opened, plugin_manager)
        panel = w.audit_panel
        assert not panel.text_edit.isEnabled() and "viewers" in panel.text_edit.placeholderText()
        assert panel.model.rowCount() == 200
        panel.set_filters(actor="user:alice")
        _wait_audit(qtbot, w)
        assert panel.model.rowCount() > 0
        assert {panel.model.items[r].actor for r in range(panel.model.rowCount())} == {"user:alice"}
        w.close()
    finally:
        opened.store.close()


def test_who_changed_this_asks_for_a_projection_first(qtbot, window):
    window.audit.who_from_state()
    assert "State panel" in window.statusBar().currentMessage()
