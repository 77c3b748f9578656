"""Live tail in the desktop app: the "Follow new events" toggle and, while it is on, a worker that
follows the store (``core.tail``: polls with backoff, PostgreSQL NOTIFY where the layout sends it)
and a status-bar line "head #N · history at #M (lag K events)".

When the head moves the window catches up, one round at a time (a round that finds the head moved
again starts the next): the event table reads only the rows after its keyset cursor and recounts
(or reloads when sorted otherwise than by position ascending), the timeline re-counts if it shows
the end of the store, and the state panel's current history is extended on a worker (never
rebuilt); a history chosen later is extended when it is shown. M is the head the last round
caught up to, so the lag goes back to 0 once the round is done.

The follower runs on a runner of its own (one thread, for as long as Follow is on): the window's
runner would list it as running work forever and lend it one of its threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QToolButton

from inspector.core.tail import Backoff, Tail, TailUpdate, count_between

from .live_table import refresh_table, timeline_shows_end
from .workers import Cancelled, TaskRunner, describe

STREAMS_EVERY_S = 10.0  # the streams panel counts the whole store again at most this often


@dataclass(frozen=True)
class LiveUpdate:
    """What the follower hands the GUI: the tail's update, and the lag behind its head of what
    the window had caught up to when the worker looked (``at``; None: not known)."""

    update: TailUpdate
    at: int | None
    lag: int | None


class _Shared:
    """Written by the GUI thread, read by the follower (plain attribute reads and writes)."""

    def __init__(self) -> None:
        self.caught_up: int | None = None


def follow_store(tail: Tail, shared: _Shared, should_cancel):
    """Worker body: follow until cancelled, yielding a ``LiveUpdate`` per update that found
    something (the lag is counted in SQL only when the window is behind by more than the update)."""
    for u in tail.follow(should_cancel):
        at, lag = shared.caught_up, None
        if u.head is not None and u.error is None and at is not None:  # None: nothing caught up to yet
            if at >= u.head:
                lag = 0
            elif at == u.after:
                lag = u.count  # the tail counted exactly those
            else:
                try:
                    lag = count_between(tail.store, at, u.head)
                except Exception:  # noqa: BLE001 - the next update tries again
                    lag = None
        yield LiveUpdate(u, at, lag)


class Live(QObject):
    """See the module docstring. ``window`` is the ``MainWindow``; ``follow_action`` is the toggle
    (the window puts it in a menu), ``button`` and ``label`` sit in its status bar."""

    sig_caught_up = Signal(int)  # the head the window has caught up to
    sig_update = Signal(object)  # LiveUpdate (tests, diagnostics)

    def __init__(self, window, backoff: Backoff = Backoff()) -> None:
        super().__init__(window)
        self.w = window
        self.backoff = backoff
        self.store = None
        self.head: int | None = None
        self.caught_up: int | None = None
        self.lag: int | None = None
        self.error: str | None = None
        self.rounds = 0  # catch-up rounds started (tests, diagnostics)
        self.tail: Tail | None = None
        self._shared = _Shared()
        self._task = None
        self._target: int | None = None  # the head the running round catches up to
        self._table_pending = False
        self._runner = TaskRunner(self, max_threads=1)

        self.follow_action = QAction("&Follow new events", self, checkable=True)
        self.follow_action.setObjectName("followAction")
        self.follow_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        self.follow_action.setToolTip("follow the store: show events as they are appended (the table, the "
                                      "timeline and the state panel's history catch up)")
        self.follow_action.toggled.connect(self.set_following)
        sb = window.statusBar()
        self.label = QLabel(sb)
        self.label.setObjectName("liveLabel")
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label.hide()
        self.button = QToolButton(sb)
        self.button.setObjectName("followButton")
        self.button.setDefaultAction(self.follow_action)
        self.button.setText("● Follow")
        self.button.setAutoRaise(True)
        sb.addPermanentWidget(self.label)
        sb.addPermanentWidget(self.button)

        window.sig_store_changed.connect(lambda opened: self.set_store(opened.store if opened is not None else None))
        # checked once the signalling call is over: a task's activity is announced from inside
        # ``submit``, before its caller has kept the task (a model's ``_pending``, say)
        self._check_timer = QTimer(self, singleShot=True, interval=0)
        self._check_timer.timeout.connect(self._check_round)
        self._streams_timer = QTimer(self, singleShot=True, interval=int(STREAMS_EVERY_S * 1000))
        self._streams_timer.timeout.connect(self._streams_due)
        self._streams_at: int | None = None  # the head the streams panel last counted
        self._initial_round = False
        window.runner.sig_activity.connect(lambda _labels: self._schedule_check())
        window.model.sig_page_loaded.connect(lambda *_: self._schedule_check())
        window.state_panel.sig_history_ready.connect(lambda _name: self._history_shown())
        window.installEventFilter(self)
        if getattr(window, "opened", None) is not None:
            self.set_store(window.opened.store)

    # -- on and off ---------------------------------------------------------------------------------
    def is_following(self) -> bool:
        return self._task is not None

    def set_following(self, on: bool) -> None:
        if self.follow_action.isChecked() != bool(on):
            self.follow_action.setChecked(bool(on))  # comes back here through toggled
            return
        self._stop()
        if on and self.store is not None:
            self._start()
        self._show()

    def set_store(self, store) -> None:
        self._stop()
        self.store = store
        self.head = self.lag = self.error = None
        self._target = None
        self.follow_action.setEnabled(store is not None)
        if store is not None and self.follow_action.isChecked():
            self._start()
        self._show()

    def _start(self) -> None:
        sp = self.w.state_panel
        h = sp.history if sp.store is self.store else None
        # until the first round, what the window holds is as new as its history (or unknown)
        self.caught_up = h.head if h is not None else None
        self._shared.caught_up = self.caught_up
        self.tail = Tail(self.store, read_events=False, backoff=self.backoff)
        holder: dict[str, Any] = {}
        self._task = task = self._runner.submit(
            follow_store, self.tail, self._shared, lambda: holder["task"].cancelled if "task" in holder else False,
            label="following the store", owner=self,
            on_progress=lambda u: self._arrived(task, u), on_error=lambda e: self._ended(task, e),
            on_finished=lambda _r: self._ended(task, None))
        holder["task"] = task

    def _stop(self) -> None:
        if self.tail is not None:
            self.tail.cancel()
        if self._task is not None:
            self._task.cancel()
        self._task = self.tail = None
        self._target = None
        self._table_pending = False
        self._streams_timer.stop()
        self._streams_at = None

    def shutdown(self) -> None:
        """Stop following and wait for the follower to end (the window is closing)."""
        self._stop()
        self._runner.shutdown()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if obj is self.w and event.type() == QEvent.Close:
            self.shutdown()
        return False

    # -- updates from the follower ------------------------------------------------------------------
    def _arrived(self, task, lu: LiveUpdate) -> None:
        if task is not self._task:
            return
        u = lu.update
        self.sig_update.emit(lu)
        if u.notice:
            self.w.statusBar().showMessage(f"follow: {u.notice}", 15000)
        if u.error is not None:
            self.error = f"{u.error} (retrying in {u.delay:.0f} s)"
            self._show()
            return
        self.error = None
        self.head = u.head
        if lu.lag is not None and lu.at == self.caught_up:
            self.lag = lu.lag
        if self.head is not None and (self.caught_up is None or self.head > self.caught_up):
            self._initial_round = u.woken_by == "start"
            self._start_round()
        elif self.head is not None:
            self.lag = 0
        self._show()

    def _ended(self, task, exc: BaseException | None) -> None:
        if task is not self._task:
            return
        self._task = self.tail = None
        if exc is not None and not isinstance(exc, Cancelled):
            self.error = describe(exc)
            self.w.statusBar().showMessage(f"follow stopped: {self.error}", 15000)
        self.follow_action.blockSignals(True)
        self.follow_action.setChecked(False)
        self.follow_action.blockSignals(False)
        self._show()

    # -- catching up ----------------------------------------------------------------------------------
    def _start_round(self) -> None:
        if self._target is not None or self.head is None:
            return  # one round at a time: the next starts when this one is done
        self._target = self.head
        self.rounds += 1
        self._table_pending = True
        self._refresh_table()
        tl = self.w.timeline
        if tl.store is self.store and timeline_shows_end(tl):
            tl.refresh()
        self._extend_history(self._target)
        self._refresh_streams()
        self._schedule_check()

    def _refresh_streams(self) -> None:
        """The streams panel's counts (a GROUP BY over the whole store: at most every
        ``STREAMS_EVERY_S`` seconds; a round inside that waits for the timer)."""
        if self._initial_round:
            self._streams_at = self._target  # a round at Follow's first look catches up with what was there
            return
        if self._streams_timer.isActive():
            return  # rounds until it fires leave the panel alone; it looks again then
        self._reload_streams()

    def _reload_streams(self) -> None:
        panel = self.w.streams_panel
        if not panel.is_loading():
            panel.reload()
            self._streams_at = self._target if self._target is not None else self.caught_up
        self._streams_timer.start()

    def _streams_due(self) -> None:
        latest = self.caught_up
        if self._task is not None and latest is not None and (self._streams_at is None or latest > self._streams_at):
            self._reload_streams()

    def _schedule_check(self) -> None:
        if self._target is not None and not self._check_timer.isActive():
            self._check_timer.start()

    def _refresh_table(self) -> None:
        if not self._table_pending:
            return
        self._table_pending = False  # before: submitting announces activity, which comes back here
        if refresh_table(self.w.model, self.w.runner) == "busy":
            self._table_pending = True

    def _extend_history(self, target: int | None) -> None:
        """The state panel's current history, extended to ``target`` or beyond (never rebuilt) on
        the window's runner, as File → Reload does, but keeping the other projections' histories
        (each is extended when it is shown)."""
        sp = self.w.state_panel
        h = sp.history
        if h is None or sp.store is not self.store or target is None:
            return
        if h.head is not None and h.head >= target:
            return
        sp.request_extension()

    def _history_shown(self) -> None:
        """A history was chosen (or built) while following: bring it to the head too."""
        if self._task is not None:
            self._extend_history(self.head)

    def _round_done(self) -> bool:
        m = self.w.model
        if self._table_pending or m.is_loading() or m.is_counting():
            return False
        sp = self.w.state_panel
        h = sp.history
        if h is not None and sp.store is self.store and (h.head is None or h.head < self._target):
            if sp.is_extending():
                return False
        return True

    def _check_round(self) -> None:
        if self._target is None:
            return
        self._refresh_table()
        if not self._round_done():
            return
        target, self._target = self._target, None
        self.caught_up = self._shared.caught_up = target
        if self.head is not None and self.head > target:
            self.lag = None  # counted again on the next update
            self._initial_round = False
            self._start_round()
        else:
            self.lag = 0
        self._show()
        self.sig_caught_up.emit(target)

    # -- status bar ---------------------------------------------------------------------------------
    def status_text(self) -> str:
        if self._task is None:
            return ""
        if self.head is None and self.error is None:
            return "following…" if self.tail is None or self.tail.polls == 0 else "following · the store is empty"
        head = f"head #{self.head}" if self.head is not None else "head ?"
        at = f"#{self.caught_up}" if self.caught_up is not None else "?"
        if self.error is not None:
            return f"⚠ {head} · history at {at} · {self.error}"
        lag = f"{self.lag:,}" if self.lag is not None else "…"
        return f"{head} · history at {at} (lag {lag} event{'' if self.lag == 1 else 's'})"

    def _show(self) -> None:
        on = self._task is not None
        self.label.setVisible(on)
        self.label.setText(self.status_text())
        tail = self.tail
        how = ""
        if tail is not None:
            how = (f"woken by NOTIFY on {', '.join(tail.channels)}, and polling" if tail.listen else "polling")
            how += f" every {self.backoff.initial:g}–{self.backoff.maximum:g} s while idle"
        self.label.setToolTip(f"{how}\nM: the head the table, timeline and state history last caught up to"
                              if how else "")
        self.label.setStyleSheet("color: #b71c1c;" if self.error else "")
        self.button.setText("● Following" if on else "● Follow")
