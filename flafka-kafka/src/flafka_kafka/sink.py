"""The Kafka sink (Flume's ``org.apache.flume.sink.kafka.KafkaSink``).

One ``write`` is one Flume transaction: every event is produced, the producer is
flushed, and every delivery report is checked. The batch counts as delivered only when
every record was acknowledged (``kafka.producer.acks``). When no record was delivered,
``write`` raises :class:`~flafka.errors.RetriableError` (or
:class:`~flafka.errors.PermanentError` when every failure is permanent) and the runtime
rolls the batch back; when some were, it returns a :class:`~flafka.sink.BatchOutcome`
naming the records that failed and whether retrying can help, and the runtime retries
just those. Nothing
is lost: at worst a retried record is written twice (at-least-once, as Flume).

Record per event: topic = header ``topicHeader`` (when ``allowTopicOverride``) else
``kafka.topic`` with ``%{header}`` replaced; key = header ``key``; partition =
``partitionIdHeader`` / ``defaultPartitionId`` / the Java client's murmur2 partitioner;
timestamp = header ``timestampHeader`` (epoch ms); Kafka record headers from ``header.*``;
value = the body, or the whole event in Flume's Avro format (``useFlumeEventFormat``).

Batch-aware: a column-wise batch whose events carry none of those headers is produced
straight from its bodies, with one delivery callback per batch (see :class:`_Delivery`
for how a failure is still charged to its record).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections import deque
from collections.abc import Callable
from itertools import repeat
from operator import length_hint
from typing import Any

from flafka.batch import AnyBatch, bodies_of, has_headers, header_maps_of, subset
from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, PendingWrite, Sink
from flafka_kafka import avro_event
from flafka_kafka.client_config import (
    RENAMED,
    client_config_for_validation,
    librdkafka_problems,
    masked,
    producer_config,
)
from flafka_kafka.keystores import TlsFiles, resolved

log = logging.getLogger(__name__)

NO_HEADERS: dict[str, str] = {}
"""Shared, never written: the headers of an event that has none."""

ACKS = ("0", "1", "-1", "all")

_HEADER_REF = re.compile(r"%\{([^}]*)\}")


class TopicTemplate:
    """``kafka.topic`` with ``%{header}`` references (Flume's ``BucketPath.escapeString``
    for headers): a missing header becomes the empty string."""

    __slots__ = ("parts", "static")

    def __init__(self, template: str) -> None:
        pieces = _HEADER_REF.split(template)
        # pieces alternate literal, header name, literal, ...
        self.static: str | None = template if len(pieces) == 1 else None
        self.parts: list[tuple[bool, str]] = [(i % 2 == 1, p) for i, p in enumerate(pieces) if p or i % 2 == 1]

    def render(self, headers: dict[str, str]) -> str:
        if self.static is not None:
            return self.static
        return "".join((headers.get(p, "") if is_header else p) for is_header, p in self.parts)


def _kafka() -> Any:
    import confluent_kafka

    return confluent_kafka


def _permanent_codes() -> frozenset[int]:
    """librdkafka error codes that retrying the same record cannot fix."""
    ke = _kafka().KafkaError
    names = (
        "MSG_SIZE_TOO_LARGE",
        "INVALID_MSG_SIZE",
        "INVALID_MSG",
        "INVALID_RECORD",
        "RECORD_LIST_TOO_LARGE",
        "INVALID_TIMESTAMP",
        "TOPIC_AUTHORIZATION_FAILED",
        "CLUSTER_AUTHORIZATION_FAILED",
        "TOPIC_EXCEPTION",
        "INVALID_REQUIRED_ACKS",
        "POLICY_VIOLATION",
        "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        "_UNKNOWN_PARTITION",
        "_INVALID_ARG",
        "_MSG_SIZE_TOO_LARGE",
    )
    return frozenset(getattr(ke, n) for n in names if hasattr(ke, n))


class DeliveryError(Exception):
    """One record was not acknowledged. ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool, batch_too_large: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.batch_too_large = batch_too_large
        """The broker rejected the record batch this record was in as too large."""


_FIXES = {
    "MSG_SIZE_TOO_LARGE": "the record is larger than the broker (message.max.bytes) or producer "
    "(kafka.producer.max.request.size) allows; raise both or make events smaller",
    "TOPIC_AUTHORIZATION_FAILED": "grant this client Write on the topic",
    "TOPIC_EXCEPTION": "the topic name is invalid (letters, digits, '.', '_', '-' only); check kafka.topic and the topic header",
    "_UNKNOWN_PARTITION": "the partition does not exist; check defaultPartitionId / partitionIdHeader",
    "UNKNOWN_TOPIC_OR_PART": "the topic does not exist; create it or enable auto.create.topics.enable on the brokers",
    "_UNKNOWN_TOPIC": "the topic does not exist; create it or enable auto.create.topics.enable on the brokers",
    "_MSG_TIMED_OUT": "the brokers did not acknowledge within kafka.producer.message.timeout.ms; check that they are up",
}


def delivery_error(err: Any, permanent_codes: frozenset[int], reported: bool = False) -> DeliveryError:
    """A :class:`DeliveryError` from a librdkafka ``KafkaError``, with the fix.
    ``reported``: from a delivery report (the broker answered for a whole record batch)
    rather than raised by ``produce`` for this record alone."""
    name = err.name()
    fix = _FIXES.get(name, "")
    text = f"Kafka rejected a record: {name} ({err.str()})" + (f"; {fix}" if fix else "")
    batch_too_large = reported and name == "MSG_SIZE_TOO_LARGE"
    return DeliveryError(text, permanent=err.code() in permanent_codes, batch_too_large=batch_too_large)


def outcome_of(errors: list[BaseException | None]) -> BatchOutcome | None:
    """Map per-record results to what the runtime needs: None when all were delivered;
    otherwise every failed index, retriable when any failure is retriable (the permanent
    ones then fail again alone on the retry, and are set aside as permanent). ``write``
    raises the outcome's error instead when no record at all was delivered."""
    failed = [i for i, e in enumerate(errors) if e is not None]
    if not failed:
        return None
    retriable = [i for i in failed if not getattr(errors[i], "permanent", False)]
    first = errors[retriable[0] if retriable else failed[0]]
    assert first is not None
    summary = f"{len(failed)} of {len(errors)} records failed; first: {first}"
    if retriable:
        return BatchOutcome(failed, RetriableError(summary), retriable=True)
    return BatchOutcome(failed, PermanentError(summary), retriable=False)


class KafkaSink(Sink):
    """Writes events to Kafka; a batch commits only when every record is acknowledged."""

    type_name = "kafka"
    aliases = ("org.apache.flume.sink.kafka.KafkaSink",)
    summary = "Write events to a Kafka topic (librdkafka); commit only acknowledged batches"
    batch_size_key = "flumeBatchSize"
    max_pending_batches = 2
    batch_aware = True
    """Takes column-wise :class:`~flafka.batch.Batch`es: a batch without headers is
    produced straight from its bodies (no ``Event`` objects)."""
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", REQUIRED, "host:port,... of Kafka brokers", legacy=("brokerList",), since="1.7"),
        Setting(
            "kafka.topic",
            "str",
            "default-flume-topic",
            "topic to write; %{header} is replaced by that header's value",
            legacy=("topic",),
            since="1.7",
        ),
        Setting(
            "flumeBatchSize",
            "int",
            100,
            "most events taken and written in one transaction",
            legacy=("batchSize", "kafka.flumeBatchSize"),
            minimum=1,
            since="1.7",
        ),
        Setting(
            "kafka.producer.acks",
            "str",
            "1",
            "broker acknowledgements a record needs: 0, 1 (Flume's default) or all (no loss when a leader fails)",
            legacy=("requiredAcks",),
            since="1.7",
        ),
        Setting("useFlumeEventFormat", "bool", False, "write the event (headers and body) in Flume's Avro format", since="1.7"),
        Setting("defaultPartitionId", "int", None, "partition every record goes to (default: by key, murmur2)", minimum=0, since="1.7"),
        Setting("partitionIdHeader", "str", None, "header holding the partition number (overrides defaultPartitionId)", since="1.7"),
        Setting("allowTopicOverride", "bool", True, "let the header named by topicHeader choose the topic", since="1.8"),
        Setting("topicHeader", "str", "topic", "header that names the topic when allowTopicOverride is true", since="1.8"),
        Setting("timestampHeader", "str", None, "header whose value (epoch ms) becomes the record timestamp", since="1.11"),
        Setting("header.*", "map", None, "header.<flumeHeader> = <kafkaHeader>: copy event headers to record headers", since="1.11"),
        Setting(
            "kafka.producer.*",
            "map",
            None,
            "Kafka producer properties (Java names are translated to librdkafka's; secrets are masked)",
            since="1.7",
        ),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.producer_factory: Callable[[dict[str, Any]], Any] | None = None
        """Builds the producer (default ``confluent_kafka.Producer``); tests put a fake here."""
        problems = [p for p in self.check_settings(settings, check_librdkafka=False) if p.severity == "error"]
        if problems:
            raise ConfigError(
                f"sink '{name}': " + "; ".join(f"{p.key}: {p.message}" + (f" ({p.suggestion})" if p.suggestion else "") for p in problems)
            )
        self.conf, _ = self._producer_conf(settings, name)
        self._tls = TlsFiles(name)
        """PEM files converted from Java key/trust stores (written at start, removed at stop)."""
        self.topic = TopicTemplate(settings["kafka.topic"])
        self.allow_override = bool(settings["allowTopicOverride"])
        self.topic_header: str = settings["topicHeader"]
        self.avro = bool(settings["useFlumeEventFormat"])
        self.default_partition: int | None = settings["defaultPartitionId"]
        self.partition_header: str | None = settings["partitionIdHeader"]
        self.timestamp_header: str | None = settings["timestampHeader"]
        self.header_map: list[tuple[str, str]] = list((settings["header.*"] or {}).items())
        timeout_ms = self.conf.get("message.timeout.ms", self.conf.get("delivery.timeout.ms", 300000))
        self.flush_timeout = int(timeout_ms) / 1000.0 + 5.0
        self._producer: Any = None
        self._unconfirmed: list[Any] = []
        self._override_header: str | None = self.topic_header if self.allow_override else None
        self._plain_topic = self.topic.static if self.topic.static is not None else self.topic.render(NO_HEADERS)
        """The topic of an event without headers (``%{header}`` references render empty)."""
        shaping = {"key", *(name for is_header, name in self.topic.parts if is_header)}
        shaping.update(n for n in (self._override_header, self.partition_header, self.timestamp_header) if n)
        shaping.update(flume for flume, _ in self.header_map)
        self._shaping = frozenset(shaping)
        """Headers that change a record (topic, key, partition, timestamp, record headers);
        an event with none of them makes the same record as an event without headers
        (unless ``useFlumeEventFormat``, where every header is in the value)."""
        self._permanent: frozenset[int] = frozenset()
        self._bad_timestamps = 0

    # -- configuration -------------------------------------------------------------------

    @staticmethod
    def _producer_conf(settings: Settings, name: str) -> tuple[dict[str, Any], list[Problem]]:
        acks = str(settings.get("kafka.producer.acks") or "1").strip().lower()
        return producer_config(
            settings.get("kafka.bootstrap.servers") or "",
            dict(settings.get("kafka.producer.*") or {}),
            acks,
            name,
            # librdkafka waits linger.ms (default 5) for more records before it sends a
            # partition's batch; with two flafka batches in flight, 1 ms was fastest
            # delivery reports for failed records only: one flush confirms the rest (a
            # report per record costs a GIL round trip each in confluent-kafka)
            {"linger.ms": 1, "delivery.report.only.error": True},
        )

    @classmethod
    def check_settings(cls, settings: Settings, check_librdkafka: bool = True) -> list[Problem]:
        """Cross-key checks beyond the schema (no network I/O): acks, partitions, topic,
        Java -> librdkafka property translation and, unless ``check_librdkafka`` is False,
        librdkafka's own check of the producer properties. ``flafka validate`` shows the
        warnings; errors refuse to start."""
        problems: list[Problem] = []
        acks = str(settings.get("kafka.producer.acks") or "1").strip().lower()
        if acks not in ACKS:
            problems.append(Problem("kafka.producer.acks", f"'{acks}' is not a valid acks value", "use 0, 1, -1 or all"))
        elif acks in ("0", "1"):
            problems.append(
                Problem(
                    "kafka.producer.acks",
                    f"acks={acks} (Flume's default) can lose acknowledged events when a partition leader fails",
                    "set kafka.producer.acks = all for no loss (and min.insync.replicas >= 2 on the topic)",
                    "warning",
                )
            )
        if settings.get("partitionIdHeader") and settings.get("defaultPartitionId") is not None:
            problems.append(
                Problem(
                    "defaultPartitionId",
                    "defaultPartitionId applies only to events without the partitionIdHeader header",
                    "",
                    "warning",
                )
            )
        topic = settings.get("kafka.topic") or ""
        if "%" in _HEADER_REF.sub("", topic):
            problems.append(
                Problem(
                    "kafka.topic",
                    f"'{topic}' has a '%' escape other than %{{header}}; only header references are substituted in topics",
                    "use %{header} (a timestamp interceptor can put dates into a header)",
                )
            )
        conf, translation = cls._producer_conf(settings, "validate")
        problems += translation
        if check_librdkafka and not any(p.severity == "error" for p in translation):
            known = {RENAMED[k]: k for k in (settings.get("kafka.producer.*") or {}) if k in RENAMED}
            problems += librdkafka_problems(client_config_for_validation(conf), "producer", "kafka.producer.", known)
        return problems

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        kafka = _kafka()
        self._permanent = _permanent_codes()
        factory = self.producer_factory or kafka.Producer
        conf = resolved(self._tls, dict(self.conf), f"sink '{self.name}'")
        try:
            self._producer = factory(conf)
        except kafka.KafkaException as exc:
            self._tls.close()
            raise ConfigError(f"sink '{self.name}': the Kafka producer cannot be created: {exc.args[0].str()}") from None
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.connection_created_count += 1
            counter.started()
        log.info("sink '%s': producing to %s (%s)", self.name, self.conf["bootstrap.servers"], masked(self.conf).get("acks"))

    def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            self._tls.close()
            return
        try:
            left = producer.flush(5.0)
            if left:
                log.warning("sink '%s': %d records were still unacknowledged at stop (their batch was rolled back)", self.name, left)
        except Exception:  # never let stop fail
            log.exception("sink '%s': flushing the producer at stop failed", self.name)
        del producer
        self._tls.close()
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.connection_closed_count += 1
            counter.stopped()

    # -- the data path -------------------------------------------------------------------

    def write(self, events: AnyBatch) -> BatchOutcome | None:
        return self._start(events).wait()

    def send(self, events: AnyBatch) -> PendingWrite:
        """Produce every event (librdkafka batches and sends them in the background) and
        return the batch's :class:`_Delivery`, whose ``wait`` collects its delivery
        reports. The runtime produces the next batch while this one is acknowledged."""
        return self._start(events)

    def _start(self, batch: AnyBatch) -> _Delivery:
        producer = self._producer
        if producer is None:  # never started, or dropped after a fatal client error
            self.start()
            producer = self._producer
        delivery = _Delivery(self, producer, batch)
        self._dispatch(delivery)
        return delivery  # delivery reports are served by wait() (each poll releases and retakes the GIL)

    def _dispatch(self, delivery: _Delivery) -> None:
        """Produce a batch: straight from its bodies when no event carries a header that
        shapes its record (every record is then ``kafka.topic``, no key,
        ``defaultPartitionId`` or the partitioner, no record header, no timestamp), else
        record by record with Flume's header semantics."""
        batch = delivery.batch
        if has_headers(batch):
            header_maps = header_maps_of(batch)  # read-only: no Event objects are built
            if self._shaped(header_maps):
                self._produce(delivery, header_maps)
                return
        bodies = bodies_of(batch)
        if self.avro:
            encode = avro_event.encode
            values = [encode(NO_HEADERS, b) for b in bodies]
        else:
            values = bodies
        self._produce_values(delivery, values)

    def _shaped(self, maps: list[dict[str, str] | None]) -> bool:
        """True when some event (``maps``: its headers) carries a header that shapes its
        record (with ``useFlumeEventFormat``: any header). Each distinct header map is
        looked at once (a batch-wide map, e.g. spooldir's fileHeader or a timestamp
        interceptor's, once)."""
        if self.avro:
            return any(maps)
        shaping = self._shaping
        first = maps[0] if maps else None
        if maps.count(first) == len(maps):  # one map for the whole batch (an identity check per event, in C)
            return first is not None and not shaping.isdisjoint(first)
        distinct = dict(zip(map(id, maps), maps, strict=True))  # C-level: no Python frame per event
        return any(m and not shaping.isdisjoint(m) for m in distinct.values())

    def _produce_values(self, delivery: _Delivery, values: list[bytes]) -> None:
        """Produce ``values`` to the topic every header-less event goes to, all with one
        shared delivery callback (:meth:`_Delivery.rejected_record`, run only for failed
        records): no Python object and no Python frame per record. A record that cannot
        even be queued gets its error in ``delivery.errors`` at once (and no report)."""
        delivery.values = values
        producer = delivery.producer
        produce = producer.produce
        topic = self._plain_topic
        partition = -1 if self.default_partition is None else self.default_partition
        callback = delivery.rejected_record
        n = len(values)
        start = 0
        while start < n:
            rest = iter(values)
            if start:
                rest.__setstate__(start)  # type: ignore[attr-defined]  # list_iterator: resume at index start
            try:
                # one C call per record (map and deque run no Python frame); produce()
                # per record costs less than produce_batch's dict per record
                deque(map(produce, repeat(topic), rest, repeat(None), repeat(partition), repeat(callback)), maxlen=0)
                return
            except BufferError:  # the local queue is full: let it drain, resume at that record
                start = n - length_hint(rest) - 1
                producer.poll(0.05)
            except _kafka().KafkaException as exc:  # this record alone was refused
                failed = n - length_hint(rest) - 1
                delivery.errors[failed] = delivery_error(exc.args[0], self._permanent)
                start = failed + 1

    def _produce(self, batch: _Delivery, header_maps: list[dict[str, str] | None]) -> None:
        """Produce every event of ``batch`` (``header_maps``: their headers, read-only)
        record by record. When only the topic and the key vary (no partitionIdHeader,
        timestampHeader or ``header.*``), all records share one delivery callback and a
        failure is matched back by (topic, key, value); otherwise each record has its own.
        A record that cannot even be queued gets its error in ``batch.errors`` at once
        (and no report)."""
        bodies = bodies_of(batch.batch)
        simple = self.partition_header is None and self.timestamp_header is None and not self.header_map
        shared = batch.rejected_record if simple else None
        if simple:
            batch.header_maps = header_maps
        errors = batch.errors
        report = batch.report
        producer = batch.producer
        produce = producer.produce
        poll = producer.poll
        permanent = self._permanent
        avro = self.avro
        static = self.topic.static  # None when kafka.topic holds %{header} escapes
        override = self.topic_header if self.allow_override else None
        render = self.topic.render
        encode = avro_event.encode
        partition = -1 if self.default_partition is None else self.default_partition
        timestamp = 0
        kafka_headers = None
        callback = functools.partial
        for i in range(len(bodies)):
            # read-only here: an event without headers must not get a dict allocated for it
            headers = header_maps[i] or NO_HEADERS
            try:
                topic = (override and headers.get(override)) or static or render(headers)
                value = encode(headers, bodies[i]) if avro else bodies[i]
                if not simple:
                    partition, timestamp, kafka_headers = self._placement(headers)
            except DeliveryError as exc:
                errors[i] = exc
                continue
            cb = shared or callback(report, i)
            while True:
                try:
                    produce(topic, value, headers.get("key"), partition, on_delivery=cb, timestamp=timestamp, headers=kafka_headers)
                    break
                except BufferError:  # the local queue is full: let it drain
                    poll(0.05)
                except _kafka().KafkaException as exc:
                    errors[i] = delivery_error(exc.args[0], permanent)
                    break

    def _record_of(self, headers: dict[str, str] | None, body: bytes) -> tuple[str, str | None, bytes]:
        """(topic, key, value) of an event as :meth:`_produce` writes it without
        partitionIdHeader, timestampHeader and ``header.*``: all that tells its record
        from another one's."""
        headers = headers or NO_HEADERS
        topic = (self._override_header and headers.get(self._override_header)) or self.topic.static or self.topic.render(headers)
        value = avro_event.encode(headers, body) if self.avro else body
        return topic, headers.get("key"), bytes(value)

    def _placement(self, headers: dict[str, str]) -> tuple[int, int, list[tuple[str, bytes]] | None]:
        """(partition or -1, timestamp ms or 0, record headers or None) of one event."""
        partition = -1 if self.default_partition is None else self.default_partition
        if self.partition_header is not None:
            raw = headers.get(self.partition_header)
            if raw is not None:
                try:
                    partition = int(raw)
                except ValueError:
                    raise DeliveryError(
                        f"header '{self.partition_header}' is '{raw}', not a partition number (partitionIdHeader)", permanent=True
                    ) from None
                if partition < 0:
                    raise DeliveryError(f"header '{self.partition_header}' is {partition}, not a partition number", permanent=True)
        timestamp = 0
        if self.timestamp_header is not None:
            raw = headers.get(self.timestamp_header)
            if raw is not None:
                try:
                    timestamp = int(raw)
                except ValueError:
                    self._bad_timestamps += 1
                    if self._bad_timestamps in (1, 10) or self._bad_timestamps % 10000 == 0:
                        log.warning(
                            "sink '%s': header '%s' is not epoch milliseconds ('%s'); the record gets the current time (%d so far)",
                            self.name,
                            self.timestamp_header,
                            raw[:40],
                            self._bad_timestamps,
                        )
        kafka_headers = None
        if self.header_map:
            kafka_headers = [(kname, headers[fname].encode()) for fname, kname in self.header_map if fname in headers] or None
        return partition, timestamp, kafka_headers


class _Delivery(PendingWrite):
    """One batch in flight: the batch, one error slot per event (filled from error
    reports), and whether a flush has confirmed it. ``wait`` returns what the runtime needs.

    Failure attribution. A record whose partition, timestamp or record headers come from
    headers (partitionIdHeader, timestampHeader, ``header.*``) gets its own callback
    (``report(i, ...)``), which names the index. All other records of a batch share ONE
    callback, :meth:`rejected_record` (no Python object and no Python frame per record;
    librdkafka reports failures only): a report carries the failed record, and
    :meth:`_attribute` charges it to an index of this batch holding the same record and
    no error yet — the same value for a header-less batch (every record: ``kafka.topic``,
    no key), the same (topic, key, value) otherwise. That is exact because such records
    differ in nothing else (partition by ``defaultPartitionId`` or by key, no timestamp,
    no record headers), so records alike are interchangeable: what must be right is the
    count of failures per record, and it is (one report per failed record, each consuming
    one index). The callback is per batch, so a report is never charged to another batch.
    """

    __slots__ = ("batch", "confirmed", "errors", "fatal", "header_maps", "producer", "rejected", "reported", "sink", "values")

    def __init__(self, sink: KafkaSink, producer: Any, batch: AnyBatch) -> None:
        self.sink = sink
        self.producer = producer
        self.batch = batch
        self.errors: list[BaseException | None] = [None] * len(batch)
        self.reported = bytearray(len(batch))
        self.values: list[bytes] | None = None
        """The values produced with the shared callback (header-less batch), else None."""
        self.header_maps: list[dict[str, str] | None] | None = None
        """The events' headers when records with headers share the callback (only the
        topic and the key vary), else None."""
        self.rejected: list[tuple[Any, Any]] = []
        """(error, message) of every failed record reported to the shared callback."""
        self.fatal: list[Any] = []
        self.confirmed = False
        sink._unconfirmed.append(self)

    def report(self, i: int, err: Any, msg: Any) -> None:
        """librdkafka's delivery report for record ``i`` (called from ``flush``/``poll``;
        only for failed records, ``delivery.report.only.error``)."""
        if self.reported[i]:
            return
        self.reported[i] = 1
        if err is not None:
            self.errors[i] = delivery_error(err, self.sink._permanent, reported=True)
            if err.fatal():
                self.fatal.append(err)

    def rejected_record(self, err: Any, msg: Any) -> None:
        """The delivery callback the batch's records share: keep the failed record's error
        and message for :meth:`_attribute` (called only for failures)."""
        if err is not None:
            self.rejected.append((err, msg))

    def _attribute(self) -> None:
        """Charge every rejected record to one index of this batch holding the same record
        and no error yet (see the class docstring for why that is exact)."""
        rejected, self.rejected = self.rejected, []
        values, header_maps = self.values, self.header_maps
        if not rejected or (values is None and header_maps is None):
            return
        errors = self.errors
        slots: dict[Any, list[int]] = {}
        record_of = self.sink._record_of
        bodies = bodies_of(self.batch)
        for i in range(len(errors) - 1, -1, -1):  # popped lowest index first
            if errors[i] is None and not self.reported[i]:
                if values is not None:  # bytes(): a body may be a bytearray
                    ident: Any = bytes(values[i] or b"")
                else:
                    assert header_maps is not None
                    ident = record_of(header_maps[i], bodies[i])
                slots.setdefault(ident, []).append(i)
        permanent = self.sink._permanent
        for err, msg in rejected:
            value = msg.value() or b""
            if values is None:
                key = msg.key()
                value = (msg.topic(), None if key is None else key.decode("utf-8", "surrogateescape"), value)
            free = slots.get(value)
            if not free:  # cannot happen (one report per record); never lose a record over it
                log.error(
                    "sink '%s': a delivery report (%s) matches no record of its batch; every record not yet "
                    "reported failed is retried (a duplicate at worst)",
                    self.sink.name,
                    err.name(),
                )
                for i, error in enumerate(errors):
                    if error is None:
                        errors[i] = DeliveryError(f"unattributed delivery report: {err.name()}", permanent=False)
                return
            i = free.pop()
            self.reported[i] = 1
            errors[i] = delivery_error(err, permanent, reported=True)
            if err.fatal():
                self.fatal.append(err)

    def wait(self) -> BatchOutcome | None:
        """Flush the producer unless a flush since this batch was produced already emptied
        its queue. An empty queue after ``flush`` means every record produced so far was
        acknowledged or got its (error) report: with ``delivery.report.only.error`` a
        record without an error report was delivered. One flush thus confirms this batch
        and those produced after it. When the flush times out, this batch's records
        without a report count as failed (retriable)."""
        sink = self.sink
        if not self.confirmed:
            if self.producer.flush(sink.flush_timeout) == 0:
                for batch in sink._unconfirmed:
                    batch.confirmed = True
                sink._unconfirmed.clear()
            else:
                self._attribute()
                for i, error in enumerate(self.errors):
                    if error is None and not self.reported[i]:
                        self.errors[i] = DeliveryError(f"no delivery report within {sink.flush_timeout:.0f}s", permanent=False)
                self.confirmed = True
                with contextlib.suppress(ValueError):
                    sink._unconfirmed.remove(self)
        self._attribute()
        errors = self.errors
        if not self.fatal and errors.count(None) == len(errors):  # all delivered: no Python loop per record
            return None
        # A broker rejects a whole record batch that is too large (librdkafka does not
        # split batches as the Java client does): send those records one by one to find
        # which of them is too large by itself.
        too_large = [i for i, e in enumerate(errors) if isinstance(e, DeliveryError) and e.batch_too_large]
        if len(too_large) > 1:
            for i in too_large:
                alone = _Delivery(sink, self.producer, subset(self.batch, [i]))
                sink._dispatch(alone)
                alone.wait_quietly()
                errors[i] = alone.errors[0]
                self.fatal += alone.fatal
        if self.fatal and sink._producer is self.producer:
            log.error(
                "sink '%s': the Kafka producer failed for good (%s); a new one is created for the next batch",
                sink.name,
                self.fatal[0].str(),
            )
            sink._producer = None
        outcome = outcome_of(errors)
        if outcome is not None and len(outcome.failed) == len(errors):
            raise outcome.error  # nothing was delivered: the whole batch failed (rolled back)
        return outcome

    def wait_quietly(self) -> None:
        """``wait`` for a batch of one record, keeping the error in ``errors[0]``."""
        try:
            self.wait()
        except (RetriableError, PermanentError):
            pass


COMPONENTS = [KafkaSink]

__all__ = ["COMPONENTS", "DeliveryError", "KafkaSink", "TopicTemplate", "delivery_error", "outcome_of"]
