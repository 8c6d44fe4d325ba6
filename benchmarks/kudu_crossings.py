"""Python<->Java crossings per batch vs per cell, against a real Kudu.

    python benchmarks/kudu_crossings.py MASTER [ROWS]

Creates a table (int64 key, three strings, an int64) with the ``kudu`` CLI of the test
kit's kudu-binary, writes ROWS rows (default 100,000) in batches of 1000 through
:class:`flafka_kudu.java_backend.JavaSession` on each path, and prints rows/s and the
process CPU seconds (wall and CPU include the server round trips: one flush per batch).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

from flafka_kudu.backend import Op
from flafka_kudu.java_backend import JavaBackend
from flafka_testkit.services.kudu import cli, install


def run(master: str, rows: int, path: str) -> tuple[float, float]:
    os.environ["FLAFKA_KUDU_HELPER"] = "1" if path == "batch" else "0"
    name = f"bench_{path}_{uuid.uuid4().hex[:8]}"
    cols = [("id", "INT64"), ("a", "STRING"), ("b", "STRING"), ("c", "STRING"), ("n", "INT64")]
    spec = json.dumps(
        {
            "table_name": name,
            "schema": {
                "columns": [{"column_name": c, "column_type": t, "is_nullable": c != "id"} for c, t in cols],
                "key_column_names": ["id"],
            },
            "partition": {"hash_partitions": [{"columns": ["id"], "num_buckets": 2, "seed": 0}]},
            "num_replicas": 1,
        }
    )
    cli(install(), "table", "create", master, spec)
    backend = JavaBackend([master], 30000)
    backend.open_table(name)
    session = backend.new_session(30000, True)
    assert (session.helper is not None) is (path == "batch")
    ops = [Op("insert", {"id": i, "a": f"alpha-{i:012d}", "b": "bravo" * 4, "c": f"c{i % 97}", "n": i * 7}, i) for i in range(rows)]
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, rows, 1000):
        assert session.write(ops[start : start + 1000]) == []
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    session.close()
    backend.close()
    cli(install(), "table", "delete", master, name)
    return wall, cpu


def main() -> None:
    master = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    run(master, 5000, "cell")  # JVM start, JIT warm-up, helper compile
    run(master, 5000, "batch")
    for path in ("cell", "batch"):
        wall, cpu = run(master, rows, path)
        print(f"{path:5s}: {rows} rows x 5 columns in {wall:.2f} s = {rows / wall:,.0f} rows/s; process CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
