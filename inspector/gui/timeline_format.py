"""How the timeline presents what it counts: a stable colour per event type, bins and windows in
words (local time, or positions), local-time axis ticks, the legend, and the filter a clicked bin
selects. Pure helpers: no widget state, so they are tested without drawing anything."""

from __future__ import annotations

import datetime as dt
import math
import zlib

import pyqtgraph as pg
from PySide6.QtGui import QColor

from inspector.core.model import EventFilter

UTC = dt.timezone.utc
OTHER = "other"

# Qualitative colours that stay apart from each other on light and dark backgrounds; grey is
# kept for "other".
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#8cd17d", "#d37295", "#499894", "#f1ce63", "#a0cbe8", "#bcbd22",
)
OTHER_COLOR = "#a9a9a9"


class TypePalette:
    """Event type -> colour, the same colour for the same type for the life of the process.

    A type's preferred slot comes from a CRC of its name (not ``hash()``, which changes between
    runs); a taken slot is probed forward, so the first ``len(PALETTE)`` types never share one."""

    def __init__(self, colors: tuple[str, ...] = PALETTE):
        self.colors = colors
        self._assigned: dict[str, int] = {}

    def color(self, event_type: str) -> QColor:
        if event_type == OTHER:
            return QColor(OTHER_COLOR)
        slot = self._assigned.get(event_type)
        if slot is None:
            n = len(self.colors)
            slot = zlib.crc32(event_type.encode("utf-8")) % n
            used = set(self._assigned.values())
            if len(used) < n:
                while slot in used:
                    slot = (slot + 1) % n
            self._assigned[event_type] = slot
        return QColor(self.colors[slot])


#: Shared by every view that colours event types (timeline, table), so they agree.
TYPE_COLORS = TypePalette()


def range_filter(base: EventFilter, start: float, end: float, axis: str) -> EventFilter:
    """The filter that selects one clicked bin: ``[start, end)`` in epoch seconds on the time axis,
    in positions on the position axis."""
    if axis == "position":
        return base.with_(after=math.ceil(start) - 1, before=math.ceil(end))
    return base.with_(since=dt.datetime.fromtimestamp(start, UTC), until=dt.datetime.fromtimestamp(end, UTC))


def local(seconds: float) -> dt.datetime:
    """Epoch seconds as an aware time in the local zone (the event table shows local times too)."""
    return dt.datetime.fromtimestamp(seconds, UTC).astimezone()


def describe_range(start: float, end: float, axis: str) -> str:
    """A bin's range for people: local times to the precision the bucket needs, with the zone, or
    positions."""
    if axis == "position":
        lo, hi = math.ceil(start), math.ceil(end) - 1
        return f"position {lo:,}" if lo >= hi else f"positions {lo:,} – {hi:,}"
    a, b = local(start), local(end)
    zone = a.strftime("%Z") or a.strftime("%z")
    whole_days = a.time() == b.time() == dt.time(0) and end - start >= 86400
    if whole_days:
        b -= dt.timedelta(days=1)
        return f"{a:%Y-%m-%d}" + ("" if a.date() == b.date() else f" – {b:%Y-%m-%d}")
    fmt = "%Y-%m-%d %H:%M" if end - start >= 60 and a.second == b.second == 0 else "%Y-%m-%d %H:%M:%S"
    right = b.strftime(fmt[9:] if a.date() == b.date() else fmt)  # drop the date when it repeats
    return f"{a.strftime(fmt)} – {right} {zone}"


def describe_bin(start: float, end: float, counts: dict[str, int], axis: str, limit: int = 12) -> str:
    """A bar's tooltip: its range, its total, and the ``limit`` biggest types in it."""
    total = sum(counts.values())
    lines = [describe_range(start, end, axis), f"{total:,} event{'s' if total != 1 else ''}"]
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    for name, n in items[:limit]:
        lines.append(f"  {name}: {n:,}")
    if len(items) > limit:
        rest = sum(n for _, n in items[limit:])
        lines.append(f"  … {len(items) - limit} more types: {rest:,}")
    return "\n".join(lines)


def describe_window(lo: float, hi: float, axis: str) -> str:
    """The visible window's dates (tick labels alone lose the day once zoomed to hours)."""
    if axis == "position":
        return ""
    try:
        a, b = (local(v).date() for v in (lo, hi))
    except (OverflowError, OSError, ValueError):
        return ""
    if a == b:
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {a:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"


def describe_width(seconds: float, axis: str) -> str:
    if axis == "position":
        return f"{seconds:,.0f} positions per bar"
    for unit, size in (("week", 604800), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 and len(unit) > 3 else ''} bars"
    return f"{seconds:g} s bars"


def legend_html(series: list[str], totals: dict[str, int], rest: set[str]) -> str:
    """The legend line: a colour swatch, name and count per drawn series; ``rest`` are the types
    stacked as "other"."""
    parts = []
    for name in series:
        n = sum(totals[t] for t in rest) if name == OTHER else totals[name]
        label = f"{len(rest)} other types" if name == OTHER else name
        color = TYPE_COLORS.color(name).name()
        parts.append(
            f'<span style="color:{color}">&#9632;</span>&nbsp;{_html(label).replace(" ", "&nbsp;")}'
            f'&nbsp;<span style="color:gray">{n:,}</span>'
        )
    return "&nbsp;&nbsp; ".join(parts)


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DateAxis(pg.DateAxisItem):
    """Local-time ticks that say which day they are on: "Oct 27" for day ticks and at midnight
    between hour ticks (pyqtgraph alone writes a bare "27")."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        out = super().tickStrings(values, scale, spacing)
        if spacing < 60 or spacing >= 28 * 86400:
            return out
        labels = []
        for v, s in zip(values, out):
            try:
                t = local(v)
            except (OverflowError, OSError, ValueError):
                labels.append(s)
                continue
            midnight = t.hour == t.minute == t.second == 0
            labels.append(f"{t:%b} {t.day}" if spacing >= 86400 or midnight else s)
        return labels
