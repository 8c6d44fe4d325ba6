"""The Thrift connection pool and how many batches the sink asks the runtime to keep open
(no server needed: nothing here connects)."""

from __future__ import annotations

import threading
import time

from flafka_hbase.sink import HBase2Sink
from flafka_hbase.thrift import ThriftOptions, ThriftPool


def sink(**keys: str) -> HBase2Sink:
    settings, problems = HBase2Sink.settings_schema.parse({"table": "t", "columnFamily": "cf", "thrift.servers": "h:9090", **keys})
    assert not [p for p in problems if p.severity == "error"], problems
    return HBase2Sink("k", settings)


def test_the_runtime_keeps_one_batch_more_than_there_are_connections() -> None:
    one, four = sink(), sink(**{"thrift.connections": "4"})
    assert (one.max_pending_batches, len(one.pool.connections)) == (2, 1)
    assert (four.max_pending_batches, len(four.pool.connections)) == (5, 4)
    assert HBase2Sink.max_pending_batches == 1, "the class attribute must not change"
    assert one.conn is one.pool.first


def test_thrift_connections_is_bounded() -> None:
    for bad in ("0", "17"):
        keys = {"table": "t", "columnFamily": "cf", "thrift.servers": "h:9090", "thrift.connections": bad}
        _, problems = HBase2Sink.settings_schema.parse(keys)
        assert [p.key for p in problems if p.severity == "error"] == ["thrift.connections"]


def test_pool_lends_the_warm_connection_first_and_blocks_when_all_are_lent() -> None:
    pool = ThriftPool(ThriftOptions(servers=(("h", 9090),)), 2)
    with pool.lend() as a:
        assert a is pool.first
        with pool.lend() as b:
            assert b is not a
            got: list[object] = []
            t = threading.Thread(target=lambda: got.append(pool.lend().__enter__()))
            t.start()
            time.sleep(0.2)
            assert not got, "a third lend did not wait for a connection to come back"
        t.join(5)
        assert got == [b]
    with pool.lend() as c:
        assert c is a  # the most recently returned one

