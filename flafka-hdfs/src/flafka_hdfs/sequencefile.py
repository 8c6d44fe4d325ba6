"""Hadoop's SequenceFile format (version 6, ``SEQ\\x06``), written by hand.

Header: ``SEQ`` + version byte 6, key and value class names (``Text.writeString``: a
Hadoop vint length and UTF-8 bytes), two booleans (compressed, block-compressed), the codec
class name when compressed, the metadata (a 4-byte count, then Text pairs), and a 16-byte
sync marker.

Records (no compression): ``int recordLength, int keyLength, key, value``; before a record,
once the file has grown :data:`SYNC_INTERVAL` bytes past the last sync, ``int -1`` and the
sync marker (Hadoop's ``Writer.checkAndWriteSync``).

Blocks (``BLOCK`` compression, what Flume writes when ``hdfs.codeC`` is set): ``int -1``
and the sync marker, a vint record count, then four buffers (key lengths as vints, keys,
value lengths as vints, values), each a vint size and the bytes of one complete codec
stream (Hadoop's ``BlockCompressWriter.sync``). One batch makes one block, as Flume's
per-batch ``sync()`` does; a block is cut early at :data:`COMPRESSION_BLOCK_SIZE`.

Flume's key/value classes: ``LongWritable`` (the event's ``timestamp`` header, or the
current time) with ``BytesWritable`` (``hdfs.writeFormat = Writable``) or ``Text``
(``hdfs.writeFormat = Text``) holding the body.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping

from flafka.batch import AnyBatch, bodies_of, has_headers, header_maps_of
from flafka.event import Event

SYNC_ESCAPE = b"\xff\xff\xff\xff"
SYNC_INTERVAL = 5 * 1024 * 20
"""Bytes between sync points (Hadoop 3's ``SequenceFile.SYNC_INTERVAL``: 100 KiB)."""
COMPRESSION_BLOCK_SIZE = 1_000_000
"""``io.seqfile.compress.blocksize``'s default: a block is written once keys + values reach it."""

LONG_WRITABLE = "org.apache.hadoop.io.LongWritable"
BYTES_WRITABLE = "org.apache.hadoop.io.BytesWritable"
TEXT = "org.apache.hadoop.io.Text"

_PACK_BYTES_RECORD = struct.Struct(">iiqi").pack
_PACK_TEXT_HEAD = struct.Struct(">iiq").pack
_PACK_LONG = struct.Struct(">q").pack
_PACK_INT = struct.Struct(">i").pack
_PACK_BYTES_VALUE = struct.Struct(">qi").pack


def vlong(value: int) -> bytes:
    """Hadoop's ``WritableUtils.writeVLong`` (also ``writeVInt``)."""
    if -112 <= value <= 127:
        return struct.pack(">b", value)
    length = -112
    if value < 0:
        value ^= -1
        length = -120
    tmp = value
    while tmp:
        tmp >>= 8
        length -= 1
    count = -(length + 120) if length < -120 else -(length + 112)
    return struct.pack(">b", length) + value.to_bytes(count, "big")


def text(value: str | bytes) -> bytes:
    """``Text.writeString``: vint length, then the UTF-8 bytes."""
    raw = value.encode() if isinstance(value, str) else value
    return vlong(len(raw)) + raw


def header(
    key_class: str,
    value_class: str,
    sync: bytes,
    codec_class: str | None = None,
    block: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The file header, ending with the sync marker."""
    if len(sync) != 16:
        raise ValueError("a SequenceFile sync marker is 16 bytes")
    parts = [b"SEQ\x06", text(key_class), text(value_class), b"\x01" if codec_class else b"\x00"]
    parts.append(b"\x01" if codec_class and block else b"\x00")
    if codec_class:
        parts.append(text(codec_class))
    meta = metadata or {}
    parts.append(_PACK_INT(len(meta)))
    for k, v in meta.items():
        parts += [text(k), text(v)]
    parts.append(sync)
    return b"".join(parts)


def event_timestamp(event: Event, now_ms: int) -> int:
    """The key Flume writes: the ``timestamp`` header (epoch ms), else the current time."""
    return _timestamp(event._headers, now_ms)


def _timestamp(headers: Mapping[str, str] | None, now_ms: int) -> int:
    ts = headers.get("timestamp") if headers else None
    if ts is None:
        return now_ms
    try:
        return int(ts)
    except ValueError:
        return now_ms


def batch_keys(events: AnyBatch, now_ms: int) -> list[int]:
    """The key of every event of the batch (:func:`event_timestamp`), reading header maps
    only when some event may have one (a column-wise batch builds no events)."""
    if not events or not has_headers(events):
        return [now_ms] * len(events)
    maps = header_maps_of(events)
    first = maps[0]
    if first is maps[-1] and maps.count(first) == len(maps):  # one map shared by the batch
        return [_timestamp(first, now_ms)] * len(maps)
    return [_timestamp(m, now_ms) for m in maps]


class SequenceFileEncoder:
    """Encodes batches into one SequenceFile. ``encode`` returns the bytes to append (the
    header included on the first call); :meth:`mark`/:meth:`reset` undo an encode whose
    bytes were not written."""

    def __init__(
        self,
        sync: bytes,
        text_values: bool = False,
        codec_class: str | None = None,
        compress: Callable[[bytes], bytes] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (codec_class is None) != (compress is None):
            raise ValueError("codec_class and compress go together")
        self.sync = sync
        self.text_values = text_values
        self.codec_class = codec_class
        self.compress = compress
        self.clock = clock
        self.pos = 0
        self.last_sync = 0

    def header(self) -> bytes:
        return header(LONG_WRITABLE, TEXT if self.text_values else BYTES_WRITABLE, self.sync, self.codec_class, self.compress is not None)

    def mark(self) -> tuple[int, int]:
        return self.pos, self.last_sync

    def reset(self, mark: tuple[int, int]) -> None:
        self.pos, self.last_sync = mark

    def encode(self, events: AnyBatch) -> bytes:
        """The bytes of one batch (a ``list[Event]`` or a column-wise batch: only bodies and,
        when there are headers, the ``timestamp`` header are read)."""
        out: list[bytes] = []
        if self.pos == 0:
            head = self.header()
            out.append(head)
            self.pos = len(head)
        now_ms = int(self.clock() * 1000)
        bodies = bodies_of(events)
        keys = batch_keys(events, now_ms)
        if self.compress is not None:
            self._blocks(bodies, keys, out)
        else:
            self._records(bodies, keys, out)
        return b"".join(out)

    def _records(self, bodies: list[bytes], keys: list[int], out: list[bytes]) -> None:
        pos, last_sync, sync_marker = self.pos, self.last_sync, SYNC_ESCAPE + self.sync
        text_values = self.text_values
        for body, ts in zip(bodies, keys, strict=True):
            if pos >= last_sync + SYNC_INTERVAL:
                out.append(sync_marker)
                pos += 20
                last_sync = pos
            if text_values:
                value_len = vlong(len(body))
                head = _PACK_TEXT_HEAD(8 + len(value_len) + len(body), 8, ts) + value_len
            else:
                head = _PACK_BYTES_RECORD(12 + len(body), 8, ts, len(body))
            out.append(head)
            out.append(body)
            pos += len(head) + len(body)
        self.pos, self.last_sync = pos, last_sync

    def _blocks(self, bodies: list[bytes], keys: list[int], out: list[bytes]) -> None:
        start = 0
        size = 0
        for i, body in enumerate(bodies):
            size += 8 + len(body) + 5
            if size >= COMPRESSION_BLOCK_SIZE:
                self._block(bodies[start : i + 1], keys[start : i + 1], out)
                start, size = i + 1, 0
        if start < len(bodies):
            self._block(bodies[start:], keys[start:], out)

    def _block(self, bodies: list[bytes], keys: list[int], out: list[bytes]) -> None:
        compress = self.compress
        assert compress is not None
        key_len = vlong(8)
        packed_keys = b"".join(map(_PACK_LONG, keys))
        values_parts = [text(b) for b in bodies] if self.text_values else [_PACK_INT(len(b)) + b for b in bodies]
        buffers = (key_len * len(bodies), packed_keys, b"".join(vlong(len(v)) for v in values_parts), b"".join(values_parts))
        block = [SYNC_ESCAPE, self.sync, vlong(len(bodies))]
        for buf in buffers:
            packed = compress(buf)
            block += [vlong(len(packed)), packed]
        data = b"".join(block)
        out.append(data)
        self.pos += len(data)
        self.last_sync = self.pos


def read_records(data: bytes) -> tuple[dict[str, object], list[tuple[int, bytes]]]:
    """Parse an uncompressed SequenceFile written by :class:`SequenceFileEncoder` (for tests
    and ``flafka`` tooling): returns the header fields and (key, value bytes) pairs."""
    pos = 0

    def read_vlong() -> int:
        nonlocal pos
        first = struct.unpack_from(">b", data, pos)[0]
        pos += 1
        if first >= -112:
            return int(first)
        negative = first < -120
        count = -(first + 120) if negative else -(first + 112)
        value = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        return value ^ -1 if negative else value

    def read_text() -> bytes:
        nonlocal pos
        n = read_vlong()
        raw = data[pos : pos + n]
        pos += n
        return raw

    if data[:4] != b"SEQ\x06":
        raise ValueError("not a version 6 SequenceFile")
    pos = 4
    key_class, value_class = read_text().decode(), read_text().decode()
    compressed, block = data[pos] == 1, data[pos + 1] == 1
    pos += 2
    codec = read_text().decode() if compressed else ""
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    meta = {}
    for _ in range(count):
        k = read_text().decode()
        meta[k] = read_text().decode()
    sync = data[pos : pos + 16]
    pos += 16
    info: dict[str, object] = {"key": key_class, "value": value_class, "codec": codec, "block": block, "metadata": meta, "sync": sync}
    if compressed:
        raise ValueError("read_records reads uncompressed files only")
    records: list[tuple[int, bytes]] = []
    while pos < len(data):
        (length,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if length == -1:
            if data[pos : pos + 16] != sync:
                raise ValueError(f"bad sync marker at {pos}")
            pos += 16
            continue
        (klen,) = struct.unpack_from(">i", data, pos)
        pos += 4
        (key,) = struct.unpack_from(">q", data, pos)
        value = data[pos + klen : pos + length]
        pos += length
        if value_class == BYTES_WRITABLE:
            value = value[4:]
        else:
            save, pos = pos, 0
            data_v = value
            n_first = struct.unpack_from(">b", data_v, 0)[0]
            skip = 1 if n_first >= -112 else 1 + (-(n_first + 120) if n_first < -120 else -(n_first + 112))
            value = data_v[skip:]
            pos = save
        records.append((key, value))
    return info, records
