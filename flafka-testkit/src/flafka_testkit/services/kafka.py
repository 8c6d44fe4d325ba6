"""Kafka 4.x in KRaft mode: one combined broker+controller JVM on 127.0.0.1.

Jars: ``org.apache.kafka:kafka_2.13`` + a log4j2 binding (the POM ships none). Format with
``kafka.tools.StorageTool format`` (static ``controller.quorum.voters``, so no
``--standalone``), then run ``kafka.Kafka``. Ready when an AdminClient lists topics.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import ClassVar

from flafka_testkit.services.base import LocalService, ServiceError, find_java, free_port, port_open
from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

KAFKA_VERSION = os.environ.get("FLAFKA_KAFKA_VERSION", "4.1.1")
LOG4J2_VERSION = "2.24.3"

CLASSPATH = Classpath(
    "kafka",
    (
        Coordinate("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-api", LOG4J2_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-core", LOG4J2_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J2_VERSION),
    ),
)

LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
"""

JVM_FLAGS = [
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
]  # fmt: skip


def probe(address: str, timeout: float = 5.0) -> None:
    """List topics through confluent-kafka's AdminClient (raises when Kafka does not answer)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        raise ServiceError("the Kafka readiness check needs confluent-kafka. Fix: pip install 'flafka-testkit[kafka]'.") from None
    host, _, port = address.split(",")[0].rpartition(":")
    if not port_open(host, int(port)):  # spare librdkafka's reconnect loop (and its log spam)
        raise ServiceError(f"nothing listens on {address} yet")
    admin = AdminClient({"bootstrap.servers": address, "socket.timeout.ms": int(timeout * 1000), "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    finally:
        del admin
    if not metadata.brokers:
        raise ServiceError(f"Kafka at {address} reports no brokers yet")


class KafkaService(LocalService):
    """Kafka ``KAFKA_VERSION`` (env ``FLAFKA_KAFKA_VERSION``), heap 512 MiB."""

    name = "kafka"
    start_timeout = 120.0
    hints: ClassVar = (
        ("ClassNotFoundException: kafka.tools.StorageTool", "this Kafka version moved StorageTool; pin 4.1.x."),
        ("Invalid cluster.id", "the data directory is stale; `flafka testkit down kafka` and start again."),
    )

    def prepare(self) -> None:
        try:
            import confluent_kafka  # noqa: F401  (the readiness check needs it: fail before starting a JVM)
        except ImportError:
            raise ServiceError("the Kafka readiness check needs confluent-kafka. Fix: pip install 'flafka-testkit[kafka]'.") from None
        self.java = find_java(17)
        self.lib = resolve_classpath(CLASSPATH)

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("kafka is not started")
        probe(self.address)

    def launch(self, deadline: float) -> None:
        port, controller = free_port(), free_port()
        while controller == port:
            controller = free_port()
        address = f"127.0.0.1:{port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://{address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "num.io.threads": "4",
            "num.network.threads": "2",
        }
        config = self.conf_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        logging = [f"-Dkafka.logs.dir={self.log_dir}", f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.properties'}"]
        classpath = f"{self.lib}/*"
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.state.update(address=address, endpoints={"bootstrap": address}, ports={"broker": port, "controller": controller})
        self.run_tool(
            "format",
            [self.java, "-Xmx256m", "-XX:TieredStopAtLevel=1", *logging, "-cp", classpath,
             "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
            timeout=deadline - time.monotonic(),
        )  # fmt: skip
        self.spawn("kafka", [self.java, "-Xms512m", "-Xmx512m", *JVM_FLAGS, *logging, "-cp", classpath,
                             "kafka.Kafka", str(config)])  # fmt: skip
        self.wait_ready("Kafka did not become ready", lambda: probe(address), deadline)
