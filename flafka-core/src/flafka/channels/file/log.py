"""Log files over ``dataDirs`` and the group-commit writer.

Data files are named ``flafka-log-<id>`` (id zero-padded to 10 digits); file ``id`` is
created in ``dataDirs[(id - 1) % len(dataDirs)]``, so the directories are used in turn.
A file is closed and the next one created when a record would take it past
``maxFileSize``.

:class:`LogWriter` is one thread that writes queued records for every committing
transaction at once and makes them durable with one ``fdatasync`` (group commit). A
transaction's :class:`Ticket` is done only after that sync returned (or, with
``fsyncPerTransaction = false``, after the write; the thread then syncs every
``fsyncInterval``). A failed write or sync cuts the file back to its last durable length
(or, if that fails too, moves on to a new file) and fails the tickets of that group:
nothing is ever reported durable that was not synced.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable

from flafka.channels.file import records
from flafka.channels.file.fileio import FileIO

log = logging.getLogger(__name__)

PREFIX = "flafka-log-"
_NAME = re.compile(r"^flafka-log-(\d{10})$")
HEADER_LEN = len(records.file_header(1))
LINGER = 0.002
"""Most seconds the writer waits for a transaction about to commit, to share its sync
(and never more than half the time a sync takes)."""


def file_name(file_id: int) -> str:
    return f"{PREFIX}{file_id:010d}"


def find_files(dirs: list[str]) -> dict[int, str]:
    """Every data file in ``dirs``: id -> path."""
    found: dict[int, str] = {}
    for d in dirs:
        try:
            names = os.listdir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            m = _NAME.match(name)
            if m:
                found[int(m.group(1))] = os.path.join(d, name)
    return found


class Ticket:
    """One record waiting to be written: ``bufs`` (the whole frame), where it landed
    (``file_id``, ``offset``), and the outcome (``done``, ``error``)."""

    __slots__ = ("bufs", "done", "error", "file_id", "kind", "offset", "size", "work")

    def __init__(self, kind: int, bufs: list[bytes], work: object) -> None:
        self.kind = kind
        self.bufs = bufs
        self.size = sum(map(len, bufs))
        self.work = work
        """What the channel applies once the record is durable (its own object)."""
        self.file_id = 0
        self.offset = 0
        self.done = False
        self.error: OSError | None = None


class LogWriter:
    """The group-commit thread. ``cond`` is the channel's condition (its lock guards the
    queue); ``apply(tickets)`` is called with that lock held once the tickets' records are
    durable, in log order, before they are marked done."""

    def __init__(
        self,
        name: str,
        io: FileIO,
        dirs: list[str],
        max_file_size: int,
        cond: threading.Condition,
        apply: Callable[[list[Ticket]], None],
        next_file_id: int,
        fsync_per_transaction: bool = True,
        fsync_interval: float = 5.0,
    ) -> None:
        self.name = name
        self.io = io
        self.dirs = dirs
        self.max_file_size = max_file_size
        self.cond = cond
        self.apply = apply
        self.next_file_id = next_file_id
        self.fsync_per_transaction = fsync_per_transaction
        self.fsync_interval = fsync_interval
        self.pending: list[Ticket] = []
        self.file_id = 0
        self.fd = -1
        self.offset = 0
        """Bytes written to the current file."""
        self.synced = 0
        """Bytes of the current file known durable."""
        self.position = (0, 0)
        """(file id, offset) up to which records were applied (guarded by ``cond``)."""
        self.durable_position = (0, 0)
        """(file id, offset) up to which the log is durable (guarded by ``cond``)."""
        self.syncs = 0
        self.writes = 0
        self.bytes_written = 0
        self.failures = 0
        self.on_new_file: Callable[[int], None] | None = None
        self.others_active: Callable[[], bool] | None = None
        """True while some transaction holds events it has not submitted yet (the channel
        sets it; called with ``cond`` held)."""
        self._linger_score = 1.0
        self._groups = 0
        self._sync_time = 0.0
        """Moving average of the seconds an ``fdatasync`` takes: lingering longer than a
        fraction of it costs more than the sync it may save."""
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._running = False
        self._sync_wanted = False
        self._last_sync = time.monotonic()

    # -- the channel's side (call with cond's lock held) -----------------------------------

    def submit(self, ticket: Ticket) -> None:
        self.pending.append(ticket)
        self.cond.notify_all()

    def wait(self, ticket: Ticket) -> None:
        """Block until ``ticket`` is done; raise its error if it failed."""
        while not ticket.done:
            if not self._running:
                raise OSError(f"the log writer of channel '{self.name}' is stopped")
            self.cond.wait()
        if ticket.error is not None:
            raise ticket.error

    def sync_to(self, position: tuple[int, int], timeout: float) -> bool:
        """Block until the log is durable up to ``position`` (checkpoints)."""
        deadline = time.monotonic() + timeout
        while self.durable_position < position:
            left = deadline - time.monotonic()
            if left <= 0 or not self._running:
                return False
            self._sync_wanted = True
            self.cond.notify_all()
            self.cond.wait(min(left, 0.1))
        return True

    # -- lifecycle ----------------------------------------------------------------------

    def open_tail(self, file_id: int, path: str, size: int) -> None:
        """Continue writing the existing file ``file_id`` at ``size`` (after replay)."""
        self.fd = self.io.open_write(path)
        self.file_id = file_id
        self.offset = self.synced = size
        self.position = self.durable_position = (file_id, size)
        self.next_file_id = max(self.next_file_id, file_id + 1)

    def start(self) -> None:
        self._stopping = False
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"file-channel-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Write what is queued, sync, close the file, end the thread."""
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return True

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        cond = self.cond
        try:
            while True:
                with cond:
                    while not self.pending and not self._sync_wanted:
                        if self._stopping:
                            break
                        if not self.fsync_per_transaction and self.offset > self.synced:
                            left = self.fsync_interval - (time.monotonic() - self._last_sync)
                            if left <= 0:
                                self._sync_wanted = True
                                break
                            cond.wait(left)
                        else:
                            cond.wait()
                    if self.pending and self.fsync_per_transaction and not self._stopping:
                        self._linger()
                    group, self.pending = self.pending, []
                    stopping = self._stopping and not group
                    sync_wanted, self._sync_wanted = self._sync_wanted, False
                if group:
                    self._write(group)
                if (sync_wanted or stopping) and self.offset > self.synced:
                    self._sync_now()
                elif sync_wanted:
                    with cond:
                        self.durable_position = max(self.durable_position, (self.file_id, self.synced))
                        cond.notify_all()
                if stopping:
                    self._close_file()
                    return
        except BaseException:  # a bug: fail every waiter rather than hang them
            log.exception("channel '%s': the log writer failed", self.name)
            raise
        finally:
            with cond:
                self._running = False
                for t in self.pending:
                    t.error = t.error or OSError(f"the log writer of channel '{self.name}' stopped")
                    t.done = True
                self.pending = []
                cond.notify_all()

    def _linger(self) -> None:
        """Group commit across transactions that do not overlap by chance: when another
        transaction holds events it is about to commit (``others_active()``; a source's
        next put, a sink's take), wait up to :data:`LINGER` seconds for it so one sync
        covers both. Adaptive: lingering stops when it rarely gains anything (probed
        again every 32 groups). Called with ``cond`` held."""
        self._groups += 1
        if self.others_active is None or not self.others_active():
            return
        if self._linger_score < 0.2 and self._groups % 32:
            return
        before = len(self.pending)
        deadline = time.monotonic() + min(LINGER, self._sync_time / 2)
        while self.others_active() and len(self.pending) == before and not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.cond.wait(left)
        gained = len(self.pending) > before
        self._linger_score = 0.8 * self._linger_score + (0.2 if gained else 0.0)

    def _sync_now(self) -> None:
        try:
            self.io.fdatasync(self.fd)
            self.syncs += 1
            self._last_sync = time.monotonic()
        except OSError as exc:
            log.error("channel '%s': syncing %s failed: %s", self.name, file_name(self.file_id), exc)
            self.failures += 1
            self._recover()
            return
        with self.cond:
            self.synced = self.offset
            self.durable_position = (self.file_id, self.synced)
            self.cond.notify_all()

    def _write(self, group: list[Ticket]) -> None:
        i = 0
        n = len(group)
        per_tx = self.fsync_per_transaction
        while i < n:
            if self.fd < 0:
                try:
                    self._new_file()
                except OSError as exc:
                    self._fail(group[i:], exc)
                    return
            bufs: list[bytes] = []
            pos = self.offset
            j = i
            while j < n:
                t = group[j]
                if pos + t.size > self.max_file_size and pos > HEADER_LEN:
                    break
                t.file_id = self.file_id
                t.offset = pos
                bufs += t.bufs
                pos += t.size
                j += 1
            if j == i:  # nothing fits: next file
                self._roll()
                continue
            try:
                self.io.pwritev(self.fd, bufs, self.offset)
                self.writes += 1
                if per_tx:
                    began = time.monotonic()
                    self.io.fdatasync(self.fd)
                    self.syncs += 1
                    self._sync_time = 0.8 * self._sync_time + 0.2 * (time.monotonic() - began)
            except OSError as exc:
                self.failures += 1
                log.error(
                    "channel '%s': writing %s at offset %d failed: %s; the transactions are rolled back",
                    self.name,
                    file_name(self.file_id),
                    self.offset,
                    exc,
                )
                self._recover()
                self._fail(group[i:j], exc)
                i = j
                continue
            self.bytes_written += pos - self.offset
            with self.cond:
                self.offset = pos
                if per_tx:
                    self.synced = pos
                    self.durable_position = (self.file_id, pos)
                self.position = (self.file_id, pos)
                done = group[i:j]
                self.apply(done)
                for t in done:
                    t.done = True
                self.cond.notify_all()
            i = j
            if i < n:
                self._roll()

    def _fail(self, tickets: list[Ticket], exc: OSError) -> None:
        with self.cond:
            for t in tickets:
                t.error = exc
                t.done = True
            self.cond.notify_all()

    def _recover(self) -> None:
        """After a failed write or sync: cut the file back to its durable length, or give
        it up and continue in a new file."""
        try:
            self.io.truncate(self.fd, self.synced)
            self.io.fdatasync(self.fd)
            self.offset = self.synced
            return
        except OSError as exc:
            log.error(
                "channel '%s': cannot cut %s back to %d bytes (%s); writing continues in a new file",
                self.name,
                file_name(self.file_id),
                self.synced,
                exc,
            )
        try:
            self.io.close(self.fd)
        except OSError:
            pass
        self.fd = -1

    def _roll(self) -> None:
        """Close the current file (synced) and start the next."""
        if self.fd >= 0:
            if self.offset > self.synced:
                self._sync_now()
            self._close_file()

    def _close_file(self) -> None:
        if self.fd >= 0:
            try:
                self.io.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def _new_file(self) -> None:
        file_id = self.next_file_id
        directory = self.dirs[(file_id - 1) % len(self.dirs)]
        path = os.path.join(directory, file_name(file_id))
        try:
            fd = self.io.create(path)
        except FileExistsError:  # left by an earlier failed attempt: use the next id
            self.next_file_id += 1
            raise
        try:
            header = records.file_header(file_id)
            self.io.pwritev(fd, [header], 0)
            self.io.fdatasync(fd)
            self.io.fsync_dir(directory)
        except OSError:
            self.io.close(fd)
            try:
                self.io.unlink(path)
            except OSError:
                pass
            raise
        self.next_file_id = file_id + 1
        with self.cond:
            self.fd = fd
            self.file_id = file_id
            self.offset = self.synced = len(header)
            self.position = self.durable_position = (file_id, len(header))
            if self.on_new_file is not None:
                self.on_new_file(file_id)
