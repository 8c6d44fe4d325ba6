"""The runtime end to end with small in-test components: acknowledgements, sink
failures and retries, graceful stop, reload keeping channel contents."""

from __future__ import annotations

import threading
import time
from typing import Any

from flafka.ack import AckTracker
from flafka.agent import Agent
from flafka.channels.memory import MemoryChannel
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.errors import ChannelError, PermanentError, RetriableError
from flafka.event import Event
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.registry import Registry
from flafka.selectors.builtin import MultiplexingChannelSelector, ReplicatingChannelSelector
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink
from flafka.source import PollableSource, Status
from flafka.testing import settings_for


class ListSource(PollableSource):
    """Replays ``total`` numbered events in batches; commits positions only when delivered."""

    type_name = "test_list"
    replayable = True
    settings_schema = Schema(Setting("batchSize", "int", 10), Setting("total", "int", 100))

    def start(self) -> None:
        self.next = 0
        self.committed = 0
        self.pending: list[Event] | None = None

    def process(self) -> Status:
        for pos in self.acks.delivered():
            self.committed = max(self.committed, pos)
        total = self.settings["total"]
        if self.pending is None:
            if self.next >= total:
                return Status.BACKOFF
            end = min(total, self.next + self.settings["batchSize"])
            self.pending = [Event(str(i).encode()) for i in range(self.next, end)]
            self.next = end
        try:
            self.processor.process_batch(self.pending, self.acks.token(self.next))
        except ChannelError:
            return Status.BACKOFF
        self.pending = None
        return Status.READY

    def backoff_delay(self, attempts: int) -> float:
        return 0.01

    def drained(self) -> bool:
        for pos in self.acks.delivered():
            self.committed = max(self.committed, pos)
        return self.next >= self.settings["total"] and self.acks.in_flight == 0


class CollectSink(Sink):
    type_name = "test_collect"
    settings_schema = Schema(Setting("batchSize", "int", 10))
    script: list[Any] = []
    start_closed = False

    def start(self) -> None:
        self.got: list[int] = []
        self.calls = 0
        self.gate = threading.Event()
        if not self.start_closed:
            self.gate.set()

    def write(self, events: list[Event]) -> BatchOutcome | None:
        self.gate.wait()
        self.calls += 1
        action = self.script.pop(0) if self.script else None
        if action == "retriable":
            raise RetriableError("destination down")
        if action == "permanent":
            raise PermanentError("record rejected")
        if action == "perm_half":
            half = len(events) // 2
            self.got.extend(int(e.body) for e in events[:half])
            return BatchOutcome(failed=range(half, len(events)), error=PermanentError("bad record"), retriable=False)
        if action == "half":
            half = len(events) // 2
            self.got.extend(int(e.body) for e in events[:half])
            return BatchOutcome(failed=range(half, len(events)), error=RetriableError("partial"))
        self.got.extend(int(e.body) for e in events)
        return None


def registry() -> Registry:
    from flafka.selectors.builtin import ReplicatingChannelSelector

    reg = Registry()
    for cls in (ListSource, CollectSink, MemoryChannel, ReplicatingChannelSelector):
        reg.add(cls, "test")
    return reg


def plan(total: int = 100, acks: bool = True, capacity: int = 1000, sinks: int = 1, **sink_errors: str) -> AgentPlan:
    from flafka.selectors.builtin import ReplicatingChannelSelector

    p = AgentPlan("a1")
    names = [f"c{i}" for i in range(sinks)]
    for name in names:
        p.channels[name] = ComponentPlan(
            name, MemoryChannel, settings_for(MemoryChannel, capacity=capacity, transactionCapacity=100), "memory"
        )
    p.sources["r1"] = SourcePlan(
        "r1",
        ListSource,
        settings_for(ListSource, total=total),
        "test_list",
        channels=names,
        selector=ComponentPlan("selector", ReplicatingChannelSelector, settings_for(ReplicatingChannelSelector), "replicating"),
        acknowledgements=acks,
    )
    for i, name in enumerate(names):
        p.sinks[f"k{i}"] = SinkPlan(f"k{i}", CollectSink, settings_for(CollectSink), "test_collect", channel=name, errors=dict(sink_errors))
    return p


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_every_event_delivered_once_and_position_follows_delivery() -> None:
    CollectSink.script = []
    agent = Agent(plan(total=1000, sinks=2), registry())
    agent.start()
    wait_for(agent.drained)
    for sink in agent.sinks.values():
        assert sorted(sink.got) == list(range(1000))  # type: ignore[attr-defined]
    assert agent.sources["r1"].committed == 1000  # type: ignore[attr-defined]
    assert agent.stop(5)


def test_position_does_not_pass_undelivered_events() -> None:
    CollectSink.script = []
    CollectSink.start_closed = True  # the destination hangs
    try:
        agent = Agent(plan(total=50), registry())
        agent.start()
    finally:
        CollectSink.start_closed = False
    sink = agent.sinks["k0"]
    source = agent.sources["r1"]
    wait_for(lambda: source.next == 50)  # type: ignore[attr-defined]  # read everything...
    time.sleep(0.1)
    source.drained()
    assert sink.got == []  # type: ignore[attr-defined]
    assert source.committed == 0  # type: ignore[attr-defined]  # ...but committed nothing
    sink.gate.set()  # type: ignore[attr-defined]
    wait_for(agent.drained)
    assert source.committed == 50  # type: ignore[attr-defined]
    agent.stop(5)


def test_acknowledgements_false_commits_at_channel_commit() -> None:
    CollectSink.script = []
    CollectSink.start_closed = True
    try:
        agent = Agent(plan(total=30, acks=False), registry())
        agent.start()
    finally:
        CollectSink.start_closed = False
    sink = agent.sinks["k0"]
    source = agent.sources["r1"]
    wait_for(lambda: source.next == 30)  # type: ignore[attr-defined]
    wait_for(lambda: (source.drained() or True) and source.committed == 30)  # type: ignore[attr-defined]
    sink.gate.set()  # type: ignore[attr-defined]
    wait_for(agent.drained)
    agent.stop(5)


def test_retriable_and_partial_failures_lose_nothing() -> None:
    CollectSink.script = ["retriable", "half", "retriable", "half"]
    agent = Agent(plan(total=200), registry())
    agent.start()
    wait_for(agent.drained, timeout=20)
    sink = agent.sinks["k0"]
    assert set(sink.got) == set(range(200))  # type: ignore[attr-defined]
    assert sink.counter.retries >= 3
    assert sink.counter.event_write_fail >= 10
    agent.stop(5)


def test_permanent_failure_goes_to_dead_letter_when_configured(tmp_path: Any) -> None:
    CollectSink.script = ["permanent"]
    agent = Agent(plan(total=20, **{"deadletter.directory": str(tmp_path)}), registry())
    agent.start()
    wait_for(agent.drained)
    sink = agent.sinks["k0"]
    lines = (tmp_path / "k0.deadletter.jsonl").read_text().splitlines()
    assert len(lines) == 10 and '"reason": "record rejected"' in lines[0]
    assert sorted(sink.got) == list(range(10, 20))  # type: ignore[attr-defined]
    assert sink.counter.discarded == 10
    agent.stop(5)


def test_permanent_failure_without_dead_letter_keeps_events() -> None:
    CollectSink.script = ["permanent"]
    agent = Agent(plan(total=20), registry())
    agent.start()
    wait_for(agent.drained, timeout=15)  # runner backs off, then the retry succeeds
    assert sorted(agent.sinks["k0"].got) == list(range(20))  # type: ignore[attr-defined]
    agent.stop(5)


def test_stop_drains_channels_and_reload_keeps_events() -> None:
    CollectSink.script = []
    CollectSink.start_closed = True
    try:
        agent = Agent(plan(total=100), registry())
        agent.start()
    finally:
        CollectSink.start_closed = False
    sink = agent.sinks["k0"]
    channel = agent.channels["c0"]
    wait_for(lambda: channel.size() >= 50)
    sink.gate.set()  # type: ignore[attr-defined]
    new = plan(total=0)
    agent.reload(new)
    assert agent.channels["c0"] is channel  # the same memory channel, with its events
    wait_for(lambda: channel.is_empty())
    assert agent.stop(5)


def test_partial_permanent_failure_holds_the_batch_without_duplicates() -> None:
    """Half a batch delivered, the rest rejected for good, no dead letter: the batch is
    held and only the rejected events are retried — the good half is never re-sent."""
    CollectSink.script = ["perm_half", "perm_half"]
    agent = Agent(plan(total=40), registry())
    agent.start()
    wait_for(agent.drained, timeout=15)
    sink = agent.sinks["k0"]
    assert sorted(sink.got) == list(range(40))  # type: ignore[attr-defined]  # each once
    assert sink.counter.retries >= 2
    agent.stop(5)


class FailingStartSink(CollectSink):
    type_name = "test_failing_start"

    def start(self) -> None:
        from flafka.errors import ConfigError

        raise ConfigError("sink 'k0': cannot reach the destination; check its address")


def test_a_sink_failing_to_start_reports_its_own_error() -> None:
    import pytest

    from flafka.errors import ConfigError

    p = plan(total=10)
    p.sinks["k0"] = SinkPlan("k0", FailingStartSink, settings_for(FailingStartSink), "test_failing_start", channel="c0")
    agent = Agent(p, registry())
    with pytest.raises(ConfigError, match="cannot reach the destination"):
        agent.start()
    agent.stop(1)


def test_clean_stop_advances_positions_past_what_the_drain_delivered() -> None:
    """Sources stop taking input first, sinks drain, and only then do sources record
    their positions: a clean stop leaves nothing to replay."""
    CollectSink.script = []
    CollectSink.start_closed = True
    try:
        agent = Agent(plan(total=200), registry())
        agent.start()
    finally:
        CollectSink.start_closed = False
    source = agent.sources["r1"]
    wait_for(lambda: source.next == 200)  # type: ignore[attr-defined]
    sink = agent.sinks["k0"]
    sink.gate.set()  # type: ignore[attr-defined]
    assert agent.stop(10)
    source.drained()
    assert source.committed == 200  # type: ignore[attr-defined]


# -- optional channels never hold a source back (Flume ignores their failures) ------------


def _channel(name: str) -> MemoryChannel:
    ch = MemoryChannel(name, settings_for(MemoryChannel, capacity=100, transactionCapacity=100))
    ch.start()
    return ch


def test_an_optional_channel_carries_no_token() -> None:
    required, optional = _channel("c1"), _channel("c2")
    selector = ReplicatingChannelSelector("selector", settings_for(ReplicatingChannelSelector, optional="c2"))
    selector.bind({"c1": required, "c2": optional})
    processor = ChannelProcessor(selector, [], SourceCounter("r1", "test"))
    tracker = AckTracker()
    processor.process_batch([Event(b"x"), Event(b"y")], tracker.token(7))
    with required.take_transaction() as tx:
        assert len(tx.take(10)) == 2
    # The optional channel still holds both events, untaken: the position moves anyway.
    assert optional.size() == 2
    assert tracker.delivered() == [7]
    assert tracker.in_flight == 0


def test_required_channels_of_the_selectors() -> None:
    chans = {n: _channel(n) for n in ("c1", "c2", "c3", "c4")}
    rep = ReplicatingChannelSelector("selector", settings_for(ReplicatingChannelSelector, optional="c2 c4"))
    rep.bind(chans)
    assert [c.name for c in rep.required_channels()] == ["c1", "c3"]
    mux = MultiplexingChannelSelector(
        "selector",
        settings_for(MultiplexingChannelSelector, header="h", default="c1", **{"mapping.a": "c2", "optional.a": "c3"}),
    )
    mux.bind(chans)
    assert sorted(c.name for c in mux.required_channels()) == ["c1", "c2"]


class DeadSink(CollectSink):
    """A destination that is down for good (as a Kafka sink whose broker is gone)."""

    type_name = "test_dead"

    def write(self, events: list[Event]) -> BatchOutcome | None:
        time.sleep(0.05)
        raise RetriableError("destination down")


def _plan_with_optional_dead_sink(total: int) -> AgentPlan:
    p = AgentPlan("a1")
    for name in ("c1", "c2"):
        p.channels[name] = ComponentPlan(
            name, MemoryChannel, settings_for(MemoryChannel, capacity=100_000, transactionCapacity=100), "memory"
        )
    p.sources["r1"] = SourcePlan(
        "r1",
        ListSource,
        settings_for(ListSource, total=total),
        "test_list",
        channels=["c1", "c2"],
        selector=ComponentPlan(
            "selector", ReplicatingChannelSelector, settings_for(ReplicatingChannelSelector, optional="c2"), "replicating"
        ),
    )
    p.sinks["k0"] = SinkPlan("k0", CollectSink, settings_for(CollectSink), "test_collect", channel="c1")
    p.sinks["k1"] = SinkPlan("k1", DeadSink, settings_for(DeadSink), "test_dead", channel="c2")
    return p


def test_a_dead_optional_sink_never_holds_the_source_back() -> None:
    CollectSink.script = []
    CollectSink.start_closed = False
    agent = Agent(_plan_with_optional_dead_sink(500), registry())
    agent.start()
    try:
        source = agent.sources["r1"]
        assert isinstance(source, ListSource)
        wait_for(lambda: agent.drained(), timeout=10)
        assert source.committed == 500
        assert source.acks.in_flight == 0
        started = time.monotonic()
        agent.stop(timeout=10)
        assert time.monotonic() - started < 5  # not the whole timeout: the optional sink makes no progress
    finally:
        agent.stop(1)


class HugeDelaySource(ListSource):
    """A source whose idle backoff is absurdly long (a 400-digit pollDelay, say)."""

    type_name = "test_huge_delay"

    def process(self) -> Status:
        return Status.BACKOFF  # idle: nothing to read

    def backoff_delay(self, attempts: int) -> float:
        return 1e300 if attempts % 2 else float("nan")


def test_a_huge_source_backoff_never_kills_the_source_thread() -> None:
    from flafka.runtime import SourceRunner

    source = HugeDelaySource("r1", settings_for(HugeDelaySource, total=0))
    source.start()
    runner = SourceRunner(source)
    runner.start()
    time.sleep(0.3)
    assert runner.is_alive()  # threading.Event.wait(1e300) raised OverflowError and ended it
    runner.request_stop()
    runner.join(2)
    assert not runner.is_alive()
