"""The Kafka channel's offset commits without a broker (a fake consumer that records every
commit and answers asynchronous ones when the test says so, inside its poll, as librdkafka
does): a take commit never waits for the broker, one commit is in flight per taker, what
takes deliver meanwhile goes with the next one, a failed commit is sent again, and a
revocation or a stop commits every delivered offset synchronously — those still in flight
too. Only delivered offsets are ever committed."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from flafka.testing import make
from flafka_kafka.channel import KafkaChannel
from flafka_kafka.taker import COMMIT_INTERVAL


class Msg:
    """A consumed record, as confluent_kafka.Message answers (``err``: an error record)."""

    def __init__(self, partition: int, offset: int, err: Any = None) -> None:
        self._p, self._o, self._err = partition, offset, err

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return b"%d-%d" % (self._p, self._o)

    def error(self) -> Any:
        return self._err


class Consumer:
    """Records commits; serves rebalances and commit answers inside poll/consume."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.on_commit = conf["on_commit"]
        self.records: deque[Msg] = deque()
        self.commits: list[tuple[dict[tuple[str, int], int], bool]] = []
        self.unanswered: list[list[TopicPartition]] = []
        self.served: deque[Any] = deque()
        self.fail_sync = False
        self.assignment_: list[TopicPartition] = []

    def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.on_assign, self.on_revoke, self.on_lost = on_assign, on_revoke, on_lost
        self.served.append(lambda: self._assign([TopicPartition("t", 0), TopicPartition("t", 1)]))

    def _assign(self, tps: list[TopicPartition]) -> None:
        self.assignment_ += tps
        self.on_assign(self, tps)

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> Any:
        self.commits.append(({(o.topic, o.partition): o.offset for o in offsets}, asynchronous))
        if asynchronous:
            self.unanswered.append(offsets)
            return None
        if self.fail_sync:
            raise KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT))
        return offsets

    def answer(self, code: int | None = None) -> None:
        """The oldest asynchronous commit's answer, served at the next poll."""
        offsets = self.unanswered.pop(0)
        err = None if code is None else KafkaError(code)
        self.served.append(lambda: self.on_commit(err, offsets))

    def _serve(self) -> None:
        while self.served:
            self.served.popleft()()

    def poll(self, timeout: float) -> Msg | None:
        self._serve()
        return self.records.popleft() if self.records else None

    def consume(self, n: int, timeout: float) -> list[Msg]:
        self._serve()
        return [self.records.popleft() for _ in range(min(n, len(self.records)))]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return tps

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = True) -> tuple[int, int]:
        return (0, -1)

    def assignment(self) -> list[TopicPartition]:
        return self.assignment_

    def unsubscribe(self) -> None:
        gone, self.assignment_ = self.assignment_, []
        self.served.append(lambda: self.on_revoke(self, gone))

    def close(self) -> None:
        pass


@pytest.fixture
def channel() -> Any:
    """A channel whose taker (this thread's) has its fake consumer, assigned t[0,1]."""
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "127.0.0.1:1", "parseAsFlumeEvent": "false", "kafka.pollTimeout": "0"})
    made: list[Consumer] = []
    ch.consumer_factory = lambda conf: made.append(Consumer(conf)) or made[-1]
    ch._ensure_consumer(ch._taker(), 1.0)
    assert len(made) == 1 and ch._taker().assigned == {("t", 0), ("t", 1)}
    ch.made = made  # type: ignore[attr-defined]
    return ch


def _take(ch: Any, n: int, *records: Msg) -> list[bytes]:
    """Feed ``records`` to the consumer, take ``n`` in one transaction, commit it."""
    ch.made[0].records.extend(records)
    tx = ch.take_transaction()
    got = list(tx.take(n))
    tx.commit()
    return [e.body for e in got]


def test_a_take_commit_sends_one_asynchronous_commit_and_never_waits(channel: Any) -> None:
    assert _take(channel, 10, Msg(0, 0), Msg(1, 0), Msg(0, 1)) == [b"0-0", b"1-0", b"0-1"]
    consumer = channel.made[0]
    assert consumer.commits == [({("t", 0): 2, ("t", 1): 1}, True)]
    assert channel._taker().in_flight == {("t", 0): 2, ("t", 1): 1}
    assert channel._taker().delivered() == {("t", 0): 2, ("t", 1): 1}  # what is_empty counts as taken


def test_a_commit_goes_at_most_every_commit_interval_while_records_flow(channel: Any) -> None:
    _take(channel, 1, Msg(0, 0), Msg(0, 1), Msg(0, 2))  # full reads: records flow
    consumer = channel.made[0]
    consumer.answer()
    _take(channel, 1)
    assert len(consumer.commits) == 1 and channel._taker().uncommitted == {("t", 0): 2}
    channel._taker()._sent_at -= COMMIT_INTERVAL
    _take(channel, 1)  # its read sends what was queued; its own commit waits behind
    assert consumer.commits[-1] == ({("t", 0): 2}, True) and channel._taker().uncommitted == {("t", 0): 3}


def test_takes_while_a_commit_is_in_flight_go_with_the_next_one(channel: Any) -> None:
    _take(channel, 10, Msg(0, 0))
    consumer = channel.made[0]
    _take(channel, 10, Msg(0, 1), Msg(1, 0))
    _take(channel, 10, Msg(0, 2))
    assert len(consumer.commits) == 1  # still in flight: nothing else sent
    assert channel._taker().uncommitted == {("t", 0): 3, ("t", 1): 1}
    consumer.answer()
    assert _take(channel, 10) == []  # an empty take polls: the answer, then the next commit
    assert consumer.commits[1] == ({("t", 0): 3, ("t", 1): 1}, True)
    consumer.answer()
    _take(channel, 10)
    taker = channel._taker()
    assert not taker.committing and taker._confirmed == {("t", 0): 3, ("t", 1): 1}


def test_a_failed_commit_is_sent_again(channel: Any) -> None:
    _take(channel, 10, Msg(0, 0), Msg(0, 1))
    consumer = channel.made[0]
    consumer.answer(KafkaError.REQUEST_TIMED_OUT)
    assert _take(channel, 10) == []  # serves the failure; a read that finds nothing sends 2 again at once
    assert consumer.commits[-1] == ({("t", 0): 2}, True)
    _take(channel, 10, Msg(0, 2))
    assert channel._taker().uncommitted == {("t", 0): 3}  # behind the one in flight
    assert channel._taker().commit_failures == 1
    consumer.answer()
    assert channel.wait_for_events(0.0) is False  # serves the answer, sends 3
    assert consumer.commits[-1] == ({("t", 0): 3}, True)
    consumer.answer()
    channel.wait_for_events(0.0)
    assert not channel._taker().committing and len(consumer.commits) == 3


def test_a_failure_answered_after_a_later_commit_does_not_go_back(channel: Any) -> None:
    _take(channel, 10, Msg(0, 0))
    consumer = channel.made[0]
    taker = channel._taker()
    taker.commit(consumer)  # a revocation's synchronous commit: covers the one in flight
    assert consumer.commits[-1] == ({("t", 0): 1}, False) and not taker.committing
    consumer.answer(KafkaError.REQUEST_TIMED_OUT)  # the asynchronous one failed after all
    _take(channel, 10)
    assert not taker.committing and len(consumer.commits) == 2


def test_a_revocation_commits_what_is_in_flight_and_forgets_the_partition(channel: Any) -> None:
    _take(channel, 10, Msg(0, 0), Msg(1, 0))
    consumer = channel.made[0]
    _take(channel, 10, Msg(1, 1))  # queued behind the commit in flight
    consumer.served.append(lambda: consumer.on_revoke(consumer, [TopicPartition("t", 1)]))
    consumer.records.extend([Msg(0, 1), Msg(1, 2)])
    tx = channel.take_transaction()
    got = [e.body for e in tx.take(10)]
    assert got == [b"0-1"]  # the revoked partition's record read in the same poll is dropped
    assert consumer.commits[-1] == ({("t", 0): 1, ("t", 1): 2}, False)
    tx.commit()  # queued: the last commit went out less than COMMIT_INTERVAL ago
    assert channel._taker().uncommitted == {("t", 0): 2} and not channel._taker().in_flight
    consumer.answer(KafkaError.REQUEST_TIMED_OUT)  # the first asynchronous commit: partition 1 is gone
    _take(channel, 10)  # an empty read: sends at once
    assert consumer.commits[-1] == ({("t", 0): 2}, True)
    consumer.answer()
    _take(channel, 10)
    assert not channel._taker().committing and channel._taker().assigned == {("t", 0)}


def test_a_clean_stop_commits_every_delivered_offset(channel: Any) -> None:
    channel.start = lambda: None  # no producer needed
    _take(channel, 10, Msg(0, 0), Msg(1, 0))
    _take(channel, 10, Msg(0, 1))
    consumer = channel.made[0]
    channel.stop()
    assert consumer.commits[-1] == ({("t", 0): 2, ("t", 1): 1}, False)


def test_a_failed_synchronous_commit_keeps_the_offsets(channel: Any) -> None:
    _take(channel, 10, Msg(0, 0))
    consumer = channel.made[0]
    consumer.fail_sync = True
    taker = channel._taker()
    taker.commit(consumer)
    assert taker.uncommitted == {("t", 0): 1} and taker.commit_failures == 1
    consumer.fail_sync = False
    taker.commit(consumer)
    assert not taker.committing


def test_an_error_record_is_skipped_and_not_committed(channel: Any) -> None:
    eof = KafkaError(KafkaError._PARTITION_EOF)
    assert _take(channel, 10, Msg(0, 0), Msg(1, 5, eof), Msg(0, 1)) == [b"0-0", b"0-1"]
    assert channel.made[0].commits == [({("t", 0): 2}, True)]


def test_a_rolled_back_take_commits_nothing(channel: Any) -> None:
    consumer = channel.made[0]
    consumer.records.extend([Msg(0, 0), Msg(0, 1)])
    tx = channel.take_transaction()
    assert len(tx.take(10)) == 2
    tx.rollback()
    assert consumer.commits == [] and not channel._taker().committing
    assert _take(channel, 10) == [b"0-0", b"0-1"]
    assert consumer.commits == [({("t", 0): 2}, True)]
