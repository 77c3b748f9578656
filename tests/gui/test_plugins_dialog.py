"""The Plugins dialog and the status-bar notice: a broken plugin is shown disabled with its error,
the app keeps working, and the commands loaded plugins register are listed."""

from __future__ import annotations

from inspector.gui.main_window import MainWindow
from inspector.plugins.manager import PluginManager
from tests.gui.conftest import WAIT_MS, settled


def _cells(table, col):
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_a_broken_plugin_is_listed_with_its_error_and_the_window_still_works(qtbot, opened, tmp_path):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import no_such_module_here\n")
    raising = tmp_path / "raising_plugin.py"
    raising.write_text("from inspector.plugins.hookspecs import hookimpl\n\n"
                       "@hookimpl\ndef register_projections():\n    raise ValueError('bad projection')\n")
    pm = PluginManager(paths=[broken, raising])
    w = MainWindow(opened, pm)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and settled(w), timeout=WAIT_MS)
    # the state panel asked for projections: the raising plugin is disabled, the others are there
    notice = w.statusBar().currentMessage()
    assert "plugin(s) disabled" in notice and "broken_plugin" in notice
    dialog = w.show_plugins()
    names = _cells(dialog.table, 0)
    status = dict(zip(names, _cells(dialog.table, 1)))
    detail = dict(zip(names, _cells(dialog.table, 4)))
    assert status["broken_plugin"] == "disabled"
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in detail["broken_plugin"]
    assert status["raising_plugin"] == "disabled" and "ValueError: bad projection" in detail["raising_plugin"]
    assert status["builtin_layouts"] == "ok" and "register_layouts" in detail["builtin_layouts"]
    # the demo shop's compensating commands are listed with their fields
    commands = _cells(dialog.commands, 0)
    assert "RestorePrice" in commands
    fields = dict(zip(commands, _cells(dialog.commands, 1)))["RestorePrice"]
    assert "sku: text" in fields
    assert w.model.rowCount() > 0
    dialog.close()
