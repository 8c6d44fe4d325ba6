"""The review's pipeline: spooldir -> c1 (required, null sink) + c2 (optional, Kafka sink
to a broker that is down). The optional channel must never hold the source back: the
file completes and `--exit-when-drained` exits 0, well before the stop timeout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from flafka_testkit.crash import write_lines
from flafka_testkit.services.base import free_port


def test_a_down_broker_behind_an_optional_channel_never_holds_the_spooldir_back(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_lines(spool / "a.log", 0, 5_000)
    dead = free_port()  # nothing listens here: the broker is down
    conf = tmp_path / "agent.conf"
    conf.write_text(
        f"""
agent.sources = spool
agent.channels = c1 c2
agent.sinks = drop kafka
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.channels = c1 c2
agent.sources.spool.selector.type = replicating
agent.sources.spool.selector.optional = c2
agent.channels.c1.type = memory
agent.channels.c2.type = memory
agent.channels.c2.capacity = 100000
agent.sinks.drop.type = null
agent.sinks.drop.channel = c1
agent.sinks.kafka.type = org.apache.flume.sink.kafka.KafkaSink
agent.sinks.kafka.kafka.bootstrap.servers = 127.0.0.1:{dead}
agent.sinks.kafka.kafka.topic = nowhere
agent.sinks.kafka.channel = c2
"""
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(conf), "--exit-when-drained", "--no-reload-conf"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (spool / "a.log.COMPLETED").exists(), sorted(p.name for p in spool.iterdir())
    assert took < 30, f"took {took:.1f} s"
    assert "optional channel 'c2' still holds" in proc.stderr
