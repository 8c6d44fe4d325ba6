"""Live values bound at read time: events in flight awaiting acknowledgement, sink backoff
and a dead runner, the agent's uptime; in Flume's JSON and the Prometheus text."""

from __future__ import annotations

import threading
import time
from typing import Any

from flafka.agent import Agent
from flafka.channels.memory import MemoryChannel
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.errors import RetriableError
from flafka.event import Event
from flafka.metrics.http import flume_json, prometheus_text
from flafka.metrics.live import LiveCounters
from flafka.registry import Registry
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink
from flafka.source import PollableSource, Status
from flafka.testing import settings_for


class CountSource(PollableSource):
    """``total`` events in batches of 10, replayable (acknowledged end to end)."""

    type_name = "test_count"
    replayable = True
    settings_schema = Schema(Setting("total", "int", 100))

    def start(self) -> None:
        self.next = 0

    def process(self) -> Status:
        self.acks.delivered()
        if self.next >= self.settings["total"]:
            return Status.BACKOFF
        batch = [Event(b"x" * 10) for _ in range(10)]
        self.next += 10
        self.processor.process_batch(batch, self.acks.token(self.next))
        return Status.READY

    def backoff_delay(self, attempts: int) -> float:
        return 0.01


class GateSink(Sink):
    """Fails (retriable) while ``failing`` is set, then delivers."""

    type_name = "test_gate"
    settings_schema = Schema(Setting("batchSize", "int", 10))
    failing = threading.Event()

    def write(self, events: list[Event]) -> BatchOutcome | None:
        if self.failing.is_set():
            time.sleep(0.01)
            raise RetriableError("destination down")
        return None


def _agent() -> Agent:
    reg = Registry()
    for cls in (CountSource, GateSink, MemoryChannel, ReplicatingChannelSelector):
        reg.add(cls, "test")
    p = AgentPlan("a1")
    p.channels["c1"] = ComponentPlan(
        "c1", MemoryChannel, settings_for(MemoryChannel, capacity=1000, transactionCapacity=100, byteCapacity=100000), "memory"
    )
    p.sources["r1"] = SourcePlan(
        "r1",
        CountSource,
        settings_for(CountSource, total=200),
        "test_count",
        channels=["c1"],
        selector=ComponentPlan("selector", ReplicatingChannelSelector, settings_for(ReplicatingChannelSelector), "replicating"),
        acknowledgements=True,
    )
    p.sinks["k1"] = SinkPlan("k1", GateSink, settings_for(GateSink), "test_gate", channel="c1")
    return Agent(p, reg)


def _wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_in_flight_and_backoff_follow_the_runtime() -> None:
    GateSink.failing.set()
    agent = _agent()
    live = LiveCounters(agent)
    agent.start()
    try:
        _wait(lambda: flume_json(live())["SINK.k1"]["BackoffFailureCount"] not in ("0", "1"))
        _wait(lambda: flume_json(live())["SOURCE.r1"]["InFlightBatchCount"] == "20")
        doc = flume_json(live())
        assert doc["SOURCE.r1"]["InFlightEventCount"] == "200"  # everything read, nothing delivered
        assert doc["SOURCE.r1"]["InFlightBatchCount"] == "20"
        assert int(doc["SINK.k1"]["RetryCount"]) >= 2
        assert doc["SINK.k1"]["RunnerAlive"] == "1"
        assert doc["CHANNEL.c1"]["ChannelBytes"] == "2000"  # a taken batch frees its bytes at commit only
        assert doc["CHANNEL.c1"]["ChannelByteCapacity"] == "80000"
        assert float(doc["AGENT.a1"]["UptimeSeconds"]) > 0
        text = prometheus_text(live())
        assert 'component_in_flight_events{component_id="r1",component_kind="source",component_type="test_count"} 200' in text
        assert 'sink_backoff_failures{component_id="k1",component_kind="sink",component_type="test_gate"} 0' not in text
        GateSink.failing.clear()
        _wait(lambda: flume_json(live())["SOURCE.r1"]["InFlightEventCount"] == "0")
        doc = flume_json(live())
        assert doc["SOURCE.r1"]["InFlightEventCount"] == "0"
        assert doc["SINK.k1"]["BackoffFailureCount"] == "0"
        assert doc["CHANNEL.c1"]["ChannelBytes"] == "0"
    finally:
        GateSink.failing.clear()
        agent.stop(timeout=5)


def test_without_the_live_binding_json_keeps_flumes_shape() -> None:
    agent = _agent()
    doc = flume_json(agent.counters())
    assert "InFlightEventCount" not in doc.get("SOURCE.r1", {})
    assert "AGENT.a1" not in doc
