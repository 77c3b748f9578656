"""The integrity checks the database answers (``core.integrity``), each one query that returns the
first ``limit`` offending rows with exact totals (``COUNT(*) OVER ()``): gaps and duplicates in
global positions (``LAG`` over the position order; ``GROUP BY ... HAVING``), version gaps and
duplicates per stream (``LAG`` over stream and version), times going backwards (``LAG`` over the
position order) and event types no projection reads (``GROUP BY type``, then ``ROW_NUMBER`` per
type for their first events). Also ``Run``, the state and SQL helpers every check shares."""

from __future__ import annotations

from typing import Any, Generator, Iterable, Mapping, Sequence

import sqlalchemy as sa

from . import integrity_rules as rules
from .integrity_report import Finding, Skip, plural, time_finding
from .model import EventFilter
from .rows import text
from .store import EventStore

PAGE = 5000  # rows per page of the checks that read every event
BATCH = 500  # event types per query of ``unhandled_types``

#: What a check is: a generator of (fraction done, message) that returns (findings, note), or
#: raises ``Skip`` when it cannot run on the store.
CheckGen = Generator[tuple[float, str], None, tuple[list[Finding], str]]


class Run:
    """One run over one store: its position expression, what is normal for its layout, its size, and
    what streamed checks leave for others (payload times, decode failures) or for a cancelled run
    (partial findings)."""

    def __init__(self, store: EventStore, projections: Sequence[Any] | None, limit: int):
        self.store, self.projections, self.limit = store, projections, limit
        self.q = store.dialect
        self.pos = store.expr("position")
        self.rule = rules.for_store(store)
        self.partial: list[Finding] = []  # a streamed check's findings so far (kept when cancelled)
        self.payload_times: list[Finding] | None = None  # set by the decoding pass where times live in payloads
        self.payload_time_note = ""
        self.checks: frozenset[str] = frozenset()  # the checks of this run (``integrity.iter_check`` sets them)
        self.decoded: Any = None  # the undecodable check's tally, where the cause check's decoding pass made it
        epoch = store.time_epoch_expr()
        self.sql_time = epoch
        with store.engine.connect() as conn:
            row = conn.execute(sa.text(f"SELECT COUNT(*), MIN({self.pos}), MAX({self.pos}) FROM {self.from_('position')}")
                               ).first()
        self.total = int(row[0] or 0)
        self.first = int(row[1]) if row[1] is not None else None
        self.last = int(row[2]) if row[2] is not None else None

    def from_(self, *logical: str) -> str:
        return self.store._from_for(EventFilter(), *logical)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.text(sql), dict(params or {})).fetchall()

    def scan(self, columns: str, from_: str, page: int = PAGE) -> Iterable[list[Any]]:
        """Every row in position order, ``page`` rows at a time, as raw DB-API rows whose first column
        is the position (``columns`` starts with it). Keyset pages on the raw connection (the store's
        fast path); where positions are not unique, rows sharing the last position of a full page are all
        kept in that page."""
        base = f"SELECT {columns} FROM {from_}"
        fetch = self.store._fetch_page
        unique = self.store.layout.position_unique  # the database enforces it (else the detection says not)
        after: int | None = None
        while True:
            if after is None:
                rows = fetch(f"{base} ORDER BY {self.pos} LIMIT {page}", {})
            else:
                rows = fetch(f"{base} WHERE {self.pos} > :after ORDER BY {self.pos} LIMIT {page}", {"after": after})
            if not rows:
                return
            last = rows[-1][0]
            full = len(rows) == page
            if full and not unique:
                rows = [r for r in rows if r[0] != last] + fetch(f"{base} WHERE {self.pos} = :p", {"p": last})
            yield rows
            if not full:
                return
            after = int(last)

    def fraction(self, position: int | None) -> float:
        if position is None or self.first is None or self.last is None or self.last <= self.first:
            return 1.0
        return (position - self.first) / (self.last - self.first)

    def integer(self, logical: str) -> str | None:
        """A field as an integer expression (a JSON path reads as text)."""
        e = self.store.expr(logical)
        ref = self.store.layout.ref(logical)
        if e is None or ref is None or not ref.path:
            return e
        kind = {"postgresql": "bigint", "mysql": "SIGNED"}.get(self.q.name, "INTEGER")
        return f"CAST({e} AS {kind})"

    def not_filler(self, type_sql: str | None) -> str:
        """SQL that leaves out the layout's gap-filler rows (Marten's tombstones), or ''."""
        if not self.rule.filler_type or type_sql is None:
            return ""
        return f" AND ({type_sql} IS NULL OR {type_sql} <> '{self.rule.filler_type}')"


def _ranges(prev: int, pos: int) -> str:
    return f"#{prev + 1}" if pos - prev == 2 else f"#{prev + 1}–#{pos - 1}"


# -- positions ---------------------------------------------------------------------------------------


def position_gaps(run: Run) -> CheckGen:
    """Positions skipped between two events (the event after each gap is listed), with the
    severity and reason of the layout's rule: normal sequence gaps are info."""
    p = run.pos
    yield 0.0, "looking for gaps (LAG over the position order)"
    rows = run.rows(
        f"SELECT g.prev, g.pos, COUNT(*) OVER () AS n, SUM(g.pos - g.prev - 1) OVER () AS missing FROM "
        f"(SELECT {p} AS pos, LAG({p}) OVER (ORDER BY {p}) AS prev FROM {run.from_('position')}) g "
        f"WHERE g.pos - g.prev > 1 ORDER BY g.pos LIMIT {run.limit}")
    if not rows:
        return [], "no gaps"
    n, missing = int(rows[0][2]), int(rows[0][3])
    severity, why = run.rule.gaps
    title = f"{plural(n, 'gap')} in global positions ({plural(missing, 'position')} missing)"
    examples = tuple(f"after #{int(a)}: {_ranges(int(a), int(b))} missing" for a, b, *_ in rows)
    finding = Finding("position_gaps", severity, title, why, tuple(int(r[1]) for r in rows), n, (), examples)
    return [finding], f"{plural(n, 'gap')}; {'normal for this layout' if severity == 'info' else 'not expected here'}"


def duplicate_positions(run: Run) -> CheckGen:
    """Positions held by more than one row: readers that resume after a position lose or repeat them."""
    p = run.pos
    yield 0.0, "looking for positions held by more than one row (GROUP BY ... HAVING)"
    rows = run.rows(
        f"SELECT {p} AS pos, COUNT(*) AS n, COUNT(*) OVER () AS groups, SUM(COUNT(*)) OVER () AS total "
        f"FROM {run.from_('position')} GROUP BY {p} HAVING COUNT(*) > 1 ORDER BY {p} LIMIT {run.limit}")
    if not rows:
        return [], "every position is held by one row"
    groups, total = int(rows[0][2]), int(rows[0][3])
    detail = ("The global position is the order every reader follows; rows sharing one have no defined order "
              "between them, and readers that resume after a position skip or repeat them.")
    title = f"{plural(groups, 'position')} held by more than one row ({plural(total, 'row')} in all)"
    examples = tuple(f"#{int(r[0])}: {int(r[1])} rows" for r in rows)
    return [Finding("duplicate_positions", "error", title, detail, tuple(int(r[0]) for r in rows), groups, (),
                    examples)], f"{plural(groups, 'duplicated position')}"


# -- versions ----------------------------------------------------------------------------------------


def stream_versions(run: Run) -> CheckGen:
    """Per stream: versions skipped (or a first version other than the layout's base) and versions
    held twice. Rows of no version (Rails Event Store's ``:any`` links) and gap fillers are left out."""
    store = run.store
    s, v = store.expr("stream"), run.integer("version")
    if s is None or v is None:
        missing = "stream" if s is None else "version"
        why = "is not mapped" if not store.layout.has(missing) else "cannot be read by the database"
        raise Skip(f"layout {store.layout.name}: the {missing} {why}")
    base = store.layout.version_base
    yield 0.0, "looking for version gaps per stream (LAG over stream, version)"
    where = f"{v} IS NOT NULL" + run.not_filler(store.expr("type"))
    inner = (f"SELECT {s} AS s, {v} AS v, {run.pos} AS pos, LAG({v}) OVER (PARTITION BY {s} ORDER BY {v}, {run.pos}) "
             f"AS prev FROM {run.from_('stream', 'version', 'type')} WHERE {where}")
    kinds = (f"SELECT CASE WHEN g.v = g.prev THEN 'dup' ELSE 'gap' END AS k, g.s, g.v, g.prev, g.pos FROM ({inner}) g "
             f"WHERE (g.prev IS NULL AND g.v <> {int(base)}) OR g.v - g.prev <> 1")
    ranked = (f"SELECT h.k, h.s, h.v, h.prev, h.pos, ROW_NUMBER() OVER (PARTITION BY h.k ORDER BY h.pos) AS rn, "
              f"ROW_NUMBER() OVER (PARTITION BY h.k, h.s ORDER BY h.pos) AS rs, COUNT(*) OVER (PARTITION BY h.k) AS n "
              f"FROM ({kinds}) h")
    sql = (f"SELECT x.k, x.s, x.v, x.prev, x.pos, x.n, SUM(CASE WHEN x.rs = 1 THEN 1 ELSE 0 END) "
           f"OVER (PARTITION BY x.k) AS streams, x.rn FROM ({ranked}) x")
    rows = [r for r in run.rows(f"SELECT * FROM ({sql}) y WHERE y.rn <= {run.limit} ORDER BY y.k, y.pos")]
    findings = []
    for kind in ("gap", "dup"):
        mine = [r for r in rows if r[0] == kind]
        if not mine:
            continue
        n, n_streams = int(mine[0][5]), int(mine[0][6])
        streams = tuple(dict.fromkeys(text(r[1]) or "" for r in mine))
        if kind == "gap":
            severity, why = run.rule.versions
            title = f"{plural(n, 'version gap')} in {plural(n_streams, 'stream')}"
            examples = tuple(
                f"{text(r[1])}: starts at version {int(r[2])}, not {base} (#{int(r[4])})" if r[3] is None else
                f"{text(r[1])}: version {int(r[3])} then {int(r[2])} (#{int(r[4])})" for r in mine)
        else:
            severity = "error"
            why = ("Two events claim the same version of one stream: the optimistic concurrency check that "
                   "should have refused the second append did not (a missing unique index on stream and version, "
                   "or events written around it).")
            title = f"{plural(n, 'duplicate version')} in {plural(n_streams, 'stream')}"
            examples = tuple(f"{text(r[1])}: version {int(r[2])} again (#{int(r[4])})" for r in mine)
        findings.append(Finding("stream_versions", severity, title, why, tuple(int(r[4]) for r in mine), n,
                                streams, examples))
    note = f"versions start at {base} on layout {store.layout.name}"
    if run.rule.filler_type:
        note += f"; {run.rule.filler_type} rows left out"
    return findings, note


# -- times -------------------------------------------------------------------------------------------


def time_order(run: Run) -> CheckGen:
    """Events recorded earlier than the event before them in position order. Stores that keep times
    only inside payloads get the answer of the decoding pass, or a skip that says so."""
    store = run.store
    if run.sql_time is None:
        if run.payload_times is not None:
            return run.payload_times, run.payload_time_note
        if store.layout.time_kind == "payload":
            raise Skip(f"layout {store.layout.name} keeps event times inside encoded payloads, where the database "
                       "cannot compare them; run the undecodable check too and the decoding pass compares them")
        raise Skip(f"layout {store.layout.name} records no event time")
    yield 0.0, "comparing each event's time with the previous event's (LAG over the position order)"
    t, p = run.sql_time, run.pos
    col = store.expr("recorded_at")
    rows = run.rows(
        f"SELECT g.prev_pos, g.pos, g.prev_t, g.t, COUNT(*) OVER () AS n, MAX(g.prev_t - g.t) OVER () AS worst FROM "
        f"(SELECT {p} AS pos, {t} AS t, LAG({t}) OVER (ORDER BY {p}) AS prev_t, LAG({p}) OVER (ORDER BY {p}) AS prev_pos "
        f"FROM {run.from_('position', 'recorded_at')} WHERE {col} IS NOT NULL) g "
        f"WHERE g.t < g.prev_t ORDER BY g.pos LIMIT {run.limit}")
    if not rows:
        return [], "times never go backwards"
    n, worst = int(rows[0][4]), float(rows[0][5])
    return [time_finding(n, worst, [(int(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in rows])], \
        f"{plural(n, 'step')} backwards"


# -- types -------------------------------------------------------------------------------------------


def unhandled_types(run: Run) -> CheckGen:
    """Event types none of the given projections reads (one of ``types=()`` reads every type)."""
    store = run.store
    if not run.projections:
        raise Skip("no projections are loaded: there is nothing to compare event types with (plugins register "
                   "projections)")
    if store.expr("type") is None:
        raise Skip(f"layout {store.layout.name} maps no event type")
    names = ", ".join(p.name for p in run.projections)
    catch_all = [p.name for p in run.projections if not p.types]
    if catch_all:
        return [], f"{', '.join(catch_all)} read{'s' if len(catch_all) == 1 else ''} every event type ({names})"
    handled = {t for p in run.projections for t in p.types}
    yield 0.0, "counting events per type (GROUP BY type)"
    counts = [(t, n) for t, n in store.event_types() if t and t not in handled and t != run.rule.filler_type]
    counts.sort(key=lambda c: (-c[1], c[0]))
    if counts:
        yield 0.5, f"finding the first events of {plural(len(counts), 'unhandled type')} (ROW_NUMBER per type)"
    first = _first_of_types(run, [t for t, _ in counts])
    detail = (f"None of the loaded projections ({names}) reads events of this type: read models built from "
              "them ignore these events. Expected for events kept only for the record; otherwise a handler "
              "may be missing.")
    findings = [Finding("unhandled_types", "info", f"No projection handles {etype} ({plural(n, 'event')})",
                        detail, tuple(first.get(etype, ())), n) for etype, n in counts]
    return findings, f"compared with the types that {names} read"


def _first_of_types(run: Run, types: list[str]) -> dict[str, list[int]]:
    """type -> its first ``run.limit`` positions, for ``types``: ``ROW_NUMBER`` per type in one
    query per batch of types (the database compares the types, so its collation decides as in
    ``GROUP BY``)."""
    t_sql = run.store.expr("type")
    out: dict[str, list[int]] = {}
    for start in range(0, len(types), BATCH):
        chunk = types[start:start + BATCH]
        params = {f"u_{i}": t for i, t in enumerate(chunk)}
        names = ", ".join(f":{p}" for p in params)
        which = " ".join(f"WHEN x.t = :{p} THEN {i}" for i, p in enumerate(params))
        inner = (f"SELECT {t_sql} AS t, {run.pos} AS pos, ROW_NUMBER() OVER (PARTITION BY {t_sql} ORDER BY {run.pos}) "
                 f"AS rn FROM {run.from_('type')} WHERE {t_sql} IN ({names})")
        sql = f"SELECT CASE {which} END AS k, x.pos FROM ({inner}) x WHERE x.rn <= {run.limit} ORDER BY k, x.pos"
        for k, pos in run.rows(sql, params):
            if k is not None:
                out.setdefault(chunk[int(k)], []).append(int(pos))
    return out
