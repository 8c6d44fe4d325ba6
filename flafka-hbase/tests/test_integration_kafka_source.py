"""Kafka source → memory → hbase2 end to end (needs flafka-kafka, a test-only dependency:
skipped without it): every record becomes a row, read back with an independent client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit.agent import start_agent_from_text

pytestmark = pytest.mark.integration


def test_kafka_source_memory_hbase2_every_record_a_row(
    tmp_path: Path, kafka_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Any
) -> None:
    pytest.importorskip("flafka_kafka")
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"hb-{time.time_ns()}"
    admin = AdminClient({"bootstrap.servers": kafka_service.address})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    table = new_table("cf")
    producer = Producer({"bootstrap.servers": kafka_service.address})
    want = {}
    for i in range(5000):
        producer.produce(topic, f"{i:06d}|host{i % 7}|message {i}".encode())
        want[f"{i:06d}".encode()] = {b"cf:host": f"host{i % 7}".encode(), b"cf:msg": f"message {i}".encode()}
        producer.poll(0)
    assert producer.flush(30) == 0
    agent = start_agent_from_text(
        f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {kafka_service.address}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = g-{topic}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 500
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 500
a1.sinks.k1.type = hbase2
a1.sinks.k1.table = {table}
a1.sinks.k1.columnFamily = cf
a1.sinks.k1.batchSize = 500
a1.sinks.k1.thrift.servers = {hbase_address}
a1.sinks.k1.serializer = RegexHBase2EventSerializer
a1.sinks.k1.serializer.regex = ([0-9]+)\\\\|([^|]*)\\\\|(.*)
a1.sinks.k1.serializer.colNames = ROW_KEY,host,msg
a1.sinks.k1.serializer.rowKeyIndex = 0
a1.sinks.k1.channel = c1
""",
        "a1",
        tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        rows: list[Any] = []
        while time.monotonic() < deadline and len(rows) < len(want):
            time.sleep(1)
            rows = scan_table(table)
    finally:
        agent.stop()
    assert dict(rows) == want
