"""Evidence for proposed mappings: a small sample of a table's rows, and what each column's name,
type and sampled values say it could hold (a position, a time, JSON, a stream id, an event type)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .codecs import CodecPipeline
from .dialects import Dialect
from .schema import ColumnInfo, TableInfo

SAMPLE_ROWS = 200

# Names are compared after normalising (camelCase -> snake_case, lower case, "$" and dots dropped) and
# without underscores, so PostgreSQL's folded "payloadtype" matches payload_type like "payloadType" does.


def _squash(names: set[str]) -> frozenset[str]:
    return frozenset(n.replace("_", "") for n in names)


POSITION_NAMES = _squash({
    "position", "global_position", "global_index", "global_seq", "global_sequence", "seq", "seq_id", "sequence",
    "sequence_id", "sequence_no", "offset", "event_no", "entry_no", "log_id", "row_id", "notification_id",
    "commit_position", "checkpoint", "gpos", "pos", "serial", "event_seq", "rowid"})
STREAM_NAMES = _squash({
    "stream", "stream_id", "stream_name", "stream_key", "aggregate_id", "aggregate_identifier", "aggregate", "agg_id",
    "aggregate_root_id", "aggregate_key", "entity_id", "entity", "entity_key", "originator_id", "source_id",
    "subject", "subject_id", "partition_key", "object_id", "resource_id", "channel", "key"})
VERSION_NAMES = _squash({
    "version", "seq", "sequence", "sequence_number", "sequence_no", "seq_no", "stream_position", "stream_version",
    "stream_seq", "revision", "rev", "event_version", "originator_version", "aggregate_version",
    "aggregate_sequence_number", "position", "event_number", "number", "counter"})
TYPE_NAMES = _squash({
    "type", "event_type", "kind", "event_kind", "event_name", "message_type", "payload_type", "event_class", "topic",
    "type_name", "event"})
# when a table has both, these name the event's type and a bare "type" the aggregate's (Axon)
SPECIFIC_TYPE_NAMES = _squash({"event_type", "payload_type", "message_type", "event_name", "event_class", "event_kind"})
WEAK_TYPE_NAMES = _squash({"name", "action", "op", "operation", "verb", "what"})
TIME_NAMES = _squash({
    "time", "timestamp", "created_at", "occurred_at", "recorded_at", "time_stamp", "event_time", "ts", "at", "created",
    "inserted_at", "committed_at", "logged_at", "stored_at", "appended_at", "happened_at", "created_on",
    "event_timestamp"})
LATE_TIME_NAMES = _squash({
    "updated_at", "modified_at", "deleted_at", "valid_at", "valid_from", "valid_until", "expires_at", "expired_at",
    "archived_at", "changed_at", "last_seen", "processed_at"})
PAYLOAD_NAMES = _squash({
    "payload", "data", "body", "event_data", "json", "content", "event", "state", "message", "document", "doc",
    "event_body", "event_payload", "details", "event_json", "record", "value"})
META_NAMES = _squash({
    "metadata", "meta", "meta_data", "headers", "header", "context", "properties", "envelope", "extra",
    "event_metadata", "annotations"})
EVENT_ID_NAMES = _squash({
    "event_id", "uuid", "message_id", "event_uuid", "event_identifier", "guid", "msg_id", "event_guid", "identifier",
    "id"})
ACTOR_NAMES = _squash({
    "actor", "actor_id", "user", "user_name", "username", "user_id", "created_by", "author", "principal",
    "performed_by", "initiator", "initiated_by", "changed_by", "operator", "issued_by", "who"})
CATEGORY_NAMES = _squash({"category", "stream_category", "aggregate_type", "stream_type", "entity_type"})
AGGREGATE_TYPE_NAMES = _squash({"type", "kind", "aggregate", "aggregate_name", "entity", "entity_name", "object_type"})
STREAM_SUFFIXES = ("_id", "_ref", "sample_key", "_identifier", "_name", "_no", "_uuid", "_code")
NOT_STREAM_PREFIXES = ("event", "message", "msg", "correlation", "causation", "user", "actor", "tenant", "trace",
                       "span", "request", "session", "transaction", "created", "updated")

INT_TYPES = {"integer", "int", "bigint", "smallint", "tinyint", "mediumint", "serial", "bigserial", "smallserial",
             "int2", "int4", "int8", "biginteger", "unsigned big int"}
FLOAT_TYPES = {"real", "float", "double", "double precision", "numeric", "decimal"}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_IDENT = re.compile(r"^[A-Za-z_$][\w.:$/\\+ -]{0,199}$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
EPOCH_S = (1e9, 4.2e9)  # 2001 .. 2103
EPOCH_MS = (1e12, 4.2e12)


def norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", name).lower()).strip("_")


def _kind(type_name: str) -> str:
    t = type_name.lower().replace(" unsigned", "").replace(" zerofill", "").strip()
    if t in ("json", "jsonb"):
        return "json"
    if t in ("uuid", "uniqueidentifier"):
        return "uuid"
    if "timestamp" in t or "datetime" in t or t in ("date", "timestamptz"):
        return "time"
    if t in INT_TYPES:
        return "int"
    if t in FLOAT_TYPES:
        return "float"
    if "blob" in t or "binary" in t or t == "bytea":
        return "blob"
    if "char" in t or "text" in t or t in ("string", "clob", "citext", "enum"):
        return "text"
    return "other"


def _sampled_kind(values: list[Any]) -> str:
    """What values of an untyped column (SQLite) or an unknown type are, by their Python types."""
    kinds = {("int" if isinstance(v, int) and not isinstance(v, bool) else "float" if isinstance(v, float)
              else "text" if isinstance(v, str) else "blob" if isinstance(v, (bytes, memoryview))
              else "json" if isinstance(v, (dict, list)) else "time" if isinstance(v, dt.datetime)
              else "uuid" if isinstance(v, uuid.UUID) else "other") for v in values}
    return kinds.pop() if len(kinds) == 1 else "other"


def sample_key(v: Any) -> Any:
    """A hashable stand-in for a sampled value (JSON values come back as dicts from some drivers)."""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


@dataclass
class ColumnEvidence:
    """What one column's name, type and sampled values say about it."""

    info: ColumnInfo
    all: list[Any]  # one value per sampled row, physical order, None kept
    name: str = ""
    key: str = ""
    kind: str = ""
    values: list[Any] = field(default_factory=list)
    distinct: int = 0
    json_hits: int = 0
    json_values: list[Any] = field(default_factory=list)
    encodings: Counter = field(default_factory=Counter)
    iso_hits: int = 0
    uuid_hits: int = 0
    epoch: str | None = None  # "epoch_s" / "epoch_ms" when every sampled number is in that range
    avg_len: float = 0.0

    @property
    def sq(self) -> str:
        return self.key.replace("_", "")

    def __post_init__(self) -> None:
        self.name, self.key = self.info.name, norm_name(self.info.name)
        self.values = [v for v in self.all if v is not None]
        self.kind = _kind(self.info.type)
        if self.kind == "other" and self.values:
            self.kind = _sampled_kind(self.values)
        self.distinct = len({sample_key(v) for v in self.values})

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def nulls(self) -> int:
        return len(self.all) - self.n

    def analyse(self, codecs: CodecPipeline) -> None:
        lengths = []
        for v in self.values:
            if isinstance(v, uuid.UUID) or (isinstance(v, str) and _UUID.match(v.strip())) or (
                isinstance(v, bytes) and len(v) == 16
            ):
                self.uuid_hits += 1
            if isinstance(v, dt.datetime) or (isinstance(v, str) and ISO_TIME.match(v.strip())):
                self.iso_hits += 1
            if isinstance(v, (str, bytes, memoryview, dict, list)):
                d = codecs.decode(v)
                if isinstance(d.value, (dict, list)):
                    self.json_hits += 1
                    self.json_values.append(d.value)
                    self.encodings[d.encoding or "json"] += 1
                lengths.append(len(v) if isinstance(v, (str, bytes)) else len(sample_key(v)))
        self.avg_len = sum(lengths) / len(lengths) if lengths else 0.0
        nums = [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if nums and len(nums) == self.n:
            for kind, (lo, hi) in (("epoch_s", EPOCH_S), ("epoch_ms", EPOCH_MS)):
                if all(lo <= x <= hi for x in nums):
                    self.epoch = kind

    def unique_in_sample(self) -> bool:
        return self.n > 0 and self.nulls == 0 and self.distinct == self.n

    def time_kind(self) -> tuple[str | None, str]:
        """The ``time_kind`` the column's type and sampled values fit (None when none), and why."""
        kind, why = None, ""
        if self.kind == "time" and (not self.n or self.iso_hits == self.n):
            kind = "timestamp"
            why = "timestamp type" + (f" ({self.info.type})" if self.info.type != "timestamp" else "")
        elif self.kind in ("time", "int", "float") and self.epoch:
            kind = self.epoch
            unit = "milliseconds" if self.epoch == "epoch_ms" else "seconds"
            nums = sorted(self.values)
            scale = 1000 if self.epoch == "epoch_ms" else 1
            lo, hi = (dt.datetime.fromtimestamp(x / scale, dt.timezone.utc).date() for x in (nums[0], nums[-1]))
            span = f"on {lo}" if lo == hi else f"between {lo} and {hi}"
            why = f"epoch {unit}: {self.n}/{self.n} sampled values fall {span}"
        elif self.kind == "text" and self.n and self.iso_hits == self.n:
            kind = "iso_text"
            why = f"ISO-8601 text in {self.n}/{self.n} sampled values"
        return kind, why

    def json_reason(self) -> str:
        """What the sampled JSON (or codec-decoded objects) in the column look like, for a reason."""
        if not self.n:
            return f"{self.info.type} column (no rows to sample)"
        formats = sorted({e.rsplit("+", 1)[-1] for e in self.encodings})
        what = "JSON" if formats == ["json"] else f"objects decoded by the {', '.join(formats)} codec"
        why = f"{what} in {self.json_hits}/{self.n} sampled values"
        packed = sorted({e.split("+")[0] for e in self.encodings if "+" in e})
        if packed:
            why += f" ({', '.join(packed)}-compressed in {sum(n for e, n in self.encodings.items() if '+' in e)})"
        if self.kind == "blob":
            why += f", stored as bytes ({self.info.type})"
        return why

    def meta_keys(self) -> Counter:
        """Keys of the sampled JSON objects, and one level down as ``parent.child`` (keys that hold
        a dot or a quote cannot be written as a path and are left out)."""
        out: Counter = Counter()
        for d in self.json_values:
            if not isinstance(d, dict):
                continue
            for k, v in d.items():
                if any(ch in k for ch in ".'\"\\"):
                    continue
                out[k] += 1
                if isinstance(v, dict):
                    out.update(f"{k}.{k2}" for k2 in v if not any(ch in k2 for ch in ".'\"\\"))
        return out

    def stream_score(self) -> tuple[float, list[str]]:
        """How much the column looks like a stream id by name and repeating values, and why."""
        score, why = 0.0, []
        if self.sq in STREAM_NAMES:
            score += 3
            why.append("named like a stream id")
        elif self.key.endswith(STREAM_SUFFIXES) and not self.key.startswith(NOT_STREAM_PREFIXES):
            score += 1
        if self.n >= 2:
            if self.distinct < self.n:
                score += 1
                why.append(f"{self.distinct} distinct values repeat across {self.n} sampled rows")
            elif self.n >= 10:
                score -= 2
            if self.distinct == 1 and self.n >= 10:
                score -= 1
        if self.kind == "uuid" or (self.n and self.uuid_hits == self.n):
            score += 0.5
        if self.n and all(isinstance(v, str) and _IDENT.match(v) and not any(ch.isdigit() for ch in v)
                          for v in self.values):
            score -= 1
        return score, why

    def type_score(self) -> tuple[float, list[str]]:
        """How much the column looks like an event type by name and a few repeated names, and why."""
        if self.kind not in ("text", "other"):
            return -9, []
        score, why = 0.0, []
        if self.sq in TYPE_NAMES:
            score += 3.5 if self.sq in SPECIFIC_TYPE_NAMES else 3
            why.append("named like an event type")
        elif self.sq in WEAK_TYPE_NAMES:
            score += 1.5
        if self.n >= 4:
            if self.distinct <= max(2, self.n // 3):
                score += 1.5
                why.append(f"{self.distinct} distinct values in {self.n} sampled rows")
            elif self.distinct == self.n and self.n >= 10:
                score -= 3
        if self.n:
            names = [v for v in self.values if isinstance(v, str) and _IDENT.match(v)]
            if len(names) >= 0.9 * self.n:
                score += 1
                why.append("identifier-like names")
            if sum(any(ch.isdigit() for ch in str(v)) for v in self.values) >= 0.5 * self.n:
                score -= 1
            if self.uuid_hits >= 0.5 * self.n:
                score -= 3
        return score, why

    def separator(self) -> str | None:
        """The separator when the values look like ``category<sep>id`` (``order-17``), else None."""
        vals = [v for v in self.values if isinstance(v, str)]
        if not vals or self.uuid_hits >= 0.5 * self.n:
            return None
        for sep in ("-", ":", "/", "|", "."):
            parts = [v.split(sep, 1)[0] for v in vals if sep in v]
            if len(parts) >= 0.8 * len(vals) and all(p and p[0].isalpha() for p in parts):
                if len(set(parts)) < len(set(vals)):
                    return sep
        return None


def lineage_key(name: str) -> str | None:
    """The lineage field a column or JSON key is named like: correlation_id, causation_id or actor."""
    nk = norm_name(name.rsplit(".", 1)[-1])
    if "correlation" in nk:
        return "correlation_id"
    if "causation" in nk:
        return "causation_id"
    if nk.replace("_", "") in ACTOR_NAMES:
        return "actor"
    return None


def rising_share(pairs: Sequence[tuple[Any, Any]], strict: bool) -> float | None:
    """The share of adjacent pairs that go up (strictly, or not down); None with no comparable pair."""
    ok = n = 0
    for a, b in pairs:
        try:
            ok += (b > a) if strict else (b >= a)
            n += 1
        except TypeError:
            continue
    return ok / n if n else None


def adjacent_pairs(seq: Sequence[Any]) -> list[tuple[Any, Any]]:
    vals = [v for v in seq if v is not None]
    return list(zip(vals, vals[1:]))


def comparable_time(v: Any, kind: str | None) -> Any:
    """A sampled time as naive UTC, so times of different zones compare; None for unreadable text."""
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(v, str) and kind in ("iso_text", "timestamp"):
        try:
            t = dt.datetime.fromisoformat(v.strip())
        except ValueError:
            return None
        return t.replace(tzinfo=None) if t.tzinfo is None else t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v


def sample_rows(engine: Engine, table: TableInfo, limit: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
    """Up to ``limit`` rows in the order the database hands them out. Only a plain ``SELECT <columns>
    FROM <table> LIMIT n``: no ORDER BY, no COUNT, so a table of a billion rows costs the same as one
    of a thousand."""
    q = Dialect(engine.dialect.name)
    names = [c.name for c in table.columns]
    sql = f"SELECT {', '.join(q.quote(n) for n in names)} FROM {q.table(table.qualified)} LIMIT {int(limit)}"
    with engine.connect() as conn:
        return [dict(zip(names, r)) for r in conn.execute(sa.text(sql))]
