"""The Kafka source's events: plain records become KafkaRecordEvents whose headers are
built on first access, equal to what Flume's source sets (no broker needed)."""

from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, KafkaError, Message

from flafka.event import Event
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.source import KafkaRecordEvent, KafkaSource, add_record_headers


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
