"""What the preview dialog shows of a ``ReplayPlan``: event sets (counts by type, stream and actor,
and the listed events), orphans, and per-projection state diffs with added rows, removed rows and
changed cells in their own colours. Plain Qt models over the plan's frozen values: nothing here
queries the store."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoints import parse_iso
from inspector.core.errors import InspectorError
from inspector.core.replay_values import EventSet, OrphanSet, ProjectionDiff

from .tables import style_table
from .frame_model import ADDED, CHANGED, GONE, INK, display

EVENT_COLUMNS = ("#", "Time", "Stream", "Type", "Actor", "Correlation")
COUNT_ROWS = 500  # rows per "by ..." count table; the rest are summed in one line
KIND_TEXT = {"added": "added", "removed": "removed", "changed": "changed"}
KIND_COLOR = {"added": ADDED, "removed": GONE, "changed": CHANGED}
MAX_COLUMN_PX = 260


def plural(n: int | None, word: str) -> str:
    if n is None:
        return f"? {word}s"
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def time_text(value: str | None) -> str:
    """An ISO time from a plan, in local time like the event table."""
    if not value:
        return ""
    try:
        return display(parse_iso(value))
    except InspectorError:
        return str(value)


class _Table(QAbstractTableModel):
    """A read-only table of ``rows`` under ``columns`` headers, rows selectable."""

    columns: Sequence[str] = ()
    rows: Sequence[Any] = ()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt name
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802 - Qt name
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.columns):
            return self.columns[section]
        return None

    def flags(self, index: QModelIndex):
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable if index.isValid() else Qt.NoItemFlags


class RowsModel(_Table):
    """A read-only table over a list of tuples; numbers right-aligned."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]] = (), parent=None,
                 tooltips: Sequence[str | None] | None = None):
        super().__init__(parent)
        self.columns = tuple(columns)
        self.rows = [tuple(r) for r in rows]
        self.tooltips = list(tooltips) if tooltips is not None else None

    def set_rows(self, rows: Sequence[Sequence[Any]], tooltips: Sequence[str | None] | None = None) -> None:
        self.beginResetModel()
        self.rows = [tuple(r) for r in rows]
        self.tooltips = list(tooltips) if tooltips is not None else None
        self.endResetModel()

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.DisplayRole:
            return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) and index.column() else (
                str(value) if isinstance(value, int) else display(value))
        if role == Qt.TextAlignmentRole:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            return int((Qt.AlignRight if numeric else Qt.AlignLeft) | Qt.AlignVCenter)
        if role == Qt.ToolTipRole:
            if self.tooltips is not None and self.tooltips[index.row()]:
                return self.tooltips[index.row()]
            return display(value) or None
        return None


def make_table(name: str, model: QAbstractTableModel, parent: QWidget, alternating: bool = True) -> QTableView:
    t = QTableView(parent)
    t.setObjectName(name)
    t.setModel(model)
    return style_table(t, alternating=alternating)


def fit_columns(table: QTableView, limit: int = MAX_COLUMN_PX) -> None:
    table.resizeColumnsToContents()
    h = table.horizontalHeader()
    for c in range(h.count()):
        if h.sectionSize(c) > limit:
            h.resizeSection(c, limit)


def _titled(title: str, widget: QWidget, parent: QWidget) -> QWidget:
    box = QWidget(parent)
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    label = QLabel(title, box)
    label.setObjectName("sectionTitle")
    lay.addWidget(label)
    lay.addWidget(widget, 1)
    return box


def count_rows(counts, limit: int = COUNT_ROWS) -> list[tuple[str, int]]:
    rows = [(name, n) for name, n in counts[:limit]]
    rest = counts[limit:]
    if rest:
        rows.append((f"… {len(rest):,} more", sum(n for _, n in rest)))
    return rows


def event_rows(events) -> list[tuple]:
    return [(e.position, time_text(e.recorded_at), e.stream or "", e.type or "", e.actor or "",
             e.correlation_id or "") for e in events]


class EventSetView(QWidget):
    """An ``EventSet``: counts by type, stream and actor side by side over the listed events.
    Double-clicking an event asks for it to be shown (``sig_event_activated``)."""

    sig_event_activated = Signal(int)

    def __init__(self, name: str, parent: QWidget | None = None, extra_columns: Sequence[str] = ()):
        super().__init__(parent)
        self.setObjectName(name)
        self.event_set: EventSet | None = None
        self.explanation = QLabel(self)
        self.explanation.setObjectName("previewExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.hide()
        self.count_models = {f: RowsModel((f.capitalize(), "Events"), parent=self) for f in ("type", "stream", "actor")}
        self.count_tables = {f: make_table(f"{name}By{f.capitalize()}", m, self) for f, m in self.count_models.items()}
        self.events_model = RowsModel(EVENT_COLUMNS + tuple(extra_columns), parent=self)
        self.events_table = make_table(f"{name}Events", self.events_model, self)
        self.events_table.doubleClicked.connect(self._activated)
        self.events_table.setToolTip("double-click an event to show it in the main window")
        self.footer = QLabel(self)
        self.footer.setObjectName("previewFooter")
        self.footer.setForegroundRole(QPalette.PlaceholderText)

        counts = QWidget(self)
        row = QHBoxLayout(counts)
        row.setContentsMargins(0, 0, 0, 0)
        for f, t in self.count_tables.items():
            row.addWidget(_titled(f"By {f}", t, counts), 1)
        split = QSplitter(Qt.Vertical, self)
        split.addWidget(counts)
        split.addWidget(_titled("Events", self.events_table, split))
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 4)
        lay.setSpacing(4)
        lay.addWidget(self.explanation)
        lay.addWidget(split, 1)
        lay.addWidget(self.footer)

    def set_explanation(self, text: str) -> None:
        self.explanation.setText(text)
        self.explanation.setVisible(bool(text))

    def set_events(self, es: EventSet | None) -> None:
        self.event_set = es
        if es is None:
            for m in self.count_models.values():
                m.set_rows([])
            self.events_model.set_rows([])
            self.footer.setText("")
            return
        for f, m in self.count_models.items():
            m.set_rows(count_rows(getattr(es, f"by_{f}")))
            fit_columns(self.count_tables[f])
        self.events_model.set_rows(event_rows(es.events))
        fit_columns(self.events_table)
        listed = len(es.events)
        self.footer.setText(f"{plural(es.count, 'event')}" + (f" · the first {listed:,} listed" if es.capped else ""))

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_event_activated.emit(int(self.events_model.rows[index.row()][0]))


class OrphansView(QWidget):
    """An ``OrphanSet``: the explanation (why none could be traced, or what orphans are) and the
    list, each with the left-out event it descends from."""

    sig_event_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("previewOrphans")
        self.orphans: OrphanSet | None = None
        self.explanation = QLabel(self)
        self.explanation.setObjectName("orphansExplanation")
        self.explanation.setWordWrap(True)
        self.model = RowsModel(EVENT_COLUMNS + ("Caused by",), parent=self)
        self.table = make_table("orphansTable", self.model, self)
        self.table.doubleClicked.connect(
            lambda i: self.sig_event_activated.emit(int(self.model.rows[i.row()][0])) if i.isValid() else None)
        self.footer = QLabel(self)
        self.footer.setForegroundRole(QPalette.PlaceholderText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 4)
        lay.setSpacing(4)
        lay.addWidget(self.explanation)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.footer)

    def set_orphans(self, o: OrphanSet) -> None:
        self.orphans = o
        base = ("Orphans are events the replay keeps although an event they descend from (by causation) is "
                "left out: they would stand without their cause.")
        if not o.traced:
            text = f"Not traced: {o.explanation}" if o.explanation else "Lineage was not traced."
        elif o.count == 0:
            text = base + " None here: nothing kept descends from a left-out event."
        else:
            text = base + (f"\n{o.explanation}" if o.explanation else "")
        self.explanation.setText(text)
        self.model.set_rows([r + (e.caused_by or "",) for r, e in zip(event_rows(o.events), o.events)])
        fit_columns(self.table)
        self.footer.setText(plural(o.count, "orphan") + (f" · the first {len(o.events):,} listed" if o.capped else "")
                            if o.traced else "")


class DiffModel(_Table):
    """One projection's diff as rows: rows the plan adds, rows it removes (whole rows), then
    changed rows (only their changed cells, "now → after"); each kind in its own colour. Columns:
    the change, the key, then the fields in order of first appearance."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.diff: ProjectionDiff | None = None
        self.columns: list[str] = []
        self.rows: list[tuple[str, str, dict[str, Any]]] = []  # (kind, key, {field: value | (old, new)})

    def set_diff(self, d: ProjectionDiff | None) -> None:
        self.beginResetModel()
        self.diff = d
        self.rows, fields = [], {}
        if d is not None:
            changed: dict[str, dict[str, Any]] = {}
            for c in d.changed:
                changed.setdefault(c["key"], {})[c["field"]] = (c.get("old"), c.get("new"))
                fields.setdefault(c["field"], None)
            for kind, rows in (("added", d.added), ("removed", d.removed)):
                for r in rows:
                    self.rows.append((kind, r["key"], dict(r["values"])))
                    for f in r["values"]:
                        fields.setdefault(f, None)
            self.rows += [("changed", k, cells) for k, cells in changed.items()]
        self.columns = ["change", "key"] + [f for f in fields if f != "key"]
        self.endResetModel()

    def kind_at(self, row: int) -> str:
        return self.rows[row][0]

    def mark(self, row: int, col: int) -> str | None:
        """The colour a cell takes: its row's kind for added/removed rows (whole row), "changed"
        for the changed cells of a changed row, None elsewhere."""
        kind, _key, cells = self.rows[row]
        if kind != "changed" or col == 0:
            return kind
        return "changed" if col >= 2 and self.columns[col] in cells else None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        r, c = index.row(), index.column()
        kind, key, cells = self.rows[r]
        if role == Qt.DisplayRole:
            if c == 0:
                return KIND_TEXT[kind]
            if c == 1:
                return key
            f = self.columns[c]
            if f not in cells:
                return None
            if kind == "changed":
                old, new = cells[f]
                return f"{display(old) or '∅'} → {display(new) or '∅'}"
            return display(cells[f])
        if role == Qt.BackgroundRole:
            m = self.mark(r, c)
            return KIND_COLOR[m] if m else None
        if role == Qt.ForegroundRole:
            return INK if self.mark(r, c) else None
        if role == Qt.FontRole and c == 1:
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.ToolTipRole:
            if c == 0:
                return {"added": "a row only the replay would have", "removed": "a row the replay would not have",
                        "changed": "a row whose coloured cells the replay would change"}[kind]
            f = self.columns[c] if c >= 2 else None
            if kind == "changed" and f in cells:
                old, new = cells[f]
                return f"{key}.{f}\nnow: {display(old) or '(none)'}\nafter: {display(new) or '(none)'}"
            return None
        return None


def diff_summary(d: ProjectionDiff, short: bool = False) -> str:
    """What changes in one projection: "208 rows changed (409 cells), −5 rows" (``short``: "208
    changed (409 cells) · −5")."""
    if d.method == "not_computed":
        return "not computed"
    parts = []
    if d.rows_changed:
        rows = f"{d.rows_changed:,} changed" if short else f"{plural(d.rows_changed, 'row')} changed"
        parts.append(f"{rows} ({plural(d.cells_changed, 'cell')})")
    if d.rows_added:
        parts.append(f"+{d.rows_added:,}" if short else f"+{plural(d.rows_added, 'row')}")
    if d.rows_removed:
        parts.append(f"−{d.rows_removed:,}" if short else f"−{plural(d.rows_removed, 'row')}")
    return (" · " if short else ", ").join(parts) if parts else "no change"


def _chip(text: str, color, parent: QWidget) -> QLabel:
    chip = QLabel(text, parent)
    chip.setStyleSheet(f"background: {color.name()}; color: {INK.name()}; border-radius: 3px; padding: 1px 6px;")
    return chip


def projection_list(name: str, parent: QWidget, on_chosen) -> QListWidget:
    """The list of read models down the left of a per-projection view; ``on_chosen(row)``."""
    lst = QListWidget(parent)
    lst.setObjectName(name)
    lst.setSpacing(2)
    lst.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    lst.currentRowChanged.connect(on_chosen)
    return lst


def note_label(name: str, parent: QWidget) -> QLabel:
    """The note shown instead of a table (why it was not computed)."""
    note = QLabel(parent)
    note.setObjectName(name)
    note.setWordWrap(True)
    note.setAlignment(Qt.AlignTop | Qt.AlignLeft)
    return note


def list_beside(view: QWidget, lst: QListWidget, right: QWidget, list_width: int) -> QSplitter:
    """``lst`` (``list_width`` wide at first) beside ``right``, which takes what room there is, as
    the whole of ``view``."""
    split = QSplitter(Qt.Horizontal, view)
    split.addWidget(lst)
    split.addWidget(right)
    split.setStretchFactor(0, 0)
    split.setStretchFactor(1, 1)
    split.setSizes([list_width, 800])
    split.setChildrenCollapsible(False)
    lay = QVBoxLayout(view)
    lay.setContentsMargins(6, 6, 6, 4)
    lay.addWidget(split, 1)
    return split


class DiffView(QWidget):
    """The state diff of every projection: the list of projections (with what changes in each)
    and the selected one's diff, or the note saying why it was not computed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("previewDiff")
        self.diffs: tuple[ProjectionDiff, ...] = ()
        self.list = projection_list("diffProjections", self, self._chosen)
        self.list.setWordWrap(True)
        self.list.setToolTip("rows changed (cells) · rows added · rows removed, from now to after the replay")
        self.title = QLabel(self)
        self.title.setObjectName("diffTitle")
        self.title.setWordWrap(True)
        self.model = DiffModel(self)
        self.table = make_table("diffTable", self.model, self, alternating=False)
        self.note = note_label("diffNote", self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.note)
        self.footer = QLabel(self)
        self.footer.setForegroundRole(QPalette.PlaceholderText)

        legend = QHBoxLayout()
        legend.setContentsMargins(0, 0, 0, 0)
        legend.addWidget(self.title, 1)
        for text, color in (("changed cell: now → after", CHANGED), ("added row", ADDED), ("removed row", GONE)):
            legend.addWidget(_chip(text, color, self))
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(4)
        rl.addLayout(legend)
        rl.addWidget(self.stack, 1)
        rl.addWidget(self.footer)
        list_beside(self, self.list, right, 250)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(1000, 420)

    def set_diffs(self, diffs: Sequence[ProjectionDiff], titles: dict[str, str] | None = None,
                  prefer: str | None = None) -> None:
        """Show these diffs; ``prefer`` (a projection name) is selected first, else the first
        projection with changes."""
        self.diffs = tuple(diffs)
        titles = titles or {}
        self.list.blockSignals(True)
        self.list.clear()
        for d in self.diffs:
            item = QListWidgetItem(f"{titles.get(d.projection, d.projection)}\n{diff_summary(d, short=True)}")
            item.setData(Qt.UserRole, d.projection)
            item.setToolTip(d.note or f"method: {d.method}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [d.projection for d in self.diffs]
        pick = names.index(prefer) if prefer in names else next(
            (i for i, d in enumerate(self.diffs) if d.method == "not_computed" or d.rows_changed or d.rows_added
             or d.rows_removed), 0)
        if self.diffs:
            self.list.setCurrentRow(pick)
            self._chosen(pick)
        else:
            self.model.set_diff(None)
            self.title.setText("No read models to diff (no projections are installed).")

    def select(self, projection: str) -> bool:
        for i, d in enumerate(self.diffs):
            if d.projection == projection:
                self.list.setCurrentRow(i)
                return True
        return False

    def current(self) -> ProjectionDiff | None:
        row = self.list.currentRow()
        return self.diffs[row] if 0 <= row < len(self.diffs) else None

    def _chosen(self, row: int) -> None:
        d = self.diffs[row] if 0 <= row < len(self.diffs) else None
        if d is None:
            return
        self.title.setText(f"<b>{d.projection}</b> · from now (head) to after the replay · {diff_summary(d)}")
        if d.method == "not_computed":
            self.model.set_diff(None)
            self.note.setText(f"Not computed: {d.note or 'no reason given'}")
            self.stack.setCurrentWidget(self.note)
            self.footer.setText("")
            return
        self.model.set_diff(d)
        fit_columns(self.table)
        self.stack.setCurrentWidget(self.table)
        how = "read from the history" if d.method == "history" else f"recomputed {plural(d.keys_recomputed, 'row')}"
        capped = " · lists capped: the counts are exact, the rows shown are the first of each kind" if d.capped else ""
        self.footer.setText(f"{how}{capped}")
