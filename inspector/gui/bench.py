"""The GUI's part of ``inspector bench``: sweep the time slider across the whole store and report
the worst block of the GUI thread (``gui_max_block_ms``), measured by the state panel's watchdog."""

from __future__ import annotations

import os
from typing import Any

SWEEP_MOVES = 200
BUILD_TIMEOUT_S = 900


def slider_sweep(opened: Any, pm: Any, projection: str = "streams", moves: int = SWEEP_MOVES) -> dict[str, Any]:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .app import make_app, wait_for
    from .main_window import MainWindow

    make_app()
    window = MainWindow(opened, pm)
    window.resize(1600, 1000)
    window.show()
    try:
        window.state_panel.choose(projection)
        if not wait_for(lambda: window.state_panel.history is not None and window.is_loaded(), BUILD_TIMEOUT_S):
            return {"gui_max_block_ms": None, "gui_error": "the history did not finish building in time"}
        report = window.state_panel.sweep(moves=moves)
    finally:
        window.state_panel.shutdown()
        window.runner.shutdown()
        window.hide()
    return {"gui_max_block_ms": round(report.worst_block_ms, 1), "gui_sweep_moves": report.moves,
            "gui_sweep_s": round(report.seconds, 2)}
