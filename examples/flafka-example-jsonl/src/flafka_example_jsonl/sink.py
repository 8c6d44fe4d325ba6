"""The ``jsonl`` sink: appends each event as one JSON line to files in a local directory,
starting a new file when the next batch would take the current one past ``rollSize``.

One line per event::

    {"headers": {"host": "web-1"}, "body": "GET /index.html", "body_encoding": "utf-8"}

``body`` is the body as text when it is valid UTF-8 (``body_encoding`` ``"utf-8"``) and
its base64 otherwise (``"base64"``), so any body survives the round trip.

Files are named ``<prefix>-<startMillis>-<n>.jsonl``: ``startMillis`` is fixed when the
sink starts, ``n`` counts from ``000001``, so names sort in writing order. An existing
file is never overwritten and no empty file is created (a file is opened by the first
batch that goes into it).

Delivery contract: ``write`` encodes the whole batch into one ``bytes`` and hands it to
the kernel with one ``os.write`` (looping only on a short write), so a batch is either
wholly in a file or — after a failed write, which is cut off again — not at all. It
returns once the bytes are in the OS page cache; ``fsync = true`` adds an ``fsync`` per
batch for power-loss durability. When the directory cannot be used, ``write`` raises
:class:`~flafka.RetriableError`: the batch stays in the channel and the runtime retries.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time

from flafka import REQUIRED, BatchOutcome, Event, RetriableError, Schema, Setting, Settings, Sink
from flafka.settings import Problem

log = logging.getLogger(__name__)

MIB = 1024 * 1024
SUFFIX = ".jsonl"
_MAX_NAME_TRIES = 10_000
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_line(event: Event) -> bytes:
    """One event as one JSON line (ending in ``\\n``)."""
    try:
        body, encoding = event.body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(event.body).decode("ascii"), "base64"
    text = _encode_json({"headers": event.headers, "body": body, "body_encoding": encoding})
    # A header holding a lone surrogate cannot be UTF-8 encoded; "backslashreplace" turns
    # it into "\udc80", which is exactly its JSON escape, so the line stays valid JSON.
    return text.encode("utf-8", "backslashreplace") + b"\n"


class JsonLinesSink(Sink):
    """Appends batches as JSON lines to ``<directory>/<prefix>-<startMillis>-<n>.jsonl``.

    ``wall_clock`` (the ``startMillis`` of the file names) may be replaced before
    ``start`` (tests).
    """

    type_name = "jsonl"
    summary = "Append each event as one JSON line to size-rolled files in a local directory"
    settings_schema = Schema(
        Setting("directory", "str", REQUIRED, "directory the files are written to (created if missing)"),
        Setting("prefix", "str", "events", "file names are <prefix>-<startMillis>-<n>.jsonl"),
        Setting(
            "rollSize",
            "int",
            64 * MIB,
            "start a new file before a batch would take the current one past this many bytes; 0 = never",
            minimum=0,
        ),
        Setting("batchSize", "int", 100, "most events taken per transaction and written per write call", minimum=1),
        Setting("fsync", "bool", False, "fsync each batch (and the directory when a file is created): survives power loss"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        """``prefix`` must be a plain file name; a tiny ``rollSize`` gets a warning."""
        problems = []
        prefix = settings["prefix"]
        if not prefix or "/" in prefix or os.sep in prefix or prefix in (".", ".."):
            problems.append(
                Problem("prefix", f"prefix '{prefix}' is not a file name", "put directories in 'directory' and use a name like 'events'")
            )
        roll = settings["rollSize"]
        if 0 < roll < MIB:
            problems.append(
                Problem(
                    "rollSize",
                    f"rollSize = {roll} bytes starts a new file every few batches; many small files are slow to list and read",
                    "use at least 1048576 (1 MiB), or 0 to never roll",
                    "warning",
                )
            )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        """Pure: reads settings, opens nothing (files are opened by ``write``)."""
        super().__init__(name, settings)
        self.directory: str = settings["directory"]
        self.prefix: str = settings["prefix"]
        self.roll_size: int = settings["rollSize"]
        self.fsync: bool = settings["fsync"]
        self.wall_clock = time.time
        self.path: str | None = None
        """The file being written, or the last one written (None before the first batch)."""
        self._start_millis = 0
        self._index = 0
        self._fd: int | None = None
        self._size = 0
        self._lock = threading.Lock()
        """Serializes ``write`` (runner thread) with ``stop`` (agent thread), so a file is
        never closed under a write."""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Fix ``startMillis`` and cut off a torn last line a killed agent left behind.
        A directory that cannot be used is only logged here; ``write`` reports it."""
        self._start_millis = int(self.wall_clock() * 1000)
        self._index = 0
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            log.warning("%s", self._directory_problem(exc))
            return
        self._repair_torn_tail()

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

    def write(self, events: list[Event]) -> BatchOutcome | None:
        """Append the batch with one ``os.write`` and return once it is written. Raises
        RetriableError (nothing of the batch is in any file) when the directory or the
        file cannot be used."""
        data = b"".join(map(encode_line, events))
        with self._lock:
            if self._fd is not None and self.roll_size and self._size and self._size + len(data) > self.roll_size:
                self._close()
            if self._fd is None:
                self._open()
            self._append(data)
        return None

    def _append(self, data: bytes) -> None:
        fd = self._fd
        assert fd is not None
        try:
            written = os.write(fd, data)
            while written < len(data):  # a short write (a signal, a nearly full disk)
                written += os.write(fd, memoryview(data)[written:])
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            self._undo()
            raise RetriableError(
                f"sink '{self.name}': cannot write to '{self.path}' ({exc.strerror or exc}); the batch stays in the "
                f"channel and is retried — free space or fix the file system under '{self.directory}'"
            )
        self._size += len(data)

    # -- files ---------------------------------------------------------------------------

    def _directory_problem(self, exc: OSError) -> str:
        return (
            f"sink '{self.name}': cannot use directory '{self.directory}' ({exc.strerror or exc}); create it as a "
            f"directory the user running flafka can write to, or change 'directory' (flafka retries meanwhile)"
        )

    def _name(self, index: int) -> str:
        return f"{self.prefix}-{self._start_millis}-{index:06d}{SUFFIX}"

    def _open(self) -> None:
        if not self._start_millis:
            self._start_millis = int(self.wall_clock() * 1000)
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise RetriableError(self._directory_problem(exc))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        for _ in range(_MAX_NAME_TRIES):
            path = os.path.join(self.directory, self._name(self._index + 1))
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                self._index += 1  # never overwrite: take the next name
                continue
            except OSError as exc:
                raise RetriableError(self._directory_problem(exc))
            break
        else:
            raise RetriableError(f"sink '{self.name}': {_MAX_NAME_TRIES} file names in '{self.directory}' are taken; move old files away")
        self._index += 1
        if self.fsync:
            self._fsync_directory()
        self._fd, self.path, self._size = fd, path, 0
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

    def _undo(self) -> None:
        """A write failed: cut the file back to its last whole batch (remove it when that
        leaves it empty) and close it, so the retry starts clean."""
        fd, path = self._fd, self.path
        assert fd is not None and path is not None
        try:
            os.ftruncate(fd, self._size)
        except OSError as exc:
            log.error("sink '%s': could not cut a partly written batch off %s (%s); its last line is torn", self.name, path, exc)
        self._close()
        if self._size == 0:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            log.error("sink '%s': fsync of %s failed when closing it: %s", self.name, self.path, exc)
        try:
            os.close(fd)
        except OSError as exc:
            log.error("sink '%s': closing %s failed: %s", self.name, self.path, exc)

    def _repair_torn_tail(self) -> None:
        """An agent killed in the middle of a write can leave part of a batch at the end
        of its newest file. That batch was never committed (it is delivered again), so
        the torn bytes are cut back to the last newline."""
        try:
            ours = [
                e for e in os.scandir(self.directory) if e.name.startswith(self.prefix + "-") and e.name.endswith(SUFFIX) and e.is_file()
            ]
        except OSError:
            return
        if not ours:
            return
        newest = max(ours, key=lambda e: e.name)
        try:
            with open(newest.path, "r+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                fh.seek(size - 1)
                if fh.read(1) == b"\n":
                    return
                keep = size
                while keep > 0:
                    start = max(0, keep - 65536)
                    fh.seek(start)
                    cut = fh.read(keep - start).rfind(b"\n")
                    if cut >= 0:
                        keep = start + cut + 1
                        break
                    keep = start
                fh.truncate(keep)
        except OSError as exc:
            log.warning("sink '%s': could not check %s for a torn last line: %s", self.name, newest.path, exc)
            return
        log.warning(
            "sink '%s': %s ended in %d bytes of an unfinished write (the agent was killed mid-write); they were cut "
            "off — that batch was never committed and is delivered again",
            self.name,
            newest.path,
            size - keep,
        )
