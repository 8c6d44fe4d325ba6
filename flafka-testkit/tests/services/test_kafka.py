"""Kafka test service: a real produce/consume round trip through the broker the kit starts."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


def test_produce_consume_round_trip(kafka_service):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"flafka-smoke-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_service.address})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)

    producer = Producer({"bootstrap.servers": kafka_service.address, "acks": "all"})
    sent = [f"event-{i}".encode() for i in range(100)] + [b"", b"\x00\xff binary"]
    for i, body in enumerate(sent):
        producer.produce(topic, value=body, key=str(i).encode(), headers=[("h", b"v")])
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": kafka_service.address, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received: list[bytes] = []
    try:
        for _ in range(120):  # bounded: 120 polls of at most 1 s
            msg = consumer.poll(1.0)
            if msg is None:
                if len(received) >= len(sent):
                    break
                continue
            assert msg.error() is None, msg.error()
            received.append(msg.value() or b"")
            assert msg.headers() == [("h", b"v")]
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert received == sent


def test_advertises_loopback_only(kafka_service):
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": kafka_service.address}).list_topics(timeout=10)
    assert metadata.brokers
    assert {b.host for b in metadata.brokers.values()} == {"127.0.0.1"}


def test_status_and_idempotent_start(kafka_service):
    assert kafka_service.is_ready()
    assert kafka_service.start() is False  # already running: returns at once
    status = kafka_service.status()
    assert status.ready and status.address == kafka_service.address
