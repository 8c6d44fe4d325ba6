"""The spooling directory source (Flume's ``spooldir``): reads immutable files dropped
into a directory, one event per line (or per file), and marks each file complete only
after every one of its events was delivered.

Positions: each batch's acknowledgement token carries ``(file, byte offset after the
batch, lines before that offset, last batch of the file)``. Only positions that come back
from ``self.acks.delivered()`` are written, to one small JSON file in ``trackerDir``
(``flafka-positions.json``; temp file + ``os.replace``, at most every 5 ms, and at once
when the source goes idle or stops). A restart after a crash reopens every file in flight
at its delivered offset, so a crash re-sends only what was in flight. A file is completed
(renamed to ``<name><fileSuffix>``, marked in ``trackerDir``, or deleted) when all of its
batches are delivered; the rename is itself the durable record of completion, so a
position entry left behind by a crash is simply dropped on restart.

Quarantine (flafka's answer to Flume stopping the whole source): a file that cannot be
processed — undecodable under ``decodeErrorPolicy = FAIL``, changed or deleted after it
was picked, unreadable, or a reused name — is moved to ``quarantineDir`` beside a
``<name>.reason.txt`` note saying what, where and how to fix it, logged once, counted, and
the source goes on with the next file. Events of that file already handed to the channel
stay delivered; the note says how many.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from flafka.errors import ChannelError, ConfigError
from flafka.event import Event
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

log = logging.getLogger(__name__)

POSITION_FILE = "flafka-positions.json"
WRITE_INTERVAL = 0.005
"""Seconds between two writes of the position file (at most): a write costs ~30 µs, so
even at full speed this is ~1% of a core; what a kill re-delivers grows with it."""
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


def _open_for_read(path: str) -> BinaryIO:
    """Open a spool file (unbuffered: the deserializer reads large chunks itself)."""
    return open(path, "rb", buffering=0)


class _File:
    """One file the source opened and has not yet completed or quarantined."""

    __slots__ = (
        "abandoned",
        "committed",
        "committed_line",
        "cuts_seen",
        "deser",
        "fobj",
        "headers",
        "ino",
        "mtime_ns",
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
            Setting("pollDelay", "int", 500, "ms between directory polls when there is nothing to read", minimum=0, since="1.7"),
            Setting("recursiveDirectorySearch", "bool", False, "also read files in subdirectories", since="1.7"),
            Setting("maxBackoff", "int", 4000, "cap (ms) of the back-off when the channel is full", minimum=0),
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
        self._include = re.compile(s["includePattern"])
        self._ignore = re.compile(s["ignorePattern"])
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
        self._reset()

    def _reset(self) -> None:
        self._files: dict[str, _File] = {}  # opened and not yet completed, by path under spoolDir
        self._current: _File | None = None
        self._retry: tuple[list[Event], Position] | None = None
        self._candidates: list[str] = []  # cached scan, next file last
        self._resume: dict[str, dict[str, Any]] = {}
        self._broken: set[str] = set()  # could neither process nor move away: skipped
        self._done_marks: dict[str, tuple[int, int, int] | None] = {}
        self._dirty = False
        self._last_write = 0.0
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
            self._started = True

    def stop(self) -> None:
        """Record what was delivered, write the positions, close the open file."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            try:
                self._collect()
                self._flush(force=True)
            finally:
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

    def _events(self, f: _File, bodies: list[bytes]) -> list[Event]:
        headers = f.headers
        if not headers:
            return [Event(b) for b in bodies]
        if len(headers) == 1:
            ((k, v),) = headers.items()
            return [Event(b, {k: v}) for b in bodies]
        return [Event(b, headers.copy()) for b in bodies]

    def _send(self, events: list[Event], pos: Position) -> bool:
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
        """Eligible files under spoolDir, the next one to read last."""
        found: list[tuple[int, str]] = []
        special = {os.path.abspath(self._tracker), os.path.abspath(self._quarantine_dir)}
        dirs = [str(self._spool)]
        spool = str(self._spool)
        while dirs:
            d = dirs.pop()
            try:
                entries = list(os.scandir(d))
            except OSError as exc:
                if d == spool:
                    log.error("source '%s': cannot list spoolDir '%s': %s", self.name, d, exc)
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if entry.is_dir():
                        if self._recursive and os.path.abspath(entry.path) not in special:
                            dirs.append(entry.path)
                        continue
                    if not entry.is_file():
                        continue
                    if name.endswith(self._suffix) and self._suffix:
                        continue
                    if not self._include.fullmatch(name) or self._ignore.fullmatch(name):
                        continue
                    rel = os.path.relpath(entry.path, spool)
                    if rel in self._files or rel in self._broken:
                        continue
                    st = entry.stat()
                except OSError:
                    continue
                if self._track_dir and self._marked_done(rel, st):
                    continue
                found.append((st.st_mtime_ns, rel))
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
        try:
            fobj = _open_for_read(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._quarantine_path(
                rel,
                f"the file cannot be opened: {exc.strerror or exc}",
                f"make it readable by the agent's user (uid {os.getuid()}) and move it back into spoolDir",
                read_error=True,
            )
            return None
        try:
            st = os.fstat(fobj.fileno())
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
                        sent=(int(entry["offset"]), int(entry["lines"])),
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
            f.headers[key] = os.path.abspath(path) if full else os.path.basename(path)
        self._files[rel] = f
        return f

    def _same_file(self, f: _File) -> bool:
        try:
            st = os.stat(f.path)
        except OSError:
            return False
        return st.st_ino == f.ino

    # -- completion, quarantine, reporting --------------------------------------------------
    def _complete(self, f: _File) -> None:
        """All of ``f`` is delivered: rename it, mark it, or delete it."""
        self._files.pop(f.rel, None)
        self._dirty = True
        self._report_cuts(f)
        try:
            st = os.stat(f.path)
        except FileNotFoundError:
            log.warning(
                "source '%s': '%s' disappeared before it could be marked complete; all %d lines had been delivered",
                self.name,
                f.path,
                f.committed_line,
            )
            return
        if st.st_ino != f.ino:
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

    def _quarantine_file(self, f: _File, problem: str, fix: str, where: str = "", read_error: bool = False) -> None:
        f.abandoned = True
        f.close()
        if self._current is f:
            self._current = None
        self._files.pop(f.rel, None)
        self._dirty = True
        if f.deser is not None:
            self._note_cuts(f, f.deser)
        self._quarantine_path(
            f.rel, problem, fix, where=where, read_error=read_error, sent=(f.sent_offset, f.sent_line), delivered=f.committed_line
        )

    def _quarantine_path(
        self,
        rel: str,
        problem: str,
        fix: str,
        where: str = "",
        read_error: bool = False,
        sent: tuple[int, int] = (0, 0),
        delivered: int | None = None,
    ) -> None:
        src = os.path.join(str(self._spool), rel)
        dest = str(self._quarantine_dir / rel)
        n = 0
        while os.path.lexists(dest) or os.path.lexists(dest + ".reason.txt"):
            n += 1
            dest = f"{self._quarantine_dir / rel}.{n}"
        moved = "not moved: it no longer exists"
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.move(src, dest)
            moved = f"moved to {dest}"
        except FileNotFoundError:
            pass
        except OSError as exc:
            moved = f"could NOT be moved ({exc}); it is skipped until the agent restarts"
            self._broken.add(rel)
        sent_offset, sent_lines = sent
        unit = "events" if self._kind == "BLOB" else "lines"
        if sent_lines or sent_offset:
            confirmed = f" ({delivered} confirmed delivered so far)" if delivered is not None else ""
            handed = (
                f"{unit} 1..{sent_lines} (bytes 0..{sent_offset}) were handed to the channel before the problem and stay "
                f"delivered{confirmed}. To deliver the rest without duplicates, move only the bytes after offset "
                f"{sent_offset} back under a new name, e.g. tail -c +{sent_offset + 1} FILE > NEWNAME"
            )
        else:
            handed = f"no {unit} of this file were delivered"
        note = (
            f"flafka spooldir source '{self.name}' quarantined this file.\n"
            f"file: {src}\n"
            f"{moved}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
            f"problem: {problem}\n" + (f"where: {where}\n" if where else "") + f"delivered: {handed}\n"
            f"fix: {fix}\n"
        )
        try:
            with open(dest + ".reason.txt", "w", encoding="utf-8") as out:
                out.write(note)
        except OSError as exc:
            log.error("source '%s': cannot write the quarantine note %s.reason.txt: %s", self.name, dest, exc)
        log.error(
            "source '%s': quarantined '%s' (%s): %s%s; %s. Fix: %s",
            self.name,
            src,
            moved,
            problem,
            f" at {where}" if where else "",
            handed,
            fix,
        )
        self.files_quarantined += 1
        if read_error:
            self.counter.event_read_fail += 1
        else:
            self.counter.generic_processing_fail += 1

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
        """Write the position file if something changed (at most every WRITE_INTERVAL)."""
        if not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._last_write < WRITE_INTERVAL:
            return
        files = [
            {"path": f.rel, "inode": f.ino, "size": f.size, "mtime_ns": f.mtime_ns, "offset": f.committed, "lines": f.committed_line}
            for f in self._files.values()
            if f.committed > 0 and not f.abandoned
        ]
        files.extend({"path": rel, **e} for rel, e in self._resume.items())
        data = json.dumps({"version": 1, "source": self.name, "files": files}, separators=(",", ":"))
        path = self.position_file
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            log.error("source '%s': cannot write the position file %s: %s (will retry)", self.name, path, exc)
            return
        self._dirty = False
        self._last_write = now


COMPONENTS = [SpoolDirectorySource]
