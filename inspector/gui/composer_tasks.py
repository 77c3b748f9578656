"""The compensation composer's work, as plain functions (no Qt) the dialog schedules on workers:
proposing (building the Histories a preview did not leave, then asking the plugins) and every
change to a plan, each followed by the speculative apply whose residual the dialog shows."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from inspector.core.compensate import LOG_PROJECTIONS, CompensationPlan, Composer, Speculation, StoreContext, speculate
from inspector.core.replay_values import ReplayPlan

from .preview_request import build_histories


def prepare(store: Any, replay_plan: ReplayPlan, projections: Sequence[Any], histories: Mapping[str, Any],
            manager: Any, first_version: int, should_cancel: Callable[[], bool]):
    """Yields (text, fraction or None) while it builds the Histories the preview did not leave;
    returns (composer, plan, speculation, ``head_rows``, {name: History built here})."""
    by_name = {p.name: p for p in projections}
    head = replay_plan.head_position
    use = {n: h for n, h in histories.items() if h.head is not None and h.head >= head}
    todo = [by_name[d.projection] for d in replay_plan.projections
            if d.method != "not_computed" and d.projection not in use and d.projection in by_name
            and d.projection not in LOG_PROJECTIONS]  # no residual is computed on those
    built = yield from build_histories(getattr(store, "store", store), todo, should_cancel)
    yield "asking the plugins for compensating commands", None
    context = StoreContext(store, replay_plan, {**use, **built})
    composer = Composer(context, manager.commands() if manager is not None else {}, first_version)
    plan = composer.propose(manager if manager is not None else _NoPlugins())
    yield "applying the plan in memory", None
    spec = speculate(plan, context, first_version=first_version)
    return composer, plan, spec, head_rows(context, spec), built


def head_rows(context: StoreContext, spec: Speculation) -> dict[str, dict[str, Any]]:
    """Per read model, the rows now of the keys its residual covers (read from the Histories,
    cached by the context): what the result is shown against."""
    return {r.projection: context.head_rows(r.projection, r.keys) for r in spec.residuals if r.computed}


class _NoPlugins:
    """Stands in for a plugin manager when none is loaded: nobody proposes anything."""

    def call_each(self, *_a, **_k) -> list:
        return []


def change(composer: Composer, op: str, plan: CompensationPlan, *args: Any, **kwargs: Any
           ) -> tuple[CompensationPlan, Speculation, dict]:
    """``Composer.<op>(plan, ...)``, the speculative apply of the result and ``head_rows``."""
    new = getattr(composer, op)(plan, *args, **kwargs)
    spec = speculate(new, composer.context, first_version=composer.first_version)
    return new, spec, head_rows(composer.context, spec)
