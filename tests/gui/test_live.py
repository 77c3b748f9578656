"""Live tail in the desktop app (``gui.live``), on SQLite and PostgreSQL: with Follow on, events
another process appends show up in the event table (read on from its cursor, not reloaded) and
its count, the timeline re-counts, the state panel's history is extended (the same History object,
never built again), and the status bar's lag goes back to 0."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex

from inspector.core.model import EventFilter
from inspector.core.session import open_store
from inspector.core.tail import Backoff
from inspector.gui import state_panel as state_panel_module
from inspector.gui.live_table import refresh_table
from tests.conftest import new_database
from tests.core.test_tail import append_elsewhere, write_own
from tests.gui.conftest import WAIT_MS

FAST = Backoff(0.05, 0.2)


@pytest.fixture
def counted(monkeypatch):
    """How often the state panel builds and extends a history."""
    calls = {"build": 0, "extend": 0}
    build, extend = state_panel_module.build_history, state_panel_module.extend_history

    def counting_build(*a, **k):
        calls["build"] += 1
        return (yield from build(*a, **k))

    def counting_extend(*a, **k):
        calls["extend"] += 1
        return (yield from extend(*a, **k))

    monkeypatch.setattr(state_panel_module, "build_history", counting_build)
    monkeypatch.setattr(state_panel_module, "extend_history", counting_extend)
    return calls


def make_window(qtbot, url, plugin_manager, n_events):
    from inspector.gui.main_window import MainWindow

    write_own(url, n_events)
    opened = open_store(url, plugin_manager.layout_definitions(), plugin_manager.codecs())
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.total == n_events and not w.model.is_loading() and w.runner.is_idle(),
                    timeout=WAIT_MS)
    w.live.backoff = FAST
    return w


@pytest.fixture(params=("sqlite", "postgresql"))
def store_url(request, tmp_path):
    url, drop = new_database(request.param, tmp_path)
    yield url
    drop()


def _positions(w):
    m = w.model
    return [m.event_at(r).position for r in range(m.rowCount()) if m.event_at(r) is not None]


def test_follow_picks_up_another_process_events(qtbot, store_url, plugin_manager, counted):
    w = make_window(qtbot, store_url, plugin_manager, 30)
    live, sp, m = w.live, w.state_panel, w.model
    try:
        sp.choose("streams")
        qtbot.waitUntil(lambda: sp.history is not None and sp.is_idle(), timeout=WAIT_MS)
        history, versions = sp.history, sp.history.versions_count
        assert counted == {"build": 1, "extend": 0} and history.head == 30

        assert not live.is_following() and not live.label.isVisible()
        live.follow_action.trigger()
        assert live.is_following() and live.label.isVisible()
        qtbot.waitUntil(lambda: live.head == 30 and live.lag == 0, timeout=WAIT_MS)
        assert live.caught_up == 30 and live.label.text() == "head #30 · history at #30 (lag 0 events)"
        generation, queries = m._generation, w.timeline.queries

        ids = append_elsewhere(store_url, 5, "order-live")
        qtbot.waitUntil(lambda: live.caught_up == 35, timeout=WAIT_MS)
        assert live.head == 35 and live.lag == 0
        assert live.label.text() == "head #35 · history at #35 (lag 0 events)"
        # the table read on from its cursor: the new rows are appended, nothing was reloaded
        assert m.total == 35 and m.rowCount() == 35 and m._generation == generation
        assert _positions(w) == list(range(1, 36))
        assert [m.event_at(r).event_id for r in range(30, 35)] == ids
        assert w.count_label.text() == "35 events"
        # the history was extended in place, never rebuilt
        assert sp.history is history and history.head == 35 and history.versions_count == versions + 5
        assert counted == {"build": 1, "extend": 1}
        # the timeline shows the whole store, so it counted again, new events included
        qtbot.waitUntil(lambda: not w.timeline.is_loading() and w.timeline.drawn_total() == 35, timeout=WAIT_MS)
        assert w.timeline.queries > queries
        # and the streams panel counted again (the first round, at Follow, did not: nothing was new)
        qtbot.waitUntil(lambda: not w.streams_panel.is_loading(), timeout=WAIT_MS)
        assert w.streams_panel.tree.topLevelItem(0).text(1) == "35"

        live.follow_action.trigger()  # off
        assert not live.is_following() and not live.label.isVisible() and live.tail is None
    finally:
        w.close()
    assert not live.is_following()


def test_lag_is_shown_until_the_window_catches_up(qtbot, sqlite_url, plugin_manager):
    """Rounds run one at a time: the status line shows the head the follower saw and the lag of
    what the window holds behind it, and every update arrives with the lag it was counted for."""
    w = make_window(qtbot, sqlite_url, plugin_manager, 10)
    live = w.live
    seen = []
    live.sig_update.connect(lambda lu: seen.append((lu.update.head, lu.at, lu.lag)))
    try:
        live.set_following(True)
        qtbot.waitUntil(lambda: live.caught_up == 10, timeout=WAIT_MS)
        live._start_round = lambda: None  # hold the next round back, as if the window were still busy
        append_elsewhere(sqlite_url, 4, "order-lag")
        qtbot.waitUntil(lambda: live.head == 14, timeout=WAIT_MS)
        assert live.lag == 4 and live.label.text() == "head #14 · history at #10 (lag 4 events)"
        assert (14, 10, 4) in seen
        del live._start_round
        live._start_round()
        qtbot.waitUntil(lambda: live.caught_up == 14, timeout=WAIT_MS)
        assert live.lag == 0 and w.model.total == 14
    finally:
        w.close()


def test_table_refresh_paths(qtbot, sqlite_url, plugin_manager):
    """A partly loaded table only counts again; one sorted newest first reloads; one filtered to
    a stream that had no events reads them from the start."""
    w = make_window(qtbot, sqlite_url, plugin_manager, 450)
    m = w.model
    try:
        assert m.rowCount() < 450 and m.canFetchMore(QModelIndex())
        append_elsewhere(sqlite_url, 3, "order-paths")
        rows, generation = m.rowCount(), m._generation
        assert refresh_table(m, w.runner) == "recount"
        qtbot.waitUntil(lambda: m.total == 453 and not m.is_counting(), timeout=WAIT_MS)
        assert m.rowCount() == rows and m._generation == generation

        w.filter_bar.set_filter(EventFilter(stream="order-later"))
        qtbot.waitUntil(lambda: m.total == 0 and not m.is_loading() and w.runner.is_idle(), timeout=WAIT_MS)
        ids = append_elsewhere(sqlite_url, 2, "order-later")
        with qtbot.waitSignal(m.sig_page_loaded, timeout=WAIT_MS) as loaded:
            assert refresh_table(m, w.runner) == "append" and m.is_loading()
        assert loaded.args == [0, 2]  # the window selects the first row of a first page
        qtbot.waitUntil(lambda: m.total == 2 and m.rowCount() == 2 and not m.is_loading(), timeout=WAIT_MS)
        assert [m.event_at(r).event_id for r in range(2)] == ids
        assert m.tail_cursor() is not None and not m.canFetchMore(QModelIndex())

        m.set_sort("position", descending=True)
        qtbot.waitUntil(lambda: not m.is_loading() and not m.is_counting(), timeout=WAIT_MS)
        generation = m._generation
        append_elsewhere(sqlite_url, 1, "order-later")
        assert refresh_table(m, w.runner) == "reload"
        qtbot.waitUntil(lambda: m.total == 3 and not m.is_loading(), timeout=WAIT_MS)
        assert m._generation > generation and m.event_at(0).stream == "order-later" and m.event_at(0).position == 456
    finally:
        w.close()


def test_store_change_and_close_stop_the_follower(qtbot, sqlite_url, plugin_manager, tmp_path):
    w = make_window(qtbot, sqlite_url, plugin_manager, 5)
    live = w.live
    live.set_following(True)
    qtbot.waitUntil(lambda: live.head == 5, timeout=WAIT_MS)
    first = live.tail
    other, _ = new_database("sqlite", tmp_path)
    write_own(other, 3)
    w.set_opened(open_store(other, plugin_manager.layout_definitions(), plugin_manager.codecs()))
    assert first.cancelled and live.is_following() and live.tail is not first  # following the new store
    qtbot.waitUntil(lambda: live.head == 3, timeout=WAIT_MS)
    w.close()
    assert not live.is_following() and live._runner.is_idle()
