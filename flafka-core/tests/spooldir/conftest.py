"""Helpers for the spooldir tests: a fake channel processor and a source factory."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flafka.ack import AckToken, AckTracker
from flafka.agent import Agent
from flafka.config.loader import load_config
from flafka.errors import ChannelFullError
from flafka.event import Event
from flafka.metrics.counters import SourceCounter
from flafka.registry import Registry
from flafka.source import Status
from flafka.sources import spooldir
from flafka.sources.spooldir import SpoolDirectorySource


class FakeProcessor:
    """Records batches. Tokens are paid at once (``auto``) or held until :meth:`deliver`.
    ``fail`` makes the next N calls raise ChannelFullError (abandoning the token, as the
    real ChannelProcessor does)."""

    def __init__(self, auto: bool = True) -> None:
        self.batches: list[list[Event]] = []
        self.held: list[tuple[AckToken, int]] = []
        self.fail = 0
        self.calls = 0
        self.auto = auto

    def process_batch(self, events: list[Event], token: AckToken | None = None) -> None:
        self.calls += 1
        assert token is not None
        if self.fail:
            self.fail -= 1
            token.abandon()
            raise ChannelFullError("channel full")
        self.batches.append(list(events))
        token.add(len(events))
        token.release()
        if self.auto:
            token.pay(len(events))
        else:
            self.held.append((token, len(events)))

    def deliver(self, n: int | None = None) -> None:
        """Pay the first ``n`` held batches (all by default)."""
        n = len(self.held) if n is None else n
        for token, count in self.held[:n]:
            token.pay(count)
        del self.held[:n]

    def bodies(self) -> list[bytes]:
        return [e.body for batch in self.batches for e in batch]


AGENT_CONF = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 10
a1.sources.r1.pollDelay = 10
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
"""


def builtin_registry() -> Registry:
    reg = Registry()
    for module in ("flafka.channels.memory", "flafka.sources.spooldir", "flafka.sinks.file_roll", "flafka.selectors.builtin"):
        for cls in importlib.import_module(module).COMPONENTS:
            reg.add(cls, "builtins")
    return reg


class Helpers:
    """Test helpers, reached through the ``h`` fixture (tests import nothing from here)."""

    @staticmethod
    def parse(spool: Path | str, extra: dict[str, str] | None = None):
        raw = {"spoolDir": str(spool), **(extra or {})}
        settings, problems = SpoolDirectorySource.settings_schema.parse(raw)
        errors = [p for p in problems if p.severity == "error"]
        assert not errors, errors
        return settings

    @staticmethod
    def make_source(spool: Path | str, extra: dict[str, str] | None = None, auto: bool = True, start: bool = True) -> SpoolDirectorySource:
        src = SpoolDirectorySource("src", Helpers.parse(spool, extra))
        src.counter = SourceCounter("src", "spooldir")
        src.acks = AckTracker()
        src.processor = FakeProcessor(auto)  # type: ignore[assignment]
        if start:
            src.start()
        return src

    @staticmethod
    def fake(src: SpoolDirectorySource) -> FakeProcessor:
        assert isinstance(src.processor, FakeProcessor)
        return src.processor

    @staticmethod
    def run(src: SpoolDirectorySource, max_polls: int = 100_000) -> int:
        """Poll until the source is drained (or stops making progress). Returns polls made."""
        idle = 0
        for n in range(max_polls):
            status = src.process()
            if status is Status.BACKOFF:
                idle += 1
                if src.drained() or idle > 3:
                    return n
            else:
                idle = 0
        raise AssertionError("source never drained")

    @staticmethod
    def run_agent(tmp_path: Path, spool: Path, extra: str = "", linger: float = 0.3, timeout: float = 20.0) -> list[bytes]:
        """Run a real agent (spooldir -> memory -> file_roll; ``extra`` adds or overrides
        properties lines) until drained, then ``linger`` seconds more (many polls at
        pollDelay = 10 ms); return every line file_roll wrote."""
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        conf = tmp_path / "a.properties"
        conf.write_text(AGENT_CONF.format(spool=spool, out=out) + extra)
        result = load_config([conf], "a1", builtin_registry())
        assert result.ok and result.plan is not None, result.format()
        agent = Agent(result.plan, builtin_registry())
        agent.start()
        try:
            deadline = time.monotonic() + timeout
            while not agent.drained():
                assert time.monotonic() < deadline, "agent never drained"
                time.sleep(0.02)
            time.sleep(linger)
            assert agent.drained()
        finally:
            agent.stop(5)
        return b"".join(p.read_bytes() for p in sorted(out.iterdir())).split(b"\n")[:-1]

    @staticmethod
    def write(path: Path, data: bytes, mtime: float | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    d = tmp_path / "spool"
    d.mkdir()
    return d


@pytest.fixture(autouse=True)
def _write_positions_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the position file write on every delivery so crash tests are deterministic."""
    monkeypatch.setattr(spooldir, "WRITE_INTERVAL", 0.0)
    yield


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
