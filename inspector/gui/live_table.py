"""The event table and the timeline catching up with new events (``gui.live``): the table reads
on from its keyset cursor instead of starting over; the timeline counts again when it shows the
end of the store."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex

from .event_model import load_page
from .workers import Cancelled, TaskRunner, describe


def refresh_table(model, runner: TaskRunner) -> str:
    """Show new events in the event table without starting it over. Sorted by position ascending,
    a table that has read to its end reads on from its keyset cursor (only the new rows, appended
    in place: the scroll position and the selection stay) and one still reading is only counted
    again; sorted otherwise, it reloads. Returns what it did ("append", "recount", "reload"), or
    "busy" while a page or a count is on its way (call again when it has arrived).

    ``EventTableModel`` has no public "rows were appended" call, so this appends through its
    fields, keeping its invariant (pages of ``page_size`` rows, only the last one short): the first
    read fills the short last page, so a later ``fetchMore`` starts a new page as it expects. A
    reload or a new filter meanwhile drops the read (the model's generation changed)."""
    store = model.store
    if store is None:
        return "none"
    if model.sort_key != "position" or model.descending:
        model.reload()
        return "reload"
    if model.is_loading() or model.is_counting():
        return "busy"
    if model.canFetchMore(QModelIndex()) or getattr(model, "_paused", False):
        _recount(model, runner)  # the rows still to be read include the new ones
        return "recount"
    pages = model._pages
    short = bool(pages) and len(pages[-1]) < model.page_size
    limit = model.page_size - len(pages[-1]) if short else model.page_size
    gen = model._generation
    model._pending = runner.submit(
        load_page, store, model.filter, model._cursor, "position", False, limit, label="loading new events",
        owner=model, on_finished=lambda res: _rows_arrived(model, runner, gen, res),
        on_error=lambda e: _rows_failed(model, gen, e))
    model.sig_loading_changed.emit(True)
    return "append"


def _rows_arrived(model, runner: TaskRunner, gen: int, result) -> None:
    if gen != model._generation:
        return  # reloaded meanwhile
    page, rows = result
    model._pending = None
    n = len(rows)
    first = model._rows
    if n:
        model.beginInsertRows(QModelIndex(), first, first + n - 1)
        if model._pages and len(model._pages[-1]) < model.page_size:
            model._pages[-1].extend(rows)  # read no more than fits: the page stays within page_size
        else:
            model._pages.append(list(rows))
        model._rows += n
        model._cursor = page.last_key
        model.endInsertRows()
    model._has_more = page.has_more
    if page.has_more:
        _recount(model, runner)
    else:
        model._set_total(model._rows)  # every row is read: that is the count
    model.sig_page_loaded.emit(first, n)
    model.sig_loading_changed.emit(False)


def _rows_failed(model, gen: int, exc: BaseException) -> None:
    if gen != model._generation:
        return
    model._pending = None
    model.sig_loading_changed.emit(False)
    if not isinstance(exc, Cancelled):
        model.sig_error.emit(f"reading new events failed: {describe(exc)}")


def _recount(model, runner: TaskRunner) -> None:
    gen = model._generation
    model._count_task = runner.submit(
        model.store.count, model.filter, label="counting events", owner=model,
        on_finished=lambda n: model._count_arrived(gen, n), on_error=lambda e: model._count_failed(gen, e))


def timeline_shows_end(timeline) -> bool:
    """Whether the timeline's visible window reaches the last bar drawn (or nothing is drawn)."""
    if not timeline.bins:
        return True
    _lo, hi = timeline.view.viewRange()[0]
    return hi >= timeline.bins[-1].start
