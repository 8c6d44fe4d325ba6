"""The jsonl source's own rules: it reads the sink's files back exactly, follows the newest
file, waits for whole lines, delivers bad lines with a header, persists only delivered
positions (through flafka.position, throttled) and refuses a damaged position file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flafka import Event
from flafka.position import PositionFileError
from flafka.testing import make
from flafka_testkit.contracts.harness import SourceHarness

from flafka_example_jsonl.sink import JsonLinesSink
from flafka_example_jsonl.source import ERROR_HEADER, JsonLinesSource, Position, decode_line


@pytest.fixture
def started() -> Iterator[list[JsonLinesSource]]:
    sources: list[JsonLinesSource] = []
    yield sources
    for source in sources:
        source.stop()


def new_source(started: list[JsonLinesSource], directory: Path, **raw: Any) -> SourceHarness:
    source = make(JsonLinesSource, "r", directory=directory, **raw)
    harness = SourceHarness(source)
    source.start()
    started.append(source)
    return harness


def deliver(harness: SourceHarness, want: int, timeout: float = 10.0) -> list[Event]:
    got: list[Event] = []

    def enough() -> bool:
        got.extend(harness.take_all(commit=True))
        return len(got) >= want

    harness.poll(enough, timeout)
    return got


def test_reads_back_exactly_what_the_sink_wrote(tmp_path: Path, started: list[JsonLinesSource]) -> None:
    """Round trip through the real sink: text and binary bodies, headers, several files."""
    sink = make(JsonLinesSink, "k", directory=tmp_path, rollSize=0)
    sink.start()
    events = [Event(b"plain"), Event(bytes(range(256)), {"h": "v"}), Event(b"", {"a": "1", "b": "2"}), Event("ünï ✓".encode())]
    sink.write(events[:2])
    sink.stop()
    sink = make(JsonLinesSink, "k", directory=tmp_path, rollSize=0)
    sink.start()
    sink.write(events[2:])
    sink.stop()
    assert len(list(tmp_path.glob("events-*.jsonl"))) == 2
    harness = new_source(started, tmp_path)
    assert deliver(harness, 4) == events


def test_follows_the_newest_file_and_waits_for_whole_lines(tmp_path: Path, started: list[JsonLinesSource]) -> None:
    path = tmp_path / "events-1-000001.jsonl"
    path.write_bytes(b'{"headers":{},"body":"a","body_encoding":"utf-8"}\n{"headers":{},"bo')
    harness = new_source(started, tmp_path)
    assert [e.body for e in deliver(harness, 1)] == [b"a"]
    assert deliver(harness, 1, timeout=0.3) == []  # half a line: not read yet
    with open(path, "ab") as fh:
        fh.write(b'dy":"b","body_encoding":"utf-8"}\n')
    assert [e.body for e in deliver(harness, 1)] == [b"b"]
    (tmp_path / "events-1-000002.jsonl").write_bytes(b'{"headers":{},"body":"c","body_encoding":"utf-8"}\n')
    assert [e.body for e in deliver(harness, 1)] == [b"c"]
    assert harness.poll(harness.source.drained, 5)


def test_a_line_that_is_not_a_record_is_delivered_as_is_with_a_header(
    tmp_path: Path, started: list[JsonLinesSource], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "events-1-000001.jsonl").write_bytes(
        b'not json\n{"headers":{},"body":"ok","body_encoding":"utf-8"}\n{"headers":{},"body":"!!","body_encoding":"base64"}\n'
    )
    harness = new_source(started, tmp_path)
    got = deliver(harness, 3)
    assert [e.body for e in got] == [b"not json", b"ok", b'{"headers":{},"body":"!!","body_encoding":"base64"}']
    assert ERROR_HEADER in got[0].headers and "body is not base64" in got[2].headers[ERROR_HEADER]
    assert got[1].headers == {}
    assert harness.source.invalid_lines == 2
    warnings = [r.getMessage() for r in caplog.records if "not jsonl records" in r.getMessage()]
    assert len(warnings) == 1 and "events-1-000001.jsonl" in warnings[0]


@pytest.mark.parametrize(
    "line",
    [
        b"[1]",
        b'{"headers":{},"body":"x"}',
        b'{"headers":{"n":1},"body":"x","body_encoding":"utf-8"}',
        b'{"headers":{},"body":"x","body_encoding":"hex"}',
    ],
)
def test_decode_line_names_what_is_wrong(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode_line(line)


def test_only_delivered_positions_are_persisted_and_restart_resumes(tmp_path: Path, started: list[JsonLinesSource]) -> None:
    data = tmp_path / "in"
    data.mkdir()
    lines = [b'{"headers":{},"body":"%d","body_encoding":"utf-8"}\n' % i for i in range(250)]
    (data / "events-1-000001.jsonl").write_bytes(b"".join(lines))
    position = tmp_path / "pos.json"
    harness = new_source(started, data, positionFile=position, batchSize=100, writePosInterval=0)
    harness.poll(lambda: harness.channel.size() == 250, 10)
    harness.source.process()
    assert not position.exists(), "nothing was delivered, so no position may be written"
    first = harness.channel.take_transaction()
    assert len(first.take(100)) == 100
    first.commit()  # the first batch is delivered, the rest stays in the channel
    harness.source.process()
    assert json.loads(position.read_text()) == {"file": "events-1-000001.jsonl", "offset": len(b"".join(lines[:100]))}
    harness.source.stop()
    again = new_source(started, data, positionFile=position, batchSize=100)
    assert [e.body for e in deliver(again, 150)] == [b"%d" % i for i in range(100, 250)]


def test_the_position_file_is_throttled_and_flushed_at_stop(tmp_path: Path, started: list[JsonLinesSource]) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "events-1-000001.jsonl").write_bytes(b"".join(b'{"headers":{},"body":"%d","body_encoding":"utf-8"}\n' % i for i in range(50)))
    harness = new_source(started, data, positionFile=tmp_path / "pos.json", batchSize=1, writePosInterval=60_000)
    assert len(deliver(harness, 50)) == 50
    harness.poll(lambda: False, 0.2)
    positions = harness.source.positions
    assert positions.writes == 1 and positions.pending  # the first delivery only; 49 newer ones wait
    harness.source.stop()
    assert positions.writes == 2 and not positions.pending
    assert positions.load() == Position("events-1-000001.jsonl", (data / "events-1-000001.jsonl").stat().st_size)


def test_a_damaged_position_file_stops_the_start_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    position = tmp_path / "pos.json"
    position.write_text('{"file": "events-1-000001.jsonl", "offs')
    source = make(JsonLinesSource, "r", directory=tmp_path, positionFile=position)
    with pytest.raises(PositionFileError) as info:
        source.start()
    message = str(info.value)
    assert message.startswith(f"source 'r': the position file '{position}' is not valid JSON")
    assert "move it away to start over from the beginning" in message
    position.write_text('{"file": "../etc/passwd", "offset": 3}')
    with pytest.raises(PositionFileError, match="does not hold a position this source understands"):
        source.start()


def test_the_default_position_file_is_in_the_directory(tmp_path: Path) -> None:
    source = make(JsonLinesSource, "r1", directory=tmp_path)
    assert source.positions.path == tmp_path / ".r1.position.json"
