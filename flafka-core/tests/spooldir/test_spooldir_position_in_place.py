"""The spooldir position file: written in place at every delivered batch (one pwrite,
padded with spaces), by temp file + rename only for the first write and for documents
longer than a page; a restart reads what was written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from flafka.sources import spooldir
from flafka.sources.spooldir import IN_PLACE_MAX, POSITION_FILE


def lines(prefix: str, n: int) -> bytes:
    return b"".join(f"{prefix}{i}\n".encode() for i in range(n))


def test_every_delivered_batch_is_written_in_place_without_an_interval(h, spool: Path, monkeypatch) -> None:
    monkeypatch.setattr(spooldir, "WRITE_INTERVAL", 3600.0)  # the rename path would wait an hour
    h.write(spool / "f", lines("l", 25))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    pos = spool / ".flumespool" / POSITION_FILE
    fake = h.fake(src)
    src.process()
    fake.deliver(1)
    src.process()  # collects batch 1: the first write (temp file + rename)
    first = json.loads(pos.read_text())["files"][0]
    assert (first["offset"], first["lines"]) == (30, 10)
    inode = pos.stat().st_ino
    fake.deliver(1)
    src.process()  # batch 2: in place, at once, although the interval has not passed
    doc = json.loads(pos.read_text())
    assert (doc["files"][0]["offset"], doc["files"][0]["lines"]) == (70, 20)
    assert pos.stat().st_ino == inode, "rewritten in place, not replaced"
    fake.deliver()
    src.process()  # the file completes: a shorter document, padded with spaces
    text = pos.read_bytes()
    assert json.loads(text)["files"] == []
    assert text.endswith(b" ") and len(text) == pos.stat().st_size
    assert pos.stat().st_ino == inode
    src.stop()


def test_a_restart_resumes_from_an_in_place_write(h, spool: Path) -> None:
    h.write(spool / "f", lines("l", 30))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    fake = h.fake(src)
    for _ in range(3):
        src.process()
    fake.deliver(2)
    src.process()
    # a kill now: nothing more is written (no stop, no flush)
    src._close_positions()
    again = h.make_source(spool, {"batchSize": "10"})
    h.run(again)
    assert h.fake(again).bodies() == [b"l%d" % i for i in range(20, 30)]


def test_a_document_longer_than_a_page_is_written_by_rename(h, spool: Path) -> None:
    name = "n" * 200
    files = [f"{name}{i:02d}" for i in range(30)]  # 30 files in flight: > 4096 bytes of JSON
    for i, rel in enumerate(files):
        h.write(spool / rel, b"a\nb\n", mtime=1000 + i)
    src = h.make_source(spool, {"batchSize": "1"}, auto=False)
    fake = h.fake(src)
    for _ in range(len(files)):
        src.process()  # the first line of each file
        src._current = None  # leave it open and in flight; the next poll opens the next file
    fake.deliver()
    src.process()
    pos = spool / ".flumespool" / POSITION_FILE
    data = pos.read_bytes()
    assert len(data) > IN_PLACE_MAX
    doc = json.loads(data)
    assert sorted(e["path"] for e in doc["files"]) == sorted(files)
    assert all(e["offset"] == 2 and e["lines"] == 1 for e in doc["files"])
    src.stop()
    assert os.path.exists(pos)


def test_a_position_file_removed_behind_the_source_is_written_again(h, spool: Path) -> None:
    h.write(spool / "f", lines("l", 30))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    fake = h.fake(src)
    pos = spool / ".flumespool" / POSITION_FILE
    src.process()
    fake.deliver(1)
    src.process()
    assert json.loads(pos.read_text())["files"][0]["lines"] == 10
    pos.unlink()
    fake.deliver(1)
    src.process()
    assert json.loads(pos.read_text())["files"][0]["lines"] == 20
    src.stop()
