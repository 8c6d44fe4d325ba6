"""The file channel (Flume's ``file``): a durable channel whose events live in a
write-ahead log on local disk.

Contract:

* A put commit returns only after its events are written and ``fdatasync``ed (with the
  default ``fsyncPerTransaction = true``); concurrent commits share one sync (group
  commit, :mod:`~flafka.channels.file.log`). The channel is durable, so acknowledgement
  tokens are paid at put commit.
* A take commit is durable the same way; a take rollback returns the events to the head.
* On start the channel holds exactly the events whose put committed and whose take did
  not, in put order (:mod:`~flafka.channels.file.replay`).
* Below ``minimumRequiredSpace`` free bytes (plus the record's own size), as in Flume, a
  put commit fails with :class:`~flafka.errors.ChannelFullError` (the source keeps its
  batch and retries), and a take or take commit fails with
  :class:`~flafka.errors.ChannelError` (the events stay in the channel; the sink
  retries). When a write fails with ENOSPC, the put or take commit fails the same way.
  Nothing half-written is ever visible, and both resume when there is room.
* No checkpoint is written while its directory has ``minimumRequiredSpace`` free bytes or
  fewer (as in Flume): logged and counted, retried at the next interval; the previous
  checkpoint and every data file stay, so nothing committed is lost.
* A take commit that fails returns its events to the head of the channel (as a
  rollback) before it raises.

Events of recent puts stay in memory (up to :data:`CACHE_BYTES`) so a sink that keeps up
never reads the disk; older ones are read back from the log when taken.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any, cast

from flafka.batch import AnyBatch
from flafka.channel import PutTransaction, QueuedChannel, TakeTransaction
from flafka.channels.file import checkpoint, records
from flafka.channels.file.counter import FileChannelCounter
from flafka.channels.file.dirs import DirLock, prepare, refuse_flume
from flafka.channels.file.fileio import FileIO
from flafka.channels.file.log import LogWriter, Ticket, file_name
from flafka.channels.file.replay import replay
from flafka.channels.file.state import LiveRecord, LiveSet
from flafka.channels.file.transactions import FilePut, FileTake
from flafka.errors import ChannelError, ChannelFullError, ConfigError
from flafka.event import Event
from flafka.settings import Problem, Schema, Setting, Settings

log = logging.getLogger(__name__)

CACHE_BYTES = 16 << 20
"""Log bytes of stored events kept decoded in memory; beyond it takes read the log."""
MIN_REQUIRED_SPACE = 1 << 20
"""Flume's floor for ``minimumRequiredSpace``."""
SPACE_CHECK_INTERVAL = 0.1

# A chunk of the queue: [events or None (read from the log when taken), record, index of
# the first event in the record, count, cached bytes]
Chunk = list[Any]



def _expand(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path.strip()))


class FileChannel(QueuedChannel):
    """Durable channel backed by a write-ahead log on local disk, with group commit."""

    type_name = "file"
    aliases = ("org.apache.flume.channel.file.FileChannel",)
    durable = True
    concurrent_takes = True
    batch_aware = True  # encodes column-wise batches from their columns and hands them back as they came
    counter: FileChannelCounter
    summary = "Durable channel on local disk (write-ahead log, checkpoints, group commit)"
    settings_schema = Schema(
        Setting("checkpointDir", "str", "~/.flume/file-channel/checkpoint", "directory of the checkpoint"),
        Setting("useDualCheckpoints", "bool", False, "also write each checkpoint to backupCheckpointDir"),
        Setting("backupCheckpointDir", "str", None, "directory of the backup checkpoint (needed by useDualCheckpoints)"),
        Setting("compressBackupCheckpoint", "bool", False, "accepted for compatibility; the backup is written uncompressed"),
        Setting("dataDirs", "str", "~/.flume/file-channel/data", "comma-separated directories of the log files, used in turn"),
        Setting("capacity", "int", 1000000, "most events stored", minimum=1),
        Setting("transactionCapacity", "int", 10000, "most events one transaction puts or takes", minimum=1),
        Setting("checkpointInterval", "int", 30000, "milliseconds between checkpoints", minimum=1),
        Setting("maxFileSize", "int", 2146435071, "bytes after which a log file is closed and the next one started", minimum=1024),
        Setting(
            "minimumRequiredSpace",
            "int",
            524288000,
            "free bytes below which puts and takes fail (retriable) and no checkpoint is written, as in Flume; at least 1 MiB",
            minimum=0,
        ),
        Setting("keep-alive", "int", 3, "seconds a put commit waits for room before failing", minimum=0),
        Setting("checkpointOnClose", "bool", True, "write a checkpoint when the channel stops (fast next start)"),
        Setting("fsyncPerTransaction", "bool", True, "sync the log at every commit (false: every fsyncInterval; can lose that much)"),
        Setting("fsyncInterval", "int", 5, "seconds between log syncs when fsyncPerTransaction is false", minimum=1),
        Setting("use-fast-replay", "bool", False, "accepted for compatibility; replay is always one pass in memory"),
        Setting("use-log-replay-v1", "bool", False, "accepted for compatibility; has no meaning in flafka"),
        Setting("encryption.*", "map", None, "Flume's log encryption: not supported (the channel refuses to start when set)"),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        errors = [p for p in self.check_settings(settings) if p.severity == "error"]
        if errors:
            raise ConfigError(
                f"channel '{name}': " + "; ".join(f"{p.key}: {p.message}" + (f" ({p.suggestion})" if p.suggestion else "") for p in errors)
            )
        self.io = FileIO()
        """Every change to disk goes through this (tests record or fail it)."""
        self.checkpoint_dir = _expand(settings["checkpointDir"])
        backup = settings["backupCheckpointDir"]
        self.backup_dir = _expand(backup) if settings["useDualCheckpoints"] and backup else None
        self.data_dirs = [_expand(d) for d in str(settings["dataDirs"]).split(",") if d.strip()]
        self.capacity = int(settings["capacity"])
        self.tx_capacity = int(settings["transactionCapacity"])
        self.keep_alive = float(settings["keep-alive"])
        self.checkpoint_interval = int(settings["checkpointInterval"]) / 1000.0
        self.max_file_size = int(settings["maxFileSize"])
        self.min_space = max(MIN_REQUIRED_SPACE, int(settings["minimumRequiredSpace"]))
        self.checkpoint_on_close = bool(settings["checkpointOnClose"])
        self.fsync_per_tx = bool(settings["fsyncPerTransaction"])
        self.fsync_interval = float(settings["fsyncInterval"])
        self.counter = FileChannelCounter(name, self.type_name)
        self.counter.size = self.size
        self.counter.capacity = self.capacity
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Chunk] = deque()
        self._cached = 0
        self._active = 0
        """Open transactions holding events they have not committed yet (under the lock)."""
        self._next_seq = 0
        self._live = LiveSet()
        self._writer: LogWriter | None = None
        self._locks: list[DirLock] = []
        self._read_fds: dict[int, int] = {}
        self._read_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._ckpt_lock = threading.Lock()
        self._space: dict[str, tuple[float, int, int]] = {}
        self._open = False
        self.replay_seconds = 0.0
        """How long the last start's replay took."""

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems: list[Problem] = []
        encryption = settings.get("encryption.*")
        if encryption:
            problems.append(
                Problem(
                    f"encryption.{sorted(encryption)[0]}",
                    "Flume's file-channel encryption (encryption.activeKey, encryption.cipherProvider, "
                    "encryption.keyProvider...) is not supported by flafka",
                    "remove the encryption.* keys and encrypt the file system instead (LUKS, dm-crypt, an encrypted volume)",
                )
            )
        cap, tx = settings.get("capacity"), settings.get("transactionCapacity")
        if cap is not None and tx is not None and tx > cap:
            problems.append(
                Problem(
                    "transactionCapacity",
                    f"transactionCapacity ({tx}) is larger than capacity ({cap})",
                    "set transactionCapacity <= capacity",
                )
            )
        if settings.get("useDualCheckpoints"):
            backup = settings.get("backupCheckpointDir")
            if not backup:
                problems.append(
                    Problem(
                        "backupCheckpointDir",
                        "useDualCheckpoints = true needs backupCheckpointDir",
                        "add backupCheckpointDir = <directory>",
                    )
                )
            elif _expand(backup) == _expand(settings.get("checkpointDir") or ""):
                problems.append(
                    Problem(
                        "backupCheckpointDir",
                        "backupCheckpointDir is the same directory as checkpointDir",
                        "give the backup its own directory",
                    )
                )
        data = [d for d in str(settings.get("dataDirs") or "").split(",") if d.strip()]
        if settings.get("dataDirs") is not None and not data:
            problems.append(Problem("dataDirs", "dataDirs lists no directory", "set dataDirs = /path/one,/path/two"))
        if "minimumRequiredSpace" in settings.explicit and (settings.get("minimumRequiredSpace") or 0) < MIN_REQUIRED_SPACE:
            problems.append(
                Problem(
                    "minimumRequiredSpace",
                    f"minimumRequiredSpace below 1 MiB is raised to {MIN_REQUIRED_SPACE} (as in Flume)",
                    "",
                    "warning",
                )
            )
        if settings.get("fsyncPerTransaction") is False:
            problems.append(
                Problem(
                    "fsyncPerTransaction",
                    "fsyncPerTransaction = false: a power loss can lose what was committed in the last fsyncInterval",
                    "remove it unless that loss is acceptable",
                    "warning",
                )
            )
        for key in ("use-fast-replay", "use-log-replay-v1", "compressBackupCheckpoint"):
            if key in settings.explicit:
                problems.append(
                    Problem(key, f"'{key}' is accepted for compatibility and has no effect in flafka", f"remove '{key}'", "warning")
                )
        return problems

    @classmethod
    def transaction_capacity_from(cls, settings: Settings) -> int | None:
        return int(settings["transactionCapacity"])

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Lock the directories, replay, open the log; raises ConfigError with the fix."""
        if self._open:
            return
        checkpoint_dirs = [("checkpointDir", self.checkpoint_dir)]
        if self.backup_dir:
            checkpoint_dirs.append(("backupCheckpointDir", self.backup_dir))
        all_dirs = [*checkpoint_dirs, *(("dataDirs", d) for d in self.data_dirs)]
        seen: set[str] = set()
        for key, path in all_dirs:
            refuse_flume(self.name, key, path, "checkpoint" if key != "dataDirs" else "data")
        try:
            for key, path in all_dirs:
                prepare(self.name, key, path)
                if path in seen:
                    continue
                seen.add(path)
                lock = DirLock(path)
                lock.acquire(self.name, key)
                self._locks.append(lock)
            self._replay([d for _, d in checkpoint_dirs])
        except BaseException:
            self._release_locks()
            raise
        self._stop_event.clear()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name=f"file-channel-ckpt-{self.name}", daemon=True)
        self._checkpointer.start()
        self._open = True
        self.counter.open = True
        self.counter.started()

    def _replay(self, checkpoint_dirs: list[str]) -> None:
        result = replay(self.name, self.io, self.data_dirs, checkpoint_dirs)
        for note in result.notes:
            log.warning("%s", note)
        if result.lost:
            log.error("channel '%s': %d committed events were lost to damaged data files (see the notes above)", self.name, result.lost)
        self.counter.events_lost_count += result.lost
        self.replay_seconds = result.seconds
        self._live = result.live
        self._next_seq = result.next_seq
        queue: list[Chunk] = []
        stored = 0
        for rec in result.live.ordered():
            for index, count in rec.untaken():
                queue.append([None, rec, index, count, 0])
                stored += count
        self._queue = deque(queue)
        self._stored = self._used = stored
        self._cached = 0
        writer = LogWriter(
            self.name,
            self.io,
            self.data_dirs,
            self.max_file_size,
            self._cond,
            self._apply,
            result.next_file_id,
            self.fsync_per_tx,
            self.fsync_interval,
        )
        if result.tail is not None:
            fid, path, size = result.tail
            if size < self.max_file_size:
                writer.open_tail(fid, path, size)
            else:
                writer.position = writer.durable_position = (fid, size)
        writer.others_active = lambda: self._active > 0
        self._writer = writer
        self.counter.syncs = lambda: writer.syncs
        writer.start()
        log.info(
            "channel '%s': %d events in %s (replayed %d records in %.3f s%s)",
            self.name,
            stored,
            ", ".join(self.data_dirs),
            result.records_read,
            result.seconds,
            f" after the checkpoint in {result.used_checkpoint}" if result.used_checkpoint else ", no checkpoint",
        )

    def stop(self) -> None:
        """Checkpoint (``checkpointOnClose``), close the log, release the locks. Idempotent."""
        if not self._open:
            return
        self._open = False
        self.counter.open = False
        self._stop_event.set()
        thread = self._checkpointer
        if thread is not None:
            thread.join(10.0)
        if self.checkpoint_on_close:
            self.checkpoint()
        writer = self._writer
        if writer is not None and not writer.stop(10.0):
            log.error("channel '%s': the log writer did not stop in 10 s", self.name)
        with self._read_lock:
            for fd in self._read_fds.values():
                os.close(fd)
            self._read_fds.clear()
        self._release_locks()
        with self._lock:
            self._not_empty.notify_all()
            self._not_full.notify_all()
            self._cond.notify_all()
        self.counter.stopped()

    def _release_locks(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks = []

    # -- checkpoints ---------------------------------------------------------------------

    def _checkpoint_loop(self) -> None:
        while not self._stop_event.wait(self.checkpoint_interval):
            try:
                self.checkpoint()
            except Exception:
                log.exception("channel '%s': checkpoint failed unexpectedly", self.name)

    def checkpoint(self) -> bool:
        """Write a checkpoint now and delete the data files it no longer needs. False when
        it could not be written (counted; the next one retries)."""
        writer = self._writer
        if writer is None:
            return False
        with self._ckpt_lock:
            low = self._checkpoint_space_low(self.checkpoint_dir, "checkpointDir")
            if low:
                self.counter.checkpoint_write_error_count += 1
                log.error("%s", low)
                return False
            with self._lock:
                position = writer.position
                snapshot = [
                    LiveRecord(r.seq, r.count, r.file_id, r.offset, r.length, list(r.taken), r.remaining) for r in self._live.ordered()
                ]
                next_seq = self._next_seq
                next_file = writer.next_file_id
                if not writer.sync_to(position, 30.0):
                    log.error("channel '%s': the log could not be synced for a checkpoint; it is retried later", self.name)
                    self.counter.checkpoint_write_error_count += 1
                    return False
            cp = checkpoint.Checkpoint(position, next_seq, next_file, snapshot)
            try:
                checkpoint.write(self.io, self.checkpoint_dir, cp)
            except OSError as exc:
                self.counter.checkpoint_write_error_count += 1
                log.error("channel '%s': cannot write the checkpoint in %s: %s (retried later)", self.name, self.checkpoint_dir, exc)
                return False
            low = self._checkpoint_space_low(self.backup_dir, "backupCheckpointDir") if self.backup_dir else None
            if low:
                self.counter.checkpoint_backup_write_error_count += 1
                log.error("%s", low)
            elif self.backup_dir:
                try:
                    checkpoint.write(self.io, self.backup_dir, cp)
                except OSError as exc:
                    self.counter.checkpoint_backup_write_error_count += 1
                    log.error("channel '%s': cannot write the backup checkpoint in %s: %s", self.name, self.backup_dir, exc)
            self._delete_old_files(position[0], {r.file_id for r in snapshot})
        return True

    def _checkpoint_space_low(self, directory: str, key: str) -> str | None:
        """Why no checkpoint may be written in ``directory`` (the setting ``key``) now: its
        usable space is at or below ``minimumRequiredSpace`` (Flume's
        ``Log.writeCheckpoint`` check). None when there is room or the probe fails."""
        try:
            free = self.io.free_space(directory)
        except OSError:
            return None
        if free > self.min_space:
            return None
        return (
            f"channel '{self.name}': no checkpoint written in {directory} ({key}): usable space exhausted, only "
            f"{max(free, 0)} bytes remaining, minimumRequiredSpace is {self.min_space} bytes (as in Flume). Nothing "
            f"committed is lost (the previous checkpoint and the log hold it; the next start replays more of the log), "
            f"but used-up data files are kept until a checkpoint is written: free space on that disk or lower "
            f"minimumRequiredSpace (floor 1 MiB); retried every checkpointInterval"
        )

    def _delete_old_files(self, current: int, referenced: set[int]) -> None:
        from flafka.channels.file.log import find_files

        for fid, path in sorted(find_files(self.data_dirs).items()):
            if fid >= current or fid in referenced:
                continue
            try:
                self.io.unlink(path)
                self.io.fsync_dir(os.path.dirname(path))
            except OSError as exc:
                log.warning("channel '%s': cannot delete the used-up data file %s: %s", self.name, path, exc)
                continue
            with self._read_lock:
                fd = self._read_fds.pop(fid, None)
            if fd is not None:
                os.close(fd)

    # -- the writer's callback (lock held) ------------------------------------------------

    def _apply(self, tickets: list[Ticket]) -> None:
        queue = self._queue
        for t in tickets:
            if t.kind == records.PUT:
                seq, n, events = cast(tuple[int, int, AnyBatch], t.work)
                rec = LiveRecord(seq, n, t.file_id, t.offset, t.size)
                self._live.add(rec)
                if self._cached + t.size <= CACHE_BYTES:
                    queue.append([events, rec, 0, n, t.size])
                    self._cached += t.size
                else:
                    queue.append([None, rec, 0, n, 0])
                self._stored += n
                self._not_empty.notify()
            else:
                live = self._live
                freed = 0
                for rec, index, count in cast(list[tuple[LiveRecord, int, int]], t.work):
                    live.take(rec, index, count)
                    freed += count
                self._used -= freed
                self._not_full.notify_all()

    # -- free space ----------------------------------------------------------------------

    def _check_space(self, nbytes: int, op: str = "put") -> None:
        """Refuse a record of ``nbytes`` (``op``: put, take or take commit) when the free
        space of the data directory in use would not exceed ``minimumRequiredSpace``
        afterwards — Flume's ``Log`` check, made on puts, takes and commits alike."""
        writer = self._writer
        assert writer is not None
        fid = writer.file_id or writer.next_file_id
        directory = self.data_dirs[(fid - 1) % len(self.data_dirs)]
        now = time.monotonic()
        cached = self._space.get(directory)
        written = writer.bytes_written
        if cached is None or now - cached[0] > SPACE_CHECK_INTERVAL or cached[1] - (written - cached[2]) - nbytes <= self.min_space:
            try:
                free = self.io.free_space(directory)
            except OSError:
                return
            cached = (now, free, written)
            self._space[directory] = cached
        free = cached[1] - (written - cached[2])
        if free - nbytes <= self.min_space:
            where = (
                f"channel '{self.name}': usable space exhausted in {directory}: only {max(free, 0)} bytes remaining, "
                f"minimumRequiredSpace is {self.min_space} bytes"
            )
            if op == "put":
                self.counter.event_put_error_count += 1
                raise ChannelFullError(f"{where}; the source keeps the batch and retries once space is freed")
            self.counter.event_take_error_count += 1
            raise ChannelError(
                f"{where}; the {op} is refused (as in Flume, takes stop too) and the sink retries: free space on that "
                f"disk or lower minimumRequiredSpace"
            )

    # -- reading events back --------------------------------------------------------------

    def _load(self, rec: LiveRecord, index: int, count: int) -> list[Event]:
        """Events ``index .. index+count`` of ``rec`` read from the log (damage: counted, [])."""
        try:
            with self._read_lock:
                fd = self._read_fds.get(rec.file_id)
                if fd is None:
                    from flafka.channels.file.log import find_files

                    path = find_files(self.data_dirs)[rec.file_id]
                    fd = self._read_fds[rec.file_id] = os.open(path, os.O_RDONLY)
            data = os.pread(fd, rec.length, rec.offset)
            frame = records._frame_at(data, 0)
            if frame is None or frame.kind != records.PUT:
                raise ValueError("the record fails its checksum")
            return records.decode_put(frame.payload, index, count)
        except (OSError, KeyError, ValueError) as exc:
            self.counter.events_lost_count += count
            self.counter.event_take_error_count += 1
            log.error(
                "channel '%s': %d events at offset %d of %s cannot be read (%s); they are lost and counted in EventsLostCount",
                self.name,
                count,
                rec.offset,
                file_name(rec.file_id),
                exc,
            )
            return []

    # -- Channel API ---------------------------------------------------------------------

    def put_transaction(self) -> PutTransaction:
        return FilePut(self)

    def take_transaction(self) -> TakeTransaction:
        return FileTake(self)

    def _require_open(self) -> LogWriter:
        writer = self._writer
        if not self._open or writer is None:
            raise ChannelError(f"channel '{self.name}' is not started (or already stopped)")
        return writer


COMPONENTS = [FileChannel]
