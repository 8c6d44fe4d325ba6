"""``flafka testkit up|down|status``: which services each command covers, ``kafka-secure``
included, and (integration) the SASL_SSL broker started and stopped through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flafka_testkit import cli, fixtures
from flafka_testkit.services import DEFAULT_UP, NAMES, ServiceError
from flafka_testkit.services.base import Service, Status


class FakeService(Service):
    source = "local"

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name  # type: ignore[misc]
        self.calls = calls

    @property
    def address(self) -> str:
        return f"{self.name}:1"

    @property
    def endpoints(self) -> dict[str, str]:
        return {"bootstrap": self.address, "password": "pw-secret"}

    def start(self, timeout: float | None = None) -> bool:
        self.calls.append(f"up {self.name}")
        return True

    def stop(self, grace: float | None = None) -> None:
        self.calls.append(f"down {self.name}")

    def probe(self) -> None:
        return None

    def status(self) -> Status:
        return Status(self.name, "local", True, True, self.address, self.endpoints)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    recorded: list[str] = []
    monkeypatch.setattr(cli, "get_service", lambda name, docker=True: FakeService(name, recorded))
    return recorded


def test_kafka_secure_is_offered_but_not_started_by_default(calls: list[str]) -> None:
    assert "kafka-secure" in NAMES and "kafka-secure" not in DEFAULT_UP
    result = CliRunner().invoke(cli.testkit, ["up"])
    assert result.exit_code == 0, result.output
    assert calls == [f"up {name}" for name in DEFAULT_UP]
    calls.clear()
    result = CliRunner().invoke(cli.testkit, ["up", "kafka-secure"])
    assert result.exit_code == 0, result.output
    assert calls == ["up kafka-secure"]
    assert "pw-secret" not in result.output and "bootstrap=kafka-secure:1" in result.output
    calls.clear()
    assert CliRunner().invoke(cli.testkit, ["down"]).exit_code == 0
    assert calls == [f"down {name}" for name in reversed(NAMES)]  # down covers every service


def test_status_lists_kafka_secure_and_masks_its_password(calls: list[str]) -> None:
    result = CliRunner().invoke(cli.testkit, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("kafka-secure local  ready") for line in lines), result.output
    assert any(line.startswith("kafka        local  ready") for line in lines), result.output  # aligned
    assert "pw-secret" not in result.output and "password: ******" in result.output
    rows = json.loads(CliRunner().invoke(cli.testkit, ["status", "--json", "kafka-secure"]).output)
    assert rows[0]["name"] == "kafka-secure" and rows[0]["endpoints"]["password"] == "pw-secret"


def test_status_of_a_stopped_kafka_secure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAFKA_RUN_DIR", str(tmp_path))
    result = CliRunner().invoke(cli.testkit, ["status", "kafka-secure", "kafka"])
    assert result.exit_code == 0, result.output
    assert "kafka-secure local  stopped" in result.output and "kafka        local  stopped" in result.output


@pytest.mark.integration
def test_up_status_down_kafka_secure_for_real() -> None:
    """Starts the SASL_SSL broker through the CLI (in $FLAFKA_RUN_DIR), authenticates over
    TLS with what ``status --json`` reports, and stops it with ``down``."""
    from flafka_testkit.services.kafka import SecureKafkaService, probe_secure

    service = SecureKafkaService()
    try:
        service.prepare()  # Java, Maven, jars, confluent-kafka: skip (or fail in CI) when missing
    except ServiceError as exc:
        fixtures._unavailable("kafka-secure", str(exc))
    was_running = service.running()
    runner = CliRunner()
    result = runner.invoke(cli.testkit, ["up", "kafka-secure"])
    try:
        assert result.exit_code == 0, result.output
        assert ("kafka-secure: started" in result.output) or ("kafka-secure: already running" in result.output)
        status = runner.invoke(cli.testkit, ["status", "kafka-secure"])
        assert status.exit_code == 0 and "kafka-secure local  ready" in status.output, status.output
        (row,) = json.loads(runner.invoke(cli.testkit, ["status", "--json", "kafka-secure"]).output)
        endpoints: dict[str, Any] = row["endpoints"]
        assert row["address"] == endpoints["bootstrap"] and row["address"].startswith("127.0.0.1:")
        assert endpoints["password"] not in status.output  # masked in text
        probe_secure(row["address"], endpoints["ca_file"], endpoints["username"], endpoints["password"])
        with pytest.raises(ServiceError):  # a wrong password is refused: it really is authenticated
            probe_secure(row["address"], endpoints["ca_file"], endpoints["username"], "wrong", timeout=3)
    finally:
        if not was_running:
            down = runner.invoke(cli.testkit, ["down", "kafka-secure"])
            assert down.exit_code == 0 and "kafka-secure: stopped" in down.output, down.output
    if not was_running:
        assert not SecureKafkaService().running()
        assert "kafka-secure local  stopped" in runner.invoke(cli.testkit, ["status", "kafka-secure"]).output
