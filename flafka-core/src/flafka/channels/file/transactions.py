"""The file channel's put and take transactions: a put commit writes one put record and
waits for the group-commit sync; a take splits queued chunks, reads evicted events back
from the log, and its commit writes one take record and waits the same way."""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from flafka.ack import AckToken
from flafka.batch import AnyBatch, concat
from flafka.channel import PutTransaction, TakeTransaction
from flafka.channels.file import records
from flafka.channels.file.log import Ticket
from flafka.errors import ChannelError, ChannelFullError

if TYPE_CHECKING:
    from flafka.channels.file.channel import Chunk, FileChannel

TAKE_RECORD_BYTES = len(records.frame_header(records.TAKE, b"")) + len(records.encode_take([(0, 0, 0)]))
"""Size of a take record of one run: what a take needs beyond ``minimumRequiredSpace``."""


def _write_error(ch: FileChannel, exc: OSError, what: str) -> ChannelError:
    ch.counter.unhealthy = True  # until the next commit that reaches the disk
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ChannelFullError(
            f"channel '{ch.name}': no space left on the device of {', '.join(ch.data_dirs)} while writing a {what}; "
            f"it is rolled back and retried, and writing resumes once space is freed"
        )
    return ChannelError(f"channel '{ch.name}': writing a {what} to the log failed ({exc}); it is rolled back and retried")


def _idle(ch: FileChannel) -> None:
    """This transaction no longer holds events it may commit (call with the lock held)."""
    ch._active -= 1
    if not ch._active:
        ch._cond.notify_all()  # a lingering log writer stops waiting


class FilePut(PutTransaction):
    __slots__ = ("_active", "_batches", "_ch", "_count", "_open")

    def __init__(self, channel: FileChannel) -> None:
        self._ch = channel
        self._batches: list[tuple[AnyBatch, AckToken | None]] = []
        self._count = 0
        self._open = True
        self._active = False

    def put(self, events: AnyBatch, token: AckToken | None = None) -> None:
        ch = self._ch
        n = len(events)
        if self._count + n > ch.tx_capacity:
            raise ChannelError(
                f"Put queue for FileBackedTransaction of capacity {ch.tx_capacity} full in channel '{ch.name}': "
                f"a transaction put {self._count + n} events; raise transactionCapacity or lower the source's batchSize"
            )
        if n:
            self._batches.append((events, token))
            self._count += n
            if not self._active:
                self._active = True
                with ch._lock:  # the log writer may wait for this commit to share a sync
                    ch._active += 1

    def commit(self) -> None:
        if not self._open:
            return
        self._open = False
        ch = self._ch
        n = self._count
        if not n:
            return
        try:
            self._commit(ch, n)
        finally:
            if self._active:
                with ch._lock:
                    self._active = False
                    _idle(ch)
            # durable: once written the channel replays them -> pay now; on failure the
            # copies never get delivered from here -> pay too (the processor abandons the token)
            for events, token in self._batches:
                if token is not None:
                    token.pay(len(events))
            self._batches = []

    def _commit(self, ch: FileChannel, n: int) -> None:
        writer = ch._require_open()
        batches = self._batches
        events = batches[0][0] if len(batches) == 1 else concat([b for b, _ in batches])
        counter = ch.counter
        blob = records.encode_events(events)
        crc = records.events_crc(blob)
        ch._check_space(len(blob))
        deadline = None
        with ch._lock:
            counter.event_put_attempt_count += n
            while ch._used + n > ch.capacity:
                if deadline is None:
                    deadline = time.monotonic() + ch.keep_alive
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChannelFullError(
                        f"Space for commit to queue couldn't be acquired in channel '{ch.name}' (capacity {ch.capacity}, "
                        f"{ch._used} in use): sinks are not keeping up with sources, or capacity is too small; the source "
                        f"keeps the batch and retries"
                    )
                ch._not_full.wait(remaining)
            ch._used += n
            seq = ch._next_seq
            ch._next_seq = seq + n
            ticket = Ticket(records.PUT, records.put_frame(crc, blob, records.put_tail(seq, n)), (seq, n, events))
            self._active = False
            _idle(ch)
            writer.submit(ticket)
            try:
                writer.wait(ticket)
            except OSError as exc:
                ch._used -= n
                ch._not_full.notify_all()
                counter.event_put_error_count += 1
                raise _write_error(ch, exc, "put") from None
            counter.event_put_success_count += n
            counter.unhealthy = False

    def rollback(self) -> None:
        if self._active:
            with self._ch._lock:
                self._active = False
                _idle(self._ch)
        if self._open:
            self._open = False
            for events, token in self._batches:
                if token is not None:
                    token.pay(len(events))
            self._batches = []


class FileTake(TakeTransaction):
    __slots__ = ("_active", "_ch", "_count", "_taken")

    def __init__(self, channel: FileChannel) -> None:
        self._ch = channel
        self._taken: list[Chunk] = []
        self._count = 0
        self._active = False

    def take(self, max_events: int) -> AnyBatch:
        ch = self._ch
        room = min(max_events, ch.tx_capacity - self._count)
        if room <= 0:
            if max_events > 0:
                raise ChannelError(
                    f"Take list for FileBackedTransaction of capacity {ch.tx_capacity} full in channel '{ch.name}': "
                    f"lower the sink's batch size or raise transactionCapacity"
                )
            return []
        ch._require_open()
        if ch._queue:  # Flume checks the space for a take record before each take
            ch._check_space(TAKE_RECORD_BYTES, "take")
        got = 0
        parts: list[Chunk] = []
        with ch._lock:
            queue = ch._queue
            while queue and got < room:
                chunk = queue[0]
                want = room - got
                count = chunk[3]
                if count <= want:
                    queue.popleft()
                    part = chunk
                    ch._cached -= chunk[4]
                else:
                    events = chunk[0]
                    share = chunk[4] * want // count if events is not None else 0
                    part = [events[:want] if events is not None else None, chunk[1], chunk[2], want, share]
                    if events is not None:
                        chunk[0] = events[want:]
                    chunk[2] += want
                    chunk[3] = count - want
                    chunk[4] -= share
                    ch._cached -= share
                parts.append(part)
                got += part[3]
            ch._stored -= got
            if got and not self._active:
                self._active = True
                ch._active += 1
            counter = ch.counter
            counter.event_take_attempt_count += got or 1
            counter.event_take_success_count += got
        if not got:
            return []
        self._taken += parts
        self._count += got
        for part in parts:
            if part[0] is None:
                part[0] = ch._load(part[1], part[2], part[3])
        return concat([part[0] for part in parts])

    def commit(self) -> None:
        ch = self._ch
        n = self._count
        if not n:
            return
        writer = ch._require_open()
        runs = [(p[1].seq, p[2], p[3]) for p in self._taken]
        payload = records.encode_take(runs)
        work = [(p[1], p[2], p[3]) for p in self._taken]
        header = records.frame_header(records.TAKE, payload)
        try:
            ch._check_space(len(header) + len(payload), "take commit")
        except ChannelError:
            self.rollback()
            raise
        ticket = Ticket(records.TAKE, [header, payload], work)
        with ch._lock:
            if self._active:
                self._active = False
                _idle(ch)
            writer.submit(ticket)
            try:
                writer.wait(ticket)
            except OSError as exc:
                ch.counter.event_take_error_count += 1
                self._return_to_queue(ch)
                raise _write_error(ch, exc, "take") from None
        self._taken = []
        self._count = 0

    def rollback(self) -> None:
        ch = self._ch
        if not self._count:
            return
        with ch._lock:
            if self._active:
                self._active = False
                _idle(ch)
            self._return_to_queue(ch)

    def _return_to_queue(self, ch: FileChannel) -> None:
        """Put the taken events back at the head, in order (call with the lock held)."""
        ch._queue.extendleft(reversed(self._taken))
        ch._cached += sum(p[4] for p in self._taken)
        ch._stored += self._count
        ch._not_empty.notify()
        self._taken = []
        self._count = 0
