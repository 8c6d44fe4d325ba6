"""Flume's ``AvroSourceProtocol`` and the Avro IPC handshake and call formats (sans-IO).

The protocol text is the exact JSON Java's ``Protocol.toString()`` produces for Flume's
``flume.avdl`` (its licence comment becomes the ``doc``), so :data:`FLUME_MD5` is the hash
Flume agents send and expect in the handshake (``86aadae2c45474c0fe93ffd0f2350a65``).
Records are encoded with fastavro's schemaless reader/writer, which is byte-identical to
Java's Avro for these schemas, except the ``appendBatch`` event array, which
:mod:`flafka_avro.codec` encodes and decodes a whole batch at a time (same bytes). Every decoder raises :class:`ProtocolError` on malformed
input (never anything else), so a peer cannot crash the caller.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from flafka.batch import AnyBatch
from flafka.event import Event
from flafka_avro import codec

_LICENCE = (
    "* Licensed to the Apache Software Foundation (ASF) under one\n"
    " * or more contributor license agreements.  See the NOTICE file\n"
    " * distributed with this work for additional information\n"
    " * regarding copyright ownership.  The ASF licenses this file\n"
    " * to you under the Apache License, Version 2.0 (the\n"
    ' * "License"); you may not use this file except in compliance\n'
    " * with the License.  You may obtain a copy of the License at\n"
    " *\n"
    " * http://www.apache.org/licenses/LICENSE-2.0\n"
    " *\n"
    " * Unless required by applicable law or agreed to in writing,\n"
    " * software distributed under the License is distributed on an\n"
    ' * "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY\n'
    " * KIND, either express or implied.  See the License for the\n"
    " * specific language governing permissions and limitations\n"
    " * under the License."
)

_EVENT: dict[str, Any] = {
    "type": "record",
    "name": "AvroFlumeEvent",
    "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}],
}
_PROTOCOL: dict[str, Any] = {
    "protocol": "AvroSourceProtocol",
    "namespace": "org.apache.flume.source.avro",
    "doc": _LICENCE,
    "types": [{"type": "enum", "name": "Status", "symbols": ["OK", "FAILED", "UNKNOWN"]}, _EVENT],
    "messages": {
        "append": {"request": [{"name": "event", "type": "AvroFlumeEvent"}], "response": "Status"},
        "appendBatch": {
            "request": [{"name": "events", "type": {"type": "array", "items": "AvroFlumeEvent"}}],
            "response": "Status",
        },
    },
}

#: The protocol text exactly as Java serialises it (1334 bytes).
PROTOCOL_TEXT: str = json.dumps(_PROTOCOL, separators=(",", ":"))
#: MD5 of :data:`PROTOCOL_TEXT`: the hash Flume's handshake carries.
FLUME_MD5: bytes = hashlib.md5(PROTOCOL_TEXT.encode()).digest()

_MD5 = {"type": "fixed", "name": "MD5", "size": 16, "namespace": "org.apache.avro.ipc"}
HANDSHAKE_REQUEST = parse_schema(
    {
        "type": "record",
        "name": "HandshakeRequest",
        "namespace": "org.apache.avro.ipc",
        "fields": [
            {"name": "clientHash", "type": _MD5},
            {"name": "clientProtocol", "type": ["null", "string"]},
            {"name": "serverHash", "type": "MD5"},
            {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]},
        ],
    }
)
HANDSHAKE_RESPONSE = parse_schema(
    {
        "type": "record",
        "name": "HandshakeResponse",
        "namespace": "org.apache.avro.ipc",
        "fields": [
            {"name": "match", "type": {"type": "enum", "name": "HandshakeMatch", "symbols": ["BOTH", "CLIENT", "NONE"]}},
            {"name": "serverProtocol", "type": ["null", "string"]},
            {"name": "serverHash", "type": ["null", _MD5]},
            {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]},
        ],
    }
)
_META = parse_schema({"type": "map", "values": "bytes"})
_STRING = parse_schema("string")
_EVENT_SCHEMA = parse_schema(_EVENT)
_BATCH_SCHEMA = parse_schema({"type": "array", "items": _EVENT})

APPEND = "append"
APPEND_BATCH = "appendBatch"


class Status(enum.IntEnum):
    """Flume's ``Status`` enum (its wire index)."""

    OK = 0
    FAILED = 1
    UNKNOWN = 2


class Match(enum.IntEnum):
    """``HandshakeMatch``."""

    BOTH = 0
    CLIENT = 1
    NONE = 2


class ProtocolError(Exception):
    """Malformed or unexpected Avro IPC data from a peer; ``str`` says what was wrong."""


@dataclass
class HandshakeRequest:
    client_hash: bytes
    client_protocol: str | None
    server_hash: bytes
    meta: dict[str, bytes] | None


@dataclass
class HandshakeResponse:
    match: Match
    server_protocol: str | None
    server_hash: bytes | None
    meta: dict[str, bytes] | None


@dataclass
class Call:
    """A decoded request: the message name and, for append/appendBatch, its events (an
    ``appendBatch`` usually as a column-wise :class:`~flafka.batch.Batch`)."""

    name: str
    events: AnyBatch


def _read(buf: io.BytesIO, schema: Any, what: str) -> Any:
    try:
        return schemaless_reader(buf, schema, None)
    except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, UnicodeDecodeError ...
        raise ProtocolError(f"malformed {what} ({type(exc).__name__}: {exc})") from None


def _write(buf: io.BytesIO, schema: Any, datum: Any) -> None:
    schemaless_writer(buf, schema, datum)


def encode_handshake_request(req: HandshakeRequest) -> bytes:
    buf = io.BytesIO()
    _write(
        buf,
        HANDSHAKE_REQUEST,
        {"clientHash": req.client_hash, "clientProtocol": req.client_protocol, "serverHash": req.server_hash, "meta": req.meta},
    )
    return buf.getvalue()


def encode_handshake_response(resp: HandshakeResponse) -> bytes:
    buf = io.BytesIO()
    _write(
        buf,
        HANDSHAKE_RESPONSE,
        {"match": resp.match.name, "serverProtocol": resp.server_protocol, "serverHash": resp.server_hash, "meta": resp.meta},
    )
    return buf.getvalue()


def read_handshake_request(buf: io.BytesIO) -> HandshakeRequest:
    d = _read(buf, HANDSHAKE_REQUEST, "handshake request")
    return HandshakeRequest(d["clientHash"], d["clientProtocol"], d["serverHash"], d["meta"])


def read_handshake_response(buf: io.BytesIO) -> HandshakeResponse:
    d = _read(buf, HANDSHAKE_RESPONSE, "handshake response")
    return HandshakeResponse(Match[d["match"]], d["serverProtocol"], d["serverHash"], d["meta"])


def _to_events(records: list[dict[str, Any]]) -> list[Event]:
    """Events of fastavro's records (an empty header map becomes no headers)."""
    events = [Event(r["body"], r["headers"] or None) for r in records]
    for e in events:
        if not isinstance(e.body, bytes | bytearray):  # fastavro returns bytes; a short read returns fewer
            raise ProtocolError("an event body is not bytes")
    return events


_BATCH_CALL = b"\x00\x16appendBatch"  # call metadata {} and the message name


def encode_batch_call(events: AnyBatch) -> bytes:
    """Call meta ``{}``, ``"appendBatch"`` and the event array (no handshake), byte-identical
    to fastavro's encoding (:mod:`flafka_avro.codec`). Raises
    :class:`~flafka_avro.codec.EncodeError` naming an event the schema cannot carry."""
    return codec.encode_batch(events, _BATCH_CALL)


def _batch(buf: io.BytesIO) -> AnyBatch:
    """The ``appendBatch`` events at ``buf``'s position: the whole-batch decoder's
    column-wise :class:`~flafka.batch.Batch`, or a list of events from fastavro's general
    reader for a layout the codec leaves (negative block counts)."""
    data = buf.getvalue()
    try:
        fast = codec.decode_batch(data, buf.tell())
    except codec.DecodeError as exc:
        raise ProtocolError(f"malformed appendBatch events ({exc})") from None
    if fast is None:
        return _to_events(_read(buf, _BATCH_SCHEMA, "appendBatch events"))
    events, pos = fast
    buf.seek(pos)
    return events


def read_call(buf: io.BytesIO, max_events: int) -> Call:
    """Decode meta, message name and parameters of a request; the whole rest of ``buf``
    must be consumed. ``max_events`` bounds an ``appendBatch`` (checked after decoding:
    the frame size already bounds memory)."""
    pos = buf.tell()
    if buf.getvalue().startswith(_BATCH_CALL, pos):  # no metadata, appendBatch: the usual call
        buf.seek(pos + len(_BATCH_CALL))
        name = APPEND_BATCH
    else:
        _read(buf, _META, "call metadata")
        name = _read(buf, _STRING, "message name")
    events: AnyBatch
    if name == APPEND:
        events = _to_events([_read(buf, _EVENT_SCHEMA, "append event")])
    elif name == APPEND_BATCH:
        events = _batch(buf)
    else:
        events = []
    if name in (APPEND, APPEND_BATCH):
        rest = len(buf.getvalue()) - buf.tell()  # (getbuffer() would copy the message)
        if rest:
            raise ProtocolError(f"{rest} bytes left over after the '{name}' parameters")
        if len(events) > max_events:
            raise ProtocolError(f"appendBatch of {len(events)} events exceeds the {max_events} allowed")
    return Call(name, events)


def encode_response(status: Status) -> bytes:
    """Response meta ``{}``, error flag false, the status."""
    return b"\x00\x00" + bytes((status << 1,))


def encode_error(message: str) -> bytes:
    """Response meta ``{}``, error flag true, union index 0 (string) and the message."""
    buf = io.BytesIO()
    buf.write(b"\x00\x01\x00")
    _write(buf, _STRING, message)
    return buf.getvalue()


def read_response(buf: io.BytesIO) -> Status | str:
    """A :class:`Status`, or the text of a system error the server sent."""
    pos = buf.tell()
    if buf.getvalue()[pos : pos + 1] == b"\x00":  # no metadata (the usual answer)
        buf.seek(pos + 1)
    else:
        _read(buf, _META, "response metadata")
    flag = buf.read(1)
    if flag == b"\x00":
        raw = buf.read(1)
        if raw in (b"\x00", b"\x02", b"\x04"):
            return Status(raw[0] >> 1)
        raise ProtocolError(f"unknown Status {raw!r} in the response")
    if flag == b"\x01":
        index = buf.read(1)
        if index != b"\x00":
            raise ProtocolError(f"unknown error union branch {index!r}")
        return str(_read(buf, _STRING, "error message"))
    raise ProtocolError(f"bad error flag {flag!r} in the response")
