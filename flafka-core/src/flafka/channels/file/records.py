"""Record format of the file channel's log files (documented in docs/file-channel.md).

Every record is a frame::

    magic  4 bytes  b"FCR1"
    type   1 byte   1 header, 2 put, 3 take, 4 skip
    length 4 bytes  little-endian, bytes of payload
    crc    4 bytes  little-endian CRC-32 of the type byte followed by the payload
    payload

* header (first frame of every file): ``b"flafka-file-channel\\0"``, format version (u32),
  file id (u32).
* put (one committed put transaction): each event: body length (u32), header count
  (u32), for each header key length (u32), value length (u32), key, value (UTF-8), then
  the body; after the events, the first sequence number (u64) and the event count (u32).
  (The numbers come last so the CRC of the events can be computed before they are known.)
* take (one committed take transaction): one triple per run of consecutive events taken:
  the first sequence number of the put record holding them (u64), the index of the first
  event in that record (u32), the count (u32).
* skip: a damaged range set aside; the payload is ignored.

A record is committed once it is whole on disk with a matching CRC: a put commit writes
exactly one record, so a torn write can never half-commit a transaction.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from flafka.batch import AnyBatch, Batch
from flafka.event import Event

MAGIC = b"FCR1"
FRAME = struct.Struct("<4sBII")
HEADER, PUT, TAKE, SKIP = 1, 2, 3, 4
FORMAT_VERSION = 1
FILE_TAG = b"flafka-file-channel\x00"
_FILE_HEADER = struct.Struct("<II")
PUT_TAIL = struct.Struct("<QI")
_EVENT = struct.Struct("<II")
_PAIR = struct.Struct("<II")
_RUN = struct.Struct("<QII")
_TYPE_CRC = [zlib.crc32(bytes([t])) for t in range(256)]


def frame_header(kind: int, payload: bytes) -> bytes:
    """The 13-byte frame header for ``payload`` (write it, then the payload)."""
    return FRAME.pack(MAGIC, kind, len(payload), zlib.crc32(payload, _TYPE_CRC[kind]))


def file_header(file_id: int) -> bytes:
    payload = FILE_TAG + _FILE_HEADER.pack(FORMAT_VERSION, file_id)
    return frame_header(HEADER, payload) + payload


def encode_events(events: AnyBatch) -> bytes:
    """The events part of a put record's payload (see :func:`put_tail`); a column-wise
    batch is encoded from its columns (no ``Event`` built), to the same bytes."""
    parts: list[bytes] = []
    app = parts.append
    pk = _EVENT.pack
    pp = _PAIR.pack
    if isinstance(events, Batch) and events.columnar:
        bodies = events.bodies
        if not events.has_headers():
            for body in bodies:
                app(pk(len(body), 0))
                app(body)
            return b"".join(parts)
        for body, h in zip(bodies, events.header_maps(), strict=True):
            if h:
                app(pk(len(body), len(h)))
                for k, v in h.items():
                    kb = k.encode("utf-8", "surrogatepass")
                    vb = v.encode("utf-8", "surrogatepass")
                    app(pp(len(kb), len(vb)))
                    app(kb)
                    app(vb)
            else:
                app(pk(len(body), 0))
            app(body)
        return b"".join(parts)
    for e in events:
        body = e.body
        h = e._headers
        if h:
            app(pk(len(body), len(h)))
            for k, v in h.items():
                kb = k.encode("utf-8", "surrogatepass")
                vb = v.encode("utf-8", "surrogatepass")
                app(pp(len(kb), len(vb)))
                app(kb)
                app(vb)
        else:
            app(pk(len(body), 0))
        app(body)
    return b"".join(parts)


def put_tail(first_seq: int, count: int) -> bytes:
    """The last 12 bytes of a put record's payload."""
    return PUT_TAIL.pack(first_seq, count)


def put_frame(kind_crc: int, blob: bytes, tail: bytes) -> list[bytes]:
    """Buffers of a whole put frame, given ``kind_crc = events_crc(blob)``."""
    crc = zlib.crc32(tail, kind_crc)
    return [FRAME.pack(MAGIC, PUT, len(blob) + len(tail), crc), blob, tail]


def events_crc(blob: bytes) -> int:
    """The running CRC of a put frame up to the end of its events (no lock needed)."""
    return zlib.crc32(blob, _TYPE_CRC[PUT])


def put_numbers(payload: bytes | memoryview) -> tuple[int, int]:
    """``(first sequence number, count)`` of a put record's payload."""
    return PUT_TAIL.unpack_from(payload, len(payload) - PUT_TAIL.size)


def encode_put(first_seq: int, events: list[Event]) -> bytes:
    """A whole put payload (tests and tools)."""
    return encode_events(events) + put_tail(first_seq, len(events))


def decode_put(payload: bytes | memoryview, skip: int = 0, count: int | None = None) -> list[Event]:
    """Events ``skip .. skip+count`` of a put record's payload (all when ``count`` is None)."""
    _first, total = put_numbers(payload)
    if count is None:
        count = total - skip
    buf = bytes(payload)
    pos = 0
    unpack = _EVENT.unpack_from
    pair = _PAIR.unpack_from
    out: list[Event] = []
    end = skip + count
    for i in range(end):
        blen, nh = unpack(buf, pos)
        pos += 8
        if i < skip:
            for _ in range(nh):
                kl, vl = pair(buf, pos)
                pos += 8 + kl + vl
            pos += blen
            continue
        headers: dict[str, str] | None = None
        if nh:
            headers = {}
            for _ in range(nh):
                kl, vl = pair(buf, pos)
                pos += 8
                k = buf[pos : pos + kl].decode("utf-8", "surrogatepass")
                pos += kl
                headers[k] = buf[pos : pos + vl].decode("utf-8", "surrogatepass")
                pos += vl
        out.append(Event(buf[pos : pos + blen], headers))
        pos += blen
    return out


def encode_take(runs: list[tuple[int, int, int]]) -> bytes:
    """The payload of a take record: ``(record sequence number, index, count)`` runs."""
    return b"".join([_RUN.pack(*r) for r in runs])


def decode_take(payload: bytes | memoryview) -> list[tuple[int, int, int]]:
    return list(_RUN.iter_unpack(payload))


def parse_file_header(payload: bytes) -> tuple[int, int] | None:
    """``(version, file id)`` of a header payload, or None when it is not one of ours."""
    if not payload.startswith(FILE_TAG) or len(payload) != len(FILE_TAG) + _FILE_HEADER.size:
        return None
    version, file_id = _FILE_HEADER.unpack_from(payload, len(FILE_TAG))
    return version, file_id


@dataclass
class Frame:
    """One whole, checksummed record found by :func:`scan`."""

    kind: int
    offset: int
    length: int
    """Bytes of the whole frame (header included)."""
    payload: memoryview


@dataclass
class Damage:
    """Bytes ``start .. end`` of a file hold no valid record."""

    start: int
    end: int
    torn_tail: bool
    """True when nothing valid follows (a write cut short by a crash)."""


def _frame_at(buf: bytes, pos: int) -> Frame | None:
    if len(buf) - pos < FRAME.size:
        return None
    magic, kind, length, crc = FRAME.unpack_from(buf, pos)
    if magic != MAGIC or kind not in (HEADER, PUT, TAKE, SKIP):
        return None
    end = pos + FRAME.size + length
    if end > len(buf):
        return None
    payload = memoryview(buf)[pos + FRAME.size : end]
    if zlib.crc32(payload, _TYPE_CRC[kind]) != crc:
        return None
    return Frame(kind, pos, FRAME.size + length, payload)


def scan(buf: bytes, start: int = 0) -> Iterator[Frame | Damage]:
    """Every valid frame of ``buf`` from ``start``; where a frame is invalid, a
    :class:`Damage` covering the bytes up to the next valid frame (found by searching for
    the magic), or up to the end (a torn tail)."""
    pos = start
    size = len(buf)
    while pos < size:
        frame = _frame_at(buf, pos)
        if frame is not None:
            yield frame
            pos += frame.length
            continue
        nxt = buf.find(MAGIC, pos + 1)
        while nxt != -1 and _frame_at(buf, nxt) is None:
            nxt = buf.find(MAGIC, nxt + 1)
        if nxt == -1:
            yield Damage(pos, size, True)
            return
        yield Damage(pos, nxt, False)
        pos = nxt
