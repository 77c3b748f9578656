"""Proposed mappings for event tables the inspector does not know. Each table is scored by how
event-like its column names, types, constraints and a small sample of rows look; the best get a
``Layout`` in which every field choice carries the reason it was made, and ``mapping_header`` turns
those reasons into the comments above a saved TOML mapping, so a user can check and edit it.

Only a plain ``SELECT <columns> FROM <table> LIMIT n`` is read per table: no ORDER BY, no COUNT, so
a table of a billion rows costs the same as one of a thousand."""

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
from .detect import LayoutCandidate
from .dialects import Dialect
from .layout import TIME_KINDS, Layout
from .model import EVENT_FIELDS
from .schema import ColumnInfo, SchemaInfo, TableInfo

SAMPLE_ROWS = 200
MAX_CONFIDENCE = 0.7  # known layouts score 0.75 and up: a guess never outranks a recognised store
MIN_CONFIDENCE = 0.3  # below this a table is not offered as an event table at all

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
STREAM_SUFFIXES = ("_id", "_ref", "_key", "_identifier", "_name", "_no", "_uuid", "_code")
NOT_STREAM_PREFIXES = ("event", "message", "msg", "correlation", "causation", "user", "actor", "tenant", "trace",
                       "span", "request", "session", "transaction", "created", "updated")
EVENT_TABLE_WORDS = ("event", "message", "journal", "ledger", "entries", "entry", "log", "history", "outbox",
                     "audit", "stream", "change", "activity", "fact")

INT_TYPES = {"integer", "int", "bigint", "smallint", "tinyint", "mediumint", "serial", "bigserial", "smallserial",
             "int2", "int4", "int8", "biginteger", "unsigned big int"}
FLOAT_TYPES = {"real", "float", "double", "double precision", "numeric", "decimal"}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_IDENT = re.compile(r"^[A-Za-z_$][\w.:$/\\+ -]{0,199}$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
EPOCH_S = (1e9, 4.2e9)  # 2001 .. 2103
EPOCH_MS = (1e12, 4.2e12)


def _norm(name: str) -> str:
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


def _key(v: Any) -> Any:
    """A hashable stand-in for a sampled value (JSON values come back as dicts from some drivers)."""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


@dataclass
class _Col:
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
        self.name, self.key = self.info.name, _norm(self.info.name)
        self.values = [v for v in self.all if v is not None]
        self.kind = _kind(self.info.type)
        if self.kind == "other" and self.values:
            self.kind = _sampled_kind(self.values)
        self.distinct = len({_key(v) for v in self.values})

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
            if isinstance(v, dt.datetime) or (isinstance(v, str) and _ISO.match(v.strip())):
                self.iso_hits += 1
            if isinstance(v, (str, bytes, memoryview, dict, list)):
                d = codecs.decode(v)
                if isinstance(d.value, (dict, list)):
                    self.json_hits += 1
                    self.json_values.append(d.value)
                    self.encodings[d.encoding or "json"] += 1
                lengths.append(len(v) if isinstance(v, (str, bytes)) else len(_key(v)))
        self.avg_len = sum(lengths) / len(lengths) if lengths else 0.0
        nums = [v for v in self.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if nums and len(nums) == self.n:
            for kind, (lo, hi) in (("epoch_s", EPOCH_S), ("epoch_ms", EPOCH_MS)):
                if all(lo <= x <= hi for x in nums):
                    self.epoch = kind

    def unique_in_sample(self) -> bool:
        return self.n > 0 and self.nulls == 0 and self.distinct == self.n


@dataclass
class _Pick:
    spec: str
    reason: str
    score: float = 0.0
    strong: bool = True  # backed by sampled values, not by the name alone
    column: _Col | None = None
    base: int = 1  # for a version: the first version of a stream (0 or 1)


def _frac(pairs: Sequence[tuple[Any, Any]], strict: bool) -> float | None:
    """The share of adjacent pairs that go up (strictly, or not down); None with no comparable pair."""
    ok = n = 0
    for a, b in pairs:
        try:
            ok += (b > a) if strict else (b >= a)
            n += 1
        except TypeError:
            continue
    return ok / n if n else None


def _at_path(value: Any, path: str) -> Any:
    """``value["a"]["b"]`` for the path ``a.b``, as the store reads a ``column->a.b`` field."""
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _adjacent(seq: Sequence[Any]) -> list[tuple[Any, Any]]:
    vals = [v for v in seq if v is not None]
    return list(zip(vals, vals[1:]))


def _time_value(v: Any, kind: str | None) -> Any:
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
    """Up to ``limit`` rows in the order the database hands them out (no sort, no full scan)."""
    q = Dialect(engine.dialect.name)
    names = [c.name for c in table.columns]
    sql = f"SELECT {', '.join(q.quote(n) for n in names)} FROM {q.table(table.qualified)} LIMIT {int(limit)}"
    with engine.connect() as conn:
        return [dict(zip(names, r)) for r in conn.execute(sa.text(sql))]


class _Proposer:
    """Picks one field at a time; each pick removes its column from later choices."""

    def __init__(self, table: TableInfo, rows: list[dict[str, Any]], dialect: str, codecs: CodecPipeline):
        self.t, self.rows, self.dialect = table, rows, dialect
        self.cols = {c.name: _Col(c, [r.get(c.name) for r in rows]) for c in table.columns}
        for c in self.cols.values():
            c.analyse(codecs)
        self.used: set[str] = set()
        self.picks: dict[str, _Pick] = {}
        self.order = list(range(len(rows)))  # row indices in position order
        self.version_base = 1
        self.time_kind = "none"
        self.time_payload_key: str | None = None
        self.separator = "-"
        self.lineage = "ids"  # the default, so a lineage field the user adds later just works

    def free(self, *kinds: str) -> list[_Col]:
        return [c for c in self.cols.values() if c.name not in self.used and (not kinds or c.kind in kinds)]

    def take(self, logical: str, pick: _Pick | None) -> None:
        if pick is None:
            return
        self.picks[logical] = pick
        if pick.column is not None:
            self.used.add(pick.column.name)

    def _pk(self) -> list[str]:
        return [c.name for c in self.t.columns if c.primary_key]

    def _unique_alone(self, c: _Col) -> bool:
        return any(len(u) == 1 and u[0].lower() == c.name.lower() for u in self.t.unique)

    def _composite_unique(self, *cols: _Col) -> bool:
        want = {c.name.lower() for c in cols}
        return any({x.lower() for x in u} == want for u in self.t.unique)

    def _in_composite(self, c: _Col) -> bool:
        return any(len(u) > 1 and c.name.lower() in {x.lower() for x in u} for u in self.t.unique)

    # -- position ----------------------------------------------------------------------------
    def position(self) -> _Pick | None:
        best: _Pick | None = None
        pk = self._pk()
        for c in self.free("int"):
            if self.rows and not c.unique_in_sample():
                continue
            if c.sq in TIME_NAMES or c.key.endswith(("_at", "_time", "_ts", "_ms")):
                continue
            score, why = 0.0, []
            if pk == [c.name]:
                score, why = 3, ["integer primary key"]
            elif self._unique_alone(c):
                score, why = 2, ["integer with a unique index"]
            else:
                why = ["integer"]
            if c.n >= 2:
                up = _frac(_adjacent(c.all), strict=True) or 0.0
                if up >= 0.95:
                    score += 1.5
                    why.append(f"unique and increasing in {c.n} sampled rows")
                else:
                    score += 0.5
                    why.append(f"unique in {c.n} sampled rows")
            if c.sq in POSITION_NAMES:
                score += 2
                why.append("named like a global position")
            elif c.key == "id":
                score += 1
            if c.epoch:
                score -= 2
            if self._in_composite(c):
                score -= 1
            if score >= 2 and (best is None or score > best.score):
                best = _Pick(c.name, f"position = {c.name}: {', '.join(why)}", score, bool(c.n), c)
        if best is None and self.dialect == "sqlite" and not self.t.without_rowid:
            return _Pick("rowid", "position = rowid: SQLite's implicit rowid (no unique, increasing integer "
                                  "column found)", 1, False)
        if best is not None and best.column is not None:
            col = best.column
            self.order = sorted(range(len(self.rows)), key=lambda i: col.all[i])
        return best

    def in_order(self, c: _Col) -> list[Any]:
        return [c.all[i] for i in self.order]

    # -- time --------------------------------------------------------------------------------
    def time(self) -> _Pick | None:
        best: tuple[float, _Pick, str] | None = None
        for c in self.free():
            kind, why = None, ""
            if c.kind == "time" and (not c.n or c.iso_hits == c.n):
                kind = "timestamp"
                why = "timestamp type" + (f" ({c.info.type})" if c.info.type != "timestamp" else "")
            elif c.kind in ("time", "int", "float") and c.epoch:
                kind = c.epoch
                unit = "milliseconds" if c.epoch == "epoch_ms" else "seconds"
                nums = sorted(c.values)
                scale = 1000 if c.epoch == "epoch_ms" else 1
                lo, hi = (dt.datetime.fromtimestamp(x / scale, dt.timezone.utc).date() for x in (nums[0], nums[-1]))
                span = f"on {lo}" if lo == hi else f"between {lo} and {hi}"
                why = f"epoch {unit}: {c.n}/{c.n} sampled values fall {span}"
            elif c.kind == "text" and c.n and c.iso_hits == c.n:
                kind = "iso_text"
                why = f"ISO-8601 text in {c.n}/{c.n} sampled values"
            if kind is None:
                continue
            score = 2.0
            if c.sq in TIME_NAMES:
                score += 2
            elif c.key.endswith(("_at", "_time", "_ts", "_on", "_date", "_timestamp", "_ms", "_stamp")):
                score += 1
            if c.sq in LATE_TIME_NAMES:
                score -= 1.5
            if c.nulls:
                score -= 1
                why += f", null in {c.nulls} of {len(self.rows)} rows"
            if c.n >= 2 and "position" in self.picks:
                up = _frac(_adjacent([_time_value(v, kind) for v in self.in_order(c)]), strict=False)
                if up is not None and up >= 0.95:
                    score += 1
                    why += f", non-decreasing in {self.picks['position'].spec} order"
                elif up is not None and up < 0.7:
                    score -= 1
            if kind.startswith("epoch") and score < 3:
                continue  # a number in the epoch range with neither a time-like name nor time order
            if best is None or score > best[0]:
                best = (score, _Pick(c.name, f"recorded_at = {c.name}: {why}", score, bool(c.n), c), kind)
        if best is None:
            return None
        self.time_kind = best[2]
        return best[1]

    def time_in_payload(self) -> _Pick | None:
        p = self.picks.get("payload")
        if p is None or p.column is None:
            return None
        dicts = [v for v in p.column.json_values if isinstance(v, dict)]
        if not dicts:
            return None
        counts = Counter(k for d in dicts for k, v in d.items() if isinstance(v, str) and _ISO.match(v.strip()))
        for k, n in counts.most_common():
            nk = _norm(k)
            if n >= 0.9 * len(dicts) and (nk.replace("_", "") in TIME_NAMES or nk.endswith(("_at", "_time"))):
                self.time_kind, self.time_payload_key = "payload", k
                return _Pick("", f"recorded_at: payload key {k!r} holds ISO-8601 times in {n}/{len(dicts)} sampled "
                                 "payloads (time_kind = \"payload\": the database cannot filter by it)", 1.0, True)
        return None

    # -- payload and metadata ----------------------------------------------------------------
    def _jsonish(self) -> list[_Col]:
        return [c for c in self.free() if (c.kind == "json" and not c.n) or (c.n and c.json_hits >= max(1, 0.8 * c.n))]

    def _json_reason(self, c: _Col) -> str:
        if not c.n:
            return f"{c.info.type} column (no rows to sample)"
        formats = sorted({e.rsplit("+", 1)[-1] for e in c.encodings})
        what = "JSON" if formats == ["json"] else f"objects decoded by the {', '.join(formats)} codec"
        why = f"{what} in {c.json_hits}/{c.n} sampled values"
        packed = sorted({e.split("+")[0] for e in c.encodings if "+" in e})
        if packed:
            why += f" ({', '.join(packed)}-compressed in {sum(n for e, n in c.encodings.items() if '+' in e)})"
        if c.kind == "blob":
            why += f", stored as bytes ({c.info.type})"
        return why

    @staticmethod
    def _meta_keys(c: _Col) -> Counter:
        """Keys of the sampled JSON objects, and one level down as ``parent.child`` (keys that hold
        a dot or a quote cannot be written as a path and are left out)."""
        out: Counter = Counter()
        for d in c.json_values:
            if not isinstance(d, dict):
                continue
            for k, v in d.items():
                if any(ch in k for ch in ".'\"\\"):
                    continue
                out[k] += 1
                if isinstance(v, dict):
                    out.update(f"{k}.{k2}" for k2 in v if not any(ch in k2 for ch in ".'\"\\"))
        return out

    def metadata(self) -> _Pick | None:
        cands = self._jsonish()
        named = [c for c in cands if c.sq in META_NAMES]
        if named:
            c = named[0]
            return _Pick(c.name, f"metadata = {c.name}: {self._json_reason(c)}, named like metadata", 1, bool(c.n), c)
        if len(cands) < 2:
            for c in self.free("text", "blob", "other"):
                if c.sq in META_NAMES and c not in cands:
                    return _Pick(c.name, f"metadata = {c.name}: {c.info.type} column named like metadata; sampled "
                                         "values are not JSON (lineage keys inside it cannot be mapped)", 1, False, c)
            return None
        for c in cands:
            keys = [k for k in self._meta_keys(c) if self._lineage_key(k)]
            if keys and c.sq not in PAYLOAD_NAMES:
                return _Pick(c.name, f"metadata = {c.name}: {self._json_reason(c)}, with keys "
                                     f"{', '.join(sorted(keys)[:4])}", 1, True, c)
        return None

    def payload(self) -> _Pick | None:
        cands = self._jsonish()
        if cands:
            named = [c for c in cands if c.sq in PAYLOAD_NAMES]
            c = named[0] if named else max(cands, key=lambda c: c.avg_len)
            extra = ", named like a payload" if named else ", the largest JSON column"
            return _Pick(c.name, f"payload = {c.name}: {self._json_reason(c)}{extra}", 1, bool(c.n), c)
        # no JSON anywhere (XML, YAML, ciphertext): a payload-named column, but not one that repeats
        # a few short names (an "event" column holding event types)
        named = [c for c in self.free("text", "blob", "other") if c.sq in PAYLOAD_NAMES
                 and not (c.n >= 4 and c.distinct <= c.n // 3 and c.avg_len < 64)]
        if named:
            c = max(named, key=lambda c: c.avg_len)
            return _Pick(c.name, f"payload = {c.name}: {c.info.type} column named like a payload; sampled values "
                                 "are not JSON (they are shown as the codecs decode them)", 1, False, c)
        return None

    # -- lineage, actor, event id --------------------------------------------------------------
    @staticmethod
    def _lineage_key(k: str) -> str | None:
        nk = _norm(k.rsplit(".", 1)[-1])
        if "correlation" in nk:
            return "correlation_id"
        if "causation" in nk:
            return "causation_id"
        if nk.replace("_", "") in ACTOR_NAMES:
            return "actor"
        return None

    def by_name(self, logical: str) -> _Pick | None:
        for c in self.free("text", "uuid", "int", "other"):
            if self._lineage_key(c.name) == logical:
                like = "an actor" if logical == "actor" else f"a {logical.split('_')[0]} id"
                what = f"{c.info.type}, named like {like}"
                if c.n:
                    what += f" ({c.distinct} distinct values in {c.n} sampled rows)"
                return _Pick(c.name, f"{logical} = {c.name}: {what}", 1, bool(c.n), c)
        return None

    def from_metadata(self, logical: str) -> _Pick | None:
        m = self.picks.get("metadata")
        if m is None or m.column is None:
            return None
        counts = self._meta_keys(m.column)
        keys = [k for k in counts if self._lineage_key(k) == logical]
        if not keys:
            return None
        # correlationId beats correlationStreamName, and a top-level key a nested one: prefer keys
        # that end in "id", then the commonest, then the shallowest, then a global position
        k = max(keys, key=lambda k: (_norm(k).endswith("id"), counts[k], -k.count("."), "global" in k.lower()))
        dicts = [d for d in m.column.json_values if isinstance(d, dict)]
        why = f"{logical} = {m.spec}->{k}: key {k!r} in {counts[k]}/{len(dicts)} sampled {m.spec} objects"
        values = [v for v in (_at_path(d, k) for d in dicts) if v is not None]
        if logical == "causation_id" and values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self.lineage = "positions"  # Eventide-style: causation is the global position of the cause
            why += ", integers (lineage = \"positions\": causes are global positions)"
        return _Pick(f"{m.spec}->{k}", why, 1, True)

    def event_id(self) -> _Pick | None:
        best: _Pick | None = None
        for c in self.free("text", "uuid", "blob", "other"):
            if self.rows and not c.unique_in_sample():
                continue
            score, why = 0.0, []
            if c.n and c.uuid_hits == c.n:
                score += 2
                why.append(f"UUIDs, all distinct in {c.n} sampled rows")
            if c.sq in EVENT_ID_NAMES or c.key.endswith(("_uuid", "_guid")):
                score += 2
                why.append("named like an event id")
            if self._unique_alone(c) or self._pk() == [c.name]:
                score += 1
                why.append("unique index")
            if score >= 2 and (best is None or score > best.score):
                best = _Pick(c.name, f"event_id = {c.name}: {c.info.type}, {', '.join(why)}", score, bool(c.n), c)
        return best

    # -- stream, version, type ---------------------------------------------------------------
    def _version_for(self, s: _Col) -> tuple[float, _Pick] | None:
        best = None
        for v in self.free("int"):
            if v is s or v.epoch:
                continue
            score, why = 0.0, []
            if self._composite_unique(s, v):
                score += 3
                why.append(f"unique index on ({s.name}, {v.name})")
            pairs = [(s.all[i], v.all[i]) for i in self.order if s.all[i] is not None and v.all[i] is not None]
            if pairs:
                if len({(_key(a), b) for a, b in pairs}) < len(pairs) or min(b for _, b in pairs) < 0:
                    continue
                if not why:
                    why.append(f"({s.name}, {v.name}) unique in {len(pairs)} sampled rows")
                    score += 1
                per: dict[Any, list[Any]] = {}
                for a, b in pairs:
                    per.setdefault(_key(a), []).append(b)
                up = _frac([p for vs in per.values() for p in zip(vs, vs[1:])], strict=True)
                if up is not None and up >= 0.95:
                    score += 1
                    why.append(f"increasing within each {s.name}")
                elif up is not None and up < 0.8:
                    continue
            if v.sq in VERSION_NAMES:
                score += 2
            if score >= 2.5 and (best is None or score > best[0]):
                base = 0 if pairs and min(b for _, b in pairs) == 0 else 1
                tail = "; starts at 0" if base == 0 else ""
                best = (score, _Pick(v.name, f"version = {v.name}: integer, {', '.join(why)}{tail}", score,
                                     bool(pairs), v, base))
        return best

    def _stream_score(self, c: _Col) -> tuple[float, list[str]]:
        score, why = 0.0, []
        if c.sq in STREAM_NAMES:
            score += 3
            why.append("named like a stream id")
        elif c.key.endswith(STREAM_SUFFIXES) and not c.key.startswith(NOT_STREAM_PREFIXES):
            score += 1
        if c.n >= 2:
            if c.distinct < c.n:
                score += 1
                why.append(f"{c.distinct} distinct values repeat across {c.n} sampled rows")
            elif c.n >= 10:
                score -= 2
            if c.distinct == 1 and c.n >= 10:
                score -= 1
        if c.kind == "uuid" or (c.n and c.uuid_hits == c.n):
            score += 0.5
        if c.n and all(isinstance(v, str) and _IDENT.match(v) and not any(ch.isdigit() for ch in v) for v in c.values):
            score -= 1
        return score, why

    def _type_score(self, c: _Col) -> tuple[float, list[str]]:
        if c.kind not in ("text", "other"):
            return -9, []
        score, why = 0.0, []
        if c.sq in TYPE_NAMES:
            score += 3.5 if c.sq in SPECIFIC_TYPE_NAMES else 3
            why.append("named like an event type")
        elif c.sq in WEAK_TYPE_NAMES:
            score += 1.5
        if c.n >= 4:
            if c.distinct <= max(2, c.n // 3):
                score += 1.5
                why.append(f"{c.distinct} distinct values in {c.n} sampled rows")
            elif c.distinct == c.n and c.n >= 10:
                score -= 3
        if c.n:
            names = [v for v in c.values if isinstance(v, str) and _IDENT.match(v)]
            if len(names) >= 0.9 * c.n:
                score += 1
                why.append("identifier-like names")
            if sum(any(ch.isdigit() for ch in str(v)) for v in c.values) >= 0.5 * c.n:
                score -= 1
            if c.uuid_hits >= 0.5 * c.n:
                score -= 3
        return score, why

    def stream_and_type(self) -> None:
        # columns named like lineage are left to the lineage fields, except an actor-named column
        # whose values carry a per-stream version (events keyed by user)
        cands = [c for c in self.free("text", "uuid", "int", "other") if not c.epoch]
        streams: list[tuple[float, _Col | None, list[str], tuple[float, _Pick] | None]] = [(0.0, None, [], None)]
        for c in cands:
            lineage = self._lineage_key(c.name)
            if lineage in ("correlation_id", "causation_id"):
                continue
            s, why = self._stream_score(c)
            ver = self._version_for(c)
            if ver:
                s += 2
            elif lineage == "actor":
                continue
            if s >= 2:
                streams.append((s, c, why, ver))
        types: list[tuple[float, _Col | None, list[str]]] = [(0.0, None, [])]
        for c in cands:
            if self._lineage_key(c.name):
                continue
            s, why = self._type_score(c)
            if s >= 2:
                types.append((s, c, why))
        best = max(((s, t) for s in streams for t in types if s[1] is None or s[1] is not t[1]),
                   key=lambda st: st[0][0] + st[1][0])
        (ss, sc, swhy, ver), (ts, tc, twhy) = best
        if sc is not None:
            why = list(swhy)
            sep = self._separator(sc)
            if sep:
                self.separator = sep
                why.append(f"values look like category{sep}id")
            if ver:
                why.append(f"with per-stream version {ver[1].spec}")
            if not why:
                why.append("named like a stream id")
            reason = f"stream = {sc.name}: {sc.info.type}, {', '.join(why)}"
            self.take("stream", _Pick(sc.name, reason, ss, bool(sc.n), sc))
            if ver:
                self.version_base = ver[1].base
                self.take("version", ver[1])
        if tc is not None:
            reason = f"type = {tc.name}: {tc.info.type}, {', '.join(twhy)}"
            self.take("type", _Pick(tc.name, reason, ts, bool(tc.n), tc))

    def _separator(self, c: _Col) -> str | None:
        vals = [v for v in c.values if isinstance(v, str)]
        if not vals or c.uuid_hits >= 0.5 * c.n:
            return None
        for sep in ("-", ":", "/", "|", "."):
            parts = [v.split(sep, 1)[0] for v in vals if sep in v]
            if len(parts) >= 0.8 * len(vals) and all(p and p[0].isalpha() for p in parts):
                if len(set(parts)) < len(set(vals)):
                    return sep
        return None

    def category(self) -> _Pick | None:
        """A column named like a category; or, named like a type, one that holds a single value per
        stream (Axon keeps the aggregate type next to the event type)."""
        s = self.picks.get("stream")
        for c in self.free("text", "other"):
            if c.sq in CATEGORY_NAMES:
                reason = f"category = {c.name}: {c.info.type}, named like a stream category"
                return _Pick(c.name, reason, 1, bool(c.n), c)
            if c.sq in AGGREGATE_TYPE_NAMES and s is not None and s.column is not None and c.n:
                per: dict[Any, set] = {}
                for a, b in zip(s.column.all, c.all):
                    if a is not None:
                        per.setdefault(_key(a), set()).add(_key(b))
                if len(per) > 1 and all(len(v) == 1 for v in per.values()) and c.distinct < len(per):
                    reason = (f"category = {c.name}: {c.info.type}, one value per {s.spec} ({c.distinct} distinct "
                              f"values for {len(per)} streams in {c.n} sampled rows)")
                    return _Pick(c.name, reason, 1, True, c)
        return None

    # -- the whole proposal ------------------------------------------------------------------
    def run(self) -> LayoutCandidate | None:
        pos = self.position()
        if pos is None:
            return None
        self.take("position", pos)
        self.take("event_id", self.event_id())
        self.take("metadata", self.metadata())
        self.take("payload", self.payload())
        t = self.time()
        self.take("recorded_at", t)
        if t is None:
            tp = self.time_in_payload()
            if tp is not None:
                self.picks["recorded_at"] = tp
        self.stream_and_type()  # first: a user_id with per-user versions is the stream, not the actor
        for logical in ("correlation_id", "causation_id", "actor"):
            self.take(logical, self.by_name(logical) or self.from_metadata(logical))
        self.take("category", self.category())
        return self.candidate()

    def confidence(self) -> float:
        weights = {"position": 0.12, "payload": 0.16, "type": 0.13, "recorded_at": 0.12, "stream": 0.12,
                   "version": 0.05, "event_id": 0.03, "metadata": 0.02}
        conf = sum(w * (1.0 if self.picks[k].strong else 0.6) for k, w in weights.items() if k in self.picks)
        if any(k in self.picks for k in ("correlation_id", "causation_id", "actor")):
            conf += 0.02
        name = self.t.name.lower()
        if "snapshot" in name:
            conf -= 0.15
        elif any(w in name for w in EVENT_TABLE_WORDS):
            conf += 0.05
        p = self.picks
        if not ("payload" in p or all(k in p for k in ("stream", "version", "type", "recorded_at"))):
            conf *= 0.5  # no payload and no versioned streams: rows of an ordinary table (orders by status)
        if not self.rows:
            conf *= 0.8
        return round(max(0.0, min(MAX_CONFIDENCE, conf)), 3)

    def candidate(self) -> LayoutCandidate:
        fields = {k: self.picks[k].spec for k in EVENT_FIELDS if k in self.picks and self.picks[k].spec}
        reasons = [self.picks[k].reason for k in EVENT_FIELDS if k in self.picks]
        # What was not found goes with the reasons (the header of a saved mapping), not into the
        # layout's notes: a note saved in the file would go stale the moment the user adds the field.
        missing = [k for k in EVENT_FIELDS if k not in self.picks and k != "category"]
        if missing:
            reasons.append(f"not mapped (no column found): {', '.join(missing)}")
        unused = [c.name for c in self.cols.values() if c.name not in self.used]
        if unused:
            reasons.append(f"columns not used: {', '.join(unused)}")
        if "recorded_at" not in self.picks:
            reasons.append("no time found: time filters and the time histogram are off (the timeline is by position)")
        if not self.rows:
            reasons.append("the table is empty: the choices come from column names, types and constraints only")
        notes = []
        meta = self.picks.get("metadata")
        for logical in ("correlation_id", "causation_id", "actor"):
            ref = self.picks.get(logical)
            if ref and "->" in ref.spec and meta and meta.column and meta.column.kind == "blob":
                notes.append(f"{logical} is read from a binary column: shown on events, but the database cannot "
                             "filter by it")
        layout = Layout.of(
            name="custom",
            title=f"Proposed mapping for {self.t.qualified}",
            table=self.t.qualified,
            fields=fields,
            time_kind=self.time_kind,
            time_payload_key=self.time_payload_key,
            stream_separator=self.separator,
            version_base=self.version_base,
            lineage=self.lineage,
            notes=tuple(notes),
        ).with_types(self.t.types())
        return LayoutCandidate(layout, self.confidence(), tuple(reasons), "proposed")


def propose_table(engine: Engine, table: TableInfo, dialect: str | None = None, sample: int = SAMPLE_ROWS,
                  codecs: CodecPipeline | None = None) -> LayoutCandidate | None:
    """A proposed mapping for one table, whatever its confidence; None when it has no usable
    global order (no unique integer column, and no SQLite rowid). ``codecs`` decode sampled values
    when looking for JSON (pass the plugin manager's to recognise plugin encodings)."""
    try:
        rows = sample_rows(engine, table, sample) if sample else []
    except sa.exc.SQLAlchemyError:
        rows = []  # unreadable (permissions, exotic types): judge by names and types alone
    return _Proposer(table, rows, dialect or engine.dialect.name, codecs or CodecPipeline()).run()


def propose_layouts(engine: Engine, schema: SchemaInfo, sample: int = SAMPLE_ROWS, limit: int = 5,
                    min_confidence: float = MIN_CONFIDENCE, codecs: CodecPipeline | None = None) -> list[LayoutCandidate]:
    """Proposed mappings (``source="proposed"``) for the tables that look like event tables, best
    first. Tables with fewer than two columns, and tables scoring below ``min_confidence``, are left out."""
    out = []
    for table in schema.tables:
        if len(table.columns) < 2:
            continue
        cand = propose_table(engine, table, schema.dialect, sample, codecs)
        if cand is not None and cand.confidence >= min_confidence:
            out.append(cand)
    out.sort(key=lambda c: -c.confidence)
    return out[:limit]


def _comment(text: str) -> str:
    return " ".join(str(text).split())


def mapping_header(candidate: LayoutCandidate, url: str | None = None) -> str:
    """TOML comments for the top of a saved mapping: why each field was chosen, what was not found,
    and how to edit the file. ``url`` (already redacted) names the database it came from."""
    lay = candidate.layout
    origin = "Proposed by the inspector from column names, types, constraints and sampled rows" \
        if candidate.source == "proposed" else f"From the {lay.name} layout ({candidate.source})"
    lines = [f"Event-store mapping for table {lay.table}" + (f" in {url}" if url else "") + ".",
             f"{origin}; confidence {candidate.confidence:.2f}.", "", "Why each field (and what was not found):"]
    lines += [f"  {_comment(r)}" for r in candidate.reasons] or ["  (no reasons recorded)"]
    if lay.notes:
        lines += ["", "Notes:"] + [f"  {_comment(n)}" for n in lay.notes]
    lines += [
        "",
        "To change a choice, edit its line under [fields]; to add a field, add a line. A field is",
        '  "column"               a column of the table',
        '  "column->key.sub"      a key inside a JSON column (JSON text, json/jsonb or JSON bytes)',
        '  "sql:<expression>"     any SQL over the table alias e, e.g. "sql:e.ts / 1000"',
        f"Fields: {', '.join(EVENT_FIELDS)}.",
        f"time_kind: {' | '.join(TIME_KINDS)}; version_base: 0 or 1 (the first version of a stream).",
        "Then: inspector events URL --mapping this-file.toml",
    ]
    return "\n".join(("# " + ln).rstrip() for ln in lines) + "\n"


def proposal_toml(candidate: LayoutCandidate, url: str | None = None) -> str:
    """The mapping file for a candidate: commented header, then the TOML ``load_mapping`` reads."""
    return candidate.layout.to_toml(mapping_header(candidate, url))
