"""CodecPipeline.decode on every kind of payload a store may hold, and on ones it should not."""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import os
import re
import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from inspector.core import codecs
from inspector.core.codecs import BUILTIN_CODECS, Codec, CodecPipeline, Decoded, DecodeFailed, load_json

DOC = {"order": 42, "lines": [{"sku": "A-1", "qty": 2}], "note": "café ☕"}
DOC_BYTES = json.dumps(DOC, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def pipeline() -> CodecPipeline:
    return CodecPipeline()


def aes_cipher():
    from eventsourcing.cipher import AESCipher

    return AESCipher({AESCipher.CIPHER_KEY: AESCipher.create_key(32)})


# -- what each payload decodes to ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, value, encoding",
    [
        (json.dumps(DOC), DOC, "json"),  # JSON text (a TEXT column)
        (DOC_BYTES, DOC, "json"),  # JSON bytes (BLOB, bytea)
        (b'  \n[1, 2, 3]', [1, 2, 3], "json"),  # leading blanks
        (b'"just a string"', "just a string", "json"),
        (DOC, DOC, "json"),  # jsonb: the driver hands over a dict
        ([1, {"a": None}], [1, {"a": None}], "json"),  # jsonb array
        (7, 7, "json"),  # jsonb scalar
        (zlib.compress(DOC_BYTES), DOC, "zlib+json"),
        (gzip.compress(DOC_BYTES), DOC, "gzip+json"),
        (bz2.compress(DOC_BYTES), DOC, "bz2+json"),
        (lzma.compress(DOC_BYTES), DOC, "xz+json"),
        (zlib.compress(zlib.compress(DOC_BYTES)), DOC, "zlib+zlib+json"),  # nested compression
        (gzip.compress(zlib.compress(DOC_BYTES)), DOC, "gzip+zlib+json"),
        (b'<?xml version="1.0"?><order id="42"/>', '<?xml version="1.0"?><order id="42"/>', "xml"),
        ("<order id='42'/>", "<order id='42'/>", "xml"),
        (zlib.compress(b"<a>1</a>"), "<a>1</a>", "zlib+xml"),
        (b"plain words, tab\tand\nnewline", "plain words, tab\tand\nnewline", "text"),
        ("OrderPlaced", "OrderPlaced", "text"),
        ("family 👨‍👩‍👧 emoji".encode(), "family 👨‍👩‍👧 emoji", "text"),  # zero-width joiners are text
        (b"800 units", "800 units", "text"),  # a valid zlib header by chance, not zlib
        (b"x hello", "x hello", "text"),  # likewise
        (b"\xef\xbb\xbf" + DOC_BYTES, DOC, "json"),  # UTF-8 byte-order mark
        ("\ufeff" + json.dumps(DOC), DOC, "json"),
        (b"", None, "empty"),
        ("", None, "empty"),
        (zlib.compress(b""), None, "zlib+empty"),
        (memoryview(DOC_BYTES), DOC, "json"),  # psycopg2 hands bytea over as memoryview
        (bytearray(zlib.compress(DOC_BYTES)), DOC, "zlib+json"),
        (memoryview(zlib.compress(DOC_BYTES)), DOC, "zlib+json"),
    ],
    ids=lambda v: repr(v)[:30] if not isinstance(v, (dict, list)) else type(v).__name__,
)
def test_decodes(pipeline, raw, value, encoding):
    assert pipeline.decode(raw) == Decoded(value, encoding)


def test_none_is_no_payload(pipeline):
    assert pipeline.decode(None) == Decoded(None, None)


def test_axon_metadata_becomes_a_dict(pipeline):
    raw = (b"<meta-data><entry><string>traceId</string><string>t-1</string></entry>"
           b"<entry><string>correlationId</string><string>c-9</string></entry></meta-data>")
    assert pipeline.decode(raw) == Decoded({"traceId": "t-1", "correlationId": "c-9"}, "axon-metadata")


# -- what cannot be read is reported, readably -------------------------------------------------


@pytest.mark.parametrize(
    "raw, encoding, words",
    [
        (b'{"order": 42, "lines": [', "json", ("corrupt JSON", "line 1", "column")),
        ('{"a": 1,}', "json", ("corrupt JSON",)),
        (b'{"name": "caf\xe9"}', "json", ("not valid UTF-8", "0xe9", "offset 13")),
        (zlib.compress(DOC_BYTES)[:-6], "zlib", ("zlib stream truncated",)),
        (zlib.compress(DOC_BYTES)[:2], "zlib", ("truncated",)),
        (zlib.compress(b'{"a": ') , "zlib+json", ("corrupt JSON",)),
        (gzip.compress(DOC_BYTES)[:-10], "gzip", ("gzip",)),
        (b"\x28\xb5\x2f\xfd" + os.urandom(40), "compressed", ("zstd", "no zstd codec")),
        (b"[" * 100_000, "json", ("nested too deeply",)),
        (b"<meta-data><entry>", "axon-metadata", ("corrupt XML metadata",)),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_failures_say_why(pipeline, raw, encoding, words):
    d = pipeline.decode(raw)
    assert d.value is None and d.encoding == encoding
    assert d.error and d.error.isprintable()
    for w in words:
        assert w in d.error


def test_unknown_binary_shows_size_and_hex(pipeline):
    raw = bytes(range(16)) * 4  # structured, not random
    d = pipeline.decode(raw)
    assert (d.value, d.encoding) == (None, "binary")
    assert "64 bytes" in d.error and "00 01 02 03" in d.error and d.error.endswith("…")
    short = pipeline.decode(b"caf\xe9")  # Latin-1 text is not UTF-8: shown as bytes
    assert short.encoding == "binary" and "63 61 66 e9" in short.error and "…" not in short.error


@pytest.mark.parametrize("size", [0, 1, 20, 100, 228, 300, 1000, 100_000])
def test_real_ciphertext_is_reported_as_encrypted(pipeline, size):
    """eventsourcing's AESCipher (AES-GCM: nonce + tag + ciphertext), with and without its
    zlib compression first, as an application with CIPHER_TOPIC and COMPRESSOR_TOPIC writes."""
    cipher = aes_cipher()
    plain = json.dumps({"pad": "x" * size, "n": size}).encode()
    for raw in (cipher.encrypt(plain), cipher.encrypt(zlib.compress(plain))):
        d = pipeline.decode(raw)
        assert (d.value, d.encoding) == (None, "encrypted"), d
        assert f"{len(raw)} bytes" in d.error and "key" in d.error
        assert cipher.decrypt(raw) in (plain, zlib.compress(plain))  # it is real ciphertext


@pytest.mark.parametrize("first", [b"{", b"[", b'"', b"<", b" ", b"\n"])
def test_ciphertext_that_starts_like_json_or_xml_is_still_encrypted(pipeline, first):
    """AES-GCM output starts with its random nonce, so 1 ciphertext in 64 starts with a JSON or
    XML opener: it must not be reported as corrupt JSON or shown as XML."""
    cipher = aes_cipher()
    raw = next(r for r in (cipher.encrypt(DOC_BYTES) for _ in range(20_000)) if r[:1] == first)
    d = pipeline.decode(raw)
    assert (d.value, d.encoding) == (None, "encrypted"), d


def test_high_entropy_text_is_not_taken_for_ciphertext(pipeline):
    import random

    rnd = random.Random(7)
    printable = "".join(chr(rnd.randrange(33, 127)) for _ in range(5000))
    assert pipeline.decode(printable.encode()) == Decoded(printable, "text")
    cjk = json.dumps({"text": "".join(chr(rnd.randrange(0x4E00, 0x9FFF)) for _ in range(3000))}, ensure_ascii=False)
    d = pipeline.decode(cjk.encode()[:-4])  # truncated, cutting the last character in half
    assert d.encoding == "json" and d.error.startswith("payload is not valid UTF-8")
    d = pipeline.decode(cjk[:-3].encode())  # truncated between characters
    assert d.encoding == "json" and d.error.startswith("corrupt JSON")


def test_base64_ciphertext_in_a_text_column_is_text(pipeline):
    """Ciphertext a writer base64-encoded into TEXT is readable ASCII: it is shown, not hidden."""
    raw = base64.b64encode(aes_cipher().encrypt(DOC_BYTES)).decode()
    assert pipeline.decode(raw) == Decoded(raw, "text")


def test_compression_bomb_is_bounded(pipeline, monkeypatch):
    monkeypatch.setattr(codecs, "MAX_INFLATED", 1000)
    d = pipeline.decode(zlib.compress(b"[" + b"0," * 10_000 + b"0]"))
    assert d.value is None and d.encoding == "zlib" and "inflates beyond" in d.error


def test_too_many_layers_stop(pipeline):
    raw = DOC_BYTES
    for _ in range(codecs.MAX_LAYERS + 1):
        raw = zlib.compress(raw)
    d = pipeline.decode(raw)
    assert d.value is None and "nested compression layers" in d.error
    raw = DOC_BYTES
    for _ in range(codecs.MAX_LAYERS):
        raw = zlib.compress(raw)
    assert pipeline.decode(raw).value == DOC


# -- plugin codecs -------------------------------------------------------------------------------


def _boom(_raw):
    raise RuntimeError("plugin bug")


def test_raw_codec_that_raises_gives_an_error_and_the_next_payload_still_decodes():
    proto = Codec("proto", sniff=lambda raw: isinstance(raw, bytes) and raw[:1] == b"\x0a", decode=_boom, priority=20)
    p = CodecPipeline(BUILTIN_CODECS + (proto,))
    d = p.decode(b"\x0a\x03abc")
    assert d.value is None and d.encoding == "proto"
    assert d.error == "codec proto failed: RuntimeError: plugin bug"
    assert p.decode(DOC_BYTES) == Decoded(DOC, "json")
    assert p.decode(zlib.compress(b"\x0a\x01")).error.startswith("codec proto failed")


def test_raw_codec_whose_sniff_raises_is_skipped():
    bad = Codec("bad-sniff", sniff=_boom, decode=lambda raw: "never", priority=1)
    p = CodecPipeline(BUILTIN_CODECS + (bad,))
    assert p.decode(DOC_BYTES) == Decoded(DOC, "json")


def test_raw_codec_without_sniff_claims_everything_and_may_fail_cleanly():
    def strict(raw):
        if raw != b"ok":
            raise DecodeFailed("not an ok payload")
        return {"ok": True}

    p = CodecPipeline((Codec("strict", decode=strict),))
    assert p.decode(b"ok") == Decoded({"ok": True}, "strict")
    assert p.decode(b"nope") == Decoded(None, "strict", "not an ok payload")


def test_raw_codec_that_unwraps_to_a_non_bytes_value_is_an_error():
    weird = Codec("weird", sniff=lambda raw: raw == b"W", decode=lambda raw: 123, unwrap=True, priority=1)
    d = CodecPipeline(BUILTIN_CODECS + (weird,)).decode(b"W")
    assert d.value is None and "unwrapped to int" in d.error


def test_value_codecs_run_in_priority_order_and_a_failing_one_changes_nothing():
    double = Codec("double", kind="value", decode=lambda v: {k: v2 * 2 for k, v2 in v.items()}, priority=10)
    broken = Codec("broken", kind="value", decode=_boom, priority=20)
    tag = Codec("tag", kind="value", decode=lambda v: {**v, "tagged": True}, priority=30)
    no_decode = Codec("inert", kind="value")
    p = CodecPipeline(BUILTIN_CODECS + (tag, broken, double, no_decode))
    assert p.decode(b'{"n": 2}') == Decoded({"n": 4, "tagged": True}, "json")
    assert p.decode({"n": 1}) == Decoded({"n": 2, "tagged": True}, "json")  # jsonb goes through them too
    only_broken = CodecPipeline(BUILTIN_CODECS + (broken,))
    assert only_broken.decode(b'{"n": 2}') == Decoded({"n": 2}, "json")


def test_the_same_codec_twice_runs_once():
    count = []
    counting = Codec("count", kind="value", decode=lambda v: count.append(1) or v)
    CodecPipeline(BUILTIN_CODECS + BUILTIN_CODECS + (counting, counting)).decode(b"[]")
    assert count == [1]


def test_without_codecs_everything_is_text_or_bytes():
    p = CodecPipeline(())
    assert p.decode(DOC_BYTES) == Decoded(DOC_BYTES.decode(), "text")
    assert p.decode(b"\x00\x01").encoding == "binary"


# -- never raises ------------------------------------------------------------------------------


def _check(d: Decoded) -> None:
    assert isinstance(d, Decoded)
    if d.error is not None:
        assert d.value is None and isinstance(d.error, str) and d.error
    assert d.encoding is None or isinstance(d.encoding, str)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_never_raises_on_bytes(raw):
    _check(CodecPipeline().decode(raw))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=2048))
def test_never_raises_on_text(raw):
    _check(CodecPipeline().decode(raw))
    _check(CodecPipeline().decode(raw.encode("utf-8", "surrogatepass")))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.integers(min_value=0, max_value=600),
       st.sampled_from([b"{", b"[", b"<", b"\x78\x9c", b"\x1f\x8b", b"BZh91AY&SY", b"\xfd7zXZ\x00", b"\xef\xbb\xbf"]))
def test_never_raises_on_damaged_payloads(tail, cut, prefix):
    """Bytes that start like a known format, and real compressed payloads cut short or extended."""
    _check(CodecPipeline().decode(prefix + tail))
    for packed in (zlib.compress(tail), gzip.compress(tail), bz2.compress(tail)):
        _check(CodecPipeline().decode(packed[:cut]))
        _check(CodecPipeline().decode(packed + tail))


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64, -(10**30), 10**40, -(2**63), 2**64 - 1, 1_700_000_000_123_456_789])
def test_integers_beyond_64_bits_keep_every_digit(number):
    """orjson reads integers outside [-2**63, 2**64 - 1] as floats; the inspector must show the
    integer the store holds, through every JSON path (full decode, the page reader's hot loop,
    the top-level helper), and in-range long integers must stay exact too."""
    doc = {"amount": number, "nested": [number, {"id": str(number)}]}
    raw = json.dumps(doc)
    for form in (raw, raw.encode()):
        assert CodecPipeline().decode(form).value == doc
        assert CodecPipeline().json_reader()(form) == doc
        assert load_json(form) == doc
    assert type(CodecPipeline().decode(raw).value["amount"]) is int


def test_deep_nesting_with_a_long_integer_is_a_decode_error_not_a_crash():
    """The exact parser (taken for integers beyond 64 bits) recurses; nested too deep, the event
    says so, on every path, instead of raising."""
    doc = '{"id": 99999999999999999999, "a": ' + "[" * 5000 + "]" * 5000 + "}"
    for form in (doc, doc.encode()):
        d = CodecPipeline().decode(form)
        assert d.value is None and "nested too deeply" in d.error
        assert CodecPipeline().json_reader()(form) is codecs.MISS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=40),
                          st.integers().map(str), st.integers(min_value=10**15).map(lambda n: f"id-{n}x")),
                max_size=8))
def test_a_whole_page_is_checked_for_long_integers_as_each_value_would_be(parts):
    """``any_beyond_64_bits`` (one scan of a page) says True exactly when one of the values would
    need the exact parser, for text, bytes of any kind (bytes >= 0xFA next to digits included)
    and a run of digits at any alignment."""
    values = [p.encode() if isinstance(p, str) and len(p) % 2 else p for p in parts] + [None, {"parsed": 1}]
    want = any(codecs._beyond_64_bits(v) for v in values if isinstance(v, (str, bytes)))
    assert codecs.any_beyond_64_bits(values) == want
    for shift in range(4):  # the word-at-a-time filter never misses a run of 19 digits
        data = b"\xfa" * shift + b"".join(p if isinstance(p, bytes) else p.encode() for p in parts)
        if re.search(rb"[0-9]{19}", data):
            assert codecs._sixteen_digits_aligned(data)


@pytest.mark.parametrize("text", [b"800", b"x^", b"800 units", b"8"])
def test_short_text_with_a_zlib_header_by_chance_is_text(text):
    """``800`` starts like a zlib stream (0x38 0x30 passes the header check) and ends before any
    stream would: a bare number in a byte column is shown as the text it is, not as corrupt zlib."""
    d = CodecPipeline().decode(text)
    assert (d.value, d.encoding, d.error) == (text.decode(), "text", None)


def test_a_cut_off_zlib_stream_is_still_reported_as_truncated():
    packed = zlib.compress(json.dumps({"sku": "A-1", "price": 10}).encode())
    d = CodecPipeline().decode(packed[:-6])
    assert d.encoding == "zlib" and "truncated" in d.error


@settings(max_examples=200, deadline=None)
@example(800).via("0x38 0x30 0x30 has a valid zlib header: once read as a truncated stream")
@example([-(2**63) - 1]).via("integer just below 64-bit range, once read as a float")
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=30))
def test_any_json_value_round_trips(value):
    raw = json.dumps(value).encode()
    for packed, enc in ((raw, "json"), (zlib.compress(raw), "zlib+json")):
        d = CodecPipeline().decode(packed)
        if isinstance(value, (dict, list, str)):
            assert d == Decoded(value, enc)
        else:  # bare JSON scalars in a byte column are shown as the text they are
            assert d.error is None
