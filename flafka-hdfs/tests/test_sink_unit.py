"""The sink against an in-process WebHDFS fake (the real HDFS is in test_integration_hdfs.py):
rolling, staging, crash recovery, back-pressure and bad input."""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flafka.batch import AnyBatch, Batch
from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.source import Status
from flafka.testing import make, settings_for
from flafka_hdfs.sequencefile import read_records
from flafka_hdfs.sink import HdfsSink
from flafka_hdfs.staging import SUFFIX, StagingFile


class FakeHdfs:
    """Files by path; ``down`` makes every call fail like a dead NameNode."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.down = False
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def client(self) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    def __init__(self, fs: FakeHdfs) -> None:
        self.fs = fs

    def _check(self, op: str, path: str) -> None:
        self.fs.calls.append((op, path))
        if self.fs.down:
            raise requests.ConnectionError("Connection refused")

    def status(self, path: str, strict: bool = True) -> dict[str, Any] | None:
        self._check("status", path)
        with self.fs.lock:
            data = self.fs.files.get(path)
        return None if data is None else {"type": "FILE", "length": len(data)}

    def write(self, path: str, data: Iterable[bytes], overwrite: bool = False) -> None:
        self._check("write", path)
        assert overwrite, "uploads must be write-once with overwrite"
        with self.fs.lock:
            self.fs.files[path] = b"".join(data)

    def read(self, path: str) -> Any:
        import contextlib
        import io

        self._check("read", path)
        with self.fs.lock:
            data = self.fs.files[path]
        return contextlib.nullcontext(io.BytesIO(data))

    def rename(self, src: str, dst: str) -> None:
        self._check("rename", src)
        with self.fs.lock:
            if dst in self.fs.files or src not in self.fs.files:
                raise RuntimeError(f"Unable to rename {src} to {dst}")
            self.fs.files[dst] = self.fs.files.pop(src)


@pytest.fixture
def fs() -> FakeHdfs:
    return FakeHdfs()


def build(fs: FakeHdfs, tmp_path: Path, **raw: Any) -> HdfsSink:
    keys = {
        "hdfs.path": "hdfs://nn/data",
        "hdfs.fileType": "DataStream",
        "hdfs.stagingDir": str(tmp_path / "staging"),
        "hdfs.rollInterval": 0,
        "hdfs.rollSize": 0,
        "hdfs.rollCount": 0,
        **raw,
    }
    sink = make(HdfsSink, "k1", **keys)
    sink.new_client = fs.client  # type: ignore[method-assign]
    return sink


def events(n: int, start: int = 0, **headers: str) -> list[Event]:
    return [Event(b"e%04d" % i, dict(headers)) for i in range(start, start + n)]


def finals(fs: FakeHdfs) -> dict[str, bytes]:
    return {p: d for p, d in sorted(fs.files.items()) if not p.endswith(".tmp")}


def lines(fs: FakeHdfs) -> list[bytes]:
    return [line for d in finals(fs).values() for line in d.splitlines()]


def staged(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "staging").glob("*" + SUFFIX))


def test_roll_count_splits_a_batch_into_files_named_like_flume(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 10, "hdfs.filePrefix": "Log", "hdfs.fileSuffix": ".txt"})
    sink.start()
    assert sink.write(events(25)) is None
    assert sink.flush(5)
    names = list(finals(fs))
    assert len(names) == 3
    assert all(n.startswith("/data/Log.") and n.endswith(".txt") for n in names)
    assert [len(d.splitlines()) for d in finals(fs).values()] == [10, 10, 5]
    assert lines(fs) == [e.body for e in events(25)]
    assert staged(tmp_path) == []
    sink.stop()


def test_in_use_name_then_rename_and_no_append(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.inUsePrefix": "_", "hdfs.inUseSuffix": ".inprogress"})
    sink.start()
    sink.write(events(3))
    sink.flush(5)
    ops = [op for op, _ in fs.calls]
    writes = [p for op, p in fs.calls if op == "write"]
    assert writes and all(p.split("/")[-1].startswith("_FlumeData.") and p.endswith(".inprogress") for p in writes)
    assert ops == ["status", "write", "status", "rename"]
    sink.stop()


def test_roll_size_counts_body_bytes_and_interval_and_idle_roll_in_tick(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollSize": 12, "hdfs.rollInterval": 30, "hdfs.idleTimeout": 5})
    now = [1000.0]
    sink.clock = lambda: now[0]
    sink.start()
    sink.write(events(7))  # 5-byte bodies: roll after the 3rd and the 6th
    assert len(sink._writers) == 1 and sink._writers[next(iter(sink._writers))].events == 1
    now[0] += 4
    sink.tick()
    assert len(sink._writers) == 1
    now[0] += 2  # idle 6 s > 5
    sink.tick()
    assert not sink._writers
    sink.write(events(1, 7))
    now[0] += 31
    sink.write(events(1, 8))  # the interval passed: the file rolls before this event
    assert sink.flush(5)
    assert [len(d.splitlines()) for d in finals(fs).values()] == [3, 3, 1, 1, 1]
    sink.stop()


@pytest.mark.parametrize("seed", range(5))
def test_roll_size_and_count_split_files_as_a_per_event_check_would(fs: FakeHdfs, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    bodies = [b"%d-" % i + b"x" * rng.randint(0, 40) for i in range(400)]
    expected: list[int] = []  # Flume: after each event, roll once rollSize bytes or rollCount events are reached
    count = size = 0
    for b in bodies:
        count += 1
        size += len(b)
        if size >= 100 or count >= 7:
            expected.append(count)
            count = size = 0
    if count:
        expected.append(count)
    sink = build(fs, tmp_path, **{"hdfs.rollSize": 100, "hdfs.rollCount": 7})
    sink.start()
    i = 0
    while i < len(bodies):
        n = rng.randint(1, 30)
        assert sink.write([Event(b) for b in bodies[i : i + n]]) is None
        i += n
    assert sink.flush(5)
    assert [len(d.splitlines()) for d in finals(fs).values()] == expected
    assert lines(fs) == bodies
    sink.stop()


def test_local_time_stamp_resolves_the_path_once_per_batch_from_the_clock(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.path": "hdfs://nn/d/%Y%m%d-%H%M", "hdfs.useLocalTimeStamp": "true", "hdfs.timeZone": "UTC"})
    clock = [1425704649.123]
    sink.wall_clock = lambda: clock[0]
    sink.start()
    assert sink.write(events(3) + events(1, 3, timestamp="0")) is None  # the header is ignored
    clock[0] += 60
    assert sink.write(events(2, 4)) is None
    assert sink.flush(5)
    assert [(p.rsplit("/", 1)[0], len(d.splitlines())) for p, d in finals(fs).items()] == [("/d/20150307-0504", 4), ("/d/20150307-0505", 2)]
    sink.stop()


def test_buckets_by_header_and_time_and_max_open_files_closes_the_least_recently_used(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.path": "hdfs://nn/d/%{h}/%Y", "hdfs.maxOpenFiles": 2, "hdfs.timeZone": "UTC"})
    sink.start()
    ts = "1425704649123"
    sink.write(events(2, 0, h="a", timestamp=ts) + events(2, 2, h="b", timestamp=ts))
    sink.write(events(1, 4, h="a", timestamp=ts))
    sink.write(events(1, 5, h="c", timestamp=ts))  # 3 open: b is the least recently used
    assert sorted(k[0] for k in sink._writers) == ["/d/a/2015", "/d/c/2015"]
    assert sink.flush(5)
    dirs = sorted(p.rsplit("/", 1)[0] for p in finals(fs))
    assert dirs == ["/d/a/2015", "/d/b/2015", "/d/c/2015"]
    sink.stop()


def test_missing_timestamp_fails_only_those_events_not_retriable(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.path": "hdfs://nn/d/%Y-%m-%d"})
    sink.start()
    batch = events(2, 0, timestamp="1425704649123") + events(1, 2) + events(1, 3, timestamp="1425704649123")
    outcome = sink.write(batch)
    assert outcome is not None and list(outcome.failed) == [2] and not outcome.retriable
    assert isinstance(outcome.error, PermanentError)
    assert "hdfs.useLocalTimeStamp = true" in str(outcome.error) and "timestamp interceptor" in str(outcome.error)
    assert "/d/%Y-%m-%d" in str(outcome.error)
    sink.flush(5)
    assert lines(fs) == [b"e0000", b"e0001", b"e0003"]
    sink.stop()


def test_headers_never_lead_a_write_out_of_hdfs_path(fs: FakeHdfs, tmp_path: Path) -> None:
    """Issue 9 item 3: '..', '#LATEST', NUL and ':' in a header are refused (not retriable, the
    reason names the header and value); good events of the batch are written, inside /data."""
    sink = build(fs, tmp_path, **{"hdfs.path": "hdfs://nn/data/%{dir}", "hdfs.filePrefix": "F-%{app}"})
    sink.start()
    batch = [
        Event(b"ok1", {"dir": "a/b", "app": "web"}),
        Event(b"climb", {"dir": "../../etc", "app": "web"}),
        Event(b"latest", {"dir": "x/#LATEST", "app": "web"}),
        Event(b"nul", {"dir": "a\0b", "app": "web"}),
        Event(b"name", {"dir": "a", "app": "../../x"}),
        Event(b"ok2", {"dir": "./a//b/", "app": "web"}),
        Event(b"colon", {"dir": "12:30", "app": "web"}),
    ]
    outcome = sink.write(batch)
    assert outcome is not None and list(outcome.failed) == [1, 2, 3, 4, 6] and not outcome.retriable
    assert isinstance(outcome.error, PermanentError)
    reason = str(outcome.error)
    assert "5 of 7 events whose headers would lead the write out of hdfs.path 'hdfs://nn/data/%{dir}' are refused" in reason
    assert "header 'dir' = '../../etc' has a '..' segment" in reason and "header 'dir' = 'x/#LATEST'" in reason
    assert "header 'dir' = 'a\\x00b' contains the control character \\0 (NUL)" in reason
    assert len(reason) < 2000  # three examples at most
    assert sink.flush(5)
    assert sorted(finals(fs)) == [f for f in sorted(finals(fs)) if f.startswith("/data/a/b/F-web.")]
    assert lines(fs) == [b"ok1", b"ok2"]
    assert all(path.startswith("/data/") for _, path in fs.calls)
    sink.stop()


def test_refused_events_go_to_the_dead_letter_file_with_the_reason(fs: FakeHdfs, tmp_path: Path) -> None:
    import json

    from flafka.channels.memory import MemoryChannel
    from flafka.runtime import DeadLetterFile, SinkDriver

    sink = build(fs, tmp_path, **{"hdfs.path": "hdfs://nn/data/%{dir}"})
    channel = make(MemoryChannel, "c1")
    sink.channel = channel
    with channel.put_transaction() as tx:
        tx.put([Event(b"good", {"dir": "x"}), Event(b"bad", {"dir": "../../user/alice"})])
    sink.start()
    driver = SinkDriver(sink, DeadLetterFile(str(tmp_path / "dead"), "k1"))
    driver.drive()
    driver.settle()
    assert channel.is_empty()
    dead = [json.loads(line) for line in (tmp_path / "dead" / "k1.deadletter.jsonl").read_text().splitlines()]
    assert [d["headers"] for d in dead] == [{"dir": "../../user/alice"}]
    assert "header 'dir' = '../../user/alice' has a '..' segment" in dead[0]["reason"]
    assert sink.flush(5)
    assert lines(fs) == [b"good"] and all(p.startswith("/data/x/") for p in finals(fs))
    sink.stop()


def test_hdfs_down_writes_stay_local_then_back_pressure_then_catch_up(fs: FakeHdfs, tmp_path: Path, caplog: Any) -> None:
    fs.down = True
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 5, "hdfs.stagingMaxBytes": 400, "hdfs.retryInterval": 1})
    sink.start()
    sink.write(events(5))  # delivered: fsynced in staging
    sink.write(events(5, 5))
    assert not sink.flush(1)
    with pytest.raises(RetriableError) as info:
        sink.write(events(5, 10))
    message = str(info.value)
    assert "hdfs.stagingMaxBytes" in message and "cannot reach WebHDFS at http://nn:9870" in message and "/data/" in message
    fs.down = False
    assert sink.flush(10)
    sink.write(events(5, 10))
    assert sink.flush(5)
    assert sorted(lines(fs)) == [e.body for e in events(15)]
    sink.stop()


def test_staging_disk_failure_when_opening_a_file_undoes_the_batch(fs: FakeHdfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 3})
    sink.start()
    sink.write(events(2))
    real_write = os.write

    def failing(fd: int, data: Any) -> int:  # os.write only writes a new staging file's description
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing)
    # the batch appended to the open file, rolled it, then could not create the next one
    with pytest.raises(RetriableError, match=r"No space left on device.*stays in the channel"):
        sink.write(events(4, 2))
    monkeypatch.setattr(os, "write", real_write)
    sink.write(events(4, 2))  # the retry of the same batch
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(6)]
    assert staged(tmp_path) == []
    sink.stop()


def test_a_failed_staging_write_fails_only_the_events_of_that_file(fs: FakeHdfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 3})
    sink.start()
    sink.write(events(2))
    real_writev = os.writev

    def failing(fd: int, buffers: Any) -> int:
        if any(b"e0003" in b for b in buffers):  # the second file's frame: the disk filled up
            raise OSError(28, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", failing)
    outcome = sink.write(events(4, 2))  # e0002 completes the first file; e0003..e0005 go to the next
    assert outcome is not None and outcome.retriable
    assert list(outcome.failed) == [1, 2, 3]
    assert isinstance(outcome.error, RetriableError)
    assert "No space left on device" in str(outcome.error) and ".stage" in str(outcome.error) and "hdfs.stagingDir" in str(outcome.error)
    monkeypatch.setattr(os, "writev", real_writev)
    assert sink.write(events(3, 3)) is None  # what the runtime retries: only the failed events
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(6)]  # none lost, none twice
    assert staged(tmp_path) == []
    sink.stop()


# -- pipelined sends (group commit) ----------------------------------------------------------


class GatedSync:
    """``os.fdatasync`` that blocks while ``gate`` is clear and raises while ``fail`` is set."""

    def __init__(self) -> None:
        self.real = os.fdatasync
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(10)
        if self.fail:
            raise OSError(5, "Input/output error")
        self.real(fd)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> GatedSync:
    sync = GatedSync()
    monkeypatch.setattr(os, "fdatasync", sync)
    return sync


def test_group_commit_one_sync_covers_the_batches_sent_meanwhile(fs: FakeHdfs, tmp_path: Path, gated: GatedSync) -> None:
    sink = build(fs, tmp_path)
    sink.start()
    gated.gate.clear()
    first = sink.send(events(10))
    done = threading.Event()

    def wait_first() -> None:
        assert first.wait() is None
        done.set()

    threading.Thread(target=wait_first, daemon=True).start()
    assert gated.entered.wait(5)  # waiting for the first batch started its sync
    later = [sink.send(events(10, 10 * i)) for i in range(1, 10)]
    assert not done.wait(0.3), "wait() returned before the batch was synced"
    gated.gate.set()
    assert done.wait(5)
    assert all(p.wait() is None for p in later)
    assert gated.calls == 2 and sink.syncer.syncs == 2  # 10 batches, 2 syncs
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(100)]
    sink.stop()


def test_batches_sent_before_the_first_wait_share_one_sync(fs: FakeHdfs, tmp_path: Path) -> None:
    """The syncer syncs on demand: the runtime keeps batches in flight and waits for the
    oldest only once the window is full, so one fdatasync covers the whole window."""
    sink = build(fs, tmp_path)
    sink.start()
    pending = [sink.send(events(10, 10 * i)) for i in range(4)]
    time.sleep(0.2)
    assert sink.syncer.syncs == 0, "nothing waited: no sync yet"
    assert pending[0].wait() is None
    assert sink.syncer.syncs == 1  # the first wait's sync covered all four
    assert all(p.wait() is None for p in pending[1:]) and sink.syncer.syncs == 1
    assert sink.write(events(10, 40)) is None and sink.syncer.syncs == 2  # write() = send + wait
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(50)]
    sink.stop()


def test_unwaited_batches_are_synced_once_lazy_bytes_wait(fs: FakeHdfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka_hdfs import staging

    monkeypatch.setattr(staging, "LAZY_BYTES", 1000)
    sink = build(fs, tmp_path)
    sink.start()
    sink.send(events(10))
    time.sleep(0.2)
    assert sink.syncer.syncs == 0  # 80 bytes: below the threshold
    sink.send([Event(b"x" * 2000, {})])
    deadline = time.monotonic() + 5
    while sink.syncer.syncs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.syncer.syncs == 1
    sink.stop()


def test_failed_sync_fails_every_unsynced_batch_and_commits_nothing(fs: FakeHdfs, tmp_path: Path, gated: GatedSync) -> None:
    from flafka.channels.memory import MemoryChannel
    from flafka.metrics.counters import SinkCounter
    from flafka.runtime import SinkDriver, SinkFailure

    channel = make(MemoryChannel, "c1", capacity=1000, transactionCapacity=10, **{"keep-alive": 0})
    channel.start()
    sink = build(fs, tmp_path, **{"hdfs.batchSize": 10, "hdfs.maxPendingBatches": 4})
    sink.channel = channel
    sink.counter = SinkCounter("k1", "hdfs")
    sink.start()
    for i in range(6):
        with channel.put_transaction() as tx:
            tx.put(events(10, 10 * i))
    driver = SinkDriver(sink)
    assert driver.drive() is Status.READY  # batch 1 sent ...
    assert sink.syncer.drain(5)  # ... and synced
    gated.entered.clear()
    gated.gate.clear()
    gated.fail = True
    for _ in range(2):  # batches 2-3 sent, none synced (no wait for them yet: no sync)
        assert driver.drive() is Status.READY
    assert driver.in_flight == 3 and not gated.entered.is_set()
    assert driver.drive() is Status.READY  # batch 4 sent; batch 1 completes: it was synced
    assert driver.in_flight == 3 and sink.counter.event_drain_success_count == 10
    gated.gate.set()  # waiting for batch 2 starts the sync of 2-4, and it fails
    failures = 0
    while driver.in_flight:  # 2-4 fail, oldest first; nothing of theirs is committed
        try:
            driver._complete_oldest()
        except SinkFailure as exc:
            failures += 1
            assert exc.retriable and "Input/output error" in str(exc) and "hdfs.stagingDir" in str(exc)
    assert failures == 3
    assert sink.counter.event_drain_success_count == 10
    assert channel.size() == 50
    gated.fail = False  # the disk is back: everything is written again to a new file
    while driver.drive() is Status.READY:
        pass
    driver.settle()
    assert channel.size() == 0 and sink.counter.event_drain_success_count == 60
    assert sink.flush(5)
    assert sorted(lines(fs)) == [e.body for e in events(60)]  # each exactly once
    assert staged(tmp_path) == []
    sink.stop()


def test_roll_while_batches_are_pending_uploads_only_synced_bytes(fs: FakeHdfs, tmp_path: Path, gated: GatedSync) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 25})
    sink.start()
    gated.gate.clear()
    pending = [sink.send(events(10, 10 * i)) for i in range(5)]  # rolls twice while nothing is synced
    sink.tick()
    assert fs.files == {}, "a file was uploaded before its batches were synced"
    assert sink.uploader.pending() == 0
    gated.gate.set()
    assert all(p.wait() is None for p in pending)
    assert sink.flush(5)
    assert [len(d.splitlines()) for d in finals(fs).values()] == [25, 25]
    assert lines(fs) == [e.body for e in events(50)]
    sink.stop()


def test_a_file_whose_sync_failed_is_uploaded_up_to_its_last_synced_batch(fs: FakeHdfs, tmp_path: Path, gated: GatedSync) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 25})
    sink.start()
    assert sink.write(events(10)) is None
    gated.fail = True
    with pytest.raises(RetriableError, match="Input/output error"):
        sink.write(events(10, 10))
    gated.fail = False
    assert sink.write(events(10, 10)) is None  # the retry goes to a new file
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(20)]
    sink.stop()


def test_an_unexpected_error_in_the_syncer_fails_the_batch_and_the_syncer_goes_on(
    fs: FakeHdfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = build(fs, tmp_path)
    sink.start()
    real = StagingFile.write_out
    calls = [0]

    def buggy(self: StagingFile, payloads: list[bytes]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise ValueError("a bug")
        real(self, payloads)

    monkeypatch.setattr(StagingFile, "write_out", buggy)
    with pytest.raises(RetriableError, match="a bug"):
        sink.write(events(5))
    assert sink.write(events(5)) is None  # a new staging file, the same syncer thread
    assert sink.flush(5)
    assert lines(fs) == [e.body for e in events(5)]
    sink.stop()


def test_stop_syncs_and_uploads_what_is_pending_and_idle_timeout_waits_for_the_syncer(
    fs: FakeHdfs, tmp_path: Path, gated: GatedSync
) -> None:
    clock = [1000.0]
    sink = build(fs, tmp_path, **{"hdfs.idleTimeout": 5})
    sink.clock = lambda: clock[0]
    sink.start()
    gated.gate.clear()
    pending = [sink.send(events(10, 10 * i)) for i in range(3)]
    clock[0] += 6
    sink.tick()  # idle: rolled, but not uploaded before it is synced
    assert fs.files == {}
    more = sink.send(events(10, 30))
    gated.gate.set()
    sink.stop()
    assert all(p.wait() is None for p in [*pending, more])
    assert lines(fs) == [e.body for e in events(40)]
    assert staged(tmp_path) == []


def test_recovery_after_a_crash_uploads_staged_files_and_cuts_a_torn_tail(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path, **{"hdfs.rollCount": 4})
    sink.start()
    sink.uploader.stop(1)  # "crash" before anything is uploaded, nothing is closed cleanly
    sink.write(events(6))  # one file rolled (4), one open (2)
    assert sink.syncer.drain(5)
    assert fs.files == {}
    open_file = sink._writers[next(iter(sink._writers))].staging.path
    with open(open_file, "ab") as fh:
        fh.write(b"FHS1\x00\x00\x01\x00garbage")  # a batch that was being written: never committed
    sink.staging.close()  # type: ignore[union-attr]  # the process is gone: its lock with it

    again = build(fs, tmp_path, **{"hdfs.rollCount": 4})
    again.start()
    assert again.flush(5)
    assert lines(fs) == [e.body for e in events(6)]
    assert staged(tmp_path) == []
    again.stop()


def test_replay_after_rename_is_recognised_and_a_half_upload_is_redone(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path)
    sink.start()
    sink.write(events(3))
    sink.uploader.stop(1)
    key = next(iter(sink._writers))
    f = sink._writers.pop(key)
    f.staging.close()
    meta = f.staging.meta
    final = f"{meta['directory']}/{meta['final']}"
    fs.files[final] = b"e0000\ne0001\ne0002\n"  # uploaded and renamed, then killed before the staging file went
    sink.staging.close()  # type: ignore[union-attr]
    again = build(fs, tmp_path)
    again.start()
    assert again.flush(5)
    assert ("write", f"{meta['directory']}/{meta['inuse']}") not in fs.calls
    assert staged(tmp_path) == []
    again.stop()

    # a half-written in-use file (killed mid-upload) is simply overwritten
    sink = build(fs, tmp_path)
    sink.start()
    sink.write(events(2, 10))
    sink.uploader.stop(1)
    f = sink._writers.pop(next(iter(sink._writers)))
    f.staging.close()
    fs.files[f"{f.staging.meta['directory']}/{f.staging.meta['inuse']}"] = b"e00"
    sink.staging.close()  # type: ignore[union-attr]
    again = build(fs, tmp_path)
    again.start()
    assert again.flush(5)
    assert fs.files[f"{f.staging.meta['directory']}/{f.staging.meta['final']}"] == b"e0010\ne0011\n"
    again.stop()


def test_a_final_name_taken_by_other_content_is_never_overwritten(fs: FakeHdfs, tmp_path: Path) -> None:
    sink = build(fs, tmp_path)
    sink.start()
    sink.wall_clock = lambda: 1000.0
    sink.write(events(1))
    fs.files["/data/FlumeData.1000000"] = b"someone else's file"
    assert sink.flush(5)
    assert fs.files["/data/FlumeData.1000000"] == b"someone else's file"
    assert fs.files["/data/FlumeData.1000000-1"] == b"e0000\n"
    sink.stop()


def test_staging_dir_is_locked_against_a_second_agent(fs: FakeHdfs, tmp_path: Path) -> None:
    one = build(fs, tmp_path)
    one.start()
    two = build(fs, tmp_path)
    with pytest.raises(ConfigError, match="in use by another process"):
        two.start()
    one.stop()


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"hdfs.codeC": "gzp"}, "did you mean 'gzip'"),
        ({"hdfs.codeC": "lzo"}, "not available in flafka"),
        ({"hdfs.fileType": "DataStream", "hdfs.codeC": "gzip"}, "CompressedStream"),
        ({"hdfs.fileType": "CompressedStream"}, "needs hdfs.codeC"),
        ({"hdfs.path": "/relative/x", "hdfs.webhdfs.url": ""}, "no hdfs:// fs.defaultFS was found"),
        ({"hdfs.path": "hdfs://nn/flume/../x"}, r"hdfs.path: the configured text has a '\.\.' segment"),
        ({"hdfs.path": "hdfs://nn/flume/#LATEST/x"}, "#LATEST"),
        ({"hdfs.path": "hdfs://nn/.reserved/.inodes/16386"}, "reserved directory"),
        ({"hdfs.filePrefix": "../FlumeData"}, r"hdfs.filePrefix: the configured text has a '\.\.' segment"),
        ({"hdfs.inUsePrefix": "../"}, r"hdfs.inUsePrefix: the configured text has a '\.\.' segment"),
        ({"hdfs.path": "hdfs:///x"}, "hdfs.webhdfs.url"),
        ({"hdfs.path": "s3a://b/x"}, "not HDFS"),
        ({"hdfs.timeZone": "Nowhere/Land"}, "time zone"),
        ({"hdfs.fileType": "DataStream", "serializer": "org.example.MySerializer$Builder"}, "cannot load Java classes"),
        ({"hdfs.fileType": "DataStream", "serializer": "TXT"}, r"serializer = 'TXT': unknown serializer 'TXT'; did you mean 'TEXT'"),
        ({"hdfs.fileType": "DataStream", "serializer.appendNewLine": "false"}, r"did you mean 'serializer\.appendNewline'"),
        ({"hdfs.inUseSuffix": "", "hdfs.inUsePrefix": ""}, "final name"),
    ],
)
def test_configuration_errors_name_the_fix(raw: dict[str, str], message: str, tmp_path: Path) -> None:
    keys = {"hdfs.path": "hdfs://nn/x", "hdfs.fileType": "SequenceFile", **raw}
    with pytest.raises(ConfigError, match=message):
        make(HdfsSink, "k1", **keys)
    problems = HdfsSink.check_settings(settings_for(HdfsSink, **keys))
    assert any(message.split("'")[0] in f"{p.key} = {p.message}; {p.suggestion}" for p in problems if p.severity == "error")


def test_targets_from_flume_style_paths() -> None:
    def url(path: str, given: str = "") -> tuple[str, str]:
        sink = make(HdfsSink, "k", **{"hdfs.path": path, "hdfs.webhdfs.url": given})
        return sink.target.url, sink.target.path

    assert url("hdfs://namenode:8020/flume/%Y") == ("http://namenode:9870", "/flume/%Y")
    assert url("webhdfs://nn:50070/a") == ("http://nn:50070", "/a")
    assert url("swebhdfs://nn:9871/a") == ("https://nn:9871", "/a")
    assert url("hdfs://cluster/a", "http://x:1;http://y:1") == ("http://x:1;http://y:1", "/a")
    assert url("/a", "http://x:1/") == ("http://x:1", "/a")


def test_warnings_for_tiny_files_and_time_escapes() -> None:
    problems = HdfsSink.check_settings(settings_for(HdfsSink, **{"hdfs.path": "hdfs://nn/x/%Y/%q"}))
    text = " | ".join(p.message for p in problems if p.severity == "warning")
    assert "tiny files" in text and "timestamp" in text and "'%q'" in text


def _drain(it: Iterator[bytes]) -> bytes:
    return b"".join(it)


def test_error_messages_name_the_path_and_the_fix() -> None:
    from hdfs.util import HdfsError

    from flafka_hdfs.client import describe

    url, path = "http://nn:9870", "/flume/x/FlumeData.1.tmp"
    denied = describe(HdfsError("Permission denied: user=bob, access=WRITE", exception="AccessControlException"), path, url, "bob")
    assert path in denied and "as user 'bob'" in denied and "hdfs dfs -chown" in denied
    safe = describe(HdfsError("Cannot create file. Name node is in safe mode.", exception="SafeModeException"), path, url)
    assert path in safe and "safemode leave" in safe
    full = describe(HdfsError("File could only be written to 0 of the 1 minReplication nodes.", exception="IOException"), path, url)
    assert path in full and "disks are full" in full
    down = describe(requests.ConnectionError("refused"), path, url)
    assert url in down and "start HDFS" in down


def test_the_webhdfs_client_sends_paths_as_given() -> None:
    """The hdfs library's resolve() would collapse '..' and expand '#LATEST' (to the newest
    entry of a directory); the sink's clients only drop empty and '.' segments."""
    from flafka_hdfs.client import Auth, build_client

    c = build_client("http://127.0.0.1:9", Auth(user="u"))
    assert c.resolve("/data/a/#LATEST") == "/data/a/#LATEST"
    assert c.resolve("/data/a/../../etc") == "/data/a/../../etc"
    assert c.resolve("/data//a/./b/") == "/data/a/b"
    with pytest.raises(ValueError, match="not absolute"):
        c.resolve("relative/x")


# -- serializers ---------------------------------------------------------------------------------


@pytest.fixture
def hexlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plugin (tests/plugins) registered through a ``flafka`` entry point."""
    from importlib.metadata import EntryPoint

    from flafka import plugins

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "tests" / "plugins"))
    eps = [EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("hexlines", "flafka_test_serializer", "flafka")]
    report = plugins.load_plugins(env={}, entry_points=eps)
    monkeypatch.setattr(plugins, "get_registry", lambda: report.registry)


def test_a_plugin_serializer_in_compressed_streams_with_its_end_bytes(fs: FakeHdfs, tmp_path: Path, hexlines: None) -> None:
    import gzip

    sink = build(fs, tmp_path, **{"hdfs.fileType": "CompressedStream", "hdfs.codeC": "gzip", "serializer": "HEXLINES", "hdfs.rollCount": 3})
    sink.start()
    assert sink.write(events(4, k="v")) is None
    assert sink.flush(5)
    sink.stop()
    files = list(finals(fs).values())
    assert [gzip.decompress(d) for d in files] == [
        b"# hexlines\n6530303030;1\n6530303031;1\n6530303032;1\n# end\n",
        b"# hexlines\n6530303033;1\n# end\n",
    ]


def test_a_batch_the_serializer_refuses_leaves_nothing_behind(fs: FakeHdfs, tmp_path: Path) -> None:
    import io
    import json

    import fastavro

    schema = {"type": "record", "name": "R", "fields": [{"name": "n", "type": "long"}]}

    def datum(n: int) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), {"n": n})
        return out.getvalue()

    literal = {"flume.avro.schema.literal": json.dumps(schema)}
    sink = build(fs, tmp_path, **{"serializer": "AvroEventSerializer", "hdfs.path": "hdfs://nn/data/%{dir}"})
    sink.start()
    assert sink.write([Event(datum(0), {**literal, "dir": "a"})]) is None
    other = {"flume.avro.schema.literal": json.dumps({**schema, "name": "S"})}
    with pytest.raises(PermanentError, match="open file holds"):  # bucket b is fine, bucket a refuses
        sink.write([Event(datum(1), {**literal, "dir": "b"}), Event(datum(2), {**other, "dir": "a"})])
    assert sink.write([Event(datum(3), {**literal, "dir": "a"}), Event(datum(4), {**literal, "dir": "b"})]) is None
    assert sink.flush(5)
    sink.stop()
    got = {p.split("/")[2]: [r["n"] for r in fastavro.reader(io.BytesIO(d))] for p, d in finals(fs).items()}
    assert got == {"a": [0, 3], "b": [4]}  # event 1 of the refused batch is not in b's file


def test_avro_event_serializer_reads_an_hdfs_schema_url_through_the_sink(fs: FakeHdfs, tmp_path: Path) -> None:
    """The Flume User Guide's example: ``serializer.schemaURL = hdfs://namenode/path/to/schema.avsc``."""
    import io
    import json

    import fastavro

    schema = {"type": "record", "name": "R", "fields": [{"name": "n", "type": "long"}]}
    fs.files["/path/to/schema.avsc"] = json.dumps(schema).encode()
    keys = {
        "serializer": "org.apache.flume.sink.hdfs.AvroEventSerializer$Builder",
        "serializer.compressionCodec": "snappy",
        "serializer.schemaURL": "hdfs://namenode/path/to/schema.avsc",
    }
    assert HdfsSink.check_settings(settings_for(HdfsSink, **{"hdfs.path": "hdfs://nn/data", "hdfs.fileType": "DataStream", **keys})) == [
        p for p in HdfsSink.check_settings(settings_for(HdfsSink, **{"hdfs.path": "hdfs://nn/data", "hdfs.fileType": "DataStream"}))
    ]  # no warning about the schema URL: this sink reads it
    sink = build(fs, tmp_path, **keys)
    sink.start()
    datums = []
    for n in range(5):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), {"n": n})
        datums.append(Event(out.getvalue()))
    assert sink.write(datums) is None
    assert sink.flush(5)
    sink.stop()
    assert ("read", "/path/to/schema.avsc") in fs.calls
    (data,) = [d for p, d in finals(fs).items() if p.startswith("/data/")]
    assert list(fastavro.reader(io.BytesIO(data))) == [{"n": n} for n in range(5)]


# -- column-wise batches ------------------------------------------------------------------
# What a flafka.batch.Batch writes is byte for byte what the same events as a list[Event]
# write (files, names, refusals and their reasons), and both bucket, split and refuse events
# as writing them one at a time does.

NOW = 1425704649.123  # 2015-03-07 05:04:09 UTC
TS = ["1425704649123", "1425704709123", "1425708249123", "0", "x12", None]
"""Timestamp headers: three times in distinct minutes/hours, the epoch, not a number, none."""
DIRS = ["a", "b", "a/b", "./a//b/", "", "../up", "x/#LATEST", "1:2"]
"""Header values for %{h}: plain, nested, normalised, empty, and three hdfs.path refuses."""

PATHS = [
    ({"hdfs.path": "hdfs://nn/d"}, False),
    ({"hdfs.path": "hdfs://nn/d/%{h}"}, True),
    ({"hdfs.path": "hdfs://nn/d/%Y%m%d-%H%M", "hdfs.timeZone": "UTC"}, True),
    ({"hdfs.path": "hdfs://nn/d/%Y%m%d-%H%M", "hdfs.useLocalTimeStamp": "true", "hdfs.timeZone": "UTC"}, False),
    ({"hdfs.path": "hdfs://nn/d/%{h}/%H", "hdfs.round": "true", "hdfs.roundUnit": "hour", "hdfs.timeZone": "UTC"}, True),
    ({"hdfs.path": "hdfs://nn/d", "hdfs.filePrefix": "F-%{h}-%t"}, True),
]
FORMATS = [
    {"hdfs.fileType": "DataStream"},
    {"hdfs.fileType": "DataStream", "serializer": "HEADER_AND_TEXT"},
    {"hdfs.fileType": "DataStream", "serializer": "TEXT", "serializer.appendNewline": "false"},
    {"hdfs.fileType": "SequenceFile"},
    {"hdfs.fileType": "SequenceFile", "hdfs.writeFormat": "Text"},
    {"hdfs.fileType": "CompressedStream", "hdfs.codeC": "gzip"},
    {"hdfs.fileType": "SequenceFile", "hdfs.codeC": "deflate"},
]
UNCOMPRESSED = 5
"""FORMATS[:5] write the same bytes however the events are split into batches."""

header_map = st.fixed_dictionaries({}, optional={"h": st.sampled_from(DIRS), "timestamp": st.sampled_from(TS)}).map(
    lambda m: {k: v for k, v in m.items() if v is not None}
)


@st.composite
def column_batch(draw: Any) -> tuple[list[bytes], list[dict[str, str] | None] | None, dict[str, str] | None]:
    """(bodies, per-event maps or None, common map or None): how a source builds a Batch."""
    bodies = draw(st.lists(st.binary(max_size=12), max_size=12))
    kind = draw(st.sampled_from(["none", "common", "column", "both"]))
    common = draw(header_map) if kind in ("common", "both") else None
    column = None
    if kind in ("column", "both"):
        column = [draw(st.none() | header_map) for _ in bodies]
    return bodies, column, common


def as_batch(bodies: list[bytes], column: list[dict[str, str] | None] | None, common: dict[str, str] | None) -> Batch:
    return Batch(list(bodies), [dict(m) if m is not None else None for m in column] if column is not None else None, dict(common or {}))


def as_list(bodies: list[bytes], column: list[dict[str, str] | None] | None, common: dict[str, str] | None) -> list[Event]:
    out = []
    for i, body in enumerate(bodies):
        m = column[i] if column is not None else None
        headers = {**(common or {}), **(m or {})}
        out.append(Event(body, headers or None))
    return out


def new_sink(fs: FakeHdfs, staging: Path, raw: dict[str, Any]) -> HdfsSink:
    keys = {
        "hdfs.stagingDir": str(staging),
        "hdfs.rollInterval": 0,
        "hdfs.rollCount": 0,
        "hdfs.rollSize": 0,
        "hdfs.threadsPoolSize": 1,
        "hdfs.inUseSuffix": ".tmp",
        **raw,
    }
    sink = make(HdfsSink, "k1", **keys)
    sink.new_client = fs.client  # type: ignore[method-assign]
    sink.wall_clock = lambda: NOW
    sink.start()
    return sink


def outcome_of(sink: HdfsSink, batch: AnyBatch) -> tuple[list[int], bool, str] | None:
    outcome = sink.write(batch)
    return None if outcome is None else (list(outcome.failed), outcome.retriable, str(outcome.error))


def by_bucket(files: dict[str, bytes], sequence_file: bool) -> dict[str, list[Any]]:
    """File contents per bucket (directory and file prefix), in the order they were opened;
    a SequenceFile's records (its sync marker derives from the file's name)."""
    out: dict[str, list[Any]] = {}
    for path in sorted(files, key=lambda p: (p.rsplit(".", 1)[0], int(p.rsplit(".", 1)[1]))):
        out.setdefault(path.rsplit(".", 1)[0], []).append(read_records(files[path])[1] if sequence_file else files[path])
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(PATHS),
    fmt=st.sampled_from(range(len(FORMATS))),
    roll=st.sampled_from([(0, 0), (3, 0), (0, 20), (4, 25)]),
    batches=st.lists(column_batch(), min_size=1, max_size=4),
)
def test_a_column_wise_batch_writes_what_its_events_write(
    path: tuple[dict[str, str], bool], fmt: int, roll: tuple[int, int], batches: list[Any]
) -> None:
    raw = {**path[0], **FORMATS[fmt], "hdfs.rollCount": roll[0], "hdfs.rollSize": roll[1]}
    with tempfile.TemporaryDirectory() as tmp:
        fs_batch, fs_list, fs_single = FakeHdfs(), FakeHdfs(), FakeHdfs()
        columns = new_sink(fs_batch, Path(tmp) / "b", raw)
        lists = new_sink(fs_list, Path(tmp) / "l", raw)
        singles = new_sink(fs_single, Path(tmp) / "s", raw)
        try:
            for spec in batches:
                batch = as_batch(*spec)
                got = outcome_of(columns, batch)
                assert batch.columnar or FORMATS[fmt].get("serializer") == "HEADER_AND_TEXT"  # no Event built otherwise
                events = as_list(*spec)
                assert got == outcome_of(lists, events)
                refused = [i for i, e in enumerate(events) if outcome_of(singles, [e]) is not None]
                assert (got[0] if got else []) == refused
            for sink in (columns, lists, singles):
                assert sink.flush(10)
        finally:
            for sink in (columns, lists, singles):
                sink.stop()
    assert finals(fs_batch) == finals(fs_list)  # names, order of opening and bytes
    if fmt < UNCOMPRESSED:
        sequence_file = FORMATS[fmt]["hdfs.fileType"] == "SequenceFile"
        assert by_bucket(finals(fs_list), sequence_file) == by_bucket(finals(fs_single), sequence_file)


def test_a_batch_sharing_one_map_resolves_its_path_once(tmp_path: Path) -> None:
    fs = FakeHdfs()
    sink = new_sink(fs, tmp_path, {"hdfs.path": "hdfs://nn/d/%{h}/%Y", "hdfs.timeZone": "UTC", "hdfs.fileType": "DataStream"})
    assert sink._paths is not None
    calls = []
    resolve = sink._paths.resolve
    sink._paths.resolve = lambda headers, now_ms: calls.append(headers) or resolve(headers, now_ms)  # type: ignore[method-assign]
    batch = Batch([b"%d" % i for i in range(500)], None, {"h": "web", "timestamp": "1425704649123"})
    assert sink.write(batch) is None
    assert len(calls) == 1 and batch.columnar  # no Event was built
    refused = Batch([b"x"] * 3, None, {"h": "../etc", "timestamp": "1425704649123"})
    outcome = sink.write(refused)
    assert outcome is not None and list(outcome.failed) == [0, 1, 2] and "3 of 3 events" in str(outcome.error)
    assert sink.flush(10)
    sink.stop()
    assert list(finals(fs).values()) == [b"\n".join(batch.bodies) + b"\n"]


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from([0, 1, 5119, 5120, 5121, 10240, 10241, 101_000]) | st.integers(min_value=0, max_value=40_000),
    st.binary(min_size=1, max_size=64),
)
def test_staging_crc32_in_pieces_is_zlibs(size: int, pattern: bytes) -> None:
    import zlib

    from flafka_hdfs.staging import crc32

    data = (pattern * (size // len(pattern) + 1))[:size]
    assert crc32(data) == zlib.crc32(data)


def test_max_pending_batches_is_per_sink(fs: FakeHdfs, tmp_path: Path) -> None:
    from flafka.channels.memory import MemoryChannel
    from flafka.runtime import SinkDriver

    assert build(fs, tmp_path / "a").max_pending_batches == 16
    one = build(fs, tmp_path / "b", **{"hdfs.maxPendingBatches": 1})
    assert one.max_pending_batches == 1 and HdfsSink.max_pending_batches == 16, "the class attribute must not change"
    channel = make(MemoryChannel, "c1", capacity=1000, transactionCapacity=10, **{"keep-alive": 0})
    channel.start()
    for i in range(3):
        with channel.put_transaction() as tx:
            tx.put(events(10, 10 * i))
    three = build(fs, tmp_path / "c", **{"hdfs.maxPendingBatches": 3, "hdfs.batchSize": 10})
    three.channel = channel
    three.start()
    driver = SinkDriver(three)
    driver.drive()
    driver.drive()
    assert driver.in_flight == 2 and three.syncer.syncs == 0  # nothing waited for yet
    driver.drive()  # the third reaches the window: its wait syncs all three at once
    assert driver.in_flight == 2 and three.syncer.syncs == 1
    driver.settle()
    assert three.syncer.syncs == 1 and channel.size() == 0
    three.stop()
