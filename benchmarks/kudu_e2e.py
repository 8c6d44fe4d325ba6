"""spooldir -> memory -> Kudu, end to end, in one process (no Flume comparison: Flume's Kudu
sink is not on Maven Central for 1.10/1.11, so it cannot be fetched by the test kit).

    python benchmarks/kudu_e2e.py MASTER [LINES]

LINES lines (default 200,000) of ``key,three strings,int64`` in one spooled file, the
Regexp producer (insert) into a 5-column table; prints events/s (until the sink's
EventDrainSuccessCount reaches LINES), process CPU seconds and peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

# this folder holds benchmarks/kudu.py: keep it off sys.path, or the Kudu sink's probe for
# the kudu-python client (``import kudu``) imports that script and the sink fails to start
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from flafka_testkit.agent import start_agent_from_text  # noqa: E402
from flafka_testkit.services.kudu import cli, install  # noqa: E402

CONF = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 1000
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 20000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kudu.KuduSink
a1.sinks.k1.channel = c1
a1.sinks.k1.masterAddresses = {master}
a1.sinks.k1.tableName = {table}
a1.sinks.k1.batchSize = 1000
a1.sinks.k1.producer = org.apache.flume.sink.kudu.RegexpKuduOperationsProducer
a1.sinks.k1.producer.pattern = (?<id>\\\\d+),(?<a>[^,]*),(?<b>[^,]*),(?<c>[^,]*),(?<n>\\\\d+)
a1.sinks.k1.producer.operation = insert
"""


def main() -> None:
    master = sys.argv[1]
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    table = f"e2e_{uuid.uuid4().hex[:8]}"
    cols = [("id", "INT64"), ("a", "STRING"), ("b", "STRING"), ("c", "STRING"), ("n", "INT64")]
    spec = {
        "table_name": table,
        "schema": {
            "columns": [{"column_name": c, "column_type": t, "is_nullable": c != "id"} for c, t in cols],
            "key_column_names": ["id"],
        },
        "partition": {"hash_partitions": [{"columns": ["id"], "num_buckets": 2, "seed": 0}]},
        "num_replicas": 1,
    }
    cli(install(), "table", "create", master, json.dumps(spec))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spool = work / "spool"
        spool.mkdir()
        staging = work / "input.csv"
        staging.write_text("".join(f"{i},alpha-{i:012d},bravobravobravo,c{i % 97},{i * 7}\n" for i in range(lines)))
        agent = start_agent_from_text(CONF.format(spool=spool, master=master, table=table), "a1", work)
        time.sleep(3)  # JVM start, table open
        wall, cpu = time.perf_counter(), time.process_time()
        staging.rename(spool / "input.csv")
        sink = next(c for c in agent.counters() if getattr(c, "name", "") == "k1")
        while sink.event_drain_success_count < lines:
            time.sleep(0.05)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        agent.stop()
    cli(install(), "table", "delete", master, table)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = lines / wall
    print(f"flafka spooldir->memory->kudu: {lines} events in {wall:.2f} s = {rate:,.0f} events/s; CPU {cpu:.2f} s; peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
