"""Sinks write batches to a destination and report the outcome; the runtime owns the
take transaction, retries, backoff and rollback (DESIGN §2).

``write(events)`` returns ``None`` when every event was delivered (acknowledged by the
destination), returns a :class:`BatchOutcome` naming the events that failed, or raises
:class:`~flafka.errors.RetriableError` / :class:`~flafka.errors.PermanentError` for the
whole batch. A sink never loops on retries itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from flafka.component import Component
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.settings import Settings

if TYPE_CHECKING:
    from flafka.channel import Channel


@dataclass
class BatchOutcome:
    """Some events of a batch failed. ``failed`` are indices into the batch written."""

    failed: Sequence[int]
    error: BaseException
    retriable: bool = True


class Sink(Component):
    """Base of all sinks. ``channel`` and ``counter`` are attached by the agent."""

    kind = "sink"
    channel: Channel
    counter: SinkCounter
    batch_size_key: ClassVar[str] = "batchSize"

    @classmethod
    def batch_size_from(cls, settings: Settings) -> int:
        """Most events taken per transaction (checked against ``transactionCapacity``
        before anything starts)."""
        return int(settings.get(cls.batch_size_key) or 100)

    def batch_size(self) -> int:
        return self.batch_size_from(self.settings)

    def write(self, events: list[Event]) -> BatchOutcome | None:
        """Deliver ``events`` and return only once the destination acknowledged them."""
        raise NotImplementedError

    def tick(self) -> None:
        """Called by the sink's runner thread at least once a second, between batches
        (time-based rolling, idle timeouts). Must not block for long."""
