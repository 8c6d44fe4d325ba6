"""The sink's record mapping and outcome mapping, with an in-process fake producer (in
addition to the real-broker tests in test_integration_*.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from flafka.batch import Batch, subset
from flafka.channels.memory import MemoryChannel
from flafka.errors import PermanentError, RetriableError
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.runtime import DeadLetterFile, SinkDriver, SinkFailure
from flafka.testing import make
from flafka_kafka import avro_event
from flafka_kafka.sink import KafkaSink, outcome_of


class FakeMessage:
    """What a delivery report passes to the callback (the record's value)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def value(self) -> Any:
        return self.record["value"]

    def topic(self) -> str:
        return str(self.record["topic"])

    def key(self) -> bytes | None:
        key = self.record["key"]
        return key.encode() if isinstance(key, str) else key


class FakeProducer:
    """Records what was produced; ``verdict(n, record)`` decides each delivery report
    (None = acknowledged, a KafkaError = failed, "stuck" = never reported)."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.records: list[dict[str, Any]] = []
        self.queue: list[tuple[dict[str, Any], Callable[..., None]]] = []
        self.verdict: Callable[[int, dict[str, Any]], Any] = lambda n, r: None
        self.raise_on_produce: Callable[[int], BaseException | None] = lambda n: None
        self.buffer_full_times = 0
        self.flush_timeouts: list[float] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, on_delivery: Any = None, **kw: Any) -> None:
        if self.buffer_full_times:
            self.buffer_full_times -= 1
            raise BufferError("queue full")
        exc = self.raise_on_produce(len(self.records))
        if exc is not None:
            raise exc
        record = {"topic": topic, "value": value, "key": key, "partition": partition, **kw}
        self.records.append(record)
        self.queue.append((record, on_delivery))
        self.callbacks.append(on_delivery)

    def produce_batch(self, topic: str, messages: list[dict[str, Any]], partition: int = -1, on_delivery: Any = None) -> int:
        """As confluent-kafka's: a message that cannot be queued gets ``_error`` and no report."""
        queued = 0
        for m in messages:
            try:
                self.produce(topic, m.get("value"), m.get("key"), m.get("partition", partition), on_delivery=m.get("callback"))
                queued += 1
            except BufferError:
                m["_error"] = KafkaError(KafkaError._QUEUE_FULL)
            except KafkaException as exc:
                m["_error"] = exc.args[0]
        return queued

    def poll(self, timeout: float = 0) -> int:
        return self._deliver()

    def flush(self, timeout: float = 0) -> int:
        self.flush_timeouts.append(timeout)
        self._deliver()
        return len(self.queue)

    def _deliver(self) -> int:
        kept = []
        done = 0
        for record, cb in self.queue:
            n = next(k for k, r in enumerate(self.records) if r is record)  # equal records may repeat
            verdict = self.verdict(n, record)
            if isinstance(verdict, str):  # (KafkaError == str sets a stray TypeError)
                kept.append((record, cb))
                continue
            if verdict is not None or not self.conf.get("delivery.report.only.error"):
                cb(verdict, FakeMessage(record))  # as librdkafka: failures only, by default of the sink
            done += 1
        self.queue = kept
        return done


def sink_with_fake(**raw: str) -> tuple[KafkaSink, FakeProducer]:
    raw = {"kafka.bootstrap.servers": "fake:9092", **raw}
    sink = make(KafkaSink, "k", **raw)
    holder: list[FakeProducer] = []

    def factory(conf: dict[str, Any]) -> FakeProducer:
        holder.append(FakeProducer(conf))
        return holder[-1]

    sink.producer_factory = factory
    sink.start()
    return sink, holder[0]


def events(n: int, **headers: str) -> list[Event]:
    return [Event(b"body-%d" % i, {"i": str(i), **headers}) for i in range(n)]


# -- record mapping --------------------------------------------------------------------------


def test_all_acknowledged_is_none_and_records_are_plain_bodies() -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "t"})
    assert sink.write(events(3, key="k1")) is None
    assert [(r["topic"], r["value"], r["key"], r["partition"]) for r in fake.records] == [
        ("t", b"body-0", "k1", -1),
        ("t", b"body-1", "k1", -1),
        ("t", b"body-2", "k1", -1),
    ]
    assert fake.conf["acks"] == "1" and fake.conf["bootstrap.servers"] == "fake:9092"


def test_flume_event_format() -> None:
    sink, fake = sink_with_fake(useFlumeEventFormat="true")
    sink.write([Event(b"x", {"a": "1"})])
    assert fake.records[0]["value"] == avro_event.encode({"a": "1"}, b"x")
    assert fake.records[0]["key"] is None


def test_topic_header_override_and_template() -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "logs-%{host}"})
    sink.write([Event(b"a", {"host": "h1"}), Event(b"b", {"host": "h2", "topic": "special"}), Event(b"c", {})])
    assert [r["topic"] for r in fake.records] == ["logs-h1", "special", "logs-"]


def test_topic_override_disabled_still_substitutes_headers() -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "logs-%{host}", "allowTopicOverride": "false"})
    sink.write([Event(b"b", {"host": "h2", "topic": "special"})])
    assert [r["topic"] for r in fake.records] == ["logs-h2"]


def test_custom_topic_header() -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "default", "topicHeader": "dest"})
    sink.write([Event(b"a", {"dest": "d1", "topic": "ignored"})])
    assert fake.records[0]["topic"] == "d1"


def test_partitions_timestamp_and_record_headers() -> None:
    sink, fake = sink_with_fake(
        defaultPartitionId="2", partitionIdHeader="p", timestampHeader="ts", **{"header.host": "x-host", "header.absent": "x-absent"}
    )
    out = sink.write(
        [
            Event(b"a", {"p": "5", "ts": "1700000000000", "host": "web1"}),
            Event(b"b", {}),
            Event(b"c", {"ts": "not-a-number"}),
        ]
    )
    assert out is None
    assert [r["partition"] for r in fake.records] == [5, 2, 2]
    assert [r["timestamp"] for r in fake.records] == [1700000000000, 0, 0]
    assert fake.records[0]["headers"] == [("x-host", b"web1")]
    assert fake.records[1]["headers"] is None


def test_buffer_full_waits_and_produces() -> None:
    sink, fake = sink_with_fake()
    fake.buffer_full_times = 3
    assert sink.write(events(2)) is None
    assert len(fake.records) == 2


# -- outcomes --------------------------------------------------------------------------------


def test_one_retriable_failure_names_its_index() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError.NOT_ENOUGH_REPLICAS) if n == 1 else None
    out = sink.write(events(3))
    assert out is not None
    assert list(out.failed) == [1] and out.retriable is True
    assert isinstance(out.error, RetriableError) and "NOT_ENOUGH_REPLICAS" in str(out.error)


def test_message_too_large_is_permanent() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if n == 0 else None
    out = sink.write(events(2))
    assert out is not None and list(out.failed) == [0] and out.retriable is False
    assert isinstance(out.error, PermanentError) and "message.max.bytes" in str(out.error)


def test_local_produce_error_is_reported_for_that_record() -> None:
    sink, fake = sink_with_fake()
    calls = iter(range(100))
    fake.raise_on_produce = lambda n: KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)) if next(calls) == 1 else None
    out = sink.write(events(3))
    assert out is not None and list(out.failed) == [1] and out.retriable is False


def test_mixed_failures_are_retriable_first() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: {0: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), 2: KafkaError(KafkaError._MSG_TIMED_OUT)}.get(n)
    out = sink.write(events(3))
    assert out is not None and list(out.failed) == [0, 2] and out.retriable is True


def test_bad_partition_header_is_permanent_for_that_event_only() -> None:
    sink, fake = sink_with_fake(partitionIdHeader="p")
    out = sink.write([Event(b"a", {"p": "x"}), Event(b"b", {"p": "1"})])
    assert out is not None and list(out.failed) == [0] and out.retriable is False
    assert "partitionIdHeader" in str(out.error)
    assert [r["value"] for r in fake.records] == [b"b"]


def test_unreported_records_fail_retriably() -> None:
    """A flush that times out: librdkafka reports failures only, so no record without a
    report is known delivered: all of them fail, retriably (a duplicate at worst)."""
    sink, fake = sink_with_fake(**{"kafka.producer.message.timeout.ms": "1000"})
    fake.verdict = lambda n, r: "stuck" if n >= 1 else None
    assert sink.flush_timeout == 6.0  # message.timeout.ms + 5 s
    sink.flush_timeout = 0.3
    with pytest.raises(RetriableError, match="no delivery report"):
        sink.write(events(3, key="k"))


def test_outcome_of_all_delivered() -> None:
    assert outcome_of([None, None]) is None


# -- through the runtime: nothing lost -------------------------------------------------------


def _driver(sink: KafkaSink, n: int) -> tuple[SinkDriver, MemoryChannel]:
    channel = make(MemoryChannel, "c", capacity=1000, transactionCapacity=100)
    channel.start()
    batch = events(n)
    for i in range(0, n, 100):
        with channel.put_transaction() as tx:
            tx.put(batch[i : i + 100])
    sink.channel = channel
    sink.counter = SinkCounter("k")
    return SinkDriver(sink), channel


def drive_batch(driver: SinkDriver) -> None:
    """Move one batch all the way: the sink keeps two batches in flight, so drive until
    nothing is (a failure raises SinkFailure as ``drive`` does)."""
    driver.drive()
    while driver.in_flight:
        driver.drive()


def test_kafka_sink_produces_the_next_batch_while_the_previous_one_is_acknowledged() -> None:
    sink, fake = sink_with_fake()
    driver, channel = _driver(sink, 250)
    driver.drive()  # batch 1 produced, not waited for
    assert driver.in_flight == 1 and len(fake.records) == 100 and sink.counter.event_drain_success_count == 0
    assert fake.flush_timeouts == []
    driver.drive()  # batch 2 produced, then batch 1 waited for (one flush) and committed
    assert driver.in_flight == 1 and len(fake.records) == 200 and sink.counter.event_drain_success_count == 100
    assert channel.size() == 50 and len(fake.flush_timeouts) == 1
    driver.drive()  # batch 3 produced; batch 2 was confirmed by that flush: no second one
    assert len(fake.flush_timeouts) == 1
    assert driver.in_flight == 1 and sink.counter.event_drain_success_count == 200
    assert driver.settle() == []
    assert channel.is_empty() and sink.counter.event_drain_success_count == 250


def test_runtime_retries_only_the_failed_records() -> None:
    sink, fake = sink_with_fake()
    fails = {1: 2}  # record index 1 fails twice, then succeeds

    def verdict(n: int, r: dict[str, Any]) -> Any:
        body = r["value"]
        if body == b"body-1" and fails[1] > 0:
            fails[1] -= 1
            return KafkaError(KafkaError.REQUEST_TIMED_OUT)
        return None

    fake.verdict = verdict
    driver, channel = _driver(sink, 5)
    drive_batch(driver)
    assert channel.is_empty()
    assert [r["value"] for r in fake.records].count(b"body-1") == 3
    assert sorted(set(r["value"] for r in fake.records)) == [b"body-%d" % i for i in range(5)]


def test_runtime_rolls_back_when_the_broker_keeps_failing() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError._TRANSPORT)
    driver, channel = _driver(sink, 5)
    with pytest.raises(SinkFailure) as info:
        drive_batch(driver)
    assert info.value.retriable
    assert channel.size() == 5  # rolled back: nothing lost


def test_runtime_dead_letters_permanently_rejected_events(tmp_path: Path) -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if r["value"] == b"body-0" else None
    driver, channel = _driver(sink, 3)
    driver.dead_letter = DeadLetterFile(str(tmp_path), "k")
    drive_batch(driver)
    assert channel.is_empty()
    assert b"MSG_SIZE_TOO_LARGE" in driver.dead_letter.path.read_bytes()
    assert sorted(r["value"] for r in fake.records) == [b"body-0", b"body-1", b"body-2"]


def test_whole_batch_failures_raise() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError._TRANSPORT)
    with pytest.raises(RetriableError, match="_TRANSPORT"):
        sink.write(events(2))
    fake.verdict = lambda n, r: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    with pytest.raises(PermanentError, match="MSG_SIZE_TOO_LARGE"):
        sink.write(events(2))


# -- batches without headers: bodies straight to produce(), one shared callback ---------------


def plain(n: int, column: bool = True, dup: int = 0) -> Batch | list[Event]:
    """``n`` header-less events; with ``dup``, body i is ``body-(i % dup)`` (repeated values)."""
    bodies = [b"body-%d" % (i % dup if dup else i) for i in range(n)]
    return Batch(bodies) if column else [Event(b) for b in bodies]


@pytest.mark.parametrize("column", [True, False], ids=["Batch", "list"])
def test_plain_batch_is_bodies_to_the_topic(column: bool) -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "logs-%{host}", "defaultPartitionId": "3"})
    batch = plain(4, column)
    assert sink.write(batch) is None
    assert [(r["topic"], r["value"], r["key"], r["partition"]) for r in fake.records] == [
        ("logs-", b"body-%d" % i, None, 3) for i in range(4)
    ]
    if column:
        assert isinstance(batch, Batch) and batch.columnar  # no Event was built


def test_plain_batch_shares_one_callback() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: "stuck"
    sink.flush_timeout = 0.01
    with pytest.raises(RetriableError):
        sink.write(plain(5))
    assert len({id(cb) for _, cb in fake.queue}) == 1


def test_plain_batch_flume_event_format() -> None:
    sink, fake = sink_with_fake(useFlumeEventFormat="true")
    assert sink.write(plain(2)) is None
    assert [r["value"] for r in fake.records] == [avro_event.encode({}, b"body-0"), avro_event.encode({}, b"body-1")]


def test_plain_failures_are_attributed_by_value_with_repeated_bodies() -> None:
    """Records 1, 4 and 6 fail; bodies repeat every 3 records (0 3 6 equal, 1 4 equal): the
    failed indices hold exactly the failed values, as many times as they failed."""
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: KafkaError(KafkaError.NOT_ENOUGH_REPLICAS) if n in (1, 4, 6) else None
    batch = plain(8, dup=3)
    out = sink.write(batch)
    assert out is not None and out.retriable
    assert len(out.failed) == 3 and len(set(out.failed)) == 3
    assert sorted(b for b in subset(batch, out.failed).bodies) == sorted([b"body-1", b"body-1", b"body-0"])


def test_plain_mixed_failures_keep_their_kind() -> None:
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: {0: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), 2: KafkaError(KafkaError._MSG_TIMED_OUT)}.get(n)
    out = sink.write(plain(3))
    assert out is not None and list(out.failed) == [0, 2] and out.retriable is True
    fake.verdict = lambda n, r: KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if r["value"] == b"body-1" else None
    out = sink.write(plain(3))
    assert out is not None and list(out.failed) == [1] and out.retriable is False


@pytest.mark.parametrize("bad", [0, 3, 6])
def test_plain_local_produce_error_names_that_record_and_the_rest_are_produced(bad: int) -> None:
    sink, fake = sink_with_fake()
    calls = iter(range(100))
    fake.raise_on_produce = lambda n: KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)) if next(calls) == bad else None
    out = sink.write(plain(7))
    assert out is not None and list(out.failed) == [bad] and out.retriable is False
    assert [r["value"] for r in fake.records] == [b"body-%d" % i for i in range(7) if i != bad]


def test_plain_buffer_full_resumes_at_the_refused_record() -> None:
    sink, fake = sink_with_fake()
    produce = fake.produce
    calls = iter(range(100))
    full_at = {2, 3, 5}

    def flaky(*args: Any, **kw: Any) -> None:
        if next(calls) in full_at:
            raise BufferError("queue full")
        produce(*args, **kw)

    fake.produce = flaky  # type: ignore[method-assign]
    assert sink.write(plain(6)) is None
    assert [r["value"] for r in fake.records] == [b"body-%d" % i for i in range(6)]  # each once, in order


def test_plain_unreported_records_fail_retriably() -> None:
    """A flush that times out: librdkafka reports failures only, so no record without a
    report is known delivered: all of them fail, retriably (a duplicate at worst)."""
    sink, fake = sink_with_fake()
    fake.verdict = lambda n, r: "stuck" if n == 2 else None
    sink.flush_timeout = 0.05
    with pytest.raises(RetriableError, match="no delivery report"):
        sink.write(plain(3))


def test_batch_with_common_headers_keeps_flume_semantics() -> None:
    sink, fake = sink_with_fake(**{"kafka.topic": "logs-%{host}"})
    batch = Batch([b"a", b"b"], [None, {"topic": "special", "key": "k"}], common={"host": "h1"})
    assert sink.write(batch) is None
    assert [(r["topic"], r["key"]) for r in fake.records] == [("logs-h1", None), ("special", "k")]


def test_runtime_retries_only_the_failed_records_of_a_plain_batch() -> None:
    sink, fake = sink_with_fake()
    left = {b"body-2": 2}

    def verdict(n: int, r: dict[str, Any]) -> Any:
        if left.get(r["value"], 0) > 0:
            left[r["value"]] -= 1
            return KafkaError(KafkaError.REQUEST_TIMED_OUT)
        return None

    fake.verdict = verdict
    channel = make(MemoryChannel, "c", capacity=1000, transactionCapacity=100)
    channel.start()
    with channel.put_transaction() as tx:
        tx.put(plain(5))  # type: ignore[arg-type]
    sink.channel = channel
    sink.counter = SinkCounter("k")
    drive_batch(SinkDriver(sink))
    assert channel.is_empty()
    values = [r["value"] for r in fake.records]
    assert values.count(b"body-2") == 3 and sorted(set(values)) == [b"body-%d" % i for i in range(5)]


def test_headers_that_shape_no_record_take_the_plain_path() -> None:
    """A timestamp interceptor's header changes no record unless timestampHeader names it:
    then the batch is produced as a header-less one (one shared callback)."""
    stamp = {"timestamp": "1700000000000"}
    sink, fake = sink_with_fake(**{"kafka.topic": "t"})
    fake.verdict = lambda n, r: "stuck"
    sink.flush_timeout = 0.01
    with pytest.raises(RetriableError):
        sink.write(Batch([b"a", b"b", b"c"], common=stamp))
    assert len({id(cb) for _, cb in fake.queue}) == 1
    assert [(r["topic"], r["key"], r["partition"], r.get("timestamp", 0)) for r in fake.records] == [("t", None, -1, 0)] * 3

    sink, fake = sink_with_fake(**{"kafka.topic": "t", "timestampHeader": "timestamp"})
    assert sink.write(Batch([b"a", b"b"], common=stamp)) is None
    assert [r["timestamp"] for r in fake.records] == [1700000000000] * 2


@pytest.mark.parametrize(
    ("raw", "headers", "field", "want"),
    [
        ({}, {"key": "k"}, "key", "k"),
        ({"kafka.topic": "logs-%{host}"}, {"host": "h"}, "topic", "logs-h"),
        ({"topicHeader": "dest"}, {"dest": "d"}, "topic", "d"),
        ({"partitionIdHeader": "p"}, {"p": "1"}, "partition", 1),
        ({"header.h": "x-h"}, {"h": "v"}, "headers", [("x-h", b"v")]),
    ],
)
def test_a_shaping_header_on_one_event_takes_the_record_path(raw: dict[str, str], headers: dict[str, str], field: str, want: Any) -> None:
    sink, fake = sink_with_fake(**raw)
    assert sink.write(Batch([b"a", b"b"], [None, {"other": "x", **headers}])) is None
    assert fake.records[1][field] == want
    assert fake.records[0]["value"] == b"a"


def test_flume_event_format_keeps_every_header() -> None:
    sink, fake = sink_with_fake(useFlumeEventFormat="true")
    assert sink.write(Batch([b"a"], common={"other": "x"})) is None
    assert fake.records[0]["value"] == avro_event.encode({"other": "x"}, b"a")


def test_keyed_records_share_one_callback_and_failures_are_matched_by_topic_key_value() -> None:
    """Equal bodies under different keys and topics are different records: a failure is
    charged to an index with the same (topic, key, value) only."""
    sink, fake = sink_with_fake(**{"kafka.topic": "t"})
    batch = Batch(
        [b"same"] * 6 + [b"other"] * 2,
        [{"key": "a"}, {"key": "b"}, {"key": "a", "topic": "u"}, None, {"key": "b"}, {"key": "a"}, {"key": "a"}, None],
    )
    fail = {1, 2, 3, 7}  # (t, b, same), (u, a, same), (t, None, same), (t, None, other)
    fake.verdict = lambda n, r: KafkaError(KafkaError.NOT_ENOUGH_REPLICAS) if n in fail else None
    out = sink.write(batch)
    assert out is not None and out.retriable
    assert len({id(cb) for cb in fake.callbacks}) == 1
    records = [(r["topic"], r["key"], r["value"]) for r in fake.records]
    assert Counter(records[i] for i in out.failed) == Counter(records[i] for i in fail)
    assert len(set(out.failed)) == 4


def test_partition_header_gives_each_record_its_own_callback() -> None:
    sink, fake = sink_with_fake(partitionIdHeader="p")
    fake.verdict = lambda n, r: KafkaError(KafkaError.NOT_ENOUGH_REPLICAS) if n == 1 else None
    out = sink.write(Batch([b"x", b"x", b"x"], [{"p": "0"}, {"p": "1"}, {"p": "2"}]))
    assert out is not None and list(out.failed) == [1]
    assert len({id(cb) for cb in fake.callbacks}) == 3
