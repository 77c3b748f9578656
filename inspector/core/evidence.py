"""Evidence bundles: a zip holding selected events, the query that selected them, the read models
derived from the store as of the last of them, who made it with which inspector, a fingerprint of
the store and a SHA-256 manifest; and ``verify_bundle``, which checks one.

Members (``FORMAT`` names the layout of the whole bundle)::

    query.json          {"format": "inspector.evidence-query/1", "filter": the filter as asked
                        (export.filter_to_json), "effective_filter": the same bounded by the head
                        ("before": head + 1, so events appended while reading are not part of it),
                        "sql": {"where", "params"} the store built for it, "order": "position",
                        "store": {"url" (no password), "layout", "table"}, "dialect", "made_at",
                        "actor" (who made it), "role", "states_at": position or null,
                        "states": {projection: {"file", "rows"}}}
    events.jsonl        one line per selected event in position order: canonical JSON (below) of
                        RecordedEvent.to_json(), each line ending in "\\n"
    states/NAME.jsonl   per projection asked for: its rows as of ``states_at`` (the last selected
                        event, unless given), key order, one {"key", "values": {field: value}} per
                        line (canonical JSON; missing values left out). The projection is folded
                        over the whole store up to that position, not over the selection alone.
    store.json          the fingerprint (below)
    inspector.json      {"inspector", "python", "sqlalchemy", "pandas", "platform", "format"}
    investigation.json  only when given: any JSON value (bookmarks, notes...), as given
    manifest.json       {"format", "algorithm": "sha256", "created_at", "files": [{"path",
                        "sha256", "bytes"}] for every member above, sorted by path}
    manifest.sha256     "<hex>  manifest.json\\n" (``sha256sum -c`` reads it after unzipping)

**Canonical JSON**: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`` encoded as UTF-8, where NaN and infinities are first replaced by the strings
"NaN", "Infinity", "-Infinity", mapping keys by their text, and values JSON has no word for by
``str(value)``.

**Fingerprint** (store.json): the document ``{"format": "inspector.store-fingerprint/1", "layout",
"table", "head_position": the largest position when the bundle was made, "store_events": the
number of events at or before it, "selection": {"count", "first_position", "last_position",
"events_sha256": SHA-256 of events.jsonl's bytes, i.e. of the selected events' canonical JSON
lines}}``; ``"fingerprint"`` is the SHA-256 (hex) of that document's canonical JSON. store.json
holds the document, ``"fingerprint"``, and (outside the hash, since the same data may be reached
at another address) ``"store_url"`` and ``"dialect"``. Masked values are part of the events'
JSON, so a viewer's bundle fingerprints what a viewer sees.

**What verification proves**: every member is the one the manifest lists (SHA-256 and size),
no member is missing or added, the manifest is the one manifest.sha256 hashes, and store.json
agrees with events.jsonl. Anyone who can rewrite the zip can rewrite all of these together; to
make a bundle tamper-evident, keep ``manifest.sha256``'s digest somewhere else (the ticket, a
signed mail) and pass it as ``expected_digest``. ``against``: re-read the store and check the
selected events are still the ones in the bundle."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import math
import platform
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator, Mapping, Sequence

from .. import __version__
from .checkpoints import StoreIdentity
from .errors import InspectorError
from .export import filter_from_json, filter_to_json
from .progress import drive
from .store_files import AtomicFile
from .model import EventFilter
from .roles import role_of
from .store import EventStore

__all__ = ["FORMAT", "BundleResult", "EvidenceError", "Problem", "VerifyReport", "canonical_json", "fingerprint",
           "iter_make_bundle", "make_bundle", "verify_bundle"]

FORMAT = "inspector.evidence/1"
FINGERPRINT_FORMAT = "inspector.store-fingerprint/1"
MANIFEST, MANIFEST_HASH = "manifest.json", "manifest.sha256"
UTC = dt.timezone.utc
CHUNK = 1 << 20
MAX_DIFFERENCES = 20  # event differences listed by a verification against the store
Progress = tuple[str, int, "int | None"]  # (step, done, total when known)


class EvidenceError(InspectorError):
    """A bundle that cannot be made as asked (or a file that is not a bundle at all)."""


# -- canonical JSON -------------------------------------------------------------------------------


def _canon(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return str(v)


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (see the module docstring)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, TypeError):  # NaN, non-text keys, values JSON has no word for
        return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()


def fingerprint(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the fingerprint document's canonical JSON (``doc`` without its own result)."""
    keep = {k: doc[k] for k in ("format", "layout", "table", "head_position", "store_events", "selection")}
    return hashlib.sha256(canonical_json(keep)).hexdigest()


def _event_lines(store: EventStore, flt: EventFilter, page_size: int) -> Iterator[tuple[int, bytes]]:
    for page in store.iter_pages(flt, page_size):
        for e in page.events:
            yield e.position, canonical_json(e.to_json()) + b"\n"


# -- making ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleResult:
    path: Path
    events: int
    fingerprint: str
    manifest_sha256: str
    states: dict[str, int]  # projection -> rows

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "events": self.events, "fingerprint": self.fingerprint,
                "manifest_sha256": self.manifest_sha256, "states": dict(self.states)}


class _Writer:
    """Members written into the zip while their SHA-256 and size are taken."""

    def __init__(self, zf: zipfile.ZipFile, when: dt.datetime):
        self.zf = zf
        self.date_time = when.astimezone(UTC).timetuple()[:6]
        self.files: dict[str, dict[str, Any]] = {}

    def _info(self, name: str) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, self.date_time)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        return zi

    def add(self, name: str, data: bytes) -> None:
        self.zf.writestr(self._info(name), data)
        self.files[name] = {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def stream(self, name: str, chunks: Iterable[bytes]) -> Generator[int, None, str]:
        """Write ``chunks`` as one member, yielding after each; returns its SHA-256."""
        h, n = hashlib.sha256(), 0
        with self.zf.open(self._info(name), "w", force_zip64=True) as fh:
            for chunk in chunks:
                fh.write(chunk)
                h.update(chunk)
                n += len(chunk)
                yield n
        self.files[name] = {"path": name, "sha256": h.hexdigest(), "bytes": n}
        return h.hexdigest()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "projection"


def _history_at(store: EventStore, p: Any, at: int, should_cancel: Callable[[], bool] | None) -> Any:
    """A History of projection ``p`` reaching ``at``: ``p`` itself when it is one that does (a
    History the caller built over this store), else ``p`` folded up to ``at``."""
    from .history import History, build_history

    if isinstance(p, History):
        # a History folds its projection's types only; any other filter would make it another read model
        if p.head is not None and p.head >= at and p.filter.with_(types=()).is_empty():
            return p
        p = p.projection
    return build_history(store, p, EventFilter(before=at + 1), should_cancel=should_cancel)


def iter_make_bundle(
    store: EventStore,
    flt: EventFilter,
    out: str | Path,
    *,
    projections: Sequence[Any] = (),
    at: int | None = None,
    investigation: Any = None,
    notes: str | Sequence[str] | None = None,
    actor: str | None = None,
    page_size: int = 5000,
    should_cancel: Callable[[], bool] | None = None,
) -> Generator[Progress, None, BundleResult]:
    """Make a bundle of the events ``flt`` selects, yielding (step, done, total) as it goes. See
    ``make_bundle``."""
    path = Path(out)
    made_at = dt.datetime.now(UTC)
    ident = StoreIdentity.of(store)
    role = role_of(store)
    head = store.head()
    bound = head + 1 if head is not None else None
    eff = flt if bound is None or (flt.before is not None and flt.before <= bound) else flt.with_(before=bound)
    where, params = store.where(eff)
    selected = store.count(eff)
    store_events = store.count(EventFilter(before=bound)) if bound is not None else 0
    yield "counting", 0, selected

    def cancelled() -> bool:
        return should_cancel is not None and should_cancel()

    atomic = AtomicFile(path, suffix=".part", prefix=f".{path.name}.", shared=True)
    try:
        with zipfile.ZipFile(atomic.tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            w = _Writer(zf, made_at)
            first = last = None
            count = 0

            def lines() -> Iterator[bytes]:
                nonlocal first, last, count
                buf: list[bytes] = []
                for pos, line in _event_lines(store, eff, page_size):
                    first = pos if first is None else first
                    last = pos
                    count += 1
                    buf.append(line)
                    if len(buf) >= 1000:
                        yield b"".join(buf)
                        buf = []
                if buf:
                    yield b"".join(buf)

            gen = w.stream("events.jsonl", lines())
            try:
                while True:
                    next(gen)
                    if cancelled():
                        raise EvidenceError(f"making {path.name} was cancelled")
                    yield "events", count, selected
            except StopIteration as stop:
                events_sha = stop.value
            finally:
                gen.close()  # a member left open would keep the zip from closing when this is abandoned
            states_at = at if at is not None else last
            states: dict[str, dict[str, Any]] = {}
            if projections and states_at is not None:
                from .replay_fold import frame_rows

                for i, p in enumerate(projections):
                    name = getattr(p, "name", None) or p.projection.name
                    yield f"state of {name}", i, len(projections)
                    hist = _history_at(store, p, states_at, should_cancel)
                    df = hist.as_of(states_at)
                    member = f"states/{_safe_name(name)}.jsonl"
                    if member in w.files:  # two projections whose names differ only in odd characters
                        member = f"states/{_safe_name(name)}-{i + 1}.jsonl"
                    rows = (canonical_json(r) + b"\n" for r in frame_rows(df, len(df)))
                    for _ in w.stream(member, rows):
                        pass
                    states[name] = {"file": member, "rows": len(df)}
            if cancelled():
                raise EvidenceError(f"making {path.name} was cancelled")
            query = {
                "format": "inspector.evidence-query/1",
                "filter": filter_to_json(flt),
                "effective_filter": filter_to_json(eff),
                "sql": {"where": where.strip(), "params": {k: _param(v) for k, v in params.items()}},
                "order": "position",
                "store": ident.to_json(),
                "dialect": store.dialect.name,
                "made_at": made_at.isoformat(),
                "actor": actor or _user(),
                "role": str(role),
                "states_at": states_at if states else None,
                "states": states,
            }
            w.add("query.json", _pretty(query))
            doc: dict[str, Any] = {
                "format": FINGERPRINT_FORMAT, "layout": ident.layout, "table": ident.table, "head_position": head,
                "store_events": store_events,
                "selection": {"count": count, "first_position": first, "last_position": last,
                              "events_sha256": events_sha},
            }
            doc["fingerprint"] = fingerprint(doc)
            doc["store_url"] = ident.url
            doc["dialect"] = store.dialect.name
            w.add("store.json", _pretty(doc))
            w.add("inspector.json", _pretty(_versions()))
            if investigation is not None or notes:
                w.add("investigation.json", _pretty(_investigation(investigation, notes)))
            manifest = {"format": FORMAT, "algorithm": "sha256", "created_at": made_at.isoformat(),
                        "files": sorted(w.files.values(), key=lambda f: f["path"])}
            mdata = _pretty(manifest)
            digest = hashlib.sha256(mdata).hexdigest()
            w.add(MANIFEST, mdata)
            w.add(MANIFEST_HASH, f"{digest}  {MANIFEST}\n".encode())
        atomic.commit()
    except BaseException:
        atomic.discard()
        raise
    yield "done", count, selected
    return BundleResult(path, count, doc["fingerprint"], digest, {k: v["rows"] for k, v in states.items()})


def make_bundle(store: EventStore, flt: EventFilter, out: str | Path, *, projections: Sequence[Any] = (),
                at: int | None = None, investigation: Any = None, notes: str | Sequence[str] | None = None,
                actor: str | None = None, page_size: int = 5000,
                progress: Callable[[str, int, int | None], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> BundleResult:
    """Write an evidence bundle (see the module docstring) of the events ``flt`` selects to
    ``out``, atomically. ``projections``: Projection objects (folded here, up to the states'
    position) or Histories already built over this store (used as they are when they reach it);
    ``at``: the states' position (default: the last selected event); ``investigation``: any
    JSON-able value (bookmarks, notes), kept as investigation.json, with ``notes`` added to it;
    ``actor``: who made it (default: the operating-system user)."""
    gen = iter_make_bundle(store, flt, out, projections=projections, at=at, investigation=investigation,
                           notes=notes, actor=actor, page_size=page_size, should_cancel=should_cancel)
    return drive(gen, progress)


def _investigation(investigation: Any, notes: str | Sequence[str] | None) -> Any:
    """``investigation`` as given, with ``notes`` added to its "notes" (a dict), or both side by side."""
    notes = [notes] if isinstance(notes, str) else list(notes or ())
    # notes given for this bundle take the shape of a saved investigation's notes
    notes = [{"text": n, "checkpoint": None, "source": "bundle"} if isinstance(n, str) else n for n in notes]
    if not notes:
        return investigation
    if investigation is None:
        return {"notes": notes}
    if isinstance(investigation, Mapping):
        kept = investigation.get("notes")
        kept = list(kept) if isinstance(kept, (list, tuple)) else ([kept] if kept is not None else [])
        return {**investigation, "notes": kept + notes}
    return {"investigation": investigation, "notes": notes}


def _param(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)


def _pretty(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return None


def _versions() -> dict[str, Any]:
    import sqlalchemy

    out = {"format": FORMAT, "inspector": __version__, "python": platform.python_version(),
           "sqlalchemy": sqlalchemy.__version__, "platform": platform.platform()}
    try:
        import pandas

        out["pandas"] = pandas.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


# -- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle. ``kind``: unreadable, missing, extra, modified, duplicate,
    manifest, inconsistent, digest, store."""

    kind: str
    file: str | None
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "message": self.message}


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    problems: tuple[Problem, ...]
    files: int = 0
    manifest_sha256: str | None = None
    fingerprint: str | None = None
    events: int | None = None
    role: str | None = None
    store: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())  # what was checked beyond the files (informational)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [p.line() for p in self.problems]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "problems": [p.to_json() for p in self.problems],
                "files": self.files, "manifest_sha256": self.manifest_sha256, "fingerprint": self.fingerprint,
                "events": self.events, "role": self.role, "store": self.store, "notes": list(self.notes)}


def _short(h: str | None) -> str:
    return (h or "")[:16]


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int, int]:
    """(SHA-256, bytes, lines) of a member, read a chunk at a time."""
    h, n, lines = hashlib.sha256(), 0, 0
    with zf.open(info) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
            lines += chunk.count(b"\n")
    return h.hexdigest(), n, lines


def verify_bundle(path: str | Path, *, against: EventStore | None = None, expected_digest: str | None = None,
                  page_size: int = 5000) -> VerifyReport:
    """Check a bundle: every member's SHA-256 and size against the manifest, members missing or
    not listed, the manifest against manifest.sha256 (and ``expected_digest`` when given),
    store.json against events.jsonl; with ``against``, the store's events against the bundle's.
    Never raises for a damaged bundle: each problem is reported with the file it concerns."""
    path = Path(path)
    problems: list[Problem] = []
    notes: list[str] = []

    def bad(kind: str, file: str | None, message: str) -> None:
        problems.append(Problem(kind, file, message))

    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        return VerifyReport(path, (Problem("unreadable", None, f"not a readable zip file: {e}"),))
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in by_name:
                bad("duplicate", info.filename, "appears more than once in the zip (which copy is meant is ambiguous)")
            by_name[info.filename] = info
        actual: dict[str, tuple[str, int, int] | None] = {}
        for name, info in by_name.items():
            if name.startswith("/") or ".." in name.split("/"):
                bad("extra", name, "a path outside the bundle")
            try:
                actual[name] = _hash_member(zf, info)
            except Exception as e:  # noqa: BLE001 - a CRC mismatch, corrupt deflate data (zlib.error)...
                actual[name] = None
                bad("unreadable", name, f"damaged: cannot be read from the zip ({type(e).__name__}: {e})")

        def read(name: str) -> bytes | None:
            if actual.get(name) is None:
                return None
            try:
                return zf.read(by_name[name])
            except Exception:  # noqa: BLE001 - reported above
                return None

        manifest_bytes = read(MANIFEST) if MANIFEST in by_name else None
        digest = hashlib.sha256(manifest_bytes).hexdigest() if manifest_bytes is not None else None
        if MANIFEST not in by_name:
            bad("missing", MANIFEST, "missing: without the manifest nothing can be checked")
        if MANIFEST_HASH not in by_name:
            bad("missing", MANIFEST_HASH, "missing: the manifest's own hash cannot be checked")
        elif digest is not None:
            text = (read(MANIFEST_HASH) or b"").decode("utf-8", "replace").split()
            recorded = text[0].lower() if text else ""
            if recorded != digest:
                if not re.fullmatch(r"[0-9a-f]{64}", recorded):
                    bad("manifest", MANIFEST_HASH, "modified: it does not hold a SHA-256 digest")
                else:
                    bad("manifest", MANIFEST, f"modified: its SHA-256 is {_short(digest)}…, manifest.sha256 records "
                        f"{_short(recorded)}…")
        if expected_digest is not None and digest is not None and digest != expected_digest.strip().lower():
            bad("digest", MANIFEST, f"is not the manifest expected: SHA-256 {_short(digest)}…, expected "
                f"{_short(expected_digest.strip().lower())}…")
        manifest: dict[str, Any] | None = None
        if manifest_bytes is not None:
            try:
                manifest = json.loads(manifest_bytes)
                if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
                    raise ValueError("no file list")
            except (ValueError, UnicodeDecodeError) as e:
                bad("manifest", MANIFEST, f"is not a readable manifest ({e})")
                manifest = None
        listed: dict[str, dict[str, Any]] = {}
        if manifest is not None:
            if manifest.get("format") != FORMAT:
                notes.append(f"manifest format {manifest.get('format')!r} (this inspector writes {FORMAT})")
            for entry in manifest["files"]:
                if not isinstance(entry, dict) or "path" not in entry:
                    bad("manifest", MANIFEST, f"holds an entry without a path: {entry!r}")
                    continue
                listed[str(entry["path"])] = entry
            for name, entry in sorted(listed.items()):
                got = actual.get(name, ...)
                if got is ...:
                    bad("missing", name, "missing from the bundle (listed in the manifest)")
                elif got is None:
                    continue  # unreadable: said already
                elif got[0] != str(entry.get("sha256", "")).lower():
                    size = "" if got[1] == entry.get("bytes") else f", {got[1]:,} bytes instead of {entry.get('bytes')}"
                    bad("modified", name, f"modified: SHA-256 {_short(got[0])}… instead of "
                        f"{_short(str(entry.get('sha256')))}…{size}")
                elif got[1] != entry.get("bytes"):
                    bad("modified", name, f"size {got[1]:,} bytes instead of {entry.get('bytes')}")
            for name in sorted(set(by_name) - set(listed) - {MANIFEST, MANIFEST_HASH}):
                bad("extra", name, "not listed in the manifest (added after the bundle was made)")
        store_doc = _json_member(read, "store.json", bad) if "store.json" in by_name else None
        query = _json_member(read, "query.json", bad) if "query.json" in by_name else None
        for required in ("events.jsonl", "store.json", "query.json"):
            if required not in by_name and required not in listed:
                bad("missing", required, "missing from the bundle")
        events = None
        if store_doc is not None:
            events = _check_store_doc(store_doc, actual.get("events.jsonl"), bad)
        if against is not None and store_doc is not None and query is not None and "events.jsonl" in by_name:
            _check_against(against, query, store_doc, zf, by_name["events.jsonl"], page_size, bad, notes)
    fp = store_doc.get("fingerprint") if isinstance(store_doc, dict) else None
    return VerifyReport(path, tuple(problems), len(names), digest, fp, events,
                        query.get("role") if isinstance(query, dict) else None,
                        query.get("store") if isinstance(query, dict) else None, tuple(notes))


def _json_member(read: Callable[[str], bytes | None], name: str, bad: Callable[..., None]) -> Any:
    data = read(name)
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        bad("inconsistent", name, f"is not readable JSON ({e})")
        return None
    if not isinstance(doc, dict):
        bad("inconsistent", name, "is not a JSON object")
        return None
    return doc


def _check_store_doc(doc: dict[str, Any], events_hash: tuple[str, int, int] | None,
                     bad: Callable[..., None]) -> int | None:
    """store.json against itself (its fingerprint) and against events.jsonl (hash and count)."""
    try:
        sel = doc["selection"]
        want = fingerprint(doc)
    except (KeyError, TypeError):
        bad("inconsistent", "store.json", "lacks the fingerprint fields")
        return None
    if doc.get("fingerprint") != want:
        bad("inconsistent", "store.json", f"its fingerprint {_short(doc.get('fingerprint'))}… does not match its "
            f"contents ({_short(want)}…)")
    if events_hash is None:
        return sel.get("count")
    if events_hash[0] != sel.get("events_sha256"):
        bad("inconsistent", "events.jsonl", f"does not match the fingerprint in store.json (SHA-256 "
            f"{_short(events_hash[0])}…, store.json records {_short(sel.get('events_sha256'))}…)")
        return sel.get("count")
    if events_hash[2] != sel.get("count"):
        bad("inconsistent", "events.jsonl", f"holds {events_hash[2]:,} events, store.json says {sel.get('count')}")
    return sel.get("count")


def _check_against(store: EventStore, query: dict[str, Any], doc: dict[str, Any], zf: zipfile.ZipFile,
                   events: zipfile.ZipInfo, page_size: int, bad: Callable[..., None], notes: list[str]) -> None:
    """The store's events, selected again with the bundle's effective filter, against the bundle's."""
    ident = StoreIdentity.of(store)
    if (ident.layout, ident.table) != (doc.get("layout"), doc.get("table")):
        bad("store", None, f"the store is read as layout {ident.layout} table {ident.table}; the bundle was made "
            f"from layout {doc.get('layout')} table {doc.get('table')}")
        return
    role = str(role_of(store))
    if query.get("role") and role != query.get("role"):
        bad("store", None, f"the bundle was made as {query.get('role')} and the store is read as {role}: masked "
            f"values would differ; verify with --role {query.get('role')}")
        return
    if doc.get("store_url") and doc.get("store_url") != ident.url:
        notes.append(f"compared with {ident.url} (the bundle was made from {doc.get('store_url')})")
    try:
        eff = filter_from_json(query.get("effective_filter") or query.get("filter"))
    except (InspectorError, ValueError, TypeError) as e:
        bad("inconsistent", "query.json", f"its filter cannot be read ({e})")
        return
    head = doc.get("head_position")
    now = store.head()
    if head is not None and (now is None or now < head):
        bad("store", None, f"the store's head is now {now}, before the bundle's head {head}: events were removed")
    elif head is not None and now != head:
        notes.append(f"the store's head moved from {head} to {now}; events after {head} are not part of the bundle")
    if head is not None:
        n = store.count(EventFilter(before=head + 1))
        if n != doc.get("store_events"):
            bad("store", None, f"the store holds {n:,} events at or before position {head}; the bundle recorded "
                f"{doc.get('store_events'):,} (events were added or removed at or before its head)")
    h = hashlib.sha256()
    diffs = 0
    mine = _event_lines(store, eff, page_size)
    with zf.open(events) as fh:
        theirs = ((_pos_of(line), line) for line in fh)
        a, b = next(mine, None), next(theirs, None)
        while a is not None or b is not None:
            if a is not None and b is not None and a[0] == b[0]:
                h.update(a[1])
                if a[1] != b[1]:
                    diffs += 1
                    if diffs <= MAX_DIFFERENCES:
                        bad("store", "events.jsonl", f"the event at position {a[0]} differs from the store's")
                a, b = next(mine, None), next(theirs, None)
            elif b is None or (a is not None and b[0] is not None and a[0] < b[0]):
                h.update(a[1])
                diffs += 1
                if diffs <= MAX_DIFFERENCES:
                    bad("store", "events.jsonl", f"the store holds an event at position {a[0]} that the bundle does not")
                a = next(mine, None)
            else:
                diffs += 1
                if diffs <= MAX_DIFFERENCES:
                    bad("store", "events.jsonl", f"the event at position {b[0]} is no longer in the store"
                        if b[0] is not None else "holds a line that is not an event")
                b = next(theirs, None)
    if diffs > MAX_DIFFERENCES:
        bad("store", "events.jsonl", f"… {diffs - MAX_DIFFERENCES:,} more differences")
    if not diffs:
        notes.append(f"the store's events match the bundle's (SHA-256 {_short(h.hexdigest())}…)")


def _pos_of(line: bytes) -> int | None:
    try:
        return int(json.loads(line)["position"])
    except (ValueError, KeyError, TypeError):
        return None
