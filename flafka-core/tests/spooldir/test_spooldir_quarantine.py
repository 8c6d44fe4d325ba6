"""Files that cannot be processed are quarantined with a note; the source goes on."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from flafka.sources import spooldir
from flafka.sources.spooldir import POSITION_FILE


def note(spool: Path, name: str) -> str:
    return (spool / ".flafka-quarantine" / f"{name}.reason.txt").read_text()


def test_undecodable_file_is_quarantined_naming_line_and_offset(h, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = b"ok1\nok2\nbad\xff\nafter\n"
    h.write(spool / "a.log", data, mtime=1)
    h.write(spool / "b.log", b"next\n", mtime=2)
    src = h.make_source(spool)
    with caplog.at_level(logging.ERROR):
        h.run(src)
    assert h.fake(src).bodies() == [b"ok1", b"ok2", b"next"]
    assert (spool / ".flafka-quarantine" / "a.log").read_bytes() == data
    text = note(spool, "a.log")
    assert "line 3" in text and "byte offset 11" in text
    assert "lines 1..2 (bytes 0..8)" in text and "decodeErrorPolicy = REPLACE" in text and "tail -c +9" in text
    assert src.counter.event_read_fail == 1 and src.files_quarantined == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "a.log" in errors[0].getMessage() and "Fix:" in errors[0].getMessage()
    assert (spool / "b.log.COMPLETED").exists() and src.drained()


def test_file_appended_while_being_read(h, spool: Path) -> None:
    f = h.write(spool / "grow.log", b"1\n2\n3\n4\n5\n")
    src = h.make_source(spool, {"batchSize": "2"})
    src.process()
    with open(f, "ab") as out:
        out.write(b"6\n")
    h.run(src)
    assert h.fake(src).bodies() == [b"1", b"2"]
    text = note(spool, "grow.log")
    assert "modified after the source picked it" in text and "lines 1..2" in text and "immutable" in text
    assert (spool / ".flafka-quarantine" / "grow.log").exists()
    assert src.counter.generic_processing_fail == 1


def test_file_changed_after_read_before_completion(h, spool: Path) -> None:
    f = h.write(spool / "a", b"1\n2\n")
    src = h.make_source(spool, auto=False)
    src.process()
    with open(f, "ab") as out:
        out.write(b"3\n")
    h.fake(src).deliver()
    src.process()
    assert not (spool / "a.COMPLETED").exists() and (spool / ".flafka-quarantine" / "a").exists()
    assert "lines 1..2" in note(spool, "a")


def test_file_modified_while_agent_was_down(h, spool: Path) -> None:
    f = h.write(spool / "a", b"1\n2\n3\n4\n")
    src = h.make_source(spool, {"batchSize": "2"}, auto=False)
    src.process()
    h.fake(src).deliver()
    src.process()  # position: offset 4, 2 lines
    with open(f, "ab") as out:
        out.write(b"5\n")
    again = h.make_source(spool)
    h.run(again)
    assert h.fake(again).bodies() == []
    text = note(spool, "a")
    assert "found on restart" in text and "lines 1..2 (bytes 0..4)" in text
    assert json.loads((spool / ".flumespool" / POSITION_FILE).read_text())["files"] == []


def test_file_replaced_while_agent_was_down(h, spool: Path) -> None:
    f = h.write(spool / "a", b"1\n2\n3\n4\n")
    src = h.make_source(spool, {"batchSize": "2"}, auto=False)
    src.process()
    h.fake(src).deliver()
    src.process()
    h.write(spool / ".tmp", b"other\n")  # created first: a different inode
    (spool / ".tmp").rename(f)
    again = h.make_source(spool)
    h.run(again)
    assert "replaced by another file" in note(spool, "a")


def test_file_deleted_while_being_read(h, spool: Path) -> None:
    f = h.write(spool / "gone", b"1\n2\n3\n4\n", mtime=1)
    h.write(spool / "next", b"n\n", mtime=2)
    src = h.make_source(spool, {"batchSize": "2"})
    src.process()
    f.unlink()
    h.run(src)
    assert h.fake(src).bodies() == [b"1", b"2", b"n"]
    text = note(spool, "gone")
    assert "deleted while it was being read" in text and "no longer exists" in text
    assert src.counter.generic_processing_fail == 1


def test_file_renamed_away_while_being_read(h, spool: Path) -> None:
    f = h.write(spool / "moved", b"1\n2\n")
    src = h.make_source(spool, {"batchSize": "1"})
    src.process()
    f.rename(spool / ".elsewhere")
    h.run(src)
    assert "renamed, deleted or replaced" in note(spool, "moved")


def test_unreadable_file(h, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = h.write(spool / "secret", b"x\n", mtime=1)
    h.write(spool / "ok", b"y\n", mtime=2)
    if os.geteuid() == 0:  # root reads anything: simulate the kernel's answer
        real = spooldir._open_for_read

        def deny(path: str):
            if path.endswith("secret"):
                raise PermissionError(13, "Permission denied", path)
            return real(path)

        monkeypatch.setattr(spooldir, "_open_for_read", deny)
    else:
        f.chmod(0)
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == [b"y"]
    text = note(spool, "secret")
    assert "Permission denied" in text and "readable" in text and "no lines of this file were delivered" in text
    assert src.counter.event_read_fail == 1


def test_reused_name_is_quarantined_before_reading(h, spool: Path) -> None:
    h.write(spool / "a.log.COMPLETED", b"old\n")
    h.write(spool / "a.log", b"new\n")
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == []
    assert "name is reused" in note(spool, "a.log") and (spool / "a.log.COMPLETED").read_bytes() == b"old\n"


def test_reused_name_appearing_during_read_is_quarantined_at_completion(h, spool: Path) -> None:
    h.write(spool / "a.log", b"new\n")
    src = h.make_source(spool, auto=False)
    src.process()
    h.write(spool / "a.log.COMPLETED", b"other\n")
    h.fake(src).deliver()
    src.process()
    assert "name is reused" in note(spool, "a.log") and "every line of this file was delivered" in note(spool, "a.log")


def test_reused_name_with_tracker_dir_policy(h, spool: Path) -> None:
    h.write(spool / "f", b"one\n", mtime=1)
    src = h.make_source(spool, {"trackingPolicy": "tracker_dir"})
    h.run(src)
    (spool / "f").unlink()
    h.write(spool / "f", b"two\n", mtime=5)
    again = h.make_source(spool, {"trackingPolicy": "tracker_dir"})
    h.run(again)
    assert h.fake(again).bodies() == []
    assert "name is reused" in note(spool, "f")


def test_second_quarantine_of_the_same_name_does_not_overwrite(h, spool: Path) -> None:
    for _ in range(2):
        h.write(spool / "a", b"\xff\n")
        src = h.make_source(spool)
        h.run(src)
    q = spool / ".flafka-quarantine"
    assert sorted(p.name for p in q.iterdir()) == ["a", "a.1", "a.1.reason.txt", "a.reason.txt"]


def test_file_that_cannot_be_moved_is_skipped_not_retried_forever(h, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h.write(spool / "a", b"\xff\n", mtime=1)
    h.write(spool / "b", b"b\n", mtime=2)

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "move", refuse)
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == [b"b"] and (spool / "a").exists()
    assert "could NOT be moved" in note(spool, "a")
    assert src.drained()
