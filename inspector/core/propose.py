"""Proposed mappings for event tables the inspector does not know: a ``Layout`` whose every field choice
carries its reason, scored by how event-like the table looks, and the commented TOML a user checks and edits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .codecs import CodecPipeline
from .column_evidence import (AGGREGATE_TYPE_NAMES, CATEGORY_NAMES, EVENT_ID_NAMES, ISO_TIME, LATE_TIME_NAMES,
                              META_NAMES, PAYLOAD_NAMES, POSITION_NAMES, SAMPLE_ROWS, TIME_NAMES, VERSION_NAMES,
                              ColumnEvidence, adjacent_pairs, comparable_time, lineage_key, norm_name, rising_share,
                              sample_key, sample_rows)
from .detect import LayoutCandidate
from .layout import TIME_KINDS, Layout
from .model import EVENT_FIELDS
from .schema import SchemaInfo, TableInfo

MAX_CONFIDENCE = 0.7  # known layouts score 0.75 and up: a guess never outranks a recognised store
MIN_CONFIDENCE = 0.3  # below this a table is not offered as an event table at all
EVENT_TABLE_WORDS = ("event", "message", "journal", "ledger", "entries", "entry", "log", "history", "outbox",
                     "audit", "stream", "change", "activity", "fact")


@dataclass
class _Pick:
    spec: str
    reason: str
    score: float = 0.0
    strong: bool = True  # backed by sampled values, not by the name alone
    column: ColumnEvidence | None = None
    base: int = 1  # for a version: the first version of a stream (0 or 1)


def _at_path(value: Any, path: str) -> Any:
    """``value["a"]["b"]`` for the path ``a.b``, as the store reads a ``column->a.b`` field."""
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class _Proposer:
    """Picks one field at a time; each pick removes its column from later choices."""

    def __init__(self, table: TableInfo, rows: list[dict[str, Any]], dialect: str, codecs: CodecPipeline):
        self.t, self.rows, self.dialect = table, rows, dialect
        self.cols = {c.name: ColumnEvidence(c, [r.get(c.name) for r in rows]) for c in table.columns}
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

    def free(self, *kinds: str) -> list[ColumnEvidence]:
        return [c for c in self.cols.values() if c.name not in self.used and (not kinds or c.kind in kinds)]

    def take(self, logical: str, pick: _Pick | None) -> None:
        if pick is None:
            return
        self.picks[logical] = pick
        if pick.column is not None:
            self.used.add(pick.column.name)

    def _pk(self) -> list[str]:
        return [c.name for c in self.t.columns if c.primary_key]

    def _unique_alone(self, c: ColumnEvidence) -> bool:
        return any(len(u) == 1 and u[0].lower() == c.name.lower() for u in self.t.unique)

    def _composite_unique(self, *cols: ColumnEvidence) -> bool:
        want = {c.name.lower() for c in cols}
        return any({x.lower() for x in u} == want for u in self.t.unique)

    def _in_composite(self, c: ColumnEvidence) -> bool:
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
                up = rising_share(adjacent_pairs(c.all), strict=True) or 0.0
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

    def in_order(self, c: ColumnEvidence) -> list[Any]:
        return [c.all[i] for i in self.order]

    # -- time --------------------------------------------------------------------------------
    def time(self) -> _Pick | None:
        best: tuple[float, _Pick, str] | None = None
        for c in self.free():
            kind, why = c.time_kind()
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
                up = rising_share(adjacent_pairs([comparable_time(v, kind) for v in self.in_order(c)]), strict=False)
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
        counts = Counter(k for d in dicts for k, v in d.items() if isinstance(v, str) and ISO_TIME.match(v.strip()))
        for k, n in counts.most_common():
            nk = norm_name(k)
            if n >= 0.9 * len(dicts) and (nk.replace("_", "") in TIME_NAMES or nk.endswith(("_at", "_time"))):
                self.time_kind, self.time_payload_key = "payload", k
                return _Pick("", f"recorded_at: payload key {k!r} holds ISO-8601 times in {n}/{len(dicts)} sampled "
                                 "payloads (time_kind = \"payload\": the database cannot filter by it)", 1.0, True)
        return None

    # -- payload and metadata ----------------------------------------------------------------
    def _jsonish(self) -> list[ColumnEvidence]:
        return [c for c in self.free() if (c.kind == "json" and not c.n) or (c.n and c.json_hits >= max(1, 0.8 * c.n))]

    def metadata(self) -> _Pick | None:
        cands = self._jsonish()
        named = [c for c in cands if c.sq in META_NAMES]
        if named:
            c = named[0]
            return _Pick(c.name, f"metadata = {c.name}: {c.json_reason()}, named like metadata", 1, bool(c.n), c)
        if len(cands) < 2:
            for c in self.free("text", "blob", "other"):
                if c.sq in META_NAMES and c not in cands:
                    return _Pick(c.name, f"metadata = {c.name}: {c.info.type} column named like metadata; sampled "
                                         "values are not JSON (lineage keys inside it cannot be mapped)", 1, False, c)
            return None
        for c in cands:
            keys = [k for k in c.meta_keys() if lineage_key(k)]
            if keys and c.sq not in PAYLOAD_NAMES:
                return _Pick(c.name, f"metadata = {c.name}: {c.json_reason()}, with keys "
                                     f"{', '.join(sorted(keys)[:4])}", 1, True, c)
        return None

    def payload(self) -> _Pick | None:
        cands = self._jsonish()
        if cands:
            named = [c for c in cands if c.sq in PAYLOAD_NAMES]
            c = named[0] if named else max(cands, key=lambda c: c.avg_len)
            extra = ", named like a payload" if named else ", the largest JSON column"
            return _Pick(c.name, f"payload = {c.name}: {c.json_reason()}{extra}", 1, bool(c.n), c)
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
    def by_name(self, logical: str) -> _Pick | None:
        for c in self.free("text", "uuid", "int", "other"):
            if lineage_key(c.name) == logical:
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
        counts = m.column.meta_keys()
        keys = [k for k in counts if lineage_key(k) == logical]
        if not keys:
            return None
        # correlationId beats correlationStreamName, and a top-level key a nested one: prefer keys
        # that end in "id", then the commonest, then the shallowest, then a global position
        k = max(keys, key=lambda k: (norm_name(k).endswith("id"), counts[k], -k.count("."), "global" in k.lower()))
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
    def _version_for(self, s: ColumnEvidence) -> tuple[float, _Pick] | None:
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
                if len({(sample_key(a), b) for a, b in pairs}) < len(pairs) or min(b for _, b in pairs) < 0:
                    continue
                if not why:
                    why.append(f"({s.name}, {v.name}) unique in {len(pairs)} sampled rows")
                    score += 1
                per: dict[Any, list[Any]] = {}
                for a, b in pairs:
                    per.setdefault(sample_key(a), []).append(b)
                up = rising_share([p for vs in per.values() for p in zip(vs, vs[1:])], strict=True)
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

    def stream_and_type(self) -> None:
        # columns named like lineage are left to the lineage fields, except an actor-named column
        # whose values carry a per-stream version (events keyed by user)
        cands = [c for c in self.free("text", "uuid", "int", "other") if not c.epoch]
        streams: list[tuple[float, ColumnEvidence | None, list[str], tuple[float, _Pick] | None]] = [
            (0.0, None, [], None)]
        for c in cands:
            lineage = lineage_key(c.name)
            if lineage in ("correlation_id", "causation_id"):
                continue
            s, why = c.stream_score()
            ver = self._version_for(c)
            if ver:
                s += 2
            elif lineage == "actor":
                continue
            if s >= 2:
                streams.append((s, c, why, ver))
        types: list[tuple[float, ColumnEvidence | None, list[str]]] = [(0.0, None, [])]
        for c in cands:
            if lineage_key(c.name):
                continue
            s, why = c.type_score()
            if s >= 2:
                types.append((s, c, why))
        best = max(((s, t) for s in streams for t in types if s[1] is None or s[1] is not t[1]),
                   key=lambda st: st[0][0] + st[1][0])
        (ss, sc, swhy, ver), (ts, tc, twhy) = best
        if sc is not None:
            why = list(swhy)
            sep = sc.separator()
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
                        per.setdefault(sample_key(a), set()).add(sample_key(b))
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
