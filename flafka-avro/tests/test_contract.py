"""The test kit's sink contract for the avro sink, against a real flafka avro source (the
destination; ``read_back`` takes what reached its channel). The outage stops the source
and starts a new one on the same port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from flafka.event import Event
from flafka.sink import Sink
from flafka.testing import make
from flafka_avro.sink import AvroSink
from flafka_avro.source import AvroSource
from flafka_testkit.contracts import SinkCapabilities, SinkContract
from flafka_testkit.contracts.harness import SourceHarness, memory_channel

_DEST: dict[int, tuple[SourceHarness, list[Event]]] = {}


def _start(port: int) -> SourceHarness:
    source = make(AvroSource, "dest", bind="127.0.0.1", port=port)
    h = SourceHarness(source, memory_channel(100_000, 10_000), acknowledgements=False)
    source.start()
    return h


class TestAvroSinkContract(SinkContract):
    sink_class = AvroSink
    capabilities = SinkCapabilities(outage=True, secret_keys=("truststore-password",))

    @pytest.fixture
    def sink_settings(self) -> Iterator[dict[str, str]]:
        h = _start(0)
        port = h.source.address[1]  # type: ignore[attr-defined]
        _DEST[port] = (h, [])
        yield {"hostname": "127.0.0.1", "port": str(port), "batch-size": "100", "request-timeout": "3000", "connect-timeout": "2000"}
        _DEST.pop(port)[0].source.stop()

    def read_back(self, sink: Sink) -> list[Event]:
        h, seen = _DEST[sink.settings["port"]]
        seen += h.take_all()
        return list(seen)

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        port = sink.settings["port"]
        h, seen = _DEST[port]
        seen += h.take_all()
        h.source.stop()
        try:
            yield
        finally:
            _DEST[port] = (_start(port), seen)


def test_check_settings_warnings() -> None:
    from flafka.testing import settings_for

    problems = AvroSink.check_settings(settings_for(AvroSink, hostname="h", port=1, maxIoWorkers=4, **{"request-timeout": 10}))
    assert {p.key for p in problems} == {"maxIoWorkers", "request-timeout"} and all(p.severity == "warning" for p in problems)
    assert make(AvroSink, "s", hostname="h", port=1, **{"request-timeout": 10}).request_timeout == 20.0
    src = AvroSource.check_settings(settings_for(AvroSource, bind="x", port=1, ssl="true", ipFilter="true", ipFilterRules="nope"))
    assert {p.key for p in src} == {"keystore", "ipFilterRules"}
