"""spooldir → memory → hbase2 (regex serializer) end to end on the kit's real HBase:
every row read back with an independent happybase client; bad lines dropped (counted)
or set aside in the dead letter; the Thrift server killed and restarted mid-stream; the
HBase JVM paused (SIGSTOP) for 30 s."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka.metrics.counters import SinkCounter
from flafka_testkit import faults
from flafka_testkit.agent import start_agent_from_text

pytestmark = pytest.mark.integration

REGEX = r"(\d+),(?:([a-z]+)|-),(\w*)"


def config(spool: Path, dead: Path, table: str, address: str, batch: int = 500) -> str:
    return f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = {batch}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = {batch}
a1.sinks.k1.type = org.apache.flume.sink.hbase2.HBase2Sink
a1.sinks.k1.table = {table}
a1.sinks.k1.columnFamily = cf
a1.sinks.k1.batchSize = {batch}
a1.sinks.k1.thrift.servers = {address}
a1.sinks.k1.thrift.timeout = 5000
a1.sinks.k1.serializer = org.apache.flume.sink.hbase2.RegexHBase2EventSerializer
a1.sinks.k1.serializer.regex = {REGEX.replace(chr(92), chr(92) * 2)}
a1.sinks.k1.serializer.colNames = ROW_KEY,name,value
a1.sinks.k1.serializer.rowKeyIndex = 0
a1.sinks.k1.errors.deadletter.directory = {dead}
a1.sinks.k1.channel = c1
"""


def write_files(spool: Path, files: int, lines: int, first: int = 0) -> dict[bytes, dict[bytes, bytes]]:
    """Files ``first`` .. ``first + files - 1`` of ``lines`` lines each; file f holds
    sequence numbers f * lines .. (f + 1) * lines - 1. Returns the rows they must give."""
    want: dict[bytes, dict[bytes, bytes]] = {}
    for f in range(first, first + files):
        out = []
        for i in range(lines):
            seq = f * lines + i
            out.append(f"{seq:09d},name{'abcdefghij'[seq % 10]},v{seq}")
            want[f"{seq:09d}".encode()] = {b"cf:name": f"name{'abcdefghij'[seq % 10]}".encode(), b"cf:value": f"v{seq}".encode()}
        tmp = spool.parent / f"f{f:04d}.tmp"
        tmp.write_text("\n".join(out) + "\n")
        tmp.rename(spool / f"f{f:04d}.log")
    return want


def wait_rows(scan_table: Callable[[str], Any], table: str, n: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        try:
            rows = scan_table(table)
        except Exception:
            time.sleep(1)
            continue
        if len(rows) >= n:
            return rows
        time.sleep(1)
    return rows


def sink_counter(agent: Any) -> SinkCounter:
    return next(c for c in agent.counters() if isinstance(c, SinkCounter) and c.name == "k1")


def test_spooldir_memory_hbase2_regex_every_row_and_bad_lines(
    tmp_path: Path, hbase_address: str, new_table: Callable[..., str], scan_table: Callable[[str], Any]
) -> None:
    spool, dead = tmp_path / "spool", tmp_path / "dead"
    spool.mkdir()
    dead.mkdir()
    table = new_table("cf")
    want = write_files(spool, 4, 2500)
    (spool.parent / "bad.tmp").write_text("# a comment line\n123,-,nogroup\n999999999,zz,ok\nnot,a,match,at all\n")
    (spool.parent / "bad.tmp").rename(spool / "zbad.log")
    want[b"999999999"] = {b"cf:name": b"zz", b"cf:value": b"ok"}
    agent = start_agent_from_text(config(spool, dead, table, hbase_address), "a1", tmp_path)
    try:
        rows = wait_rows(scan_table, table, len(want), 120)
        deadline = time.monotonic() + 30
        while not list(spool.glob("zbad.log.COMPLETED")) and time.monotonic() < deadline:
            time.sleep(0.5)
        counter = sink_counter(agent)
    finally:
        agent.stop()
    assert dict(rows) == want
    assert counter.errors[("serializer_dropped", "processing")] == 2
    assert counter.discarded == 3  # the 2 dropped by the serializer + the 1 the runtime set aside
    lines = [json.loads(x) for f in dead.iterdir() for x in f.read_text().splitlines()]
    assert len(lines) == 1, lines
    assert base64.b64decode(lines[0]["body_b64"]) == b"123,-,nogroup"
    assert "group 2 (name)" in lines[0]["reason"] and "did not take part" in lines[0]["reason"]


def test_thrift_server_killed_and_restarted_mid_stream(
    tmp_path: Path, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Callable[[str], Any]
) -> None:
    spool, dead = tmp_path / "spool", tmp_path / "dead"
    spool.mkdir()
    dead.mkdir()
    table = new_table("cf")
    agent = start_agent_from_text(config(spool, dead, table, hbase_address, batch=200), "a1", tmp_path)
    try:
        want = write_files(spool, 5, 3000)
        counter = sink_counter(agent)
        deadline = time.monotonic() + 60
        while counter.event_drain_success_count < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        faults.kill(hbase_service, role="thrift")
        want.update(write_files(spool, 5, 3000, first=5))  # arrives while the Thrift server is down
        time.sleep(3)
        faults.restart(hbase_service, role="thrift")
        rows = wait_rows(scan_table, table, len(want), 300)
    finally:
        agent.stop()
    assert dict(rows) == want, f"{len(want) - len(rows)} rows missing"
    assert counter.connection_created_count >= 2, "the sink never reconnected: the kill missed the stream"
    assert counter.connection_failed_count >= 1, "no connection attempt failed while the Thrift server was down"
    assert not list(dead.iterdir()) or all(f.stat().st_size == 0 for f in dead.iterdir())


def test_hbase_master_and_region_server_paused_30s(
    tmp_path: Path, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Callable[[str], Any]
) -> None:
    """SIGSTOP on the HBase JVM (master + region server + ZooKeeper) for 30 s while the agent
    writes, and more files arrive during the pause: the Thrift server's calls hang, the
    sink's time out (``thrift.timeout`` = 5 s: outcome unknown, rolled back, the connection
    reopened), nothing commits while HBase is stopped, and after SIGCONT every row arrives.
    The kit starts HBase with a 120 s ZooKeeper session
    (flafka_testkit.services.hbase.ZK_SESSION_TIMEOUT_MS): with standalone HBase's 10 s
    default its region server aborted on resume ("ZooKeeper session expired")."""
    seconds = 30
    site = (Path(hbase_service.conf_dir) / "hbase-site.xml").read_text()
    assert "zookeeper.session.timeout.localHBaseCluster" in site, (
        "this HBase was started by an older test kit (10 s ZooKeeper session: it cannot survive the pause); "
        "restart it: flafka testkit down hbase"
    )
    table = new_table("cf")
    spool, dead = tmp_path / "spool", tmp_path / "dead"
    spool.mkdir()
    dead.mkdir()
    agent = start_agent_from_text(config(spool, dead, table, hbase_address, batch=200), "a1", tmp_path)
    try:
        want = write_files(spool, 6, 2000)
        counter = sink_counter(agent)
        deadline = time.monotonic() + 60
        while counter.event_drain_success_count < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        with faults.paused(hbase_service, role="master"):
            before = counter.event_drain_success_count
            want.update(write_files(spool, 6, 2000, first=6))  # arrives while HBase is stopped
            time.sleep(seconds)
            during = counter.event_drain_success_count - before
            timeouts_seen = counter.connection_created_count
        resumed = time.monotonic()
        rows = wait_rows(scan_table, table, len(want), 120)
        took = time.monotonic() - resumed
        died = hbase_service.died()
    finally:
        agent.stop()
    assert died is None, f"HBase did not survive a {seconds} s SIGSTOP: {died}"
    assert dict(rows) == want, f"{len(want) - len(rows)} rows missing {took:.0f} s after SIGCONT"
    assert before < len(want), "everything was delivered before the pause: it tested nothing"
    assert during <= 400, f"{during} events committed while HBase was stopped (at most the 2 batches answered just before)"
    assert timeouts_seen >= 2, "no call timed out during the pause (a timeout reopens the connection)"
    assert not list(dead.iterdir()) or all(f.stat().st_size == 0 for f in dead.iterdir())
