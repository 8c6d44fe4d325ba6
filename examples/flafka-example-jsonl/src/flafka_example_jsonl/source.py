"""The ``jsonl`` source: reads the JSON-lines files the ``jsonl`` sink writes
(``<directory>/<prefix>-*.jsonl``, in name order — the order they were written), follows
the newest one as it grows, and turns each line back into the event it was.

It is *replayable*: each batch's acknowledgement token carries the position after the
batch (file name, byte offset), and only positions that come back from
``self.acks.delivered()`` are persisted, with :class:`flafka.position.PositionFile`, to
``positionFile`` (atomic, at most every ``writePosInterval`` ms, and at stop). A restart —
after a crash too, even with a memory channel — resumes at the last delivered position:
what was in flight is read again (duplicates), nothing is lost.

Only whole lines are read: a line still being written (no ``\\n`` yet) waits for the
next poll. A line that is not one of the sink's records becomes an event whose body is
the line as is, with the header ``jsonl.error`` saying what is wrong (logged once per
file), so nothing accepted is lost.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from typing import BinaryIO, NamedTuple

from flafka import REQUIRED, ChannelError, Event, PollableSource, Schema, Setting, Settings, Status
from flafka.position import JSON, PositionFile
from flafka.source import POLLABLE_SETTINGS

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
ERROR_HEADER = "jsonl.error"


class Position(NamedTuple):
    """Where the source got to: byte ``offset`` in file ``file`` (a name in ``directory``)."""

    file: str
    offset: int


def encode_position(position: Position) -> JSON:
    return {"file": position.file, "offset": position.offset}


def decode_position(data: JSON) -> Position:
    """Raises KeyError/TypeError/ValueError on a document that is not a position."""
    if not isinstance(data, dict) or not isinstance(data["file"], str) or not isinstance(data["offset"], int):
        raise ValueError(f"expected {{'file': <name>, 'offset': <bytes>}}, found {data!r:.80}")
    if data["offset"] < 0 or "/" in data["file"]:
        raise ValueError(f"'{data['file']}' at offset {data['offset']} is not a position in the directory")
    return Position(data["file"], data["offset"])


def decode_line(line: bytes) -> Event:
    """One line written by the ``jsonl`` sink (without its ``\\n``) as the event it was;
    raises ValueError naming what is wrong otherwise."""
    record = json.loads(line)
    if not isinstance(record, dict) or set(record) != {"headers", "body", "body_encoding"}:
        raise ValueError("not a jsonl record: expected the keys headers, body, body_encoding")
    headers, body, encoding = record["headers"], record["body"], record["body_encoding"]
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()) or not isinstance(body, str):
        raise ValueError("headers must map names to strings and body must be a string")
    if encoding == "utf-8":
        return Event(body.encode("utf-8", "surrogateescape"), headers)
    if encoding == "base64":
        try:
            return Event(base64.b64decode(body, validate=True), headers)
        except binascii.Error as exc:
            raise ValueError(f"body is not base64 ({exc})") from None
    raise ValueError(f"body_encoding '{encoding:.40}' is neither utf-8 nor base64")


class JsonLinesSource(PollableSource):
    """Reads ``<directory>/<prefix>-*.jsonl`` in name order, following the newest file.

    Threads: ``start``/``stop``/``drained`` are called by the agent's thread, ``process``
    by the source's runner thread; ``_lock`` serializes them.
    """

    type_name = "jsonl"
    replayable = True
    summary = "Read the JSON-lines files of the jsonl sink back as events, following the newest file"
    settings_schema = (
        Schema(
            Setting("directory", "str", REQUIRED, "directory holding the files (as the jsonl sink's 'directory')"),
            Setting("prefix", "str", "events", "reads the files named <prefix>-*.jsonl"),
            Setting(
                "positionFile",
                "str",
                "",
                "JSON file keeping the delivered position; default <directory>/.<source name>.position.json",
            ),
            Setting("batchSize", "int", 100, "most lines read per batch", minimum=1),
            Setting("writePosInterval", "int", 3000, "ms between two writes of the position file (and one at stop)", minimum=0),
        )
        + POLLABLE_SETTINGS
    )

    def __init__(self, name: str, settings: Settings) -> None:
        """Pure: reads settings, opens nothing (``start`` loads the position)."""
        super().__init__(name, settings)
        self.directory: str = settings["directory"]
        self.prefix: str = settings["prefix"]
        self.batch: int = settings["batchSize"]
        path = settings["positionFile"] or os.path.join(self.directory, f".{name}.position.json")
        self.positions = PositionFile(
            path,
            interval_ms=settings["writePosInterval"],
            owner=f"source '{name}'",
            encode=encode_position,
            decode=decode_position,
        )
        self.invalid_lines = 0
        self._lock = threading.Lock()
        self._started = False
        self._file: str | None = None
        """The file being read (a name in ``directory``), or None before the first."""
        self._fh: BinaryIO | None = None
        self._offset = 0
        """Next byte of ``_file`` to read: everything before it was handed to the channels."""
        self._retry: tuple[list[Event], Position] | None = None
        self._reported: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Load the delivered position (PositionFileError names a damaged file and the fix)."""
        with self._lock:
            saved = self.positions.load()
            self._file, self._offset = (saved.file, saved.offset) if saved else (None, 0)
            self._retry = None
            self._started = True

    def stop(self) -> None:
        """Take the positions delivered so far (sinks drain after the runner stopped),
        write the position file now, close the file. Idempotent."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            try:
                self._collect()
                self.positions.flush()
            finally:
                self._close()

    # -- the poll --------------------------------------------------------------------------

    def process(self) -> Status:
        """Persist what was delivered, then offer one batch (the kept one first). READY
        after a batch the channels took; BACKOFF when nothing is new or they are full."""
        with self._lock:
            if not self._started:
                return Status.BACKOFF  # a late poll after stop() must not open files
            self._collect()
            if self._retry is None:
                batch = self._read_batch()
                if batch is None:
                    return Status.BACKOFF
                self._retry = batch
            events, end = self._retry
            token = self.acks.token(end)
            try:
                self.processor.process_batch(events, token)
            except ChannelError:
                return Status.BACKOFF  # full: keep the batch, offer it again under a new token
            self._retry = None
            return Status.READY

    def _collect(self) -> None:
        """Persist the newest delivered position (written when ``writePosInterval`` passed)."""
        delivered = self.acks.delivered()
        if delivered:
            self.positions.update(delivered[-1])
        else:
            self.positions.tick()

    def drained(self) -> bool:
        """True when every whole line of every file was read and every batch delivered."""
        with self._lock:
            if self._retry is not None or self.acks.in_flight:
                return False
            names = self._names()
            if self._file is None:
                return not names
            if any(n > self._file for n in names):
                return False
            try:
                size = os.path.getsize(os.path.join(self.directory, self._file))
            except OSError:
                return True
            return size <= self._offset or not self._has_whole_line(size)

    # -- reading ---------------------------------------------------------------------------

    def _read_batch(self) -> tuple[list[Event], Position] | None:
        """Up to ``batchSize`` whole lines from the current file, moving on to the next file
        at the end of one; None when nothing new is there."""
        while True:
            if self._fh is None and not self._open():
                return None
            fh = self._fh
            assert fh is not None and self._file is not None
            lines: list[bytes] = []
            offset = self._offset
            while len(lines) < self.batch:
                line = fh.readline()
                if not line.endswith(b"\n"):  # end of file, or a line still being written
                    break
                lines.append(line[:-1])
                offset += len(line)
            fh.seek(offset)
            if lines:
                events = [self._event(line) for line in lines]
                self._offset = offset
                return events, Position(self._file, offset)
            if not any(n > self._file for n in self._names()):
                return None  # the newest file: more may be appended
            self._close()  # the sink has moved on to a newer file: so do we
            self._file, self._offset = self._next_name(), 0

    def _event(self, line: bytes) -> Event:
        try:
            return decode_line(line)
        except ValueError as exc:
            self.invalid_lines += 1
            if self._file not in self._reported:
                self._reported.add(self._file or "")
                log.warning(
                    "source '%s': %s has lines that are not jsonl records (first in the batch from byte %d: %s); they "
                    "are delivered as they are, with the header %s",
                    self.name,
                    os.path.join(self.directory, self._file or ""),
                    self._offset,
                    exc,
                    ERROR_HEADER,
                )
            return Event(line, {ERROR_HEADER: str(exc)})

    def _names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.directory) if n.startswith(self.prefix + "-") and n.endswith(SUFFIX))
        except FileNotFoundError:
            return []

    def _next_name(self) -> str | None:
        return next((n for n in self._names() if self._file is None or n > self._file), None)

    def _open(self) -> bool:
        """Open ``_file`` at ``_offset`` (the first file when there is none yet)."""
        if self._file is None:
            self._file, self._offset = self._next_name(), 0
            if self._file is None:
                return False
        path = os.path.join(self.directory, self._file)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:  # removed since: go on with the next one
            self._file, self._offset = self._next_name(), 0
            return self._file is not None and self._open()
        size = os.fstat(fh.fileno()).st_size
        if size < self._offset:
            log.warning(
                "source '%s': %s is shorter (%d bytes) than the delivered position (%d); it was replaced, so it is read "
                "again from its start",
                self.name,
                path,
                size,
                self._offset,
            )
            self._offset = 0
        fh.seek(self._offset)
        self._fh = fh
        return True

    def _has_whole_line(self, size: int) -> bool:
        try:
            with open(os.path.join(self.directory, self._file or ""), "rb") as fh:
                fh.seek(self._offset)
                return b"\n" in fh.read(size - self._offset)
        except OSError:
            return False

    def _close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()
