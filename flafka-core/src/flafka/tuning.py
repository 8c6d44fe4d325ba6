"""Process tuning for a running agent: the cyclic garbage collector.

An agent allocates a few objects per event (the event, its body) that live until a sink
delivered them; none of them form reference cycles. With CPython's default collector
thresholds (700, 10, 10) those survivors trigger a young collection every 700 net
allocations and, every so often, a full collection that walks every object in the process
— every module and class loaded at start, and every event held in memory channels. On the
spooldir -> memory -> Kafka pipeline that cost about a quarter of the busiest thread's
time (py-spy, benchmarks/RESULTS.md).

:func:`tune_gc` freezes what start-up built (``gc.freeze``: never scanned again) and raises
the young-generation threshold, so collections run ~70x less often. Memory is unaffected
unless code creates cyclic garbage at a high rate, which the data path does not.
"""

from __future__ import annotations

import gc

DEFAULT_YOUNG_THRESHOLD = 50_000
"""Net container allocations between young collections (CPython's default: 700)."""


def tune_gc(young: int = DEFAULT_YOUNG_THRESHOLD) -> None:
    """Freeze every object alive now and set the young-generation threshold to ``young``
    (older generations keep their defaults). ``young <= 0`` leaves the collector alone."""
    if young <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)


__all__ = ["DEFAULT_YOUNG_THRESHOLD", "tune_gc"]
