"""Checkpoints and rollback previews in the desktop app, on the demo shop (a real SQLite store):
a checkpoint set from the event table's context menu (and from the slider) shows in the
Checkpoints list and as a flag on the timeline; a truncate preview opened from the list shows the
plan's numbers in its tabs, checked against the store itself and against a History built here;
export writes a plan ``load_plan`` reads back; a fork writes exactly the events up to the
checkpoint and leaves the source byte-identical; refusals show as text in the dialog.

Checkpoints are kept under ``INSPECTOR_DATA_DIR``, pointed at the test's tmp_path."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from inspector.core.checkpoints import CheckpointBook, make_checkpoint, parse_iso
from inspector.core.history import build_history
from inspector.core.replay_values import Selection, load_plan
from inspector.gui.frame_model import display
from inspector.gui.preview_dialog import COMPENSATE_TIP, PreviewRequest
from inspector.gui.preview_views import DiffModel, RowsModel

from tests.gui.conftest import WAIT_MS
from tests.gui.test_slider_state import _changed_cells


@pytest.fixture
def win(data_dir, window):
    """The main window, created after INSPECTOR_DATA_DIR points at tmp_path."""
    window.checkpoints_panel.set_store(window.opened.store)
    return window


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(path, sql: str, *args) -> int:
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return c.execute(sql, args).fetchone()[0]
    finally:
        c.close()


def _loaded_events(w):
    m = w.model
    return [e for e in (m.event_at(r) for r in range(m.rowCount())) if e is not None]


def _action(menu, prefix: str):
    return next(a for a in menu.actions() if a.text().startswith(prefix))


def _name_checkpoint(qtbot, w, name: str, note: str = ""):
    dialog = w.rollback.checkpoint_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText(name)
    dialog.note_edit.setText(note)
    dialog.buttons.button(QDialogButtonBox.Ok).click()
    qtbot.waitUntil(lambda: any(c.name == name for c in w.checkpoints_panel.checkpoints()), timeout=WAIT_MS)
    return next(c for c in w.checkpoints_panel.checkpoints() if c.name == name)


def _wait_flags(qtbot, w, n: int) -> None:
    qtbot.waitUntil(lambda: len(w.timeline.flags()) == n, timeout=WAIT_MS)


def _add(w, name: str, position: int):
    cp = CheckpointBook.for_store(w.opened.store).add(make_checkpoint(w.opened.store, name, {"at": position}))
    w.checkpoints_panel.reload()
    return cp


def _wait_plan(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.is_busy() and (dialog.plan is not None or dialog.error_text is not None),
                    timeout=WAIT_MS)


def test_a_checkpoint_from_the_event_menu_is_listed_and_flagged(qtbot, win, data_dir, shop_path):
    ev = _loaded_events(win)[40]
    menu = win.rollback.event_menu(ev)
    assert [a.text() for a in menu.actions() if a.text()][:2] == ["Checkpoint just before this event…",
                                                                  "Checkpoint just before this correlation…"]
    _action(menu, "Checkpoint just before this event").trigger()
    cp = _name_checkpoint(qtbot, win, "before-forty", "the 41st event")
    assert cp.position == ev.position - 1 and cp.spec == {"before_event": ev.event_id}
    # kept in the inspector's data dir, not the store
    assert any(data_dir.rglob("*.json"))

    panel = win.checkpoints_panel
    item = panel.tree.topLevelItem(0)
    assert [item.text(c) for c in (0, 1, 4)] == ["before-forty", f"#{ev.position - 1}", "the 41st event"]
    assert item.text(3).startswith("before event ")
    assert panel.selected().name == "before-forty"

    # the flag stands at the time of the last kept event (the timeline draws time here)
    _wait_flags(qtbot, win, 1)
    kept = win.opened.store.get(ev.position - 1)
    assert win.timeline.axis == "time"
    (name, x), = win.timeline.flags()
    assert name == "before-forty" and x == pytest.approx(kept.recorded_at.timestamp())

    # before a correlation: its first event - 1
    corr_ev = next(e for e in _loaded_events(win)[60:] if e.correlation_id)
    _action(win.rollback.event_menu(corr_ev), "Checkpoint just before this correlation").trigger()
    first = _count(shop_path,
                   "select min(position) from inspector_events where correlation_id = ?", corr_ev.correlation_id)
    cp2 = _name_checkpoint(qtbot, win, "before-run")
    assert cp2.position == first - 1
    _wait_flags(qtbot, win, 2)
    assert {n for n, _ in win.timeline.flags()} == {"before-forty", "before-run"}

    # a taken name is refused in the dialog, which stays open
    _action(win.rollback.event_menu(ev), "Checkpoint just before this event").trigger()
    dialog = win.rollback.checkpoint_dialog
    dialog.name_edit.setText("before-forty")
    dialog.buttons.button(QDialogButtonBox.Ok).click()
    assert dialog.isVisible() and "exists already" in dialog.error.text() and not dialog.replace_box.isHidden()
    dialog.reject()

    # remove: gone from the list, the book and the timeline
    panel.remove("before-forty")
    assert [c.name for c in panel.checkpoints()] == ["before-run"]
    assert [c.name for c in CheckpointBook.for_store(win.opened.store).list()] == ["before-run"]
    _wait_flags(qtbot, win, 1)


def test_checkpoint_here_from_the_slider_and_go_to(qtbot, win, plugin_manager):
    win.state_panel.choose("products")
    qtbot.waitUntil(lambda: win.state_panel.history is not None and win.state_panel.is_idle(), timeout=WAIT_MS)
    slider = win.slider
    slider.set_index(len(slider.positions) // 2)
    p = slider.position()
    assert slider.checkpoint_action.isEnabled()
    assert "Checkpoint here…" in [a.text() for a in slider.context_menu().actions()]
    slider.checkpoint_button.click()
    cp = _name_checkpoint(qtbot, win, "mid")
    assert cp.position == p and cp.spec == {"at": p}

    slider.set_index(0)
    win.checkpoints_panel.select("mid")
    qtbot.waitUntil(lambda: cp.position in win.checkpoints_panel.anchors, timeout=WAIT_MS)
    win.checkpoints_panel.goto_button.click()
    assert slider.position() == p
    qtbot.waitUntil(lambda: win.selected_event() is not None and win.selected_event().position == p, timeout=WAIT_MS)

    # a preview reuses the history the state panel built: only the other projections are built for it
    built = []
    dialog = win.rollback.preview_truncate(cp)
    dialog.sig_histories_built.connect(built.append)
    _wait_plan(qtbot, dialog)
    assert dialog.plan is not None and dialog.plan.projection("products").method == "history"
    assert built and "products" not in built[0]
    assert set(built[0]) == {pr.name for pr in plugin_manager.projections()} - {"products"}
    # ... and the next preview reuses those too
    again = win.rollback.preview_truncate(cp)
    again.sig_histories_built.connect(built.append)
    _wait_plan(qtbot, again)
    assert again.plan is not None and len(built) == 1
    again.close()
    dialog.close()


def test_checkpoint_here_from_the_timeline_and_the_rollback_menu(qtbot, win):
    events = _loaded_events(win)
    ev = events[150]
    assert win.timeline.axis == "time"
    menu = win.rollback.timeline_menu(ev.recorded_at.timestamp() + 0.5, "time")
    _action(menu, "Checkpoint here (").trigger()
    cp = _name_checkpoint(qtbot, win, "from-timeline")
    t = parse_iso(cp.spec["at_time"])
    assert abs(t.timestamp() - ev.recorded_at.timestamp()) < 1.5
    assert cp.position == max(e.position for e in events if e.recorded_at <= t)
    texts = [a.text() for a in win.rollback.menu.actions() if a.text()]
    assert texts == ["&Checkpoints", "Checkpoint at the slider's position…", "Checkpoint just before the selected event…",
                     "Preview &truncate to checkpoint…", "Preview &skip…"]
    assert "&Rollback" in [a.text() for a in win.menuBar().actions()]
    # Preview skip… asks which events, then previews them
    dialog = win.rollback.ask_skip()
    dialog.correlations_edit.setText("")
    dialog.actor_edit.setText("")
    dialog.since_edit.setText("2026-10-20")
    dialog.submit()
    assert dialog.isVisible() and "actor" in dialog.error.text()
    dialog.actor_edit.setText(ev.actor)
    dialog.submit()
    preview = win.rollback.previews[-1]
    _wait_plan(qtbot, preview)
    assert preview.plan is not None and preview.plan.selection.actor == ev.actor
    preview.close()


def test_truncate_preview_from_a_checkpoint_shows_the_plan(qtbot, win, plugin_manager, shop_path, tmp_path):
    store = win.opened.store
    head = store.head()
    cp = _add(win, "half", head // 2)
    win.checkpoints_panel.select("half")
    before = _digest(shop_path)
    win.checkpoints_panel.preview_button.click()
    dialog = win.rollback.previews[-1]
    assert dialog.isVisible() and dialog.is_busy()
    _wait_plan(qtbot, dialog)
    assert dialog.error_text is None
    plan = dialog.plan
    assert plan.kind == "truncate" and plan.position == cp.position and plan.checkpoint == cp

    # Dropped: exactly the store's events after the checkpoint, counted by the database here
    after = _count(shop_path, "select count(*) from inspector_events where position > ?", cp.position)
    assert plan.dropped.count == after
    tabs = dialog.tabs
    assert tabs.tabText(0) == f"Dropped ({after:,})"
    view = dialog.dropped_view
    assert view.events_model.rowCount() == min(after, len(plan.dropped.events))
    assert view.events_model.rows[0][0] == cp.position + 1
    by_type = dict(view.count_models["type"].rows)
    c = sqlite3.connect(f"file:{shop_path}?mode=ro", uri=True)
    want = dict(c.execute("select type, count(*) from inspector_events where position > ? group by type",
                          (cp.position,)).fetchall())
    c.close()
    assert by_type == want
    # Collateral: no run named, so all of it; Orphans: a tab with its explanation
    assert tabs.isTabEnabled(1) and tabs.tabText(1) == f"Collateral ({after:,})"
    assert dialog.orphans_view.explanation.text()
    assert dialog.tabs.tabText(2).startswith("Orphans (")

    # State diff: the products table holds exactly the plan's changed cells, which are the cells
    # that differ between the state at head and the state at the checkpoint
    products = plan.projection("products")
    assert products.method == "history" and not products.capped and products.cells_changed
    assert dialog.diff_view.select("products")
    model: DiffModel = dialog.diff_view.model
    coloured = {(model.rows[r][1], model.columns[c]) for r in range(model.rowCount())
                for c in range(2, model.columnCount()) if model.mark(r, c) == "changed"}
    assert coloured == {(ch["key"], ch["field"]) for ch in products.changed}
    assert len(coloured) == products.cells_changed
    h = build_history(store, next(p for p in plugin_manager.projections() if p.name == "products"))
    assert coloured == _changed_cells(h.as_of(head), h.as_of(cp.position))
    kinds = [model.kind_at(r) for r in range(model.rowCount())]
    assert kinds.count("added") == products.rows_added and kinds.count("removed") == products.rows_removed
    r = kinds.index("changed")
    key = model.rows[r][1]
    field = next(f for f in model.rows[r][2])
    cell = model.index(r, model.columns.index(field))
    ch = next(x for x in products.changed if x["key"] == key and x["field"] == field)
    assert cell.data() == f"{display(ch['old']) or '∅'} → {display(ch['new']) or '∅'}"
    colours = {model.mark(r, 0) and model.index(r, 0).data(Qt.BackgroundRole).name() for r in range(model.rowCount())}
    assert len(colours) == len(set(kinds))  # one colour per kind of change

    # Export: a file load_plan reads back as the same plan
    out = dialog.export_plan(tmp_path / "half-plan.json")
    assert load_plan(out).to_json() == plan.to_json()
    assert "exported" in dialog.result.text()

    # Fork: a new SQLite store with exactly the events up to the checkpoint; the source untouched
    fork = tmp_path / "half-fork.sqlite"
    dialog.fork(fork)
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=WAIT_MS)
    s = dialog.fork_summary
    assert s is not None and s.path == fork and s.events == cp.position and s.left_out == after
    src = sqlite3.connect(f"file:{shop_path}?mode=ro", uri=True)
    dst = sqlite3.connect(f"file:{fork}?mode=ro", uri=True)
    q = "select position, event_id, stream, type from inspector_events {} order by position"
    kept = src.execute(q.format("where position <= ?"), (cp.position,)).fetchall()
    assert dst.execute(q.format("")).fetchall() == kept
    src.close()
    dst.close()
    assert "not modified" in dialog.result.text()
    assert _digest(shop_path) == before

    assert dialog.compensate_button.isEnabled() and dialog.compensate_button.toolTip() == COMPENSATE_TIP
    dialog.close_button.click()
    assert win.rollback.previews == []


def test_skip_previews_and_their_refusals(qtbot, win, shop_path):
    events = _loaded_events(win)
    ev = next(e for e in events[100:] if e.correlation_id and e.event_id)
    menu = win.rollback.event_menu(ev)
    _action(menu, "Preview skipping this correlation").trigger()
    dialog = win.rollback.previews[-1]
    _wait_plan(qtbot, dialog)
    plan = dialog.plan
    assert plan.kind == "skip" and plan.selection.correlation_ids == (ev.correlation_id,)
    n = _count(shop_path,
               "select count(*) from inspector_events where correlation_id = ?", ev.correlation_id)
    assert plan.dropped.count == n and dialog.tabs.tabText(0) == f"Dropped ({n:,})"
    assert not dialog.tabs.isTabEnabled(1) and "n/a" in dialog.tabs.tabText(1)
    dialog.close()

    # an unknown correlation: the error is shown in the dialog, nothing else
    bad = win.rollback.open_preview(PreviewRequest.skip(Selection(correlation_ids=("no-such-correlation",))))
    _wait_plan(qtbot, bad)
    assert bad.plan is None
    assert "no events carry correlation id 'no-such-correlation'" in bad.error.text()
    assert bad.error.isVisible() and not bad.tabs.isVisible()
    assert not bad.export_button.isEnabled() and not bad.fork_button.isEnabled()
    assert bad.close_button.text() == "Close"
    bad.close()

    # nothing to drop: a truncate to the head
    cp = _add(win, "head", win.opened.store.head())
    head = win.rollback.preview_truncate(cp)
    _wait_plan(qtbot, head)
    assert "nothing to drop" in head.error.text()
    head.close()


def test_preview_models_pass_the_model_tester(qtmodeltester, qtbot, win):
    cp = _add(win, "late", win.opened.store.head() - 200)
    dialog = win.rollback.preview_truncate(cp)
    _wait_plan(qtbot, dialog)
    for name in ("products", "orders"):
        dialog.diff_view.select(name)
        qtmodeltester.check(dialog.diff_view.model)
    qtmodeltester.check(dialog.dropped_view.events_model)
    qtmodeltester.check(dialog.dropped_view.count_models["stream"])
    qtmodeltester.check(RowsModel(("a", "b"), [("x", 1), ("y", 2)]))
    dialog.close()
