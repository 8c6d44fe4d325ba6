"""The Kafka channel's take transactions without a broker (records fed to its read
buffer): a rollback returns what it took, in order, ahead of what was read but not taken,
and drops the records of a partition revoked meanwhile; an empty take holds no lock."""

from __future__ import annotations

import threading
from typing import Any

from flafka.testing import make
from flafka_kafka.channel import KafkaChannel


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
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "127.0.0.1:1", "parseAsFlumeEvent": "false"})
    ch._consumer = object()  # never called while the buffer holds records
    ch._assigned = {("t", 0), ("t", 1)}
    ch._buffer.extend(records)
    return ch


def _bodies(events: list[Any]) -> list[bytes]:
    return [e.body for e in events]


def test_rollback_returns_the_records_in_order_ahead_of_the_rest() -> None:
    ch = _channel(*(Msg(i % 2, i // 2) for i in range(8)))
    tx = ch.take_transaction()
    first = tx.take(3) + tx.take(2)
    tx.rollback()
    assert not ch._take_lock._is_owned()  # type: ignore[attr-defined]
    tx = ch.take_transaction()
    again = tx.take(8)
    tx.commit()
    assert _bodies(again[:5]) == _bodies(first)
    assert _bodies(again) == [b"%d-%d" % (i % 2, i // 2) for i in range(8)]
    assert ch._uncommitted == {("t", 0): 4, ("t", 1): 4}


def test_rollback_drops_the_records_of_a_revoked_partition() -> None:
    ch = _channel(*(Msg(i % 2, i // 2) for i in range(6)))
    tx = ch.take_transaction()
    tx.take(4)  # 0-0 1-0 0-1 1-1
    ch._on_lost(None, [TP("t", 1)])  # a rebalance gave partition 1 to another member
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
    ch._read = lambda n: []  # type: ignore[method-assign]
    tx = ch.take_transaction()
    assert tx.take(10) == []
    got: list[bool] = []
    other = threading.Thread(target=lambda: got.append(ch._take_lock.acquire(timeout=1.0)))
    other.start()
    other.join()
    assert got == [True]  # another thread (a second sink, stop) gets the lock
