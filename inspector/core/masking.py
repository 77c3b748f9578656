"""Masking personal data: the rules plugins give (``MaskRule``: which fields of which event types),
and the functions that apply them to decoded values and to decode errors. Pure functions over
plain values; ``roles.RoleStore`` applies them to every event a viewer reads.

A masked value becomes ``MASK`` whatever it was (string, number, object, null), so neither its type
nor its length shows; keys stay (an event's shape is its schema, not its data). A fixed marker, not
a pseudonym: a hash of a low-entropy value such as an e-mail address is reversed by guessing."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

#: What a viewer sees instead of a personal-data value.
MASK = "•••"
#: What a viewer's raw-payload view shows instead of the stored bytes.
RAW_WITHHELD = f"{MASK} the stored payload is withheld from viewers"

Pattern = tuple[str, ...]

_GLOB = re.compile(r"[*?]")
_BAD = re.compile(r"[\[\]]")


def compile_path(path: str) -> tuple[str, ...]:
    """A field path as lower-case segments. ``a.b`` is key ``b`` inside key ``a``; ``lines[].note``
    (or ``lines.note``: lists are walked into either way) is ``note`` in every item of ``lines``;
    ``*`` and ``?`` glob within a segment (``*email*``); ``**`` stands for any number of levels
    (``**.email``: an ``email`` key at any depth). Keys match case-insensitively. A path ending in
    ``.**`` masks its parent whole."""
    text = path.strip()
    segs: list[str] = []
    for raw in text.split("."):
        seg = raw.strip()
        if seg.endswith("[]"):
            seg = seg[:-2]
            if not seg:  # "[]" alone: the items of a list at this level, walked anyway
                continue
        if not seg or _BAD.search(seg):
            raise ValueError(f"bad masking path {path!r}: segments are keys, globs (*, ?) or **, "
                             "a list's items are written name[]")
        segs.append(seg.lower())
    while segs and segs[-1] == "**":
        segs.pop()
    if not segs:
        raise ValueError(f"bad masking path {path!r}: it names no field")
    return tuple(segs)


def _tuple(v: Any) -> tuple[str, ...]:
    return (v,) if isinstance(v, str) else tuple(v)


@dataclass(frozen=True)
class MaskRule:
    """Fields that hold personal data. ``fields`` are paths in the payload and ``metadata`` paths
    in the metadata (see ``compile_path``); ``types`` the event types (or command types) the rule
    is for, globs allowed, none meaning all; ``layouts`` the layouts it is for, none meaning all;
    ``why`` says what the fields hold, for people reading the rule list."""

    fields: tuple[str, ...] = ()
    metadata: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()
    why: str = ""

    def __post_init__(self) -> None:
        for name in ("fields", "metadata", "types", "layouts"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        for p in self.fields + self.metadata:
            compile_path(p)  # fail when the plugin is loaded, not on the first event
        if not (self.fields or self.metadata):
            raise ValueError("a masking rule names no field (give fields or metadata)")

    def for_layout(self, layout: str | None) -> bool:
        return not self.layouts or layout is None or layout in self.layouts

    def for_type(self, etype: str | None) -> bool:
        if not self.types:
            return True
        if etype is None:  # an event of unknown type: every typed rule may be about it
            return True
        return any(t == etype or (_GLOB.search(t) and fnmatch.fnmatchcase(etype, t)) for t in self.types)

    def describe(self) -> str:
        where = ", ".join(self.types) if self.types else "all events"
        what = ", ".join(list(self.fields) + [f"metadata.{m}" for m in self.metadata])
        return f"{where}: {what}" + (f" ({self.why})" if self.why else "")


#: A viewer with no rules at all sees keys but no values: "no rules" more likely means a broken
#: plugin than a store without personal data, so it fails closed.
EVERYTHING: tuple[Pattern, ...] = (("*",),)


# -- matching keys -------------------------------------------------------------------------------


def _closure(pats: Sequence[Pattern]) -> tuple[Pattern, ...]:
    """The patterns plus, for each ``**`` in front, the pattern with it standing for no level."""
    out = list(dict.fromkeys(pats))
    i = 0
    while i < len(out):
        p = out[i]
        if p[0] == "**" and len(p) > 1 and p[1:] not in out:
            out.append(p[1:])
        i += 1
    return tuple(out)


def _seg_match(seg: str, key: str) -> bool:
    return fnmatch.fnmatchcase(key, seg) if _GLOB.search(seg) else seg == key


_WHOLE = object()  # Matcher.step: mask the value under this key whole
_SKIP = object()  # Matcher.step: nothing under this key is masked
_MAX_KEYS = 100_000  # keys remembered per matcher (a store with random key names must not grow it forever)


class Matcher:
    """Patterns at one level of a document. ``step(key)`` says what they make of a key: mask its
    value whole, leave it, or go on below with the Matcher it returns. Keys repeat from event to
    event, so each answer is worked out once and remembered; matchers are shared by pattern set."""

    __slots__ = ("pats", "_keys")
    _interned: dict[tuple[Pattern, ...], "Matcher"] = {}

    def __init__(self, pats: tuple[Pattern, ...]):
        self.pats = _closure(pats)
        self._keys: dict[Any, Any] = {}

    @classmethod
    def of(cls, pats: Iterable[Pattern]) -> "Matcher | None":
        key = tuple(dict.fromkeys(pats))
        if not key:
            return None
        m = cls._interned.get(key)
        if m is None:
            m = cls._interned[key] = cls(key)
        return m

    def step(self, key: Any) -> Any:
        r = self._keys.get(key)
        if r is not None:
            return r
        low = key.lower() if isinstance(key, str) else str(key).lower()
        sub: list[Pattern] = []
        r = _SKIP
        for p in self.pats:
            if p[0] == "**":
                sub.append(p)  # swallows this level and goes on looking below
            elif _seg_match(p[0], low):
                if len(p) == 1:
                    r = _WHOLE
                    break
                sub.append(p[1:])
        if r is not _WHOLE and sub:
            r = Matcher.of(sub)
        if len(self._keys) < _MAX_KEYS:
            self._keys[key] = r
        return r


def _mask(value: Any, m: Matcher) -> Any:
    if isinstance(value, list):  # lists are walked into: "lines.note" is "lines[].note"
        out = [_mask(item, m) for item in value]
        return out if any(a is not b for a, b in zip(out, value)) else value
    if not isinstance(value, dict):
        return value
    new: dict | None = None
    step = m.step
    for k, v in value.items():
        r = step(k)
        if r is _SKIP:
            continue
        masked = MASK if r is _WHOLE else _mask(v, r)
        if masked is not v:
            if new is None:
                new = dict(value)
            new[k] = masked
    return value if new is None else new


def mask_value(value: Any, pats: Iterable[Pattern] | Matcher | None) -> Any:
    """``value`` with every field the patterns name replaced by ``MASK``. Copies only the containers
    on the way to a masked field; returns ``value`` itself when nothing matched."""
    m = pats if isinstance(pats, Matcher) or pats is None else Matcher.of(pats)
    return value if m is None else _mask(value, m)


def mask_part(value: Any, m: Matcher | None) -> Any:
    """A payload or metadata: fields masked; text (plain, XML) withheld whole where any pattern
    applies, since no field can be found in it."""
    if m is None or value is None:
        return value
    if isinstance(value, (str, bytes)):
        return MASK
    return _mask(value, m)


def path_masked(m: Matcher | None, path: Sequence[str]) -> bool:
    """Whether the patterns mask the value at ``path`` (or a container holding it)."""
    if m is None:
        return False
    probe: Any = "x"
    for seg in reversed(path):
        probe = {seg: probe}
    return _mask(probe, m) is not probe


class Masker:
    """The rules that apply in one store (by layout), as matchers per event type."""

    def __init__(self, rules: Iterable[MaskRule], layout: str | None = None):
        self.rules = tuple(r for r in rules if r.for_layout(layout))
        self._plans: dict[str | None, tuple[Matcher | None, Matcher | None]] = {}
        if self.rules:
            self.all_data = Matcher.of(compile_path(p) for r in self.rules for p in r.fields)
            self.all_meta = Matcher.of(compile_path(p) for r in self.rules for p in r.metadata)
        else:
            self.all_data = self.all_meta = Matcher.of(EVERYTHING)

    def plan(self, etype: str | None) -> tuple[Matcher | None, Matcher | None]:
        """(payload matcher, metadata matcher) for events of ``etype``; None where nothing is masked."""
        plan = self._plans.get(etype)
        if plan is None:
            if not self.rules:
                plan = (self.all_data, self.all_meta)
            else:
                rules = [r for r in self.rules if r.for_type(etype)]
                plan = (Matcher.of(compile_path(p) for r in rules for p in r.fields),
                        Matcher.of(compile_path(p) for r in rules for p in r.metadata))
            if len(self._plans) < 10_000:  # types are few; a store of random type names must not grow this
                self._plans[etype] = plan
        return plan

    def untyped(self, value: Any) -> Any:
        """A payload read without its type (a command's): every rule's fields masked."""
        return mask_part(value, self.all_data)


# -- decode errors ---------------------------------------------------------------------------------

#: Decode errors of the built-in codecs that describe a payload's structure and never quote it.
_SAFE_ERRORS = ("corrupt JSON", "JSON nested too deeply", "payload is not valid UTF-8", "encrypted payload",
                "corrupt zlib", "corrupt gzip", "corrupt bz2", "corrupt xz", "zlib payload", "gzip payload",
                "bz2 payload", "xz payload", "zlib stream", "gzip stream", "bz2 stream", "xz stream", "more than ",
                "zstd-compressed payload", "lz4-compressed payload", "corrupt XML metadata")
_BINARY = "unrecognised binary payload ("


def _viewer_error_part(error: str, encoding: str | None) -> str:
    if error.startswith(_SAFE_ERRORS):
        return error
    if error.startswith(_BINARY):  # its size, not its first bytes
        return error.split(":", 1)[0]
    return f"payload not decoded ({encoding or 'unknown encoding'}); the reason is withheld from viewers"


def withheld_error(error: str, encoding: str | None) -> str:
    """A decode error as a viewer may read it: the built-in codecs' structural messages as they
    are, a binary payload's size without its first bytes in hex, anything else (a plugin codec's
    exception may quote the payload) replaced by a fixed text."""
    payload, sep, meta = error.partition("; metadata: ")
    if payload.startswith("metadata: ") and not sep:
        return "metadata: " + _viewer_error_part(payload[len("metadata: "):], None)
    out = _viewer_error_part(payload, encoding)
    return out + (sep + _viewer_error_part(meta, None) if sep else "")



def holds_mask(value: Any) -> bool:
    """Whether ``value`` (an event's data, a command's fields, a plan) holds ``MASK`` anywhere: such
    a value was read by a viewer and must not be written back to a store."""
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(holds_mask(k) or holds_mask(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_mask(v) for v in value)
    return False


