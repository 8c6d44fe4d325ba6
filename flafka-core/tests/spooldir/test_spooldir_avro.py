"""spooldir's ``deserializer = AVRO`` (Flume's AvroEventDeserializer), read with fastavro:
one event per record, the body the record's datum, the schema header, and an exact resume
across block boundaries."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.deserializers import AvroDeserializer, CorruptInput

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Click",
    "namespace": "com.example",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "user", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "double"}},
        {"name": "raw", "type": "bytes"},
    ],
}


def records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "user": None if i % 3 else f"u{i}",
            "tags": ["t"] * (i % 4),
            "attrs": {"x": i / 2} if i % 2 else {},
            "raw": bytes([i % 256]) * (i % 50),
        }
        for i in range(n)
    ]


def container(recs: list[dict[str, Any]], codec: str = "null", sync_interval: int = 300) -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(SCHEMA), recs, codec=codec, sync_interval=sync_interval)
    return out.getvalue()


def decode(body: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(SCHEMA), None)


def read_all(data: bytes, batch: int = 1000, **kw: Any) -> tuple[list[bytes], AvroDeserializer]:
    d = AvroDeserializer(io.BytesIO(data), **kw)
    got: list[bytes] = []
    while True:
        bodies = d.read(batch)
        if not bodies:
            return got, d
        got += bodies


def read_restarting(data: bytes, batch: int) -> tuple[list[bytes], list[tuple[int, int]]]:
    """A new reader after every batch (a restart), resuming at the last position."""
    got: list[bytes] = []
    positions: list[tuple[int, int]] = []
    offset = line = 0
    while True:
        d = AvroDeserializer(io.BytesIO(data), offset=offset, line=line)
        bodies = d.read(batch)
        if not bodies:
            return got, positions
        got += bodies
        offset, line = d.offset, d.line
        positions.append((offset, line))


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_one_event_per_record_body_is_the_datum(codec: str) -> None:
    recs = records(120)
    data = container(recs, codec)
    bodies, d = read_all(data, batch=7)
    assert [decode(b) for b in bodies] == recs
    assert d.line == 120 and d.offset == len(data) and d.at_eof()
    expected = io.BytesIO()
    fastavro.schemaless_writer(expected, fastavro.parse_schema(SCHEMA), recs[5])
    assert bodies[5] == expected.getvalue()  # what Flume's re-encoding of the record gives


def test_schema_headers_hash_and_literal() -> None:
    data = container(records(3))
    _, d = read_all(data)
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(SCHEMA))
    assert d.headers == {"flume.avro.schema.hash": fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")}
    assert len(d.headers["flume.avro.schema.hash"]) == 16
    _, lit = read_all(data, schema_type="LITERAL")
    text = lit.headers["flume.avro.schema.literal"]
    assert json.loads(text)["name"] == "com.example.Click" or json.loads(text)["name"] == "Click"
    assert text == fastavro.block_reader(io.BytesIO(data)).metadata["avro.schema"]


def test_hash_of_a_known_schema_matches_avros_java_fingerprint() -> None:
    # Avro Java: SchemaNormalization.parsingFingerprint("CRC-64-AVRO", Schema.create(Type.STRING)),
    # bytes as Flume hex-encodes them (fingerprint64 little-endian): 0x9d6c71f8ab0a4a8 ... see the spec's
    # "Schema Fingerprints"; the empty-string fingerprint is the Rabin EMPTY constant.
    assert fastavro.schema.fingerprint("", "CRC-64-AVRO") == (0xC15D213AA4D7A795).to_bytes(8, "little").hex()


@pytest.mark.parametrize("batch", [1, 3, 10, 41])
def test_a_restart_after_every_batch_neither_repeats_nor_skips(batch: int) -> None:
    recs = records(100)
    data = container(recs, "deflate", sync_interval=200)
    assert len(list(fastavro.block_reader(io.BytesIO(data)))) > 5
    got, positions = read_restarting(data, batch)
    assert [decode(b) for b in got] == recs
    assert positions == sorted(positions) and positions[-1] == (len(data), 100)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=0, max_value=60), batch=st.integers(min_value=1, max_value=9), sync=st.integers(min_value=1, max_value=400))
def test_resume_property(n: int, batch: int, sync: int) -> None:
    recs = records(n)
    data = container(recs, sync_interval=sync)
    got, _ = read_restarting(data, batch)
    assert [decode(b) for b in got] == recs


def test_empty_container_has_no_events() -> None:
    bodies, d = read_all(container([]))
    assert bodies == [] and d.at_eof()


def test_not_avro_and_cut_short_are_corrupt_input() -> None:
    with pytest.raises(CorruptInput, match="not an Avro object container file") as info:
        AvroDeserializer(io.BytesIO(b"hello\nworld\n")).read(10)
    assert info.value.where == "byte offset 0"
    data = container(records(50), sync_interval=100)
    d = AvroDeserializer(io.BytesIO(data[:-40]))
    got: list[bytes] = []
    with pytest.raises(CorruptInput, match="damaged or cut short") as info:
        while True:
            bodies = d.read(5)
            assert bodies
            got += bodies
    assert "block at byte offset" in info.value.where
    assert [decode(b) for b in got] == records(50)[: len(got)]


# -- through the source ------------------------------------------------------------------


def test_source_sends_records_with_the_schema_header_and_completes_the_file(h, spool: Path) -> None:
    data = container(records(30), "snappy", sync_interval=100)
    h.write(spool / "clicks.avro", data)
    src = h.make_source(spool, {"deserializer": "AVRO", "batchSize": "8"})
    h.run(src)
    events = [e for batch in h.fake(src).batches for e in batch]
    assert [decode(e.body) for e in events] == records(30)
    assert all(set(e.headers) == {"flume.avro.schema.hash"} for e in events)
    assert (spool / "clicks.avro.COMPLETED").exists()


def test_source_resumes_exactly_after_a_crash(h, spool: Path) -> None:
    data = container(records(60), "deflate", sync_interval=150)
    h.write(spool / "f.avro", data)
    src = h.make_source(spool, {"deserializer": "AVRO", "batchSize": "7", "fileHeader": "true"}, auto=False)
    for _ in range(4):
        src.process()
    h.fake(src).deliver(3)  # 21 records delivered, the rest in flight
    src.process()  # applies the acknowledgements; then the agent dies (no stop)
    again = h.make_source(spool, {"deserializer": "AVRO", "batchSize": "7", "fileHeader": "true"})
    h.run(again)
    first = [e for batch in h.fake(src).batches[:3] for e in batch]
    rest = [e for batch in h.fake(again).batches for e in batch]
    assert [decode(e.body) for e in first + rest] == records(60)
    assert all(e.headers["file"].endswith("f.avro") and "flume.avro.schema.hash" in e.headers for e in rest)


def test_a_file_that_is_not_avro_is_quarantined_with_the_reason(h, spool: Path) -> None:
    h.write(spool / "notes.txt", b"plain text\n")
    src = h.make_source(spool, {"deserializer": "AVRO"})
    h.run(src)
    note = next((spool / ".flafka-quarantine").glob("notes.txt*.reason.txt"), None) or next(
        (spool / ".flafka-quarantine").rglob("*.reason.txt")
    )
    text = note.read_text()
    assert "not an Avro object container file" in text and "deserializer = AVRO" in text
