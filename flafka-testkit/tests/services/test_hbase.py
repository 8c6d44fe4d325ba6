"""HBase test service: create a table, put and scan through the Thrift server (happybase)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


def test_thrift_put_scan(hbase_service):
    import happybase

    host, _, port = hbase_service.address.rpartition(":")
    conn = happybase.Connection(host, int(port), timeout=60_000)
    name = f"t_{uuid.uuid4().hex[:8]}"
    try:
        conn.create_table(name, {"cf": {}})
        table = conn.table(name)
        with table.batch() as batch:
            for i in range(50):
                batch.put(f"r{i:03d}".encode(), {b"cf:body": f"v{i}".encode()})
        rows = list(table.scan())
        assert len(rows) == 50
        assert rows[0] == (b"r000", {b"cf:body": b"v0"})
        conn.delete_table(name, disable=True)
    finally:
        conn.close()
    assert hbase_service.endpoints["zookeeper"].startswith("127.0.0.1:")
