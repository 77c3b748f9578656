"""Compensation plans: from a replay plan, the compensating commands that would bring the store to
the state the replay previewed, and their effect worked out in memory before anything is written.

``propose(store, replay_plan, manager)`` asks every plugin's ``propose_compensations`` for steps,
gives each the stream version it expects (the stream's version now, plus the events of earlier
steps on the same stream) and a deterministic idempotency key, and returns a frozen
``CompensationPlan``. ``Composer`` edits, removes and adds steps with per-field validation.
``speculate(plan, histories)`` folds the plan's events over the read models at head, in memory,
and returns the resulting rows and the **residual**: where that result still differs from the
replay plan's target. An empty residual means the compensation fully reverts the problem.
Nothing here writes; ``inspector.core.submit`` is the one write path.

The JSON document (``CompensationPlan.to_json``; field names are stable)::

    {"format": "inspector.compensation-plan/1",
     "plan_id": UUID (the correlation id of every event the plan appends),
     "created_at": ISO time, "store": {"url", "layout", "table"}, "head_position": n,
     "replay_plan": the replay plan it compensates (``inspector.replay-plan/1``),
     "steps": [{"index": 1.., "command", "values": {...}, "stream", "expected_version": n | null
                (null: the stream must not exist yet), "events": [{"type", "data", "metadata"}],
                "compensates": [event ids], "reason", "idempotency_key": 64 hex, "origin":
                "proposed" | "edited" | "added", "plugin"}],
     "notes": [{"plugin", "text"}],
     "requires_approval": true (only when submitting needs a second operator's approval; absent: false)}

The idempotency key is SHA-256 over the command, its stream and the compensated event ids (for a
step that compensates no event, its values and the plan id instead), so the same compensation of
the same events has the same key in every plan: submitted twice, it is applied once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .checkpoints import ReplayError, StoreIdentity
from .commands import CommandError, CommandSpec, CompensationNote, ProposedEvent, ProposedStep
from .history import History
from .oplog import canonical
from .model import EventFilter, RecordedEvent
from .replay_fold import rows_by_key
from .replay_values import ReplayPlan, json_value, read_document, same_value, write_document
from .store import EventStore

FORMAT = "inspector.compensation-plan/1"
UTC = dt.timezone.utc
ORIGINS = ("proposed", "edited", "added")
#: Built-in read models of the log itself: appending compensations changes them by design, so a
#: residual on them is not asked for unless named.
LOG_PROJECTIONS = frozenset({"streams", "types"})
#: Event ids of a step are uuid5(this namespace, "<idempotency key>:<n>"): a re-run appends the same ids.
EVENT_ID_NAMESPACE = uuid.UUID("5f6c9a52-6d0e-4c86-9a53-1f0a2c7e4b11")


class CompensationError(ReplayError):
    """A compensation plan that cannot be made, read or changed as asked."""




def idempotency_key(command: str, stream: str, compensates: Sequence[str], values: Mapping[str, Any] | None = None,
                    plan_id: str | None = None) -> str:
    """SHA-256 hex of the command, its stream and the compensated events (sorted); a step that
    compensates nothing is keyed by its values within its plan instead."""
    if compensates:
        basis = ["inspector.compensation/1", command, stream, *sorted(set(compensates))]
    else:
        basis = ["inspector.compensation/1", command, stream, "values", canonical(dict(values or {})), plan_id or ""]
    return hashlib.sha256("\n".join(basis).encode()).hexdigest()


def event_ids(key: str, n: int) -> tuple[str, ...]:
    return tuple(str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{key}:{i}")) for i in range(n))


@dataclass(frozen=True)
class CompensationStep:
    """One command of a plan (see the module docstring for the fields)."""

    index: int
    command: str
    values: Mapping[str, Any]
    stream: str
    expected_version: int | None
    events: tuple[ProposedEvent, ...]
    compensates: tuple[str, ...]
    reason: str
    idempotency_key: str
    origin: str = "proposed"
    plugin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "command": self.command, "values": dict(self.values), "stream": self.stream,
                "expected_version": self.expected_version, "events": [e.to_json() for e in self.events],
                "compensates": list(self.compensates), "reason": self.reason,
                "idempotency_key": self.idempotency_key, "origin": self.origin, "plugin": self.plugin}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CompensationStep":
        ev = d.get("expected_version")
        return cls(int(d["index"]), str(d["command"]), dict(d.get("values") or {}), str(d["stream"]),
                   None if ev is None else int(ev), tuple(ProposedEvent.from_json(e) for e in d.get("events") or ()),
                   tuple(str(x) for x in d.get("compensates") or ()), str(d.get("reason") or ""),
                   str(d["idempotency_key"]), str(d.get("origin") or "proposed"), str(d.get("plugin") or ""))

    def event_ids(self) -> tuple[str, ...]:
        return event_ids(self.idempotency_key, len(self.events))


@dataclass(frozen=True)
class CompensationPlan:
    plan_id: str
    created_at: str
    store: StoreIdentity
    head_position: int
    replay_plan: ReplayPlan
    steps: tuple[CompensationStep, ...]
    notes: tuple[CompensationNote, ...] = ()
    #: Submitting needs an approval of exactly this plan by a second operator (``core.approval``).
    requires_approval: bool = False

    def to_json(self) -> dict[str, Any]:
        doc = {"format": FORMAT, "plan_id": self.plan_id, "created_at": self.created_at,
               "store": self.store.to_json(), "head_position": self.head_position,
               "replay_plan": self.replay_plan.to_json(), "steps": [s.to_json() for s in self.steps],
               "notes": [{"plugin": n.plugin, "text": n.text} for n in self.notes]}
        if self.requires_approval:  # only when set: plans without it keep the document (and SHA-256) they had
            doc["requires_approval"] = True
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def sha256(self) -> str:
        """The plan's fingerprint: SHA-256 of its canonical JSON (what an approval would sign)."""
        return hashlib.sha256(canonical(self.to_json()).encode()).hexdigest()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "CompensationPlan":
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, Mapping) else type(doc).__name__
            raise CompensationError(f"not a compensation plan: format is {got!r}, expected {FORMAT!r}")
        try:
            return cls(str(doc["plan_id"]), str(doc["created_at"]), StoreIdentity.from_json(doc["store"]),
                       int(doc["head_position"]), ReplayPlan.from_json(doc["replay_plan"]),
                       tuple(CompensationStep.from_json(s) for s in doc.get("steps") or ()),
                       tuple(CompensationNote(str(n.get("text", "")), str(n.get("plugin", "")))
                             for n in doc.get("notes") or ()),
                       _flag(doc.get("requires_approval", False)))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ReplayError):
                raise
            raise CompensationError(f"malformed compensation plan: {type(e).__name__}: {e}") from None

    def export(self, path: str | Path) -> Path:
        """Write the plan atomically (a temporary file renamed over the target)."""
        return write_document(path, self.dumps())


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):  # "false" would be truthy: a hand edit must not flip it silently
        raise CompensationError(f"malformed compensation plan: requires_approval is {value!r}, not true or false")
    return value


def load_plan(path: str | Path) -> CompensationPlan:
    return CompensationPlan.from_json(read_document(path, "compensation plan", CompensationError))


# -- the context plugins propose from --------------------------------------------------------------


class StoreContext:
    """``CompensationContext`` over a store, its Histories at the plan's head and the replay plan.
    Rows are read from the Histories; the target is the head row changed by the plan's diff."""

    def __init__(self, store: Any, plan: ReplayPlan, histories: Mapping[str, History]) -> None:
        from .roles import RoleError, role_of

        role = role_of(store)
        if not role.sees_personal_data:
            # a viewer's rows are masked: a plan built from them could write the marker back
            raise RoleError(f"composing compensations needs the auditor or operator role; this session is {role} "
                            "(personal data is masked, and masked values must never be written back)")
        self.store: EventStore = getattr(store, "store", store)
        self.plan = plan
        self.histories = dict(histories)
        self._versions: dict[str, int | None] = {}
        self._frames: dict[str, Any] = {}  # projection -> its state at the plan's head (one as_of each)
        self._head: dict[str, dict[str, dict[str, Any] | None]] = {}  # rows read so far (None: no such row)
        self._target: dict[str, dict[str, dict[str, Any]]] = {}
        self._keys: dict[str, frozenset[str]] = {}

    def _diff_keys(self, projection: str) -> frozenset[str]:
        if projection not in self._keys:
            d = self.plan.projection(projection)
            self._keys[projection] = frozenset(r["key"] for r in (*d.added, *d.removed, *d.changed))
        return self._keys[projection]

    def head_rows(self, projection: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        h = self.histories.get(projection)
        if h is None:
            raise CompensationError(f"no history of {projection!r} to read rows from")
        keys = list(keys)
        cache = self._head.setdefault(projection, {})
        want = sorted(set(keys) - set(cache))
        if want:
            if projection not in self._frames:
                self._frames[projection] = h.as_of(self.plan.head_position)
            df = self._frames[projection]
            found = rows_by_key(df[df["key"].isin(want)])
            cache.update({k: found.get(k) for k in want})
        return {k: cache[k] for k in keys if cache.get(k) is not None}

    def head_row(self, projection: str, key: str) -> dict[str, Any] | None:
        return self.head_rows(projection, [key]).get(key)

    def target_rows(self, projection: str) -> dict[str, dict[str, Any]]:
        """Every row the replay plan changes, as it would leave them (absent: removed)."""
        if projection not in self._target:
            diff = self.plan.projection(projection)
            self._target[projection] = diff.apply_to(self.head_rows(projection, self._diff_keys(projection)))
        return self._target[projection]

    def target_row(self, projection: str, key: str) -> dict[str, Any] | None:
        if key in self._diff_keys(projection):
            return self.target_rows(projection).get(key)
        return self.head_row(projection, key)  # a row the plan does not change stays as it is

    def stream_version(self, stream: str) -> int | None:
        if stream not in self._versions:
            self._versions[stream] = last_version(self.store, stream)
        return self._versions[stream]


def last_version(store: EventStore, stream: str) -> int | None:
    """The version of ``stream``'s newest event as the store reads it (None: no such stream)."""
    page = store.read_page(EventFilter(stream=stream), limit=1, descending=True)
    return page.events[0].version if page.events else None


# -- composing ------------------------------------------------------------------------------------


class Composer:
    """Builds and edits plans: every change re-validates the step's values, rebuilds its events
    and re-numbers expected versions (a stream's version now plus earlier steps' events on it)."""

    def __init__(self, context: StoreContext, commands: Mapping[str, CommandSpec], first_version: int = 1) -> None:
        self.context = context
        self.commands = dict(commands)
        self.first_version = first_version

    def spec(self, name: str) -> CommandSpec:
        try:
            return self.commands[name]
        except KeyError:
            known = ", ".join(sorted(self.commands)) or "none"
            raise CommandError(f"unknown command {name!r}: no loaded plugin registers it (known: {known})",
                               {"": "unknown command"}) from None

    def _step(self, plan_id: str, index: int, command: str, raw: Mapping[str, Any], compensates: Sequence[str],
              reason: str, origin: str, plugin: str) -> CompensationStep:
        spec = self.spec(command)
        values, stream, events = spec.build(raw)
        key = idempotency_key(command, stream, compensates, values, plan_id)
        return CompensationStep(index, command, values, stream, None, events, tuple(compensates), reason, key,
                                origin, plugin)

    def renumber(self, plan: CompensationPlan, steps: Sequence[CompensationStep]) -> CompensationPlan:
        steps = tuple(replace(s, index=i) for i, s in enumerate(steps, 1))
        return refresh(replace(plan, steps=steps), self.context, self.first_version)

    def propose(self, manager: Any, created_at: str | None = None) -> CompensationPlan:
        """Ask every plugin for steps; invalid proposals become notes instead of steps."""
        rp = self.context.plan
        plan_id = str(uuid.uuid4())
        plan = CompensationPlan(plan_id, created_at or dt.datetime.now(UTC).isoformat(), rp.store, rp.head_position,
                                rp, ())
        steps: list[CompensationStep] = []
        notes: list[CompensationNote] = []
        for plugin, item in manager.call_each("propose_compensations", plan=rp, context=self.context):
            if isinstance(item, CompensationNote):
                notes.append(replace(item, plugin=item.plugin or plugin))
            elif isinstance(item, ProposedStep):
                try:
                    steps.append(self._step(plan_id, 0, item.command, item.values, item.compensates, item.reason,
                                            "proposed", plugin))
                except CommandError as e:
                    notes.append(CompensationNote(f"proposal dropped: {e}", plugin))
            else:
                notes.append(CompensationNote(f"ignored a {type(item).__name__} returned by propose_compensations",
                                              plugin))
        if not steps and not notes:
            notes.append(CompensationNote("no loaded plugin proposes compensations for these events; add steps by "
                                          "hand from the commands plugins register"))
        return self.renumber(replace(plan, notes=tuple(notes)), steps)

    def edit(self, plan: CompensationPlan, index: int, raw: Mapping[str, Any], reason: str | None = None
             ) -> CompensationPlan:
        """Step ``index`` (1-based) with new values; CommandError (errors per field) when invalid."""
        old = self._at(plan, index)
        new = self._step(plan.plan_id, index, old.command, raw, old.compensates,
                         old.reason if reason is None else reason, "added" if old.origin == "added" else "edited",
                         old.plugin)
        return self.renumber(plan, [new if s.index == index else s for s in plan.steps])

    def rebuild(self, plan: CompensationPlan) -> CompensationPlan:
        """Every step validated again from its values (a plan edited by hand or by a script): events,
        streams and keys rebuilt, expected versions read again. CommandError names the step."""
        steps = []
        for s in plan.steps:
            try:
                new = self._step(plan.plan_id, s.index, s.command, s.values, s.compensates, s.reason, s.origin,
                                 s.plugin)
            except CommandError as e:
                raise CommandError(f"step {s.index}: {e}", e.errors) from None
            steps.append(new)
        return self.renumber(plan, steps)

    def remove(self, plan: CompensationPlan, index: int) -> CompensationPlan:
        self._at(plan, index)
        return self.renumber(plan, [s for s in plan.steps if s.index != index])

    def add(self, plan: CompensationPlan, command: str, raw: Mapping[str, Any], reason: str = "",
            compensates: Sequence[str] = (), at: int | None = None) -> CompensationPlan:
        step = self._step(plan.plan_id, 0, command, raw, compensates, reason, "added", "")
        steps = list(plan.steps)
        steps.insert(len(steps) if at is None else max(0, at - 1), step)
        return self.renumber(plan, steps)

    def move(self, plan: CompensationPlan, index: int, to: int) -> CompensationPlan:
        steps = list(plan.steps)
        step = steps.pop(self._at(plan, index).index - 1)
        steps.insert(max(0, min(len(steps), to - 1)), step)
        return self.renumber(plan, steps)

    @staticmethod
    def _at(plan: CompensationPlan, index: int) -> CompensationStep:
        for s in plan.steps:
            if s.index == index:
                return s
        raise CompensationError(f"the plan has no step {index} (it has {len(plan.steps)})")


def refresh(plan: CompensationPlan, context: StoreContext, first_version: int = 1,
            skip: Iterable[str] = ()) -> CompensationPlan:
    """The plan with expected versions read again from the store, for every step whose idempotency
    key is not in ``skip`` (those already applied keep theirs): resume after a foreign append."""
    done = set(skip)
    running: dict[str, int | None] = {}
    out = []
    for s in plan.steps:
        if s.idempotency_key in done:
            out.append(s)
            continue
        v = running[s.stream] if s.stream in running else context.stream_version(s.stream)
        out.append(replace(s, expected_version=v))
        running[s.stream] = (first_version - 1 if v is None else v) + len(s.events)
    return replace(plan, steps=tuple(out))


# -- speculative apply ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Residual:
    """One read model after the plan's events, against the replay plan's target. ``cells`` are
    ``{"key", "field", "result", "target"}`` where they differ; ``missing`` keys the target has and
    the result not, ``extra`` the reverse. ``computed`` False (with ``note``) when the replay plan's
    diff cannot give the target (capped, not computed) or there is no History to fold over."""

    projection: str
    computed: bool
    keys: tuple[str, ...] = ()
    result: Mapping[str, Mapping[str, Any]] | None = None
    cells: tuple[dict[str, Any], ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    note: str | None = None

    @property
    def empty(self) -> bool:
        return self.computed and not (self.cells or self.missing or self.extra)

    def to_json(self) -> dict[str, Any]:
        return {"computed": self.computed, "empty": self.empty, "note": self.note, "keys": len(self.keys),
                "cells": list(self.cells), "missing": list(self.missing), "extra": list(self.extra)}


@dataclass(frozen=True)
class Speculation:
    """The plan applied in memory: the events it would append (as the store would read them) and
    each read model's residual."""

    events: tuple[RecordedEvent, ...]
    residuals: tuple[Residual, ...]
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Every computed residual is empty (and at least one was computed)."""
        done = [r for r in self.residuals if r.computed]
        return bool(done) and all(r.empty for r in done)

    def residual(self, projection: str) -> Residual:
        for r in self.residuals:
            if r.projection == projection:
                return r
        raise CompensationError(f"no residual for {projection!r}")

    def to_json(self) -> dict[str, Any]:
        return {"empty": self.empty, "events": len(self.events), "notes": list(self.notes),
                "residuals": {r.projection: r.to_json() for r in self.residuals}}


def planned_events(plan: CompensationPlan, actor: str = "(speculative)", reason: str = "",
                   at: dt.datetime | None = None, first_version: int = 1) -> tuple[RecordedEvent, ...]:
    """The plan's events as ``RecordedEvent``s after the head: positions head+1…, versions after
    each step's expected version, ids from the idempotency key, the documented metadata."""
    at = at or dt.datetime.now(UTC)
    out: list[RecordedEvent] = []
    pos = plan.head_position
    for s in plan.steps:
        base = first_version - 1 if s.expected_version is None else s.expected_version
        for n, (e, eid) in enumerate(zip(s.events, s.event_ids()), 1):
            pos += 1
            meta = event_metadata(plan, s, actor, reason, e)
            out.append(RecordedEvent(pos, s.stream, base + n, e.type, at, eid, meta.get("causation_id"),
                                     plan.plan_id, actor, dict(e.data), meta))
    return tuple(out)


def event_metadata(plan: CompensationPlan, step: CompensationStep, actor: str, reason: str,
                   event: ProposedEvent) -> dict[str, Any]:
    """The metadata every appended event carries (the submitters write it where the layout can)."""
    meta = dict(event.metadata or {})
    meta.update({"causation_id": step.compensates[0] if step.compensates else None, "correlation_id": plan.plan_id,
                 "actor": actor, "reason": reason, "command": step.command, "compensates": list(step.compensates),
                 "idempotency_key": step.idempotency_key, "step": step.index,
                 "step_reason": step.reason})
    return meta


def _fold(projection: Any, row: Mapping[str, Any] | None, e: RecordedEvent) -> dict[str, Any] | None:
    state = projection.initial() if row is None else dict(row)
    new = projection.apply(state, e)
    if new is None:
        return None
    return {k: json_value(v) for k, v in new.items() if json_value(v) is not None}


def speculate(plan: CompensationPlan, context: StoreContext, projections: Sequence[str] | None = None,
              first_version: int = 1) -> Speculation:
    """Fold the plan's events over the rows at head, in memory, for each projection the replay plan
    has a diff of (or ``projections``), and compare with the replay plan's target."""
    events = planned_events(plan, first_version=first_version)
    notes = []
    if projections is None:
        names = [p.projection for p in plan.replay_plan.projections if p.projection not in LOG_PROJECTIONS]
        skipped = [p.projection for p in plan.replay_plan.projections if p.projection in LOG_PROJECTIONS]
        if skipped:
            notes.append(f"no residual on {', '.join(skipped)}: they describe the log itself (versions, counts, last "
                         "event), which compensating events change by design")
        if not names:
            notes.append("the replay plan holds no diff of a domain read model, so there is no target to compare "
                         "with: preview again with --projection NAME (inspector plugins lists them)")
    else:
        names = list(projections)
    return Speculation(events, tuple(_residual(n, context, events) for n in names), tuple(notes))


def _residual(name: str, context: StoreContext, events: Sequence[RecordedEvent]) -> Residual:
    h = context.histories.get(name)
    if h is None:
        return Residual(name, False, note=f"no history of {name} was built, so the plan's effect on it is unknown")
    try:
        diff = context.plan.projection(name)
    except ReplayError:
        return Residual(name, False, note=f"the replay plan holds no diff of {name}")
    if diff.capped or diff.method == "not_computed":
        why = "capped (it lists only part of the changes)" if diff.capped else f"not computed ({diff.note})"
        return Residual(name, False, note=f"the replay plan's diff of {name} is {why}: there is no exact target")
    p = h.projection
    touched: list[tuple[str, RecordedEvent]] = []
    for e in events:
        if p.types and e.type not in p.types:
            continue
        k = p.key(e)
        if k is not None:
            touched.append((str(k), e))
    keys = sorted(context._diff_keys(name) | {k for k, _ in touched})
    result = {k: dict(v) for k, v in context.head_rows(name, keys).items()}
    for k, e in touched:
        new = _fold(p, result.get(k), e)
        if new is None:
            result.pop(k, None)
        else:
            result[k] = new
    target = {k: context.target_row(name, k) for k in keys}
    cells, missing, extra = [], [], []
    for k in keys:
        r, t = result.get(k), target.get(k)
        if r is None and t is None:
            continue
        if r is None:
            missing.append(k)
            continue
        if t is None:
            extra.append(k)
            continue
        for f in sorted(set(r) | set(t)):
            if not same_value(r.get(f), t.get(f)):
                cells.append({"key": k, "field": f, "result": r.get(f), "target": t.get(f)})
    return Residual(name, True, tuple(keys), {k: result[k] for k in keys if k in result}, tuple(cells),
                    tuple(missing), tuple(extra))


def histories_for(store: Any, plan: ReplayPlan, projections: Mapping[str, Any]) -> dict[str, History]:
    """Histories at the plan's head of the projections the replay plan has diffs of."""
    from .history import build_history

    st: EventStore = getattr(store, "store", store)
    out = {}
    for d in plan.projections:
        p = projections.get(d.projection)
        if p is None or d.method == "not_computed":
            continue
        out[d.projection] = build_history(st, p)
    return out
