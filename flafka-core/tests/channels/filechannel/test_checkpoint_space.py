"""Checkpoints below ``minimumRequiredSpace``: as Flume's ``Log.writeCheckpoint`` (which
throws "Usable space exhausted" when ``checkpointDir.getUsableSpace() <=
minimumRequiredSpace``), the channel writes no checkpoint while the checkpoint directory's
file system is that low, says so (channel, directory, free bytes, the key to change), and
loses nothing committed: the previous checkpoint and the log still hold every event.

The free-space probe is faked for the checkpoint directories only (``CheckpointSpaceIO``);
the data directories get the real probe, so puts and takes work as usual. The fake is kept
honest: every test asserts the probe was asked about the checkpoint directory, the same
sequence with room writes the checkpoint, and ``test_real_small_disk`` uses a real tmpfs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from fchelpers import crash, drain, file_channel, put

from flafka.channels.file import FileChannel
from flafka.channels.file.checkpoint import NAME
from flafka.channels.file.fileio import FileIO

MIN = 2 << 20


class CheckpointSpaceIO(FileIO):
    """Reports ``free`` bytes for the directories in ``low`` (the rest: the real probe)."""

    def __init__(self, low: set[str], free: int) -> None:
        self.low = low
        self.free = free
        self.asked: list[str] = []

    def free_space(self, path: str) -> int:
        self.asked.append(path)
        return self.free if path in self.low else super().free_space(path)


def low_channel(root: Path, free: int, **keys: str) -> tuple[FileChannel, CheckpointSpaceIO]:
    ch = file_channel(root, minimumRequiredSpace=str(MIN), **keys)
    low = {ch.checkpoint_dir, *([ch.backup_dir] if ch.backup_dir else [])}
    io = CheckpointSpaceIO(low, free)
    ch.io = io
    return ch, io


def checkpoint_bytes(ch: FileChannel) -> bytes | None:
    path = Path(ch.checkpoint_dir) / NAME
    return path.read_bytes() if path.exists() else None


def data_files(root: Path) -> list[str]:
    return sorted(p.name for d in ("data1", "data2") for p in (root / d).iterdir() if p.name.startswith("flafka-log-"))


def test_no_checkpoint_below_minimum_required_space(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ch, io = low_channel(tmp_path, 10 << 20, maxFileSize="2048")
    ch.start()
    put(ch, 0, 50)
    assert ch.checkpoint()  # room: written
    before = checkpoint_bytes(ch)
    assert before is not None
    for start in range(50, 450, 25):
        put(ch, start, 25)
    assert drain(ch, 30) == list(range(450))  # everything taken: the data files are used up
    put(ch, 450, 20)
    files = data_files(tmp_path)
    assert len(files) > 3
    # exactly at the threshold, as Flume (usableSpace <= minimumRequiredSpace): refused
    io.free = MIN
    io.asked.clear()
    errors = ch.counter.checkpoint_write_error_count
    with caplog.at_level(logging.ERROR, logger="flafka.channels.file.channel"):
        assert ch.checkpoint() is False
    assert ch.checkpoint_dir in io.asked
    assert checkpoint_bytes(ch) == before, "the previous checkpoint must stay as it was"
    assert data_files(tmp_path) == files, "no data file may be deleted without a new checkpoint"
    assert ch.counter.checkpoint_write_error_count == errors + 1
    message = caplog.records[-1].getMessage()
    for part in ("channel 'fc'", ch.checkpoint_dir, f"{MIN} bytes", "minimumRequiredSpace", "free space"):
        assert part in message, (part, message)
    # puts and takes go on (the data directories have room), then the agent stops: the
    # close checkpoint is refused too, and a restart replays every committed event
    put(ch, 470, 5)
    tx = ch.take_transaction()
    assert [int(e.body) for e in tx.take(3)] == [450, 451, 452]
    tx.commit()
    ch.stop()
    assert checkpoint_bytes(ch) == before
    ch = file_channel(tmp_path, minimumRequiredSpace=str(MIN), maxFileSize="2048")
    ch.start()
    assert drain(ch) == list(range(453, 475))
    ch.stop()


def test_checkpoint_resumes_when_space_comes_back(tmp_path: Path) -> None:
    ch, io = low_channel(tmp_path, MIN - 4096, maxFileSize="2048")
    ch.start()
    put(ch, 0, 400)
    assert ch.checkpoint() is False
    assert checkpoint_bytes(ch) is None
    assert drain(ch) == list(range(400))
    files = data_files(tmp_path)
    io.free = 10 << 20  # the operator freed space
    assert ch.checkpoint()
    assert checkpoint_bytes(ch) is not None
    assert len(data_files(tmp_path)) < len(files), "the checkpoint deletes the used-up data files"
    put(ch, 400, 5)
    crash(ch)
    ch = file_channel(tmp_path, minimumRequiredSpace=str(MIN), maxFileSize="2048")
    ch.start()
    assert drain(ch) == list(range(400, 405))
    ch.stop()


def test_backup_checkpoint_below_minimum_required_space(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    backup = tmp_path / "backup"
    ch = file_channel(tmp_path, minimumRequiredSpace=str(MIN), useDualCheckpoints="true", backupCheckpointDir=str(backup))
    io = CheckpointSpaceIO({str(backup)}, MIN - 1)
    ch.io = io
    ch.start()
    put(ch, 0, 10)
    with caplog.at_level(logging.ERROR, logger="flafka.channels.file.channel"):
        assert ch.checkpoint()  # the main checkpoint has room
    assert str(backup) in io.asked
    assert checkpoint_bytes(ch) is not None and not (backup / NAME).exists()
    assert ch.counter.checkpoint_backup_write_error_count == 1
    message = caplog.records[-1].getMessage()
    assert str(backup) in message and "backupCheckpointDir" in message and f"{MIN - 1} bytes" in message
    io.free = 10 << 20
    assert ch.checkpoint() and (backup / NAME).exists()
    ch.stop()


def test_real_small_disk(tmp_path: Path, small_fs: Path) -> None:
    """The real probe: a checkpoint directory on a 4 MiB tmpfs filled to below 1 MiB."""
    ch = file_channel(tmp_path, checkpointDir=str(small_fs / "checkpoint"), minimumRequiredSpace="0")
    ch.start()
    put(ch, 0, 10)
    filler = small_fs / "filler"
    with open(filler, "wb") as out:
        out.write(b"\0" * ((4 << 20) - (512 << 10)))
    assert FileIO().free_space(str(small_fs)) <= 1 << 20
    assert ch.checkpoint() is False
    os.unlink(filler)
    assert ch.checkpoint()
    ch.stop()
