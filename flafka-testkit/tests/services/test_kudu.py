"""Kudu test service: create a table, write rows and scan them with the ``kudu`` CLI."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.integration


def test_create_table_and_scan(kudu_service):
    from flafka_testkit.services import kudu

    home = kudu.install()
    master = kudu_service.address
    name = f"t_{uuid.uuid4().hex[:8]}"
    spec = {
        "table_name": name,
        "schema": {
            "columns": [
                {"column_name": "id", "column_type": "INT64", "is_nullable": False},
                {"column_name": "v", "column_type": "STRING", "is_nullable": True},
            ],
            "key_column_names": ["id"],
        },
        "partition": {"hash_partitions": [{"columns": ["id"], "num_buckets": 2}]},
        "num_replicas": 1,
    }
    kudu.cli(home, "table", "create", master, json.dumps(spec))
    assert name in kudu.cli(home, "table", "list", master).split()
    kudu.cli(home, "perf", "loadgen", master, f"-table_name={name}", "-num_rows_per_thread=100",
             "-num_threads=1", "-keep_auto_table=true")  # fmt: skip
    out = kudu.cli(home, "table", "scan", master, name, "-columns=id")
    assert "Total count 100" in out
    kudu.cli(home, "table", "delete", master, name)
