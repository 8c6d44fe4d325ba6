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
IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))
"""Buffers per ``writev`` (POSIX guarantees 16; Linux allows 1024)."""
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


CRC_PIECE = 5 * 1024
"""``zlib.crc32`` releases the GIL for buffers over 5 KiB; getting it back costs the syncer
up to a switch interval whenever another thread runs Python (the Kafka source), once per
batch. :func:`crc32` feeds it pieces of this size instead: same value, GIL held."""


def crc32(data: bytes) -> int:
    """``zlib.crc32(data)``, computed in :data:`CRC_PIECE` pieces (the GIL is never let go)."""
    if len(data) <= CRC_PIECE:
        return zlib.crc32(data)
    view = memoryview(data)
    crc = 0
    for i in range(0, len(data), CRC_PIECE):
        crc = zlib.crc32(view[i : i + CRC_PIECE], crc)
    return crc


def frame(payload: bytes) -> bytes:
    return FRAME.pack(MAGIC, len(payload), crc32(payload)) + payload


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


def iter_payload(path: Path, valid_length: int, chunk: int = 256 << 10) -> Iterator[bytes]:
    """The payload of the whole frames (up to ``valid_length``): a frame of at least
    ``chunk`` / 4 bytes (a batch) as read, smaller ones joined into pieces of about
    ``chunk`` bytes (few sends, and no copy of the large ones)."""
    big = chunk // 4
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
            if n >= big:
                if pending:
                    yield b"".join(pending)
                    pending, size = [], 0
                yield data
                continue
            pending.append(data)
            size += n
            if size >= chunk:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


class Payload:
    """The payload of a staging file's whole frames as an iterable of known length: an
    HTTP client sends it with ``Content-Length``, each piece as it is (chunked transfer
    encoding would copy every piece to frame it)."""

    def __init__(self, path: Path, valid_length: int, size: int) -> None:
        self.path = path
        self.valid_length = valid_length
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        return iter_payload(self.path, self.valid_length)


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
    """An open staging file. ``append`` queues a frame; the :class:`Syncer` thread writes
    queued frames and makes them durable, so the sink's thread makes no system call per
    batch.

    Offsets: ``size`` bytes are appended (queued or written); ``published`` of them are
    whole batches handed to the syncer; ``synced`` of them are written and durable.
    ``error`` is the first failed write or sync: after it nothing beyond ``synced`` is ever
    called durable (Linux may drop the dirty pages of a failed ``fsync``, so a later one
    succeeding proves nothing), and the file takes no more batches."""

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
        self.unpublished: list[bytes] = []
        """Payloads appended since the last publish (the sink's thread owns them)."""
        self.outbox: list[bytes] = []
        """Published payloads the syncer has not written yet (guarded by the syncer's lock)."""

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
        """Queue one frame holding ``payload``; nothing is written until it is published."""
        self.unpublished.append(payload)
        self.size += FRAME.size + len(payload)
        self.payload_size += len(payload)

    def truncate(self, size: int, payload_size: int) -> None:
        """Drop the frames appended after the file was ``size`` bytes long (a batch being
        undone); only frames not published yet can be dropped."""
        while self.size > size and self.unpublished:
            dropped = self.unpublished.pop()
            self.size -= FRAME.size + len(dropped)
            self.payload_size -= len(dropped)
        if self.size != size or self.payload_size != payload_size:
            raise ValueError(f"{self.path}: cannot cut back to {size} bytes, {self.published} are published")

    def write_out(self, payloads: list[bytes]) -> None:
        """Write frames holding ``payloads`` (the syncer's thread): one ``writev`` per
        ``IOV_MAX`` buffers, the CRC32 of each computed here (:func:`crc32`)."""
        bufs: list[bytes] = []
        pack = FRAME.pack
        for p in payloads:
            bufs.append(pack(MAGIC, len(p), crc32(p)))
            bufs.append(p)
        for i in range(0, len(bufs), IOV_MAX):
            chunk = bufs[i : i + IOV_MAX]
            written = os.writev(self.fd, chunk)
            total = sum(map(len, chunk))
            if written < total:  # a short write (a signal, a full disk): write the rest, or raise
                _write_all(self.fd, b"".join(chunk)[written:])

    def sync(self) -> None:
        sync_fd(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


LAZY_BYTES = 8 << 20
"""Unsynced published bytes at which the syncer syncs without being waited for."""


class Syncer:
    """One thread that writes and syncs staging files for many batches at once (group commit).

    The sink appends a batch's frames (queued in memory), then :meth:`publish`es the files
    it touched; once a sync is due (:meth:`_due`: a batch is waited for, a file closes, or
    :data:`LAZY_BYTES` wait) the syncer takes every published file, writes its queued
    frames, then ``fdatasync``s it and records the offset published before the write as
    ``synced``.
    :meth:`wait` blocks until a file is synced up to an offset, so one sync covers every
    batch published before it began. :meth:`close` hands over a file that takes no more
    appends: it is written and synced (or, after a failure, cut back to its last synced
    offset), closed, and ``done(file)`` is called from this thread. Every ``fd`` the syncer
    has seen is written and closed only by this thread.
    """

    lazy = True
    """Sync on demand (see :meth:`_due`); False syncs whatever is published at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._dirty: dict[int, StagingFile] = {}
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._busy = False
        self._demand = 0
        """Threads blocked in :meth:`wait` or :meth:`drain`: a sync is due only while one is."""
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
        """The frames appended to ``files`` so far (whole batches) are to be written and synced."""
        with self._cond:
            for f in files:
                self._hand_over(f)
            self._cond.notify_all()

    def close(self, f: StagingFile, done: Callable[[StagingFile], None]) -> None:
        """``f`` takes no more appends: write and sync it, close it, then call ``done(f)``
        (on the syncer's thread; ``f.synced``/``f.synced_payload`` are then its committed
        length)."""
        with self._cond:
            self._hand_over(f)
            f.on_closed = done
            self._cond.notify_all()

    def _hand_over(self, f: StagingFile) -> None:
        if f.unpublished:
            f.outbox += f.unpublished
            f.unpublished = []
        f.published = f.size
        f.published_payload = f.payload_size
        self._dirty[id(f)] = f

    def wait(self, f: StagingFile, end: int) -> OSError | None:
        """Block until ``f`` is durable up to ``end`` (an offset it published). Returns
        None then, or the error that means it never will be."""
        with self._cond:
            if f.synced >= end:
                return None
            self._demand += 1
            self._cond.notify_all()
            try:
                while f.synced < end:
                    if f.error is not None:
                        return f.error
                    if not self._running:
                        return OSError(f"the staging syncer of sink '{self.name}' stopped before {f.path} was synced")
                    self._cond.wait()
            finally:
                self._demand -= 1
        return None

    def drain(self, timeout: float) -> bool:
        """Wait until every published file is synced and every closed one handed on."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._demand += 1
            self._cond.notify_all()
            try:
                while self._dirty or self._busy:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._running:
                        return False
                    self._cond.wait(min(left, 0.1))
            finally:
                self._demand -= 1
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
                    while not self._due():
                        if self._stopping and not self._dirty:
                            return
                        cond.wait()
                    work = []
                    for f in self._dirty.values():
                        work.append((f, f.outbox, f.published, f.published_payload, f.on_closed))
                        f.outbox = []
                    self._dirty.clear()
                    self._busy = True
                for f, out, end, payload, done in work:
                    try:
                        self._sync(f, out, end, payload)
                    except Exception as exc:  # a bug, not the disk: fail this file's batches, keep the thread
                        log.exception("staging: syncing %s failed unexpectedly", f.path)
                        with cond:
                            f.error = f.error or OSError(f"unexpected error while syncing: {exc!r}")
                            cond.notify_all()
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

    def _due(self) -> bool:
        """(Under the lock) whether to write and sync now: a batch is waited for, a file is
        closing, the syncer is stopping, or :data:`LAZY_BYTES` wait unsynced. Until then
        published batches accumulate, so one ``fdatasync`` covers every batch the runtime
        keeps in flight rather than whichever were published when the last one returned."""
        dirty = self._dirty
        if not dirty:
            return False
        if self._demand or self._stopping or not self.lazy:
            return True
        pending = 0
        for f in dirty.values():
            if f.on_closed is not None:
                return True
            pending += f.published - f.synced
        return pending >= LAZY_BYTES

    def _sync(self, f: StagingFile, out: list[bytes], end: int, payload: int) -> None:
        if f.error is not None or end <= f.synced:
            return
        error: OSError | None = None
        try:
            if out:
                f.write_out(out)
            sync_fd(f.fd)
        except OSError as exc:
            error = exc
        self.syncs += 1
        with self._cond:
            if error is not None:
                f.error = error
            else:
                f.synced = end
                f.synced_payload = payload
            self._cond.notify_all()

    def _retire(self, f: StagingFile, done: Callable[[StagingFile], None]) -> None:
        if f.error is not None:
            try:  # best effort: what was not synced was not committed (its batches are written again)
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
