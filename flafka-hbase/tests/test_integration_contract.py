"""The test kit's SinkContract against the kit's real HBase 2.6 through its Thrift server."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flafka.event import Event
from flafka.sink import Sink
from flafka_hbase.sink import HBase2Sink
from flafka_testkit.contracts import SinkCapabilities, SinkContract
from flafka_testkit.contracts.harness import put

pytestmark = pytest.mark.integration


class _Base(SinkContract):
    sink_class = HBase2Sink
    service: Any = None
    scan: Any = None

    def _rows(self, sink: Sink) -> list[tuple[bytes, dict[bytes, bytes]]]:
        return self.scan(sink.settings["table"])  # type: ignore[misc]

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        from flafka_testkit import faults

        with faults.paused(self.service, role="thrift"):
            yield


class TestSimpleSerializerContract(_Base):
    """Flume's default serializer with ``suffix = nano``: row keys sort in write order.
    Headers are not written (Flume's Simple serializer ignores them)."""

    capabilities = SinkCapabilities(headers=False, outage=True, atomic_batches=False)
    opt_out = {"test_headers_are_kept": "SimpleHBase2EventSerializer ignores headers (Flume's behaviour)"}

    @pytest.fixture
    def sink_settings(self, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Any) -> dict[str, str]:
        self.scan, self.service = scan_table, hbase_service
        return {
            "table": new_table("cf"),
            "columnFamily": "cf",
            "thrift.servers": hbase_address,
            "thrift.timeout": "3000",
            "serializer.suffix": "nano",
            "serializer.rowPrefix": "r",
        }

    def read_back(self, sink: Sink) -> list[Event]:
        rows = [(row, cells) for row, cells in self._rows(sink) if row != b"incRow"]
        rows.sort(key=lambda rc: int(rc[0][1:]))
        return [Event(cells[b"cf:pCol"]) for _, cells in rows]


class TestRegexSerializerContract(_Base):
    """The regex serializer with ``depositHeaders``: headers come back as columns. Bodies
    are decoded with ``charset`` (as Flume), so arbitrary binary is not kept."""

    capabilities = SinkCapabilities(headers=True, outage=True, atomic_batches=False)
    opt_out = {
        "test_binary_empty_and_large_bodies": "the regex serializer decodes bodies with charset (Flume's behaviour): binary is not kept"
    }

    @pytest.fixture
    def sink_settings(self, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Any) -> dict[str, str]:
        self.scan, self.service = scan_table, hbase_service
        return {
            "table": new_table("cf"),
            "columnFamily": "cf",
            "thrift.servers": hbase_address,
            "thrift.timeout": "3000",
            "serializer": "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
            "serializer.depositHeaders": "true",
        }

    def read_back(self, sink: Sink) -> list[Event]:
        def order(row: bytes) -> tuple[int, int]:
            ms, _, nonce = row.decode().split("-", 2)[0], 0, row.decode().rsplit("-", 1)[1]
            return int(ms), int(nonce)

        out = []
        for _, cells in sorted(self._rows(sink), key=lambda rc: order(rc[0])):
            headers = {k[3:].decode(): v.decode() for k, v in cells.items() if k != b"cf:payload"}
            out.append(Event(cells[b"cf:payload"], headers))
        return out


class TestRegexSerializerPipelinedContract(TestRegexSerializerContract):
    """The same with ``thrift.connections = 3``: up to 3 batches in flight on 3 connections
    (``send``), each committed only once HBase answered it. Generated keys are taken in
    channel order on the runner thread, so read_back's key order is still the event order."""

    @pytest.fixture
    def sink_settings(self, hbase_service: Any, hbase_address: str, new_table: Callable[..., str], scan_table: Any) -> dict[str, str]:
        self.scan, self.service = scan_table, hbase_service
        return {
            "table": new_table("cf"),
            "columnFamily": "cf",
            "batchSize": "100",
            "thrift.servers": hbase_address,
            "thrift.timeout": "3000",
            "thrift.connections": "3",
            "serializer": "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
            "serializer.depositHeaders": "true",
        }

    def test_batches_really_are_in_flight_at_once(self, sink: Sink) -> None:
        harness = sink.harness  # type: ignore[attr-defined]
        put(harness.channel, self._events(1000))
        harness.driver.drive()
        harness.driver.drive()
        assert harness.driver.in_flight == 2, "the runtime did not pipeline this sink's batches"
        assert harness.drive_until_empty() == []
        assert len(self.read_back(sink)) == 1000
        assert sink.pool.created >= 2  # type: ignore[attr-defined]
