"""Submission: the one code path in the inspector that writes to a user's event store.

``submit(plan, write_url, actor=, reason=, role="operator", execute=True)`` appends a
``CompensationPlan``'s events through the ``Submitter`` a plugin registers for the store's layout
(built in: ``inspector``, ``eventsourcing``, ``message-db``). Without ``execute`` it is a dry run:
it reads the target through a read-only session and says what each step would do.

Each step is one database transaction on an engine of its own, made from the write URL (never the
browsing session): check the idempotency key in the audit table (used: skip the step), read the
stream's version through the submitter (which locks what its database needs locked), compare it
with the step's expected version (different: a ``conflict`` that stops the plan), append the
events, insert the audit row, commit. SQLite steps start with ``BEGIN IMMEDIATE`` and wait for a
busy database instead of failing; PostgreSQL and MariaDB steps run at READ COMMITTED, so what a
concurrent submitter committed while this one waited for a lock is seen by the next statement.
When a unique index refuses a row (another submitter won the race on an empty stream) the step
rolls back and looks again: its key now used means "applied by another submitter", otherwise it
is a conflict. Nothing of a step is ever written partially. Before any of that (and in a dry run),
maker-checker (``core.approval``) refuses a plan that requires approval unless an actor other than
the submitting one approved its current SHA-256.

The audit table ``inspector_audit`` sits in the schema of the store's events table (the default
schema where the layout names none; for Message DB that is ``message_store``, next to
``messages``), is created on the first executed submit in a short transaction of its own, and
holds one row per applied step: its idempotency key (unique), the plan id and SHA-256, the step,
command, stream, expected version, event ids, positions, compensated events, actor, reason and
time. Layouts without metadata columns (the ``eventsourcing`` library's) keep causation,
correlation, actor and reason only there.

Submitter callables are called with ``(conn, store, stream)`` and ``(conn, store, events)`` as
``inspector.core.commands.Submitter`` documents; like pluggy hooks, an ``append`` that names the
optional parameters ``step``, ``plan``, ``actor`` or ``reason`` receives them too (the inspector's
own layout uses them to record the command in ``inspector_commands``)."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from .audit_table import (AUDIT_TABLE, AuditRow, audit_schema, audit_table, audit_table_for, schema_of_table, table_in,
                          used_keys, used_row)
from .checkpoints import StoreIdentity
from .commands import AppendEvent, Submitter
from .compensate import CompensationPlan, CompensationStep, StoreContext, event_metadata, last_version, refresh
from .connect import create_engine, describe_error, redact
from .errors import InspectorError, LayoutError
from .ownstore import encode_json
from .masking import MASK, holds_mask

UTC = dt.timezone.utc
OPERATOR = "operator"
#: How long a SQLite step waits for another writer's transaction before giving up.
BUSY_TIMEOUT_MS = 120_000
#: Deadlocks and serialisation failures retry the step this many times before it fails.
RETRIES = 5
BUILTIN_PLUGIN = "builtin_submitters"
_WRITE = "inspector_write"  # execution option: this SQLite transaction writes (BEGIN IMMEDIATE)

APPLIED, SKIPPED, CONFLICT, FAILED, NOT_RUN = "applied", "skipped", "conflict", "failed", "not_run"
WOULD_APPLY, WOULD_SKIP, WOULD_CONFLICT = "would_apply", "would_skip", "would_conflict"
STATUSES = (APPLIED, SKIPPED, CONFLICT, FAILED, NOT_RUN, WOULD_APPLY, WOULD_SKIP, WOULD_CONFLICT)
_OK = (APPLIED, SKIPPED, WOULD_APPLY, WOULD_SKIP)


class SubmitError(InspectorError):
    """A submission refused before anything is written (role, actor, reason, target, layout)."""


class StreamConflict(SubmitError):
    """Raised by a submitter's ``append`` when the store refuses the expected version (Message DB's
    ``write_message``); the step rolls back and is reported as a conflict."""


# -- the audit table --------------------------------------------------------------------------------


def ensure_table(engine: Engine, table: sa.Table, what: str = "audit table",
                  error: type[Exception] = SubmitError) -> sa.Table:
    """Create ``table`` (the audit table, or ``core.approval``'s) unless it exists; safe when many
    writers do it at once (a loser of the race sees the winner's table on its next look). Raises
    ``error`` when it cannot."""
    last: Exception | None = None
    for _ in range(RETRIES):
        try:
            with write_transaction(engine) as conn:
                if not conn.dialect.has_table(conn, table.name, schema=table.schema):
                    table.create(conn)
            return table
        except sa.exc.DBAPIError as e:  # created meanwhile by another writer: look again
            last = e
    raise error(f"cannot create the {what} {table.name}: {describe_error(last, engine.url)}")


# -- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one step (or, in a dry run, what would). ``positions``: the global
    positions of its events (applied, or skipped and found in the audit table)."""

    index: int
    command: str
    stream: str
    status: str
    message: str
    positions: tuple[int, ...] = ()
    expected_version: int | None = None
    actual_version: int | None = None
    idempotency_key: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "command": self.command, "stream": self.stream, "status": self.status,
                "message": self.message, "positions": list(self.positions),
                "expected_version": self.expected_version, "actual_version": self.actual_version,
                "idempotency_key": self.idempotency_key}


@dataclass(frozen=True)
class SubmitReport:
    plan_id: str
    plan_sha256: str
    store: StoreIdentity
    executed: bool
    actor: str
    reason: str
    submitter: str
    outcomes: tuple[StepOutcome, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(o.status in _OK for o in self.outcomes)

    @property
    def stopped_at(self) -> int | None:
        """The step that stopped the plan (a conflict or failure), None when none did."""
        for o in self.outcomes:
            if o.status in (CONFLICT, FAILED, WOULD_CONFLICT):
                return o.index
        return None

    def to_json(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "plan_sha256": self.plan_sha256, "store": self.store.to_json(),
                "executed": self.executed, "actor": self.actor, "reason": self.reason, "submitter": self.submitter,
                "ok": self.ok, "stopped_at": self.stopped_at, "outcomes": [o.to_json() for o in self.outcomes]}


# -- choosing the submitter and the target ---------------------------------------------------------


def _manager(manager: Any) -> Any:
    if manager is None:
        from ..plugins.manager import PluginManager

        manager = PluginManager()
    return manager


def find_submitter(manager: Any, layout: str) -> Submitter | None:
    """The submitter for ``layout``: a plugin's wins over the built-in one (an application's plugin
    knows its store better), otherwise the first registered."""
    found: list[tuple[str, Submitter]] = [(name, s) for name, s in manager.call_each("register_submitters")
                                          if isinstance(s, Submitter) and layout in s.layouts]
    for name, s in found:
        if name != BUILTIN_PLUGIN:
            return s
    return found[0][1] if found else None


def needs_plugin(layout: str) -> str:
    return (f"no submitter writes stores of the {layout!r} layout: submitting to it needs a plugin submitter "
            f"(a plugin whose register_submitters returns a Submitter for {layout!r})")


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}


def _where(url: str) -> tuple[Any, ...]:
    """What makes two URLs the same database: backend, host, port, database (SQLite: the file).
    The user and password are left out, since a write role is often another login than a reader's."""
    from .connect import normalize_url

    try:
        u = make_url(normalize_url(url))
    except sa.exc.ArgumentError:
        return ("unparsed", url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        db = u.database or ""
        return (backend, str(Path(db).resolve()) if db and db != ":memory:" and not db.startswith("file:") else db)
    return (backend, (u.host or "localhost").lower(), u.port or _DEFAULT_PORTS.get(backend), u.database)


def same_database(a: str, b: str) -> bool:
    """Whether two URLs (or SQLite paths) name the same database, whoever logs in."""
    return _where(a) == _where(b)


def _check_request(plan: CompensationPlan, write_url: str, actor: str, reason: str, role: Any,
                   execute: bool = True) -> None:
    role_name = str(getattr(role, "value", role) or "")
    # an auditor may see what a submission would do (a dry run reads, and an auditor sees everything)
    if role_name != OPERATOR and (execute or role_name != "auditor"):
        what = "submitting" if execute else "a dry run of a submission"
        raise SubmitError(f"{what} needs the operator role{'' if execute else ' or the auditor role'} "
                          f"(this session's role is {role_name or 'none'!r})")
    if not str(actor or "").strip():
        raise SubmitError("submitting needs an actor: the name the audit trail records for these events")
    if not str(reason or "").strip():
        raise SubmitError("submitting needs a reason: the audit trail records why these events were appended")
    if not str(write_url or "").strip():
        raise SubmitError("submitting needs a write URL: its own connection to the store, never the browsing one")


def masked_steps(plan: CompensationPlan) -> list[int]:
    """The steps of ``plan`` (their indexes) that hold the viewer's mask: composed from masked data."""
    return [s.index for s in plan.steps if holds_mask(s.values) or holds_mask([e.to_json() for e in s.events])]


def check_write_url(plan: CompensationPlan, write_url: str, error: type[Exception] = SubmitError) -> None:
    """Raise ``error`` unless ``write_url`` names the database of the plan's store."""
    if not same_database(write_url, plan.store.url):
        raise error(f"the write URL {redact(write_url)} names another database than the plan's store "
                    f"({plan.store.url})")


@dataclass
class _Target:
    engine: Engine
    store: Any  # EventStore
    submitter: Submitter
    schema: str | None
    append_extras: frozenset[str]

    def close(self) -> None:
        self.engine.dispose()


def install_write_session(engine: Engine) -> None:
    """SQLite: the driver's own transaction handling off, so each step can start with BEGIN
    IMMEDIATE (the write lock taken up front: no deadlock between two readers turning writers), and
    a busy timeout so a submitter waits for another's step instead of failing."""
    if engine.url.get_backend_name() != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        # steps and the audit table's creation write; reading the schema to detect the layout does not
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    engine.dispose()  # drop the connection create_engine checked the URL with, opened without the above


def _open_target(plan: CompensationPlan, write_url: str, manager: Any, submitter: Submitter,
                 read_only: bool) -> _Target:
    from .session import open_store

    check_write_url(plan, write_url)
    engine = create_engine(write_url, read_only=read_only)
    if not read_only:
        install_write_session(engine)
    wanted = f"{plan.store.layout}:{plan.store.table}"
    try:
        opened = open_store(write_url, manager.layout_definitions(), manager.codecs(), layout=wanted, engine=engine)
    except LayoutError as e:
        raise SubmitError(f"the write URL {redact(write_url)} is not the plan's store ({plan.store.url}, layout "
                          f"{wanted}): {e}") from None
    try:
        params = inspect.signature(submitter.append).parameters
    except (TypeError, ValueError):  # a callable without a readable signature gets the documented arguments
        params = {}
    extras = frozenset(n for n in ("step", "plan", "actor", "reason") if n in params)
    return _Target(engine, opened.store, submitter, audit_schema(opened.store), extras)


class _Rollback(Exception):
    """Ends a step's transaction without writing, with the outcome to report."""

    def __init__(self, outcome: StepOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A writing transaction (see the module docstring for the isolation each backend gets):
    committed when the block ends, rolled back when it raises."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(**{_WRITE: True})
        else:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            yield conn


# -- the steps --------------------------------------------------------------------------------------


def append_events(plan: CompensationPlan, step: CompensationStep, actor: str, reason: str, at: dt.datetime,
                  first_version: int = 1) -> tuple[AppendEvent, ...]:
    """The step's events as a submitter writes them: ids from the idempotency key, versions after
    the expected version, the documented metadata."""
    base = first_version - 1 if step.expected_version is None else step.expected_version
    out = []
    for n, (e, eid) in enumerate(zip(step.events, step.event_ids()), 1):
        meta = event_metadata(plan, step, actor, reason, e)
        out.append(AppendEvent(eid, step.stream, base + n, e.type, dict(e.data), meta, at, meta.get("causation_id"),
                               plan.plan_id, actor))
    return tuple(out)


def _outcome(step: CompensationStep, status: str, message: str, **kw: Any) -> StepOutcome:
    return StepOutcome(step.index, step.command, step.stream, status, message,
                       expected_version=step.expected_version, idempotency_key=step.idempotency_key, **kw)


def _version_text(v: int | None) -> str:
    return "no stream (not created yet)" if v is None else f"version {v}"


def _conflict(step: CompensationStep, actual: int | None) -> StepOutcome:
    return _outcome(step, CONFLICT, f"step {step.index} ({step.command} on {step.stream}): expected "
                    f"{_version_text(step.expected_version)}, the stream is at {_version_text(actual)}; nothing of "
                    f"this step was written (refresh the plan and submit again)", actual_version=actual)


def _is_retryable(e: BaseException) -> bool:
    orig = getattr(e, "orig", None)
    code = str(getattr(orig, "sqlstate", "") or (orig.args[0] if orig is not None and orig.args else ""))
    return code in ("40001", "40P01", "1213", "1205") or "deadlock" in str(orig).lower()


def _try_step(t: _Target, plan: CompensationPlan, step: CompensationStep, actor: str, reason: str, sha: str,
              audit: sa.Table) -> StepOutcome:
    with write_transaction(t.engine) as conn:
        used = used_row(conn, audit, step.idempotency_key)
        if used:
            raise _Rollback(_outcome(step, SKIPPED, f"already applied ({used.describe()})", positions=used.positions))
        actual = t.submitter.stream_version(conn, t.store, step.stream)
        if actual != step.expected_version:
            # READ COMMITTED: the submitter's lock may have waited for another submitter of this step
            used = used_row(conn, audit, step.idempotency_key)
            if used:
                raise _Rollback(_outcome(step, SKIPPED, f"applied by another submitter ({used.describe()})",
                                         positions=used.positions))
            raise _Rollback(_conflict(step, actual))
        at = dt.datetime.now(UTC)
        events = append_events(plan, step, actor, reason, at, t.submitter.first_version)
        extras = {"step": step, "plan": plan, "actor": actor, "reason": reason}
        positions = tuple(int(p) for p in t.submitter.append(conn, t.store, events,
                                                              **{k: extras[k] for k in t.append_extras}))
        conn.execute(audit.insert().values(
            idempotency_key=step.idempotency_key, plan_id=plan.plan_id, plan_sha256=sha, step=step.index,
            command=step.command, stream=step.stream, expected_version=step.expected_version,
            event_ids=encode_json([e.event_id for e in events]), positions=encode_json(list(positions)),
            compensates=encode_json(list(step.compensates)), actor=actor, reason=reason,
            submitter=t.submitter.name, submitted_at=at))
    return _outcome(step, APPLIED, f"appended {len(events)} event(s) to {step.stream}", positions=positions,
                    actual_version=actual)


def _run_step(t: _Target, plan: CompensationPlan, step: CompensationStep, actor: str, reason: str, sha: str,
              audit: sa.Table) -> StepOutcome:
    for attempt in range(RETRIES + 1):
        try:
            return _try_step(t, plan, step, actor, reason, sha, audit)
        except _Rollback as r:
            return r.outcome
        except StreamConflict as e:
            return _outcome(step, CONFLICT, f"step {step.index} ({step.command} on {step.stream}): {e}; nothing of "
                            "this step was written")
        except sa.exc.IntegrityError as e:
            # a unique index refused a row: another submitter won the race, or another writer appended
            with write_transaction(t.engine) as conn:
                used = used_row(conn, audit, step.idempotency_key)
            if used:
                return _outcome(step, SKIPPED, f"applied by another submitter ({used.describe()})",
                                positions=used.positions)
            return _outcome(step, CONFLICT, f"step {step.index} ({step.command} on {step.stream}): the store refused "
                            f"the append ({describe_error(e)}); nothing of this step was written")
        except sa.exc.DBAPIError as e:
            if _is_retryable(e) and attempt < RETRIES:
                continue
            return _outcome(step, FAILED, f"step {step.index} failed, nothing of it was written: "
                            f"{describe_error(e, t.engine.url)}")
        except Exception as e:  # noqa: BLE001 - a submitter's error: the step rolled back, say why
            msg = str(e) if isinstance(e, InspectorError) else f"{type(e).__name__}: {e}"
            return _outcome(step, FAILED, f"step {step.index} failed, nothing of it was written: {msg}")
    raise AssertionError("unreachable")  # pragma: no cover


def _dry_run(t: _Target, plan: CompensationPlan, on_step: Callable[[StepOutcome], None] | None
             ) -> list[StepOutcome]:
    out: list[StepOutcome] = []
    with t.engine.connect() as conn:
        audit = audit_table_for(t.schema) if conn.dialect.has_table(conn, AUDIT_TABLE, schema=t.schema) else None
        running: dict[str, int | None] = {}
        stopped: int | None = None
        for step in plan.steps:
            if stopped is not None:
                o = _outcome(step, NOT_RUN, f"would not run: step {stopped} would conflict")
            elif used := used_row(conn, audit, step.idempotency_key):
                o = _outcome(step, WOULD_SKIP, f"already applied ({used.describe()})", positions=used.positions)
            else:
                if step.stream in running:
                    actual = running[step.stream]
                else:
                    actual = last_version(t.store, step.stream)
                if actual != step.expected_version:
                    stopped = step.index
                    o = _outcome(step, WOULD_CONFLICT, f"would conflict: expected "
                                 f"{_version_text(step.expected_version)}, the stream is at {_version_text(actual)}",
                                 actual_version=actual)
                else:
                    base = t.submitter.first_version - 1 if actual is None else actual
                    running[step.stream] = base + len(step.events)
                    now = "a new stream" if actual is None else f"now at version {actual}"
                    o = _outcome(step, WOULD_APPLY, f"would append {len(step.events)} event(s) to {step.stream} "
                                 f"({now})", actual_version=actual)
            out.append(o)
            if on_step:
                on_step(o)
    return out


def submit(plan: CompensationPlan, write_url: str, *, actor: str, reason: str, role: Any, execute: bool = False,
           manager: Any = None, on_step: Callable[[StepOutcome], None] | None = None) -> SubmitReport:
    """Submit ``plan`` to the store at ``write_url`` (see the module docstring). Refuses with
    ``SubmitError`` before anything is read when the role is not operator (a dry run: nor auditor), the actor or reason is
    empty, or no submitter writes the plan's layout; and before anything is written when the write
    URL is another store, or maker-checker refuses (``core.approval``: a plan that requires
    approval needs one of its current SHA-256 by another actor). Without ``execute``: a dry run,
    nothing written. A conflict or failure
    stops the plan (later steps ``not_run``); running it again skips the applied steps.
    ``on_step`` is called with each outcome after its step's transaction ended."""
    _check_request(plan, write_url, actor, reason, role, execute)
    masked = masked_steps(plan)
    if masked:
        raise SubmitError(f"step(s) {', '.join(map(str, masked))} hold the viewer's mask {MASK!r}: the plan was "
                          "composed from masked data; compose it again as an auditor or operator")
    actor, reason = actor.strip(), reason.strip()
    manager = _manager(manager)
    layout = plan.store.layout
    submitter = find_submitter(manager, layout)
    if submitter is None:
        raise SubmitError(needs_plugin(layout))
    specs = manager.commands()
    for s in plan.steps:
        spec = specs.get(s.command)
        if spec is not None and spec.layouts and layout not in spec.layouts:
            raise SubmitError(f"step {s.index}: command {s.command} writes only {', '.join(spec.layouts)} stores, "
                              f"not {layout!r}")
        if not s.events:
            raise SubmitError(f"step {s.index} ({s.command}) appends no events")
    t = _open_target(plan, write_url, manager, submitter, read_only=not execute)
    sha = plan.sha256()
    try:
        from .approval import enforce  # maker-checker: before anything is written (and for a dry run)

        with t.engine.connect() as conn:
            enforce(conn, plan, actor, sha)
        if not execute:
            outcomes = _dry_run(t, plan, on_step)
        else:
            audit = ensure_table(t.engine, audit_table_for(t.schema)) if plan.steps else audit_table_for(t.schema)
            outcomes, stopped = [], None
            for step in plan.steps:
                if stopped is None:
                    o = _run_step(t, plan, step, actor, reason, sha, audit)
                    if o.status in (CONFLICT, FAILED):
                        stopped = step.index
                else:
                    o = _outcome(step, NOT_RUN, f"not run: step {stopped} stopped the plan")
                outcomes.append(o)
                if on_step:
                    on_step(o)
    finally:
        t.close()
    return SubmitReport(plan.plan_id, sha, plan.store, execute, actor, reason, submitter.name, tuple(outcomes))


def refresh_plan(plan: CompensationPlan, target: Any, *, manager: Any = None) -> CompensationPlan:
    """The plan with the expected versions of its not yet applied steps (keys not in the audit
    table) read again from the store: resume after a conflict. ``target`` is a URL (opened
    read-only) or the store (``EventStore`` / ``OpenedStore``)."""
    manager = _manager(manager)
    submitter = find_submitter(manager, plan.store.layout)
    first = submitter.first_version if submitter else 1
    t = None
    if isinstance(target, str):
        if submitter is None:
            raise SubmitError(needs_plugin(plan.store.layout))
        t = _open_target(plan, target, manager, submitter, read_only=True)
        store = t.store
    else:
        store = getattr(target, "store", target)
    try:
        with store.engine.connect() as conn:
            done = used_keys(conn, store)
        return refresh(plan, StoreContext(store, plan.replay_plan, {}), first, skip=done)
    finally:
        if t is not None:
            t.close()


def audit_rows(target: Any) -> list[dict[str, Any]]:
    """The audit table of a store (``EventStore`` / ``OpenedStore``), oldest first, as dicts."""
    store = getattr(target, "store", target)
    schema = audit_schema(store)
    with store.engine.connect() as conn:
        if not conn.dialect.has_table(conn, AUDIT_TABLE, schema=schema):
            return []
        t = audit_table_for(schema)
        rows = conn.execute(sa.select(t).order_by(t.c.audit_id)).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        for k in ("event_ids", "positions", "compensates"):
            d[k] = json.loads(d[k])
        out.append(d)
    return out


__all__ = ["SubmitError", "StreamConflict", "StepOutcome", "SubmitReport", "submit", "refresh_plan", "audit_rows",
           "find_submitter", "needs_plugin", "same_database", "append_events", "audit_table", "AUDIT_TABLE", "STATUSES",
           # moved to ``audit_table``, still importable from here
           "AuditRow", "audit_schema", "audit_table_for", "schema_of_table", "table_in", "used_keys"]
