"""Real-broker checks beyond the contract suites: record mapping, errors Kafka reports,
offsets, rebalances, the channel without a source, a whole agent from a Flume config,
and byte compatibility with Apache Flume 1.11's own Kafka components."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka.ack import AckTracker
from flafka.batch import Batch
from flafka.errors import RetriableError
from flafka.event import Event
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.channel import KafkaChannel
from flafka_kafka.sink import KafkaSink
from flafka_kafka.source import KafkaSource
from flafka_testkit.contracts.harness import SourceHarness

pytestmark = pytest.mark.integration


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()


def _sink(bootstrap: str, stop_later: Callable[[Any], Any], **raw: str) -> KafkaSink:
    sink = make(KafkaSink, "k", **{"kafka.bootstrap.servers": bootstrap, "kafka.producer.acks": "all", **raw})
    sink.start()
    return stop_later(sink)


def _source(
    bootstrap: str,
    topic: str,
    group: str,
    stop_later: Callable[[Any], Any],
    raw: dict[str, str] | None = None,
    acknowledgements: bool = True,
) -> SourceHarness:
    source = make(
        KafkaSource,
        "s",
        **{
            "kafka.bootstrap.servers": bootstrap,
            "kafka.topics": topic,
            "kafka.consumer.group.id": group,
            "kafka.consumer.auto.offset.reset": "earliest",
            "batchSize": "50",
            "batchDurationMillis": "200",
            **(raw or {}),
        },
    )
    harness = SourceHarness(source, acknowledgements=acknowledgements)
    source.start()
    stop_later(source)
    return harness


def _collect(harness: SourceHarness, got: list[Event], want: int) -> bool:
    got.extend(harness.take_all())
    return len(got) >= want


# -- sink --------------------------------------------------------------------------------------


def test_sink_maps_key_partition_timestamp_headers_and_topic(
    kafka_bootstrap: str, new_topic: Callable[..., str], read_topic: Callable[..., list[Any]], stop_later: Callable[[Any], Any]
) -> None:
    main, other = new_topic(3), new_topic(1)
    sink = _sink(
        kafka_bootstrap, stop_later, **{"kafka.topic": main, "partitionIdHeader": "p", "timestampHeader": "ts", "header.host": "x-host"}
    )
    out = sink.write(
        [
            Event(b"a", {"key": "k-a", "p": "2", "ts": "1600000000123", "host": "web1"}),
            Event(b"b", {"p": "0"}),
            Event(b"c", {"topic": other}),
        ]
    )
    assert out is None
    got = read_topic(main, 2)
    assert [(m.partition(), m.value(), m.key()) for m in got] == [(0, b"b", None), (2, b"a", b"k-a")]
    assert got[1].timestamp()[1] == 1600000000123
    assert got[1].headers() == [("x-host", b"web1")]
    assert [m.value() for m in read_topic(other, 1)] == [b"c"]


def test_sink_keys_partition_like_the_java_client(
    kafka_bootstrap: str, new_topic: Callable[..., str], read_topic: Callable[..., list[Any]], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(6)
    sink = _sink(kafka_bootstrap, stop_later, **{"kafka.topic": topic})
    assert sink.write([Event(b"x", {"key": "user-42"})]) is None
    # murmur2("user-42") & 0x7fffffff % 6, as the Java client's default partitioner computes it
    assert read_topic(topic, 1)[0].partition() == _java_murmur2_partition(b"user-42", 6)


def _java_murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's ``Utils.murmur2`` (seed 0x9747b28c) and ``toPositive(h) % n``."""
    m, r = 0x5BD1E995, 24
    length = len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = key[length - rest :]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def test_sink_record_rejected_by_the_broker_is_permanent(kafka_bootstrap: str, stop_later: Callable[[Any], Any]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"small-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "2000"})])[topic].result(30)
    sink = _sink(kafka_bootstrap, stop_later, **{"kafka.topic": topic})
    out = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the new topic's leader may need a moment
        out = sink.write([Event(b"ok"), Event(b"x" * 10_000), Event(b"ok2")])
        if out is not None and not out.retriable:
            break
        time.sleep(0.3)
    assert out is not None
    assert list(out.failed) == [1] and out.retriable is False
    assert "MSG_SIZE_TOO_LARGE" in str(out.error)


@pytest.mark.parametrize("keyed", [False, True], ids=["bodies", "keyed"])
def test_sink_batch_with_a_shared_callback_names_exactly_the_records_that_failed(
    keyed: bool, kafka_bootstrap: str, read_topic: Callable[..., list[Any]], stop_later: Callable[[Any], Any]
) -> None:
    """A column-wise batch produced with one shared delivery callback (failures matched to
    indices by value; by topic, key and value when events carry a key and the topic
    header): 300 records, bodies repeating, some too large for the topic (the broker
    rejects their whole record batch: the sink re-sends those records alone) and some too
    large for the producer itself (refused by ``produce``). The outcome names exactly those
    indices, and the topic holds every other record exactly once."""
    from collections import Counter

    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"plain-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1, config={"max.message.bytes": "2000"})])[topic].result(30)
    sink = _sink(kafka_bootstrap, stop_later, **{"kafka.topic": topic, "kafka.producer.message.max.bytes": "3000"})
    deadline = time.monotonic() + 20
    while sink.write(Batch([b"warm"])) is not None and time.monotonic() < deadline:  # the new topic's leader
        time.sleep(0.3)
    bodies = []
    broker_rejects, producer_refuses = set(), set()
    for i in range(300):
        if i % 29 == 3:
            bodies.append(b"B" * 2500)  # over the topic's 2000 bytes: the broker rejects it
            broker_rejects.add(i)
        elif i % 41 == 7:
            bodies.append(b"P" * 4000)  # over the producer's 3000 bytes: produce() refuses it
            producer_refuses.add(i)
        else:
            bodies.append(b"small-%d" % (i % 13))  # values repeat: attribution must count them
    keys: list[str | None] = [f"k{i % 3}" if keyed and i % 4 else None for i in range(300)]
    maps: list[dict[str, str] | None] = [({"key": k} if k else {}) | {"topic": topic} for k in keys] if keyed else [None] * 300
    batch = Batch(bodies, maps if keyed else None)
    out = sink.write(batch)
    assert batch.columnar  # no Event was built
    assert out is not None and out.retriable is False
    assert sorted(out.failed) == sorted(broker_rejects | producer_refuses)
    assert "MSG_SIZE_TOO_LARGE" in str(out.error)
    delivered = Counter((k.encode() if k else None, b) for i, (k, b) in enumerate(zip(keys, bodies, strict=True)) if i not in out.failed)
    got = read_topic(topic, 1 + sum(delivered.values()) + 1, timeout=5)  # one more than expected: none may come
    assert Counter((m.key(), m.value()) for m in got) == delivered + Counter([(None, b"warm")])


def test_sink_unreachable_broker_fails_retriably_within_message_timeout(stop_later: Callable[[Any], Any]) -> None:
    from flafka_testkit.services.base import free_port

    sink = _sink(f"127.0.0.1:{free_port()}", stop_later, **{"kafka.topic": "t", "kafka.producer.message.timeout.ms": "1500"})
    began = time.monotonic()
    with pytest.raises(RetriableError, match=r"_MSG_TIMED_OUT|_TRANSPORT|timed out"):
        sink.write([Event(b"a"), Event(b"b")])  # nothing delivered: the whole batch fails, retriably
    assert time.monotonic() - began < 15


# -- source ------------------------------------------------------------------------------------


def test_source_headers(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    produce_records(topic, [b"v1"], key="the-key", headers=[("trace", b"abc")])
    harness = _source(kafka_bootstrap, topic, f"g-{topic}", stop_later, {"header.traceId": "trace", "topicHeader": "src"})
    got: list[Event] = []
    assert harness.poll(lambda: _collect(harness, got, 1), 20)
    headers = got[0].headers
    assert got[0].body == b"v1"
    assert headers["src"] == topic and "topic" not in headers
    assert headers["partition"] == "0" and headers["offset"] == "0" and headers["key"] == "the-key"
    assert headers["traceId"] == "abc"
    assert abs(int(headers["timestamp"]) - time.time() * 1000) < 120_000  # the record's time


def test_source_flume_event_format_keeps_event_headers(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    produce_records(topic, [avro_event.encode({"timestamp": "5", "topic": "orig", "h": "v"}, b"body"), b"not avro"])
    harness = _source(kafka_bootstrap, topic, f"g-{topic}", stop_later, {"useFlumeEventFormat": "true"})
    got: list[Event] = []
    assert harness.poll(lambda: _collect(harness, got, 2), 20)
    assert got[0].body == b"body"
    assert got[0].headers["timestamp"] == "5" and got[0].headers["topic"] == "orig" and got[0].headers["h"] == "v"
    assert got[1].body == b"not avro"  # kept, with a warning: never dropped


def test_source_commits_only_delivered_batches(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    group = f"g-{topic}"
    produce_records(topic, [b"%d" % i for i in range(120)])
    harness = _source(kafka_bootstrap, topic, group, stop_later)
    harness.poll(lambda: harness.channel.size() >= 120, 20)
    harness.poll(lambda: False, 0.5)
    assert _committed(kafka_bootstrap, group, topic, 1) == [-1001]  # nothing delivered, nothing committed
    tx = harness.channel.take_transaction()
    assert len(tx.take(50)) == 50
    tx.commit()  # the first batch (50 records) is delivered
    harness.poll(lambda: _committed(kafka_bootstrap, group, topic, 1) == [50], 10)
    assert _committed(kafka_bootstrap, group, topic, 1) == [50]


def test_source_without_acknowledgements_commits_after_the_channel(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    group = f"g-{topic}"
    produce_records(topic, [b"%d" % i for i in range(30)])
    harness = _source(kafka_bootstrap, topic, group, stop_later, acknowledgements=False)
    harness.poll(lambda: harness.channel.size() >= 30, 20)
    harness.poll(lambda: _committed(kafka_bootstrap, group, topic, 1) == [30], 10)
    assert _committed(kafka_bootstrap, group, topic, 1) == [30]  # Flume's rule: committed once in the channel


def test_rebalance_loses_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], produce_records: Callable[..., None], stop_later: Callable[[Any], Any]
) -> None:
    """Source A reads everything but delivers only part; B joins the group and takes
    partitions from A; A's undelivered records of revoked partitions are re-read by B."""
    topic = new_topic(4)
    group = f"g-{topic}"
    bodies = [b"%03d" % i for i in range(400)]
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i, body in enumerate(bodies):
        producer.produce(topic, body, partition=i % 4)
    assert producer.flush(30) == 0

    # two members in one process (same host, agent and source names): their ids must differ
    a = _source(kafka_bootstrap, topic, group, stop_later, {"kafka.consumer.group.instance.id": "member-a"})
    assert a.poll(lambda: a.channel.size() >= 400, 20)
    tx = a.channel.take_transaction()
    delivered = [e.body for e in tx.take(100)]
    tx.commit()  # A delivers 100; the other 300 stay in its channel, in flight
    a.poll(lambda: False, 0.5)  # A commits the delivered part

    b = _source(kafka_bootstrap, topic, group, stop_later, {"kafka.consumer.group.instance.id": "member-b"})
    seen_b: list[bytes] = []
    a_source, b_source = a.source, b.source
    assert isinstance(a_source, KafkaSource) and isinstance(b_source, KafkaSource)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (b_source._assigned and len(a_source._assigned) < 4):
        a_source.process()
        b_source.process()
    assert b_source._assigned, "B never got a partition"
    quiet = time.monotonic() + 3
    while time.monotonic() < quiet:  # B re-reads what A had not delivered from B's partitions
        a_source.process()
        b_source.process()
        got = [e.body for e in b.take_all(commit=True)]
        seen_b.extend(got)
    delivered += [e.body for e in a.take_all(commit=True)]  # A finally delivers all it holds
    assert set(delivered) | set(seen_b) == set(bodies)
    b_partitions = {p for (_t, p) in b_source._assigned}
    assert {int(x) % 4 for x in seen_b} <= b_partitions


# -- channel -----------------------------------------------------------------------------------


def test_channel_without_source_reads_what_a_sink_wrote(
    kafka_bootstrap: str, new_topic: Callable[..., str], stop_later: Callable[[Any], Any]
) -> None:
    topic = new_topic(1)
    sink = _sink(kafka_bootstrap, stop_later, **{"kafka.topic": topic, "useFlumeEventFormat": "true"})
    assert sink.write([Event(b"e%d" % i, {"n": str(i)}) for i in range(20)]) is None
    channel = stop_later(
        make(
            KafkaChannel, "c", **{"kafka.bootstrap.servers": kafka_bootstrap, "kafka.topic": topic, "kafka.consumer.group.id": f"g-{topic}"}
        )
    )
    channel.start()
    tx = channel.take_transaction()
    got = tx.take(20)
    tx.commit()
    assert [(e.body, e.headers) for e in got] == [(b"e%d" % i, {"n": str(i)}) for i in range(20)]
    assert _committed(kafka_bootstrap, f"g-{topic}", topic, 1) == [20]


def test_channel_pays_tokens_only_when_kafka_acknowledged(stop_later: Callable[[Any], Any]) -> None:
    from flafka.errors import ChannelError
    from flafka_testkit.services.base import free_port

    channel = stop_later(
        make(KafkaChannel, "c", **{"kafka.bootstrap.servers": f"127.0.0.1:{free_port()}", "kafka.producer.message.timeout.ms": "1000"})
    )
    channel.start()
    tracker = AckTracker()
    token = tracker.token("p")
    tx = channel.put_transaction()
    tx.put([Event(b"x")], token)
    token.add(1)
    with pytest.raises(ChannelError, match="not acknowledged"):
        tx.commit()
    token.abandon()
    assert tracker.delivered() == []


def test_channel_plain_values_and_a_bad_partition_header(
    kafka_bootstrap: str, new_topic: Callable[..., str], read_topic: Callable[..., list[Any]], stop_later: Callable[[Any], Any]
) -> None:
    from flafka.errors import ChannelError

    topic = new_topic(2)
    channel = stop_later(
        make(
            KafkaChannel,
            "c",
            **{"kafka.bootstrap.servers": kafka_bootstrap, "kafka.topic": topic, "parseAsFlumeEvent": "false", "partitionIdHeader": "p"},
        )
    )
    channel.start()
    with channel.put_transaction() as tx:
        tx.put([Event(b"one", {"p": "1", "key": "k"})])
    got = read_topic(topic, 1)
    assert [(m.partition(), m.value(), m.key()) for m in got] == [(1, b"one", b"k")]
    tx = channel.put_transaction()
    with pytest.raises(ChannelError, match="partitionIdHeader"):
        tx.put([Event(b"two", {"p": "x"})])
    tx.rollback()


# -- a whole agent from a Flume configuration --------------------------------------------------


def test_agent_kafka_source_to_kafka_sink_through_a_kafka_channel(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    produce_records: Callable[..., None],
    read_topic: Callable[..., list[Any]],
    run_agent: Any,
) -> None:
    src, dst, chan = new_topic(1), new_topic(1), new_topic(1)
    produce_records(src, [b"m%03d" % i for i in range(300)])
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {kafka_bootstrap}
a1.sources.r1.kafka.topics = {src}
a1.sources.r1.kafka.consumer.group.id = g-{src}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.brokerList = {kafka_bootstrap}
a1.channels.c1.topic = {chan}
a1.channels.c1.groupId = g-{chan}
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {kafka_bootstrap}
a1.sinks.k1.kafka.topic = {dst}
# the source's `topic` header would send every event back to {src} (Flume's behaviour too)
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.channel = c1
"""
    agent = run_agent(config, name="a1")
    got = read_topic(dst, 300, timeout=30)
    assert sorted(m.value() for m in got) == [b"m%03d" % i for i in range(300)]
    time.sleep(0.5)
    counters = {c.name: c.snapshot() for c in agent.counters()}
    assert counters["r1"]["EventAcceptedCount"] == 300  # read once: no loop, no replay
    assert counters["k1"]["EventDrainSuccessCount"] == 300
    assert agent.stop(10)


# -- Apache Flume 1.11 itself ------------------------------------------------------------------


@pytest.mark.slow
def test_byte_compatible_with_flume_kafka_components(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    read_topic: Callable[..., list[Any]],
    flume_home: Any,
    tmp_path: Path,
    stop_later: Callable[[Any], Any],
) -> None:
    """Flume's KafkaSink (useFlumeEventFormat) writes exactly the bytes flafka's encoder
    writes; Flume's KafkaSource reads what flafka's sink wrote, headers included."""
    from_flume, to_flume, round_trip = new_topic(1), new_topic(1), new_topic(1)
    sink = _sink(kafka_bootstrap, stop_later, **{"kafka.topic": to_flume, "useFlumeEventFormat": "true"})
    ours = [Event(b"flafka-%d" % i, {"origin": "flafka", "n": str(i), "héader": "wért ✓"}) for i in range(5)]
    assert sink.write(ours) is None
    config = f"""
a1.sources = seq kin
a1.channels = c1 c2
a1.sinks = k1 k2
a1.sources.seq.type = seq
a1.sources.seq.totalEvents = 5
a1.sources.seq.interceptors = i1 i2 i3
a1.sources.seq.interceptors.i1.type = static
a1.sources.seq.interceptors.i1.key = origin
a1.sources.seq.interceptors.i1.value = flume
a1.sources.seq.interceptors.i2.type = static
a1.sources.seq.interceptors.i2.key = key
a1.sources.seq.interceptors.i2.value = the-key
a1.sources.seq.interceptors.i3.type = host
a1.sources.seq.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {kafka_bootstrap}
a1.sinks.k1.kafka.topic = {from_flume}
a1.sinks.k1.useFlumeEventFormat = true
a1.sinks.k1.channel = c1
a1.sources.kin.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.kin.kafka.bootstrap.servers = {kafka_bootstrap}
a1.sources.kin.kafka.topics = {to_flume}
a1.sources.kin.kafka.consumer.group.id = g-{to_flume}
a1.sources.kin.kafka.consumer.auto.offset.reset = earliest
a1.sources.kin.useFlumeEventFormat = true
a1.sources.kin.batchSize = 100
a1.sources.kin.channels = c2
a1.channels.c2.type = memory
a1.sinks.k2.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k2.kafka.bootstrap.servers = {kafka_bootstrap}
a1.sinks.k2.kafka.topic = {round_trip}
a1.sinks.k2.allowTopicOverride = false
a1.sinks.k2.useFlumeEventFormat = true
a1.sinks.k2.channel = c2
"""
    with flume_home.run_agent(config, tmp_path / "flume"):
        flume_wrote = read_topic(from_flume, 5, timeout=60)
        back = read_topic(round_trip, 5, timeout=60)
    assert len(flume_wrote) == 5
    for m in flume_wrote:
        headers, body = avro_event.decode(m.value())
        assert headers["origin"] == "flume" and headers["key"] == "the-key" and "host" in headers
        # byte for byte what flafka writes for the same event, header order included
        assert avro_event.encode(headers, body) == m.value()
    assert m.key() == b"the-key"
    assert len(back) == 5
    for original, m in zip(ours, back, strict=True):
        headers, body = avro_event.decode(m.value())
        assert body == original.body
        assert {k: headers[k] for k in original.headers} == original.headers
        assert headers["topic"] == to_flume and "offset" in headers and "partition" in headers
        assert avro_event.encode(headers, body) == m.value()
