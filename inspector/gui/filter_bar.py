"""The filter bar above the event table: edits an ``EventFilter`` and emits it on Apply.

Field syntax, kept small so it can be typed:
stream ``order-12`` (exact) or ``order-*`` (a category); types as a comma list or picked from the
store's types; from/to as a local date-time (``2026-10-01 12:00``, ISO with an offset also works)
or a position (``#1200``, bare digits too; both ends inclusive). Time "to" is exclusive."""

from __future__ import annotations

import datetime as dt
import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.model import EventFilter
from inspector.core.store import EventStore

from .workers import TaskRunner


class FilterSyntaxError(ValueError):
    """A field the bar cannot read; the message names the field."""


def _parse_point(text: str, field: str) -> tuple[str, object] | None:
    """("position", int) or ("time", aware datetime) or None for an empty field."""
    s = text.strip()
    if not s:
        return None
    digits = s[1:] if s.startswith("#") else s
    if digits.isdigit():
        return "position", int(digits)
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        raise FilterSyntaxError(
            f"{field}: {s!r} is neither a date-time (2026-10-01 12:00) nor a position (#1200)"
        ) from None
    if t.tzinfo is None:
        t = t.astimezone()  # typed in local time, like the table shows
    return "time", t


def _show_time(t: dt.datetime) -> str:
    local = t.astimezone()
    spec = "seconds" if local.microsecond == 0 else "microseconds"
    return local.replace(tzinfo=None).isoformat(sep=" ", timespec=spec)


class FilterBar(QWidget):
    """Stream, types, actor, correlation, from/to, text; Apply / Clear. ``sig_filter_changed``
    carries the new filter; errors (bad syntax, filters the store cannot run) show in the bar."""

    sig_filter_changed = Signal(object)  # EventFilter

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("filterBar")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self._runner = runner or TaskRunner(self)
        self._store: EventStore | None = None
        self._separator = "-"
        self._types: list[tuple[str, int]] = []
        self._filter = EventFilter()

        def edit(name: str, placeholder: str, tip: str, width: int) -> QLineEdit:
            e = QLineEdit(self)
            e.setObjectName(name)
            e.setPlaceholderText(placeholder)
            e.setToolTip(tip)
            e.setClearButtonEnabled(True)
            e.setMinimumWidth(width)
            e.returnPressed.connect(self.apply)
            return e

        self.stream_edit = edit("streamEdit", "stream or category-*", "a stream (exact), or a category: order-*", 120)
        self.types_edit = edit("typesEdit", "event types", "comma-separated event types, or pick them from the list", 130)
        self.types_button = QToolButton(self)
        self.types_button.setObjectName("typesButton")
        self.types_button.setText("▾")
        self.types_button.setToolTip("pick event types")
        self.types_button.setPopupMode(QToolButton.InstantPopup)
        self.types_menu = QMenu(self)
        self.types_menu.aboutToShow.connect(self._sync_type_menu)
        self.types_button.setMenu(self.types_menu)
        self.actor_edit = edit("actorEdit", "actor", "who caused the event (exact), e.g. user:alice", 100)
        self.correlation_edit = edit("correlationEdit", "correlation id", "every event of one correlation", 110)
        self.from_edit = edit("fromEdit", "from (time or #pos)", "local date-time 2026-10-01 12:00, or a position #1200", 130)
        self.to_edit = edit("toEdit", "to (time or #pos)", "local date-time (exclusive), or a position #1300 (inclusive)", 130)
        self.text_edit = edit("textEdit", "search payloads…", "text inside the stored payload (case-insensitive where the database allows)", 140)
        self.apply_button = QPushButton("Apply", self)
        self.apply_button.setObjectName("applyButton")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setObjectName("clearButton")
        self.clear_button.clicked.connect(self.clear)
        self.message = QLabel(self)
        self.message.setObjectName("filterMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.hide()

        row = QHBoxLayout()
        row.setSpacing(6)
        title = QLabel("Filter", self)
        title.setObjectName("filterTitle")
        row.addWidget(title)
        types = QHBoxLayout()
        types.setSpacing(0)
        types.addWidget(self.types_edit)
        types.addWidget(self.types_button)
        for w, stretch in ((self.stream_edit, 3), (types, 3), (self.actor_edit, 2), (self.correlation_edit, 2),
                           (self.from_edit, 3), (self.to_edit, 3), (self.text_edit, 4)):
            if isinstance(w, QHBoxLayout):
                row.addLayout(w, stretch)
            else:
                w.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
                row.addWidget(w, stretch)
        row.addWidget(self.apply_button)
        row.addWidget(self.clear_button)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)
        outer.setSpacing(4)
        outer.addLayout(row)
        outer.addWidget(self.message)

    # -- store -------------------------------------------------------------------------------
    def set_store(self, store: EventStore | None) -> None:
        self._store = store
        self._types = []
        self._separator = store.layout.stream_separator if store else "-"
        self._set_fields(EventFilter())
        self._filter = EventFilter()
        self.clear_message()
        if store is not None:
            self._runner.submit(store.event_types, label="reading event types", owner=self,
                                on_finished=self._types_arrived, on_error=lambda e: None)

    def _types_arrived(self, types: list[tuple[str, int]]) -> None:
        self._types = list(types)

    def event_types(self) -> list[tuple[str, int]]:
        return list(self._types)

    def _typed_types(self) -> list[str]:
        return [t.strip() for t in self.types_edit.text().split(",") if t.strip()]

    def _sync_type_menu(self) -> None:
        self.types_menu.clear()
        chosen = set(self._typed_types())
        if not self._types:
            a = self.types_menu.addAction("(no types read yet)")
            a.setEnabled(False)
            return
        for name, n in self._types:
            act = QAction(f"{name}    {n:,}", self.types_menu)
            act.setCheckable(True)
            act.setChecked(name in chosen)
            act.setData(name)
            act.toggled.connect(lambda on, name=name: self._toggle_type(name, on))
            self.types_menu.addAction(act)

    def _toggle_type(self, name: str, on: bool) -> None:
        chosen = [t for t in self._typed_types() if t != name]
        if on:
            chosen.append(name)
        self.types_edit.setText(", ".join(chosen))

    # -- reading and writing the fields --------------------------------------------------------
    def filter(self) -> EventFilter:
        """The filter last applied."""
        return self._filter

    def current_filter(self) -> EventFilter:
        """The filter the fields describe now (raises FilterSyntaxError)."""
        kw: dict = {}
        s = self.stream_edit.text().strip()
        if s.endswith("*"):
            cat = s[:-1]
            if cat.endswith(self._separator):
                cat = cat[: -len(self._separator)]
            if cat:
                kw["category"] = cat
        elif s:
            kw["stream"] = s
        kw["types"] = tuple(self._typed_types())
        for name, edit in (("actor", self.actor_edit), ("correlation_id", self.correlation_edit), ("text", self.text_edit)):
            v = edit.text().strip()
            if v:
                kw[name] = v
        lo = _parse_point(self.from_edit.text(), "from")
        hi = _parse_point(self.to_edit.text(), "to")
        if lo and hi and lo[0] != hi[0]:
            raise FilterSyntaxError("from and to must both be times or both be positions")
        if lo:
            if lo[0] == "position":
                kw["after"] = int(lo[1]) - 1
            else:
                kw["since"] = lo[1]
        if hi:
            if hi[0] == "position":
                kw["before"] = int(hi[1]) + 1
            else:
                kw["until"] = hi[1]
        return EventFilter(**kw)

    def _set_fields(self, flt: EventFilter) -> None:
        if flt.category is not None:
            self.stream_edit.setText(f"{flt.category}{self._separator}*")
        else:
            self.stream_edit.setText(flt.stream or "")
        self.types_edit.setText(", ".join(flt.types))
        self.actor_edit.setText(flt.actor or "")
        self.correlation_edit.setText(flt.correlation_id or "")
        self.text_edit.setText(flt.text or "")
        if flt.after is not None or flt.before is not None:
            self.from_edit.setText(f"#{flt.after + 1}" if flt.after is not None else "")
            self.to_edit.setText(f"#{flt.before - 1}" if flt.before is not None else "")
        else:
            self.from_edit.setText(_show_time(flt.since) if flt.since else "")
            self.to_edit.setText(_show_time(flt.until) if flt.until else "")

    def set_filter(self, flt: EventFilter, apply: bool = True) -> None:
        """Show ``flt`` in the fields (and apply it, unless ``apply`` is False)."""
        self._set_fields(flt)
        if apply:
            self.apply()

    def set_stream(self, kind: str, name: str | None) -> None:
        """From the streams panel: kind "stream", "category" or "all"; applies at once."""
        base = self._current_or_applied()
        if kind == "stream":
            flt = base.with_(stream=name, category=None)
        elif kind == "category":
            flt = base.with_(stream=None, category=name)
        else:
            flt = base.with_(stream=None, category=None)
        self.set_filter(flt)

    def set_range(self, start: float, end: float, axis: str) -> None:
        """From the timeline: a bin clicked on the time axis (epoch seconds, end exclusive) or the
        position axis; replaces the range part of the filter and applies."""
        base = self._current_or_applied().with_(after=None, before=None, since=None, until=None)
        if axis == "position":
            flt = base.with_(after=int(math.ceil(start)) - 1, before=int(math.ceil(end)))
        else:
            flt = base.with_(since=dt.datetime.fromtimestamp(start, dt.timezone.utc),
                             until=dt.datetime.fromtimestamp(end, dt.timezone.utc))
        self.set_filter(flt)

    def _current_or_applied(self) -> EventFilter:
        try:
            return self.current_filter()
        except FilterSyntaxError:
            return self._filter

    # -- actions -------------------------------------------------------------------------------
    def apply(self) -> None:
        try:
            flt = self.current_filter()
        except FilterSyntaxError as e:
            self.show_message(str(e))
            return
        self.clear_message()
        self._filter = flt
        self.sig_filter_changed.emit(flt)

    def clear(self) -> None:
        self._set_fields(EventFilter())
        self.apply()

    def show_message(self, text: str, error: bool = True) -> None:
        self.message.setText(("⚠ " if error else "") + text)
        self.message.setProperty("error", error)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.show()

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()
