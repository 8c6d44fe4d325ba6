"""What a replayable source has left to read, for progress reports
(``flafka agent --exit-when-drained``).

A source that knows its backlog defines ``backlog() -> Backlog``; the progress reporter
calls it from its own thread once a second (never from the data path), so it must be
cheap and thread-safe: read state kept anyway, take the source's lock briefly at most.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backlog:
    """``done`` of ``total`` ``unit``\\ s (``bytes`` or ``events``) since the source started;
    ``total`` is ``done`` plus what is left now, so it grows when input arrives.
    ``detail`` is a short extra (``3/10 files``, ``lag 1,200 over 4 partitions``)."""

    done: int
    total: int
    unit: str = "bytes"
    detail: str = ""

    @property
    def left(self) -> int:
        return max(0, self.total - self.done)
