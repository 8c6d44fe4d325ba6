"""``flafka agent --exit-when-drained`` progress over a spooldir backlog: plain lines when
stderr is not a terminal, bars in a real terminal (tmux), and the reporter's arithmetic."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flafka.backlog import Backlog
from flafka.progress import ProgressReporter, eta_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

FILES = 8
LINES = 60_000


def _spool(tmp_path: Path) -> tuple[Path, int]:
    spool = tmp_path / "spool"
    spool.mkdir()
    total = 0
    for i in range(FILES):
        data = "".join(f"line {i:02d} {n:08d} some text to make it longer\n" for n in range(LINES)).encode()
        (spool / f"f{i:02d}.log").write_bytes(data)
        total += len(data)
    conf = tmp_path / "agent.conf"
    conf.write_text(
        f"""\
agent.sources = s
agent.channels = c
agent.sinks = k
agent.sources.s.type = spooldir
agent.sources.s.spoolDir = {spool}
agent.sources.s.batchSize = 500
agent.sources.s.channels = c
agent.channels.c.type = memory
agent.channels.c.capacity = 10000
agent.channels.c.transactionCapacity = 500
agent.sinks.k.type = null
agent.sinks.k.batchSize = 1
agent.sinks.k.channel = c
"""
    )
    return conf, total


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    conf, total = _spool(tmp_path)
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
    result = subprocess.run(
        [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(conf), "--exit-when-drained", "--no-reload-conf",
         "-Dflafka.progress.interval=0.2", "-Dflume.root.logger=INFO,console"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = re.findall(r"source s \(spooldir\): ([\d.]+)%, ([^,]+), (\d+)/(\d+) files, ([\d,]+) events/s, ETA (\S+)", result.stderr)
    assert lines, result.stderr
    assert len(lines) >= 2, "expected progress while the backlog was read and a last line"
    last = lines[-1]
    assert last[0] == "100.0" and last[2] == last[3] == str(FILES) and last[5] == "0:00:00", last
    assert last[1] == f"{total / 1048576:.1f} MiB/{total / 1048576:.1f} MiB"
    assert any(float(pct) < 100 for pct, *_ in lines[:-1]), lines
    assert "\x1b[" not in result.stderr  # no escape codes off a terminal


def test_progress_bars_in_a_terminal(tmp_path: Path, terminal: Any) -> None:
    conf, total = _spool(tmp_path)
    terminal.start(
        f"{shlex.quote(sys.executable)} -m flafka agent -n agent -f {shlex.quote(str(conf))} --exit-when-drained --no-reload-conf "
        "-Dflume.root.logger=INFO,console"
    )

    def partial(screen: str) -> bool:
        found = re.search(r"source s\s+[━╸╺]+\s+(\d+)%\s+\S+ \S+/\S+ \S+\s+\d/8 files\s+[\d,]+ events/s\s+ETA \d:\d\d:\d\d", screen)
        return (found is not None and int(found.group(1)) < 100) or "top exited" in screen

    assert "top exited" not in terminal.wait_for(partial, timeout=120), "no bar seen while the backlog was read"
    screen = terminal.wait_for(lambda s: "top exited" in s, timeout=240)
    assert "top exited 0" in screen, screen
    mib = f"{total / 1048576:.1f} MiB"
    pattern = rf"source s\s+━+\s+100%\s+{re.escape(mib)}/{re.escape(mib)}\s+{FILES}/{FILES} files\s+([\d,]+) events/s\s+ETA 0:00:00"
    found = re.search(pattern, screen)
    assert found, screen
    assert int(found.group(1).replace(",", "")) > 0  # the rate over the last seconds of the run
    assert "(spooldir): 100.0%" not in screen  # bars on a terminal, not the plain lines


class _Source:
    def __init__(self) -> None:
        self.done = 0
        self.counter = type("C", (), {"event_accepted_count": 0, "component_type": "spooldir"})()

    def backlog(self) -> Backlog:
        return Backlog(self.done, 1000, "bytes", f"{self.done // 250}/4 files")


def test_rates_and_eta() -> None:
    now = [0.0]
    source = _Source()
    reporter = ProgressReporter(lambda: {"s": source, "other": object()}, terminal=False, clock=lambda: now[0])
    (state,) = reporter.sample()
    assert state.eta is None and "ETA --:--" in state.line()
    now[0] = 2.0
    source.done = 500
    source.counter.event_accepted_count = 4000
    (state,) = reporter.sample()
    assert state.done_rate == 250.0 and state.event_rate == 2000.0 and state.eta == 2.0
    assert state.line() == "source s (spooldir): 50.0%, 500 B/1,000 B, 2/4 files, 2,000 events/s, ETA 0:00:02"
    assert eta_text(3725) == "1:02:05"
