"""A take commit that fails with a ChannelError (a file channel below
``minimumRequiredSpace``, a failed write of its take record) is a retriable sink failure
with the channel's reason, never "raised unexpectedly" with a traceback: the runner backs
off and retries, and the events are taken again once the channel commits."""

from __future__ import annotations

from typing import Any

import pytest

from flafka.channels.memory import MemoryChannel
from flafka.errors import ChannelError
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.runtime import SinkDriver, SinkFailure
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink
from flafka.source import Status
from flafka.testing import make


class RefusingCommitChannel(MemoryChannel):
    """A memory channel whose take commits fail (rolled back instead) while ``refuse``."""

    type_name = "test_refusing_commit"

    def __init__(self, name: str, settings: Any) -> None:
        super().__init__(name, settings)
        self.refuse = True

    def take_transaction(self) -> Any:
        inner = super().take_transaction()
        channel = self

        class Tx:
            def take(self, n: int) -> list[Event]:
                return inner.take(n)

            def commit(self) -> None:
                if channel.refuse:
                    inner.rollback()
                    raise ChannelError("channel 'c': usable space below minimumRequiredSpace")
                inner.commit()

            def rollback(self) -> None:
                inner.rollback()

        return Tx()


class ListSink(Sink):
    settings_schema = Schema(Setting("batchSize", "int", 10))

    def write(self, events: list[Event]) -> BatchOutcome | None:
        self.got.extend(e.body for e in events)
        return None


def test_a_failed_take_commit_is_a_retriable_sink_failure_and_the_events_come_again() -> None:
    channel = make(RefusingCommitChannel, "c", capacity=100, transactionCapacity=10)
    channel.start()
    sink = make(ListSink, "k", batchSize=10)
    sink.got = []
    sink.channel = channel
    sink.counter = SinkCounter("k")
    sink.start()
    with channel.put_transaction() as tx:
        tx.put([Event(b"1"), Event(b"2")])
    driver = SinkDriver(sink)
    with pytest.raises(SinkFailure) as failure:
        driver.drive()
    assert failure.value.retriable
    assert "minimumRequiredSpace" in str(failure.value)
    assert sink.counter.channel_read_fail == 1 and sink.counter.event_drain_success_count == 0
    assert channel.size() == 2
    channel.refuse = False
    assert driver.drive() is Status.READY
    assert sink.counter.event_drain_success_count == 2 and channel.size() == 0
    assert sink.got == [b"1", b"2", b"1", b"2"]  # delivered twice: at least once, never lost
