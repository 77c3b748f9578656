"""The mapping editor: say where each logical field of an event lives in a table the inspector does
not know, watch the first events decode through a real ``EventStore`` as you edit, and save the
result as the TOML mapping file the CLI reads (``--mapping``). The field rows are in
``mapping_fields``, the preview's reading and table in ``mapping_preview``; this is the dialog."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import Engine

from inspector.core.codecs import Codec
from inspector.core.connect import describe_error, redact
from inspector.core.detect import Detection, LayoutCandidate, validate_layout
from inspector.core.errors import InspectorError
from inspector.core.layout import Layout, layout_from_mapping
from inspector.core.model import RecordedEvent
from inspector.core.roles import MaskRule, Role
from inspector.core.schema import SchemaInfo, TableInfo, reflect

from .mapping_fields import EXPRESSION, FIELDS, FieldGrid, guess_time_kind
from .mapping_preview import PREVIEW_ROWS, PreviewTable, preview_events, preview_summary
from .workers import Cancelled, Task, TaskRunner

PREVIEW_DEBOUNCE_MS = 250


def engine_url(engine: Engine) -> str:
    """The URL a person would recognise: read-only SQLite engines carry ``file:…?mode=ro``."""
    u = engine.url
    db = u.database or ""
    if u.get_backend_name() == "sqlite" and db.startswith("file:"):
        return f"sqlite:///{db[len('file:'):].split('?', 1)[0]}"
    return u.render_as_string(hide_password=True)


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
        role: Role | str = Role.AUDITOR,
        masking_rules: Iterable[MaskRule] = (),
    ):
        super().__init__(parent)
        self.setObjectName("mappingEditor")
        self.setWindowTitle("Edit mapping")
        self.engine = engine
        self.codecs = list(codecs) if codecs is not None else None
        self.role, self.masking_rules = Role.parse(role), tuple(masking_rules)  # the preview's (core.roles)
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
        self.fields = FieldGrid()
        self.fields.sig_column_activated.connect(self._column_chosen)
        self.fields.sig_spec_edited.connect(self._spec_edited)
        self.column_combos, self.spec_edits = self.fields.column_combos, self.fields.spec_edits
        self.time_kind_combo, self.time_key_edit = self.fields.time_kind_combo, self.fields.time_key_edit
        self.time_kind_combo.currentIndexChanged.connect(self._time_kind_changed)
        self._time_kind_touched = False
        self.time_key_edit.textChanged.connect(self._changed)
        self.separator_edit = QLineEdit("-", objectName="separatorEdit", maxLength=4)
        self.separator_edit.setFixedWidth(40)
        self.separator_edit.textChanged.connect(self._changed)
        self.version_base_spin = QSpinBox(objectName="versionBaseSpin", minimum=0, maximum=1, value=1)
        self.version_base_spin.valueChanged.connect(self._changed)

        top = QFormLayout()
        top.addRow("Table", self.table_combo)
        top.addRow("Name", self.name_edit)

        extra = QHBoxLayout()
        extra.addWidget(QLabel("stream separator"))
        extra.addWidget(self.separator_edit)
        extra.addSpacing(16)
        extra.addWidget(QLabel("first version in a stream"))
        extra.addWidget(self.version_base_spin)
        extra.addStretch(1)
        self.fields.addLayout(extra, len(FIELDS) + 2, 0, 1, 3)

        fields_box = QGroupBox("Where each field lives")
        fields_layout = QVBoxLayout(fields_box)
        fields_layout.addLayout(top)
        fields_layout.addLayout(self.fields)
        fields_layout.addStretch(1)

        self.status = QLabel(objectName="previewStatus", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_table = PreviewTable(row_height=self.fontMetrics().height() + 6)
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
            self.fields.fill(table, layout)
            kind = layout.time_kind if layout else "timestamp"
            self.time_kind_combo.setCurrentIndex(max(0, self.time_kind_combo.findData(kind)))
            self._time_kind_touched = layout is not None
            self.time_key_edit.setEnabled(kind == "payload")
            self.time_key_edit.setText(layout.time_payload_key or "" if layout else "")
            self.separator_edit.setText(layout.stream_separator if layout else "-")
            self.version_base_spin.setValue(layout.version_base if layout else 1)
            if layout is not None and layout is self._initial:
                self.name_edit.setText(layout.name)
            self.fields.show_reasons(self.proposals.get(table.qualified.lower()))
        finally:
            self._filling = False
        self._changed()

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
            self.fields.sync_combo(logical)
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
            preview_events, self.engine, layout, self.codecs, self.url, self.role, self.masking_rules,
            label="mapping preview", owner=self,
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
        self.preview_table.show_events(events, set(self._layout.fields) if self._layout is not None else set(FIELDS))
        if error:
            self._set_status(error, error=True)
        else:
            self._set_status(preview_summary(events, warning), rich=True)
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
