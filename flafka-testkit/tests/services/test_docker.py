"""The Docker flavours without a Docker engine (there is none on the project's machines):
where a service comes from, the container specs built from config, the addresses a service
reports, and DockerService's orchestration against fake containers. Whether the images
really start with these specs is NOT tested here (see docs/testing.md)."""

from __future__ import annotations

import http.server
import re
import shlex
import sys
import threading
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from flafka_testkit.services import docker, get_service, hdfs
from flafka_testkit.services.base import ExternalService, LocalService, ServiceError


@pytest.fixture(autouse=True)
def _no_cached_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "_available", None)
    for var in ("FLAFKA_TESTKIT_DOCKER", "FLAFKA_TEST_KAFKA", "FLAFKA_TEST_HDFS", "FLAFKA_TEST_HBASE", "FLAFKA_TEST_KUDU"):
        monkeypatch.delenv(var, raising=False)
    for var in ("FLAFKA_KAFKA_IMAGE", "FLAFKA_HADOOP_IMAGE", "FLAFKA_HBASE_IMAGE", "FLAFKA_KUDU_IMAGE",
                "FLAFKA_HBASE_TARBALL_URL", "FLAFKA_HBASE_BASE_IMAGE"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


def ports_from(*ports: int) -> Any:
    """A deterministic port picker (the flavours pick free host ports through it)."""
    it = iter(ports)
    return lambda: next(it)


# -- detection and choice ----------------------------------------------------------------


class FakeEngine:
    def __init__(self, answers: bool | Exception) -> None:
        self.answers = answers
        self.calls = 0

    def module(self) -> types.ModuleType:
        fake = types.ModuleType("docker")

        def from_env(timeout: int = 60) -> Any:
            self.calls += 1
            if isinstance(self.answers, Exception):
                raise self.answers
            return types.SimpleNamespace(ping=lambda: self.answers)

        fake.from_env = from_env  # type: ignore[attr-defined]
        return fake


@pytest.mark.parametrize(("answers", "expected"), [(True, True), (ConnectionError("no socket"), False), (False, False)])
def test_detection_pings_the_engine(monkeypatch: pytest.MonkeyPatch, answers: bool | Exception, expected: bool) -> None:
    engine = FakeEngine(answers)
    monkeypatch.setitem(sys.modules, "docker", engine.module())
    assert docker.docker_available() is expected
    assert docker.docker_available() is expected
    assert engine.calls == 1  # cached for the process


@pytest.mark.parametrize("value", ["0", "false", "no", "OFF"])
def test_docker_off_does_not_even_ping(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    engine = FakeEngine(True)
    monkeypatch.setitem(sys.modules, "docker", engine.module())
    monkeypatch.setenv("FLAFKA_TESTKIT_DOCKER", value)
    assert docker.docker_available() is False
    assert engine.calls == 0
    monkeypatch.setattr(docker, "_available", True)  # an earlier positive answer does not override the switch
    assert docker.docker_available() is False


def test_choice_env_var_then_docker_then_local(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FLAFKA_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(docker, "_available", True)  # "an engine answered"
    for name, flavour in (("kafka", docker.KafkaFlavour), ("hdfs", docker.HdfsFlavour), ("hbase", docker.HBaseFlavour),
                          ("kudu", docker.KuduFlavour)):  # fmt: skip
        service = get_service(name)
        assert isinstance(service, docker.DockerService) and isinstance(service.flavour, flavour), name
        assert service.source == "docker"
        assert isinstance(get_service(name, docker=False), LocalService), name  # the CLI's choice
    for name in ("kafka-secure", "flume"):  # no Docker flavour
        assert isinstance(get_service(name), LocalService), name

    monkeypatch.setenv("FLAFKA_TEST_HDFS", "http://10.0.0.1:9870")
    service = get_service("hdfs")
    assert isinstance(service, ExternalService) and service.address == "http://10.0.0.1:9870"

    monkeypatch.setenv("FLAFKA_TESTKIT_DOCKER", "0")
    assert isinstance(get_service("hbase"), LocalService)
    monkeypatch.delenv("FLAFKA_TESTKIT_DOCKER")
    monkeypatch.setattr(docker, "_available", False)  # no engine
    assert isinstance(get_service("kudu"), LocalService)


def test_cli_never_uses_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from flafka_testkit.cli import testkit

    monkeypatch.setenv("FLAFKA_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(docker, "_available", True)
    result = CliRunner().invoke(testkit, ["status", "hdfs", "kudu"])
    assert result.exit_code == 0, result.output
    assert "hdfs   local  stopped" in result.output and "kudu   local  stopped" in result.output


def test_no_docker_flavour_is_refused() -> None:
    with pytest.raises(ServiceError, match="flume has no Docker flavour"):
        docker.DockerService("flume")


# -- specs: ports, hosts ----------------------------------------------------------------


def test_port_bindings_loopback_for_a_local_engine_all_interfaces_otherwise() -> None:
    spec = docker.ContainerSpec("x", "img", ports=[9870], fixed_ports=[40001])
    assert spec.port_bindings("127.0.0.1") == {"9870/tcp": ("127.0.0.1",), "40001/tcp": ("127.0.0.1", 40001)}
    assert spec.port_bindings("docker.example") == {"9870/tcp": None, "40001/tcp": 40001}
    assert docker.normalize_host("localhost") == "127.0.0.1" and docker.normalize_host("tc.example") == "tc.example"


def test_distinct_ports_skips_repeats() -> None:
    assert docker.distinct_ports(3, ports_from(5, 5, 6, 5, 7)) == [5, 6, 7]


def test_published_maps_random_ports_through_the_engine_and_keeps_fixed_ones() -> None:
    specs = [docker.ContainerSpec("a", "i", ports=[80, 81]), docker.ContainerSpec("b", "i", fixed_ports=[40000])]
    asked: list[tuple[str, int]] = []

    def exposed(role: str, port: int) -> int:
        asked.append((role, port))
        return 30000 + port

    assert docker.published(specs, exposed) == {("a", 80): 30080, ("a", 81): 30081, ("b", 40000): 40000}
    assert asked == [("a", 80), ("a", 81)]


# -- Kafka -------------------------------------------------------------------------------


def test_kafka_spec_and_address(monkeypatch: pytest.MonkeyPatch) -> None:
    flavour = docker.KafkaFlavour()
    (spec,) = flavour.containers("127.0.0.1")
    assert spec.image == "confluentinc/cp-kafka:7.6.0" and spec.ports == [9093]
    monkeypatch.setenv("FLAFKA_KAFKA_IMAGE", "confluentinc/cp-kafka:7.7.1")
    assert flavour.containers("127.0.0.1")[0].image == "confluentinc/cp-kafka:7.7.1"
    assert flavour.endpoints("127.0.0.1", {("kafka", 9093): 32771}) == ("127.0.0.1:32771", {"bootstrap": "127.0.0.1:32771"})


# -- HDFS --------------------------------------------------------------------------------


def envtoconf(key: str) -> tuple[str, str, str] | None:
    """How the apache/hadoop image's envtoconf.py reads one env var name: (file name,
    extension, config key), or None when it is not a config file entry (same split rule,
    same exclusion)."""
    if key == "HADOOP_CONF_DIR":
        return None
    parts = re.split(r"[_\.]", key)
    if len(parts) < 2 or parts[1].lower() not in ("xml", "properties", "yaml", "yml", "env", "sh", "cfg", "conf"):
        return None
    name, extension = parts[0].lower(), parts[1].lower()
    return name, extension, key[len(name) + len(extension) + 2 :].strip()


def site_of(spec: docker.ContainerSpec) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = {}
    for key, value in spec.env.items():
        parsed = envtoconf(key)
        if parsed:
            files.setdefault(f"{parsed[0]}.{parsed[1]}", {})[parsed[2]] = value
    return files


def test_hdfs_specs_follow_the_image_entrypoint() -> None:
    flavour = docker.HdfsFlavour()
    namenode, datanode = flavour.containers("127.0.0.1", ports_from(41001, 41002, 41003))
    assert (namenode.image, datanode.image) == ("apache/hadoop:3.4.2", "apache/hadoop:3.4.2")
    assert namenode.command == ["hdfs", "namenode"] and datanode.command == ["hdfs", "datanode"]
    assert namenode.alias == "namenode" and namenode.ports == [8020, 9870] and not namenode.fixed_ports

    nn, dn = site_of(namenode), site_of(datanode)
    assert set(nn) == set(dn) == {"core-site.xml", "hdfs-site.xml"}
    assert nn["core-site.xml"]["fs.defaultFS"] == dn["core-site.xml"]["fs.defaultFS"] == "hdfs://namenode:8020"
    assert nn["hdfs-site.xml"]["dfs.namenode.rpc-address"] == "namenode:8020"
    assert nn["hdfs-site.xml"]["dfs.namenode.http-address"] == "0.0.0.0:9870"
    # The entrypoint formats the NameNode when ENSURE_NAMENODE_DIR does not exist: it must be the name dir.
    assert "file://" + namenode.env["ENSURE_NAMENODE_DIR"] == nn["hdfs-site.xml"]["dfs.namenode.name.dir"]
    assert nn["hdfs-site.xml"]["dfs.namenode.datanode.registration.ip-hostname-check"] == "false"
    assert namenode.env["HADOOP_CONF_DIR"] == "/opt/hadoop/etc/hadoop"  # where envtoconf writes

    # The DataNode registers as the Docker host, on ports published 1:1.
    assert dn["hdfs-site.xml"]["dfs.datanode.hostname"] == "127.0.0.1"
    assert datanode.fixed_ports == [41001, 41002, 41003] and not datanode.ports
    assert dn["hdfs-site.xml"]["dfs.datanode.address"] == "0.0.0.0:41001"
    assert dn["hdfs-site.xml"]["dfs.datanode.http.address"] == "0.0.0.0:41002"
    assert dn["hdfs-site.xml"]["dfs.datanode.ipc.address"] == "0.0.0.0:41003"
    assert "dfs.client.use.datanode.hostname" not in dn["hdfs-site.xml"]  # in the network the DataNode's IP works

    remote = docker.HdfsFlavour().containers("docker.example", ports_from(1, 2, 3))[1]
    assert site_of(remote)["hdfs-site.xml"]["dfs.datanode.hostname"] == "docker.example"


def test_hdfs_address_and_image_override(monkeypatch: pytest.MonkeyPatch) -> None:
    flavour = docker.HdfsFlavour()
    address, endpoints = flavour.endpoints("127.0.0.1", {("namenode", 8020): 32001, ("namenode", 9870): 32002})
    assert address == endpoints["webhdfs"] == "http://127.0.0.1:32002"
    assert endpoints["rpc"] == "hdfs://127.0.0.1:32001" and endpoints["user"] == hdfs.USER
    monkeypatch.setenv("FLAFKA_HADOOP_IMAGE", "apache/hadoop:3.4.1")
    assert {s.image for s in flavour.containers("127.0.0.1")} == {"apache/hadoop:3.4.1"}


class _Redirector(http.server.BaseHTTPRequestHandler):
    location = ""

    def do_PUT(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def namenode_redirecting_to() -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def redirect(location: str) -> str:
        _Redirector.location = location
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield redirect
    server.shutdown()
    server.server_close()


def test_write_probe_insists_on_the_advertised_datanode_host(namenode_redirecting_to: Any) -> None:
    base = namenode_redirecting_to("http://172.18.0.3:9864/webhdfs/v1/tmp/x?op=CREATE")
    with pytest.raises(ServiceError, match=r"advertises 172\.18\.0\.3, not 127\.0\.0\.1 or localhost"):
        hdfs.write_probe(base, timeout=5)
    with pytest.raises(ServiceError, match=r"advertises 172\.18\.0\.3, not docker\.example"):
        hdfs.write_probe(base, timeout=5, expect_hosts=("docker.example",))


# -- HBase -------------------------------------------------------------------------------


def test_hbase_spec_site_and_command() -> None:
    flavour = docker.HBaseFlavour()
    (spec,) = flavour.containers("127.0.0.1", ports_from(42001, 42002, 42003, 42004))
    assert spec.image == "flafka-testkit/hbase:2.6.1-hadoop3"
    assert spec.fixed_ports == [42001, 42002, 42003, 42004] and not spec.ports
    root = ET.fromstring(spec.files["/opt/hbase/conf/hbase-site.xml"])
    props = {p.findtext("name"): p.findtext("value") for p in root.iter("property")}
    assert props["hbase.cluster.distributed"] == "false"
    assert props["hbase.zookeeper.property.clientPort"] == "42001"
    assert props["hbase.master.port"] == "42002" and props["hbase.regionserver.port"] == "42003"
    assert props["hbase.master.hostname"] == props["hbase.unsafe.regionserver.hostname"] == "127.0.0.1"
    assert props["hbase.master.ipc.address"] == props["hbase.regionserver.ipc.address"] == "0.0.0.0"
    # survives a 30 s pause: standalone's own ZooKeeper session is 10 s
    for key in ("zookeeper.session.timeout.localHBaseCluster", "zookeeper.session.timeout", "hbase.zookeeper.property.maxSessionTimeout"):
        assert props[key] == "120000", key
    assert spec.command[:2] == ["bash", "-c"]
    script = spec.command[2]
    assert "hbase master start &" in script and "hbase thrift -b 0.0.0.0 -p 42004 start &" in script
    assert script.endswith("wait -n; exit 1")
    address, endpoints = flavour.endpoints("127.0.0.1", docker.published([spec], lambda r, p: 0))
    assert address == endpoints["thrift"] == "127.0.0.1:42004" and endpoints["zookeeper"] == "127.0.0.1:42001"

    (remote,) = docker.HBaseFlavour().containers("docker.example", ports_from(1, 2, 3, 4))
    remote_props = {p.findtext("name"): p.findtext("value") for p in ET.fromstring(remote.files[flavour.SITE]).iter("property")}
    assert remote_props["hbase.master.hostname"] == "docker.example"


def test_hbase_image_is_built_from_the_official_tarball(monkeypatch: pytest.MonkeyPatch) -> None:
    text = docker.hbase_dockerfile("2.6.1")
    url = "https://archive.apache.org/dist/hbase/2.6.1/hbase-2.6.1-hadoop3-bin.tar.gz"
    assert text.splitlines()[1] == "FROM eclipse-temurin:17-jre"
    assert f"ADD {url} /tmp/hbase.tar.gz" in text and f"ADD {url}.sha512 " in text
    assert "sha512sum /tmp/hbase.tar.gz" in text and "ENV HBASE_HOME=/opt/hbase PATH=/opt/hbase/bin:$PATH" in text
    assert "@" not in text.replace("@URL@", "")  # every placeholder filled
    monkeypatch.setenv("FLAFKA_HBASE_TARBALL_URL", "https://mirror.example/hbase.tgz")
    monkeypatch.setenv("FLAFKA_HBASE_BASE_IMAGE", "eclipse-temurin:21-jre")
    text = docker.hbase_dockerfile("2.6.1")
    assert "FROM eclipse-temurin:21-jre" in text and "ADD https://mirror.example/hbase.tgz.sha512 " in text


def test_hbase_checksum_line_extracts_both_published_formats(tmp_path: Any) -> None:
    """The Dockerfile's shell pipeline reads a .sha512 in gpg's format (HBase's) and in sha512sum's."""
    import subprocess

    digest = "ab" * 64
    line = next(line for line in docker.hbase_dockerfile().splitlines() if "expected=$(" in line)
    pipeline = line.split("expected=$(", 1)[1].rsplit(");", 1)[0]
    gpg = "hbase-2.6.1-hadoop3-bin.tar.gz: " + " ".join(digest[i : i + 8].upper() for i in range(0, 128, 8))
    gpg = gpg[:70] + "\n" + gpg[70:]
    for content in (gpg, f"{digest}  hbase-2.6.1-hadoop3-bin.tar.gz\n"):
        (tmp_path / "f").write_text(content)
        script = pipeline.replace("/tmp/hbase.tar.gz.sha512", str(tmp_path / "f"))
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
        assert out == digest, content


# -- Kudu --------------------------------------------------------------------------------


def test_kudu_spec_advertises_host_reachable_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    flavour = docker.KuduFlavour()
    (spec,) = flavour.containers("127.0.0.1", ports_from(43001, 43002))
    assert spec.image == "apache/kudu:1.17.0" and spec.fixed_ports == [43001, 43002] and not spec.ports
    assert spec.command[:2] == ["bash", "-c"]
    first, second, tail = spec.command[2].split(" & ")
    master, tserver = shlex.split(first), shlex.split(second)
    assert master[:3] == ["kudu", "master", "run"] and tserver[:3] == ["kudu", "tserver", "run"]
    assert tail == "wait -n; exit 1"
    assert "--rpc_bind_addresses=0.0.0.0:43001" in master and "--rpc_advertised_addresses=127.0.0.1:43001" in master
    assert "--rpc_bind_addresses=0.0.0.0:43002" in tserver and "--rpc_advertised_addresses=127.0.0.1:43002" in tserver
    assert "--tserver_master_addrs=127.0.0.1:43001" in tserver
    for args in (master, tserver):
        assert "--time_source=system_unsync" in args and "--webserver_doc_root=/opt/kudu/www" in args
        assert "--cloud_aws_instance_id_url=http://127.0.0.1:9/" in args  # no cloud metadata probes
    assert len({a.split("=")[0] for a in master if a.startswith("--fs_wal_dir")}) == 1
    address, endpoints = flavour.endpoints("127.0.0.1", docker.published([spec], lambda r, p: 0))
    assert address == endpoints["master"] == "127.0.0.1:43001" and endpoints["tserver"] == "127.0.0.1:43002"

    monkeypatch.setenv("FLAFKA_KUDU_IMAGE", "apache/kudu:1.18.0")
    (remote,) = docker.KuduFlavour().containers("docker.example", ports_from(1, 2))
    assert remote.image == "apache/kudu:1.18.0" and "--rpc_advertised_addresses=docker.example:2" in remote.command[2]


# -- DockerService orchestration against fake containers ---------------------------------


class FakeContainer:
    def __init__(self, spec: docker.ContainerSpec, log: list[str]) -> None:
        self.spec, self.log, self.status = spec, log, "created"

    def start(self) -> FakeContainer:
        self.log.append(f"start {self.spec.role}")
        self.status = "running"
        return self

    def stop(self) -> None:
        self.log.append(f"stop {self.spec.role}")
        self.status = "removed"

    def reload(self) -> None:
        return None

    def get_exposed_port(self, port: int) -> int:
        return 50000 + port % 1000

    def get_logs(self) -> tuple[bytes, bytes]:
        return (f"{self.spec.role} says hello\n".encode(), b"")


class FakeFlavour(docker.Flavour):
    name = "kudu"
    image_var = "FLAFKA_FAKE_IMAGE"
    default_image = "fake:1"

    def __init__(self, roles: tuple[str, ...] = ("one",), ready_after: int = 0) -> None:
        self.roles, self.ready_after, self.calls = roles, ready_after, 0
        self.log: list[str] = []

    def containers(self, host: str, pick: Any = None) -> list[docker.ContainerSpec]:
        return [docker.ContainerSpec(role, self.image(), ports=[7051], alias=role) for role in self.roles]

    def endpoints(self, host: str, mapped: docker.Mapped) -> tuple[str, dict[str, str]]:
        address = f"{host}:{mapped[(self.roles[0], 7051)]}"
        return address, {"master": address}

    def probe(self, address: str, endpoints: Any) -> None:
        self.calls += 1
        if self.calls <= self.ready_after:
            raise ServiceError("not yet")

    def make_container(self, spec: docker.ContainerSpec, network: Any, host: str) -> Any:
        self.log.append(f"network {network}")
        return FakeContainer(spec, self.log)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "docker_host", lambda: "127.0.0.1")

    class FakeNetwork:
        def create(self) -> FakeNetwork:
            return self

        def remove(self) -> None:
            return None

        def __repr__(self) -> str:
            return "net"

    import testcontainers.core.network

    monkeypatch.setattr(testcontainers.core.network, "Network", FakeNetwork)


def test_service_starts_waits_for_the_client_call_and_stops(fake_engine: None) -> None:
    flavour = FakeFlavour(ready_after=2)
    service = docker.DockerService("kudu", flavour)
    assert service.start(timeout=10) is True
    assert flavour.calls == 3  # waited through two failed probes
    assert service.address == "127.0.0.1:50051" and service.endpoints == {"master": "127.0.0.1:50051"}
    assert service.start() is False  # already running
    status = service.status()
    assert status.source == "docker" and status.running and status.ready and status.address == "127.0.0.1:50051"
    assert service.died() is None
    service.containers["one"].status = "exited"
    reason = service.died()
    assert reason is not None and "container one is exited" in reason and "one says hello" in reason
    service.stop()
    assert service.address is None and not service.containers and flavour.log[-1] == "stop one"
    assert not service.is_ready()


def test_multi_container_flavours_share_a_network(fake_engine: None) -> None:
    flavour = FakeFlavour(roles=("namenode", "datanode"))
    service = docker.DockerService("kudu", flavour)
    service.start(timeout=5)
    assert flavour.log[:4] == ["network net", "start namenode", "network net", "start datanode"]
    service.stop()
    assert flavour.log[-2:] == ["stop datanode", "stop namenode"]  # reverse order


def test_a_service_that_never_answers_fails_with_the_container_logs(fake_engine: None) -> None:
    flavour = FakeFlavour(ready_after=10**6)
    service = docker.DockerService("kudu", flavour)
    with pytest.raises(ServiceError) as excinfo:
        service.start(timeout=1)
    message = str(excinfo.value)
    assert "did not become ready" in message and "one says hello" in message and "FLAFKA_TESTKIT_DOCKER=0" in message
    assert not service.containers and flavour.log[-1] == "stop one"  # cleaned up


def test_a_container_that_exits_during_start_stops_the_wait(fake_engine: None) -> None:
    flavour = FakeFlavour(ready_after=10**6)
    original = flavour.make_container

    def exiting(spec: docker.ContainerSpec, network: Any, host: str) -> Any:
        container = original(spec, network, host)
        container.start = lambda: setattr(container, "status", "exited") or container
        return container

    flavour.make_container = exiting  # type: ignore[method-assign]
    service = docker.DockerService("kudu", flavour)
    with pytest.raises(ServiceError, match="container one is exited"):
        service.start(timeout=30)
