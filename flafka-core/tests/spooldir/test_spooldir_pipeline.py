"""spooldir through the real ChannelProcessor and MemoryChannel: acknowledgements,
back-pressure and a crash in the middle of a pipeline."""

from __future__ import annotations

from pathlib import Path

from flafka.ack import AckTracker
from flafka.channels.memory import MemoryChannel
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.source import Status
from flafka.sources.spooldir import SpoolDirectorySource
from flafka.testing import make


def pipeline(h, spool: Path, capacity: int = 1000, acks: bool = True, **extra: str) -> tuple[SpoolDirectorySource, MemoryChannel]:
    channel = make(MemoryChannel, "mem", capacity=capacity, transactionCapacity=100, **{"keep-alive": 0})
    channel.start()
    selector = make(ReplicatingChannelSelector, "sel")
    selector.bind({"mem": channel})
    src = SpoolDirectorySource("src", h.parse(spool, extra))
    src.counter = SourceCounter("src", "spooldir")
    src.acks = AckTracker()
    src.processor = ChannelProcessor(selector, [], src.counter, acknowledgements=acks)
    src.start()
    return src, channel


def take(channel: MemoryChannel, n: int = 100, commit: bool = True) -> list[bytes]:
    tx = channel.take_transaction()
    events = tx.take(n)
    if commit:
        tx.commit()
    else:
        tx.rollback()
    return [e.body for e in events]


def test_file_completes_only_after_the_sink_committed(h, spool: Path) -> None:
    h.write(spool / "f", b"a\nb\nc\n")
    src, channel = pipeline(h, spool)
    src.process()
    src.process()
    assert (spool / "f").exists()
    assert take(channel, commit=False) == [b"a", b"b", b"c"]  # sink failed: rolled back
    src.process()
    assert (spool / "f").exists() and not src.drained()
    assert take(channel) == [b"a", b"b", b"c"]
    src.process()
    assert (spool / "f.COMPLETED").exists() and src.drained()
    assert src.counter.event_accepted_count == 3


def test_without_acknowledgements_completion_follows_the_channel_commit(h, spool: Path) -> None:
    h.write(spool / "f", b"a\n")
    src, channel = pipeline(h, spool, acks=False)
    h.run(src)
    assert (spool / "f.COMPLETED").exists() and channel.size() == 1


def test_channel_full_backpressure_loses_and_duplicates_nothing(h, spool: Path) -> None:
    expected = [b"%d" % i for i in range(250)]
    h.write(spool / "f", b"".join(e + b"\n" for e in expected))
    src, channel = pipeline(h, spool, capacity=100, batchSize="30")
    got: list[bytes] = []
    for _ in range(200):
        if src.process() is Status.BACKOFF:
            got.extend(take(channel, 40))
        if src.drained():
            break
    got.extend(take(channel, 100))
    src.process()
    assert got == expected
    assert src.counter.channel_write_fail > 0
    assert (spool / "f.COMPLETED").exists() and src.drained()


def test_crash_with_events_in_a_memory_channel_replays_them(h, spool: Path) -> None:
    expected = [b"%d" % i for i in range(100)]
    h.write(spool / "f", b"".join(e + b"\n" for e in expected))
    src, channel = pipeline(h, spool, batchSize="10")
    for _ in range(10):
        src.process()
    delivered = take(channel, 35)  # 3.5 batches delivered; the rest dies with the process
    src.process()
    # SIGKILL: the channel's contents are lost; a new agent starts on the same spoolDir
    again, channel2 = pipeline(h, spool, batchSize="10")
    h.run(again)
    replay = take(channel2, 100)
    assert sorted(set(delivered + replay), key=int) == expected  # nothing lost
    assert len(delivered) + len(replay) - len(expected) <= 10  # duplicates: at most the half-taken batch
    again.process()
    assert (spool / "f.COMPLETED").exists()
