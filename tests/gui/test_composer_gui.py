"""The compensation composer in the desktop app, on a copy of the demo shop (a real SQLite store;
the session's shared store is never written): opened from a skip preview of the pricing-bot's
run, it shows the shop plugin's RestorePrice proposals and an empty residual on products; editing
a price shows that SKU's price cell in the residual, and restoring it empties the residual again;
bad input shows per field; steps can be removed, added back by hand and moved; the exported plan is
what ``load_plan`` reads. Submitting needs the operator role and a submitter for the layout; after
the store's name is typed, every step is applied (checked in the database), and submitting again
skips every step."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace

import pytest

from inspector.core.compensate import load_plan
from inspector.core.replay_values import Selection
from inspector.core.roles import Role
from inspector.gui.composer_submit import store_name
from inspector.gui.preview_dialog import PreviewRequest

from tests.gui.conftest import DEMO_EVENTS, WAIT_MS, settled

STORE_FILE = "shop-ops.sqlite"


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    """The demo shop as generated (the session's shared store has payloads broken on purpose,
    which leave a product without a price when the pricing-bot's run is skipped)."""
    from inspector.core.demo import create_demo

    p = tmp_path_factory.mktemp("composer") / "demo.sqlite"
    create_demo(p, events=DEMO_EVENTS, seed=7, days=10)
    return p


@pytest.fixture
def ops_path(tmp_path, demo_path):
    """A copy of the demo store this test may write to."""
    p = tmp_path / STORE_FILE
    shutil.copyfile(demo_path, p)
    return p


def _window(qtbot, path, plugin_manager, role):
    from inspector.core.session import open_store
    from inspector.gui.main_window import MainWindow

    opened = open_store(str(path), plugin_manager.layout_definitions(), plugin_manager.codecs(), role=role,
                        masking_rules=plugin_manager.masking_rules())
    w = MainWindow(opened, plugin_manager)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and settled(w), timeout=WAIT_MS)
    return w, opened


@pytest.fixture
def operator_win(qtbot, ops_path, plugin_manager):
    w, opened = _window(qtbot, ops_path, plugin_manager, Role.OPERATOR)
    yield w
    w.close()
    opened.store.close()


def _compose(qtbot, win, selection: Selection = Selection(actor="agent:pricing-bot")):
    """A skip preview of ``selection`` and the composer opened from its Compensate… button."""
    preview = win.rollback.open_preview(PreviewRequest.skip(selection))
    qtbot.waitUntil(lambda: not preview.is_busy() and preview.plan is not None, timeout=WAIT_MS)
    assert preview.compensate_button.isEnabled()
    preview.compensate_button.click()
    composer = preview.composers[-1]
    assert composer.isVisible() and not composer.isModal()
    _settle(qtbot, composer)
    assert composer.error_text is None
    return preview, composer


def _settle(qtbot, c) -> None:
    qtbot.waitUntil(lambda: not c.is_busy() and c.plan is not None and c.speculation is not None, timeout=WAIT_MS)


def _apply(qtbot, c) -> None:
    assert c.apply_button.isEnabled()
    c.apply_button.click()
    _settle(qtbot, c)


def _residual_cells(c, projection: str = "products") -> set[tuple]:
    c.residual_view.select(projection)
    m = c.residual_view.model
    return {m.rows[r][:3] for r in range(m.rowCount())}


def _db_count(path, sql: str, *args) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def test_compose_edit_remove_add_and_export(qtbot, operator_win, tmp_path):
    preview, c = _compose(qtbot, operator_win)
    plan = c.plan
    products = preview.plan.projection("products")
    repriced = {ch["key"] for ch in products.changed if ch["field"] == "price"}
    # the shop proposes one RestorePrice per repriced product, listed with their versions and counts
    assert plan.steps and {s.command for s in plan.steps} == {"RestorePrice"}
    assert {s.values["sku"] for s in plan.steps} == repriced
    m = c.steps_model
    assert m.rowCount() == len(plan.steps)
    s1 = plan.steps[0]
    assert m.rows[0] == (1, "RestorePrice", s1.stream, s1.expected_version, len(s1.compensates), "proposed", s1.reason)
    assert c.notes.isVisible() and "shop" in c.notes.text()
    # ... and they fully revert the skip's changes on products
    assert c.speculation.residual("products").empty
    c.residual_view.select("products")
    assert c.residual_view.headline.text() == \
        "Residual: empty — the compensation fully reverts the plan's changes on products"
    assert "residual empty on" in c.summary.text()
    rm = c.residual_view.result_model
    assert {rm.rows[r][0] for r in range(rm.rowCount())} >= repriced

    # the form of step 1 holds its values; a price edited shows that SKU's price in the residual
    c.select_step(1)
    form = c.form
    sku, target = s1.values["sku"], s1.values["price"]
    assert form.editors["sku"].raw() == sku and float(form.editors["price"].raw()) == target
    assert not c.apply_button.isEnabled()  # nothing changed yet
    form.editors["price"].set_raw(f"{target + 1:.2f}")
    _apply(qtbot, c)
    assert c.plan.steps[0].values["price"] == round(target + 1, 2) and c.plan.steps[0].origin == "edited"
    assert _residual_cells(c) == {("cell", sku, "price")}
    r = c.speculation.residual("products").cells[0]
    assert (r["result"], r["target"]) == (round(target + 1, 2), target)
    assert "does not fully revert" in c.residual_view.headline.text()
    # restored: empty again
    c.select_step(1)
    form.editors["price"].set_raw(f"{target:.2f}")
    _apply(qtbot, c)
    assert c.speculation.residual("products").empty and _residual_cells(c) == set()

    # bad input is shown per field, with the command's own rules, and cannot be applied
    c.select_step(1)
    form.editors["price"].set_raw("abc")
    assert not form.editors["price"].error.isHidden() and "not a number" in form.editors["price"].error.text()
    assert form.editors["sku"].error.isHidden() and not c.apply_button.isEnabled()
    form.editors["price"].set_raw("1.234")
    assert "at most 2 decimals" in form.editors["price"].error.text()
    form.editors["price"].set_raw(f"{target:.2f}")
    form.editors["sku"].set_raw("two words")
    assert "no spaces" in form.editors["sku"].error.text() and form.editors["price"].error.isHidden()
    form.editors["sku"].set_raw("")
    assert "required" in form.editors["sku"].error.text()
    c.revert_button.click()
    assert form.editors["sku"].raw() == sku and form.editors["sku"].error.isHidden()

    # remove step 2: its product stays repriced, so the residual shows it
    n = len(c.plan.steps)
    gone = c.plan.steps[1]
    c.select_step(2)
    c.remove_button.click()
    _settle(qtbot, c)
    assert len(c.plan.steps) == n - 1 and gone.stream not in {s.stream for s in c.plan.steps}
    assert ("cell", gone.values["sku"], "price") in _residual_cells(c)

    # add it back by hand: empty form, errors for what is missing, then the values
    i = c.command_combo.findData("RestorePrice")
    c.command_combo.setCurrentIndex(i)
    c.add_button.click()
    assert c.apply_button.text() == "Add to plan" and form.editors["sku"].raw() == ""
    c.apply_button.click()
    assert "required" in form.editors["price"].error.text() and len(c.plan.steps) == n - 1
    for name, value in gone.values.items():
        if value is not None:
            form.editors[name].set_raw(value)
    form.reason_edit.setText("put back by hand")
    _apply(qtbot, c)
    added = c.plan.steps[-1]
    assert len(c.plan.steps) == n and added.origin == "added" and added.stream == gone.stream
    assert added.compensates == () and added.reason == "put back by hand"
    assert c.speculation.residual("products").empty
    assert c.steps_model.rows[-1][5] == "added"

    # move the added step up: indexes follow, the selection too
    c.select_step(n)
    c.up_button.click()
    _settle(qtbot, c)
    assert c.plan.steps[n - 2].stream == gone.stream and c.selected_index() == n - 1

    # export: the file inspector submit --plan reads
    out = c.export_plan(tmp_path / "compensation.json")
    assert load_plan(out).to_json() == c.plan.to_json()
    assert "exported" in c.result.text()
    c.close()
    preview.close()


def test_submit_after_typing_the_store_name_then_again_all_skipped(qtbot, operator_win, ops_path):
    preview, c = _compose(qtbot, operator_win)
    plan = c.plan
    panel = c.submit_panel
    c.tabs.setCurrentWidget(panel)
    assert panel.can_submit_here() is None and "Inspector" in panel.availability.text()
    assert panel.url_edit.text() == ""  # never prefilled with the browsing session
    assert not panel.submit_button.isEnabled() and "give a write URL" in panel.problem.text()
    panel.url_edit.setText(str(ops_path))
    panel.actor_edit.setText("user:test-operator")
    panel.reason_edit.setText("TICKET-42 revert the pricing-bot run")
    assert panel.submit_button.isEnabled()
    assert [panel.model.rows[r][3] for r in range(panel.model.rowCount())] == ["pending"] * len(plan.steps)

    before = _db_count(ops_path, "select count(*) from inspector_events")
    progress = []
    panel.sig_step.connect(lambda o: progress.append((o.index, o.status, panel.model.rows[o.index - 1][3])))
    panel.submit_button.click()
    dialog = panel.confirm_dialog
    assert dialog is not None and dialog.isVisible() and dialog.name == STORE_FILE == store_name(plan.store.url)
    assert not dialog.ok.isEnabled()
    dialog.name_edit.setText("shop")
    assert not dialog.ok.isEnabled()
    assert _db_count(ops_path, "select count(*) from inspector_events") == before
    dialog.name_edit.setText(STORE_FILE)
    assert dialog.ok.isEnabled()
    dialog.ok.click()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.report is not None, timeout=WAIT_MS)
    report = panel.report
    assert report.executed and report.ok
    assert [o.status for o in report.outcomes] == ["applied"] * len(plan.steps)
    assert [panel.model.rows[r][3] for r in range(panel.model.rowCount())] == ["applied"] * len(plan.steps)
    # each step's row filled in as its transaction committed, in order
    assert progress == [(s.index, "applied", "applied") for s in plan.steps]
    assert "Submitted" in panel.status.text() and f"{len(plan.steps)} applied" in panel.status.text()
    # in the database: one event per step, at the expected versions, and one audit row per step
    assert _db_count(ops_path, "select count(*) from inspector_events") == before + len(plan.steps)
    assert _db_count(ops_path, "select count(*) from inspector_audit") == len(plan.steps)
    for s in plan.steps:
        assert _db_count(ops_path, "select max(version) from inspector_events where stream = ?", s.stream) == \
            s.expected_version + 1
        assert _db_count(ops_path, "select count(*) from inspector_events where event_id = ? and actor = ?",
                         s.event_ids()[0], "user:test-operator") == 1

    # the same plan again: every step skipped, nothing written
    panel.submit_button.click()
    panel.confirm_dialog.name_edit.setText(STORE_FILE)
    panel.confirm_dialog.ok.click()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.report is not None, timeout=WAIT_MS)
    assert [o.status for o in panel.report.outcomes] == ["skipped"] * len(plan.steps)
    assert all("already applied" in panel.model.rows[r][4] for r in range(panel.model.rowCount()))
    assert _db_count(ops_path, "select count(*) from inspector_events") == before + len(plan.steps)

    # a dry run reads, writes nothing
    panel.dry_button.click()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.report is not None, timeout=WAIT_MS)
    assert not panel.report.executed and {o.status for o in panel.report.outcomes} == {"would_skip"}

    # another database as the write URL: refused before anything is written
    other = ops_path.with_name("other.sqlite")
    shutil.copyfile(ops_path, other)
    panel.url_edit.setText(str(other))
    panel.submit_button.click()
    assert panel.confirm_dialog.name == "other.sqlite"
    assert "plan was made on" in panel.confirm_dialog.text.text()
    panel.confirm_dialog.name_edit.setText("other.sqlite")
    panel.confirm_dialog.ok.click()
    qtbot.waitUntil(lambda: not panel.is_busy() and panel.error_text is not None, timeout=WAIT_MS)
    assert "another database" in panel.status.text()
    assert _db_count(other, "select count(*) from inspector_events") == before + len(plan.steps)
    c.close()
    preview.close()


def test_submitting_needs_the_operator_role_and_a_submitter(qtbot, ops_path, plugin_manager):
    # an auditor's session: the composer composes, but cannot submit
    window, opened = _window(qtbot, ops_path, plugin_manager, Role.AUDITOR)
    preview, c = _compose(qtbot, window)
    panel = c.submit_panel
    assert "operator role" in panel.availability.text() and "auditor" in panel.availability.text()
    assert not panel.url_edit.isEnabled() and not panel.submit_button.isEnabled()
    assert c.export_button.isEnabled()
    c.close()

    # a layout no plugin writes: said before anything is typed
    from inspector.gui.composer import ComposerDialog

    odd = replace(preview.plan, store=replace(preview.plan.store, layout="acme-events"))
    c2 = ComposerDialog(window.opened.store, odd, window.runner, plugin_manager, plugin_manager.projections(),
                        preview._histories, Role.OPERATOR, preview.request, window)
    qtbot.addWidget(c2)
    _settle(qtbot, c2)
    p2 = c2.submit_panel
    assert "Stores of layout acme-events need a plugin submitter" in p2.availability.text()
    assert not p2.submit_button.isEnabled() and not p2.url_edit.isEnabled()
    c2.close()
    preview.close()
    window.close()
    opened.store.close()


def test_composer_models_pass_the_model_tester(qtmodeltester, qtbot, operator_win):
    preview, c = _compose(qtbot, operator_win)
    c.select_step(1)
    c.form.editors["price"].set_raw("1.00")
    _apply(qtbot, c)
    qtmodeltester.check(c.steps_model)
    c.residual_view.select("products")
    qtmodeltester.check(c.residual_view.model)
    qtmodeltester.check(c.residual_view.result_model)
    qtmodeltester.check(c.submit_panel.model)
    c.close()
    preview.close()


def test_residual_view_shows_missing_extra_rows_and_notes(qtbot, qtmodeltester):
    from inspector.core.compensate import Residual, Speculation
    from inspector.gui.composer_views import ResidualView

    view = ResidualView()
    qtbot.addWidget(view)
    rows = {"A": {"price": 2.0}, "C": {"price": 1.0}}
    spec = Speculation((), (
        Residual("products", True, ("A", "B", "C"), rows, ({"key": "A", "field": "price", "result": 2.0,
                                                             "target": 1.5},), ("B",), ("C",)),
        Residual("orders", False, note="the replay plan's diff of orders is capped: there is no exact target")))
    view.set_speculation(spec, {"products": "Products"}, heads={"products": {"A": {"price": 1.0}}})
    assert view.current().projection == "products"  # the first with a residual
    m = view.model
    assert [m.rows[r][:2] for r in range(m.rowCount())] == [("cell", "A"), ("missing", "B"), ("extra", "C")]
    assert m.index(1, 0).data() == "row missing" and m.index(2, 0).data() == "row extra"
    assert "1 cell differs · 1 row missing · 1 row extra" in view.headline.text()
    rm = view.result_model
    assert rm.index(0, 1).data() == "1.0 → 2.0" and rm.mark(0, 1) == "residual"
    assert rm.mark(1, 0) == "residual"  # C: a row the target does not have
    qtmodeltester.check(m)
    qtmodeltester.check(rm)
    assert view.select("orders")
    assert view.stack.currentWidget() is view.note and "capped" in view.note.text()
    assert view.headline.text().startswith("Residual on orders: not computed")
    assert view.list.item(1).text() == "orders\nnot computed"


def test_a_viewer_previews_but_cannot_compose(qtbot, ops_path, plugin_manager):
    from inspector.gui.preview_dialog import COMPENSATE_VIEWER_TIP

    window, opened = _window(qtbot, ops_path, plugin_manager, Role.VIEWER)
    preview = window.rollback.open_preview(PreviewRequest.skip(Selection(actor="agent:pricing-bot")))
    qtbot.waitUntil(lambda: not preview.is_busy() and preview.plan is not None, timeout=WAIT_MS)
    assert preview.export_button.isEnabled()
    assert not preview.compensate_button.isEnabled()
    assert preview.compensate_button.toolTip() == COMPENSATE_VIEWER_TIP
    preview.close()
    window.close()
    opened.store.close()
