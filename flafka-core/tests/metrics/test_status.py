"""The agent's periodic status lines (rates since the previous report, channel fill)."""

from __future__ import annotations

from flafka.metrics.counters import ChannelCounter, Counter, SinkCounter, SourceCounter
from flafka.metrics.status import StatusReporter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rates_and_fill() -> None:
    src = SourceCounter("r1", "seq")
    ch = ChannelCounter("c1", "memory")
    ch.capacity = 1000
    ch.size = lambda: 250
    sink = SinkCounter("k1", "null")
    counters: list[Counter] = [src, ch, sink]
    clock = Clock()
    reporter = StatusReporter(lambda: counters, clock)
    src.event_received_count = src.event_accepted_count = 3000
    ch.event_put_success_count = 3000
    ch.event_take_success_count = 2750
    sink.event_drain_attempt_count = 2750
    sink.event_drain_success_count = 2700
    sink.retries = 2
    sink.event_write_fail = 1
    clock.now += 10
    lines = reporter.lines()
    assert lines == [
        "source r1 (seq): in 300/s, out 300/s",
        "channel c1 (memory): in 300/s, out 275/s, size 250/1,000 (25.0% full)",
        "sink k1 (null): in 275/s, out 270/s, 2 retries, 1 errors",
    ]
    clock.now += 10
    ch.event_put_success_count += 5
    assert reporter.lines()[1] == "channel c1 (memory): in 0.5/s, out 0.0/s, size 250/1,000 (25.0% full)"
    assert reporter.lines()[2] == "sink k1 (null): in 0.0/s, out 0.0/s"  # no new retries or errors


def test_replaced_counter_counts_from_zero_and_zero_capacity() -> None:
    clock = Clock()
    first = SinkCounter("k1", "null")
    first.event_drain_success_count = 1000
    counters: list[Counter] = [first]
    reporter = StatusReporter(lambda: counters, clock)
    replacement = SinkCounter("k1", "null")  # after a reload
    replacement.event_drain_success_count = 20
    counters[0] = replacement
    clock.now += 2
    assert reporter.lines() == ["sink k1 (null): in 0.0/s, out 10.0/s"]
    ch = ChannelCounter("c", "")
    counters[0] = ch
    assert reporter.lines() == ["channel c: in 0.0/s, out 0.0/s, size 0"]
