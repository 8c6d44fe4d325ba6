"""The ``seq`` source: settings, bodies, batches, retries after a full channel, drained(),
and end to end through the agent (seq → memory → file_roll / null)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from flafka.ack import AckToken, AckTracker
from flafka.agent import Agent
from flafka.channels.memory import MemoryChannel
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.errors import ChannelError, ChannelFullError, ConfigError
from flafka.event import Event
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.registry import Registry
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.sinks.file_roll import RollingFileSink
from flafka.sinks.null import NullSink
from flafka.source import Status
from flafka.sources.seq import UNBOUNDED, SequenceGeneratorSource
from flafka.testing import make, settings_for


class FakeProcessor:
    """Records batches; fails the next ``fail`` calls with ``error``; pays tokens at once
    (acknowledgements off) or keeps them (``hold``) for the test to pay."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.lists: list[int] = []
        self.tokens: list[AckToken] = []
        self.fail = 0
        self.error: Exception = ChannelFullError("channel 'c' is full")
        self.hold = False

    def process_batch(self, events: list[Event], token: AckToken | None = None) -> None:
        assert token is not None, "seq must hand a token with every batch"
        self.tokens.append(token)
        self.lists.append(id(events))
        if self.fail:
            self.fail -= 1
            token.abandon()
            raise self.error
        self.batches.append(events)
        if not self.hold:
            token.release()


def seq(**raw: Any) -> tuple[SequenceGeneratorSource, FakeProcessor]:
    source = make(SequenceGeneratorSource, "r1", **raw)
    proc = FakeProcessor()
    source.processor = proc  # type: ignore[assignment]
    source.acks = AckTracker()
    source.counter = SourceCounter("r1", "seq")
    source.start()
    return source, proc


def bodies(proc: FakeProcessor) -> list[bytes]:
    return [e.body for batch in proc.batches for e in batch]


def test_defaults_and_names() -> None:
    s = settings_for(SequenceGeneratorSource)
    assert s["batchSize"] == 1
    assert s["totalEvents"] == UNBOUNDED == 2**63 - 1
    assert s["backoffSleepIncrement"] == 1000 and s["maxBackoffSleep"] == 5000
    assert SequenceGeneratorSource.type_name == "seq"
    assert "org.apache.flume.source.SequenceGeneratorSource" in SequenceGeneratorSource.aliases
    assert SequenceGeneratorSource.replayable is False
    assert SequenceGeneratorSource.batch_size_from(settings_for(SequenceGeneratorSource, batchSize=250)) == 250


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="batchSize"):
        settings_for(SequenceGeneratorSource, batchSize=0)
    with pytest.raises(ConfigError, match="totalEvents"):
        settings_for(SequenceGeneratorSource, totalEvents=-1)
    _, problems = SequenceGeneratorSource.settings_schema.parse({"totalEvent": "5"})
    assert problems and "totalEvents" in problems[0].suggestion


def test_default_batch_is_one_event_counting_from_zero() -> None:
    source, proc = seq()
    for _ in range(3):
        assert source.process() is Status.READY
    assert [len(b) for b in proc.batches] == [1, 1, 1]
    assert bodies(proc) == [b"0", b"1", b"2"]
    assert all(e.headers == {} for b in proc.batches for e in b)
    assert not source.drained()  # unbounded


def test_batches_and_last_partial_batch_then_backoff() -> None:
    source, proc = seq(batchSize=4, totalEvents=10)
    statuses = [source.process() for _ in range(5)]
    assert statuses == [Status.READY, Status.READY, Status.READY, Status.BACKOFF, Status.BACKOFF]
    assert [len(b) for b in proc.batches] == [4, 4, 2]
    assert bodies(proc) == [str(i).encode() for i in range(10)]
    assert source.drained()


def test_positions_are_the_next_counter_value() -> None:
    source, proc = seq(batchSize=3, totalEvents=7)
    while source.process() is Status.READY:
        pass
    assert [t.position for t in proc.tokens] == [3, 6, 7]


def test_full_channel_keeps_the_batch_and_retries_the_same_bodies() -> None:
    source, proc = seq(batchSize=5, totalEvents=12)
    proc.fail = 2
    assert source.process() is Status.BACKOFF
    assert source.process() is Status.BACKOFF
    assert source.next == 0
    assert source.process() is Status.READY
    assert proc.lists[0] == proc.lists[1] == proc.lists[2]  # the very same batch was offered
    assert len({id(t) for t in proc.tokens}) == 3  # each attempt under a new token
    while source.process() is Status.READY:
        pass
    assert bodies(proc) == [str(i).encode() for i in range(12)]  # no gap, no duplicate
    assert source.drained()


def test_other_channel_errors_propagate_and_keep_the_batch() -> None:
    source, proc = seq(batchSize=2, totalEvents=4)
    proc.fail = 1
    proc.error = ChannelError("transaction too large")
    with pytest.raises(ChannelError):
        source.process()
    assert not source.drained()
    assert source.process() is Status.READY
    assert bodies(proc) == [b"0", b"1"]


def test_drained_waits_for_delivery() -> None:
    source, proc = seq(batchSize=5, totalEvents=5)
    proc.hold = True
    assert source.process() is Status.READY
    assert source.process() is Status.BACKOFF
    assert not source.drained()  # generated everything, but the batch is in flight
    proc.tokens[0].release()
    assert source.drained()


def test_zero_total_events_is_drained_at_once() -> None:
    source, proc = seq(totalEvents=0)
    assert source.process() is Status.BACKOFF
    assert proc.batches == []
    assert source.drained()


def test_large_counter_values() -> None:
    source, proc = seq(batchSize=3, totalEvents=UNBOUNDED)
    source.next = UNBOUNDED - 2
    assert source.process() is Status.READY
    assert bodies(proc) == [str(UNBOUNDED - 2).encode(), str(UNBOUNDED - 1).encode()]
    assert source.drained()


def test_with_the_real_processor_and_a_small_memory_channel() -> None:
    channel = make(MemoryChannel, "c1", capacity=10, transactionCapacity=10, **{"keep-alive": 0})
    channel.start()
    selector = make(ReplicatingChannelSelector, "selector")
    selector.bind({"c1": channel})
    source = make(SequenceGeneratorSource, "r1", batchSize=4, totalEvents=30)
    source.counter = SourceCounter("r1", "seq")
    source.acks = AckTracker()
    source.processor = ChannelProcessor(selector, [], source.counter, acknowledgements=True)
    got: list[bytes] = []
    full = 0
    for _ in range(200):
        status = source.process()
        if status is Status.BACKOFF:
            if source.drained():
                break
            full += 1
            with channel.take_transaction() as tx:
                got.extend(e.body for e in tx.take(10))
    else:
        pytest.fail("the source never drained")
    with channel.take_transaction() as tx:
        got.extend(e.body for e in tx.take(10))
    assert full >= 1  # the channel did fill up
    assert got == [str(i).encode() for i in range(30)]
    assert source.counter.event_accepted_count == 30
    assert source.drained()


# -- end to end through the agent ---------------------------------------------------------


def _plan(sink_cls: type, sink_type: str, total: int, **sink_raw: Any) -> AgentPlan:
    p = AgentPlan("a1")
    p.channels["c1"] = ComponentPlan("c1", MemoryChannel, settings_for(MemoryChannel, capacity=10000, transactionCapacity=1000), "memory")
    p.sources["r1"] = SourcePlan(
        "r1",
        SequenceGeneratorSource,
        settings_for(SequenceGeneratorSource, batchSize=1000, totalEvents=total),
        "seq",
        channels=["c1"],
        selector=ComponentPlan("selector", ReplicatingChannelSelector, settings_for(ReplicatingChannelSelector), "replicating"),
    )
    p.sinks["k1"] = SinkPlan("k1", sink_cls, settings_for(sink_cls, **sink_raw), sink_type, channel="c1")
    return p


def _registry() -> Registry:
    reg = Registry()
    for cls in (SequenceGeneratorSource, MemoryChannel, ReplicatingChannelSelector, RollingFileSink, NullSink):
        reg.add(cls, "test")
    return reg


def _wait(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_seq_memory_file_roll_end_to_end(tmp_path: Any) -> None:
    out = tmp_path / "out"
    agent = Agent(_plan(RollingFileSink, "file_roll", 25_000, **{"sink.directory": str(out), "sink.batchSize": 1000}), _registry())
    agent.start()
    try:
        _wait(agent.drained)
    finally:
        assert agent.stop(5)
    files = sorted(os.listdir(out), key=lambda n: int(n.rsplit("-", 1)[1]))
    assert len(files) == 1
    lines = (out / files[0]).read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert lines[:-1] == [str(i).encode() for i in range(25_000)]


def test_seq_memory_null_end_to_end() -> None:
    agent = Agent(_plan(NullSink, "null", 50_000, batchSize=1000), _registry())
    agent.start()
    try:
        _wait(agent.drained)
        counters = {c.name: c for c in agent.counters()}
        assert counters["r1"].event_accepted_count == 50_000  # type: ignore[attr-defined]
        _wait(lambda: counters["k1"].event_drain_success_count == 50_000)  # type: ignore[attr-defined]
    finally:
        assert agent.stop(5)


def test_a_flume_properties_file_runs_unchanged(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Flume's own spelling (class names, Flume keys) through the loader and the agent."""
    import logging

    from flafka.builtins import flafka_register_components
    from flafka.config.loader import load_config

    reg = Registry()
    for cls in flafka_register_components():
        reg.add(cls, "flafka-core")
    out = tmp_path / "out"
    conf = tmp_path / "flume.conf"
    conf.write_text(
        "a1.sources = r1\n"
        "a1.channels = c1 c2\n"
        "a1.sinks = k1 k2\n"
        "a1.sources.r1.type = org.apache.flume.source.SequenceGeneratorSource\n"
        "a1.sources.r1.batchSize = 100\n"
        "a1.sources.r1.totalEvents = 1000\n"
        "a1.sources.r1.channels = c1 c2\n"
        "a1.channels.c1.type = memory\n"
        "a1.channels.c1.capacity = 1000\n"
        "a1.channels.c1.transactionCapacity = 100\n"
        "a1.channels.c2.type = org.apache.flume.channel.MemoryChannel\n"
        "a1.channels.c2.transactionCapacity = 100\n"
        "a1.sinks.k1.type = org.apache.flume.sink.RollingFileSink\n"
        f"a1.sinks.k1.sink.directory = {out}\n"
        "a1.sinks.k1.sink.rollInterval = 0\n"
        "a1.sinks.k1.sink.pathManager.prefix = seq-\n"
        "a1.sinks.k1.channel = c1\n"
        "a1.sinks.k2.type = logger\n"
        "a1.sinks.k2.channel = c2\n"
    )
    result = load_config([conf], "a1", reg)
    assert result.ok, result.format()
    assert result.plan is not None
    agent = Agent(result.plan, reg)
    with caplog.at_level(logging.INFO, logger="flafka.sinks.logger"):
        agent.start()
        try:
            _wait(agent.drained)
        finally:
            assert agent.stop(5)
    (name,) = os.listdir(out)
    assert name.startswith("seq-") and name.endswith("-1")
    assert (out / name).read_bytes() == b"".join(b"%d\n" % i for i in range(1000))
    logged = [r.getMessage() for r in caplog.records if r.name == "flafka.sinks.logger"]
    assert len(logged) == 1000
    assert logged[0] == "Event: { headers:{} body: 30                                              0 }"
