"""Sinks write batches to a destination and report the outcome; the runtime owns the
take transaction, retries, backoff and rollback (DESIGN §2).

``write(events)`` returns ``None`` when every event was delivered (acknowledged by the
destination), returns a :class:`BatchOutcome` naming the events that failed, or raises
:class:`~flafka.errors.RetriableError` / :class:`~flafka.errors.PermanentError` for the
whole batch. A sink never loops on retries itself.

A sink whose destination acknowledges asynchronously (Kafka, a file synced by another
thread) may also implement :meth:`Sink.send` and set ``max_pending_batches`` above 1: the
runtime then starts the next batch while earlier ones await their acknowledgements, still
committing each take transaction only once its own :meth:`PendingWrite.wait` reported
every event delivered.
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


class PendingWrite:
    """A batch handed to :meth:`Sink.send`. :meth:`wait` blocks until the destination
    answered for every event and returns what ``write`` would have returned (or raises
    what it would have raised). Called exactly once, in send order, from the sink's thread."""

    __slots__ = ()

    def wait(self) -> BatchOutcome | None:
        raise NotImplementedError


class Written(PendingWrite):
    """A batch whose outcome is already known (the default :meth:`Sink.send`)."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: BatchOutcome | None) -> None:
        self.outcome = outcome

    def wait(self) -> BatchOutcome | None:
        return self.outcome


class Sink(Component):
    """Base of all sinks. ``channel`` and ``counter`` are attached by the agent."""

    kind = "sink"
    channel: Channel
    counter: SinkCounter
    batch_size_key: ClassVar[str] = "batchSize"
    max_pending_batches: ClassVar[int] = 1
    """How many batches :meth:`send` may have awaiting acknowledgement at once (each holds
    its own take transaction, so the channel needs room for them). 1: strictly one batch
    at a time. Sinks in a sink group always run with 1."""

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

    def send(self, events: list[Event]) -> PendingWrite:
        """Start delivering ``events`` and return at once when the destination allows it;
        the runtime calls ``wait()`` on the result before it commits the batch. It may
        call ``send`` again (up to ``max_pending_batches`` open) before that ``wait``.
        A retry of failed events goes through :meth:`write`. Default: :meth:`write` now."""
        return Written(self.write(events))

    def tick(self) -> None:
        """Called by the sink's runner thread at least once a second, between batches
        (time-based rolling, idle timeouts). Must not block for long."""
