"""The mapping editor: say where each logical field of an event lives in a table the inspector does
not know, watch the first events decode through a real ``EventStore`` as you edit, and save the
result as the TOML mapping file the CLI reads (``--mapping``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Sequence

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import Engine

from inspector.core.codecs import Codec, CodecPipeline
from inspector.core.connect import describe_error, redact
from inspector.core.detect import Detection, LayoutCandidate, validate_layout
from inspector.core.errors import InspectorError
from inspector.core.layout import TIME_KINDS, Layout, layout_from_mapping
from inspector.core.model import EventFilter, RecordedEvent
from inspector.core.schema import SchemaInfo, TableInfo, reflect
from inspector.core.store import EventStore

from .workers import Cancelled, Task, TaskRunner

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
PREVIEW_ROWS = 20
PLAUSIBLE_EPOCH = (631152000.0, 4102444800.0)  # 1990 .. 2100: outside, the time kind is surely wrong
PREVIEW_DEBOUNCE_MS = 250
NOT_MAPPED = "—"
EXPRESSION = "(JSON path / SQL)"
PREVIEW_COLUMNS = ("position", "stream", "version", "type", "recorded_at", "decode error", "event_id",
                   "causation_id", "correlation_id", "actor", "data", "metadata")


def guess_time_kind(column_type: str) -> str:
    """A time kind from a column's type: native types are timestamps, numbers epochs, text ISO."""
    t = column_type.lower()
    if "time" in t or "date" in t:
        return "timestamp"
    if any(k in t for k in ("int", "numeric", "decimal", "real", "double", "float")):
        return "epoch_ms" if "big" in t else "epoch_s"
    return "iso_text"


def preview_events(engine: Engine, layout: Layout, codecs: Sequence[Codec] | None, name: str = "") -> tuple[list[RecordedEvent], str | None]:
    """The first events read through ``layout`` and a warning when the database cannot read its
    times (the timeline and time filters would be empty). Runs on a worker thread."""
    store = EventStore(engine, layout, CodecPipeline(codecs) if codecs is not None else CodecPipeline(), name)
    events = list(store.read_page(limit=PREVIEW_ROWS).events)
    warning = None
    if events and store.time_epoch_expr() is not None:
        p = events[0].position
        one = EventFilter(after=p - 1, before=p + 1)
        try:  # the time SQL evaluated on one row found by its position (an index lookup)
            hist = store.histogram(one, bins=1)
        except Exception as e:  # noqa: BLE001 - shown as a warning line
            warning = f"the database cannot read recorded_at as {layout.time_kind}: {describe_error(e)}"
        else:
            if not hist.bins:
                warning = f"recorded_at does not read as {layout.time_kind} in the database (try another time kind)"
            elif not PLAUSIBLE_EPOCH[0] <= hist.bins[0].start <= PLAUSIBLE_EPOCH[1]:
                seen = dt.datetime.fromtimestamp(max(hist.bins[0].start, -6e10), dt.timezone.utc) if abs(hist.bins[0].start) < 6e10 else None
                warning = (f"read as {layout.time_kind}, the first event's time is "
                           f"{seen.isoformat(timespec='seconds') if seen else 'out of range'}: check the time kind")
    return events, warning


def engine_url(engine: Engine) -> str:
    """The URL a person would recognise: read-only SQLite engines carry ``file:…?mode=ro``."""
    u = engine.url
    db = u.database or ""
    if u.get_backend_name() == "sqlite" and db.startswith("file:"):
        return f"sqlite:///{db[len('file:'):].split('?', 1)[0]}"
    return u.render_as_string(hide_password=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = f"{len(bytes(value))} bytes"
    elif hasattr(value, "isoformat"):
        text = value.isoformat(sep=" ")
    else:
        text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


class MappingEditor(QDialog):
    """Choose a table and, for each logical field, a column (or ``column->json.path`` or
    ``sql:<expr>``). ``result_layout()`` after accept; ``save_mapping(path)`` writes TOML.

    ``schema`` is the reflected SchemaInfo (or a Detection, in which case the tables are reflected on
    a worker); ``initial`` pre-fills everything (a proposal or a known layout to adjust);
    ``proposals`` pre-fill a table when it is chosen."""

    sig_preview_ready = Signal()  # the preview shows the current mapping (or why it cannot)

    def __init__(
        self,
        engine: Engine,
        schema: SchemaInfo | Detection,
        codecs: Iterable[Codec] | None = None,
        parent: QWidget | None = None,
        *,
        initial: Layout | LayoutCandidate | None = None,
        proposals: Sequence[LayoutCandidate] = (),
        url: str = "",
        runner: TaskRunner | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("mappingEditor")
        self.setWindowTitle("Edit mapping")
        self.engine = engine
        self.codecs = list(codecs) if codecs is not None else None
        self.url = redact(url or engine_url(engine))
        self.schema: SchemaInfo | None = schema if isinstance(schema, SchemaInfo) else None
        if isinstance(schema, Detection) and not proposals:
            proposals = schema.proposals
        self.proposals: dict[str, LayoutCandidate] = {p.layout.table.lower(): p for p in proposals}
        if isinstance(initial, LayoutCandidate):
            self.proposals.setdefault(initial.layout.table.lower(), initial)
            initial = initial.layout
        self._initial = initial
        self._runner = runner or TaskRunner(self, max_threads=2)
        self._task: Task | None = None
        self._token = 0
        self._layout: Layout | None = None  # the current mapping, when it validates
        self._previewed: Layout | None = None  # the mapping the preview last read successfully
        self._filling = False
        self.preview: list[RecordedEvent] = []
        self.preview_error: str | None = None
        self.preview_warning: str | None = None
        self._debounce = QTimer(self, singleShot=True, interval=PREVIEW_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._run_preview)
        self._build()
        if self.schema is not None:
            self._schema_ready(self.schema)
        else:
            self._set_status("Reading tables…")
            self._runner.submit(reflect, engine, label="reflect", owner=self, on_finished=self._schema_ready,
                                on_error=lambda e: self._set_status(self._explain(e), error=True))

    # -- building ------------------------------------------------------------------------
    def _build(self) -> None:
        self.table_combo = QComboBox(objectName="tableCombo")
        self.table_combo.currentIndexChanged.connect(self._table_changed)
        self.name_edit = QLineEdit("custom", objectName="nameEdit")
        self.name_edit.textChanged.connect(self._changed)
        self.time_kind_combo = QComboBox(objectName="timeKindCombo")
        for kind in TIME_KINDS:
            self.time_kind_combo.addItem(f"{kind} — {TIME_KIND_HINTS[kind]}", kind)
        self.time_kind_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.time_kind_combo.setMinimumContentsLength(16)
        self.time_kind_combo.currentIndexChanged.connect(self._time_kind_changed)
        self._time_kind_touched = False
        self.time_key_edit = QLineEdit(objectName="timePayloadKey", placeholderText="timestamp")
        self.time_key_edit.setMaximumWidth(110)
        self.time_key_edit.textChanged.connect(self._changed)
        self.separator_edit = QLineEdit("-", objectName="separatorEdit", maxLength=4)
        self.separator_edit.setFixedWidth(40)
        self.separator_edit.textChanged.connect(self._changed)
        self.version_base_spin = QSpinBox(objectName="versionBaseSpin", minimum=0, maximum=1, value=1)
        self.version_base_spin.valueChanged.connect(self._changed)

        top = QFormLayout()
        top.addRow("Table", self.table_combo)
        top.addRow("Name", self.name_edit)

        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        for col, title in enumerate(("Field", "Column", "As written: col, col->json.path, sql:…")):
            head = QLabel(f"<b>{title}</b>")
            grid.addWidget(head, 0, col)
        self.column_combos: dict[str, QComboBox] = {}
        self.spec_edits: dict[str, QLineEdit] = {}
        self.field_labels: dict[str, QLabel] = {}
        for row, logical in enumerate(FIELDS, start=1):
            label = QLabel(logical + (" *" if logical == "position" else ""), objectName=f"label_{logical}")
            label.setToolTip(FIELD_HINTS[logical])
            combo = QComboBox(objectName=f"column_{logical}")
            combo.setMinimumContentsLength(14)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.activated.connect(lambda _i, f=logical: self._column_chosen(f))
            edit = QLineEdit(objectName=f"spec_{logical}", placeholderText=FIELD_HINTS[logical])
            edit.textChanged.connect(lambda _t, f=logical: self._spec_edited(f))
            grid.addWidget(label, row, 0)
            grid.addWidget(combo, row, 1)
            grid.addWidget(edit, row, 2)
            self.column_combos[logical] = combo
            self.spec_edits[logical] = edit
            self.field_labels[logical] = label
            if logical == "recorded_at":
                row_time = QHBoxLayout()
                row_time.addWidget(QLabel("time kind"))
                row_time.addWidget(self.time_kind_combo, 1)
                row_time.addWidget(QLabel("payload key"))
                row_time.addWidget(self.time_key_edit)
                grid.addLayout(row_time, len(FIELDS) + 1, 0, 1, 3)
        extra = QHBoxLayout()
        extra.addWidget(QLabel("stream separator"))
        extra.addWidget(self.separator_edit)
        extra.addSpacing(16)
        extra.addWidget(QLabel("first version in a stream"))
        extra.addWidget(self.version_base_spin)
        extra.addStretch(1)
        grid.addLayout(extra, len(FIELDS) + 2, 0, 1, 3)

        fields_box = QGroupBox("Where each field lives")
        fields_layout = QVBoxLayout(fields_box)
        fields_layout.addLayout(top)
        fields_layout.addLayout(grid)
        fields_layout.addStretch(1)

        self.status = QLabel(objectName="previewStatus", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_table = QTableWidget(0, len(PREVIEW_COLUMNS), objectName="previewTable")
        self.preview_table.setHorizontalHeaderLabels(list(PREVIEW_COLUMNS))
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_table.verticalHeader().setVisible(False)
        self.preview_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.preview_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.preview_table.horizontalHeader().setStretchLastSection(True)
        self.preview_table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        preview_box = QGroupBox(f"Preview: the first {PREVIEW_ROWS} events, decoded")
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self.status)
        preview_layout.addWidget(self.preview_table, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(fields_box)
        splitter.addWidget(preview_box)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        self._splitter = splitter

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.setObjectName("mappingButtons")
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Use mapping")
        self.ok_button.setEnabled(False)
        self.save_button = QPushButton("Save mapping…", objectName="saveButton")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_clicked)
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.buttons)
        self.resize(1200, 640)

    # -- filling -------------------------------------------------------------------------
    def _schema_ready(self, schema: SchemaInfo) -> None:
        self.schema = schema
        self._filling = True
        try:
            self.table_combo.clear()
            for t in schema.tables:
                self.table_combo.addItem(t.qualified, t.qualified)
        finally:
            self._filling = False
        want = self._initial.table if self._initial else None
        if want is None and self.proposals:
            want = max(self.proposals.values(), key=lambda c: c.confidence).layout.table
        index = self.table_combo.findData(self._table(want).qualified) if want and self._table(want) else 0
        if index == self.table_combo.currentIndex():
            self._table_changed(index)
        else:
            self.table_combo.setCurrentIndex(max(index, 0))

    def _table(self, name: str | None) -> TableInfo | None:
        return self.schema.get(name) if (self.schema and name) else None

    def current_table(self) -> TableInfo | None:
        return self._table(self.table_combo.currentData())

    def _table_changed(self, _index: int) -> None:
        if self._filling:
            return
        table = self.current_table()
        if table is None:
            return
        start = None
        if self._initial is not None and self._initial.table.lower() == table.qualified.lower():
            start = self._initial
        elif table.qualified.lower() in self.proposals:
            start = self.proposals[table.qualified.lower()].layout
        self._fill(table, start)

    def _fill(self, table: TableInfo, layout: Layout | None) -> None:
        """Put ``table``'s columns in the combos and ``layout``'s choices (if any) in the fields."""
        self._filling = True
        try:
            for logical, combo in self.column_combos.items():
                combo.clear()
                combo.addItem(NOT_MAPPED, None)
                for c in table.columns:
                    combo.addItem(f"{c.name}  ({c.type})", c.name)
                combo.addItem(EXPRESSION, EXPRESSION)
                ref = layout.ref(logical) if layout else None
                self.spec_edits[logical].setText(ref.spec() if ref else "")
                self._sync_combo(logical)
            if layout is None:  # an integer primary key is the natural global order
                pk = [c for c in table.columns if c.primary_key]
                if len(pk) == 1 and "int" in pk[0].type:
                    self.spec_edits["position"].setText(pk[0].name)
                    self._sync_combo("position")
            kind = layout.time_kind if layout else "timestamp"
            self.time_kind_combo.setCurrentIndex(max(0, self.time_kind_combo.findData(kind)))
            self._time_kind_touched = layout is not None
            self.time_key_edit.setEnabled(kind == "payload")
            self.time_key_edit.setText(layout.time_payload_key or "" if layout else "")
            self.separator_edit.setText(layout.stream_separator if layout else "-")
            self.version_base_spin.setValue(layout.version_base if layout else 1)
            if layout is not None and layout is self._initial:
                self.name_edit.setText(layout.name)
            self._update_reasons(table)
        finally:
            self._filling = False
        self._changed()

    def _update_reasons(self, table: TableInfo) -> None:
        """Proposal reasons ("type = kind: …") as tooltips on the field labels."""
        prop = self.proposals.get(table.qualified.lower())
        reasons = {}
        for r in prop.reasons if prop else ():
            head, _, why = r.partition(":")
            logical = head.split("=")[0].strip()
            if logical in self.field_labels and why:
                reasons[logical] = f"{head.strip()}: {why.strip()}"
        for logical, label in self.field_labels.items():
            label.setToolTip(FIELD_HINTS[logical] + (f"\nproposed: {reasons[logical]}" if logical in reasons else ""))

    def _sync_combo(self, logical: str) -> None:
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

    # -- editing -------------------------------------------------------------------------
    def set_column(self, logical: str, column: str | None) -> None:
        """Choose ``column`` (None: not mapped) for a field, as picking it in its combo does."""
        combo = self.column_combos[logical]
        index = 0 if column is None else combo.findData(column)
        if index < 0:
            raise ValueError(f"{column!r} is not a column of {self.table_combo.currentData()}")
        combo.setCurrentIndex(index)
        self._column_chosen(logical)

    def set_spec(self, logical: str, spec: str) -> None:
        self.spec_edits[logical].setText(spec)

    def set_time_kind(self, kind: str) -> None:
        self.time_kind_combo.setCurrentIndex(self.time_kind_combo.findData(kind))

    def _column_chosen(self, logical: str) -> None:
        data = self.column_combos[logical].currentData()
        if data == EXPRESSION:
            edit = self.spec_edits[logical]
            if not edit.text().strip():
                edit.setText("sql:")
            edit.setFocus()
            return
        self.spec_edits[logical].setText(data or "")
        if logical == "recorded_at" and data and not self._time_kind_touched:
            table = self.current_table()
            col = table.column(data) if table else None
            if col is not None:
                self.time_kind_combo.blockSignals(True)
                self.time_kind_combo.setCurrentIndex(self.time_kind_combo.findData(guess_time_kind(col.type)))
                self.time_kind_combo.blockSignals(False)
                self._changed()

    def _spec_edited(self, logical: str) -> None:
        if not self._filling:
            self._sync_combo(logical)
            self._changed()

    def _time_kind_changed(self, _index: int) -> None:
        if not self._filling:
            self._time_kind_touched = True
        self.time_key_edit.setEnabled(self.time_kind_combo.currentData() == "payload")
        self._changed()

    def _changed(self, *_args: Any) -> None:
        if self._filling:
            return
        self._token += 1  # whatever is in flight now describes an older mapping
        self.ok_button.setEnabled(False)
        try:
            self._layout = self.current_layout()
        except InspectorError as e:
            self._layout = None
            self._show_preview([], str(e), None)
            return
        self.save_button.setEnabled(True)
        self._set_status("Reading…")
        self._debounce.start()

    # -- the mapping ---------------------------------------------------------------------
    def mapping_document(self) -> dict[str, Any]:
        """The mapping as the TOML document ``load_mapping`` reads."""
        table = self.current_table()
        base = self._initial.to_mapping() if self._initial and table and self._initial.table.lower() == table.qualified.lower() else {}
        lay = dict(base.get("layout", {}))
        if not (self._initial and table and self._initial.table.lower() == table.qualified.lower()):
            lay.pop("joins", None)
            lay.pop("join_fields", None)
        name = self.name_edit.text().strip() or "custom"
        lay.update({
            "name": name,
            "title": lay.get("title") if base and name == self._initial.name else f"Mapping for {table.qualified if table else '?'}",
            "table": table.qualified if table else "",
            "time_kind": self.time_kind_combo.currentData(),
            "stream_separator": self.separator_edit.text() or "-",
            "version_base": self.version_base_spin.value(),
        })
        lay.setdefault("lineage", "ids")
        if self.time_kind_combo.currentData() == "payload":
            lay["time_payload_key"] = self.time_key_edit.text().strip() or "timestamp"
        else:
            lay.pop("time_payload_key", None)
        doc: dict[str, Any] = {"layout": lay,
                               "fields": {f: e.text().strip() for f, e in self.spec_edits.items() if e.text().strip()}}
        if "commands" in base:
            doc["commands"] = base["commands"]
        return doc

    def current_layout(self) -> Layout:
        """The mapping as edited, checked against the database's tables. Raises InspectorError
        (LayoutError / MappingFileError) with a message for the user."""
        if self.schema is None or self.current_table() is None:
            raise InspectorError("no table chosen")
        layout = layout_from_mapping(self.mapping_document(), source="mapping")
        return validate_layout(layout, self.schema)

    def result_layout(self) -> Layout | None:
        """The accepted mapping (also while the dialog is open, once it validates)."""
        return self._layout

    def candidate(self) -> LayoutCandidate:
        """The mapping as a candidate, its reasons saying where each field choice came from."""
        layout = self._layout or self.current_layout()
        prop = self.proposals.get(layout.table.lower())
        kept = {}
        for r in prop.reasons if prop else ():
            head = r.partition(":")[0]
            logical, _, spec = head.partition("=")
            kept[logical.strip()] = (spec.strip(), r)
        reasons = []
        for logical, ref in layout.fields.items():
            spec, why = kept.get(logical, (None, None))
            reasons.append(why if spec == ref.spec() else f"{logical} = {ref.spec()}: chosen in the mapping editor")
        return LayoutCandidate(layout, prop.confidence if prop else 1.0, tuple(reasons), "mapping")

    def save_mapping(self, path: str) -> None:
        """Write the mapping as TOML with comments on why each field is what it is."""
        from inspector.core.propose import mapping_header

        cand = self.candidate()
        cand.layout.save(path, header=mapping_header(cand, self.url).rstrip("\n"))
        self._set_status(f"Saved to {path}")

    def _save_clicked(self) -> None:
        table = self.current_table()
        default = f"{(table.name if table else 'mapping')}.mapping.toml"
        path, _ = QFileDialog.getSaveFileName(self, "Save mapping", default, "Mapping files (*.toml);;All files (*)")
        if path:
            try:
                self.save_mapping(path)
            except (OSError, InspectorError) as e:
                self._set_status(f"Could not save: {e}", error=True)

    # -- preview -------------------------------------------------------------------------
    def _run_preview(self) -> None:
        layout = self._layout
        if layout is None:
            return
        token = self._token
        if self._task is not None:
            self._task.cancel()
        self._task = self._runner.submit(
            preview_events, self.engine, layout, self.codecs, self.url, label="mapping preview", owner=self,
            on_finished=lambda result: self._preview_done(token, layout, result),
            on_error=lambda exc: self._preview_failed(token, exc),
        )

    def _preview_done(self, token: int, layout: Layout, result: tuple[list[RecordedEvent], str | None]) -> None:
        if token != self._token:
            return
        events, warning = result
        self._previewed = layout
        self._show_preview(events, None, warning)
        self.ok_button.setEnabled(True)

    def _preview_failed(self, token: int, exc: BaseException) -> None:
        if token != self._token or isinstance(exc, Cancelled):
            return
        self._show_preview([], self._explain(exc), None)

    def _explain(self, exc: BaseException) -> str:
        if isinstance(exc, InspectorError):
            return str(exc)
        return describe_error(exc, self.url)

    def _show_preview(self, events: list[RecordedEvent], error: str | None, warning: str | None) -> None:
        self.preview, self.preview_error, self.preview_warning = events, error, warning
        table = self.preview_table
        table.setRowCount(len(events))
        bad = QColor(255, 220, 220)
        for row, e in enumerate(events):
            values = (e.position, e.stream, e.version, e.type, e.recorded_at, e.decode_error, e.event_id,
                      e.causation_id, e.correlation_id, e.actor, e.data if e.data is not None else e.raw, e.metadata)
            for col, v in enumerate(values):
                item = QTableWidgetItem(_cell(v))
                if e.decode_error:
                    item.setBackground(bad)
                    item.setToolTip(e.decode_error)
                table.setItem(row, col, item)
        mapped = set(self._layout.fields) if self._layout is not None else set(FIELDS)
        any_errors = any(e.decode_error for e in events)
        for col, name in enumerate(PREVIEW_COLUMNS):
            if name == "decode error":
                table.setColumnHidden(col, not any_errors)
            else:
                table.setColumnHidden(col, {"data": "payload"}.get(name, name) not in mapped)
        table.resizeColumnsToContents()
        for col, name in enumerate(PREVIEW_COLUMNS[:-1]):
            table.setColumnWidth(col, min(table.columnWidth(col), 180 if name == "decode error" else 260))
        if error:
            self._set_status(error, error=True)
        else:
            errors = sum(1 for e in events if e.decode_error)
            text = f"{len(events)} event{'s' if len(events) != 1 else ''} read"
            text += f", {errors} with decode errors (red)" if errors else ", all decoded"
            if not events:
                text = "The table is empty: nothing to preview"
            self._set_status(text + (f"<br><span style='color:#b9770e'>⚠ {warning}</span>" if warning else ""), rich=True)
        self.sig_preview_ready.emit()

    def _set_status(self, text: str, error: bool = False, rich: bool = False) -> None:
        if error:
            self.status.setTextFormat(Qt.TextFormat.PlainText)
            self.status.setStyleSheet("color: #c0392b;")
        else:
            self.status.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
            self.status.setStyleSheet("")
        self.status.setText(text)

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().showEvent(ev)
        if not getattr(self, "_sized", False):  # the preview gets the room, once
            self._sized = True
            w = self._splitter.width()
            self._splitter.setSizes([int(w * 0.4), w - int(w * 0.4)])

    def accept(self) -> None:
        if self._layout is None or self._previewed != self._layout:
            return  # only a mapping the preview has read may be used
        super().accept()
