"""The Kafka channel against a real broker: the record key in header ``key`` (the same
headers as Apache Flume 1.11's KafkaChannel on the same topic), empty takes that hold
nothing (two sinks on one channel, a fast stop), a rollback that loses nothing when the
consumer cannot seek, and ``pollTimeout``."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka.event import Event
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.channel import KafkaChannel

pytestmark = pytest.mark.integration


def _channel(bootstrap: str, topic: str, stop_later: Callable[[Any], Any], **raw: str) -> KafkaChannel:
    settings = {"kafka.bootstrap.servers": bootstrap, "kafka.topic": topic, "kafka.consumer.group.id": f"g-{uuid.uuid4().hex[:8]}"}
    channel = stop_later(make(KafkaChannel, "c1", **{**settings, **raw}))
    channel.start()
    return channel


def _take(channel: KafkaChannel, n: int, timeout: float = 30.0) -> list[Event]:
    """Take and commit until ``n`` events came (or the time is up)."""
    out: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        tx = channel.take_transaction()
        out += tx.take(n - len(out))
        tx.commit()
    return out


def _committed(bootstrap: str, group: str, topic: str, partitions: int = 1) -> int:
    """The group's committed offsets of ``topic``, summed over its first ``partitions``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return sum(max(0, int(tp.offset)) for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10))
    finally:
        consumer.close()


# -- the record key ----------------------------------------------------------------------------


def _keyed_records(avro: bool) -> list[tuple[bytes, str | None]]:
    """(value, key): every third record has no key; Avro events carry a ``key`` header of
    their own that the record key overrides (Flume's take does the same)."""
    out: list[tuple[bytes, str | None]] = []
    for i in range(9):
        key = None if i % 3 == 0 else f"k-{i}-ключ"
        body = b"body-%d" % i
        out.append((avro_event.encode({"n": str(i), "key": "event's own"}, body) if avro else body, key))
    return out


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, str | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for value, key in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


@pytest.mark.parametrize("avro", [True, False], ids=["parseAsFlumeEvent", "plain"])
def test_take_puts_the_record_key_in_the_key_header(
    avro: bool, kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1, "chan-key")
    records = _keyed_records(avro)
    _produce(kafka_bootstrap, topic, records)
    channel = _channel(kafka_bootstrap, topic, stop_later, parseAsFlumeEvent=str(avro).lower())
    got = _take(channel, len(records))
    want = []
    for i, (_value, key) in enumerate(records):
        headers = {"n": str(i), "key": "event's own"} if avro else {}
        if key is not None:
            headers["key"] = key
        want.append((b"body-%d" % i, headers))
    assert [(e.body, e.headers) for e in got] == want


@pytest.mark.slow
def test_flume_and_flafka_take_the_same_headers_from_the_same_topic(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    read_topic: Callable[..., list[Any]],
    flume_home: Any,
    run_agent: Any,
    tmp_path: Path,
) -> None:
    """One topic per ``parseAsFlumeEvent`` value, read by Flume 1.11's KafkaChannel and by
    flafka's (same config text, own group) into a KafkaSink that writes Flume Avro events:
    the events (headers included) are the same."""
    topics = {True: new_topic(1, "chan-avro"), False: new_topic(1, "chan-plain")}
    for avro, topic in topics.items():
        _produce(kafka_bootstrap, topic, _keyed_records(avro))

    def config(out: dict[bool, str], group: str) -> str:
        lines = ["a1.channels = c1 c2", "a1.sinks = k1 k2"]
        for (avro, topic), ch, sink in zip(topics.items(), ("c1", "c2"), ("k1", "k2"), strict=True):
            lines += [
                f"a1.channels.{ch}.type = org.apache.flume.channel.kafka.KafkaChannel",
                f"a1.channels.{ch}.kafka.bootstrap.servers = {kafka_bootstrap}",
                f"a1.channels.{ch}.kafka.topic = {topic}",
                f"a1.channels.{ch}.kafka.consumer.group.id = {group}-{ch}",
                f"a1.channels.{ch}.kafka.consumer.auto.offset.reset = earliest",
                f"a1.channels.{ch}.parseAsFlumeEvent = {str(avro).lower()}",
                f"a1.sinks.{sink}.type = org.apache.flume.sink.kafka.KafkaSink",
                f"a1.sinks.{sink}.kafka.bootstrap.servers = {kafka_bootstrap}",
                f"a1.sinks.{sink}.kafka.topic = {out[avro]}",
                f"a1.sinks.{sink}.allowTopicOverride = false",
                f"a1.sinks.{sink}.useFlumeEventFormat = true",
                f"a1.sinks.{sink}.channel = {ch}",
            ]
        return "\n".join(lines) + "\n"

    n = len(_keyed_records(True))
    flume_out = {avro: new_topic(1, "out-flume") for avro in topics}
    flafka_out = {avro: new_topic(1, "out-flafka") for avro in topics}
    with flume_home.run_agent(config(flume_out, "flume"), tmp_path / "flume"):
        flume_got = {avro: read_topic(t, n, timeout=60) for avro, t in flume_out.items()}
    agent = run_agent(config(flafka_out, "flafka"), name="a1")
    flafka_got = {avro: read_topic(t, n, timeout=60) for avro, t in flafka_out.items()}
    assert agent.stop(10)
    for avro in topics:
        theirs = [avro_event.decode(m.value()) for m in flume_got[avro]]
        ours = [avro_event.decode(m.value()) for m in flafka_got[avro]]
        assert len(theirs) == n
        assert ours == theirs, f"parseAsFlumeEvent={avro}"
        assert [h.get("key") for h, _ in theirs][:3] == (
            ["event's own", "k-1-ключ", "k-2-ключ"] if avro else [None, "k-1-ключ", "k-2-ключ"]
        )


# -- empty takes ---------------------------------------------------------------------------------


def test_three_sinks_on_one_kafka_channel_take_in_parallel_and_stop_is_fast(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], run_agent: Any, tmp_path: Path
) -> None:
    """Each sink's thread has its own consumer in the channel's group (as Flume's
    KafkaChannel): the group spreads the 6 partitions over the 3 sinks, every sink takes
    from its own partitions only, and every record is delivered once and committed."""
    topic = new_topic(6, "chan-three-sinks")
    n = 6000
    sinks = "\n".join(
        f"a1.sinks.k{i}.type = file_roll\na1.sinks.k{i}.sink.directory = {tmp_path / f'k{i}'}\na1.sinks.k{i}.sink.rollInterval = 0\n"
        f"a1.sinks.k{i}.sink.batchSize = 50\na1.sinks.k{i}.channel = c1"
        for i in (1, 2, 3)
    )
    for i in (1, 2, 3):
        (tmp_path / f"k{i}").mkdir()
    agent = run_agent(
        f"""
a1.channels = c1
a1.sinks = k1 k2 k3
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {kafka_bootstrap}
a1.channels.c1.kafka.topic = {topic}
a1.channels.c1.kafka.consumer.group.id = g-{topic}
a1.channels.c1.parseAsFlumeEvent = false
a1.channels.c1.kafka.consumer.max.partition.fetch.bytes = 1000
{sinks}
""",
        name="a1",
    )
    names = ("k1", "k2", "k3")
    # records are written once the group settled (three takers, two partitions each): on a
    # topic filled beforehand, the first consumer to join may drain it before the others do
    takers = agent.channels["c1"]._takers
    deadline = time.monotonic() + 60
    while not (len(takers) == 3 and all(len(t.assigned) == 2 for t in takers)) and time.monotonic() < deadline:
        time.sleep(0.05)
        takers = agent.channels["c1"]._takers
    assert sorted(len(t.assigned) for t in takers) == [2, 2, 2], [t.assigned for t in takers]
    produce_records(topic, [b"%d" % i for i in range(n)])

    def drained() -> dict[str, int]:
        return {c.name: int(c.snapshot()["EventDrainSuccessCount"]) for c in agent.counters() if c.name in names}

    deadline = time.monotonic() + 60
    while sum(drained().values()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    counts = drained()
    assert sum(counts.values()) == n, counts
    assert all(counts[k] > 0 for k in names), f"a sink took nothing: {counts}"
    time.sleep(1.5)  # every sink now polls an empty channel
    started = time.monotonic()
    assert agent.stop(30)
    took = time.monotonic() - started
    print(f"three sinks: {counts}; stop took {took:.2f} s")
    assert took < 2.0, f"stopping an agent with a Kafka channel took {took:.1f} s"
    assert _committed(kafka_bootstrap, f"g-{topic}", topic, 6) == n
    got = [sorted(int(line) for p in (tmp_path / k).iterdir() for line in p.read_text().split()) for k in names]
    assert sorted(v for values in got for v in values) == list(range(n))  # each record once


def test_an_empty_take_left_open_blocks_no_other_taker(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    """The channel does not rely on the driver alone: a transaction whose take came back
    empty holds no lock even if it is never closed (the next transaction gets the
    records, stop does not wait)."""
    import threading

    topic = new_topic(1, "chan-open-empty")
    channel = _channel(kafka_bootstrap, topic, stop_later, pollTimeout="100")
    left_open = channel.take_transaction()
    assert left_open.take(10) == []
    with channel.put_transaction() as tx:
        tx.put([Event(b"%d" % i) for i in range(5)])
    got = _take(channel, 5, timeout=20)
    assert [e.body for e in got] == [b"%d" % i for i in range(5)]
    locked: list[bool] = []
    lock = channel._taker().lock

    def grab() -> None:
        locked.append(lock.acquire(timeout=1.0))
        if locked[-1]:
            lock.release()

    other = threading.Thread(target=grab, daemon=True)
    other.start()
    other.join(5)
    assert locked == [True]
    started = time.monotonic()
    channel.stop()
    assert time.monotonic() - started < 2.0


# -- rollback ------------------------------------------------------------------------------------


class _SeekFails:
    """A real consumer whose ``seek`` fails (a broker-side failure injected)."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self.seeks = 0

    def seek(self, partition: Any) -> None:
        self.seeks += 1
        raise RuntimeError('KafkaError{code=_STATE,val=-172,str="Failed to seek to offset: Local: Erroneous state"}')

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def test_rollback_loses_nothing_when_the_consumer_cannot_seek(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    from confluent_kafka import Consumer

    topic = new_topic(1, "chan-rollback")
    group = f"g-{topic}"
    settings = {"kafka.bootstrap.servers": kafka_bootstrap, "kafka.topic": topic, "kafka.consumer.group.id": group}
    channel = stop_later(make(KafkaChannel, "c1", **settings))
    wrapped: list[_SeekFails] = []
    channel.consumer_factory = lambda conf: wrapped.append(_SeekFails(Consumer(conf))) or wrapped[-1]
    channel.start()
    with channel.put_transaction() as tx:
        tx.put([Event(b"%d" % i, {"i": str(i)}) for i in range(30)])
    tx = channel.take_transaction()
    first = [*tx.take(4), *tx.take(6)]  # two takes in one transaction; more records are already fetched
    assert len(first) == 10
    with contextlib.suppress(Exception):  # a rollback may report trouble; it must not lose the records
        tx.rollback()
    got = _take(channel, 30)
    assert [e.body for e in got] == [b"%d" % i for i in range(30)]
    assert [e.body for e in got[:10]] == [e.body for e in first]
    # take commits commit asynchronously: an idle sink's wait for records serves the answer
    # and sends what waited behind it
    deadline = time.monotonic() + 30
    while _committed(kafka_bootstrap, group, topic) != 30 and time.monotonic() < deadline:
        channel.wait_for_events(0.1)
    assert _committed(kafka_bootstrap, group, topic) == 30


# -- pollTimeout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "ms"), [("pollTimeout", 100), ("pollTimeout", 1500), ("kafka.pollTimeout", 1500)])
def test_poll_timeout_bounds_an_empty_take(
    key: str, ms: int, kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    """``pollTimeout`` (Flume's User Guide spelling) and ``kafka.pollTimeout`` (the key
    Flume's code reads) are how long a take waits for a record on an empty topic."""
    topic = new_topic(1, "chan-poll")
    channel = _channel(kafka_bootstrap, topic, stop_later, **{key: str(ms)})
    assert _take(channel, 1, timeout=0.1) == []  # joins the group, gets the partition
    waits = []
    for _ in range(3):
        tx = channel.take_transaction()
        started = time.monotonic()
        assert tx.take(10) == []
        waits.append(time.monotonic() - started)
        tx.commit()
    wait = min(waits)
    assert ms / 1000 * 0.8 <= wait <= ms / 1000 + 0.4, f"{key}={ms}: an empty take waited {waits}"
