"""The ``file_roll`` sink (Flume's ``RollingFileSink``): writes events to files in a local
directory and starts a new file every ``sink.rollInterval`` seconds.

Delivery contract: ``write`` serializes the whole batch into one ``bytes`` and hands it to
the kernel with a single ``os.write`` (looping only on a short write), so a batch is
either wholly in the file or — after a failed write, which is truncated away — not at all;
a SIGKILL of the agent never leaves a torn line from a committed batch. ``write`` returns
once the bytes are in the OS page cache (no Python buffering); ``sink.fsync = true`` adds
an ``fsync`` per batch for power-loss durability.

Files are named as Flume's path managers name them: ``DEFAULT`` gives
``<prefix><startMillis>-<n>[.<ext>]`` (``startMillis`` fixed when the sink starts, ``n``
from 1); ``ROLLTIME`` gives ``<prefix><yyyy-MM-dd>[-<n>][.<ext>]`` (local date, ``n``
from 1 for the second file of a day). Unlike Flume, an existing file is never
overwritten (the next free name is taken) and no empty files are created: a file is
opened by the first batch after a roll.

Serializers (``sink.serializer``) are looked up in the component registry
(:mod:`flafka.serializers`): the built-in ``TEXT``, ``HEADER_AND_TEXT``, ``avro_event``
and ``AvroEventSerializer`` (Flume's names and ``...$Builder`` class names, any case) or a
plugin's; ``sink.serializer.*`` keys are the serializer's own, checked by its schema.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import cast

from flafka.batch import AnyBatch, as_events
from flafka.errors import ConfigError, RetriableError
from flafka.event import Event
from flafka.serializers import EventSerializer, resolve_serializer, serializer_or_raise
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, Sink

log = logging.getLogger(__name__)


# -- path managers -----------------------------------------------------------------------


class DefaultPathManager:
    """``<prefix><startMillis>-<n>[.<ext>]`` with ``n`` counting from 1."""

    def __init__(self, prefix: str, extension: str, start_millis: int, wall_clock: Callable[[], float]) -> None:
        self.prefix = prefix
        self.extension = extension
        self.start_millis = start_millis
        self.wall_clock = wall_clock
        self.index = 0

    def _suffix(self) -> str:
        return f".{self.extension}" if self.extension else ""

    def next_name(self) -> str:
        self.index += 1
        return f"{self.prefix}{self.start_millis}-{self.index}{self._suffix()}"

    def pattern(self) -> re.Pattern[str]:
        """Matches every name this path manager can produce (of any run)."""
        return re.compile(re.escape(self.prefix) + r"\d+-\d+" + re.escape(self._suffix()) + "$")


class RollTimePathManager(DefaultPathManager):
    """``<prefix><yyyy-MM-dd>[-<n>][.<ext>]``: the first file of a (local) day has no
    number, the next ones ``-1``, ``-2``... (Flume's ``RollTimePathManager``)."""

    last_date = ""

    def next_name(self) -> str:
        date = time.strftime("%Y-%m-%d", time.localtime(self.wall_clock()))
        if date != self.last_date:
            self.index = 0
            self.last_date = date
        self.index += 1
        number = f"-{self.index - 1}" if self.index > 1 else ""
        return f"{self.prefix}{date}{number}{self._suffix()}"

    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.prefix) + r"\d{4}-\d{2}-\d{2}(-\d+)?" + re.escape(self._suffix()) + "$")


_PATH_MANAGERS: dict[str, type[DefaultPathManager]] = {
    "DEFAULT": DefaultPathManager,
    "ROLLTIME": RollTimePathManager,
    "ORG.APACHE.FLUME.FORMATTER.OUTPUT.DEFAULTPATHMANAGER$BUILDER": DefaultPathManager,
    "ORG.APACHE.FLUME.FORMATTER.OUTPUT.ROLLTIMEPATHMANAGER$BUILDER": RollTimePathManager,
}

_MAX_NAME_TRIES = 10_000


def _choice(sink: str, key: str, value: str, table: dict[str, object], shown: tuple[str, ...]) -> object:
    """Look ``value`` up case-insensitively; ConfigError with a did-you-mean otherwise."""
    found = table.get(value.upper())
    if found is not None:
        return found
    if "." in value:
        raise ConfigError(
            f"sink '{sink}': {key} = '{value}' is a Java class, which flafka cannot load; use one of {', '.join(shown)}"
        )
    hint = difflib.get_close_matches(value.upper(), list(shown), n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else ""
    raise ConfigError(f"sink '{sink}': {key} = '{value}' is not supported; use one of {', '.join(shown)}{extra}")


class RollingFileSink(Sink):
    """Writes batches to files in ``sink.directory``, rolling every ``sink.rollInterval`` s.

    ``wall_clock`` (file names) and ``clock`` (roll deadlines, monotonic) may be replaced
    before ``start`` (tests). Opening a file is counted as a connection created, closing it
    as a connection closed, failing to open it as a connection failed.
    """

    type_name = "file_roll"
    aliases = ("org.apache.flume.sink.RollingFileSink",)
    summary = "Write events to rolling files in a local directory"
    batch_aware = True  # hands a column-wise batch to a batch-aware serializer (TEXT)
    batch_size_key = "sink.batchSize"
    settings_schema = Schema(
        Setting("sink.directory", "str", REQUIRED, "directory the files are written to (created if missing)"),
        Setting("sink.rollInterval", "int", 30, "seconds after which a file is closed and the next one started; 0 = never", minimum=0),
        Setting("sink.serializer", "str", "TEXT", "a serializer: TEXT, HEADER_AND_TEXT, avro_event, AvroEventSerializer or a plugin's"),
        Setting("sink.serializer.*", "map", None, "the serializer's own keys (flafka describe NAME --kind serializer)"),
        Setting("sink.batchSize", "int", 100, "most events taken per transaction and written per write call", minimum=1),
        Setting("sink.pathManager", "str", "DEFAULT", "file naming: DEFAULT or ROLLTIME", since="1.7"),
        Setting("sink.pathManager.extension", "str", "", "file name extension (without the dot)", since="1.7"),
        Setting("sink.pathManager.prefix", "str", "", "file name prefix", since="1.7"),
        Setting("sink.fsync", "bool", False, "flafka: fsync each batch (and the directory on file creation)"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        """The serializer is known and its ``sink.serializer.*`` keys are right (pure)."""
        _, problems = resolve_serializer("", "sink.serializer", settings["sink.serializer"], settings["sink.serializer.*"] or {})
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        from flafka.metrics.counters import SinkCounter

        self.counter = SinkCounter(name, self.type_name)  # replaced by the agent's
        self.directory: str = settings["sink.directory"]
        if not self.directory:
            raise ConfigError(f"sink '{name}': sink.directory is empty; set it to the directory the files go to")
        self.roll_interval: int = settings["sink.rollInterval"]
        self.fsync: bool = settings["sink.fsync"]
        self.serializer = serializer_or_raise(name, "sink.serializer", settings["sink.serializer"], settings["sink.serializer.*"] or {})
        self.serializer_kind = self.serializer.type_name
        self._newline_framed = self.serializer.new().newline_framed
        self._path_manager_cls = _choice(
            name, "sink.pathManager", settings["sink.pathManager"], dict(_PATH_MANAGERS), ("DEFAULT", "ROLLTIME")
        )
        self.wall_clock: Callable[[], float] = time.time
        self.clock: Callable[[], float] = time.monotonic
        self.paths: DefaultPathManager | None = None
        self.path: str | None = None
        """The file being written, or the last one written (None before the first batch)."""
        self._fd: int | None = None
        self._serializer: EventSerializer | None = None
        self._size = 0
        self._roll_at = 0.0
        self._lock = threading.Lock()
        """Serializes write/tick (runner thread) with stop (agent thread, maybe after a
        runner join timed out), so a file is never closed under a write."""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Fix the series timestamp of the file names and create the directory if it is
        missing (a failure is logged; ``write`` retries and reports it)."""
        cls = self._path_manager_cls
        assert isinstance(cls, type) and issubclass(cls, DefaultPathManager)
        self.paths = cls(
            self.settings["sink.pathManager.prefix"],
            self.settings["sink.pathManager.extension"],
            int(self.wall_clock() * 1000),
            self.wall_clock,
        )
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            log.warning("%s", self._directory_problem(exc))
            return
        self._repair_torn_tail()

    def _repair_torn_tail(self) -> None:
        """A SIGKILL in the middle of a write can leave part of a batch at the end of the
        newest file. That batch was never committed (it is delivered again), so the torn
        bytes are cut back to the last newline. Only for newline-framed serializers."""
        if not self._newline_framed:
            return
        assert self.paths is not None
        ours = self.paths.pattern()  # never touch files this sink did not name
        try:
            entries = [(e.stat().st_mtime_ns, e.path) for e in os.scandir(self.directory) if ours.match(e.name) and e.is_file()]
        except OSError:
            return
        if not entries:
            return
        newest_path = max(entries)[1]
        try:
            with open(newest_path, "r+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                fh.seek(size - 1)
                if fh.read(1) == b"\n":
                    return
                keep = size
                step = 65536
                while keep > 0:
                    start = max(0, keep - step)
                    fh.seek(start)
                    chunk = fh.read(keep - start)
                    cut = chunk.rfind(b"\n")
                    if cut >= 0:
                        keep = start + cut + 1
                        break
                    keep = start
                fh.truncate(keep)
        except OSError as exc:
            log.warning("sink '%s': could not check %s for a torn last line: %s", self.name, newest_path, exc)
            return
        log.warning(
            "sink '%s': %s ended with %d bytes of an unfinished write (the agent was killed mid-write); they were "
            "cut off — that batch was never committed and is delivered again",
            self.name,
            newest_path,
            size - keep,
        )

    def stop(self) -> None:
        """Close the current file. Idempotent; gives up after 5 s if a write is stuck."""
        if not self._lock.acquire(timeout=5.0):
            log.error("sink '%s': a write to %s is still blocked; leaving the file open", self.name, self.path)
            return
        try:
            self._close()
        finally:
            self._lock.release()

    # -- data path -----------------------------------------------------------------------

    def write(self, events: AnyBatch) -> BatchOutcome | None:
        """Append the batch with one ``os.write``; roll first when the interval passed.
        Raises RetriableError (the batch is not in any file) when the file cannot be
        opened or written."""
        with self._lock:
            self._write(events)
        return None

    def _write(self, events: AnyBatch) -> None:
        if self._fd is not None and self.roll_interval and self.clock() >= self._roll_at:
            self._close()
        if self._fd is None:
            self._open()
        fd = self._fd
        serializer = self._serializer
        assert fd is not None and serializer is not None
        if not serializer.batch_aware:
            events = as_events(events)
        if self._size == 0:
            try:
                data = serializer.begin() + serializer.encode(cast("list[Event]", events))
            except BaseException:
                self._serializer = self.serializer.new()  # begin() is called once per instance
                raise
        else:
            data = serializer.encode(cast("list[Event]", events))
        if not data:
            return
        try:
            written = os.write(fd, data)
            if written < len(data):
                view = memoryview(data)
                while written < len(data):
                    written += os.write(fd, view[written:])
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            self._undo(exc)
            raise RetriableError(
                f"sink '{self.name}': cannot write to '{self.path}' ({exc.strerror or exc}); the batch stays in "
                f"the channel and is retried — free space or fix the file system under '{self.directory}'"
            )
        self._size += len(data)

    def tick(self) -> None:
        """Close the current file when ``sink.rollInterval`` has passed since it opened."""
        if self._fd is not None and self.roll_interval and self.clock() >= self._roll_at:
            with self._lock:
                if self._fd is not None and self.clock() >= self._roll_at:
                    self._close()

    # -- files ---------------------------------------------------------------------------

    def _directory_problem(self, exc: OSError) -> str:
        return (
            f"sink '{self.name}': cannot use directory '{self.directory}' ({exc.strerror or exc}); create it "
            f"and let the user running flafka write there, or change sink.directory (flafka retries meanwhile)"
        )

    def _open(self) -> None:
        if self.paths is None:
            self.start()
        paths = self.paths
        assert paths is not None
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            self.counter.connection_failed_count += 1
            raise RetriableError(self._directory_problem(exc))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        for _ in range(_MAX_NAME_TRIES):
            path = os.path.join(self.directory, paths.next_name())
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                continue  # never overwrite: take the next name
            except OSError as exc:
                paths.index -= 1  # the retry reuses this name
                self.counter.connection_failed_count += 1
                raise RetriableError(self._directory_problem(exc))
            break
        else:
            self.counter.connection_failed_count += 1
            raise RetriableError(f"sink '{self.name}': {_MAX_NAME_TRIES} file names in '{self.directory}' are taken; move old files away")
        if self.fsync:
            self._fsync_directory()
        self._fd = fd
        self.path = path
        self._size = 0
        self._serializer = self.serializer.new()
        self._roll_at = self.clock() + self.roll_interval
        self.counter.connection_created_count += 1
        log.debug("sink '%s': opened %s", self.name, path)

    def _fsync_directory(self) -> None:
        try:
            dfd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def _undo(self, exc: OSError) -> None:
        """A write failed: cut the file back to its last whole batch (removing it when it
        is empty) and close it, so the retry starts clean."""
        fd, path = self._fd, self.path
        assert fd is not None and path is not None
        try:
            os.ftruncate(fd, self._size)
        except OSError as cut:
            log.error("sink '%s': could not cut a partly written batch off %s (%s); the file ends in a torn record", self.name, path, cut)
        self._close(finish=False)

    def _close(self, finish: bool = True) -> None:
        """Close the file: write the serializer's ``end()`` bytes first when ``finish``;
        a file that received nothing is removed."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        serializer, self._serializer = self._serializer, None
        if finish and serializer is not None and self._size:
            try:
                tail = serializer.end()
                if tail:
                    view = memoryview(tail)
                    done = 0
                    while done < len(tail):
                        done += os.write(fd, view[done:])
                    self._size += len(tail)
            except (OSError, RetriableError) as exc:
                log.error("sink '%s': the closing bytes of %s could not be written (%s); the file lacks them", self.name, self.path, exc)
        if self._size == 0 and self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        try:
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            log.error("sink '%s': fsync of %s failed when closing it: %s", self.name, self.path, exc)
        try:
            os.close(fd)
        except OSError as exc:
            log.error("sink '%s': closing %s failed: %s", self.name, self.path, exc)
        self.counter.connection_closed_count += 1
        log.debug("sink '%s': closed %s", self.name, self.path)


COMPONENTS = [RollingFileSink]
