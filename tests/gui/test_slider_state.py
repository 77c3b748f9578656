"""The temporal slider and the state panel over the demo shop: slider -> state with the changed
cells highlighted, event selection -> slider, keys, diff against head, the change log, the history
build's progress and cancel, coalesced requests, and qtmodeltester on the frame model.

Oracles come from ``core.history`` frames compared cell by cell here, not from ``History.diff``
(which the panel itself uses)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from inspector.core.history import build_history
from inspector.gui.event_model import EventRole
from inspector.gui.frame_model import KeyRole, MarkRole, MAX_RUNS, FrameModel, Marks, display, plan_rows, prepare_frame
from inspector.gui.main_window import MainWindow
from inspector.gui.slider import PAGE_STEP

from tests.gui.conftest import WAIT_MS
from tests.gui.conftest import settled as _settled

PROJECTION = "products"


@pytest.fixture
def products(plugin_manager):
    return next(p for p in plugin_manager.projections() if p.name == PROJECTION)


@pytest.fixture
def history(opened, products):
    """The same history the panel builds, built here for the oracles."""
    return build_history(opened.store, products)


def _ready(qtbot, w: MainWindow) -> None:
    """Choose the products projection and wait until its state is shown."""
    panel = w.state_panel
    panel.choose(PROJECTION)
    qtbot.waitUntil(lambda: panel.history is not None and panel.is_idle(), timeout=WAIT_MS)
    assert w.slider.has_stops()


def _show(qtbot, w: MainWindow, index: int) -> None:
    w.slider.set_index(index)
    _wait_shown(qtbot, w)


def _wait_shown(qtbot, w: MainWindow) -> None:
    panel = w.state_panel
    qtbot.waitUntil(lambda: panel.is_idle() and panel.shown_position == w.slider.position(), timeout=WAIT_MS)


def _changed_cells(before: pd.DataFrame, after: pd.DataFrame) -> set[tuple[str, str]]:
    """(key, column) of the cells that differ in rows present in both frames, as displayed."""
    a = before.set_index("key")
    b = after.set_index("key")
    out = set()
    for key in a.index.intersection(b.index):
        for col in sorted(set(a.columns) | set(b.columns)):
            old = a.at[key, col] if col in a.columns else None
            new = b.at[key, col] if col in b.columns else None
            if display(old) != display(new):
                out.add((str(key), col))
    return out


def _coloured(model: FrameModel) -> set[tuple[str, str]]:
    """(key, column) of every cell the view would paint with a background."""
    out = set()
    for r in range(model.rowCount()):
        for c in range(model.columnCount()):
            if model.index(r, c).data(Qt.BackgroundRole) is not None:
                out.add((model.index(r, 0).data(KeyRole), model.headerData(c, Qt.Horizontal)))
    return out


def test_moving_one_event_highlights_exactly_the_cells_it_changed(qtbot, window, history):
    _ready(qtbot, window)
    stops = window.slider.positions
    # a step onto an event that changes a row that already exists (no row appears or goes)
    for i in range(len(stops) // 2, len(stops) - 1):
        before, after = history.as_of(int(stops[i])), history.as_of(int(stops[i + 1]))
        if len(before) == len(after) and _changed_cells(before, after):
            break
    else:
        pytest.fail("no step that changes an existing row")
    _show(qtbot, window, i)
    qtbot.keyClick(window.slider.bar, Qt.Key_Right)
    assert window.slider.index() == i + 1
    _wait_shown(qtbot, window)

    panel = window.state_panel
    want = _changed_cells(before, after)
    assert len({key for key, _ in want}) == 1  # one event changes one row
    assert panel.model.marked_cells() == want
    assert _coloured(panel.model) == want
    (key, column), *_ = sorted(want)
    cell = panel.model.index(panel.model.row_of(key), panel.model.column_of(column))
    assert cell.data(MarkRole) == "changed"
    assert cell.data() == display(after.set_index("key").at[key, column])
    assert f"was: {display(before.set_index('key').at[key, column]) or '(empty)'}" in cell.data(Qt.ToolTipRole)
    assert f"since #{int(stops[i])}" in panel.summary.text()
    # the table shows the state as of the new position, row for row
    assert [panel.model.key_at(r) for r in range(panel.model.rowCount())] == after["key"].astype(str).tolist()


def test_a_step_that_adds_a_row_marks_that_row_new(qtbot, window, history):
    _ready(qtbot, window)
    stops = window.slider.positions
    i = next(i for i in range(len(stops) - 1)
             if len(history.as_of(int(stops[i + 1]))) == len(history.as_of(int(stops[i]))) + 1 and i > 0)
    _show(qtbot, window, i)
    resets = window.state_panel.model.resets
    qtbot.keyClick(window.slider.bar, Qt.Key_Right)
    _wait_shown(qtbot, window)
    model = window.state_panel.model
    new = set(history.as_of(int(stops[i + 1]))["key"].astype(str)) - set(history.as_of(int(stops[i]))["key"].astype(str))
    assert {model.index(model.row_of(k), 0).data(MarkRole) for k in new} == {"added"}
    assert model.resets == resets  # the row was inserted, not the whole table reset


def test_selecting_an_event_moves_the_slider_and_the_timeline_cursor(qtbot, window, history):
    _ready(qtbot, window)
    slider, stops = window.slider, window.slider.positions
    model = window.model
    events = [model.event_at(r) for r in range(model.rowCount())]
    # an event of the projection (a stop) ...
    r, ev = next((r, e) for r, e in enumerate(events) if e.position in set(stops.tolist()) and e.position > stops[0])
    window.table.selectRow(r)
    assert slider.position() == ev.position
    assert int(stops[slider.index()]) == ev.position
    assert window.timeline.cursor_position() == pytest.approx(ev.recorded_at.timestamp())
    _wait_shown(qtbot, window)
    assert window.state_panel.model.rowCount() == len(history.as_of(ev.position))
    # ... and one the projection ignores: the handle stands at the stop before, the state is its own
    r, ev = next((r, e) for r, e in enumerate(events) if e.position not in set(stops.tolist()) and e.position > stops[0])
    window.table.selectRow(r)
    assert slider.position() == ev.position
    assert int(stops[slider.index()]) == int(stops[stops <= ev.position][-1])
    assert f"#{ev.position}" in slider.label.text()
    assert window.timeline.cursor_position() == pytest.approx(ev.recorded_at.timestamp())
    _wait_shown(qtbot, window)
    assert window.state_panel.shown_position == ev.position
    shown = [window.state_panel.model.key_at(r) for r in range(window.state_panel.model.rowCount())]
    assert shown == history.as_of(ev.position)["key"].astype(str).tolist()


def test_keys_step_one_event_a_hundred_and_to_the_ends(qtbot, window):
    _ready(qtbot, window)
    slider, bar = window.slider, window.slider.bar
    n = len(slider.positions)
    assert n > 2 * PAGE_STEP + 10
    bar.setFocus()
    _show(qtbot, window, 120)
    presses = [(Qt.Key_Right, 121), (Qt.Key_Left, 120), (Qt.Key_Left, 119), (Qt.Key_PageUp, 219),
               (Qt.Key_PageDown, 119), (Qt.Key_Home, 0), (Qt.Key_Left, 0), (Qt.Key_End, n - 1), (Qt.Key_Right, n - 1)]
    for key, want in presses:
        qtbot.keyClick(bar, key)
        assert slider.index() == want, key
        assert slider.position() == int(slider.positions[want])
    _wait_shown(qtbot, window)
    assert window.state_panel.shown_position == int(slider.positions[-1])
    # the step buttons do the same as the arrow keys
    qtbot.mouseClick(slider.prev_button, Qt.LeftButton)
    assert slider.index() == n - 2
    qtbot.mouseClick(slider.head_button, Qt.LeftButton)
    assert slider.index() == n - 1


def test_diff_against_head_colours_what_differs_at_head(qtbot, window, history):
    _ready(qtbot, window)
    panel = window.state_panel
    stops = window.slider.positions
    i = len(stops) // 3
    _show(qtbot, window, i)
    p = int(stops[i])
    qtbot.mouseClick(panel.head_toggle, Qt.LeftButton)
    assert panel.head_toggle.isChecked()
    qtbot.waitUntil(lambda: panel.is_idle() and panel.model.marks.mode == "head", timeout=WAIT_MS)
    here, head = history.as_of(p), history.as_of()
    want = _changed_cells(here, head)
    assert want
    assert panel.model.marked_cells() == want
    row, col = panel.model.row_of(sorted(want)[0][0]), panel.model.column_of(sorted(want)[0][1])
    tip = panel.model.index(row, col).data(Qt.ToolTipRole)
    assert "at head:" in tip
    assert "differ at head" in panel.summary.text()
    # moving while the toggle is on keeps comparing with head
    qtbot.keyClick(window.slider.bar, Qt.Key_Right)
    _wait_shown(qtbot, window)
    assert panel.model.marked_cells() == _changed_cells(history.as_of(int(stops[i + 1])), head)
    qtbot.mouseClick(panel.head_toggle, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.model.marks.mode == "previous", timeout=WAIT_MS)
    assert panel.model.marked_cells() == set()  # nothing changed since the position shown


def test_selecting_a_row_shows_its_change_log(qtbot, window, history):
    _ready(qtbot, window)
    panel = window.state_panel
    stops = window.slider.positions
    _show(qtbot, window, len(stops) // 2)
    p = window.slider.position()
    key = panel.model.key_at(0)
    with qtbot.waitSignal(panel.sig_changes_shown, timeout=WAIT_MS):
        panel.table.selectRow(0)
    log = history.changes(key)
    cm = panel.changes_model
    assert cm.rowCount() == len(log)
    pos_col = cm.column_of("position")
    assert [int(cm.index(r, pos_col).data()) for r in range(cm.rowCount())] == log["position"].tolist()
    marks = [cm.index(r, 0).data(MarkRole) for r in range(cm.rowCount())]
    assert marks == [None if x < p else "here" if x == p else "future" for x in log["position"].tolist()]
    assert f"up to #{p}" in panel.changes_title.text()
    # moving the slider keeps the row selected and moves the marks
    qtbot.keyClick(window.slider.bar, Qt.Key_End)
    _wait_shown(qtbot, window)
    assert panel.model.key_at(panel.table.currentIndex().row()) == key
    assert all(cm.index(r, 0).data(MarkRole) != "future" for r in range(cm.rowCount()))
    # double-clicking a change moves the slider to it
    first = int(log["position"].iloc[0])
    panel._change_activated(cm.index(0, 0))
    assert window.slider.position() == first


def test_history_build_reports_progress_and_can_be_cancelled(qtbot, window):
    panel = window.state_panel
    seen = []
    window.runner.sig_progress.connect(lambda label, value: seen.append((label, value)))
    panel.choose("streams")
    assert panel.is_building() and panel.progress.isVisible() and panel.build_button.text() == "Cancel"
    assert any(lbl.startswith("building history") for lbl in window.runner.labels())
    qtbot.mouseClick(panel.build_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_building() and window.runner.is_idle(), timeout=WAIT_MS)
    assert panel.history is None
    assert "cancelled" in panel.summary.text()
    assert panel.build_button.text() == "Build"
    with qtbot.waitSignal(panel.sig_history_ready, timeout=WAIT_MS):
        qtbot.mouseClick(panel.build_button, Qt.LeftButton)
    assert panel.history is not None and not panel.progress.isVisible()
    assert any(lbl == "building history: streams" and isinstance(v, tuple) for lbl, v in seen)


def test_drags_are_coalesced_latest_position_wins(qtbot, window):
    _ready(qtbot, window)
    panel, slider = window.state_panel, window.slider
    sent = panel.requests
    for i in range(0, len(slider.positions), 7):  # a fast drag: no event loop in between
        slider.set_index(i)
    assert panel.requests - sent == 1  # one request in flight, the rest wait as "latest wanted"
    _wait_shown(qtbot, window)
    assert panel.shown_position == slider.position()
    assert panel.requests - sent == 2  # the first, then the latest


def test_sweep_reports_the_worst_gui_block(qtbot, window):
    _ready(qtbot, window)
    report = window.state_panel.sweep(moves=40, interval_ms=2)
    assert report.moves == 40 and 1 <= report.frames_shown <= 40
    assert report.worst_block_ms >= 0  # a benchmark figure; never asserted against a budget here
    assert window.state_panel.shown_position == int(window.slider.positions[-1])
    assert set(report.to_json()) == {"moves", "frames_shown", "requests", "worst_block_ms", "seconds"}


def test_frame_model_passes_qtmodeltester(qtbot, qtmodeltester, history):
    model = FrameModel()
    stops = np.unique(history.versions()["valid_from"].to_numpy())
    frames = [prepare_frame(history.as_of(int(p))) for p in (stops[5], stops[6], stops[40], stops[-1])]
    model.set_frame(frames[0])
    qtmodeltester.check(model)
    for f in frames[1:]:  # moves watched by the tester: rows inserted as runs, or a reset
        model.set_frame(f, Marks("previous", {f.keys[0]: {f.columns[1]: "x"}}, {f.keys[-1]: "added"}))
        qtmodeltester.check(model)
    assert model.rowCount() == len(history.as_of())


def test_frame_model_moves_rows_in_runs_and_resets_when_simpler(qtbot, qtmodeltester):
    def frame(keys):
        return prepare_frame(pd.DataFrame({"key": keys, "n": range(len(keys)), "s": [f"v{k}" for k in keys]}))

    model = FrameModel()
    a = frame([f"k{i:03d}" for i in range(0, 100)])
    model.set_frame(a)
    qtmodeltester.check(model)
    b = frame([f"k{i:03d}" for i in range(0, 100) if i % 10 != 3] + ["k100", "k101"])  # 10 runs out, one in
    plan = plan_rows(a, b)
    assert plan is not None and len(plan.removed) == 10 and plan.added == ((90, 91),)
    model.set_frame(b, plan=plan)
    assert model.resets == 1
    assert [model.key_at(r) for r in range(model.rowCount())] == list(b.keys)
    assert model.index(5, 2).data() == b.cell(5, 2)
    big = frame([f"k{i:03d}" for i in range(0, 4 * MAX_RUNS)])
    model.set_frame(big)
    resets = model.resets
    every_other = frame([f"k{i:03d}" for i in range(0, 4 * MAX_RUNS, 2)])  # more runs than MAX_RUNS
    assert plan_rows(big, every_other) is None
    model.set_frame(every_other)
    assert model.resets == resets + 1
    assert [model.key_at(r) for r in range(model.rowCount())] == list(every_other.keys)
    qtmodeltester.check(model)


def test_the_main_window_names_its_new_parts(window):
    for name in ("temporalSlider", "temporalSliderBar", "sliderDock", "statePanel", "stateDock", "projectionCombo",
                 "diffHeadToggle", "stateTable", "changeLogTable", "historyProgress", "lineagePanel", "lineageDock",
                 "lineageTree", "showCorrelationButton"):
        assert window.findChild(object, name) is not None, name
    assert window.slider_dock.isVisible() and not window.slider.has_stops()
    names = [window.state_panel.combo.itemData(i) for i in range(window.state_panel.combo.count())]
    assert {"products", "streams", "types"} <= set(names)


def test_event_role_is_untouched_by_the_slider(qtbot, window):
    """Moving the slider never changes the table's selection (only the reverse)."""
    _ready(qtbot, window)
    window.table.selectRow(3)
    ev = window.table.currentIndex().data(EventRole)
    _show(qtbot, window, 10)
    assert window.table.currentIndex().data(EventRole) == ev


def test_reload_folds_new_events_into_the_history(qtbot, tmp_path, plugin_manager):
    """File → Reload extends the history (``History.extend``): a price changed after the build
    shows at head, and the slider gains the new event."""
    import json
    import sqlite3
    import uuid

    from inspector.core.demo import create_demo
    from inspector.core.session import open_store

    path = tmp_path / "d.sqlite"
    create_demo(path, events=600)
    opened = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs())
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and _settled(w), timeout=WAIT_MS)
    _ready(qtbot, w)
    panel, slider = w.state_panel, w.slider
    stops = len(slider.positions)
    assert slider.index() == stops - 1  # at head
    sku = panel.model.key_at(0)
    c = sqlite3.connect(path)
    stream = f"product-{sku}"
    version, last_time = c.execute("select max(version), (select max(recorded_at) from inspector_events) "
                                   "from inspector_events where stream = ?", (stream,)).fetchone()
    c.execute("insert into inspector_events(event_id, stream, version, type, recorded_at, data, metadata, actor)"
              " values (?, ?, ?, 'PriceChanged', ?, ?, '{}', 'user:test')",
              (str(uuid.uuid4()), stream, version + 1, last_time.replace("Z", "1Z"),
               json.dumps({"sku": sku, "old_price": 1.0, "new_price": 1234.5, "currency": "EUR", "reason": "test"})))
    c.commit()
    new_position = c.execute("select max(position) from inspector_events").fetchone()[0]
    c.close()

    w.reload()
    qtbot.waitUntil(lambda: panel.is_idle() and len(slider.positions) == stops + 1, timeout=WAIT_MS)
    assert slider.position() == new_position  # it was at head, so it follows head
    _wait_shown(qtbot, w)
    row, col = panel.model.row_of(sku), panel.model.column_of("price")
    assert panel.model.index(row, col).data() == "1234.5"
    assert panel.model.index(row, col).data(MarkRole) == "changed"
    w.close()


def test_moving_rows_match_a_plain_list_whenever_a_row_is_asked_for():
    """The lazily built row list while runs move gives the rows a plain list would, whether a row
    is asked for before, between or after the moves."""
    import random

    from inspector.gui.frame_model import _MovingRows

    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 40)
        plain, lazy = list(range(n)), _MovingRows(n)
        ask_at = rng.randint(0, 6)
        for step in range(6):
            if step == ask_at and plain:
                assert lazy[rng.randrange(len(plain))] is not None
            if plain and rng.random() < 0.5:
                first = rng.randrange(len(plain))
                last = rng.randint(first, min(len(plain) - 1, first + 3))
                del plain[first:last + 1]
                lazy.remove(first, last)
            else:
                first = rng.randint(0, len(plain))
                last = first + rng.randint(0, 3)
                plain[first:first] = [~j for j in range(first, last + 1)]
                lazy.insert(first, last)
            assert len(lazy) == len(plain)
        assert [lazy[i] for i in range(len(plain))] == plain
