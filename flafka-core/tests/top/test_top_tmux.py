"""``flafka top``'s live view in a real terminal: tmux runs it next to a real agent and the
test reads the screen with ``tmux capture-pane``."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="tmux")


def _row(screen: str, kind: str, name: str) -> list[str]:
    for line in screen.splitlines():
        cells = line.split()
        if cells[:2] == [kind, name]:
            return cells
    return []


def test_live_view_refreshes_and_survives_the_agent_going_away(run_agent: Callable[..., Any], terminal: Any) -> None:
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
    first = next(line for line in screen.splitlines() if line.startswith("flafka top:"))
    terminal.wait_for(lambda s: first not in s, timeout=10)  # the clock in the header moves: refreshed
    agent.stop()
    screen = terminal.wait_for(lambda s: "cannot read metrics" in s)
    assert "retrying every 1 s" in screen
    terminal.run("send-keys", "-t", "t", "C-c")
    terminal.wait_for(lambda s: "top exited 0" in s)


def test_too_small_a_terminal_is_named(run_agent: Callable[..., Any], terminal: Any) -> None:
    agent = run_agent()
    terminal.start(f"{shlex.quote(sys.executable)} -m flafka top --url {agent.url}", width=60, height=10)
    screen = terminal.wait_for(lambda s: "too small" in s.replace("\n", ""))
    assert "60x10" in screen.replace("\n", "")


def test_missing_rich_says_how_to_install_it(run_agent: Callable[..., Any], terminal: Any) -> None:
    agent = run_agent()
    code = "import sys; sys.modules['rich'] = None; from flafka.cli import main; main()"
    terminal.start(f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} top --url {agent.url}")
    screen = terminal.wait_for(lambda s: "top exited" in s)
    flat = screen.replace("\n", "")
    assert "pip install 'flafka-core[top]'" in flat
    assert "top exited 2" in screen
