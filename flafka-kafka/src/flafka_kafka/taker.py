"""One consumer of a Kafka channel, owned by one taking thread (a sink runner).

Flume's KafkaChannel gives every thread that takes its own consumer in the channel's
group (a ``ThreadLocal``); so does flafka: N sinks on one Kafka channel take in parallel,
each from the partitions the group assigned to its consumer. A :class:`Taker` holds that
consumer, the records it read and not yet taken (its read buffer), the partitions it owns
and the offsets its committed takes may commit. Only its thread reads and takes; ``lock``
is held by a take transaction from its first non-empty take to its end, so that the
channel's ``stop`` (another thread) waits for it.

Offsets: a committed take queues the offsets it delivered (``uncommitted``) and sends them
in an asynchronous commit, one commit in flight per taker at a time and, while records
flow, at most one every COMMIT_INTERVAL; what later takes deliver meanwhile goes out with
the next one, sent once the answer came (librdkafka serves it inside the consumer's poll,
i.e. at the next take or wait for records) — at once when a read finds no record. A take
never waits for the broker's round trip, and the commit rate follows that round trip (or
the interval) instead of the take rate. A failed commit puts its offsets back into
``uncommitted`` (unless a later one covers them). Only delivered offsets are ever sent, so
a crash (SIGKILL) loses nothing: the group's committed offsets trail what was delivered
by at most the takes since the last commit that reached the broker, and those are read
again (duplicates, never loss). A revocation and a clean stop commit every delivered
offset synchronously — those of the commit still in flight too.

Rebalances (cooperative: incremental) run inside the consumer's poll, on the owning
thread: a revocation first commits what committed takes delivered, then drops the revoked
partitions' buffered records and bumps their generation, so a take still open on them
never commits their offsets — their new owner reads them again from the committed offset
(duplicates, never loss).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flafka.batch import HeaderMap

log = logging.getLogger("flafka_kafka.channel")

TP = tuple[str, int]
WAIT_LOG_EVERY = 10.0
"""Seconds between two "waiting for partition assignment" lines of one taker."""
MAX_REJOINS = 3
REJOIN_WINDOW = 60.0
"""A fenced static member is replaced by a new consumer at most MAX_REJOINS times per
REJOIN_WINDOW seconds (as the Kafka source does): more means another consumer has the
same ``group.instance.id``."""
COMMIT_INTERVAL = 0.02
"""Seconds between two asynchronous commits sent by take commits while records flow (the
offsets of the takes in between go together); a take or wait that finds no record sends
at once."""
BACKLOG_EVERY = 0.1
"""Seconds between two backlog refreshes while reads find records."""
RESEND_AFTER = 30.0
"""Seconds an asynchronous commit may stay unanswered before the next take commit sends
its offsets again (with whatever was delivered since)."""


def _kafka() -> Any:
    import confluent_kafka

    return confluent_kafka


class Taker:
    """The consumer of one taking thread, created and subscribed on first use."""

    def __init__(self, channel_name: str, topic: str, index: int, group: str, thread: threading.Thread) -> None:
        self.name = channel_name if index == 1 else f"{channel_name}#{index}"
        """For log lines: the channel's name, ``#n`` for its n-th taker past the first."""
        self.topic = topic
        self.index = index
        self.group = group
        self.thread = thread
        self.consumer: Any = None
        self.lock = threading.RLock()
        self.buffer: deque[Any] = deque()
        """Records read, not yet taken (a rollback puts its records back at the head)."""
        self.assigned: set[TP] = set()
        self.generation: dict[TP, int] = {}
        self.uncommitted: dict[TP, int] = {}
        """Delivered offsets (next offset to read, per partition) not sent in a commit yet,
        or sent in one that failed."""
        self.in_flight: dict[TP, int] = {}
        """Offsets of the asynchronous commit sent and not answered yet."""
        self._sent_at = 0.0
        self._confirmed: dict[TP, int] = {}
        """Per partition: the highest offset a commit was confirmed for."""
        self.backlog = 0
        self._backlog_at = 0.0
        self.commit_failures = 0
        self.revocations = 0
        """Bumped whenever partitions are taken away (revoked, lost, fenced): a read that
        sees it change drops the records of partitions no longer owned."""
        self.fatal: str | None = None
        self.fenced = False
        """``fatal`` is the group fencing this static member (its session expired while a
        broker was away, or another consumer has its ``group.instance.id``)."""
        self._rejoins: list[float] = []
        self._joined = False
        self._since = time.monotonic()
        self._last_wait_log = time.monotonic()

    # -- the consumer ------------------------------------------------------------------------

    def open(self, factory: Callable[[dict[str, Any]], Any], conf: dict[str, Any]) -> Any:
        """Create the consumer and subscribe it to the channel's topic."""
        consumer = factory({**conf, "on_commit": self.on_commit})
        consumer.subscribe([self.topic], on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost)
        self.consumer = consumer
        self._since = self._last_wait_log = time.monotonic()
        return consumer

    def close(self, leave: Callable[[Any, str], None]) -> None:
        """Commit what committed takes delivered, leave the group, close. Call with
        ``lock`` held (or when the owning thread is gone)."""
        consumer, self.consumer = self.consumer, None
        if consumer is None:
            return
        try:
            self.commit(consumer)
        except Exception:
            pass
        leave(consumer, f"channel '{self.name}'")
        try:
            consumer.close()
        except Exception:
            log.exception("channel '%s': closing the consumer failed", self.name)
        self.buffer.clear()

    def may_rejoin(self) -> bool:
        """Fenced, and fewer than MAX_REJOINS replacements in the last REJOIN_WINDOW s."""
        now = time.monotonic()
        return self.fenced and len([t for t in self._rejoins if now - t < REJOIN_WINDOW]) < MAX_REJOINS

    def drop_fenced(self) -> None:
        """Close the fenced consumer (its partitions count as lost: takes still open on
        them never commit) so that the next take makes a new one."""
        now = time.monotonic()
        self._rejoins = [t for t in self._rejoins if now - t < REJOIN_WINDOW] + [now]
        log.warning(
            "channel '%s': the group fenced this consumer (%s); a new one joins (rejoin %d of at most %d per %.0f s)",
            self.name,
            self.fatal,
            len(self._rejoins),
            MAX_REJOINS,
            REJOIN_WINDOW,
        )
        consumer, self.consumer = self.consumer, None
        self.on_lost(consumer, [_Gone(t, p) for t, p in self.assigned])
        self.uncommitted.clear()
        self.in_flight.clear()
        self.fatal = None
        self.fenced = False
        self._joined = False
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                pass

    def waiting(self) -> None:
        """Called while the consumer owns no partition: says so every WAIT_LOG_EVERY s."""
        now = time.monotonic()
        if now - self._last_wait_log < WAIT_LOG_EVERY:
            return
        self._last_wait_log = now
        if self._joined:
            log.info(
                "channel '%s': group '%s' gives this taker no partition of '%s' (%.0f s so far): the group has at least as many "
                "consumers as the topic has partitions; more sinks than partitions take nothing",
                self.name,
                self.group,
                self.topic,
                now - self._since,
            )
        else:
            log.warning(
                "channel '%s': waiting for partition assignment of group '%s' (%.0f s so far): the group coordinator waits for "
                "every member to rejoin; a member killed without leaving counts until its session times out (session.timeout.ms)",
                self.name,
                self.group,
                now - self._since,
            )

    # -- rebalance callbacks (inside the consumer's poll, on the owning thread) --------------

    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            self.assigned.add((tp.topic, tp.partition))
        if partitions or not self._joined:
            log.info(
                "channel '%s': group '%s' assigned %s%s; it takes from %d partitions",
                self.name,
                self.group,
                describe(partitions) or "no partition",
                f" after {time.monotonic() - self._since:.1f} s" if not self._joined else "",
                len(self.assigned),
            )
        self._joined = True
        if not self.assigned:
            self._since = self._last_wait_log = time.monotonic()

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        try:
            self.commit(consumer)
        except Exception as exc:
            log.warning("channel '%s': committing before a rebalance failed (%s); those records may be taken again", self.name, exc)
        self.on_lost(consumer, partitions)
        if partitions:
            log.info("channel '%s': rebalance revoked %s; it takes from %d partitions", self.name, describe(partitions), len(self.assigned))

    def on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        if not gone:
            return
        self.revocations += 1
        for tp in gone:
            self.assigned.discard(tp)
            self.generation[tp] = self.generation.get(tp, 0) + 1
            self.uncommitted.pop(tp, None)
            self.in_flight.pop(tp, None)
        self.buffer = deque(m for m in self.buffer if (m.topic(), m.partition()) not in gone)
        if not self.assigned:
            self._since = self._last_wait_log = time.monotonic()

    # -- offsets -----------------------------------------------------------------------------

    def committed_take(self, taken: dict[TP, tuple[int, int, int]]) -> None:
        """A take transaction committed ``taken`` (tp -> (first, next, generation)):
        queue the offsets of partitions still owned in the same generation, and send them
        unless a commit is in flight (then they go with the next one)."""
        pending = self.uncommitted
        generation = self.generation
        for tp, (_first, nxt, gen) in taken.items():
            if gen == generation.get(tp, 0) and nxt > pending.get(tp, -1):
                pending[tp] = nxt
        if self.consumer is not None:
            self.commit_async(self.consumer)

    def commit_async(self, consumer: Any, idle: bool = False) -> None:
        """Send ``uncommitted`` in an asynchronous commit, unless one is in flight and was
        sent less than RESEND_AFTER seconds ago, or (not ``idle``: records flow) the last
        one went less than COMMIT_INTERVAL ago; its answer comes to :meth:`on_commit`."""
        if not self.uncommitted:
            return
        now = time.monotonic()
        since = now - self._sent_at
        if (self.in_flight and since < RESEND_AFTER) or (not idle and since < COMMIT_INTERVAL):
            return
        tp_cls = _kafka().TopicPartition
        offsets = self.uncommitted
        try:
            consumer.commit(offsets=[tp_cls(t, p, o) for (t, p), o in offsets.items()], asynchronous=True)
        except Exception as exc:
            self._failed(str(exc))
            return
        in_flight = self.in_flight
        for tp, offset in offsets.items():
            if offset > in_flight.get(tp, -1):
                in_flight[tp] = offset
        self._sent_at = now
        self.uncommitted = {}

    def on_commit(self, err: Any, partitions: list[Any] | None) -> None:
        """librdkafka's answer to a commit (inside the consumer's poll, on the owning
        thread). A failure puts the offsets back into ``uncommitted`` — for partitions
        still owned, unless a later commit covers them — so the next commit sends them."""
        if err is not None and err.code() == _kafka().KafkaError._NO_OFFSET:
            err = None
        in_flight, confirmed, pending = self.in_flight, self._confirmed, self.uncommitted
        failure: str | None = None
        answered = False
        for p in partitions or ():
            tp = (p.topic, p.partition)
            offset = p.offset
            sent = in_flight.get(tp)
            if sent is not None and sent <= offset:
                del in_flight[tp]
                answered = True
            problem = err if err is not None else p.error
            if problem is None:
                if offset > confirmed.get(tp, -1):
                    confirmed[tp] = offset
                continue
            failure = failure or f"{p.topic}[{p.partition}]: {problem.str()}"
            if tp in self.assigned and offset > confirmed.get(tp, -1) and offset > pending.get(tp, -1) and (sent is None or sent <= offset):
                pending[tp] = offset
        if err is not None and not answered and not partitions:
            # an answer naming no partition: the whole commit in flight failed
            for tp, offset in in_flight.items():
                if tp in self.assigned and offset > pending.get(tp, -1):
                    pending[tp] = offset
            in_flight.clear()
        if failure is None and err is not None:
            failure = err.str()
        if failure is not None:
            self._failed(failure)

    def _failed(self, why: str) -> None:
        self.commit_failures += 1
        if self.commit_failures in (1, 10) or self.commit_failures % 1000 == 0:
            log.warning(
                "channel '%s': committing take offsets failed (%s); retried with the next take commit. "
                "The events were delivered; after a crash they may be delivered again",
                self.name,
                why,
            )

    def commit(self, consumer: Any) -> None:
        """Commit every delivered offset synchronously: ``uncommitted`` and those of a
        commit still in flight (a revocation or leaving the group can cancel it). On
        failure they stay in ``uncommitted`` and go with the next commit (a later commit
        covers earlier offsets). For revocations and stop."""
        pending = self.uncommitted
        for tp, offset in self.in_flight.items():
            if offset > pending.get(tp, -1):
                pending[tp] = offset
        self.in_flight.clear()
        if not pending:
            return
        tp_cls = _kafka().TopicPartition
        offsets = [tp_cls(t, p, o) for (t, p), o in pending.items()]
        try:
            result = consumer.commit(offsets=offsets, asynchronous=False)
            failed = [r for r in (result or []) if getattr(r, "error", None)]
            if failed:
                raise RuntimeError(f"{failed[0].topic}[{failed[0].partition}]: {failed[0].error}")
        except Exception as exc:
            self._failed(str(exc))
            return
        confirmed = self._confirmed
        for tp, offset in pending.items():
            if offset > confirmed.get(tp, -1):
                confirmed[tp] = offset
        self.uncommitted = {}

    @property
    def committing(self) -> bool:
        """Delivered offsets not confirmed committed yet (queued or in flight)."""
        return bool(self.uncommitted or self.in_flight)

    def delivered(self) -> dict[TP, int]:
        """Per partition this taker owns: the offset after the last record its committed
        takes delivered, whether or not its commit was confirmed yet (copies: safe to call
        from another thread)."""
        out = dict(self._confirmed)
        for offsets in (dict(self.in_flight), dict(self.uncommitted)):
            for tp, offset in offsets.items():
                if offset > out.get(tp, -1):
                    out[tp] = offset
        assigned = set(self.assigned)
        return {tp: o for tp, o in out.items() if tp in assigned}

    def refresh_backlog(self, consumer: Any, flowing: bool = False) -> None:
        """Recompute the backlog from the consumer's cached watermarks and positions (no
        network call); at most every BACKLOG_EVERY seconds while records are ``flowing``
        (a read that finds none refreshes it at once)."""
        if flowing:
            now = time.monotonic()
            if now - self._backlog_at < BACKLOG_EVERY:
                return
            self._backlog_at = now
        if not self.assigned:
            self.backlog = 0
            return
        tp_cls = _kafka().TopicPartition
        total = 0
        try:
            for tp in consumer.position([tp_cls(t, p) for t, p in self.assigned]):
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:
                    total += max(0, high - tp.offset)
        except Exception:
            return
        self.backlog = total


class KeyHeaders:
    """A lazy header column (:class:`flafka.batch.HeaderColumn`) over records taken from a
    Kafka channel with ``parseAsFlumeEvent = false``: ``{"key": <record key>}`` for a
    record with a key, None otherwise, built only when ``maps()`` is called (new maps,
    owned by the caller). Slicing (steps too) keeps it lazy."""

    __slots__ = ("records",)

    def __init__(self, records: list[Any]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: slice) -> KeyHeaders:
        return KeyHeaders(self.records[index])

    def maps(self) -> list[HeaderMap | None]:
        return [None if k is None else {"key": key_text(k)} for k in (m.key() for m in self.records)]


def key_text(key: bytes | str) -> str:
    """A record key as Flume's StringDeserializer reads it (UTF-8, bad bytes replaced)."""
    return key if isinstance(key, str) else key.decode("utf-8", "replace")


def offset_ranges(messages: list[Any], topic: str | None = None) -> dict[TP, tuple[int, int]]:
    """Per partition of ``messages`` (never empty, each partition's records in offset
    order, as a consumer returns them and a rollback puts them back): (offset of its
    first record, offset of its last + 1). Scans in C for one topic and a few partitions;
    ``topic``: every record is known to be of that topic (not read from each: a record's
    ``topic()`` is a new string each time)."""
    message: Any = type(messages[0])
    topics = {topic} if topic is not None else set(map(message.topic, messages))
    if len(topics) == 1:
        partitions = list(map(message.partition, messages))
        seen = set(partitions)
        if len(seen) <= 32:
            (topic,) = topics
            n = len(partitions)
            backwards = partitions[::-1]
            return {(topic, p): (messages[partitions.index(p)].offset(), messages[n - 1 - backwards.index(p)].offset() + 1) for p in seen}
    ranges: dict[TP, tuple[int, int]] = {}
    for m in messages:
        tp = (m.topic(), m.partition())
        offset = m.offset()
        seen_range = ranges.get(tp)
        if seen_range is None:
            ranges[tp] = (offset, offset + 1)
        elif offset + 1 > seen_range[1]:
            ranges[tp] = (seen_range[0], offset + 1)
    return ranges


class _Gone:
    """A partition as the rebalance callbacks name it (``.topic``, ``.partition``)."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


def describe(partitions: list[Any]) -> str:
    """``t[0,1,5]`` for a list of TopicPartitions."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}[{','.join(str(p) for p in sorted(ps))}]" for t, ps in sorted(by_topic.items()))


def fatal_message(channel: str, err: Any, fix: str) -> str:
    """The ChannelError text for a consumer error that ends the consumer for good."""
    return f"channel '{channel}': the Kafka consumer failed for good: {err.str()}" + (f". Fix: {fix}" if fix else "")


__all__ = ["KeyHeaders", "Taker", "describe", "fatal_message", "key_text", "offset_ranges"]
