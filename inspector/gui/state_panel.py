"""The state panel: a projection's rows as of the temporal slider's position, the cells changed
since the previous position highlighted (or, with "diff against head", the cells that differ at
head), and the change log of the selected row.

Adapter over ``core.history``: the history is built once per projection on a worker (progress,
cancel); each slider move asks a worker for ``as_of`` + ``diff`` and hands the GUI thread a
prepared frame (``frame_model``). Requests are coalesced: one at a time, and when it returns the
latest wanted position is asked for next, so a drag never queues work; answers for an older
projection or mode are dropped by token."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, QItemSelectionModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core import history as core_history

from .tables import style_table
from .frame_model import EMPTY, FrameData, FrameModel, MarkDelegate, Marks, RowPlan, marks_from_diff, plan_rows, prepare_frame
from .slider import NAT, LatencyWatchdog, SteadyLabel, TemporalSlider
from .workers import Cancelled, TaskRunner, describe

#: Change log columns, what changed first (the log is narrower than the state table beside it).
CHANGE_COLUMNS = ("position", "field", "old", "new", "recorded_at", "actor", "type", "correlation_id")
MAX_COLUMN_PX = 240  # columns are sized to their contents, up to this


@dataclass(frozen=True, eq=False)
class StateResult:
    """What a worker hands back for one slider position."""

    position: int
    mode: str  # "previous" | "head"
    frame: FrameData
    marks: Marks
    plan: RowPlan | None
    since: int | None  # the position the marks compare with (previous, or head)
    added: int  # rows that exist at ``position`` and not at ``since`` ("previous" mode), or the reverse
    removed: int


def compute_state(history, position: int, mode: str, previous: int | None, shown: FrameData | None) -> StateResult:
    """Worker body: the rows as of ``position`` and the cells to mark: changed since
    ``previous`` (mode "previous"), or different at head (mode "head")."""
    frame = prepare_frame(history.as_of(position=position))
    marks, since, added, removed = Marks(mode), None, 0, 0
    if mode == "head":
        head = history.head
        if head is not None and head != position:
            d = history.diff(position, head)
            marks, since = marks_from_diff(d, "head"), head
            added, removed = len(d.added), len(d.removed)
        else:
            since = head
    elif previous is not None and previous != position:
        d = history.diff(previous, position)
        marks, since = marks_from_diff(d, "previous"), previous
        added, removed = len(d.added), len(d.removed)
    plan = plan_rows(shown, frame) if shown is not None else None
    return StateResult(position, mode, frame, marks, plan, since, added, removed)


def history_stops(history) -> tuple[np.ndarray, np.ndarray]:
    """Where the slider stops: the positions of the events that changed the projection's rows,
    and their times (int64 UTC microseconds), so each step shows a change; any position between
    two stops shows the same state as the stop before it. ``History`` keeps these as its row
    versions' positions and times but has no public accessor for them yet, hence the private
    arrays (read once per build, on the worker)."""
    pos = np.asarray(getattr(history, "_pos", np.empty(0, np.int64)), np.int64)
    micros = getattr(history, "_time", None)
    if micros is None or len(micros) != len(pos):
        micros = np.full(len(pos), NAT, np.int64)
    if not len(pos):
        return pos, np.asarray(micros, np.int64)
    # one projection row per event, but be safe: an event that changed several rows is one stop
    keep = np.concatenate(([True], pos[1:] != pos[:-1]))
    return pos[keep], np.asarray(micros, np.int64)[keep]


def build_history(store, projection, should_cancel):
    """Worker body: yields (position done, head) while folding; returns (History, stops)."""
    h = yield from core_history.iter_build(store, projection, should_cancel=should_cancel)
    return h, history_stops(h)


def extend_history(history, store, should_cancel):
    """Worker body: folds the events appended since the build; returns (events read, stops)."""
    n = yield from history.iter_extend(store, should_cancel=should_cancel)
    return n, history_stops(history)


@dataclass(frozen=True)
class SweepReport:
    """What sweeping the slider over the store measured (``StatePanel.sweep``)."""

    moves: int
    frames_shown: int
    requests: int
    worst_block_ms: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"moves": self.moves, "frames_shown": self.frames_shown, "requests": self.requests,
                "worst_block_ms": round(self.worst_block_ms, 2), "seconds": round(self.seconds, 3)}


class StatePanel(QWidget):
    """Projection combo, history build progress, the state table and the change log."""

    sig_history_ready = Signal(str)  # projection name
    sig_state_shown = Signal(int)  # position
    sig_error = Signal(str)
    sig_seek = Signal(int)  # a position the user asked the slider to move to (change log)
    sig_changes_shown = Signal(object)  # the key whose change log is shown

    def __init__(self, slider: TemporalSlider, runner: TaskRunner | None = None, projections=(),
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("statePanel")
        self.slider = slider
        self._runner = runner or TaskRunner(self)
        # Reads of a built history are quick and many (one per slider move): their own runner, so
        # the window's status bar does not flicker with them; builds go through the window's.
        self._reader = TaskRunner(self, max_threads=2)
        self.store = None
        self.projections = list(projections)
        self.history = None
        self._histories: dict[str, Any] = {}
        self._build_task = None
        self._build_cancel: threading.Event | None = None
        self._build_token = 0
        self._token = 0  # bumped whenever what a state answer would be for changes
        self._inflight = None
        self._wanted: int | None = None
        self.shown_position: int | None = None
        self._shown_mode = "previous"
        self._selected_key: Any = None
        self._changes_key: Any = None
        self._change_positions = np.empty(0, np.int64)
        self._changes_token = 0
        self._reads = 0  # reads of a History running on workers (an extension waits for none)
        self._extend_task = None
        self._extend_wanted = False
        self.requests = 0  # as_of requests sent to workers (benchmarks, tests)
        self.frames_shown = 0

        self.combo = QComboBox(self)
        self.combo.setObjectName("projectionCombo")
        self.combo.setToolTip("the read model to rebuild as of the slider's position")
        self.combo.setMinimumContentsLength(18)
        self.combo.currentIndexChanged.connect(self._projection_chosen)
        self.head_toggle = QCheckBox("Diff against head", self)
        self.head_toggle.setObjectName("diffHeadToggle")
        self.head_toggle.setToolTip("colour the cells whose value at head differs from the value here")
        self.head_toggle.toggled.connect(self._mode_changed)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("historyProgress")
        self.progress.setMaximumWidth(180)
        self.progress.setFormat("%p%")
        self.progress.hide()
        self.build_button = QPushButton("Cancel", self)
        self.build_button.setObjectName("historyButton")
        self.build_button.clicked.connect(self._build_button_clicked)
        self.build_button.hide()
        # set on every slider move: SteadyLabels, so a move never re-lays the window out
        self.summary_holder = SteadyLabel(self)
        self.summary_holder.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)  # must not widen the dock
        self.summary = self.summary_holder.label
        self.summary.setObjectName("stateSummary")
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.model = FrameModel(self)
        self.table = self._make_table("stateTable", self.model)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.changes_model = FrameModel(self, bold_first=False)
        self.changes_table = self._make_table("changeLogTable", self.changes_model)
        self.changes_table.doubleClicked.connect(self._change_activated)
        self.changes_table.setToolTip("double-click a change to move the slider to it")
        self.changes_title_holder = SteadyLabel(self, "Select a row to see its changes")
        self.changes_title_holder.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.changes_title = self.changes_title_holder.label
        self.changes_title.setObjectName("changeLogTitle")

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Projection", self))
        top.addWidget(self.combo)
        top.addWidget(self.progress)
        top.addWidget(self.build_button)
        top.addSpacing(8)
        top.addWidget(self.summary_holder, 1)
        top.addWidget(self.head_toggle)
        log = QWidget(self)
        log_layout = QVBoxLayout(log)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.setSpacing(2)
        log_layout.addWidget(self.changes_title_holder)
        log_layout.addWidget(self.changes_table, 1)
        self.splitter = QSplitter(Qt.Horizontal, self)
        self.splitter.setObjectName("stateSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(log)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)

        self.slider.sig_position_changed.connect(self.request)
        self._fill_combo()

    def _make_table(self, name: str, model: FrameModel) -> QTableView:
        t = QTableView(self)
        t.setObjectName(name)
        t.setModel(model)
        style_table(t, alternating=False)
        t.horizontalHeader().setDefaultSectionSize(110)
        t.mark_delegate = MarkDelegate.follow(t)
        return t

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt name
        return QSize(960, 260)  # the widest of the bottom docks: a projection has many columns

    # -- projections and store ---------------------------------------------------------------------
    def set_projections(self, projections) -> None:
        self.projections = list(projections)
        self._fill_combo()

    def _fill_combo(self) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        if not self.projections:
            self.combo.addItem("(no projections)")
            self.combo.setEnabled(False)
        else:
            self.combo.addItem("(choose a projection)")
            for p in self.projections:
                self.combo.addItem(p.title or p.name, p.name)
                self.combo.setItemData(self.combo.count() - 1, p.description or p.name, Qt.ToolTipRole)
            self.combo.setEnabled(True)
        self.combo.setCurrentIndex(0)
        self.combo.blockSignals(False)

    def set_store(self, store) -> None:
        """Show another store: histories are dropped (built again on demand)."""
        self._cancel_build()
        self.store = store
        self._histories.clear()
        self.history = None
        self._token += 1
        self._inflight = None
        self.shown_position = None
        self.model.set_frame(EMPTY)
        self._clear_changes()
        self.summary.setText("")
        if store is not None and self.combo.currentIndex() > 0:
            self._projection_chosen(self.combo.currentIndex())

    def projection(self):
        name = self.combo.currentData()
        return next((p for p in self.projections if p.name == name), None)

    def choose(self, name: str) -> None:
        """Select the projection called ``name`` (builds its history if needed)."""
        i = self.combo.findData(name)
        if i < 0:
            raise KeyError(name)
        if i == self.combo.currentIndex():
            self._projection_chosen(i)
        else:
            self.combo.setCurrentIndex(i)

    def _projection_chosen(self, _index: int) -> None:
        p = self.projection()
        self._token += 1
        self._inflight = None
        self.shown_position = None
        self.history = None
        self._clear_changes()
        if p is None or self.store is None:
            self._cancel_build()
            return
        got = self._histories.get(p.name)
        if got is not None:
            self._use_history(p.name, *got)
        else:
            self._build(p)

    # -- building the history ------------------------------------------------------------------
    def _build(self, projection) -> None:
        self._cancel_build()
        self._build_token += 1
        token = self._build_token
        cancel = threading.Event()
        self._build_cancel = cancel
        self.progress.setRange(0, 0)
        self.progress.show()
        self.build_button.setText("Cancel")
        self.build_button.setToolTip("stop building this history")
        self.build_button.show()
        self.summary.setText(f"building the history of {projection.title or projection.name}…")
        self._build_task = self._runner.submit(
            build_history, self.store, projection, cancel.is_set,
            label=f"building history: {projection.name}", owner=self,
            on_progress=lambda v: self._build_progress(token, v),
            on_finished=lambda res: self._built(token, projection.name, *res),
            on_error=lambda e: self._build_failed(token, e))

    def _build_progress(self, token: int, value) -> None:
        if token != self._build_token:
            return
        done, head = value  # core.history yields (position folded up to, head position)
        if head:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, head) / head))
            self.summary.setText(f"building the history… position {done:,} of {head:,}")

    def _built(self, token: int, name: str, history, stops) -> None:
        if token != self._build_token:
            return
        self._build_task = self._build_cancel = None
        self.progress.hide()
        self.build_button.hide()
        self._histories[name] = (history, stops)
        _freeze_long_lived()
        p = self.projection()
        if p is not None and p.name == name:
            self._use_history(name, history, stops)

    def _build_failed(self, token: int, exc: BaseException) -> None:
        if token != self._build_token:
            return
        self._build_task = self._build_cancel = None
        self.progress.hide()
        cancelled = isinstance(exc, Cancelled) or type(exc).__name__ == "Cancelled"
        self.summary.setText("history build cancelled" if cancelled else f"⚠ history build failed: {describe(exc)}")
        self.build_button.setText("Build")
        self.build_button.setToolTip("build this projection's history")
        self.build_button.show()
        if not cancelled:
            self.sig_error.emit(describe(exc))

    def _cancel_build(self) -> None:
        self._build_token += 1
        if self._build_cancel is not None:
            self._build_cancel.set()
        if self._build_task is not None:
            self._build_task.cancel()
        self._build_task = self._build_cancel = None
        self.progress.hide()
        self.build_button.hide()

    def cancel_build(self) -> None:
        """Stop building (the Cancel button)."""
        if self._build_task is not None:
            self._build_cancel.set()
            self._build_task.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for this panel's reads (the window's runner waits for builds)."""
        self._cancel_build()
        self._reader.shutdown()

    def _build_button_clicked(self) -> None:
        if self._build_task is not None:
            self.cancel_build()
        else:
            p = self.projection()
            if p is not None and self.store is not None:
                self._build(p)

    def is_building(self) -> bool:
        return self._build_task is not None

    def _use_history(self, name: str, history, stops) -> None:
        self.history = history
        self._token += 1
        self._inflight = None
        self.shown_position = None
        self.model.set_frame(EMPTY)
        positions, times = stops
        if not len(positions):
            self.summary.setText("no rows: no event of this store changes this projection")
            self.slider.clear("no events change this projection")
        else:
            self.slider.set_stops(positions, times, self.slider.position())
            self.request(self.slider.position())
        self.sig_history_ready.emit(name)

    # -- new events (File → Reload) --------------------------------------------------------------
    def reload(self) -> None:
        """Fold the events appended since the history was built (other projections' histories
        are dropped and built again when chosen). Waits for running reads: a History is not
        read while it is extended."""
        p = self.projection()
        self._histories = {k: v for k, v in self._histories.items() if p is not None and k == p.name}
        if self.history is not None and self.store is not None:
            self._extend_wanted = True
            self._maybe_extend()

    def request_extension(self) -> None:
        """Fold the events appended since into the current history, keeping the other
        projections' histories (after running reads, as ``reload`` does)."""
        self._extend_wanted = True
        self._maybe_extend()

    def is_extending(self) -> bool:
        """An extension of the history is running or waits for reads to end."""
        return self._extend_task is not None or self._extend_wanted

    def built_histories(self) -> dict[str, Any]:
        """{projection name: History} of every history this panel has built for its store."""
        return {name: got[0] if isinstance(got, tuple) else got for name, got in self._histories.items()}

    def _maybe_extend(self) -> None:
        if not self._extend_wanted or self._reads or self._extend_task is not None or self.history is None:
            return
        self._extend_wanted = False
        history, token = self.history, self._build_token
        cancel = threading.Event()
        self._build_cancel = cancel
        self._extend_task = self._runner.submit(
            extend_history, history, self.store, cancel.is_set, label="extending history", owner=self,
            on_finished=lambda res: self._extended(token, history, *res),
            on_error=lambda e: self._extended(token, history, 0, None, e))

    def _extended(self, token: int, history, n: int, stops, exc: BaseException | None = None) -> None:
        self._extend_task = None
        if token != self._build_token or history is not self.history:
            return
        if exc is not None:
            if not isinstance(exc, Cancelled):
                self.sig_error.emit(f"extending the history failed: {describe(exc)}")
            return
        name = self.projection().name
        self._histories[name] = (history, stops)
        if n:
            at_head = self.slider.position() == self.slider.head()
            self.slider.set_stops(*stops, position=None if not at_head else int(stops[0][-1]))
        self._shown_mode = "stale"  # ask again: the rows may have changed
        self._pump()
        if self._changes_key is not None:
            self._load_changes(self._changes_key)

    # -- states ------------------------------------------------------------------------------------
    def mode(self) -> str:
        return "head" if self.head_toggle.isChecked() else "previous"

    def request(self, position: int) -> None:
        """Show the state as of ``position`` (coalesced: the latest request wins)."""
        self._wanted = int(position)
        self._pump()

    def _pump(self) -> None:
        if self.history is None or self._inflight is not None or self._wanted is None:
            return
        if self._extend_task is not None or self._extend_wanted:
            return  # asked again when the extension is done
        position, mode = self._wanted, self.mode()
        if position == self.shown_position and mode == self._shown_mode:
            return
        self._token += 1
        token = self._token
        previous = self.shown_position if mode == "previous" else None
        self.requests += 1
        self._reads += 1
        self._inflight = self._reader.submit(
            compute_state, self.history, position, mode, previous, self.model.frame,
            label="state as of slider", owner=self,
            on_finished=lambda r: self._state_arrived(token, r),
            on_error=lambda e: self._state_failed(token, e))

    def _read_done(self) -> None:
        self._reads -= 1
        self._maybe_extend()

    def _state_arrived(self, token: int, r: StateResult) -> None:
        self._read_done()
        if token != self._token:
            self._pump()
            return  # an answer for another projection or mode
        self._inflight = None
        self._apply(r)
        self._pump()

    def _state_failed(self, token: int, exc: BaseException) -> None:
        self._read_done()
        if token != self._token:
            self._pump()
            return
        self._inflight = None
        if not isinstance(exc, Cancelled):
            self.summary.setText(f"⚠ {describe(exc)}")
            self.sig_error.emit(describe(exc))

    def _apply(self, r: StateResult) -> None:
        fresh = r.frame.columns != self.model.frame.columns
        self.model.set_frame(r.frame, r.marks, r.plan)
        # lay the rows out now rather than on the view's zero timer: the next repaint (the
        # timeline's cursor line forces one of the whole window, QGraphicsView does that) then
        # paints the table once, instead of once before that layout and again after it
        self.table.doItemsLayout()
        if fresh:  # another projection (or its first rows): size the columns once, not per move
            _fit_columns(self.table)
        self.shown_position, self._shown_mode = r.position, r.mode
        self.frames_shown += 1
        self._restore_selection()
        self.summary.setText(self._describe(r))
        self.sig_state_shown.emit(r.position)

    def _describe(self, r: StateResult) -> str:
        rows = f"{r.frame.n_rows:,} row{'s' if r.frame.n_rows != 1 else ''} as of #{r.position}"
        cells = r.marks.count()
        if r.mode == "head":
            if r.since is None or r.since == r.position:
                return f"{rows} · this is head"
            parts = [f"{cells} cell{'s' if cells != 1 else ''} differ at head #{r.since}"]
            if r.removed:
                parts.append(f"{r.removed} row{'s' if r.removed != 1 else ''} deleted by then")
            if r.added:
                parts.append(f"{r.added} row{'s' if r.added != 1 else ''} added by then")
            return f"{rows} · " + ", ".join(parts)
        if r.since is None:
            return rows
        parts = [f"{cells} cell{'s' if cells != 1 else ''} changed since #{r.since}"]
        if r.added:
            parts.append(f"+{r.added} row{'s' if r.added != 1 else ''}")
        if r.removed:
            parts.append(f"−{r.removed} row{'s' if r.removed != 1 else ''}")
        return f"{rows} · " + ", ".join(parts)

    def _mode_changed(self, _on: bool) -> None:
        self._token += 1
        self._inflight = None
        self._shown_mode = "none"  # forces the next pump to ask again
        if self._wanted is None:
            self._wanted = self.shown_position
        self._pump()

    def is_idle(self) -> bool:
        """No build and no state request pending, and the state shown is the one wanted."""
        return (self._build_task is None and self._inflight is None and self._extend_task is None
                and not self._extend_wanted
                and (self._wanted is None or self.history is None
                     or (self._wanted == self.shown_position and self._shown_mode == self.mode())))

    # -- the selected row and its change log ---------------------------------------------------------
    def select_key(self, key) -> bool:
        row = self.model.row_of(key)
        if row < 0:
            return False
        self.table.setCurrentIndex(self.model.index(row, 0))
        self.table.selectionModel().select(self.model.index(row, 0),
                                           QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        return True

    def _restore_selection(self) -> None:
        """After a new state: the selected key's row selected again (a reset forgets it), and
        the change log's marks moved to the new position."""
        key = self._selected_key
        if key is None:
            return
        row = self.model.row_of(key)
        sm = self.table.selectionModel()
        cur = self.table.currentIndex()
        if row >= 0 and (not cur.isValid() or cur.row() != row):
            sm.blockSignals(True)
            self.table.setCurrentIndex(self.model.index(row, 0))
            sm.select(self.model.index(row, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
            sm.blockSignals(False)
            self.table.viewport().update()
        self._update_split()

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        key = self.model.key_at(current.row())
        if key != self._selected_key:
            self._selected_key = key
            self._load_changes(key)

    def _clear_changes(self) -> None:
        self._changes_token += 1
        self._selected_key = None
        self._change_positions = np.empty(0, np.int64)
        self._changes_key = None
        self.changes_model.set_frame(EMPTY)
        self.changes_title.setText("Select a row to see its changes")

    def _load_changes(self, key) -> None:
        """The change log of ``key``, read on a worker (once per key and history)."""
        if self.history is None:
            return
        self._changes_token += 1
        token = self._changes_token
        if self._extend_task is not None or self._extend_wanted:
            return  # loaded again when the extension is done
        self.changes_title.setText(f"Changes of {key}: reading…")
        self._reads += 1
        self._reader.submit(_changes_frame, self.history, key, label="change log", owner=self,
                            on_finished=lambda res: self._changes_arrived(token, key, res),
                            on_error=lambda e: self._changes_arrived(token, key, e))

    def _changes_arrived(self, token: int, key, result) -> None:
        self._read_done()
        if token != self._changes_token:
            return
        if isinstance(result, BaseException):
            if not isinstance(result, Cancelled):
                self.changes_title.setText(f"⚠ change log of {key}: {describe(result)}")
            return
        frame, positions = result
        self._changes_key, self._change_positions = key, positions
        self.changes_model.set_frame(frame)
        self._update_split()
        _fit_columns(self.changes_table)
        self.sig_changes_shown.emit(key)

    def _update_split(self) -> None:
        """Colour the change log: changes at the slider's position, and grey those after it."""
        key, pos, p = self._changes_key, self._change_positions, self.shown_position
        if key is None:
            return
        n = len(pos)
        if p is None:
            self.changes_model.set_split(None)
            self.changes_title.setText(f"Changes of {key}: {n:,}")
            return
        lo = int(np.searchsorted(pos, p, "left"))
        hi = int(np.searchsorted(pos, p, "right"))
        self.changes_model.set_split((lo, hi))
        here = " · absent here" if self.model.row_of(key) < 0 else ""
        self.changes_title.setText(f"Changes of {key}: {hi:,} up to #{p}, {n - hi:,} after{here}")
        if hi > lo:
            self.changes_table.scrollTo(self.changes_model.index(lo, 0), QAbstractItemView.PositionAtCenter)

    def _change_activated(self, index: QModelIndex) -> None:
        col = self.changes_model.column_of("position")
        if index.isValid() and col >= 0:
            value = self.changes_model.frame.cell(index.row(), col)
            if value is not None:
                self.slider.set_position(int(value))
                self.sig_seek.emit(int(value))

    # -- benchmark ---------------------------------------------------------------------------------
    def sweep(self, moves: int = 200, interval_ms: int = 5, timeout_s: float = 120.0) -> SweepReport:
        """Drag the slider from the first event to the last in ``moves`` steps, one step every
        ``interval_ms`` with the event loop running (like a drag), wait for the last state, and
        report the worst GUI-thread block a ``LatencyWatchdog`` saw meanwhile."""
        n = len(self.slider.positions)
        if self.history is None or n == 0:
            raise RuntimeError("choose a projection (and let its history build) before sweeping")
        targets = [round(i * (n - 1) / max(1, moves - 1)) for i in range(max(1, moves))]
        dog = LatencyWatchdog(self)
        loop = QEventLoop(self)
        frames0, requests0 = self.frames_shown, self.requests
        start = time.perf_counter()
        step = iter(targets)
        timer = QTimer(self)
        timer.setInterval(interval_ms)

        def next_move() -> None:
            i = next(step, None)
            if i is None:
                timer.stop()
                check.start()
                return
            self.slider.set_index(i)

        check = QTimer(self)
        check.setInterval(2)

        def settled() -> None:
            if self.is_idle() or time.perf_counter() - start > timeout_s:
                check.stop()
                loop.quit()

        timer.timeout.connect(next_move)
        check.timeout.connect(settled)
        dog.start()
        timer.start()
        loop.exec()
        worst = dog.stop()
        return SweepReport(len(targets), self.frames_shown - frames0, self.requests - requests0, worst,
                           time.perf_counter() - start)


def _freeze_long_lived() -> None:
    """Take every object alive now (modules, Qt wrappers, the history just built) out of Python's
    cyclic garbage collector. A full collection walks them all: with PySide6 and pyqtgraph loaded
    that is 50-80 ms, and the allocations of slider reads trigger one every few frames, on
    whichever thread, blocking the GUI thread (measured with ``StatePanel.sweep``: worst block
    100 ms -> 40 ms on a 200k-event store). Frozen objects are still freed by reference counting;
    only cycles among them wait for ``gc.unfreeze()``. App start-up sets the policy
    (``app.gc_policy``: frozen start-up objects, rarer collections); a history build is when most
    long-lived objects appear, so they are frozen here too."""
    gc.freeze()


def _fit_columns(table: QTableView) -> None:
    """Columns as wide as their contents (the rows in view), none wider than ``MAX_COLUMN_PX``."""
    # the rows in view only: Qt's default also measures the next 1,000 rows, a Python data() call
    # per cell, which froze the window for seconds when a 1M-event store's history was first shown
    table.horizontalHeader().setResizeContentsPrecision(0)
    table.resizeColumnsToContents()
    h = table.horizontalHeader()
    for c in range(h.count()):
        if h.sectionSize(c) > MAX_COLUMN_PX:
            h.resizeSection(c, MAX_COLUMN_PX)


def _changes_frame(history, key) -> tuple[FrameData, np.ndarray]:
    """Worker body: the change log of ``key`` as a frame (oldest first) and its positions."""
    df = history.changes(key)
    cols = [c for c in CHANGE_COLUMNS if c in df.columns]
    df = df[cols].reset_index(drop=True)
    positions = df["position"].to_numpy(np.int64) if "position" in df.columns else np.empty(0, np.int64)
    return prepare_frame(df, key_column=None), positions
