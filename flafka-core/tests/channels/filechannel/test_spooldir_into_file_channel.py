"""spooldir through the real ChannelProcessor into the file channel: the channel is
durable, so with end-to-end acknowledgements (the default) a file is done as soon as the
channel holds it — no sink has to deliver first — and its events survive a restart."""

from __future__ import annotations

from pathlib import Path

from fchelpers import crash, file_channel

from flafka.ack import AckTracker
from flafka.channels.file import FileChannel
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.source import Status
from flafka.sources.spooldir import SpoolDirectorySource
from flafka.testing import make


def source_into(channel: FileChannel, spool: Path, acks: bool) -> SpoolDirectorySource:
    selector = make(ReplicatingChannelSelector, "sel")
    selector.bind({"fc": channel})
    settings, problems = SpoolDirectorySource.settings_schema.parse({"spoolDir": str(spool), "batchSize": "2"})
    assert not [p for p in problems if p.severity == "error"]
    src = SpoolDirectorySource("src", settings)
    src.counter = SourceCounter("src", "spooldir")
    src.acks = AckTracker()
    src.processor = ChannelProcessor(selector, [], src.counter, acknowledgements=acks)
    src.start()
    return src


def run(src: SpoolDirectorySource) -> None:
    idle = 0
    for _ in range(1000):
        if src.process() is Status.BACKOFF:
            idle += 1
            if src.drained() or idle > 3:
                return
        else:
            idle = 0
    raise AssertionError("source never drained")


def test_file_is_done_once_the_durable_channel_holds_it(tmp_path: Path) -> None:
    for acks in (True, False):
        spool = tmp_path / f"spool-{acks}"
        spool.mkdir()
        (spool / "f").write_bytes(b"a\nb\nc\nd\ne\n")
        root = tmp_path / f"channel-{acks}"
        channel = file_channel(root)
        channel.start()
        src = source_into(channel, spool, acks)
        run(src)
        src.stop()
        assert (spool / "f.COMPLETED").exists(), f"acknowledgements={acks}: the file is not done though the channel holds it"
        assert channel.size() == 5  # nothing was taken: no sink delivered anything
        crash(channel)
        channel = file_channel(root)
        channel.start()
        tx = channel.take_transaction()
        assert [e.body for e in tx.take(10)] == [b"a", b"b", b"c", b"d", b"e"]
        tx.commit()
        channel.stop()
