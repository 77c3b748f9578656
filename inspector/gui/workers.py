"""Running core work off the GUI thread: a ``Worker`` runs one plain function or generator on a
thread pool, and a ``TaskRunner`` schedules workers for one window, tracks what is running (for the
status bar and its cancel button) and hands results back on the GUI thread.

The core never knows about Qt: long work there is a plain function, or a generator that yields
progress values (the superqt / napari pattern). Cancelling cannot interrupt a database call that is
already running; it stops a generator at its next ``yield``, skips work not started yet, and drops
the result. Results are delivered only while the submitting widget (``owner``) still exists, and
callers tag requests (a generation number in the callback's closure) so stale pages are dropped."""

from __future__ import annotations

import inspect
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal, Slot


class Cancelled(Exception):
    """The work was cancelled before it finished; its result, if any, is dropped."""


class CancelToken:
    """A flag shared between the GUI thread (which sets it) and a worker (which checks it)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class WorkerSignals(QObject):
    """The signals workers report through. Every signal carries the worker's request token first,
    so one instance (owned by a TaskRunner, living on the GUI thread) serves all its workers and no
    per-task QObject has to be created and destroyed across threads."""

    started = Signal(object)
    progress = Signal(object, object)  # token, value yielded by a generator
    finished = Signal(object, object)  # token, result (a generator's return value)
    errored = Signal(object, object)  # token, exception (Cancelled when cancelled)


class Worker:
    """One unit of work: ``run`` executes ``fn`` on a pool thread and reports through
    ``signals`` (started / progress / finished / errored), delivered queued on the GUI thread."""

    def __init__(self, token: Any, signals: WorkerSignals, fn: Callable[..., Any], args: tuple = (),
                 kwargs: dict | None = None, cancel: CancelToken | None = None):
        self.token = token
        self.signals = signals
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.cancel_token = cancel or CancelToken()

    def run(self) -> None:
        tok, sig = self.token, self.signals
        try:
            self.cancel_token.check()
            sig.started.emit(tok)
            out = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(out):
                out = self._drain(out)
            self.cancel_token.check()
        except BaseException as e:  # noqa: BLE001 - every failure goes back to the GUI as a value
            sig.errored.emit(tok, e)
            return
        sig.finished.emit(tok, out)

    def _drain(self, gen) -> Any:
        try:
            while True:
                self.cancel_token.check()
                value = next(gen)
                self.signals.progress.emit(self.token, value)
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


@dataclass(eq=False)
class Task:
    """What the runner remembers about a submitted worker until its result is delivered."""

    token: int
    label: str
    worker: Worker
    owner: QObject | None = None
    on_finished: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    started: bool = field(default=False)

    def cancel(self) -> None:
        self.worker.cancel_token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.worker.cancel_token.cancelled


class TaskRunner(QObject):
    """Schedules workers on its own thread pool (so closing a window can wait for exactly its own
    work) and reports activity: ``sig_activity(labels)`` lists what is queued or running."""

    sig_activity = Signal(list)  # labels of unfinished tasks, oldest first
    sig_progress = Signal(str, object)  # label, value
    sig_idle = Signal()

    def __init__(self, parent: QObject | None = None, max_threads: int = 4):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, min(max_threads, QThreadPool.globalInstance().maxThreadCount())))
        self._tasks: dict[int, Task] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self.signals = WorkerSignals(self)
        self.signals.started.connect(self._on_started)
        self.signals.progress.connect(self._on_progress)
        self.signals.finished.connect(self._on_finished)
        self.signals.errored.connect(self._on_errored)

    # -- submitting ----------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str = "",
        owner: QObject | None = None,
        on_finished: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> Task:
        """Run ``fn(*args, **kwargs)`` on the pool. Callbacks run on the GUI thread, and only
        while ``owner`` (when given) is alive; ``on_error`` receives ``Cancelled`` when the task was
        cancelled (so a caller can take its placeholders back)."""
        token = next(self._ids)
        worker = Worker(token, self.signals, fn, args, kwargs)
        task = Task(token, label or getattr(fn, "__name__", "work"), worker, owner, on_finished, on_error, on_progress)
        if self._closed:
            task.cancel()
            return task
        self._tasks[token] = task
        self._pool.start(worker.run)
        self._announce()
        return task

    # -- state ---------------------------------------------------------------------------
    def active_count(self) -> int:
        return len(self._tasks)

    def is_idle(self) -> bool:
        return not self._tasks

    def labels(self) -> list[str]:
        return [t.label for t in self._tasks.values()]

    def cancel_all(self) -> int:
        """Cancel every unfinished task; returns how many were cancelled."""
        for t in self._tasks.values():
            t.cancel()
        return len(self._tasks)

    def cancel_owned_by(self, owner: QObject) -> None:
        for t in self._tasks.values():
            if t.owner is owner:
                t.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything, wait for running calls to return, and deliver nothing more."""
        self._closed = True
        self.cancel_all()
        done = self._pool.waitForDone(timeout_ms)
        self._tasks.clear()
        return done

    # -- delivery (GUI thread) -------------------------------------------------------------
    def _alive(self, task: Task) -> bool:
        return not self._closed and (task.owner is None or shiboken6.isValid(task.owner))

    @Slot(object)
    def _on_started(self, token: int) -> None:
        task = self._tasks.get(token)
        if task:
            task.started = True

    @Slot(object, object)
    def _on_progress(self, token: int, value: Any) -> None:
        task = self._tasks.get(token)
        if task is None or task.cancelled or not self._alive(task):
            return
        self.sig_progress.emit(task.label, value)
        if task.on_progress:
            task.on_progress(value)

    @Slot(object, object)
    def _on_finished(self, token: int, result: Any) -> None:
        task = self._tasks.pop(token, None)
        if task is None:
            return
        try:
            if task.cancelled:
                if task.on_error and self._alive(task):
                    task.on_error(Cancelled())
            elif task.on_finished and self._alive(task):
                task.on_finished(result)
        finally:
            self._done(task)

    @Slot(object, object)
    def _on_errored(self, token: int, exc: BaseException) -> None:
        task = self._tasks.pop(token, None)
        if task is None:
            return
        try:
            if task.on_error and self._alive(task):
                task.on_error(exc if not task.cancelled else Cancelled())
        finally:
            self._done(task)

    def _done(self, task: Task) -> None:
        self._announce()
        if not self._tasks:
            self.sig_idle.emit()

    def _announce(self) -> None:
        self.sig_activity.emit(self.labels())


def describe(exc: BaseException) -> str:
    """One line for the user: InspectorError messages as they are, database errors summarised."""
    from inspector.core.connect import describe_error
    from inspector.core.errors import InspectorError

    if isinstance(exc, InspectorError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "cancelled"
    return describe_error(exc)
