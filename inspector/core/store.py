"""Reading an event store through a Layout: keyset pages, filters, counts, histograms and stream
summaries, all pushed down to SQL. Nothing here writes."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .codecs import MISS, CodecPipeline, Decoded
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
_SCALARS = ("position", "stream", "version", "type", "recorded_at", "event_id", "causation_id", "correlation_id", "actor")
_NICE_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                172800, 604800, 1209600, 2592000, 7776000, 31536000)

UTC = dt.timezone.utc


@functools.lru_cache(maxsize=512)
def _sql(text: str) -> sa.TextClause:
    """Parsed SQL text, kept: the same few statements run for every page, and parsing their bind
    parameters again each time costs more than a page of SQLite reads."""
    return sa.text(text)

_NOTHING = Decoded(None, None)


def parse_time(value: Any, per_second: int = 1) -> dt.datetime | None:
    """A stored time as an aware UTC datetime. Naive values are UTC by every known store's rules.
    Numbers are epoch times in units of ``1/per_second`` s (1000 for ``epoch_ms``); a number too
    large for a date reads as None rather than stopping the read."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        s = value.strip()
        try:
            t = dt.datetime.fromisoformat(s)
        except ValueError:
            try:
                value = float(s)
            except ValueError:
                return None
        else:
            return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(float(value) / per_second, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


_BIND = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=512)
def _native_sql(sql: str, dialect: str) -> str:
    """``:name`` binds in the driver's own style: sqlite3 takes them as they are; psycopg and PyMySQL
    want ``%(name)s`` (and literal percent signs doubled)."""
    if dialect == "sqlite":
        return sql
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def _extract(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _text(v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return str(v)


def _is_uuid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


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
        self.codecs = codecs or CodecPipeline()
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
        # A row plan computed once, so decoding a row is index lookups (the first page is bound by it).
        index = {label: i for i, label in enumerate(labels)}
        self._payload_i = index.get("f_payload")
        self._metadata_i = index.get("f_metadata")
        # one (row index, JSON path or None) per RecordedEvent field from position to actor
        self._plan: list[tuple[int, tuple[str, ...] | None] | None] = []
        for logical in _SCALARS:
            ref = layout.ref(logical)
            if ref is None:
                self._plan.append(None)
            elif ref.path:
                self._plan.append((index[self._json_sources[ref.column.lower()]], tuple(ref.path.split("."))))
            else:
                self._plan.append((index[f"f_{logical}"], None))
        self._payload_time = layout.time_payload_key or "timestamp" if layout.time_kind == "payload" else None
        self._time_unit = 1000 if layout.time_kind == "epoch_ms" else 1
        # The common shape (every field a plain column, JSON object payloads, a real time column)
        # gets a specialised loop in _events; anything else goes through to_event.
        self._json_reader = self.codecs.json_reader()
        self._simple = (
            self._json_reader is not None
            and self._payload_i is not None
            and layout.time_kind in ("timestamp", "iso_text")
            and all(step is None or step[1] is None for step in self._plan)
            and self._plan[0] is not None
        )
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
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        e = self.expr("recorded_at")
        if self.dialect.name in ("postgresql", "mysql") and kind == "timestamp":
            # compare the column itself (its index stays usable); a column without a zone holds UTC,
            # so it gets a naive UTC value (an aware one would be converted with the session's zone)
            ctype = self.column_type("recorded_at")
            aware = self.dialect.name == "postgresql" and ("with time zone" in ctype or ctype == "timestamptz")
            return e, f":{param}", value if aware else value.replace(tzinfo=None)
        # Elsewhere both sides go through the same epoch conversion, so an event exactly at the
        # bound compares equal (a Python float against julianday() arithmetic may not).
        if kind == "epoch_s":
            bound: Any = value.timestamp()
        elif kind == "epoch_ms":
            bound = round(value.timestamp() * 1000)
        else:
            bound = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return self.time_epoch_expr(), self.dialect.epoch(f":{param}", kind), bound

    def where(self, flt: EventFilter) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if flt.stream is not None:
            s = self._need("stream", "stream")
            if self.column_type("stream") == "uuid" and not _is_uuid(flt.stream):
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
        """Decode one result row. Hot: the first page's latency is mostly this, so it works from the
        row plan computed in ``__init__`` rather than from the layout."""
        decode = self.codecs.decode
        pi, mi = self._payload_i, self._metadata_i
        payload_raw = row[pi] if pi is not None else None
        pdec = decode(payload_raw)
        mdec = decode(row[mi]) if mi is not None else _NOTHING
        decoded = {pi: pdec.value, mi: mdec.value}
        out: list[Any] = []
        for step in self._plan:
            if step is None:
                out.append(None)
                continue
            i, path = step
            v = row[i]
            if path is not None:
                v = decoded[i] if i in decoded else decoded.setdefault(i, decode(v).value)
                for part in path:
                    v = v.get(part) if isinstance(v, dict) else None
            out.append(v if v is None or type(v) is str else _text(v))
        position, stream, version, etype, recorded, event_id, causation, correlation, actor = out
        if self._payload_time is not None:
            recorded = parse_time(_extract(pdec.value, self._payload_time)) if isinstance(pdec.value, dict) else None
        else:
            recorded = parse_time(row[self._plan[4][0]] if self._plan[4] and self._plan[4][1] is None else recorded,
                                  self._time_unit)
        error = pdec.error
        if mdec.error:
            error = f"{error}; metadata: {mdec.error}" if error else f"metadata: {mdec.error}"
        return RecordedEvent(
            int(row[self._plan[0][0]]) if self._plan[0][1] is None else int(position),
            stream,
            int(version) if version is not None else None,
            etype,
            recorded,
            event_id,
            causation,
            correlation,
            actor,
            pdec.value,
            mdec.value,
            error,
            pdec.encoding,
            bytes(payload_raw) if isinstance(payload_raw, (memoryview, bytearray)) else payload_raw,
        )

    def _events(self, rows: Sequence[Any]) -> tuple[RecordedEvent, ...]:
        """``tuple(to_event(r) for r in rows)``, specialised for the common shape (tested equal):
        the first page's latency is this loop, so it is written for speed, not for beauty."""
        if not self._simple:
            return tuple(self.to_event(r) for r in rows)
        read, to_event, new = self._json_reader, self.to_event, tuple.__new__
        pi, mi = self._payload_i, self._metadata_i
        idx = [step[0] if step is not None else None for step in self._plan]
        # unmapped fields read the position column and are blanked below (keeps one itemgetter)
        get = operator.itemgetter(*[i if i is not None else idx[0] for i in idx])
        missing = [n for n, i in enumerate(idx) if i is None]
        fromiso = dt.datetime.fromisoformat
        out: list[RecordedEvent] = []
        append = out.append
        for row in rows:
            payload = row[pi]
            data = read(payload)
            if data is MISS:
                append(to_event(row))
                continue
            meta = row[mi] if mi is not None else None
            if meta is not None:
                meta = read(meta)
                if meta is MISS:
                    append(to_event(row))
                    continue
            pos, stream, version, etype, t, event_id, causation, correlation, actor = get(row)
            if missing:
                vals = [pos, stream, version, etype, t, event_id, causation, correlation, actor]
                for n in missing:
                    vals[n] = None
                pos, stream, version, etype, t, event_id, causation, correlation, actor = vals
            if t is not None:
                if type(t) is str:
                    try:
                        t = fromiso(t)
                    except ValueError:
                        append(to_event(row))
                        continue
                elif not isinstance(t, dt.datetime):
                    append(to_event(row))
                    continue
                if t.tzinfo is not UTC:
                    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
            if not (
                (stream is None or type(stream) is str) and (etype is None or type(etype) is str)
                and (event_id is None or type(event_id) is str) and (causation is None or type(causation) is str)
                and (correlation is None or type(correlation) is str) and (actor is None or type(actor) is str)
                and type(pos) is int and (version is None or type(version) is int)
            ):
                append(to_event(row))  # uuids, bytes, decimals…: the general path converts them
                continue
            append(new(RecordedEvent, (pos, stream, version, etype, t, event_id, causation, correlation, actor,
                                       data, meta, None, "json", payload)))
        return tuple(out)

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
        cursor: tuple[Any, int] | None = None,
        sort: str = "position",
        descending: bool = False,
        backward: bool = False,
    ) -> Page:
        """One keyset page. ``cursor`` is the (sort value, position) of the row next to the page:
        the last row seen when reading on, the first row seen with ``backward=True``. Events come
        back in display order either way. Never uses OFFSET."""
        where, params = self.where(flt)
        skey = self._sort_expr(sort)
        desc = descending != backward
        op, direction = ("<", "DESC") if desc else (">", "ASC")
        clauses = [where[len(" WHERE "):]] if where else []
        if cursor is not None:
            value, pos = cursor
            params["cur_pos"] = int(pos)
            if sort == "position":
                clauses.append(f"{self._pos} {op} :cur_pos")
            else:
                params["cur_val"] = value
                clauses.append(f"({skey} {op} :cur_val OR ({skey} = :cur_val AND {self._pos} {op} :cur_pos))")
        sql = f"SELECT {self._select}"
        if sort != "position":
            sql += f", {skey} AS k_sort"
        sql += f" FROM {self._from}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = f"{self._pos} {direction}" if sort == "position" else f"{skey} {direction}, {self._pos} {direction}"
        sql += f" ORDER BY {order} LIMIT {int(limit) + 1}"
        rows = self._fetch_page(sql, params)
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backward:
            rows.reverse()
        events = self._events(rows)
        if not events:
            return Page(events, has_more, None, None)

        def key(row: Any, e: RecordedEvent) -> tuple[Any, int]:
            return (row[-1] if sort != "position" else e.position, e.position)  # k_sort is the last column

        return Page(events, has_more, key(rows[0], events[0]), key(rows[-1], events[-1]))

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
