"""The jsonl sink's own rules: the line format, size-based rolling, one write per batch,
errors when the directory is unusable, torn-tail repair and the settings checks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flafka import Event, RetriableError
from flafka.testing import make

from flafka_example_jsonl.sink import JsonLinesSink, encode_line


@pytest.fixture
def started() -> Iterator[list[JsonLinesSink]]:
    sinks: list[JsonLinesSink] = []
    yield sinks
    for sink in sinks:
        sink.stop()


def new_sink(started: list[JsonLinesSink], directory: Path, **raw: Any) -> JsonLinesSink:
    sink = make(JsonLinesSink, "k", directory=directory, **raw)
    sink.start()
    started.append(sink)
    return sink


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_utf8_body_is_text_and_other_bodies_are_base64() -> None:
    assert json.loads(encode_line(Event("héllo ✓".encode(), {"h": "v"}))) == {
        "headers": {"h": "v"},
        "body": "héllo ✓",
        "body_encoding": "utf-8",
    }
    assert json.loads(encode_line(Event(b"\xff\x00\x80"))) == {"headers": {}, "body": "/wCA", "body_encoding": "base64"}
    assert encode_line(Event(b"a\nb")).count(b"\n") == 1, "a newline in the body must be escaped, not break the line"


def test_a_header_with_a_lone_surrogate_still_gives_a_valid_line() -> None:
    line = encode_line(Event(b"x", {"name": "bad\udc80byte"}))
    assert line.decode("utf-8").endswith("\n")
    assert json.loads(line)["headers"] == {"name": "bad\udc80byte"}


def test_each_batch_is_one_os_write(tmp_path: Path, started: list[JsonLinesSink], monkeypatch: pytest.MonkeyPatch) -> None:
    sink = new_sink(started, tmp_path)
    sizes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    sink.write([Event(b"%d" % i) for i in range(50)])
    assert len(sizes) == 1
    assert sink.path is not None and os.path.getsize(sink.path) == sizes[0]


def test_rolls_before_a_batch_would_pass_roll_size(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    one = len(encode_line(Event(b"x" * 90)))
    sink = new_sink(started, tmp_path, rollSize=one * 25, prefix="app")
    for _ in range(6):
        sink.write([Event(b"x" * 90)] * 10)  # three batches would pass 25 lines: two per file
    files = sorted(tmp_path.iterdir())
    assert [p.name.split("-")[0] for p in files] == ["app"] * 3
    assert [p.name[-12:] for p in files] == ["000001.jsonl", "000002.jsonl", "000003.jsonl"]
    assert [p.stat().st_size for p in files] == [one * 20] * 3


def test_a_batch_bigger_than_roll_size_gets_a_file_of_its_own(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    sink = new_sink(started, tmp_path, rollSize=100)
    sink.write([Event(b"small")])
    sink.write([Event(b"y" * 500)])
    sink.write([Event(b"small")])
    assert [len(lines(p)) for p in sorted(tmp_path.iterdir())] == [1, 1, 1]


def test_roll_size_zero_never_rolls(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    sink = new_sink(started, tmp_path, rollSize=0)
    for _ in range(20):
        sink.write([Event(b"z" * 1000)] * 10)
    assert len(list(tmp_path.iterdir())) == 1


def test_no_empty_file_and_no_overwrite(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    sink = new_sink(started, tmp_path)
    sink.wall_clock = lambda: 1700000000.0
    sink.start()
    assert list(tmp_path.iterdir()) == [], "start must not create a file"
    taken = tmp_path / "events-1700000000000-000001.jsonl"
    taken.write_text("someone else's\n")
    sink.write([Event(b"mine")])
    assert taken.read_text() == "someone else's\n"
    assert sink.path == str(tmp_path / "events-1700000000000-000002.jsonl")


def test_unusable_directory_raises_retriable_error_then_recovers(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    target = tmp_path / "out"
    target.write_text("a regular file where the directory should be\n")
    sink = new_sink(started, target)  # start only logs the problem
    with pytest.raises(RetriableError) as info:
        sink.write([Event(b"a")])
    message = str(info.value)
    assert f"cannot use directory '{target}'" in message and "change 'directory'" in message
    target.unlink()
    sink.write([Event(b"a")])
    assert [r["body"] for r in lines(Path(sink.path or ""))] == ["a"]


def test_failed_write_leaves_no_partial_batch(tmp_path: Path, started: list[JsonLinesSink], monkeypatch: pytest.MonkeyPatch) -> None:
    sink = new_sink(started, tmp_path)
    sink.write([Event(b"first")])
    first = sink.path
    real_write = os.write

    def half_then_fail(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        monkeypatch.setattr(os, "write", failing)
        return len(data) // 2

    def failing(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(RetriableError, match="No space left on device"):
        sink.write([Event(b"second-%d" % i) for i in range(10)])
    monkeypatch.setattr(os, "write", real_write)
    sink.write([Event(b"third")])
    bodies = [r["body"] for p in sorted(tmp_path.iterdir()) for r in lines(p)]
    assert bodies == ["first", "third"]
    assert first is not None and lines(Path(first)) == [{"headers": {}, "body": "first", "body_encoding": "utf-8"}]


def test_start_cuts_a_torn_last_line(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    good = encode_line(Event(b"whole"))
    (tmp_path / "events-1-000001.jsonl").write_bytes(good + b'{"headers":{},"bo')
    (tmp_path / "other.txt").write_bytes(b"not ours, no newline")
    new_sink(started, tmp_path)
    assert (tmp_path / "events-1-000001.jsonl").read_bytes() == good
    assert (tmp_path / "other.txt").read_bytes() == b"not ours, no newline"


def test_stop_is_idempotent_and_write_after_stop_opens_a_new_file(tmp_path: Path, started: list[JsonLinesSink]) -> None:
    sink = new_sink(started, tmp_path)
    sink.write([Event(b"a")])
    sink.stop()
    sink.stop()
    sink.write([Event(b"b")])
    assert len(list(tmp_path.iterdir())) == 2


def test_check_settings() -> None:
    settings, problems = JsonLinesSink.settings_schema.parse({"directory": "/tmp/x", "prefix": "a/b", "rollSize": "1000"})
    assert problems == []
    checked = {p.key: p for p in JsonLinesSink.check_settings(settings)}
    assert checked["prefix"].severity == "error" and "not a file name" in checked["prefix"].message
    assert checked["rollSize"].severity == "warning"
    settings, _ = JsonLinesSink.settings_schema.parse({"directory": "/tmp/x"})
    assert JsonLinesSink.check_settings(settings) == []
    assert settings["rollSize"] == 64 * 1024 * 1024 and settings["prefix"] == "events" and settings["batchSize"] == 100
