"""The composer's step form: one editor per field of a ``CommandSpec`` (a line for text and
numbers, a check box for yes/no, a list for choices, a text box for JSON), each with its own error
line filled from ``CommandSpec.check`` as the operator types. The form never parses by itself:
what it hands back is the raw text (or the check box's bool), and the command's fields decide."""

from __future__ import annotations

import html
import json
from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from inspector.core.commands import CommandField, CommandSpec

from .dialog_parts import ERROR_STYLE

HINTS = {"int": "a whole number", "decimal": "a number", "json": "any JSON value", "text": "", "choice": "",
         "bool": ""}


def value_text(f: CommandField, value: Any) -> str:
    """How a field's value reads in its editor (money with its decimals, JSON indented)."""
    if value is None:
        return ""
    if f.type == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{f.places}f}"
    if f.type == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


class FieldEditor(QWidget):
    """One field: its editor and, under it, the error line (hidden while the value is fine)."""

    sig_edited = Signal()

    def __init__(self, f: CommandField, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = f
        self.setObjectName(f"field_{f.name}")
        if f.type == "bool":
            self.editor = QCheckBox(self)
            self.editor.toggled.connect(self.sig_edited)
        elif f.type == "choice":
            self.editor = QComboBox(self)
            if not f.required:
                self.editor.addItem("")  # "no value"
            self.editor.addItems(list(f.choices))
            self.editor.currentIndexChanged.connect(self.sig_edited)
        elif f.type == "json":
            self.editor = QPlainTextEdit(self)
            self.editor.setTabChangesFocus(True)
            self.editor.setFixedHeight(self.editor.fontMetrics().height() * 5 + 12)
            self.editor.textChanged.connect(self.sig_edited)
        else:
            self.editor = QLineEdit(self)
            if f.type in ("int", "decimal"):
                self.editor.setAlignment(Qt.AlignRight)
                self.editor.setMaximumWidth(220)
            hint = HINTS[f.type] + (f", at most {f.places} decimals" if f.type == "decimal" else "")
            self.editor.setPlaceholderText(hint if f.required or not hint else f"{hint} (optional)")
            self.editor.textChanged.connect(self.sig_edited)
        self.editor.setObjectName(f"edit_{f.name}")
        if f.help:
            self.editor.setToolTip(f.help)
        self.error = QLabel(self)
        self.error.setObjectName(f"error_{f.name}")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(self.editor)
        lay.addWidget(self.error)

    def raw(self) -> Any:
        e = self.editor
        if isinstance(e, QCheckBox):
            return e.isChecked()
        if isinstance(e, QComboBox):
            return e.currentText()
        if isinstance(e, QPlainTextEdit):
            return e.toPlainText()
        return e.text()

    def set_value(self, value: Any) -> None:
        e = self.editor
        e.blockSignals(True)
        try:
            if isinstance(e, QCheckBox):
                e.setChecked(bool(value))
            elif isinstance(e, QComboBox):
                i = e.findText("" if value is None else str(value))
                e.setCurrentIndex(max(0, i))
            elif isinstance(e, QPlainTextEdit):
                e.setPlainText(value_text(self.field, value))
            else:
                e.setText(value_text(self.field, value))
                e.setCursorPosition(0)  # the start of a long value, not its end
        finally:
            e.blockSignals(False)

    def set_raw(self, text: Any) -> None:
        """Type ``text`` into the editor as the operator would (signals included)."""
        e = self.editor
        if isinstance(e, QCheckBox):
            e.setChecked(bool(text))
        elif isinstance(e, QComboBox):
            e.setCurrentIndex(max(0, e.findText(str(text))))
        elif isinstance(e, QPlainTextEdit):
            e.setPlainText(str(text))
        else:
            e.setText(str(text))

    def set_error(self, message: str | None) -> None:
        self.error.setText(f"⚠ {message}" if message else "")
        self.error.setVisible(bool(message))


class StepForm(QWidget):
    """The form of one step (or of a step being added): the command's title and description,
    its fields, the step's reason, and the errors ``CommandSpec.check`` finds, per field ("" is
    the command as a whole). ``sig_edited`` fires on every keystroke, after the errors are shown."""

    sig_edited = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("stepForm")
        self.spec: CommandSpec | None = None
        self.editors: dict[str, FieldEditor] = {}
        self.errors: dict[str, str] = {}
        self.title = QLabel(self)
        self.title.setObjectName("stepFormTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.RichText)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setForegroundRole(QPalette.PlaceholderText)
        self.command_error = QLabel(self)
        self.command_error.setObjectName("error_")
        self.command_error.setStyleSheet(ERROR_STYLE)
        self.command_error.setWordWrap(True)
        self.command_error.hide()
        self.reason_edit: QLineEdit | None = None
        self._fields = QWidget(self)
        self._form = QFormLayout(self._fields)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.setFieldGrowthPolicy(QFormLayout.ExpandingFieldsGrow)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.title)
        lay.addWidget(self.description)
        lay.addWidget(self._fields)
        lay.addWidget(self.command_error)
        lay.addStretch(1)
        self.clear("Select a step to edit it, or add one.")

    def clear(self, text: str = "") -> None:
        self.spec = None
        self._rebuild(None)
        self.title.setText(text)
        self.description.hide()
        self.set_errors({})

    def set_spec(self, spec: CommandSpec, values: Mapping[str, Any] | None = None, reason: str = "",
                 heading: str | None = None) -> None:
        """Show ``spec``'s fields holding ``values`` (absent: empty)."""
        self.spec = spec
        self._rebuild(spec.fields)
        for name, ed in self.editors.items():
            ed.set_value((values or {}).get(name))
        self.reason_edit.setText(reason)
        self.reason_edit.setCursorPosition(0)
        self.title.setText(heading or f"<b>{spec.title or spec.name}</b> <code>{spec.name}</code>")
        self.description.setText(spec.description)
        self.description.setVisible(bool(spec.description))
        self.set_errors({})

    def _rebuild(self, fields) -> None:
        """The rows of ``fields`` and the step's reason (none at all for None)."""
        while self._form.rowCount():
            self._form.removeRow(0)  # deletes the row's widgets, the reason line included
        self.reason_edit = None
        self.editors = {}
        if fields is None:
            return
        for f in fields:
            ed = FieldEditor(f, self._fields)
            ed.sig_edited.connect(self._edited)
            self.editors[f.name] = ed
            label = QLabel(f"{f.title or f.name}{'' if f.required else ' (optional)'}", self._fields)
            label.setToolTip(f.help or f.name)
            self._form.addRow(label, ed)
        self.reason_edit = QLineEdit(self._fields)
        self.reason_edit.setObjectName("stepReason")
        self.reason_edit.setPlaceholderText("why this step (kept in the plan and in each event's metadata)")
        self.reason_edit.textEdited.connect(self.sig_edited)
        self._form.addRow("Step reason", self.reason_edit)

    def raw(self) -> dict[str, Any]:
        return {name: ed.raw() for name, ed in self.editors.items()}

    def reason(self) -> str:
        return self.reason_edit.text().strip() if self.reason_edit is not None else ""

    def check(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Parse what is typed with the command's own rules and show the errors."""
        if self.spec is None:
            return {}, {}
        values, errors = self.spec.check(self.raw())
        self.set_errors(errors)
        return values, errors

    def set_errors(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        for name, ed in self.editors.items():
            ed.set_error(self.errors.get(name))
        whole = [v for k, v in self.errors.items() if k not in self.editors]
        self.command_error.setText("⚠ " + "; ".join(whole) if whole else "")
        self.command_error.setVisible(bool(whole))

    def _edited(self) -> None:
        self.check()
        self.sig_edited.emit()


class StepEditor(QWidget):
    """The form of the selected step, or of a step being added, with Apply and Revert. Nothing
    here changes a plan: Apply emits ``sig_apply`` with ("edit", step index) or ("add", command
    name), the raw values and the step's reason, once the command's own check passes."""

    sig_apply = Signal(str, object, dict, str)
    sig_cancel_add = Signal()  # Revert while adding: the dialog shows the selected step again

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode: tuple[str, Any] | None = None  # ("edit", index) or ("add", command name)
        self.step: Any = None  # the CompensationStep being edited
        self._ready = False
        self.form = StepForm(self)
        self.form.sig_edited.connect(self._sync)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(self.form)
        self.apply_button = QPushButton("Apply", self)
        self.apply_button.setObjectName("stepApply")
        self.apply_button.clicked.connect(self.apply)
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setObjectName("stepRevert")
        self.revert_button.setToolTip("forget what was typed")
        self.revert_button.clicked.connect(self.revert)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.apply_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll, 1)
        lay.addLayout(buttons)
        self._sync()

    def edit(self, step: Any, spec: CommandSpec) -> None:
        """Show ``step`` (a ``CompensationStep``) in the form of its command."""
        self.mode, self.step = ("edit", step.index), step
        self.form.set_spec(spec, step.values, step.reason,
                           f"<b>Step {step.index}: {html.escape(spec.title or step.command)}</b> "
                           f"<code>{html.escape(step.command)}</code> on <code>{html.escape(step.stream)}</code>")
        self._sync()

    def add(self, spec: CommandSpec) -> None:
        """An empty form for a new step of ``spec``."""
        self.mode, self.step = ("add", spec.name), None
        self.form.set_spec(spec, {}, "", f"<b>New step: {html.escape(spec.title or spec.name)}</b> "
                                         f"<code>{html.escape(spec.name)}</code>")
        self._sync()

    def clear(self, text: str) -> None:
        self.mode, self.step = None, None
        self.form.clear(text)
        self._sync()

    def set_ready(self, ready: bool) -> None:
        """Editable or not (not while the plan changes or is submitted)."""
        self._ready = ready
        self._sync()

    def show_errors(self, errors: Mapping[str, str]) -> None:
        self.form.set_errors(errors)
        self._sync()

    def dirty(self) -> bool:
        """Whether Apply would change anything (always, for a step being added)."""
        if self.mode is None or self.form.spec is None:
            return False
        if self.mode[0] == "add":
            return True
        values, errors = self.form.spec.check(self.form.raw())
        return bool(errors) or values != dict(self.step.values) or self.form.reason() != self.step.reason

    def _sync(self) -> None:
        on = self._ready and self.mode is not None
        self.apply_button.setText("Add to plan" if self.mode is not None and self.mode[0] == "add" else "Apply")
        self.apply_button.setToolTip("add this step at the end of the plan" if self.mode and self.mode[0] == "add"
                                     else "put these values into the step")
        self.apply_button.setEnabled(on and not self.form.errors and self.dirty())
        self.revert_button.setEnabled(on)
        self.form.setEnabled(self._ready)

    def apply(self) -> None:
        if self.mode is None:
            return
        _values, errors = self.form.check()
        self._sync()
        if not errors:
            self.sig_apply.emit(self.mode[0], self.mode[1], self.form.raw(), self.form.reason())

    def revert(self) -> None:
        if self.mode is not None and self.mode[0] == "edit":
            self.edit(self.step, self.form.spec)
        else:
            self.sig_cancel_add.emit()
