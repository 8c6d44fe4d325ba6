"""``ChannelProcessor.process_batch`` is safe for concurrent callers (an event-driven
source's connection threads): interceptors and selectors with state run one batch at a
time, the processor's accounting is exact, and the puts still overlap (a file channel
groups the commits of concurrent callers into one sync)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flafka.channel import PutTransaction
from flafka.channels.memory import MemoryChannel
from flafka.event import Event
from flafka.interceptor import Interceptor
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.selector import ChannelSelector, Routing
from flafka.selectors.builtin import MultiplexingChannelSelector, ReplicatingChannelSelector
from flafka.settings import Settings
from flafka.testing import settings_for

THREADS = 2


def _meet(barrier: threading.Barrier) -> None:
    """Wait for the other caller here (0.5 s at most): two callers inside at once meet;
    one caller alone times out and breaks the barrier, so later calls pass at once."""
    try:
        barrier.wait(timeout=0.5)
    except threading.BrokenBarrierError:
        pass


class SequenceInterceptor(Interceptor):
    """Stamps ``seq`` headers from a counter it keeps (read, then written back): correct
    as long as it sees one batch at a time, as Flume-style interceptors assume."""

    type_name = "test-sequence"

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.next = 0
        self.barrier = threading.Barrier(THREADS)

    def intercept(self, events: list[Event]) -> list[Event]:
        first = self.next
        _meet(self.barrier)  # a second caller inside now reads the same counter
        for i, e in enumerate(events):
            e.headers["seq"] = str(first + i)
        self.next = first + len(events)
        return events


class AlternatingSelector(ChannelSelector):
    """Sends whole batches to its channels in turn (state: whose turn it is)."""

    type_name = "test-alternating"

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.turn = 0
        self.barrier = threading.Barrier(THREADS)

    def select(self, events: list[Event]) -> tuple[Routing, Routing]:
        turn = self.turn
        _meet(self.barrier)
        self.turn = turn + 1
        chans = list(self.channels.values())
        return [(chans[turn % len(chans)], events)], []


def _channel(name: str, capacity: int = 100_000, transaction_capacity: int = 1000) -> MemoryChannel:
    ch = MemoryChannel(name, settings_for(MemoryChannel, capacity=capacity, transactionCapacity=transaction_capacity))
    ch.start()
    return ch


def _drain(ch: MemoryChannel) -> list[Event]:
    out: list[Event] = []
    while True:
        with ch.take_transaction() as tx:
            got = tx.take(1000)
        if not got:
            return out
        out += got


def _concurrently(work: Callable[[int], None], threads: int = THREADS) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not errors, errors
    assert not any(w.is_alive() for w in workers)


def test_a_stateful_interceptor_sees_one_batch_at_a_time() -> None:
    """Two callers at once: without the processor's lock both read the interceptor's
    counter before either writes it back, and two events get the same ``seq``."""
    ch = _channel("c1")
    selector = ReplicatingChannelSelector("selector", settings_for(ReplicatingChannelSelector))
    selector.bind({"c1": ch})
    interceptor = SequenceInterceptor("seq", settings_for(SequenceInterceptor))
    processor = ChannelProcessor(selector, [interceptor], SourceCounter("r1", "test"))

    def feed(i: int) -> None:
        for b in range(10):
            processor.process_batch([Event(b"%d-%d-%d" % (i, b, k)) for k in range(5)])

    _concurrently(feed)
    seqs = sorted(int(e.headers["seq"]) for e in _drain(ch))
    assert seqs == list(range(THREADS * 50)), "two batches were intercepted at once: sequence numbers repeat"


def test_a_stateful_selector_sees_one_batch_at_a_time() -> None:
    chans = {"c1": _channel("c1"), "c2": _channel("c2")}
    selector = AlternatingSelector("selector", settings_for(AlternatingSelector))
    selector.bind(chans)
    processor = ChannelProcessor(selector, [], SourceCounter("r1", "test"))

    def feed(i: int) -> None:
        for _ in range(10):
            processor.process_batch([Event(b"x")] * 3)

    _concurrently(feed)
    assert selector.turn == THREADS * 10
    assert [len(_drain(c)) for c in chans.values()] == [THREADS * 15, THREADS * 15]


class DropOdd(Interceptor):
    type_name = "test-drop-odd"

    def intercept(self, events: list[Event]) -> list[Event]:
        return [e for e in events if int(e.headers["n"]) % 2 == 0]


def test_accounting_is_exact_under_concurrent_callers() -> None:
    """Counters, interceptor and selector discards, and optional-channel failures add up
    exactly with four threads feeding one processor."""
    required, optional = _channel("c1"), _channel("c2", capacity=2, transaction_capacity=2)  # refuses every batch
    selector = MultiplexingChannelSelector(
        "selector", settings_for(MultiplexingChannelSelector, header="h", **{"mapping.a": "c1", "optional.a": "c2"})
    )
    selector.bind({"c1": required, "c2": optional})
    counter = SourceCounter("r1", "test")
    processor = ChannelProcessor(selector, [DropOdd("drop", settings_for(DropOdd))], counter)
    threads, batches = 4, 200

    def feed(i: int) -> None:
        for _ in range(batches):
            # 8 events: 4 odd (dropped by the interceptor), of the 4 even 1 unmapped (discarded)
            processor.process_batch([Event(b"e", {"n": str(k), "h": "b" if k == 6 else "a"}) for k in range(8)])

    _concurrently(feed, threads)
    total = threads * batches
    snap = counter.snapshot()
    assert (snap["EventReceivedCount"], snap["EventAcceptedCount"]) == (total * 8, total * 8)
    assert (snap["AppendBatchReceivedCount"], snap["AppendBatchAcceptedCount"]) == (total, total)
    assert counter.discarded == total * 5
    assert len(_drain(required)) == total * 3
    assert processor._optional_failures == {"c2": total}  # counted, never raised
    assert optional.size() == 0
    assert counter.channel_write_fail == 0


class MeetingPut(PutTransaction):
    """A put whose commit waits (10 s at most: a loaded machine may start the second
    thread late) for a second commit to be in progress."""

    def __init__(self, inner: PutTransaction, barrier: threading.Barrier, met: list[bool]) -> None:
        self.inner, self.barrier, self.met = inner, barrier, met

    def put(self, events: list[Event], token: object = None) -> None:
        self.inner.put(events, token)  # type: ignore[arg-type]

    def commit(self) -> None:
        try:
            self.barrier.wait(timeout=10)
            self.met.append(True)
        except threading.BrokenBarrierError:
            pass
        self.inner.commit()

    def rollback(self) -> None:
        self.inner.rollback()


def test_puts_of_concurrent_callers_overlap() -> None:
    """The lock is never held around a put: two callers' commits are in progress at once
    (what lets a file channel share one sync between them)."""
    ch = _channel("c1")
    barrier, met = threading.Barrier(2), []
    real = ch.put_transaction
    ch.put_transaction = lambda: MeetingPut(real(), barrier, met)  # type: ignore[method-assign]
    selector = ReplicatingChannelSelector("selector", settings_for(ReplicatingChannelSelector))
    selector.bind({"c1": ch})
    processor = ChannelProcessor(selector, [], SourceCounter("r1", "test"))
    _concurrently(lambda i: processor.process_batch([Event(b"x")]))
    assert met == [True, True]
    assert len(_drain(ch)) == 2
