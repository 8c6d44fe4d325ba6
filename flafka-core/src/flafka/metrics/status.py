"""The agent's periodic status line: one line per source, channel and sink with events
in and out per second since the previous report, channel fill, and new retries/errors.

``flafka agent`` logs these every ``flafka.status.interval`` seconds (default 30; 0 turns
them off). Reading counters costs nothing on the data path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flafka.metrics.counters import FLOWS, FLUME_ERRORS, Counter

DEFAULT_INTERVAL = 30.0


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s" if per_second >= 100 else f"{per_second:,.1f}/s"


def _errors(snapshot: dict[str, int | float], counter: Counter) -> float:
    return sum(snapshot.get(attr, 0) for attr in FLUME_ERRORS) + sum(getattr(counter, "errors", {}).values())


class StatusReporter:
    """Turns counter snapshots into status lines. :meth:`lines` reports rates since the
    previous call (or since construction); a counter that was replaced (reload) or reset
    counts from zero."""

    def __init__(self, counters: Callable[[], Iterable[Counter]], clock: Callable[[], float] = time.monotonic) -> None:
        self._counters = counters
        self._clock = clock
        self._last_time = clock()
        self._last: dict[tuple[str, str], tuple[float, float, float, float]] = {}
        for counter in counters():
            self._last[(counter.group, counter.name)] = self._totals(counter, counter.snapshot())

    @staticmethod
    def _totals(counter: Counter, snap: dict[str, int | float]) -> tuple[float, float, float, float]:
        received, sent = FLOWS.get(counter.group, ("", ""))
        return (float(snap.get(received, 0)), float(snap.get(sent, 0)), float(counter.retries), float(_errors(snap, counter)))

    def lines(self) -> list[str]:
        now = self._clock()
        elapsed = max(now - self._last_time, 1e-9)
        self._last_time = now
        out: list[str] = []
        seen: dict[tuple[str, str], tuple[float, float, float, float]] = {}
        for counter in self._counters():
            if counter.group not in FLOWS:
                continue
            snap = counter.snapshot()
            totals = self._totals(counter, snap)
            key = (counter.group, counter.name)
            seen[key] = totals
            before = self._last.get(key, (0.0, 0.0, 0.0, 0.0))
            deltas = [t - b if t >= b else t for t, b in zip(totals, before, strict=True)]
            kind = counter.group.lower()
            kind_type = f" ({counter.component_type})" if counter.component_type else ""
            text = f"{kind} {counter.name}{kind_type}: in {_rate(deltas[0] / elapsed)}, out {_rate(deltas[1] / elapsed)}"
            if counter.group == "CHANNEL":
                size = int(snap.get("ChannelSize", 0))
                capacity = int(snap.get("ChannelCapacity", 0))
                text += f", size {size:,}/{capacity:,} ({size * 100.0 / capacity:.1f}% full)" if capacity else f", size {size:,}"
            if deltas[2]:
                text += f", {int(deltas[2]):,} retries"
            if deltas[3]:
                text += f", {int(deltas[3]):,} errors"
            out.append(text)
        self._last = seen
        return out
