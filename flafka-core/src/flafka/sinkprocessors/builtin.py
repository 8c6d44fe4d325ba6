"""Flume's sink processors (sink groups): ``default``, ``failover`` and ``load_balance``.

Contract (see :class:`flafka.sinkprocessor.SinkProcessor`): ``bind`` receives the group's
:class:`~flafka.runtime.SinkDriver` objects in configured order; ``process`` moves one
batch through one sink and returns its Status, or raises
:class:`~flafka.runtime.SinkFailure` when no sink could move it (every failed driver has
already rolled its batch back). Like Flume, a group is driven by one thread, and a sink
that fails is passed over for the next one within the same ``process`` call.

Time comes from ``self.clock`` (monotonic seconds), replaceable in tests.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flafka.errors import ConfigError, FlafkaError
from flafka.runtime import DefaultSinkProcessor as _RuntimeDefault
from flafka.runtime import SinkFailure
from flafka.settings import Schema, Setting, Settings
from flafka.sinkprocessor import SinkProcessor
from flafka.source import Status

if TYPE_CHECKING:
    from flafka.runtime import SinkDriver

log = logging.getLogger(__name__)

_RESERVED = ("type",)
FAILURE_PENALTY_MS = 1000
"""Base of the exponential penalty: a sink that failed n times in a row waits
``min(max, FAILURE_PENALTY_MS * 2**n)`` ms (2 s, 4 s, 8 s, ... as Flume)."""


def _penalty_ms(failures: int, cap_ms: int) -> int:
    return min(cap_ms, FAILURE_PENALTY_MS * (1 << min(failures, 30)))


def _group_failure(group: str, errors: list[tuple[str, BaseException]], extra: str = "") -> SinkFailure:
    """One SinkFailure for the whole group, naming every sink's error."""
    if errors:
        detail = "; ".join(f"{name}: {err}" for name, err in errors)
        message = f"every sink of the group failed ({detail})"
    else:
        message = "no sink of the group is available"
    if extra:
        message += f"; {extra}"
    retriable = not errors or any(getattr(err, "retriable", True) for _, err in errors)
    return SinkFailure(group, FlafkaError(message), retriable=retriable)


class DefaultSinkProcessor(_RuntimeDefault):
    """Drives exactly one sink (every sink outside a sink group gets one)."""

    type_name = "default"
    aliases = ("org.apache.flume.sink.DefaultSinkProcessor",)
    summary = "Drive a single sink"
    settings_schema = Schema(reserved=_RESERVED)

    def bind(self, drivers: list[SinkDriver]) -> None:
        if len(drivers) != 1:
            raise ConfigError(
                f"sink group '{self.name}': processor.type = default drives exactly one sink, but the group has "
                f"{len(drivers)}; use processor.type = failover or load_balance"
            )
        super().bind(drivers)


# -- failover -------------------------------------------------------------------------------


class _Failed:
    __slots__ = ("driver", "failures", "priority", "refresh")

    def __init__(self, priority: int, driver: SinkDriver, failures: int, refresh: float) -> None:
        self.priority = priority
        self.driver = driver
        self.failures = failures
        self.refresh = refresh


class FailoverSinkProcessor(SinkProcessor):
    """The live sink with the highest ``priority.<sink>`` takes every batch. A sink that
    fails moves to a cool-down list (2 s after the first failure, doubling per failure in
    a row, at most ``maxpenalty`` ms) and the next live sink is tried in the same call;
    when its cool-down is over it is tried again and rejoins the live sinks once it moves
    a batch. Sinks without a priority get -1, -2, ... in configured order.

    Differences from Flume: two sinks with the same priority are a ConfigError (Flume
    silently leaves the second out of the group); a priority that is not a whole number is
    a ConfigError (Flume silently uses the default).
    """

    type_name = "failover"
    aliases = ("org.apache.flume.sink.FailoverSinkProcessor",)
    summary = "Send to the highest-priority healthy sink; fail over to the next"
    settings_schema = Schema(
        Setting("priority.*", "map", None, "priority.<sink> = whole number; higher is preferred, unique"),
        Setting("maxpenalty", "int", 30000, "longest cool-down of a failed sink, ms", minimum=0),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.max_penalty_ms: int = settings["maxpenalty"]
        self.priorities: dict[str, int] = {}
        for sink, text in (settings["priority.*"] or {}).items():
            try:
                self.priorities[sink] = int(text)
            except ValueError:
                raise ConfigError(
                    f"sink group '{name}': processor.priority.{sink} = '{text}' is not a whole number; "
                    f"use e.g. processor.priority.{sink} = 10"
                )
        self.clock: Callable[[], float] = time.monotonic
        self._live: list[tuple[int, SinkDriver]] = []
        self._failed: list[tuple[float, int, _Failed]] = []
        self._seq = 0

    def bind(self, drivers: list[SinkDriver]) -> None:
        super().bind(drivers)
        names = [d.name for d in drivers]
        stale = sorted(set(self.priorities) - set(names))
        if stale:
            log.warning(
                "sink group '%s': processor.priority.%s names no sink of the group (sinks: %s); ignored",
                self.name,
                stale[0],
                " ".join(names),
            )
        by_priority: dict[int, str] = {}
        next_default = 0
        live: list[tuple[int, SinkDriver]] = []
        for d in drivers:
            if d.name in self.priorities:
                prio = self.priorities[d.name]
            else:
                next_default -= 1
                prio = next_default
            if prio in by_priority:
                raise ConfigError(
                    f"sink group '{self.name}': sinks '{by_priority[prio]}' and '{d.name}' both have priority {prio}; "
                    f"priorities must be unique (Flume would silently leave '{d.name}' out of the group) — "
                    f"set processor.priority.{d.name} to another number"
                )
            by_priority[prio] = d.name
            live.append((prio, d))
        live.sort(key=lambda pd: -pd[0])
        self._live = live
        self._failed = []

    @property
    def active(self) -> SinkDriver | None:
        """The sink that takes the next batch (None when every sink is cooling down)."""
        return self._live[0][1] if self._live else None

    def _now_ms(self) -> float:
        return self.clock() * 1000.0

    def _push_failed(self, item: _Failed) -> None:
        self._seq += 1
        heapq.heappush(self._failed, (item.refresh, self._seq, item))

    def process(self) -> Status:
        failed = self._failed
        now = self._now_ms()
        # Retry failed sinks whose cool-down is over (Flume: strictly before now).
        while failed and failed[0][0] < now:
            cur = heapq.heappop(failed)[2]
            try:
                status = cur.driver.drive()
            except Exception as exc:
                cur.failures += 1
                penalty = _penalty_ms(cur.failures, self.max_penalty_ms)
                cur.refresh = self._now_ms() + penalty
                self._push_failed(cur)
                log.warning(
                    "sink group '%s': sink '%s' failed again (%s); next try in %.1f s",
                    self.name,
                    cur.driver.name,
                    exc,
                    penalty / 1000,
                )
                continue
            if status is Status.READY:
                self._live.append((cur.priority, cur.driver))
                self._live.sort(key=lambda pd: -pd[0])
                log.info("sink group '%s': sink '%s' delivers again; back in the group", self.name, cur.driver.name)
            else:  # nothing to take: no evidence either way, not penalized
                self._push_failed(cur)
            return status
        errors: list[tuple[str, BaseException]] = []
        live = self._live
        while live:
            prio, driver = live[0]
            try:
                return driver.drive()
            except Exception as exc:
                errors.append((driver.name, exc))
                live.pop(0)
                penalty = _penalty_ms(1, self.max_penalty_ms)
                self._push_failed(_Failed(prio, driver, 1, self._now_ms() + penalty))
                nxt = f"failing over to '{live[0][1].name}'" if live else "no sink left to fail over to"
                log.warning(
                    "sink group '%s': sink '%s' failed (%s); %s; it is retried in %.1f s",
                    self.name,
                    driver.name,
                    exc,
                    nxt,
                    penalty / 1000,
                )
        soonest = (failed[0][0] - self._now_ms()) / 1000 if failed else 0.0
        raise _group_failure(
            self.name, errors, f"nothing left to fail over to; the next sink is retried in {max(0.0, soonest):.1f} s"
        )


# -- load_balance ---------------------------------------------------------------------------


class _BackoffState:
    __slots__ = ("last_fail", "restore", "sequential")

    def __init__(self) -> None:
        self.last_fail: float | None = None
        self.restore = 0.0
        self.sequential = 0


_SEQUENTIAL_RANGE_MS = 2000
"""Flume's OrderSelector: a failure within (last backoff + 2 s) of the previous one counts
as 'in a row' and doubles the backoff; a later one starts again at 2 s."""
_BACKOFF_COUNTER_LIMIT = 16


class LoadBalancingSinkProcessor(SinkProcessor):
    """Spreads batches over the group's sinks (``selector``: ``round_robin`` or
    ``random``); a sink that fails is passed over for the next one in the same call. With
    ``backoff = true`` a failed sink is left out for 2 s, doubling per failure in a row, at
    most ``selector.maxTimeOut`` ms. Raises SinkFailure when every sink failed (or, with
    backoff, every sink is left out)."""

    type_name = "load_balance"
    aliases = ("org.apache.flume.sink.LoadBalancingSinkProcessor",)
    summary = "Spread batches over several sinks, round robin or at random"
    settings_schema = Schema(
        Setting("backoff", "bool", False, "leave failed sinks out for an exponentially growing time"),
        Setting("selector", "enum", "round_robin", "order sinks are tried in", choices=("round_robin", "random")),
        Setting("selector.maxTimeOut", "int", 30000, "longest time a failed sink is left out, ms", minimum=0),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.backoff: bool = settings["backoff"]
        self.policy: str = settings["selector"]
        self.max_timeout_ms: int = settings["selector.maxTimeOut"]
        self.clock: Callable[[], float] = time.monotonic
        self.shuffle: Callable[[list[SinkDriver]], None] = random.shuffle
        self._states: list[_BackoffState] = []
        self._next_head = 0
        self._failing: set[str] = set()

    def bind(self, drivers: list[SinkDriver]) -> None:
        if not drivers:
            raise ConfigError(f"sink group '{self.name}': load_balance needs at least one sink")
        super().bind(drivers)
        self._states = [_BackoffState() for _ in drivers]
        self._next_head = 0

    def _now_ms(self) -> float:
        return self.clock() * 1000.0

    def order(self) -> list[int]:
        """Indexes of the sinks to try for the next batch, in order (Flume's
        RoundRobinOrderSelector / RandomOrderSelector)."""
        if self.backoff:
            now = self._now_ms()
            active = [i for i, s in enumerate(self._states) if s.restore < now]
        else:
            active = list(range(len(self._states)))
        size = len(active)
        if not size:
            return []
        if self.policy == "random":
            picked = [self.drivers[i] for i in active]
            self.shuffle(picked)
            index = {id(d): i for i, d in enumerate(self.drivers)}
            return [index[id(d)] for d in picked]
        if self._next_head >= size:
            self._next_head = 0
        begin = self._next_head
        self._next_head = (begin + 1) % size
        return [active[(begin + k) % size] for k in range(size)]

    def _inform_failure(self, i: int) -> float:
        """Record a failure of sink ``i``; returns its backoff in ms (0 without backoff)."""
        if not self.backoff:
            return 0.0
        state = self._states[i]
        now = self._now_ms()
        last_length = _penalty_ms(state.sequential, self.max_timeout_ms)
        if state.last_fail is not None and now - state.last_fail < last_length + _SEQUENTIAL_RANGE_MS:
            if state.sequential < _BACKOFF_COUNTER_LIMIT:
                state.sequential += 1
        else:
            state.sequential = 1
        state.last_fail = now
        length = _penalty_ms(state.sequential, self.max_timeout_ms)
        state.restore = now + length
        return float(length)

    def process(self) -> Status:
        drivers = self.drivers
        errors: list[tuple[str, BaseException]] = []
        for i in self.order():
            driver = drivers[i]
            try:
                status = driver.drive()
            except Exception as exc:
                errors.append((driver.name, exc))
                length = self._inform_failure(i)
                if driver.name not in self._failing:  # log state changes, not every failure
                    self._failing.add(driver.name)
                    left_out = f"; left out for {length / 1000:.1f} s" if length else ""
                    log.warning(
                        "sink group '%s': sink '%s' failed (%s); trying the next sink%s",
                        self.name,
                        driver.name,
                        exc,
                        left_out,
                    )
                continue
            if self._failing and driver.name in self._failing:
                self._failing.discard(driver.name)
                log.info("sink group '%s': sink '%s' delivers again", self.name, driver.name)
            return status
        extra = "all sinks are backing off (processor.backoff = true)" if self.backoff and not errors else ""
        raise _group_failure(self.name, errors, extra)


COMPONENTS: list[type[SinkProcessor]] = [
    DefaultSinkProcessor,
    FailoverSinkProcessor,
    LoadBalancingSinkProcessor,
]
