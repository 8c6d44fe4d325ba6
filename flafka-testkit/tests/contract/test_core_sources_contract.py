"""The built-in sources of flafka-core against SourceContract."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from flafka.sources.seq import SequenceGeneratorSource
from flafka.sources.spooldir import SpoolDirectorySource
from flafka_testkit.contracts import SourceCapabilities, SourceContract

_names = itertools.count()


class TestSpoolDirectorySource(SourceContract):
    source_class = SpoolDirectorySource
    capabilities = SourceCapabilities(replayable=True, settle_seconds=0.5)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        spool = tmp_path / "spool"
        spool.mkdir()
        return {"spoolDir": str(spool), "batchSize": "100", "pollDelay": "10"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        spool = Path(settings["spoolDir"])
        name = f"input-{next(_names):04d}.log"
        tmp = spool / f".{name}.tmp"
        tmp.write_bytes(b"".join(b + b"\n" for b in bodies))
        tmp.rename(spool / name)


class TestSequenceGeneratorSource(SourceContract):
    """seq generates its own events: ``produce`` sets how many (totalEvents)."""

    source_class = SequenceGeneratorSource
    capabilities = SourceCapabilities(replayable=False)
    opt_out = {
        "test_delivers_every_produced_event": "seq bodies are its counter (0, 1, ...), not the contract's bodies",
        "test_saturated_channel_loses_nothing": "seq bodies are its counter (0, 1, ...), not the contract's bodies",
    }

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        return {"batchSize": "100", "totalEvents": "1500"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        settings["totalEvents"] = str(len(bodies))


def test_seq_delivers_its_counter_through_a_saturated_channel() -> None:
    """What the two opt-outs above cannot check: seq's own bodies, in order, none lost."""
    from flafka.testing import make
    from flafka_testkit.contracts.harness import SourceHarness, memory_channel

    source = make(SequenceGeneratorSource, "seq", batchSize=100, totalEvents=700)
    harness = SourceHarness(source, memory_channel(capacity=100, transaction_capacity=100))
    source.start()
    got: list[bytes] = []

    def enough() -> bool:
        got.extend(e.body for e in harness.take_all(commit=True))
        return len(got) >= 700

    assert harness.poll(enough, 20)
    assert got == [b"%d" % i for i in range(700)]
