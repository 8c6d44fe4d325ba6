"""The same spooldir → memory → hbase2 config and data through Apache Flume 1.11's HBase2
sink (native client) and flafka's (Thrift), on the same HBase: the cells must be
byte-identical (keys from the data) or of the same format (generated keys), and the
counters equal. This is what "byte-exact with Flume" is checked against."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit.agent import start_agent_from_text

pytestmark = pytest.mark.integration

LINES = [
    "k001,alpha,plain text",
    "k002,béta,ünïcödé ✓ value",
    "k003,gamma,",
    "no commas here",  # the regex does not match: dropped by both
    "k004,delta,a,b,c",  # the last group takes the rest
    "k005,eps\u00e9,tab\there",
]

SERIALIZERS = {
    "regex_row_key": {
        "serializer": "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
        "serializer.regex": "([^,]*),([^,]*),(.*)",
        "serializer.colNames": "ROW_KEY,name,rest",
        "serializer.rowKeyIndex": "0",
        "serializer.depositHeaders": "true",
    },
    "regex_auto_key_latin1": {
        "serializer": "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
        "serializer.regex": "([^,]*),(.*)",
        "serializer.colNames": "id,rest",  # non-ASCII names: Flume wrote UTF-8 config bytes whatever charset
        "serializer.charset": "ISO-8859-1",
    },
    "simple_default": {},
}


def config(spool: Path, table: str, where: str, extra: dict[str, str]) -> str:
    lines = [
        "a1.sources = r1",
        "a1.channels = c1",
        "a1.sinks = k1",
        "a1.sources.r1.type = spooldir",
        f"a1.sources.r1.spoolDir = {spool}",
        "a1.sources.r1.basenameHeader = true",
        "a1.sources.r1.inputCharset = UTF-8",
        "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory",
        "a1.sinks.k1.type = hbase2",
        f"a1.sinks.k1.table = {table}",
        "a1.sinks.k1.columnFamily = cf",
        where,
        "a1.sinks.k1.channel = c1",
    ]
    lines += [f"a1.sinks.k1.{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def spool_with(tmp: Path, name: str) -> Path:
    spool = tmp / name
    spool.mkdir()
    (tmp / f"{name}.tmp").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (tmp / f"{name}.tmp").rename(spool / "data.log")
    return spool


def wait_done(spool: Path, scan: Callable[[], list[Any]], want: int, timeout: float = 90) -> list[Any]:
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = scan()
        if list(spool.glob("*.COMPLETED")) and len(rows) >= want:
            time.sleep(2)  # anything late would show up now
            return scan()
        time.sleep(0.5)
    return rows


@pytest.mark.parametrize("variant", sorted(SERIALIZERS))
def test_flafka_writes_what_flume_writes(
    variant: str, tmp_path: Path, flume_home: Any, hbase_service: Any, new_table: Callable[..., str], scan_table: Any
) -> None:
    extra = SERIALIZERS[variant]
    want = 5 if variant.startswith("regex") else 6
    flume_table, flafka_table = new_table("cf"), new_table("cf")
    zk = hbase_service.endpoints["zookeeper"]
    spool = spool_with(tmp_path, "flume")
    agent = flume_home.run_agent(config(spool, flume_table, f"a1.sinks.k1.zookeeperQuorum = {zk}", extra), tmp_path / "flume-run")
    try:
        flume_rows = wait_done(spool, lambda: scan_table(flume_table), want + (variant == "simple_default"))
    finally:
        agent.stop()
    spool = spool_with(tmp_path, "flafka")
    ours = start_agent_from_text(
        config(spool, flafka_table, f"a1.sinks.k1.thrift.servers = {hbase_service.address}", extra), "a1", tmp_path
    )
    try:
        flafka_rows = wait_done(spool, lambda: scan_table(flafka_table), want + (variant == "simple_default"))
    finally:
        ours.stop()
    assert len(flume_rows) == len(flafka_rows) == want + (variant == "simple_default"), (flume_rows, flafka_rows)
    if variant == "regex_row_key":
        assert flafka_rows == flume_rows  # keys, column names, values, headers: byte for byte
        return
    if variant == "regex_auto_key_latin1":
        key = re.compile(rb"\d{13}-[A-Za-z0-9]{10}-\d+")
        assert all(key.fullmatch(r) for r, _ in flume_rows + flafka_rows), (flume_rows, flafka_rows)
        assert sorted(c.items() for _, c in flume_rows) == sorted(c.items() for _, c in flafka_rows)
        return
    key = re.compile(rb"default[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for rows in (flume_rows, flafka_rows):
        data = dict(rows)
        assert data.pop(b"incRow") == {b"cf:iCol": (6).to_bytes(8, "big")}
        assert all(key.fullmatch(r) for r in data), data
    assert sorted(c[b"cf:pCol"] for r, c in flume_rows if r != b"incRow") == sorted(c[b"cf:pCol"] for r, c in flafka_rows if r != b"incRow")
