"""HDFS test service: write and read a file through WebHDFS (redirects stay on 127.0.0.1)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration


def test_webhdfs_write_read(hdfs_service):
    from hdfs import InsecureClient

    client = InsecureClient(hdfs_service.address, user=hdfs_service.endpoints.get("user", "flafka"))
    path = f"/flafka-test/{uuid.uuid4().hex}.txt"
    client.write(path, data=b"hello\nworld\n", overwrite=True)
    with client.read(path) as reader:
        assert reader.read() == b"hello\nworld\n"
    assert client.status(path)["length"] == 12
    assert hdfs_service.endpoints["rpc"].startswith("hdfs://127.0.0.1:")
