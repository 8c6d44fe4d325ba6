from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.ack import AckTracker
from flafka.channels.memory import MemoryChannel
from flafka.errors import ChannelError, ChannelFullError, ConfigError
from flafka.event import Event
from flafka.testing import make


def events(*bodies: str) -> list[Event]:
    return [Event(b.encode()) for b in bodies]


def bodies(evs: list[Event]) -> list[str]:
    return [e.body.decode() for e in evs]


def channel(**raw: object) -> MemoryChannel:
    raw.setdefault("keep-alive", 0)
    ch = make(MemoryChannel, "ch", **raw)
    ch.start()
    return ch


def test_put_is_invisible_until_commit_and_rollback_discards() -> None:
    ch = channel(capacity=10, transactionCapacity=10)
    tx = ch.put_transaction()
    tx.put(events("a", "b"))
    assert ch.size() == 0
    tx.rollback()
    assert ch.size() == 0
    with ch.put_transaction() as tx:
        tx.put(events("c"))
    assert ch.size() == 1


def test_take_rollback_returns_events_to_the_head_in_order() -> None:
    ch = channel(capacity=10, transactionCapacity=10)
    with ch.put_transaction() as tx:
        tx.put(events("1", "2", "3"))
        tx.put(events("4", "5"))
    tx = ch.take_transaction()
    assert bodies(tx.take(4)) == ["1", "2", "3", "4"]
    tx.rollback()
    take = ch.take_transaction()
    assert bodies(take.take(10)) == ["1", "2", "3", "4", "5"]
    take.commit()
    assert ch.is_empty()


def test_full_channel_pushes_back_and_drops_nothing() -> None:
    ch = channel(capacity=3, transactionCapacity=3)
    with ch.put_transaction() as tx:
        tx.put(events("a", "b", "c"))
    tx = ch.put_transaction()
    tx.put(events("d"))
    with pytest.raises(ChannelFullError, match="Space for commit"):
        tx.commit()
    assert ch.size() == 3
    # capacity is released only when a take commits
    take = ch.take_transaction()
    take.take(1)
    with pytest.raises(ChannelFullError), ch.put_transaction() as tx:
        tx.put(events("d"))
    take.commit()
    with ch.put_transaction() as tx:
        tx.put(events("d"))
    take = ch.take_transaction()
    assert bodies(take.take(10)) == ["b", "c", "d"]


def test_transaction_capacity_bounds_puts_and_takes() -> None:
    ch = channel(capacity=10, transactionCapacity=2)
    tx = ch.put_transaction()
    with pytest.raises(ChannelError, match="Put queue for MemoryTransaction of capacity 2 full"):
        tx.put(events("a", "b", "c"))
    with ch.put_transaction() as tx:
        tx.put(events("a", "b"))
    with ch.put_transaction() as tx:
        tx.put(events("c"))
    take = ch.take_transaction()
    assert len(take.take(5)) == 2
    with pytest.raises(ChannelError, match="Take list"):
        take.take(1)


def test_transaction_capacity_above_capacity_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="transactionCapacity"):
        channel(capacity=5, transactionCapacity=10)


def test_byte_capacity_counts_body_bytes() -> None:
    ch = channel(capacity=100, transactionCapacity=100, byteCapacity=100, byteCapacityBufferPercentage=0)
    with ch.put_transaction() as tx:
        tx.put([Event(b"x" * 60)])
    with pytest.raises(ChannelFullError, match="byteCapacity"), ch.put_transaction() as tx:
        tx.put([Event(b"x" * 60)])


def test_keep_alive_waits_for_room() -> None:
    ch = channel(capacity=1, transactionCapacity=1, **{"keep-alive": 2})
    with ch.put_transaction() as tx:
        tx.put(events("a"))

    def drain() -> None:
        take = ch.take_transaction()
        take.take(1)
        take.commit()

    timer = threading.Timer(0.1, drain)
    timer.start()
    with ch.put_transaction() as tx:
        tx.put(events("b"))
    timer.join()
    assert ch.size() == 1


def test_acknowledgement_runs_are_paid_on_take_commit_only() -> None:
    ch = channel(capacity=10, transactionCapacity=10)
    tracker = AckTracker()
    t1, t2 = tracker.token("p1"), tracker.token("p2")
    for tok, evs in ((t1, events("a", "b")), (t2, events("c", "d"))):
        with ch.put_transaction() as tx:
            tx.put(evs, tok)
            tok.add(len(evs))
        tok.release()
    take = ch.take_transaction()
    take.take(3)  # a, b and half of t2
    take.rollback()
    assert tracker.delivered() == []
    take = ch.take_transaction()
    take.take(3)
    take.commit()
    assert tracker.delivered() == ["p1"]
    take = ch.take_transaction()
    take.take(3)
    take.commit()
    assert tracker.delivered() == ["p2"]


def test_reconfigure_keeps_events() -> None:
    ch = channel(capacity=10, transactionCapacity=5)
    with ch.put_transaction() as tx:
        tx.put(events("a", "b"))
    ch.reconfigure(make(MemoryChannel, capacity=20, transactionCapacity=10).settings)
    assert ch.capacity == 20 and ch.size() == 2


# -- property: any interleaving of puts, takes, commits and rollbacks keeps every event
# exactly once and in order -------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(1, 4), st.booleans()),
        st.tuples(st.just("take"), st.integers(1, 5), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_transactions_never_lose_duplicate_or_reorder(operations: list[tuple[str, int, bool]]) -> None:
    ch = channel(capacity=12, transactionCapacity=5)
    next_id = 0
    delivered: list[int] = []
    for op, n, commit in operations:
        if op == "put":
            tx = ch.put_transaction()
            tx.put([Event(str(next_id + i).encode()) for i in range(n)])
            try:
                if commit:
                    tx.commit()
                    next_id += n
                else:
                    tx.rollback()
            except ChannelFullError:
                pass
        else:
            take = ch.take_transaction()
            got = [int(e.body) for e in take.take(n)]
            if commit:
                take.commit()
                delivered.extend(got)
            else:
                take.rollback()
    take = ch.take_transaction()
    while True:
        got = take.take(5)
        if not got:
            break
        delivered.extend(int(e.body) for e in got)
        take.commit()
        take = ch.take_transaction()
    assert delivered == list(range(next_id))
