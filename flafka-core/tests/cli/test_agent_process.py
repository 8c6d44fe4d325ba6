"""``flafka agent`` as a real process: exit statuses, signals, reload, monitoring, status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

UNBOUNDED = """\
agent.sources = s
agent.channels = c
agent.sinks = k
agent.sources.s.type = seq
agent.sources.s.batchSize = 100
agent.sources.s.channels = c
agent.channels.c.type = memory
agent.channels.c.capacity = {capacity}
agent.channels.c.transactionCapacity = 100
agent.sinks.k.type = null
agent.sinks.k.batchSize = 100
agent.sinks.k.channel = c
"""


class AgentProc:
    def __init__(self, tmp_path: Path, conf: str, *flags: str) -> None:
        self.conf = tmp_path / "agent.conf"
        self.conf.write_text(conf)
        self.log = tmp_path / "agent.log"
        env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(self.conf), "-Dflume.root.logger=INFO,console", *flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20.0, count: int = 1) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = list(re.finditer(pattern, self.text()))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"'{pattern}' not logged (exit {self.proc.poll()}):\n{self.text()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def procs() -> Iterator[list[AgentProc]]:
    started: list[AgentProc] = []
    yield started
    for p in started:
        p.kill()


def start(procs: list[AgentProc], tmp_path: Path, conf: str, *flags: str) -> AgentProc:
    p = AgentProc(tmp_path, conf, *flags)
    procs.append(p)
    return p


def test_exit_when_drained(procs: list[AgentProc], tmp_path: Path) -> None:
    conf = UNBOUNDED.format(capacity=1000) + "agent.sources.s.totalEvents = 5000\n"
    p = start(procs, tmp_path, conf, "--exit-when-drained", "--no-reload-conf")
    assert p.wait() == 0, p.text()
    assert "drained" in p.text()


def test_sigterm_stops_cleanly(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000), "--no-reload-conf")
    p.wait_for("agent 'agent' started")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.text()
    assert "SIGTERM received" in p.text() and "agent 'agent' stopped" in p.text()


def test_config_error_exits_2(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000).replace("type = null", "type = nul"))
    assert p.wait() == 2
    assert "did you mean 'null'?" in p.text()
    assert "Traceback" not in p.text()


STUCK = UNBOUNDED.replace(
    "agent.sinks.k.type = null", "agent.sinks.k.type = file_roll\nagent.sinks.k.sink.directory = {directory}"
).replace("agent.sinks.k.batchSize", "agent.sinks.k.sink.batchSize")


def test_stop_timeout_exits_1_and_second_signal_forces(procs: list[AgentProc], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    conf = STUCK.format(capacity=1000, directory=tmp_path / "file" / "sub")  # never writable: events stay in the channel
    p = start(procs, tmp_path, conf, "--no-reload-conf", "-Dflafka.stop.timeout=0.2")
    p.wait_for("agent 'agent' started")
    p.signal(signal.SIGTERM)
    assert p.wait() == 1, p.text()
    assert "stopped before its channels drained" in p.text()

    forced = start(procs, tmp_path, conf, "--no-reload-conf", "-Dflafka.stop.timeout=60")
    forced.wait_for("agent 'agent' started")
    forced.signal(signal.SIGINT)
    forced.wait_for("SIGINT received")
    forced.signal(signal.SIGINT)
    assert forced.wait(10) == 1
    assert "exiting now without draining" in forced.text()


def test_sighup_reloads_and_invalid_config_keeps_the_old_one(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000), "--no-reload-conf")
    p.wait_for("agent 'agent' started")
    p.conf.write_text(UNBOUNDED.format(capacity=2000))
    p.signal(signal.SIGHUP)
    p.wait_for("configuration reloaded")
    p.wait_for("agent 'agent' reloaded")
    p.conf.write_text(UNBOUNDED.format(capacity=2000).replace("type = null", "type = nul"))
    p.signal(signal.SIGHUP)
    p.wait_for("still running the previous one")
    assert "did you mean 'null'?" in p.text()
    assert p.proc.poll() is None
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.text()


def test_changed_file_is_reloaded(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000), "-i", "0.2")
    p.wait_for("agent 'agent' started")
    time.sleep(0.3)
    p.conf.write_text(UNBOUNDED.format(capacity=3000) + "# changed\n")
    p.wait_for("reloading the configuration \\(a config file changed\\)")
    p.wait_for("configuration reloaded")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.text()


def test_no_reload_conf_ignores_changes(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000), "--no-reload-conf", "-i", "0.1")
    p.wait_for("agent 'agent' started")
    p.conf.write_text(UNBOUNDED.format(capacity=3000) + "# changed\n")
    time.sleep(0.6)
    assert "reloading" not in p.text()
    p.signal(signal.SIGTERM)
    assert p.wait() == 0


def test_http_monitoring_and_status_lines(procs: list[AgentProc], tmp_path: Path) -> None:
    p = start(
        procs,
        tmp_path,
        UNBOUNDED.format(capacity=1000),
        "--no-reload-conf",
        "-Dflume.monitoring.type=http",
        "-Dflume.monitoring.port=0",
        "-Dflafka.status.interval=0.2",
    )
    url = p.wait_for(r"metrics at (http://127\.0\.0\.1:\d+/metrics)").group(1)
    with urllib.request.urlopen(url, timeout=5) as resp:
        doc = json.loads(resp.read())
    assert doc["SOURCE.s"]["Type"] == "SOURCE"
    assert doc["CHANNEL.c"]["ChannelCapacity"] == "1000"
    assert all(isinstance(v, str) for group in doc.values() for v in group.values())
    with urllib.request.urlopen(url + "/prometheus", timeout=5) as resp:
        assert 'component_sent_events_total{component_id="k",component_kind="sink",component_type="null"}' in resp.read().decode()
    p.wait_for(r"channel c \(memory\): in [\d,.]+/s, out [\d,.]+/s, size")
    p.wait_for(r"sink k \(null\): in")
    p.signal(signal.SIGTERM)
    assert p.wait() == 0, p.text()


def test_monitoring_port_in_use_exits_3(procs: list[AgentProc], tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        p = start(procs, tmp_path, UNBOUNDED.format(capacity=1000), "-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={port}")
        assert p.wait() == 3
    assert f"cannot serve metrics on 127.0.0.1:{port}" in p.text()
