"""Local staging files: one per open HDFS file, holding exactly the bytes to upload.

A staging file is a sequence of frames ``b"FHS1" | u32 length | u32 crc32 | payload``. The
first frame is a JSON description (final directory and name, in-use name); each later
frame is one batch's final-format bytes. A frame is *committed* once ``fsync`` returned
after it was written — that is when the sink's ``write`` returns and the channel take
commits. A crash can leave a torn last frame (never committed); :func:`scan` finds the
last whole frame and :meth:`StagingDir.recover` cuts the rest off.

The directory is locked (``flock`` on ``.lock``) so two agents never share it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"FHS1"
FRAME = struct.Struct(">4sII")
SUFFIX = ".stage"


class StagingLocked(Exception):
    """Another process holds the staging directory."""


@dataclass
class Scanned:
    """What a staging file holds: its description, the length of its whole frames and the
    size of the payload (the bytes the HDFS file gets)."""

    path: Path
    meta: dict[str, Any] | None
    valid_length: int
    payload_size: int
    file_length: int


def frame(payload: bytes) -> bytes:
    return FRAME.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def scan(path: Path) -> Scanned:
    """Walk the frames of ``path``; stop at the first torn or corrupt one."""
    meta: dict[str, Any] | None = None
    valid = 0
    payload = 0
    with open(path, "rb") as fh:
        length = os.fstat(fh.fileno()).st_size
        while True:
            head = fh.read(FRAME.size)
            if len(head) < FRAME.size:
                break
            magic, n, crc = FRAME.unpack(head)
            if magic != MAGIC:
                break
            data = fh.read(n)
            if len(data) < n or zlib.crc32(data) != crc:
                break
            if meta is None:
                try:
                    meta = json.loads(data)
                except ValueError:
                    break
            else:
                payload += n
            valid += FRAME.size + n
    return Scanned(path, meta, valid, payload, length)


def iter_payload(path: Path, valid_length: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The payload of the whole frames (up to ``valid_length``), in pieces of about ``chunk`` bytes."""
    with open(path, "rb") as fh:
        pos = 0
        pending: list[bytes] = []
        size = 0
        first = True
        while pos < valid_length:
            head = fh.read(FRAME.size)
            _magic, n, _ = FRAME.unpack(head)
            data = fh.read(n)
            pos += FRAME.size + n
            if first:
                first = False
                continue
            pending.append(data)
            size += n
            if size >= chunk:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagingFile:
    """An open staging file. ``append`` writes frames (no fsync); ``sync`` makes them durable."""

    def __init__(self, path: Path, fd: int, size: int, payload_size: int, meta: dict[str, Any]) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        self.payload_size = payload_size
        self.meta = meta

    @classmethod
    def create(cls, directory: Path, stem: str, meta: dict[str, Any]) -> StagingFile:
        """Create ``<stem>.stage`` holding ``meta``, durable (file and directory fsynced)."""
        path = directory / (stem + SUFFIX)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            data = frame(json.dumps(meta, sort_keys=True).encode())
            _write_all(fd, data)
            os.fsync(fd)
            fsync_dir(directory)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        return cls(path, fd, len(data), 0, meta)

    def append(self, payload: bytes) -> None:
        """Write one frame. On an OSError the file is cut back to its last whole frame."""
        data = frame(payload)
        try:
            _write_all(self.fd, data)
        except OSError:
            self.truncate(self.size, self.payload_size)
            raise
        self.size += len(data)
        self.payload_size += len(payload)

    def truncate(self, size: int, payload_size: int) -> None:
        """Cut the file back to ``size`` bytes (a previous state)."""
        try:
            os.ftruncate(self.fd, size)
        except OSError:
            pass
        self.size = size
        self.payload_size = payload_size

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    written = 0
    while written < len(data):
        written += os.write(fd, view[written:])


class StagingDir:
    """The staging directory of one sink, locked for this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd = -1

    def open(self) -> None:
        """Create and lock the directory. Raises StagingLocked or OSError."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StagingLocked(str(self.path))
            raise
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def files(self) -> list[Path]:
        """Staging files, oldest name first (names start with a zero-padded sequence)."""
        return sorted(p for p in self.path.iterdir() if p.name.endswith(SUFFIX))

    def recover(self) -> tuple[list[Scanned], list[str]]:
        """Scan every staging file left by an earlier run: cut torn tails, drop files
        that never got their description. Returns (files to upload, notes for the log)."""
        keep: list[Scanned] = []
        notes: list[str] = []
        for path in self.files():
            try:
                found = scan(path)
            except OSError as exc:
                notes.append(f"cannot read staging file {path}: {exc}; it is left in place")
                continue
            if found.meta is None:
                notes.append(f"{path} was being created when the agent stopped (no committed events); removed")
                path.unlink(missing_ok=True)
                continue
            if found.valid_length < found.file_length:
                with open(path, "r+b") as fh:
                    fh.truncate(found.valid_length)
                    os.fsync(fh.fileno())
                notes.append(
                    f"{path}: cut {found.file_length - found.valid_length} bytes of a batch that was being written when "
                    f"the agent stopped (never committed; the channel delivers it again)"
                )
            keep.append(found)
        return keep, notes

    def total_bytes(self) -> int:
        total = 0
        for p in self.path.iterdir():
            if p.name.endswith(SUFFIX):
                try:
                    total += p.stat().st_size
                except OSError:
                    pass
        return total
