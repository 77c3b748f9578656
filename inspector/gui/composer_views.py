"""What the composer shows of a ``CompensationPlan`` and its ``Speculation``: the steps as a table,
and per read model the residual (cells where the speculative result still differs from the replay
plan's target, rows missing or extra) next to the resulting rows. Plain Qt models over frozen
values; nothing here reads the store."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.compensate import CompensationPlan, Residual, Speculation
from inspector.core.replay_values import same_value

from .frame_model import ADDED, CHANGED, GONE, INK, display
from .preview_views import (RowsModel, _chip, _Table, _titled, fit_columns, list_beside, make_table, note_label, plural,
                            projection_list)

STEP_COLUMNS = ("#", "Command", "Stream", "Expected version", "Compensates", "Origin", "Reason")
RESIDUAL_COLUMNS = ("Residual", "Key", "Field", "Result (after the plan)", "Target (after the replay)")
OK_STYLE = "color: #1b5e20; font-weight: 600;"
WARN_STYLE = "color: #8a4b00; font-weight: 600;"
NOTE_STYLE = "color: #5f5f5f; font-weight: 600;"
RESIDUAL_TEXT = {"cell": "differs", "missing": "row missing", "extra": "row extra"}
RESIDUAL_COLOR = {"cell": GONE, "missing": GONE, "extra": GONE}  # as "still differs" in the resulting rows


def step_rows(plan: CompensationPlan | None) -> tuple[list[tuple], list[str]]:
    """(rows, tooltips) of the steps table."""
    rows, tips = [], []
    for s in plan.steps if plan is not None else ():
        ev = "new stream" if s.expected_version is None else s.expected_version
        rows.append((s.index, s.command, s.stream, ev, len(s.compensates), s.origin, s.reason))
        events = ", ".join(e.type for e in s.events)
        tips.append(f"{s.command} on {s.stream}: appends {events}\n"
                    + (f"compensates {', '.join(s.compensates)}\n" if s.compensates else "compensates no event\n")
                    + (f"proposed by {s.plugin}\n" if s.plugin else "")
                    + f"idempotency key {s.idempotency_key[:16]}…")
    return rows, tips


def residual_summary(r: Residual, short: bool = False) -> str:
    """"empty", "3 cells differ · 1 row missing", or "not computed"."""
    if not r.computed:
        return "not computed"
    if r.empty:
        return "✓ empty" if short else "empty"
    parts = []
    if r.cells:
        parts.append(f"{plural(len(r.cells), 'cell')} {'differ' if len(r.cells) != 1 else 'differs'}")
    if r.missing:
        parts.append(f"{plural(len(r.missing), 'row')} missing")
    if r.extra:
        parts.append(f"{plural(len(r.extra), 'row')} extra")
    return " · ".join(parts)


def residual_headline(r: Residual, title: str | None = None) -> tuple[str, str]:
    """(text, style) of the sentence over one read model's residual."""
    name = title or r.projection
    if not r.computed:
        return f"Residual on {name}: not computed — {r.note or 'no reason given'}", NOTE_STYLE
    if r.empty:
        return f"Residual: empty — the compensation fully reverts the plan's changes on {name}", OK_STYLE
    return (f"Residual on {name}: {residual_summary(r)} — the compensation does not fully revert the plan's "
            "changes here", WARN_STYLE)


def speculation_summary(s: Speculation) -> str:
    """One line over every read model: where the residual is empty, where it is not."""
    empty = [r.projection for r in s.residuals if r.empty]
    differs = [f"{r.projection} ({residual_summary(r)})" for r in s.residuals if r.computed and not r.empty]
    unknown = [r.projection for r in s.residuals if not r.computed]
    parts = [f"{plural(len(s.events), 'event')} would be appended"]
    if empty:
        parts.append("residual empty on " + ", ".join(empty))
    if differs:
        parts.append("residual on " + ", ".join(differs))
    if unknown:
        parts.append("not computed on " + ", ".join(unknown))
    return " · ".join(parts) + "".join(f"\n{n}" for n in getattr(s, "notes", ()))


class ResidualModel(_Table):
    """One residual as rows: differing cells, then missing rows, then extra rows."""

    columns = RESIDUAL_COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, str, str, Any, Any]] = []

    def set_residual(self, r: Residual | None) -> None:
        self.beginResetModel()
        self.rows = []
        if r is not None and r.computed:
            self.rows += [("cell", c["key"], c["field"], c.get("result"), c.get("target")) for c in r.cells]
            self.rows += [("missing", k, "", "(no row)", "a row") for k in r.missing]
            self.rows += [("extra", k, "", "a row", "(no row)") for k in r.extra]
        self.endResetModel()

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        kind, key, f, result, target = self.rows[index.row()]
        c = index.column()
        if role == Qt.DisplayRole:
            if c == 0:
                return RESIDUAL_TEXT[kind]
            value = (key, f, result, target)[c - 1]
            return display(value) or ("∅" if c >= 3 else "")
        if role == Qt.BackgroundRole and c in (0, 3):
            return RESIDUAL_COLOR[kind]
        if role == Qt.ForegroundRole and c in (0, 3):
            return INK
        if role == Qt.FontRole and c == 1:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ToolTipRole:
            return f"{key}.{f}\nafter the plan: {display(result) or '(none)'}\nthe target: {display(target) or '(none)'}" \
                if kind == "cell" else {"missing": "the replay keeps this row; after the plan it is gone",
                                        "extra": "after the plan this row exists; the replay has none"}[kind]
        return None


class ResultModel(_Table):
    """The rows after the plan (key, then fields in order of first appearance), against the rows
    now: cells the plan changes read "now → after" in the changed colour, rows it creates are in
    the added colour, and cells still differing from the replay's target in the removed colour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: list[str] = ["key"]
        self.rows: list[tuple[str, Mapping[str, Any]]] = []
        self.head: Mapping[str, Mapping[str, Any]] = {}
        self.residual: dict[tuple[str, str], Any] = {}  # (key, field) -> the target's value

    def set_result(self, r: Residual | None, head: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.beginResetModel()
        fields: dict[str, None] = {}
        self.rows = sorted((r.result or {}).items()) if r is not None and r.computed else []
        for _k, row in self.rows:
            for f in row:
                fields.setdefault(f, None)
        self.columns = ["key"] + [f for f in fields if f != "key"]
        self.head = head or {}
        self.residual = {(c["key"], c["field"]): c.get("target") for c in (r.cells if r is not None else ())}
        self.residual.update({(k, "key"): None for k in (r.extra if r is not None else ())})
        self.endResetModel()

    def mark(self, row: int, col: int) -> str | None:
        """"residual", "added" (a row the plan creates), "changed" (a cell it changes) or None."""
        key, values = self.rows[row]
        f = self.columns[col]
        if (key, f) in self.residual:
            return "residual"
        if not self.head:
            return None
        now = self.head.get(key)
        if now is None:
            return "added"
        return "changed" if col and not same_value(now.get(f), values.get(f)) else None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        key, row = self.rows[index.row()]
        f = self.columns[index.column()]
        if role == Qt.DisplayRole:
            if index.column() == 0:
                return key
            now = self.head.get(key)
            if now is not None and self.mark(index.row(), index.column()) in ("changed", "residual") \
                    and not same_value(now.get(f), row.get(f)):
                return f"{display(now.get(f)) or '∅'} → {display(row.get(f)) or '∅'}"
            return display(row.get(f))
        if role in (Qt.BackgroundRole, Qt.ForegroundRole, Qt.ToolTipRole):
            mark = self.mark(index.row(), index.column())
            if mark is None:
                return None
            if role == Qt.BackgroundRole:
                return {"residual": GONE, "added": ADDED, "changed": CHANGED}[mark]
            if role == Qt.ForegroundRole:
                return INK
            if mark == "residual":
                return (f"{key}.{f} still differs from the target: {display(self.residual[(key, f)]) or '(none)'}"
                        if f != "key" else "a row the replay does not have")
            if mark == "added":
                return "a row the plan creates"
            return f"{key}.{f}\nnow: {display(self.head[key].get(f)) or '(none)'}\nafter the plan: " \
                   f"{display(row.get(f)) or '(none)'}"
        return None


class ResidualView(QWidget):
    """Every read model's residual: the list (with what is left in each) beside the selected
    one's headline, residual table (or the note saying why none was computed) and resulting rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("composerResidual")
        self.speculation: Speculation | None = None
        self.heads: Mapping[str, Mapping[str, Mapping[str, Any]]] = {}
        self.titles: dict[str, str] = {}
        self.list = projection_list("residualProjections", self, self._chosen)
        self.headline = QLabel(self)
        self.headline.setObjectName("residualHeadline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.model = ResidualModel(self)
        self.table = make_table("residualTable", self.model, self, alternating=False)
        self.result_model = ResultModel(self)
        self.result_table = make_table("resultTable", self.result_model, self, alternating=False)
        self.note = note_label("residualNote", self)
        self.note.setForegroundRole(QPalette.PlaceholderText)
        self.residual_box = _titled("Where the result still differs from the target", self.table, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.residual_box)
        self.stack.addWidget(self.note)
        tables = QSplitter(Qt.Vertical, self)
        tables.addWidget(self.stack)
        rows_box = QWidget(tables)
        rb = QVBoxLayout(rows_box)
        rb.setContentsMargins(0, 0, 0, 0)
        rb.setSpacing(2)
        legend = QHBoxLayout()
        legend.addWidget(QLabel("Resulting rows: those the plan or the replay touch, after the plan", rows_box), 1)
        for text, color in (("changed by the plan: now → after", CHANGED), ("created by the plan", ADDED),
                            ("still differs from the target", GONE)):
            legend.addWidget(_chip(text, color, rows_box))
        rb.addLayout(legend)
        rb.addWidget(self.result_table, 1)
        tables.addWidget(rows_box)
        tables.setChildrenCollapsible(False)
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.headline)
        rl.addWidget(tables, 1)
        list_beside(self, self.list, right, 200)

    def set_speculation(self, s: Speculation | None, titles: Mapping[str, str] | None = None,
                        prefer: Sequence[str] = (), heads: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Show ``s``; keep the read model shown, else show the first with a residual, else the
        first of ``prefer`` (the read models the replay changes). ``heads``: per read model, the
        rows now of the residual's keys (to show what the plan changes)."""
        self.heads = heads or {}
        keep = self.current()
        keep = keep.projection if keep is not None else None
        self.speculation = s
        self.titles = dict(titles or self.titles)
        self.list.blockSignals(True)
        self.list.clear()
        residuals: Sequence[Residual] = s.residuals if s is not None else ()
        for r in residuals:
            item = QListWidgetItem(f"{self.titles.get(r.projection, r.projection)}\n{residual_summary(r, True)}")
            item.setData(Qt.UserRole, r.projection)
            item.setToolTip(residual_headline(r)[0])
            if r.computed:
                item.setForeground(Qt.darkGreen if r.empty else Qt.darkYellow)
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [r.projection for r in residuals]
        pick = names.index(keep) if keep in names else next(
            (i for i, r in enumerate(residuals) if r.computed and not r.empty),
            next((names.index(p) for p in prefer if p in names), 0))
        if residuals:
            self.list.setCurrentRow(pick)
            self._chosen(pick)
        else:
            self.model.set_residual(None)
            self.result_model.set_result(None)
            self.headline.setText("No read model to compare (the replay plan holds no state diff).")
            self.headline.setStyleSheet(NOTE_STYLE)

    def select(self, projection: str) -> bool:
        names = [r.projection for r in (self.speculation.residuals if self.speculation else ())]
        if projection in names:
            self.list.setCurrentRow(names.index(projection))
            return True
        return False

    def current(self) -> Residual | None:
        row = self.list.currentRow()
        rs = self.speculation.residuals if self.speculation is not None else ()
        return rs[row] if 0 <= row < len(rs) else None

    def _chosen(self, _row: int) -> None:
        r = self.current()
        if r is None:
            return
        text, style = residual_headline(r, r.projection)
        self.headline.setText(text)
        self.headline.setStyleSheet(style)
        self.model.set_residual(r)
        self.result_model.set_result(r, self.heads.get(r.projection))
        if not r.computed:
            self.note.setText(r.note or "")
            self.stack.setCurrentWidget(self.note)
        else:
            self.stack.setCurrentWidget(self.residual_box)
            fit_columns(self.table)
        self.stack.setVisible(not r.empty)  # the headline says it all; the rows get the room
        fit_columns(self.result_table)


class StepsModel(RowsModel):
    """The plan's steps (see ``STEP_COLUMNS``); tooltips name the events and the idempotency key."""

    def __init__(self, parent=None):
        super().__init__(STEP_COLUMNS, parent=parent)

    def set_plan(self, plan: CompensationPlan | None) -> None:
        rows, tips = step_rows(plan)
        self.set_rows(rows, tips)
