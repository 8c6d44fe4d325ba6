"""The contract suites catch the mistakes a connector author makes.

Two small, correct file connectors (a sink appending lines to a file, a replayable
source reading lines from one) pass every check. Each broken variant below makes one
mistake a new author made, and the check meant for it fails with a message that says
what to fix:

* file I/O in ``__init__`` (a sink opening its file, a source loading its position);
* a sink that writes a batch event by event, so a failure midway leaves half of it
  visible (and the retry duplicates it);
* a replayable source whose ``drained()`` ignores acknowledgements;
* a source whose batch size setting is not the one ``batch_size_key`` names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka import REQUIRED, ChannelError, Event, PollableSource, Schema, Setting, Settings, Sink, Status
from flafka.position import PositionFile
from flafka.sink import BatchOutcome, PendingWrite, Written
from flafka.source import POLLABLE_SETTINGS
from flafka_testkit.contracts import SinkCapabilities, SinkContract, SourceCapabilities, SourceContract
from flafka_testkit.contracts.harness import SinkHarness, build

# -- a correct sink and its broken variants ---------------------------------------------------


class LinesSink(Sink):
    """Appends each batch, one line per event, to ``<directory>/out.log`` with one write."""

    type_name = "test-lines"
    settings_schema = Schema(
        Setting("directory", "str", REQUIRED, "where out.log is written"),
        Setting("batchSize", "int", 100, "events per batch", minimum=1),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.path = os.path.join(settings["directory"], "out.log")
        self.fd: int | None = None

    def start(self) -> None:
        os.makedirs(self.settings["directory"], exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def stop(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def write(self, events: list[Event]) -> BatchOutcome | None:
        assert self.fd is not None
        os.write(self.fd, b"".join(e.body + b"\n" for e in events))
        return None


class EagerLinesSink(LinesSink):
    """Mistake: opens its file while being constructed."""

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        os.makedirs(settings["directory"], exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start(self) -> None:
        pass


class OneByOneLinesSink(LinesSink):
    """Mistake: writes event by event, so a failure midway leaves half the batch in the file."""

    def write(self, events: list[Event]) -> BatchOutcome | None:
        assert self.fd is not None
        for event in events:
            os.write(self.fd, event.body + b"\n")
        return None


def read_lines(directory: Path) -> list[Event]:
    path = directory / "out.log"
    return [Event(line) for line in path.read_bytes().split(b"\n")[:-1]] if path.exists() else []


class _LinesSinkContract(SinkContract):
    capabilities = SinkCapabilities(headers=False, newline_in_body=False)

    @pytest.fixture
    def sink_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"directory": str(tmp_path / "out"), "batchSize": "100"}

    def read_back(self, sink: Sink) -> list[Event]:
        return read_lines(Path(sink.settings["directory"]))


class TestLinesSink(_LinesSinkContract):
    """The correct sink passes the whole suite (headers are not written: opted out)."""

    sink_class = LinesSink
    opt_out = {"test_headers_are_kept": "out.log holds bodies only"}

    def outage(self, sink: Sink) -> Any:  # pragma: no cover - capabilities.outage is False
        raise NotImplementedError


@pytest.fixture
def started_sink(tmp_path: Path) -> Iterator[Any]:
    """``started_sink(cls)``: a sink of ``cls`` wired and started as the suite's ``sink`` fixture does."""
    started: list[Sink] = []

    def start(cls: type[Sink]) -> Sink:
        sink = build(cls, "contract-sink", {"directory": str(tmp_path / "out"), "batchSize": "100"})
        sink.harness = SinkHarness(sink)  # type: ignore[attr-defined]
        sink.start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


def test_file_io_in_a_sinks_init_is_caught(tmp_path: Path) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": EagerLinesSink})()
    with pytest.raises(AssertionError) as info:
        contract.test_construction_does_no_file_io({"directory": str(tmp_path / "out")})
    message = str(info.value)
    assert "the sink EagerLinesSink did I/O while its settings were checked or it was constructed" in message
    assert f"open('{tmp_path / 'out' / 'out.log'}')" in message
    assert f"os.mkdir('{tmp_path / 'out'}'" in message
    assert "test_checks_catch_mistakes.py:" in message and "in __init__" in message  # where it happened
    assert "open, create or list files, start processes and connect in start()" in message


def test_a_sink_leaving_part_of_a_failed_batch_visible_is_caught(started_sink: Any) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": OneByOneLinesSink})()
    sink = started_sink(OneByOneLinesSink)
    with pytest.raises(AssertionError) as info:
        contract.test_failed_batch_leaves_nothing_visible(sink)
    message = str(info.value)
    assert "10 of the 20 events of a failed write are visible at the destination" in message
    assert "declare SinkCapabilities(atomic_batches=False)" in message


def test_a_sink_writing_the_batch_at_once_passes_the_failure_check(started_sink: Any) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": LinesSink})()
    contract.test_failed_batch_leaves_nothing_visible(started_sink(LinesSink))


def test_declared_partial_visibility_is_accepted_but_still_checked_for_loss(started_sink: Any) -> None:
    declared = SinkCapabilities(headers=False, newline_in_body=False, atomic_batches=False)
    honest = type("C", (_LinesSinkContract,), {"sink_class": OneByOneLinesSink, "capabilities": declared})()
    sink = started_sink(OneByOneLinesSink)
    honest.test_failed_batch_leaves_nothing_visible(sink)
    assert len(read_lines(Path(sink.settings["directory"]))) == 30  # 10 written before the failure, 20 on retry


# -- sinks that replace write or send: the suite's fault injection must not loop -------------


class PipelinedLinesSink(LinesSink):
    """A pipelined sink: ``send`` does the work and ``write`` is ``send(...).wait()`` — the
    shape Kafka-like sinks have. The suite's injected ``write`` calls the sink's real
    ``write``, which calls ``self.send``: that must reach the sink's ``send``, not the
    injected one again (it recursed until RecursionError)."""

    max_pending_batches = 2

    def send(self, events: list[Event]) -> PendingWrite:
        return Written(LinesSink.write(self, events))

    def write(self, events: list[Event]) -> BatchOutcome | None:
        return self.send(events).wait()


class InstanceBoundLinesSink(LinesSink):
    """Picks its write function at start and binds it on the instance (no class ``write``
    override is used): after a check injected and restored ``write``, the sink's own
    binding must be back (it was deleted, so the sink fell back to ``Sink.write``)."""

    def start(self) -> None:
        super().start()
        self.write = self._append  # type: ignore[method-assign]

    def _append(self, events: list[Event]) -> BatchOutcome | None:
        return LinesSink.write(self, events)

    write = Sink.write  # type: ignore[assignment]


class TestPipelinedLinesSink(_LinesSinkContract):
    sink_class = PipelinedLinesSink
    opt_out = {"test_headers_are_kept": "out.log holds bodies only"}


class TestInstanceBoundLinesSink(_LinesSinkContract):
    sink_class = InstanceBoundLinesSink
    opt_out = {"test_headers_are_kept": "out.log holds bodies only"}


def test_injection_reaches_a_pipelined_sinks_own_send(started_sink: Any) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": PipelinedLinesSink})()
    sink = started_sink(PipelinedLinesSink)
    contract.test_partial_batch_failure_redelivers_only_the_failed_events(sink)
    assert "write" not in sink.__dict__ and "send" not in sink.__dict__  # restored
    assert len(read_lines(Path(sink.settings["directory"]))) == 100


def test_injection_restores_a_write_bound_on_the_instance(started_sink: Any) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": InstanceBoundLinesSink})()
    sink = started_sink(InstanceBoundLinesSink)
    own = sink.write
    contract.test_retriable_error_rolls_back_and_permanent_error_keeps_events(sink)
    assert sink.write == own and "send" not in sink.__dict__


# -- a correct replayable source and its broken variants --------------------------------------


class LinesSource(PollableSource):
    """Reads lines from ``<directory>/in.log``; persists the delivered offset with PositionFile."""

    type_name = "test-lines"
    replayable = True
    settings_schema = (
        Schema(
            Setting("directory", "str", REQUIRED, "where in.log is read"),
            Setting("batchSize", "int", 100, "lines per batch", minimum=1),
        )
        + POLLABLE_SETTINGS
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.input = os.path.join(settings["directory"], "in.log")
        self.positions: PositionFile[int] = PositionFile(os.path.join(settings["directory"], "pos.json"), interval_ms=100)
        self.offset = 0
        self.retry: tuple[list[Event], int] | None = None

    def start(self) -> None:
        self.offset = self.positions.load() or 0

    def stop(self) -> None:
        for position in self.acks.delivered():
            self.positions.update(position)
        self.positions.flush()

    def _read(self) -> tuple[list[Event], int] | None:
        try:
            with open(self.input, "rb") as fh:
                fh.seek(self.offset)
                lines = [fh.readline() for _ in range(self.batch_size())]
        except FileNotFoundError:
            return None
        lines = [line for line in lines if line.endswith(b"\n")]
        if not lines:
            return None
        end = self.offset + sum(map(len, lines))
        return [Event(line[:-1]) for line in lines], end

    def process(self) -> Status:
        for position in self.acks.delivered():
            self.positions.update(position)
        self.positions.tick()
        if self.retry is None:
            self.retry = self._read()
            if self.retry is None:
                return Status.BACKOFF
            self.offset = self.retry[1]
        events, end = self.retry
        try:
            self.processor.process_batch(events, self.acks.token(end))
        except ChannelError:
            return Status.BACKOFF
        self.retry = None
        return Status.READY

    def drained(self) -> bool:
        return self.retry is None and self._read() is None and self.acks.in_flight == 0


class EagerLinesSource(LinesSource):
    """Mistake: loads its position while being constructed."""

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.offset = self.positions.load() or 0


class ImpatientLinesSource(LinesSource):
    """Mistake: drained() as soon as everything was read, delivered or not."""

    def drained(self) -> bool:
        return self.retry is None and self._read() is None


class MisnamedBatchSource(LinesSource):
    """Mistake: its batch size is ``batch.size``, but ``batch_size_key`` still says ``batchSize``."""

    settings_schema = Schema(Setting("directory", "str", REQUIRED), Setting("batch.size", "int", 100, minimum=1)) + POLLABLE_SETTINGS

    def _read(self) -> tuple[list[Event], int] | None:
        self.batch_size = lambda: int(self.settings["batch.size"])  # type: ignore[method-assign]
        try:
            return super()._read()
        finally:
            del self.batch_size


class _LinesSourceContract(SourceContract):
    capabilities = SourceCapabilities(replayable=True, settle_seconds=0.3)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        (tmp_path / "in").mkdir()
        return {"directory": str(tmp_path / "in"), "batchSize": "100"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        with open(os.path.join(settings["directory"], "in.log"), "ab") as fh:
            fh.write(b"".join(b + b"\n" for b in bodies))


class TestLinesSource(_LinesSourceContract):
    """The correct source passes the whole suite."""

    source_class = LinesSource


def _settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "in").mkdir(exist_ok=True)
    return {"directory": str(tmp_path / "in"), **extra}


def test_file_io_in_a_sources_init_is_caught(tmp_path: Path) -> None:
    settings = _settings(tmp_path, batchSize="100")
    (tmp_path / "in" / "pos.json").write_text("0")
    contract = type("C", (_LinesSourceContract,), {"source_class": EagerLinesSource})()
    with pytest.raises(AssertionError, match=r"the source EagerLinesSource did I/O .*\n  open\('.*pos\.json'\) at .*in load"):
        contract.test_construction_does_no_file_io(settings)


def test_a_drained_that_ignores_acknowledgements_is_caught(tmp_path: Path) -> None:
    contract = type("C", (_LinesSourceContract,), {"source_class": ImpatientLinesSource})()
    with pytest.raises(AssertionError) as info:
        contract.test_drained_waits_for_acknowledgements(_settings(tmp_path, batchSize="100"))
    assert "drained() is True while 300 events the source read are still in the channel, not delivered" in str(info.value)
    assert "self.acks.in_flight == 0" in str(info.value)


def test_a_misnamed_batch_size_key_is_caught(tmp_path: Path) -> None:
    contract = type("C", (_LinesSourceContract,), {"source_class": MisnamedBatchSource})()
    with pytest.raises(AssertionError) as info:
        contract.test_batches_are_bounded_by_batch_size(_settings(tmp_path, **{"batch.size": "100"}))
    assert "a batch of 100 events, but batch_size() is 1 (from the setting MisnamedBatchSource.batch_size_key = 'batchSize')" in str(
        info.value
    )


class LazyImportSink(LinesSink):
    """Not a mistake: imports a module (reading its .py/.pyc) while being constructed."""

    def __init__(self, name: str, settings: Settings) -> None:
        import sys

        sys.modules.pop("colorsys", None)  # make sure the import really reads files
        import colorsys

        super().__init__(name, settings)
        self.hue = colorsys.rgb_to_hsv(0.2, 0.4, 0.4)[0]


def test_an_import_in_init_is_not_counted_as_io(tmp_path: Path) -> None:
    contract = type("C", (_LinesSinkContract,), {"sink_class": LazyImportSink})()
    contract.test_construction_does_no_file_io({"directory": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()
