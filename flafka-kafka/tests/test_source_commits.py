"""The Kafka source's offset commits when the broker misbehaves, with an in-process fake
consumer (in addition to the real-broker tests in test_integration_*.py): a failed
asynchronous commit is sent again, and while commits fail or go unanswered the source
stops reading once a few batches are handed on past the last successful commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from flafka.testing import make
from flafka_kafka import source as source_module
from flafka_kafka.source import KafkaSource
from flafka_testkit.contracts.harness import SourceHarness, memory_channel

TOPIC = "t"


@dataclass
class Answer:
    """What the fake passes to ``on_commit`` for one partition (librdkafka's TopicPartition)."""

    topic: str
    partition: int
    offset: int
    error: Any = None


class FakeConsumer:
    """A consumer group of one over ``records`` per partition, as librdkafka behaves for
    what the source relies on: ``consume()`` serves queued commit answers and rebalance
    callbacks, then returns records of unpaused partitions from their position; pausing
    drops nothing consumed (a resumed partition goes on from its position); a partition
    assigned again restarts from the group's committed offset. Asynchronous commits are
    answered in the next ``consume()``, as ``mode`` says: "ok" (committed), "fail" (an
    error), "hang" (held until the mode changes)."""

    def __init__(self, conf: dict[str, Any], records: dict[int, int]) -> None:
        self.conf = conf
        self.on_commit: Callable[[Any, list[Any]], None] = conf["on_commit"]
        self.records = records
        self.position = dict.fromkeys(records, 0)
        self.committed = dict.fromkeys(records, 0)
        self.mode = "ok"
        self.held: list[list[tuple[int, int]]] = []
        self.paused: set[int] = set()
        self.assigned: set[int] = set()
        self.consumed: list[tuple[int, int]] = []
        self.pause_calls = 0
        self.sync_commits = 0
        self.lose_next = False
        self.client_error: KafkaError | None = None  # passed to error_cb in the next consume()

    # -- group --
    def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.callbacks = (on_assign, on_revoke, on_lost)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p) for p in sorted(self.assigned)]

    def pause(self, tps: list[TopicPartition]) -> None:
        self.pause_calls += 1
        self.paused |= {tp.partition for tp in tps}

    def resume(self, tps: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in tps}

    def seek(self, tp: TopicPartition) -> None:
        self.position[tp.partition] = tp.offset

    def close(self) -> None:
        pass

    # -- data --
    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        on_assign, _on_revoke, on_lost = self.callbacks
        if not self.assigned:
            self.assigned = set(self.records)
            self.position = dict(self.committed)
            on_assign(self, self.assignment())
        if self.lose_next:  # the group session expired: partitions lost, assigned again
            self.lose_next = False
            gone = self.assignment()
            self.assigned = set()
            self.paused = set()
            on_lost(self, gone)
            self.assigned = set(self.records)
            self.position = dict(self.committed)
            on_assign(self, self.assignment())
        if self.client_error is not None:
            err, self.client_error = self.client_error, None
            self.conf["error_cb"](err)
        if self.mode != "hang":
            held, self.held = self.held, []
            for offsets in held:
                self._answer(offsets)
        out: list[Any] = []
        for p in sorted(self.assigned - self.paused):
            while len(out) < num_messages and self.position[p] < self.records[p]:
                offset = self.position[p]
                out.append(Message(topic=TOPIC, partition=p, offset=offset, value=b"%d-%d" % (p, offset), timestamp=(1, 1000 + offset)))
                self.consumed.append((p, offset))
                self.position[p] = offset + 1
        if not out:
            time.sleep(min(timeout, 0.002))
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> Any:
        pairs = [(tp.partition, tp.offset) for tp in offsets]
        if not asynchronous:
            self.sync_commits += 1
            if self.mode != "ok":
                raise KafkaException(KafkaError(KafkaError._TRANSPORT if self.mode == "fail" else KafkaError._TIMED_OUT))
            for p, o in pairs:
                self.committed[p] = max(self.committed[p], o)
            return offsets
        self.held.append(pairs)  # librdkafka answers inside a later consume()
        return None

    def _answer(self, pairs: list[tuple[int, int]]) -> None:
        if self.mode == "fail":
            self.on_commit(KafkaError(KafkaError._TRANSPORT), [Answer(TOPIC, p, o) for p, o in pairs])
            return
        for p, o in pairs:
            self.committed[p] = max(self.committed[p], o)
        self.on_commit(None, [Answer(TOPIC, p, o) for p, o in pairs])

    def delivered_once(self) -> tuple[int, int]:
        """(records consumed more than once, records never consumed)."""
        seen: dict[tuple[int, int], int] = {}
        for key in self.consumed:
            seen[key] = seen.get(key, 0) + 1
        dups = sum(n - 1 for n in seen.values())
        missing = sum(1 for p, n in self.records.items() for o in range(n) if (p, o) not in seen)
        return dups, missing


def source_with_fake(
    records: dict[int, int], batch: int = 10, acknowledgements: bool = False
) -> tuple[SourceHarness, KafkaSource, FakeConsumer]:
    source = make(
        KafkaSource,
        "s",
        **{"kafka.bootstrap.servers": "fake:9092", "kafka.topics": TOPIC, "batchSize": str(batch), "batchDurationMillis": "5"},
    )
    fakes: list[FakeConsumer] = []

    def factory(conf: dict[str, Any]) -> FakeConsumer:
        fakes.append(FakeConsumer(conf, records))
        return fakes[-1]

    source.consumer_factory = factory
    harness = SourceHarness(source, acknowledgements=acknowledgements)
    source.start()
    return harness, source, fakes[0]


def spin(source: KafkaSource, times: int) -> None:
    for _ in range(times):
        source.process()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "COMMIT_INTERVAL", 0.0)
    monkeypatch.setattr(source_module, "COMMIT_RETRY", 0.0)


def test_source_hands_its_consumer_a_commit_callback() -> None:
    _harness, source, fake = source_with_fake({0: 5})
    assert fake.on_commit == source._on_commit
    source.stop()


def test_failed_async_commit_is_sent_again() -> None:
    """All records are delivered while every commit fails; once the broker answers again,
    the next commit covers them even though nothing new was delivered."""
    harness, source, fake = source_with_fake({0: 30})
    fake.mode = "fail"
    harness.poll(lambda: len(fake.consumed) == 30 and not source._pending, 5)
    spin(source, 5)
    assert fake.committed == {0: 0}
    assert source._commit_error is not None and "transport" in source._commit_error.lower()
    fake.mode = "ok"
    harness.poll(lambda: fake.committed == {0: 30}, 5)
    assert fake.committed == {0: 30}
    assert source._commit_error is None and not source._uncommitted and not source._awaiting
    source.stop()


def test_failed_commit_is_not_sent_again_for_a_partition_gone_meanwhile() -> None:
    harness, source, fake = source_with_fake({0: 20, 1: 20})
    fake.mode = "fail"
    harness.poll(lambda: len(fake.consumed) == 40 and not source._pending, 5)
    source._on_lost(fake, [TopicPartition(TOPIC, 1)])
    source._on_commit(KafkaError(KafkaError._TRANSPORT), [Answer(TOPIC, 0, 20), Answer(TOPIC, 1, 20)])
    assert source._uncommitted == {(TOPIC, 0): 20}
    source.stop()


def test_an_unanswered_commit_stops_reading_after_a_few_batches(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Commits hang (a SIGSTOPped broker): the source hands on at most max_ahead records
    (plus the batch that crossed it) past the last commit, pauses, and goes on once the
    commits are answered — every record exactly once."""
    monkeypatch.setattr(source_module, "STALL_AFTER", 0.0)
    harness, source, fake = source_with_fake({0: 300, 1: 300}, batch=10)
    assert source.max_ahead == 40
    harness.poll(lambda: len(fake.consumed) >= 20, 5)  # commits answered: reading flows
    base = sum(fake.committed.values())
    fake.mode = "hang"
    with caplog.at_level(logging.WARNING, logger="flafka_kafka.source"):
        spin(source, 200)
    handed = harness.channel.size()
    assert fake.paused == {0, 1}
    assert base < handed - 1 and handed - base <= source.max_ahead + 20, (base, handed)
    assert len(fake.consumed) == handed  # nothing more was read
    assert source.backoff_delay(5) == 0.0  # waits in consume(), not asleep
    assert any("reading paused until a commit succeeds" in r.getMessage() for r in caplog.records)
    pauses = fake.pause_calls
    spin(source, 20)
    assert fake.pause_calls == pauses and harness.channel.size() == handed  # still paused, no pause storm
    fake.mode = "ok"
    assert harness.poll(lambda: len(fake.consumed) == 600 and not source._pending, 10)
    assert not fake.paused and source.backoff_delay(1) == 1.0
    harness.poll(lambda: fake.committed == {0: 300, 1: 300}, 5)
    assert fake.committed == {0: 300, 1: 300}
    assert fake.delivered_once() == (0, 0)
    source.stop()


def test_failing_commits_stop_reading_and_a_rebalance_re_reads_only_what_was_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits fail (a killed broker), then the group session expires: the partitions come
    back at the committed offsets. The re-read records are at most what was handed on past
    the last successful commit, and nothing is lost."""
    harness, source, fake = source_with_fake({0: 500}, batch=10)
    harness.poll(lambda: len(fake.consumed) >= 30, 5)
    fake.mode = "fail"
    spin(source, 200)
    assert fake.paused == {0}
    ahead = source._ahead()
    assert source.max_ahead < ahead <= source.max_ahead + 20
    fake.lose_next = True
    fake.mode = "ok"
    assert harness.poll(lambda: len(fake.consumed) >= 500 + ahead and not source._pending, 10)
    harness.poll(lambda: fake.committed == {0: 500}, 5)
    dups, missing = fake.delivered_once()
    assert missing == 0 and fake.committed == {0: 500}
    assert dups == ahead  # just what was handed on past the last commit
    source.stop()


def test_with_acknowledgements_undelivered_records_count_as_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """End-to-end acknowledgements: records in the channel are not committable, so they
    count as handed on; the pause holds while commits fail, and the offsets committed
    afterwards never pass what the sink delivered."""
    harness, source, fake = source_with_fake({0: 200}, batch=10, acknowledgements=True)
    harness.poll(lambda: len(fake.consumed) >= 20, 5)
    got = harness.take_all(commit=True)
    spin(source, 3)
    fake.mode = "fail"
    got += harness.take_all(commit=True)  # delivered: its commit fails
    spin(source, 100)
    assert fake.paused == {0}
    assert source.max_ahead < len(fake.consumed) - fake.committed[0] <= source.max_ahead + 10
    assert fake.committed[0] <= len(got)
    fake.mode = "ok"
    delivered = len(got)
    while delivered < 200:
        harness.poll(lambda: harness.channel.size() > 0, 5)
        delivered += len(harness.take_all(commit=True))
        spin(source, 2)
        assert fake.committed[0] <= delivered
    harness.poll(lambda: fake.committed == {0: 200}, 5)
    assert fake.committed == {0: 200} and fake.delivered_once() == (0, 0)
    source.stop()


def test_a_full_channel_is_not_a_stalled_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the channel is full the source does not poll, so commit answers cannot arrive:
    that wait does not count as a stalled commit (no pause once the channel drains)."""
    monkeypatch.setattr(source_module, "STALL_AFTER", 0.05)
    source = make(
        KafkaSource,
        "s",
        **{"kafka.bootstrap.servers": "fake:9092", "kafka.topics": TOPIC, "batchSize": "10", "batchDurationMillis": "5"},
    )
    fakes: list[FakeConsumer] = []

    def factory(conf: dict[str, Any]) -> FakeConsumer:
        fakes.append(FakeConsumer(conf, {0: 100}))
        return fakes[-1]

    source.consumer_factory = factory
    harness = SourceHarness(source, channel=memory_channel(capacity=20, transaction_capacity=10), acknowledgements=False)
    source.start()
    fake = fakes[0]
    source.max_ahead = 5
    harness.poll(lambda: source._pending is not None, 5)  # channel full: a batch is kept
    fake.mode = "hang"
    harness.take_all(commit=True)
    source.process()  # hands the kept batch on and sends its commit (held)
    harness.take_all(commit=True)
    assert source._awaiting and source._pending is None
    time.sleep(0.2)  # no consume() meanwhile
    source.process()
    assert fake.pause_calls == 0 and not source._paused
    source.stop()


def test_a_group_offset_that_went_back_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """After a rebalance a partition restarts at the group's committed offset. Below an
    offset this source had committed successfully means the broker lost commits: warned."""
    harness, source, fake = source_with_fake({0: 100}, batch=10)
    harness.poll(lambda: fake.committed == {0: 100}, 5)
    fake.lose_next = True  # a rebalance that restarts at the committed offset: no warning
    spin(source, 5)
    with caplog.at_level(logging.WARNING, logger="flafka_kafka.source"):
        spin(source, 5)
        assert not [r for r in caplog.records if "went back" in r.getMessage()]
        fake.committed = {0: 40}  # the broker forgot the commits past 40
        fake.lose_next = True
        harness.poll(lambda: len(fake.consumed) >= 160, 5)
    warnings = [r.getMessage() for r in caplog.records if "went back" in r.getMessage()]
    assert len(warnings) == 1 and "t[0] restarts at offset 40 although offset 100 was committed" in warnings[0], warnings
    assert "60 records are read again" in warnings[0]
    source.stop()


def test_every_broker_down_counts_as_stalled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed broker: librdkafka reports every broker down right away; a commit in flight
    then cannot be answered, so the source pauses without waiting STALL_AFTER."""
    monkeypatch.setattr(source_module, "STALL_AFTER", 60.0)
    harness, source, fake = source_with_fake({0: 1000}, batch=10)
    harness.poll(lambda: len(fake.consumed) >= 20, 5)
    fake.mode = "hang"
    spin(source, 20)
    assert not fake.paused  # unanswered, but not for 60 s
    handed = harness.channel.size()
    fake.client_error = KafkaError(KafkaError._ALL_BROKERS_DOWN)
    spin(source, 3)
    assert fake.paused == {0} and harness.channel.size() <= handed + 10
    spin(source, 50)
    assert harness.channel.size() <= handed + 10
    fake.mode = "ok"
    assert harness.poll(lambda: len(fake.consumed) == 1000 and not source._pending, 10)
    assert not source._brokers_down and not fake.paused
    source.stop()


# -- cooperative revocation (issue 14) ----------------------------------------------------------


class _RevokeConsumer:
    """Just what ``_on_revoke`` calls: a synchronous commit that records its offsets."""

    def __init__(self) -> None:
        self.commits: list[dict[int, int]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> Any:
        assert not asynchronous
        self.commits.append({tp.partition: tp.offset for tp in offsets})
        return offsets


def _revocable_source() -> tuple[KafkaSource, Any]:
    import threading

    from flafka.ack import AckTracker

    src = make(KafkaSource, "r", **{"kafka.bootstrap.servers": "127.0.0.1:1", "kafka.topics": TOPIC})
    src.acks = AckTracker()
    src._assigned = {(TOPIC, 0), (TOPIC, 1)}
    token = src.acks.token({(TOPIC, 0): (0, 100, 0), (TOPIC, 1): (0, 50, 0)})  # a batch in a sink's hands
    threading.Timer(0.3, token.release).start()  # delivered 0.3 s later
    return src, token


def test_a_revocation_waits_for_the_batch_in_flight_then_commits_it() -> None:
    """Cooperative rebalance: partition 1 goes to another member. The source waits for
    the batch in flight (delivered after 0.3 s), commits both partitions past it, and only
    then forgets partition 1: its next owner starts past what was delivered (no
    duplicates), and nothing undelivered was committed."""
    src, _token = _revocable_source()
    consumer = _RevokeConsumer()
    started = time.monotonic()
    src._on_revoke(consumer, [TopicPartition(TOPIC, 1)])
    assert 0.25 <= time.monotonic() - started < source_module.REVOKE_DRAIN
    assert consumer.commits == [{0: 100, 1: 50}]
    assert src._assigned == {(TOPIC, 0)}


def test_a_revocation_gives_up_waiting_and_commits_only_what_was_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "REVOKE_DRAIN", 0.05)
    src, _token = _revocable_source()
    consumer = _RevokeConsumer()
    src._on_revoke(consumer, [TopicPartition(TOPIC, 1)])
    assert consumer.commits == []  # nothing delivered yet: nothing committed (the new owner re-reads it)
    assert src._generation[(TOPIC, 1)] == 1  # the batch's partition-1 offsets will never commit
    time.sleep(0.4)  # delivered now
    src._commit_delivered(consumer)
    assert consumer.commits == [{0: 100}]


class _StoppingConsumer(_RevokeConsumer):
    """At stop: the first synchronous commit is refused (a cooperative rebalance in
    progress); the poll that serves the rejoin revokes partition 1; leaving the group
    revokes the rest."""

    def __init__(self, src: KafkaSource) -> None:
        super().__init__()
        self.src = src
        self.refused = False
        self.owned = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> Any:
        if not self.refused:
            self.refused = True
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        return super().commit(offsets, asynchronous)

    def poll(self, timeout: float) -> None:
        if self.owned:
            gone = [tp for tp in self.owned if tp.partition == 1] or self.owned
            self.owned = [tp for tp in self.owned if tp not in gone]
            self.src._on_revoke(self, gone)

    def unsubscribe(self) -> None:
        pass

    def assignment(self) -> list[TopicPartition]:
        return self.owned

    def close(self) -> None:
        pass


def test_a_stop_commits_every_delivered_offset_through_a_cooperative_revocation() -> None:
    """The sinks have stopped when the source stops: a revocation served meanwhile commits
    at once instead of waiting REVOKE_DRAIN for deliveries that cannot come, and the
    final commit, refused once, is retried until every delivered offset is committed."""
    src, token = _revocable_source()
    token.release()  # delivered before the stop
    src.acks.token({(TOPIC, 0): (100, 130, 0)})  # handed on, never delivered: never committed
    consumer = _StoppingConsumer(src)
    src._consumer = consumer
    started = time.monotonic()
    src.stop()
    assert time.monotonic() - started < 1.0
    assert consumer.commits and consumer.commits[0] == {0: 100, 1: 50}
    assert all(c.get(0, 0) <= 100 for c in consumer.commits)


FENCED = "Fatal error: Broker: Static consumer fenced by other consumer with same group.instance.id"


class FencedOnce(FakeConsumer):
    """Fenced (librdkafka's fatal error) on its first consume() after ``after`` records."""

    def __init__(self, conf: dict[str, Any], records: dict[int, int], after: int | None) -> None:
        super().__init__(conf, records)
        self.after = after
        self.closed = False

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        if self.after is not None and len(self.consumed) >= self.after:
            self.after = None
            return [Message(error=KafkaError(KafkaError._FATAL, FENCED))]
        return super().consume(num_messages, timeout)

    def close(self) -> None:
        self.closed = True


def _fenced_source(fence_every_consumer: bool) -> tuple[SourceHarness, KafkaSource, list[FencedOnce]]:
    source = make(
        KafkaSource,
        "s",
        **{"kafka.bootstrap.servers": "fake:9092", "kafka.topics": TOPIC, "batchSize": "10", "batchDurationMillis": "5"},
    )
    fakes: list[FencedOnce] = []
    committed: dict[int, int] = {0: 0}

    def factory(conf: dict[str, Any]) -> FencedOnce:
        fake = FencedOnce(conf, {0: 40}, 5 if fence_every_consumer else 20 if not fakes else None)
        fake.committed = committed  # one group: the committed offsets outlive a consumer
        fakes.append(fake)
        return fake

    source.consumer_factory = factory
    harness = SourceHarness(source, acknowledgements=True)
    source.start()
    return harness, source, fakes


def test_a_fenced_static_member_joins_again_and_loses_nothing() -> None:
    """A session that expired while the broker was away comes back "fenced" (fatal in
    librdkafka): the source closes that consumer, opens a new one, and reads on from the
    committed offsets."""
    harness, source, fakes = _fenced_source(fence_every_consumer=False)
    delivered: list[bytes] = []

    def step() -> bool:
        delivered.extend(e.body for e in harness.take_all(commit=True))
        return len(set(delivered)) == 40

    assert harness.poll(step, 10), (len(set(delivered)), len(fakes))
    assert len(fakes) == 2 and fakes[0].closed
    assert sorted(set(delivered)) == sorted(b"0-%d" % o for o in range(40))
    source.stop()


def test_fenced_again_and_again_stops_with_the_key_to_fix() -> None:
    """Another agent with the same group.instance.id fences every new consumer: after
    MAX_REJOINS rejoins the source gives up with an error naming the key."""
    harness, source, fakes = _fenced_source(fence_every_consumer=True)
    error = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not error:
        try:
            source.process()
        except Exception as exc:
            error = str(exc)
        harness.take_all(commit=True)
    assert len(fakes) == 1 + source_module.MAX_REJOINS
    assert "fenced" in error and "kafka.consumer.group.instance.id" in error, error
    source.stop()
