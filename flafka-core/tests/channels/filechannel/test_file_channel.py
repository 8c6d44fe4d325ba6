"""The file channel: durability across restarts, checkpoints, files, locks, bad input."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from fchelpers import crash, drain, events, file_channel, put

from flafka.ack import AckTracker
from flafka.channels.file import FileChannel, records
from flafka.channels.file.checkpoint import NAME as CHECKPOINT
from flafka.channels.file.log import find_files
from flafka.errors import ChannelError, ConfigError
from flafka.event import Event
from flafka.settings import Settings


def test_defaults_are_flumes() -> None:
    settings, problems = FileChannel.settings_schema.parse({})
    assert problems == []
    assert settings["checkpointDir"] == "~/.flume/file-channel/checkpoint"
    assert settings["dataDirs"] == "~/.flume/file-channel/data"
    assert (settings["capacity"], settings["transactionCapacity"]) == (1000000, 10000)
    assert (settings["checkpointInterval"], settings["maxFileSize"], settings["minimumRequiredSpace"]) == (30000, 2146435071, 524288000)
    assert (settings["keep-alive"], settings["checkpointOnClose"], settings["fsyncPerTransaction"], settings["fsyncInterval"]) == (
        3,
        True,
        True,
        5,
    )
    ch = FileChannel("fc", settings)
    assert ch.checkpoint_dir == os.path.expanduser("~/.flume/file-channel/checkpoint")
    assert ch.data_dirs == [os.path.expanduser("~/.flume/file-channel/data")]


def test_every_flume_key_is_accepted() -> None:
    raw = {
        "checkpointDir": "/c", "dataDirs": "/d1,/d2", "capacity": "10", "transactionCapacity": "5", "checkpointInterval": "1000",
        "maxFileSize": "100000", "minimumRequiredSpace": "2000000", "keep-alive": "1", "useDualCheckpoints": "true",
        "backupCheckpointDir": "/b", "checkpointOnClose": "false", "fsyncPerTransaction": "true", "fsyncInterval": "2",
        "use-fast-replay": "true", "use-log-replay-v1": "true", "compressBackupCheckpoint": "false",
    }  # fmt: skip
    settings, problems = FileChannel.settings_schema.parse(raw)
    assert [p for p in problems if p.severity == "error"] == []
    assert not [p for p in FileChannel.check_settings(settings) if p.severity == "error"]
    warned = {p.key for p in FileChannel.check_settings(settings) if p.severity == "warning"}
    assert {"use-fast-replay", "use-log-replay-v1"} <= warned


def test_encryption_is_refused_clearly() -> None:
    settings, problems = FileChannel.settings_schema.parse(
        {"encryption.activeKey": "key-0", "encryption.cipherProvider": "AESCTRNOPADDING"}
    )
    assert problems == []
    errors = [p for p in FileChannel.check_settings(settings) if p.severity == "error"]
    assert errors and "not supported" in errors[0].message and "encrypt the file system" in errors[0].suggestion
    with pytest.raises(ConfigError, match="not supported"):
        FileChannel("fc", settings)


def test_dual_checkpoints_need_a_backup_dir() -> None:
    settings, _ = FileChannel.settings_schema.parse({"useDualCheckpoints": "true"})
    assert any(p.key == "backupCheckpointDir" and p.severity == "error" for p in FileChannel.check_settings(settings))


def test_restart_holds_exactly_committed_puts_minus_committed_takes(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    put(ch, 0, 50)
    put(ch, 50, 50)
    tx = ch.put_transaction()
    tx.put(events(1000, 5))
    tx.rollback()
    take = ch.take_transaction()
    assert len(take.take(30)) == 30
    take.commit()
    open_take = ch.take_transaction()
    assert len(open_take.take(10)) == 10  # taken, never committed: must come back
    crash(ch)
    ch = file_channel(root)
    ch.start()
    assert ch.size() == 70
    assert drain(ch) == list(range(30, 100))
    ch.stop()


def test_take_rollback_returns_events_to_the_head(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    put(ch, 0, 20)
    tx = ch.take_transaction()
    tx.take(7)
    tx.rollback()
    assert drain(ch, 5) == list(range(20))
    ch.stop()


def test_headers_and_bodies_survive_a_restart(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    sent = [Event(b"", {"a": "1"}), Event(bytes(range(256)), {}), Event("ü".encode(), {"k": "v", "x": "", "ключ": "\udcff"})]
    with ch.put_transaction() as tx:
        tx.put(sent)
    crash(ch)
    ch = file_channel(root)
    ch.start()
    tx = ch.take_transaction()
    got = tx.take(10)
    tx.commit()
    assert [(e.body, e.headers) for e in got] == [(e.body, e.headers) for e in sent]
    ch.stop()


def test_durable_channel_pays_acknowledgements_at_put_commit(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    tracker = AckTracker()
    token = tracker.token("batch-1")
    tx = ch.put_transaction()
    tx.put(events(0, 5), token)
    token.add(5)
    assert tracker.delivered() == []
    tx.commit()
    token.release()
    assert ch.durable and tracker.delivered() == ["batch-1"]
    ch.stop()


def test_concurrent_commits_share_syncs(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    writer = ch._writer
    assert writer is not None
    before = writer.syncs
    threads = [threading.Thread(target=lambda k=k: [put(ch, k * 10000 + i * 10, 10) for i in range(50)]) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    syncs = writer.syncs - before
    assert ch.size() == 4000
    assert syncs < 400, f"{syncs} syncs for 400 commits: no group commit"
    assert ch.counter.snapshot()["LogSyncCount"] == writer.syncs
    ch.stop()


def test_files_roll_over_data_dirs_in_turn_and_checkpoint_deletes_used_ones(root: Path) -> None:
    ch = file_channel(root, maxFileSize="4096")
    ch.start()
    for i in range(40):
        put(ch, i * 10, 10)
    files = find_files(ch.data_dirs)
    assert len(files) >= 3
    assert {os.path.dirname(p) for p in files.values()} == set(ch.data_dirs)
    assert drain(ch) == list(range(400))
    assert ch.checkpoint()
    left = find_files(ch.data_dirs)
    assert len(left) <= 1, left
    put(ch, 400, 10)
    crash(ch)
    ch = file_channel(root, maxFileSize="4096")
    ch.start()
    assert drain(ch) == list(range(400, 410))
    ch.stop()


def test_checkpoint_bounds_replay(root: Path) -> None:
    ch = file_channel(root)
    ch.start()
    for i in range(200):
        put(ch, i * 5, 5)
    assert ch.checkpoint()
    put(ch, 1000, 5)
    crash(ch)
    ch = file_channel(root)
    ch.start()
    from flafka.channels.file.replay import replay

    result = replay("fc", ch.io, [str(root / "x")], [])  # nothing there: a smoke check of the empty case
    assert result.live.records == {}
    assert ch.size() == 1005
    ch.stop()
    # the replay after the checkpoint read only the records written after it
    ch = file_channel(root, checkpointOnClose="false")
    ch.start()
    crash(ch)
    from flafka.channels.file.replay import replay as rp

    again = rp("fc", ch.io, ch.data_dirs, [ch.checkpoint_dir])
    assert again.used_checkpoint and again.records_read == 0
    assert again.live.events() == 1005


def test_bad_checkpoint_falls_back_to_full_replay(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    ch = file_channel(root)
    ch.start()
    put(ch, 0, 10)
    ch.stop()
    path = root / "checkpoint" / CHECKPOINT
    data = bytearray(path.read_bytes())
    data[4] = 9  # another format version
    path.write_bytes(bytes(data))
    ch = file_channel(root)
    with caplog.at_level(logging.WARNING):
        ch.start()
    assert "format version 9" in caplog.text and "replaying the data files" in caplog.text
    assert drain(ch) == list(range(10))
    ch.stop()


def test_dual_checkpoints_use_the_backup_when_the_main_one_is_damaged(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = {"useDualCheckpoints": "true", "backupCheckpointDir": str(root / "backup")}
    ch = file_channel(root, **keys)
    ch.start()
    put(ch, 0, 10)
    ch.stop()
    assert (root / "backup" / CHECKPOINT).exists()
    (root / "checkpoint" / CHECKPOINT).write_bytes(b"FCCK garbage")
    ch = file_channel(root, **keys)
    with caplog.at_level(logging.INFO):
        ch.start()
    assert "backup" in caplog.text
    assert drain(ch) == list(range(10))
    ch.stop()


def test_torn_tail_is_cut_back_with_a_log_line(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    ch = file_channel(root)
    ch.start()
    put(ch, 0, 10)
    put(ch, 10, 10)
    crash(ch)
    (path,) = find_files([str(root / "data1"), str(root / "data2")]).values()
    size = os.path.getsize(path)
    with open(path, "ab") as fh:  # half of a third put record: never committed
        fh.write(records.frame_header(records.PUT, b"x" * 100) + b"x" * 40)
    ch = file_channel(root)
    with caplog.at_level(logging.WARNING):
        ch.start()
    assert f"{path}: cut a torn record at offset {size}" in caplog.text
    assert os.path.getsize(path) == size
    assert ch.counter.events_lost_count == 0
    put(ch, 20, 5)
    assert drain(ch) == list(range(25))
    ch.stop()


def test_damage_in_the_middle_is_reported_set_aside_and_counted(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    ch = file_channel(root, checkpointOnClose="false")
    ch.start()
    for i in range(5):
        put(ch, i * 10, 10)
    crash(ch)
    (path,) = find_files([str(root / "data1"), str(root / "data2")]).values()
    original = Path(path).read_bytes()
    second = original.find(records.MAGIC, original.find(records.MAGIC, len(records.file_header(1))) + 1)
    damaged = bytearray(original)
    damaged[second + 20 : second + 30] = b"\xff" * 10  # inside the second put record
    Path(path).write_bytes(bytes(damaged))
    ch = file_channel(root)
    with caplog.at_level(logging.WARNING):
        ch.start()
    assert "is damaged" in caplog.text and "10 committed events were lost" in caplog.text
    assert ch.counter.events_lost_count == 10
    assert ch.counter.snapshot()["EventsLostCount"] == 10
    aside = list((Path(path).parent / "damaged").iterdir())
    assert any(p.suffix == ".txt" for p in aside)
    copy = next(p for p in aside if p.suffix != ".txt")
    assert copy.read_bytes() == bytes(damaged)
    assert drain(ch) == list(range(10)) + list(range(20, 50))
    crash(ch)
    caplog.clear()
    ch = file_channel(root)
    with caplog.at_level(logging.WARNING):
        ch.start()
    assert "damaged" not in caplog.text  # covered by a skip record: not reported again
    assert ch.size() == 0
    ch.stop()


def test_a_second_agent_on_the_same_dirs_is_refused_naming_the_first_pid(root: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from fchelpers import file_channel\n"
        "ch = file_channel(Path(sys.argv[2])); ch.start(); print('started', flush=True); sys.stdin.read(); ch.stop()\n"
    )
    first = subprocess.Popen(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert first.stdout is not None and first.stdout.readline() == b"started\n"
        second = file_channel(root)
        with pytest.raises(ConfigError, match=rf"checkpointDir .* is in use by process {first.pid} \(lock .*flafka.lock\)"):
            second.start()
    finally:
        first.communicate(b"", timeout=30)
    second.start()  # the first one stopped: the lock is free
    third = file_channel(root)
    with pytest.raises(ConfigError, match=rf"another file channel of this agent \(process {os.getpid()}\)"):
        third.start()
    second.stop()


def test_a_flume_directory_is_refused_and_left_untouched(root: Path) -> None:
    ckpt = root / "checkpoint"
    ckpt.mkdir()
    for name in ("checkpoint", "checkpoint.meta", "inflightputs", "inflighttakes", "in_use.lock"):
        (ckpt / name).write_bytes(b"flume " + name.encode())
    data = root / "data1"
    data.mkdir()
    (data / "log-1").write_bytes(b"flume log")
    (data / "log-1.meta").write_bytes(b"flume meta")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    ch = file_channel(root)
    with pytest.raises(ConfigError, match="Apache Flume file-channel files"):
        ch.start()
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    assert not (root / "data2").exists()


def test_unwritable_data_dir_is_a_clear_error(root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    (root / "data1").mkdir()
    os.chmod(root / "data1", 0o500)
    ch = file_channel(root)
    with pytest.raises(ConfigError, match="not writable"):
        ch.start()


def test_data_dir_that_is_a_file_is_a_clear_error(root: Path) -> None:
    (root / "data1").write_text("x")
    ch = file_channel(root)
    with pytest.raises(ConfigError, match=r"data1 cannot be created|is not a directory"):
        ch.start()


def test_capacity_and_transaction_capacity(root: Path) -> None:
    ch = file_channel(root, capacity="20", transactionCapacity="10")
    ch.start()
    with pytest.raises(ChannelError, match="transactionCapacity"), ch.put_transaction() as tx:
        tx.put(events(0, 11))
    put(ch, 0, 10)
    put(ch, 10, 10)
    from flafka.errors import ChannelFullError

    with pytest.raises(ChannelFullError, match="capacity 20"):
        put(ch, 20, 1)
    assert drain(ch) == list(range(20))
    ch.stop()


def test_large_backlog_is_read_back_from_the_log(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka.channels.file import channel as module

    monkeypatch.setattr(module, "CACHE_BYTES", 2000)
    ch = file_channel(root)
    ch.start()
    for i in range(30):
        put(ch, i * 10, 10)
    assert any(c[0] is None for c in ch._queue)
    assert drain(ch, 7) == list(range(300))
    ch.stop()


def test_settings_object_is_kept(root: Path) -> None:
    ch = file_channel(root)
    assert isinstance(ch.settings, Settings)


def test_interval_sync_returns_before_the_sync_and_syncs_every_interval(root: Path) -> None:
    ch = file_channel(root, fsyncPerTransaction="false", fsyncInterval="1")
    ch.start()
    writer = ch._writer
    assert writer is not None
    for i in range(20):
        put(ch, i * 5, 5)
    assert writer.syncs == 0, "fsyncPerTransaction = false must not sync per commit"
    import time

    deadline = time.monotonic() + 5
    while writer.syncs == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.syncs >= 1
    assert ch.checkpoint()  # a checkpoint syncs the log first
    crash(ch)
    ch = file_channel(root)
    ch.start()
    assert drain(ch) == list(range(100))
    ch.stop()


def test_a_file_truncated_by_hand_below_the_checkpoint_is_counted(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    ch = file_channel(root)
    ch.start()
    for i in range(4):
        put(ch, i * 10, 10)
    ch.stop()  # checkpoint: the records are known from it, not re-read
    (path,) = find_files([str(root / "data1"), str(root / "data2")]).values()
    data = Path(path).read_bytes()
    third = data.find(records.MAGIC, data.find(records.MAGIC, data.find(records.MAGIC, 1) + 1) + 1)
    Path(path).write_bytes(data[: third + 5])  # cut inside the third put record
    ch = file_channel(root)
    with caplog.at_level(logging.WARNING):
        ch.start()
    assert "shorter than the checkpoint recorded" in caplog.text and "20 events it held are lost" in caplog.text
    assert ch.counter.events_lost_count == 20
    assert drain(ch) == list(range(20))
    ch.stop()


def test_writer_waits_for_an_open_transaction_to_share_its_sync(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka.channels.file import log as log_module

    monkeypatch.setattr(log_module, "LINGER", 5.0)
    ch = file_channel(root)
    ch.start()
    put(ch, 0, 10)
    writer = ch._writer
    assert writer is not None
    writer._sync_time = 10.0  # syncs look slow: lingering pays
    take = ch.take_transaction()
    assert len(take.take(10)) == 10  # an open transaction that will commit soon
    before = writer.syncs
    putter = threading.Thread(target=put, args=(ch, 10, 10))
    putter.start()
    import time

    deadline = time.monotonic() + 10
    while not writer.pending and time.monotonic() < deadline:  # the put is queued; the writer lingers
        time.sleep(0.01)
    assert writer.pending
    take.commit()
    putter.join(10)
    assert writer.syncs - before == 1, "the put and the take commit did not share one sync"
    assert drain(ch) == list(range(10, 20))
    ch.stop()
