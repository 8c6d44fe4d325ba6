"""The memory channel (Flume's ``memory``): a bounded in-process queue with transactions.

Events are stored as *chunks* — the batch list a put committed, with its acknowledgement
token — so a put, a take and a rollback cost per batch, not per event. A take splits a
chunk when it needs fewer events than the chunk holds. Capacity is released only when a
take commits (Flume's rule), so a rolled-back take always finds its room again.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from flafka.ack import AckToken
from flafka.batch import AnyBatch, bodies_of, concat
from flafka.channel import PutTransaction, QueuedChannel, TakeTransaction
from flafka.errors import ChannelError, ChannelFullError, ConfigError
from flafka.metrics.counters import ChannelCounter
from flafka.settings import Schema, Setting, Settings

# A chunk: [events, token]; events are consecutive, all of one put of one token.
Chunk = list[Any]


def _default_byte_capacity() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


class MemoryChannel(QueuedChannel):
    """Bounded in-memory channel. Fast; loses its contents on a crash — unless the source
    uses end-to-end acknowledgements (the default for replayable sources), which replay
    what was not delivered."""

    type_name = "memory"
    aliases = ("org.apache.flume.channel.MemoryChannel",)
    recyclable = True
    concurrent_takes = True
    batch_aware = True  # stores what it was given: a column-wise batch stays one
    summary = "Bounded in-memory buffer with put/take transactions"
    settings_schema = Schema(
        Setting("capacity", "int", 100, "most events stored", minimum=1),
        Setting("transactionCapacity", "int", 100, "most events one transaction puts or takes", minimum=1),
        Setting("keep-alive", "int", 3, "seconds a put commit waits for room before failing", minimum=0),
        Setting(
            "byteCapacity",
            "int",
            None,
            "most body bytes stored (headers not counted); unset: bytes are not counted (capacity bounds the channel)",
            minimum=0,
        ),
        Setting("byteCapacityBufferPercentage", "int", 20, "share of byteCapacity kept free for headers", minimum=0, maximum=100),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self._queue: deque[Chunk] = deque()
        self._bytes_used = 0
        self.counter = ChannelCounter(name, self.type_name)
        self.counter.size = self.size
        self.counter.bytes_used = lambda: self._bytes_used if self.count_bytes else None
        self._apply(settings)

    # -- configuration -------------------------------------------------------------------

    def _apply(self, settings: Settings) -> None:
        capacity = int(settings["capacity"])
        tx_capacity = int(settings["transactionCapacity"])
        if tx_capacity > capacity:
            raise ConfigError(
                f"channel '{self.name}': transactionCapacity ({tx_capacity}) is larger than capacity ({capacity}); "
                f"set transactionCapacity <= capacity"
            )
        self.capacity = capacity
        self.tx_capacity = tx_capacity
        self.keep_alive = float(settings["keep-alive"])
        byte_capacity = settings["byteCapacity"]
        counted = byte_capacity is not None
        if getattr(self, "count_bytes", counted) != counted:
            # counting switched on or off by a reload: recount what is stored
            self._bytes_used = sum(_body_bytes(chunk[0]) for chunk in self._queue) if counted else 0
        self.count_bytes = counted
        if byte_capacity is None:
            byte_capacity = _default_byte_capacity()
        elif byte_capacity == 0:
            byte_capacity = 200 * 10**9  # Flume: 0 means an internal ~200 GB limit
        pct = int(settings["byteCapacityBufferPercentage"])
        self.byte_capacity = int(byte_capacity * (100 - pct) / 100)
        self.counter.capacity = capacity
        self.counter.byte_capacity = self.byte_capacity

    def reconfigure(self, settings: object) -> None:
        """Resize on reload; stored events are kept (Flume's recyclable memory channel)."""
        assert isinstance(settings, Settings)
        with self._lock:
            self.settings = settings
            self._apply(settings)
            self._not_full.notify_all()

    @classmethod
    def transaction_capacity_from(cls, settings: Settings) -> int | None:
        return int(settings["transactionCapacity"])

    # -- Channel API ---------------------------------------------------------------------

    def put_transaction(self) -> PutTransaction:
        return _MemoryPut(self)

    def take_transaction(self) -> TakeTransaction:
        return _MemoryTake(self)

    def start(self) -> None:
        self.counter.started()

    def stop(self) -> None:
        self.counter.stopped()
        with self._lock:
            self._not_empty.notify_all()
            self._not_full.notify_all()


def _body_bytes(events: AnyBatch) -> int:
    return sum(map(len, bodies_of(events)))


class _MemoryPut(PutTransaction):
    __slots__ = ("_bytes", "_ch", "_chunks", "_count", "_open")

    def __init__(self, channel: MemoryChannel) -> None:
        self._ch = channel
        self._chunks: list[Chunk] = []
        self._count = 0
        self._bytes = 0
        self._open = True

    def put(self, events: AnyBatch, token: AckToken | None = None) -> None:
        ch = self._ch
        n = len(events)
        if self._count + n > ch.tx_capacity:
            raise ChannelError(
                f"Put queue for MemoryTransaction of capacity {ch.tx_capacity} full in channel '{ch.name}': "
                f"a transaction put {self._count + n} events; raise transactionCapacity or lower the source's batchSize"
            )
        if n:
            self._chunks.append([events, token])
            self._count += n
            if ch.count_bytes:
                self._bytes += _body_bytes(events)

    def commit(self) -> None:
        ch = self._ch
        n = self._count
        self._open = False
        if not n:
            return
        nbytes = self._bytes
        deadline = None
        with ch._lock:
            ch.counter.event_put_attempt_count += n  # under the lock: sources may share the channel
            while ch._used + n > ch.capacity or ch._bytes_used + nbytes > ch.byte_capacity:
                if deadline is None:
                    deadline = time.monotonic() + ch.keep_alive
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._release_tokens()
                    if ch._used + n > ch.capacity:
                        raise ChannelFullError(
                            f"Space for commit to queue couldn't be acquired in channel '{ch.name}' "
                            f"(capacity {ch.capacity}, {ch._used} in use): sinks are not keeping up with sources, "
                            f"or capacity is too small; the source keeps the batch and retries"
                        )
                    raise ChannelFullError(
                        f"Space for commit to queue couldn't be acquired in channel '{ch.name}': byteCapacity "
                        f"({ch.byte_capacity} usable bytes) is exhausted; the source keeps the batch and retries"
                    )
                ch._not_full.wait(remaining)
            ch._queue.extend(self._chunks)
            ch._stored += n
            ch._used += n
            ch._bytes_used += nbytes
            ch._not_empty.notify()
            ch.counter.event_put_success_count += n

    def _release_tokens(self) -> None:
        for events, token in self._chunks:
            if token is not None:
                token.pay(len(events))
        self._chunks = []

    def rollback(self) -> None:
        if self._open:
            self._open = False
            self._release_tokens()


class _MemoryTake(TakeTransaction):
    __slots__ = ("_bytes", "_ch", "_count", "_taken")

    def __init__(self, channel: MemoryChannel) -> None:
        self._ch = channel
        self._taken: list[Chunk] = []
        self._count = 0
        self._bytes = 0

    def take(self, max_events: int) -> AnyBatch:
        ch = self._ch
        room = min(max_events, ch.tx_capacity - self._count)
        if room <= 0:
            if max_events > 0:
                raise ChannelError(
                    f"Take list for MemoryTransaction of capacity {ch.tx_capacity} full in channel '{ch.name}': "
                    f"lower the sink's batch size or raise transactionCapacity"
                )
            return []
        taken = self._taken
        parts: list[AnyBatch] = []
        got = 0
        with ch._lock:
            queue = ch._queue
            while queue and got < room:
                chunk = queue[0]
                events = chunk[0]
                want = room - got
                if len(events) <= want:
                    queue.popleft()
                    part = events
                else:
                    part = events[:want]
                    chunk[0] = events[want:]
                taken.append([part, chunk[1]])
                got += len(part)
                parts.append(part)
            ch._stored -= got
            counter = ch.counter  # under the lock: sinks may share the channel
            counter.event_take_attempt_count += got or 1  # Flume counts one attempt per event taken, or per empty take
            counter.event_take_success_count += got
        if not got:
            return []
        self._count += got
        out = concat(parts)  # never extends a list a chunk (or another channel) holds
        if ch.count_bytes:
            self._bytes += _body_bytes(out)
        return out

    def commit(self) -> None:
        ch = self._ch
        n = self._count
        if not n:
            return
        with ch._lock:
            ch._used -= n
            ch._bytes_used = max(0, ch._bytes_used - self._bytes)
            ch._not_full.notify_all()
        for events, token in self._taken:
            if token is not None:
                token.pay(len(events))
        self._taken = []
        self._count = 0

    def rollback(self) -> None:
        ch = self._ch
        if not self._count:
            return
        with ch._lock:
            ch._queue.extendleft(reversed(self._taken))
            ch._stored += self._count
            ch._not_empty.notify()
        self._taken = []
        self._count = 0
        self._bytes = 0


COMPONENTS = [MemoryChannel]
