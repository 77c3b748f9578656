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


def write_atomic(path: Path, text: str, *, tmp_prefix: str | None = None, tmp_suffix: str = ".tmp",
                 durable: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; ``durable``: flushed to disk before the
    rename. The temporary file (``<name>.XXXX.tmp`` unless told) is removed on any failure."""
    prefix = tmp_prefix if tmp_prefix is not None else path.name + "."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=tmp_suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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


__all__ = ["read_store_json", "write_atomic", "write_json"]
