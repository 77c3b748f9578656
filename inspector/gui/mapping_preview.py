"""The mapping editor's preview: the first events read through a mapping as it is edited (on a
worker, through a real ``EventStore``), a warning when the database reads their times as nonsense,
and the table that shows them decoded, decode errors in red."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Sequence

from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget
from sqlalchemy.engine import Engine

from inspector.core.codecs import Codec, CodecPipeline
from inspector.core.connect import describe_error
from inspector.core.layout import Layout
from inspector.core.model import EventFilter, RecordedEvent
from inspector.core.roles import MaskRule, Role, RoleStore

PREVIEW_ROWS = 20
PLAUSIBLE_EPOCH = (631152000.0, 4102444800.0)  # 1990 .. 2100: outside, the time kind is surely wrong
PREVIEW_COLUMNS = ("position", "stream", "version", "type", "recorded_at", "decode error", "event_id",
                   "causation_id", "correlation_id", "actor", "data", "metadata")


def preview_events(engine: Engine, layout: Layout, codecs: Sequence[Codec] | None, name: str = "",
                   role: Role | str = Role.AUDITOR, masking_rules: Iterable[MaskRule] = ()
                   ) -> tuple[list[RecordedEvent], str | None]:
    """The first events read through ``layout`` (as ``role`` may see them) and a warning when the
    database cannot read its times (the timeline and time filters would be empty). Runs on a
    worker thread."""
    store = RoleStore(engine, layout, CodecPipeline(codecs) if codecs is not None else CodecPipeline(), name,
                      role, masking_rules)
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


def preview_summary(events: list[RecordedEvent], warning: str | None) -> str:
    """The line above the preview (rich text): how many events were read and decoded, and the warning."""
    errors = sum(1 for e in events if e.decode_error)
    text = f"{len(events)} event{'s' if len(events) != 1 else ''} read"
    text += f", {errors} with decode errors (red)" if errors else ", all decoded"
    if not events:
        text = "The table is empty: nothing to preview"
    return text + (f"<br><span style='color:#b9770e'>⚠ {warning}</span>" if warning else "")


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


class PreviewTable(QTableWidget):
    """Previewed events, one row each, in a fixed-width font; only the columns of mapped fields
    (and "decode error" when some event has one) are shown."""

    def __init__(self, parent: QWidget | None = None, *, row_height: int | None = None, objectName: str = "previewTable"):  # noqa: N803 - Qt's spelling
        super().__init__(0, len(PREVIEW_COLUMNS), parent, objectName=objectName)
        self.setHorizontalHeaderLabels(list(PREVIEW_COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(row_height or self.fontMetrics().height() + 6)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setStretchLastSection(True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

    def show_events(self, events: list[RecordedEvent], mapped: set[str]) -> None:
        """Show ``events``; ``mapped`` are the logical fields the mapping reads (their columns show)."""
        self.setRowCount(len(events))
        bad = QColor(255, 220, 220)
        for row, e in enumerate(events):
            values = (e.position, e.stream, e.version, e.type, e.recorded_at, e.decode_error, e.event_id,
                      e.causation_id, e.correlation_id, e.actor, e.data if e.data is not None else e.raw, e.metadata)
            for col, v in enumerate(values):
                item = QTableWidgetItem(_cell(v))
                if e.decode_error:
                    item.setBackground(bad)
                    item.setToolTip(e.decode_error)
                self.setItem(row, col, item)
        any_errors = any(e.decode_error for e in events)
        for col, name in enumerate(PREVIEW_COLUMNS):
            if name == "decode error":
                self.setColumnHidden(col, not any_errors)
            else:
                self.setColumnHidden(col, {"data": "payload"}.get(name, name) not in mapped)
        self.resizeColumnsToContents()
        for col, name in enumerate(PREVIEW_COLUMNS[:-1]):
            self.setColumnWidth(col, min(self.columnWidth(col), 180 if name == "decode error" else 260))
