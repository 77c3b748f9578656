"""What a rollback preview is asked for (``PreviewRequest``: a truncate to a checkpoint, or a skip
of a ``Selection``) and the worker body that computes it (``compute_preview``): the store's own
refusals asked first (cheap reads), then any projection history the window has not built yet
(yielding progress), then ``core.replay``'s plan. Qt-free, so it runs on a ``TaskRunner`` worker."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from inspector.core import history as core_history
from inspector.core.checkpoints import BeyondHead, Checkpoint, EmptyCorrelation, EmptySelection, UnknownEvent
from inspector.core.errors import UnsupportedFilter
from inspector.core.model import EventFilter
from inspector.core.replay import preview_skip, preview_truncate
from inspector.core.replay_values import Selection

from .checkpoints_panel import describe_spec, short_id


@dataclass(frozen=True)
class PreviewRequest:
    """What to preview: a truncate to ``checkpoint``, or a skip of ``selection``."""

    kind: str  # "truncate" | "skip"
    checkpoint: Checkpoint | None = None
    selection: Selection | None = None

    @classmethod
    def truncate(cls, checkpoint: Checkpoint) -> "PreviewRequest":
        return cls("truncate", checkpoint=checkpoint)

    @classmethod
    def skip(cls, selection: Selection) -> "PreviewRequest":
        return cls("skip", selection=selection)

    def title(self) -> str:
        if self.kind == "truncate":
            cp = self.checkpoint
            return f"Truncate to checkpoint “{cp.name}” (#{cp.position})"
        return f"Skip {describe_selection(self.selection)}"

    def subtitle(self) -> str:
        if self.kind == "truncate":
            cp = self.checkpoint
            note = f": “{html.escape(cp.note)}”" if cp.note else ""
            how = html.escape(describe_spec(cp.spec))
            return (f"Every event after #{cp.position} dropped, in every stream, then the rest replayed. "
                    f"Nothing is written to the store.<br>Checkpoint chosen {how}{note}.")
        return ("The whole log replayed without these events: the state as if they had never happened. "
                "Nothing is written to the store.")


def _ids(kind: str, values: Sequence[str]) -> str:
    more = "…" if len(values) > 3 else ""
    return f"{kind}{'s' if len(values) > 1 else ''} " + ", ".join(short_id(v) for v in values[:3]) + more


def describe_selection(sel: Selection | None) -> str:
    """A selection in a few words: "correlation a087b32f…", "agent:pricing-bot's run from ..."."""
    if sel is None:
        return "nothing"
    parts = []
    if sel.event_ids:
        parts.append(_ids("event", sel.event_ids))
    if sel.correlation_ids:
        parts.append(_ids("correlation", sel.correlation_ids))
    if sel.actor is not None:
        span = "".join((f" from {sel.since[:19].replace('T', ' ')}" if sel.since else "",
                        f" until {sel.until[:19].replace('T', ' ')}" if sel.until else ""))
        parts.append(f"{sel.actor}'s run{span}")
    return " and ".join(parts) or "nothing"


# -- worker bodies -----------------------------------------------------------------------------------


def _check(store, request: PreviewRequest, head: int | None) -> None:
    """The refusals the core would give, asked before any history is built (cheap reads)."""
    if head is None:
        raise EmptySelection("the store has no events: there is nothing to preview")
    if request.kind == "truncate":
        p = request.checkpoint.position
        if p > head:
            raise BeyondHead(f"position {p} is beyond the head of the store (#{head})")
        if p >= head:
            raise EmptySelection(f"nothing to drop: position {p} is the head of the store")
        return
    sel = request.selection
    if sel is None or sel.is_empty():
        raise EmptySelection("nothing to skip: give event ids, correlation ids or an actor")
    try:
        for eid in sel.event_ids:
            if store.find_event(eid) is None:
                raise UnknownEvent(f"no event with id {eid!r} in this store")
        for c in sel.correlation_ids:
            if not store.read_page(EventFilter(correlation_id=c), limit=1).events:
                raise EmptyCorrelation(f"no events carry correlation id {c!r} in this store")
    except UnsupportedFilter:
        return  # the core says it its own way


def build_histories(store, projections: Sequence[Any], should_cancel: Callable[[], bool]):
    """Worker body part: builds the History of each of ``projections`` in turn, yielding
    (text, fraction or None) as it goes; returns {name: History}."""
    built = {}
    for i, p in enumerate(projections):
        what = f"building the history of {p.title or p.name} ({i + 1}/{len(projections)})"
        yield what, 0.0
        gen = core_history.iter_build(store, p, should_cancel=should_cancel)
        try:
            while True:
                done, of = next(gen)
                yield what, (done / of if of else None)
        except StopIteration as stop:
            built[p.name] = stop.value
    return built


def compute_preview(store, request: PreviewRequest, projections: Sequence[Any], histories: Mapping[str, Any],
                    should_cancel: Callable[[], bool]):
    """Worker body: yields (text, fraction or None) while it builds the projection histories it
    lacks; returns (plan, {name: History built here}). ``histories`` at the store's head are used
    as they are (never extended: another panel may be reading them); the others are built anew."""
    head = store.head()
    _check(store, request, head)
    ready = {n: h for n, h in histories.items() if h.head is not None and h.head == head}
    built = yield from build_histories(store, [p for p in projections if p.name not in ready], should_cancel)
    yield "computing the preview", None
    use = {**ready, **built}
    if request.kind == "truncate":
        plan = preview_truncate(store, request.checkpoint, histories=use)
    else:
        plan = preview_skip(store, request.selection, histories=use)
    return plan, built
