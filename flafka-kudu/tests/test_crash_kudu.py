"""Crash campaign: spooldir -> memory -> Kudu (Regexp producer, insert, key = sequence
number) over FLAFKA_CRASH_KUDU_LINES sequence-numbered lines (default 500,000), the agent
SIGKILLed FLAFKA_CRASH_KUDU_KILLS times (default 20) and the tablet server SIGKILLed and
restarted 3 times, on a Kudu of the test's own.

Passes when every sequence number is in the table (0 lost; Kudu's key makes a replayed row
a duplicate that cannot be stored twice) and every row is intact; the duplicates the sink
ignored are counted from its log. Runs with FLAFKA_CRASH_KUDU=1 (minutes, not seconds).
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path

import pytest
from kudu_test_support import create_table, run_cli, scan_rows  # type: ignore[import-not-found]

from flafka_testkit import faults
from flafka_testkit.crash import AgentProcess, make_line, wait_until, write_lines
from flafka_testkit.services.base import run_dir
from flafka_testkit.services.kudu import KuduService

LINES = int(os.environ.get("FLAFKA_CRASH_KUDU_LINES", "500000"))
KILLS = int(os.environ.get("FLAFKA_CRASH_KUDU_KILLS", "20"))
TSERVER_KILLS = 3
FILES = 20

pytestmark = pytest.mark.skipif(os.environ.get("FLAFKA_CRASH_KUDU") != "1", reason="set FLAFKA_CRASH_KUDU=1 (a campaign of minutes)")

CONF = """
agent.sources = spool
agent.channels = mem
agent.sinks = kudu
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = 1000
agent.sources.spool.pollDelay = 50
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 10000
agent.channels.mem.transactionCapacity = 1000
agent.sinks.kudu.type = org.apache.flume.sink.kudu.KuduSink
agent.sinks.kudu.channel = mem
agent.sinks.kudu.masterAddresses = {master}
agent.sinks.kudu.tableName = {table}
agent.sinks.kudu.batchSize = 1000
agent.sinks.kudu.timeoutMillis = 5000
agent.sinks.kudu.producer = regexp
agent.sinks.kudu.producer.pattern = ^(?<seq>\\\\d{{12}}) (?<crc>[0-9a-f]{{8}}) (?<pad>\\\\S+)$
agent.sinks.kudu.producer.operation = insert
"""


def test_crash_campaign(tmp_path: Path) -> None:
    service = KuduService(home=run_dir() / "kudu-crash")
    service.start()
    try:
        master = service.address
        assert master
        path = service.endpoints["kudu_cli"]

        def cli(*a: str, **kw: float) -> str:
            return run_cli(path, *a, **kw)

        table = create_table(cli, master, f"crash_{int(time.time())}", [("seq", "INT64", False), ("crc", "STRING", False),
                                                                        ("pad", "STRING", False)], ["seq"], buckets=4)  # fmt: skip
        spool = tmp_path / "spool"
        spool.mkdir()
        per_file = LINES // FILES
        for f in range(FILES):
            write_lines(spool / f"part-{f:03d}.log", f * per_file, per_file if f < FILES - 1 else LINES - f * per_file)
        conf = tmp_path / "agent.conf"
        conf.write_text(CONF.format(spool=spool, master=master, table=table))
        logs = [tmp_path / f"agent-{life}.log" for life in range(KILLS + 1)]  # one per agent life
        rng = random.Random(11)
        tserver_at = set(rng.sample(range(KILLS), TSERVER_KILLS))
        done = lambda: len(list(spool.glob("*.COMPLETED"))) == FILES  # noqa: E731
        for k in range(KILLS):
            agent = AgentProcess(["-f", str(conf), "-n", "agent"], logs[k])
            agent.start()
            time.sleep(rng.uniform(4.0, 9.0))  # JVM start + some batches
            agent.kill()
            if k in tserver_at:
                faults.kill(service, role="tserver")
                time.sleep(1.0)
                faults.restart(service, role="tserver")
        agent = AgentProcess(["-f", str(conf), "-n", "agent"], logs[KILLS])
        agent.start()
        assert wait_until(done, timeout=900, interval=1.0), "the spooling directory was not consumed"
        rows: list[dict[str, object]] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            rows = scan_rows(cli, master, table)
            if len(rows) >= LINES:
                break
            time.sleep(5)
        agent.terminate()
    finally:
        service.stop()
    seqs = {int(str(r["seq"])) for r in rows}
    lost = LINES - len(seqs & set(range(LINES)))
    corrupt = sum(1 for r in rows if make_line(int(str(r["seq"]))) != f"{int(str(r['seq'])):012d} {r['crc']} {r['pad']}".encode())
    lives = [p.read_text(errors="replace") for p in logs if p.exists()]
    duplicates = sum(max((int(m) for m in re.findall(r"(\d+) since start", life)), default=0) for life in lives)
    print(f"kudu crash: {LINES} lines, {KILLS} agent kills, {TSERVER_KILLS} tserver kills: lost {lost}, corrupt {corrupt}, "
          f"rows {len(rows)}, duplicates ignored by key (logged) {duplicates}")  # fmt: skip
    assert lost == 0 and corrupt == 0 and len(rows) == LINES
