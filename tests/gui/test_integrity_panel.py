"""The Integrity dock in the main window over the demo shop with two payloads broken on purpose:
running the checks on a worker, the findings (severity, check, title, count) worst first, the
events of the selected finding, double-clicking an event selecting it in the main table (loaded
or not), cancelling, and a new store clearing the report."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.gui.integrity_panel import FindingRole, FindingsModel
from inspector.core.integrity import Finding

from tests.gui.conftest import WAIT_MS


def _run(qtbot, w):
    panel = w.integrity_panel
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.report is not None and not panel.is_running(), timeout=WAIT_MS)
    return panel


def _row_of(panel, check: str, severity: str) -> int:
    m = panel.model
    return next(r for r in range(m.rowCount()) if (m.index(r, 1).data(), m.index(r, 0).data()) == (check, severity))


def _double_click_event(qtbot, panel, row: int) -> int:
    item = panel.events.item(row, 0)
    rect = panel.events.visualItemRect(item)
    qtbot.mouseClick(panel.events.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.events.viewport(), Qt.LeftButton, pos=rect.center())
    return item.data(Qt.UserRole)


def _selected(w):
    ev = w.selected_event()
    return ev.position if ev is not None else None


def test_the_dock_is_in_the_view_menu(window):
    assert window.integrity_dock.windowTitle() == "Integrity"
    assert window.view_actions["Integrity"].isChecked() == window.integrity_dock.isVisible()
    assert window.integrity_panel.run_button.isEnabled() and not window.integrity_panel.is_running()


def test_run_lists_findings_and_double_click_selects_the_event(qtbot, window, corrupt_positions):
    w = window
    w.integrity_dock.raise_()
    panel = _run(qtbot, w)
    report = panel.report
    assert report.events == w.model.total and all(c.status in ("ran", "skipped") for c in report.checks)
    m = panel.model
    severities = [m.index(r, 0).data() for r in range(m.rowCount())]
    assert severities == sorted(severities, key=("error", "warning", "info").index)  # worst first
    assert m.rowCount() == len(report.findings)
    assert "1 error" in panel.status.text()

    # the corrupt JSON payload is an error; the random bytes (ciphertext-like among readable JSON) a warning
    row = _row_of(panel, "undecodable", "error")
    assert m.index(row, 0).data(Qt.ForegroundRole).color().name() == "#c62828"
    assert m.index(row, 0).data(Qt.DecorationRole) is not None
    panel.select_finding(row)
    finding = m.index(row, 0).data(FindingRole)
    assert finding.events == (corrupt_positions[0],) and m.index(row, 3).data() == "1"
    assert panel.events.rowCount() == 1 and panel.events.item(0, 0).text() == f"#{corrupt_positions[0]}"
    assert "corrupt JSON" in panel.detail.text() and "ERROR" in panel.detail.text()
    assert _double_click_event(qtbot, panel, 0) == corrupt_positions[0]
    qtbot.waitUntil(lambda: _selected(w) == corrupt_positions[0], timeout=WAIT_MS)

    # an event beyond the rows loaded: the table is moved to it, then it is selected
    panel.select_finding(_row_of(panel, "undecodable", "warning"))
    assert panel.events.item(0, 0).data(Qt.UserRole) == corrupt_positions[1]
    assert corrupt_positions[1] > w.model.rowCount()
    _double_click_event(qtbot, panel, 0)
    qtbot.waitUntil(lambda: _selected(w) == corrupt_positions[1], timeout=WAIT_MS)

    # with no finding selected, the detail says how every check went
    panel.table.selectionModel().clear()
    panel.table.setCurrentIndex(panel.table.model().index(-1, -1))
    assert "Gaps in global positions" in panel.detail.text() and not panel.events.isVisible()


def test_cancel_and_a_new_store(qtbot, window, opened):
    panel = window.integrity_panel
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    assert panel.is_running() and panel.cancel_button.isVisible() and not panel.run_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    assert not panel.is_running() and panel.status.text() == "cancelled" and panel.run_button.isEnabled()
    qtbot.waitUntil(window.runner.is_idle, timeout=WAIT_MS)
    assert panel.report is None
    panel = _run(qtbot, window)
    assert panel.model.rowCount() > 0
    window.set_opened(None)
    assert panel.model.rowCount() == 0 and panel.report is None and not panel.run_button.isEnabled()


def test_findings_model(qtmodeltester):
    model = FindingsModel()
    model.set_findings([Finding("time_order", "warning", "1 event earlier", "why", (3,), 1),
                        Finding("duplicate_positions", "error", "1 position twice", "why", (5,), 1),
                        Finding("unhandled_types", "info", "No projection handles X", "why", (1, 2), 40)])
    qtmodeltester.check(model)
    assert [model.index(r, 0).data() for r in range(3)] == ["error", "warning", "info"]
    assert model.index(2, 3).data() == "40" and model.index(0, 2).data(Qt.ToolTipRole) == "why"
