"""The integrity checks that read every event (``core.integrity``), in keyset pages that can be
cancelled between pages: causes that name nothing (looked up in batches, like ``lineage``: first
among the ids already seen, then in SQL) and payloads that cannot be decoded (with the store's
codecs; where times live inside payloads, this pass also compares them). Where causes live in
metadata the database cannot read, the cause check's decoding pass tallies the decode failures too,
so a run decodes every event once."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Iterable, Sequence

from .command_log import batches, has_command_log, id_match
from .integrity_report import Finding, Skip, plural, time_finding
from .integrity_sql import PAGE, CheckGen, Run
from .masking import withheld_error
from .model import RecordedEvent
from .rows import parse_time, text
from .store import EventStore, is_uuid

SEEN_CAP = 400_000  # event ids remembered while resolving causes (most causes name a recent event)


# -- causes ------------------------------------------------------------------------------------------


def dangling_causes(run: Run) -> CheckGen:
    """Events whose recorded cause (an event id or a command id; Message DB: a global position)
    names nothing in the store. Skipped, saying why, where the layout records no lineage."""
    from .lineage import _no_lineage

    store, lay = run.store, run.store.layout
    if lay.lineage == "none":
        raise Skip(_no_lineage(store))
    if not lay.has("causation_id"):
        raise Skip(f"layout {lay.name} maps no causation id")
    by_position = lay.lineage == "positions"
    if not by_position and store.expr("event_id") is None and not has_command_log(store):
        raise Skip(f"layout {lay.name} gives events no id a cause could name")
    resolver = _Causes(run, by_position)
    source = resolver.sql_rows() if store.expr("causation_id") is not None else resolver.decoded_rows()
    dangling: list[tuple[int, str]] = []
    n_dangling = 0
    causes = 0
    for page, last in source:
        causes += sum(1 for _, _, c in page if c is not None)
        for pos, cause in resolver.resolve(page):
            n_dangling += 1
            if len(dangling) < run.limit:
                dangling.append((pos, cause))
        if dangling:
            run.partial = [_cause_finding(run, dangling, n_dangling)]
        yield run.fraction(last), f"resolving causes up to #{last}"
    what = "global positions" if by_position else "event ids" + (" and command ids" if has_command_log(store) else "")
    note = f"{plural(causes, 'recorded cause')} looked up among {what}"
    return ([_cause_finding(run, dangling, n_dangling)] if n_dangling else []), note


def _cause_finding(run: Run, dangling: list[tuple[int, str]], n: int) -> Finding:
    severity, why = run.rule.causes
    # the cause values are ids; shown unless a viewer's store reads them from a masked payload field
    masked = getattr(run.store, "masker", None) is not None and run.store.layout.ref("causation_id") is not None \
        and bool(run.store.layout.ref("causation_id").path)
    examples = tuple(f"#{pos}: cause {'(withheld)' if masked else cause} not found" for pos, cause in dangling)
    title = f"{plural(n, 'event')} whose recorded cause is not in this store"
    return Finding("dangling_causes", severity, title, why, tuple(p for p, _ in dangling), n, (), examples)


class _Causes:
    """Streams (position, event id, cause) and resolves causes: first against the ids seen so far
    (most causes name an event a little earlier), then in SQL, in batches (``_matching``)."""

    def __init__(self, run: Run, by_position: bool):
        self.run, self.store, self.by_position = run, run.store, by_position
        self.id_logical = "position" if by_position else "event_id"
        ctype = self.store.column_type("event_id") if not by_position else "bigint"
        self.uuid_ids = self.store.dialect.name == "postgresql" and ctype == "uuid"
        self.seen: dict[str, None] = {}

    def key(self, v: Any) -> str:
        """How an id is compared: as text; a PostgreSQL uuid column's ids in their canonical form."""
        s = v if type(v) is str else str(v)
        if self.uuid_ids:
            try:
                return str(uuid.UUID(s))
            except ValueError:
                return s
        return s

    def remember(self, ids: Iterable[Any]) -> None:
        if self.uuid_ids or self.by_position:
            self.seen.update(dict.fromkeys(self.key(i) for i in ids if i is not None))
        else:
            self.seen.update(dict.fromkeys(i if type(i) is str else str(i) for i in ids if i is not None))
        if len(self.seen) > SEEN_CAP:  # keep the newest half
            keep = list(self.seen)[len(self.seen) // 2:]
            self.seen = dict.fromkeys(keep)

    def sql_rows(self) -> Iterable[tuple[list[tuple[int, Any, Any]], int]]:
        store, run = self.store, self.run
        ident = run.pos if self.by_position else (store.expr("event_id") or "NULL")
        cause = store.expr("causation_id")
        for rows in run.scan(f"{run.pos}, {ident}, {cause}", run.from_("position", "event_id", "causation_id")):
            yield [(int(p), i, text(c) if c is not None else None) for p, i, c in rows], int(rows[-1][0])

    def decoded_rows(self) -> Iterable[tuple[list[tuple[int, Any, Any]], int]]:
        """Where causes live inside metadata the database cannot read: decode every event (and
        tally the undecodable check's findings on the way, where it runs too: ``_Decoding.shared``)."""
        tally = _Decoding.shared(self.run)
        for page in self.store.iter_pages(page_size=PAGE):
            if tally is not None:
                tally.add_events(page.events)
            yield [(e.position, e.position if self.by_position else e.event_id, e.causation_id) for e in page.events], \
                page.events[-1].position
        self.run.decoded = tally

    def resolve(self, page: list[tuple[int, Any, Any]]) -> list[tuple[int, str]]:
        """The (position, cause) pairs of ``page`` whose cause names nothing in the store."""
        self.remember(i for _, i, _ in page)
        open_: dict[str, list[tuple[int, str]]] = {}
        seen, key = self.seen, self.key
        for pos, _, cause in page:
            if not cause:
                continue
            k = cause if not self.uuid_ids else key(cause)
            if k not in seen:
                open_.setdefault(k, []).append((pos, cause))
        if not open_:
            return []
        found = self.lookup(list(open_))
        self.remember(found)
        return sorted((pc for k, pcs in open_.items() if k not in self.seen for pc in pcs), key=lambda pc: pc[0])

    def lookup(self, keys: list[str]) -> list[str]:
        """The ``keys`` that name an event (or a command of the command log), each as found. Causes
        not among the recent events mostly name commands (the first event of a flow), so the command
        log is asked first."""
        store, run = self.store, self.run
        out: list[str] = []
        log = _command_ids(store) if not self.by_position else None
        if log is not None and log.expr("command_id") is not None:
            ref = log.ref("command_id")
            plain = ref is not None and ref.column is not None and not ref.path
            ctype = log.types.get(ref.column.lower()) if plain else None
            out += self._matching(log.expr("command_id"), ctype, plain, log.from_, keys)
        expr = run.pos if self.by_position else store.expr("event_id")
        rest = keys
        if out:
            known = {self.key(o) for o in out}
            rest = [k for k in keys if k not in known]
        if expr is not None and rest:
            ref = store.layout.ref(self.id_logical)
            plain = self.by_position or (ref is not None and ref.column is not None and not ref.path)
            ctype = "bigint" if self.by_position else (store.column_type("event_id") if plain else None)
            out += self._matching(expr, ctype, plain, run.from_(self.id_logical), rest)
        return out

    def _matching(self, expr: str, ctype: str | None, plain: bool, from_: str, keys: list[str]) -> list[str]:
        """The values of ``expr`` among ``keys``: ``IN`` lists of 500 (as lineage looks ids up); on
        PostgreSQL one array parameter per 5,000 keys where the column's type allows, which spares
        the server parsing and planning hundreds of bind parameters per query."""
        store = self.store
        fetch = store._fetch_page
        out: list[str] = []
        array = _pg_array(ctype) if store.dialect.name == "postgresql" and plain else None
        if array is not None and not any(_SEP in k for k in keys):
            values: list[str] = keys
            if array == "uuid[]":
                values = [k for k in keys if is_uuid(k)]
            elif array == "bigint[]":
                values = [k for k in keys if k.lstrip("-").isdigit()]
            # one text parameter split by the server: psycopg would check every element of a list
            sql = f"SELECT {expr} FROM {from_} WHERE {expr} = ANY(CAST(string_to_array(:ids, chr(31)) AS {array}))"
            for chunk in batches(values, 5000):
                out += [text(r[0]) for r in fetch(sql, {"ids": _SEP.join(chunk)})]
            return out
        for chunk in batches(keys):
            where, params = id_match(store.dialect, expr, ctype, chunk, "v_", plain)
            out += [text(r[0]) for r in fetch(f"SELECT {expr} FROM {from_} WHERE {where}", params)]
        return out


_SEP = "\x1f"  # the ASCII unit separator: splits a batch of ids passed as one text


def _pg_array(ctype: str | None) -> str | None:
    t = (ctype or "").lower()
    if t == "uuid":
        return "uuid[]"
    if "int" in t or t in ("serial", "bigserial"):
        return "bigint[]"
    if "char" in t or t == "text":
        return "text[]"
    return None


def _command_ids(store: EventStore):
    """The command log's reader (ids only are read through it), or None."""
    from .command_log import _reader

    return _reader(store)


# -- decoding ----------------------------------------------------------------------------------------

_SIZE = re.compile(r"\s*\(\d[\d,]* bytes\)")
_CORRUPT = ("corrupt", "payload is not valid UTF-8", "JSON nested too deeply", "more than ")


def _reason(error: str, encoding: str | None) -> str:
    """A decode error as a group: its first clause, as a viewer may read it, without sizes."""
    def first(part: str) -> str:
        return _SIZE.sub("", part.split(": ", 1)[0].split("; ", 1)[0]).strip()

    safe = withheld_error(error, encoding)
    payload, sep, meta = safe.partition("; metadata: ")
    if payload.startswith("metadata: ") and not sep:
        return "metadata: " + first(payload[len("metadata: "):])
    return first(payload) + (f"; metadata: {first(meta)}" if sep else "")


def _decode_severity(reason: str, share: float) -> tuple[str, str]:
    """Severity and explanation of a group of decode failures that is ``share`` of the events read."""
    first = reason.removeprefix("metadata: ")
    if first.startswith("encrypted") and share >= 0.5:
        return "info", ("These payloads look encrypted (for example the eventsourcing library's AES cipher): they "
                        "cannot be read without the key, which the inspector does not hold.")
    if first.startswith("encrypted"):
        return "warning", ("These few payloads look like ciphertext or random bytes while the rest of the store is "
                           "readable: damaged bytes, or a writer that encrypts what others do not.")
    if first.startswith(_CORRUPT):
        return "error", ("The stored bytes do not decode as what they claim to be: these events are corrupt, and "
                         "every projection, replay and export skips or fails on them.")
    return "warning", ("No codec reads these payloads: a plugin that knows their format may be missing (or "
                       "disabled, see Help > Plugins), or the bytes are damaged.")


def undecodable(run: Run) -> CheckGen:
    """Events whose payload or metadata the loaded codecs cannot decode, grouped by reason: corrupt
    bytes are errors, formats no codec reads warnings, a store that encrypts its payloads info."""
    store = run.store
    if not store.layout.has("payload") and not store.layout.has("metadata"):
        raise Skip(f"layout {store.layout.name} maps no payload")
    tally, run.decoded = run.decoded, None
    if tally is not None:  # the cause check decoded every event already
        return tally.result()
    tally = _Decoding(run)
    for page in _decoded_pages(run):
        tally.add(page)
        run.partial = tally.findings()
        last = page[-1][0]
        yield run.fraction(last), f"decoded {tally.decoded:,} events (up to #{last})"
    return tally.result()


class _Decoding:
    """The undecodable check's tally (and, where times live in payloads, the time check's), fed a
    page of decoded events at a time."""

    def __init__(self, run: Run):
        self.run = run
        self.groups: dict[str, tuple[list[int], list[str], str]] = {}  # reason -> (positions, first errors, encoding)
        self.counts: dict[str, int] = {}
        self.decoded = 0
        self.times = _PayloadTimes(run) if run.sql_time is None and run.store.layout.time_kind == "payload" else None
        self.path, self.once, self.time_key, self.last = False, False, None, None  # for add_events

    @classmethod
    def shared(cls, run: Run) -> "_Decoding | None":
        """A tally for the store's event reader to feed (``add_events``), where the undecodable check
        runs later in this run and would decode the same rows (an unmasked store; rows a join
        repeats counted once), else None."""
        store, lay = run.store, run.store.layout
        payload = lay.ref("payload")
        path = payload is not None and bool(payload.path)
        same_rows = path or run.from_("position", "payload", "metadata") == store._from
        if ("undecodable" not in run.checks or (not lay.has("payload") and not lay.has("metadata"))
                or getattr(store, "masker", None) is not None or not (same_rows or lay.position_unique)):
            return None
        tally = cls(run)
        tally.path, tally.once = path, not same_rows
        tally.time_key = (lay.time_payload_key or "timestamp") if lay.time_kind == "payload" else None
        return tally

    def add_events(self, events: Sequence[RecordedEvent]) -> None:
        """Events read by the store's reader, as ``_decoded_pages`` reads them."""
        key, rows = self.time_key, []
        for e in events:
            if self.once:
                if e.position == self.last:
                    continue
                self.last = e.position
            at = e.recorded_at if self.path else (
                parse_time(e.data.get(key)) if key and isinstance(e.data, dict) else None)
            rows.append((e.position, e.decode_error, e.encoding, at))
        self.add(rows)

    def add(self, rows: Iterable[tuple[int, str | None, str | None, dt.datetime | None]]) -> None:
        """(position, decode error, encoding, payload time) of each event read."""
        groups, counts, times, limit = self.groups, self.counts, self.times, self.run.limit
        n = 0
        for position, error, encoding, at in rows:
            n += 1
            if times is not None:
                times.add(position, at)
            if not error:
                continue
            reason = _reason(error, encoding)
            counts[reason] = counts.get(reason, 0) + 1
            positions, errors, _ = groups.setdefault(reason, ([], [], encoding or "unknown"))
            if len(positions) < limit:
                positions.append(position)
                errors.append(withheld_error(error, encoding))
        self.decoded += n

    def findings(self) -> list[Finding]:
        return _decode_findings(self.groups, self.counts, self.decoded)

    def result(self) -> tuple[list[Finding], str]:
        if self.times is not None:
            self.run.payload_times, self.run.payload_time_note = self.times.result()
        return self.findings(), f"{self.decoded:,} payloads decoded with the loaded codecs"


def _decoded_pages(run: Run) -> Iterable[list[tuple[int, str | None, str | None, dt.datetime | None]]]:
    """(position, decode error, encoding, payload time) for every event, a page at a time. Reads only
    the position and the stored payload and metadata and decodes them with the store's codecs (a
    viewer's store masks as it decodes); a payload mapped as a path inside another column goes
    through the store's full event reader instead."""
    store = run.store
    payload, meta = store.layout.ref("payload"), store.layout.ref("metadata")
    if payload is not None and payload.path:
        for page in store.iter_pages(page_size=1000):
            yield [(e.position, e.decode_error, e.encoding, e.recorded_at) for e in page.events]
        return
    p_sql = store.expr("payload") if payload is not None else None
    m_sql = store.expr("metadata") if meta is not None and not meta.path else None
    cols = f"{run.pos}, {p_sql or 'NULL'}, {m_sql or 'NULL'}"
    decode = store.codecs.decode
    time_key = (store.layout.time_payload_key or "timestamp") if store.layout.time_kind == "payload" else None
    for rows in run.scan(cols, run.from_("position", "payload", "metadata")):
        out = []
        for pos, raw, raw_meta in rows:
            d = decode(raw)
            error = d.error
            if raw_meta is not None:
                md = decode(raw_meta)
                if md.error:
                    error = f"{error}; metadata: {md.error}" if error else f"metadata: {md.error}"
            at = parse_time(d.value.get(time_key)) if time_key and isinstance(d.value, dict) else None
            out.append((int(pos), error, d.encoding, at))
        yield out


def _decode_findings(groups: dict[str, tuple[list[int], list[str], str]], counts: dict[str, int],
                     decoded: int) -> list[Finding]:
    out = []
    for reason, (positions, errors, encoding) in sorted(groups.items(), key=lambda g: -counts[g[0]]):
        severity, why = _decode_severity(reason, counts[reason] / max(1, decoded))
        examples = tuple(f"#{p}: {err}" for p, err in zip(positions, errors))
        out.append(Finding("undecodable", severity, f"{plural(counts[reason], 'event')} not decoded: {reason}",
                           f"{why} Encoding as detected: {encoding}.", tuple(positions), counts[reason], (), examples))
    return out


class _PayloadTimes:
    """The time check for stores that keep times inside payloads, fed by the decoding pass."""

    def __init__(self, run: Run):
        self.run = run
        self.prev: tuple[int, float] | None = None
        self.rows: list[tuple[int, int, float, float]] = []
        self.n = 0
        self.worst = 0.0

    def add(self, position: int, at: dt.datetime | None) -> None:
        if at is None:
            return
        t = at.timestamp()
        if self.prev is not None and t < self.prev[1]:
            self.n += 1
            self.worst = max(self.worst, self.prev[1] - t)
            if len(self.rows) < self.run.limit:
                self.rows.append((self.prev[0], position, self.prev[1], t))
        self.prev = (position, t)

    def result(self) -> tuple[list[Finding], str]:
        note = "times read from inside the payloads by the decoding pass"
        if not self.n:
            return [], note + "; they never go backwards"
        return [time_finding(self.n, self.worst, self.rows)], note
