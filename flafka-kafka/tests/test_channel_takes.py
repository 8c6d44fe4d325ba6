"""The Kafka channel's take transactions without a broker (records fed to its read
buffer): a rollback returns what it took, in order, ahead of what was read but not taken,
and drops the records of a partition revoked meanwhile; an empty take holds no lock.
Takes return column-wise batches; puts read bodies and header maps without events."""

from __future__ import annotations

import threading
from typing import Any

from flafka.batch import Batch, bodies_of, header_maps_of
from flafka.event import Event
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.channel import KafkaChannel
from flafka_kafka.taker import KeyHeaders, offset_ranges


class Msg:
    """A consumed record, as confluent_kafka.Message answers."""

    def __init__(self, partition: int, offset: int, key: bytes | None = None) -> None:
        self._p, self._o, self._k = partition, offset, key

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes:
        return b"%d-%d" % (self._p, self._o)

    def error(self) -> None:
        return None


class TP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


def _channel(*records: Msg) -> KafkaChannel:
    """A channel whose taker for this thread holds ``records`` in its read buffer."""
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "127.0.0.1:1", "parseAsFlumeEvent": "false"})
    taker = ch._taker()
    taker.consumer = object()  # never called while the buffer holds records
    taker.assigned = {("t", 0), ("t", 1)}
    taker.buffer.extend(records)
    return ch


def _bodies(events: list[Any]) -> list[bytes]:
    return [e.body for e in events]


def test_rollback_returns_the_records_in_order_ahead_of_the_rest() -> None:
    ch = _channel(*(Msg(i % 2, i // 2) for i in range(8)))
    tx = ch.take_transaction()
    first = [*tx.take(3), *tx.take(2)]
    tx.rollback()
    assert not ch._taker().lock._is_owned()  # type: ignore[attr-defined]
    tx = ch.take_transaction()
    again = tx.take(8)
    tx.commit()
    assert _bodies(again[:5]) == _bodies(first)
    assert _bodies(again) == [b"%d-%d" % (i % 2, i // 2) for i in range(8)]
    assert ch._taker().uncommitted == {("t", 0): 4, ("t", 1): 4}


def test_rollback_drops_the_records_of_a_revoked_partition() -> None:
    ch = _channel(*(Msg(i % 2, i // 2) for i in range(6)))
    tx = ch.take_transaction()
    tx.take(4)  # 0-0 1-0 0-1 1-1
    ch._taker().on_lost(None, [TP("t", 1)])  # a rebalance gave partition 1 to another member
    tx.rollback()
    tx = ch.take_transaction()
    assert _bodies(tx.take(10)) == [b"0-0", b"0-1", b"0-2"]
    tx.commit()


def test_the_record_key_becomes_header_key() -> None:
    ch = _channel(Msg(0, 0, b"k\xc3\xa9"), Msg(0, 1), Msg(0, 2, b"\xff"))
    tx = ch.take_transaction()
    assert [e.headers for e in tx.take(3)] == [{"key": "ké"}, {}, {"key": "\ufffd"}]
    tx.commit()


def test_an_empty_take_holds_no_lock() -> None:
    ch = _channel()
    ch._read = lambda taker, n: []  # type: ignore[method-assign]
    tx = ch.take_transaction()
    assert tx.take(10) == []
    got: list[bool] = []
    lock = ch._taker().lock
    other = threading.Thread(target=lambda: got.append(lock.acquire(timeout=1.0)))
    other.start()
    other.join()
    assert got == [True]  # another thread (stop) gets the lock


def test_each_taking_thread_has_its_own_taker() -> None:
    """N sinks (threads) on one channel: N takers, numbered in the order of their first
    take; a thread that ended gives its number to the next new thread."""
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "127.0.0.1:1"})
    mine = ch._taker()
    assert ch._taker() is mine and mine.index == 1 and mine.name == "c"
    seen: list[tuple[int, str]] = []
    release = threading.Event()

    def take() -> None:
        t = ch._taker()
        seen.append((t.index, t.name))
        release.wait(5)

    threads = [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    while len(seen) < 2:
        threading.Event().wait(0.01)
    assert sorted(seen) == [(2, "c#2"), (3, "c#3")]
    assert ch.takers == 3
    release.set()
    for t in threads:
        t.join()
    later: list[int] = []
    late = threading.Thread(target=lambda: later.append(ch._taker().index))
    late.start()
    late.join()
    assert later == [2] and ch.takers == 2  # the two ended threads' takers were dropped


def test_each_taker_commits_its_own_offsets_and_rollbacks_stay_in_its_buffer() -> None:
    ch = _channel(Msg(0, 0), Msg(0, 1))
    other: list[Any] = []

    def second_sink() -> None:
        taker = ch._taker()
        taker.consumer = object()
        taker.assigned = {("t", 1)}
        taker.buffer.extend([Msg(1, 0), Msg(1, 1), Msg(1, 2)])
        tx = ch.take_transaction()
        other.append(_bodies(tx.take(2)))
        tx.rollback()
        tx = ch.take_transaction()
        other.append(_bodies(tx.take(5)))
        taker.commit = lambda consumer: None  # type: ignore[method-assign]  # keep the offsets visible
        tx.commit()
        other.append(dict(taker.uncommitted))

    t = threading.Thread(target=second_sink)
    t.start()
    t.join()
    tx = ch.take_transaction()
    assert _bodies(tx.take(5)) == [b"0-0", b"0-1"]
    tx.commit()
    assert other == [[b"1-0", b"1-1"], [b"1-0", b"1-1", b"1-2"], {("t", 1): 3}]
    assert ch._taker().uncommitted == {("t", 0): 2}


# -- column-wise batches (issue 15) -----------------------------------------------------


def test_a_take_returns_a_column_wise_batch_with_lazy_key_headers() -> None:
    ch = _channel(*(Msg(i % 2, i // 2, None if i % 3 else b"k%d" % i) for i in range(9)))
    tx = ch.take_transaction()
    batch = tx.take(9)
    assert isinstance(batch, Batch) and batch.columnar and isinstance(batch._column, KeyHeaders)
    assert bodies_of(batch) == [b"%d-%d" % (i % 2, i // 2) for i in range(9)]
    assert batch.columnar  # bodies read, nothing built
    maps = header_maps_of(batch)
    assert maps == [None if i % 3 else {"key": f"k{i}"} for i in range(9)]
    part = batch[1::3]  # the load-balancing selector's slices
    assert part.columnar and header_maps_of(part) == maps[1::3] and bodies_of(part) == bodies_of(batch)[1::3]
    assert [e.headers for e in batch] == [m or {} for m in maps]
    tx.commit()
    assert ch._taker().uncommitted == {("t", 0): 5, ("t", 1): 4}


def test_offset_ranges_equal_the_per_record_loop() -> None:
    records = [Msg(p, o) for o in range(5) for p in range(3)]
    assert offset_ranges(records) == {("t", 0): (0, 5), ("t", 1): (0, 5), ("t", 2): (0, 5)}
    assert offset_ranges(records[4:]) == {("t", 1): (1, 5), ("t", 2): (1, 5), ("t", 0): (2, 5)}
    many = [Msg(p, 7) for p in range(40)]  # more partitions than the scan handles: the loop
    assert offset_ranges(many) == {("t", p): (7, 8) for p in range(40)}


class Producer:
    """Records what the channel produces; every delivery succeeds at flush."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, Any, int]] = []
        self._reports: list[Any] = []

    def produce(self, topic: str, value: bytes, key: Any, partition: int, on_delivery: Any) -> None:
        self.records.append((topic, value, key, partition))
        self._reports.append(on_delivery)

    def flush(self, timeout: float = 0) -> int:
        for report in self._reports:
            report(None, None)
        self._reports = []
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0


def _producing(**raw: str) -> tuple[KafkaChannel, Producer]:
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "127.0.0.1:1", **raw})
    producer = Producer()
    ch.producer_factory = lambda conf: producer
    ch.start()
    return ch, producer


def test_a_put_of_a_column_wise_batch_produces_what_events_would() -> None:
    """Bodies, keys (header ``key``), partitions (partitionIdHeader) and Avro values from
    a column-wise batch — per-event maps or one common map — without building events,
    byte-equal to the same batch put as a list of events."""
    for raw in ({"parseAsFlumeEvent": "false"}, {"parseAsFlumeEvent": "true", "partitionIdHeader": "p"}):
        maps: list[dict[str, str] | None] = [{"key": "a", "p": "1"}, None, {"p": "0", "x": "y"}]
        batches = [Batch([b"one", b"two", b"three"], maps), Batch([b"four", b"five"], None, {"key": "k", "p": "2"})]
        ch, produced = _producing(**raw)
        tx = ch.put_transaction()
        for b in batches:
            tx.put(b)
        tx.commit()
        assert all(b.columnar for b in batches)  # no event was built
        ch2, expected = _producing(**raw)
        tx = ch2.put_transaction()
        tx.put([Event(b"one", {"key": "a", "p": "1"}), Event(b"two"), Event(b"three", {"p": "0", "x": "y"})])
        tx.put([Event(b"four", {"key": "k", "p": "2"}), Event(b"five", {"key": "k", "p": "2"})])
        tx.commit()
        assert produced.records == expected.records
        keys = [r[2] for r in produced.records]
        assert keys == ["a", None, None, "k", "k"]
        if raw["parseAsFlumeEvent"] == "true":
            assert [r[3] for r in produced.records] == [1, -1, 0, 2, 2]
            assert avro_event.decode(produced.records[2][1]) == ({"p": "0", "x": "y"}, b"three")
        else:
            assert [r[1] for r in produced.records] == [b"one", b"two", b"three", b"four", b"five"]
        ch.stop()
        ch2.stop()


def test_a_bad_partition_header_in_a_column_wise_batch_is_refused_at_put() -> None:
    ch, _ = _producing(partitionIdHeader="p")
    tx = ch.put_transaction()
    try:
        tx.put(Batch([b"a"], None, {"p": "x"}))
    except Exception as exc:
        assert "header 'p' is 'x', not a partition number" in str(exc)
    else:
        raise AssertionError("a bad partition header was accepted")
    tx.rollback()
    ch.stop()
