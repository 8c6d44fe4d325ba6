"""``SinkContract``: the checks every sink passes. Subclass it in a test module::

    class TestMySink(SinkContract):
        sink_class = MySink
        capabilities = SinkCapabilities(outage=True)

        @pytest.fixture
        def sink_settings(self, tmp_path): return {"endpoint": "..."}

        def read_back(self, sink): return [...]   # what reached the destination

Opting out of a check is explicit: ``opt_out = {"test_headers_are_kept": "why"}`` marks it
``xfail(strict=True)``, so it fails loudly once the sink starts passing it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from flafka.errors import PermanentError, RetriableError
from flafka.event import Event
from flafka.runtime import SinkFailure
from flafka.sink import BatchOutcome, PendingWrite, Sink, Written
from flafka_testkit.contracts.guards import build_without_io
from flafka_testkit.contracts.harness import SinkHarness, build, put


@dataclass(frozen=True)
class SinkCapabilities:
    """What the destination can carry and what the suite can do to it."""

    headers: bool = True
    """read_back returns headers as written."""
    ordered: bool = True
    """Events arrive in channel order."""
    empty_bodies: bool = True
    newline_in_body: bool = True
    """False for line-framed destinations (file_roll TEXT): test bodies avoid b"\\n"."""
    max_body_bytes: int = 1_000_000
    outage: bool = False
    """The subclass implements ``outage(sink)``: a context manager making the destination
    unavailable (stop, pause or break it) and restoring it on exit."""
    secret_keys: tuple[str, ...] = ()
    """Keys whose values must be masked wherever settings are shown."""
    readable: bool = True
    """read_back works (False for sinks that discard, like ``null``)."""
    atomic_batches: bool = True
    """A ``write`` that fails (raises, or names events in ``BatchOutcome.failed``) leaves
    none of those events visible at the destination. False declares at-least-once partial
    visibility: part of a failed batch may be visible, and it is delivered again when the
    runtime retries it (duplicates, never loss) — say so in your README."""


class UnreadableEvent(Event):
    """An event whose body cannot be read (every access raises ``OSError(EIO)``): put in
    the middle of a batch, it makes ``write`` fail midway, as a destination that fills up
    or drops the connection half way through would."""

    __slots__ = ()

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self._headers = headers

    @property
    def body(self) -> bytes:  # type: ignore[override]
        raise OSError(errno.EIO, "injected failure midway through the batch (SinkContract)")


class _Injected:
    """Routes the runtime's calls to a sink through a test's ``write`` (see :func:`_inject`)."""

    def __init__(self, sink: Sink, write: Callable[[list[Event]], BatchOutcome | None]) -> None:
        self.saved: dict[str, Any] = {name: sink.__dict__[name] for name in ("write", "send") if name in sink.__dict__}
        self.real_write = sink.write
        self.real_send = sink.send
        self.write = write
        self.inside = threading.local()

    def _enter(self) -> bool:
        if getattr(self.inside, "depth", 0):
            return False
        self.inside.depth = 1
        return True

    def injected_write(self, events: list[Event]) -> BatchOutcome | None:
        if not self._enter():  # the test's write reached the sink's own write or send: pass through
            return self.real_write(events)
        try:
            return self.write(events)
        finally:
            self.inside.depth = 0

    def injected_send(self, events: list[Event]) -> PendingWrite:
        if not self._enter():
            return self.real_send(events)
        try:
            return Written(self.write(events))
        finally:
            self.inside.depth = 0


def _inject(sink: Sink, write: Callable[[list[Event]], BatchOutcome | None]) -> None:
    """Route the runtime's calls through ``write``: both ``write`` and ``send`` (which a
    pipelined sink overrides) are replaced on the instance until :func:`_restore`.

    ``write`` may call the sink's real ``write`` (taken before this call), and the sink's
    own ``write`` may go through ``self.send`` or the other way round (a pipelined sink's
    ``write`` is often ``self.send(events).wait()``): calls made while ``write`` runs reach
    the sink's own methods, never ``write`` again."""
    injected = _Injected(sink, write)
    sink.write = injected.injected_write  # type: ignore[method-assign]
    sink.send = injected.injected_send  # type: ignore[method-assign]
    sink.__dict__["_contract_injected"] = injected


def _restore(sink: Sink) -> None:
    """Undo :func:`_inject`: the sink's own ``write`` and ``send`` come back, including
    ones the sink had set on the instance itself."""
    injected = sink.__dict__.pop("_contract_injected", None)
    for name in ("write", "send"):
        sink.__dict__.pop(name, None)
    if isinstance(injected, _Injected):
        sink.__dict__.update(injected.saved)


class SinkContract:
    sink_class: ClassVar[type[Sink]]
    capabilities: ClassVar[SinkCapabilities] = SinkCapabilities()
    opt_out: ClassVar[dict[str, str]] = {}

    # -- what a subclass provides --------------------------------------------------------

    @pytest.fixture
    def sink_settings(self) -> dict[str, str]:
        """Raw Flume keys for a working sink (override)."""
        raise NotImplementedError("override the sink_settings fixture")

    def read_back(self, sink: Sink) -> list[Event]:
        """Everything that reached the destination, in arrival order (override)."""
        raise NotImplementedError("override read_back(sink): the back door to the destination")

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        """Make the destination unavailable inside the block (override when capable)."""
        raise NotImplementedError("set capabilities.outage=True and override outage(sink)")
        yield

    # -- helpers ---------------------------------------------------------------------------

    @pytest.fixture
    def sink(self, sink_settings: dict[str, str]) -> Iterator[Sink]:
        sink = build(self.sink_class, "contract-sink", sink_settings)
        harness = SinkHarness(sink)
        sink.start()
        sink.harness = harness
        yield sink
        sink.stop()

    @staticmethod
    def _events(n: int, start: int = 0, headers: bool = True) -> list[Event]:
        return [Event(b"event-%06d" % i, {"seq": str(i), "kind": "contract"} if headers else {}) for i in range(start, start + n)]

    def _bodies(self, events: list[Event]) -> list[bytes]:
        bodies = [e.body for e in events]
        return bodies if self.capabilities.ordered else sorted(bodies)

    # -- settings and lifecycle ------------------------------------------------------------

    def test_settings_parse_without_errors(self, sink_settings: dict[str, str]) -> None:
        _, problems = self.sink_class.settings_schema.parse(sink_settings)
        assert [p for p in problems if p.severity == "error"] == []

    def test_unknown_key_is_rejected_with_suggestion(self, sink_settings: dict[str, str]) -> None:
        known = [s.key for s in self.sink_class.settings_schema.settings if not s.is_map]
        assert known, "the sink declares no settings"
        typo = known[0][:-1] + known[0][-1].swapcase() + "x"
        _, problems = self.sink_class.settings_schema.parse({**sink_settings, typo: "1"})
        errors = [p for p in problems if p.severity == "error" and p.key == typo]
        assert errors and "unknown key" in errors[0].message

    def test_secrets_are_masked(self, sink_settings: dict[str, str]) -> None:
        settings, _ = self.sink_class.settings_schema.parse(sink_settings)
        masked = settings.masked()
        for key in self.capabilities.secret_keys:
            if key in sink_settings:
                assert masked.get(key) == "******", f"secret key {key} is shown"

    def test_construction_does_no_network_io(self, sink_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the sink opened a connection while being constructed (do I/O in start())")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        build(self.sink_class, "contract-sink", sink_settings)

    def test_construction_does_no_file_io(self, sink_settings: dict[str, str]) -> None:
        """``check_settings`` and ``__init__`` open, create and list nothing (open files
        in ``start`` or at the first ``write``): ``flafka validate`` builds every component."""
        build_without_io(self.sink_class, "contract-sink", sink_settings)

    def test_stop_is_idempotent_and_bounded(self, sink_settings: dict[str, str]) -> None:
        sink = build(self.sink_class, "contract-sink", sink_settings)
        SinkHarness(sink)
        sink.start()
        began = time.monotonic()
        sink.stop()
        sink.stop()
        assert time.monotonic() - began < 10

    # -- delivery --------------------------------------------------------------------------

    def test_delivers_every_event_in_batches(self, sink: Sink) -> None:
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        events = self._events(2500)
        put(harness.channel, events)
        assert harness.drive_until_empty() == []
        assert harness.channel.is_empty()
        assert self._bodies(self.read_back(sink)) == [e.body for e in events]

    def test_each_take_is_bounded_by_batch_size(self, sink: Sink) -> None:
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        size = sink.batch_size()
        put(harness.channel, self._events(min(size * 2 + 1, 5000)))
        harness.driver.drive()
        assert sink.counter.event_drain_attempt_count == min(size, 5000)

    def test_headers_are_kept(self, sink: Sink) -> None:
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        events = self._events(10)
        put(harness.channel, events)
        assert harness.drive_until_empty() == []
        got = self.read_back(sink)
        assert [e.headers for e in got] == [e.headers for e in events]

    def test_binary_empty_and_large_bodies(self, sink: Sink) -> None:
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        caps = self.capabilities
        binary = bytes(range(256))
        if not caps.newline_in_body:
            binary = binary.replace(b"\n", b"")
        bodies = [binary, "héllo wörld ✓".encode(), b"x" * caps.max_body_bytes]
        if caps.empty_bodies:
            bodies.insert(1, b"")
        put(harness.channel, [Event(b) for b in bodies])
        assert harness.drive_until_empty() == []
        assert self._bodies(self.read_back(sink)) == (bodies if caps.ordered else sorted(bodies))

    def test_counters_count_batches_and_events(self, sink: Sink) -> None:
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        put(harness.channel, self._events(250))
        harness.drive_until_empty()
        counter = sink.counter
        assert counter.event_drain_attempt_count == 250
        assert counter.event_drain_success_count == 250
        assert counter.batch_complete_count + counter.batch_underflow_count >= 1
        snapshot = counter.snapshot()
        assert snapshot["EventDrainSuccessCount"] == 250

    def test_partial_batch_failure_redelivers_only_the_failed_events(self, sink: Sink) -> None:
        """The destination takes half a batch and refuses the rest (retriable): the
        runtime retries just the refused events; every event arrives exactly once."""
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        real_write = sink.write
        calls = []

        def flaky_write(events: list[Event]) -> BatchOutcome | None:
            calls.append(len(events))
            if len(calls) == 1:
                half = len(events) // 2
                real_write(events[:half])
                return BatchOutcome(failed=range(half, len(events)), error=RetriableError("injected partial failure"))
            return real_write(events)

        try:
            _inject(sink, flaky_write)
            events = self._events(min(sink.batch_size(), 200))
            put(harness.channel, events)
            assert harness.drive_until_empty() == []
        finally:
            _restore(sink)
        assert calls[0] == len(events) and calls[1] == len(events) - len(events) // 2
        if not self.capabilities.readable:
            return
        assert self._bodies(self.read_back(sink)) == [e.body for e in events]

    def test_retriable_error_rolls_back_and_permanent_error_keeps_events(self, sink: Sink) -> None:
        """A raised RetriableError or PermanentError leaves every event in the channel."""
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        put(harness.channel, self._events(20))
        for error in (RetriableError("injected outage"), PermanentError("injected rejection")):

            def failing_write(events: list[Event], error: Exception = error) -> BatchOutcome | None:
                raise error

            try:
                _inject(sink, failing_write)
                with pytest.raises(SinkFailure) as info:
                    harness.driver.drive()
            finally:
                _restore(sink)
            assert info.value.retriable is isinstance(error, RetriableError)
            assert harness.channel.size() == 20
        assert harness.drive_until_empty() == []
        assert harness.channel.is_empty()

    def test_outage_rolls_back_and_recovers_without_loss(self, sink: Sink) -> None:
        if not self.capabilities.outage:
            pytest.skip("capabilities.outage is False: the suite cannot make this destination unavailable")
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        events = self._events(300)
        put(harness.channel, events)
        with self.outage(sink):
            failures = harness.drive_until_empty(timeout=10, max_failures=3)
            assert failures, "writes kept succeeding during the outage"
            assert harness.channel.size() == 300, "events left the channel without being delivered"
        assert harness.drive_until_empty(timeout=120) == [] or harness.channel.is_empty()
        assert harness.channel.is_empty()
        got = {e.body for e in self.read_back(sink)}
        assert {e.body for e in events} <= got

    def test_failed_batch_leaves_nothing_visible(self, sink: Sink) -> None:
        """``write`` fails midway through a batch (its middle event cannot be read). Events
        it reports failed — all of them when it raises — must not be visible at the
        destination, since the runtime delivers them again; then the batch is retried and
        every event arrives exactly once. ``atomic_batches=False`` declares that part of
        a failed batch may be visible (at-least-once): then every event arrives at least once."""
        if not self.capabilities.readable:
            pytest.skip("capabilities.readable is False: nothing can be read back")
        harness: SinkHarness = sink.harness  # type: ignore[attr-defined]
        n = min(sink.batch_size(), 20)
        if n < 3:
            pytest.skip(f"batchSize {n}: a batch too small to fail midway")
        events = self._events(n)
        bad = n // 2
        batch = [*events[:bad], UnreadableEvent(events[bad].headers), *events[bad + 1 :]]
        try:
            outcome = sink.write(batch)
        except Exception:
            failed = list(range(n))
        else:
            assert outcome is not None, f"write returned None (all delivered) although event {bad} of {n} could not be read"
            failed = sorted(outcome.failed)
            assert bad in failed, f"write reported event {bad} delivered although its body could not be read"
        visible = {e.body for e in self.read_back(sink)}
        leaked = [i for i in failed if i != bad and events[i].body in visible]
        if self.capabilities.atomic_batches:
            assert not leaked, (
                f"{len(leaked)} of the {len(failed)} events of a failed write are visible at the destination (indices "
                f"{leaked[:10]}), and the runtime delivers them again: duplicates. Undo a failed write (truncate, "
                f"delete, abort), report only the failed events in BatchOutcome.failed, or declare "
                f"SinkCapabilities(atomic_batches=False) and say so in your README"
            )
        put(harness.channel, [events[i] for i in failed])
        assert harness.drive_until_empty() == [], "the sink did not recover from a failed write"
        got = self._bodies(self.read_back(sink))
        want = [e.body for e in events]
        if self.capabilities.atomic_batches:
            assert sorted(got) == sorted(want), "after the retry, every event of the batch must be there exactly once"
        else:
            assert set(want) <= set(got), "after the retry, every event of the batch must be there"
