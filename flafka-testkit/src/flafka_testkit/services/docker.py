"""The testcontainers path: used when a Docker engine answers. UNTESTED on the project's
machines (they have no Docker engine) — kept minimal on purpose.

* Detection: :func:`docker_available` pings the engine through the ``docker`` package
  (installed with testcontainers) with a 3 s timeout; ``FLAFKA_TESTKIT_DOCKER=0`` turns
  the Docker path off, and a missing ``testcontainers`` package means "no Docker".
* Only Kafka has a Docker flavour (``testcontainers.kafka.KafkaContainer``, KRaft,
  image ``$FLAFKA_KAFKA_IMAGE`` or ``confluentinc/cp-kafka:7.6.0``). HDFS, HBase and Kudu
  have no testcontainers module and need hostname/port plumbing that cannot be verified
  here, so they always run as local processes.
* A container lives as long as the Python process that started it (testcontainers reaps
  it), so the ``flafka testkit`` CLI never uses Docker — only the pytest fixtures do.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from flafka_testkit.services.base import Service, ServiceError, Status

SUPPORTED = frozenset({"kafka"})
_available: bool | None = None


def docker_available() -> bool:
    """True when a Docker engine answers a ping (cached for the process)."""
    global _available
    if _available is None:
        _available = False
        if os.environ.get("FLAFKA_TESTKIT_DOCKER", "1") not in ("0", "false", "no"):
            try:
                import docker
                import testcontainers  # noqa: F401

                _available = bool(docker.from_env(timeout=3).ping())
            except Exception:
                _available = False
    return _available


class DockerService(Service):
    """A service in a container started by testcontainers (Kafka only)."""

    source: ClassVar[str] = "docker"

    def __init__(self, name: str) -> None:
        if name not in SUPPORTED:
            raise ServiceError(f"{name} has no Docker flavour; it runs as local processes.")
        self.name = name  # type: ignore[misc]
        self.container: Any = None
        self._address: str | None = None

    @property
    def address(self) -> str | None:
        return self._address

    def start(self, timeout: float | None = None) -> bool:
        if self.container is not None:
            return False
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError:
            raise ServiceError("the Docker path needs testcontainers: pip install 'flafka-testkit[docker]'.") from None
        image = os.environ.get("FLAFKA_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
        try:
            container = KafkaContainer(image).with_kraft()
            container.start()
        except Exception as exc:
            raise ServiceError(
                f"starting Kafka in Docker ({image}) failed: {exc}. Fix: check the Docker engine, or set "
                "FLAFKA_TESTKIT_DOCKER=0 to use local processes."
            )
        self.container = container
        self._address = str(container.get_bootstrap_server())
        return True

    def stop(self, grace: float | None = None) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None
            self._address = None

    def probe(self) -> None:
        from flafka_testkit.services import kafka

        if not self._address:
            raise ServiceError("not started")
        kafka.probe(self._address)

    def status(self) -> Status:
        ready = self.is_ready()
        return Status(self.name, "docker", self.container is not None, ready, self._address, self.endpoints)
