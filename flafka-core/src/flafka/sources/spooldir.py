"""The spooling directory source (Flume's ``spooldir``): reads immutable files dropped
into a directory, one event per line (or per file), and marks each file complete only
after every one of its events was delivered.

Positions: each batch's acknowledgement token carries ``(file, byte offset after the
batch, lines before that offset, last batch of the file)``. Only positions that come back
from ``self.acks.delivered()`` are written, to one small JSON file in ``trackerDir``
(``flafka-positions.json``), at every poll that saw a delivery: overwritten in place
with one ``pwrite`` of at most a page (padded with spaces, so a kill leaves the old or
the new document), or by temp file + ``os.replace`` at most every 5 ms when the document
is longer than a page; at once when the source goes idle or stops. A restart after a crash reopens every file in flight
at its delivered offset, so a crash re-sends only what was in flight. A file is completed
(renamed to ``<name><fileSuffix>``, marked in ``trackerDir``, or deleted) when all of its
batches are delivered; the rename is itself the durable record of completion, so a
position entry left behind by a crash is simply dropped on restart.

Quarantine (flafka's answer to Flume stopping the whole source): a file that cannot be
processed — undecodable under ``decodeErrorPolicy = FAIL``, changed or deleted after it
was picked, unreadable, or a reused name — is moved to ``quarantineDir`` beside a
``<name>.reason.txt`` note saying what, where and how to fix it, logged once, counted, and
the source goes on with the next file. Batches of that file still in flight stay in
flight; the note (``spool_notes``) gives the delivered, in-flight and stopped offsets and a
re-feed recipe from the first byte not confirmed delivered, and is rewritten as the
in-flight batches are delivered.

Links: nothing is read through a symbolic link. The walk skips links (one warning per
path), opens subdirectories with O_NOFOLLOW, and a file is opened with O_NOFOLLOW and must
be the regular file (device, inode) the listing saw. Hard links are ordinary files.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from flafka.backlog import Backlog
from flafka.batch import AnyBatch, Batch
from flafka.errors import ChannelError, ConfigError
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import POLLABLE_SETTINGS, PollableSource, Status
from flafka.sources.deserializers import (
    AvroDeserializer,
    BlobDeserializer,
    CorruptInput,
    DecodeFailure,
    Deserializer,
    LineDeserializer,
    ascii_compatible,
)
from flafka.sources.name_filter import NameFilter
from flafka.sources.spool_notes import NoteFacts, log_summary, note_text

log = logging.getLogger(__name__)

POSITION_FILE = "flafka-positions.json"
WRITE_INTERVAL = 0.005
"""Seconds between two writes of the position file by temp file + rename (at most): such
a write costs ~0.3 ms of CPU and blocks ~4 ms on ext4 (the rename flushes the new file's
data). Only for a document longer than IN_PLACE_MAX (or the first write); smaller ones
are written in place at every delivered batch."""
IN_PLACE_MAX = 4096
"""A position document up to this many bytes (one page) is overwritten in place with one
``pwrite`` (~2 µs); longer ones (thousands of files in flight) go by temp file + rename."""
MAX_DELAY_MS = 86_400_000
"""Upper bound of pollDelay and maxBackoff (a day): a wait beyond the platform's time_t
raises OverflowError in the runner thread, which then stops reading for good."""
CHANNEL_FULL_BACKOFF_MS = 250
"""First sleep after a channel-full failure; doubles up to ``maxBackoff`` (as Flume)."""

_DESERIALIZERS = {
    "line": "LINE",
    "org.apache.flume.serialization.linedeserializer$builder": "LINE",
    "blob": "BLOB",
    "org.apache.flume.sink.solr.morphline.blobdeserializer$builder": "BLOB",
    "avro": "AVRO",
    "org.apache.flume.serialization.avroeventdeserializer$builder": "AVRO",
}


_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _open_for_read(path: str) -> BinaryIO:
    """Open a spool file, never through a symbolic link (O_NOFOLLOW: a link raises ELOOP)
    and without blocking on a FIFO (O_NONBLOCK; reads of a regular file ignore it).
    Unbuffered: the deserializer reads large chunks itself. The caller checks with fstat
    that what was opened is the regular file it listed."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _header_text(value: str) -> str:
    """A path as header text every serializer can encode: bytes of a file name that are
    not valid UTF-8 (surrogate escapes) become ``\\xNN``."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return os.fsencode(value).decode("utf-8", "backslashreplace")


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


class _File:
    """One file the source opened and has not yet completed or quarantined."""

    __slots__ = (
        "abandoned",
        "committed",
        "committed_line",
        "cuts_seen",
        "deser",
        "dev",
        "fobj",
        "headers",
        "ino",
        "mtime_ns",
        "note",
        "outstanding",
        "path",
        "read_done",
        "rel",
        "repairs_seen",
        "sent_line",
        "sent_offset",
        "size",
    )

    def __init__(self, rel: str, path: str, st: os.stat_result, fobj: BinaryIO, offset: int, line: int) -> None:
        self.rel = rel
        self.path = path
        self.ino = st.st_ino
        self.dev = st.st_dev
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.fobj: BinaryIO | None = fobj
        self.deser: Deserializer | None = None
        self.committed = offset  # delivered byte offset
        self.committed_line = line
        self.sent_offset = offset  # handed to the channel
        self.sent_line = line
        self.outstanding = 0  # batches built and not yet delivered
        self.read_done = False
        self.abandoned = False
        self.cuts_seen = 0
        self.repairs_seen = 0
        self.headers: dict[str, str] = {}
        self.note: tuple[str, NoteFacts] | None = None
        """Quarantined with batches in flight: (note path, facts) to rewrite on delivery."""

    def close(self) -> None:
        if self.fobj is not None:
            try:
                self.fobj.close()
            finally:
                self.fobj = None


Position = tuple[_File, int, int, bool]
"""``(file, byte offset after the batch, whole lines before it, last batch of the file)``."""


class SpoolDirectorySource(PollableSource):
    """Reads files dropped into ``spoolDir``; see the module docstring and docs/sources.md."""

    type_name = "spooldir"
    aliases = ("org.apache.flume.source.SpoolDirectorySource",)
    replayable = True
    summary = "Immutable files dropped into a directory, one event per line (or per file); resumes exactly after a crash."
    settings_schema = (
        Schema(
            Setting("spoolDir", "str", REQUIRED, "directory to read files from"),
            Setting("fileSuffix", "str", ".COMPLETED", "appended to a file's name once all of it is delivered"),
            Setting("deletePolicy", "enum", "never", "delete completed files: never or immediate", choices=("never", "immediate")),
            Setting("fileHeader", "bool", False, "add the file's absolute path as header fileHeaderKey"),
            Setting("fileHeaderKey", "str", "file", "header name for fileHeader"),
            Setting("basenameHeader", "bool", False, "add the file's name as header basenameHeaderKey"),
            Setting("basenameHeaderKey", "str", "basename", "header name for basenameHeader"),
            Setting("includePattern", "regex", "^.*$", "file names to read (whole-name match)", since="1.7"),
            Setting("ignorePattern", "regex", "^$", "file names to skip (wins over includePattern)"),
            Setting("trackerDir", "str", ".flumespool", "metadata directory; relative paths are under spoolDir"),
            Setting(
                "trackingPolicy",
                "enum",
                "rename",
                "how completion is recorded: rename the file, or a marker file in trackerDir",
                choices=("rename", "tracker_dir"),
                since="1.9",
            ),
            Setting(
                "consumeOrder",
                "enum",
                "oldest",
                "file order: oldest, youngest (by mtime) or random",
                choices=("oldest", "youngest", "random"),
            ),
            Setting(
                "pollDelay",
                "int",
                500,
                "ms between directory polls when there is nothing to read (at most a day)",
                minimum=0,
                maximum=MAX_DELAY_MS,
                since="1.7",
            ),
            Setting("recursiveDirectorySearch", "bool", False, "also read files in subdirectories", since="1.7"),
            Setting(
                "maxBackoff",
                "int",
                4000,
                "cap (ms) of the back-off when the channel is full (at most a day)",
                minimum=0,
                maximum=MAX_DELAY_MS,
            ),
            Setting("batchSize", "int", 100, "events per batch handed to the channels", minimum=1),
            Setting("inputCharset", "charset", "UTF-8", "charset of the files (must write newline as byte 0x0A)"),
            Setting(
                "decodeErrorPolicy",
                "enum",
                "FAIL",
                "undecodable bytes: FAIL (quarantine the file), REPLACE (U+FFFD) or IGNORE",
                choices=("FAIL", "REPLACE", "IGNORE"),
            ),
            Setting("deserializer", "str", "LINE", "LINE, BLOB, AVRO or a Flume deserializer builder class name"),
            Setting("deserializer.maxLineLength", "int", 2048, "characters per event; longer lines are cut into more events", minimum=1),
            Setting("deserializer.outputCharset", "charset", "UTF-8", "charset of event bodies (LINE)"),
            Setting(
                "deserializer.maxBlobLength", "int", 100_000_000, "bytes per event (BLOB); longer files become several events", minimum=1
            ),
            Setting(
                "deserializer.schemaType",
                "enum",
                "HASH",
                "AVRO: header flume.avro.schema.hash (HASH) or flume.avro.schema.literal (LITERAL)",
                choices=("HASH", "LITERAL"),
            ),
            Setting("bufferMaxLines", "int", None, "obsolete in Flume; ignored"),
            Setting("bufferMaxLineLength", "int", None, "deprecated in Flume; ignored (use deserializer.maxLineLength)"),
            Setting(
                "quarantineDir",
                "str",
                ".flafka-quarantine",
                "where files that cannot be processed are moved (flafka); relative paths are under spoolDir",
            ),
        )
        + POLLABLE_SETTINGS
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        """Warn at validation when spoolDir does not exist (yet): the agent would refuse to
        start. A local stat only; no other I/O."""
        spool = settings.get("spoolDir")
        if spool and not os.path.isdir(os.path.expanduser(spool)):
            return [
                Problem(
                    "spoolDir",
                    f"spoolDir '{spool}' does not exist (yet) or is not a directory; the agent will not start until it does",
                    f"create it (mkdir -p {spool}) or correct spoolDir",
                    "warning",
                )
            ]
        return []

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        s = settings
        kind = _DESERIALIZERS.get(str(s["deserializer"]).strip().lower())
        if kind is None:
            raise ConfigError(
                f"source '{name}': deserializer '{s['deserializer']}' is not known to flafka; "
                "use LINE, BLOB (org.apache.flume.sink.solr.morphline.BlobDeserializer$Builder) or AVRO"
            )
        if kind == "AVRO":
            from flafka.serializers.avro import require_fastavro

            require_fastavro(f"source '{name}': deserializer = AVRO")
        self._kind = kind
        for cs_key in ("inputCharset", "deserializer.outputCharset"):
            if not ascii_compatible(s[cs_key]):
                raise ConfigError(
                    f"source '{name}': {cs_key} = {s[cs_key]} is not supported yet (lines are split on the byte 0x0A, "
                    "which this charset does not use for a newline); convert the files to UTF-8 and set UTF-8"
                )
        for old in ("bufferMaxLines", "bufferMaxLineLength"):
            if old in s.explicit:
                log.warning("source '%s': %s is obsolete in Flume and ignored by flafka; remove it", name, old)
        if s["deletePolicy"] == "immediate" and s["trackingPolicy"] == "tracker_dir":
            log.warning("source '%s': trackingPolicy = tracker_dir has no effect with deletePolicy = immediate", name)
        # DOTALL: a file name may hold a newline; `.` must match it or such a file is never read.
        # A pattern that can backtrack catastrophically is matched in a helper process, with a time limit
        self._names = NameFilter(name, s["includePattern"], s["ignorePattern"])
        self._spool = Path(s["spoolDir"]).expanduser()
        self._tracker = self._spool / Path(s["trackerDir"]).expanduser()
        self._quarantine_dir = self._spool / Path(s["quarantineDir"]).expanduser()
        self._suffix: str = s["fileSuffix"]
        self._delete = s["deletePolicy"] == "immediate"
        self._track_dir = not self._delete and s["trackingPolicy"] == "tracker_dir"
        self._batch: int = s["batchSize"]
        self._order: str = s["consumeOrder"]
        self._recursive: bool = s["recursiveDirectorySearch"]
        self._header_keys: list[tuple[str, bool]] = []  # (key, True for full path)
        if s["fileHeader"]:
            self._header_keys.append((s["fileHeaderKey"], True))
        if s["basenameHeader"]:
            self._header_keys.append((s["basenameHeaderKey"], False))
        self._lock = threading.Lock()
        # statistics beyond Flume's SourceCounter (logged, shown in the quarantine notes)
        self.lines_cut = 0
        self.lines_repaired = 0
        self.files_completed = 0
        self.files_quarantined = 0
        self._done_files = 0  # completed or quarantined since start (progress reports)
        self._done_bytes = 0
        self._sizes: dict[str, int] = {}  # sizes of files waiting, stat'ed once (progress reports)
        self._reset()

    def _reset(self) -> None:
        self._files: dict[str, _File] = {}  # opened and not yet completed, by path under spoolDir
        self._current: _File | None = None
        self._retry: tuple[AnyBatch, Position] | None = None
        self._candidates: list[str] = []  # cached scan, next file last
        self._resume: dict[str, dict[str, Any]] = {}
        self._broken: set[str] = set()  # could neither process nor move away: skipped
        self._done_marks: dict[str, tuple[int, int, int] | None] = {}
        self._listed: dict[str, tuple[int, int]] = {}  # (st_dev, st_ino) of each file as the last scan saw it
        self._warned: set[str] = set()  # links and special files already warned about
        self._dirty = False
        self._last_write = float("-inf")
        if getattr(self, "_pos_fd", None) is not None:
            self._close_positions()
        self._pos_fd: int | None = None  # the position file, open for in-place writes
        self._pos_size = 0  # its length in bytes
        self._backoff_reason = "idle"
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Check spoolDir, create trackerDir and quarantineDir, load the positions.
        Raises ConfigError naming the path and the fix when spoolDir cannot be used."""
        spool = self._spool
        if not spool.is_dir():
            raise ConfigError(
                f"source '{self.name}': spoolDir '{spool}' does not exist or is not a directory; "
                f"create it (mkdir -p {spool}) or correct spoolDir"
            )
        if not os.access(spool, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigError(
                f"source '{self.name}': spoolDir '{spool}' must be readable and writable by the agent's user "
                f"(uid {os.getuid()}) so completed files can be renamed; fix its permissions"
            )
        for what, path in (("trackerDir", self._tracker), ("quarantineDir", self._quarantine_dir)):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"source '{self.name}': cannot create {what} '{path}' ({exc.strerror}); fix {what} or its permissions")
        with self._lock:
            self._reset()
            self._load_positions()
            self._names.reset()
            self._started = True

    def stop(self) -> None:
        """Record what was delivered, write the positions, close the open file."""
        self._names.interrupt()  # a scan in progress ends at once (it holds the lock)
        with self._lock:
            if not self._started:
                return
            self._started = False
            try:
                self._collect()
                self._flush(force=True)
            finally:
                self._close_positions()
                self._names.close()
                for f in self._files.values():
                    f.abandoned = True  # late deliveries must not touch a stopped source
                    f.close()

    def backoff_delay(self, attempts: int) -> float:
        """``pollDelay`` when idle; on channel full 250 ms doubling up to ``maxBackoff``
        (Flume's spooldir back-off) unless backoffSleepIncrement/maxBackoffSleep are set."""
        if self._backoff_reason == "idle":
            return float(self.settings["pollDelay"]) / 1000.0
        if "backoffSleepIncrement" in self.settings.explicit or "maxBackoffSleep" in self.settings.explicit:
            return super().backoff_delay(attempts)
        delay = CHANNEL_FULL_BACKOFF_MS << min(max(attempts - 1, 0), 16)
        return min(delay, int(self.settings["maxBackoff"])) / 1000.0

    # -- the poll ------------------------------------------------------------------------
    def process(self) -> Status:
        with self._lock:
            if not self._started:
                return Status.BACKOFF  # a late poll after stop() must not open files
            self._collect()
            if self._retry is not None:
                return Status.READY if self._send(*self._retry) else Status.BACKOFF
            f = self._current
            if f is None:
                f = self._open_next()
                if f is None:
                    self._flush(force=True)
                    self._backoff_reason = "idle"
                    return Status.BACKOFF
                self._current = f
            return self._read_batch(f)

    def backlog(self) -> Backlog:
        """Files and bytes done since start of those present (completed or quarantined,
        files being read, files waiting as of the last scan). Called once a second by the
        progress reporter: holds the lock only to copy state; waiting files are stat'ed
        once each."""
        with self._lock:
            waiting = list(self._candidates)
            reading = [(f.size, f.committed) for f in self._files.values()]
            done_files, done_bytes = self._done_files, self._done_bytes
        sizes = self._sizes
        for rel in waiting:
            if rel not in sizes:
                try:
                    sizes[rel] = os.stat(self._spool / rel).st_size
                except OSError:
                    sizes[rel] = 0
        if len(sizes) > 2 * len(waiting) + 1000:
            self._sizes = {rel: sizes[rel] for rel in waiting}
        done = done_bytes + sum(c for _, c in reading)
        total = done_bytes + sum(size for size, _ in reading) + sum(sizes.get(rel, 0) for rel in waiting)
        files_total = done_files + len(reading) + len(waiting)
        return Backlog(done, max(done, total), "bytes", f"{done_files:,}/{files_total:,} files")

    def drained(self) -> bool:
        """True when no eligible file is left and everything read was delivered and completed."""
        with self._lock:
            if self._current is not None or self._retry is not None or self._files or self.acks.in_flight:
                return False
            return not self._scan()

    def _read_batch(self, f: _File) -> Status:
        deser = f.deser
        assert deser is not None and f.fobj is not None
        try:
            bodies = deser.read(self._batch)
            eof = deser.at_eof()
            st = os.fstat(f.fobj.fileno())
        except DecodeFailure as exc:
            self._quarantine_file(
                f,
                f"line {exc.line} cannot be decoded as {self.settings['inputCharset']} (decodeErrorPolicy = FAIL): {exc.detail}",
                f"convert the file to {self.settings['inputCharset']}, or set decodeErrorPolicy = REPLACE or IGNORE",
                where=f"line {exc.line}, byte offset {exc.offset}",
                read_error=True,
                stopped=f"line {exc.line} at byte offset {exc.offset} (the undecodable bytes)",
            )
            return Status.READY
        except CorruptInput as exc:
            self._quarantine_file(f, exc.detail, exc.fix, where=exc.where, read_error=True)
            return Status.READY
        except OSError as exc:
            self._quarantine_file(f, f"reading failed: {exc}", "check the disk and the file, then move it back into spoolDir")
            return Status.READY
        if st.st_nlink == 0:
            self._quarantine_file(
                f,
                "the file was deleted while it was being read",
                "do not delete files from spoolDir before the source completed them",
            )
            return Status.READY
        if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
            self._modified(f, st.st_size)
            return Status.READY
        if eof and not self._same_file(f):
            self._quarantine_file(
                f,
                "the file was renamed, deleted or replaced while it was being read",
                "only move complete files into spoolDir, under unique names, and leave them there",
            )
            return Status.READY
        self._note_cuts(f, deser)
        status = Status.READY
        extra = getattr(deser, "headers", None)  # AVRO: the schema header of every event of the file
        if extra and bodies:
            f.headers.update(extra)
        if bodies:
            pos: Position = (f, deser.offset, deser.line, eof)
            f.outstanding += 1
            if not self._send(self._events(f, bodies), pos):
                status = Status.BACKOFF
        if eof:
            f.read_done = True
            f.close()
            self._current = None
            if f.outstanding == 0:
                self._complete(f)
        return status

    def _events(self, f: _File, bodies: list[bytes]) -> Batch:
        """A column-wise batch: the file's headers (fileHeader, basenameHeader, AVRO's
        schema) are one map every event shares; no ``Event`` is built unless a component
        that is not batch-aware asks."""
        headers = f.headers
        return Batch(bodies, None, dict(headers) if headers else None)

    def _send(self, events: AnyBatch, pos: Position) -> bool:
        """Hand one batch to the channels; on failure keep it for the next poll."""
        token = self.acks.token(pos)
        try:
            self.processor.process_batch(events, token)
        except ChannelError:
            self._retry = (events, pos)
            self._backoff_reason = "full"
            return False
        except Exception:
            self._retry = (events, pos)
            self._backoff_reason = "full"
            raise
        self._retry = None
        f = pos[0]
        f.sent_offset, f.sent_line = pos[1], pos[2]
        return True

    def _collect(self) -> None:
        """Apply delivered positions: advance offsets, complete finished files."""
        for f, offset, line, _last in self.acks.delivered():
            f.outstanding -= 1
            if f.abandoned:
                if f.note is not None:  # quarantined with batches in flight: keep its note exact
                    f.committed, f.committed_line = offset, line
                    self._settle_note(f)
                continue
            f.committed, f.committed_line = offset, line
            self._dirty = True
            if f.read_done and f.outstanding == 0:
                self._complete(f)
        self._flush()

    # -- choosing and opening files -------------------------------------------------------
    def _open_next(self) -> _File | None:
        rescanned = False
        while True:
            if not self._candidates:
                if rescanned:
                    return None
                self._candidates = self._scan()
                rescanned = True
                if not self._candidates:
                    return None
            rel = self._candidates.pop()
            if rel in self._files or rel in self._broken:
                continue
            f = self._open(rel)
            if f is not None:
                return f

    def _scan(self) -> list[str]:
        """Eligible files under spoolDir, the next one to read last; records each one's
        ``(st_dev, st_ino)`` as listed in ``self._listed`` for :meth:`_open` to check.

        Never follows a symbolic link: links (to files or directories) are skipped with one
        warning per path, as are FIFOs, sockets and devices. Subdirectories are opened with
        O_NOFOLLOW and must still be the directory listed, so a directory swapped for a link
        between listing and descending is not entered."""
        found: list[tuple[int, str]] = []
        listed: dict[str, tuple[int, int]] = {}
        skipped: set[str] = set()
        spool = str(self._spool)
        special = {os.path.abspath(self._tracker), os.path.abspath(self._quarantine_dir)}
        dirs: list[tuple[str, tuple[int, int] | None]] = [("", None)]
        while dirs:
            rel_dir, ident = dirs.pop()
            d = os.path.join(spool, rel_dir) if rel_dir else spool
            try:
                # spoolDir itself may be a link (the operator chose it); nothing below it may
                fd = os.open(d, _DIR_FLAGS if rel_dir else os.O_RDONLY | os.O_DIRECTORY)
            except OSError as exc:
                if not rel_dir:
                    log.error("source '%s': cannot list spoolDir '%s': %s", self.name, d, exc)
                continue
            try:
                if ident is not None:
                    st_dir = os.fstat(fd)
                    if (st_dir.st_dev, st_dir.st_ino) != ident:
                        continue  # swapped between listing and opening: listed again next time
                entries = list(os.scandir(fd))
                for entry in entries:
                    try:
                        self._consider(entry, rel_dir, special, found, listed, skipped, dirs)
                    except OSError:
                        continue  # vanished while listed
            except OSError as exc:
                if not rel_dir:
                    log.error("source '%s': cannot list spoolDir '%s': %s", self.name, d, exc)
            finally:
                os.close(fd)
        self._warned &= skipped  # a path that is gone (or fixed) is warned about again if it returns
        self._listed = listed
        if self._order == "random":
            random.shuffle(found)
        elif self._order == "youngest":
            found.sort(key=lambda t: (-t[0], t[1]))
        else:
            found.sort()
        ordered = [rel for _, rel in found]
        resumed = [rel for rel in ordered if rel in self._resume]
        if resumed:  # files in flight at the last stop go first
            ordered = resumed + [rel for rel in ordered if rel not in self._resume]
        ordered.reverse()
        return ordered

    def _consider(
        self,
        entry: os.DirEntry[str],
        rel_dir: str,
        special: set[str],
        found: list[tuple[int, str]],
        listed: dict[str, tuple[int, int]],
        skipped: set[str],
        dirs: list[tuple[str, tuple[int, int] | None]],
    ) -> None:
        """Sort one directory entry: a file to read, a directory to walk, or skipped."""
        name = entry.name
        if name.startswith("."):
            return
        rel = os.path.join(rel_dir, name) if rel_dir else name
        if entry.is_dir(follow_symlinks=False):  # from the listing's d_type: no system call
            if self._recursive and os.path.abspath(os.path.join(str(self._spool), rel)) not in special:
                st = entry.stat(follow_symlinks=False)
                dirs.append((rel, (st.st_dev, st.st_ino)))
            return
        if self._suffix and name.endswith(self._suffix):
            return
        if not self._names.accepts(name):
            return
        st = entry.stat(follow_symlinks=False)  # lstat: a link is reported as a link
        if not stat.S_ISREG(st.st_mode):
            skipped.add(rel)
            if rel not in self._warned:
                self._warned.add(rel)
                self._warn_skipped(rel, st.st_mode)
            return
        if rel in self._files or rel in self._broken:
            return
        if self._track_dir and self._marked_done(rel, st):
            return
        listed[rel] = (st.st_dev, st.st_ino)
        found.append((st.st_mtime_ns, rel))

    def _warn_skipped(self, rel: str, mode: int) -> None:
        """One warning for a path that is not read: a symbolic link, FIFO, socket or device."""
        path = os.path.join(str(self._spool), rel)
        if stat.S_ISLNK(mode):
            try:
                target = f" (to '{os.readlink(path)}')"
            except OSError:
                target = ""
            log.warning(
                "source '%s': '%s' is a symbolic link%s: the spooling directory source never follows links, so "
                "nothing outside spoolDir is read and no file is read twice. It is skipped; move the file itself "
                "into spoolDir, or exclude the link with ignorePattern to silence this warning",
                self.name,
                path,
                target,
            )
        else:
            log.warning(
                "source '%s': '%s' is %s: the spooling directory source reads only regular files. It is skipped; "
                "remove it from spoolDir (write data to a file and move the file in), or exclude it with ignorePattern",
                self.name,
                path,
                _kind_of(mode),
            )

    def _marked_done(self, rel: str, st: os.stat_result) -> bool:
        """tracker_dir policy: a marker exists. A marker holding another file's identity
        means the name was reused: the file is left eligible and quarantined on open."""
        if rel not in self._done_marks:
            marker = self._tracker / (rel + self._suffix)
            try:
                text = marker.read_text(encoding="utf-8")
            except FileNotFoundError:
                return False
            except OSError:
                return True
            ident: tuple[int, int, int] | None = None
            try:
                data = json.loads(text) if text.strip() else None
                if isinstance(data, dict):
                    ident = (int(data["inode"]), int(data["size"]), int(data["mtime_ns"]))
            except (ValueError, KeyError, TypeError):
                ident = None
            self._done_marks[rel] = ident
        ident = self._done_marks[rel]
        return ident is None or ident == (st.st_ino, st.st_size, st.st_mtime_ns)

    def _open(self, rel: str) -> _File | None:
        path = os.path.join(str(self._spool), rel)
        if not self._delete and not self._track_dir and os.path.lexists(path + self._suffix):
            self._quarantine_path(
                rel,
                f"the name is reused: '{rel}{self._suffix}' (a completed file of the same name) already exists",
                "spoolDir file names must be unique: if this is new data, move it back under a new name; "
                "if it is the same file again, delete it",
            )
            return None
        if self._track_dir and rel in self._done_marks:
            self._done_marks.pop(rel, None)
            self._quarantine_path(
                rel,
                f"the name is reused: trackerDir already marks a different file named '{rel}' as completed",
                "spoolDir file names must be unique: move it back under a new name",
            )
            return None
        listed = self._listed.get(rel)
        if listed is None:
            return None  # no longer eligible as of the latest listing
        try:
            fobj = _open_for_read(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a symbolic link after it was listed
                self._skip_unlisted(rel, stat.S_IFLNK)
                return None
            self._quarantine_path(
                rel,
                f"the file cannot be opened: {exc.strerror or exc}",
                f"make it readable by the agent's user (uid {os.getuid()}) and move it back into spoolDir",
                read_error=True,
            )
            return None
        try:
            st = os.fstat(fobj.fileno())
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != listed:
                # not the regular file listed: swapped (or a directory above it was) in between
                fobj.close()
                self._skip_unlisted(rel, st.st_mode)
                return None
            offset = line = 0
            entry = self._resume.pop(rel, None)
            if entry is not None:
                self._dirty = True
                if entry["inode"] != st.st_ino or entry["size"] != st.st_size or entry["mtime_ns"] != st.st_mtime_ns:
                    fobj.close()
                    replaced = entry["inode"] != st.st_ino
                    self._quarantine_path(
                        rel,
                        ("the file was replaced by another file of the same name" if replaced else "the file was modified")
                        + f" after the source had started reading it (found on restart: {entry['size']} bytes then, "
                        f"{st.st_size} now)",
                        "spoolDir files must be immutable: write them elsewhere and move them into spoolDir when complete",
                        delivered=(int(entry["offset"]), int(entry["lines"])),
                    )
                    return None
                offset, line = int(entry["offset"]), int(entry["lines"])
                if offset:
                    fobj.seek(offset)
            f = _File(rel, path, st, fobj, offset, line)
        except OSError as exc:
            fobj.close()
            self._quarantine_path(rel, f"the file cannot be read: {exc}", "check the file and move it back into spoolDir", read_error=True)
            return None
        s = self.settings
        if self._kind == "AVRO":
            f.deser = AvroDeserializer(fobj, offset=offset, line=line, schema_type=s["deserializer.schemaType"])
        elif self._kind == "BLOB":
            f.deser = BlobDeserializer(fobj, offset=offset, line=line, max_blob_length=s["deserializer.maxBlobLength"])
        else:
            f.deser = LineDeserializer(
                fobj,
                offset=offset,
                line=line,
                max_line_length=s["deserializer.maxLineLength"],
                input_charset=s["inputCharset"],
                output_charset=s["deserializer.outputCharset"],
                decode_error_policy=s["decodeErrorPolicy"],
            )
        for key, full in self._header_keys:
            f.headers[key] = _header_text(os.path.abspath(path) if full else os.path.basename(path))
        self._files[rel] = f
        return f

    def _skip_unlisted(self, rel: str, mode: int) -> None:
        """What :meth:`_open` found at ``rel`` is not the regular file the listing saw: skip
        it now (nothing read); the next listing sees what is there and decides again."""
        self._listed.pop(rel, None)
        if not stat.S_ISREG(mode) and rel not in self._warned:
            self._warned.add(rel)
            self._warn_skipped(rel, mode)
        elif stat.S_ISREG(mode):
            log.info("source '%s': '%s' was replaced between listing and opening; it will be listed again", self.name, rel)

    def _same_file(self, f: _File) -> bool:
        try:
            st = os.lstat(f.path)
        except OSError:
            return False
        return st.st_ino == f.ino and st.st_dev == f.dev

    # -- completion, quarantine, reporting --------------------------------------------------
    def _complete(self, f: _File) -> None:
        """All of ``f`` is delivered: rename it, mark it, or delete it."""
        self._files.pop(f.rel, None)
        self._done_files += 1
        self._done_bytes += f.committed
        self._dirty = True
        self._report_cuts(f)
        try:
            st = os.lstat(f.path)
        except FileNotFoundError:
            log.warning(
                "source '%s': '%s' disappeared before it could be marked complete; all %d lines had been delivered",
                self.name,
                f.path,
                f.committed_line,
            )
            return
        if st.st_ino != f.ino or st.st_dev != f.dev:
            log.warning(
                "source '%s': '%s' was replaced by another file after it was read; the original was delivered "
                "in full and the new file will be read as a new file",
                self.name,
                f.path,
            )
            return
        if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
            self._files[f.rel] = f
            self._modified(f, st.st_size)
            return
        try:
            if self._delete:
                os.unlink(f.path)
            elif self._track_dir:
                marker = self._tracker / (f.rel + self._suffix)
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(json.dumps({"inode": f.ino, "size": f.size, "mtime_ns": f.mtime_ns}), encoding="utf-8")
                self._done_marks[f.rel] = (f.ino, f.size, f.mtime_ns)
            else:
                dest = f.path + self._suffix
                if os.path.lexists(dest):
                    self._files[f.rel] = f
                    self._quarantine_file(
                        f,
                        f"the name is reused: '{dest}' appeared while this file was being read, so it cannot be "
                        "renamed; every line of this file was delivered",
                        "spoolDir file names must be unique; delete this copy if it holds the same data",
                    )
                    return
                os.rename(f.path, dest)
        except OSError as exc:
            self._broken.add(f.rel)
            log.error(
                "source '%s': '%s' was delivered in full but cannot be marked complete (%s); it is skipped until "
                "restart. Fix the permissions of spoolDir/trackerDir, then rename it to '%s%s' by hand",
                self.name,
                f.path,
                exc,
                f.path,
                self._suffix,
            )
            return
        self.files_completed += 1

    def _modified(self, f: _File, size_now: int) -> None:
        self._quarantine_file(
            f,
            f"the file was modified after the source picked it ({f.size} bytes when picked, {size_now} now)",
            "spoolDir files must be immutable: write them elsewhere and move (rename) them into spoolDir when complete",
        )

    def _quarantine_file(self, f: _File, problem: str, fix: str, where: str = "", read_error: bool = False, stopped: str = "") -> None:
        """Move ``f`` to quarantineDir. Batches of ``f`` still in flight stay in flight: the
        note says which bytes they cover (the re-feed starts before them) and is rewritten
        by :meth:`_collect` once they are delivered."""
        f.abandoned = True
        f.close()
        if self._current is f:
            self._current = None
        if self._files.pop(f.rel, None) is not None:
            self._done_files += 1
            self._done_bytes += f.size
        self._dirty = True
        if f.deser is not None:
            self._note_cuts(f, f.deser)
            if not stopped:
                stopped = f"byte offset {f.deser.offset}, after {self._unit()} {f.deser.line} (nothing after it was read)"
        facts, note_path = self._quarantine_path(
            f.rel,
            problem,
            fix,
            where=where,
            read_error=read_error,
            delivered=(f.committed, f.committed_line),
            sent=(f.sent_offset, f.sent_line),
            stopped=stopped,
        )
        if facts.in_flight and f.outstanding > 0:
            f.note = (note_path, facts)

    def _unit(self) -> str:
        return "events" if self._kind == "BLOB" else "lines"

    def _quarantine_path(
        self,
        rel: str,
        problem: str,
        fix: str,
        where: str = "",
        read_error: bool = False,
        delivered: tuple[int, int] = (0, 0),
        sent: tuple[int, int] | None = None,
        stopped: str = "",
    ) -> tuple[NoteFacts, str]:
        """Write the note, then move the file (a crash in between leaves the file in
        spoolDir, read again from its delivered position: nothing lost). ``delivered`` and
        ``sent`` are ``(byte offset, lines)``: confirmed delivered, and handed to the
        channel (defaults to ``delivered``). Returns the facts and the note's path."""
        src = os.path.join(str(self._spool), rel)
        dest = str(self._quarantine_dir / rel)
        n = 0
        while os.path.lexists(dest) or os.path.lexists(dest + ".reason.txt"):
            n += 1
            dest = f"{self._quarantine_dir / rel}.{n}"
        sent_offset, sent_lines = sent if sent is not None else delivered
        facts = NoteFacts(
            source=self.name,
            original=src,
            location=dest,
            moved=f"moved to {dest}",
            time=time.strftime("%Y-%m-%d %H:%M:%S %z"),
            problem=problem,
            fix=fix,
            unit=self._unit(),
            where=where,
            delivered=delivered[0],
            delivered_lines=delivered[1],
            sent=max(sent_offset, delivered[0]),
            sent_lines=max(sent_lines, delivered[1]),
            stopped=stopped,
        )
        note_path = dest + ".reason.txt"
        try:
            facts.size = os.lstat(src).st_size
            exists = True
        except OSError:
            exists = False
        if exists:
            self._write_note(note_path, facts)
        try:
            if not exists:
                raise FileNotFoundError(src)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.move(src, dest)
        except FileNotFoundError:
            facts.moved, facts.location = "not moved: it no longer exists", None
            self._write_note(note_path, facts)
        except OSError as exc:
            facts.moved = f"could NOT be moved ({exc}); it is skipped until the agent restarts"
            facts.location = src
            self._broken.add(rel)
            self._write_note(note_path, facts)
        log.error(
            "source '%s': quarantined '%s' (%s): %s%s; %s. Fix: %s",
            self.name,
            src,
            facts.moved,
            problem,
            f" at {where}" if where else "",
            log_summary(facts),
            fix,
        )
        self.files_quarantined += 1
        if read_error:
            self.counter.event_read_fail += 1
        else:
            self.counter.generic_processing_fail += 1
        return facts, note_path

    def _write_note(self, path: str, facts: NoteFacts) -> None:
        """Write (or rewrite) a quarantine note atomically: temp file, then os.replace."""
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as out:
                out.write(note_text(facts))
            os.replace(tmp, path)
        except OSError as exc:
            log.error("source '%s': cannot write the quarantine note %s: %s", self.name, path, exc)

    def _settle_note(self, f: _File) -> None:
        """A batch of quarantined ``f`` that was in flight is delivered: rewrite its note
        with the new delivered offset (so the re-feed starts after it), and once nothing is
        in flight any more, say so and stop tracking ``f``."""
        assert f.note is not None
        path, facts = f.note
        facts.delivered, facts.delivered_lines = f.committed, f.committed_line
        self._write_note(path, facts)
        if f.outstanding > 0:
            return
        f.note = None
        log.info(
            "source '%s': the %s of quarantined '%s' that were in flight are delivered (bytes 0..%d); %s updated",
            self.name,
            self._unit(),
            facts.original,
            f.committed,
            path,
        )

    def _note_cuts(self, f: _File, deser: Deserializer) -> None:
        """Count long-line cuts and repaired lines; log the first of each once per file."""
        if deser.cuts != f.cuts_seen:
            if f.cuts_seen == 0 and deser.first_cut is not None:
                line, length = deser.first_cut
                limit = self.settings["deserializer.maxBlobLength" if self._kind == "BLOB" else "deserializer.maxLineLength"]
                what = "event" if self._kind == "BLOB" else "line"
                unit = "bytes" if self._kind == "BLOB" else "characters"
                log.warning(
                    "source '%s': %s %d of '%s' is %d %s, longer than %s; it is split into several events of at "
                    "most %d %s (raise the limit to keep such %ss whole). Further cuts in this file are counted, "
                    "not logged",
                    self.name,
                    what,
                    line,
                    f.path,
                    length,
                    unit,
                    "deserializer.maxBlobLength" if self._kind == "BLOB" else "deserializer.maxLineLength",
                    limit,
                    unit,
                    what,
                )
            self.lines_cut += deser.cuts - f.cuts_seen
            self.counter.error("line_cut", "receiving", deser.cuts - f.cuts_seen)
            f.cuts_seen = deser.cuts
        if deser.repaired != f.repairs_seen:
            if f.repairs_seen == 0 and deser.first_repair is not None:
                line, offset = deser.first_repair
                log.warning(
                    "source '%s': line %d of '%s' has bytes that are not valid %s (first at byte offset %d); "
                    "decodeErrorPolicy = %s %s them. Further such lines in this file are counted, not logged",
                    self.name,
                    line,
                    f.path,
                    self.settings["inputCharset"],
                    offset,
                    self.settings["decodeErrorPolicy"],
                    "replaced" if self.settings["decodeErrorPolicy"] == "REPLACE" else "dropped",
                )
            self.lines_repaired += deser.repaired - f.repairs_seen
            self.counter.error("line_repaired", "receiving", deser.repaired - f.repairs_seen)
            f.repairs_seen = deser.repaired

    def _report_cuts(self, f: _File) -> None:
        if f.cuts_seen > 1 or f.repairs_seen > 1:
            log.warning(
                "source '%s': '%s' done: %d over-long lines were cut, %d lines had undecodable bytes",
                self.name,
                f.path,
                f.cuts_seen,
                f.repairs_seen,
            )

    # -- the position file ----------------------------------------------------------------
    @property
    def position_file(self) -> Path:
        return self._tracker / POSITION_FILE

    def _load_positions(self) -> None:
        path = self.position_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data["files"]
            for e in entries:
                rel = str(e["path"])
                self._resume[rel] = {k: int(e[k]) for k in ("inode", "size", "mtime_ns", "offset", "lines")}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(f"{POSITION_FILE}.corrupt-{int(time.time())}")
            log.error(
                "source '%s': the position file %s cannot be read (%s); it is moved to %s and files that were in "
                "flight will be read again from their start (duplicates, no loss)",
                self.name,
                path,
                exc,
                aside,
            )
            self._resume.clear()
            try:
                os.replace(path, aside)
            except OSError:
                pass
            return
        for rel in list(self._resume):
            gone = not os.path.lexists(os.path.join(str(self._spool), rel))
            marked = self._track_dir and os.path.lexists(self._tracker / (rel + self._suffix))
            if gone or marked:
                del self._resume[rel]  # completed (or removed) before the position was rewritten
                self._dirty = True

    def _flush(self, force: bool = False) -> None:
        """Write the position file if something changed: in place (one ``pwrite`` of at
        most one page, no interval) when it fits, otherwise by temp file + ``os.replace``
        at most every WRITE_INTERVAL (and at once with ``force``)."""
        if not self._dirty:
            return
        now = time.monotonic()
        if self._pos_fd is None and not force and now - self._last_write < WRITE_INTERVAL:
            return
        files = [
            {"path": f.rel, "inode": f.ino, "size": f.size, "mtime_ns": f.mtime_ns, "offset": f.committed, "lines": f.committed_line}
            for f in self._files.values()
            if f.committed > 0 and not f.abandoned
        ]
        files.extend({"path": rel, **e} for rel, e in self._resume.items())
        data = json.dumps({"version": 1, "source": self.name, "files": files}, separators=(",", ":")).encode("utf-8")
        path = self.position_file
        try:
            if self._pos_fd is not None and os.fstat(self._pos_fd).st_nlink == 0:
                self._close_positions()  # removed or replaced behind our back: write a new one
            if self._pos_fd is not None and max(len(data), self._pos_size) <= IN_PLACE_MAX:
                self._write_in_place(data)
            elif self._pos_fd is None or force or now - self._last_write >= WRITE_INTERVAL:
                self._close_positions()
                tmp = path.with_name(path.name + ".tmp")
                with open(tmp, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
                if len(data) <= IN_PLACE_MAX:  # the next writes go in place
                    self._pos_fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
                    self._pos_size = len(data)
            else:
                return
        except OSError as exc:
            self._close_positions()
            log.error("source '%s': cannot write the position file %s: %s (will retry)", self.name, path, exc)
            return
        self._dirty = False
        self._last_write = now

    def _write_in_place(self, data: bytes) -> None:
        """Overwrite the position file from byte 0 with ``data`` padded with spaces to the
        file's length (JSON ignores trailing whitespace; the file never shrinks, so no
        truncate). One ``pwrite`` inside the first page: a killed process leaves the old
        or the new document, never a mix."""
        assert self._pos_fd is not None
        if len(data) < self._pos_size:
            data += b" " * (self._pos_size - len(data))
        if os.pwrite(self._pos_fd, data, 0) != len(data):
            raise OSError(errno.EIO, "short write")
        self._pos_size = len(data)

    def _close_positions(self) -> None:
        fd, self._pos_fd = self._pos_fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


COMPONENTS = [SpoolDirectorySource]
