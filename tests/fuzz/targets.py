"""Fuzz targets: one function per parser, ``target(data: bytes) -> None``.

A target turns arbitrary bytes into the parser's input and checks the parser's contract:
only its documented errors may escape, and where a round trip exists (escape/parse,
encode/decode, write/read, read/resume) it must hold. Any other exception, or an
assertion, is a finding. Hangs are caught by the caller (hypothesis' deadline in the test
run, atheris' ``-timeout`` in ``nox -s fuzz``).

The same targets run under hypothesis (``tests/fuzz/test_fuzz.py``, a short run in every
test run) and atheris (``tests/fuzz/run_atheris.py``, the ``nox -s fuzz`` session).
"""

from __future__ import annotations

import atexit
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from flafka.config.grammar import Located, parse_keys
from flafka.config.properties import decode, escape, parse_text
from flafka.config.substitute import substitute
from flafka.event import Event
from flafka.registry import Registry
from flafka.sources.deserializers import BlobDeserializer, DecodeFailure, LineDeserializer


class Bytes:
    """Consumes fuzz input: small integers and slices, deterministic for a given input."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int(self, n: int) -> int:
        """An integer in ``range(n)`` from the next byte (0 once the input is used up)."""
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b % n

    def rest(self) -> bytes:
        out, self.pos = self.data[self.pos :], len(self.data)
        return out


def _text(data: bytes) -> str:
    """Bytes as text, invalid UTF-8 kept as lone surrogates (what a broken file gives)."""
    return data.decode("utf-8", "surrogateescape")


# -- configuration -----------------------------------------------------------------------


def properties(data: bytes) -> None:
    """Java properties: any text parses (problems are reported, never raised), and a key
    and value written with :func:`escape` read back as themselves."""
    text, _problems = decode(data, "fuzz.properties")
    parsed = parse_text(text, "fuzz.properties")
    parsed.as_dict()
    _ = parsed.duplicates
    raw = _text(data)
    cut = len(raw) // 3
    key, value = raw[:cut], raw[cut:]
    if key and "\x00" not in raw:
        line = f"{escape(key, is_key=True)} = {escape(value, is_key=False)}\n"
        again = parse_text(line, "escaped.properties").as_dict()
        assert again == {key: value}, (line, again)


def substitution(data: bytes) -> None:
    """``${...}`` substitution over arbitrary values: never raises, whatever nests or loops."""
    text = _text(data)
    entries: dict[str, Located] = {}
    for n, line in enumerate(text.splitlines()[:64], start=1):
        key, _, value = line.partition("=")
        entries[key or f"k{n}"] = Located(key or f"k{n}", value, "fuzz.conf", n)
    substitute(entries, {"sys.prop": "x"}, {"HOME": "/home/x", "EMPTY": ""})


def grammar(data: bytes) -> None:
    """Flume's key grammar over any keys and values."""
    parsed = parse_text(_text(data), "fuzz.conf")
    entries = [Located(e.key, e.value, e.file, e.line) for e in parsed.values.values()]
    result = parse_keys(entries)
    for agent in result.agents.values():
        for section in ("sources", "channels", "sinks", "sinkgroups"):
            agent.listed(section)


_REGISTRY: list[Registry] = []


def _registry() -> Registry:
    """Every installed plugin's components, loaded once per process."""
    if not _REGISTRY:
        from flafka.plugins import load_plugins

        _REGISTRY.append(load_plugins().registry)
    return _REGISTRY[0]


_SCRATCH: list[str] = []


def _scratch_file() -> str:
    """One config file per process, rewritten for every input (no per-input mkstemp/unlink)."""
    if not _SCRATCH:
        path = os.path.join(tempfile.gettempdir(), f"flafka-fuzz-{os.getpid()}.conf")
        atexit.register(lambda: os.path.exists(path) and os.unlink(path))
        _SCRATCH.append(path)
    return _SCRATCH[0]


def config(data: bytes) -> None:
    """The whole loader (what ``flafka validate`` runs): a result with diagnostics, never
    an exception. The first byte picks the agent name asked for."""
    from flafka.config.loader import load_config

    fuzz = Bytes(data)
    agent = ("agent", "a1", "agent4", "")[fuzz.int(4)]
    path = _scratch_file()
    with open(path, "wb") as fh:
        fh.write(fuzz.rest())
    result = load_config([path], agent, _registry(), env={})
    for d in result.diagnostics:
        str(d).encode("utf-8")  # printable: what `flafka validate` writes to a UTF-8 terminal


# -- deserializers -----------------------------------------------------------------------

_CHARSETS = ("UTF-8", "ISO-8859-1", "US-ASCII", "windows-1252")  # spooldir refuses charsets that are not ASCII-compatible
_POLICIES = ("FAIL", "REPLACE", "IGNORE")


def _read_all(deserializer: LineDeserializer | BlobDeserializer) -> tuple[list[bytes], list[tuple[int, int, int]]]:
    """Every body, and (offset, line, bodies so far) after each read call: the positions a
    restart may resume from."""
    bodies: list[bytes] = []
    marks: list[tuple[int, int, int]] = [(deserializer.offset, deserializer.line, 0)]
    for _ in range(100_000):
        batch = deserializer.read(1 + len(bodies) % 7)
        if not batch:
            assert deserializer.at_eof()
            return bodies, marks
        bodies.extend(batch)
        marks.append((deserializer.offset, deserializer.line, len(bodies)))
    raise AssertionError("the deserializer never reached the end")


def line_deserializer(data: bytes) -> None:
    """LINE: reading to the end consumes the whole file; resuming at any position it
    reported gives exactly the bodies that followed it. FAIL raises only DecodeFailure."""
    fuzz = Bytes(data)
    max_len = (1, 2, 3, 7, 16, 2048)[fuzz.int(6)]
    charset = _CHARSETS[fuzz.int(len(_CHARSETS))]
    policy = _POLICIES[fuzz.int(3)]
    chunk = (1, 3, 8, 64, 65536)[fuzz.int(5)]
    content = fuzz.rest()

    def open_at(offset: int, line: int) -> LineDeserializer:
        f = io.BytesIO(content)
        f.seek(offset)
        return LineDeserializer(
            f,
            offset=offset,
            line=line,
            max_line_length=max_len,
            input_charset=charset,
            decode_error_policy=policy,
            chunk_size=chunk,
        )

    try:
        bodies, marks = _read_all(open_at(0, 0))
    except DecodeFailure as exc:
        assert policy == "FAIL", exc
        assert 0 <= exc.offset <= len(content), exc
        return
    assert marks[-1][0] == len(content), (marks[-1], len(content))
    for offset, line, count in marks[:: max(1, len(marks) // 8)]:  # a few resume points per input
        resumed, _ = _read_all(open_at(offset, line))
        assert resumed == bodies[count:], (offset, line, count)


def blob_deserializer(data: bytes) -> None:
    """BLOB: the bodies concatenate to the file; each is at most maxBlobLength."""
    fuzz = Bytes(data)
    max_len = (1, 2, 5, 100, 100_000_000)[fuzz.int(5)]
    content = fuzz.rest()
    bodies, marks = _read_all(BlobDeserializer(io.BytesIO(content), max_blob_length=max_len))
    assert b"".join(bodies) == content
    assert all(0 < len(b) <= max_len for b in bodies)
    assert marks[-1][0] == len(content)


_AVRO_SCHEMA = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "b", "type": "bytes"}, {"name": "s", "type": "string"}, {"name": "n", "type": "long"}],
}


def _avro_container(records: list[dict[str, object]], codec: str, sync_interval: int) -> bytes:
    import fastavro

    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(_AVRO_SCHEMA), records, codec=codec, sync_interval=sync_interval)
    return out.getvalue()


def avro_deserializer(data: bytes) -> None:
    """AVRO (Avro object container files): a damaged or foreign file raises only
    CorruptInput; an intact one gives each record's datum in order, and resuming at any
    position it reported gives exactly the records that followed. The first byte picks raw
    bytes as the file, or a file written from the input (intact, cut short, or with a byte
    changed)."""
    import fastavro

    from flafka.sources.deserializers import AvroDeserializer, CorruptInput

    fuzz = Bytes(data)
    mode = fuzz.int(4)
    schema_type = ("HASH", "LITERAL", "LITERAL", "LITERAL")[fuzz.int(4)]  # HASH: fastavro's fingerprint, 2 ms a file
    records: list[dict[str, object]] = []
    if mode == 0:
        content = fuzz.rest()
    else:
        codec = ("null", "deflate")[fuzz.int(2)]
        interval = (1, 16, 4000)[fuzz.int(3)]
        where = fuzz.int(256)
        for i, part in enumerate(fuzz.rest().split(b"\xff")):
            records.append({"b": part, "s": _text(part).encode("utf-8", "replace").decode("utf-8"), "n": i - len(part) * 1000})
        content = _avro_container(records, codec, interval)
        if mode == 2:
            content = content[: len(content) * where // 256]
        elif mode == 3 and content:
            at = len(content) * where // 256
            content = content[:at] + bytes([content[at] ^ 0x5A]) + content[at + 1 :] if at < len(content) else content

    def open_at(offset: int, line: int) -> AvroDeserializer:
        return AvroDeserializer(io.BytesIO(content), offset=offset, line=line, schema_type=schema_type)

    try:
        bodies, marks = _read_all(open_at(0, 0))
    except CorruptInput as exc:
        assert mode != 1, exc  # an intact file always reads
        assert exc.where and exc.fix, exc
        return
    if mode == 1:
        parsed = fastavro.parse_schema(_AVRO_SCHEMA)
        assert [fastavro.schemaless_reader(io.BytesIO(b), parsed, None) for b in bodies] == records
    for offset, line, count in {marks[len(marks) // 2], marks[-1]}:  # a restart mid-file and at the end
        resumed, _ = _read_all(open_at(offset, line))
        assert resumed == bodies[count:], (offset, line, count)


# -- connectors' formats -------------------------------------------------------------------


def avro_event(data: bytes) -> None:
    """Flume's AvroFlumeEvent: decode raises only AvroEventError; whatever decodes
    re-encodes to something that decodes the same."""
    from flafka_kafka.avro_event import AvroEventError, decode, encode

    try:
        headers, body = decode(data)
    except AvroEventError:
        pass
    else:
        assert decode(encode(headers, body)) == (headers, body)
    fuzz = Bytes(data)
    n = fuzz.int(4)
    raw = _text(fuzz.rest()).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    parts = raw.split("\x00")
    headers = {parts[i]: parts[i + 1] for i in range(0, min(2 * n, len(parts) - 1), 2)}
    body = data[-(len(data) // 2) :] if data else b""
    assert decode(encode(headers, body)) == (headers, body)


def avro_rpc(data: bytes) -> None:
    """The Avro source's wire decoding (what a peer sends): framing, handshake and call
    raise only FrameError/ProtocolError, whatever the bytes; an appendBatch encoded from
    the input decodes to the same events."""
    from flafka_avro import protocol
    from flafka_avro.framing import FrameError, PackDecoder, encode_pack
    from flafka_avro.source import _protocol_hash

    fuzz = Bytes(data)
    handshake = fuzz.int(2) == 1
    piece = (1, 7, 4096)[fuzz.int(3)]
    raw = fuzz.rest()
    decoder = PackDecoder(1 << 16)
    try:
        messages = [m for i in range(0, len(raw), piece) for _serial, m in decoder.feed(raw[i : i + piece])]
    except FrameError:
        messages = []
    for message in [*messages, raw]:  # the bytes as one message too, framing or not
        buf = io.BytesIO(message)
        try:
            if handshake:
                req = protocol.read_handshake_request(buf)
                if req.client_protocol is not None:
                    _protocol_hash(req.client_protocol, req.client_hash)
            protocol.read_call(buf, 100)
        except protocol.ProtocolError:
            pass
    events = [Event(b, {"h": _text(b).encode("utf-8", "replace").decode("utf-8")} if len(b) % 2 else {}) for b in raw.split(b"\xff")]
    message = protocol.encode_batch_call(events)
    assert PackDecoder(len(message) + 1).feed(encode_pack(7, message)) == [(7, message)]
    call = protocol.read_call(io.BytesIO(message), len(events))
    assert call.name == protocol.APPEND_BATCH and call.events == events, (call, events)


def sequencefile(data: bytes) -> None:
    """The HDFS sink's SequenceFile writer: what it writes reads back record for record
    (bodies, and keys from the ``timestamp`` header or the clock)."""
    from flafka_hdfs.sequencefile import SequenceFileEncoder, read_records

    fuzz = Bytes(data)
    text_values = fuzz.int(2) == 1
    batches = 1 + fuzz.int(3)
    bodies = fuzz.rest().split(b"\xff")
    events = [Event(b, {"timestamp": str(i * 1000 + len(b))} if i % 2 else {}) for i, b in enumerate(bodies)]
    enc = SequenceFileEncoder(b"0123456789abcdef", text_values=text_values, clock=lambda: 1.5)
    out = b""
    step = max(1, len(events) // batches)
    for i in range(0, len(events), step):
        out += enc.encode(events[i : i + step])
    _info, records = read_records(out)
    assert [v for _k, v in records] == [e.body for e in events]
    assert [k for k, _v in records] == [int(e.headers["timestamp"]) if e.headers else 1500 for e in events]


def _doubling_chain(n: int) -> bytes:
    """``v0 = x``, ``vK = ${vK-1}${vK-1}``: 2**n characters if expanded naively."""
    lines = [b"v0 = x"] + [b"v%d = ${v%d}${v%d}" % (k, k - 1, k - 1) for k in range(1, n + 1)]
    return b"\n".join(lines) + b"\n"


SEEDS: dict[str, list[bytes]] = {
    # inputs an outside fuzzing campaign found (issue 17): each crashed or hung once
    "config": [
        b"\x00agent.channels = c1\nagent.channels.c1.type = memory\nagent.channels.c1.capacity = \\uD800\n",
        b"\x00agent.sources = r1\n" + b"${" * 1000 + b"\n",
        b"\x00" + _doubling_chain(24),
    ],
    # found by atheris (docs/fuzzing.md): maxLineLength 1, IGNORE, read size 1, a character
    # then undecodable bytes: every chunk decoded the whole buffered line again (a hang)
    "line_deserializer": [b"\x00\x00\xbf\xff\x00\n\x130\x00\x13\x82\xff\xa0\xff\xf1\r\x90" + b"\xff" * 128 + b"\x00\xe2"],
    "substitution": [
        b"a = " + b"${" * 1000 + b"x" + b"}" * 1000 + b"\n",
        b"".join(b"k%d = ${k%d}\n" % (i, i + 1) for i in range(500)) + b"k500 = end\n",
        _doubling_chain(24),
        b"".join(b"l%d = " % k + b"${l%d}" % (k - 1) * 10 + b"\n" for k in range(1, 8)) + b"l0 = x\n",
    ],
}
"""Known-bad inputs: always tried first (hypothesis ``@example``s, atheris seed corpus)."""


TARGETS: dict[str, Callable[[bytes], None]] = {
    "properties": properties,
    "substitution": substitution,
    "grammar": grammar,
    "config": config,
    "line_deserializer": line_deserializer,
    "blob_deserializer": blob_deserializer,
    "avro_deserializer": avro_deserializer,
    "avro_event": avro_event,
    "avro_rpc": avro_rpc,
    "sequencefile": sequencefile,
}
"""Every fuzz target by name (``run_atheris.py NAME``)."""


MAX_LEN: dict[str, int] = {"config": 4096, "avro_deserializer": 2048}
"""Largest input libFuzzer makes per target (default 1024 bytes): short inputs run faster,
and every limit the parsers enforce is reachable within them (50 nesting levels of
``${``, 7 characters of line length); the known-bad long inputs run in ``test_fuzz.py``."""

SCOPE: dict[str, tuple[str, ...]] = {
    "properties": ("flafka.config.properties",),
    "substitution": ("flafka.config.substitute",),
    "grammar": ("flafka.config.grammar", "flafka.config.properties"),
    "config": (
        "flafka.config.loader", "flafka.config.properties", "flafka.config.substitute", "flafka.config.grammar",
        "flafka.config.plan", "flafka.config.flume_types", "flafka.config.diagnostics", "flafka.settings",
    ),
    "line_deserializer": ("flafka.sources.deserializers",),
    "blob_deserializer": ("flafka.sources.deserializers",),
    "avro_deserializer": ("flafka.sources.deserializers",),
    "avro_event": ("flafka_kafka.avro_event",),
    "avro_rpc": ("flafka_avro.framing", "flafka_avro.protocol"),
    "sequencefile": ("flafka_hdfs.sequencefile",),
}  # fmt: skip
"""The modules each target tests: the only code atheris instruments for coverage (the rest
of flafka, its dependencies and the standard library run uninstrumented, at full speed)."""

UNINSTRUMENTED = {"flafka.config.properties.escape"}
"""Functions of those modules only the oracle calls (``escape`` writes the round trip's
input: instrumenting its per-character loop cost half the properties target's time)."""

_CONFIG_TOKENS = [
    b"=", b":", b"\\", b"\\u", b"\\uD800", b"${", b"}", b"${env:", b"${sys:", b"#", b"!", b"\r\n", b"agent", b"a1",
    b".sources", b".channels", b".sinks", b".sinkgroups", b".type", b".channel", b".channels.", b".selector.", b".interceptors",
    b"memory", b"file", b"spooldir", b"logger", b"null", b"kafka", b"hdfs", b"avro", b"capacity", b"transactionCapacity",
    b"keep-alive", b"byteCapacity", b"spoolDir", b"includePattern", b"ignorePattern", b"deserializer", b"LINE", b"BLOB",
    b"AVRO", b"inputCharset", b"UTF-16", b"pollDelay", b"rollInterval", b"configfilters", b"99999999999999999999", b"nan",
    b"-1", b"true",
]  # fmt: skip
TOKENS: dict[str, list[bytes]] = {
    "properties": _CONFIG_TOKENS,
    "substitution": [b"${", b"}", b"${env:", b"${sys:", b"$${", b"=", b"\n", b"HOME", b"EMPTY", b"sys.prop"],
    "grammar": _CONFIG_TOKENS,
    "config": _CONFIG_TOKENS,
    "line_deserializer": [b"\n", b"\r\n", b"\r", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\x80", b"\xff"],
    "avro_deserializer": [b"Obj\x01", b"avro.schema", b"avro.codec", b"deflate", b"null", b"\xff"],
    "avro_event": [b"\x00", b"\x02", b"\x01", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"],
    "avro_rpc": [b"\x16appendBatch", b"\x0cappend", b"\x00\x00\x00\x01", b"\xff", b'{"protocol":', b"[[[["],
    "sequencefile": [b"\xff"],
}  # fmt: skip
"""libFuzzer dictionaries: the tokens each parser compares against (cheaper than tracing
every comparison)."""


def seed_inputs(name: str) -> list[bytes]:
    """Starting corpus for ``name``: its known-bad inputs, plus valid inputs built here (the
    Flume User Guide configs of ``tests/flume_guide_corpus``, an Avro container file, an
    encoded event or call) so that mutation starts from well-formed files."""
    seeds = list(SEEDS.get(name, []))
    if name in ("properties", "grammar", "config", "substitution"):
        corpus = Path(__file__).resolve().parents[1] / "flume_guide_corpus"
        for path in sorted(corpus.glob("*.conf")):
            text = path.read_bytes()
            seeds.append(b"\x01" + text if name == "config" else text)
    elif name == "avro_deserializer":
        seeds += [b"\x01\x00\x00\x00hello\xffworld\xff\xff", b"\x00" + _avro_container([{"b": b"x", "s": "y", "n": 1}] * 3, "null", 16)]
    elif name == "avro_event":
        from flafka_kafka.avro_event import encode

        seeds += [encode({"timestamp": "1", "host": "h"}, b"body"), encode({}, b"")]
    elif name == "avro_rpc":
        from flafka_avro import protocol
        from flafka_avro.framing import encode_pack

        call = protocol.encode_batch_call([Event(b"a", {"k": "v"}), Event(b"b")])
        seeds += [b"\x00\x02" + encode_pack(1, call), b"\x01\x02" + encode_pack(1, call)]
    return seeds
