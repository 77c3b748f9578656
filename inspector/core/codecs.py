"""Payload codecs: turn what a store keeps (jsonb, JSON text or bytes, zlib/gzip/bz2/xz layers, XML,
ciphertext, opaque binary) into a value people can read, and never raise while doing it.

A ``Codec`` either recognises raw stored bytes/text (``kind="raw"``) or rewrites an already
decoded value (``kind="value"``, such as the eventsourcing library's ``_type_`` markers). Plugins
add codecs through the ``register_codecs`` hook; ``CodecPipeline`` runs them.

What the pipeline promises, because a reader pages through stores it did not write:

* ``decode`` never raises. A payload that cannot be read comes back as ``Decoded(None, encoding,
  error)`` with an error a person can act on; the caller reads the next event.
* A raw codec whose ``sniff`` raises is skipped for that payload (a sniff is a cheap guess, and
  one broken guesser must not hide every payload); one whose ``decode`` raises gives an error
  naming the codec. A value codec that raises leaves the value as it was.
* Compressed layers are inflated to at most ``MAX_INFLATED`` bytes and ``MAX_LAYERS`` deep, so a
  compression bomb in a store is reported instead of exhausting memory."""

from __future__ import annotations

import bz2
import json
import lzma
import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Sequence

MAX_LAYERS = 8  # nested compression layers unwrapped before giving up
MAX_INFLATED = 256 * 2**20  # bytes one compressed layer may inflate to
SAMPLE = 4096  # bytes looked at when guessing text versus binary versus ciphertext
MAX_ERROR_HEX = 32  # bytes shown in hex in an error message


MISS = object()  # json_reader(): "decode this one the full way"


class Decoded(NamedTuple):  # a tuple: two are built for every event read
    """``value`` is None when ``error`` says why it could not be read (or the payload is empty).
    ``encoding`` names the layers found, outermost first: "json", "zlib+json", "xml", "text",
    "empty", "encrypted", "binary"."""

    value: Any
    encoding: str | None
    error: str | None = None


class DecodeFailed(Exception):
    """Raised inside a codec; the pipeline turns it into ``Decoded.error``."""


@dataclass(frozen=True)
class Codec:
    """``sniff(raw)`` says cheaply whether a raw codec applies (None: it applies to everything);
    ``decode(raw)`` returns the decoded value or, with ``unwrap=True``, the inner bytes/text to
    decode again (compression layers). A value codec's ``decode(value)`` returns the new value."""

    name: str
    kind: str = "raw"  # "raw" or "value"
    sniff: Callable[[Any], bool] | None = None
    decode: Callable[[Any], Any] | None = None
    unwrap: bool = False
    priority: int = 100  # lower runs first
    # value codecs: text that must occur in the stored JSON text for the codec to have anything to
    # rewrite (e.g. '"_type_"'); None means always run. Lets the reader skip walking every value.
    marker: str | None = None
    # the layouts whose stores this codec is for (empty: every store). A value codec that rewrites
    # one library's markers must not rewrite look-alike user data in another store's payloads.
    layouts: tuple[str, ...] = ()


# -- telling text, ciphertext and binary apart ------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, LF, CR


def is_text(s: str) -> bool:
    """Readable text: no control characters other than tab and line breaks in the first bytes."""
    return _CONTROL.search(s, 0, SAMPLE) is None


def looks_encrypted(raw: bytes) -> bool:
    """Ciphertext: bytes that are not UTF-8 and whose distribution is close to uniform for their
    length. The 0.83 margin keeps real AES-GCM output of every length (the plug-in entropy of a
    random sample dips lowest, to about 0.87 of its ceiling, near 256 bytes) while structured
    binary stays far below; random printable ASCII comes close, hence the UTF-8 test. Data
    compressed by a method no codec knows looks the same."""
    sample = raw[:SAMPLE]
    n = len(sample)
    if n < 24:
        return False
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError as e:
        if e.start >= n - 3:  # only a character cut by the sample
            return False
    entropy = -sum(c / n * math.log2(c / n) for c in Counter(sample).values())
    return entropy >= 0.83 * min(8.0, math.log2(n))


def _utf8(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeFailed(f"payload is not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None


def _without_bom(raw: bytes | str) -> bytes | str:
    """The UTF-8 byte-order mark some writers put in front of JSON or XML (json.loads refuses it)."""
    if isinstance(raw, str):
        return raw[1:] if raw[:1] == "\ufeff" else raw
    return raw[3:] if raw[:3] == b"\xef\xbb\xbf" else raw


def _head(raw: bytes | str) -> str:
    """The first non-blank character of text (bytes read as Latin-1, which never fails), or ""
    for ciphertext: 1 ciphertext in 64 starts with "{", "[", '"' or "<" by chance."""
    if isinstance(raw, bytes) and looks_encrypted(raw):
        return ""
    s = raw[:64] if isinstance(raw, str) else raw[:64].decode("latin-1")
    return s.lstrip()[:1]


# -- compression layers ------------------------------------------------------------------------


def _inflate(dec: Any, raw: bytes, name: str) -> bytes:
    """Run a zlib/bz2/lzma decompressor object over ``raw``, bounded by ``MAX_INFLATED``."""
    try:
        out = dec.decompress(raw, MAX_INFLATED)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as e:
        raise DecodeFailed(f"corrupt {name} stream ({len(raw)} bytes): {e}") from None
    if not dec.eof:
        if len(out) >= MAX_INFLATED:
            raise DecodeFailed(f"{name} payload inflates beyond {MAX_INFLATED // 2**20} MiB; not decoded")
        raise DecodeFailed(f"{name} stream truncated ({len(raw)} bytes, ends before the stream does)")
    return out


def _sniff_zlib(raw: Any) -> bool:
    """The two-byte zlib header (CM 8, window <= 32K, check bits), then a trial inflate of the
    first bytes: text such as ``b"800 units"`` has a valid header by chance but fails at once.
    Short text that is nothing but such a header, or a header and the start of a deflate block
    (``b"800"``, ``b"x^"``), does not fail, it only ends early: printable text that ends before
    its stream does is text. A cut-off stream of binary is still zlib, reported as truncated."""
    if not (isinstance(raw, bytes) and len(raw) >= 2 and raw[0] & 0x0F == 8 and raw[0] >> 4 <= 7
            and (raw[0] * 256 + raw[1]) % 31 == 0):
        return False
    trial = zlib.decompressobj()
    try:
        trial.decompress(raw[:64], SAMPLE)
    except zlib.error:
        return False
    if len(raw) <= 64 and not trial.eof:
        try:
            return not is_text(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return True
    return True


def _sniff_bz2(raw: Any) -> bool:
    """``BZh`` and a block size, then the magic of a first block or of an empty stream's end."""
    return isinstance(raw, bytes) and raw[:3] == b"BZh" and raw[4:10] in (b"1AY&SY", b"\x17rE8P\x90")


def _magic(*prefixes: bytes) -> Callable[[Any], bool]:
    return lambda raw: isinstance(raw, bytes) and raw.startswith(prefixes)


def _unsupported(raw: bytes) -> Any:
    kind = "zstd" if raw.startswith(b"\x28\xb5\x2f\xfd") else "lz4"
    raise DecodeFailed(f"{kind}-compressed payload ({len(raw)} bytes): no {kind} codec is installed")


# -- text formats ------------------------------------------------------------------------------


def _sniff_json(raw: Any) -> bool:
    return _head(raw) in ("{", "[", '"')


# Every digit byte to "0", every other byte to " ": a run of 19 digits becomes a substring search.
_DIGIT_MASK = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_NINETEEN = b"0" * 19
_LONG_INTEGER = re.compile(rb"-?[0-9]{19,}")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _beyond_64_bits(raw: str | bytes) -> bool:
    """True when the JSON text may hold an integer outside [-2**63, 2**64 - 1], which orjson
    silently reads as a float (losing digits). Every such integer has at least 19 digits, so a
    C-speed mask-and-search rules out nearly every document; the few with a run of 19 digits
    (nanosecond timestamps, long ids in strings) get an exact check. A false "True" only costs
    the slower parser, never a different value."""
    data = raw if type(raw) is bytes else raw.encode("utf-8", "surrogatepass")
    if _NINETEEN not in data.translate(_DIGIT_MASK):
        return False
    return any(not _INT64_MIN <= int(m) <= _UINT64_MAX for m in _LONG_INTEGER.findall(data))


def _sixteen_digits_aligned(data: bytes) -> bool:
    """Whether ``data`` has four consecutive 4-byte-aligned words of ASCII digits, which every run
    of 19 digits does (it covers at least four whole aligned words): a necessary condition for
    ``_beyond_64_bits``, tested a word at a time with numpy, about three times faster than the
    byte mask. Adding 6 to each byte keeps 0x30-0x39 within 0x3_ and moves 0x3A-0x3F to 0x4_;
    ``w & (w + 6s) & 0xF0s`` is 0x30 in every byte exactly when all four are digits (a carry
    between bytes starts only at a byte >= 0xFA, which already fails its word)."""
    import numpy as np

    w = np.frombuffer(data, np.uint32, len(data) // 4)
    x = w + np.uint32(0x06060606)
    x &= w
    x &= np.uint32(0xF0F0F0F0)
    digits = x == np.uint32(0x30303030)
    pairs = digits[:-1] & digits[1:]
    return bool((pairs[:-2] & pairs[2:]).any())


def any_beyond_64_bits(values: Iterable[Any]) -> bool:
    """``_beyond_64_bits`` over the text and bytes among ``values`` (a page's payloads, say) at
    once: one scan of their joined text, not one call per value. False means every one of them
    can be read by ``json_reader(checked=False)``."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    try:  # a page of text, the common case: joined in C
        joined = ("\x00".join(values).encode("utf-8", "surrogatepass"),)
    except TypeError:  # bytes, None, values already parsed by the driver…
        joined = ("\x00".join([v for v in values if type(v) is str]).encode("utf-8", "surrogatepass"),
                  b"\x00".join([v for v in values if type(v) is bytes]))
    return any(_sixteen_digits_aligned(data) and _beyond_64_bits(data) for data in joined)


try:  # orjson parses the small objects stores are full of about four times faster
    from orjson import loads as _orjson_loads

    def _fast_loads(raw: str | bytes) -> Any:
        """orjson's parse where it is exact; the standard parser for integers beyond 64 bits."""
        if _beyond_64_bits(raw):
            try:
                return json.loads(raw)
            except RecursionError:  # a ValueError, as orjson raises: callers then take the full path
                raise ValueError("JSON nested too deeply") from None
        return _orjson_loads(raw)
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib parser is the fallback
    _fast_loads = _orjson_loads = json.loads


def load_json(text: str | bytes) -> Any:
    """Parse JSON, fast where orjson accepts it; what it refuses (NaN, infinity) or would read
    inexactly (integers beyond 64 bits) goes to the standard parser, so results never depend on
    which parser ran."""
    if _beyond_64_bits(text):
        return json.loads(text)
    try:
        return _orjson_loads(text)
    except ValueError:
        return json.loads(text)


def _decode_json(raw: Any) -> Any:
    text = _utf8(raw)
    try:
        return load_json(text)
    except json.JSONDecodeError as e:
        raise DecodeFailed(f"corrupt JSON: {e.msg} at line {e.lineno} column {e.colno} (char {e.pos})") from None
    except RecursionError:
        raise DecodeFailed("JSON nested too deeply to read") from None
    except ValueError as e:  # such as integers longer than Python's digit limit
        raise DecodeFailed(f"corrupt JSON: {e}") from None


def _sniff_xml(raw: Any) -> bool:
    return _head(raw) == "<"


def _sniff_axon_metadata(raw: Any) -> bool:
    head = raw[:64] if isinstance(raw, str) else raw[:64].decode("latin-1")
    return head.lstrip().startswith("<meta-data")  # ten fixed bytes: never ciphertext by chance


def _decode_axon_metadata(raw: Any) -> dict[str, Any]:
    """``<meta-data><entry><string>key</string><string>value</string></entry>…</meta-data>`` to a dict,
    so correlation and trace ids in Axon's XStream metadata read like any other metadata."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(_utf8(raw))
    except ET.ParseError as e:
        raise DecodeFailed(f"corrupt XML metadata: {e}") from None
    out: dict[str, Any] = {}
    for entry in root.iter("entry"):
        kids = list(entry)
        if len(kids) >= 2:
            out[kids[0].text or ""] = kids[1].text
    return out


def _layer(name: str, sniff: Callable[[Any], bool], decompressor: Callable[[], Any], priority: int) -> Codec:
    decode = lambda raw: _inflate(decompressor(), raw, name)  # noqa: E731 - a fresh decompressor per payload
    return Codec(name, sniff=sniff, decode=decode, unwrap=True, priority=priority)


BUILTIN_CODECS: tuple[Codec, ...] = (
    _layer("zlib", _sniff_zlib, zlib.decompressobj, 10),
    _layer("gzip", _magic(b"\x1f\x8b\x08"), lambda: zlib.decompressobj(wbits=31), 11),
    _layer("bz2", _sniff_bz2, bz2.BZ2Decompressor, 12),
    _layer("xz", _magic(b"\xfd7zXZ\x00"), lzma.LZMADecompressor, 13),
    Codec("compressed", sniff=_magic(b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"), decode=_unsupported, priority=14),
    Codec("json", sniff=_sniff_json, decode=_decode_json, priority=50),
    Codec("axon-metadata", sniff=_sniff_axon_metadata, decode=_decode_axon_metadata, priority=55),
    Codec("xml", sniff=_sniff_xml, decode=_utf8, priority=60),
)


# -- the pipeline ------------------------------------------------------------------------------


def _contains(text: str | bytes, marker: str) -> bool:
    return (marker in text) if isinstance(text, str) else (marker.encode() in text)


class CodecPipeline:
    """Runs raw codecs (unwrapping compression layers) and then value codecs over the result.
    Payloads no codec claims fall back to text, then ciphertext, then binary (size and hex)."""

    def __init__(self, codecs: Iterable[Codec] = BUILTIN_CODECS):
        unique = {id(c): c for c in codecs}.values()  # the same codec registered twice runs once
        ordered = sorted(unique, key=lambda c: c.priority)
        self.codecs: tuple[Codec, ...] = tuple(ordered)
        self.raw: Sequence[Codec] = [c for c in ordered if c.kind == "raw"]
        self.value: Sequence[Codec] = [c for c in ordered if c.kind == "value" and c.decode is not None]
        # Plain JSON objects are most of what any store holds, and reading a page is bound by their
        # decoding. Text or bytes that start like a JSON object go straight to the JSON parser when no
        # codec that could claim them runs before the built-in JSON codec; anything the parser
        # refuses takes the full path below, so results are the same either way.
        json_prio = next((c.priority for c in self.raw if c.name == "json"), None)
        self._json_first = json_prio is not None and all(
            c in BUILTIN_CODECS and c.name != "json" for c in self.raw if c.priority < json_prio
        ) and not any(c.sniff is None for c in self.raw if c.priority < json_prio)

    def decode(self, raw: Any) -> Decoded:
        if raw is None:
            return Decoded(None, None)
        if self._json_first:
            kind = type(raw)
            if (kind is str and raw.startswith("{")) or (kind is bytes and raw.startswith(b"{")):
                try:
                    value = _fast_loads(raw)
                except ValueError:
                    pass  # the full path below reports it properly (encrypted, corrupt JSON, NaN…)
                else:
                    return Decoded(self._values(value, raw) if self.value else value, "json")
        if isinstance(raw, (memoryview, bytearray)):
            raw = bytes(raw)
        if not isinstance(raw, (bytes, str)):
            # already decoded by the driver (jsonb and json on PostgreSQL, numbers)
            return Decoded(self._values(raw), "json")
        layers: list[str] = []
        while True:
            raw = _without_bom(raw)
            codec = self._claim(raw)
            if codec is None:
                return self._fallback(raw, layers)
            encoding = "+".join(layers + [codec.name])
            try:
                if codec.decode is None:
                    raise TypeError("codec has no decode function")
                out = codec.decode(raw)
            except DecodeFailed as e:
                return Decoded(None, encoding, str(e))
            except Exception as e:  # a plugin's codec must not stop a read
                return Decoded(None, encoding, f"codec {codec.name} failed: {type(e).__name__}: {e}")
            if not codec.unwrap:
                return Decoded(self._values(out, raw if codec.name == "json" else None), encoding)
            if isinstance(out, (memoryview, bytearray)):
                out = bytes(out)
            if not isinstance(out, (bytes, str)):
                return Decoded(None, encoding, f"codec {codec.name} unwrapped to {type(out).__name__}, not bytes")
            layers.append(codec.name)
            if len(layers) > MAX_LAYERS:
                return Decoded(None, "+".join(layers), f"more than {MAX_LAYERS} nested compression layers; not decoded")
            raw = out

    def _claim(self, raw: bytes | str) -> Codec | None:
        for codec in self.raw:
            try:
                if codec.sniff is None or codec.sniff(raw):
                    return codec
            except Exception:  # a broken sniff means "not mine", never a failed read
                continue
        return None

    def _fallback(self, raw: bytes | str, layers: list[str]) -> Decoded:
        prefix = "".join(f"{layer}+" for layer in layers)
        if not raw:
            return Decoded(None, prefix + "empty")
        if isinstance(raw, str):
            return Decoded(raw, prefix + "text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and is_text(text):
            return Decoded(text, prefix + "text")
        if looks_encrypted(raw):
            why = "looks like ciphertext and cannot be shown without the key"
            return Decoded(None, prefix + "encrypted", f"encrypted payload ({len(raw)} bytes): {why}")
        return Decoded(None, prefix + "binary", f"unrecognised binary payload ({len(raw)} bytes): "
                       + raw[:MAX_ERROR_HEX].hex(" ") + (" …" if len(raw) > MAX_ERROR_HEX else ""))

    def for_layout(self, name: str) -> "CodecPipeline":
        """The pipeline for one store: without the codecs scoped to other layouts."""
        return CodecPipeline(c for c in self.codecs if not c.layouts or name in c.layouts)

    def json_reader(self, checked: bool = True) -> Callable[[Any], Any] | None:
        """A function for the hot loop of page reads: stored JSON object text or bytes -> the same
        value ``decode`` would give, or ``MISS`` where only the full ``decode`` can tell (not an
        object, corrupt, NaN, a document holding a value codec's marker). None when a plugin codec
        could claim JSON first or a value codec has no marker. Specialised by marker count: this
        runs twice per event read. ``checked=False``: without the per-value check for integers
        beyond 64 bits, for values ``any_beyond_64_bits`` has cleared together."""
        if not self._json_first or any(c.marker is None for c in self.value):
            return None
        loads = _fast_loads if checked else _orjson_loads
        markers = tuple(c.marker for c in self.value)

        if not markers:
            def read(raw: Any) -> Any:
                if type(raw) is dict:  # jsonb, already parsed by the driver; nothing to rewrite
                    return raw
                if type(raw) is str and raw.startswith("{"):
                    try:
                        return loads(raw)
                    except ValueError:
                        return MISS
                if type(raw) is bytes and raw.startswith(b"{"):
                    try:
                        return loads(raw)
                    except ValueError:
                        return MISS
                return MISS

        elif len(markers) == 1:
            (m,) = markers
            mb = m.encode()

            def read(raw: Any) -> Any:
                if type(raw) is str and raw.startswith("{") and m not in raw:
                    try:
                        return loads(raw)
                    except ValueError:
                        return MISS
                if type(raw) is bytes and raw.startswith(b"{") and mb not in raw:
                    try:
                        return loads(raw)
                    except ValueError:
                        return MISS
                return MISS

        else:
            bmarkers = tuple(x.encode() for x in markers)

            def read(raw: Any) -> Any:
                kind = type(raw)
                if kind is str and raw.startswith("{") and not any(x in raw for x in markers):
                    pass
                elif kind is bytes and raw.startswith(b"{") and not any(x in raw for x in bmarkers):
                    pass
                else:
                    return MISS
                try:
                    return loads(raw)
                except ValueError:
                    return MISS

        return read

    def _values(self, value: Any, text: str | bytes | None = None) -> Any:
        for codec in self.value:
            if text is not None and codec.marker is not None and not _contains(text, codec.marker):
                continue
            try:
                value = codec.decode(value)
            except Exception:  # a broken value codec leaves the value as it was
                continue
        return value
