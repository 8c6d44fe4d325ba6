"""The Avro producer: raw Avro datums decoded with fastavro, schema from the headers or
schemaPath, bad input rejected per event (no server: a TableInfo stands for the table);
and one round trip through the real Kudu."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest

from flafka.event import Event
from flafka_kudu.backend import Column, TableInfo
from flafka_kudu.producers.avro import AvroProducer
from flafka_kudu.sink import KuduSink
from flafka_testkit.contracts.harness import SinkHarness, build

SCHEMA = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "small", "type": "int"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "raw", "type": "bytes"},
        {"name": "score", "type": "float"},
    ],
}
TABLE = TableInfo(
    "t",
    (
        Column("id", "INT64", True, False),
        Column("small", "INT8", False, True),
        Column("name", "STRING", False, True),
        Column("raw", "BINARY", False, True),
        Column("score", "DOUBLE", False, True),
        Column("absent", "STRING", False, True),
    ),
)


def datum(record: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def producer(**keys: str) -> AvroProducer:
    settings, problems = AvroProducer.settings_schema.parse(keys)
    assert not problems
    p = AvroProducer("k", settings)
    p.initialize(TABLE)
    return p


def test_schema_from_literal_url_and_path(tmp_path: Path) -> None:
    path = tmp_path / "r.avsc"
    path.write_text(json.dumps(SCHEMA))
    body = datum({"id": 1, "small": -5, "name": None, "raw": b"\x00\xff", "score": 1.5})
    p = producer(schemaPath=str(path))
    out = p.operations([
        Event(body),
        Event(body, {"flume.avro.schema.literal": json.dumps(SCHEMA)}),
        Event(body, {"flume.avro.schema.url": path.as_uri()}),
    ])  # fmt: skip
    assert out.failed == []
    assert [o.values for o in out.ops] == [{"id": 1, "small": -5, "name": None, "raw": b"\x00\xff", "score": 1.5}] * 3
    assert {o.kind for o in out.ops} == {"upsert"}


def test_bad_input_rejects_only_that_event(tmp_path: Path) -> None:
    good = datum({"id": 1, "small": 1, "name": "a", "raw": b"", "score": 0.0})
    p = producer(operation="insert")
    lit = {"flume.avro.schema.literal": json.dumps(SCHEMA)}
    out = p.operations([
        Event(good, lit),
        Event(good),  # no schema at all
        Event(good, {"flume.avro.schema.url": (tmp_path / "missing.avsc").as_uri()}),  # unreadable URL
        Event(b"\x02", lit),  # truncated datum
        Event(datum({"id": 2, "small": 300, "name": "b", "raw": b"", "score": 0.0}), lit),  # out of INT8 range
    ])  # fmt: skip
    assert [o.event for o in out.ops] == [0] and out.ops[0].kind == "insert"
    failed = dict(out.failed)
    assert sorted(failed) == [1, 2, 3, 4]
    assert "no schema" in failed[1] and "missing.avsc" in failed[2] and "small" in failed[4] and "out of range" in failed[4]


def test_avro_round_trip_through_kudu(
    kudu_master: str, new_table: Callable[..., str], scan: Callable[[str], list[dict[str, Any]]], request: pytest.FixtureRequest
) -> None:
    table = new_table(
        [("id", "INT64", False), ("small", "INT8", True), ("name", "STRING", True), ("raw", "BINARY", True), ("score", "DOUBLE", True)],
        ["id"],
    )
    sink: KuduSink = build(KuduSink, "k", {"masterAddresses": kudu_master, "tableName": table, "producer": "avro"})
    SinkHarness(sink)
    sink.start()
    request.addfinalizer(sink.stop)
    lit = {"flume.avro.schema.literal": json.dumps(SCHEMA)}
    assert sink.write([Event(datum({"id": 7, "small": -128, "name": None, "raw": b"\x01\x02", "score": 2.5}), lit)]) is None
    assert scan(table) == [{"id": 7, "small": -128, "name": None, "raw": b"\x01\x02", "score": 2.5}]
