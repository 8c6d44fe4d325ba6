"""KafkaSource.backlog(): the lag of its assigned partitions for progress reports, against
a real broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flafka.backlog import Backlog
from flafka.progress import ProgressReporter
from flafka.testing import make
from flafka_kafka.source import KafkaSource
from flafka_testkit.contracts.harness import SourceHarness


def test_backlog_is_the_lag_of_the_assigned_partitions(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    from confluent_kafka import Producer

    topic = new_topic(4)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(400):
        producer.produce(topic, b"%03d" % i, partition=i % 4)
    assert producer.flush(30) == 0
    source = make(
        KafkaSource,
        "s",
        **{
            "kafka.bootstrap.servers": kafka_bootstrap,
            "kafka.topics": topic,
            "kafka.consumer.group.id": f"g-{topic}",
            "kafka.consumer.auto.offset.reset": "earliest",
            "batchSize": "50",
            "batchDurationMillis": "100",
        },
    )
    harness = SourceHarness(source)
    assert source.backlog() is None  # not started
    source.start()
    stop_later(source)

    def partly_read() -> bool:
        backlog = source.backlog()
        return backlog is not None and "(4 partitions)" in backlog.detail and 0 < backlog.done < 400

    assert harness.poll(partly_read, 30), source.backlog()
    backlog = source.backlog()
    assert isinstance(backlog, Backlog) and backlog.unit == "events"
    assert backlog.done == harness.channel.size() == source.counter.event_received_count
    assert backlog.total == 400, backlog
    assert backlog.detail == f"{topic} lag {400 - backlog.done:,} (4 partitions)"

    assert harness.poll(lambda: harness.channel.size() >= 400, 30)
    reporter = ProgressReporter(lambda: {"s": source}, terminal=False)
    (state,) = reporter.sample()
    assert state.backlog == Backlog(400, 400, "events", f"{topic} lag 0 (4 partitions)")
    assert state.line().startswith(f"source s (kafka): 100.0%, 400/400 events, {topic} lag 0 (4 partitions), ")
