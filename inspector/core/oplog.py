"""The inspector's own operator log: every preview, export, plan, approval and submission, recorded
(who, when, what was asked, what came of it) in an append-only, hash-chained JSON-lines file in the
inspector's data directory, ``oplog/operator-log.jsonl``; ``verify`` detects any edit.

Each line is one entry, written as the canonical JSON of the entry (keys sorted, no spaces,
UTF-8)::

    {"seq": 1.., "at": ISO time (UTC), "actor": who did it, "os_user": the operating-system account
     that ran the inspector, "role": the session's role | null, "action": "preview" | "fork" |
     "compensate" | "export" | "approve" | "submit.begin" | "submit" | a plugin's own,
     "store": {"url" (never with a password), "layout", "table"} | null,
     "params": what was asked, "result": what came of it,
     "prev": the previous entry's hash ("0" * 64 for the first), "hash": 64 hex}

``hash`` is SHA-256 of the canonical JSON of the entry without ``hash``; so an entry covers its
place (``seq``) and its predecessor (``prev``), and changing, deleting, inserting or reordering
lines breaks the chain where it happens. Removing lines from the end leaves a valid chain, so a
small head file next to the log, ``operator-log.head.json``, keeps the last ``seq`` and ``hash``;
``verify`` compares the two. A chain without a secret cannot stop someone who rewrites the whole
file and the head consistently: for that, keep an entry's ``seq:hash`` elsewhere (a ticket, the
store's ``inspector_approvals`` rows keep the approver's) and check it with ``verify(anchors=)``.

``params`` and ``result`` hold what identifies an action and its outcome (ids, positions, counts,
hashes, file paths, the reason typed for a submission), never payload values: the log is read by
whoever can read the data directory, whatever role they have in a store.

Appending is safe from several processes at once: an exclusive lock on ``operator-log.lock`` in
the same folder (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows; locks on network file
systems are only as good as the server's) is held while the last entry is read, the new line is
appended with one ``write`` and fsynced, and the head file is replaced (written, fsynced,
renamed). ``record`` refuses (``OplogError``) to append to a log whose end does not agree with its
head: appending would overwrite the evidence of a truncation. Move both files aside (keep them)
to start a new log."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import InspectorError
from .store_files import write_atomic

FORMAT = "inspector.operator-log/1"
HEAD_FORMAT = "inspector.operator-log-head/1"
GENESIS = "0" * 64
LOG_NAME = "operator-log.jsonl"
HEAD_NAME = "operator-log.head.json"
LOCK_NAME = "operator-log.lock"
FIELDS = ("seq", "at", "actor", "os_user", "role", "action", "store", "params", "result", "prev", "hash")
UTC = dt.timezone.utc
#: ``verify`` lists at most this many problems (the first names the first bad line).
MAX_PROBLEMS = 50


class OplogError(InspectorError):
    """The operator log cannot be written (or read) as asked."""


# -- where, who --------------------------------------------------------------------------------------


def log_path() -> Path:
    """The operator log of this user: ``<data dir>/oplog/operator-log.jsonl`` (``INSPECTOR_DATA_DIR``
    moves the data dir)."""
    from .checkpoints import data_dir

    return data_dir() / "oplog" / LOG_NAME


def head_path(path: str | Path) -> Path:
    return Path(path).with_name(HEAD_NAME if Path(path).name == LOG_NAME else Path(path).name + ".head.json")


def lock_path(path: str | Path) -> Path:
    return Path(path).with_name(LOCK_NAME if Path(path).name == LOG_NAME else Path(path).name + ".lock")


def os_user() -> str:
    """The operating-system account running the inspector ("unknown" where none can be found)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no user name in the environment nor the password database
        return "unknown"


def default_actor(given: str | None = None) -> str:
    """Who an entry names: the actor given (``--actor``, the composer's Actor field), else the
    operating-system account (reads have no actor of their own)."""
    given = (given or "").strip()
    return given or os_user()


# -- canonical JSON and hashes ------------------------------------------------------------------------


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def plain(value: Any) -> Any:
    """``value`` as plain JSON (times, paths and other objects as text; NaN refused): what is
    hashed is exactly what is written."""
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError as e:
        raise OplogError(f"cannot record a value JSON cannot hold: {e}") from None


def entry_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry without its ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in doc.items() if k != "hash"}).encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(doc: Any) -> str:
    """SHA-256 of a document's canonical JSON (a replay plan's, for instance)."""
    return hashlib.sha256(canonical(plain(doc)).encode("utf-8")).hexdigest()


def store_of(store: Any) -> dict[str, Any] | None:
    """An entry's ``store``: a ``StoreIdentity`` / store / ``OpenedStore`` as its identity, a URL
    as ``{"url"}``; never with a password."""
    from .connect import redact

    if store is None:
        return None
    if isinstance(store, str):
        return {"url": redact(store)}
    if isinstance(store, Mapping):
        out = dict(store)
        if "url" in out and out["url"]:
            out["url"] = redact(str(out["url"]))
        return out
    from .checkpoints import StoreIdentity

    if not isinstance(store, StoreIdentity):
        store = StoreIdentity.of(store)
    return store_of(store.to_json())


@dataclass(frozen=True)
class LogEntry:
    seq: int
    at: str
    actor: str
    os_user: str
    role: str | None
    action: str
    store: Mapping[str, Any] | None
    params: Mapping[str, Any]
    result: Any
    prev: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in FIELDS}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "LogEntry":
        return cls(**{k: doc[k] for k in FIELDS})


# -- locking and files ---------------------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            while True:  # LK_LOCK gives up after ~10 s: wait on, like flock
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_line(path: Path) -> tuple[bytes | None, bool]:
    """The log's last line (without its newline) and whether the file ends with a newline
    (None: empty or absent). Read backwards in blocks: the log is never read whole to append."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None, True
    with f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return None, True
        f.seek(end - 1)
        complete = f.read(1) == b"\n"
        stop = end - 1 if complete else end
        buf, pos = b"", stop
        while pos > 0:
            step = min(8192, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf  # bytes [pos, stop): never the final newline
            nl = buf.rfind(b"\n")
            if nl >= 0:
                return buf[nl + 1:], complete
        return buf, complete


def _read_head(path: Path) -> dict[str, Any] | None:
    hp = head_path(path)
    try:
        text = hp.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
            raise ValueError("not a head file")
        return {"seq": int(doc["seq"]), "hash": str(doc["hash"])}
    except (ValueError, KeyError, TypeError):
        raise OplogError(f"the operator log's head file {hp} cannot be read: it was edited or damaged "
                         f"(inspector verify-log --log {path})") from None


def _write_head(path: Path, seq: int, digest: str) -> None:
    hp = head_path(path)
    write_atomic(hp, canonical({"format": HEAD_FORMAT, "seq": seq, "hash": digest}) + "\n")
    _fsync_dir(hp.parent)


def _parse_line(raw: bytes) -> dict[str, Any]:
    """An entry whose bytes are its canonical JSON and whose hash is right; ValueError otherwise."""
    text = raw.decode("utf-8")
    doc = json.loads(text)
    if not isinstance(doc, dict) or set(doc) != set(FIELDS):
        raise ValueError("not an operator log entry")
    if canonical(doc) != text:
        raise ValueError("not in canonical form")
    if entry_hash(doc) != doc["hash"]:
        raise ValueError("its content does not match its hash")
    return doc


def _entry_at(path: Path, seq: int) -> dict[str, Any] | None:
    with open(path, "rb") as f:
        for raw in f:
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("seq") == seq:
                return doc
    return None


# -- the log ---------------------------------------------------------------------------------------------


class OperatorLog:
    """One operator log file (default: this user's, ``log_path()``); see the module docstring."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else log_path()

    def _tip(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, after checking the end of the log against the head."""
        raw, complete = _last_line(self.path)
        head = _read_head(self.path)
        fix = f"inspector verify-log --log {self.path} says more; to start a new log, move the log and its head " \
              f"file aside and keep them as evidence"
        if not complete:
            raise OplogError(f"the operator log {self.path} ends with an incomplete line (an interrupted write, or "
                             f"an edit): nothing more is appended to it ({fix})")
        if raw is None:
            if head is not None and head["seq"] > 0:
                raise OplogError(f"the operator log {self.path} is empty or missing, but its head file records "
                                 f"{head['seq']} entries: it was deleted or truncated ({fix})")
            return 0, GENESIS
        try:
            last = _parse_line(raw)
        except ValueError as e:
            raise OplogError(f"the last entry of the operator log {self.path} is damaged ({e}): nothing more is "
                             f"appended to it ({fix})") from None
        seq, digest = int(last["seq"]), str(last["hash"])
        if head is None:
            raise OplogError(f"the operator log {self.path} has entries but its head file "
                             f"{head_path(self.path).name} is missing: the end of the log cannot be checked ({fix})")
        if head["seq"] > seq or (head["seq"] == seq and head["hash"] != digest):
            raise OplogError(f"the operator log {self.path} ends at entry {seq}, but its head file records entry "
                             f"{head['seq']} ({head['hash'][:12]}…): entries were removed or replaced at the end "
                             f"({fix})")
        if head["seq"] < seq:  # a crash between appending and replacing the head: the entry must be there
            at = _entry_at(self.path, head["seq"]) if head["seq"] > 0 else {"hash": GENESIS}
            if at is None or at.get("hash") != head["hash"]:
                raise OplogError(f"the operator log {self.path} does not hold the entry its head file records "
                                 f"(seq {head['seq']}) ({fix})")
        return seq, digest

    def record(self, action: str, *, actor: str | None = None, role: Any = None, store: Any = None,
               params: Mapping[str, Any] | None = None, result: Any = None,
               at: dt.datetime | None = None) -> LogEntry:
        """Append one entry (see the module docstring); raises ``OplogError`` when it cannot be
        written, leaving the log as it was."""
        action = str(action or "").strip()
        if not action:
            raise OplogError("an operator log entry needs an action")
        role_name = getattr(role, "value", role)
        body = plain({"at": (at or dt.datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds"),
                      "actor": default_actor(actor), "os_user": os_user(),
                      "role": None if role_name is None else str(role_name), "action": action,
                      "store": store_of(store), "params": dict(params or {}), "result": result})
        try:
            with _locked(self.path):
                seq, prev = self._tip()
                doc = {**body, "seq": seq + 1, "prev": prev}
                doc["hash"] = entry_hash(doc)
                line = (canonical(doc) + "\n").encode("utf-8")
                new = not self.path.exists()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    _fsync_dir(self.path.parent)
                _write_head(self.path, doc["seq"], doc["hash"])
        except OSError as e:
            raise OplogError(f"the operator log {self.path} cannot be written: {e.strerror or e}") from None
        return LogEntry.from_json(doc)

    def entries(self) -> list[LogEntry]:
        """Every entry, oldest first (``OplogError`` on a line that is not a valid entry)."""
        out = []
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with f:
            for n, raw in enumerate(f, 1):
                try:
                    out.append(LogEntry.from_json(json.loads(raw)))
                except (ValueError, KeyError, TypeError):
                    raise OplogError(f"line {n} of the operator log {self.path} is not an entry "
                                     f"(inspector verify-log)") from None
        return out

    def verify(self, anchors: Iterable[tuple[int, str]] = ()) -> "LogReport":
        from .oplog_verify import verify_log

        return verify_log(self.path, anchors)


# -- the module-level API other modules call ---------------------------------------------------------------


def record(action: str, *, actor: str | None = None, role: Any = None, store: Any = None,
           params: Mapping[str, Any] | None = None, result: Any = None, path: str | Path | None = None) -> LogEntry:
    """Append an entry to this user's operator log (or the log at ``path``); raises
    ``OplogError`` when it cannot. ``actor`` None: the OS user. ``store``: a ``StoreIdentity``,
    store, ``OpenedStore`` or URL (recorded without its password). ``params`` / ``result``:
    ids, counts, hashes and paths; never payload values."""
    return OperatorLog(path).record(action, actor=actor, role=role, store=store, params=params, result=result)


def verify(path: str | Path | None = None, anchors: Iterable[tuple[int, str]] = ()) -> "LogReport":
    """Check the whole chain and the head file (see ``oplog_verify``)."""
    return OperatorLog(path).verify(anchors)


def warn_stderr(message: str) -> None:
    print(f"inspector: warning: {message}", file=sys.stderr)


@dataclass
class Recording:
    """An action being recorded (``recording``): set ``store``, ``params`` and ``result`` as
    they become known; the entry is written when the block ends."""

    action: str
    actor: str | None = None
    role: Any = None
    store: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    entry: LogEntry | None = None
    error: str | None = None  # why the entry could not be written (``required`` False)


@contextmanager
def recording(action: str, *, actor: str | None = None, role: Any = None, store: Any = None,
              params: Mapping[str, Any] | None = None, required: bool = False,
              warn: Callable[[str], None] | None = None, path: str | Path | None = None) -> Iterator[Recording]:
    """Record the action of the ``with`` block when it ends: its ``result``, or ``{"ok": false,
    "error"}`` when the block raised (the exception goes on). The policy of a log that cannot be
    written: ``required`` raises ``OplogError`` (after the block); otherwise ``warn`` (default:
    stderr) is told and the action's own result stands. Reads use ``required=False``."""
    rec = Recording(action, actor, role, store, dict(params or {}))
    try:
        yield rec
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        rec.result = {"ok": False, "error": " ".join(str(e).split())[:500] or type(e).__name__}
        _write(rec, False, warn, path)
        raise
    _write(rec, required, warn, path)


def _write(rec: Recording, required: bool, warn: Callable[[str], None] | None, path: str | Path | None) -> None:
    try:
        rec.entry = record(rec.action, actor=rec.actor, role=rec.role, store=rec.store, params=rec.params,
                           result=rec.result, path=path)
    except InspectorError as e:
        rec.error = str(e)
        if required:
            raise
        (warn or warn_stderr)(f"this {rec.action} was not recorded in the operator log: {e}")


from .oplog_verify import LogProblem, LogReport  # noqa: E402 - the report types live with the verifier

__all__ = ["FORMAT", "GENESIS", "LogEntry", "LogProblem", "LogReport", "OperatorLog", "OplogError", "Recording",
           "default_actor", "log_path", "os_user", "record", "recording", "sha256_file", "sha256_json", "verify"]
