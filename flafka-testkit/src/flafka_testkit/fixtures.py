"""Session-scoped pytest fixtures for the real test services, started lazily (only when a
test asks for one) and one at a time.

``kafka_service``, ``hdfs_service``, ``hbase_service``, ``kudu_service`` yield a
:class:`~flafka_testkit.services.base.Service` (``.address``, ``.endpoints``);
``kafka_secure_service`` yields a :class:`~flafka_testkit.services.kafka.SecureKafkaService`
(a broker with a SASL_SSL listener; local processes only);
``flume_home`` yields a :class:`~flafka_testkit.services.flume.FlumeHome`.

When a service cannot be had, the test is skipped with the reason — or FAILS when
``FLAFKA_REQUIRE_SERVICES=1`` (CI). A service this session started is stopped at the end
of the session (``FLAFKA_KEEP_SERVICES=1`` keeps it for the next run); one that already ran
(``flafka testkit up``) or came from ``FLAFKA_TEST_<NAME>`` is left alone. After each test
that used a local service, a watchdog checks that its processes still run and fails the
test with the log's last lines if one died.

Importing this module is cheap: services load when a fixture is first used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flafka_testkit.services.base import Service
    from flafka_testkit.services.flume import FlumeHome
    from flafka_testkit.services.kafka import SecureKafkaService

__all__ = [
    "_flafka_service_watchdog", "flume_home", "hbase_service", "hdfs_service", "kafka_secure_service", "kafka_service",
    "kudu_service",
    "require_services",
]  # fmt: skip

_IN_USE: dict[str, Service] = {}


def require_services() -> bool:
    """True when an unavailable service must fail the test (``FLAFKA_REQUIRE_SERVICES=1``)."""
    return os.environ.get("FLAFKA_REQUIRE_SERVICES", "").strip().lower() in ("1", "true", "yes")


def _unavailable(name: str, reason: str) -> None:
    if require_services():
        pytest.fail(f"{name} is required (FLAFKA_REQUIRE_SERVICES=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{name} unavailable: {reason} (set FLAFKA_REQUIRE_SERVICES=1 to fail instead)")


def _provide(name: str, factory: Callable[[], Service] | None = None, key: str | None = None) -> Iterator[Service]:
    """Start (or reuse) a service; ``key`` is its fixture's name without ``_service``
    (the watchdog's key; defaults to ``name``)."""
    from flafka_testkit.services import ServiceError, get_service

    try:
        service = factory() if factory is not None else get_service(name)
        started = service.start()
    except ServiceError as exc:
        _unavailable(name, str(exc))
        raise AssertionError("unreachable") from exc
    key = key or name
    _IN_USE[key] = service
    try:
        yield service
    finally:
        _IN_USE.pop(key, None)
        if started and os.environ.get("FLAFKA_KEEP_SERVICES", "") not in ("1", "true", "yes"):
            service.stop()


@pytest.fixture(scope="session")
def kafka_service() -> Iterator[Service]:
    """Kafka 4.x (KRaft); ``.address`` is the bootstrap servers string."""
    yield from _provide("kafka")


@pytest.fixture(scope="session")
def kafka_secure_service() -> Iterator[SecureKafkaService]:
    """A Kafka broker (its own, not ``kafka_service``'s) with a SASL_SSL listener:
    ``.address`` is its bootstrap address, ``.ca_file`` the CA (PEM) to trust,
    ``.username`` / ``.password`` a user known to SASL/PLAIN and SCRAM-SHA-512,
    ``.plaintext_address`` the same broker without security (for test set-up),
    ``.client_config(mechanism)`` librdkafka settings. Always local processes."""
    from flafka_testkit.services.kafka import SecureKafkaService

    yield from _provide("kafka-secure", SecureKafkaService, key="kafka_secure")  # type: ignore[misc]


@pytest.fixture(scope="session")
def hdfs_service() -> Iterator[Service]:
    """HDFS; ``.address`` is the WebHDFS URL, ``.endpoints['rpc']`` the hdfs:// URL."""
    yield from _provide("hdfs")


@pytest.fixture(scope="session")
def hbase_service() -> Iterator[Service]:
    """HBase 2.6 + Thrift1; ``.address`` is the Thrift host:port, ``.endpoints['zookeeper']`` the quorum."""
    yield from _provide("hbase")


@pytest.fixture(scope="session")
def kudu_service() -> Iterator[Service]:
    """Kudu master + tablet server; ``.address`` is the master address."""
    yield from _provide("kudu")


@pytest.fixture(scope="session")
def flume_home() -> Iterator[FlumeHome]:
    """Apache Flume 1.11.0 (resolved jars); ``flume_home.run_agent(config, workdir)`` runs an agent."""
    from flafka_testkit.services import ServiceError
    from flafka_testkit.services.flume import FlumeHome

    try:
        home = FlumeHome()
    except ServiceError as exc:
        _unavailable("flume", str(exc))
        raise AssertionError("unreachable") from exc
    yield home


@pytest.fixture(autouse=True)
def _flafka_service_watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used a service fixture: fail it if a service process died meanwhile."""
    yield
    used: list[Any] = [_IN_USE[n] for n in list(_IN_USE) if f"{n}_service" in request.fixturenames]
    for service in used:
        reason = service.died()
        if reason:
            pytest.fail(f"{service.name} died during the test: {reason}", pytrace=False)
