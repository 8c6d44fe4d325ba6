"""``SourceContract``: the checks every source passes. Subclass it::

    class TestMySource(SourceContract):
        source_class = MySource
        capabilities = SourceCapabilities(replayable=True)

        @pytest.fixture
        def source_settings(self, tmp_path): return {...}

        def produce(self, settings, bodies): ...   # back door: put bodies at the origin

``source_settings`` must give a fresh origin per test and be reusable for a second
instance (a restart), so a position file belongs in them. ``produce`` puts one event per
body at the origin before the source starts.

The delivery checks use real runtime pieces (memory channel, channel processor,
acknowledgement tracker): a replayable source must resume after a restart from what was
*delivered* (taken and committed), not from what it read, and must not call itself
drained while what it read is unacknowledged. Every source must keep ``check_settings``
and ``__init__`` free of I/O and hand over at most ``batch_size()`` events per batch.
"""

from __future__ import annotations

import socket
import time
from typing import Any, ClassVar

import pytest

from flafka.source import Source
from flafka_testkit.contracts.guards import build_without_io
from flafka_testkit.contracts.harness import SourceHarness, build, memory_channel


class SourceCapabilities:
    def __init__(self, replayable: bool = True, ordered: bool = True, empty_bodies: bool = True, settle_seconds: float = 1.0) -> None:
        self.replayable = replayable
        """Restarts replay what was not delivered (spooldir, Kafka): the replay and
        ``drained()`` checks run."""
        self.ordered = ordered
        """Events come out in the order ``produce`` put them in."""
        self.empty_bodies = empty_bodies
        """The origin can hold empty bodies."""
        self.settle_seconds = settle_seconds
        """How long a restarted source is polled to prove it re-delivers nothing."""


class SourceContract:
    source_class: ClassVar[type[Source]]
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities()
    opt_out: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        raise NotImplementedError("override the source_settings fixture")

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        """Put ``bodies`` at the source's origin (override)."""
        raise NotImplementedError("override produce(settings, bodies)")

    # -- helpers ---------------------------------------------------------------------------

    def _start(self, settings: dict[str, str], **channel: Any) -> SourceHarness:
        source = build(self.source_class, "contract-source", settings)
        harness = SourceHarness(source, memory_channel(**channel) if channel else None)
        source.start()
        return harness

    @staticmethod
    def _bodies(n: int, start: int = 0) -> list[bytes]:
        return [b"line-%06d" % i for i in range(start, start + n)]

    def _collect(self, harness: SourceHarness, want: int, timeout: float = 20.0) -> list[bytes]:
        got: list[bytes] = []

        def enough() -> bool:
            got.extend(e.body for e in harness.take_all(commit=True))
            return len(got) >= want

        harness.poll(enough, timeout)
        return got

    # -- settings and lifecycle ------------------------------------------------------------

    def test_settings_parse_without_errors(self, source_settings: dict[str, str]) -> None:
        _, problems = self.source_class.settings_schema.parse(source_settings)
        assert [p for p in problems if p.severity == "error"] == []

    def test_unknown_key_is_rejected(self, source_settings: dict[str, str]) -> None:
        _, problems = self.source_class.settings_schema.parse({**source_settings, "noSuchKeyAtAll": "1"})
        assert any(p.key == "noSuchKeyAtAll" and p.severity == "error" for p in problems)

    def test_construction_does_no_network_io(self, source_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the source opened a connection while being constructed")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        build(self.source_class, "contract-source", source_settings)

    def test_construction_does_no_file_io(self, source_settings: dict[str, str]) -> None:
        """``check_settings`` and ``__init__`` open, create and list nothing (load a
        position file in ``start``): ``flafka validate`` builds every component."""
        build_without_io(self.source_class, "contract-source", source_settings)

    def test_stop_is_idempotent_and_bounded(self, source_settings: dict[str, str]) -> None:
        harness = self._start(source_settings)
        began = time.monotonic()
        harness.source.stop()
        harness.source.stop()
        assert time.monotonic() - began < 10

    # -- delivery --------------------------------------------------------------------------

    def test_delivers_every_produced_event(self, source_settings: dict[str, str]) -> None:
        bodies = self._bodies(1500)
        self.produce(source_settings, bodies)
        harness = self._start(source_settings)
        try:
            got = self._collect(harness, len(bodies))
        finally:
            harness.source.stop()
        assert (got if self.capabilities.ordered else sorted(got)) == bodies
        counter = harness.source.counter
        assert counter.event_accepted_count == len(bodies)
        assert counter.event_received_count == len(bodies)

    def test_saturated_channel_loses_nothing(self, source_settings: dict[str, str]) -> None:
        bodies = self._bodies(700)
        self.produce(source_settings, bodies)
        batch = self.source_class.batch_size_from(self.source_class.settings_schema.parse(source_settings)[0])
        harness = self._start(source_settings, capacity=max(batch, 50), transaction_capacity=max(batch, 50))
        got: list[bytes] = []
        try:
            # the channel fills up; the source must keep its batch and retry, never drop it
            harness.poll(lambda: harness.channel.size() >= harness.channel.capacity - batch, 10)
            harness.poll(lambda: False, 0.3)

            def enough() -> bool:
                got.extend(e.body for e in harness.take_all(commit=True))
                return len(got) >= len(bodies)

            harness.poll(enough, 30)
        finally:
            harness.source.stop()
        assert (got if self.capabilities.ordered else sorted(got)) == bodies

    def test_position_advances_only_past_delivered_events(self, source_settings: dict[str, str]) -> None:
        if not self.capabilities.replayable:
            pytest.skip("not a replayable source: it has no position to keep")
        bodies = self._bodies(600)
        self.produce(source_settings, bodies)
        harness = self._start(source_settings)
        try:
            # read everything into the channel, deliver nothing
            harness.poll(lambda: harness.channel.size() >= len(bodies), 20)
            harness.poll(lambda: False, 0.3)
        finally:
            harness.source.stop()
        assert harness.take_all(commit=False) != []
        # a new instance (a restart after a crash) must replay all of it
        again = self._start(source_settings)
        try:
            got = self._collect(again, len(bodies))
        finally:
            again.source.stop()
        assert (got if self.capabilities.ordered else sorted(got)) == bodies

    def test_delivered_events_are_not_replayed(self, source_settings: dict[str, str]) -> None:
        if not self.capabilities.replayable:
            pytest.skip("not a replayable source")
        bodies = self._bodies(400)
        self.produce(source_settings, bodies)
        harness = self._start(source_settings)
        try:
            got = self._collect(harness, len(bodies))
            harness.poll(lambda: False, self.capabilities.settle_seconds)  # let it persist the position
        finally:
            harness.source.stop()
        assert len(got) == len(bodies)
        again = self._start(source_settings)
        try:
            again.poll(lambda: False, self.capabilities.settle_seconds)
            replayed = again.take_all(commit=True)
        finally:
            again.source.stop()
        assert replayed == [], f"{len(replayed)} delivered events were read again after a restart"

    def test_batches_are_bounded_by_batch_size(self, source_settings: dict[str, str]) -> None:
        """No ``process_batch`` call carries more than ``batch_size()`` events — the number
        the agent checks against the channels' ``transactionCapacity``, read from the
        setting named by ``batch_size_key``."""
        bodies = self._bodies(750)
        self.produce(source_settings, bodies)
        harness = self._start(source_settings)
        try:
            self._collect(harness, len(bodies))
        finally:
            harness.source.stop()
        source = harness.source
        assert harness.batch_sizes, "the source handed no batch to its channel processor"
        assert max(harness.batch_sizes) <= source.batch_size(), (
            f"a batch of {max(harness.batch_sizes)} events, but batch_size() is {source.batch_size()} (from the "
            f"setting {type(source).__name__}.batch_size_key = '{source.batch_size_key}'): set batch_size_key to the "
            f"key holding the batch size, or override batch_size_from()"
        )

    def test_drained_waits_for_acknowledgements(self, source_settings: dict[str, str]) -> None:
        """While events it read are in the channel, unacknowledged, the source is not
        drained (``--exit-when-drained`` would exit and a restart replay them); once they
        are delivered, a source that implements ``drained()`` reports True."""
        if not self.capabilities.replayable:
            pytest.skip("not a replayable source: its acknowledgements are off, the channel commit is its delivery")
        bodies = self._bodies(300)
        self.produce(source_settings, bodies)
        harness = self._start(source_settings)
        source = harness.source
        try:
            harness.poll(lambda: harness.channel.size() >= len(bodies), 20)
            harness.poll(lambda: False, 0.3)
            held = harness.channel.size()
            assert held > 0, "the source read nothing into the channel"
            assert not source.drained(), (
                f"drained() is True while {held} events the source read are still in the channel, not delivered: "
                f"drained() must also wait for the acknowledgements (self.acks.in_flight == 0) and for any batch it "
                f"keeps to retry"
            )
            if type(source).drained is Source.drained:
                return  # an unbounded source: drained() is always False
            got = self._collect(harness, len(bodies))
            assert len(got) >= len(bodies)
            assert harness.poll(source.drained, 20), "drained() stays False after every event was read and delivered"
        finally:
            source.stop()
