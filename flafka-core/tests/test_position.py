"""flafka.position: durable, atomic, throttled JSON position files for replayable sources."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from flafka.position import JSON, PositionFile, PositionFileError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_init_does_no_io_and_a_missing_file_loads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "pos.json"
    positions: PositionFile[Any] = PositionFile(path)
    assert not path.parent.exists()
    assert positions.load() is None
    assert not positions.pending


def test_round_trip_of_flumes_taildir_format(tmp_path: Path) -> None:
    """The file holds exactly the JSON value given: TAILDIR's list of dicts survives as is."""
    path = tmp_path / "taildir_position.json"
    value = [{"inode": 2496, "pos": 1024, "file": "/var/log/app.log"}]
    assert PositionFile(path, interval_ms=0).update(value)
    assert json.loads(path.read_text()) == value
    assert PositionFile(path).load() == value


def test_encode_and_decode_map_a_typed_position(tmp_path: Path) -> None:
    def decode(data: JSON) -> tuple[str, int]:
        assert isinstance(data, dict)
        return str(data["file"]), int(data["offset"])  # type: ignore[arg-type]

    def encode(pos: tuple[str, int]) -> JSON:
        return {"file": pos[0], "offset": pos[1]}

    path = tmp_path / "p.json"
    PositionFile(path, interval_ms=0, encode=encode, decode=decode).update(("a.jsonl", 42))
    assert PositionFile(path, encode=encode, decode=decode).load() == ("a.jsonl", 42)
    path.write_text('{"file": "a.jsonl"}')
    with pytest.raises(PositionFileError, match=r"does not hold a position this source understands \(KeyError: 'offset'\)"):
        PositionFile(path, encode=encode, decode=decode).load()


def test_writes_are_throttled_and_the_pending_one_is_written_by_tick_or_flush(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "p.json"
    positions: PositionFile[int] = PositionFile(path, interval_ms=3000, clock=clock)
    assert positions.update(1)  # the first write is never delayed
    for n in range(2, 100):
        clock.now += 0.01
        assert not positions.update(n)
    assert json.loads(path.read_text()) == 1 and positions.writes == 1
    assert positions.pending
    assert not positions.tick()  # not due yet
    clock.now += 3.0
    assert positions.tick()
    assert json.loads(path.read_text()) == 99 and positions.writes == 2
    assert not positions.tick() and not positions.flush()  # nothing pending
    positions.update(100)
    assert positions.flush()  # at stop: now, whatever the interval
    assert json.loads(path.read_text()) == 100 and not positions.pending


def test_write_is_atomic_temp_file_fsync_and_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document goes to <name>.tmp, is fsynced, then renamed over the file, then the
    directory is fsynced; a crash before the rename leaves the old file intact."""
    path = tmp_path / "p.json"
    positions: PositionFile[int] = PositionFile(path, interval_ms=0)
    positions.update(1)
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        assert Path(src) == tmp_path / "p.json.tmp" and json.loads(Path(src).read_text()) == 2
        assert json.loads(path.read_text()) == 1  # the old one stays until the rename
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    positions.update(2)
    assert calls == ["fsync-file", "rename", "fsync-dir"]
    assert json.loads(path.read_text()) == 2


def test_a_crash_before_the_rename_keeps_the_previous_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    PositionFile(path, interval_ms=0).update({"offset": 10})

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    positions: PositionFile[Any] = PositionFile(path, interval_ms=0, owner="source 'r1'")
    with pytest.raises(PositionFileError) as info:
        positions.update({"offset": 20})
    message = str(info.value)
    assert message.startswith("source 'r1': cannot write the position file") and str(path) in message
    assert "No space left on device" in message and "free space" in message
    assert positions.pending  # kept: the next call writes it again
    monkeypatch.undo()
    assert PositionFile(path).load() == {"offset": 10}
    assert positions.flush()
    assert PositionFile(path).load() == {"offset": 20}


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is empty"),
        (b'{"offset": 12', "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_a_damaged_file_is_an_error_naming_the_file_and_the_fix(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(PositionFileError) as info:
        PositionFile(path, owner="source 'r1'").load()
    message = str(info.value)
    assert message.startswith(f"source 'r1': the position file '{path}' {what}")
    assert "restore it from a backup, or move it away to start over" in message
    assert info.value.path == path


def test_an_unreadable_file_says_which_permission_to_fix(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "p.json"
    path.write_text("1")
    path.chmod(0)
    with pytest.raises(PositionFileError, match=r"cannot read the position file .*give the agent's user read and write access"):
        PositionFile(path).load()


def test_missing_parent_directories_are_created_at_the_first_write(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "p.json"
    PositionFile(path, interval_ms=0).update([1, 2])
    assert json.loads(path.read_text()) == [1, 2]
    assert not (path.parent / "p.json.tmp").exists()


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval_ms"):
        PositionFile("x", interval_ms=-1)
