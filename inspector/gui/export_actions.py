"""File menu entries that write files: "Export events…" (the current filter; the format from the
file's suffix), "Export report…" (an HTML report of the current filter with the timeline chart and,
when the State panel shows a projection, its state) and "Evidence bundle…" (a zip of the current
filter's events, with the State panel's projection, if any). Each runs on the window's worker pool
with progress in the status bar; the work itself is ``core.export``, ``core.report`` and
``core.evidence``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from .workers import Cancelled, describe

#: (dialog title, file-type filter, suggested name) per kind of file.
_ASK = {
    "events": ("Export events", "CSV (*.csv);;JSON Lines (*.jsonl);;Parquet (*.parquet)", "events.csv"),
    "report": ("Export report", "HTML report (*.html)", "report.html"),
    "bundle": ("Evidence bundle", "Evidence bundle (*.zip)", "evidence.zip"),
}


class ExportActions(QObject):
    """The three actions, added to ``menu`` of ``window`` (a MainWindow). ``ask_path(kind,
    suggested)`` chooses the file (a save dialog; tests replace it); each ``export_*`` method also
    takes the path directly and returns the worker task (None when nothing was started)."""

    sig_finished = Signal(str, str)  # kind, path written
    sig_failed = Signal(str, str)  # kind, one-line message

    def __init__(self, window: Any, menu: QMenu):
        super().__init__(window)
        self.window = window
        self.ask_path: Callable[[str, str], str | None] = self._ask
        self.events_action = QAction("Export &events…", window, triggered=lambda: self.export_events())
        self.events_action.setToolTip("the events the current filter selects, as CSV, JSON Lines or Parquet")
        self.report_action = QAction("Export re&port…", window, triggered=lambda: self.export_report())
        self.report_action.setToolTip("an HTML report: the filter, the timeline chart, the events (and the state shown)")
        self.bundle_action = QAction("Evidence &bundle…", window, triggered=lambda: self.evidence_bundle())
        self.bundle_action.setToolTip("a zip of the current filter's events, the query, states, a store fingerprint "
                                      "and a SHA-256 manifest (inspector verify checks it)")
        menu.addSeparator()
        for a in self.actions():
            menu.addAction(a)
        window.sig_store_changed.connect(self._store_changed)
        self._store_changed(getattr(window, "opened", None))

    def actions(self) -> list[QAction]:
        return [self.events_action, self.report_action, self.bundle_action]

    def _store_changed(self, opened: Any) -> None:
        for a in self.actions():
            a.setEnabled(opened is not None)

    # -- choosing a file -----------------------------------------------------------------------
    def _ask(self, kind: str, suggested: str) -> str | None:
        title, types, _ = _ASK[kind]
        path, _ = QFileDialog.getSaveFileName(self.window, title, suggested, types)
        return path or None

    def _path(self, kind: str, path: str | Path | None) -> Path | None:
        if path is None:
            path = self.ask_path(kind, _ASK[kind][2])
        return Path(path) if path else None

    def _context(self) -> tuple[Any, Any] | None:
        opened = getattr(self.window, "opened", None)
        if opened is None:
            self.window.show_error("open a store first")
            return None
        return opened.store, self.window.model.filter

    def _state(self) -> tuple[Any, int | None] | None:
        """The State panel's History and the position it shows, when it shows one."""
        panel = getattr(self.window, "state_panel", None)
        hist = getattr(panel, "history", None)
        if hist is None:
            return None
        return hist, getattr(panel, "shown_position", None)

    def _record(self, kind: str, path: Path, ctx: tuple[Any, Any] | None) -> None:
        """The export in the operator log (a log that cannot be written: a status-bar warning)."""
        from ..core.export import filter_to_json
        from ..core.oplog_records import record_export
        from . import oplog_gui

        store, flt = ctx if ctx else (None, None)
        params = {}
        if flt is not None:
            params["filter"] = {**filter_to_json(flt), "text": bool(flt.text)}  # the term could be personal data
        role = self.window.role() if callable(getattr(self.window, "role", None)) else None
        record_export(path, what=kind, role=role, store=store, params=params,
                      warn=lambda m: oplog_gui.warn(self.window, m))

    # -- running -------------------------------------------------------------------------------
    def _run(self, kind: str, label: str, fn: Callable[..., Any], path: Path, describe_progress: Callable[[Any], str]):
        status = self.window.statusBar()

        def progress(value: Any) -> None:
            status.showMessage(f"{label}: {describe_progress(value)}")

        ctx = self._context()

        def finished(result: Any) -> None:
            status.showMessage(f"{label}: wrote {path}", 15000)
            self._record(kind, path, ctx)
            self.sig_finished.emit(kind, str(path))

        def failed(exc: BaseException) -> None:
            message = f"{label}: {'cancelled' if isinstance(exc, Cancelled) else describe(exc)}"
            self.window.show_error(message)
            self.sig_failed.emit(kind, message)

        return self.window.runner.submit(fn, label=label, owner=self, on_finished=finished, on_error=failed,
                                         on_progress=progress)

    def export_events(self, path: str | Path | None = None):
        """Export the current filter's events to ``path`` (asked for when None)."""
        from ..core.export import ExportError, format_of, iter_write_events

        ctx = self._context()
        target = self._path("events", path) if ctx else None
        if target is None:
            return None
        try:
            fmt = format_of(target)
        except ExportError as e:
            self.window.show_error(str(e))
            self.sig_failed.emit("events", str(e))
            return None
        store, flt = ctx

        def work():
            return (yield from iter_write_events(store, flt, target, fmt))

        def said(value: Any) -> str:
            done, total = value
            return f"{done:,} of {total:,} events" if total is not None else f"{done:,} events"

        return self._run("events", f"exporting events to {target.name}", work, target, said)

    def export_report(self, path: str | Path | None = None):
        """An HTML report of the current filter (with the State panel's state, if shown)."""
        from ..core.report import write_report

        ctx = self._context()
        target = self._path("report", path) if ctx else None
        if target is None:
            return None
        if target.suffix.lower() not in (".html", ".htm"):
            target = target.with_name(target.name + ".html")
        store, flt = ctx
        state = self._state()

        def work():
            kwargs: dict[str, Any] = {}
            if state is not None:
                hist, pos = state
                kwargs["state"] = hist.as_of(pos)
                kwargs["state_title"] = f"State of {hist.projection.name}" + \
                    (f" after position {pos}" if pos is not None else "")
            yield "rendering"
            return write_report(store, flt, target, **kwargs)

        return self._run("report", f"writing report {target.name}", work, target, str)

    def evidence_bundle(self, path: str | Path | None = None):
        """An evidence bundle of the current filter's events (with the State panel's projection)."""
        from ..core.evidence import iter_make_bundle

        ctx = self._context()
        target = self._path("bundle", path) if ctx else None
        if target is None:
            return None
        if target.suffix.lower() != ".zip":
            target = target.with_name(target.name + ".zip")
        store, flt = ctx
        state = self._state()
        projections = [state[0]] if state is not None else []

        from ..core.investigations import saved_investigation

        def work():
            # the Bookmarks dock's bookmarks and notes, read on the worker (a bad file fails the task)
            return (yield from iter_make_bundle(store, flt, target, projections=projections,
                                                investigation=saved_investigation(store)))

        def said(value: Any) -> str:
            step, done, total = value
            return f"{step} {done:,}" + (f" of {total:,}" if total is not None else "")

        return self._run("bundle", f"making evidence bundle {target.name}", work, target, said)
