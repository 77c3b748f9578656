"""Pages for a columnar History fold (``history_fields``), read and prepared in a second process
while this one folds, so that a big build uses two cores: reading and decoding the store on one,
comparing and storing values on the other.

The readers are forked children: they inherit the opened store, its layout, codecs and the
projection, so nothing has to be named or pickled for them, and open their own database
connections (``engine.dispose(close=False)`` drops the inherited pool without touching the
parent's). Two of them take turns over segments of the positions, each queueing at most a few
prepared pages ahead, so memory stays that of a dozen pages. A fork is only safe while this process runs a
single thread: with other threads (a desktop app's workers: a process that has loaded Qt never
forks), or on a platform without fork, on an in-memory SQLite database, or for a small range,
pages are prepared here instead, in turn with the fold. ``INSPECTOR_BUILD_PROCESSES=1`` forces that too."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import sys
import threading
from queue import Empty
from typing import Any, Iterator

from .errors import InspectorError
from .history_fields import PreparedPage, prepare
from .model import EventFilter
from .projection import Projection
from .store import EventStore

#: below this many positions to read, starting a process costs more than it saves
PARALLEL_FROM = 50_000


class _Failure:
    """An exception raised in the reader, sent back whole when it pickles, else as text."""

    def __init__(self, exc: BaseException) -> None:
        try:
            self.payload: Any = pickle.dumps(exc)
            self.text = None
        except Exception:
            self.payload = None
            notes = "".join(f"; {n}" for n in getattr(exc, "__notes__", ()))
            self.text = f"{type(exc).__name__}: {exc}{notes}"

    def raise_(self) -> None:
        if self.payload is not None:
            raise pickle.loads(self.payload)
        raise InspectorError(f"reading the store failed: {self.text}")


def can_read_alongside(store: EventStore, positions: int) -> bool:
    """Whether pages may be prepared in a forked reader process for a read of about
    ``positions`` positions."""
    if os.environ.get("INSPECTOR_BUILD_PROCESSES") == "1" or positions < PARALLEL_FROM:
        return False
    if "fork" not in mp.get_all_start_methods():
        return False
    # a fork copies one thread: any lock another thread holds stays held in the child forever.
    # Qt's threads (a desktop app's workers, its thread pool) are invisible to ``threading``, so a
    # process that has loaded Qt never forks; nor does any other thread than the main one
    if threading.current_thread() is not threading.main_thread() or threading.active_count() != 1:
        return False
    if any(m in sys.modules for m in ("PySide6.QtCore", "PyQt5.QtCore", "PyQt6.QtCore")):
        return False
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and (url.database or ":memory:") in (":memory:", ""))


def prepared_pages(store: EventStore, projection: Projection, types: frozenset[str] | None, flt: EventFilter,
                   page_size: int, seen: set[str], alongside: bool) -> Iterator[PreparedPage]:
    """The store's pages under ``flt`` (which bounds positions with ``after`` and ``before``),
    prepared (``history_fields.prepare``) and in position order; by reader processes when
    ``alongside`` (see ``can_read_alongside``), else here. Closing the iterator early stops the
    readers."""
    if not alongside:
        for page in store.iter_pages(flt, page_size):
            if page.events:
                yield prepare(projection, types, page.events, seen)
        return
    # the positions are cut into segments of a page's worth of positions that the readers take in
    # turn (reader r: segments r, r + READERS, ...), so each can read a few pages ahead into its
    # bounded queue while this process folds: with long segments one reader would wait for the
    # other's whole segment to be folded first
    first = (flt.after + 1) if flt.after is not None else (store.bounds().first_position or 0)
    last = flt.before - 1 if flt.before is not None else (store.head() or 0)
    segments = [(lo, min(lo + page_size - 1, last)) for lo in range(first, last + 1, page_size)]
    ctx = mp.get_context("fork")
    queues = [ctx.Queue(maxsize=AHEAD) for _ in range(READERS)]
    readers = [ctx.Process(target=_read, args=(queues[r], store, projection, types, flt, page_size, set(seen),
                                               segments[r::READERS]),
                           name=f"inspector-history-reader-{r}", daemon=True) for r in range(READERS)]
    for reader in readers:
        reader.start()
    try:
        for i in range(len(segments)):
            queue, reader = queues[i % READERS], readers[i % READERS]
            while True:
                item = _next(queue, reader)
                if isinstance(item, _SegmentEnd):
                    break
                if isinstance(item, _Failure):
                    item.raise_()
                yield item
    finally:
        for reader in readers:
            if reader.is_alive():
                reader.terminate()
        for reader, queue in zip(readers, queues):
            reader.join(5)
            queue.close()


READERS = 2  # reader processes: with this one folding, enough to keep two cores busy
AHEAD = 6  # prepared pages a reader may hold ready


class _SegmentEnd:
    """Sent by a reader after the last page of each of its segments."""


def _next(queue: Any, reader: Any) -> Any:
    while True:
        try:
            return queue.get(timeout=0.5)
        except Empty:
            if not reader.is_alive() and queue.empty():
                raise InspectorError("the process reading the store for the history stopped unexpectedly") from None


def _read(queue: Any, store: EventStore, projection: Projection, types: frozenset[str] | None, flt: EventFilter,
          page_size: int, seen: set[str], segments: list[tuple[int, int]]) -> None:
    """A reader process: its own connections, no cyclic garbage collection (it lives for one
    read, and its pages hold no cycles), every page of its segments queued once prepared."""
    gc.disable()
    try:
        store.engine.dispose(close=False)
        for lo, hi in segments:
            # a page one longer than the segment: one query, not a second one that finds nothing
            for page in store.iter_pages(flt.with_(after=lo - 1, before=hi + 1), hi - lo + 2):
                if page.events:
                    queue.put(prepare(projection, types, page.events, seen))
            queue.put(_SegmentEnd())
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the folding process
        try:
            queue.put(_Failure(exc))
        except Exception:
            pass
    finally:
        queue.close()
        queue.join_thread()  # everything queued reaches the pipe before the process ends
