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


# -- Java key and trust stores, made by the JDK's keytool ----------------------------------------


def keytool(*args: str, cwd: Any) -> None:
    """Run the JDK's ``keytool`` (next to the ``java`` the test kit uses)."""
    import subprocess
    from pathlib import Path

    from flafka_testkit.fixtures import require_services
    from flafka_testkit.services.base import ServiceError, find_java

    try:
        tool = Path(find_java(17)).resolve().parent / "keytool"
    except ServiceError as exc:
        if require_services():
            pytest.fail(f"keytool is required: {exc}", pytrace=False)
        pytest.skip(f"keytool unavailable: {exc}")
    fast = ["-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1"]  # a short-lived JVM: start it quickly
    done = subprocess.run([str(tool), *fast, *args], cwd=str(cwd), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"keytool {' '.join(args)}:\n{done.stdout}{done.stderr}"


class JavaStores:
    """Stores as a Java shop has them: a CA; trust stores (JKS and PKCS12) holding it; a
    client key signed by it in a JKS key store (key password != store password) and the
    same entry in a PKCS12 key store."""

    ca_password = "ca-pass-1"
    trust_password = "trust-pass-1"
    store_password = "store-pass-1"
    key_password = "key-pass-1"

    def __init__(self, directory: Any) -> None:
        from pathlib import Path

        d = Path(directory)
        self.dir = d
        self.ca_pem = d / "ca.pem"
        self.trust_jks = d / "truststore.jks"
        self.trust_p12 = d / "truststore.p12"
        self.key_jks = d / "keystore.jks"
        self.key_p12 = d / "keystore.p12"
        self.client_pem = d / "client.pem"


def make_java_stores(directory: Any, ca_pem: Any = None) -> JavaStores:
    """Build :class:`JavaStores` in ``directory`` (about ten keytool runs). With
    ``ca_pem`` the trust stores hold that CA instead of the generated one."""
    import shutil

    s = JavaStores(directory)

    def kt(*args: str) -> None:
        keytool(*args, cwd=s.dir)

    kt("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=flafka-test-ca", "-ext", "bc:c",
       "-validity", "30", "-keystore", "ca.p12", "-storetype", "PKCS12", "-storepass", s.ca_password)  # fmt: skip
    kt("-exportcert", "-rfc", "-alias", "ca", "-keystore", "ca.p12", "-storepass", s.ca_password, "-file", "ca.pem")
    trusted = "ca.pem"
    if ca_pem is not None:
        shutil.copy(ca_pem, s.dir / "trusted-ca.pem")
        trusted = "trusted-ca.pem"
    for store, kind in ((s.trust_jks, "JKS"), (s.trust_p12, "PKCS12")):
        kt("-importcert", "-noprompt", "-alias", "caroot", "-file", trusted, "-keystore", store.name, "-storetype", kind,
           "-storepass", s.trust_password)  # fmt: skip
    kt("-genkeypair", "-alias", "client", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=flafka-client", "-validity", "30",
       "-keystore", s.key_jks.name, "-storetype", "JKS", "-storepass", s.store_password, "-keypass", s.key_password)  # fmt: skip
    kt("-certreq", "-alias", "client", "-keystore", s.key_jks.name, "-storepass", s.store_password, "-keypass", s.key_password,
       "-file", "client.csr")  # fmt: skip
    kt("-gencert", "-alias", "ca", "-keystore", "ca.p12", "-storepass", s.ca_password, "-infile", "client.csr", "-outfile", "client.pem",
       "-rfc", "-validity", "30")  # fmt: skip
    kt("-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", s.key_jks.name, "-storepass", s.store_password)
    kt("-importcert", "-alias", "client", "-file", "client.pem", "-keystore", s.key_jks.name, "-storepass", s.store_password,
       "-keypass", s.key_password)  # fmt: skip
    kt("-importkeystore", "-srckeystore", s.key_jks.name, "-srcstoretype", "JKS", "-srcstorepass", s.store_password,
       "-srcalias", "client", "-srckeypass", s.key_password, "-destkeystore", s.key_p12.name, "-deststoretype", "PKCS12",
       "-deststorepass", s.store_password, "-destkeypass", s.store_password)  # fmt: skip
    return s


@pytest.fixture(scope="session")
def java_stores_factory() -> Callable[..., JavaStores]:
    """:func:`make_java_stores` (``factory(directory, ca_pem=None)``)."""
    return make_java_stores


@pytest.fixture(scope="session")
def java_stores(tmp_path_factory: pytest.TempPathFactory) -> JavaStores:
    """:class:`JavaStores` made once per session by keytool."""
    return make_java_stores(tmp_path_factory.mktemp("java-stores"))
