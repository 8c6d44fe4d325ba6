"""The test kit's contract suites against a real Kafka broker."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka.event import Event
from flafka.sink import Sink
from flafka_kafka import avro_event
from flafka_kafka.channel import KafkaChannel
from flafka_kafka.sink import KafkaSink
from flafka_kafka.source import KafkaSource
from flafka_testkit.contracts import ChannelContract, SinkCapabilities, SinkContract, SourceCapabilities, SourceContract

pytestmark = pytest.mark.integration


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` up to the current high watermarks, partition then offset order."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        md = consumer.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        want = sum(ends.values())
        consumer.assign([TopicPartition(topic, p, 0) for p in parts if ends[p] > 0])
        out: list[Any] = []
        misses = 0
        while len(out) < want and misses < 40:
            got = [m for m in consumer.consume(min(want - len(out), 10000), 0.5) if m.error() is None]
            misses = 0 if got else misses + 1
            out.extend(got)
        return sorted(out, key=lambda m: (m.partition(), m.offset()))
    finally:
        consumer.close()


class _KafkaSinkBase(SinkContract):
    sink_class = KafkaSink
    bootstrap = ""

    def _settings(self, bootstrap: str, new_topic: Callable[..., str], **extra: str) -> dict[str, str]:
        self.bootstrap = bootstrap
        return {"kafka.bootstrap.servers": bootstrap, "kafka.topic": new_topic(1, "sink"), "kafka.producer.acks": "all", **extra}


class TestKafkaSinkContract(_KafkaSinkBase):
    """Plain values: the body is the record value, headers are not carried (as Flume)."""

    capabilities = SinkCapabilities(headers=False, secret_keys=("kafka.producer.sasl.jaas.config", "kafka.producer.ssl.key.password"))
    opt_out = {"test_headers_are_kept": "without useFlumeEventFormat a Kafka record carries only the body (Flume's behaviour)"}

    @pytest.fixture
    def sink_settings(self, kafka_bootstrap: str, new_topic: Callable[..., str]) -> dict[str, str]:
        return self._settings(kafka_bootstrap, new_topic)

    def read_back(self, sink: Sink) -> list[Event]:
        return [Event(m.value() or b"", {}) for m in read_all(self.bootstrap, sink.settings["kafka.topic"])]


class TestKafkaSinkFlumeEventFormatContract(_KafkaSinkBase):
    """useFlumeEventFormat = true: headers travel inside the value."""

    capabilities = SinkCapabilities(headers=True)

    @pytest.fixture
    def sink_settings(self, kafka_bootstrap: str, new_topic: Callable[..., str]) -> dict[str, str]:
        return self._settings(kafka_bootstrap, new_topic, useFlumeEventFormat="true")

    def read_back(self, sink: Sink) -> list[Event]:
        out = []
        for m in read_all(self.bootstrap, sink.settings["kafka.topic"]):
            headers, body = avro_event.decode(m.value() or b"")
            out.append(Event(body, headers))
        return out


@pytest.fixture(scope="module")
def private_kafka(kafka_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A broker of this module's own (the outage test freezes it with SIGSTOP, which must
    not disturb other tests). Needs what the test kit's local broker needs (Java 17)."""
    from flafka_testkit.fixtures import require_services
    from flafka_testkit.services.base import ServiceError
    from flafka_testkit.services.kafka import KafkaService

    service = KafkaService(home=Path(tmp_path_factory.mktemp("private-kafka")))
    try:
        service.start()
    except ServiceError as exc:
        if require_services():
            pytest.fail(f"a private Kafka broker is required (FLAFKA_REQUIRE_SERVICES=1) but cannot start: {exc}")
        pytest.skip(f"a private Kafka broker cannot start: {exc}")
    yield service
    service.stop(grace=10)


class TestKafkaSinkOutageContract(TestKafkaSinkFlumeEventFormatContract):
    """The whole contract once more against a private broker, including an outage
    (the broker process is frozen with SIGSTOP and thawed with SIGCONT)."""

    capabilities = SinkCapabilities(headers=True, outage=True)

    @pytest.fixture
    def sink_settings(self, private_kafka: Any) -> dict[str, str]:
        self.bootstrap = private_kafka.address
        self.service = private_kafka
        topic = f"outage-{uuid.uuid4().hex[:10]}"
        return {
            "kafka.bootstrap.servers": private_kafka.address,
            "kafka.topic": topic,
            "useFlumeEventFormat": "true",
            "kafka.producer.acks": "all",
            "kafka.producer.message.timeout.ms": "3000",
        }

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        pids = list(self.service.pids().values())
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)


class TestKafkaSourceContract(SourceContract):
    source_class = KafkaSource
    # a restarted consumer needs a few seconds to join its group: settle longer than that,
    # so "nothing is replayed" is really checked
    capabilities = SourceCapabilities(replayable=True, ordered=True, settle_seconds=3.0)
    bootstrap = ""

    @pytest.fixture
    def source_settings(self, kafka_bootstrap: str, new_topic: Callable[..., str]) -> dict[str, str]:
        self.bootstrap = kafka_bootstrap
        topic = new_topic(1, "source")
        return {
            "kafka.bootstrap.servers": kafka_bootstrap,
            "kafka.topics": topic,
            "kafka.consumer.group.id": f"g-{topic}",
            "kafka.consumer.auto.offset.reset": "earliest",
            "batchSize": "100",
            "batchDurationMillis": "200",
        }

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap})
        for body in bodies:
            producer.produce(settings["kafka.topics"], body)
            producer.poll(0)
        assert producer.flush(30) == 0


class TestKafkaChannelContract(ChannelContract):
    channel_class = KafkaChannel

    @pytest.fixture
    def channel_settings(self, kafka_bootstrap: str, new_topic: Callable[..., str]) -> dict[str, str]:
        topic = new_topic(1, "channel")
        return {"kafka.bootstrap.servers": kafka_bootstrap, "kafka.topic": topic, "kafka.consumer.group.id": f"g-{topic}"}
