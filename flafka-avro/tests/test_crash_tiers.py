"""Crash between tiers: edge -> two collectors -> final tier, all flafka agents over Avro
RPC, with one collector SIGKILLed mid-stream and restarted.

edge: spooldir -> memory -> load_balance(avro k1 -> collector 1, avro k2 -> collector 2)
collector i: avro source -> Kafka channel (durable) -> avro sink -> final
final: avro source -> memory -> file_roll

The edge keeps a batch until a collector answered OK, i.e. until the collector's Kafka
channel committed it; a collector's sink commits its take only when the final tier's
channel committed. So a SIGKILLed collector loses nothing: what it acknowledged is in
Kafka and is sent by the restarted collector; what it had not acknowledged is resent by
the edge. Passes when every line arrives and duplicates are at most what was in flight
per kill (one edge batch plus one collector batch).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit.crash import AgentProcess, read_output_lines, verify, write_lines
from flafka_testkit.services.base import free_port

pytestmark = pytest.mark.integration

LINES = 60_000
BATCH = 200
KILLS = 2

EDGE = """
edge.sources = spool
edge.channels = mem
edge.sinks = k1 k2
edge.sinkgroups = g
edge.sinkgroups.g.sinks = k1 k2
edge.sinkgroups.g.processor.type = load_balance
edge.sinkgroups.g.processor.backoff = true
edge.sinkgroups.g.processor.selector.maxTimeOut = 2000
edge.sources.spool.type = spooldir
edge.sources.spool.spoolDir = {spool}
edge.sources.spool.batchSize = {batch}
edge.sources.spool.channels = mem
edge.channels.mem.type = memory
edge.channels.mem.capacity = 20000
edge.channels.mem.transactionCapacity = {batch}
edge.sinks.k1.type = avro
edge.sinks.k1.hostname = 127.0.0.1
edge.sinks.k1.port = {p1}
edge.sinks.k1.batch-size = {batch}
edge.sinks.k1.request-timeout = 3000
edge.sinks.k1.connect-timeout = 2000
edge.sinks.k1.channel = mem
edge.sinks.k2.type = avro
edge.sinks.k2.hostname = 127.0.0.1
edge.sinks.k2.port = {p2}
edge.sinks.k2.batch-size = {batch}
edge.sinks.k2.request-timeout = 3000
edge.sinks.k2.connect-timeout = 2000
edge.sinks.k2.compression-type = deflate
edge.sinks.k2.channel = mem
"""

COLLECTOR = """
col.sources = in
col.channels = kc
col.sinks = out
col.sources.in.type = avro
col.sources.in.bind = 127.0.0.1
col.sources.in.port = {port}
col.sources.in.compression-type = {comp}
col.sources.in.channels = kc
col.channels.kc.type = kafka
col.channels.kc.kafka.bootstrap.servers = {kafka}
col.channels.kc.kafka.topic = {topic}
col.channels.kc.kafka.consumer.group.id = {topic}-g
col.channels.kc.kafka.consumer.session.timeout.ms = 6000
col.sinks.out.type = avro
col.sinks.out.hostname = 127.0.0.1
col.sinks.out.port = {final}
col.sinks.out.batch-size = {batch}
col.sinks.out.channel = kc
"""

FINAL = """
fin.sources = in
fin.channels = mem
fin.sinks = files
fin.sources.in.type = avro
fin.sources.in.bind = 127.0.0.1
fin.sources.in.port = {port}
fin.sources.in.channels = mem
fin.channels.mem.type = memory
fin.channels.mem.capacity = 20000
fin.channels.mem.transactionCapacity = {batch}
fin.sinks.files.type = file_roll
fin.sinks.files.sink.directory = {out}
fin.sinks.files.sink.batchSize = {batch}
fin.sinks.files.sink.rollInterval = 0
fin.sinks.files.channel = mem
"""


def _flume_edge(flume_home: Any, conf: str, workdir: Path) -> Any:
    """Start Flume on ``conf`` and wait for its sink group (the kit's ``run_agent`` waits for
    "Starting Sink k1", but Flume announces a grouped sink by its group's name)."""
    import subprocess

    from flafka_testkit.services.flume import LOG4J2

    workdir.mkdir()
    (workdir / "edge.conf").write_text(conf)
    (workdir / "log4j2.properties").write_text(LOG4J2)
    log = workdir / "edge.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(flume_home.command(workdir / "edge.conf", "edge", workdir), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(workdir), start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while "Starting Sink g" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    return stop


def _agent(tmp: Path, name: str, conf: str) -> AgentProcess:
    path = tmp / f"{name}.conf"
    path.write_text(conf)
    agent = AgentProcess(["-n", name.rstrip("12"), "-f", str(path)], tmp / f"{name}.log")
    agent.start()
    return agent


@pytest.mark.parametrize("edge_kind", ["flafka", "flume"])
def test_collector_sigkilled_mid_stream_loses_nothing(
    kafka_service: Any, tmp_path: Path, request: pytest.FixtureRequest, edge_kind: str
) -> None:
    """The edge is a flafka agent, or a real Flume 1.11 agent on the same config."""
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    p1, p2, pf = free_port(), free_port(), free_port()
    run = uuid.uuid4().hex[:8]
    agents: list[AgentProcess] = []
    stops: list[Any] = []
    try:
        agents.append(final := _agent(tmp_path, "fin", FINAL.format(port=pf, out=out, batch=BATCH)))
        cols = []
        for i, (port, comp) in enumerate(((p1, "none"), (p2, "deflate")), 1):
            conf = COLLECTOR.format(port=port, comp=comp, kafka=kafka_service.address, topic=f"tiers-{run}-{i}", final=pf, batch=BATCH)
            cols.append(_agent(tmp_path, f"col{i}", conf))
        agents += cols
        time.sleep(3)
        edge_conf = EDGE.format(spool=spool, batch=BATCH, p1=p1, p2=p2)
        if edge_kind == "flume":
            stops.append(_flume_edge(request.getfixturevalue("flume_home"), edge_conf, tmp_path / "flume-edge"))
        else:
            agents.append(_agent(tmp_path, "edge", edge_conf))
        per_file = LINES // 6
        for f in range(6):
            write_lines(spool / f"part-{f}.log", f * per_file, per_file)

        def arrived() -> int:
            return sum(1 for _ in read_output_lines(out))

        kills = 0
        deadline = time.monotonic() + 300
        while kills < KILLS and time.monotonic() < deadline:
            if arrived() >= (kills + 1) * LINES // (KILLS + 2):
                victim = cols[kills % 2]
                victim.kill()
                kills += 1
                time.sleep(2)
                victim.start()
            time.sleep(0.2)
        while arrived() < LINES and time.monotonic() < deadline:
            assert final.alive(), (tmp_path / "fin.log").read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(3)  # let late duplicates land
        verdict = verify(read_output_lines(out), LINES)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in tmp_path.glob("**/*.log"))
        assert kills == KILLS, logs
        assert verdict.ok, verdict.summary() + "\n" + logs
        assert verdict.duplicates <= KILLS * 2 * BATCH, verdict.summary()
        print(f"tiers crash ({edge_kind} edge): {verdict.summary()}, {kills} collector kills")
    finally:
        for stop in stops:
            stop()
        for a in agents:
            if a.alive():
                a.kill()
