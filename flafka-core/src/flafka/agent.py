"""The agent: builds the components of an :class:`~flafka.config.plan.AgentPlan`, wires
them, and runs them.

Start order: channels, sinks and their runners, then sources (so nothing is put before
someone can take). Stop order: sources first; then sinks drain their channels within the
timeout; then sinks, then channels — Flume's graceful order (FLUME-2894). A reload keeps
recyclable channels (memory) with their events when name and type are unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from flafka.ack import AckTracker
from flafka.channel import Channel
from flafka.component import Component
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.errors import ConfigError
from flafka.interceptor import Interceptor
from flafka.metrics.counters import Counter, SinkCounter, SourceCounter
from flafka.processor import ChannelProcessor
from flafka.registry import Registry
from flafka.runtime import DeadLetterFile, DefaultSinkProcessor, SinkDriver, SinkRunner, SourceRunner
from flafka.selector import ChannelSelector
from flafka.sink import Sink
from flafka.sinkprocessor import SinkProcessor
from flafka.source import PollableSource, Source

log = logging.getLogger(__name__)

_BEST_EFFORT_STALL = 1.0
"""Seconds without progress after which a stop stops waiting for an optional-only channel."""


def _make(plan: ComponentPlan, agent_name: str = "agent") -> object:
    """Build a component; a ConfigError from its constructor names where it is configured
    (``file:line: ...``). (The loader builds every component first, so this happens only
    when a constructor's verdict changed between validation and start.)"""
    try:
        component = plan.cls(plan.name, plan.settings)
    except ConfigError as exc:
        if plan.origin and not str(exc).startswith(plan.origin):
            raise ConfigError(f"{plan.origin}: {exc}", exc.diagnostics) from exc
        raise
    component.agent_name = agent_name
    return component


class StartError(ConfigError):
    """A component's ``start()`` failed (a missing directory, a refused connection...):
    the configuration was valid, the world around it was not. ``flafka agent`` exits 3."""


def _start_component(component: Component, origin: str) -> None:
    """``component.start()``; a failure becomes a :class:`StartError` that says where the
    component is configured (``file:line``) and keeps the component's own sentence."""
    try:
        component.start()
    except Exception as exc:
        where = f"{origin}: " if origin else ""
        message = f"{where}{component.kind} '{component.name}' ({component.type_name}) could not start: {exc}"
        raise StartError(message) from exc


def _best_effort_channels(sources: Iterable[Source], channels: dict[str, Channel]) -> set[str]:
    """Names of channels some source feeds but no source's selector can make required."""
    fed: set[str] = set()
    required: set[str] = set()
    for source in sources:
        selector = source.processor.selector
        fed.update(selector.channels)
        required.update(ch.name for ch in selector.required_channels())
    return {name for name in channels if name in fed and name not in required}


@dataclass
class _Running:
    """What one start() built (everything but the channels, which may outlive it)."""

    sources: dict[str, Source] = field(default_factory=dict)
    source_runners: list[SourceRunner] = field(default_factory=list)
    sinks: dict[str, Sink] = field(default_factory=dict)
    sink_runners: list[SinkRunner] = field(default_factory=list)
    best_effort: set[str] = field(default_factory=set)
    """Channels that sources list only as optional: never waited for to call it drained."""


class Agent:
    """A running Flume agent. Thread-safe ``stop``; ``start`` and ``reload`` from one thread."""

    def __init__(self, plan: AgentPlan, registry: Registry | None = None) -> None:
        self.plan = plan
        self.registry = registry
        self.channels: dict[str, Channel] = {}
        self._running: _Running | None = None
        self._lock = threading.RLock()
        self._stopped = False
        self._best_effort: set[str] = set()

    # -- building ------------------------------------------------------------------------

    def _build_channels(self, plan: AgentPlan) -> dict[str, Channel]:
        channels: dict[str, Channel] = {}
        for name, cplan in plan.channels.items():
            old = self.channels.get(name)
            if old is not None and type(old) is cplan.cls and old.recyclable:
                old.reconfigure(cplan.settings)
                channels[name] = old
                continue
            channel = _make(cplan, self.plan.name)
            assert isinstance(channel, Channel)
            channels[name] = channel
        return channels

    def _build_source(self, splan: SourcePlan, channels: dict[str, Channel]) -> Source:
        source = _make(splan, self.plan.name)
        assert isinstance(source, Source)
        source.counter = SourceCounter(splan.name, splan.cls.type_name)
        source.acks = AckTracker()
        interceptors: list[Interceptor] = []
        for iplan in splan.interceptors:
            interceptor = _make(iplan, self.plan.name)
            assert isinstance(interceptor, Interceptor)
            interceptors.append(interceptor)
        selector_plan = splan.selector
        if selector_plan is None:
            cls = self.registry.lookup("selector", "replicating") if self.registry else None
            if cls is None:
                raise ConfigError("the built-in 'replicating' selector is not registered; is flafka-core installed fully?")
            selector_plan = ComponentPlan("selector", cls, cls.settings_schema.parse({})[0], "replicating")
        selector = _make(selector_plan, self.plan.name)
        assert isinstance(selector, ChannelSelector)
        selector.bind({name: channels[name] for name in splan.channels})
        source.processor = ChannelProcessor(
            selector, interceptors, source.counter, acknowledgements=splan.acknowledgements and source.replayable
        )
        return source

    def _build_sink(self, kplan: SinkPlan, channels: dict[str, Channel]) -> Sink:
        sink = _make(kplan, self.plan.name)
        assert isinstance(sink, Sink)
        sink.channel = channels[kplan.channel]
        sink.counter = SinkCounter(kplan.name, kplan.cls.type_name)
        return sink

    def _driver(self, sink: Sink, kplan: SinkPlan) -> SinkDriver:
        directory = kplan.errors.get("deadletter.directory")
        return SinkDriver(sink, DeadLetterFile(directory, sink.name) if directory else None)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Build and start every component. Raises ConfigError (a sentence with the fix)
        when a component cannot start; whatever had started is stopped again."""
        with self._lock:
            self._start(self.plan)

    def _start(self, plan: AgentPlan) -> None:
        channels = self._build_channels(plan)
        running = _Running()
        try:
            for name, channel in channels.items():
                if channel not in self.channels.values():
                    _start_component(channel, plan.channels[name].origin)
            self.channels = channels
            grouped: set[str] = set()
            for gplan in plan.sinkgroups.values():
                drivers = []
                for sname in gplan.sinks:
                    sink = self._build_sink(plan.sinks[sname], channels)
                    running.sinks[sname] = sink
                    driver = self._driver(sink, plan.sinks[sname])
                    driver.hold_partial = False  # let the group hand a failing batch to another sink
                    drivers.append(driver)
                    grouped.add(sname)
                processor = _make(gplan.processor, plan.name)
                assert isinstance(processor, SinkProcessor)
                processor.bind(drivers)
                running.sink_runners.append(SinkRunner(gplan.name, processor, drivers))
            for sname, kplan in plan.sinks.items():
                if sname in grouped:
                    continue
                sink = self._build_sink(kplan, channels)
                running.sinks[sname] = sink
                driver = self._driver(sink, kplan)
                default_cls = (self.registry.lookup("sink_processor", "default") if self.registry else None) or DefaultSinkProcessor
                processor = default_cls(sname, default_cls.settings_schema.parse({})[0])
                assert isinstance(processor, SinkProcessor)
                processor.bind([driver])
                running.sink_runners.append(SinkRunner(sname, processor, [driver]))
            for sname, sink in running.sinks.items():
                sink.counter.started()
                _start_component(sink, plan.sinks[sname].origin)
            for runner in running.sink_runners:
                runner.start()
            for splan in plan.sources.values():
                running.sources[splan.name] = self._build_source(splan, channels)
            running.best_effort = _best_effort_channels(running.sources.values(), channels)
            for sname, source in running.sources.items():
                source.counter.started()
                _start_component(source, plan.sources[sname].origin)
                if isinstance(source, PollableSource):
                    source_runner = SourceRunner(source)
                    running.source_runners.append(source_runner)
                    source_runner.start()
        except BaseException:
            self._running = running
            self._stop_running(timeout=5.0)
            raise
        self._running = running
        self._best_effort = running.best_effort
        self.plan = plan
        log.info(
            "agent '%s' started: %d sources, %d channels, %d sinks",
            plan.name,
            len(running.sources),
            len(channels),
            len(running.sinks),
        )

    def _stop_running(self, timeout: float) -> bool:
        """Stop taking input, let sinks drain for up to ``timeout`` s, stop sinks, then stop
        the sources. True when every non-durable channel was empty at the end.

        Pollable sources are stopped (``source.stop()``) only after the drain, so that the
        deliveries made while draining still advance their positions: a clean stop or a
        reload then replays nothing. Event-driven sources stop first (that is what stops
        their input).
        """
        running = self._running
        if running is None:
            return True
        self._running = None
        for sr in running.source_runners:
            sr.request_stop()
        for sr in running.source_runners:
            sr.join(timeout=max(5.0, timeout))
            if sr.is_alive():
                log.warning("source '%s' did not finish its poll within %.0f s", sr.source.name, max(5.0, timeout))
        pollable = {id(sr.source) for sr in running.source_runners}
        for source in running.sources.values():
            if id(source) not in pollable:
                self._stop_source(source)
        # Only memory-like channels must drain: a durable channel (file, Kafka) keeps its
        # events across the stop by itself, so waiting on it would only delay the exit.
        # Channels fed only as optional are drained as long as their sinks make progress,
        # but never make the stop wait for a sink that cannot deliver (Flume ignores them).
        volatile = [ch for ch in self.channels.values() if not ch.durable and ch.name not in running.best_effort]
        best_effort = [ch for ch in self.channels.values() if not ch.durable and ch.name in running.best_effort]
        deadline = time.monotonic() + timeout
        progress_at, best_effort_size = time.monotonic(), sum(ch.size() for ch in best_effort)
        while time.monotonic() < deadline:
            if not any(r.is_alive() for r in running.sink_runners):
                break
            if all(ch.is_empty() for ch in volatile):
                size = sum(ch.size() for ch in best_effort)
                if size < best_effort_size:
                    progress_at, best_effort_size = time.monotonic(), size
                if size == 0 or time.monotonic() - progress_at > _BEST_EFFORT_STALL:
                    break
            time.sleep(0.02)
        drained = all(ch.is_empty() for ch in volatile)
        for ch in best_effort:
            if not ch.is_empty():
                log.warning(
                    "optional channel '%s' still holds %d events its sinks did not deliver (optional: "
                    "ignored, as Flume does; they are not replayed)",
                    ch.name,
                    ch.size(),
                )
        started = [kr for kr in running.sink_runners if kr.ident is not None]
        for kr in started:
            kr.request_stop()
        abandoned: set[str] = set()
        for kr in started:
            optional = all(d.channel.name in running.best_effort for d in kr.drivers)
            left = max(1.0, deadline - time.monotonic())
            kr.join(timeout=min(_BEST_EFFORT_STALL, left) if optional else left)
            if optional and kr.is_alive():
                # Still inside a write to a destination that does not answer; its events
                # are optional copies, so the stop does not wait for it (daemon thread).
                abandoned.update(d.sink.name for d in kr.drivers)
                log.warning("sink '%s' of an optional channel is still waiting on its destination; not waited for", kr.group)
        for sink in running.sinks.values():
            if sink.name in abandoned:
                continue
            try:
                sink.stop()
            except Exception:
                log.exception("sink '%s' failed to stop", sink.name)
            sink.counter.stopped()
        for source in running.sources.values():
            if id(source) in pollable:
                self._stop_source(source)
        return drained

    @staticmethod
    def _stop_source(source: Source) -> None:
        try:
            source.stop()
        except Exception:
            log.exception("source '%s' failed to stop", source.name)
        source.counter.stopped()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop gracefully (idempotent). Returns True when every non-durable channel was
        drained; False when events remained (acknowledging sources replay them)."""
        with self._lock:
            drained = self._stop_running(timeout)
            if not self._stopped:
                self._stopped = True
                for channel in self.channels.values():
                    channel.stop()
            leftover = sum(ch.size() for ch in self.channels.values() if not ch.durable and ch.name not in self._best_effort)
            if leftover:
                log.warning(
                    "agent stopped with %d events still in memory channels (not delivered; sources with "
                    "acknowledgements replay them after a restart)",
                    leftover,
                )
            return drained

    def reload(self, plan: AgentPlan, drain_timeout: float = 10.0) -> None:
        """Apply a new plan: stop sources, let the sinks drain for up to ``drain_timeout``
        s (so positions advance and nothing is replayed), stop sinks, keep recyclable
        channels (and whatever events are left in them) whose name and type are
        unchanged, start the new components."""
        with self._lock:
            self._stop_running(timeout=drain_timeout)
            kept = {
                name
                for name, ch in self.channels.items()
                if name in plan.channels and type(ch) is plan.channels[name].cls and ch.recyclable
            }
            for name, channel in self.channels.items():
                if name not in kept:
                    channel.stop()
            self.channels = {name: ch for name, ch in self.channels.items() if name in kept}
            self._start(plan)
            log.info("agent '%s' reloaded; kept channels: %s", plan.name, ", ".join(sorted(kept)) or "none")

    # -- observation ---------------------------------------------------------------------

    @property
    def sources(self) -> dict[str, Source]:
        return self._running.sources if self._running else {}

    @property
    def sinks(self) -> dict[str, Sink]:
        return self._running.sinks if self._running else {}

    @property
    def sink_runners(self) -> list[SinkRunner]:
        """The running sink runners (a read-only view for metrics: backoff, in flight)."""
        return list(self._running.sink_runners) if self._running else []

    def drained(self) -> bool:
        """True when every source has nothing more to read and everything it read was
        delivered, and every channel is empty (channels that sources list only as
        optional excepted: their sinks' failures are ignored, as in Flume)."""
        running = self._running
        if running is None:
            return True
        return all(s.drained() for s in running.sources.values()) and all(
            ch.is_empty() for name, ch in self.channels.items() if name not in running.best_effort
        )

    def failed_sinks(self) -> list[str]:
        running = self._running
        if running is None:
            return []
        return [r.group for r in running.sink_runners if not r.is_alive()]

    def counters(self) -> list[Counter]:
        out: list[Counter] = []
        running = self._running
        if running:
            out.extend(s.counter for s in running.sources.values())
        out.extend(ch.counter for ch in self.channels.values())
        if running:
            out.extend(k.counter for k in running.sinks.values())
        return out
