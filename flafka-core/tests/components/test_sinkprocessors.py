"""Built-in sink processors: default, failover, load_balance (fake clock, no sleeping)."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, cast

import pytest

from flafka.channels.memory import MemoryChannel
from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.registry import Registry
from flafka.runtime import SinkDriver, SinkFailure
from flafka.sink import Sink
from flafka.sinkprocessor import SinkProcessor
from flafka.sinkprocessors import builtin as pb
from flafka.source import Status
from flafka.testing import make

READY, BACKOFF = Status.READY, Status.BACKOFF


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeDriver:
    """Same interface as SinkDriver (name, drive()); ``script`` holds Status values or
    exceptions to raise, then ``then`` is repeated."""

    def __init__(self, name: str, *script: Any, then: Any = READY) -> None:
        self.name = name
        self.script: deque[Any] = deque(script)
        self.then = then
        self.calls = 0

    def fail(self, retriable: bool = True) -> SinkFailure:
        return SinkFailure(self.name, RetriableError("down"), retriable=retriable)

    def drive(self) -> Status:
        self.calls += 1
        step = self.script.popleft() if self.script else self.then
        if step == "fail":
            raise self.fail()
        if isinstance(step, BaseException):
            raise step
        return cast(Status, step)


def build(cls: type[SinkProcessor], drivers: list[Any], **raw: Any) -> Any:
    """Parse raw ``processor.*`` keys (without the prefix), construct, give it a fake clock, bind."""
    settings, problems = cls.settings_schema.parse({k: str(v) for k, v in raw.items()})
    assert not [p for p in problems if p.severity == "error"], problems
    proc = cls("g1", settings)
    clock = Clock()
    proc.clock = clock  # type: ignore[attr-defined]
    proc.bind(drivers)
    return proc, clock


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("default", pb.DefaultSinkProcessor),
        ("org.apache.flume.sink.DefaultSinkProcessor", pb.DefaultSinkProcessor),
        ("FAILOVER", pb.FailoverSinkProcessor),
        ("org.apache.flume.sink.FailoverSinkProcessor", pb.FailoverSinkProcessor),
        ("load_balance", pb.LoadBalancingSinkProcessor),
        ("org.apache.flume.sink.LoadBalancingSinkProcessor", pb.LoadBalancingSinkProcessor),
    ],
)
def test_registered(name: str, cls: type[SinkProcessor]) -> None:
    reg = Registry()
    for c in pb.COMPONENTS:
        reg.add(c, "builtins")
    assert reg.lookup("sink_processor", name) is cls


# -- default --------------------------------------------------------------------------------


def test_default_drives_its_one_sink() -> None:
    k1 = FakeDriver("k1", BACKOFF, READY)
    proc, _ = build(pb.DefaultSinkProcessor, [k1], type="default")
    assert [proc.process(), proc.process()] == [BACKOFF, READY]


def test_default_failure_propagates() -> None:
    k1 = FakeDriver("k1", "fail")
    proc, _ = build(pb.DefaultSinkProcessor, [k1])
    with pytest.raises(SinkFailure):
        proc.process()


def test_default_refuses_more_than_one_sink() -> None:
    with pytest.raises(ConfigError, match=r"exactly one sink.*failover or load_balance"):
        build(pb.DefaultSinkProcessor, [FakeDriver("k1"), FakeDriver("k2")])


# -- failover -------------------------------------------------------------------------------


def test_failover_uses_highest_priority() -> None:
    k1, k2, k3 = FakeDriver("k1"), FakeDriver("k2"), FakeDriver("k3")
    proc, _ = build(pb.FailoverSinkProcessor, [k1, k2, k3], **{"priority.k1": 5, "priority.k2": 10, "priority.k3": 1})
    assert proc.active is k2
    assert proc.process() is READY
    assert (k1.calls, k2.calls, k3.calls) == (0, 1, 0)


def test_failover_without_priorities_prefers_configured_order() -> None:
    k1, k2 = FakeDriver("k1"), FakeDriver("k2")
    proc, _ = build(pb.FailoverSinkProcessor, [k1, k2])
    assert proc.active is k1
    proc, _ = build(pb.FailoverSinkProcessor, [k1, k2], **{"priority.k2": 0})
    assert proc.active is k2  # explicit 0 beats the implicit -1


def test_failover_tries_next_sink_in_same_call_and_cools_down(caplog: pytest.LogCaptureFixture) -> None:
    k1 = FakeDriver("k1", "fail")
    k2 = FakeDriver("k2")
    proc, clock = build(pb.FailoverSinkProcessor, [k1, k2], **{"priority.k1": 10, "priority.k2": 5})
    with caplog.at_level(logging.WARNING):
        assert proc.process() is READY
    assert (k1.calls, k2.calls) == (1, 1)
    assert proc.active is k2
    assert "failing over to 'k2'" in caplog.text
    # first penalty: 2 s (Flume: 1000 ms << 1)
    clock.advance(1.9)
    proc.process()
    assert (k1.calls, k2.calls) == (1, 2)
    clock.advance(0.2)
    assert proc.process() is READY  # k1 is retried, succeeds, is live and active again
    assert (k1.calls, k2.calls) == (2, 2)
    assert proc.active is k1
    proc.process()
    assert (k1.calls, k2.calls) == (3, 2)


def test_failover_penalty_doubles_and_is_capped_by_maxpenalty() -> None:
    k1 = FakeDriver("k1", then="fail")
    k2 = FakeDriver("k2")
    proc, clock = build(pb.FailoverSinkProcessor, [k1, k2], maxpenalty=5000, **{"priority.k1": 2, "priority.k2": 1})
    proc.process()  # k1 fails (penalty 2 s), k2 delivers
    waits = []
    for _ in range(4):
        before = k1.calls
        waited = 0.0
        while k1.calls == before:
            clock.advance(0.5)
            waited += 0.5
            proc.process()
        waits.append(waited)
    # retried after 2 s, then 4 s, then capped at 5 s (strictly after the refresh time)
    assert waits == [2.5, 4.5, 5.5, 5.5]
    assert k2.calls > 4  # the batch of every failed retry still went through k2


def test_failover_backoff_on_retry_is_not_penalized() -> None:
    k1 = FakeDriver("k1", "fail", BACKOFF, READY)
    k2 = FakeDriver("k2")
    proc, clock = build(pb.FailoverSinkProcessor, [k1, k2], **{"priority.k1": 2, "priority.k2": 1})
    proc.process()
    clock.advance(2.1)
    assert proc.process() is BACKOFF  # k1 had nothing to take: stays failed, retried next time
    assert proc.active is k2
    assert proc.process() is READY
    assert proc.active is k1


def test_failover_all_failing_raises_sink_failure() -> None:
    k1 = FakeDriver("k1", then="fail")
    k2 = FakeDriver("k2", then="fail")
    proc, clock = build(pb.FailoverSinkProcessor, [k1, k2])
    with pytest.raises(SinkFailure, match=r"every sink of the group failed.*k1: .*k2: .*nothing left") as err:
        proc.process()
    assert err.value.retriable
    assert proc.active is None
    with pytest.raises(SinkFailure, match="no sink of the group is available"):
        proc.process()  # both cooling down: nobody is even tried
    assert (k1.calls, k2.calls) == (1, 1)
    clock.advance(2.1)
    with pytest.raises(SinkFailure):
        proc.process()  # both retried in one call, both fail again
    assert (k1.calls, k2.calls) == (2, 2)


def test_failover_all_permanent_failures_are_not_retriable() -> None:
    k1 = FakeDriver("k1", then=SinkFailure("k1", PermanentError("bad"), retriable=False))
    proc, _ = build(pb.FailoverSinkProcessor, [k1])
    with pytest.raises(SinkFailure) as err:
        proc.process()
    assert not err.value.retriable


def test_failover_duplicate_priority_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'k1' and 'k2' both have priority 5.*processor.priority.k2"):
        build(pb.FailoverSinkProcessor, [FakeDriver("k1"), FakeDriver("k2")], **{"priority.k1": 5, "priority.k2": 5})


def test_failover_priority_must_be_a_number() -> None:
    settings, _ = pb.FailoverSinkProcessor.settings_schema.parse({"priority.k1": "high"})
    with pytest.raises(ConfigError, match=r"priority\.k1 = 'high' is not a whole number"):
        pb.FailoverSinkProcessor("g1", settings)


def test_failover_priority_for_unknown_sink_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(pb.FailoverSinkProcessor, [FakeDriver("k1")], **{"priority.k9": 1})
    assert "priority.k9 names no sink" in caplog.text


def test_failover_maxpenalty_must_be_a_number() -> None:
    _, problems = pb.FailoverSinkProcessor.settings_schema.parse({"maxpenalty": "10s"})
    assert [p.key for p in problems] == ["maxpenalty"]


# -- load_balance ---------------------------------------------------------------------------


def test_load_balance_round_robin() -> None:
    ks = [FakeDriver(f"k{i}") for i in range(3)]
    proc, _ = build(pb.LoadBalancingSinkProcessor, ks)
    for _ in range(6):
        proc.process()
    assert [k.calls for k in ks] == [2, 2, 2]
    assert proc.order() == [0, 1, 2]
    assert proc.order() == [1, 2, 0]


def test_load_balance_failed_sink_passes_batch_to_next() -> None:
    k0 = FakeDriver("k0", then="fail")
    k1 = FakeDriver("k1")
    proc, _ = build(pb.LoadBalancingSinkProcessor, [k0, k1])
    assert proc.process() is READY  # k0 fails, k1 delivers
    assert proc.process() is READY  # k1 first this time
    assert proc.process() is READY  # no backoff: k0 is tried again (and fails)
    assert (k0.calls, k1.calls) == (2, 3)


def test_load_balance_backoff_excludes_failed_sink_exponentially() -> None:
    k0 = FakeDriver("k0", then="fail")
    k1 = FakeDriver("k1")
    proc, clock = build(pb.LoadBalancingSinkProcessor, [k0, k1], backoff="true", **{"selector.maxTimeOut": 6000})
    proc.process()
    assert k0.calls == 1
    waits = []
    for _ in range(4):
        before = k0.calls
        waited = 0.0
        while k0.calls == before:
            clock.advance(0.5)
            waited += 0.5
            assert proc.process() is READY
        waits.append(waited)
    assert waits == [2.5, 4.5, 6.5, 6.5]  # 2 s, 4 s, then selector.maxTimeOut


def test_load_balance_backoff_resets_after_a_quiet_period() -> None:
    k0 = FakeDriver("k0", "fail", "fail", READY, "fail")
    k1 = FakeDriver("k1")
    proc, clock = build(pb.LoadBalancingSinkProcessor, [k0, k1], backoff="true")
    proc.process()  # k0 fails: out 2 s
    clock.advance(2.1)
    proc.order()  # skip k0's turn in the round robin so it goes first
    proc.process()  # k0 fails again in a row: out 4 s
    assert proc._states[0].sequential == 2
    clock.advance(4.1)
    proc.process()
    proc.process()
    clock.advance(3600)
    while k0.calls < 4:
        proc.process()
    assert proc._states[0].sequential == 1  # a failure long after the last one starts over at 2 s


def test_load_balance_all_failing_raises() -> None:
    k0, k1 = FakeDriver("k0", then="fail"), FakeDriver("k1", then="fail")
    proc, _ = build(pb.LoadBalancingSinkProcessor, [k0, k1], backoff="true")
    with pytest.raises(SinkFailure, match="every sink of the group failed"):
        proc.process()
    with pytest.raises(SinkFailure, match="all sinks are backing off"):
        proc.process()
    assert (k0.calls, k1.calls) == (1, 1)


def test_load_balance_random_selector_uses_the_shuffle() -> None:
    ks = [FakeDriver(f"k{i}") for i in range(3)]
    proc, _ = build(pb.LoadBalancingSinkProcessor, ks, selector="RANDOM")
    proc.shuffle = lambda items: items.reverse()
    proc.process()
    assert [k.calls for k in ks] == [0, 0, 1]
    assert proc.order() == [2, 1, 0]


def test_load_balance_random_selector_default_shuffle_tries_every_sink() -> None:
    ks = [FakeDriver(f"k{i}", then="fail") for i in range(4)]
    proc, _ = build(pb.LoadBalancingSinkProcessor, ks, selector="random")
    with pytest.raises(SinkFailure):
        proc.process()
    assert [k.calls for k in ks] == [1, 1, 1, 1]


def test_load_balance_unknown_selector_is_a_problem() -> None:
    _, problems = pb.LoadBalancingSinkProcessor.settings_schema.parse({"selector": "com.example.MySelector"})
    assert [p.key for p in problems] == ["selector"]


# -- through real SinkDrivers and a memory channel ----------------------------------------------


class ListSink(Sink):
    type_name = "test_list"

    def __init__(self, name: str, fail: bool = False) -> None:
        super().__init__(name, make(MemoryChannel, "unused").settings)
        self.fail = fail
        self.written: list[bytes] = []
        self.counter = SinkCounter(name, self.type_name)

    def batch_size(self) -> int:
        return 10

    def write(self, events: list[Event]) -> None:
        if self.fail:
            raise RetriableError(f"{self.name} is down")
        self.written.extend(e.body for e in events)


def test_failover_through_real_sink_drivers() -> None:
    channel = make(MemoryChannel, "c1", capacity=100, transactionCapacity=10)
    channel.start()
    with channel.put_transaction() as tx:
        tx.put([Event(str(i).encode()) for i in range(5)])
    primary, backup = ListSink("k1", fail=True), ListSink("k2")
    for s in (primary, backup):
        s.channel = channel
    proc, _ = build(
        pb.FailoverSinkProcessor,
        [SinkDriver(primary), SinkDriver(backup)],
        **{"priority.k1": 10, "priority.k2": 5},
    )
    assert proc.process() is READY
    assert backup.written == [b"0", b"1", b"2", b"3", b"4"]  # k1's rolled-back batch, in order
    assert channel.size() == 0
    assert primary.counter.event_write_fail == 5
    assert proc.process() is BACKOFF  # the channel is empty


def test_load_balance_all_failing_leaves_events_in_channel() -> None:
    channel = make(MemoryChannel, "c1", capacity=100, transactionCapacity=10)
    channel.start()
    with channel.put_transaction() as tx:
        tx.put([Event(b"x"), Event(b"y")])
    sinks = [ListSink("k1", fail=True), ListSink("k2", fail=True)]
    for s in sinks:
        s.channel = channel
    proc, _ = build(pb.LoadBalancingSinkProcessor, [SinkDriver(s) for s in sinks])
    with pytest.raises(SinkFailure, match=r"k1 is down.*k2 is down"):
        proc.process()
    assert channel.size() == 2
