"""The Kudu sink against the kit's real Kudu (rows read back with ``kudu table scan``):
spooldir -> memory -> Kudu with the Regexp producer, every policy, bad input, duplicates,
a missing table, types round-tripped, and the sink never stalling after a failed batch."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka.errors import ConfigError, PermanentError
from flafka.event import Event
from flafka.sink import BatchOutcome
from flafka_kudu.sink import KuduSink
from flafka_testkit.agent import start_agent_from_text
from flafka_testkit.contracts.harness import SinkHarness, build, put

Scan = Callable[[str], list[dict[str, Any]]]
PEOPLE = [("id", "INT64", False), ("name", "STRING", True), ("score", "INT32", True)]
PATTERN = r"(?<id>-?\d+),(?<name>[^,;]*),(?<score>[^,;]*)"


@pytest.fixture(autouse=True, params=["batch", "cell"])
def crossing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both Java paths: the compiled batch helper, and per cell."""
    monkeypatch.setenv("FLAFKA_KUDU_HELPER", "1" if request.param == "batch" else "0")
    return str(request.param)


def kudu_sink(master: str, table: str, **keys: str) -> KuduSink:
    raw = {"masterAddresses": master, "tableName": table, "timeoutMillis": "5000", **keys}
    sink: KuduSink = build(KuduSink, "k", raw)
    return sink


@pytest.fixture
def started(request: pytest.FixtureRequest, crossing: str) -> Callable[[KuduSink], KuduSink]:
    def start(sink: KuduSink) -> KuduSink:
        SinkHarness(sink)
        sink.start()
        request.addfinalizer(sink.stop)
        uses_helper = getattr(sink._session, "helper", None) is not None
        assert uses_helper is (crossing == "batch"), "the Java path under test is not the one in use"
        return sink

    return start


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_spooldir_to_kudu_with_the_regexp_producer(tmp_path: Path, kudu_master: str, new_table: Callable[..., str], scan: Scan) -> None:
    """A Flume configuration run unchanged: spooldir -> memory -> Kudu (Flume's class
    names), one line = one event, several rows per event (';'), read back with the CLI.
    (A properties file needs ``\\\\d`` for the regex's ``\\d``, as in Flume.)"""
    table = new_table(PEOPLE, ["id"])
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = [f"{i},name{i},{i * 10}" for i in range(1, 2001)] + ["5001,a,1;5002,b,2;5003,c,3"]
    (spool / "input.csv").write_text("\n".join(lines) + "\n")
    conf = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kudu.KuduSink
a1.sinks.k1.channel = c1
a1.sinks.k1.masterAddresses = {kudu_master}
a1.sinks.k1.tableName = {table}
a1.sinks.k1.batchSize = 500
a1.sinks.k1.producer = org.apache.flume.sink.kudu.RegexpKuduOperationsProducer
a1.sinks.k1.producer.pattern = {PATTERN.replace(chr(92), chr(92) * 2)}
a1.sinks.k1.producer.operation = insert
"""
    agent = start_agent_from_text(conf, "a1", tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (spool / "input.csv.COMPLETED").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        rows: dict[int, dict[str, Any]] = {}
        while len(rows) < 2003 and time.monotonic() < deadline:
            time.sleep(0.5)
            rows = by_id(scan(table))
    finally:
        agent.stop()
    assert len(rows) == 2003
    assert rows[1] == {"id": 1, "name": "name1", "score": 10}
    assert rows[2000] == {"id": 2000, "name": "name2000", "score": 20000}
    assert [rows[i]["name"] for i in (5001, 5002, 5003)] == ["a", "b", "c"]


def test_missing_table_refuses_to_start(kudu_master: str) -> None:
    sink = kudu_sink(kudu_master, "no_such_table_here")
    SinkHarness(sink)
    with pytest.raises(ConfigError, match=r"'no_such_table_here' does not exist.*create it first"):
        sink.start()
    sink.stop()


def test_producer_columns_the_table_lacks_refuse_to_start(kudu_master: str, new_table: Callable[..., str]) -> None:
    table = new_table(PEOPLE, ["id"])
    sink = kudu_sink(kudu_master, table)  # Simple producer: needs a BINARY column 'payload'
    SinkHarness(sink)
    with pytest.raises(ConfigError, match=r"payloadColumn = payload: table .* has no column 'payload'"):
        sink.start()
    sink.stop()


def regexp_sink(master: str, table: str, **producer: str) -> KuduSink:
    keys = {"producer": "regexp", "producer.pattern": PATTERN, **{f"producer.{k}": v for k, v in producer.items()}}
    return kudu_sink(master, table, **keys)


def test_reject_keeps_the_events_in_the_channel(
    kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Callable[[KuduSink], KuduSink]
) -> None:
    table = new_table(PEOPLE, ["id"])
    sink = started(regexp_sink(kudu_master, table, badColumnValuePolicy="REJECT", unmatchedRowPolicy="REJECT"))
    harness: SinkHarness = sink.harness if hasattr(sink, "harness") else SinkHarness(sink)
    put(harness.channel, [Event(b"1,a,notanumber"), Event(b"garbage")])
    failures = harness.drive_until_empty(timeout=5, max_failures=1)
    assert failures and not failures[0].retriable
    assert "score" in str(failures[0]) and "'notanumber'" in str(failures[0])
    assert harness.channel.size() == 2
    assert scan(table) == []


def test_reject_fails_only_the_bad_events_of_a_batch(kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any) -> None:
    table = new_table(PEOPLE, ["id"])
    sink = started(regexp_sink(kudu_master, table))
    outcome = sink.write([Event(b"1,a,1"), Event(b"2,b,x"), Event(b"3,c,3")])
    assert isinstance(outcome, BatchOutcome) and list(outcome.failed) == [1] and not outcome.retriable
    assert "event 1 of the batch" in str(outcome.error) and "score" in str(outcome.error)
    assert sorted(by_id(scan(table))) == [1, 3]


@pytest.mark.parametrize("policy", ["WARN", "IGNORE"])
def test_warn_and_ignore_write_the_row_without_the_column(
    policy: str, kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    table = new_table([*PEOPLE, ("extra", "STRING", True)], ["id"])
    sink = started(regexp_sink(kudu_master, table, badColumnValuePolicy=policy, missingColumnPolicy=policy))
    caplog.set_level(logging.WARNING, logger="flafka_kudu")
    assert sink.write([Event(b"1,a,x"), Event(b"2,b,20")]) is None
    rows = by_id(scan(table))
    assert rows[1] == {"id": 1, "name": "a", "score": None, "extra": None}
    assert rows[2] == {"id": 2, "name": "b", "score": 20, "extra": None}
    warned = "does not parse" in caplog.text and "extra" in caplog.text
    assert warned is (policy == "WARN")


@pytest.mark.parametrize("policy", ["WARN", "IGNORE"])
def test_unmatched_rows_make_no_row_and_commit(
    policy: str, kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any
) -> None:
    table = new_table(PEOPLE, ["id"])
    sink = started(regexp_sink(kudu_master, table, unmatchedRowPolicy=policy))
    assert sink.write([Event(b"no match here"), Event(b"7,g,70")]) is None
    assert list(by_id(scan(table))) == [7]


def test_unset_key_column_fails_the_event_and_the_sink_goes_on(
    kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any
) -> None:
    """Flume leaves the other ops of such a batch buffered and then returns BACKOFF forever;
    here the event fails (permanent) and the very next batch is written."""
    table = new_table(PEOPLE, ["id"])
    loose = r"(?<id>[^,]*),(?<name>[^,]*),(?<score>[^,]*)"
    sink = started(regexp_sink(kudu_master, table, pattern=loose, badColumnValuePolicy="WARN"))
    outcome = sink.write([Event(b"1,a,1"), Event(b"x,b,2"), Event(b"3,c,3")])
    # "x" is not a number: WARN leaves the key column unset, Kudu refuses the row
    assert isinstance(outcome, BatchOutcome) and list(outcome.failed) == [1]
    assert "Primary key column id is not set" in str(outcome.error)
    assert sink.write([Event(b"4,d,4")]) is None
    assert sorted(by_id(scan(table))) == [1, 3, 4]


def test_not_null_column_left_unset_is_refused_by_the_server(
    kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any
) -> None:
    table = new_table([("id", "INT64", False), ("name", "STRING", True), ("score", "INT32", False)], ["id"])
    sink = started(regexp_sink(kudu_master, table, badColumnValuePolicy="IGNORE"))
    outcome = sink.write([Event(b"1,a,1"), Event(b"2,b,x")])
    assert isinstance(outcome, BatchOutcome) and list(outcome.failed) == [1]
    assert "Invalid argument" in str(outcome.error) or "invalid" in str(outcome.error).lower()
    assert sink.write([Event(b"3,c,3")]) is None
    assert sorted(by_id(scan(table))) == [1, 3]


def test_duplicate_inserts(kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any) -> None:
    table = new_table(PEOPLE, ["id"])
    ignoring = started(regexp_sink(kudu_master, table, operation="insert"))
    assert ignoring.write([Event(b"1,a,1"), Event(b"1,b,2")]) is None
    assert ignoring.write([Event(b"1,c,3")]) is None
    assert ignoring.duplicates_ignored == 2
    assert by_id(scan(table))[1]["name"] == "a"
    strict = started(kudu_sink(kudu_master, table, ignoreDuplicateRows="false", producer="regexp", **{
        "producer.pattern": PATTERN, "producer.operation": "insert"}))  # fmt: skip
    with pytest.raises(PermanentError, match="Already present"):
        strict.write([Event(b"1,d,4")])
    assert strict.write([Event(b"2,e,5")]) is None  # the session was replaced, not stuck
    upsert = started(regexp_sink(kudu_master, table))
    assert upsert.write([Event(b"1,f,6")]) is None
    assert by_id(scan(table))[1]["name"] == "f"


def test_every_regexp_type_round_trips(kudu_master: str, new_table: Callable[..., str], scan: Scan, started: Any) -> None:
    cols = [("id", "INT64", False), ("b", "BOOL", True), ("i8", "INT8", True), ("i16", "INT16", True), ("i32", "INT32", True),
            ("f", "FLOAT", True), ("d", "DOUBLE", True), ("s", "STRING", True), ("bin", "BINARY", True),
            ("ts", "UNIXTIME_MICROS", True)]  # fmt: skip
    table = new_table(cols, ["id"])
    pattern = r"(?<id>\S+) (?<b>\S+) (?<i8>\S+) (?<i16>\S+) (?<i32>\S+) (?<f>\S+) (?<d>\S+) (?<s>\S+) (?<bin>\S+) (?<ts>\S+)"
    sink = started(kudu_sink(kudu_master, table, producer="regexp", **{"producer.pattern": pattern}))
    body = "9223372036854775807 TRUE -128 32767 -2147483648 1.5f -2.25e3 héllo bïn 1700000000123456"
    assert sink.write([Event(body.encode()), Event(b"2 no 0 0 0 NaN -Infinity x y 0")]) is None
    rows = by_id(scan(table))
    r = rows[2**63 - 1]
    assert (r["b"], r["i8"], r["i16"], r["i32"], r["f"], r["d"], r["s"], r["bin"]) == (
        True, -128, 32767, -(2**31), 1.5, -2250.0, "héllo", "bïn".encode(),
    )  # fmt: skip
    assert str(r["ts"]).startswith("2023-11-14T22:13:20.123456")
    assert rows[2]["b"] is False and math.isnan(rows[2]["f"]) and rows[2]["d"] == -math.inf
    assert (rows[2]["s"], rows[2]["bin"], str(rows[2]["ts"])) == ("x", b"y", "1970-01-01T00:00:00.000000Z")
