"""The lineage panel in the main window over the demo shop: the causation tree of the selected
event (command on top, actor and time on every node), node clicks select the event in the table
and on the timeline, the correlation button filters to the correlation; and a store written by the
real ``eventsourcing`` package, which records no lineage, shows the explanation instead."""

from __future__ import annotations

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItemIterator

from inspector.core.lineage import event_lineage
from inspector.core.model import EventFilter
from inspector.core.session import open_store
from inspector.gui.event_model import EventRole
from inspector.gui.lineage_panel import NodeRole
from inspector.gui.main_window import MainWindow

from tests.gui.conftest import WAIT_MS
from tests.gui.conftest import settled as _settled


def _items(tree):
    it = QTreeWidgetItemIterator(tree)
    while it.value():
        yield it.value()
        it += 1


def _select_row_of(qtbot, w: MainWindow, position: int) -> None:
    row = next(r for r in range(w.model.rowCount()) if w.model.event_at(r).position == position)
    w.table.selectRow(row)
    qtbot.waitUntil(lambda: not w.lineage_panel.is_loading() and w.lineage_panel.graph is not None, timeout=WAIT_MS)


def _current(w: MainWindow):
    cur = w.table.currentIndex()
    return cur.data(EventRole) if cur.isValid() else None


def _order_with_far_effects(w: MainWindow):
    """An OrderPlaced on the first page whose lineage reaches past the rows loaded."""
    store, loaded = w.opened.store, w.model.rowCount()
    last = w.model.event_at(loaded - 1).position
    for r in range(loaded):
        ev = w.model.event_at(r)
        if ev.type == "OrderPlaced":
            g = event_lineage(store, position=ev.position)
            near = [n for n in g.nodes if n.kind == "event" and n.position != ev.position and n.position <= last]
            far = [n for n in g.nodes if n.kind == "event" and n.position > last]
            if near and far:
                return ev, g, near[0], far[0]
    pytest.fail("no order with effects both on and beyond the first page")


def test_tree_shows_the_command_on_top_with_actor_and_time_on_every_node(qtbot, window):
    ev, graph, _near, _far = _order_with_far_effects(window)
    _select_row_of(qtbot, window, ev.position)
    panel = window.lineage_panel
    tree = panel.tree
    assert tree.topLevelItemCount() == len(graph.roots) >= 1
    top = tree.topLevelItem(0).data(0, NodeRole)
    assert top.kind == "command" and top.type == "PlaceOrder"
    assert tree.topLevelItem(0).text(0).startswith("⌘")
    items = list(_items(tree))
    assert len(items) == len(graph.nodes)
    for item in items:
        node = item.data(0, NodeRole)
        assert item.text(1) == node.actor and item.text(1), node
        assert item.text(2) and item.text(2)[:4] == "2026", node
    focus = tree.currentItem().data(0, NodeRole)
    assert focus.position == ev.position and tree.currentItem().font(0).bold()
    # each node hangs under its cause
    for item in items:
        node, parent = item.data(0, NodeRole), item.parent()
        want = graph.parent(node.id)
        assert (parent.data(0, NodeRole).id if parent else None) == (want.id if want else None)
    assert panel.title.text().startswith(f"#{ev.position} ")
    assert not panel.explanation.isVisible()


def test_clicking_a_node_selects_that_event_in_the_table_and_on_the_timeline(qtbot, window):
    ev, _graph, near, far = _order_with_far_effects(window)
    _select_row_of(qtbot, window, ev.position)
    panel, tree = window.lineage_panel, window.lineage_panel.tree
    flt = window.model.filter

    # a node whose event is among the rows loaded: selected in place, the filter untouched
    item = panel.item_for_position(near.position)
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())
    assert _current(window).position == near.position
    assert window.model.filter == flt
    assert window.timeline.cursor_position() == pytest.approx(near.at.timestamp())
    assert tree.currentItem().data(0, NodeRole).position == near.position  # the tree stays, re-focused
    assert window.detail.current.position == near.position

    # a node beyond them: the table is filtered to start at it, and it is selected when it arrives
    item = panel.item_for_position(far.position)
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())
    qtbot.waitUntil(lambda: _settled(window) and _current(window) is not None
                    and _current(window).position == far.position, timeout=WAIT_MS)
    assert window.model.filter.after == far.position - 1
    assert window.filter_bar.from_edit.text() == f"#{far.position}"
    assert window.timeline.cursor_position() == pytest.approx(far.at.timestamp())


def test_correlation_button_filters_the_table_and_timeline(qtbot, window, opened):
    ev, _graph, _near, _far = _order_with_far_effects(window)
    _select_row_of(qtbot, window, ev.position)
    button = window.lineage_panel.correlation_button
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.LeftButton)
    corr = ev.correlation_id
    assert window.filter_bar.correlation_edit.text() == corr
    assert window.model.filter == EventFilter(correlation_id=corr)
    assert window.timeline.filter.correlation_id == corr
    qtbot.waitUntil(lambda: _settled(window) and window.model.total is not None, timeout=WAIT_MS)
    assert window.model.total == opened.store.count(EventFilter(correlation_id=corr)) > 1
    assert {window.model.event_at(r).correlation_id for r in range(window.model.rowCount())} == {corr}


def test_whole_correlation_scope(qtbot, window, opened):
    ev, _graph, _near, _far = _order_with_far_effects(window)
    _select_row_of(qtbot, window, ev.position)
    panel = window.lineage_panel
    panel.scope_button.click()
    qtbot.waitUntil(lambda: not panel.is_loading() and bool(panel.graph.query.get("correlation_id")), timeout=WAIT_MS)
    positions = {n.position for n in panel.graph.nodes if n.kind == "event"}
    own = {e.position for e in opened.store.iter_events(EventFilter(correlation_id=ev.correlation_id))}
    assert own <= positions
    assert "in its correlation" in panel.title.text()


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


def test_a_store_without_lineage_shows_the_explanation(qtbot, tmp_path, plugin_manager):
    path = tmp_path / "dogs.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    for name in ("Fido", "Rex"):
        dog = Dog(name)
        dog.add_trick("roll over")
        app.save(dog)
    app.close()
    opened = open_store(f"sqlite:///{path}", plugin_manager.layout_definitions(), plugin_manager.codecs())
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() == 4 and _settled(w), timeout=WAIT_MS)
    w.table.selectRow(1)
    panel = w.lineage_panel
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.graph is not None, timeout=WAIT_MS)
    assert panel.tree.topLevelItemCount() == 0 and not panel.tree.isVisible()
    assert panel.explanation.isVisible()
    assert "records no causation or correlation" in panel.explanation.text()
    assert not panel.correlation_button.isEnabled()
    w.close()
