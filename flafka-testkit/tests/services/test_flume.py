"""Apache Flume 1.11.0 from Maven: an agent moves netcat lines into Kafka (its Kafka sink)."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from flafka_testkit.services.base import free_port

pytestmark = pytest.mark.integration


def _connect(port: int, deadline: float) -> socket.socket:
    """Flume logs "Starting Source" before its netcat source has bound the port: retry."""
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_flume_netcat_to_kafka(flume_home, kafka_service, tmp_path):
    from confluent_kafka import Consumer

    topic = f"flume-{uuid.uuid4().hex[:8]}"
    port = free_port()
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {kafka_service.address}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.flumeBatchSize = 10
a1.sinks.k1.channel = c1
"""
    with flume_home.run_agent(config, tmp_path / "flume") as agent:
        with _connect(port, deadline=time.monotonic() + 60) as sock:
            reader = sock.makefile("rb")
            for i in range(5):
                sock.sendall(f"line-{i}\n".encode())
                assert reader.readline().strip() == b"OK"
        consumer = Consumer({"bootstrap.servers": kafka_service.address, "group.id": topic, "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        got: list[bytes] = []
        try:
            for _ in range(60):  # bounded
                msg = consumer.poll(1.0)
                if msg is not None and msg.error() is None:
                    got.append(msg.value())
                if len(got) == 5:
                    break
        finally:
            consumer.close()
        assert agent.proc.poll() is None
    assert got == [f"line-{i}".encode() for i in range(5)]
