"""The field rows of the mapping editor: the logical fields an event can have and what each means,
and per field its name, a combo of the table's columns and the spec as written (``col``,
``col->json.path``, ``sql:…``). The combo follows the spec; a column picked becomes the spec."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit

from inspector.core.detect import LayoutCandidate
from inspector.core.layout import TIME_KINDS, Layout
from inspector.core.schema import TableInfo

#: The fields offered, in the order a person thinks about them.
FIELDS = ("position", "stream", "version", "type", "recorded_at", "payload", "metadata", "event_id",
          "causation_id", "correlation_id", "actor", "category")
FIELD_HINTS = {
    "position": "required: the global order (a unique, increasing integer)",
    "stream": "the stream / aggregate id the event belongs to",
    "version": "the event's number within its stream",
    "type": "the event type name",
    "recorded_at": "when the event was recorded",
    "payload": "the event data (JSON, bytes, …)",
    "metadata": "headers / metadata",
    "event_id": "the event's own id",
    "causation_id": "the id of the event or command that caused it",
    "correlation_id": "the id shared by one piece of work",
    "actor": "who or what did it",
    "category": "stream category (default: stream name up to the separator)",
}
TIME_KIND_HINTS = {
    "timestamp": "a native date/time column",
    "iso_text": "ISO-8601 text",
    "epoch_s": "seconds since 1970",
    "epoch_ms": "milliseconds since 1970",
    "payload": "inside the payload (no time filters)",
    "none": "no time",
}
NOT_MAPPED = "—"
EXPRESSION = "(JSON path / SQL)"


def guess_time_kind(column_type: str) -> str:
    """A time kind from a column's type: native types are timestamps, numbers epochs, text ISO."""
    t = column_type.lower()
    if "time" in t or "date" in t:
        return "timestamp"
    if any(k in t for k in ("int", "numeric", "decimal", "real", "double", "float")):
        return "epoch_ms" if "big" in t else "epoch_s"
    return "iso_text"


class FieldGrid(QGridLayout):
    """A header row, then one row per field in ``FIELDS``; below them, how recorded_at is read
    (``time_kind_combo``, ``time_key_edit``). Rows ``len(FIELDS) + 2`` on are the owner's."""

    sig_column_activated = Signal(str)  # a field's combo was used (the field's name)
    sig_spec_edited = Signal(str)  # a field's spec text changed (the field's name)

    def __init__(self) -> None:
        super().__init__()
        self.time_kind_combo = QComboBox(objectName="timeKindCombo")
        for kind in TIME_KINDS:
            self.time_kind_combo.addItem(f"{kind} — {TIME_KIND_HINTS[kind]}", kind)
        self.time_kind_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.time_kind_combo.setMinimumContentsLength(16)
        self.time_key_edit = QLineEdit(objectName="timePayloadKey", placeholderText="timestamp")
        self.time_key_edit.setMaximumWidth(110)

        self.setColumnStretch(2, 1)
        for col, title in enumerate(("Field", "Column", "As written: col, col->json.path, sql:…")):
            head = QLabel(f"<b>{title}</b>")
            self.addWidget(head, 0, col)
        self.column_combos: dict[str, QComboBox] = {}
        self.spec_edits: dict[str, QLineEdit] = {}
        self.field_labels: dict[str, QLabel] = {}
        for row, logical in enumerate(FIELDS, start=1):
            label = QLabel(logical + (" *" if logical == "position" else ""), objectName=f"label_{logical}")
            label.setToolTip(FIELD_HINTS[logical])
            combo = QComboBox(objectName=f"column_{logical}")
            combo.setMinimumContentsLength(14)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.activated.connect(lambda _i, f=logical: self.sig_column_activated.emit(f))
            edit = QLineEdit(objectName=f"spec_{logical}", placeholderText=FIELD_HINTS[logical])
            edit.textChanged.connect(lambda _t, f=logical: self.sig_spec_edited.emit(f))
            self.addWidget(label, row, 0)
            self.addWidget(combo, row, 1)
            self.addWidget(edit, row, 2)
            self.column_combos[logical] = combo
            self.spec_edits[logical] = edit
            self.field_labels[logical] = label
            if logical == "recorded_at":  # added here so that Tab goes from recorded_at to its time kind
                row_time = QHBoxLayout()
                row_time.addWidget(QLabel("time kind"))
                row_time.addWidget(self.time_kind_combo, 1)
                row_time.addWidget(QLabel("payload key"))
                row_time.addWidget(self.time_key_edit)
                self.addLayout(row_time, len(FIELDS) + 1, 0, 1, 3)

    def fill(self, table: TableInfo, layout: Layout | None) -> None:
        """Offer ``table``'s columns in every combo and write ``layout``'s specs (if any); without a
        layout, a single integer primary key is taken as the position."""
        for logical, combo in self.column_combos.items():
            combo.clear()
            combo.addItem(NOT_MAPPED, None)
            for c in table.columns:
                combo.addItem(f"{c.name}  ({c.type})", c.name)
            combo.addItem(EXPRESSION, EXPRESSION)
            ref = layout.ref(logical) if layout else None
            self.spec_edits[logical].setText(ref.spec() if ref else "")
            self.sync_combo(logical)
        if layout is None:  # an integer primary key is the natural global order
            pk = [c for c in table.columns if c.primary_key]
            if len(pk) == 1 and "int" in pk[0].type:
                self.spec_edits["position"].setText(pk[0].name)
                self.sync_combo("position")

    def show_reasons(self, proposal: LayoutCandidate | None) -> None:
        """The proposal's reasons ("type = kind: …") as tooltips on the field labels."""
        reasons = {}
        for r in proposal.reasons if proposal else ():
            head, _, why = r.partition(":")
            logical = head.split("=")[0].strip()
            if logical in self.field_labels and why:
                reasons[logical] = f"{head.strip()}: {why.strip()}"
        for logical, label in self.field_labels.items():
            label.setToolTip(FIELD_HINTS[logical] + (f"\nproposed: {reasons[logical]}" if logical in reasons else ""))

    def sync_combo(self, logical: str) -> None:
        """Point the field's combo at the column its spec reads, or at EXPRESSION (no signals)."""
        combo, spec = self.column_combos[logical], self.spec_edits[logical].text().strip()
        if not spec:
            index = 0
        elif spec.startswith("sql:"):
            index = combo.findData(EXPRESSION)
        else:
            col = spec.split("->", 1)[0].strip()
            index = next((i for i in range(combo.count()) if isinstance(combo.itemData(i), str)
                          and combo.itemData(i) != EXPRESSION and combo.itemData(i).lower() == col.lower()), -1)
            if index < 0:  # not a column of this table: a free-form spec
                index = combo.findData(EXPRESSION)
        combo.blockSignals(True)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
