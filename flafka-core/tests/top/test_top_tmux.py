"""``flafka top``'s live view in a real terminal: tmux runs it next to a real agent and the
test reads the screen with ``tmux capture-pane``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="tmux")


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
        script = f"trap true INT; {command}; echo \"top exited $?\"; sleep 120"
        env = f"-u COLUMNS -u LINES FLAFKA_PLUGINS=builtins PYTHONPATH={shlex.quote(os.pathsep.join(sys.path))}"
        self.run("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), f"env {env} sh -c {shlex.quote(script)}")
        self.started = True

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

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


def _row(screen: str, kind: str, name: str) -> list[str]:
    for line in screen.splitlines():
        cells = line.split()
        if cells[:2] == [kind, name]:
            return cells
    return []


def test_live_view_refreshes_and_survives_the_agent_going_away(run_agent: Callable[..., Any], terminal: Terminal) -> None:
    agent = run_agent()
    terminal.start(f"{shlex.quote(sys.executable)} -m flafka top --url {agent.url}")

    def has_rates(screen: str) -> bool:
        row = _row(screen, "source", "gen")
        return len(row) > 3 and row[3] != "-"

    screen = terminal.wait_for(has_rates)
    assert "flafka top: agent 'agent', up " in screen
    assert "KIND" in screen and "IN FLIGHT" in screen and "STATE" in screen
    assert _row(screen, "channel", "mem")[2] == "memory"
    assert _row(screen, "sink", "out")[-1] == "ok"
    first = [line for line in screen.splitlines() if line.startswith("flafka top:")][0]
    terminal.wait_for(lambda s: first not in s, timeout=10)  # the clock in the header moves: refreshed
    agent.stop()
    screen = terminal.wait_for(lambda s: "cannot read metrics" in s)
    assert "retrying every 1 s" in screen
    terminal.run("send-keys", "-t", "t", "C-c")
    terminal.wait_for(lambda s: "top exited 0" in s)


def test_too_small_a_terminal_is_named(run_agent: Callable[..., Any], terminal: Terminal) -> None:
    agent = run_agent()
    terminal.start(f"{shlex.quote(sys.executable)} -m flafka top --url {agent.url}", width=60, height=10)
    screen = terminal.wait_for(lambda s: "too small" in s.replace("\n", ""))
    assert "60x10" in screen.replace("\n", "")


def test_missing_rich_says_how_to_install_it(run_agent: Callable[..., Any], terminal: Terminal) -> None:
    agent = run_agent()
    code = "import sys; sys.modules['rich'] = None; from flafka.cli import main; main()"
    terminal.start(f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} top --url {agent.url}")
    screen = terminal.wait_for(lambda s: "top exited" in s)
    flat = screen.replace("\n", "")
    assert "pip install 'flafka-core[top]'" in flat
    assert "top exited 2" in screen
