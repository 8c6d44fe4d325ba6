"""Flume's Avro event format: one ``AvroFlumeEvent`` as a schemaless Avro binary datum.

Schema (flume-ng-sdk ``flume.avdl``)::

    record AvroFlumeEvent { map<string> headers; bytes body; }

Flume's Kafka sink (``useFlumeEventFormat = true``), Kafka source and Kafka channel
(``parseAsFlumeEvent = true``) write it with ``SpecificDatumWriter`` on a direct binary
encoder: no container, no schema, no fingerprint. Encoding (Avro spec, "Binary
Encoding"): the map as one block ``count, (key, value)*, 0`` (an empty map is the single
byte ``0``); each string and the body as ``length, bytes``; every length and count is a
zig-zag varint.

:func:`encode` orders headers as Java's ``HashMap`` iterates them (Flume copies the
event's headers into a fresh ``HashMap<CharSequence, CharSequence>`` before writing), so
the bytes equal Flume's byte for byte, not only in meaning. :func:`decode` accepts any
block layout a writer may choose (several blocks, negative counts with byte sizes).
"""

from __future__ import annotations

__all__ = ["AvroEventError", "decode", "encode", "java_hashmap_order"]


class AvroEventError(ValueError):
    """The bytes are not one ``AvroFlumeEvent`` datum."""


def _zigzag(n: int) -> bytes:
    """Avro ``long``: zig-zag, then base-128 varint, low group first."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# -- Java HashMap iteration order -------------------------------------------------------

_spread_cache: dict[str, int] = {}


def _java_spread_hash(key: str) -> int:
    """``HashMap.hash(key)``: ``String.hashCode()`` (UTF-16 code units, int32) xor its
    high half. Cached: header names repeat from event to event."""
    h = _spread_cache.get(key)
    if h is None:
        code = 0
        data = key.encode("utf-16-be")
        for i in range(0, len(data), 2):
            code = (31 * code + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
        h = code ^ (code >> 16)
        if len(_spread_cache) < 100_000:
            _spread_cache[key] = h
    return h


def _table_size(n: int) -> int:
    size = 16
    while n > size * 0.75:
        size <<= 1
    return size


def java_hashmap_order(keys: list[str]) -> list[str]:
    """``keys`` in the order a ``java.util.HashMap`` holding them iterates: by bucket
    (``hash & (table size - 1)``), ties in insertion order. Exact for the maps Flume
    builds (default capacity, fewer than 8 keys colliding in one bucket)."""
    if len(keys) < 2:
        return keys
    mask = _table_size(len(keys)) - 1
    return sorted(keys, key=lambda k: _java_spread_hash(k) & mask)


# -- encode / decode --------------------------------------------------------------------


def encode(headers: dict[str, str], body: bytes) -> bytes:
    """One ``AvroFlumeEvent`` datum, byte-identical to Flume's."""
    if headers:
        parts = [_zigzag(len(headers))]
        for key in java_hashmap_order(list(headers)) if len(headers) > 1 else headers:
            k = key.encode("utf-8")
            v = headers[key].encode("utf-8")
            parts += (_zigzag(len(k)), k, _zigzag(len(v)), v)
        parts.append(b"\x00")
        head = b"".join(parts)
    else:
        head = b"\x00"
    return head + _zigzag(len(body)) + body


def _read_long(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = 0
    acc = 0
    end = len(data)
    while True:
        if pos >= end:
            raise AvroEventError("truncated varint")
        b = data[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise AvroEventError("varint longer than 10 bytes")
    return (acc >> 1) ^ -(acc & 1), pos


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = _read_long(data, pos)
    if size < 0 or pos + size > len(data):
        raise AvroEventError(f"length {size} runs past the end of the datum")
    return data[pos : pos + size], pos + size


def decode(data: bytes) -> tuple[dict[str, str], bytes]:
    """``(headers, body)`` of one datum. Raises :class:`AvroEventError` when ``data`` is
    not exactly one ``AvroFlumeEvent`` (trailing bytes, bad UTF-8, truncation)."""
    headers: dict[str, str] = {}
    pos = 0
    try:
        while True:
            count, pos = _read_long(data, pos)
            if count == 0:
                break
            if count < 0:  # a block with its size in bytes after the count
                count = -count
                _, pos = _read_long(data, pos)
            for _ in range(count):
                key, pos = _read_bytes(data, pos)
                value, pos = _read_bytes(data, pos)
                headers[key.decode("utf-8")] = value.decode("utf-8")
        body, pos = _read_bytes(data, pos)
    except UnicodeDecodeError as exc:
        raise AvroEventError(f"a header is not valid UTF-8 ({exc})") from None
    if pos != len(data):
        raise AvroEventError(f"{len(data) - pos} bytes left after the event")
    return headers, bytes(body)
