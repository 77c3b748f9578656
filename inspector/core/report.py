"""The HTML report of an investigation: one self-contained file (inline CSS, the timeline as an
inline SVG chart drawn here in plain Python, no scripts, nothing fetched) holding the store, the
filters used, who made it as which role and when, the chart, and the tables: the selected events
and, when given, a projection's state, a diff, audit rows, notes and bookmarks.

Every value is HTML-escaped; payloads are shown as compact JSON text. What a viewer's store masks
is masked here too, since events and states are read through the store. Tables show their first
``limit`` rows and say how many there are in all."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Iterable, Mapping, Sequence

from .. import __version__
from .checkpoints import StoreIdentity
from .export import describe_filter, json_text
from .model import EventFilter, Histogram
from .roles import role_of
from .store import EventStore

__all__ = ["render_report", "svg_timeline", "write_report"]

UTC = dt.timezone.utc
#: Bar colours of the chart, one per event type (the commonest first), then grey for the rest.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOUR = "#bab0ac"
PAYLOAD_CHARS = 400

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border:1px solid #dde2ea;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f9;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td code,pre{font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.scroll{overflow-x:auto;max-width:100%}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:#5b6475}dl.facts dd{margin:0}
.note{color:#5b6475;font-size:12.5px;margin:6px 0}
.legend span{display:inline-block;margin:0 14px 4px 0;font-size:12.5px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:-1px}
.masked{background:#fff4d6;border:1px solid #f0d48a;padding:6px 10px;border-radius:4px}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _when(t: dt.datetime | None) -> str:
    if t is None:
        return ""
    t = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] + "Z"


def _axis_label(v: float, axis: str) -> str:
    if axis == "time":
        return dt.datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M")
    return f"#{int(v):,}"


def _width_label(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)} {unit}"
    return f"{seconds:g} s"


# -- the chart ------------------------------------------------------------------------------------


def svg_timeline(hist: Histogram, *, width: int = 1000, height: int = 220, max_types: int = len(PALETTE)) -> str:
    """The histogram as an inline SVG stacked bar chart (the commonest ``max_types`` event types
    in colour, the rest grey) with its axes, a hover title per bar and a legend. An empty
    histogram gives a chart that says so."""
    left, right, top, bottom = 56, 12, 10, 34
    w, h = width - left - right, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" font-size="11">',
           "<title>Events over " + ("time" if hist.axis == "time" else "position") + "</title>",
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fbfcfe" stroke="#dde2ea"/>']
    if not hist.bins:
        out.append(f'<text x="{left + w / 2}" y="{top + h / 2}" text-anchor="middle" fill="#5b6475">no events</text>')
        out.append("</svg>")
        return "".join(out)
    shown = list(hist.types[:max_types])
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(shown)}
    lo, hi = hist.bins[0].start, hist.bins[-1].end
    span = max(hi - lo, 1e-9)
    peak = max(b.total for b in hist.bins) or 1
    for frac in (0.5, 1.0):  # gridlines and the y axis labels
        y = top + h - h * frac
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e7ebf1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6475">{round(peak * frac):,}</text>')
    for b in hist.bins:
        x0 = left + (b.start - lo) / span * w
        bw = max((b.end - b.start) / span * w - 1, 1)
        tip = f"{_axis_label(b.start, hist.axis)}: {b.total:,} events"
        out.append(f'<g><title>{_e(tip)}</title>')
        y = top + h
        parts = [(t, n) for t, n in b.counts.items() if t in colour]
        parts.sort(key=lambda tn: shown.index(tn[0]))
        rest = sum(n for t, n in b.counts.items() if t not in colour)
        if rest:
            parts.append(("", rest))
        for t, n in parts:
            bh = n / peak * h
            y -= bh
            out.append(f'<rect x="{x0:.2f}" y="{y:.2f}" width="{bw:.2f}" height="{bh:.2f}" '
                       f'fill="{colour.get(t, OTHER_COLOUR)}"/>')
        out.append("</g>")
    for x, anchor, v in ((left, "start", lo), (left + w, "end", hi)):
        out.append(f'<text x="{x}" y="{top + h + 16}" text-anchor="{anchor}" fill="#5b6475">'
                   f'{_e(_axis_label(v, hist.axis))}</text>')
    per = _width_label(hist.bucket_seconds) if hist.axis == "time" else f"{int(hist.bucket_seconds):,} positions"
    out.append(f'<text x="{left + w / 2}" y="{top + h + 16}" text-anchor="middle" fill="#5b6475">'
               f'events per {_e(per)}</text>')
    out.append("</svg>")
    return "".join(out)


def _legend(hist: Histogram, max_types: int = len(PALETTE)) -> str:
    if not hist.bins:
        return ""
    totals: dict[str, int] = {}
    for b in hist.bins:
        for t, n in b.counts.items():
            totals[t] = totals.get(t, 0) + n
    items = [(PALETTE[i % len(PALETTE)], t, totals.get(t, 0)) for i, t in enumerate(hist.types[:max_types])]
    rest = sum(n for t, n in totals.items() if t not in hist.types[:max_types])
    if rest:
        items.append((OTHER_COLOUR, f"{len(hist.types) - max_types} other types", rest))
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(t)} ({n:,})</span>' for c, t, n in items) + "</div>"


# -- tables ---------------------------------------------------------------------------------------


def _cell(v: Any) -> str:
    if v is None:
        return "<td></td>"
    if isinstance(v, bool):
        return f"<td>{'true' if v else 'false'}</td>"
    if isinstance(v, (int, float)):
        return f'<td class="num">{_e(v)}</td>'
    if isinstance(v, dt.datetime):
        return f"<td>{_e(_when(v))}</td>"
    if isinstance(v, (dict, list)):
        text = json_text(v)
        if len(text) > PAYLOAD_CHARS:
            text = text[: PAYLOAD_CHARS - 1] + "…"
        return f"<td><code>{_e(text)}</code></td>"
    return f"<td>{_e(v)}</td>"


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]], total: int | None, limit: int, what: str) -> str:
    body = []
    for i, row in enumerate(rows):
        if i >= limit:
            break
        body.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    n = len(body)
    if not n:
        return f'<p class="note">No {_e(what)}.</p>'
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"
    count = f"{total:,}" if total is not None else ("more than " if n >= limit else "") + f"{n:,}"
    note = f'<p class="note">Showing {n:,} of {count} {_e(what)}.</p>' if total is None or total > n else \
        f'<p class="note">{n:,} {_e(what)}.</p>'
    return note + f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


def _frame_table(df: Any, limit: int, what: str) -> str:
    from .export import _missing

    cols = [str(c) for c in df.columns]
    part = df.head(limit)
    rows = zip(*(part[c].tolist() for c in df.columns)) if len(part) else iter(())
    clean = ([None if _missing(v) else v for v in r] for r in rows)
    return _table(cols, clean, len(df), limit, what)


def _rows_table(rows: Iterable[Mapping[str, Any]], limit: int, what: str) -> str:
    """Rows given as dicts: the first ``limit`` shown (their keys are the columns), all counted."""
    shown: list[Mapping[str, Any]] = []
    total = 0
    for r in rows:
        if total < limit:
            shown.append(r)
        total += 1
    cols: dict[str, None] = {}
    for r in shown:
        cols.update(dict.fromkeys(map(str, r)))
    return _table(list(cols), ([r.get(c) for c in cols] for r in shown), total, limit, what)


def _events_table(store: EventStore, flt: EventFilter, total: int, limit: int) -> str:
    cols = ("position", "recorded_at", "stream", "version", "type", "actor", "correlation_id", "payload")

    def rows() -> Iterable[Sequence[Any]]:
        for e in store.iter_events(flt, page_size=min(limit, 1000)):
            payload: Any = e.data if e.decode_error is None else f"⚠ {e.decode_error}"
            yield (e.position, e.recorded_at, e.stream, e.version, e.type, e.actor, e.correlation_id, payload)

    return _table(cols, rows(), total, limit, "selected events")


# -- the report -----------------------------------------------------------------------------------


def render_report(
    store: EventStore,
    flt: EventFilter = EventFilter(),
    *,
    title: str = "Investigation report",
    events_limit: int = 500,
    rows_limit: int = 1000,
    histogram: Histogram | None = None,
    bins: int = 120,
    state: Any = None,
    state_title: str = "State",
    diff: Any = None,
    diff_title: str = "Diff",
    audit: Iterable[Mapping[str, Any]] | None = None,
    audit_title: str = "Audit",
    notes: str | Sequence[str] = (),
    bookmarks: Sequence[Mapping[str, Any]] = (),
    author: str | None = None,
    generated_at: dt.datetime | None = None,
) -> str:
    """The report as HTML text. ``state``: a DataFrame (``History.as_of``) or rows (dicts);
    ``diff``: a ``history.Diff`` or rows (``export.diff_rows``); ``audit``: rows (dicts);
    ``histogram``: the chart's data (default: the store's, for ``flt``, in ``bins`` buckets);
    ``bookmarks``: dicts shown as a table (say position, label, note)."""
    ident = StoreIdentity.of(store)
    role = role_of(store)
    when = generated_at or dt.datetime.now(UTC)
    total = store.count(flt)
    hist = histogram if histogram is not None else store.histogram(flt, bins=bins)
    where, params = store.where(flt)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>",
             '<meta name="generator" content="inspector ' + _e(__version__) + '">',
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f'<p class="sub">{total:,} events selected · generated {_e(_when(when))} by inspector {_e(__version__)}</p>']
    facts = [("Store", ident.url), ("Layout", ident.layout), ("Events table", ident.table),
             ("Role", f"{role} ({role.summary})")]
    if author:
        facts.append(("Made by", author))
    facts += [("Generated at", _when(when)), ("Inspector version", __version__)]
    parts.append('<h2>About</h2><dl class="facts">' +
                 "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>")
    if not role.sees_personal_data:
        parts.append('<p class="masked">Made by a viewer: personal data is masked in every table of this report.</p>')
    described = describe_filter(flt)
    parts.append("<h2>Filters</h2>")
    if described:
        parts.append('<dl class="facts" id="filters">' +
                     "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in described) + "</dl>")
    else:
        parts.append('<p class="note" id="filters">No filter: every event of the store.</p>')
    shown_params = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in params.items()}
    parts.append(f'<p class="note">SQL condition: <code>{_e(where.strip() or "(none)")}</code>'
                 + (f" with <code>{_e(json_text(shown_params))}</code>" if shown_params else "") + "</p>")
    parts.append("<h2>Timeline</h2>" + svg_timeline(hist) + _legend(hist))
    parts.append("<h2>Events</h2>" + _events_table(store, flt, total, events_limit))
    if state is not None:
        body = _frame_table(state, rows_limit, "rows") if hasattr(state, "columns") else \
            _rows_table(state, rows_limit, "rows")
        parts.append(f"<h2>{_e(state_title)}</h2>{body}")
    if diff is not None:
        if hasattr(diff, "changed"):
            from .export import diff_rows

            diff = diff_rows(diff)
        parts.append(f"<h2>{_e(diff_title)}</h2>" + _rows_table(diff, rows_limit, "differences"))
    if audit is not None:
        parts.append(f"<h2>{_e(audit_title)}</h2>" + _rows_table(audit, rows_limit, "audit rows"))
    notes = [notes] if isinstance(notes, str) else list(notes)
    if notes or bookmarks:
        parts.append("<h2>Notes and bookmarks</h2>")
        parts += [f"<pre>{_e(n)}</pre>" for n in notes]
        if bookmarks:
            parts.append(_rows_table(list(bookmarks), rows_limit, "bookmarks"))
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(store: EventStore, flt: EventFilter, out: Any, **kwargs: Any) -> Any:
    """Render the report (``render_report``'s arguments) and write it atomically to ``out``."""
    from pathlib import Path

    from .store_files import AtomicFile

    path = Path(out)
    text = render_report(store, flt, **kwargs)
    atomic = AtomicFile(path, suffix=".part", prefix=f".{path.name}.", shared=True)
    try:
        atomic.tmp.write_text(text, encoding="utf-8")
        atomic.commit()
    except BaseException:
        atomic.discard()
        raise
    return path
