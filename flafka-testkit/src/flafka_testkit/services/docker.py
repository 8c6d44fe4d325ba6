"""The testcontainers path: used by the pytest fixtures when a Docker engine answers.

**UNTESTED on an engine**: the project's machines and CI have no Docker engine. What is
tested (``tests/services/test_docker.py``) is everything that needs none: the container
specs built from config (image, env, ports, commands), the addresses a service reports,
and the choice between an env var address, Docker and local processes. The specs follow
the images' own documentation and entrypoints (cited below); the first run on a real
engine is the real test. Report what breaks.

* Detection: :func:`docker_available` pings the engine through the ``docker`` package
  (installed with testcontainers) with a 3 s timeout; ``FLAFKA_TESTKIT_DOCKER=0`` turns
  the Docker path off, and a missing ``testcontainers`` package means "no Docker".
* A container lives as long as the Python process that started it (testcontainers reaps
  it), so the ``flafka testkit`` CLI never uses Docker — only the pytest fixtures do.
* Readiness is the local flavours' client call (``kafka.probe``, ``hdfs.write_probe``,
  ``hbase.write_probe``, ``kudu.probe``) made **from the host** against the address the
  service reports, so it also proves the host can reach what the service advertises.

The flavours (image env var, default):

``kafka`` (``FLAFKA_KAFKA_IMAGE``, ``confluentinc/cp-kafka:7.6.0``)
    testcontainers' ``KafkaContainer`` in KRaft mode.
``hdfs`` (``FLAFKA_HADOOP_IMAGE``, ``apache/hadoop:3.4.2``, the ASF image, same Hadoop as
    the local flavour)
    A NameNode and a DataNode container on a private network (the NameNode's alias is
    ``namenode``). The image's entrypoint (``/opt/starter.sh``) turns ``CORE-SITE.XML_<key>``
    / ``HDFS-SITE.XML_<key>`` env vars into the site files and formats the NameNode when
    ``ENSURE_NAMENODE_DIR`` does not exist. WebHDFS redirects a client to the DataNode by
    its *registered hostname* and HTTP port, so the DataNode registers as the Docker host
    (``dfs.datanode.hostname``) and its three ports are free host ports published 1:1
    (same number inside and outside). RPC clients of ``endpoints['rpc']`` must set
    ``dfs.client.use.datanode.hostname=true`` (the DataNode's IP is the container's).
``hbase`` (``FLAFKA_HBASE_IMAGE``, default ``flafka-testkit/hbase:<version>``, built once)
    No maintained image runs HBase 2.6 with Thrift (``harisekhon/hbase`` and
    ``dajobe/hbase`` stop at 2.1; the ASF publishes none), and the HBase *binary tarball*
    is not on Maven Central (only the jars are). So the kit builds a small image once
    (Docker caches it): ``eclipse-temurin:17-jre`` (``FLAFKA_HBASE_BASE_IMAGE``) plus the
    official ``hbase-<version>-hadoop3-bin.tar.gz`` from ``archive.apache.org`` (every ASF
    release stays there; ``FLAFKA_HBASE_TARBALL_URL`` picks a mirror,
    ``FLAFKA_HBASE_DOCKER_VERSION`` another 2.x), checked against the ``.sha512`` published
    beside it. One container runs ``hbase master start``
    (standalone: master + region server + ZooKeeper) and ``hbase thrift``; the master,
    region server and ZooKeeper advertise the Docker host on free host ports published
    1:1, so they reach each other through the same names a host client uses. An image
    given by ``FLAFKA_HBASE_IMAGE`` must have HBase in ``/opt/hbase``.
``kudu`` (``FLAFKA_KUDU_IMAGE``, ``apache/kudu:1.17.0``, the ASF image; no 1.18 tag is
    known to exist)
    One container runs ``kudu master run`` and ``kudu tserver run`` (the image's entrypoint
    runs any other command as is). A Kudu master hands clients the tablet server's
    *advertised* address and talks to it there, so both advertise ``<docker host>:<port>``
    on free host ports published 1:1: inside the container that is the server itself,
    outside it is the published port. Readiness uses the host's ``kudu`` CLI
    (kudu-binary from Maven Central, as the local flavour).

Ports: published on 127.0.0.1 only when the engine is local (``DOCKER_HOST`` unset or a
unix socket; testcontainers' host ``localhost`` is advertised as ``127.0.0.1``), on all
interfaces of a remote engine's host otherwise. The 1:1 ports are picked free on *this*
machine, which is only a guarantee for a local engine. Running the tests inside a
container (Docker-in-Docker, testcontainers' ``gateway_ip``/``bridge_ip`` modes) is not
supported by the 1:1 flavours.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from flafka_testkit.services.base import Service, ServiceError, Status, free_port, wait_for

SUPPORTED = frozenset({"kafka", "hdfs", "hbase", "kudu"})
_available: bool | None = None


def docker_enabled() -> bool:
    """False when ``FLAFKA_TESTKIT_DOCKER`` is 0/false/no/off (the Docker path is off)."""
    return os.environ.get("FLAFKA_TESTKIT_DOCKER", "1").strip().lower() not in ("0", "false", "no", "off")


def docker_available() -> bool:
    """True when the Docker path is enabled, testcontainers is installed and a Docker
    engine answers a ping (cached for the process)."""
    global _available
    if not docker_enabled():
        return False
    if _available is None:
        _available = False
        try:
            import docker
            import testcontainers  # noqa: F401

            _available = bool(docker.from_env(timeout=3).ping())
        except Exception:
            _available = False
    return _available


def docker_host() -> str:
    """The name under which this machine reaches published ports (testcontainers' view of
    the Docker host; ``TESTCONTAINERS_HOST_OVERRIDE`` wins); ``localhost`` becomes
    ``127.0.0.1`` (containers advertise it, and inside a container ``localhost`` might
    resolve to ``::1``)."""
    from testcontainers.core.docker_client import DockerClient

    return normalize_host(DockerClient().host())


def normalize_host(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "::1", "") else host


def is_loopback(host: str) -> bool:
    return host == "127.0.0.1" or host.startswith("127.")


@dataclass
class ContainerSpec:
    """One container as data (built into a testcontainers container at start)."""

    role: str
    image: str
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    #: container ports published on random host ports
    ports: list[int] = field(default_factory=list)
    #: ports published under the same number on the host (the service advertises them)
    fixed_ports: list[int] = field(default_factory=list)
    #: the container's name on the flavour's private network (multi-container flavours)
    alias: str | None = None
    #: path in the container -> content, copied in before the container starts
    files: dict[str, bytes] = field(default_factory=dict)

    def port_bindings(self, host: str) -> dict[str, Any]:
        """docker-py ``ports=``: loopback-only for a local engine, all interfaces otherwise."""
        ip = "127.0.0.1" if is_loopback(host) else None
        bindings: dict[str, Any] = {}
        for port in self.ports:
            bindings[f"{port}/tcp"] = (ip,) if ip else None
        for port in self.fixed_ports:
            bindings[f"{port}/tcp"] = (ip, port) if ip else port
        return bindings


Mapped = Mapping[tuple[str, int], int]  # (role, container port) -> host port


def distinct_ports(count: int, pick: Callable[[], int] = free_port) -> list[int]:
    """``count`` different free host ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = pick()
        if port not in ports:
            ports.append(port)
    return ports


def require_client(module: str, extra: str, what: str) -> None:
    """Fail before starting containers when the readiness check's client library is missing."""
    try:
        __import__(module)
    except ImportError:
        raise ServiceError(f"the {what} readiness check needs {module}. Fix: pip install 'flafka-testkit[{extra}]'.") from None


class Flavour(ABC):
    """How one service runs in containers: pure spec/address functions plus readiness."""

    name: ClassVar[str]
    image_var: ClassVar[str]
    default_image: ClassVar[str]
    start_timeout: ClassVar[float] = 240.0

    def image(self) -> str:
        return os.environ.get(self.image_var, "").strip() or self.default_image

    #: the host ports a flavour picked in :meth:`containers` (name -> port)
    ports: dict[str, int]

    def prepare(self) -> None:
        """Checks and one-off work before any container starts (client libraries, image build)."""
        return None

    @abstractmethod
    def containers(self, host: str, pick: Callable[[], int] = free_port) -> list[ContainerSpec]:
        """The containers to start, in order; ``host`` is what the service must advertise."""

    @abstractmethod
    def endpoints(self, host: str, mapped: Mapped) -> tuple[str, dict[str, str]]:
        """(address, endpoints) a client on this machine uses, from the published ports."""

    @abstractmethod
    def probe(self, address: str, endpoints: Mapping[str, str]) -> None:
        """A real client call (raises when the service does not answer)."""

    def ready(self, address: str, endpoints: Mapping[str, str]) -> None:
        """The start's readiness check (defaults to :meth:`probe`)."""
        self.probe(address, endpoints)

    def make_container(self, spec: ContainerSpec, network: Any, host: str) -> Any:
        """A testcontainers ``DockerContainer`` for ``spec`` (not started)."""
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(spec.image)
        if spec.command:
            container.with_command(spec.command)
        for key, value in spec.env.items():
            container.with_env(key, value)
        container.ports.update(spec.port_bindings(host))
        if network is not None:
            container.with_network(network)
            if spec.alias:
                container.with_network_aliases(spec.alias)
        for path, data in spec.files.items():
            container.with_copy_into_container(data, path)
        return container


# -- Kafka ------------------------------------------------------------------------------


class KafkaFlavour(Flavour):
    name = "kafka"
    image_var = "FLAFKA_KAFKA_IMAGE"
    default_image = "confluentinc/cp-kafka:7.6.0"
    PORT = 9093  # KafkaContainer's client listener

    def prepare(self) -> None:
        require_client("confluent_kafka", "kafka", "Kafka")

    def containers(self, host: str, pick: Callable[[], int] = free_port) -> list[ContainerSpec]:
        return [ContainerSpec("kafka", self.image(), ports=[self.PORT])]

    def make_container(self, spec: ContainerSpec, network: Any, host: str) -> Any:
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.10
            from testcontainers.kafka import KafkaContainer
        return KafkaContainer(spec.image, port=self.PORT).with_kraft()

    def endpoints(self, host: str, mapped: Mapped) -> tuple[str, dict[str, str]]:
        # KafkaContainer advertises <testcontainers host>:<published port>.
        address = f"{host}:{mapped[('kafka', self.PORT)]}"
        return address, {"bootstrap": address}

    def probe(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import kafka

        kafka.probe(address)


# -- HDFS -------------------------------------------------------------------------------


def hadoop_env(core: Mapping[str, str], hdfs: Mapping[str, str]) -> dict[str, str]:
    """Site properties as the apache/hadoop entrypoint's env vars (``envtoconf.py`` splits
    the name at the first ``_``/``.``: ``HDFS-SITE.XML_dfs.replication`` -> hdfs-site.xml)."""
    env = {f"CORE-SITE.XML_{k}": v for k, v in core.items()}
    env.update({f"HDFS-SITE.XML_{k}": v for k, v in hdfs.items()})
    return env


class HdfsFlavour(Flavour):
    name = "hdfs"
    image_var = "FLAFKA_HADOOP_IMAGE"
    default_image = "apache/hadoop:3.4.2"
    RPC, HTTP = 8020, 9870
    NAME_DIR = "/tmp/flafka-hdfs/name"
    DATA_DIR = "/tmp/flafka-hdfs/data"

    def containers(self, host: str, pick: Callable[[], int] = free_port) -> list[ContainerSpec]:
        from flafka_testkit.services.hdfs import USER

        data, http, ipc = distinct_ports(3, pick)
        self.ports = {"dn_data": data, "dn_http": http, "dn_ipc": ipc}
        core = {"fs.defaultFS": f"hdfs://namenode:{self.RPC}", "hadoop.http.staticuser.user": USER}
        common = {
            "dfs.replication": "1",
            "dfs.permissions.enabled": "false",
            "dfs.webhdfs.enabled": "true",
            "dfs.heartbeat.interval": "1",
            "dfs.blocksize": "16777216",
        }
        namenode = {
            **common,
            "dfs.namenode.name.dir": f"file://{self.NAME_DIR}",
            "dfs.namenode.rpc-address": f"namenode:{self.RPC}",
            "dfs.namenode.rpc-bind-host": "0.0.0.0",
            "dfs.namenode.http-address": f"0.0.0.0:{self.HTTP}",
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.namenode.safemode.extension": "0",
            "dfs.namenode.resource.du.reserved": "10485760",
        }
        datanode = {
            **common,
            "dfs.datanode.data.dir": f"file://{self.DATA_DIR}",
            # Registered name and ports = what the WebHDFS redirect sends host clients to.
            "dfs.datanode.hostname": host,
            "dfs.datanode.address": f"0.0.0.0:{data}",
            "dfs.datanode.http.address": f"0.0.0.0:{http}",
            "dfs.datanode.ipc.address": f"0.0.0.0:{ipc}",
        }
        base_env = {"HADOOP_CONF_DIR": "/opt/hadoop/etc/hadoop", "HADOOP_USER_NAME": USER}
        return [
            ContainerSpec(
                "namenode", self.image(), ["hdfs", "namenode"],
                {**base_env, **hadoop_env(core, namenode), "ENSURE_NAMENODE_DIR": self.NAME_DIR,
                 "ENSURE_NAMENODE_CLUSTERID": "flafka"},
                ports=[self.RPC, self.HTTP], alias="namenode",
            ),
            ContainerSpec(
                "datanode", self.image(), ["hdfs", "datanode"], {**base_env, **hadoop_env(core, datanode)},
                fixed_ports=[data, http, ipc], alias="datanode",
            ),
        ]  # fmt: skip

    def endpoints(self, host: str, mapped: Mapped) -> tuple[str, dict[str, str]]:
        from flafka_testkit.services.hdfs import USER

        webhdfs = f"http://{host}:{mapped[('namenode', self.HTTP)]}"
        rpc = f"hdfs://{host}:{mapped[('namenode', self.RPC)]}"
        return webhdfs, {"webhdfs": webhdfs, "rpc": rpc, "user": USER, "datanode_host": host}

    def probe(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import hdfs

        hdfs.probe(address)

    def ready(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import hdfs

        hdfs.probe(address)
        hdfs.write_probe(address, expect_hosts=(endpoints.get("datanode_host", "127.0.0.1"),))


# -- HBase ------------------------------------------------------------------------------

HBASE_DOCKER_VERSION = os.environ.get("FLAFKA_HBASE_DOCKER_VERSION", "2.6.1")

HBASE_DOCKERFILE = """# Built by flafka-testkit (services/docker.py): HBase @VERSION@ (hadoop3 build) on Java 17.
FROM @BASE@
ADD @URL@ /tmp/hbase.tar.gz
ADD @URL@.sha512 /tmp/hbase.tar.gz.sha512
RUN set -eu; \\
    expected=$(tr -d ' \\t\\r\\n' < /tmp/hbase.tar.gz.sha512 | grep -oiE '[0-9a-f]{128}' | head -n 1 | tr 'A-F' 'a-f'); \\
    actual=$(sha512sum /tmp/hbase.tar.gz | cut -d ' ' -f 1); \\
    if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then echo "SHA-512 mismatch: @URL@" >&2; exit 1; fi; \\
    mkdir -p /opt/hbase; \\
    tar -xzf /tmp/hbase.tar.gz -C /opt/hbase --strip-components=1; \\
    rm -rf /tmp/hbase.tar.gz /tmp/hbase.tar.gz.sha512 /opt/hbase/docs
ENV HBASE_HOME=/opt/hbase PATH=/opt/hbase/bin:$PATH
"""


def hbase_tarball_url(version: str = HBASE_DOCKER_VERSION) -> str:
    return os.environ.get("FLAFKA_HBASE_TARBALL_URL", "").strip() or (
        f"https://archive.apache.org/dist/hbase/{version}/hbase-{version}-hadoop3-bin.tar.gz"
    )


def hbase_dockerfile(version: str = HBASE_DOCKER_VERSION) -> str:
    base = os.environ.get("FLAFKA_HBASE_BASE_IMAGE", "").strip() or "eclipse-temurin:17-jre"
    return HBASE_DOCKERFILE.replace("@BASE@", base).replace("@URL@", hbase_tarball_url(version)).replace("@VERSION@", version)


class HBaseFlavour(Flavour):
    name = "hbase"
    image_var = "FLAFKA_HBASE_IMAGE"
    default_image = f"flafka-testkit/hbase:{HBASE_DOCKER_VERSION}-hadoop3"
    start_timeout = 300.0
    SITE = "/opt/hbase/conf/hbase-site.xml"

    def prepare(self) -> None:
        require_client("happybase", "hbase", "HBase")
        if self.image() == self.default_image:
            build_image(self.default_image, hbase_dockerfile())

    def containers(self, host: str, pick: Callable[[], int] = free_port) -> list[ContainerSpec]:
        from flafka_testkit.services.hbase import ZK_SESSION_TIMEOUT_MS, site

        zookeeper, master, regionserver, thrift = distinct_ports(4, pick)
        self.ports = {"zookeeper": zookeeper, "master": master, "regionserver": regionserver, "thrift": thrift}
        props = {
            "hbase.cluster.distributed": "false",
            "hbase.rootdir": "file:///tmp/flafka-hbase/root",
            "hbase.tmp.dir": "/tmp/flafka-hbase/tmp",
            "hbase.zookeeper.property.dataDir": "/tmp/flafka-hbase/zk",
            "hbase.zookeeper.quorum": "127.0.0.1",  # read by the processes in the container only
            "hbase.zookeeper.property.clientPort": str(zookeeper),
            "hbase.zookeeper.property.clientPortAddress": "0.0.0.0",
            "hbase.unsafe.stream.capability.enforce": "false",
            # Advertised = the Docker host; bound = every interface of the container.
            "hbase.master.hostname": host,
            "hbase.unsafe.regionserver.hostname": host,
            "hbase.master.ipc.address": "0.0.0.0",
            "hbase.regionserver.ipc.address": "0.0.0.0",
            "hbase.master.port": str(master),
            "hbase.regionserver.port": str(regionserver),
            "hbase.master.info.port": "-1",
            "hbase.regionserver.info.port": "-1",
            "hbase.thrift.info.port": "-1",
            "hbase.thrift.server.socket.read.timeout": "3600000",
            "hbase.thrift.stop.timeout.seconds": "2",
            # as the local HBase: survive a 30 s pause (standalone's ZooKeeper session is 10 s)
            "zookeeper.session.timeout.localHBaseCluster": str(ZK_SESSION_TIMEOUT_MS),
            "zookeeper.session.timeout": str(ZK_SESSION_TIMEOUT_MS),
            "hbase.zookeeper.property.maxSessionTimeout": str(ZK_SESSION_TIMEOUT_MS),
        }
        script = (
            "HBASE_HEAPSIZE=1g hbase master start & "
            f"HBASE_HEAPSIZE=512m hbase thrift -b 0.0.0.0 -p {thrift} start & "
            "wait -n; exit 1"  # either process ending ends the container (the watchdog sees it)
        )
        return [
            ContainerSpec(
                "hbase", self.image(), ["bash", "-c", script],
                fixed_ports=[zookeeper, master, regionserver, thrift], files={self.SITE: site(props).encode()},
            )
        ]  # fmt: skip

    def endpoints(self, host: str, mapped: Mapped) -> tuple[str, dict[str, str]]:
        address = f"{host}:{mapped[('hbase', self.ports['thrift'])]}"
        return address, {"thrift": address, "zookeeper": f"{host}:{mapped[('hbase', self.ports['zookeeper'])]}"}

    def probe(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import hbase

        hbase.probe(address)

    def ready(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import hbase

        hbase.probe(address)
        hbase.write_probe(address)


def build_image(tag: str, dockerfile: str) -> None:
    """Build ``tag`` from ``dockerfile`` unless the engine already has it (Docker caches
    the layers, so the download happens once per engine)."""
    from testcontainers.core.docker_client import DockerClient

    client = DockerClient().client
    try:
        client.images.get(tag)
        return
    except Exception:
        pass
    from testcontainers.core.image import DockerImage

    with tempfile.TemporaryDirectory(prefix="flafka-image-") as context:
        (Path(context) / "Dockerfile").write_text(dockerfile)
        try:
            DockerImage(path=context, tag=tag, clean_up=False).build()
        except Exception as exc:
            raise ServiceError(
                f"building the Docker image {tag} failed: {exc}. Fix: check that the engine can reach "
                "archive.apache.org (or set FLAFKA_HBASE_TARBALL_URL to a mirror), or set FLAFKA_TESTKIT_DOCKER=0 "
                "to use local processes."
            ) from None


# -- Kudu -------------------------------------------------------------------------------


class KuduFlavour(Flavour):
    name = "kudu"
    image_var = "FLAFKA_KUDU_IMAGE"
    default_image = "apache/kudu:1.17.0"

    def prepare(self) -> None:
        from flafka_testkit.services import kudu

        self.kudu_home = kudu.install()  # the host's kudu CLI: readiness and tests use it

    def containers(self, host: str, pick: Callable[[], int] = free_port) -> list[ContainerSpec]:
        from flafka_testkit.services.kudu import NO_CLOUD_PROBES

        master, tserver = distinct_ports(2, pick)
        self.ports = {"master": master, "tserver": tserver}
        common = [
            "--unlock_unsafe_flags", "--unlock_experimental_flags", "--time_source=system_unsync",
            "--never_fsync", "--enable_minidumps=false", "--redact=none", "--webserver_doc_root=/opt/kudu/www",
            "--logtostderr", "--block_cache_capacity_mb=64", *NO_CLOUD_PROBES,
        ]  # fmt: skip
        master_args = [
            *common, "--fs_wal_dir=/var/lib/kudu/master", f"--rpc_bind_addresses=0.0.0.0:{master}",
            f"--rpc_advertised_addresses={host}:{master}", "--webserver_port=8051", "--default_num_replicas=1",
            "--memory_limit_hard_bytes=536870912",
        ]  # fmt: skip
        tserver_args = [
            *common, "--fs_wal_dir=/var/lib/kudu/tserver", f"--rpc_bind_addresses=0.0.0.0:{tserver}",
            f"--rpc_advertised_addresses={host}:{tserver}", "--webserver_port=8050",
            f"--tserver_master_addrs=127.0.0.1:{master}", "--memory_limit_hard_bytes=1073741824",
        ]  # fmt: skip
        # Either process ending ends the container (so the watchdog sees it).
        master_cmd, tserver_cmd = shlex.join(["kudu", "master", "run", *master_args]), shlex.join(["kudu", "tserver", "run", *tserver_args])
        script = f"{master_cmd} & {tserver_cmd} & wait -n; exit 1"
        return [ContainerSpec("kudu", self.image(), ["bash", "-c", script], fixed_ports=[master, tserver])]

    def endpoints(self, host: str, mapped: Mapped) -> tuple[str, dict[str, str]]:
        address = f"{host}:{mapped[('kudu', self.ports['master'])]}"
        endpoints = {"master": address, "tserver": f"{host}:{mapped[('kudu', self.ports['tserver'])]}"}
        home = getattr(self, "kudu_home", None)
        if home is not None:
            endpoints["kudu_cli"] = str(home / "bin" / "kudu")
        return address, endpoints

    def probe(self, address: str, endpoints: Mapping[str, str]) -> None:
        from flafka_testkit.services import kudu

        kudu.probe(address, timeout=10)


FLAVOURS: dict[str, type[Flavour]] = {f.name: f for f in (KafkaFlavour, HdfsFlavour, HBaseFlavour, KuduFlavour)}


def published(specs: list[ContainerSpec], exposed: Callable[[str, int], int]) -> dict[tuple[str, int], int]:
    """(role, container port) -> host port, in spec order: random ports asked from the
    engine (``exposed(role, port)``), fixed ports as they are."""
    mapped: dict[tuple[str, int], int] = {}
    for spec in specs:
        for port in spec.fixed_ports:
            mapped[(spec.role, port)] = port
        for port in spec.ports:
            mapped[(spec.role, port)] = int(exposed(spec.role, port))
    return mapped


class DockerService(Service):
    """A service in containers started by testcontainers (see the module docstring)."""

    source: ClassVar[str] = "docker"

    def __init__(self, name: str, flavour: Flavour | None = None) -> None:
        if name not in SUPPORTED:
            raise ServiceError(f"{name} has no Docker flavour; it runs as local processes.")
        self.name = name  # type: ignore[misc]
        self.flavour = flavour or FLAVOURS[name]()
        self.containers: dict[str, Any] = {}
        self.network: Any = None
        self._address: str | None = None
        self._endpoints: dict[str, str] = {}

    @property
    def address(self) -> str | None:
        return self._address

    @property
    def endpoints(self) -> dict[str, str]:
        return dict(self._endpoints)

    def start(self, timeout: float | None = None) -> bool:
        if self.containers:
            return False
        try:
            import testcontainers  # noqa: F401
        except ImportError:
            raise ServiceError("the Docker path needs testcontainers: pip install 'flafka-testkit[docker]'.") from None
        timeout = timeout or float(os.environ.get("FLAFKA_START_TIMEOUT", self.flavour.start_timeout))
        self.flavour.prepare()
        host = docker_host()
        specs = self.flavour.containers(host)
        images = ", ".join(dict.fromkeys(spec.image for spec in specs))
        try:
            if len(specs) > 1:
                from testcontainers.core.network import Network

                self.network = Network().create()
            for spec in specs:
                container = self.flavour.make_container(spec, self.network, host)
                self.containers[spec.role] = container
                container.start()
            mapped = published(specs, lambda role, port: self.containers[role].get_exposed_port(port))
            self._address, self._endpoints = self.flavour.endpoints(host, mapped)
            address, endpoints = self._address, dict(self._endpoints)

            def ready() -> bool:
                self.flavour.ready(address, endpoints)
                return True

            wait_for(ready, timeout=timeout, what=f"{self.name} in Docker ({images}) did not become ready", alive=self.died)
        except ServiceError as exc:
            logs = self._log_tail()
            self.stop()
            raise ServiceError(f"{exc}{logs}\nFix: set FLAFKA_TESTKIT_DOCKER=0 to use local processes instead.") from None
        except Exception as exc:
            logs = self._log_tail()
            self.stop()
            raise ServiceError(
                f"starting {self.name} in Docker ({images}) failed: {type(exc).__name__}: {exc}{logs}\nFix: check the "
                "Docker engine and the image name (env vars in docs/testing.md), or set FLAFKA_TESTKIT_DOCKER=0 to use "
                "local processes."
            ) from None
        return True

    def _log_tail(self, lines: int = 25) -> str:
        parts = []
        for role, container in self.containers.items():
            try:
                out, err = container.get_logs()
                text = (out + err).decode(errors="replace").splitlines()[-lines:]
            except Exception:
                continue
            parts.append(f"\nLast lines of container {role}:\n" + "\n".join("    " + line for line in text))
        return "".join(parts)

    def stop(self, grace: float | None = None) -> None:
        for container in reversed(list(self.containers.values())):
            try:
                container.stop()
            except Exception:
                pass  # already gone; testcontainers' reaper removes leftovers
        self.containers = {}
        if self.network is not None:
            try:
                self.network.remove()
            except Exception:
                pass
            self.network = None
        self._address = None
        self._endpoints = {}

    def died(self) -> str | None:
        for role, container in self.containers.items():
            try:
                container.reload()
                state = container.status
            except Exception as exc:
                return f"container {role} cannot be inspected ({exc})"
            if state not in ("running", "created"):
                return f"container {role} is {state}.{self._log_tail()}"
        return None

    def probe(self) -> None:
        if not self._address:
            raise ServiceError(f"{self.name} (Docker) is not started")
        self.flavour.probe(self._address, self._endpoints)

    def status(self) -> Status:
        ready = self.is_ready()
        running = bool(self.containers) and self.died() is None
        return Status(self.name, "docker", running, ready, self._address, self.endpoints)
