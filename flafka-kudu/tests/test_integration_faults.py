"""The tablet server SIGKILLed and restarted mid-stream (a Kudu of the test's own, so the
shared one is never harmed): batches fail as retriable after ``timeoutMillis`` and stay in
the channel; after the restart every event is in the table exactly once (replayed inserts
are AlreadyPresent, ignored with ignoreDuplicateRows)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kudu_test_support import create_table, run_cli, scan_rows  # type: ignore[import-not-found]

from flafka.event import Event
from flafka_kudu.sink import KuduSink
from flafka_testkit import faults
from flafka_testkit.contracts.harness import SinkHarness, build, put
from flafka_testkit.services.base import ServiceError, run_dir
from flafka_testkit.services.kudu import KuduService


@pytest.fixture
def own_kudu() -> Iterator[KuduService]:
    service = KuduService(home=run_dir() / "kudu-faults")
    try:
        service.start()
    except ServiceError as exc:
        if os.environ.get("FLAFKA_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip(f"no Kudu: {exc}")
    yield service
    service.stop()


def test_tablet_server_killed_and_restarted_mid_stream(own_kudu: KuduService) -> None:
    master = own_kudu.address
    assert master
    path = own_kudu.endpoints["kudu_cli"]
    cli = lambda *a, **kw: run_cli(path, *a, **kw)  # noqa: E731
    table = create_table(cli, master, "faults", [("id", "INT64", False), ("name", "STRING", True)], ["id"])
    sink = build(KuduSink, "k", {
        "masterAddresses": master, "tableName": table, "batchSize": "100", "timeoutMillis": "3000",
        "producer": "regexp", "producer.pattern": r"(?<id>\d+) (?<name>\w+)", "producer.operation": "insert",
    })  # fmt: skip
    harness = SinkHarness(sink)
    sink.start()
    try:
        n = 3000
        put(harness.channel, [Event(b"%d n%d" % (i, i)) for i in range(n)])
        for _ in range(5):
            harness.driver.drive()
        assert harness.channel.size() == n - 500
        faults.kill(own_kudu, role="tserver")
        failures = harness.drive_until_empty(timeout=15, max_failures=2)
        assert failures and all(f.retriable for f in failures), failures
        assert harness.channel.size() == n - 500, "events left the channel while the tablet server was down"
        faults.restart(own_kudu, role="tserver")
        harness.drive_until_empty(timeout=180)
        assert harness.channel.is_empty()
    finally:
        sink.stop()
    rows = scan_rows(cli, master, table)
    assert sorted(r["id"] for r in rows) == list(range(n))
