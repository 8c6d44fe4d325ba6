"""Wiring used by the contract suites: a component plus real flafka runtime pieces (memory
channel, channel processor, sink driver), without an agent or threads, so each check
drives the data path step by step."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from flafka.ack import AckToken, AckTracker
from flafka.batch import AnyBatch, Batch
from flafka.channels.memory import MemoryChannel
from flafka.component import Component
from flafka.event import Event
from flafka.metrics.counters import SinkCounter, SourceCounter
from flafka.processor import ChannelProcessor
from flafka.runtime import SinkDriver, SinkFailure
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.sink import Sink
from flafka.source import PollableSource, Source, Status
from flafka.testing import make


def build(cls: type[Component], name: str, raw: Mapping[str, Any]) -> Any:
    """Construct ``cls`` from raw Flume keys; raise ConfigError listing every error."""
    return make(cls, name, **raw)


def memory_channel(capacity: int = 10_000, transaction_capacity: int = 1_000) -> MemoryChannel:
    channel = make(MemoryChannel, "contract-channel", capacity=capacity, transactionCapacity=transaction_capacity, **{"keep-alive": 0})
    channel.start()
    return channel


def put(channel: MemoryChannel, events: list[Event], batch: int = 1000) -> None:
    """Put ``events`` in transactions of ``batch``: the first, third, ... as column-wise
    :class:`~flafka.batch.Batch` objects (what spooldir, seq and the Kafka source emit),
    the others as ``list[Event]``, so a batch-aware sink meets both kinds (a sink that is
    not batch-aware always receives lists)."""
    for n, i in enumerate(range(0, len(events), batch)):
        part = events[i : i + batch]
        with channel.put_transaction() as tx:
            tx.put(part if n % 2 else columnar(part))


def columnar(events: list[Event]) -> Any:
    """The column-wise batch standing for ``events`` (header maps copied)."""
    maps = [dict(e.headers) if e.has_headers else None for e in events]
    return Batch([e.body for e in events], maps if any(maps) else None)


class SinkHarness:
    """A sink attached to a memory channel through the runtime's SinkDriver."""

    def __init__(self, sink: Sink, channel: MemoryChannel | None = None) -> None:
        self.sink = sink
        self.channel = channel or memory_channel()
        sink.channel = self.channel
        sink.counter = SinkCounter(sink.name, sink.type_name)
        self.driver = SinkDriver(sink)

    def drive_until_empty(self, timeout: float = 30.0, max_failures: int | None = None) -> list[SinkFailure]:
        """Drive batches until the channel is empty; return the failures met on the way.
        Gives up (returns) when ``timeout`` passes or after ``max_failures`` failures.
        Batches a pipelined sink still has in flight are completed (committed or rolled
        back) before it returns."""
        failures: list[SinkFailure] = []
        try:
            self._drive(failures, timeout, max_failures)
        finally:
            failures += self.driver.settle()
        return failures

    def _drive(self, failures: list[SinkFailure], timeout: float, max_failures: int | None) -> None:
        deadline = time.monotonic() + timeout
        while not self.channel.is_empty() and time.monotonic() < deadline:
            try:
                if self.driver.drive() is Status.BACKOFF:
                    break
            except SinkFailure as exc:
                failures.append(exc)
                if max_failures is not None and len(failures) >= max_failures:
                    break
                time.sleep(0.05)


class SourceHarness:
    """A source feeding a memory channel through the runtime's ChannelProcessor."""

    def __init__(self, source: Source, channel: MemoryChannel | None = None, acknowledgements: bool = True) -> None:
        self.source = source
        self.channel = channel or memory_channel()
        source.counter = SourceCounter(source.name, source.type_name)
        source.acks = AckTracker()
        selector = make(ReplicatingChannelSelector, "selector")
        selector.bind({self.channel.name: self.channel})
        processor = ChannelProcessor(selector, [], source.counter, acknowledgements=acknowledgements and source.replayable)
        source.processor = processor
        self.batch_sizes: list[int] = []
        """The size of every batch the source handed to ``process_batch``."""
        real = processor.process_batch

        def process_batch(events: AnyBatch, token: AckToken | None = None) -> None:
            self.batch_sizes.append(len(events))
            real(events, token)

        processor.process_batch = process_batch  # type: ignore[method-assign]

    def poll(self, until: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Call ``process()`` (pollable sources) until ``until()`` or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until():
                return True
            if isinstance(self.source, PollableSource):
                try:
                    status = self.source.process()
                except Exception:
                    status = Status.BACKOFF
                if status is Status.BACKOFF:
                    time.sleep(0.01)
            else:
                time.sleep(0.01)
        return until()

    def take_all(self, commit: bool = True) -> list[Event]:
        """Take everything in the channel; commit (acknowledge) or roll back."""
        out: list[Event] = []
        while True:
            tx = self.channel.take_transaction()
            got = tx.take(self.channel.tx_capacity)
            if not got:
                return out
            out.extend(got)
            if commit:
                tx.commit()
            else:
                tx.rollback()
                return out
