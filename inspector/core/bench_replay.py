"""``inspector bench`` figures for issue 4's previews: a truncate preview at the store's midpoint
and a skip preview of one large correlation, each the median of a few runs with the read models'
histories already built (building them is ``measure_history``'s figure, not these)."""

from __future__ import annotations

from typing import Any, Mapping

from .bench import _median_ms
from .history import History, build_history
from .replay import preview_skip, preview_truncate
from .replay_values import Selection
from .session import OpenedStore

SKIP_EVENTS = 1000  # the size of the correlation the skip figure wants


def _correlations_for(opened: OpenedStore, size: int) -> tuple[tuple[str, ...], int] | None:
    """Correlations to skip for about ``size`` events: the one whose count is closest to ``size``
    when it is within 20% of it, else the largest ones together until they reach ``size`` (the demo
    store's runs are at most a few hundred events). None where the store keeps no correlation the
    database can group by."""
    store = opened.store
    c = store.expr("correlation_id")
    if c is None:
        return None
    rows = store._fetch_page(f"SELECT {c}, COUNT(*) FROM {store._from} WHERE {c} IS NOT NULL GROUP BY {c}", {})
    counts = sorted(((str(k), int(n)) for k, n in rows), key=lambda kn: (-kn[1], kn[0]))
    if not counts:
        return None
    best = min(counts, key=lambda kn: (abs(kn[1] - size), -kn[1], kn[0]))
    if abs(best[1] - size) <= size // 5:
        return (best[0],), best[1]
    picked, total = [], 0
    for k, n in counts:
        if total >= size:
            break
        picked.append(k)
        total += n
    return tuple(picked), total


def measure_previews(opened: OpenedStore, pm: Any, histories: Mapping[str, History] | None = None,
                     repeats: int = 5) -> dict[str, Any]:
    """{"preview_truncate_ms": median truncate preview at the midpoint position,
    "preview_skip_ms": median skip preview of about 1,000 events' worth of correlations},
    plus what they were measured on. ``histories`` by projection name; without them every
    projection of ``pm`` is built first (slow on a big store)."""
    store = opened.store
    if histories is None:
        histories = {p.name: build_history(store, p) for p in pm.projections()}
    bounds = store.bounds()
    out: dict[str, Any] = {"preview_projections": sorted(histories)}
    if bounds.last_position is None:
        return out
    mid = (bounds.first_position + bounds.last_position) // 2
    plan = preview_truncate(store, mid, histories=histories)  # also the warm-up
    out["preview_truncate_position"] = mid
    out["preview_truncate_dropped"] = plan.dropped.count
    out["preview_truncate_ms"] = _median_ms(lambda: preview_truncate(store, mid, histories=histories), repeats,
                                            warmup=0)
    near = _correlations_for(opened, SKIP_EVENTS)
    if near is not None:
        sel = Selection(correlation_ids=near[0])
        plan = preview_skip(store, sel, histories=histories)
        out["preview_skip_correlations"] = len(near[0])
        out["preview_skip_events"] = plan.dropped.count
        out["preview_skip_ms"] = _median_ms(lambda: preview_skip(store, sel, histories=histories), repeats, warmup=0)
    return out
