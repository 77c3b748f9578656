"""Exports: events, a projection's state, a diff and any table of rows (audit tables) to CSV, JSON
Lines or Parquet, streamed in pages and written atomically (a temporary file renamed into place).

Every export is a table of typed columns. A column has one of six kinds, and each format writes a
kind one way (the same for events, states, diffs and audit rows):

=========  ==========================  ==================  ==============================
kind       CSV cell                    JSON Lines value    Parquet (Arrow) type
=========  ==========================  ==================  ==============================
int        decimal digits              number              int64
float      shortest repr               number              float64
bool       ``true`` / ``false``        true / false        bool
time       ISO 8601 UTC with offset    ISO 8601 text       timestamp[us, tz=UTC]
text       the text                    string              string
json       compact JSON text           the JSON value      string (compact JSON text)
=========  ==========================  ==================  ==============================

Missing values are an empty CSV cell, JSON null and a Parquet null; NaN and infinities are missing.
CSV is UTF-8 with a header row; JSON Lines is one UTF-8 object per line. Parquet files carry the
export's description (what was exported, from which store, with which filter) in the schema
metadata under ``inspector.export``.

Events have fixed columns (``EVENT_COLUMNS``): ``RecordedEvent.to_json()``'s fields, ``data`` and
``metadata`` of kind json. A History frame's columns take their kinds from the frame's dtypes (an
object or categorical column from its values: one kind, ints with floats as floats, anything mixed
as json). Rows of unknown shape (``write_rows``: audit tables) take their columns and kinds from
the first ``BATCH_ROWS`` rows unless given; a later row with a column or a value that does not fit
is refused rather than dropped. Nothing here imports Qt; pyarrow is imported only for Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator, Mapping, Sequence

import numpy as np
import orjson

from .codecs import load_json
from .errors import InspectorError
from .model import EventFilter, RecordedEvent
from .store import EventStore
from .progress import drive
from .store_files import AtomicFile

__all__ = ["BATCH_ROWS", "EVENT_COLUMNS", "FORMATS", "KINDS", "ExportCancelled", "ExportError", "ExportResult",
           "diff_rows", "event_row", "filter_from_json", "filter_to_json", "format_of", "iter_write_events",
           "json_text", "write_diff", "write_events", "write_frame", "write_rows", "write_state"]

FORMATS = ("csv", "jsonl", "parquet")
KINDS = ("int", "float", "bool", "time", "text", "json")
#: Rows per Parquet row group, and per batch written (events are read in pages of ``page_size``).
BATCH_ROWS = 65_536
UTC = dt.timezone.utc
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}

#: An event export's columns: ``RecordedEvent.to_json()``, typed.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("position", "int"), ("stream", "text"), ("version", "int"), ("type", "text"), ("recorded_at", "time"),
    ("event_id", "text"), ("causation_id", "text"), ("correlation_id", "text"), ("actor", "text"),
    ("data", "json"), ("metadata", "json"), ("decode_error", "text"),
)
#: A diff export's columns (``diff_rows``).
DIFF_COLUMNS: tuple[tuple[str, str], ...] = (
    ("change", "text"), ("key", "text"), ("field", "text"), ("old", "json"), ("new", "json"),
)

Progress = tuple[int, "int | None"]  # (rows written, rows in all when known)


class ExportError(InspectorError):
    """An export that cannot be written as asked (unknown format, a row that does not fit)."""


class ExportCancelled(ExportError):
    """The export was cancelled; nothing was left at the destination."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    rows: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "rows": self.rows, "bytes": self.bytes}


# -- filters as JSON -------------------------------------------------------------------------------


def filter_to_json(flt: EventFilter) -> dict[str, Any]:
    """Every field of the filter (times as ISO 8601 with offset; naive ones are UTC)."""
    out: dict[str, Any] = {}
    for f in fields(flt):
        v = getattr(flt, f.name)
        if isinstance(v, dt.datetime):
            v = (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def filter_from_json(doc: Mapping[str, Any] | None) -> EventFilter:
    """The filter ``filter_to_json`` wrote (unknown keys refused, so a newer file is not misread)."""
    doc = dict(doc or {})
    names = {f.name for f in fields(EventFilter)}
    unknown = set(doc) - names
    if unknown:
        raise ExportError(f"unknown filter fields: {', '.join(sorted(unknown))}")
    for k in ("since", "until"):
        if doc.get(k) is not None:
            t = dt.datetime.fromisoformat(str(doc[k]))
            doc[k] = t if t.tzinfo else t.replace(tzinfo=UTC)
    for k in ("after", "before"):
        if doc.get(k) is not None:
            doc[k] = int(doc[k])
    doc["types"] = tuple(doc.get("types") or ())
    return EventFilter(**doc)


def describe_filter(flt: EventFilter) -> list[tuple[str, str]]:
    """The filter's set fields as (label, value) text pairs, for reports and messages."""
    labels = {"stream": "stream", "category": "category", "types": "event types", "after": "position >",
              "before": "position <", "since": "recorded at or after", "until": "recorded before",
              "actor": "actor", "correlation_id": "correlation id", "text": "payload text contains"}
    out = []
    for name, v in filter_to_json(flt).items():
        if v in (None, [], ""):
            continue
        out.append((labels[name], ", ".join(map(str, v)) if isinstance(v, list) else str(v)))
    return out


# -- values ---------------------------------------------------------------------------------------


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v) or math.isinf(v)
    if v.__class__.__module__.startswith(("pandas", "numpy")):
        try:
            import pandas as pd

            if v is pd.NA or v is pd.NaT:
                return True
        except ImportError:  # pragma: no cover
            pass
        if isinstance(v, np.floating):
            return bool(np.isnan(v) or np.isinf(v))
        if isinstance(v, np.datetime64):
            return bool(np.isnat(v))
    return False


def _plain(v: Any) -> Any:
    """JSON-able Python values: numpy scalars as Python ones, times as ISO text, missing as None."""
    if _missing(v):
        return None
    if isinstance(v, np.generic):
        return _plain(v.item())
    if isinstance(v, dt.datetime):
        return _utc(v).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(UTC) if t.tzinfo is not None else t.replace(tzinfo=UTC)


_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def json_text(v: Any) -> str:
    """Compact JSON text of a decoded value (UTF-8, non-ASCII as is, NaN and infinities as null,
    values JSON has no word for as text)."""
    try:
        return orjson.dumps(v, default=str, option=_ORJSON).decode()
    except (orjson.JSONEncodeError, TypeError):  # an int beyond 64 bits, a key orjson refuses
        return json.dumps(_plain(v), ensure_ascii=False, separators=(",", ":"), default=str)


def kind_of(v: Any) -> str | None:
    """The kind of one value (None: missing, says nothing)."""
    if _missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, (dt.datetime, np.datetime64)):
        return "time"
    if isinstance(v, str):
        return "text"
    return "json"


def _merge(kinds: set[str]) -> str:
    if not kinds:
        return "text"
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds == {"int", "float"}:
        return "float"
    return "json"


def _cast(kind: str, v: Any, column: str) -> Any:
    """``v`` as a value of ``kind`` (None when missing), or ExportError when it is not one."""
    if v is None:
        return None
    t = v.__class__
    # the common cases first, by exact type: a million-event export casts a dozen values per event
    if kind == "json":
        if t is dict or t is list or t is str or t is int or t is bool:
            return v  # nested NaN and times are the JSON writer's (json_text, orjson)
    elif kind == "text":
        if t is str:
            return v
    elif kind == "time":
        if t is dt.datetime and v.tzinfo is UTC:
            return v
    elif kind == "int":
        if t is int:
            return v
    elif kind == "bool":
        if t is bool:
            return v
    if _missing(v):
        return None
    if kind == "json":
        return _plain(v)
    if kind == "text":
        return v if isinstance(v, str) else str(v)
    k = kind_of(v)
    if k == kind:
        if kind == "time":
            if isinstance(v, np.datetime64):
                import pandas as pd

                v = pd.Timestamp(v).to_pydatetime()
            return _utc(v)
        return v.item() if isinstance(v, np.generic) else v
    if kind == "float" and k == "int":
        return float(v)
    raise ExportError(f"column {column!r} holds {kind} values, but a later row holds {v!r} ({k}); "
                      "give the columns and their kinds, or make that column text or json")


# -- writers --------------------------------------------------------------------------------------


class _Sink:
    """Writes batches of row tuples (cast to the columns' kinds) in one format."""

    def __init__(self, fmt: str, path: Path, columns: Sequence[tuple[str, str]], meta: Mapping[str, Any] | None):
        self.fmt, self.columns = fmt, list(columns)
        self.names = [c for c, _ in self.columns]
        self.rows = 0
        self._pending: list[Any] = []  # Parquet: Arrow record batches not yet written
        self._pending_rows = 0
        if fmt == "csv":
            self._fh: Any = open(path, "w", encoding="utf-8", newline="")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(self.names)
        elif fmt == "jsonl":
            self._fh = open(path, "wb")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                     "time": pa.timestamp("us", tz="UTC"), "text": pa.string(), "json": pa.string()}
            schema = pa.schema([pa.field(n, types[k]) for n, k in self.columns])
            if meta:
                schema = schema.with_metadata({"inspector.export": json.dumps(_plain(dict(meta)), ensure_ascii=False)})
            self._pa, self._schema = pa, schema
            self._fh = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        kinds = [k for _, k in self.columns]
        names = self.names
        if self.fmt == "csv":
            cell = _csv_cell
            self._csv.writerows([[cell(k, _cast(k, v, n)) for k, v, n in zip(kinds, row, names)] for row in rows])
        elif self.fmt == "jsonl":
            out = bytearray()
            for row in rows:
                obj = {n: _cast(k, v, n) for k, v, n in zip(kinds, row, names)}
                for n, k in zip(names, kinds):
                    if k == "time" and obj[n] is not None:
                        obj[n] = obj[n].isoformat()
                try:
                    out += orjson.dumps(obj, default=str, option=_ORJSON)
                except (orjson.JSONEncodeError, TypeError):
                    out += json.dumps(_plain(obj), ensure_ascii=False, separators=(",", ":"), default=str).encode()
                out += b"\n"
            self._fh.write(out)
        else:
            # to Arrow at once (far smaller than the rows' Python objects); a row group per BATCH_ROWS
            pa = self._pa
            arrays = []
            for (n, k), values, f in zip(self.columns, zip(*rows), self._schema):
                cast = [_cast(k, v, n) for v in values]
                if k == "json":
                    cast = [None if v is None else json_text(v) for v in cast]
                arrays.append(pa.array(cast, type=f.type))
            self._pending.append(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
            self._pending_rows += len(rows)
            if self._pending_rows >= BATCH_ROWS:
                self._flush()
        self.rows += len(rows)

    def _flush(self) -> None:
        if not self._pending:
            return
        table = self._pa.Table.from_batches(self._pending, schema=self._schema)
        self._fh.write_table(table, row_group_size=max(len(table), 1))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        if self.fmt == "parquet":
            self._flush()
        self._fh.close()

    def abort(self) -> None:
        try:
            self._fh.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass


def _csv_cell(kind: str, v: Any) -> Any:
    if v is None:
        return ""
    if kind == "bool":
        return "true" if v else "false"
    if kind == "time":
        return v.isoformat()
    if kind == "json":
        return json_text(v)
    return v


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The format asked for, else the one the file's suffix names."""
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ExportError(f"cannot tell the format from {Path(path).name!r}: name it .csv, .jsonl or .parquet "
                          "(or give the format)")
    return _SUFFIXES[suffix]


def iter_write(out: str | Path, fmt: str | None, columns: Sequence[tuple[str, str]],
               batches: Iterable[Sequence[Sequence[Any]]], *, total: int | None = None,
               meta: Mapping[str, Any] | None = None,
               should_cancel: Callable[[], bool] | None = None) -> Generator[Progress, None, ExportResult]:
    """Write ``batches`` of row tuples as a table of ``columns`` ((name, kind) pairs), yielding
    (rows written, ``total``) after each batch; returns the result. Closing the generator early
    (a cancelled worker) or an error leaves nothing at ``out``."""
    path = Path(out)
    fmt = format_of(path, fmt)
    for name, kind in columns:
        if kind not in KINDS:
            raise ExportError(f"column {name!r}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    atomic = AtomicFile(path, suffix=".part", prefix=f".{path.name}.", shared=True)
    sink = None
    try:
        sink = _Sink(fmt, atomic.tmp, columns, meta)
        for batch in batches:
            if should_cancel is not None and should_cancel():
                raise ExportCancelled(f"the export to {path.name} was cancelled")
            sink.write(batch)
            yield sink.rows, total
        sink.close()
        size = atomic.commit()
    except BaseException:
        if sink is not None:
            sink.abort()
        atomic.discard()
        raise
    return ExportResult(path, fmt, sink.rows, size)


# -- events ---------------------------------------------------------------------------------------


def event_row(e: RecordedEvent) -> tuple[Any, ...]:
    """An event as a row of ``EVENT_COLUMNS``."""
    return (e.position, e.stream, e.version, e.type, e.recorded_at, e.event_id, e.causation_id, e.correlation_id,
            e.actor, e.data, e.metadata, e.decode_error)


def iter_write_events(store: EventStore, flt: EventFilter, out: str | Path, fmt: str | None = None, *,
                      page_size: int = 5000, count: bool = True, meta: Mapping[str, Any] | None = None,
                      should_cancel: Callable[[], bool] | None = None) -> Generator[Progress, None, ExportResult]:
    """The events ``flt`` selects, in position order, read a page at a time (a million-event export
    holds one page and, for Parquet, one row group). ``count``: count them first, for progress."""
    total = store.count(flt) if count else None
    from .checkpoints import StoreIdentity
    from .roles import role_of

    desc = {"what": "events", "filter": filter_to_json(flt), "store": StoreIdentity.of(store).to_json(),
            "role": str(role_of(store)), **(meta or {})}
    batches = ([event_row(e) for e in page.events] for page in store.iter_pages(flt, page_size))
    return (yield from iter_write(out, fmt, EVENT_COLUMNS, batches, total=total, meta=desc,
                                  should_cancel=should_cancel))


def write_events(store: EventStore, flt: EventFilter, out: str | Path, fmt: str | None = None, *,
                 page_size: int = 5000, progress: Callable[[int, int | None], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> ExportResult:
    """Export the events ``flt`` selects (see the module docstring for the columns)."""
    return drive(iter_write_events(store, flt, out, fmt, page_size=page_size, count=progress is not None,
                                    should_cancel=should_cancel), progress)


# -- rows and frames ------------------------------------------------------------------------------


def _columns_of(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[str, set[str]] = {}
    for r in rows:
        for k, v in r.items():
            kinds = seen.setdefault(str(k), set())
            kind = kind_of(v)
            if kind is not None:
                kinds.add(kind)
    return [(k, _merge(v)) for k, v in seen.items()]


def iter_write_rows(rows: Iterable[Mapping[str, Any]], out: str | Path, fmt: str | None = None, *,
                    columns: Sequence[str | tuple[str, str]] | None = None, meta: Mapping[str, Any] | None = None,
                    total: int | None = None) -> Generator[Progress, None, ExportResult]:
    """Rows given as dicts (an audit table, anything): see ``write_rows``."""
    it = iter(rows)
    first: list[Mapping[str, Any]] = []
    for r in it:
        first.append(r)
        if len(first) >= BATCH_ROWS:
            break
    inferred = dict(_columns_of(first))
    cols: list[tuple[str, str]] = []
    for c in columns if columns is not None else list(inferred):
        cols.append(tuple(c) if not isinstance(c, str) else (c, inferred.get(c, "text")))  # type: ignore[arg-type]
    names = [n for n, _ in cols]
    known = set(names)
    strict = columns is None

    def batch(rs: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if strict:
            for r in rs:
                extra = [k for k in r if k not in known]
                if extra:
                    raise ExportError(f"a row holds column {extra[0]!r}, which the first {len(first):,} rows do not; "
                                      "give the columns")
        return [tuple(r.get(n) for n in names) for r in rs]

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        yield batch(first)
        chunk: list[Mapping[str, Any]] = []
        for r in it:
            chunk.append(r)
            if len(chunk) >= BATCH_ROWS:
                yield batch(chunk)
                chunk = []
        if chunk:
            yield batch(chunk)

    return (yield from iter_write(out, fmt, cols, batches(), total=total, meta=meta))


def write_rows(rows: Iterable[Mapping[str, Any]], out: str | Path, fmt: str | None = None, *,
               columns: Sequence[str | tuple[str, str]] | None = None,
               meta: Mapping[str, Any] | None = None) -> ExportResult:
    """Export rows given as dicts (an audit table). Columns: ``columns`` (names, or (name, kind)
    pairs; a name's kind is inferred; keys not named are left out), else every key of the first
    ``BATCH_ROWS`` rows in order of first appearance, kinds inferred from their values; a later row
    with another key, or a value that does not fit its column's kind, raises ExportError."""
    return drive(iter_write_rows(rows, out, fmt, columns=columns, meta=meta), None)


def frame_columns(df: Any) -> list[tuple[str, str]]:
    """(name, kind) of each column of a DataFrame, from its dtypes (values where they say nothing)."""
    import pandas as pd
    from pandas.api import types as pt

    out = []
    for name in df.columns:
        s = df[name]
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            kinds = {kind_of(v) for v in dtype.categories.tolist()} - {None}
            kind = _merge(kinds)  # type: ignore[arg-type]
        elif pt.is_bool_dtype(dtype):
            kind = "bool"
        elif pt.is_integer_dtype(dtype):
            kind = "int"
        elif pt.is_float_dtype(dtype):
            kind = "float"
        elif pt.is_datetime64_any_dtype(dtype):
            kind = "time"
        elif pt.is_string_dtype(dtype) and not pt.is_object_dtype(dtype):
            kind = "text"
        else:
            kind = _merge({kind_of(v) for v in s.tolist()} - {None})  # type: ignore[arg-type]
        out.append((str(name), kind))
    return out


def iter_write_frame(df: Any, out: str | Path, fmt: str | None = None, *,
                     meta: Mapping[str, Any] | None = None) -> Generator[Progress, None, ExportResult]:
    cols = frame_columns(df)
    n = len(df)

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        if n == 0:
            yield []
        for lo in range(0, n, BATCH_ROWS):
            part = df.iloc[lo:lo + BATCH_ROWS]
            yield list(zip(*(part[c].tolist() for c in df.columns)))

    return (yield from iter_write(out, fmt, cols, batches(), total=n, meta=meta))


def write_frame(df: Any, out: str | Path, fmt: str | None = None, *, meta: Mapping[str, Any] | None = None) -> ExportResult:
    """Export a DataFrame (a History's state, its change log, any frame), typed by its dtypes."""
    return drive(iter_write_frame(df, out, fmt, meta=meta), None)


# -- states and diffs -----------------------------------------------------------------------------


def write_state(history: Any, out: str | Path, fmt: str | None = None, *, position: int | None = None,
                time: dt.datetime | None = None, meta: Mapping[str, Any] | None = None) -> ExportResult:
    """A projection's read model as of ``position`` (or ``time``; neither: the History's head): one
    row per projection row, ``key`` first, then its columns as the History types them."""
    df = history.as_of(position=position, time=time)
    desc = {"what": "state", "projection": history.projection.name,
            "position": position if position is not None else (None if time is not None else history.head),
            "time": _utc(time).isoformat() if time is not None else None, **(meta or {})}
    return write_frame(df, out, fmt, meta=desc)


def diff_rows(diff: Any) -> Iterator[dict[str, Any]]:
    """A ``history.Diff`` as one long table (``DIFF_COLUMNS``): a row per field of an added row
    (``old`` null) and of a removed row (``new`` null), then one per changed cell, each group in
    key order. Missing (None) fields of added and removed rows are left out; the projection column
    the History shows as ``key_`` is named ``key`` in ``field``."""
    from .replay_fold import frame_rows
    from .replay_values import json_value

    for change, df, side in (("added", diff.added, "new"), ("removed", diff.removed, "old")):
        for row in frame_rows(df, len(df)):
            for field, v in row["values"].items():
                yield {"change": change, "key": row["key"], "field": field,
                       "old": v if side == "old" else None, "new": v if side == "new" else None}
    ch = diff.changed
    for key, field, old, new in zip(ch["key"].tolist(), ch["field"].tolist(), ch["old"].tolist(), ch["new"].tolist()):
        yield {"change": "changed", "key": str(key), "field": "key" if field == "key_" else str(field),
               "old": json_value(old), "new": json_value(new)}


def write_diff(history: Any, p1: int | None, p2: int | None, out: str | Path, fmt: str | None = None, *,
               meta: Mapping[str, Any] | None = None) -> ExportResult:
    """What changed in a projection from the state after ``p1`` to the state after ``p2``."""
    d = history.diff(p1, p2)
    desc = {"what": "diff", "projection": history.projection.name, "from": p1, "to": p2, **(meta or {})}
    return write_rows(diff_rows(d), out, fmt, columns=DIFF_COLUMNS, meta=desc)


def read_back(path: str | Path, fmt: str | None = None) -> Any:
    """An export read into a DataFrame as written (tests, and a quick look): CSV cells as text,
    JSON Lines values as parsed, Parquet columns as typed."""
    import pandas as pd

    fmt = format_of(path, fmt)
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "jsonl":
        with open(path, "rb") as fh:
            return pd.DataFrame([load_json(line) for line in fh if line.strip()])
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()
