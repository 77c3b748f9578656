"""The temporal slider: a slider over the positions of a store's events, labelled with their times.

Its value is an index into "stops" (the positions events sit at, in order, kept as numpy arrays
so a million stops cost the GUI thread nothing), so the keys step by events, not by position
numbers: left/right one event, page up/down a hundred, home/end the first
and last. Moving it emits ``sig_position_changed`` at once and nothing else: whoever shows the
state at that position coalesces (see ``state_panel``). ``LatencyWatchdog`` measures how long the
GUI thread stays blocked, for the benchmark that sweeps the slider. "Checkpoint here…" (the ⚑
button, or the slider's context menu) asks for a checkpoint at the position shown
(``sig_checkpoint_requested``); the window does the asking and the keeping."""

from __future__ import annotations

import datetime as dt
import time
from typing import Sequence

import numpy as np

from PySide6.QtCore import QObject, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SINGLE_STEP = 1
PAGE_STEP = 100
NAT = int(np.iinfo(np.int64).min)  # a stop whose time is unknown
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
TICK_SPACING_PX = 150  # about one time label per this many pixels


def _micros(t: dt.datetime | None) -> int:
    if t is None:
        return NAT
    t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def local_text(t: dt.datetime | None, seconds: bool = True) -> str:
    if t is None:
        return ""
    spec = "seconds" if seconds else "minutes"
    return t.astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec=spec)


class SteadyLabel(QWidget):
    """A one-line ``QLabel`` (``.label``) whose text changes never re-lay the window out.

    ``QLabel.setText`` calls ``updateGeometry``, and each layout that re-computes passes it on to
    its parent, up to the main window, whose layout then re-applies every dock's and toolbar's
    geometry (one property animation per dock, and repaints). For a label set on every slider move
    that was the biggest part of the GUI thread's work per move. Here the label sits in a widget
    without a layout, which stops the chain, and the holder's size hint is one line of text: wide
    texts are clipped, never widen what holds them."""

    def __init__(self, parent: QWidget | None = None, text: str = ""):
        super().__init__(parent)
        self.label = QLabel(text, self)
        sample = QLabel("Xg")  # no parent: measured, never shown (a child would show until deleted)
        sample.setFont(self.label.font())
        self._height = sample.sizeHint().height()
        sample.deleteLater()
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(self.label.sizeHint().width(), self._height)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(0, self._height)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(ev)
        self.label.setGeometry(self.rect())


class _TickStrip(QWidget):
    """Times of a few stops, drawn under the slider handle positions they belong to."""

    def __init__(self, slider: "TemporalSlider"):
        super().__init__(slider)
        self._owner = slider
        self.setObjectName("sliderTicks")
        small = self.font()
        small.setPointSizeF(small.pointSizeF() * 0.85)
        self.setFont(small)
        self.setFixedHeight(self.fontMetrics().height() + 6)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def labels(self) -> list[tuple[int, str]]:
        """(x in this widget, text) of each label drawn."""
        s = self._owner
        n = len(s.positions)
        if n == 0:
            return []
        bar = s.bar
        left, right = s.groove_span()
        offset = bar.mapTo(self.parentWidget(), bar.rect().topLeft()).x() - self.x()
        width = right - left
        k = max(2, min(12, int(width // TICK_SPACING_PX) + 1))
        out = []
        for j in range(k):
            i = round(j * (n - 1) / (k - 1)) if n > 1 else 0
            x = offset + left + (width * i / (n - 1) if n > 1 else 0)
            t = s.time_at(i)
            text = local_text(t, seconds=False) if t is not None else f"#{int(s.positions[i])}"
            out.append((int(x), text))
            if n == 1:
                break
        return out

    def paintEvent(self, _ev) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        p.setPen(self.palette().color(QPalette.PlaceholderText))
        fm = self.fontMetrics()
        last_right = -1_000_000
        labels = self.labels()
        for j, (x, text) in enumerate(labels):
            w = fm.horizontalAdvance(text)
            if j == 0:
                left = max(0, x - 2)
            elif j == len(labels) - 1:
                left = min(self.width() - w, x - w + 2)
            else:
                left = x - w // 2
            if left < last_right + 12:
                continue  # would overlap the label before it
            p.drawLine(x, 0, x, 3)
            p.drawText(QRect(left, 3, w, self.height() - 3), Qt.AlignLeft | Qt.AlignVCenter, text)
            last_right = left + w
        p.end()


class TemporalSlider(QWidget):
    """A slider over event positions. ``set_stops`` gives the positions (and their times);
    ``set_position`` moves to the last stop at or before a position."""

    sig_position_changed = Signal(int)  # the position of the stop now selected
    sig_checkpoint_requested = Signal(int)  # "Checkpoint here…": the position shown

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("temporalSlider")
        self.positions = np.empty(0, np.int64)
        self._times_us = np.empty(0, np.int64)  # UTC microseconds, NAT where unknown
        # set_position between two stops: the exact position asked for (and its time), shown and
        # emitted until the slider moves again; the handle stands at the stop before it
        self._exact: tuple[int, dt.datetime | None] | None = None
        self._programmatic = False
        self.empty_text = "no events"

        self.bar = QSlider(Qt.Horizontal, self)
        self.bar.setObjectName("temporalSliderBar")
        self.bar.setRange(0, 0)
        self.bar.setSingleStep(SINGLE_STEP)
        self.bar.setPageStep(PAGE_STEP)
        self.bar.setTracking(True)
        self.bar.setFocusPolicy(Qt.StrongFocus)
        self.bar.setToolTip("left/right: one event · page up/down: 100 events · home/end: first/last")
        self.bar.valueChanged.connect(self._value_changed)
        self.setFocusProxy(self.bar)

        def button(name: str, text: str, tip: str, steps: int | None) -> QToolButton:
            b = QToolButton(self)
            b.setObjectName(name)
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setAutoRepeat(steps in (-1, 1))
            if steps is None:
                b.clicked.connect(lambda: self.bar.setValue(self.bar.maximum()))
            else:
                b.clicked.connect(lambda: self.step(steps))
            return b

        self.prev_button = button("sliderPrev", "◀", "previous event (left)", -1)
        self.next_button = button("sliderNext", "▶", "next event (right)", 1)
        self.head_button = button("sliderHead", "⇥", "head: the last event (end)", None)
        self.checkpoint_action = QAction("Checkpoint here…", self)
        self.checkpoint_action.setToolTip("name the position shown as a checkpoint (to preview a rollback to it)")
        self.checkpoint_action.triggered.connect(self._checkpoint_here)
        self.checkpoint_button = QToolButton(self)
        self.checkpoint_button.setObjectName("sliderCheckpoint")
        self.checkpoint_button.setText("⚑")
        self.checkpoint_button.setAutoRaise(True)
        self.checkpoint_button.setToolTip("Checkpoint here…: name the position shown as a checkpoint")
        self.checkpoint_button.clicked.connect(self.checkpoint_action.trigger)
        self.bar.setContextMenuPolicy(Qt.CustomContextMenu)
        self.bar.customContextMenuRequested.connect(self._menu_requested)
        # set on every move: a SteadyLabel, of a fixed width, so a move never re-lays the window out
        self.label_holder = SteadyLabel(self)
        self.label_holder.setFixedWidth(self.fontMetrics().horizontalAdvance("#0000000 · 2026-10-31 23:59:59 · 0,000,000/0,000,000") + 8)
        self.label = self.label_holder.label
        self.label.setObjectName("sliderLabel")
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.ticks = _TickStrip(self)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.prev_button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.next_button)
        row.addWidget(self.head_button)
        row.addWidget(self.checkpoint_button)
        row.addSpacing(8)
        row.addWidget(self.label_holder)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 2, 6, 0)
        col.setSpacing(0)
        col.addLayout(row)
        col.addWidget(self.ticks)
        self._set_enabled()

    # -- stops -----------------------------------------------------------------------------------
    def set_stops(self, positions: Sequence[int] | np.ndarray, times: Sequence[dt.datetime | None] | np.ndarray | None = None,
                  position: int | None = None) -> None:
        """The event positions the slider stops at (ascending) and their times (datetimes, or an
        int64 array of UTC microseconds with ``NAT`` where unknown). It moves to ``position``
        (default: stays near where it was, else the last event) and emits once."""
        keep = self.position() if position is None else position
        self.positions = np.asarray(positions, dtype=np.int64)
        if times is None:
            self._times_us = np.full(len(self.positions), NAT, np.int64)
        elif isinstance(times, np.ndarray) and times.dtype == np.int64:
            self._times_us = times
        else:
            self._times_us = np.array([_micros(t) for t in times], np.int64)
        self._exact = None
        self.bar.blockSignals(True)
        self.bar.setRange(0, max(0, len(self.positions) - 1))
        self.bar.blockSignals(False)
        self._set_enabled()
        self.ticks.update()
        if not len(self.positions):
            self.label.setText(self.empty_text)
            self.label.setToolTip("")
            return
        index = self.index_of(keep) if keep is not None else len(self.positions) - 1
        self.bar.blockSignals(True)
        self.bar.setValue(index)
        self.bar.blockSignals(False)
        self._value_changed(index)

    def clear(self, text: str = "no events") -> None:
        """No stops (disabled), ``text`` in place of the position."""
        self.empty_text = text
        self.set_stops([])

    def _set_enabled(self) -> None:
        on = bool(len(self.positions))
        for w in (self.bar, self.prev_button, self.next_button, self.head_button, self.checkpoint_button):
            w.setEnabled(on)
        self.checkpoint_action.setEnabled(on)

    def context_menu(self) -> QMenu:
        """The slider's context menu (its actions stay owned by the slider)."""
        menu = QMenu(self)
        menu.addAction(self.checkpoint_action)
        return menu

    def _menu_requested(self, pos) -> None:
        menu = self.context_menu()
        menu.exec(self.bar.mapToGlobal(pos))
        menu.deleteLater()

    def _checkpoint_here(self) -> None:
        p = self.position()
        if p is not None:
            self.sig_checkpoint_requested.emit(p)

    def index_of(self, position: int) -> int:
        """Index of the last stop at or before ``position`` (the first stop if none is)."""
        return max(0, int(np.searchsorted(self.positions, int(position), "right")) - 1)

    def time_at(self, index: int) -> dt.datetime | None:
        if not 0 <= index < len(self._times_us) or self._times_us[index] == NAT:
            return None
        return _EPOCH + dt.timedelta(microseconds=int(self._times_us[index]))

    def has_stops(self) -> bool:
        return bool(len(self.positions))

    # -- value -----------------------------------------------------------------------------------
    def index(self) -> int:
        return self.bar.value()

    def position(self) -> int | None:
        if not len(self.positions):
            return None
        return self._exact[0] if self._exact is not None else int(self.positions[self.bar.value()])

    def time(self) -> dt.datetime | None:
        if not len(self.positions):
            return None
        return self._exact[1] if self._exact is not None else self.time_at(self.bar.value())

    def head(self) -> int | None:
        return int(self.positions[-1]) if len(self.positions) else None

    def set_position(self, position: int, time: dt.datetime | None = None) -> None:
        """Move to ``position``: the handle to the last stop at or before it, the label (and what
        is emitted) to ``position`` itself even between stops (``time``: its time, if known).
        Emits when the position shown changes."""
        if not len(self.positions):
            return
        position = int(position)
        index = self.index_of(position)
        exact = None if self.positions[index] == position else (position, time)
        if exact == self._exact and index == self.bar.value():
            return
        self._exact = exact
        self._programmatic = True
        try:
            if index != self.bar.value():
                self.bar.setValue(index)
            else:
                self._value_changed(index)
        finally:
            self._programmatic = False

    def set_index(self, index: int) -> None:
        self.bar.setValue(index)

    def step(self, events: int) -> None:
        self.bar.setValue(self.bar.value() + events)

    def _value_changed(self, index: int) -> None:
        if not len(self.positions):
            return
        if not self._programmatic:
            self._exact = None  # the user moved the handle
        pos, t = self._exact if self._exact is not None else (int(self.positions[index]), self.time_at(index))
        parts = [f"#{pos}"] + ([local_text(t)] if t else []) + [f"{index + 1:,}/{len(self.positions):,}"]
        self.label.setText(" · ".join(parts))
        self.label.setToolTip(f"{t.astimezone(dt.timezone.utc).isoformat()} (UTC)" if t else "")
        self.sig_position_changed.emit(pos)

    # -- geometry (for the tick strip) -------------------------------------------------------------
    def groove_span(self) -> tuple[int, int]:
        """Left and right x (in the slider bar) of the handle's centre at the ends."""
        opt = QStyleOptionSlider()
        self.bar.initStyleOption(opt)
        style = self.bar.style()
        groove = style.subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderGroove, self.bar)
        handle = style.subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, self.bar)
        half = handle.width() / 2
        return int(groove.left() + half), int(groove.right() - half)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(ev)
        self.ticks.update()


class LatencyWatchdog(QObject):
    """Measures how late a short repeating timer fires on the GUI thread: the worst lateness is
    the longest the event loop was blocked while it ran (a benchmark figure, never a test assert)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 5):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.worst_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.worst_ms, self.ticks = 0.0, 0
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop; returns the worst block in milliseconds."""
        self._tick()
        self._timer.stop()
        return self.worst_ms

    def _tick(self) -> None:
        now = time.perf_counter()
        late = (now - self._last) * 1000.0 - self.interval_ms
        self.worst_ms = max(self.worst_ms, late)
        self._last = now
        self.ticks += 1
