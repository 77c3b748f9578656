"""The event table and the timeline catching up with new events (``gui.live``): the table reads
on from its keyset cursor instead of starting over; the timeline counts again when it shows the
end of the store."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex

from .workers import TaskRunner


def refresh_table(model, runner: TaskRunner) -> str:
    """Show new events in the event table without starting it over. Sorted by position ascending,
    a table that has read to its end reads on from its keyset cursor (only the new rows, appended
    in place: the scroll position and the selection stay; ``EventTableModel.read_new``) and one
    still reading is only counted again; sorted otherwise, it reloads. Returns what it did
    ("append", "recount", "reload"), or "busy" while a page or a count is on its way (call again
    when it has arrived)."""
    if model.store is None:
        return "none"
    if model.sort_key != "position" or model.descending:
        model.reload()
        return "reload"
    if model.is_loading() or model.is_counting():
        return "busy"
    if model.canFetchMore(QModelIndex()) or model.is_paused():
        model.recount(runner)  # the rows still to be read include the new ones
        return "recount"
    model.read_new(runner)
    return "append"


def timeline_shows_end(timeline) -> bool:
    """Whether the timeline's visible window reaches the last bar drawn (or nothing is drawn)."""
    if not timeline.bins:
        return True
    _lo, hi = timeline.view.viewRange()[0]
    return hi >= timeline.bins[-1].start
