"""File → Export events… / Export report… / Evidence bundle…: the files appear, hold the current
filter's events, and the bundle verifies; a file name without a known suffix is refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from inspector.core.evidence import verify_bundle
from inspector.core.model import EventFilter

from .conftest import WAIT_MS, settled

FILTER = EventFilter(types=("OrderPlaced", "PaymentCaptured"))


@pytest.fixture
def filtered(window, qtbot):
    window.filter_bar.set_filter(FILTER)
    qtbot.waitUntil(lambda: window.model.filter == FILTER and settled(window), timeout=WAIT_MS)
    return window


def _trigger(qtbot, window, action, path):
    actions = window.export_actions
    actions.ask_path = lambda kind, suggested: str(path)
    with qtbot.waitSignal(actions.sig_finished, timeout=WAIT_MS) as blocker:
        action.trigger()
    return blocker.args


def test_the_actions_are_in_the_file_menu(window):
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    for a in window.export_actions.actions():
        assert a.text() in texts and a.isEnabled()


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_export_events_of_the_current_filter(filtered, qtbot, tmp_path, suffix):
    path = tmp_path / f"events.{suffix}"
    kind, written = _trigger(qtbot, filtered, filtered.export_actions.events_action, path)
    assert (kind, written) == ("events", str(path)) and path.exists()
    want = filtered.opened.store.count(FILTER)
    if suffix == "parquet":
        df = pd.read_parquet(path)
    elif suffix == "csv":
        df = pd.read_csv(path)
    else:
        df = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    assert len(df) == want > 0 and set(df["type"]) == set(FILTER.types)
    assert "wrote" in filtered.statusBar().currentMessage()


def test_export_report_with_the_timeline(filtered, qtbot, tmp_path):
    path = tmp_path / "report.html"
    _trigger(qtbot, filtered, filtered.export_actions.report_action, path)
    text = path.read_text(encoding="utf-8")
    assert "<svg" in text and "OrderPlaced, PaymentCaptured" in text


def test_evidence_bundle_of_the_current_filter(filtered, qtbot, tmp_path):
    path = tmp_path / "evidence"  # the suffix is added
    _, written = _trigger(qtbot, filtered, filtered.export_actions.bundle_action, path)
    assert written == str(tmp_path / "evidence.zip")
    report = verify_bundle(written, against=filtered.opened.store)
    assert report.ok, report.lines()
    assert report.events == filtered.opened.store.count(FILTER)


def test_an_unknown_suffix_is_refused(window, qtbot, tmp_path):
    actions = window.export_actions
    with qtbot.waitSignal(actions.sig_failed, timeout=WAIT_MS) as blocker:
        assert actions.export_events(tmp_path / "events.xlsx") is None
    assert "xlsx" in blocker.args[1]
    assert not list(tmp_path.iterdir())


def test_a_cancelled_dialog_does_nothing(window, tmp_path):
    window.export_actions.ask_path = lambda kind, suggested: None
    assert window.export_actions.export_events() is None
    assert window.export_actions.evidence_bundle() is None


def test_the_state_panels_projection_goes_into_the_bundle_and_report(filtered, qtbot, tmp_path):
    panel = filtered.state_panel
    with qtbot.waitSignal(panel.sig_history_ready, timeout=WAIT_MS):
        panel.choose("orders")
    qtbot.waitUntil(lambda: panel.history is not None and filtered.runner.is_idle(), timeout=WAIT_MS)
    _, written = _trigger(qtbot, filtered, filtered.export_actions.bundle_action, tmp_path / "b.zip")
    import zipfile

    with zipfile.ZipFile(written) as zf:
        query = json.loads(zf.read("query.json"))
        assert "states/orders.jsonl" in zf.namelist()
    assert query["states"]["orders"]["rows"] > 0 and verify_bundle(written).ok
    _trigger(qtbot, filtered, filtered.export_actions.report_action, tmp_path / "r.html")
    assert "State of orders" in (tmp_path / "r.html").read_text(encoding="utf-8")
