"""The desktop app's side of the operator log (``inspector.core.oplog``): recording what a window
did, and telling the user, in the main window's status bar, when a read could not be recorded
(reads go on; submissions and approvals are refused by the core instead)."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from PySide6.QtWidgets import QWidget

from inspector.core import oplog

#: How long a warning stays in the status bar.
WARN_MS = 30_000


def warn(widget: QWidget | None, message: str) -> None:
    """``message`` in the status bar of the window ``widget`` belongs to (stderr when none)."""
    w = widget
    while w is not None:
        bar = getattr(w, "statusBar", None)
        if callable(bar):
            bar().showMessage(f"⚠ {message}", WARN_MS)
            return
        w = w.parentWidget()
    print(f"inspector: warning: {message}", file=sys.stderr)


def record_read(widget: QWidget | None, action: str, *, role: Any, store: Any, params: Mapping[str, Any],
                result: Any, actor: str | None = None) -> oplog.LogEntry | None:
    """Record a read (a preview, a fork, an export) made in ``widget``; a log that cannot be
    written is a warning in the status bar, and the read stands."""
    try:
        return oplog.record(action, actor=actor, role=role, store=store, params=params, result=result)
    except oplog.OplogError as e:
        warn(widget, f"this {action} was not recorded in the operator log: {e}")
        return None
