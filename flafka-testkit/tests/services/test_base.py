"""The service machinery without real servers: idempotent start, stop by PID, a process that
dies, stale state, port taken, missing Java/Maven, bad artifacts, skip vs fail."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from flafka_testkit import fixtures
from flafka_testkit.services import base, maven
from flafka_testkit.services.base import LocalService, ServiceError


class SleepService(LocalService):
    """A fake server: a Python process that writes a 'ready' file, then sleeps (or exits)."""

    name = "sleeper"
    start_timeout = 20.0
    exit_code: int | None = None

    def prepare(self) -> None:
        return None

    def probe(self) -> None:
        if not (self.data_dir / "ready").exists():
            raise ServiceError("not ready")

    def launch(self, deadline: float) -> None:
        ready = self.data_dir / "ready"
        if self.exit_code is None:
            code = f"import time, pathlib; pathlib.Path({str(ready)!r}).write_text('x'); time.sleep(600)"
        else:
            code = f"print('boom: config is bad'); raise SystemExit({self.exit_code})"
        self.state["address"] = "sleeper://here"
        self.spawn("main", [sys.executable, "-c", code])
        self.wait_ready("the sleeper did not become ready", self.probe, deadline, interval=0.05)


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLAFKA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLAFKA_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def test_start_is_idempotent_and_stop_is_by_pid(run_dir: Path) -> None:
    service = SleepService()
    assert service.start() is True
    pid = service.pids()["main"]
    assert base.pid_alive(pid) and service.is_ready()
    again = SleepService()  # a fresh object reads state.json: another process, same service
    assert again.start() is False
    assert again.pids()["main"] == pid
    status = again.status()
    assert status.running and status.ready and status.address == "sleeper://here"
    again.stop(grace=5)
    base._reap(pid)
    assert not base.pid_alive(pid)
    assert not again.status().running
    again.stop(grace=1)  # stopping twice is fine


def test_a_process_that_dies_at_start_reports_its_log(run_dir: Path) -> None:
    service = SleepService()
    service.exit_code = 3
    started = time.monotonic()
    with pytest.raises(ServiceError) as excinfo:
        service.start(timeout=15)
    assert time.monotonic() - started < 10  # does not wait for the deadline
    message = str(excinfo.value)
    assert "has exited" in message and "boom: config is bad" in message and "Likely fix" in message


def test_a_process_that_dies_later_is_reported(run_dir: Path) -> None:
    service = SleepService()
    service.start()
    assert service.died() is None
    pid = service.pids()["main"]
    base.os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while base.pid_alive(pid) and time.monotonic() < deadline:
        base._reap(pid)
        time.sleep(0.05)
    reason = service.died()
    assert reason is not None and f"pid {pid}" in reason and "has exited" in reason
    assert not service.status().running
    assert service.start() is True  # stale state: starts afresh
    assert service.pids()["main"] != pid
    service.stop(grace=5)


def test_stale_data_directory_is_replaced(run_dir: Path) -> None:
    service = SleepService()
    (service.data_dir / "junk").mkdir(parents=True)
    (service.home / "state.json").write_text('{"pids": {"main": 999999999}, "address": "x"}')
    assert service.start() is True
    assert not (service.data_dir / "junk").exists()
    service.stop(grace=5)


def test_wait_has_a_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ServiceError, match="not ready after 1s"):
        base.wait_for(lambda: False, timeout=1, what="never", interval=0.05)
    assert time.monotonic() - started < 5


def test_port_taken_names_the_owner() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServiceError) as excinfo:
            base.check_port_free(port, "kafka")
    message = str(excinfo.value)
    assert f"127.0.0.1:{port} is already taken" in message
    assert "flafka testkit down kafka" in message


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojava"))
    with pytest.raises(ServiceError, match="openjdk-17"):
        base.find_java()


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(ServiceError, match="Java 11"):
        base.find_java(17)


def test_missing_maven_names_the_fix(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    monkeypatch.setenv("FLAFKA_MVN", "no-such-mvn-binary")
    spec = maven.Classpath("x", (maven.Coordinate("org.example", "nothing", "1"),))
    with pytest.raises(maven.ArtifactError, match="apt-get install -y maven"):
        maven.resolve_classpath(spec)


def test_coordinates_and_pom() -> None:
    coord = maven.Coordinate.parse("org.apache.kudu:kudu-binary:1.18.1:jar:linux-x86_64")
    assert coord.url().endswith("/org/apache/kudu/kudu-binary/1.18.1/kudu-binary-1.18.1-linux-x86_64.jar")
    spec = maven.Classpath("t", (maven.Coordinate("g", "a", "1", exclusions=("x:*",)),))
    pom = spec.pom()
    assert "<exclusion><groupId>x</groupId><artifactId>*</artifactId></exclusion>" in pom
    assert spec.key() != maven.Classpath("t", (maven.Coordinate("g", "a", "2"),)).key()


@pytest.mark.integration
def test_artifact_that_cannot_be_downloaded(run_dir: Path) -> None:
    """Needs Maven Central: a version that does not exist gives a clear error."""
    coord = maven.Coordinate("org.apache.kudu", "kudu-binary", "0.0.0-nope", classifier="linux-x86_64")
    with pytest.raises(maven.ArtifactError, match="cannot be downloaded: HTTP 404"):
        maven.fetch_artifact(coord)


def test_unavailable_service_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLAFKA_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="kafka unavailable: because"):
        fixtures._unavailable("kafka", "because")
    monkeypatch.setenv("FLAFKA_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"required \(FLAFKA_REQUIRE_SERVICES=1\) but unavailable: because"):
        fixtures._unavailable("kafka", "because")


def test_env_var_address_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka_testkit.services import ExternalService, get_service

    monkeypatch.setenv("FLAFKA_TEST_KAFKA", "127.0.0.1:1")
    service = get_service("kafka")
    assert isinstance(service, ExternalService) and service.address == "127.0.0.1:1"
    with pytest.raises(ServiceError, match="unset FLAFKA_TEST_KAFKA"):
        service.start(timeout=1)
    service.stop()  # never stops what it did not start


def test_cli_status_on_an_empty_run_dir(run_dir: Path) -> None:
    from click.testing import CliRunner

    from flafka_testkit.cli import testkit

    result = CliRunner().invoke(testkit, ["status", "kafka", "hdfs"])
    assert result.exit_code == 0, result.output
    assert "kafka  local  stopped" in result.output and "hdfs   local  stopped" in result.output
    assert CliRunner().invoke(testkit, ["up", "nosuch"]).exit_code == 2
