"""Sources: pollable (a runner thread calls :meth:`PollableSource.process`) or event
driven (own threads, e.g. a server).

Every source hands its batches to ``self.processor.process_batch(events, token)`` where
``token = self.acks.token(position)``. A replayable source persists a position only when
it comes back from ``self.acks.delivered()``: with acknowledgements on that means every
sink delivered the batch; with ``acknowledgements = false`` it means the channels
committed it (Flume's rule). Either way the source code is the same.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar

from flafka.ack import AckTracker
from flafka.component import Component
from flafka.metrics.counters import SourceCounter
from flafka.settings import Schema, Setting, Settings

if TYPE_CHECKING:
    from flafka.processor import ChannelProcessor


class Status(enum.Enum):
    """What a poll did: READY (call again now) or BACKOFF (nothing to do, sleep)."""

    READY = "READY"
    BACKOFF = "BACKOFF"


class Source(Component):
    """Base of all sources. ``replayable`` sources can re-read what was not acknowledged."""

    kind = "source"
    replayable: ClassVar[bool] = False
    processor: ChannelProcessor
    acks: AckTracker
    counter: SourceCounter

    batch_size_key: ClassVar[str] = "batchSize"

    @classmethod
    def batch_size_from(cls, settings: Settings) -> int:
        """The most events one ``process_batch`` call carries (checked against the
        channels' ``transactionCapacity`` before anything starts)."""
        return int(settings.get(cls.batch_size_key) or 1)

    def batch_size(self) -> int:
        return self.batch_size_from(self.settings)

    def drained(self) -> bool:
        """True when the source has read everything there is and all of it is delivered
        (``flafka agent --exit-when-drained``). Unbounded sources return False."""
        return False


POLLABLE_SETTINGS = Schema(
    Setting("backoffSleepIncrement", "int", 1000, "ms added to the sleep after each empty poll", minimum=0, since="1.7"),
    Setting("maxBackoffSleep", "int", 5000, "cap of the empty-poll sleep, ms", minimum=0, since="1.7"),
)


class PollableSource(Source):
    """A source driven by a runner thread (``seq``, ``spooldir``, Kafka)."""

    def backoff_delay(self, attempts: int) -> float:
        """Seconds to sleep after ``attempts`` consecutive BACKOFF polls or failures:
        ``min(attempts * backoffSleepIncrement, maxBackoffSleep)`` as Flume does. Sources
        with their own cadence (spooldir's ``pollDelay``) override this."""
        inc = self.settings.get("backoffSleepIncrement", 1000)
        cap = self.settings.get("maxBackoffSleep", 5000)
        return min(attempts * inc, cap) / 1000.0

    def process(self) -> Status:
        """Read one batch and pass it to the channel processor. Raise on failure; the
        runner backs off (``backoffSleepIncrement`` up to ``maxBackoffSleep``)."""
        raise NotImplementedError


class EventDrivenSource(Source):
    """A source that runs its own threads between ``start`` and ``stop``."""
