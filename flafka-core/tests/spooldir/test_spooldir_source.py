"""The spooldir source: file choice, completion after delivery, back-pressure, resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flafka.source import Status
from flafka.sources.spooldir import POSITION_FILE


def lines(prefix: str, n: int) -> bytes:
    return b"".join(f"{prefix}{i}\n".encode() for i in range(n))


def test_oldest_first_ties_lexicographic(h, spool: Path) -> None:
    h.write(spool / "b", b"b\n", mtime=1000)
    h.write(spool / "a", b"a\n", mtime=1000)
    h.write(spool / "c", b"c\n", mtime=999)
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == [b"c", b"a", b"b"]


def test_youngest_first_and_random_reads_all(h, spool: Path) -> None:
    for i, name in enumerate("xyz"):
        h.write(spool / name, name.encode() + b"\n", mtime=1000 + i)
    src = h.make_source(spool, {"consumeOrder": "youngest"})
    h.run(src)
    assert h.fake(src).bodies() == [b"z", b"y", b"x"]
    for i in range(20):
        h.write(spool / f"r{i}", b"%d\n" % i)
    src = h.make_source(spool, {"consumeOrder": "random"})
    h.run(src)
    assert sorted(h.fake(src).bodies()) == sorted(b"%d" % i for i in range(20))


def test_skips_hidden_completed_ignored_and_own_dirs(h, spool: Path) -> None:
    h.write(spool / ".hidden", b"no\n")
    h.write(spool / "old.COMPLETED", b"no\n")
    h.write(spool / "x.tmp", b"no\n")
    h.write(spool / "notlog.txt", b"no\n")
    h.write(spool / "yes.log", b"yes\n")
    h.write(spool / "sub" / "deep.log", b"no\n")
    src = h.make_source(spool, {"includePattern": r".*\.(log|tmp)", "ignorePattern": r".*\.tmp"})
    h.run(src)
    assert h.fake(src).bodies() == [b"yes"]
    assert (spool / "x.tmp").exists() and (spool / "sub" / "deep.log").exists()


def test_patterns_match_the_whole_name(h, spool: Path) -> None:
    h.write(spool / "a.log.gz", b"no\n")
    h.write(spool / "a.log", b"yes\n")
    src = h.make_source(spool, {"includePattern": r".*\.log"})
    h.run(src)
    assert h.fake(src).bodies() == [b"yes"]


def test_recursive_search_skips_hidden_tracker_and_quarantine_dirs(h, spool: Path) -> None:
    h.write(spool / "sub" / "deep" / "f.log", b"deep\n")
    h.write(spool / ".hid" / "f.log", b"no\n")
    h.write(spool / "track" / "f.log", b"no\n")
    h.write(spool / "quar" / "f.log", b"no\n")
    src = h.make_source(spool, {"recursiveDirectorySearch": "true", "trackerDir": "track", "quarantineDir": "quar"})
    h.run(src)
    assert h.fake(src).bodies() == [b"deep"]
    assert (spool / "sub" / "deep" / "f.log.COMPLETED").exists()


def test_batches_positions_and_rename(h, spool: Path) -> None:
    h.write(spool / "f", lines("l", 25))
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    polls = [src.process() for _ in range(3)]
    assert polls == [Status.READY] * 3
    fake = h.fake(src)
    assert [len(b) for b in fake.batches] == [10, 10, 5]
    positions = [tok.position for tok, _ in fake.held]
    assert [(p[1], p[2], p[3]) for p in positions] == [(30, 10, False), (70, 20, False), (90, 25, True)]
    assert (spool / "f").exists()  # nothing delivered yet: not complete
    src.process()
    assert not (spool / "f.COMPLETED").exists()
    fake.deliver(2)
    src.process()
    assert not (spool / "f.COMPLETED").exists()
    assert json.loads((spool / ".flumespool" / POSITION_FILE).read_text())["files"][0]["offset"] == 70
    assert not src.drained()
    fake.deliver()
    src.process()
    assert (spool / "f.COMPLETED").exists() and not (spool / "f").exists()
    assert json.loads((spool / ".flumespool" / POSITION_FILE).read_text())["files"] == []
    assert src.drained() and src.files_completed == 1


def test_pipelines_next_file_while_earlier_acks_pend(h, spool: Path) -> None:
    h.write(spool / "a", b"a\n", mtime=1)
    h.write(spool / "b", b"b\n", mtime=2)
    src = h.make_source(spool, auto=False)
    src.process()
    src.process()
    assert h.fake(src).bodies() == [b"a", b"b"]
    assert (spool / "a").exists() and (spool / "b").exists()
    h.fake(src).deliver(1)
    src.process()
    assert (spool / "a.COMPLETED").exists() and (spool / "b").exists()
    h.fake(src).deliver()
    src.process()
    assert (spool / "b.COMPLETED").exists()


def test_delete_policy_immediate(h, spool: Path) -> None:
    h.write(spool / "f", b"x\n")
    src = h.make_source(spool, {"deletePolicy": "immediate"})
    h.run(src)
    assert h.fake(src).bodies() == [b"x"]
    assert set(os.listdir(spool)) == {".flumespool", ".flafka-quarantine"}


def test_tracker_dir_policy_marks_and_skips_on_restart(h, spool: Path) -> None:
    h.write(spool / "f", b"x\n")
    src = h.make_source(spool, {"trackingPolicy": "tracker_dir"})
    h.run(src)
    assert (spool / "f").exists() and (spool / ".flumespool" / "f.COMPLETED").exists()
    src.stop()
    again = h.make_source(spool, {"trackingPolicy": "tracker_dir"})
    h.run(again)
    assert h.fake(again).bodies() == []
    assert again.drained()


def test_tracker_dir_empty_flume_marker_counts_as_done(h, spool: Path) -> None:
    h.write(spool / "f", b"x\n")
    h.write(spool / ".flumespool" / "f.COMPLETED", b"")
    src = h.make_source(spool, {"trackingPolicy": "tracker_dir"})
    h.run(src)
    assert h.fake(src).bodies() == []


def test_headers(h, spool: Path) -> None:
    h.write(spool / "f.log", b"x\ny\n")
    src = h.make_source(spool, {"fileHeader": "true", "basenameHeader": "true", "basenameHeaderKey": "bn"})
    h.run(src)
    events = h.fake(src).batches[0]
    assert [e.headers for e in events] == [{"file": str(spool / "f.log"), "bn": "f.log"}] * 2
    assert events[0].headers is not events[1].headers
    h.write(spool / "g.log", b"z\n")
    src = h.make_source(spool, {"fileHeader": "true", "fileHeaderKey": "path"})
    h.run(src)
    assert h.fake(src).batches[0][0].headers == {"path": str(spool / "g.log")}
    h.write(spool / "k.log", b"z\n")
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).batches[0][0].headers == {}


def test_empty_file_completes_with_zero_events(h, spool: Path) -> None:
    h.write(spool / "empty", b"")
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).batches == [] and (spool / "empty.COMPLETED").exists()


def test_blob_deserializer_one_event_per_file(h, spool: Path) -> None:
    h.write(spool / "f", b"a\nb\n" * 3)
    src = h.make_source(spool, {"deserializer": "BLOB", "deserializer.maxBlobLength": "8"})
    h.run(src)
    assert h.fake(src).bodies() == [b"a\nb\na\nb\n", b"a\nb\n"]
    assert (spool / "f.COMPLETED").exists()


def test_channel_full_retries_same_batch_without_loss_or_duplicate(h, spool: Path) -> None:
    h.write(spool / "f", lines("l", 30))
    src = h.make_source(spool, {"batchSize": "10"})
    fake = h.fake(src)
    assert src.process() is Status.READY
    fake.fail = 2
    assert src.process() is Status.BACKOFF
    assert src.process() is Status.BACKOFF
    assert src.backoff_delay(1) == 0.25
    assert src.process() is Status.READY
    h.run(src)
    assert fake.bodies() == [b"l%d" % i for i in range(30)]
    assert fake.calls == 5
    assert (spool / "f.COMPLETED").exists()


def test_channel_full_on_last_batch_delays_completion(h, spool: Path) -> None:
    h.write(spool / "f", b"only\n")
    src = h.make_source(spool)
    h.fake(src).fail = 1
    assert src.process() is Status.BACKOFF
    assert (spool / "f").exists() and not src.drained()
    h.run(src)
    assert h.fake(src).bodies() == [b"only"] and (spool / "f.COMPLETED").exists()


def test_restart_after_crash_resumes_at_the_delivered_offset(h, spool: Path) -> None:
    h.write(spool / "a", lines("a", 50), mtime=1)
    h.write(spool / "b", lines("b", 5), mtime=2)
    src = h.make_source(spool, {"batchSize": "10"}, auto=False)
    for _ in range(6):
        src.process()
    fake = h.fake(src)
    assert len(fake.batches) == 6  # a: 5 batches, b: 1 batch
    fake.deliver(3)  # a0..a29 delivered
    src.process()
    delivered = fake.bodies()[:30]
    # crash: no stop(); a new instance reads the position file
    again = h.make_source(spool, {"batchSize": "10"})
    h.run(again)
    replay = h.fake(again).bodies()
    assert replay == [b"a%d" % i for i in range(30, 50)] + [b"b%d" % i for i in range(5)]
    assert delivered + replay == [b"a%d" % i for i in range(50)] + [b"b%d" % i for i in range(5)]
    assert (spool / "a.COMPLETED").exists() and (spool / "b.COMPLETED").exists()


def test_stop_writes_positions_and_restart_has_no_duplicates(h, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka.sources import spooldir

    monkeypatch.setattr(spooldir, "WRITE_INTERVAL", 3600.0)
    h.write(spool / "a", lines("a", 40))
    src = h.make_source(spool, {"batchSize": "10"})
    src.process()
    src.process()
    src.process()  # collects the first two deliveries; the throttled write waits
    src.stop()
    again = h.make_source(spool, {"batchSize": "10"})
    h.run(again)
    assert h.fake(src).bodies() + h.fake(again).bodies() == [b"a%d" % i for i in range(40)]


def test_crash_between_rename_and_position_write_drops_stale_entry(h, spool: Path) -> None:
    h.write(spool / "a", b"x\n")
    pos = spool / ".flumespool" / POSITION_FILE
    pos.parent.mkdir()
    st = (spool / "a").stat()
    entry = {"path": "a", "inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "offset": 2, "lines": 1}
    pos.write_text(json.dumps({"version": 1, "files": [entry]}))
    (spool / "a").rename(spool / "a.COMPLETED")
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == [] and json.loads(pos.read_text())["files"] == []


def test_corrupt_position_file_is_set_aside(h, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    pos = spool / ".flumespool" / POSITION_FILE
    h.write(pos, b"{not json")
    h.write(spool / "a", b"x\n")
    src = h.make_source(spool)
    h.run(src)
    assert h.fake(src).bodies() == [b"x"]
    assert "cannot be read" in caplog.text
    assert any(p.name.startswith(POSITION_FILE + ".corrupt") for p in pos.parent.iterdir())


def test_drained(h, spool: Path) -> None:
    src = h.make_source(spool, auto=False)
    assert src.drained()
    h.write(spool / "a", b"x\n")
    assert not src.drained()
    src.process()
    assert not src.drained()  # in flight
    h.fake(src).deliver()
    assert not src.drained()  # delivered, not yet completed
    src.process()
    assert src.drained()


def test_long_line_is_cut_counted_and_logged_once(h, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    h.write(spool / "long.log", b"short\n" + b"x" * 25 + b"\n" + b"y" * 11 + b"\n")
    src = h.make_source(spool, {"deserializer.maxLineLength": "10"})
    h.run(src)
    assert h.fake(src).bodies() == [b"short", b"x" * 10, b"x" * 10, b"x" * 5, b"y" * 10, b"y"]
    assert src.lines_cut == 2
    assert src.counter.errors[("line_cut", "receiving")] == 2
    cut_logs = [r.getMessage() for r in caplog.records if "deserializer.maxLineLength" in r.getMessage()]
    assert len(cut_logs) == 1
    assert "line 2" in cut_logs[0] and "long.log" in cut_logs[0] and "25 characters" in cut_logs[0]


def test_replace_policy_counts_and_logs(h, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    h.write(spool / "f", b"a\xff\nb\xfe\n")
    src = h.make_source(spool, {"decodeErrorPolicy": "REPLACE"})
    h.run(src)
    assert h.fake(src).bodies() == ["a\ufffd".encode(), "b\ufffd".encode()]
    assert src.lines_repaired == 2 and "replaced" in caplog.text
    assert src.counter.errors[("line_repaired", "receiving")] == 2


def test_ignore_policy(h, spool: Path) -> None:
    h.write(spool / "f", b"a\xff\n")
    src = h.make_source(spool, {"decodeErrorPolicy": "IGNORE"})
    h.run(src)
    assert h.fake(src).bodies() == [b"a"] and (spool / "f.COMPLETED").exists()


def test_latin1_files(h, spool: Path) -> None:
    h.write(spool / "f", "é\n".encode("latin-1"))
    src = h.make_source(spool, {"inputCharset": "ISO-8859-1"})
    h.run(src)
    assert h.fake(src).bodies() == ["é".encode()]
