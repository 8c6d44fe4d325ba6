"""The jsonl sink against the test kit's SinkContract and the jsonl source against its
SourceContract: every check the built-in components pass."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flafka import Event, Sink
from flafka_testkit.contracts import SinkCapabilities, SinkContract, SourceCapabilities, SourceContract

from flafka_example_jsonl.sink import JsonLinesSink
from flafka_example_jsonl.source import JsonLinesSource

_files = itertools.count(1)


def read_jsonl(directory: Path, prefix: str = "events") -> list[Event]:
    """Every event in the sink's files, in writing order — parsed here, not by the sink's
    code, so the test checks the format itself."""
    events = []
    for path in sorted(directory.glob(f"{prefix}-*.jsonl")):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path} ends in a partial line"
        for line in data.split(b"\n")[:-1]:
            record = json.loads(line)
            assert set(record) == {"headers", "body", "body_encoding"}, record
            if record["body_encoding"] == "base64":
                body = base64.b64decode(record["body"], validate=True)
            else:
                assert record["body_encoding"] == "utf-8", record
                body = record["body"].encode("utf-8")
            events.append(Event(body, record["headers"]))
    return events


class TestJsonLinesSink(SinkContract):
    sink_class = JsonLinesSink
    capabilities = SinkCapabilities(outage=True)

    @pytest.fixture
    def sink_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"directory": str(tmp_path / "out"), "rollSize": str(256 * 1024), "batchSize": "100"}

    def read_back(self, sink: Sink) -> list[Event]:
        return read_jsonl(Path(sink.settings["directory"]), sink.settings["prefix"])

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        """Put a regular file where the directory was, so opening a file fails. (A file
        the sink already holds open would keep taking writes — its inode lives on — so
        this outage bites at the next file open; the contract's outage check starts with
        no file open.)"""
        directory = Path(sink.settings["directory"])
        away = directory.with_name(directory.name + ".away")
        os.rename(directory, away)
        directory.write_bytes(b"not a directory\n")
        try:
            yield
        finally:
            directory.unlink()
            os.rename(away, directory)


def write_jsonl(directory: Path, bodies: list[bytes], prefix: str = "events") -> Path:
    """A new file in the sink's format (encoded here, not by the sink's code), renamed into
    place whole, named to sort after every file written before it."""
    lines = []
    for body in bodies:
        try:
            record = {"headers": {}, "body": body.decode("utf-8"), "body_encoding": "utf-8"}
        except UnicodeDecodeError:
            record = {"headers": {}, "body": base64.b64encode(body).decode("ascii"), "body_encoding": "base64"}
        lines.append(json.dumps(record).encode() + b"\n")
    path = directory / f"{prefix}-1700000000000-{next(_files):06d}.jsonl"
    tmp = directory / f".{path.name}.tmp"
    tmp.write_bytes(b"".join(lines))
    tmp.rename(path)
    return path


class TestJsonLinesSource(SourceContract):
    source_class = JsonLinesSource
    capabilities = SourceCapabilities(replayable=True, settle_seconds=0.5)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        directory = tmp_path / "in"
        directory.mkdir()
        return {"directory": str(directory), "batchSize": "100", "positionFile": str(tmp_path / "state" / "position.json")}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        write_jsonl(Path(settings["directory"]), bodies)
