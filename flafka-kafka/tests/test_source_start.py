"""Where the Kafka source starts reading a newly assigned partition: at the group's
committed offset, else at ``auto.offset.reset`` — now set by the source itself
(:func:`flafka_kafka.source.start_positions`) for partitions without a committed offset.
Real broker; plus the fallbacks with a fake consumer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from flafka.event import Event
from flafka.testing import make
from flafka_kafka import cimpl
from flafka_kafka.source import KafkaSource, start_positions
from flafka_testkit.contracts.harness import SourceHarness


def _produce(bootstrap: str, topic: str, partition: int, values: list[bytes]) -> None:
    producer = cimpl.load().Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for v in values:
        producer.produce(topic, v, partition=partition)
    assert producer.flush(30) == 0


def _commit(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    kafka = cimpl.load()
    c = kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[kafka.TopicPartition(topic, partition, offset)], asynchronous=False)
    finally:
        c.close()


def _source(bootstrap: str, topic: str, group: str, reset: str, stop_later: Callable[[Any], Any], **raw: str) -> SourceHarness:
    source = make(
        KafkaSource,
        "s",
        **{
            "kafka.bootstrap.servers": bootstrap,
            "kafka.topics": topic,
            "kafka.consumer.group.id": group,
            "kafka.consumer.auto.offset.reset": reset,
            "batchSize": "50",
            "batchDurationMillis": "100",
            **raw,
        },
    )
    harness = SourceHarness(source, acknowledgements=True)
    source.start()
    stop_later(source)
    return harness


def _read(harness: SourceHarness, want: int, timeout: float = 30.0) -> list[Event]:
    got: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        harness.poll(lambda: harness.channel.size() > 0, 0.5)
        got.extend(harness.take_all())
    harness.poll(lambda: False, 0.5)  # anything more would show now
    got.extend(harness.take_all())
    return got


@pytest.mark.integration
@pytest.mark.parametrize("strategy", ["cooperative-sticky", "range"])
def test_earliest_starts_uncommitted_partitions_at_the_log_start_and_committed_ones_at_their_offset(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any], strategy: str
) -> None:
    topic = new_topic(2)
    group = f"g-{topic}"
    _produce(kafka_bootstrap, topic, 0, [b"p0-%d" % i for i in range(10)])
    _produce(kafka_bootstrap, topic, 1, [b"p1-%d" % i for i in range(10)])
    _commit(kafka_bootstrap, group, topic, 0, 7)  # partition 0 committed at 7; partition 1 never
    harness = _source(kafka_bootstrap, topic, group, "earliest", stop_later, **{"kafka.consumer.partition.assignment.strategy": strategy})
    got = _read(harness, 13)
    bodies = sorted(e.body for e in got)
    assert bodies == sorted([b"p0-7", b"p0-8", b"p0-9", *(b"p1-%d" % i for i in range(10))])
    first = {(e.headers["partition"], e.headers["offset"]) for e in got if e.headers["partition"] == "0"}
    assert first == {("0", "7"), ("0", "8"), ("0", "9")}


@pytest.mark.integration
def test_latest_starts_a_new_group_at_the_log_end(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    _produce(kafka_bootstrap, topic, 0, [b"old-%d" % i for i in range(5)])
    harness = _source(kafka_bootstrap, topic, f"g-{topic}", "latest", stop_later)
    source = harness.source
    assert isinstance(source, KafkaSource)
    assert harness.poll(lambda: bool(source._assigned), 30), "the source was never assigned its partition"
    # Where reading starts is only observable by reading: produce probes until one arrives
    # (those produced before the start offset was resolved are skipped, as 'latest' says).
    got: list[Event] = []
    deadline = time.monotonic() + 30
    probe = 0
    while not got and time.monotonic() < deadline:
        _produce(kafka_bootstrap, topic, 0, [b"probe-%d" % probe])
        probe += 1
        got = _read(harness, 1, timeout=0.5)
    assert got, "no probe record arrived within 30 s"
    _produce(kafka_bootstrap, topic, 0, [b"new-%d" % i for i in range(3)])
    got += _read(harness, 3)
    bodies = [e.body for e in got]
    assert not [b for b in bodies if b.startswith(b"old-")], bodies
    assert [b for b in bodies if b.startswith(b"new-")] == [b"new-0", b"new-1", b"new-2"]


class _Partition:
    def __init__(self, topic: str, partition: int, offset: int = -1001, error: Any = None) -> None:
        self.topic, self.partition, self.offset, self.error = topic, partition, offset, error


class _Consumer:
    """Records what start_positions asks of a consumer."""

    def __init__(self, committed: list[_Partition] | Exception) -> None:
        self._committed = committed
        self.assigned: list[Any] | None = None
        self.incremental: list[Any] | None = None

    def committed(self, partitions: list[Any], timeout: float) -> list[_Partition]:
        if isinstance(self._committed, Exception):
            raise self._committed
        return self._committed

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = partitions

    def incremental_assign(self, partitions: list[Any]) -> None:
        self.incremental = partitions


def test_start_positions_sets_only_the_uncommitted_partitions_and_falls_back_to_librdkafka() -> None:
    kafka = cimpl.load()
    parts = [_Partition("t", 0), _Partition("t", 1)]
    cooperative = {"auto.offset.reset": "earliest", "partition.assignment.strategy": "cooperative-sticky"}
    c = _Consumer([_Partition("t", 0, 42), _Partition("t", 1)])
    assert start_positions(c, parts, cooperative)
    assert c.incremental is not None and c.assigned is None
    started = [(tp.topic, tp.partition, tp.offset) for tp in c.incremental]
    assert started == [("t", 0, kafka.OFFSET_INVALID), ("t", 1, kafka.OFFSET_BEGINNING)]
    c = _Consumer([_Partition("t", 0), _Partition("t", 1)])
    assert start_positions(c, parts, {"auto.offset.reset": "largest", "partition.assignment.strategy": "range"})
    assert c.assigned is not None and [tp.offset for tp in c.assigned] == [kafka.OFFSET_END, kafka.OFFSET_END]
    assert start_positions(_Consumer([_Partition("t", 0), _Partition("t", 1)]), parts, {})  # librdkafka's default: largest
    # librdkafka starts the partitions itself: every partition committed, a lookup that
    # failed (or whose partition reported an error), auto.offset.reset = error, nothing assigned
    for consumer, conf in (
        (_Consumer([_Partition("t", 0, 1), _Partition("t", 1, 2)]), cooperative),
        (_Consumer(RuntimeError("coordinator moved")), cooperative),
        (_Consumer([_Partition("t", 0, error="NOT_COORDINATOR"), _Partition("t", 1, 3)]), cooperative),
        (_Consumer([_Partition("t", 0), _Partition("t", 1)]), {"auto.offset.reset": "error"}),
    ):
        assert not start_positions(consumer, parts, conf)
        assert consumer.assigned is None and consumer.incremental is None
    assert not start_positions(_Consumer([]), [], cooperative)
