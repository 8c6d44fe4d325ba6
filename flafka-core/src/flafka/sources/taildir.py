"""The ``TAILDIR`` source (Flume's ``TaildirSource``): follows the files of file groups
(a directory and a regular expression on the file name) and turns each new line into an
event, remembering per file (by inode) the byte offset after the last *delivered* line in
Flume's position file format ``[{"inode": 2496, "pos": 1024, "file": "/var/log/app.log"}]``.

Flume's behaviour, kept: lines end at ``\\n`` (a ``\\r`` before it is dropped); an
unterminated last line waits for its newline, and becomes an event when the file was idle
for ``idleTimeout`` ms (the file is then closed until it changes); ``headers.<fg>.<key>``,
``fileHeader``/``fileHeaderKey`` and ``byteOffsetHeader`` (``byteoffset`` = the line's
start) add headers; ``skipToEnd`` starts new files (without a position) at their end;
``batchSize`` lines per batch, at most ``maxBatchCount`` batches from one file before the
next file gets its turn. A host moves between Flume and flafka on the same position file.

Better than Flume: positions advance only past delivered events (end-to-end
acknowledgements), so a SIGKILL with a memory channel loses nothing; files are followed
by inode through rename rotation (a renamed file is read to its end through the open
handle, whatever its new name) and ``copytruncate`` (a file shorter than its position is
read again from 0); a position written by this source for a file that was renamed since
is still found by its inode. A line longer than ``maxLineLength`` (a flafka key) is cut
into several events (counted), so memory stays bounded.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flafka.errors import ChannelFullError, ConfigError
from flafka.event import Event
from flafka.position import PositionFile
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import POLLABLE_SETTINGS, PollableSource, Status
from flafka.sources.netbase import Throttled

log = logging.getLogger(__name__)

_READ = 1 << 16
BYTE_OFFSET_HEADER_KEY = "byteoffset"


@dataclass
class FileGroup:
    name: str
    directory: Path
    pattern: re.Pattern[str]
    headers: dict[str, str]
    _listing: list[Path] = field(default_factory=list)
    _mtime: int | None = None

    def files(self, cache: bool) -> list[Path]:
        """Regular files in the directory whose name matches the whole pattern, sorted."""
        try:
            mtime = self.directory.stat().st_mtime_ns
        except OSError:
            return []
        if cache and mtime == self._mtime:
            return self._listing
        try:
            names = sorted(e.name for e in os.scandir(self.directory) if e.is_file() and self.pattern.fullmatch(e.name))
        except OSError:
            return []
        self._listing = [self.directory / n for n in names]
        self._mtime = mtime
        return self._listing


class _Tail:
    """One followed file (by inode)."""

    __slots__ = ("committed", "fd", "group", "idle_flushed", "inode", "last_change", "matched", "path", "read_pos", "size_seen")

    def __init__(self, inode: int, path: Path, group: FileGroup, pos: int) -> None:
        self.inode = inode
        self.path = path
        self.group = group
        self.read_pos = pos
        self.committed = pos
        self.fd: Any = None
        self.last_change = time.monotonic()
        self.size_seen = -1
        self.matched = True
        self.idle_flushed = False


def decode_positions(data: Any) -> dict[int, tuple[int, str]]:
    """Flume's position JSON -> {inode: (pos, file)}; ValueError/TypeError on a wrong shape."""
    if not isinstance(data, list):
        raise TypeError("expected a JSON array of {inode, pos, file}")
    out = {}
    for entry in data:
        inode, pos, path = entry["inode"], entry["pos"], entry["file"]
        if not isinstance(inode, int) or not isinstance(pos, int) or not isinstance(path, str) or pos < 0:
            raise ValueError(f"bad entry {entry!r}")
        out[inode] = (pos, path)
    return out


class TaildirSource(PollableSource):
    """Follows files by inode; one event per line; Flume's position file."""

    type_name = "TAILDIR"
    aliases = ("org.apache.flume.source.taildir.TaildirSource", "taildir")
    replayable = True
    summary = "Follow growing files (file groups); Flume's JSON position file; survives rotation"
    settings_schema = (
        Schema(
            Setting("filegroups", "list", REQUIRED, "space-separated file group names"),
            Setting("filegroups.*", "map", None, "filegroups.<fg> = /directory/regex-on-the-file-name"),
            Setting("headers.*", "map", None, "headers.<fg>.<key> = value added to the events of group <fg>"),
            Setting("positionFile", "str", "~/.flume/taildir_position.json", "JSON file of inode, pos and file per followed file"),
            Setting("batchSize", "int", 100, "most lines per batch", minimum=1),
            Setting("skipToEnd", "bool", False, "start files without a recorded position at their end"),
            Setting("idleTimeout", "int", 120000, "ms without change before a file's last line is emitted and it is closed", minimum=0),
            Setting("writePosInterval", "int", 3000, "ms between writes of the position file", minimum=0),
            Setting("byteOffsetHeader", "bool", False, "add the line's start offset as header 'byteoffset'"),
            Setting("maxBatchCount", "int", 2**63 - 1, "most batches read from one file before the next file's turn", minimum=1),
            Setting("cachePatternMatching", "bool", True, "list a directory again only when it changed"),
            Setting("fileHeader", "bool", False, "add the file's absolute path as a header"),
            Setting("fileHeaderKey", "str", "file", "name of that header"),
            Setting("maxLineLength", "int", 1 << 20, "flafka: longest line in bytes; longer lines are cut into several events", minimum=1),
        )
        + POLLABLE_SETTINGS
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = []
        groups = settings["filegroups"] or []
        paths = settings.get("filegroups.*") or {}
        for fg in groups:
            spec = paths.get(fg)
            if not spec:
                problems.append(Problem(f"filegroups.{fg}", f"file group '{fg}' has no path", f"add filegroups.{fg} = /dir/regex"))
                continue
            try:
                re.compile(os.path.basename(spec))
            except re.error as exc:
                problems.append(Problem(f"filegroups.{fg}", f"'{os.path.basename(spec)}' is not a valid regular expression ({exc})"))
        for key in paths:
            if key not in groups:
                problems.append(
                    Problem(f"filegroups.{key}", f"file group '{key}' is not listed in filegroups", "add it or remove the key", "warning")
                )
        for key in settings.get("headers.*") or {}:
            if key.split(".", 1)[0] not in groups or "." not in key:
                problems.append(Problem(f"headers.{key}", "use headers.<file group>.<header> with a listed file group", "", "warning"))
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        paths = settings.get("filegroups.*") or {}
        header_keys = settings.get("headers.*") or {}
        self.groups: list[FileGroup] = []
        for fg in settings["filegroups"]:
            spec = paths.get(fg)
            if not spec:
                raise ConfigError(f"source '{name}': file group '{fg}' has no path; add filegroups.{fg} = /dir/regex")
            headers = {k.split(".", 1)[1]: v for k, v in header_keys.items() if k.split(".", 1)[0] == fg and "." in k}
            self.groups.append(FileGroup(fg, Path(os.path.dirname(spec)), re.compile(os.path.basename(spec)), headers))
        self.batch = int(settings["batchSize"])
        self.skip_to_end = bool(settings["skipToEnd"])
        self.idle = int(settings["idleTimeout"]) / 1000.0
        self.byte_offset = bool(settings["byteOffsetHeader"])
        self.max_batches = int(settings["maxBatchCount"])
        self.cache = bool(settings["cachePatternMatching"])
        self.file_header: str | None = str(settings["fileHeaderKey"]) if settings["fileHeader"] else None
        self.max_line = int(settings["maxLineLength"])
        self.position_path = Path(os.path.expanduser(str(settings["positionFile"])))
        self.positions: PositionFile[Any] = PositionFile(
            self.position_path, interval_ms=int(settings["writePosInterval"]), owner=f"source '{name}'"
        )
        self.tails: dict[int, _Tail] = {}
        self._saved: dict[int, tuple[int, str]] = {}
        self._warn = Throttled(log)
        self._pending: tuple[_Tail, list[Event], int, int] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.position_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"source '{self.name}': cannot create the directory of positionFile {self.position_path}: {exc}") from exc
        saved = self.positions.load()
        self._saved = decode_positions(saved) if saved is not None else {}
        self._refresh()
        self._find_renamed()
        missing = [f"{path} (inode {inode})" for inode, (_, path) in self._saved.items() if inode not in self.tails]
        if missing:
            log.warning(
                "TAILDIR source '%s': the position file %s names %d files that no file group matches now (ignored): %s",
                self.name, self.position_path, len(missing), ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
            )  # fmt: skip

    def stop(self) -> None:
        self._settle()
        try:
            self.positions.flush()
        except Exception:
            log.exception("TAILDIR source '%s': could not write the position file at stop", self.name)
        for tail in self.tails.values():
            if tail.fd is not None:
                tail.fd.close()
                tail.fd = None

    # -- polling --------------------------------------------------------------------------

    def process(self) -> Status:
        self._settle()
        if self._pending is not None:
            tail, events, _, end = self._pending
            if not self._put(tail, events, end):
                return Status.BACKOFF
            self._pending = None
        self._refresh()
        status = Status.BACKOFF
        for tail in list(self.tails.values()):
            more = self._tail_file(tail)
            if self._pending is not None:
                return Status.BACKOFF
            if more:
                status = Status.READY
        self._close_idle()
        self.positions.tick()
        return status

    def _refresh(self) -> None:
        """Match the file groups; follow new inodes; note renames and truncations."""
        seen: set[int] = set()
        for group in self.groups:
            for path in group.files(self.cache):
                try:
                    st = path.stat()
                except OSError:
                    continue
                inode = st.st_ino
                seen.add(inode)
                tail = self.tails.get(inode)
                if tail is None:
                    saved = self._saved.pop(inode, None)
                    pos = saved[0] if saved is not None else (st.st_size if self.skip_to_end else 0)
                    if pos > st.st_size:
                        pos = 0
                    tail = self.tails[inode] = _Tail(inode, path, group, pos)
                else:
                    tail.path = path
                tail.matched = True
                if tail.fd is None and st.st_size != tail.size_seen:
                    self._open(tail)  # open now: the handle follows the inode through renames
                if st.st_size != tail.size_seen:
                    tail.size_seen = st.st_size
                    tail.last_change = time.monotonic()
                    tail.idle_flushed = False
                if st.st_size < tail.read_pos:  # copytruncate
                    log.info("TAILDIR source '%s': %s is shorter than its position %d: reading from 0", self.name, path, tail.read_pos)
                    tail.read_pos = 0
                    tail.committed = 0
        for inode, tail in self.tails.items():
            if inode not in seen:
                tail.matched = False

    def _find_renamed(self) -> None:
        """Files in the position file that no group matches any more but that are still
        in a group's directory under another name (rotated while the agent was down):
        read them to their end from their position."""
        if not self._saved:
            return
        for group in self.groups:
            try:
                entries = list(os.scandir(group.directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    inode = entry.inode()
                    if inode not in self._saved or not entry.is_file():
                        continue
                    size = entry.stat().st_size
                except OSError:
                    continue
                pos = self._saved.pop(inode)[0]
                tail = self.tails[inode] = _Tail(inode, Path(entry.path), group, pos if pos <= size else 0)
                tail.matched = False
                if self._open(tail):
                    log.info(
                        "TAILDIR source '%s': reading %s (renamed since the last run) from offset %d", self.name, entry.path, tail.read_pos
                    )

    def _open(self, tail: _Tail) -> bool:
        if tail.fd is None:
            try:
                tail.fd = open(tail.path, "rb")  # kept open across polls
            except OSError as exc:
                self.counter.error("open_failed", "receiving")
                self._warn.warn("open", "TAILDIR source '%s': cannot open %s: %s", self.name, tail.path, exc)
                return False
            if os.fstat(tail.fd.fileno()).st_ino != tail.inode:  # replaced between stat and open
                tail.fd.close()
                tail.fd = None
                return False
        return True

    def _tail_file(self, tail: _Tail) -> bool:
        """Read and hand on up to maxBatchCount batches. True when more may be there."""
        if not self._open(tail):
            return False
        for _ in range(min(self.max_batches, 1 << 30)):
            events, end = self._read(tail, final=tail.idle_flushed)
            if not events:
                if not tail.matched and tail.read_pos >= os.fstat(tail.fd.fileno()).st_size:
                    self._retire(tail)
                return False
            tail.last_change = time.monotonic()
            if not self._put(tail, events, end):
                return False
            if len(events) < self.batch:
                return False
        return True

    def _read(self, tail: _Tail, final: bool) -> tuple[list[Event], int]:
        """Up to batchSize lines from read_pos; (events, offset after them). An
        unterminated last line is returned only when ``final`` (the file is idle)."""
        fd = tail.fd
        fd.seek(tail.read_pos)
        data = fd.read(_READ)
        eof = len(data) < _READ
        events: list[Event] = []
        pos = tail.read_pos
        base_headers = dict(tail.group.headers)
        if self.file_header:
            base_headers[self.file_header] = str(tail.path.absolute())
        start = 0
        limit = self.max_line
        while len(events) < self.batch:
            nl = data.find(b"\n", start, start + limit + 1)
            newline = nl >= 0
            if not newline:
                if len(data) - start > limit:  # longer than maxLineLength: cut
                    nl = start + limit
                    self.counter.error("line_cut", "receiving")
                elif not eof:
                    more = fd.read(_READ)
                    eof = len(more) < _READ
                    data, start = data[start:] + more, 0
                    continue
                elif final and start < len(data):  # idle: the unterminated last line
                    nl = len(data)
                else:
                    break
            line = data[start:nl]
            if newline and line.endswith(b"\r"):
                line = line[:-1]
            headers = dict(base_headers)
            if self.byte_offset:
                headers[BYTE_OFFSET_HEADER_KEY] = str(pos)
            events.append(Event(line, headers or None))
            end = nl + 1 if newline else nl
            pos += end - start
            start = end
        return events, pos

    def _put(self, tail: _Tail, events: list[Event], end: int) -> bool:
        token = self.acks.token((tail.inode, end))
        try:
            self.processor.process_batch(events, token)
        except ChannelFullError:
            self._pending = (tail, events, tail.read_pos, end)
            return False
        except Exception:
            self._pending = (tail, events, tail.read_pos, end)
            raise
        tail.read_pos = end
        if self.acks.changed.is_set():  # persist while a busy file keeps this poll going
            self._settle()
        return True

    def _close_idle(self) -> None:
        now = time.monotonic()
        for tail in list(self.tails.values()):
            if tail.fd is not None and now - tail.last_change >= self.idle and not tail.idle_flushed:
                tail.idle_flushed = True  # the next read emits an unterminated last line
                self._tail_file(tail)
                if self._pending is None and tail.fd is not None and tail.matched:
                    tail.fd.close()
                    tail.fd = None

    def _retire(self, tail: _Tail) -> None:
        """A file no group matches any more (renamed away, deleted) was read to its end:
        forget it once all of it was delivered (its handle stays open until then)."""
        if tail.committed >= tail.read_pos:
            if tail.fd is not None:
                tail.fd.close()
                tail.fd = None
            del self.tails[tail.inode]

    # -- positions --------------------------------------------------------------------------

    def _settle(self) -> None:
        delivered = self.acks.delivered()
        if not delivered:
            return
        for inode, pos in delivered:
            tail = self.tails.get(inode)
            if tail is not None and pos > tail.committed:
                tail.committed = pos
        self.positions.update(self._snapshot())

    def _snapshot(self) -> list[dict[str, Any]]:
        """Flume's JSON: every followed file; files no group matches are dropped once
        all of them was delivered."""
        out = []
        for tail in self.tails.values():
            out.append({"inode": tail.inode, "pos": tail.committed, "file": str(tail.path.absolute())})
        return out


COMPONENTS = [TaildirSource]
