"""`flafka agent --exit-when-drained` with a Kafka channel ends only once the channel's
topic is drained (every record taken and committed), not when its local buffer is empty."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flafka_testkit.crash import read_output_lines, verify, write_lines

pytestmark = pytest.mark.integration


def test_spooldir_kafka_channel_file_roll_exits_only_when_everything_arrived(kafka_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    write_lines(spool / "a.log", 0, 20_000)
    write_lines(spool / "b.log", 20_000, 20_000)
    topic = f"channel-{uuid.uuid4().hex[:8]}"  # does not exist yet: created by the first put
    conf = tmp_path / "agent.conf"
    conf.write_text(
        f"""
agent.sources = spool
agent.channels = kc
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = 500
agent.sources.spool.channels = kc
agent.channels.kc.type = org.apache.flume.channel.kafka.KafkaChannel
agent.channels.kc.kafka.bootstrap.servers = {kafka_service.address}
agent.channels.kc.kafka.topic = {topic}
agent.channels.kc.kafka.consumer.group.id = g-{topic}
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = 500
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = kc
"""
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(conf), "--exit-when-drained", "--no-reload-conf"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict = verify(read_output_lines(out), 40_000)
    assert verdict.ok and verdict.duplicates == 0, verdict.summary()
