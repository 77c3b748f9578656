"""Reading an event store through a Layout: keyset pages, filters, counts, histograms and stream
summaries, all pushed down to SQL. Nothing here writes."""

from __future__ import annotations

import datetime as dt
import functools
import re
import math
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .codecs import CodecPipeline
from .rows import SCALARS as _SCALARS
from .rows import RowDecoder
from .rows import text as _text
from .dialects import Dialect
from .errors import InspectorError, UnsupportedFilter
from .layout import FieldRef, Layout
from .model import (
    CategorySummary,
    EventFilter,
    Histogram,
    HistogramBin,
    Page,
    RecordedEvent,
    StreamSummary,
)

SORTABLE = ("position", "recorded_at", "stream", "type", "actor", "version", "correlation_id")
_NICE_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                172800, 604800, 1209600, 2592000, 7776000, 31536000)

UTC = dt.timezone.utc


@functools.lru_cache(maxsize=512)
def _sql(text: str) -> sa.TextClause:
    """Parsed SQL text, kept: the same few statements run for every page, and parsing their bind
    parameters again each time costs more than a page of SQLite reads."""
    return sa.text(text)



_BIND = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=512)
def _native_sql(sql: str, dialect: str) -> str:
    """``:name`` binds in the driver's own style: sqlite3 takes them as they are; psycopg and PyMySQL
    want ``%(name)s`` (and literal percent signs doubled)."""
    if dialect == "sqlite":
        return sql
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def is_uuid(v: str) -> bool:
    """Whether ``v`` parses as a UUID (a uuid column compares only with those)."""
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def time_bound(q: Dialect, expr: str | None, kind: str, ctype: str, value: dt.datetime, param: str
               ) -> tuple[str | None, str, Any]:
    """(SQL for the time ``expr`` of kind ``kind`` and column type ``ctype``, SQL for the bound
    ``:param``, the value to bind): how events (``EventStore``) and command logs
    (``audit_sources``) are filtered by time."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if q.name in ("postgresql", "mysql") and kind == "timestamp":
        # compare the column itself (its index stays usable); a column without a zone holds UTC,
        # so it gets a naive UTC value (an aware one would be converted with the session's zone)
        aware = q.name == "postgresql" and ("with time zone" in ctype or ctype == "timestamptz")
        return expr, f":{param}", value if aware else value.replace(tzinfo=None)
    # Elsewhere both sides go through the same epoch conversion, so an event exactly at the
    # bound compares equal (a Python float against julianday() arithmetic may not).
    if kind == "epoch_s":
        bound: Any = value.timestamp()
    elif kind == "epoch_ms":
        bound = round(value.timestamp() * 1000)
    else:
        bound = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return q.epoch(expr, kind) if expr else None, q.epoch(f":{param}", kind), bound


@dataclass(frozen=True)
class StoreBounds:
    events: int
    first_position: int | None
    last_position: int | None
    first_time: dt.datetime | None
    last_time: dt.datetime | None


class EventStore:
    """A read-only view of one store. Safe to share across threads: every call checks out its own
    connection from the Engine (workers never share a connection)."""

    def __init__(self, engine: Engine, layout: Layout, codecs: CodecPipeline | None = None, name: str = ""):
        self.engine = engine
        self.layout = layout
        self.codecs = (codecs or CodecPipeline()).for_layout(layout.name)
        self.dialect = Dialect(engine.dialect.name)
        self.name = name
        q = self.dialect
        self._from_base = f"{q.table(layout.table)} e"
        self._from = f"{self._from_base} {layout.joins}".strip()
        select: list[str] = []
        labels: list[str] = []

        def add(sql: str, label: str) -> None:
            select.append(f"{sql} AS {label}")
            labels.append(label)

        self._json_sources: dict[str, str] = {}  # column -> result label holding it
        for logical in _SCALARS:
            ref = layout.ref(logical)
            if ref is None or ref.path:
                continue
            add(self._plain(ref), f"f_{logical}")
        for logical in ("payload", "metadata"):
            ref = layout.ref(logical)
            if ref is not None and not ref.path:
                add(self._plain(ref), f"f_{logical}")
                if ref.column:
                    self._json_sources[ref.column.lower()] = f"f_{logical}"
        for ref in layout.fields.values():
            if ref.path and ref.column and ref.column.lower() not in self._json_sources:
                label = f"j_{len(self._json_sources)}"
                self._json_sources[ref.column.lower()] = label
                add(f"e.{q.quote(ref.column)}", label)
        self.rows = RowDecoder(layout, labels, self._json_sources, self.codecs)
        self._select = ", ".join(select)
        if not layout.has("position"):
            raise InspectorError(f"layout {layout.name} maps no position column")
        self._pos = self.expr("position")

    # -- SQL fragments --------------------------------------------------------------------
    def _plain(self, ref: FieldRef) -> str:
        if ref.sql is not None:
            return f"({ref.sql})"
        col = f"e.{self.dialect.quote(ref.column)}"
        if self.dialect.name == "postgresql" and self.layout.column_types.get(ref.column.lower()) == "oid":
            return f"lo_get({col})"  # Hibernate maps @Lob byte[] to large objects on PostgreSQL
        return col

    def column_type(self, logical: str) -> str:
        ref = self.layout.ref(logical)
        if ref is None or ref.column is None:
            return "text"
        return self.layout.column_types.get(ref.column.lower(), "text")

    def expr(self, logical: str) -> str | None:
        """SQL for a logical field, or None where the database cannot evaluate it."""
        ref = self.layout.ref(logical)
        if ref is None:
            return None
        if ref.path:
            return self.dialect.json_text(f"e.{self.dialect.quote(ref.column)}", ref.path, self.column_type(logical))
        return self._plain(ref)

    def time_epoch_expr(self) -> str | None:
        if self.layout.time_kind in ("payload", "none") or not self.layout.has("recorded_at"):
            return None
        e = self.expr("recorded_at")
        return self.dialect.epoch(e, self.layout.time_kind) if e else None

    def category_expr(self) -> str | None:
        if self.layout.has("category"):
            return self.expr("category")
        s = self.expr("stream")
        return self.dialect.category_of(s, self.layout.stream_separator) if s else None

    def _need(self, logical: str, what: str) -> str:
        e = self.expr(logical)
        if e is None:
            why = "it is not mapped" if not self.layout.has(logical) else "its column cannot be read as JSON by the database"
            raise UnsupportedFilter(f"cannot filter by {what} on layout {self.layout.name}: {why}")
        return e

    def _time_bound(self, value: dt.datetime, param: str) -> tuple[str, str, Any]:
        """(SQL for the time column, SQL for the bound ``:param``, the value to bind)."""
        kind = self.layout.time_kind
        if kind in ("payload", "none") or not self.layout.has("recorded_at"):
            raise UnsupportedFilter(
                f"layout {self.layout.name} keeps event times only inside encoded payloads, so the "
                "database cannot filter by time; filter by position instead"
            )
        return time_bound(self.dialect, self.expr("recorded_at"), kind, self.column_type("recorded_at"), value, param)

    def where(self, flt: EventFilter) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if flt.stream is not None:
            s = self._need("stream", "stream")
            if self.column_type("stream") == "uuid" and not is_uuid(flt.stream):
                # PostgreSQL refuses to compare a uuid column with other text: no such stream
                clauses.append("1 = 0")
            else:
                clauses.append(f"{s} = :stream")
                params["stream"] = flt.stream
        if flt.category is not None:
            if self.layout.has("category"):
                clauses.append(f"{self._need('category', 'category')} = :category")
                params["category"] = flt.category
            else:
                s = self._need("stream", "category")
                # '!' escapes: a backslash in ESCAPE '\\' is itself an escape in MySQL's string literals
                def esc(v: str) -> str:
                    return v.replace("!", "!!").replace("%", "!%").replace("_", "!_")

                clauses.append(f"({s} = :category OR {s} LIKE :category_like ESCAPE '!')")
                params["category"] = flt.category
                params["category_like"] = esc(flt.category + self.layout.stream_separator) + "%"
        if flt.types:
            t = self._need("type", "event type")
            names = [f"type_{i}" for i in range(len(flt.types))]
            clauses.append(f"{t} IN ({', '.join(':' + n for n in names)})")
            params.update(dict(zip(names, flt.types)))
        if flt.after is not None:
            clauses.append(f"{self._pos} > :after")
            params["after"] = int(flt.after)
        if flt.before is not None:
            clauses.append(f"{self._pos} < :before")
            params["before"] = int(flt.before)
        if flt.since is not None:
            e, b, params["since"] = self._time_bound(flt.since, "since")
            clauses.append(f"{e} >= {b}")
        if flt.until is not None:
            e, b, params["until"] = self._time_bound(flt.until, "until")
            clauses.append(f"{e} < {b}")
        if flt.actor is not None:
            clauses.append(f"{self._need('actor', 'actor')} = :actor")
            params["actor"] = flt.actor
        if flt.correlation_id is not None:
            clauses.append(f"{self.dialect.as_text(self._need('correlation_id', 'correlation id'))} = :corr")
            params["corr"] = flt.correlation_id
        if flt.text:
            ref = self.layout.ref("payload")
            if ref is None:
                raise UnsupportedFilter(f"cannot search text on layout {self.layout.name}: no payload column")
            clauses.append(self.dialect.contains(self._plain(ref), self.column_type("payload"), "text"))
            params["text"] = flt.text
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _from_for(self, flt: EventFilter, *logical: str) -> str:
        """FROM without the layout's joins unless the filter or the grouping needs a joined field
        (counts and histograms over a million rows should not pay for a join they do not use)."""
        if not self.layout.joins:
            return self._from
        used = set(logical)
        if flt.stream is not None:
            used.add("stream")
        if flt.category is not None:
            used.update(("category", "stream"))
        return self._from if used & set(self.layout.join_fields) else self._from_base

    # -- decoding -------------------------------------------------------------------------
    def to_event(self, row: Sequence[Any]) -> RecordedEvent:
        return self.rows.to_event(row)

    def _events(self, rows: Sequence[Any]) -> tuple[RecordedEvent, ...]:
        return self.rows.events(rows)

    # -- reading --------------------------------------------------------------------------
    def _sort_expr(self, sort: str) -> str:
        if sort == "position":
            return self._pos
        if sort not in SORTABLE:
            raise InspectorError(f"cannot sort by {sort}; sortable: {', '.join(SORTABLE)}")
        if sort == "recorded_at":
            e = self.time_epoch_expr()
            if e is None:
                raise UnsupportedFilter(f"cannot sort by time on layout {self.layout.name}: times live in payloads")
            return f"COALESCE({e}, -1e18)"
        e = self._need(sort, sort)
        if sort == "version":
            return f"COALESCE({e}, -1)"
        return f"COALESCE({self.dialect.as_text(e)}, '')"

    def read_page(
        self,
        flt: EventFilter = EventFilter(),
        *,
        limit: int = 200,
        cursor: tuple[Any, ...] | None = None,
        sort: str = "position",
        descending: bool = False,
        backward: bool = False,
    ) -> Page:
        """One keyset page. ``cursor`` is the key of the row next to the page (a page's
        ``last_key`` to read on, its ``first_key`` with ``backward=True``): (sort value, position),
        plus the table's row identity where positions are not unique. Events come back in display
        order either way. Never uses OFFSET."""
        where, params = self.where(flt)
        desc = descending != backward
        op, direction = ("<", "DESC") if desc else (">", "ASC")
        # the ordering keys, most significant first; the extra ones travel in columns k_0, k_1…
        keys: list[str] = [] if sort == "position" else [self._sort_expr(sort)]
        keys.append(self._pos)
        if self.layout.tiebreak:
            keys.append(self.layout.tiebreak)
        extra = [k for k in keys if k is not self._pos]
        clauses = [where[len(" WHERE "):]] if where else []
        if cursor is not None:
            values = list(cursor[1:] if sort == "position" else cursor)[: len(keys)]
            terms = []
            for i, key in enumerate(keys[: len(values)]):
                same = [f"{keys[j]} = :cur_{j}" for j in range(i)]
                terms.append("(" + " AND ".join(same + [f"{key} {op} {self._bind(key, i)}"]) + ")")
                params[f"cur_{i}"] = values[i]
            clauses.append("(" + " OR ".join(terms) + ")")
        sql = f"SELECT {self._select}" + "".join(f", {k} AS k_{n}" for n, k in enumerate(extra))
        sql += f" FROM {self._from}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY " + ", ".join(f"{k} {direction}" for k in keys) + f" LIMIT {int(limit) + 1}"
        rows = self._fetch_page(sql, params)
        has_more = len(rows) > limit
        if has_more and sort == "position" and not self.layout.position_unique and not self.layout.tiebreak:
            rows = self._whole_last_position(rows, limit, where, params)
        else:
            rows = rows[:limit]
        if backward:
            rows.reverse()
        events = self._events(rows)
        if not events:
            return Page(events, has_more, None, None)
        n_extra = len(extra)

        def key(row: Any, e: RecordedEvent) -> tuple[Any, ...]:
            tail = tuple(row[len(row) - n_extra:]) if n_extra else ()  # the k_ columns come last
            if sort == "position":
                return (e.position, e.position) + tail
            return (tail[0], e.position) + tail[1:]

        return Page(events, has_more, key(rows[0], events[0]), key(rows[-1], events[-1]))

    def _whole_last_position(self, rows: list[Any], limit: int, where: str, params: dict[str, Any]) -> list[Any]:
        """Positions are not unique and nothing else orders rows that share one: end the page after
        all the rows of its last position (a few more than ``limit``), so the next page, which
        starts after that position, loses none of them."""
        pi = self.rows.plan[0][0]
        last = rows[limit - 1][pi]
        if rows[limit][pi] != last:
            return rows[:limit]
        head = [r for r in rows[:limit] if r[pi] != last]
        clause = (where + " AND " if where else " WHERE ") + f"{self._pos} = :whole_pos"
        group = self._fetch_page(f"SELECT {self._select} FROM {self._from}{clause}", dict(params, whole_pos=last))
        return head + group

    def _bind(self, key: str, i: int) -> str:
        if key == "e.ctid":
            return f"CAST(:cur_{i} AS tid)"  # PostgreSQL row identity travels as text
        return f":cur_{i}"

    def _fetch_page(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run a page query on a pooled DB-API connection directly. The same connection pool (pre-ping,
        read-only session setup) as every other query, minus SQLAlchemy's per-statement result
        machinery, which costs about a third of a SQLite page read; errors are raised as
        SQLAlchemy's DBAPIError like everywhere else."""
        native = _native_sql(sql, self.dialect.name)
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                cur.execute(native, params)
                return list(cur.fetchall())  # PyMySQL gives a tuple
            except self.engine.dialect.loaded_dbapi.Error as e:
                if self.engine.dialect.is_disconnect(e, conn.dbapi_connection, cur):
                    conn.invalidate(e)
                raise sa.exc.DBAPIError.instance(native, params, e, self.engine.dialect.loaded_dbapi.Error) from e
            finally:
                cur.close()
        finally:
            conn.close()

    def iter_pages(self, flt: EventFilter = EventFilter(), page_size: int = 1000) -> Iterator[Page]:
        cursor = None
        while True:
            page = self.read_page(flt, limit=page_size, cursor=cursor)
            if page.events:
                yield page
            if not page.has_more:
                return
            cursor = page.last_key

    def iter_events(self, flt: EventFilter = EventFilter(), page_size: int = 1000) -> Iterator[RecordedEvent]:
        for page in self.iter_pages(flt, page_size):
            yield from page.events

    def get(self, position: int) -> RecordedEvent | None:
        page = self.read_page(EventFilter(after=position - 1, before=position + 1), limit=1)
        return page.events[0] if page.events else None

    def find_event(self, event_id: str) -> RecordedEvent | None:
        e = self._need("event_id", "event id")
        sql = f"SELECT {self._select} FROM {self._from} WHERE {self.dialect.as_text(e)} = :id LIMIT 1"
        with self.engine.connect() as conn:
            row = conn.execute(_sql(sql), {"id": event_id}).first()
        return self.to_event(row) if row else None

    # -- aggregates ----------------------------------------------------------------------
    def count(self, flt: EventFilter = EventFilter()) -> int:
        where, params = self.where(flt)
        with self.engine.connect() as conn:
            return int(conn.execute(_sql(f"SELECT COUNT(*) FROM {self._from_for(flt)}{where}"), params).scalar() or 0)

    def bounds(self, flt: EventFilter = EventFilter()) -> StoreBounds:
        """Count, first/last positions and their times (times of the first and last events)."""
        n = self.count(flt)
        first = self.read_page(flt, limit=1)
        last = self.read_page(flt, limit=1, descending=True)
        f = first.events[0] if first.events else None
        l = last.events[0] if last.events else None
        return StoreBounds(
            n,
            f.position if f else None,
            l.position if l else None,
            f.recorded_at if f else None,
            l.recorded_at if l else None,
        )

    def head(self) -> int | None:
        with self.engine.connect() as conn:
            v = conn.execute(_sql(f"SELECT MAX({self._pos}) FROM {self._from_base}")).scalar()
        return int(v) if v is not None else None

    def histogram(
        self,
        flt: EventFilter = EventFilter(),
        *,
        bins: int = 150,
        start: float | None = None,
        end: float | None = None,
    ) -> Histogram:
        """Events per bucket per type, counted by the database (GROUP BY). On the time axis
        (epoch seconds) where the store keeps a queryable time, else on the position axis.
        ``start``/``end`` restrict to a visible window (zoom and pan)."""
        epoch = self.time_epoch_expr()
        axis = "time" if epoch else "position"
        key = epoch or self._pos
        where, params = self.where(flt)
        # Only a window the caller gives restricts the rows. The default range comes from the first
        # and last events in position order, and times are not monotonic in position (concurrent
        # writers, clock skew): clipping to it would silently drop events near the ends.
        window = [where[len(" WHERE "):]] if where else []
        # events without a time have no bin (and SQLite's floor() refuses NULL); testing the bare
        # column lets an index on (time, type) cover the whole query
        window.append(f"{self.expr('recorded_at') if epoch else key} IS NOT NULL")
        if start is not None:
            window.append(f"{key} >= :h_lo")
            params["h_lo"] = float(start)
        if end is not None:
            window.append(f"{key} < :h_hi")  # half-open like bins and EventFilter.until
            params["h_hi"] = float(end)
        if start is None or end is None:
            lo, hi = self._axis_range(key, flt, where, params)
            start = lo if start is None else start
            end = hi if end is None else end
        if start is None or end is None:
            return Histogram(axis, 0, (), ())
        lo, hi = sorted((float(start), float(end)))
        span = max(hi - lo, 1.0)
        raw = span / max(bins, 1)
        width = next((w for w in _NICE_WIDTHS if w >= raw), raw) if axis == "time" else max(1.0, math.ceil(raw))
        origin = math.floor(lo / width) * width
        type_sql = self.expr("type") or "''"
        sql = (
            f"SELECT {self.dialect.bucket(key, origin, width)} AS b, {type_sql} AS t, COUNT(*) AS n "
            f"FROM {self._from_for(flt, 'type')} WHERE {' AND '.join(window)} GROUP BY 1, 2"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(_sql(sql), params).fetchall()
        buckets: dict[int, dict[str, int]] = {}
        types: dict[str, int] = {}
        for b, t, n in rows:
            if b is None:
                continue
            t = _text(t) or "(none)"
            buckets.setdefault(int(b), {})[t] = int(n)
            types[t] = types.get(t, 0) + int(n)
        out = tuple(
            HistogramBin(origin + b * width, origin + (b + 1) * width, counts) for b, counts in sorted(buckets.items())
        )
        return Histogram(axis, float(width), out, tuple(sorted(types, key=lambda k: -types[k])))

    def _axis_range(self, key: str, flt: EventFilter, where: str, params: dict) -> tuple[float | None, float | None]:
        """The first and last values of the axis, read at the ends of the position order (an index
        lookup), widened by a MIN/MAX only on the position axis where both are the same thing."""
        out = []
        # events without a time (NULL, or text the database cannot read as one) are skipped: one
        # such event at either end must not leave the whole histogram without a range
        known = f"{where} AND {key} IS NOT NULL" if where else f" WHERE {key} IS NOT NULL"
        with self.engine.connect() as conn:
            for direction in ("ASC", "DESC"):
                v = conn.execute(
                    _sql(f"SELECT {key} FROM {self._from_for(flt)}{known} ORDER BY {self._pos} {direction} LIMIT 1"), params
                ).scalar()
                out.append(float(v) if v is not None else None)
        return out[0], out[1]

    def streams(self, flt: EventFilter = EventFilter(), limit: int = 500) -> list[StreamSummary]:
        s = self._need("stream", "stream")
        c = self.category_expr()
        where, params = self.where(flt)
        sql = (
            f"SELECT {s} AS s, {c} AS c, COUNT(*) AS n, MAX({self._pos}) AS p FROM {self._from}{where} "
            f"GROUP BY {s} ORDER BY p DESC LIMIT {int(limit)}"
        )
        if self.dialect.name == "postgresql":  # PG wants every selected expression grouped
            sql = sql.replace(f"GROUP BY {s}", f"GROUP BY {s}, {c}")
        with self.engine.connect() as conn:
            return [StreamSummary(_text(r[0]), _text(r[1]), int(r[2]), int(r[3])) for r in conn.execute(_sql(sql), params)]

    def categories(self, flt: EventFilter = EventFilter()) -> list[CategorySummary]:
        s = self._need("stream", "stream")
        c = self.category_expr()
        where, params = self.where(flt)
        sql = (
            f"SELECT {c} AS c, COUNT(DISTINCT {s}) AS streams, COUNT(*) AS n FROM {self._from}{where} "
            f"GROUP BY 1 ORDER BY n DESC"
        )
        with self.engine.connect() as conn:
            return [CategorySummary(_text(r[0]) or "", int(r[1]), int(r[2])) for r in conn.execute(_sql(sql), params)]

    def event_types(self, flt: EventFilter = EventFilter()) -> list[tuple[str, int]]:
        t = self._need("type", "event type")
        where, params = self.where(flt)
        sql = f"SELECT {t} AS t, COUNT(*) AS n FROM {self._from_for(flt, 'type')}{where} GROUP BY 1 ORDER BY n DESC"
        with self.engine.connect() as conn:
            return [(_text(r[0]) or "", int(r[1])) for r in conn.execute(_sql(sql), params)]

    def close(self) -> None:
        self.engine.dispose()
