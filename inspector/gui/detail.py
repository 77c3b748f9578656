"""The event detail panel: who/what/when of one event, its payload and metadata as JSON trees, the
stored bytes on demand ("Raw"), and a red banner when the payload could not be decoded."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.model import RecordedEvent

from .event_model import local_time

#: Trees with more nodes than this open only their first level (big payloads stay quick).
EXPAND_ALL_LIMIT = 300
RAW_LIMIT = 64 * 1024


def hex_dump(raw: bytes, limit: int = RAW_LIMIT, width: int = 16) -> str:
    """Offset, ``width`` bytes in hex, and their printable ASCII, one line per ``width`` bytes."""
    lines = []
    digits = max(4, len(f"{min(len(raw), limit):x}"))
    for off in range(0, min(len(raw), limit), width):
        chunk = raw[off : off + width]
        hx = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:0{digits}x}  {hx:<{width * 3 - 1}}  {text}")
    if len(raw) > limit:
        lines.append(f"… {len(raw) - limit:,} more bytes")
    return "\n".join(lines)


def raw_text(raw: bytes | str | None, columns: int = 80) -> str:
    """What the Raw view shows: text as stored, bytes as a hex dump that fits ``columns``."""
    if raw is None:
        return "(nothing stored)"
    if isinstance(raw, str):
        return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT] + f"\n… {len(raw) - RAW_LIMIT:,} more characters"
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        # the driver decoded it already (jsonb): show what it gave us
        return json.dumps(raw, indent=2, ensure_ascii=False, default=str)
    raw = bytes(raw)
    return f"{len(raw):,} bytes\n\n" + hex_dump(raw, width=16 if columns >= 76 else 8)


def _scalar(v: Any) -> tuple[str, str]:
    """(text, kind) for a leaf value."""
    if v is None:
        return "null", "null"
    if isinstance(v, bool):
        return ("true" if v else "false"), "bool"
    if isinstance(v, (int, float)):
        return repr(v), "number"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False), "string"
    return str(v), type(v).__name__


def _offset(t) -> str:
    """The local zone's offset at ``t`` as +HH:MM."""
    z = t.astimezone().strftime("%z")
    return f"{z[:3]}:{z[3:]}" if len(z) == 5 else z


class JsonTree(QTreeWidget):
    """A JSON value as an expandable tree: key | value, containers summarised ("{3}", "[12]")."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setColumnCount(2)
        self.setHeaderLabels(["Key", "Value"])
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        h = self.header()
        h.setStretchLastSection(True)
        h.setSectionResizeMode(0, QHeaderView.Interactive)
        h.resizeSection(0, 150)
        self.nodes = 0

    def set_value(self, value: Any, empty: str = "(none)") -> None:
        self.clear()
        self.nodes = 0
        if value is None:
            item = QTreeWidgetItem(self, [empty, ""])
            item.setForeground(0, Qt.gray)
            item.setFirstColumnSpanned(True)
            return
        if isinstance(value, (dict, list)):
            self._fill(self.invisibleRootItem(), value)
        else:
            text, _kind = _scalar(value)
            QTreeWidgetItem(self, ["(value)", text if len(text) < 4000 else text[:4000] + "…"])
        if self.nodes <= EXPAND_ALL_LIMIT:
            self.expandAll()
        else:
            self.expandToDepth(0)
        self.resizeColumnToContents(0)
        if self.columnWidth(0) > 240:
            self.setColumnWidth(0, 240)

    def visible_rows(self) -> int:
        """Rows shown with the current expansion (for sharing height with a sibling tree)."""
        n, stack = 0, [self.invisibleRootItem()]
        while stack and n < 1000:
            item = stack.pop()
            for i in range(item.childCount()):
                child = item.child(i)
                n += 1
                if child.isExpanded():
                    stack.append(child)
        return n

    def _fill(self, parent: QTreeWidgetItem, value: Any) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            self.nodes += 1
            key = str(k) if isinstance(value, dict) else f"[{k}]"
            if isinstance(v, dict):
                item = QTreeWidgetItem(parent, [key, f"{{{len(v)}}}"])
                item.setForeground(1, Qt.gray)
                self._fill(item, v)
            elif isinstance(v, list):
                item = QTreeWidgetItem(parent, [key, f"[{len(v)}]"])
                item.setForeground(1, Qt.gray)
                self._fill(item, v)
            else:
                text, kind = _scalar(v)
                item = QTreeWidgetItem(parent, [key, text])
                item.setData(1, Qt.UserRole, kind)
                item.setToolTip(1, text if len(text) < 2000 else text[:2000] + "…")


class DetailPanel(QWidget):
    """``show_event(event)`` fills the panel; ``show_event(None)`` shows a hint instead."""

    FIELDS = (
        ("position", "Position"),
        ("stream", "Stream"),
        ("type", "Type"),
        ("time", "Time"),
        ("actor", "Actor"),
        ("correlation", "Correlation"),
        ("causation", "Causation"),
        ("event_id", "Event id"),
        ("encoding", "Encoding"),
    )

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("detailPanel")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.current: RecordedEvent | None = None

        self.title = QLabel("Event", self)
        self.title.setObjectName("detailTitle")
        self.raw_button = QToolButton(self)
        self.raw_button.setObjectName("rawButton")
        self.raw_button.setText("Raw")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip("show the payload as stored (hex for bytes)")
        self.raw_button.toggled.connect(self._show_raw)
        self.copy_button = QToolButton(self)
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setText("Copy JSON")
        self.copy_button.setToolTip("copy the event as JSON (the CLI's row format)")
        self.copy_button.clicked.connect(self.copy_json)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.copy_button)
        top.addWidget(self.raw_button)

        self.banner = QLabel(self)
        self.banner.setObjectName("decodeErrorBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.banner.hide()

        header = QFrame(self)
        header.setObjectName("detailHeader")
        grid = QGridLayout(header)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QLineEdit] = {}
        for r, (key, caption) in enumerate(self.FIELDS):
            cap = QLabel(caption, header)
            cap.setObjectName("detailCaption")
            # read-only line edits: ids too long for the panel scroll instead of being cut, and
            # can be selected and copied
            val = QLineEdit(header)
            val.setObjectName(f"detail_{key}")
            val.setProperty("detailValue", True)
            val.setReadOnly(True)
            val.setFrame(False)
            val.setMinimumWidth(10)
            grid.addWidget(cap, r, 0, Qt.AlignRight | Qt.AlignVCenter)
            grid.addWidget(val, r, 1)
            self.values[key] = val
        grid.setColumnStretch(1, 1)

        self.payload_tree = JsonTree("payloadTree", self)
        self.metadata_tree = JsonTree("metadataTree", self)
        self.trees = trees = QSplitter(Qt.Vertical, self)
        trees.setObjectName("detailTrees")
        trees.addWidget(self._titled("Payload", self.payload_tree))
        trees.addWidget(self._titled("Metadata", self.metadata_tree))
        trees.setStretchFactor(0, 3)
        trees.setStretchFactor(1, 1)
        trees.setChildrenCollapsible(False)
        self.raw_view = QPlainTextEdit(self)
        self.raw_view.setObjectName("rawView")
        self.raw_view.setReadOnly(True)
        self.raw_view.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.raw_view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.stack = QStackedWidget(self)
        self.stack.addWidget(trees)
        self.stack.addWidget(self.raw_view)

        self.hint = QLabel("Select an event to see its payload, metadata and lineage ids.", self)
        self.hint.setObjectName("detailHint")
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)

        self.body = QWidget(self)
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(6)
        body.addWidget(self.banner)
        body.addWidget(header)
        body.addWidget(self.stack, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.setSpacing(6)
        lay.addLayout(top)
        lay.addWidget(self.hint, 1)
        lay.addWidget(self.body, 1)
        self.show_event(None)

    def _titled(self, caption: str, w: QWidget) -> QWidget:
        box = QWidget(self)
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        label = QLabel(caption, box)
        label.setObjectName("sectionTitle")
        v.addWidget(label)
        v.addWidget(w, 1)
        return box

    def show_event(self, e: RecordedEvent | None) -> None:
        self.current = e
        has = e is not None
        self.hint.setVisible(not has)
        self.body.setVisible(has)
        self.raw_button.setEnabled(has)
        self.copy_button.setEnabled(has)
        if e is None:
            self.title.setText("Event")
            self.banner.hide()
            return
        self.title.setText(f"Event #{e.position}")
        version = f"@{e.version}" if e.version is not None else ""
        local = local_time(e.recorded_at)
        values = {
            "position": str(e.position),
            "stream": f"{e.stream or '—'}{version}",
            "type": e.type or "—",
            "time": f"{local} {_offset(e.recorded_at)}" if e.recorded_at else "—",
            "actor": e.actor or "—",
            "correlation": e.correlation_id or "—",
            "causation": e.causation_id or "—",
            "event_id": e.event_id or "—",
            "encoding": e.encoding or "—",
        }
        for key, text in values.items():
            self.values[key].setText(text)
            self.values[key].setCursorPosition(0)
            self.values[key].setToolTip(text)
        if e.recorded_at:
            self.values["time"].setToolTip(f"{e.recorded_at.isoformat()} (UTC)")
        if e.decode_error:
            self.banner.setText(f"⚠  Payload could not be decoded: {e.decode_error}")
            self.banner.show()
        else:
            self.banner.hide()
        self.payload_tree.set_value(e.data, "(undecodable — see Raw)" if e.decode_error else "(no payload)")
        self.metadata_tree.set_value(e.metadata, "(no metadata)")
        self._share_height()
        fm = self.raw_view.fontMetrics()
        columns = max(1, self.raw_view.viewport().width()) // max(1, fm.horizontalAdvance("0"))
        self.raw_view.setLineWrapMode(QPlainTextEdit.WidgetWidth if isinstance(e.raw, str) else QPlainTextEdit.NoWrap)
        self.raw_view.setPlainText(raw_text(e.raw, columns))
        self._show_raw(self.raw_button.isChecked())

    def _share_height(self) -> None:
        """Split the height between payload and metadata by how many rows each shows."""
        rows = [max(2, t.visible_rows()) + 2 for t in (self.payload_tree, self.metadata_tree)]
        total = sum(self.trees.sizes()) or 400
        pay = max(total * 0.35, min(total * 0.8, total * rows[0] / sum(rows)))
        self.trees.setSizes([int(pay), int(total - pay)])

    def _show_raw(self, on: bool) -> None:
        self.stack.setCurrentIndex(1 if on else 0)

    def copy_json(self) -> None:
        if self.current is not None:
            QGuiApplication.clipboard().setText(
                json.dumps(self.current.to_json(), indent=2, ensure_ascii=False, default=str)
            )
