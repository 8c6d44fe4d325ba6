"""Checkpoints: the live records (pointers into the log) and the log position they
reflect, so a start replays only the log written after it.

File ``flafka-checkpoint`` in ``checkpointDir`` (and, with ``useDualCheckpoints``, a copy
in ``backupCheckpointDir``), replaced atomically (temp file, fsync, rename, directory
fsync). Layout, little-endian::

    magic b"FCCK" | format version u32 | CRC-32 of the rest u32
    log position: file id u32, offset u64 | next sequence number u64 | next file id u32
    record count u32, then per live record:
      first sequence number u64, count u32, file id u32, offset u64, length u32,
      taken-run count u32, then (index u32, count u32) per run taken

A checkpoint is only an optimisation: one that is missing, torn, of another version or
pointing at missing files is reported and the channel replays every data file instead.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from flafka.channels.file.fileio import FileIO, write_file
from flafka.channels.file.state import LiveRecord

NAME = "flafka-checkpoint"
MAGIC = b"FCCK"
VERSION = 1
_HEAD = struct.Struct("<4sII")
_BODY = struct.Struct("<IQQII")
_REC = struct.Struct("<QIIQII")
_RUN = struct.Struct("<II")


class BadCheckpoint(Exception):
    """The checkpoint cannot be used; ``str()`` says why."""


@dataclass
class Checkpoint:
    position: tuple[int, int]
    next_seq: int
    next_file_id: int
    records: list[LiveRecord]


def encode(cp: Checkpoint) -> bytes:
    parts = [_BODY.pack(cp.position[0], cp.position[1], cp.next_seq, cp.next_file_id, len(cp.records))]
    rec = _REC.pack
    run = _RUN.pack
    for r in cp.records:
        parts.append(rec(r.seq, r.count, r.file_id, r.offset, r.length, len(r.taken)))
        for s, n in r.taken:
            parts.append(run(s, n))
    body = b"".join(parts)
    return _HEAD.pack(MAGIC, VERSION, zlib.crc32(body)) + body


def decode(data: bytes, where: str) -> Checkpoint:
    if len(data) < _HEAD.size:
        raise BadCheckpoint(f"{where} is cut short ({len(data)} bytes)")
    magic, version, crc = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise BadCheckpoint(f"{where} is not a flafka file-channel checkpoint")
    if version != VERSION:
        raise BadCheckpoint(f"{where} has format version {version}; this flafka reads version {VERSION}")
    body = memoryview(data)[_HEAD.size :]
    if zlib.crc32(body) != crc:
        raise BadCheckpoint(f"{where} fails its checksum (damaged or cut short)")
    fid, off, next_seq, next_file, n = _BODY.unpack_from(body, 0)
    pos = _BODY.size
    out: list[LiveRecord] = []
    try:
        for _ in range(n):
            seq, count, file_id, offset, length, runs = _REC.unpack_from(body, pos)
            pos += _REC.size
            taken = [_RUN.unpack_from(body, pos + i * _RUN.size) for i in range(runs)]
            pos += runs * _RUN.size
            out.append(LiveRecord(seq, count, file_id, offset, length, taken))
    except struct.error:
        raise BadCheckpoint(f"{where} is inconsistent (record list cut short)")
    return Checkpoint((fid, off), next_seq, next_file, out)


def write(io: FileIO, directory: str, cp: Checkpoint) -> None:
    write_file(io, os.path.join(directory, NAME), encode(cp))


def read(directory: str) -> Checkpoint | None:
    """The checkpoint in ``directory``; None when there is none. Raises BadCheckpoint."""
    path = os.path.join(directory, NAME)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadCheckpoint(f"{path} cannot be read: {exc}")
    return decode(data, path)
