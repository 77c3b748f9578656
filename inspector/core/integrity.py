"""Integrity checks of an event store: gaps and duplicates in global positions (knowing which gaps
a layout makes in normal use), per-stream version gaps, times going backwards, causes that name
nothing, undecodable events and event types no projection handles. Read-only, Qt-free.

Each check is pushed to SQL where it can be (``integrity_sql``: window functions over the
position order and over stream and version, ``GROUP BY ... HAVING``), one query returning the
first ``limit`` offending rows plus exact totals, so a store of a million events is checked in
seconds. What SQL cannot see is read in keyset pages that can be cancelled between pages
(``integrity_scan``): decoding every payload, and causes looked up in batches like ``lineage``.
What is normal for each layout (sequence gaps, Marten's tombstones, causes naming commands kept
elsewhere) is in ``integrity_rules``; the values are in ``integrity_report``.

A finding names events by position only, plus stream names, types, versions and times: never a
payload value (decode errors are reported as a viewer may read them, ``masking.withheld_error``).
``iter_check`` is the generator form the GUI runs on a worker (it yields ``Progress``);
``check`` drives it with callbacks for the CLI and scripts."""

from __future__ import annotations

import time
from typing import Any, Callable, Generator, Iterable, Sequence

import sqlalchemy as sa

from . import integrity_scan, integrity_sql
from .errors import InspectorError
from .integrity_report import (
    CHECKS,
    DEFAULT_LIMIT,
    FORMAT,
    SEVERITIES,
    CheckResult,
    Finding,
    IntegrityReport,
    Progress,
    Skip,
)
from .integrity_sql import CheckGen, Run
from .progress import drive
from .store import EventStore

__all__ = ["CHECKS", "DEFAULT_LIMIT", "FORMAT", "SEVERITIES", "CheckResult", "Finding", "IntegrityReport", "Progress",
           "Skip", "check", "domain_projections", "iter_check"]

_CHECK_FUNCS: dict[str, Callable[[Run], CheckGen]] = {
    "position_gaps": integrity_sql.position_gaps,
    "duplicate_positions": integrity_sql.duplicate_positions,
    "stream_versions": integrity_sql.stream_versions,
    "time_order": integrity_sql.time_order,
    "unhandled_types": integrity_sql.unhandled_types,
    "dangling_causes": integrity_scan.dangling_causes,
    "undecodable": integrity_scan.undecodable,
}


def check(store: EventStore, projections: Sequence[Any] | None = None, progress: Callable[[Progress], None] | None = None,
          should_cancel: Callable[[], bool] | None = None, checks: Iterable[str] | None = None,
          limit: int = DEFAULT_LIMIT) -> IntegrityReport:
    """Run the checks (all, or those named in ``checks``) and return the report. ``progress`` is
    called as work advances; ``should_cancel`` is asked between pages and between checks, and a
    cancelled run returns what it found so far (``report.cancelled``). ``projections`` are the
    loaded projections, for ``unhandled_types`` (one with ``types=()`` handles every type)."""
    gen = iter_check(store, projections, checks=checks, limit=limit, should_cancel=should_cancel)
    return drive(gen, progress, spread=False)


def iter_check(store: EventStore, projections: Sequence[Any] | None = None, *, checks: Iterable[str] | None = None,
               limit: int = DEFAULT_LIMIT, should_cancel: Callable[[], bool] | None = None
               ) -> Generator[Progress, None, IntegrityReport]:
    """``check`` as a generator: yields ``Progress`` and returns the ``IntegrityReport`` (the GUI
    runs it on a worker, which cancels it at a yield)."""
    wanted = list(CHECKS) if checks is None else list(dict.fromkeys(checks))
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown:
        raise InspectorError(f"no check named {', '.join(unknown)}; checks: {', '.join(CHECKS)}")
    run = Run(store, projections, max(1, int(limit)))
    order = [c for c in CHECKS if c in wanted]
    # stores that keep times inside payloads: the decoding pass reads them, so the time check follows it
    if "time_order" in order and "undecodable" in order and run.sql_time is None:
        order.remove("time_order")
        order.insert(order.index("undecodable") + 1, "time_order")
    run.checks = frozenset(order)
    results: dict[str, CheckResult] = {}
    findings: dict[str, list[Finding]] = {}
    cancelled = False
    for i, name in enumerate(order):
        if cancelled or (should_cancel is not None and should_cancel()):
            cancelled = True
            results[name] = CheckResult(name, CHECKS[name], "cancelled", "the run was cancelled before this check")
            continue
        yield Progress(name, CHECKS[name], i, len(order), 0.0, CHECKS[name])
        t0 = time.monotonic()
        gen = _CHECK_FUNCS[name](run)
        status, note, found = "ran", "", []
        try:
            while True:
                fraction, message = next(gen)
                if should_cancel is not None and should_cancel():
                    cancelled = True
                    status, note = "cancelled", f"cancelled at {fraction:.0%}; the findings listed are partial"
                    found = list(run.partial)
                    break
                yield Progress(name, CHECKS[name], i, len(order), fraction, message)
        except StopIteration as stop:
            found, note = stop.value
        except Skip as e:
            status, note = "skipped", str(e)
        except Exception as e:  # noqa: BLE001 - one check's failure must not lose the others' results
            status, note = "failed", _describe(e)
        finally:
            gen.close()
            run.partial = []
        findings[name] = found
        results[name] = CheckResult(name, CHECKS[name], status, note, len(found), round(time.monotonic() - t0, 3))
    shown = [c for c in CHECKS if c in results]
    return IntegrityReport(store.name or "", store.layout.name, store.dialect.name, run.total,
                           tuple(results[c] for c in shown), tuple(f for c in shown for f in findings.get(c, ())),
                           run.limit, cancelled, run.first, run.last)


def _describe(e: BaseException) -> str:
    if isinstance(e, InspectorError):
        return str(e)
    if isinstance(e, sa.exc.SQLAlchemyError):
        from .connect import describe_error

        return describe_error(e)
    return f"{type(e).__name__}: {e}"


def domain_projections(named: Iterable[tuple[str, Any]]) -> list[Any]:
    """The projections to compare event types with, from ``(plugin name, projection)`` pairs (a
    plugin manager's ``call_each("register_projections")``): the built-in ``streams`` and ``types``
    read every event by design, so they are left out, else no type could ever be unhandled. The
    first projection of a name wins, as in ``PluginManager.projections``."""
    from .projection import Projection

    out: dict[str, Any] = {}
    for plugin, p in named:
        if isinstance(p, Projection) and not str(plugin).startswith("builtin") and p.name not in out:
            out[p.name] = p
    return list(out.values())
