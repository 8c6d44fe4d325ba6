"""A full disk: puts fail with a clear, retriable error before the disk is full
(``minimumRequiredSpace``); ENOSPC at any write leaves the channel consistent; writing
resumes once there is room."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from fchelpers import crash, drain, events, file_channel, put

from flafka.channels.file import FileChannel
from flafka.channels.file import channel as channel_module
from flafka.channels.file.fileio import FileIO
from flafka.channels.file.transactions import TAKE_RECORD_BYTES
from flafka.errors import ChannelError, ChannelFullError


class FailingIO(FileIO):
    """Fails call number ``fail_at`` (counting every state-changing call) with ENOSPC."""

    def __init__(self, fail_at: int = -1) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.failed: str | None = None

    def _tick(self, what: str) -> None:
        n = self.calls
        self.calls += 1
        if n == self.fail_at:
            self.failed = what
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def create(self, path: str) -> int:
        self._tick(f"create {os.path.basename(path)}")
        return super().create(path)

    def pwritev(self, fd: int, bufs: list[bytes], offset: int) -> None:
        self._tick("write")
        super().pwritev(fd, bufs, offset)

    def fdatasync(self, fd: int) -> None:
        self._tick("fdatasync")
        super().fdatasync(fd)

    def fsync(self, fd: int) -> None:
        self._tick("fsync")
        super().fsync(fd)

    def fsync_dir(self, path: str) -> None:
        self._tick("fsync_dir")
        super().fsync_dir(path)

    def rename(self, src: str, dst: str) -> None:
        self._tick("rename")
        super().rename(src, dst)

    def truncate(self, fd: int, size: int) -> None:
        self._tick("truncate")
        super().truncate(fd, size)


def workload(ch: FileChannel) -> tuple[list[int], list[str]]:
    """Puts, takes and checkpoints; returns the events the channel must hold and the
    errors seen (failed commits are retried once, as a source would)."""
    expected: list[int] = []
    errors: list[str] = []
    for i in range(12):
        for _attempt in range(2):
            try:
                put(ch, i * 10, 10)
            except ChannelError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            expected += range(i * 10, i * 10 + 10)
            break
        if i % 3 == 2:
            tx = ch.take_transaction()
            got = [int(e.body) for e in tx.take(15)]
            try:
                tx.commit()
                expected = [e for e in expected if e not in got]
            except ChannelError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                tx.rollback()
            ch.checkpoint()
    return expected, errors


def test_enospc_at_every_write_leaves_the_channel_consistent(tmp_path: Path) -> None:
    probe = FailingIO()
    ch = file_channel(tmp_path / "probe", maxFileSize="2048")
    ch.io = probe
    ch.start()
    workload(ch)
    ch.stop()
    total = probe.calls
    assert total > 60
    points: set[str] = set()
    for fail_at in range(total):
        root = tmp_path / f"fault-{fail_at}"
        io = FailingIO(fail_at)
        ch = file_channel(root, maxFileSize="2048")
        ch.io = io
        ch.start()
        expected, errors = workload(ch)
        io.fail_at = -1  # space is back
        if io.failed:
            points.add(io.failed)
        for err in errors:
            assert err.startswith("ChannelFullError") and "no space left" in err and "retried" in err, err
        assert drain(ch, 7) == sorted(expected), f"failing call {fail_at} ({io.failed})"
        put(ch, 5000, 3)  # writing goes on once there is room
        assert ch.counter.snapshot()["Unhealthy"] == 0
        crash(ch)
        ch = file_channel(root, maxFileSize="2048")
        ch.start()
        assert drain(ch) == [5000, 5001, 5002], f"after a restart, failing call {fail_at} ({io.failed})"
        ch.stop()
    assert {"write", "fdatasync", "fsync_dir", "rename"} <= {p.split()[0] for p in points}, points


class LowSpaceIO(FileIO):
    def __init__(self, free: int) -> None:
        self.free = free

    def free_space(self, path: str) -> int:
        return self.free


def test_below_minimum_required_space_puts_fail_before_the_disk_is_full(tmp_path: Path) -> None:
    real_free = FileIO().free_space(str(tmp_path))
    # a real threshold above what the disk has: the first put is refused, nothing written
    ch = file_channel(tmp_path, minimumRequiredSpace=str(real_free + (1 << 30)))
    ch.start()
    with pytest.raises(ChannelFullError, match=r"usable space exhausted in .*data1: only \d+ bytes remaining, minimumRequiredSpace is"):
        put(ch, 0, 10)
    assert ch.size() == 0 and ch.counter.event_put_error_count == 1
    ch.stop()
    # space comes and goes
    io = LowSpaceIO(10 << 20)
    ch = file_channel(tmp_path, minimumRequiredSpace=str(2 << 20))
    ch.io = io
    ch.start()
    put(ch, 0, 10)
    io.free = (2 << 20) + 100
    channel_module.SPACE_CHECK_INTERVAL, old = 0.0, channel_module.SPACE_CHECK_INTERVAL
    try:
        with pytest.raises(ChannelFullError, match="retries once space is freed"):
            put(ch, 10, 10)
        io.free = 10 << 20
        tx = ch.take_transaction()
        assert len(tx.take(5)) == 5
        tx.commit()
        put(ch, 10, 10)
    finally:
        channel_module.SPACE_CHECK_INTERVAL = old
    assert drain(ch) == list(range(5, 20))
    ch.stop()


def test_below_minimum_required_space_takes_fail_too_as_in_flume(tmp_path: Path) -> None:
    """Flume's ``Log`` checks ``usableSpace <= minimumRequiredSpace + record size`` before
    it writes a put, a take, a commit (of either) or a rollback record: below the threshold
    the channel refuses takes as well as puts. Refused takes leave every event in the
    channel, in order; both resume once space is freed."""
    io = LowSpaceIO(10 << 20)
    ch = file_channel(tmp_path, minimumRequiredSpace=str(2 << 20))
    ch.io = io
    ch.start()
    put(ch, 0, 10)
    channel_module.SPACE_CHECK_INTERVAL, old = 0.0, channel_module.SPACE_CHECK_INTERVAL
    try:
        # a take commit that finds no room: the events go back to the head, counted
        tx = ch.take_transaction()
        assert len(tx.take(4)) == 4
        io.free = (2 << 20) + 10
        refused = r"usable space exhausted in .*: only \d+ bytes remaining, minimumRequiredSpace is 2097152 bytes; the take commit"
        with pytest.raises(ChannelError, match=refused):
            tx.commit()
        tx.rollback()  # what a sink does after a failed commit: nothing left to return
        assert ch.size() == 10 and not ch.is_empty()
        # a take finds no room: nothing leaves the channel
        tx = ch.take_transaction()
        with pytest.raises(ChannelError, match=r"the take is refused .*free space on that disk or lower minimumRequiredSpace"):
            tx.take(5)
        tx.rollback()
        assert ch.size() == 10
        assert ch.counter.event_take_error_count == 2
        # exactly at the threshold (free == minimum + record size) Flume refuses too
        io.free = (2 << 20) + TAKE_RECORD_BYTES
        with pytest.raises(ChannelError, match="the take is refused"):
            ch.take_transaction().take(1)
        # an empty channel is not an error (Flume checks only when there is an event)
        io.free = 10 << 20
        assert drain(ch) == list(range(10))
        io.free = 2 << 20
        assert ch.take_transaction().take(5) == []
    finally:
        channel_module.SPACE_CHECK_INTERVAL = old
    ch.stop()


def test_real_full_disk(small_fs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # another tenant of the disk, removed at the end by "the operator"
    filler = small_fs / "filler"
    filler.write_bytes(b"\0" * (1536 << 10))
    # minimumRequiredSpace (1 MiB floor) refuses puts while 1 MiB is still free
    ch = file_channel(small_fs, minimumRequiredSpace="0", capacity="1000000", transactionCapacity="1000")
    ch.start()
    big = [e for e in events(0, 1000)]
    for e in big:
        e.body = e.body * 16
    n = 0
    with pytest.raises(ChannelFullError, match="usable space exhausted"):
        for n in range(1000):  # noqa: B007
            with ch.put_transaction() as tx:
                tx.put(big)
    assert FileIO().free_space(str(small_fs)) >= 1 << 20
    crash(ch)
    # another process takes the rest between two checks: the disk really fills (ENOSPC),
    # a clear error, nothing half-written
    monkeypatch.setattr(FileChannel, "_check_space", lambda self, nbytes, op="put": None)
    ch = file_channel(small_fs, minimumRequiredSpace="0", capacity="1000000", transactionCapacity="1000")
    ch.start()
    held = ch.size()
    assert held == n * 1000
    with pytest.raises(ChannelFullError, match="no space left"):
        for _ in range(1000):
            with ch.put_transaction() as tx:
                tx.put(big)
            held += 1000
    assert ch.size() == held
    tx = ch.take_transaction()  # the sink drains
    assert len(tx.take(1000)) == 1000
    tx.commit()
    drained = drain(ch, 1000)
    assert len(drained) == held - 1000
    # as in Flume, no checkpoint on a disk below minimumRequiredSpace until space is freed
    assert not ch.checkpoint()
    filler.unlink()
    assert ch.checkpoint()
    with ch.put_transaction() as tx:
        tx.put(events(0, 10))
    crash(ch)
    ch = file_channel(small_fs, minimumRequiredSpace="0")
    ch.start()
    assert drain(ch) == list(range(10))
    ch.stop()
