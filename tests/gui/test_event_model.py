"""The keyset-paged event table model over a real SQLite store."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from inspector.core.model import EventFilter
from inspector.gui.event_model import COLUMN_INDEX, LOADING, EventRole, EventTableModel

WAIT_MS = 15000


def _idle(model):
    return not model.is_loading() and not model.is_counting()


def _make(qtbot, runner, store, page_size=200):
    model = EventTableModel(runner, page_size=page_size)
    model.set_store(store)
    qtbot.waitUntil(lambda: _idle(model), timeout=WAIT_MS)
    return model


def _load_all(qtbot, model):
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        qtbot.waitUntil(lambda: not model.is_loading(), timeout=WAIT_MS)


def test_model_passes_qtmodeltester(qtbot, qtmodeltester, runner, opened):
    model = _make(qtbot, runner, opened.store)
    assert model.rowCount() == 200
    qtmodeltester.check(model)
    # fetching more while the tester watches: placeholders inserted, then filled (or trimmed)
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: not model.is_loading(), timeout=WAIT_MS)
    qtmodeltester.check(model)


def test_paging_loads_every_row_once_in_order(qtbot, runner, opened):
    store = opened.store
    model = _make(qtbot, runner, store, page_size=250)
    _load_all(qtbot, model)
    expected = [e.position for e in store.iter_events()]
    got = [model.event_at(r).position for r in range(model.rowCount())]
    assert got == expected
    assert model.rowCount() == store.count() == model.total
    assert not model.canFetchMore(QModelIndex())


def test_placeholders_appear_then_get_replaced(qtbot, runner, opened):
    model = _make(qtbot, runner, opened.store)
    first = model.rowCount()
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    # at once, before the worker answers: a page of greyed "loading…" rows
    assert model.rowCount() == first + 200
    idx = model.index(first, 0)
    assert idx.data() == LOADING
    assert idx.data(EventRole) is None
    assert idx.data(Qt.ForegroundRole) is not None
    assert not model.canFetchMore(QModelIndex())  # one page in flight at a time
    with qtbot.waitSignal(model.sig_page_loaded, timeout=WAIT_MS) as blocker:
        pass
    assert blocker.args == [first, 200]
    assert model.index(first, 0).data() != LOADING
    ev = model.index(first, 0).data(EventRole)
    assert ev.position > model.event_at(first - 1).position


def test_sort_by_type_requeries_in_sql(qtbot, runner, opened):
    store = opened.store
    model = _make(qtbot, runner, store)
    model.sort(COLUMN_INDEX["type"], Qt.AscendingOrder)
    assert model.sort_key == "type"
    qtbot.waitUntil(lambda: _idle(model) and model.rowCount() > 0, timeout=WAIT_MS)
    want = [e.position for e in store.read_page(limit=200, sort="type").events]
    got = [model.event_at(r).position for r in range(200)]
    assert got == want
    types = [model.event_at(r).type for r in range(200)]
    assert types == sorted(types)
    # the next page continues the keyset, and descending order works too
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: not model.is_loading(), timeout=WAIT_MS)
    types = [model.event_at(r).type for r in range(model.rowCount())]
    assert types == sorted(types)
    model.sort(COLUMN_INDEX["time"], Qt.DescendingOrder)
    qtbot.waitUntil(lambda: _idle(model) and model.rowCount() > 0, timeout=WAIT_MS)
    times = [model.event_at(r).recorded_at for r in range(model.rowCount())]
    assert times == sorted(times, reverse=True)


def test_payload_column_is_not_sorted_by_a_proxy(qtbot, runner, opened):
    model = _make(qtbot, runner, opened.store)
    with qtbot.waitSignal(model.sig_error, timeout=1000):
        model.sort(COLUMN_INDEX["payload"], Qt.AscendingOrder)
    assert model.sort_key == "position"


def test_filter_resets_and_count_matches(qtbot, runner, opened):
    store = opened.store
    model = _make(qtbot, runner, store)
    etype = store.event_types()[0][0]
    flt = EventFilter(types=(etype,))
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.set_filter(flt)
    qtbot.waitUntil(lambda: _idle(model), timeout=WAIT_MS)
    assert model.total == store.count(flt) < store.count()
    _load_all(qtbot, model)
    assert model.rowCount() == store.count(flt)
    assert {model.event_at(r).type for r in range(model.rowCount())} == {etype}


def test_stale_pages_are_dropped(qtbot, runner, opened):
    store = opened.store
    model = EventTableModel(runner)
    model.set_store(store)
    stream = store.streams(limit=1)[0].stream
    model.set_filter(EventFilter(stream=stream))  # before the first page of the unfiltered load arrives
    qtbot.waitUntil(lambda: _idle(model) and runner.is_idle(), timeout=WAIT_MS)
    assert {model.event_at(r).stream for r in range(model.rowCount())} == {stream}
    assert model.total == store.count(EventFilter(stream=stream))


def test_decode_errors_are_marked_in_red(qtbot, runner, opened, corrupt_positions):
    model = _make(qtbot, runner, opened.store)
    row = next(r for r in range(model.rowCount()) if model.event_at(r).position == corrupt_positions[0])
    idx = model.index(row, COLUMN_INDEX["payload"])
    assert idx.data().startswith("⚠")
    assert idx.data(Qt.ForegroundRole).name() == "#c62828"


def test_unsupported_filter_reports_an_error_not_a_crash(qtbot, runner, opened, monkeypatch):
    from inspector.core.errors import UnsupportedFilter

    store = opened.store
    model = _make(qtbot, runner, store)

    def refuse(*a, **k):
        raise UnsupportedFilter("cannot filter by time on layout x")

    monkeypatch.setattr(store, "read_page", refuse)
    monkeypatch.setattr(store, "count", refuse)
    with qtbot.waitSignal(model.sig_error, timeout=WAIT_MS) as blocker:
        model.set_filter(EventFilter(actor="user:alice"))
    assert "cannot filter by time" in blocker.args[0]
    qtbot.waitUntil(lambda: _idle(model), timeout=WAIT_MS)
    assert model.rowCount() == 0
    assert not model.canFetchMore(QModelIndex())
