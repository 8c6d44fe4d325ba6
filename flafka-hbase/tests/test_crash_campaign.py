"""Crash campaign (``FLAFKA_CRASH_HBASE=1``): spooldir → memory → hbase2 over
``FLAFKA_CRASH_LINES`` (500,000) sequence-numbered lines, the agent SIGKILLed
``FLAFKA_CRASH_KILLS`` (20) times and the Thrift server SIGKILLed and restarted 3 times;
the sink writes on ``FLAFKA_CRASH_HBASE_CONNECTIONS`` (1) Thrift connections.

The regex serializer generates row keys (Flume's ``<ms>-<random>-<nonce>``), so every
delivery is a new row: a line delivered twice shows up as two rows. Passes when no line
is lost and nothing is corrupt; duplicates are reported and bounded by what can be in
flight at each kill (channel capacity plus the sink's batches in flight plus a source
batch plus the source's unrecorded positions) times the number of kills.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit import faults
from flafka_testkit.crash import AgentProcess, verify, wait_until, write_lines

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("FLAFKA_CRASH_HBASE") != "1", reason="a long crash campaign: set FLAFKA_CRASH_HBASE=1"),
]

LINES = int(os.environ.get("FLAFKA_CRASH_LINES", "500000"))
KILLS = int(os.environ.get("FLAFKA_CRASH_KILLS", "20"))
THRIFT_KILLS = 3
FILES = 20
CAPACITY = 10_000
BATCH = 500
CONNECTIONS = int(os.environ.get("FLAFKA_CRASH_HBASE_CONNECTIONS", "1"))
IN_FLIGHT_BOUND = 2 * CAPACITY + (CONNECTIONS + 2) * BATCH + 10_000

CONF = """
a1.sources = spool
a1.channels = mem
a1.sinks = hb
a1.sources.spool.type = spooldir
a1.sources.spool.spoolDir = {spool}
a1.sources.spool.batchSize = {batch}
a1.sources.spool.pollDelay = 50
a1.sources.spool.channels = mem
a1.channels.mem.type = memory
a1.channels.mem.capacity = {capacity}
a1.channels.mem.transactionCapacity = {batch}
a1.sinks.hb.type = hbase2
a1.sinks.hb.table = {table}
a1.sinks.hb.columnFamily = cf
a1.sinks.hb.batchSize = {batch}
a1.sinks.hb.thrift.servers = {address}
a1.sinks.hb.thrift.timeout = 10000
a1.sinks.hb.thrift.connections = {connections}
a1.sinks.hb.serializer = RegexHBase2EventSerializer
a1.sinks.hb.channel = mem
"""


def test_crash_campaign_spooldir_memory_hbase2(
    tmp_path: Path, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Any
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    table = new_table("cf")
    conf = tmp_path / "agent.conf"
    conf.write_text(CONF.format(spool=spool, batch=BATCH, capacity=CAPACITY, table=table, address=hbase_address, connections=CONNECTIONS))
    per_file = LINES // FILES
    for i in range(FILES):
        write_lines(spool / f"data-{i:03d}.log", i * per_file, per_file)
    agent = AgentProcess(["-n", "a1", "-f", str(conf)], tmp_path / "agent.log")
    rng = random.Random(20261202)
    thrift_at = set(rng.sample(range(KILLS), THRIFT_KILLS))
    agent.start()
    try:
        for k in range(KILLS):
            time.sleep(rng.uniform(1.0, 4.0))
            agent.kill()
            if k in thrift_at:
                faults.kill(hbase_service, role="thrift")
                agent.start()
                time.sleep(rng.uniform(1.0, 3.0))
                faults.restart(hbase_service, role="thrift")
            else:
                agent.start()
        done = wait_until(lambda: len(list(spool.glob("*.COMPLETED"))) == FILES, timeout=900, interval=1)
        time.sleep(5)
        assert agent.terminate(60) == 0
    finally:
        if agent.alive():
            agent.kill()
    assert done, f"not every file was completed: {sorted(p.name for p in spool.iterdir())}"
    rows = scan_table(table)
    verdict = verify((cells[b"cf:payload"] for _, cells in rows), LINES)
    what = f"{CONNECTIONS} connection(s), {agent.kills} agent kills, {THRIFT_KILLS} Thrift kills"
    print(f"crash campaign: {what}: {verdict.summary()} (new rows)")
    assert verdict.ok, verdict.summary()
    assert verdict.duplicates <= (KILLS + THRIFT_KILLS) * IN_FLIGHT_BOUND, verdict.summary()
