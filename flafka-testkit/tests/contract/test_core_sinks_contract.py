"""The built-in sinks of flafka-core against SinkContract."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flafka.event import Event
from flafka.sink import Sink
from flafka.sinks.file_roll import RollingFileSink
from flafka.sinks.logger import LoggerSink
from flafka.sinks.null import NullSink
from flafka_testkit.contracts import SinkCapabilities, SinkContract


class TestRollingFileSink(SinkContract):
    sink_class = RollingFileSink
    capabilities = SinkCapabilities(headers=False, newline_in_body=False)
    opt_out = {"test_headers_are_kept": "the TEXT serializer writes bodies only, as Flume's does"}

    @pytest.fixture
    def sink_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"sink.directory": str(tmp_path / "out"), "sink.rollInterval": "0", "sink.batchSize": "100"}

    def read_back(self, sink: Sink) -> list[Event]:
        out = Path(sink.settings["sink.directory"])
        data = b"".join(p.read_bytes() for p in sorted(out.iterdir()))
        return [Event(line) for line in data.split(b"\n")[:-1]]


class TestNullSink(SinkContract):
    sink_class = NullSink
    capabilities = SinkCapabilities(readable=False)
    opt_out = {
        "test_delivers_every_event_in_batches": "null discards events: nothing can be read back",
        "test_headers_are_kept": "null discards events: nothing can be read back",
        "test_binary_empty_and_large_bodies": "null discards events: nothing can be read back",
    }

    @pytest.fixture
    def sink_settings(self) -> dict[str, str]:
        return {"batchSize": "100"}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _parse_headers(text: str) -> dict[str, str]:
    inner = text[1:-1]
    return dict(item.split("=", 1) for item in inner.split(", ")) if inner else {}


def _parse_dump(dump: str) -> bytes:
    """Invert the hex dump: fixed-width rows of 16 hex bytes (47 chars) after the offset."""
    if not dump:
        return b""
    rows = dump.split("\n")
    rows[0] = "00000000" + rows[0]
    return b"".join(bytes.fromhex(row[9 : 9 + 47]) for row in rows)


class TestLoggerSink(SinkContract):
    """Read back by parsing the log lines (with maxBytesToLog large enough to show whole bodies)."""

    sink_class = LoggerSink
    # a log line is out once it is logged: a batch failing midway leaves its first events logged
    capabilities = SinkCapabilities(max_body_bytes=50_000, atomic_batches=False)

    @pytest.fixture(autouse=True)
    def capture(self) -> Iterator[_Capture]:
        handler = _Capture()
        logger = logging.getLogger("flafka.sinks.logger")
        logger.addHandler(handler)
        old = logger.level
        logger.setLevel(logging.INFO)
        self._handler = handler
        yield handler
        logger.removeHandler(handler)
        logger.setLevel(old)

    @pytest.fixture
    def sink_settings(self) -> dict[str, str]:
        return {"maxBytesToLog": "100000", "batchSize": "100"}

    def read_back(self, sink: Sink) -> list[Event]:
        events = []
        for message in self._handler.messages:
            assert message.startswith("Event: { headers:") and message.endswith(" }"), message
            rest = message[len("Event: { headers:") : -2]
            headers_text, dump = rest.split(" body:", 1)
            events.append(Event(_parse_dump(dump), _parse_headers(headers_text)))
        return events
