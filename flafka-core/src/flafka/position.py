"""Durable position files for replayable sources: one small JSON document per source,
written atomically and at most every ``interval_ms``.

A replayable source keeps where it got to (a file and byte offset, a Kafka offset, ...)
and persists only positions that came back from ``self.acks.delivered()``::

    self.positions = PositionFile(path, interval_ms=3000, owner=f"source '{name}'")  # __init__: no I/O
    saved = self.positions.load()          # start(): None when there is no file yet
    self.positions.update(position)        # process(): a delivered position; written when due
    self.positions.tick()                  # process(), idle polls too: writes a pending one when due
    self.positions.flush()                 # stop(): writes a pending one now

The file holds exactly the JSON value given to :meth:`PositionFile.update` (after
``encode``), nothing around it, so any format can be kept — Flume's TAILDIR
``[{"inode": 2496, "pos": 1024, "file": "/var/log/app.log"}]`` as well as a dict of your
own. ``decode`` turns the parsed JSON back into the caller's type and raises
``ValueError``/``KeyError``/``TypeError`` on a wrong shape.

Guarantees:

* **Atomic**: a write goes to ``<name>.tmp`` in the same directory, is fsynced, renamed
  over the file with ``os.replace`` and the directory is fsynced: after a crash or a power
  loss the file holds the previous or the new document, never a mix or nothing.
* **Throttled**: :meth:`~PositionFile.update` writes at most once every ``interval_ms``
  (0: every time); a value not yet written stays *pending* until :meth:`~PositionFile.tick`
  or :meth:`~PositionFile.flush` writes it. What a kill re-delivers grows with the
  interval, never what it loses. A write costs two fsyncs (about 9 ms on a plain disk),
  an ``update`` that does not write about 1 µs: keep the interval at hundreds of ms or
  more (Flume's TAILDIR writes every 3000 ms).
* **Clear failures**: a file that cannot be read or parsed, or whose content ``decode``
  refuses, raises :class:`PositionFileError` naming the file, what is wrong and the fix;
  a failed write raises it too and keeps the value pending (the next call retries).

Thread-safe: the source thread updates, the agent thread may flush at stop. Use one file
per source (two sources writing one file overwrite each other's positions).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

from flafka.errors import FlafkaError

T = TypeVar("T")

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
"""What a position file holds: any JSON value."""


class PositionFileError(FlafkaError):
    """A position file cannot be read, parsed or written. ``str(err)`` names the file,
    the problem and the fix; ``path`` is the file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def _same(value: Any) -> Any:
    return value


class PositionFile(Generic[T]):
    """The durable position of one source, as one JSON file at ``path``.

    ``__init__`` does no I/O (call it from the component's ``__init__``). ``encode`` turns
    a position into a JSON value (default: the value as is), ``decode`` turns the parsed
    JSON back (default: as is) and raises ``ValueError``, ``KeyError`` or ``TypeError`` on
    a wrong shape. ``owner`` starts every message (``"source 'r1'"``); ``clock`` is
    monotonic seconds (tests replace it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval_ms: int = 1000,
        owner: str = "",
        encode: Callable[[T], JSON] = _same,
        decode: Callable[[JSON], T] = _same,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_ms < 0:
            raise ValueError(f"interval_ms must be >= 0, not {interval_ms}")
        self.path = Path(path)
        self.interval = interval_ms / 1000.0
        self.owner = owner
        self.encode = encode
        self.decode = decode
        self.clock = clock
        self.writes = 0
        """How many times the file was written (tests, statistics)."""
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._lock = threading.Lock()
        self._pending: Any = None
        self._dirty = False
        self._last_write: float | None = None

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> T | None:
        """The position last written, or None when the file does not exist. Raises
        PositionFileError when it cannot be read, is not JSON (empty, cut short, edited)
        or ``decode`` refuses its content."""
        path = self.path
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise self._corrupt(f"is not UTF-8 text ({exc.reason} at byte {exc.start})")
        except OSError as exc:
            raise PositionFileError(
                f"{self._who()}cannot read the position file '{path}' ({exc.strerror or exc}); "
                "give the agent's user read and write access to it and its directory",
                path,
            ) from exc
        if not text.strip():
            raise self._corrupt("is empty")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(f"is not valid JSON ({exc})") from exc
        try:
            return self.decode(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._corrupt(f"does not hold a position this source understands ({type(exc).__name__}: {exc})") from exc

    def _corrupt(self, what: str) -> PositionFileError:
        return PositionFileError(
            f"{self._who()}the position file '{self.path}' {what}. Flafka writes it atomically, so it was damaged or "
            "edited by something else. Fix: restore it from a backup, or move it away to start over from the "
            "beginning (what was already delivered is then delivered again)",
            self.path,
        )

    def _who(self) -> str:
        return f"{self.owner}: " if self.owner else ""

    # -- writing ---------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """True when a position was given and is not written yet."""
        return self._dirty

    def update(self, position: T) -> bool:
        """Record ``position`` (a delivered one) and write it if ``interval_ms`` passed
        since the last write. True when the file was written."""
        with self._lock:
            self._pending = position
            self._dirty = True
            return self._write_if_due()

    def tick(self) -> bool:
        """Write the pending position if ``interval_ms`` passed since the last write (call
        it from every poll, so the last position of a burst is written while idle). True
        when the file was written."""
        with self._lock:
            return self._dirty and self._write_if_due()

    def flush(self) -> bool:
        """Write the pending position now (at stop). True when the file was written, False
        when nothing was pending."""
        with self._lock:
            if not self._dirty:
                return False
            self._write()
            return True

    def _write_if_due(self) -> bool:
        last = self._last_write
        if last is not None and self.clock() - last < self.interval:
            return False
        self._write()
        return True

    def _write(self) -> None:
        self._last_write = self.clock()  # a failed write is retried after the interval too
        data = json.dumps(self.encode(self._pending), separators=(",", ":")).encode("utf-8")
        path, tmp = self.path, self._tmp
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_directory(path.parent)
        except OSError as exc:
            raise PositionFileError(
                f"{self._who()}cannot write the position file '{path}' ({exc.strerror or exc}); the position is kept "
                f"and written again later — free space or fix the permissions of '{path.parent}'",
                path,
            ) from exc
        self._dirty = False
        self.writes += 1


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["JSON", "PositionFile", "PositionFileError"]
