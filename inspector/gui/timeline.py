"""The timeline: events per bucket per type as stacked bars, counted by the database.

Only the visible window is ever queried (``EventStore.histogram`` with the view range), on a worker
thread (``workers.TaskRunner``); zooming or panning re-queries after a short debounce, so zooming in gives finer buckets.
Results carry a token and stale ones are dropped, the way DB Browser for SQLite drops stale pages.
Colours, wording and axis ticks are in ``timeline_format``; this module holds the widget.
Checkpoints are drawn over the bars as flags (``set_flags``): a line at the checkpoint's last
kept event, on whichever axis the chart draws, with the checkpoint's name on top.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QTimer, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFontMetrics, QPalette
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from inspector.core.connect import describe_error
from inspector.core.errors import InspectorError
from inspector.core.model import EventFilter, Histogram

from .timeline_format import (OTHER, TYPE_COLORS, UTC, DateAxis, describe_bin, describe_range, describe_width,
                              describe_window, legend_html, local, range_filter)
from .workers import Cancelled, Task, TaskRunner, describe

# Names imported from this module (by the tests too), wherever they are defined.
__all__ = ["TYPE_COLORS", "BarSeries", "DrawnBin", "Flag", "TimelineWidget", "describe_range", "local", "range_filter"]

LEGEND_TYPES = 10  # types drawn and listed on their own; the rest are stacked as "other"
DEBOUNCE_MS = 150
FLAG_COLOR = "#8e24aa"  # checkpoint flags: apart from every type colour
FLAG_ROWS = (0.97, 0.72, 0.47)  # label heights (fraction of the plot): a label that would overlap the one
# before it takes the next row down


class BarSeries(pg.BarGraphItem):
    """pyqtgraph's ``BarGraphItem`` with its bounding rect worked out once per data.
    ``BarGraphItem.boundingRect`` adds a pixel margin for its pen, mapping pixels to the view on
    every call, and the view asks every bar item twice per repaint: each slider move repaints the
    plot under the moving cursor line, so with a dozen series that was much of the GUI thread's
    work per move. The bars' pen is a cosmetic hairline of the background colour, so its half
    pixel beyond the bars needs no margin."""

    def setOpts(self, **opts):  # noqa: N802 - pyqtgraph name
        self._bounds = None
        super().setOpts(**opts)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt name
        if self._bounds is None:
            xmn, xmx = self.dataBounds(ax=0)
            ymn, ymx = self.dataBounds(ax=1)
            if None in (xmn, xmx, ymn, ymx):
                return QRectF()
            self._bounds = QRectF(xmn, ymn, xmx - xmn, ymx - ymn)
        return QRectF(self._bounds)


@dataclass(frozen=True)
class Flag:
    """A checkpoint as the timeline draws it: ``position`` on the position axis, ``time`` (of the
    last event at or before the position) on the time axis; without a time it is not drawn there."""

    name: str
    position: int
    time: dt.datetime | None = None
    tooltip: str = ""


@dataclass(frozen=True)
class DrawnBin:
    """A bin as drawn: its range clipped to the queried window, so a click selects exactly the
    events the bar counts."""

    start: float
    end: float
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class TimelineWidget(QWidget):
    """Stacked bars of events per type over time (or position). Click a bar to select its range."""

    sig_range_clicked = Signal(float, float, str)  # start, end, axis ("time" | "position")
    sig_context_requested = Signal(float, str, object)  # x, axis, global QPoint (a right click on the plot)
    sig_loaded = Signal()
    sig_error = Signal(str)

    def __init__(self, parent: QWidget | None = None, runner: TaskRunner | None = None):
        """``runner``: the window's TaskRunner (so its status bar lists the query); by default the
        widget runs its own."""
        super().__init__(parent)
        self.setObjectName("timeline")
        self.store = None
        self.filter = EventFilter()
        self.histogram: Histogram | None = None  # the last one drawn
        self.bins: list[DrawnBin] = []
        self.axis = "time"
        self.queries = 0  # histogram queries issued (tests, diagnostics)
        self._token = 0
        self._window: tuple[float, float] | None = None  # x range the drawn bars were counted for
        self._zoomed = False
        self._programmatic = False
        self._loading = False
        self._bar_items: list[pg.BarGraphItem] = []
        self._flags: list[Flag] = []
        self._flag_items: list[pg.InfiniteLine] = []
        self._flag_font = self.font()
        self._flag_font.setPointSizeF(self._flag_font.pointSizeF() * 0.85)

        self._runner = runner or TaskRunner(self, max_threads=2)
        self._task: Task | None = None
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)
        self._queried_bins = 0

        self.legend = QLabel(objectName="timelineLegend", textFormat=Qt.TextFormat.RichText, wordWrap=True)
        small = self.legend.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.legend.setFont(small)
        self.status = QLabel(objectName="timelineStatus")
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.status.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.status.setFont(small)

        pal = self.palette()
        self.plot = pg.PlotWidget(background=pal.color(QPalette.ColorRole.Base), axisItems={"bottom": self._make_axis("time")})
        self.plot.setObjectName("timelinePlot")
        self.plot_item: pg.PlotItem = self.plot.getPlotItem()
        self.plot_item.hideButtons()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.showGrid(x=False, y=True, alpha=0.15)
        self.plot_item.getAxis("left").setWidth(48)
        fg = pal.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            self.plot_item.getAxis(name).setTextPen(fg)
        # a hairline of the background between bars and between stacked segments keeps narrow
        # bars apart without changing what they cover
        self._bar_pen = pg.mkPen(pal.color(QPalette.ColorRole.Base), width=1, cosmetic=True)
        self.view: pg.ViewBox = self.plot_item.getViewBox()
        self.view.setMouseEnabled(x=True, y=False)
        self.view.setMenuEnabled(False)
        self.view.enableAutoRange(x=False, y=False)
        self.view.sigXRangeChanged.connect(self._on_x_range_changed)
        self.view.sigXRangeChanged.connect(self._stack_flags)
        self.view.sigResized.connect(self._stack_flags)

        self._cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(fg, width=1, style=Qt.PenStyle.DashLine))
        self._cursor.setZValue(20)
        self._cursor.hide()
        self.plot_item.addItem(self._cursor, ignoreBounds=True)
        self._hover = QGraphicsRectItem()
        self._hover.setPen(pg.mkPen(fg, width=1.5, cosmetic=True))
        self._hover.setBrush(QColor(255, 255, 255, 40))
        self._hover.setZValue(10)
        self._hover.hide()
        self.view.addItem(self._hover, ignoreBounds=True)

        scene = self.plot.scene()
        scene.sigMouseClicked.connect(self._on_scene_click)
        scene.sigMouseMoved.connect(self._on_scene_move)

        # errors and "no events" are shown over the plot, centred
        self.message = QLabel(self.plot, objectName="timelineMessage", wordWrap=True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message.hide()

        header = QHBoxLayout()
        header.setContentsMargins(6, 2, 6, 0)
        header.addWidget(self.legend, 1)
        header.addWidget(self.status, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self.setMinimumHeight(120)

    # -- public API ----------------------------------------------------------------------
    def set_store(self, store) -> None:
        """Show ``store`` (an EventStore, or None to clear), zoomed out to all its events."""
        self.store = store
        self._zoomed = False
        self._window = None
        self.histogram, self.bins = None, []
        self._clear_bars()
        self.set_flags([])
        if store is None:
            self._token += 1
            self._set_loading(False)
            self._show_message("")
            self.status.setText("")
            return
        self._set_axis("time" if store.time_epoch_expr() is not None else "position")
        self.refresh()

    def set_filter(self, flt: EventFilter) -> None:
        """Count only the events ``flt`` selects. The zoom is kept if the user zoomed in."""
        self.filter = flt
        self.refresh()

    def refresh(self) -> None:
        """Re-count: the visible window when zoomed in, else everything (new events included)."""
        if self.store is None:
            return
        self._debounce.stop()
        if self._zoomed and self._window is not None:
            self._query(*self.view.viewRange()[0])
        else:
            self._query(None, None)

    def reset_zoom(self) -> None:
        self._zoomed = False
        self.refresh()

    def set_cursor(self, x: float | dt.datetime | None) -> None:
        """A vertical line at ``x`` (epoch seconds or a datetime on the time axis, a position on the
        position axis), e.g. the event selected in the table; None hides it."""
        if x is None:
            self._cursor.hide()
            return
        if isinstance(x, dt.datetime):
            x = (x if x.tzinfo else x.replace(tzinfo=UTC)).timestamp()
        self._cursor.setValue(float(x))
        self._cursor.show()

    def cursor_position(self) -> float | None:
        """Where the cursor line is, or None when hidden (``cursor()`` is QWidget's mouse cursor)."""
        return self._cursor.value() if self._cursor.isVisible() else None

    def set_flags(self, flags: Sequence[Flag]) -> None:
        """Draw these checkpoints (replacing those drawn before)."""
        self._flags = sorted(flags, key=lambda f: (f.position, f.name))
        self._draw_flags()

    def flags(self) -> list[tuple[str, float]]:
        """(name, x) of every flag drawn, on the current axis."""
        return [(item.flag.name, float(item.value())) for item in self._flag_items]

    def flag_x(self, flag: Flag) -> float | None:
        if self.axis == "position":
            return float(flag.position)
        t = flag.time
        if t is None:
            return None
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()

    def bin_at(self, x: float) -> DrawnBin | None:
        """The drawn bin whose range holds ``x`` (view coordinates)."""
        lo, hi = 0, len(self.bins)
        while lo < hi:  # bins are sorted and disjoint
            mid = (lo + hi) // 2
            b = self.bins[mid]
            if x < b.start:
                hi = mid
            elif x >= b.end:
                lo = mid + 1
            else:
                return b
        return None

    def click_at(self, x: float) -> DrawnBin | None:
        """What a left click at ``x`` does: emit ``sig_range_clicked`` for the bin there."""
        b = self.bin_at(x)
        if b is not None:
            self.sig_range_clicked.emit(float(b.start), float(b.end), self.axis)
        return b

    def tooltip_text(self, b: DrawnBin, limit: int = 12) -> str:
        return describe_bin(b.start, b.end, b.counts, self.axis, limit)

    def is_loading(self) -> bool:
        return self._loading

    def drawn_total(self) -> int:
        """Sum of the heights of every bar drawn (equals the events counted)."""
        return int(sum(sum(item.opts["height"]) for item in self._bar_items))

    # -- querying ------------------------------------------------------------------------
    def _bin_count(self) -> int:
        """About one bar per 5 pixels, so bars stay readable at any widget width."""
        width = self.view.width() or self.width()
        return max(40, min(300, int(width // 5))) if width > 50 else 150

    def _query(self, start: float | None, end: float | None) -> None:
        self._token += 1
        token = self._token
        if self._task is not None:
            self._task.cancel()  # skipped if not started yet; its result is dropped either way
        self.queries += 1
        self._queried_bins = self._bin_count()
        self._set_loading(True)
        upper = end
        if end is not None and self.axis == "position":
            upper = math.ceil(end)  # the store's window is half-open; positions from `end` on are off screen
        self._task = self._runner.submit(
            self.store.histogram, self.filter, bins=self._queried_bins, start=start, end=upper,
            label="timeline", owner=self,
            on_finished=lambda hist: self._on_done(token, hist, start, end),
            on_error=lambda exc: self._on_failed(token, exc),
        )

    def _on_x_range_changed(self, _vb, rng) -> None:
        if self._programmatic or self.store is None or self._window is None:
            return
        lo, hi = self._window
        tol = (hi - lo) * 1e-6
        if abs(rng[0] - lo) <= tol and abs(rng[1] - hi) <= tol:
            return
        self._zoomed = True
        self._debounce.start()

    def _on_done(self, token: int, hist: Histogram, start: float | None, end: float | None) -> None:
        if token != self._token:
            return  # a newer query is on its way; this one is stale
        self._set_loading(False)
        self._set_axis(hist.axis)
        self.histogram = hist
        self.bins = self._clip(hist, start, end)
        self._draw()
        if not hist.bins:
            self._show_message("No events match" if not self.filter.is_empty() else "No events")
        else:
            self._show_message("")
        if start is None or end is None:
            self._fit_all()
        else:
            self._window = tuple(self.view.viewRange()[0])
        total = sum(b.total for b in self.bins)
        parts = [describe_window(self.bins[0].start, self.bins[-1].end - 1e-3, hist.axis)] if self.bins else []
        parts += [f"{total:,} events", describe_width(hist.bucket_seconds, hist.axis)]
        self.status.setText(" · ".join(p for p in parts if p) if hist.bins else "")
        self.sig_loaded.emit()

    def _on_failed(self, token: int, exc: BaseException) -> None:
        if token != self._token or isinstance(exc, Cancelled):
            return
        message = describe_error(exc, self.store.engine.url) if self.store and not isinstance(exc, InspectorError) \
            else describe(exc)
        self._set_loading(False)
        self.histogram = None
        self.bins = []
        self._clear_bars()
        self.status.setText("")
        self._show_message(message, error=True)
        self.sig_error.emit(message)

    @staticmethod
    def _clip(hist: Histogram, start: float | None, end: float | None) -> list[DrawnBin]:
        """Edge bins of a zoomed window only count the events inside the window: draw (and click)
        them as wide as what they count."""
        out = []
        for b in hist.bins:
            s = b.start if start is None else max(b.start, start)
            e = b.end if end is None else min(b.end, end)
            if e > s:
                out.append(DrawnBin(s, e, b.counts))
        return out

    # -- drawing -------------------------------------------------------------------------
    def _clear_bars(self) -> None:
        for item in self._bar_items:
            self.plot_item.removeItem(item)
        self._bar_items = []
        self._hover.hide()
        self.legend.setText("")

    def _draw_flags(self) -> None:
        for item in self._flag_items:
            self.plot_item.removeItem(item)
        self._flag_items = []
        color = pg.mkColor(FLAG_COLOR)
        for flag in self._flags:
            x = self.flag_x(flag)
            if x is None:
                continue
            item = pg.InfiniteLine(
                pos=x, angle=90, movable=False, pen=pg.mkPen(color, width=1.5),
                label=f"⚑ {flag.name}",
                labelOpts={"position": FLAG_ROWS[0], "anchors": [(0, 0), (0, 0)],
                           "color": "#ffffff", "fill": pg.mkBrush(color), "movable": False})
            item.flag = flag
            item.label.setFont(self._flag_font)
            item.setZValue(25)  # over the cursor line, which often stands at a checkpoint
            tip = flag.tooltip or f"checkpoint {flag.name} · #{flag.position}"
            item.setToolTip(tip)
            item.label.setToolTip(tip)
            self.plot_item.addItem(item, ignoreBounds=True)
            self._flag_items.append(item)
        self._stack_flags()

    def _stack_flags(self, *_args) -> None:
        """Each label on the highest row where it overlaps no label to its left (at this zoom)."""
        if not self._flag_items:
            return
        lo, hi = self.view.viewRange()[0]
        per_px = (hi - lo) / max(self.view.width(), 1.0)
        fm = QFontMetrics(self._flag_font)
        ends: list[float] = []  # per row, where its rightmost label ends (view x)
        ordered = sorted(self._flag_items, key=lambda i: i.value())
        for k, item in enumerate(ordered):
            x = item.value()
            item.setZValue(25 + len(ordered) - k)  # a label over the lines of the flags to its right
            width = (fm.horizontalAdvance(f"⚑ {item.flag.name}") + 16) * per_px
            row = next((r for r, end in enumerate(ends) if x >= end), len(ends))
            if row == len(ends):
                ends.append(x + width)
            else:
                ends[row] = x + width
            item.label.setPosition(FLAG_ROWS[min(row, len(FLAG_ROWS) - 1)])

    def _draw(self) -> None:
        self._clear_bars()
        hist = self.histogram
        if hist is None or not self.bins:
            return
        totals: dict[str, int] = {}
        for b in self.bins:
            for t, n in b.counts.items():
                totals[t] = totals.get(t, 0) + n
        ordered = sorted(totals, key=lambda t: (-totals[t], t))  # biggest at the bottom
        shown = ordered[:LEGEND_TYPES] if len(ordered) > LEGEND_TYPES + 1 else ordered
        rest = set(ordered) - set(shown)
        series = list(shown) + ([OTHER] if rest else [])
        x0 = [b.start for b in self.bins]
        x1 = [b.end for b in self.bins]
        base = [0.0] * len(self.bins)
        top = 0.0
        for name in series:
            if name == OTHER:
                heights = [float(sum(n for t, n in b.counts.items() if t in rest)) for b in self.bins]
            else:
                heights = [float(b.counts.get(name, 0)) for b in self.bins]
            color = TYPE_COLORS.color(name)
            item = BarSeries(x0=x0, x1=x1, y0=list(base), height=heights, brush=color, pen=self._bar_pen)
            item.setToolTip("")
            item.event_type = name
            self.plot_item.addItem(item)
            self._bar_items.append(item)
            base = [a + h for a, h in zip(base, heights)]
            top = max(top, max(base, default=0))
        self.legend.setText(legend_html(series, totals, rest))
        self._programmatic = True
        try:
            self.view.setYRange(0, max(top, 1) * 1.08, padding=0)
        finally:
            self._programmatic = False

    def _fit_all(self) -> None:
        """Show every bin and bound panning/zooming to a little beyond them."""
        if not self.bins:
            return
        lo, hi = self.bins[0].start, self.bins[-1].end
        span = max(hi - lo, 1.0)
        self._programmatic = True
        try:
            self.view.setLimits(xMin=lo - span * 0.05, xMax=hi + span * 0.05, minXRange=min(span, 10.0))
            self.view.setXRange(lo, hi, padding=0.01)
        finally:
            self._programmatic = False
        self._window = tuple(self.view.viewRange()[0])

    def _make_axis(self, axis: str) -> pg.AxisItem:
        if axis == "time":
            item = DateAxis(orientation="bottom")
        else:
            item = pg.AxisItem(orientation="bottom")
            item.enableAutoSIPrefix(False)
            item.setLabel("position")
        item.setTextPen(self.palette().color(QPalette.ColorRole.Text))
        return item

    def _set_axis(self, axis: str) -> None:
        if axis == self.axis and self.plot_item.getAxis("bottom") is not None:
            return
        self.axis = axis
        self.plot_item.setAxisItems({"bottom": self._make_axis(axis)})
        self._draw_flags()

    def _set_loading(self, loading: bool) -> None:
        self._loading = loading
        if loading:
            self.status.setText("Loading…")
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b; font-weight: bold;" if error else "color: gray;")
        self.message.setVisible(bool(text))
        self._place_message()

    def _place_message(self) -> None:
        r = self.plot.rect()
        self.message.setGeometry(r.adjusted(20, 10, -20, -30))

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        self._place_message()
        # much wider or narrower: count again so bars stay about five pixels wide
        if self.store is not None and self._queried_bins and not self._loading:
            if abs(self._bin_count() - self._queried_bins) > 0.25 * self._queried_bins:
                self._debounce.start()

    # -- mouse ---------------------------------------------------------------------------
    def _view_x(self, scene_pos: QPointF) -> float | None:
        if not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        return self.view.mapSceneToView(scene_pos).x()

    def _on_scene_click(self, ev) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            x = self._view_x(ev.scenePos())
            if x is not None and self.store is not None:
                ev.accept()
                self.sig_context_requested.emit(float(x), self.axis, ev.screenPos().toPoint())
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        if ev.double():
            self.reset_zoom()
            return
        x = self._view_x(ev.scenePos())
        if x is not None:
            self.click_at(x)

    def _on_scene_move(self, scene_pos: QPointF) -> None:
        x = self._view_x(scene_pos)
        b = self.bin_at(x) if x is not None else None
        if b is None:
            self._hover.hide()
            QToolTip.hideText()
            return
        self._hover.setRect(QRectF(b.start, 0, b.end - b.start, b.total))
        self._hover.show()
        QToolTip.showText(QCursor.pos(), self.tooltip_text(b), self.plot)

