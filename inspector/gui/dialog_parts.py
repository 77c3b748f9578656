"""What the dialogs that work on a worker share (the rollback preview, the compensation composer
and its Submit tab): the colours of errors and successes, the big title, the busy line with its
progress bar, the result line under the body (and a plan's export reported on it), OK and Cancel,
and opening a dialog without blocking."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QProgressBar, QWidget

from inspector.core.errors import InspectorError

ERROR_STYLE = "color: #b71c1c;"
OK_STYLE = "color: #1b5e20;"

D = TypeVar("D", bound=QDialog)


def title_label(text: str, parent: QWidget) -> QLabel:
    """``text`` bold and a quarter larger than the dialog's font."""
    label = QLabel(text, parent)
    big = label.font()
    big.setPointSizeF(big.pointSizeF() * 1.25)
    big.setBold(True)
    label.setFont(big)
    return label


def busy_row(parent: QWidget, busy_name: str, progress_name: str | None = None
             ) -> tuple[QLabel, QProgressBar, QHBoxLayout]:
    """"Starting…" and a busy (range 0..0) progress bar beside it: (label, bar, the row)."""
    progress = QProgressBar(parent)
    if progress_name:
        progress.setObjectName(progress_name)
    progress.setRange(0, 0)
    progress.setTextVisible(False)
    progress.setFixedHeight(12)
    busy = QLabel("Starting…", parent)
    busy.setObjectName(busy_name)
    row = QHBoxLayout()
    row.addWidget(busy)
    row.addWidget(progress, 1)
    return busy, progress, row


def show_progress(busy: QLabel, progress: QProgressBar, value: tuple[str, float | None]) -> None:
    """A worker's (text, fraction or None) progress on the busy row (None: busy, no fraction)."""
    text, fraction = value
    busy.setText(text[0].upper() + text[1:] + "…")
    if fraction is None:
        progress.setRange(0, 0)
    else:
        progress.setRange(0, 1000)
        progress.setValue(int(fraction * 1000))


def result_label(parent: QWidget, name: str) -> QLabel:
    """The selectable line saying how an action (export, fork…) went; hidden while empty (``report``)."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.hide()
    return label


def report(label: QLabel, text: str, error: bool = False) -> None:
    """``text`` on a ``result_label``, red for an ``error``, else green (hidden when empty)."""
    label.setText(text)
    label.setStyleSheet(ERROR_STYLE if error else OK_STYLE)
    label.setVisible(bool(text))


def ok_cancel(dialog: QDialog, ok_text: str, on_ok: Callable[[], Any]) -> QDialogButtonBox:
    """OK (named ``ok_text``; ``on_ok`` when pressed) and Cancel (rejects ``dialog``)."""
    buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, dialog)
    buttons.button(QDialogButtonBox.Ok).setText(ok_text)
    buttons.accepted.connect(on_ok)
    buttons.rejected.connect(dialog.reject)
    return buttons


def export_reported(plan: Any, path: str | Path, label: QLabel) -> Path | None:
    """``plan.export(path)`` (a replay or compensation plan); a failure is reported on ``label``
    (a ``result_label``) and gives None."""
    try:
        return plan.export(path)
    except (OSError, InspectorError) as e:
        report(label, f"⚠ the plan was not exported: {e}", True)
        return None


def open_dialog(owner: object, attr: str, dialog: D, on_accepted: Callable[[D], None]) -> D:
    """Open ``dialog`` without blocking, kept as ``owner.<attr>`` while it is open; accepted,
    ``on_accepted(dialog)`` runs. It is deleted once closed."""
    setattr(owner, attr, dialog)

    def done(result: int) -> None:
        if getattr(owner, attr, None) is dialog:
            setattr(owner, attr, None)
        if result:
            on_accepted(dialog)
        dialog.deleteLater()

    dialog.finished.connect(done)
    dialog.open()
    return dialog
