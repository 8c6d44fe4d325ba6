"""Local staging files: one per open HDFS file, holding exactly the bytes to upload.

A staging file is a sequence of frames ``b"FHS1" | u32 length | u32 crc32 | payload``. The
first frame is a JSON description (final directory and name, in-use name); each later
frame is one batch's final-format bytes. A frame is *committed* once an ``fdatasync`` of its
file that started after it was written returned — only then may the channel take of its
batch commit. The :class:`Syncer` thread makes those syncs for many batches at once (group
commit). A crash can leave a torn last frame (never committed); :func:`scan` finds the last
whole frame and :meth:`StagingDir.recover` cuts the rest off. Whole frames that were written
but not yet synced at a crash are not cut: their batches were not committed, so they may be
uploaded *and* delivered again (duplicates, never loss).

The directory is locked (``flock`` on ``.lock``) so two agents never share it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


def sync_fd(fd: int) -> None:
    """Make the data written to ``fd`` durable: ``fdatasync`` (it also flushes the file size
    an append changed; only timestamps are skipped), ``fsync`` where there is none."""
    sync = getattr(os, "fdatasync", None) or os.fsync
    sync(fd)


class StagingFile:
    """An open staging file. ``append`` writes frames (no sync); the :class:`Syncer` (or
    ``sync``) makes them durable.

    Offsets: ``size`` bytes are written; ``published`` of them are whole batches handed to
    the syncer; ``synced`` of them are durable. ``error`` is the first failed sync: after it
    nothing beyond ``synced`` will ever be called durable (Linux may drop the dirty pages
    of a failed ``fsync``, so a later one succeeding proves nothing), and the file takes no
    more batches."""

    def __init__(self, path: Path, fd: int, size: int, payload_size: int, meta: dict[str, Any]) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        self.payload_size = payload_size
        self.meta = meta
        self.published = size
        self.published_payload = payload_size
        self.synced = size
        self.synced_payload = payload_size
        self.error: OSError | None = None
        self.on_closed: Callable[[StagingFile], None] | None = None

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
        sync_fd(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


class Syncer:
    """One thread that makes staging files durable for many batches at once (group commit).

    The sink appends a batch, then :meth:`publish`es the files it touched; the syncer takes
    every published file, ``fdatasync``s it and records the offset it had published before
    the sync started as ``synced``. :meth:`wait` blocks until a file is synced up to an
    offset, so one sync covers every batch written before it began. :meth:`close` hands
    over a file that takes no more appends: it is synced (or, after a failed sync, cut back
    to its last synced offset), closed, and ``done(file)`` is called from this thread.
    Every ``fd`` the syncer has seen is closed only by this thread, never under a sync.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._dirty: dict[int, StagingFile] = {}
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._busy = False
        self.syncs = 0
        """``fdatasync`` calls made (for tests and metrics)."""

    def start(self) -> None:
        with self._cond:
            self._stopping = False
            if self._thread is not None and self._thread.is_alive():
                return
            self._running = True
            self._thread = threading.Thread(target=self._run, name=f"hdfs-sync-{self.name}", daemon=True)
            self._thread.start()

    def publish(self, files: Iterable[StagingFile]) -> None:
        """Everything appended to ``files`` so far (whole batches) is to be synced."""
        with self._cond:
            for f in files:
                f.published = f.size
                f.published_payload = f.payload_size
                self._dirty[id(f)] = f
            self._cond.notify_all()

    def close(self, f: StagingFile, done: Callable[[StagingFile], None]) -> None:
        """``f`` takes no more appends: sync it, close it, then call ``done(f)`` (on the
        syncer's thread; ``f.synced``/``f.synced_payload`` are then its committed length)."""
        with self._cond:
            f.published = f.size
            f.published_payload = f.payload_size
            f.on_closed = done
            self._dirty[id(f)] = f
            self._cond.notify_all()

    def wait(self, f: StagingFile, end: int) -> OSError | None:
        """Block until ``f`` is durable up to ``end`` (an offset it published). Returns
        None then, or the error that means it never will be."""
        with self._cond:
            while f.synced < end:
                if f.error is not None:
                    return f.error
                if not self._running:
                    return OSError(f"the staging syncer of sink '{self.name}' stopped before {f.path} was synced")
                self._cond.wait()
        return None

    def drain(self, timeout: float) -> bool:
        """Wait until every published file is synced and every closed one handed on."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._dirty or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float) -> bool:
        """Finish what is published, then end the thread. False when it did not end in time."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        cond = self._cond
        try:
            while True:
                with cond:
                    while not self._dirty:
                        if self._stopping:
                            return
                        cond.wait()
                    work = [(f, f.published, f.published_payload, f.on_closed) for f in self._dirty.values()]
                    self._dirty.clear()
                    self._busy = True
                for f, end, payload, done in work:
                    self._sync(f, end, payload)
                    if done is not None:
                        self._retire(f, done)
                with cond:
                    self._busy = False
                    cond.notify_all()
        finally:
            with cond:
                self._running = False
                self._busy = False
                cond.notify_all()

    def _sync(self, f: StagingFile, end: int, payload: int) -> None:
        if f.error is not None or end <= f.synced:
            return
        try:
            sync_fd(f.fd)
        except OSError as exc:
            error: OSError | None = exc
        else:
            error = None
        self.syncs += 1
        with self._cond:
            if error is not None:
                f.error = error
            else:
                f.synced = end
                f.synced_payload = payload
            self._cond.notify_all()

    def _retire(self, f: StagingFile, done: Callable[[StagingFile], None]) -> None:
        if f.error is not None and f.size > f.synced:
            try:  # best effort: what was not synced was not committed (its batches are redelivered)
                os.ftruncate(f.fd, f.synced)
                sync_fd(f.fd)
            except OSError:
                pass
        f.close()
        try:
            done(f)
        except Exception:  # keep syncing the other files
            log.exception("staging: handing on %s failed; it stays staged and is uploaded at the next start", f.path)


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
