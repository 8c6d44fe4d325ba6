"""Fixtures for flafka-kafka's tests.

``kafka_bootstrap`` is the bootstrap address of the test kit's real broker
(``kafka_service``: ``FLAFKA_TEST_KAFKA``, Docker or a local broker). A broker that cannot
be had skips the test — or fails it when ``FLAFKA_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_service: Any) -> str:
    """The bootstrap servers of the test kit's broker (``kafka_service``: skips, or fails
    under ``FLAFKA_REQUIRE_SERVICES=1``, when no broker can be had)."""
    address = kafka_service.address
    assert address, f"the kafka_service fixture gave no address: {kafka_service!r}"
    return str(address)


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """``new_topic(partitions=1)``: create a fresh topic and wait until it is usable."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def create(partitions: int = 1, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = admin.list_topics(name, timeout=5)
            t = md.topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions and all(p.leader >= 0 for p in t.partitions.values()):
                return name
            time.sleep(0.1)
        raise AssertionError(f"topic {name} did not become ready")

    return create


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> Callable[..., list[Any]]:
    """``read_topic(topic, n, timeout=30)``: the first ``n`` records of every partition
    (from the beginning, no group commits), as confluent_kafka Messages, partition order
    then offset order."""
    from confluent_kafka import Consumer, TopicPartition

    def read(topic: str, n: int, timeout: float = 30.0) -> list[Any]:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            md = consumer.list_topics(topic, timeout=10)
            parts = sorted(md.topics[topic].partitions)
            consumer.assign([TopicPartition(topic, p, 0) for p in parts])
            out: list[Any] = []
            deadline = time.monotonic() + timeout
            while len(out) < n and time.monotonic() < deadline:
                for m in consumer.consume(min(10000, n - len(out)), 0.5):
                    if m.error() is None:
                        out.append(m)
            return sorted(out, key=lambda m: (m.partition(), m.offset()))
        finally:
            consumer.close()

    return read


@pytest.fixture
def produce_records(kafka_bootstrap: str) -> Callable[..., None]:
    """``produce_records(topic, values, key=None, headers=None)``: write raw records and wait for acks."""
    from confluent_kafka import Producer

    def produce(topic: str, values: list[bytes], key: str | None = None, headers: Any = None) -> None:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
        errors: list[Any] = []
        for v in values:
            producer.produce(topic, v, key, headers=headers, on_delivery=lambda err, msg: errors.append(err) if err else None)
            producer.poll(0)
        assert producer.flush(30) == 0
        assert errors == []

    return produce


@pytest.fixture
def stop_later() -> Iterator[Callable[[Any], Any]]:
    """Register components to stop at teardown (even when the test fails)."""
    items: list[Any] = []

    def add(component: Any) -> Any:
        items.append(component)
        return component

    yield add
    for c in reversed(items):
        try:
            c.stop()
        except Exception:
            pass
