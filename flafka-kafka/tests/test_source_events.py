"""The Kafka source's batches and events: plain records become one column-wise Batch
(bodies plus a lazy header column); asked for events it gives KafkaRecordEvents whose
headers are built on first access, equal to what Flume's source sets (no broker needed)."""

from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, KafkaError, Message

from flafka.batch import Batch, as_events, bodies_of, header_maps_of
from flafka.event import Event
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.source import KafkaRecordEvent, KafkaSource, RecordHeaders, add_record_headers


def record(offset: int = 7, key: bytes | None = b"k", headers: Any = None, ts: tuple[int, int] = (TIMESTAMP_CREATE_TIME, 1234)) -> Any:
    return Message(topic="orders", partition=3, offset=offset, key=key, value=b"body-%d" % offset, timestamp=ts, headers=headers)


def source(**raw: str) -> KafkaSource:
    return make(KafkaSource, "s", **{"kafka.bootstrap.servers": "fake:9092", "kafka.topics": "orders", **raw})


def convert(messages: list[Any], **raw: str) -> tuple[list[Event], dict[tuple[str, int], tuple[int, int, int]]]:
    converted = source(**raw)._convert(messages)
    assert converted is not None
    return converted


def one(m: Any, **raw: str) -> Any:
    """The single event of record ``m`` (typed Any: tests look at KafkaRecordEvent's slots)."""
    (e,), _ = convert([m], **raw)
    return e


def test_headers_are_built_on_first_access() -> None:
    events, position = convert([record(7), record(8, key=None)])
    assert all(type(e) is KafkaRecordEvent for e in events)
    assert position == {("orders", 3): (7, 9, 0)}
    e: Any = events[0]
    assert e.has_headers  # without building them
    assert e._record is not None
    assert e.body == b"body-7"
    assert e.headers == {"timestamp": "1234", "topic": "orders", "partition": "3", "offset": "7", "key": "k"}
    assert e._record is None  # released once built
    assert e.headers is e.headers and e._headers is e.headers  # one dict, owned by the event
    assert events[1].headers == {"timestamp": "1234", "topic": "orders", "partition": "3", "offset": "8"}


def test_direct_slot_readers_see_the_headers() -> None:
    """Code that reads ``event._headers`` (the Kafka sink does) gets them built too."""
    e = one(record())
    assert e._headers is not None and e._headers["offset"] == "7"


def test_lazy_headers_equal_the_eager_ones_with_header_copies_and_topic_header() -> None:
    m = record(headers=[("trace", b"abc"), ("other", b"x")])
    e = one(m, **{"header.traceId": "trace", "topicHeader": "src"})
    eager = add_record_headers({}, m, (True, "src", [("traceId", "trace")], 0))
    assert e.headers == eager
    assert list(e.headers) == list(eager)  # same order
    assert eager == {"timestamp": "1234", "traceId": "abc", "src": "orders", "partition": "3", "offset": "7", "key": "k"}
    e2 = one(m, setTopicHeader="false")
    assert "topic" not in e2.headers


def test_a_record_without_timestamp_gets_the_batch_read_time() -> None:
    e = one(record(ts=(TIMESTAMP_NOT_AVAILABLE, -1)))
    assert e._context[3] > 1_600_000_000_000
    assert e.headers["timestamp"] == str(e._context[3])


def test_lazy_events_behave_as_events() -> None:
    e = one(record())
    plain = Event(b"body-7", {"timestamp": "1234", "topic": "orders", "partition": "3", "offset": "7", "key": "k"})
    assert e == plain and plain == e
    assert "offset" in repr(e)
    c = one(record())
    clone = copy.copy(c)
    assert clone == plain
    d = one(record())
    assert pickle.loads(pickle.dumps(d)) == plain
    f = one(record())
    f.headers = {"a": "b"}  # replaced before ever built
    assert f.headers == {"a": "b"} and f.has_headers
    f.headers.clear()
    assert not f.has_headers
    g = one(record())
    g.headers["x"] = "y"  # interceptors change headers in place
    assert g.headers["x"] == "y" and g.headers["offset"] == "7"


def test_headers_built_by_two_threads_at_once() -> None:
    """Two sinks reading one event's headers at once both get them (never an error)."""
    for _ in range(200):
        e = one(record())
        seen: list[str] = []

        def read(e: Any = e, seen: list[str] = seen) -> None:
            seen.append(e.headers["offset"])

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == ["7"] * 4


def test_flume_event_format_records_stay_eager_events() -> None:
    value = avro_event.encode({"timestamp": "5", "h": "v"}, b"inner")
    m = Message(topic="orders", partition=0, offset=1, key=None, value=value, timestamp=(TIMESTAMP_CREATE_TIME, 9))
    e = one(m, useFlumeEventFormat="true")
    assert type(e) is Event
    assert e.body == b"inner" and e.headers == {"timestamp": "5", "h": "v", "topic": "orders", "partition": "0", "offset": "1"}


def test_error_records_are_skipped_and_positions_span_each_partition() -> None:
    eof = Message(topic="orders", partition=3, offset=6, error=KafkaError(KafkaError._PARTITION_EOF))
    events, position = convert([record(5), eof, record(9)])
    assert [e.body for e in events] == [b"body-5", b"body-9"]
    assert position == {("orders", 3): (5, 10, 0)}


# -- column-wise batches (issue 15): bodies plus a lazy header column over the records -----


def records(n: int = 10, **kw: Any) -> list[Any]:
    """``n`` records of partitions 0-2 (offsets ascending in each), some without key or value."""
    out = []
    for i in range(n):
        ts = (TIMESTAMP_NOT_AVAILABLE, -1) if i % 5 == 4 else (TIMESTAMP_CREATE_TIME, 1000 + i)
        key = None if i % 3 == 0 else b"k%d" % i
        value = None if i == 7 else b"v%d" % i
        headers = [("trace", b"t%d" % i), ("other", b"x")] if i % 2 else None
        out.append(Message(topic="orders", partition=i % 3, offset=100 + i, key=key, value=value, timestamp=ts, headers=headers))
    return out


def batch_of(messages: list[Any], **raw: str) -> Any:
    converted = source(**raw)._convert(messages)
    assert converted is not None
    return converted[0]


SETTINGS: list[dict[str, str]] = [
    {},
    {"header.traceId": "trace", "topicHeader": "src"},
    {"setTopicHeader": "false", "header.a": "other", "header.b": "missing"},
]


def test_plain_records_become_one_column_wise_batch() -> None:
    ms = records()
    b = batch_of(ms)
    assert type(b) is Batch and isinstance(b.column, RecordHeaders) and b.columnar
    assert bodies_of(b) == [b"" if i == 7 else b"v%d" % i for i in range(10)]  # a record without value: empty body
    assert len(b) == 10 and b.has_headers()
    assert b.columnar  # reading bodies, length and has_headers built nothing


def test_header_maps_equal_what_the_source_built_per_record_before() -> None:
    """The lazy column's maps are exactly add_record_headers' (Flume's topic, partition,
    offset, timestamp, key and header.* copies), in the same key order, for every setting."""
    for raw in SETTINGS:
        ms = records()
        b = batch_of(ms, **raw)
        context = b._column.context
        eager = [add_record_headers({}, m, context) for m in ms]
        maps = header_maps_of(b)
        assert maps == eager
        assert [list(m) for m in maps] == [list(m) for m in eager]
        assert b.columnar  # maps built, events not
        s = source(**raw)
        expected_topic = None if raw.get("setTopicHeader") == "false" else raw.get("topicHeader", "topic")
        assert context[:3] == (s.set_topic_header, s.topic_header, s.header_map)
        for i, m in enumerate(maps):
            assert m is not None
            assert m["partition"] == str(i % 3) and m["offset"] == str(100 + i)
            assert m["timestamp"] == (str(context[3]) if i % 5 == 4 else str(1000 + i))
            assert m.get("key") == (None if i % 3 == 0 else f"k{i}")
            if expected_topic:
                assert m[expected_topic] == "orders"
            else:
                assert "topic" not in m
        if "header.traceId" in raw:
            assert [m.get("traceId") for m in maps] == [f"t{i}" if i % 2 else None for i in range(10)]  # type: ignore[union-attr]


def test_events_are_lazy_record_events_equal_to_the_maps() -> None:
    for raw in SETTINGS:
        b = batch_of(records(), **raw)
        maps = header_maps_of(b)
        events = as_events(b)
        assert all(type(e) is KafkaRecordEvent for e in events)
        assert all(e._record is not None for e in events)  # headers not built yet
        assert [e.headers for e in events] == maps
        assert [e.body for e in events] == bodies_of(b)
        assert not b.columnar and as_events(b) is events  # built once: the batch's truth from now on
        events[0].headers["x"] = "y"
        assert b[0].headers["x"] == "y"


def test_slicing_stays_lazy_with_steps_too() -> None:
    """The memory channel slices batches (``events[:k]``, ``events[k:]``); the
    load-balancing selector with steps (``events[k::n]``)."""
    ms = records(12)
    b = batch_of(ms, **{"header.traceId": "trace"})
    full = header_maps_of(b)
    bodies = bodies_of(b)
    for index in (slice(0, 5), slice(5, None), slice(1, None, 3), slice(None, None, 2), slice(None, None, -1), slice(20, 30)):
        part = b[index]
        assert type(part) is Batch and isinstance(part.column, RecordHeaders) and part.columnar
        assert bodies_of(part) == bodies[index]
        assert header_maps_of(part) == full[index]
        assert len(part._column) == len(part)
        assert [e.headers for e in part] == full[index]  # and as KafkaRecordEvents
    assert b.columnar  # slicing built nothing on the original
    nested = b[1::2][1:]
    assert bodies_of(nested) == bodies[1::2][1:] and header_maps_of(nested) == full[1::2][1:]


def test_a_column_wise_batch_through_a_memory_channel_and_load_balancing() -> None:
    """Taken in pieces of another size, and spread over channels: bodies and headers
    as sent, nothing built on the way."""
    from flafka.channels.memory import MemoryChannel
    from flafka.selectors.builtin import LoadBalancingChannelSelector

    ms = records(10)
    b = batch_of(ms)
    maps = header_maps_of(b)
    channel = make(MemoryChannel, "m", capacity=100, transactionCapacity=100)
    channel.start()
    tx = channel.put_transaction()
    tx.put(b)
    tx.commit()
    taken: list[Any] = []
    take = channel.take_transaction()
    while True:
        part = take.take(4)
        if not part:
            break
        assert isinstance(part, Batch) and isinstance(part.column, RecordHeaders) and part.columnar
        taken.append(part)
    take.commit()
    assert [len(p) for p in taken] == [4, 4, 2]
    assert [x for p in taken for x in bodies_of(p)] == bodies_of(b)
    assert [m for p in taken for m in header_maps_of(p)] == maps
    channels = {n: make(MemoryChannel, n) for n in ("c1", "c2", "c3")}
    selector = make(LoadBalancingChannelSelector, "lb", policy="round_robin")
    selector.bind(channels)
    required, _ = selector.select(b)  # type: ignore[arg-type]
    spread = {ch.name: part for ch, part in required}
    assert all(isinstance(p, Batch) and p.columnar for p in spread.values())
    assert sorted(x for p in spread.values() for x in bodies_of(p)) == sorted(bodies_of(b))
    assert sorted(m["offset"] for p in spread.values() for m in header_maps_of(p) if m) == sorted(str(100 + i) for i in range(10))
    assert b.columnar


def test_positions_without_rebalance_equal_the_per_record_loop() -> None:
    """The C-speed scan (reads with no rebalance between them) and the per-record loop
    agree: per partition the first offset and the last + 1."""
    s = source()
    two = source(**{"kafka.topics": "orders,other"})  # records of several topics: the topics are read from the records
    regex = source(**{"kafka.topics.regex": "orders|other"})
    mixed = [*records(6), *(Message(topic="other", partition=0, offset=5 + i, value=b"o") for i in range(3))]
    for src, batches in ((s, (records(10), records(1))), (two, (records(10), mixed)), (regex, (records(10), mixed))):
        for ms in batches:
            assert src._positions(ms, Message, True) == src._positions(ms, Message, False)
    expected = {("orders", 0): (100, 110, 0), ("orders", 1): (101, 108, 0), ("orders", 2): (102, 109, 0)}
    assert s._positions(records(10), Message, True) == expected
    assert s._topics_read == {"orders"} and not two._topics_read and not regex._topics_read
    assert not source(**{"kafka.topics": "^orders.*"})._topics_read  # librdkafka reads a '^' subscription as a regex


def test_flume_event_format_batches_stay_lists_of_events() -> None:
    value = avro_event.encode({"h": "v"}, b"inner")
    ms = [Message(topic="orders", partition=0, offset=i, key=None, value=value, timestamp=(TIMESTAMP_CREATE_TIME, 9)) for i in range(3)]
    b = batch_of(ms, useFlumeEventFormat="true")
    assert type(b) is list and all(type(e) is Event for e in b)
    assert b[2].headers == {"h": "v", "timestamp": "9", "topic": "orders", "partition": "0", "offset": "2"}


def test_only_errors_give_no_batch() -> None:
    eof = Message(topic="orders", partition=3, offset=6, error=KafkaError(KafkaError._PARTITION_EOF))
    assert source()._convert([eof]) is None
