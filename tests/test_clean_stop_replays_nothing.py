"""A clean stop (SIGTERM) or a reload must not replay anything: the sinks drain the
memory channel and the spooling directory source records what they delivered."""

from __future__ import annotations

import time
from pathlib import Path

from flafka_testkit.agent import start_agent_from_text
from flafka_testkit.crash import read_output_lines, verify, write_lines

CONF = """
agent.sources = spool
agent.channels = mem
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = 500
agent.sources.spool.pollDelay = 20
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 20000
agent.channels.mem.transactionCapacity = 500
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = 500
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = mem
"""


def output_lines(out: Path) -> int:
    return sum(p.stat().st_size for p in out.iterdir()) // 101


def test_stop_in_mid_stream_then_restart_delivers_each_line_once(tmp_path: Path) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    total = 400_000
    for i in range(4):
        write_lines(spool / f"data-{i}.log", i * 100_000, 100_000)
    conf = CONF.format(spool=spool, out=out)
    stops = 0
    for _ in range(6):
        agent = start_agent_from_text(conf, "agent", tmp_path)
        target = output_lines(out) + 30_000
        deadline = time.monotonic() + 30
        while output_lines(out) < min(target, total) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert agent.stop(30), "the memory channel was not drained within the stop timeout"
        stops += 1
        if output_lines(out) >= total:
            break
    agent = start_agent_from_text(conf, "agent", tmp_path)
    deadline = time.monotonic() + 60
    while not agent.drained() and time.monotonic() < deadline:
        time.sleep(0.05)
    agent.stop(30)
    verdict = verify(read_output_lines(out), total)
    assert stops >= 2
    assert verdict.ok and verdict.duplicates == 0, verdict.summary()
