"""Start-up: rebuild what the channel holds from the last checkpoint and the log written
after it (or from every data file when there is no usable checkpoint).

* A torn tail (the last record of the newest file cut short by a crash, never committed)
  is cut off, with a log line naming the file and offset.
* Damage anywhere else (a record failing its checksum with valid records after it, a file
  truncated or overwritten by hand) is reported; a copy of the file is set aside in
  ``<dataDir>/damaged/`` with a note, the damaged bytes are covered by a skip record so
  the next start reads past them quietly, and the events lost are counted. The channel
  still starts with everything else.
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
import time
import zlib
from dataclasses import dataclass, field

from flafka.channels.file import checkpoint, records
from flafka.channels.file.fileio import FileIO
from flafka.channels.file.log import find_files
from flafka.channels.file.state import LiveRecord, LiveSet

log = logging.getLogger(__name__)

DAMAGED = "damaged"


@dataclass
class Replayed:
    """The outcome of :func:`replay`."""

    live: LiveSet
    next_seq: int
    next_file_id: int
    tail: tuple[int, str, int] | None
    """(file id, path, valid length) of the newest data file, to append to; None: start a new one."""
    files: dict[int, str]
    lost: int = 0
    """Events lost to damage found in this replay."""
    notes: list[str] = field(default_factory=list)
    used_checkpoint: str = ""
    records_read: int = 0
    seconds: float = 0.0
    gap_open: bool = False
    """Damage was seen and no put record after it yet (its lost events not counted yet)."""


def _load_checkpoint(name: str, dirs: list[str], files: dict[int, str], notes: list[str]) -> tuple[checkpoint.Checkpoint | None, str]:
    for i, directory in enumerate(dirs):
        then = "trying the backup checkpoint" if i + 1 < len(dirs) else "replaying the data files instead"
        try:
            cp = checkpoint.read(directory)
        except checkpoint.BadCheckpoint as exc:
            notes.append(f"channel '{name}': checkpoint not used: {exc}; {then}")
            continue
        if cp is None:
            continue
        if cp.position[0] and cp.position[0] not in files and any(fid >= cp.position[0] for fid in files):
            notes.append(f"channel '{name}': checkpoint in {directory} points at data file {cp.position[0]}, which is missing; {then}")
            continue
        return cp, directory
    return None, ""


def replay(name: str, io: FileIO, data_dirs: list[str], checkpoint_dirs: list[str]) -> Replayed:
    began = time.monotonic()
    files = find_files(data_dirs)
    notes: list[str] = []
    cp, cp_dir = _load_checkpoint(name, checkpoint_dirs, files, notes)
    live = LiveSet()
    next_seq = 0
    next_file = max(files, default=0) + 1
    lost = 0
    start_file, start_offset = 0, 0
    if cp is not None:
        missing: dict[int, int] = {}
        for rec in cp.records:
            if rec.file_id in files:
                live.add(rec)
            else:
                missing[rec.file_id] = missing.get(rec.file_id, 0) + rec.remaining
        for fid, n in sorted(missing.items()):
            lost += n
            notes.append(f"channel '{name}': data file {fid} is missing (deleted by hand?); {n} events it held are lost")
        next_seq = cp.next_seq
        next_file = max(next_file, cp.next_file_id)
        start_file, start_offset = cp.position
    result = Replayed(live, next_seq, next_file, None, files, notes=notes, used_checkpoint=cp_dir)
    ordered = sorted(fid for fid in files if fid >= start_file)
    newest = max(files, default=0)
    for fid in ordered:
        path = files[fid]
        offset = start_offset if fid == start_file else 0
        lost += _replay_file(name, io, fid, path, offset, fid == newest, result)
    lost += _check_lengths(name, result)
    if result.gap_open:
        notes.append(f"channel '{name}': the events held in the damaged bytes at the end of the log cannot be counted")
    result.lost = lost
    result.next_seq = max(result.next_seq, *(r.seq + r.count for r in live.records.values())) if live.records else result.next_seq
    result.seconds = time.monotonic() - began
    return result


def _check_lengths(name: str, out: Replayed) -> int:
    """Drop live records that lie past the end of their file (a file truncated by hand
    below what a checkpoint recorded); return the events lost with them."""
    sizes: dict[int, int] = {}
    for fid, path in out.files.items():
        try:
            sizes[fid] = os.path.getsize(path)
        except OSError:
            sizes[fid] = 0
    lost: dict[int, int] = {}
    for rec in list(out.live.records.values()):
        if rec.offset + rec.length > sizes.get(rec.file_id, 0):
            lost[rec.file_id] = lost.get(rec.file_id, 0) + rec.remaining
            out.live.remove(rec)
    for fid, n in sorted(lost.items()):
        out.notes.append(
            f"channel '{name}': {out.files.get(fid, fid)} is shorter than the checkpoint recorded (truncated by hand?); "
            f"{n} events it held are lost"
        )
    return sum(lost.values())


def _replay_file(name: str, io: FileIO, fid: int, path: str, offset: int, newest: bool, out: Replayed) -> int:
    """Apply the records of one file from ``offset``; return the events lost to damage."""
    size = os.path.getsize(path)
    if newest and (size == 0 or (offset == 0 and size < records.FRAME.size)):
        out.notes.append(f"channel '{name}': {path} was being created when the agent stopped (no records); removed")
        io.unlink(path)
        del out.files[fid]
        return 0
    live = out.live
    lost = 0
    damage: list[records.Damage] = []
    head: records.Frame | None = None
    empty = False
    with open(path, "rb") as fh:
        buf: mmap.mmap | bytes = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            if offset == 0:
                head = records._frame_at(buf, 0)  # type: ignore[arg-type]
                parsed = records.parse_file_header(bytes(head.payload)) if head is not None and head.kind == records.HEADER else None
                if parsed is None or parsed[1] != fid:
                    if newest and not any(isinstance(f, records.Frame) for f in records.scan(buf)):  # type: ignore[arg-type]
                        empty = True
                    if parsed is not None and parsed[0] != records.FORMAT_VERSION:
                        out.notes.append(
                            f"channel '{name}': {path} has format version {parsed[0]}; this flafka reads {records.FORMAT_VERSION}"
                        )
            expected = out.next_seq
            head = None  # release the view of the map
            for item in records.scan(b"" if empty else buf, offset):  # type: ignore[arg-type]
                if isinstance(item, records.Damage):
                    damage.append(item)
                    if not item.torn_tail or not newest:
                        out.gap_open = True
                    continue
                out.records_read += 1
                kind = item.kind
                if kind == records.PUT:
                    seq, count = records.put_numbers(item.payload)
                    if out.gap_open:
                        out.gap_open = False
                        lost += max(0, seq - expected)
                    live.add(LiveRecord(seq, count, fid, item.offset, item.length))
                    expected = max(expected, seq + count)
                    out.next_seq = max(out.next_seq, seq + count)
                elif kind == records.TAKE:
                    for rseq, index, count in records.decode_take(item.payload):
                        rec = live.records.get(rseq)
                        if rec is not None:
                            live.take(rec, index, count)
                del item
        finally:
            if isinstance(buf, mmap.mmap):
                try:
                    buf.close()
                except BufferError:  # a view is still referenced: the collector closes it
                    pass
    if empty:
        out.notes.append(f"channel '{name}': {path} was being created when the agent stopped (no records); removed")
        io.unlink(path)
        del out.files[fid]
        return 0
    if damage and damage[-1].torn_tail:
        torn = damage.pop()
        if newest:
            out.notes.append(
                f"channel '{name}': {path}: cut a torn record at offset {torn.start} ({torn.end - torn.start} bytes written "
                f"when the agent stopped, never committed)"
            )
            try:
                fd = io.open_write(path)
                try:
                    io.truncate(fd, torn.start)
                    io.fdatasync(fd)
                finally:
                    io.close(fd)
            except OSError as exc:  # new records overwrite the torn bytes from there anyway
                out.notes.append(f"channel '{name}': cannot cut {path} at offset {torn.start} ({exc}); writing continues there")
            size = torn.start
        else:
            damage.append(records.Damage(torn.start, torn.end, False))
            out.notes.append(
                f"channel '{name}': {path} ends in a partial record at offset {torn.start} although newer files exist "
                f"(truncated or overwritten by hand?); events it held from there are lost"
            )
    if damage:
        try:
            _set_aside(name, io, path, damage, out)
        except OSError as exc:  # never a reason not to start: reported again next time
            out.notes.append(f"channel '{name}': {path} is damaged and could not be set aside ({exc}); it is reported at every start")
    if newest:
        out.tail = (fid, path, size)
    return lost


def _set_aside(name: str, io: FileIO, path: str, damage: list[records.Damage], out: Replayed) -> None:
    """Copy the damaged file to ``damaged/`` with a note; cover each damaged range with a
    skip record so later starts read past it."""
    directory = os.path.join(os.path.dirname(path), DAMAGED)
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    copy = os.path.join(directory, f"{os.path.basename(path)}.{stamp}")
    shutil.copyfile(path, copy)
    ranges = ", ".join(f"bytes {d.start}-{d.end}" for d in damage)
    note = (
        f"{path} was found damaged by channel '{name}' at {time.strftime('%Y-%m-%d %H:%M:%S')}: {ranges} hold no valid "
        f"record (checksum mismatch, overwritten or cut). This is a copy of the file as found. The channel kept every "
        f"valid record and covered the damaged bytes with skip records.\n"
    )
    with open(copy + ".txt", "w") as fh:
        fh.write(note)
    out.notes.append(f"channel '{name}': {path} is damaged ({ranges}); a copy and a note are in {directory}")
    fd = io.open_write(path)
    try:
        for d in damage:
            length = d.end - d.start - records.FRAME.size
            if length < 0:
                continue
            with open(path, "rb") as fh:
                fh.seek(d.start + records.FRAME.size)
                payload = fh.read(length)
            header = records.FRAME.pack(records.MAGIC, records.SKIP, length, zlib.crc32(payload, records._TYPE_CRC[records.SKIP]))
            io.pwritev(fd, [header], d.start)
        io.fdatasync(fd)
    finally:
        io.close(fd)
