"""Real test services: Kafka, HDFS, HBase (+Thrift), Kudu and Apache Flume 1.11.0.

:func:`get_service` decides where a service comes from, in this order:

1. ``FLAFKA_TEST_<NAME>`` (e.g. ``FLAFKA_TEST_KAFKA=127.0.0.1:9092``): that address, as is;
2. Docker via testcontainers, when a Docker engine answers and the caller allows it (the
   pytest fixtures do, the CLI does not); Kafka, HDFS, HBase and Kudu (see ``docker.py``;
   untested on an engine); ``FLAFKA_TESTKIT_DOCKER=0`` turns it off;
3. local processes on 127.0.0.1 built from Maven Central artifacts (``LocalService``).

``kafka-secure`` (a second broker with a SASL_SSL listener) is local processes only: it has
no env var and no Docker flavour, and ``flafka testkit up`` without names does not start it.

Importing this package is cheap: service modules load on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from flafka_testkit.services.base import ExternalService, LocalService, Service, ServiceError, Status

#: name -> (module, class), in start order.
LOCAL: dict[str, tuple[str, str]] = {
    "kafka": ("kafka", "KafkaService"),
    "kafka-secure": ("kafka", "SecureKafkaService"),
    "hdfs": ("hdfs", "HdfsService"),
    "hbase": ("hbase", "HBaseService"),
    "kudu": ("kudu", "KuduService"),
    "flume": ("flume", "FlumeService"),
}
#: every service the kit offers (``flafka testkit status`` / ``down`` without names)
NAMES = tuple(LOCAL)
#: what ``flafka testkit up`` starts without names (a second, secured broker is opt-in)
DEFAULT_UP = tuple(name for name in NAMES if name != "kafka-secure")

#: name -> the env var giving an address to use as is (Flume has none: it is not a server;
#: kafka-secure has none: its clients need the CA and password the kit makes).
ENV_VARS = {
    "kafka": "FLAFKA_TEST_KAFKA",  # bootstrap servers, host:port[,host:port]
    "hdfs": "FLAFKA_TEST_HDFS",  # WebHDFS URL, http://host:9870
    "hbase": "FLAFKA_TEST_HBASE",  # Thrift1 server, host:9090
    "kudu": "FLAFKA_TEST_KUDU",  # master(s), host:7051[,host:7051]
}


def _module(name: str) -> object:
    return importlib.import_module(f"flafka_testkit.services.{LOCAL[name][0]}")


def check_name(name: str) -> str:
    if name not in LOCAL:
        raise ServiceError(f"unknown test service {name!r}; known: {', '.join(NAMES)}.")
    return name


def local_service(name: str) -> LocalService:
    """The local-process flavour of ``name`` (state under the run dir)."""
    cls = getattr(_module(check_name(name)), LOCAL[name][1])
    service: LocalService = cls()
    return service


def get_service(name: str, *, docker: bool = True) -> Service:
    """The service ``name`` from its env var, Docker (when ``docker`` and an engine answers)
    or local processes, in that order."""
    check_name(name)
    env_var = ENV_VARS.get(name)
    if env_var and os.environ.get(env_var):
        probe: Callable[[str], None] = _module(name).probe  # type: ignore[attr-defined]
        return ExternalService(name, os.environ[env_var].strip(), probe, env_var)
    if docker:
        from flafka_testkit.services import docker as _docker

        if name in _docker.SUPPORTED and _docker.docker_available():
            return _docker.DockerService(name)
    return local_service(name)


__all__ = [
    "DEFAULT_UP", "ENV_VARS", "NAMES", "ExternalService", "LocalService", "Service", "ServiceError", "Status",
    "get_service", "local_service",
]  # fmt: skip
