"""The timeline widget over real SQLite stores: bars drawn from SQL buckets, clicks select a bin's
range, zooming re-queries finer buckets, stores without SQL time are drawn by position."""

from __future__ import annotations

import datetime as dt
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

pytest.importorskip("pyqtgraph")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from inspector.core.demo import create_demo  # noqa: E402
from inspector.core.model import EventFilter  # noqa: E402
from inspector.core.session import open_store  # noqa: E402
from inspector.gui.timeline import TYPE_COLORS, TimelineWidget, describe_range, local, range_filter  # noqa: E402

UTC = dt.timezone.utc
WAIT_MS = 15000


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("timeline") / "demo.sqlite"
    create_demo(path, events=2000, days=3)
    return path


@pytest.fixture
def store(demo_path, plugin_manager):
    opened = open_store(str(demo_path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    yield opened.store
    opened.store.close()


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str):
        self.owner = owner

    @event("Deposited")
    def deposit(self, amount: int):
        pass


@pytest.fixture
def es_store(tmp_path, plugin_manager):
    """A store written by the eventsourcing library: event times live in the encoded state."""
    path = tmp_path / "es.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    accounts = [Account(f"owner-{i}") for i in range(4)]
    for i in range(296):
        accounts[i % 4].deposit(i)
    app.save(*accounts)
    app.close()
    opened = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    assert opened.layout.time_kind == "payload"
    yield opened.store
    opened.store.close()


def make_timeline(qtbot, store) -> TimelineWidget:
    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(900, 240)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.set_store(store)
    return w


def bar_items(w: TimelineWidget) -> list[pg.BarGraphItem]:
    return [i for i in w.plot_item.items if isinstance(i, pg.BarGraphItem)]


def drawn_heights(w: TimelineWidget) -> float:
    return sum(sum(item.opts["height"]) for item in bar_items(w))


def click_bin(qtbot, w: TimelineWidget, b) -> None:
    """A real left click on the plot's viewport, in the middle of the bar."""
    scene = w.view.mapViewToScene(QPointF((b.start + b.end) / 2, b.total / 2))
    pos = w.plot.mapFromScene(scene)
    qtbot.mouseClick(w.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_draws_every_event_stacked_by_type(qtbot, store):
    w = make_timeline(qtbot, store)
    assert w.axis == "time" and isinstance(w.plot_item.getAxis("bottom"), pg.DateAxisItem)
    assert not w.is_loading()
    assert drawn_heights(w) == store.count() == w.drawn_total() == 2000
    items = bar_items(w)
    assert 1 < len(items) <= 11  # top ten types and "other"
    # stacked: each series starts where the one below it ends
    for below, above in zip(items, items[1:]):
        tops = [y0 + h for y0, h in zip(below.opts["y0"], below.opts["height"])]
        assert list(above.opts["y0"]) == pytest.approx(tops)
    # a type keeps its colour, and the legend names it
    first = items[0]
    assert pg.mkBrush(first.opts["brush"]).color() == TYPE_COLORS.color(first.event_type)
    assert first.event_type in w.legend.text()
    assert "2,000 events" in w.status.text()


def test_click_on_a_bar_emits_its_range_and_the_range_counts_the_same(qtbot, store):
    w = make_timeline(qtbot, store)
    b = max(w.bins, key=lambda b: b.total)
    with qtbot.waitSignal(w.sig_range_clicked, timeout=2000) as sig:
        click_bin(qtbot, w, b)
    start, end, axis = sig.args
    assert (start, end, axis) == (b.start, b.end, "time")
    since, until = dt.datetime.fromtimestamp(start, UTC), dt.datetime.fromtimestamp(end, UTC)
    assert store.count(EventFilter(since=since, until=until)) == b.total
    assert store.count(range_filter(EventFilter(), start, end, axis)) == b.total
    page = store.read_page(range_filter(EventFilter(), start, end, axis), limit=b.total + 1)
    assert len(page.events) == b.total and not page.has_more
    # a click outside the bars selects nothing
    with qtbot.assertNotEmitted(w.sig_range_clicked):
        left_of_plot = QPointF(w.view.sceneBoundingRect().left() - 20, w.view.sceneBoundingRect().center().y())
        qtbot.wait(500)  # not a double click
        qtbot.mouseClick(w.plot.viewport(), Qt.MouseButton.LeftButton, pos=w.plot.mapFromScene(left_of_plot))


def test_every_bin_counts_what_its_range_selects(qtbot, store):
    w = make_timeline(qtbot, store)
    for b in w.bins:
        assert store.count(range_filter(EventFilter(), b.start, b.end, "time")) == b.total


def test_zoom_requeries_the_visible_window_with_finer_buckets(qtbot, store):
    w = make_timeline(qtbot, store)
    coarse, queries = w.histogram.bucket_seconds, w.queries
    lo = w.bins[0].start + 36 * 3600
    hi = lo + 6 * 3600 + 1234.5  # not on a bucket edge: the edge bins are partial
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.view.setXRange(lo, hi, padding=0)
    assert w.queries == queries + 1
    assert w.histogram.bucket_seconds < coarse
    assert w.bins[0].start >= lo and w.bins[-1].end <= hi
    window = EventFilter(since=dt.datetime.fromtimestamp(lo, UTC), until=dt.datetime.fromtimestamp(hi, UTC))
    assert w.drawn_total() == store.count(window)
    for b in (w.bins[0], w.bins[-1]):  # clipped edge bins still select exactly what they count
        assert store.count(range_filter(EventFilter(), b.start, b.end, "time")) == b.total
    # double click: back to everything
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.reset_zoom()
    assert w.drawn_total() == 2000 and w.histogram.bucket_seconds == coarse


def test_range_changes_are_debounced_and_stale_results_dropped(qtbot, store):
    w = make_timeline(qtbot, store)
    queries = w.queries
    lo = w.bins[0].start
    loaded = []
    w.sig_loaded.connect(lambda: loaded.append(w.histogram))
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        for i in range(5):  # a wheel spin: five range changes within the debounce delay
            w.view.setXRange(lo + i * 600, lo + 86400 - i * 600, padding=0)
    assert w.queries == queries + 1
    # two filters in a row: only the last one's counts are drawn
    placed = EventFilter(types=("OrderPlaced",))
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.set_filter(EventFilter(types=("StockReserved",)))
        w.set_filter(placed)
    qtbot.wait(300)
    assert w.filter == placed
    lo, hi = w.view.viewRange()[0]
    assert w.drawn_total() == store.count(placed.with_(
        since=dt.datetime.fromtimestamp(lo, UTC), until=dt.datetime.fromtimestamp(hi, UTC)))
    assert set(loaded[-1].types) == {"OrderPlaced"}


def test_filter_counts_only_matching_events(qtbot, store):
    w = make_timeline(qtbot, store)
    flt = EventFilter(types=("OrderPlaced", "OrderPaid"))
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.set_filter(flt)
    assert w.drawn_total() == store.count(flt) > 0
    assert {i.event_type for i in bar_items(w)} == {"OrderPlaced", "OrderPaid"}


def test_tooltip_and_cursor(qtbot, store):
    w = make_timeline(qtbot, store)
    b = max(w.bins, key=lambda b: b.total)
    text = w.tooltip_text(b)
    assert local(b.start).strftime("%Y-%m-%d %H:%M") in text and f"{b.total:,} events" in text
    top_type, n = max(b.counts.items(), key=lambda kv: kv[1])
    assert f"{top_type}: {n:,}" in text
    when = dt.datetime.fromtimestamp(b.start, UTC)
    w.set_cursor(when)
    assert w.cursor_position() == pytest.approx(b.start)
    w.set_cursor(None)
    assert w.cursor_position() is None


def test_position_axis_for_stores_without_sql_time(qtbot, es_store):
    w = make_timeline(qtbot, es_store)
    assert w.axis == "position" and w.histogram.axis == "position"
    assert not isinstance(w.plot_item.getAxis("bottom"), pg.DateAxisItem)
    assert w.drawn_total() == es_store.count() == 300
    b = w.bins[len(w.bins) // 2]
    with qtbot.waitSignal(w.sig_range_clicked, timeout=2000) as sig:
        click_bin(qtbot, w, b)
    start, end, axis = sig.args
    assert axis == "position"
    flt = range_filter(EventFilter(), start, end, axis)
    assert es_store.count(flt) == b.total
    assert all(start <= e.position < end for e in es_store.read_page(flt).events)
    # zooming in on positions gives narrower bars too
    width = w.histogram.bucket_seconds
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.view.setXRange(100, 160, padding=0)
    assert w.histogram.bucket_seconds < width
    assert w.drawn_total() == es_store.count(EventFilter(after=99, before=160))  # positions 100..159


def test_errors_are_shown_in_the_widget(qtbot, es_store):
    w = make_timeline(qtbot, es_store)
    with qtbot.waitSignal(w.sig_error, timeout=WAIT_MS) as sig:
        w.set_filter(EventFilter(since=dt.datetime(2026, 1, 1, tzinfo=UTC)))
    assert "filter by position" in sig.args[0]
    assert w.message.isVisible() and w.message.text() == sig.args[0]
    assert w.drawn_total() == 0 and not w.is_loading()
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.set_filter(EventFilter())
    assert not w.message.isVisible() and w.drawn_total() == 300


def test_empty_store_says_so(qtbot, tmp_path, plugin_manager):
    import sqlite3

    path = tmp_path / "empty.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table inspector_events(position integer primary key, event_id text, stream text, "
                "version int, type text, recorded_at text, data text, metadata text)")
    con.commit()
    con.close()
    opened = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    w = make_timeline(qtbot, opened.store)
    assert w.bins == [] and w.message.isVisible() and "No events" in w.message.text()
    opened.store.close()


def test_ranges_are_described_in_local_time_with_the_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        start = dt.datetime(2026, 10, 29, 13, 0, tzinfo=UTC).timestamp()
        assert describe_range(start, start + 3600, "time") == "2026-10-29 14:00 – 15:00 CET"
        day = dt.datetime(2026, 10, 29, tzinfo=UTC).timestamp()
        assert describe_range(day, day + 86400, "time") == "2026-10-29 01:00 – 2026-10-30 01:00 CET"
        assert describe_range(100, 200, "position") == "positions 100 – 199"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_much_narrower_widget_counts_again_with_wider_bars(qtbot, store):
    w = make_timeline(qtbot, store)
    width, queries = w.histogram.bucket_seconds, w.queries
    with qtbot.waitSignal(w.sig_loaded, timeout=WAIT_MS):
        w.resize(260, 240)
    assert w.queries == queries + 1
    assert w.histogram.bucket_seconds > width and w.drawn_total() == 2000
