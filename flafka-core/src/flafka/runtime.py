"""Runner threads and the sink driver: the runtime owns retries, backoff and rollback.

* :class:`SinkDriver` moves one batch: take from the sink's channel, ``sink.write``,
  commit only when the destination acknowledged; roll back and raise
  :class:`SinkFailure` otherwise.
* :class:`SinkRunner` is one thread per sink or sink group (as Flume's ``SinkRunner``):
  it asks the group's processor to move batches, waits on the channel when it is empty,
  and backs off (capped, jittered, exponential) after failures.
* :class:`SourceRunner` is one thread per pollable source (Flume's
  ``PollableSourceRunner``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from base64 import b64encode
from collections import deque
from pathlib import Path
from typing import cast

from flafka.batch import AnyBatch, as_events, subset
from flafka.channel import TakeTransaction
from flafka.errors import ChannelError, FlafkaError, PermanentError, RetriableError
from flafka.event import Event
from flafka.sink import BatchOutcome, PendingWrite, Sink
from flafka.sinkprocessor import SinkProcessor
from flafka.source import PollableSource, Status

log = logging.getLogger(__name__)

INLINE_RETRIES = 3
"""After this many retries of a held batch's failed events, the failure is logged."""
HOLD_MAX_BACKOFF = 30.0
"""Cap of the wait between retries of a held batch's failed events (seconds)."""


class SinkFailure(FlafkaError):
    """A sink could not deliver a batch; the batch was rolled back into its channel."""

    def __init__(self, sink: str, error: BaseException, retriable: bool) -> None:
        kind = "retriable" if retriable else "permanent"
        super().__init__(f"sink '{sink}' failed ({kind}): {error}")
        self.sink = sink
        self.error = error
        self.retriable = retriable


class DeadLetterFile:
    """Appends permanently rejected events as JSON lines (``errors.deadletter.directory``)."""

    def __init__(self, directory: str, sink: str) -> None:
        self.path = Path(directory) / f"{sink}.deadletter.jsonl"

    def write(self, events: list[Event], reason: BaseException) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"reason": str(reason), "headers": e.headers, "body_b64": b64encode(e.body).decode()}) for e in events]
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class _Raised(PendingWrite):
    """A batch whose ``send`` raised: ``wait`` raises the same error."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def wait(self) -> BatchOutcome | None:
        raise self.error


class SinkDriver:
    """One sink with its channel. ``drive`` moves at most one batch.

    A sink with ``max_pending_batches`` > 1 on a channel that allows concurrent takes is
    *pipelined*: ``drive`` sends the batch it took and returns, keeping its take
    transaction open, until that many batches are awaiting acknowledgement; then it waits
    for the oldest and commits (or rolls back) that one. Batches are completed in the order
    they were sent. :meth:`settle` completes every open batch (at stop).
    """

    def __init__(self, sink: Sink, dead_letter: DeadLetterFile | None = None) -> None:
        self.sink = sink
        self.name = sink.name
        self.channel = sink.channel
        self.counter = sink.counter
        self.batch_size = sink.batch_size()
        self.dead_letter = dead_letter
        self.stopping = threading.Event()
        self._in_flight: deque[tuple[TakeTransaction, AnyBatch, PendingWrite]] = deque()
        self._depth = 1
        self.hold_partial = True

    @property
    def hold_partial(self) -> bool:
        """Hold a partly delivered batch and retry its failed events until they go
        through. False in a sink group (failover, load_balance): after a few retries the
        batch rolls back so that another sink can take it (and batches are not pipelined)."""
        return self._hold_partial

    @hold_partial.setter
    def hold_partial(self, value: bool) -> None:
        self._hold_partial = value
        pipelined = value and self.channel.concurrent_takes
        self._depth = max(1, int(self.sink.max_pending_batches)) if pipelined else 1

    @property
    def in_flight(self) -> int:
        """Batches sent and not yet committed or rolled back."""
        return len(self._in_flight)

    def drive(self) -> Status:
        """Take up to ``batch_size`` events and send them; once ``max_pending_batches``
        are open (at once, for an ordinary sink), wait for the oldest and commit it.
        Returns BACKOFF when the channel was empty and nothing is in flight. Raises
        SinkFailure after rolling back a batch whose delivery failed. Every take
        transaction it opens, an empty one included, is committed or rolled back."""
        counter = self.counter
        in_flight = self._in_flight
        tx = self.channel.take_transaction()
        try:
            events = tx.take(self.batch_size)
        except Exception as exc:
            tx.rollback()
            counter.channel_read_fail += 1
            raise SinkFailure(self.name, exc, retriable=True)
        if not self.sink.batch_aware and type(events) is not list:
            events = as_events(events)
        n = len(events)
        if n:
            if n < self.batch_size:
                counter.batch_underflow_count += 1
            else:
                counter.batch_complete_count += 1
            counter.event_drain_attempt_count += n
            try:
                pending = self.sink.send(cast("list[Event]", events))  # a Batch only when batch_aware
            except Exception as exc:  # failed at once: complete it (and those before it) now
                in_flight.append((tx, events, _Raised(exc)))
                while in_flight:
                    self._complete_oldest()
                return Status.READY
            in_flight.append((tx, events, pending))
            if len(in_flight) < self._depth:
                return Status.READY
        else:
            # an empty take is still a transaction: close it (a channel may hold a lock or
            # a consumer position for it until commit or rollback; Flume's sinks commit it)
            tx.commit()
            if not in_flight:
                counter.batch_empty_count += 1
                return Status.BACKOFF
        self._complete_oldest()
        return Status.READY

    def settle(self) -> list[SinkFailure]:
        """Complete every batch in flight, oldest first (commit what was delivered, roll
        back what failed). Failures are logged and returned, not raised."""
        failures: list[SinkFailure] = []
        while self._in_flight:
            try:
                self._complete_oldest()
            except SinkFailure as exc:
                log.error("%s", exc)
                failures.append(exc)
        return failures

    def _complete_oldest(self) -> None:
        tx, events, pending = self._in_flight.popleft()
        n = len(events)
        counter = self.counter
        try:
            self._deliver(events, pending)
        except BaseException as exc:
            tx.rollback()
            counter.event_write_fail += n
            if isinstance(exc, SinkFailure):
                raise
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(exc, PermanentError) and self.dead_letter is None:
                exc = PermanentError(
                    f"{exc} — the batch ({n} events) stays in channel '{self.channel.name}'; fix the data or "
                    f"destination, or set errors.deadletter.directory on sink '{self.name}' to set rejected events aside"
                )
            raise SinkFailure(self.name, exc, retriable=not isinstance(exc, PermanentError))
        try:
            tx.commit()
        except ChannelError as exc:  # e.g. a file channel below minimumRequiredSpace: the take is back
            counter.channel_read_fail += 1
            raise SinkFailure(self.name, exc, retriable=True) from exc
        counter.event_drain_success_count += n

    def _deliver(self, events: AnyBatch, first: PendingWrite) -> None:
        """Wait for ``first`` (the batch as sent), then retry until every event is
        delivered (or dead-lettered); raise otherwise.

        Nothing delivered yet: an error is raised at once (the batch rolls back). Once part
        of the batch was delivered, the batch is *held* and only the failed events are
        retried with ``write`` (capped exponential backoff) until they are delivered or
        dead-lettered, or the agent stops — a rollback would deliver the good part again on
        every retry.
        """
        pending = events
        attempt = 0
        while True:
            try:
                outcome = self.sink.write(cast("list[Event]", pending)) if attempt else first.wait()
            except (RetriableError, PermanentError) as exc:
                if pending is events and (isinstance(exc, RetriableError) or self.dead_letter is None):
                    raise
                outcome = BatchOutcome(range(len(pending)), exc, retriable=isinstance(exc, RetriableError))
            if outcome is None:
                return
            failed = subset(pending, outcome.failed)
            if not failed:
                return
            if not outcome.retriable and self.dead_letter is not None:
                self._dead_letter(failed, outcome.error)
                return
            pending = failed
            attempt += 1
            self.counter.retries += 1
            if not self.hold_partial and attempt > INLINE_RETRIES:
                raise RetriableError(
                    f"{len(pending)} of {len(events)} events still failing after {INLINE_RETRIES} retries "
                    f"({outcome.error}); the batch goes back to the channel for another sink of the group"
                )
            if attempt == INLINE_RETRIES or attempt % 50 == 0:
                kind = "retriable" if outcome.retriable else "permanent"
                fix = (
                    "" if outcome.retriable else f"; fix the data or destination, or set errors.deadletter.directory on sink '{self.name}'"
                )
                log.error(
                    "sink '%s': %d of %d events keep failing (%s: %s); the batch is held and only those are retried%s",
                    self.name,
                    len(pending),
                    len(events),
                    kind,
                    outcome.error,
                    fix,
                )
            if self.stopping.wait(min(HOLD_MAX_BACKOFF, 0.05 * (2 ** min(attempt, 20)))):
                raise RetriableError(
                    f"stopped while {len(pending)} of {len(events)} events were still failing ({outcome.error}); "
                    f"the batch goes back to channel '{self.channel.name}'"
                )

    def _dead_letter(self, events: AnyBatch, error: BaseException) -> None:
        assert self.dead_letter is not None
        self.dead_letter.write(as_events(events), error)
        self.counter.discarded += len(events)
        log.error("sink '%s': %d events rejected for good, written to %s: %s", self.name, len(events), self.dead_letter.path, error)


class DefaultSinkProcessor(SinkProcessor):
    """One sink, no failover (used for every sink outside a sink group)."""

    type_name = "default"
    aliases = ("org.apache.flume.sink.DefaultSinkProcessor",)
    summary = "Drive a single sink"

    def process(self) -> Status:
        return self.drivers[0].drive()


class Backoff:
    """Capped exponential backoff with full jitter, in seconds."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class SinkRunner(threading.Thread):
    """Drives one sink processor until stopped."""

    def __init__(self, name: str, processor: SinkProcessor, drivers: list[SinkDriver], max_backoff: float = 5.0) -> None:
        super().__init__(name=f"sink-runner-{name}", daemon=True)
        self.group = name
        self.processor = processor
        self.drivers = drivers
        self._stop_requested = threading.Event()
        self.backoff = Backoff(cap=max_backoff)
        self._last_error = ""
        self.failure: BaseException | None = None

    def request_stop(self) -> None:
        self._stop_requested.set()
        for d in self.drivers:
            d.stopping.set()
            d.channel.wake_waiters()

    def run(self) -> None:
        stop = self._stop_requested
        channels = list({id(d.channel): d.channel for d in self.drivers}.values())
        next_tick = time.monotonic() + 1.0
        while not stop.is_set():
            try:
                status = self.processor.process()
                if self.backoff.failures:
                    log.info("sink '%s' delivers again", self.group)
                    self.backoff.reset()
                    self._last_error = ""
            except SinkFailure as exc:
                self._failed(exc, retriable=exc.retriable)
                status = Status.BACKOFF
            except Exception as exc:  # a bug in a sink: never kill the runner
                log.exception("sink '%s' raised unexpectedly; the batch was rolled back", self.group)
                self._failed(exc, retriable=True)
                status = Status.BACKOFF
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + 1.0
                self._tick()
            if status is Status.BACKOFF and not stop.is_set():
                if len(channels) == 1:
                    channels[0].wait_for_events(min(1.0, max(0.0, next_tick - now)))
                else:
                    stop.wait(0.05)
        for d in self.drivers:
            d.settle()
        self._tick()

    def _tick(self) -> None:
        for d in self.drivers:
            try:
                d.sink.tick()
            except Exception:
                log.exception("sink '%s': tick failed", d.name)

    def _failed(self, exc: BaseException, retriable: bool) -> None:
        if retriable:
            for d in self.drivers:
                d.counter.retries += 1
        delay = self.backoff.next_delay() if retriable else self.backoff.cap
        message = str(exc)
        if message != self._last_error or self.backoff.failures in (1, 10) or self.backoff.failures % 100 == 0:
            log.error("%s — retrying in %.1f s (attempt %d)", message, delay, self.backoff.failures)
            self._last_error = message
        self._stop_requested.wait(delay)


class SourceRunner(threading.Thread):
    """Calls ``source.process()`` until stopped; sleeps ``source.backoff_delay(n)`` after
    the n-th consecutive BACKOFF or failure."""

    def __init__(self, source: PollableSource) -> None:
        super().__init__(name=f"source-runner-{source.name}", daemon=True)
        self.source = source
        self._stop_requested = threading.Event()
        self._last_error = ""

    def request_stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> None:
        source = self.source
        stop = self._stop_requested
        idle = 0
        while not stop.is_set():
            try:
                status = source.process()
            except Exception as exc:
                source.counter.generic_processing_fail += 1
                message = str(exc) or type(exc).__name__
                if message != self._last_error:
                    log.error("source '%s': %s", source.name, message, exc_info=not isinstance(exc, FlafkaError))
                    self._last_error = message
                status = Status.BACKOFF
            if status is Status.READY:
                idle = 0
                continue
            idle += 1
            stop.wait(_bounded_delay(source, idle))


_MAX_SOURCE_DELAY = 3600.0
"""Longest sleep between two polls of a source (threading's wait overflows on huge values)."""


def _bounded_delay(source: PollableSource, attempts: int) -> float:
    """``source.backoff_delay(attempts)`` in ``[0, _MAX_SOURCE_DELAY]`` seconds; a delay a
    source cannot compute (a bug, NaN) is logged once and becomes one second."""
    try:
        delay = float(source.backoff_delay(attempts))
    except Exception:
        log.exception("source '%s': backoff_delay(%d) failed; waiting 1 s", source.name, attempts)
        return 1.0
    if delay != delay:  # NaN
        return 1.0
    return min(max(delay, 0.0), _MAX_SOURCE_DELAY)


__all__ = [
    "Backoff",
    "BatchOutcome",
    "DeadLetterFile",
    "DefaultSinkProcessor",
    "SinkDriver",
    "SinkFailure",
    "SinkRunner",
    "SourceRunner",
]
