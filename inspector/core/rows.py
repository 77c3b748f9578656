"""Decoding result rows into RecordedEvents: the row plan a layout implies, and the hot loop that
turns a page of rows into events (the first page's latency is mostly this)."""

from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal
from typing import Any, Mapping, Sequence

from .codecs import MISS, CodecPipeline, Decoded, any_beyond_64_bits
from .layout import Layout
from .model import RecordedEvent

#: RecordedEvent's leading fields, each read from a column or a JSON path.
SCALARS = ("position", "stream", "version", "type", "recorded_at", "event_id", "causation_id", "correlation_id", "actor")
UTC = dt.timezone.utc
NOTHING = Decoded(None, None)


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


def _extract(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def text(v: Any) -> str | None:
    if v is None or type(v) is str:
        return v
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return str(v)


class RowDecoder:
    """Turns rows of a page query into events. ``labels`` are the result columns in order;
    ``json_sources`` maps a JSON column (lower case) to the label that holds it."""

    def __init__(self, layout: Layout, labels: Sequence[str], json_sources: Mapping[str, str], codecs: CodecPipeline):
        self.layout = layout
        self.codecs = codecs
        index = {label: i for i, label in enumerate(labels)}
        self.payload_i = index.get("f_payload")
        self.metadata_i = index.get("f_metadata")
        # one (row index, JSON path or None) per RecordedEvent field from position to actor
        self.plan: list[tuple[int, tuple[str, ...] | None] | None] = []
        for logical in SCALARS:
            ref = layout.ref(logical)
            if ref is None:
                self.plan.append(None)
            elif ref.path:
                self.plan.append((index[json_sources[ref.column.lower()]], tuple(ref.path.split("."))))
            else:
                self.plan.append((index[f"f_{logical}"], None))
        self.payload_time = (layout.time_payload_key or "timestamp") if layout.time_kind == "payload" else None
        self.time_unit = 1000 if layout.time_kind == "epoch_ms" else 1
        # The common shape (every field a plain column, JSON object payloads, a real time column)
        # gets a specialised loop in events(); anything else goes through to_event.
        self.json_reader = codecs.json_reader()
        self.json_reader_unchecked = codecs.json_reader(checked=False)
        self.simple = (
            self.json_reader is not None
            and self.payload_i is not None
            and layout.time_kind in ("timestamp", "iso_text")
            and all(step is None or step[1] is None for step in self.plan)
            and self.plan[0] is not None
        )

    def to_event(self, row: Sequence[Any]) -> RecordedEvent:
        """Decode one result row. Hot: the first page's latency is mostly this, so it works from the
        row plan computed in ``__init__`` rather than from the layout."""
        decode = self.codecs.decode
        pi, mi = self.payload_i, self.metadata_i
        payload_raw = row[pi] if pi is not None else None
        pdec = decode(payload_raw)
        mdec = decode(row[mi]) if mi is not None else NOTHING
        decoded = {pi: pdec.value, mi: mdec.value}
        out: list[Any] = []
        for step in self.plan:
            if step is None:
                out.append(None)
                continue
            i, path = step
            v = row[i]
            if path is not None:
                v = decoded[i] if i in decoded else decoded.setdefault(i, decode(v).value)
                for part in path:
                    v = v.get(part) if isinstance(v, dict) else None
            out.append(v if v is None or type(v) is str else text(v))
        position, stream, version, etype, recorded, event_id, causation, correlation, actor = out
        if self.payload_time is not None:
            recorded = parse_time(_extract(pdec.value, self.payload_time)) if isinstance(pdec.value, dict) else None
        else:
            recorded = parse_time(row[self.plan[4][0]] if self.plan[4] and self.plan[4][1] is None else recorded,
                                  self.time_unit)
        error = pdec.error
        if mdec.error:
            error = f"{error}; metadata: {mdec.error}" if error else f"metadata: {mdec.error}"
        return RecordedEvent(
            int(row[self.plan[0][0]]) if self.plan[0][1] is None else int(position),
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

    def events(self, rows: Sequence[Any]) -> tuple[RecordedEvent, ...]:
        """``tuple(to_event(r) for r in rows)``, specialised for the common shape (tested equal):
        the first page's latency is this loop, so it is written for speed, not for beauty."""
        if not self.simple:
            return tuple(self.to_event(r) for r in rows)
        to_event, new = self.to_event, tuple.__new__
        pi, mi = self.payload_i, self.metadata_i
        # one check of the whole page for integers orjson would read inexactly, not one per value
        cells = [r[pi] for r in rows] if mi is None else [r[pi] for r in rows] + [r[mi] for r in rows]
        read = self.json_reader if any_beyond_64_bits(cells) else self.json_reader_unchecked
        idx = [step[0] if step is not None else None for step in self.plan]
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

