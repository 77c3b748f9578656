"""The inspector's own files: written atomically (a temporary file in the same folder, then
``os.replace``, so a crash leaves the old file or the new one), and the per-store JSON books
(checkpoints, investigations) read with any defect reported and the file left as it is."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from .checkpoints import StoreIdentity

T = TypeVar("T")


_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it), then put back
os.umask(_UMASK)


class AtomicFile:
    """A temporary file beside ``path`` (``<prefix>XXXX<suffix>``), to be written by the caller
    and then renamed over ``path`` by ``commit`` or removed by ``discard``: a crash leaves the old
    file or the new one, never half of one. ``shared``: the new file gets the mode any new file
    would get (exports, plans and bundles are for sharing), not mkstemp's private 0600."""

    def __init__(self, path: Path, *, prefix: str | None = None, suffix: str = ".tmp", shared: bool = False):
        self.path, self.shared = Path(path), shared
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix if prefix is not None else self.path.name + ".", suffix=suffix,
                                   dir=folder)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self, durable: bool = True) -> int:
        """Rename the written file over ``path`` (flushed to disk first when ``durable``); its size."""
        if durable:
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if self.shared:
            os.chmod(self.tmp, 0o666 & ~_UMASK)
        os.replace(self.tmp, self.path)
        return self.path.stat().st_size

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str, *, tmp_prefix: str | None = None, tmp_suffix: str = ".tmp",
                 durable: bool = True, shared: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) through an ``AtomicFile``; ``durable``: flushed to
    disk before the rename. The temporary file is removed on any failure."""
    atomic = AtomicFile(path, prefix=tmp_prefix, suffix=tmp_suffix, shared=shared)
    try:
        atomic.tmp.write_text(text, encoding="utf-8")
        atomic.commit(durable)
    except BaseException:
        atomic.discard()
        raise


def write_json(path: Path, doc: Any, *, newline: bool = False, **atomic: Any) -> None:
    """``doc`` as indented JSON (a final newline when ``newline``), its folder made if need be,
    written with ``write_atomic`` (which takes ``atomic``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2) + ("\n" if newline else ""), **atomic)


def read_store_json(path: Path, fmt: str, identity: "StoreIdentity", parse: Callable[[dict[str, Any]], T],
                    error: Callable[[str], Exception], what: str) -> T | None:
    """``parse`` of the JSON book at ``path`` (None when there is no file), checked to be of
    format ``fmt`` and to belong to ``identity``'s store. Any defect raises ``error`` naming the
    ``what`` file, and nothing is written over it."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != fmt:
            raise ValueError(f"format is {doc.get('format') if isinstance(doc, dict) else None!r}, not {fmt!r}")
        if type(identity).from_json(doc["store"]) != identity:
            raise ValueError(f"it belongs to {doc['store'].get('url')}")
        return parse(doc)
    except Exception as e:  # noqa: BLE001 - any defect: say so, touch nothing
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise error(f"{what} file {path} cannot be read ({why}); "
                    "fix it or move it away (it was left as it is)") from None


__all__ = ["AtomicFile", "read_store_json", "write_atomic", "write_json"]
