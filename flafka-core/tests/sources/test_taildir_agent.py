"""TAILDIR end to end: a host moves from Apache Flume 1.11 to flafka on Flume's position
file (every line exactly once across both), and a SIGKILL campaign while a writer appends
and rotates (nothing lost)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .agentproc import AgentProc

CONF = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {logs}/app.log.*
a1.sources.r1.positionFile = {pos}
a1.sources.r1.writePosInterval = 500
a1.sources.r1.batchSize = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 1000
"""


@pytest.fixture
def flume_taildir(flume_home: Any) -> Any:
    """Flume 1.11 with its TAILDIR source jar (the test kit's Flume does not ship it)."""
    from flafka_testkit.services.flume import FLUME_VERSION, NO_RELOAD4J, FlumeHome
    from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

    jar = Coordinate("org.apache.flume.flume-ng-sources", "flume-taildir-source", FLUME_VERSION, exclusions=NO_RELOAD4J)
    extra = resolve_classpath(Classpath("flume-taildir", (jar,)))

    class WithTaildir(FlumeHome):
        def __init__(self) -> None:
            self.__dict__.update(flume_home.__dict__)

        def command(self, *args: Any, **kwargs: Any) -> list[str]:
            cmd = super().command(*args, **kwargs)
            i = cmd.index("-cp") + 1
            cmd[i] += f":{extra}/*"
            return cmd

    return WithTaildir()


def _output(out: Path) -> list[bytes]:
    return b"".join(p.read_bytes() for p in sorted(out.glob("*"))).split(b"\n")[:-1]


def _wait_lines(out: Path, n: int, timeout: float = 30) -> list[bytes]:
    deadline = time.monotonic() + timeout
    got = _output(out)
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.1)
        got = _output(out)
    return got


def _append(path: Path, start: int, n: int) -> None:
    with path.open("ab") as f:
        f.write(b"".join(b"line-%07d\n" % i for i in range(start, start + n)))


@pytest.mark.integration
def test_flume_position_file_is_taken_over_exactly(flume_taildir: Any, tmp_path: Path) -> None:
    logs, pos = tmp_path / "logs", tmp_path / "taildir_position.json"
    logs.mkdir()
    log = logs / "app.log.1"
    _append(log, 0, 5000)
    flume_out = tmp_path / "flume-out"
    flume_out.mkdir()
    with flume_taildir.run_agent(CONF.format(logs=logs, pos=pos, out=flume_out), tmp_path / "flume"):
        assert len(_wait_lines(flume_out, 5000, 60)) == 5000
        _append(log, 5000, 3000)
        assert len(_wait_lines(flume_out, 8000, 60)) == 8000
        time.sleep(1.5)  # Flume writes its position file every writePosInterval
    assert b'"inode"' in pos.read_bytes()
    _append(log, 8000, 4000)
    (logs / "app.log.2").write_bytes(b"".join(b"other-%d\n" % i for i in range(100)))
    ours = tmp_path / "flafka-out"
    ours.mkdir()
    agent = AgentProc(tmp_path / "flafka", CONF.format(logs=logs, pos=pos, out=ours))
    try:
        agent.wait_for("agent 'a1' started")
        got = _wait_lines(ours, 4100)
        time.sleep(1.0)
        got = _output(ours)
    finally:
        assert agent.stop() == 0, agent.text()
    flume_lines = _output(flume_out)
    assert flume_lines == [b"line-%07d" % i for i in range(8000)]
    assert sorted(got) == sorted([b"line-%07d" % i for i in range(8000, 12000)] + [b"other-%d" % i for i in range(100)])


def _crash_conf(tmp_path: Path) -> str:
    return CONF.format(logs=tmp_path / "logs", pos=tmp_path / "pos.json", out=tmp_path / "out")


def test_sigkill_campaign_with_rotation_loses_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "out").mkdir()
    total, per_file = 60_000, 7_000
    done = threading.Event()

    def writer() -> None:
        n, k = 0, 0
        current = logs / "app.log.0"
        while n < total:
            chunk = min(500, total - n)
            _append(current, n, chunk)
            n += chunk
            if n // per_file > k:  # rotate: rename away, start a new file
                k = n // per_file
                os.rename(current, logs / f"app.log.{k}")  # the pattern also matches rotated names
                current = logs / "app.log.0"
            time.sleep(0.06)
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    kills = 0
    for _ in range(int(os.environ.get("FLAFKA_TAILDIR_KILLS", "6"))):  # the full campaign: 20
        agent = AgentProc(tmp_path / f"run{kills}", _crash_conf(tmp_path))
        agent.wait_for("agent 'a1' started")
        time.sleep(0.8 + 0.4 * (kills % 3))
        os.kill(agent.pid, signal.SIGKILL)
        agent.proc.wait(10)
        kills += 1
    done.wait(60)
    final = AgentProc(tmp_path / "final", _crash_conf(tmp_path))
    try:
        final.wait_for("agent 'a1' started")
        want = {b"line-%07d" % i for i in range(total)}
        deadline = time.monotonic() + 60
        got = set(_output(tmp_path / "out"))
        while not want <= got and time.monotonic() < deadline:
            time.sleep(0.2)
            got = set(_output(tmp_path / "out"))
    finally:
        final.stop()
    lines = _output(tmp_path / "out")
    missing = [i for i in range(total) if b"line-%07d" % i not in got]
    print(f"{kills} SIGKILLs, {total} lines, {len(lines) - len(got)} duplicates, {len(missing)} missing")
    assert missing == []
