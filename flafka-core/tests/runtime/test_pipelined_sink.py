"""The sink driver with a pipelined sink (``max_pending_batches`` > 1): batches are sent
before earlier ones are acknowledged, each commits only after its own ``wait``, in order."""

from __future__ import annotations

import pytest

from flafka.channels.memory import MemoryChannel
from flafka.errors import RetriableError
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.runtime import SinkDriver, SinkFailure
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, PendingWrite, Sink
from flafka.source import Status
from flafka.testing import make


class Pending(PendingWrite):
    def __init__(self, sink: PipelinedSink, events: list[Event]) -> None:
        self.sink = sink
        self.events = events
        self.result: BatchOutcome | Exception | None = None

    def wait(self) -> BatchOutcome | None:
        self.sink.log.append(("wait", self.events[0].body))
        if isinstance(self.result, Exception):
            raise self.result
        if self.result is None:
            self.sink.delivered += self.events
        return self.result


class PipelinedSink(Sink):
    type_name = "pipelined-test"
    max_pending_batches = 3
    settings_schema = Schema(Setting("batchSize", "int", 10, "events per batch"))

    def __init__(self, name: str, settings: object) -> None:
        super().__init__(name, settings)  # type: ignore[arg-type]
        self.log: list[tuple[str, bytes]] = []
        self.sent: list[Pending] = []
        self.delivered: list[Event] = []
        self.fail_send = False

    def send(self, events: list[Event]) -> PendingWrite:
        self.log.append(("send", events[0].body))
        if self.fail_send:
            raise RetriableError("destination refused the batch at once")
        pending = Pending(self, events)
        self.sent.append(pending)
        return pending

    def write(self, events: list[Event]) -> BatchOutcome | None:
        self.log.append(("write", events[0].body))
        self.delivered += events
        return None


def setup(
    n_batches: int, group: bool = False, channel_cls: type[MemoryChannel] = MemoryChannel
) -> tuple[SinkDriver, PipelinedSink, MemoryChannel]:
    channel = make(channel_cls, "c", capacity=1000, transactionCapacity=10)
    channel.start()
    for b in range(n_batches):
        with channel.put_transaction() as tx:
            tx.put([Event(b"%d-%d" % (b, i)) for i in range(10)])
    sink = make(PipelinedSink, "s", batchSize=10)
    sink.channel = channel
    sink.counter = SinkCounter("s")
    driver = SinkDriver(sink)
    if group:
        driver.hold_partial = False
    return driver, sink, channel


def test_up_to_max_pending_batches_are_sent_before_the_oldest_is_waited_for() -> None:
    driver, sink, channel = setup(5)
    assert driver.drive() is Status.READY
    assert driver.drive() is Status.READY
    assert sink.log == [("send", b"0-0"), ("send", b"1-0")]
    assert driver.in_flight == 2 and channel.size() == 30 and not channel.is_empty()
    driver.drive()  # the third send reaches max_pending_batches: the oldest completes
    assert sink.log[-2:] == [("send", b"2-0"), ("wait", b"0-0")]
    assert driver.in_flight == 2 and sink.counter.event_drain_success_count == 10
    while driver.drive() is Status.READY:
        pass
    assert [entry for entry in sink.log if entry[0] == "wait"] == [("wait", b"%d-0" % b) for b in range(5)]
    assert driver.in_flight == 0 and channel.is_empty()
    assert [e.body for e in sink.delivered] == [b"%d-%d" % (b, i) for b in range(5) for i in range(10)]


def test_a_failed_batch_rolls_back_alone_and_later_batches_still_commit() -> None:
    driver, sink, channel = setup(3)
    driver.drive()
    driver.drive()
    sink.sent[0].result = RetriableError("broker went away")
    with pytest.raises(SinkFailure, match="broker went away"):
        driver.drive()
    assert channel.size() == 10 and driver.in_flight == 2  # batch 0 back in the channel
    assert driver.settle() == []
    assert sink.counter.event_drain_success_count == 20 and sink.counter.event_write_fail == 10
    while driver.drive() is Status.READY:
        pass
    assert sorted(e.body for e in sink.delivered) == sorted(b"%d-%d" % (b, i) for b in range(3) for i in range(10))


def test_partly_delivered_batch_retries_only_its_failed_events_with_write() -> None:
    driver, sink, channel = setup(1)
    driver.drive()
    sink.sent[0].result = BatchOutcome(failed=[7, 8], error=RetriableError("two records timed out"))
    assert driver.settle() == []
    assert ("write", b"0-7") in sink.log and channel.is_empty()
    assert [e.body for e in sink.delivered] == [b"0-7", b"0-8"]  # the other 8 were delivered by the (fake) destination


def test_a_send_that_raises_completes_at_once() -> None:
    driver, sink, channel = setup(2)
    driver.drive()
    sink.fail_send = True
    with pytest.raises(SinkFailure, match="refused the batch at once"):
        driver.drive()
    assert driver.in_flight == 0 and channel.size() == 10
    assert sink.counter.event_drain_success_count == 10


def test_settle_returns_failures_and_leaves_nothing_open() -> None:
    driver, sink, channel = setup(2)
    driver.drive()
    driver.drive()
    for pending in sink.sent:
        pending.result = RetriableError("gone")
    failures = driver.settle()
    assert len(failures) == 2 and driver.in_flight == 0 and channel.size() == 20


def test_sink_groups_are_not_pipelined() -> None:
    driver, sink, _ = setup(2, group=True)
    driver.drive()
    assert driver.in_flight == 0 and sink.log == [("send", b"0-0"), ("wait", b"0-0")]


class NoConcurrentTakes(MemoryChannel):
    type_name = "memory-no-concurrent-takes"
    concurrent_takes = False


def test_channels_without_concurrent_takes_get_one_batch_at_a_time() -> None:
    driver, sink, _ = setup(2, channel_cls=NoConcurrentTakes)
    driver.drive()
    assert driver.in_flight == 0 and sink.log == [("send", b"0-0"), ("wait", b"0-0")]
