"""An unchanged Flume config with a spooldir source runs through the whole agent."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from flafka.agent import Agent
from flafka.config.loader import load_config
from flafka.registry import Registry

CONF = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.SpoolDirectorySource
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 50
a1.sources.r1.pollDelay = 20
a1.sources.r1.fileHeader = true
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 200
a1.channels.c1.transactionCapacity = 50
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 50
a1.sinks.k1.channel = c1
"""


def registry() -> Registry:
    reg = Registry()
    for module in ("flafka.channels.memory", "flafka.sources.spooldir", "flafka.sinks.file_roll", "flafka.selectors.builtin"):
        for cls in importlib.import_module(module).COMPONENTS:
            reg.add(cls, "builtins")
    return reg


def test_flume_config_runs_and_every_line_arrives_once(h, tmp_path: Path, spool: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    expected = []
    for f in range(5):
        lines = [b"f%d-%d" % (f, i) for i in range(300)]
        expected += lines
        h.write(spool / f"in{f}.log", b"".join(x + b"\n" for x in lines), mtime=1000 + f)
    conf = tmp_path / "a.properties"
    conf.write_text(CONF.format(spool=spool, out=out))
    result = load_config([conf], "a1", registry())
    assert result.ok, result.format()
    assert result.plan is not None
    agent = Agent(result.plan, registry())
    agent.start()
    try:
        deadline = time.monotonic() + 20
        while not agent.drained():
            assert time.monotonic() < deadline, "agent never drained"
            time.sleep(0.02)
    finally:
        agent.stop(5)
    got = b"".join(p.read_bytes() for p in sorted(out.iterdir())).split(b"\n")[:-1]
    assert got == expected
    assert sorted(p.name for p in spool.iterdir() if not p.name.startswith(".")) == [f"in{f}.log.COMPLETED" for f in range(5)]
