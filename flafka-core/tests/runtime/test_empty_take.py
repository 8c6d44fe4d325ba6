"""An empty take is a transaction too: the sink driver closes it, so a channel that holds
a lock (or a consumer position) from a take to its commit or rollback — as the Kafka
channel does — is released after every empty poll. Two sinks on such a channel both get
events and the agent stops at once."""

from __future__ import annotations

import threading
import time
from typing import Any

from flafka.agent import Agent
from flafka.channels.memory import MemoryChannel
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.registry import Registry
from flafka.runtime import SinkDriver
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink
from flafka.source import Status
from flafka.testing import make, settings_for

from .test_agent_runtime import ListSource


class LockingChannel(MemoryChannel):
    """A memory channel whose take transaction holds a channel-wide lock from its first
    ``take`` to its ``commit``/``rollback`` (one taker at a time, like a channel with a
    single consumer). Counts transactions opened and closed."""

    type_name = "test_locking"

    def __init__(self, name: str, settings: Any) -> None:
        super().__init__(name, settings)
        self.take_lock = threading.Lock()
        self.opened = 0
        self.closed = 0

    def take_transaction(self) -> Any:
        inner = super().take_transaction()
        channel = self
        channel.opened += 1

        class Tx:
            locked = False

            def take(self, n: int) -> list[Event]:
                if not self.locked:
                    # bounded, so that the old runtime makes the test fail instead of hang
                    if not channel.take_lock.acquire(timeout=2.0):
                        raise TimeoutError("the channel's take lock is held by a transaction nobody closed")
                    self.locked = True
                return inner.take(n)

            def _close(self) -> None:
                channel.closed += 1
                if self.locked:
                    self.locked = False
                    channel.take_lock.release()

            def commit(self) -> None:
                try:
                    inner.commit()
                finally:
                    self._close()

            def rollback(self) -> None:
                try:
                    inner.rollback()
                finally:
                    self._close()

        return Tx()


class SlowSink(Sink):
    """Collects bodies; each write takes a little while, so that a second sink has time
    to take while the first one writes."""

    type_name = "test_slow"
    settings_schema = Schema(Setting("batchSize", "int", 10))

    def start(self) -> None:
        self.got: list[int] = []

    def write(self, events: list[Event]) -> BatchOutcome | None:
        time.sleep(0.002)
        self.got.extend(int(e.body) for e in events)
        return None


def test_the_driver_closes_an_empty_take() -> None:
    channel = make(LockingChannel, "c", capacity=100, transactionCapacity=10)
    channel.start()
    sink = make(SlowSink, "k", batchSize=10)
    sink.channel = channel
    sink.counter = SinkCounter("k")
    sink.start()
    driver = SinkDriver(sink)
    assert driver.drive() is Status.BACKOFF
    assert channel.opened == channel.closed == 1
    assert not channel.take_lock.locked()
    with channel.put_transaction() as tx:
        tx.put([Event(b"1"), Event(b"2")])
    assert driver.drive() is Status.READY  # another thread's take would have waited for good before
    assert driver.drive() is Status.BACKOFF
    assert channel.opened == channel.closed == 3
    assert sink.got == [1, 2]


def _registry() -> Registry:
    from flafka.selectors.builtin import ReplicatingChannelSelector

    reg = Registry()
    for cls in (ListSource, SlowSink, LockingChannel, ReplicatingChannelSelector):
        reg.add(cls, "test")
    return reg


def _plan(total: int) -> AgentPlan:
    from flafka.selectors.builtin import ReplicatingChannelSelector

    p = AgentPlan("a1")
    p.channels["c1"] = ComponentPlan("c1", LockingChannel, settings_for(LockingChannel, capacity=10000, transactionCapacity=100), "x")
    p.sources["r1"] = SourcePlan(
        "r1",
        ListSource,
        settings_for(ListSource, total=total, batchSize=10),
        "test_list",
        channels=["c1"],
        selector=ComponentPlan("selector", ReplicatingChannelSelector, settings_for(ReplicatingChannelSelector), "replicating"),
        acknowledgements=True,
    )
    for name in ("k1", "k2"):
        p.sinks[name] = SinkPlan(name, SlowSink, settings_for(SlowSink, batchSize=10), "test_slow", channel="c1")
    return p


def test_two_sinks_on_a_locking_channel_both_receive_events_and_stop_is_fast() -> None:
    agent = Agent(_plan(3000), _registry())
    agent.start()
    try:
        deadline = time.monotonic() + 30
        while not agent.drained():
            assert time.monotonic() < deadline, "the channel was not drained in time"
            time.sleep(0.01)
        k1, k2 = agent.sinks["k1"], agent.sinks["k2"]
        got1, got2 = k1.got, k2.got  # type: ignore[attr-defined]
        assert sorted(got1 + got2) == list(range(3000))
        assert got1 and got2, f"one sink got every event: k1 {len(got1)}, k2 {len(got2)}"
    finally:
        started = time.monotonic()
        assert agent.stop(10)
        took = time.monotonic() - started
    assert took < 2.0, f"stop took {took:.1f} s"
