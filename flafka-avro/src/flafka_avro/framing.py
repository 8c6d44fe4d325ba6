"""Netty data-pack framing of Avro IPC (Avro's ``NettyTransportCodec``), sans-IO.

A pack is ``int32 serial, int32 count, count x (int32 length, bytes)``, big endian, with
no terminator; its message is the concatenation of its buffers (zero-length buffers are
normal). :class:`PackDecoder` is fed bytes as they arrive and yields complete packs; it
refuses a pack with too many buffers, a negative length or more than ``max_bytes`` in
total *before* buffering it, so a peer cannot make it allocate without bound.
"""

from __future__ import annotations

import struct

_HEAD = struct.Struct(">ii")
_LEN = struct.Struct(">i")

#: Most buffers one pack may hold (Java splits into 8 KiB chunks: 64 MiB / 8 KiB).
MAX_BUFFERS = 8192


class FrameError(Exception):
    """The peer sent something that is not a valid data pack; ``str`` says what."""


def encode_pack(serial: int, message: bytes) -> bytes:
    """One pack holding ``message`` as a single buffer."""
    return _HEAD.pack(serial, 1) + _LEN.pack(len(message)) + message


def encode_pack_parts(serial: int, parts: list[bytes]) -> bytes:
    """One pack holding each of ``parts`` as its own buffer (Java's response layout)."""
    out = [_HEAD.pack(serial, len(parts))]
    for p in parts:
        out.append(_LEN.pack(len(p)))
        out.append(p)
    return b"".join(out)


class PackDecoder:
    """Incremental decoder: ``feed(data)`` returns the complete ``(serial, message)`` packs."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received that do not make a complete pack yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Append ``data``; return every complete pack. Raises :class:`FrameError`."""
        self._buf += data
        packs: list[tuple[int, bytes]] = []
        while True:
            pack = self._next()
            if pack is None:
                return packs
            packs.append(pack)

    def _next(self) -> tuple[int, bytes] | None:
        buf = self._buf
        if len(buf) < 8:
            return None
        serial, count = _HEAD.unpack_from(buf, 0)
        if count < 0 or count > MAX_BUFFERS:
            raise FrameError(f"a data pack announces {count} buffers (at most {MAX_BUFFERS} allowed)")
        pos, total = 8, 0
        spans = []
        for _ in range(count):
            if len(buf) < pos + 4:
                return None
            (length,) = _LEN.unpack_from(buf, pos)
            if length < 0:
                raise FrameError(f"a data pack buffer has a negative length ({length})")
            total += length
            if total > self.max_bytes:
                raise FrameError(f"a data pack is larger than the {self.max_bytes} bytes allowed (at least {total} bytes)")
            pos += 4
            if len(buf) < pos + length:
                return None
            spans.append((pos, pos + length))
            pos += length
        parts = [buf[a:b] for a, b in spans if a != b]
        message = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        del buf[:pos]
        return serial, message
