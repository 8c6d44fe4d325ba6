"""Kafka source -> memory -> Kudu with the Regexp producer (a Flume configuration, Flume's
class names), rows read back with ``kudu table scan``. Needs flafka-kafka (only for this
test: flafka-kudu does not depend on it) and the kit's Kafka broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit.agent import start_agent_from_text

pytest.importorskip("flafka_kafka")


def test_kafka_to_kudu_with_the_regexp_producer(
    tmp_path: Path, kafka_service: Any, kudu_master: str, new_table: Callable[..., str], scan: Callable[[str], list[dict[str, Any]]]
) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = str(kafka_service.address)
    topic = f"kudu-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    table = new_table([("id", "INT64", False), ("name", "STRING", True), ("score", "DOUBLE", True)], ["id"])
    producer = Producer({"bootstrap.servers": bootstrap})
    n = 3000
    for i in range(n):
        # two rows per record for the last 100 records: |id,name,score| matched twice
        body = f"|{i},n{i},{i / 4}|" + (f"|{100000 + i},m{i},-1.5|" if i >= n - 100 else "")
        producer.produce(topic, body.encode())
    producer.produce(topic, b"not a row at all")  # unmatchedRowPolicy WARN: no row, committed
    assert producer.flush(30) == 0
    conf = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = g-{topic}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.kudu.flume.sink.KuduSink
a1.sinks.k1.channel = c1
a1.sinks.k1.masterAddresses = {kudu_master}
a1.sinks.k1.tableName = {table}
a1.sinks.k1.producer = org.apache.kudu.flume.sink.RegexpKuduOperationsProducer
a1.sinks.k1.producer.pattern = \\\\|(?<id>\\\\d+),(?<name>\\\\w+),(?<score>[-.\\\\d]+)\\\\|
a1.sinks.k1.producer.operation = insert
"""
    agent = start_agent_from_text(conf, "a1", tmp_path)
    rows: dict[int, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + 90
        while len(rows) < n + 100 and time.monotonic() < deadline:
            time.sleep(1.0)
            rows = {r["id"]: r for r in scan(table)}
    finally:
        agent.stop()
    assert len(rows) == n + 100
    assert rows[0] == {"id": 0, "name": "n0", "score": 0.0}
    assert rows[n - 1] == {"id": n - 1, "name": f"n{n - 1}", "score": (n - 1) / 4}
    assert rows[100000 + n - 1] == {"id": 100000 + n - 1, "name": f"m{n - 1}", "score": -1.5}
