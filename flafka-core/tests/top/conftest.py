"""A real ``flafka agent`` process serving metrics on a free port, for ``flafka top``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PIPELINE = """\
agent.sources = gen
agent.channels = mem
agent.sinks = out
agent.sources.gen.type = seq
agent.sources.gen.batchSize = 100
agent.sources.gen.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 5000
agent.channels.mem.transactionCapacity = 100
agent.channels.mem.byteCapacity = 1000000
agent.sinks.out.type = null
agent.sinks.out.batchSize = 100
agent.sinks.out.channel = mem
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningAgent:
    def __init__(self, tmp_path: Path, conf: str, *flags: str) -> None:
        self.port = free_port()
        self.conf = tmp_path / "agent.conf"
        self.conf.write_text(conf)
        self.log = tmp_path / "agent.log"
        env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flafka",
                    "agent",
                    "-n",
                    "agent",
                    "-f",
                    str(self.conf),
                    "--no-reload-conf",
                    "-Dflume.root.logger=INFO,console",
                    "-Dflume.monitoring.type=http",
                    f"-Dflume.monitoring.port={self.port}",
                    *flags,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.wait_for(r"metrics at http://")
        # The metrics server answers before the components start; scrapes taken in between
        # lack the runners' probes (sink_runner_up). Tests want a running agent.
        self.wait_for(r"agent 'agent' started")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"'{pattern}' not logged (exit {self.proc.poll()}):\n{self.text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def run_agent(tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    started: list[RunningAgent] = []

    def start(conf: str = PIPELINE, *flags: str) -> RunningAgent:
        agent = RunningAgent(tmp_path, conf, *flags)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def flafka(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
    return subprocess.run([sys.executable, "-m", "flafka", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs ``flafka ARGS...`` in a subprocess."""
    return flafka


@pytest.fixture
def unused_port() -> int:
    return free_port()


def _tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "tmux"], capture_output=True, timeout=600, check=False)
        found = shutil.which("tmux")
    if found is None:
        if os.environ.get("FLAFKA_REQUIRE_SERVICES") == "1":
            pytest.fail("tmux is missing and could not be installed (apt-get install tmux)")
        pytest.skip("tmux is missing (apt-get install tmux)")
    return found


class Terminal:
    """One tmux server of our own (its socket in tmp_path) running one command."""

    def __init__(self, tmux: str, socket: Path) -> None:
        self.tmux = tmux
        self.socket = socket
        self.started = False

    def run(self, *args: str) -> str:
        result = subprocess.run([self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def start(self, command: str, width: int = 150, height: int = 30) -> None:
        script = f'trap true INT; {command}; echo "top exited $?"; sleep 120'
        env = f"-u COLUMNS -u LINES FLAFKA_PLUGINS=builtins PYTHONPATH={shlex.quote(os.pathsep.join(sys.path))}"
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), f"env {env} sh -c {shlex.quote(script)}")
        self.started = True

    def screen(self) -> str:
        """The visible screen and the scrollback above it."""
        return self.run("capture-pane", "-p", "-S", "-", "-t", "t")

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"the screen never showed what was expected:\n{text}")

    def close(self) -> None:
        if self.started:
            subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30, check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(_tmux_binary(), tmp_path / "tmux.sock")
    yield term
    term.close()
