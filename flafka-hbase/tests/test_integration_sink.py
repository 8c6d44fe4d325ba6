"""The hbase2 sink against the kit's real HBase: start-up checks, counters, increments
applied at most once, a missing family at run time, transport mismatch, and a second
Thrift server of this module's own (framed, 1 MiB frame limit, idle sockets closed
after 2 s) for batches larger than a frame and idle reconnection."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.sink import Sink
from flafka_hbase.sink import HBase2Sink
from flafka_testkit import faults
from flafka_testkit.services.base import free_port, port_open

pytestmark = pytest.mark.integration


@pytest.fixture
def make_sink() -> Iterator[Callable[..., HBase2Sink]]:
    made: list[Sink] = []

    def make(**keys: str) -> HBase2Sink:
        settings, problems = HBase2Sink.settings_schema.parse(keys)
        assert not [p for p in problems if p.severity == "error"], problems
        sink = HBase2Sink("k", settings)
        made.append(sink)
        return sink

    yield make
    for s in made:
        s.stop()


def test_start_refuses_a_missing_table_or_family_naming_both(hbase_address: str, new_table: Callable[..., str], make_sink: Any) -> None:
    table = new_table("cf")
    with pytest.raises(ConfigError, match=rf"table '{table}' has no column family 'nope' \(it has: cf\).*alter '{table}', 'nope'"):
        make_sink(table=table, columnFamily="nope", **{"thrift.servers": hbase_address}).start()
    with pytest.raises(ConfigError, match=r"table 'missing_tbl' does not exist.*create 'missing_tbl', 'cf'"):
        make_sink(table="missing_tbl", columnFamily="cf", **{"thrift.servers": hbase_address}).start()


def test_failover_to_the_next_thrift_server(hbase_address: str, new_table: Callable[..., str], make_sink: Any, counter_value: Any) -> None:
    table = new_table("cf")
    dead = f"127.0.0.1:{free_port()}"
    sink = make_sink(table=table, columnFamily="cf", **{"thrift.servers": f"{dead},{hbase_address}"})
    sink.start()
    assert sink.write([Event(b"a"), Event(b"b")]) is None
    assert sink.conn.current == hbase_address and sink.conn.connections_failed >= 1
    assert counter_value(table, b"incRow", b"cf:iCol") == 2


def test_simple_defaults_count_every_event_and_coalesce(
    hbase_address: str, new_table: Callable[..., str], make_sink: Any, counter_value: Any, scan_table: Any
) -> None:
    for coalesce in ("false", "true"):
        table = new_table("cf")
        sink = make_sink(table=table, columnFamily="cf", coalesceIncrements=coalesce, **{"thrift.servers": hbase_address})
        sink.start()
        for _ in range(3):
            assert sink.write([Event(b"x%d" % i) for i in range(100)]) is None
        assert counter_value(table, b"incRow", b"cf:iCol") == 300
        rows = dict(scan_table(table))
        assert len(rows) == 301 and rows[b"incRow"] == {b"cf:iCol": (300).to_bytes(8, "big")}


def test_an_increment_whose_outcome_is_unknown_is_never_sent_twice(
    hbase_address: str, new_table: Callable[..., str], make_sink: Any, counter_value: Any
) -> None:
    """HBase applies the increments, then the answer is lost (a timeout): the batch
    commits (its puts are written) and the increments are not re-sent."""
    table = new_table("cf")
    sink = make_sink(table=table, columnFamily="cf", **{"thrift.servers": hbase_address})
    sink.start()
    client = sink.conn.client()
    real = client.incrementRows

    def answer_lost(increments: Any) -> Any:
        real(increments)
        raise TimeoutError("timed out")

    client.incrementRows = answer_lost
    assert sink.write([Event(b"a")] * 10) is None
    assert sink.increments_unknown == 10
    assert sink.write([Event(b"b")] * 5) is None  # a new connection, real increments
    assert counter_value(table, b"incRow", b"cf:iCol") == 15


def test_missing_family_at_run_time_is_a_permanent_error_naming_it(
    hbase_address: str, new_table: Callable[..., str], make_sink: Any
) -> None:
    import happybase

    table = new_table("cf")
    sink = make_sink(table=table, columnFamily="cf", **{"thrift.servers": hbase_address})
    sink.start()
    assert sink.write([Event(b"a")]) is None
    host, _, port = hbase_address.rpartition(":")
    conn = happybase.Connection(host, int(port))
    conn.delete_table(table, disable=True)
    conn.create_table(table, {"other": {}})
    conn.close()
    with pytest.raises(PermanentError, match=rf"table '{table}' has no column family 'cf'.*alter '{table}', 'cf'"):
        sink.write([Event(b"b")])


def test_transport_mismatch_names_thrift_transport(hbase_address: str, new_table: Callable[..., str], make_sink: Any) -> None:
    table = new_table("cf")
    sink = make_sink(
        table=table, columnFamily="cf", **{"thrift.servers": hbase_address, "thrift.transport": "framed", "thrift.timeout": "3000"}
    )
    sink.start()  # logged, not raised: the data path reports it
    with pytest.raises(RetriableError, match=r"thrift\.transport = framed"):
        sink.write([Event(b"a")])


# -- a Thrift server of this module's own -------------------------------------------------


@pytest.fixture(scope="module")
def framed_thrift(hbase_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second Thrift1 server on the kit's HBase: ``-framed``, frame limit 1 MiB, idle
    sockets closed after 2 s. Same JVM command line as the kit's, other conf dir."""
    pid = faults.roles(hbase_service, "thrift")["thrift"]
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    conf = tmp_path_factory.mktemp("framed-thrift-conf")
    old_conf = Path(hbase_service.conf_dir)
    for f in old_conf.iterdir():
        shutil.copy(f, conf / f.name)
    site = (conf / "hbase-site.xml").read_text()
    site = site.replace(
        "<name>hbase.thrift.server.socket.read.timeout</name><value>3600000</value>",
        "<name>hbase.thrift.server.socket.read.timeout</name><value>2000</value>",
    )
    site = site.replace(
        "<name>hbase.regionserver.thrift.framed.max_frame_size_in_mb</name><value>64</value>",
        "<name>hbase.regionserver.thrift.framed.max_frame_size_in_mb</name><value>1</value>",
    )
    assert "<value>2000</value>" in site and "max_frame_size_in_mb</name><value>1<" in site
    (conf / "hbase-site.xml").write_text(site)
    port = free_port()
    cp = argv.index("-cp") + 1
    argv[cp] = argv[cp].replace(str(old_conf), str(conf))
    argv[argv.index("-p") + 1] = str(port)
    argv.insert(argv.index("start"), "-framed")
    log = open(conf / "thrift.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not port_open("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, (conf / "thrift.log").read_text()[-3000:]
        time.sleep(0.5)
    yield f"127.0.0.1:{port}"
    proc.kill()
    proc.wait()
    log.close()


def test_framed_server_with_1mib_frames_takes_a_3mib_batch(
    framed_thrift: str, new_table: Callable[..., str], make_sink: Any, scan_table: Any
) -> None:
    table = new_table("cf")
    sink = make_sink(
        table=table, columnFamily="cf", batchSize="100",
        serializer="RegexHBase2EventSerializer", **{"serializer.regex": "(\\d+) (.*)", "serializer.colNames": "ROW_KEY,v",
        "serializer.rowKeyIndex": "0", "thrift.servers": framed_thrift, "thrift.transport": "framed"},
    )  # fmt: skip
    sink.start()
    events = [Event(b"%03d " % i + b"x" * 30_000) for i in range(100)]  # 3 MiB
    assert sink.write(events) is None
    assert sink.max_bytes < 1024 * 1024  # lowered below the server's frame limit
    rows = dict(scan_table(table))
    assert len(rows) == 100 and all(len(c[b"cf:v"]) == 30_000 for c in rows.values())
    # a single cell larger than a frame cannot be written: set aside, the rest written
    big = [Event(b"500 " + b"y" * 1_500_000), Event(b"501 ok")]
    outcome = sink.write(big)
    assert outcome is not None and list(outcome.failed) == [0] and not outcome.retriable
    assert "max_frame_size_in_mb" in str(outcome.error)
    assert dict(scan_table(table))[b"501"] == {b"cf:v": b"ok"}


def test_idle_connection_closed_by_the_server_is_reopened(
    framed_thrift: str, new_table: Callable[..., str], make_sink: Any, counter_value: Any
) -> None:
    table = new_table("cf")
    for idle in ("1000", "50000"):  # reopened before use; or re-sent once after the server closed it
        sink = make_sink(
            table=table,
            columnFamily="cf",
            **{
                "thrift.servers": framed_thrift,
                "thrift.transport": "framed",
                "thrift.idleReconnect": idle,
                "serializer.incrementColumn": "",
            },
        )
        sink.start()
        assert sink.write([Event(b"a")]) is None
        time.sleep(3)  # the server closes sockets idle for 2 s
        assert sink.write([Event(b"b")]) is None
        assert sink.conn.connections_created == 2


def test_one_connection_writes_pipelined_batches_in_the_order_taken(
    hbase_address: str, new_table: Callable[..., str], scan_table: Any
) -> None:
    """With the default ``thrift.connections = 1`` the runtime keeps 2 batches open (one
    written while the next is serialized), yet they reach HBase in the order taken: every
    batch overwrites the same cells, and the last event's values win."""
    from flafka_testkit.contracts.harness import SinkHarness, build, put

    table = new_table("cf")
    keys = {
        "table": table,
        "columnFamily": "cf",
        "batchSize": "50",
        "thrift.servers": hbase_address,
        "serializer": "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
        "serializer.regex": "(.*),(.*)",
        "serializer.colNames": "ROW_KEY,seq",
        "serializer.rowKeyIndex": "0",
    }
    sink = build(HBase2Sink, "k", keys)
    harness = SinkHarness(sink)
    sink.start()
    try:
        put(harness.channel, [Event(b"row%d,%06d" % (i % 5, i)) for i in range(3000)])
        harness.driver.drive()
        assert harness.driver.in_flight == 1, "the first batch was not left in flight: not pipelined"
        assert harness.drive_until_empty() == []
    finally:
        sink.stop()
    assert dict(scan_table(table)) == {b"row%d" % r: {b"cf:seq": b"%06d" % (2995 + r)} for r in range(5)}
