"""The Avro serializers (fastavro): ``avro_event`` and Flume's ``AvroEventSerializer``
(bodies that are Avro datums, schema from headers or ``schemaURL``), and the round trip
spooldir ``deserializer = AVRO`` -> file_roll through a running agent."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest

from flafka.errors import PermanentError, RetriableError
from flafka.event import Event
from flafka.settings import Problem
from flafka.sinks.file_roll import RollingFileSink
from flafka.testing import make, settings_for

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Row",
    "fields": [{"name": "n", "type": "long"}, {"name": "s", "type": ["null", "string"]}],
}
OTHER: dict[str, Any] = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}


def datum(rec: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), rec)
    return out.getvalue()


def rows(n: int) -> list[dict[str, Any]]:
    return [{"n": i, "s": None if i % 2 else f"s{i}"} for i in range(n)]


def only_file(directory: Path) -> Path:
    (name,) = [p for p in directory.iterdir() if p.is_file()]
    return name


def records(path: Path) -> list[Any]:
    with open(path, "rb") as fh:
        return list(fastavro.reader(fh))


def roll(directory: Path, **raw: str) -> RollingFileSink:
    sink = make(RollingFileSink, "k", **{"sink.directory": str(directory), "sink.rollInterval": "0", **raw})
    sink.start()
    return sink


def test_schema_from_schema_url(tmp_path: Path) -> None:
    (tmp_path / "row.avsc").write_text(json.dumps(SCHEMA))
    out = tmp_path / "out"
    sink = roll(
        out,
        **{
            "sink.serializer": "org.apache.flume.sink.hdfs.AvroEventSerializer$Builder",
            "sink.serializer.schemaURL": (tmp_path / "row.avsc").as_uri(),
            "sink.serializer.compressionCodec": "bzip2",
            "sink.serializer.syncIntervalBytes": "20",
        },
    )
    sink.write([Event(datum(r)) for r in rows(10)])
    sink.write([Event(datum(r)) for r in rows(15)[10:]])
    sink.stop()
    with open(only_file(out), "rb") as fh:
        reader = fastavro.block_reader(fh)
        assert reader.metadata["avro.codec"] == "bzip2"
        blocks = [list(b) for b in reader]
    assert [r for b in blocks for r in b] == rows(15)
    assert len(blocks) > 2  # syncIntervalBytes closes blocks inside a batch


def test_schema_from_the_literal_header_and_url_header_wins(tmp_path: Path) -> None:
    (tmp_path / "other.avsc").write_text(json.dumps(OTHER))
    out = tmp_path / "out"
    sink = roll(out, **{"sink.serializer": "AvroEventSerializer"})
    literal = {"flume.avro.schema.literal": json.dumps(SCHEMA)}
    sink.write([Event(datum(r), dict(literal)) for r in rows(3)])
    sink.stop()
    assert records(only_file(out)) == rows(3)
    out2 = tmp_path / "out2"
    sink = roll(out2, **{"sink.serializer": "AvroEventSerializer"})
    both = {"flume.avro.schema.url": str(tmp_path / "other.avsc"), **literal}
    sink.write([Event(datum({"x": 7}, OTHER), both)])
    sink.stop()
    assert records(only_file(out2)) == [{"x": 7}]


def test_no_schema_and_a_second_schema_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sink = roll(out, **{"sink.serializer": "AvroEventSerializer"})
    with pytest.raises(PermanentError, match=r"no flume\.avro\.schema\.url or flume\.avro\.schema\.literal header.*schemaURL"):
        sink.write([Event(datum(rows(1)[0]))])
    literal = {"flume.avro.schema.literal": json.dumps(SCHEMA)}
    sink.write([Event(datum(r), dict(literal)) for r in rows(2)])
    with pytest.raises(PermanentError, match=r"names the Avro schema flume\.avro\.schema\.literal = .*Other.*open file holds"):
        sink.write(
            [Event(datum(rows(1)[0]), dict(literal)), Event(datum({"x": 1}, OTHER), {"flume.avro.schema.literal": json.dumps(OTHER)})]
        )
    sink.write([Event(datum(r)) for r in rows(4)[2:]])  # no header: the file's schema
    sink.stop()
    assert records(only_file(out)) == rows(4)


def test_unreadable_schema_url_is_retriable_and_names_it(tmp_path: Path) -> None:
    sink = roll(tmp_path / "out", **{"sink.serializer": "AvroEventSerializer", "sink.serializer.schemaURL": str(tmp_path / "missing.avsc")})
    with pytest.raises(RetriableError, match=r"schemaURL = .*missing\.avsc: cannot read the Avro schema"):
        sink.write([Event(b"\x02")])
    (tmp_path / "missing.avsc").write_text(json.dumps(SCHEMA))
    sink.write([Event(datum(rows(1)[0]))])  # the retry works once the schema is there
    sink.stop()
    assert records(only_file(tmp_path / "out")) == rows(1)


def test_hdfs_schema_url_validates_with_a_warning() -> None:
    """The Flume User Guide's example: it loads, and says what flafka cannot do yet."""
    s = settings_for(
        RollingFileSink,
        **{
            "sink.directory": "/tmp/x",
            "sink.serializer": "org.apache.flume.sink.hdfs.AvroEventSerializer$Builder",
            "sink.serializer.compressionCodec": "snappy",
            "sink.serializer.schemaURL": "hdfs://namenode/path/to/schema.avsc",
        },
    )
    problems = RollingFileSink.check_settings(s)
    assert [(p.key, p.severity) for p in problems] == [("sink.serializer.schemaURL", "warning")]
    assert "file:///path/to/schema.avsc" in problems[0].suggestion


def test_missing_codec_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from flafka.serializers.avro import codec_problem

    real = importlib.import_module
    monkeypatch.setattr(
        importlib, "import_module", lambda n, p=None: (_ for _ in ()).throw(ImportError(n)) if n == "cramjam" else real(n, p)
    )
    problem = codec_problem("snappy")
    assert isinstance(problem, Problem) and "needs the 'cramjam' package" in problem.message
    assert problem.suggestion == "pip install 'flafka-core[avro]'"


# -- spooldir AVRO -> file_roll, through a running agent ------------------------------------------


def run_agent(conf: str, tmp_path: Path, spool: Path, expect_done: int) -> None:
    from flafka_testkit.agent import start_agent_from_text

    agent = start_agent_from_text(conf, "a", tmp_path)
    try:
        deadline = time.monotonic() + 30
        while len(list(spool.glob("*.COMPLETED"))) < expect_done or not agent.drained():
            assert time.monotonic() < deadline, "the agent did not drain"
            time.sleep(0.05)
    finally:
        agent.stop()


CONF = """
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = spooldir
a.sources.s.spoolDir = {spool}
a.sources.s.deserializer = AVRO
a.sources.s.batchSize = 50
a.sources.s.channels = c
a.channels.c.type = memory
a.channels.c.capacity = 10000
a.channels.c.transactionCapacity = 1000
a.sinks.k.type = file_roll
a.sinks.k.channel = c
a.sinks.k.sink.directory = {out}
a.sinks.k.sink.rollInterval = 0
a.sinks.k.sink.batchSize = 100
"""


def test_round_trip_spooldir_avro_to_file_roll_avro_event_and_avro_event_serializer(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    out_events, out_rows = tmp_path / "events", tmp_path / "rows"
    (tmp_path / "row.avsc").write_text(json.dumps(SCHEMA))
    for name, part in (("a.avro", rows(700)[:400]), ("b.avro", rows(700)[400:])):
        buf = io.BytesIO()
        fastavro.writer(buf, fastavro.parse_schema(SCHEMA), part, codec="deflate", sync_interval=1000)
        (spool / name).write_bytes(buf.getvalue())
    conf = (
        CONF.format(spool=spool, out=out_events)
        + "a.sinks.k.sink.serializer = avro_event\na.sinks.k.sink.serializer.compressionCodec = snappy\n"
    )
    run_agent(conf, tmp_path, spool, 2)
    events = records(only_file(out_events))
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(SCHEMA))
    assert {json.dumps(e["headers"]) for e in events} == {
        json.dumps({"flume.avro.schema.hash": fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")})
    }
    got = [fastavro.schemaless_reader(io.BytesIO(e["body"]), fastavro.parse_schema(SCHEMA), None) for e in events]
    assert sorted(got, key=lambda r: r["n"]) == rows(700)
    # the same files again, written back as an Avro file of the original records
    for done in spool.glob("*.COMPLETED"):
        done.rename(done.with_suffix(""))
    conf = CONF.format(spool=spool, out=out_rows) + (
        "a.sinks.k.sink.serializer = org.apache.flume.sink.hdfs.AvroEventSerializer$Builder\n"
        f"a.sinks.k.sink.serializer.schemaURL = {(tmp_path / 'row.avsc').as_uri()}\n"
    )
    for leftover in (spool / ".flumespool").glob("*"):  # a fresh source: no positions from the first run
        leftover.unlink()
    run_agent(conf, tmp_path, spool, 2)
    assert sorted(records(only_file(out_rows)), key=lambda r: r["n"]) == rows(700)


def test_avro_serializer_without_fastavro_names_the_line_and_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from flafka.errors import ConfigError

    real = importlib.import_module
    monkeypatch.setattr(
        importlib, "import_module", lambda n, p=None: (_ for _ in ()).throw(ImportError(n)) if n == "fastavro" else real(n, p)
    )
    s = settings_for(RollingFileSink, **{"sink.directory": str(tmp_path), "sink.serializer": "avro_event"})
    (problem,) = RollingFileSink.check_settings(s)
    assert problem.key == "sink.serializer" and problem.severity == "error"
    assert "serializer avro_event needs the fastavro package" in problem.message
    with pytest.raises(ConfigError, match=r"pip install 'flafka-core\[avro\]'"):
        RollingFileSink("k", s)
