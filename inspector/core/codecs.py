"""Payload codecs: turn what a store keeps (jsonb, JSON text, JSON bytes, zlib, XML, ciphertext,
opaque binary) into a value people can read, and never raise while doing it.

A ``Codec`` either recognises raw stored bytes/text (``kind="raw"``) or rewrites an already
decoded JSON value (``kind="value"``, such as the eventsourcing library's ``_type_`` markers).
Plugins add codecs through the ``register_codecs`` hook."""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence


@dataclass(frozen=True)
class Decoded:
    value: Any
    encoding: str | None
    error: str | None = None


class DecodeFailed(Exception):
    """Raised inside a codec; the pipeline turns it into ``Decoded.error``."""


@dataclass(frozen=True)
class Codec:
    """``sniff(raw)`` says cheaply whether this codec applies to raw bytes/text; ``decode(raw)``
    returns a value, or ``(inner_bytes, None)`` via ``unwrap`` for layers such as compression."""

    name: str
    kind: str = "raw"  # "raw" or "value"
    sniff: Callable[[Any], bool] | None = None
    decode: Callable[[Any], Any] | None = None
    unwrap: bool = False  # decode() returns inner raw data to decode again (compression layers)
    priority: int = 100  # lower runs first


MAX_ERROR_HEX = 32


def _hex_preview(raw: bytes) -> str:
    h = raw[:MAX_ERROR_HEX].hex(" ")
    return h + (" …" if len(raw) > MAX_ERROR_HEX else "")


def looks_random(raw: bytes) -> bool:
    """Ciphertext and random bytes: byte distribution close to uniform for the length."""
    n = len(raw)
    if n < 24:
        return False
    counts = Counter(raw)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    ceiling = min(8.0, math.log2(n))
    return entropy >= 0.88 * ceiling


# -- built-in raw codecs --------------------------------------------------------------------


def _first_significant(raw: bytes | str) -> str:
    s = raw[:64].lstrip() if isinstance(raw, str) else raw[:64].lstrip().decode("latin-1")
    return s[:1]


def _sniff_json(raw: Any) -> bool:
    c = _first_significant(raw)
    return c in ("{", "[", "\"")


def _decode_json(raw: Any) -> Any:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeFailed(f"payload is not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start})")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise DecodeFailed(f"corrupt JSON: {e.msg} at line {e.lineno} column {e.colno}")


def _sniff_zlib(raw: Any) -> bool:
    return (
        isinstance(raw, bytes)
        and len(raw) >= 2
        and raw[0] & 0x0F == 8
        and (raw[0] * 256 + raw[1]) % 31 == 0
    )


def _decode_zlib(raw: bytes) -> bytes:
    try:
        d = zlib.decompressobj()
        out = d.decompress(raw)
        if not d.eof:
            raise DecodeFailed(f"zlib stream truncated ({len(raw)} bytes, ended early)")
        return out
    except zlib.error as e:
        raise DecodeFailed(f"corrupt zlib stream: {e}")


def _sniff_gzip(raw: Any) -> bool:
    return isinstance(raw, bytes) and raw[:2] == b"\x1f\x8b"


def _decode_gzip(raw: bytes) -> bytes:
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(raw)
        if not d.eof:
            raise DecodeFailed("gzip stream truncated")
        return out
    except zlib.error as e:
        raise DecodeFailed(f"corrupt gzip stream: {e}")


def _sniff_xml(raw: Any) -> bool:
    return _first_significant(raw) == "<"


def _decode_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeFailed(f"payload is not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start})")


BUILTIN_CODECS: tuple[Codec, ...] = (
    Codec("zlib", sniff=_sniff_zlib, decode=_decode_zlib, unwrap=True, priority=10),
    Codec("gzip", sniff=_sniff_gzip, decode=_decode_gzip, unwrap=True, priority=11),
    Codec("json", sniff=_sniff_json, decode=_decode_json, priority=50),
    Codec("xml", sniff=_sniff_xml, decode=_decode_text, priority=60),
)


class CodecPipeline:
    """Runs raw codecs (unwrapping layers) and then value codecs over the result."""

    def __init__(self, codecs: Iterable[Codec] = BUILTIN_CODECS):
        codecs = sorted(codecs, key=lambda c: c.priority)
        self.raw: Sequence[Codec] = [c for c in codecs if c.kind == "raw"]
        self.value: Sequence[Codec] = [c for c in codecs if c.kind == "value"]

    def decode(self, raw: Any) -> Decoded:
        if raw is None:
            return Decoded(None, None)
        if isinstance(raw, memoryview):
            raw = raw.tobytes()
        elif isinstance(raw, bytearray):
            raw = bytes(raw)
        if not isinstance(raw, (bytes, str)):
            # already decoded by the driver (jsonb, json on MariaDB with a JSON type, numbers)
            return Decoded(self._values(raw), "json")
        layers: list[str] = []
        for _ in range(4):  # nested compression at most a few layers deep
            for codec in self.raw:
                try:
                    if not codec.sniff(raw):
                        continue
                    out = codec.decode(raw)
                except DecodeFailed as e:
                    return Decoded(None, "+".join(layers + [codec.name]), str(e))
                except Exception as e:  # a plugin codec must not stop a read
                    return Decoded(None, "+".join(layers + [codec.name]), f"codec {codec.name} failed: {e!r}")
                if codec.unwrap:
                    layers.append(codec.name)
                    raw = out
                    break
                return Decoded(self._values(out), "+".join(layers + [codec.name]))
            else:
                return self._unrecognised(raw, layers)
        return Decoded(None, "+".join(layers), "too many nested compression layers")

    def _unrecognised(self, raw: bytes | str, layers: list[str]) -> Decoded:
        enc = "+".join(layers)
        if isinstance(raw, str):
            return Decoded(raw, (enc + "+" if enc else "") + "text")
        if not raw:
            return Decoded(None, enc or "empty", "empty payload")
        try:
            text = raw.decode("utf-8")
            if text.isprintable() or all(ch.isprintable() or ch.isspace() for ch in text[:4096]):
                return Decoded(text, (enc + "+" if enc else "") + "text")
        except UnicodeDecodeError:
            pass
        if looks_random(raw):
            return Decoded(
                None,
                "encrypted",
                f"encrypted payload ({len(raw)} bytes): looks like ciphertext; it cannot be shown without the key",
            )
        return Decoded(None, "binary", f"unrecognised binary payload ({len(raw)} bytes): {_hex_preview(raw)}")

    def _values(self, value: Any) -> Any:
        for codec in self.value:
            try:
                value = codec.decode(value)
            except Exception:  # a broken value codec leaves the value as it was
                continue
        return value


# -- Axon's XStream metadata -----------------------------------------------------------------


def _sniff_axon_metadata(raw: Any) -> bool:
    head = raw[:64] if isinstance(raw, str) else raw[:64].decode("latin-1")
    return head.lstrip().startswith("<meta-data")


def _decode_axon_metadata(raw: Any) -> dict[str, Any]:
    """``<meta-data><entry><string>key</string><string>value</string></entry>…</meta-data>`` to a dict,
    so correlation and trace ids in Axon's metadata can be read like any other metadata."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(raw if isinstance(raw, str) else raw.decode("utf-8"))
    except (ET.ParseError, UnicodeDecodeError) as e:
        raise DecodeFailed(f"corrupt XML metadata: {e}")
    out: dict[str, Any] = {}
    for entry in root.iter("entry"):
        kids = list(entry)
        if len(kids) >= 2:
            out[kids[0].text or ""] = kids[1].text
    return out


AXON_METADATA = Codec("axon-metadata", sniff=_sniff_axon_metadata, decode=_decode_axon_metadata, priority=55)
BUILTIN_CODECS = BUILTIN_CODECS + (AXON_METADATA,)
