"""Channels and their transactions (Flume's ``Channel`` / ``Transaction``).

A put transaction collects batches and makes them visible at ``commit``; a take
transaction removes up to N events, and ``commit`` removes them for good (and pays off
their acknowledgement runs) while ``rollback`` returns them to the head of the channel in
order. Both are context managers: clean exit commits, an exception rolls back.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import ClassVar

from flafka.ack import AckToken
from flafka.batch import AnyBatch
from flafka.component import Component
from flafka.event import Event
from flafka.metrics.counters import ChannelCounter
from flafka.settings import Settings


class PutTransaction:
    """Put batches into a channel; nothing is visible to takers before :meth:`commit`."""

    def put(self, events: list[Event], token: AckToken | None = None) -> None:
        """Stage ``events``; ``token`` (if any) is paid when they are delivered. A
        ``batch_aware`` channel may also receive a column-wise :class:`~flafka.batch.Batch`
        (:data:`~flafka.batch.AnyBatch`); others only ever receive a ``list[Event]``."""
        raise NotImplementedError

    def commit(self) -> None:
        """Make the staged events visible. Raises ChannelFullError when there is no room."""
        raise NotImplementedError

    def rollback(self) -> None:
        """Discard the staged events."""
        raise NotImplementedError

    def __enter__(self) -> PutTransaction:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.commit()
        else:
            self.rollback()


class TakeTransaction:
    """Take events from a channel; :meth:`commit` after the destination acknowledged them.

    Lists returned by :meth:`take` are read-only for the caller: they may be shared with
    other channels (replicating selector) or kept for a rollback.
    """

    def take(self, max_events: int) -> AnyBatch:
        """Remove up to ``max_events`` from the head (fewer, or none, if the channel has
        fewer). May be called more than once in one transaction. A ``batch_aware``
        channel may return a column-wise :class:`~flafka.batch.Batch` (a
        ``Sequence[Event]``); :func:`flafka.batch.as_events` makes it a list."""
        raise NotImplementedError

    def commit(self) -> None:
        """The taken events were delivered: forget them and pay their acknowledgements."""
        raise NotImplementedError

    def rollback(self) -> None:
        """Return the taken events to the head of the channel, in order."""
        raise NotImplementedError

    def __enter__(self) -> TakeTransaction:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.commit()
        else:
            self.rollback()


class Channel(Component):
    """A buffer between sources and sinks.

    ``durable`` channels survive a process crash by themselves (file, Kafka): they pay
    acknowledgement tokens at put commit. ``transaction_capacity`` bounds one transaction
    (the agent checks source and sink batch sizes against it).
    """

    kind = "channel"
    durable: ClassVar[bool] = False
    recyclable: ClassVar[bool] = False
    """True when a reload may keep this instance (and its events) if name and type stay."""
    concurrent_takes: ClassVar[bool] = False
    """True when one thread may hold several open take transactions and commit or roll
    them back in any order (lets a sink keep more than one batch awaiting acknowledgement,
    ``Sink.max_pending_batches``)."""
    counter: ChannelCounter

    @classmethod
    def transaction_capacity_from(cls, settings: Settings) -> int | None:
        """The most events one transaction may hold, or None when unbounded."""
        value = settings.get("transactionCapacity")
        return int(value) if value is not None else None

    def put_transaction(self) -> PutTransaction:
        raise NotImplementedError

    def take_transaction(self) -> TakeTransaction:
        raise NotImplementedError

    def size(self) -> int:
        """Events currently stored (committed, not taken)."""
        raise NotImplementedError

    def is_empty(self) -> bool:
        """True when nothing is stored and no take is waiting to commit."""
        return self.size() == 0

    def wait_for_events(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until the channel may have events; True if it has."""
        raise NotImplementedError

    def wake_waiters(self) -> None:
        """Wake every thread blocked in :meth:`wait_for_events` (used when stopping)."""

    def reconfigure(self, settings: object) -> None:
        """Apply new settings on reload, keeping stored events (recyclable channels)."""
        self.settings = settings  # type: ignore[assignment]


class QueuedChannel(Channel):
    """Base of channels whose queue lives in this process under one lock (memory, file).

    It owns the lock and its two conditions and implements :meth:`size`,
    :meth:`is_empty`, :meth:`wait_for_events` and :meth:`wake_waiters` from two counts the
    subclass keeps under ``_lock``: ``_stored`` (committed, not taken) and ``_used``
    (stored plus taken but not yet committed). A subclass notifies ``_not_empty`` when
    ``_stored`` grows and ``_not_full`` when ``_used`` shrinks.
    """

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        """Notified when events become takeable (a put commit, a take rollback)."""
        self._not_full = threading.Condition(self._lock)
        """Notified when room is freed (a take commit, a resize)."""
        self._stored = 0
        self._used = 0

    def size(self) -> int:
        return self._stored

    def is_empty(self) -> bool:
        return self._used == 0

    def wait_for_events(self, timeout: float) -> bool:
        with self._lock:
            if self._stored:
                return True
            self._not_empty.wait(timeout)
            return self._stored > 0

    def wake_waiters(self) -> None:
        with self._lock:
            self._not_empty.notify_all()
