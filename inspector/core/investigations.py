"""Saved investigations: bookmarks on events and notes (free, or on a checkpoint) that an auditor
keeps while working through a store, in one JSON file per store in the inspector's own data
directory (never in the store), and handed whole to evidence bundles (``to_json``).

Kept like the ``CheckpointBook``: every call reads the file afresh, every change rewrites it
atomically (a temporary file in the same folder, then ``os.replace``), and a file that cannot be
read is reported and left as it is. Ids are short and never reused within a store: ``b1``, ``b2``…
for bookmarks, ``n1``, ``n2``… for notes."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .checkpoints import StoreIdentity, book_path, data_dir, parse_iso
from .errors import InspectorError
from .store_files import read_store_json, write_json

UTC = dt.timezone.utc
FORMAT = "inspector.investigations/1"


class InvestigationError(InspectorError):
    """The investigation file of a store cannot be read, or an id is unknown."""


def default_actor() -> str:
    """Who is working: ``$INSPECTOR_ACTOR``, else ``user:<login name>``."""
    env = os.environ.get("INSPECTOR_ACTOR", "").strip()
    if env:
        return env
    try:
        return f"user:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name (containers without a passwd entry)
        return "user:unknown"


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


@dataclass(frozen=True)
class Bookmark:
    """An event worth coming back to: its position and (where the store gives one) its id."""

    id: str
    position: int
    event_id: str | None = None
    label: str = ""
    note: str = ""
    created_at: dt.datetime = field(default_factory=_now)
    actor: str = ""
    # what the event was, as shown when it was bookmarked (so a report reads without the store)
    event_type: str | None = None
    stream: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "position": self.position, "event_id": self.event_id, "label": self.label,
                "note": self.note, "created_at": self.created_at.isoformat(), "actor": self.actor,
                "event_type": self.event_type, "stream": self.stream}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Bookmark":
        return cls(str(doc["id"]), int(doc["position"]), _opt(doc.get("event_id")), str(doc.get("label") or ""),
                   str(doc.get("note") or ""), parse_iso(doc["created_at"]), str(doc.get("actor") or ""),
                   _opt(doc.get("event_type")), _opt(doc.get("stream")))


@dataclass(frozen=True)
class Note:
    """A note on the investigation as a whole, or on one checkpoint (by its name)."""

    id: str
    text: str
    checkpoint: str | None = None
    created_at: dt.datetime = field(default_factory=_now)
    actor: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "checkpoint": self.checkpoint,
                "created_at": self.created_at.isoformat(), "actor": self.actor}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Note":
        return cls(str(doc["id"]), str(doc["text"]), _opt(doc.get("checkpoint")), parse_iso(doc["created_at"]),
                   str(doc.get("actor") or ""))


def _opt(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def investigation_path(identity: StoreIdentity, root: Path | None = None) -> Path:
    """One file per store, named as its checkpoint file is."""
    return book_path(identity, root or data_dir() / "investigations")


@dataclass
class _Doc:
    bookmarks: list[Bookmark]
    notes: list[Note]
    next_bookmark: int
    next_note: int


def _parse(doc: Mapping[str, Any]) -> _Doc:
    bookmarks = [Bookmark.from_json(b) for b in doc.get("bookmarks") or []]
    notes = [Note.from_json(n) for n in doc.get("notes") or []]
    nxt = doc.get("next") or {}
    nb = max([int(nxt.get("bookmark", 1))] + [_num(b.id) + 1 for b in bookmarks])
    nn = max([int(nxt.get("note", 1))] + [_num(n.id) + 1 for n in notes])
    return _Doc(bookmarks, notes, nb, nn)


class InvestigationBook:
    """The bookmarks and notes of one store, in one JSON file::

        {"format": "inspector.investigations/1", "store": {"url", "layout", "table"},
         "next": {"bookmark": 3, "note": 2},
         "bookmarks": [{"id", "position", "event_id", "label", "note", "created_at", "actor",
                        "event_type", "stream"}, ...],
         "notes": [{"id", "text", "checkpoint", "created_at", "actor"}, ...]}

    Two processes changing the same book at once: the last write wins."""

    def __init__(self, identity: StoreIdentity, path: Path | None = None) -> None:
        self.identity = identity
        self.path = Path(path) if path is not None else investigation_path(identity)

    @classmethod
    def for_store(cls, store: Any) -> "InvestigationBook":
        """Of an ``EventStore`` or an ``OpenedStore``."""
        return cls(StoreIdentity.of(store))

    # -- file ------------------------------------------------------------------------------------
    def _load(self) -> _Doc:
        doc = read_store_json(self.path, FORMAT, self.identity, _parse, InvestigationError, "investigation")
        return doc if doc is not None else _Doc([], [], 1, 1)

    def _save(self, doc: _Doc) -> None:
        write_json(self.path, {"format": FORMAT, "store": self.identity.to_json(),
                               "next": {"bookmark": doc.next_bookmark, "note": doc.next_note},
                               "bookmarks": [b.to_json() for b in _by_position(doc.bookmarks)],
                               "notes": [n.to_json() for n in sorted(doc.notes, key=lambda n: _num(n.id))]})

    # -- bookmarks -------------------------------------------------------------------------------
    def bookmarks(self) -> list[Bookmark]:
        """All bookmarks, by position (then id)."""
        return _by_position(self._load().bookmarks)

    def bookmark(self, bookmark_id: str) -> Bookmark:
        bid = _id(bookmark_id, "b")
        for b in self._load().bookmarks:
            if b.id == bid:
                return b
        raise InvestigationError(f"no bookmark {bookmark_id!r} for this store (inspector bookmark URL list)")

    def add_bookmark(self, position: int, event_id: str | None = None, label: str = "", note: str = "",
                     actor: str | None = None, event_type: str | None = None, stream: str | None = None) -> Bookmark:
        doc = self._load()
        b = Bookmark(f"b{doc.next_bookmark}", int(position), _opt(event_id), label.strip(), note.strip(), _now(),
                     actor if actor is not None else default_actor(), _opt(event_type), _opt(stream))
        doc.bookmarks.append(b)
        doc.next_bookmark += 1
        self._save(doc)
        return b

    def update_bookmark(self, bookmark_id: str, *, label: str | None = None, note: str | None = None) -> Bookmark:
        doc = self._load()
        bid = _id(bookmark_id, "b")
        for i, b in enumerate(doc.bookmarks):
            if b.id == bid:
                new = Bookmark(b.id, b.position, b.event_id, b.label if label is None else label.strip(),
                               b.note if note is None else note.strip(), b.created_at, b.actor, b.event_type, b.stream)
                doc.bookmarks[i] = new
                self._save(doc)
                return new
        raise InvestigationError(f"no bookmark {bookmark_id!r} for this store")

    def remove_bookmark(self, bookmark_id: str) -> Bookmark:
        return self._remove("bookmark", bookmark_id)

    # -- notes -----------------------------------------------------------------------------------
    def notes(self, checkpoint: str | None = None) -> list[Note]:
        """All notes in the order written (only those on ``checkpoint`` when given)."""
        notes = sorted(self._load().notes, key=lambda n: _num(n.id))
        return [n for n in notes if checkpoint is None or n.checkpoint == checkpoint]

    def add_note(self, text: str, checkpoint: str | None = None, actor: str | None = None) -> Note:
        text = str(text).strip()
        if not text:
            raise InvestigationError("a note needs some text")
        doc = self._load()
        n = Note(f"n{doc.next_note}", text, _opt(checkpoint), _now(), actor if actor is not None else default_actor())
        doc.notes.append(n)
        doc.next_note += 1
        self._save(doc)
        return n

    def remove_note(self, note_id: str) -> Note:
        return self._remove("note", note_id)

    def _remove(self, what: str, item_id: str) -> Any:
        """Forget the bookmark or note (``what``) ``item_id``."""
        doc = self._load()
        iid = _id(item_id, what[0])
        items = getattr(doc, what + "s")
        gone = [x for x in items if x.id == iid]
        if not gone:
            raise InvestigationError(f"no {what} {item_id!r} for this store (inspector {what} URL list)")
        setattr(doc, what + "s", [x for x in items if x.id != iid])
        self._save(doc)
        return gone[0]

    # -- evidence --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole investigation, as evidence bundles include it (JSON-able; empty lists when
        nothing was saved; raises ``InvestigationError`` for an unreadable file)."""
        doc = self._load()
        return {"format": FORMAT, "store": self.identity.to_json(),
                "bookmarks": [b.to_json() for b in _by_position(doc.bookmarks)],
                "notes": [n.to_json() for n in sorted(doc.notes, key=lambda n: _num(n.id))]}


def _by_position(items: list[Bookmark]) -> list[Bookmark]:
    return sorted(items, key=lambda b: (b.position, _num(b.id)))


def _num(item_id: str) -> int:
    digits = str(item_id).lstrip("bn#")
    return int(digits) if digits.isdigit() else 0


def _id(text: str, prefix: str) -> str:
    """``3`` or ``b3`` → ``b3`` (a bare number names the id, not a position)."""
    s = str(text).strip()
    return f"{prefix}{s}" if s.isdigit() else s


def investigation_of(store: Any) -> dict[str, Any]:
    """The investigation of ``store`` (an ``EventStore`` or ``OpenedStore``) for an evidence bundle."""
    return InvestigationBook.for_store(store).to_json()


def saved_investigation(store: Any) -> dict[str, Any] | None:
    """``investigation_of(store)`` when it holds any bookmark or note, else None: what evidence
    bundles include by default."""
    doc = investigation_of(store)
    return doc if doc.get("bookmarks") or doc.get("notes") else None


__all__ = ["Bookmark", "InvestigationBook", "InvestigationError", "Note", "default_actor", "investigation_of",
           "investigation_path", "saved_investigation"]
