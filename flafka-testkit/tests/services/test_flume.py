"""Apache Flume 1.11.0 from Maven: an agent moves netcat lines into Kafka (its Kafka sink);
an agent with a sink group starts (``run_agent`` waits for the group's runner)."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from flafka_testkit.services.base import free_port
from flafka_testkit.services.flume import _all_logged, _started_lines


def _connect(port: int, deadline: float) -> socket.socket:
    """Flume logs "Starting Source" before its netcat source has bound the port: retry."""
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.integration
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


SINK_GROUP = """
a1.sources = r1
a1.sinks = k1 k2 k3
a1.sinkgroups = g1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.priority.k1 = 10
a1.sinkgroups.g1.processor.priority.k2 = 5
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1 c2
a1.sources.r1.selector.type = replicating
a1.channels = c1 c2
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}/k1
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
a1.sinks.k2.type = file_roll
a1.sinks.k2.sink.directory = {out}/k2
a1.sinks.k2.sink.rollInterval = 0
a1.sinks.k2.channel = c1
a1.sinks.k3.type = file_roll
a1.sinks.k3.sink.directory = {out}/k3
a1.sinks.k3.sink.rollInterval = 0
a1.sinks.k3.batchSize = 1
a1.sinks.k3.channel = c2
"""


def test_started_lines_name_sink_groups_as_flume_logs_them() -> None:
    """Flume logs ``Starting Sink g1`` for a group's runner, never its sinks' names; a
    sink listed by two groups stays in the first; a group with no listed sink is dropped."""
    assert _started_lines(SINK_GROUP, "a1") == [
        "Starting Source r1", "Starting Channel c1", "Starting Channel c2", "Starting Sink k3", "Starting Sink g1",
    ]  # fmt: skip
    config = """a1.sources = r1
a1.channels = c1
a1.sinks : k1 k2 \\
  k10
a1.sinkgroups = g1 g2 g3
a1.sinkgroups.g1.sinks = k1 k9
a1.sinkgroups.g2.sinks = k1
a1.sinkgroups.g3.sinks = k2
"""
    assert _started_lines(config, "a1") == [
        "Starting Source r1", "Starting Channel c1", "Starting Sink k10", "Starting Sink g1", "Starting Sink g3",
    ]  # fmt: skip
    log = "x node.Application: Starting Sink k10\nx node.Application: Starting Sink g1\n"
    assert not _all_logged(log, ["Starting Sink k1"])
    assert _all_logged(log, ["Starting Sink k10", "Starting Sink g1"])


@pytest.mark.integration
def test_flume_agent_with_a_sink_group_starts(flume_home, tmp_path):
    """A failover sink group beside a plain sink: ``run_agent`` returns once Flume started
    the group (it waited for ``Starting Sink k1`` until its timeout), and events flow."""
    port = free_port()
    out = tmp_path / "out"
    for name in ("k1", "k2", "k3"):
        (out / name).mkdir(parents=True)
    config = SINK_GROUP.format(port=port, out=out)
    began = time.monotonic()
    with flume_home.run_agent(config, tmp_path / "flume", timeout=60) as agent:
        assert time.monotonic() - began < 60
        with _connect(port, deadline=time.monotonic() + 60) as sock:
            reader = sock.makefile("rb")
            for i in range(3):
                sock.sendall(f"line-{i}\n".encode())
                assert reader.readline().strip() == b"OK"

        def landed(name: str) -> bytes:
            return b"".join(p.read_bytes() for p in sorted((out / name).iterdir()))

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (landed("k1").count(b"\n") == 3 and landed("k3").count(b"\n") == 3):
            time.sleep(0.2)
        assert agent.proc.poll() is None
    assert landed("k1") == landed("k3") == b"line-0\nline-1\nline-2\n"  # failover: k1 has the higher priority
    assert landed("k2") == b""
