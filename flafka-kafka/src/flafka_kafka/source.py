"""The Kafka source (Flume's ``org.apache.flume.source.kafka.KafkaSource``).

Reads batches (``batchSize`` records or ``batchDurationMillis``, whichever comes first)
with a librdkafka consumer in group ``kafka.consumer.group.id`` and hands them to the
channel processor. Offsets are committed with explicit positions (asynchronously while
data flows, synchronously on revocation and at stop; see below), and only for batches
that come back from ``self.acks.delivered()``: after every sink delivered them (end-to-end acknowledgements, the default) or, with
``acknowledgements = false``, after the channels committed them (Flume's rule). librdkafka's
automatic commits and offset store are off.

A restart or a rebalance loses nothing: on revocation the source commits what is
delivered and forgets the rest (a batch still in flight for a revoked partition will
never commit its offsets — the partition's new owner reads those records again:
duplicates, never loss).

Offsets are committed asynchronously while data flows (``on_commit`` reports the result):
a failed commit puts its offsets back, so the next commit covers them. When commits fail
(or go unanswered for ``STALL_AFTER``) while more than ``MAX_AHEAD_BATCHES`` batches were
handed to the channel past the last successful commit, the source pauses its partitions
(librdkafka drops what it had prefetched) and only retries the commit, until one succeeds
or a rebalance takes the partitions: what a rebalance after a broker fault re-reads stays
bounded by what was handed on before the stall was seen.

Headers (as Flume 1.11): ``timestamp`` (record time), ``topic`` (``topicHeader``, when
``setTopicHeader``), ``partition``, ``offset`` — each only when the event has none yet —
``key`` (the record key, always), and ``header.<flumeHeader> = <kafkaHeader>`` copies.
Plain records (not ``useFlumeEventFormat``) become one column-wise :class:`~flafka.batch.Batch`
per batch: the record values as the bodies and a lazy :class:`RecordHeaders` column over the
records, so batch-aware components that never look at headers (file_roll with TEXT, null)
never build a header map or an ``Event``. A component that asks for events gets one
:class:`KafkaRecordEvent` per record, whose headers are still built only on first access.
``useFlumeEventFormat`` records are decoded eagerly (the body is inside the Avro datum)
into a ``list[Event]``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flafka.backlog import Backlog
from flafka.batch import AnyBatch, Batch, HeaderMap, concat
from flafka.errors import ChannelFullError, ConfigError
from flafka.event import Event
from flafka.settings import Problem, Schema, Setting, Settings
from flafka.source import POLLABLE_SETTINGS, PollableSource, Status
from flafka_kafka import avro_event
from flafka_kafka.client_config import (
    BOOTSTRAP_HELP,
    RENAMED,
    client_config_for_validation,
    consumer_config,
    group_error_fix,
    librdkafka_problems,
    with_instance_id,
    zookeeper_problems,
)
from flafka_kafka.keystores import TlsFiles, resolved
from flafka_kafka.taker import describe

log = logging.getLogger(__name__)

COMMIT_INTERVAL = 0.02
"""Seconds between two offset commits while data flows (see ``_commit_due``)."""

COMMIT_RETRY = 0.5
"""Seconds between commit attempts after a commit failed (the broker may be down)."""

FINAL_COMMIT_WAIT = 3.0
"""Longest time (seconds) a stop retries its final offset commit while the broker refuses it."""

STALL_AFTER = 0.25
"""Seconds an asynchronous commit may go unanswered, while the source polls for the answer
(calls ``consume()``), before commits count as stalled."""

MAX_AHEAD_BATCHES = 4
"""While commits fail or stall, the source reads no new records once more than this many
batches (``batchSize`` records each) were handed to the channel past the last commit that
succeeded."""

RESEND_AFTER = 30.0
"""An asynchronous commit still unanswered after this many seconds is sent again."""

REVOKE_DRAIN = 5.0
"""Seconds a revocation waits for the batches in flight to be delivered before it commits
(the sinks keep running meanwhile): when they are, the partitions' new owner starts past
them and a rebalance re-delivers nothing."""

MAX_REJOINS = 3
REJOIN_WINDOW = 60.0
"""A static member fenced by the group joins again with a new consumer, at most
MAX_REJOINS times per REJOIN_WINDOW seconds: a session that expired while a broker was
away gets "fenced" once; fenced again and again means another agent has the same
``group.instance.id``, and the source stops with an error naming the key."""

WAIT_LOG_EVERY = 10.0
"""Seconds between two "waiting for partition assignment" lines while the group gives
this source no partition."""

TP = tuple[str, int]
Position = dict[TP, tuple[int, int, int]]
"""Per partition of one batch: (first offset, next offset to commit, partition generation)."""


def _kafka() -> Any:
    """confluent-kafka's classes (its C extension alone: :mod:`flafka_kafka.cimpl`)."""
    from flafka_kafka import cimpl

    return cimpl.load()


def topics_of(settings: Settings) -> list[str]:
    """What to subscribe to: ``kafka.topics.regex`` (anchored, Java's full match) wins
    over the comma-separated ``kafka.topics``."""
    regex = settings.get("kafka.topics.regex")
    if regex:
        return [f"^({regex.removeprefix('^').removesuffix('$')})$"]
    return [t.strip() for t in (settings.get("kafka.topics") or "").split(",") if t.strip()]


COMMITTED_WAIT = 2.0
"""Longest wait (seconds) for the committed offsets of newly assigned partitions
(:func:`start_positions`); past it librdkafka looks them up itself."""

_RESET_TO = {"smallest": "OFFSET_BEGINNING", "earliest": "OFFSET_BEGINNING", "beginning": "OFFSET_BEGINNING"}
_RESET_TO.update({"largest": "OFFSET_END", "latest": "OFFSET_END", "end": "OFFSET_END"})


def start_positions(consumer: Any, partitions: list[Any], conf: dict[str, Any]) -> bool:
    """Inside ``on_assign``: assign ``partitions`` itself, starting those the group has no
    committed offset for at ``auto.offset.reset`` (the log's start or end) directly.
    librdkafka would look the committed offsets up too, then wait a fixed 100 ms before
    it asks for the log's start or end (``rd_kafka_offset_reset`` backs off after "no
    committed offset"), so a new group's first records came 0.1 s later. Partitions with a
    committed offset are handed on without one: librdkafka looks it up again and starts
    there, as always. Returns False (and leaves the assignment to librdkafka, as before)
    when nothing needs it (``auto.offset.reset = error``, every partition committed) or
    the lookup failed."""
    if not partitions:
        return False
    kafka = _kafka()
    reset = _RESET_TO.get(str(conf.get("auto.offset.reset", "largest")).strip().lower())
    if reset is None:
        return False
    try:
        committed = consumer.committed(partitions, timeout=COMMITTED_WAIT)
    except Exception:
        return False
    invalid = kafka.OFFSET_INVALID
    fresh = {(tp.topic, tp.partition) for tp in committed if tp.error is None and tp.offset == invalid}
    if not fresh:
        return False
    start = getattr(kafka, reset)
    tp_cls = kafka.TopicPartition
    positions = [tp_cls(tp.topic, tp.partition, start if (tp.topic, tp.partition) in fresh else invalid) for tp in partitions]
    try:
        if "cooperative" in str(conf.get("partition.assignment.strategy", "")):
            consumer.incremental_assign(positions)
        else:
            consumer.assign(positions)
    except Exception:
        return False  # confluent-kafka assigns the partitions itself after the callback
    return True


HeaderContext = tuple[bool, str, list[tuple[str, str]], int]
"""(setTopicHeader, topicHeader, header.* pairs, the batch's read time in epoch ms)."""


def add_record_headers(headers: dict[str, str], m: Any, context: HeaderContext) -> dict[str, str]:
    """Add Flume's Kafka source headers for record ``m`` to ``headers`` (which may hold
    an Avro event's own): ``timestamp``, ``header.*`` copies, topic, ``partition``,
    ``offset`` (each only when missing) and ``key``. Returns ``headers``."""
    set_topic, topic_header, header_map, read_ms = context
    if "timestamp" not in headers:
        ts_type, ts = m.timestamp()
        headers["timestamp"] = str(ts if ts_type else read_ms)
    if header_map:
        record_headers = m.headers()
        if record_headers:
            for flume_name, kafka_name in header_map:
                for hname, hvalue in record_headers:
                    if hname == kafka_name and hvalue is not None:
                        headers[flume_name] = hvalue.decode("utf-8", "replace")
    if set_topic and topic_header not in headers:
        headers[topic_header] = m.topic()
    if "partition" not in headers:
        headers["partition"] = str(m.partition())
    if "offset" not in headers:
        headers["offset"] = str(m.offset())
    key = m.key()
    if key is not None:
        headers["key"] = key.decode("utf-8", "replace")
    return headers


_headers_slot: Any = Event.__dict__["_headers"]  # Event's own slot (a member descriptor)
_slot_get = _headers_slot.__get__
_slot_set = _headers_slot.__set__


class KafkaRecordEvent(Event):
    """An event read from a plain Kafka record. The body is the record value; the headers
    dict is built from the record (:func:`add_record_headers`) on first access — through
    ``headers`` or ``_headers`` — and from then on is an ordinary dict owned by the event
    (the record is released). Equal, printable and copyable like any ``Event``."""

    __slots__ = ("_context", "_record")

    def __init__(self, body: bytes, record: Any, context: HeaderContext) -> None:
        self.body = body
        self._record = record
        self._context = context

    @property
    def _headers(self) -> dict[str, str] | None:
        try:
            return _slot_get(self)
        except AttributeError:  # not built yet
            record = self._record
            if record is None:  # another thread built them meanwhile (it sets the slot first)
                return _slot_get(self)
            headers = add_record_headers({}, record, self._context)
            _slot_set(self, headers)
            self._record = None
            return headers

    @_headers.setter
    def _headers(self, value: dict[str, str] | None) -> None:
        _slot_set(self, value)
        self._record = None

    @property
    def has_headers(self) -> bool:
        try:
            return bool(_slot_get(self))
        except AttributeError:
            return True  # timestamp, partition and offset are always added


class RecordHeaders:
    """A lazy header column (:class:`flafka.batch.HeaderColumn`) over consumed records: the
    maps are built by :func:`add_record_headers` only when ``maps()`` is called, each a
    new dict owned by the caller. Slicing (steps too) keeps it lazy."""

    __slots__ = ("context", "records")

    def __init__(self, records: list[Any], context: HeaderContext) -> None:
        self.records = records
        self.context = context

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: slice) -> RecordHeaders:
        return RecordHeaders(self.records[index], self.context)

    def maps(self) -> list[HeaderMap | None]:
        context = self.context
        return [add_record_headers({}, m, context) for m in self.records]

    def events(self, bodies: list[bytes]) -> list[Event]:
        """One :class:`KafkaRecordEvent` per body (headers still built on first access)."""
        context = self.context
        return [KafkaRecordEvent(b, m, context) for b, m in zip(bodies, self.records, strict=True)]


class KafkaSource(PollableSource):
    """Consumes Kafka topics; commits offsets only past delivered batches."""

    type_name = "kafka"
    aliases = ("org.apache.flume.source.kafka.KafkaSource",)
    replayable = True
    summary = "Read Kafka topics (librdkafka); commit offsets only after delivery"
    settings_schema = (
        Schema(
            Setting("kafka.bootstrap.servers", "str", None, "(required) host:port,... of Kafka brokers", since="1.7"),
            Setting("kafka.topics", "str", None, "comma-separated topics to read", legacy=("topic",), since="1.7"),
            Setting("kafka.topics.regex", "regex", None, "read every topic matching this regex (overrides kafka.topics)", since="1.7"),
            Setting("kafka.consumer.group.id", "str", "flume", "consumer group", legacy=("groupId",), since="1.7"),
            Setting("batchSize", "int", 1000, "most records in one batch", minimum=1),
            Setting("batchDurationMillis", "int", 1000, "most ms spent filling one batch", minimum=1),
            Setting("useFlumeEventFormat", "bool", False, "records hold Flume Avro events (headers and body)", since="1.7"),
            Setting("setTopicHeader", "bool", True, "add the record's topic as a header", since="1.8"),
            Setting("topicHeader", "str", "topic", "name of the topic header", since="1.8"),
            Setting("header.*", "map", None, "header.<flumeHeader> = <kafkaHeader>: copy record headers to event headers", since="1.11"),
            Setting(
                "timestampHeader",
                "str",
                None,
                "accepted and ignored, as by Flume 1.11 (documented, never read): header `timestamp` is the record's time",
                since="1.11",
            ),
            Setting("kafka.consumer.*", "map", None, "Kafka consumer properties (Java names are translated to librdkafka's)", since="1.7"),
            Setting(
                "staticMembership",
                "bool",
                True,
                "flafka: join the group as a static member (group.instance.id <host>/<agent>/<component>/<topics digest> unless "
                "kafka.consumer.group.instance.id is set), so a restarted agent gets its partitions back at once",
            ),
            Setting("zookeeperConnect", "str", None, "Flume 1.6 ZooKeeper address: not supported, use kafka.bootstrap.servers"),
            Setting(
                "migrateZookeeperOffsets", "bool", True, "accepted for compatibility; offsets in ZooKeeper are not migrated", since="1.7"
            ),
        )
        + POLLABLE_SETTINGS
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.consumer_factory: Callable[[dict[str, Any]], Any] | None = None
        """Builds the consumer (default ``confluent_kafka.Consumer``)."""
        errors = [p for p in self.check_settings(settings, check_librdkafka=False) if p.severity == "error"]
        if errors:
            raise ConfigError(
                f"source '{name}': " + "; ".join(f"{p.key}: {p.message}" + (f" ({p.suggestion})" if p.suggestion else "") for p in errors)
            )
        self.conf, _ = self._consumer_conf(settings, name)
        self._tls = TlsFiles(name)
        """PEM files converted from Java key/trust stores (written at start, removed at stop)."""
        self.topics = topics_of(settings)
        self._topics_read: set[str] = set(self.topics) if len(self.topics) == 1 and not self.topics[0].startswith("^") else set()
        """The one topic every record comes from (one literal topic subscribed), else empty."""
        self.static = bool(settings["staticMembership"])
        self.batch = int(settings["batchSize"])
        self.duration = int(settings["batchDurationMillis"]) / 1000.0
        self.avro = bool(settings["useFlumeEventFormat"])
        self.set_topic_header = bool(settings["setTopicHeader"])
        self.topic_header: str = settings["topicHeader"]
        self.header_map: list[tuple[str, str]] = list((settings["header.*"] or {}).items())
        self._consumer: Any = None
        self._lock = threading.RLock()
        self._pending: tuple[AnyBatch, Position] | None = None
        self._generation: dict[TP, int] = {}
        self._assigned: set[TP] = set()
        self._uncommitted: dict[TP, int] = {}
        """Delivered offsets not sent in a commit yet (or sent and failed: re-queued)."""
        self._awaiting: dict[TP, tuple[int, float]] = {}
        """Per partition: the highest offset sent in an unanswered asynchronous commit, and when."""
        self._floor: dict[TP, int] = {}
        """Per assigned partition: the last offset known committed (or where reading began)."""
        self._handed: dict[TP, int] = {}
        """Per assigned partition: the next offset after the records handed to the channel."""
        self._confirmed: dict[TP, int] = {}
        """Per partition: the highest offset a commit of this source was confirmed for (kept
        across rebalances, to notice a group whose committed offset went back)."""
        self._last_rewind_log = -1e9
        self._waiting_since = 0.0
        """When ``_awaiting`` became non-empty, or the last commit result came."""
        self._polled_at = 0.0
        """When the last ``consume()`` call returned (commit results arrive only there)."""
        self._commit_error: str | None = None
        """Why the last commit failed; None once one succeeded."""
        self._brokers_down = False
        """librdkafka reported every broker down since the last commit that succeeded."""
        self._retry_at = 0.0
        self._paused = False
        self._ever_paused = False
        self._resume_pending = False
        self._last_pause_log = -1e9
        self.max_ahead = MAX_AHEAD_BATCHES * self.batch
        self._last_commit = 0.0
        self._last_commit_warning = -1e9
        self._rebalanced = False
        self._bad_records = 0
        self._record_errors: dict[str, float] = {}
        self._stopping = False
        self._fenced = False
        self._rejoins: list[float] = []
        self._client_conf: dict[str, Any] = {}
        self._last_client_error = ""
        self._fatal: str | None = None
        """A fatal group error seen by ``error_cb`` (raised by the next ``process``)."""
        self._joined = False
        """The group answered at least once (an assignment, possibly empty)."""
        self._unassigned_since = 0.0
        """When this source last had no partition (start, or a revocation of its last one)."""
        self._last_wait_log = 0.0
        self._instance_id: str | None = None
        self._group_errors: dict[str, float] = {}

    # -- configuration -------------------------------------------------------------------

    @staticmethod
    def _consumer_conf(settings: Settings, name: str) -> tuple[dict[str, Any], list[Problem]]:
        return consumer_config(
            settings.get("kafka.bootstrap.servers") or "",
            settings.get("kafka.consumer.group.id") or "flume",
            dict(settings.get("kafka.consumer.*") or {}),
            name,
            {},
        )

    @classmethod
    def check_settings(cls, settings: Settings, check_librdkafka: bool = True) -> list[Problem]:
        """Cross-key checks (no network I/O): ZooKeeper, topics, consumer properties."""
        problems = zookeeper_problems(settings)
        if not settings.get("kafka.bootstrap.servers") and not settings.get("zookeeperConnect"):
            problems.append(Problem("kafka.bootstrap.servers", "required key 'kafka.bootstrap.servers' is missing", BOOTSTRAP_HELP))
        if not settings.get("kafka.topics") and not settings.get("kafka.topics.regex"):
            problems.append(
                Problem("kafka.topics", "no topic to read: set kafka.topics or kafka.topics.regex", "add kafka.topics = <topic>")
            )
        elif settings.get("kafka.topics") and settings.get("kafka.topics.regex"):
            problems.append(
                Problem("kafka.topics", "kafka.topics is ignored: kafka.topics.regex is set and wins", "remove one of them", "warning")
            )
        if "timestampHeader" in settings.explicit:
            problems.append(
                Problem(
                    "timestampHeader",
                    "note: 'timestampHeader' is accepted and ignored, as Flume 1.11 ignores it (its User Guide lists it for the Kafka "
                    "source, its code never reads it): the record's timestamp always goes to header 'timestamp' when the event has none",
                    "nothing needs fixing; remove the line to silence this note",
                    "warning",
                )
            )
        if "migrateZookeeperOffsets" in settings.explicit and settings.get("migrateZookeeperOffsets") and settings.get("zookeeperConnect"):
            problems.append(
                Problem(
                    "migrateZookeeperOffsets",
                    "offsets kept in ZooKeeper by Flume 1.6 are not migrated; a new group starts at auto.offset.reset",
                    "migrate them with Flume 1.7+ once, or set kafka.consumer.auto.offset.reset",
                    "warning",
                )
            )
        conf, translation = cls._consumer_conf(settings, "validate")
        problems += translation
        if check_librdkafka and not any(p.severity == "error" for p in translation):
            known = {RENAMED[k]: k for k in (settings.get("kafka.consumer.*") or {}) if k in RENAMED}
            problems += librdkafka_problems(client_config_for_validation(conf), "consumer", "kafka.consumer.", known)
        return problems

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        kafka = _kafka()
        conf = with_instance_id(self.conf, self.agent_name, self.name, self.topics, static=self.static)
        conf = resolved(self._tls, conf, f"source '{self.name}'")
        conf["on_commit"] = self._on_commit
        self._instance_id = conf.get("group.instance.id")
        log_error = conf.get("error_cb")
        group_conf = {k: conf.get(k) for k in ("group.id", "group.instance.id", "partition.assignment.strategy")}

        def on_error(err: Any) -> None:
            self._on_client_error(err)
            fix = group_error_fix(err, group_conf)
            if fix:
                self._group_error(err, fix)
            elif log_error is not None:
                log_error(err)

        conf["error_cb"] = on_error
        self._client_conf = conf
        try:
            consumer = self._open()
        except kafka.KafkaException as exc:
            self._tls.close()
            raise ConfigError(f"source '{self.name}': the Kafka consumer cannot be created: {exc.args[0].str()}") from None
        with self._lock:
            self._consumer = consumer
            self._joined = self._stopping = False
            self._unassigned_since = self._last_wait_log = time.monotonic()
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.started()
        log.info(
            "source '%s': reading %s as group '%s' (%s) from %s",
            self.name,
            ", ".join(self.topics),
            self.conf["group.id"],
            f"static member '{self._instance_id}'" if self._instance_id else "dynamic member",
            self.conf["bootstrap.servers"],
        )

    def _open(self) -> Any:
        """A consumer on the client configuration made by ``start``, subscribed."""
        consumer = (self.consumer_factory or _kafka().Consumer)(dict(self._client_conf))
        consumer.subscribe(self.topics, on_assign=self._assigned_at, on_revoke=self._on_revoke, on_lost=self._on_lost)
        return consumer

    def _assigned_at(self, consumer: Any, partitions: list[Any]) -> None:
        """``on_assign``: :meth:`_on_assign`, then :func:`start_positions` (partitions the
        group has no committed offset for start at ``auto.offset.reset`` at once)."""
        self._on_assign(consumer, partitions)
        start_positions(consumer, partitions, self._client_conf)

    def _rejoin(self, consumer: Any) -> Any:
        """The group fenced this static member — after its session expired (a broker
        paused or unreachable for longer than session.timeout.ms) a request of the old
        session is answered "fenced", which librdkafka makes fatal. Close it and join again
        with a new consumer: its partitions are read again from the committed offsets
        (in-flight batches never commit: duplicates, no loss)."""
        now = time.monotonic()
        self._rejoins = [t for t in self._rejoins if now - t < REJOIN_WINDOW] + [now]
        log.warning(
            "source '%s': the group fenced this consumer (%s); closing it and joining again as '%s' "
            "(rejoin %d of at most %d per %.0f s: more means another agent uses the same group.instance.id)",
            self.name,
            self._fatal,
            self._instance_id,
            len(self._rejoins),
            MAX_REJOINS,
            REJOIN_WINDOW,
        )
        self._forget(list(self._assigned), consumer)
        self._awaiting.clear()
        self._commit_error = None
        self._paused = self._resume_pending = self._ever_paused = False
        try:
            consumer.close()
        except Exception:
            pass
        self._fatal = None
        self._fenced = False
        self._joined = False
        self._unassigned_since = self._last_wait_log = now
        self._consumer = self._open()
        return self._consumer

    def stop(self) -> None:
        """Commit what is delivered, leave the group, close. Idempotent."""
        with self._lock:
            consumer, self._consumer = self._consumer, None
            if consumer is None:
                self._tls.close()
                return
            # the sinks have stopped: a revocation served from here on (the final commit's
            # retries poll; leaving the group revokes everything) commits at once, no drain
            self._stopping = True
            try:
                self._final_commit(consumer)
            except Exception as exc:
                log.warning("source '%s': final offset commit failed (%s); undelivered records are read again on restart", self.name, exc)
            leave_group(consumer, f"source '{self.name}'")
            try:
                consumer.close()
            except Exception:
                log.exception("source '%s': closing the consumer failed", self.name)
            self._pending = None
            self._tls.close()
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.stopped()

    def _final_commit(self, consumer: Any) -> None:
        """At stop: commit every delivered offset synchronously — those of asynchronous
        commits still awaiting their answer too, since leaving the group can cancel them
        (a clean stop then committed nothing of what the last seconds delivered) — and retry
        for up to FINAL_COMMIT_WAIT while the broker refuses (a group rejoin in progress)."""
        uncommitted = self._uncommitted
        for tp, (offset, _sent) in self._awaiting.items():
            if offset > uncommitted.get(tp, -1):
                uncommitted[tp] = offset
        deadline = time.monotonic() + FINAL_COMMIT_WAIT
        while True:
            committed = self._commit_delivered(consumer)
            if committed or time.monotonic() >= deadline:
                break
            consumer.poll(0.1)  # serves the rejoin; a record polled now is dropped (never handed on, never committed)
        if not committed:
            log.warning(
                "source '%s': final offset commit failed (%s); records delivered since the last commit are read again on restart",
                self.name,
                self._commit_error or "refused while the group rebalances",
            )

    _backoff_base = 0
    """The runner's count of empty polls when this source last was paused, had no partition
    or saw its assignment change (``_on_assign``, ``_on_revoke`` set ``_rebase_backoff``)."""
    _rebase_backoff = False

    def backoff_delay(self, attempts: int) -> float:
        """No sleep while paused for a stalled commit, at most 50 ms while no partition is
        assigned: ``process()`` waits in ``consume()`` (which serves commit results and
        rebalances: an assignment is taken up at once) instead. With partitions, Flume's
        backoff counts only the empty polls since the last pause, unassigned spell or
        assignment change: counted from the runner's start it made a source that had waited
        for its partitions (or was paused) sleep maxBackoffSleep (5 s) after its first
        empty read — 5 s without serving a rebalance round (the whole group waited, its
        commits refused) or committing what its sinks delivered."""
        if attempts <= self._backoff_base:
            self._backoff_base = 0  # a batch was read since: the runner counts from 1 again
        if self._paused or not self._assigned or self._rebase_backoff:
            self._backoff_base = attempts
            self._rebase_backoff = False
            if self._paused:
                return 0.0
            if not self._assigned:
                return min(0.05, super().backoff_delay(attempts))  # consume() waits batchDurationMillis itself
            return 0.0  # the first empty read after a change: the partitions' fetches are only starting
        return super().backoff_delay(attempts - self._backoff_base)

    def _log_waiting(self, now: float) -> None:
        """While this source owns no partition, say so every WAIT_LOG_EVERY seconds: what
        it waits for, and the likely reason."""
        if now - self._last_wait_log < WAIT_LOG_EVERY:
            return
        self._last_wait_log = now
        waited = now - self._unassigned_since
        group = self.conf["group.id"]
        if self._joined:
            log.info(
                "source '%s': group '%s' gives this consumer no partition of %s (%.0f s so far): the group has at least as "
                "many members as partitions; it takes over partitions when a member leaves",
                self.name,
                group,
                ", ".join(self.topics),
                waited,
            )
            return
        session = self.conf.get("session.timeout.ms", 45000)
        log.warning(
            "source '%s': waiting for partition assignment of group '%s' (%.0f s so far): the group coordinator waits for "
            "every member to rejoin; a member that was killed without leaving counts until its session times out "
            "(session.timeout.ms = %s ms)%s%s",
            self.name,
            group,
            waited,
            session,
            "" if self._instance_id else "; static membership (staticMembership = true, the default) lets a restarted agent rejoin at once",
            f"; the Kafka client last said: {self._last_client_error}" if self._last_client_error else "",
        )

    def _group_error(self, err: Any, fix: str) -> None:
        """A group error the configuration causes: logged with its fix once a minute; a
        fatal one (fenced by another member with this group.instance.id) stops the source."""
        text = err.str() if hasattr(err, "str") else str(err)
        if getattr(err, "fatal", lambda: False)():
            self._fatal = f"source '{self.name}': the Kafka consumer failed for good: {text}. Fix: {fix}"
            self._fenced = self._fenced or "fenced" in text.lower()
        now = time.monotonic()
        if now - self._group_errors.get(text, -1e9) >= 60.0:
            self._group_errors[text] = now
            log.error("source '%s': kafka consumer: %s. Fix: %s", self.name, text, fix)

    # -- rebalance callbacks (run inside consume(), on the source's thread) --------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            self._assigned.add((tp.topic, tp.partition))
        now = time.monotonic()
        if partitions or not self._joined:
            first = not self._joined or len(self._assigned) == len(partitions)
            log.info(
                "source '%s': group '%s' assigned %s%s; it reads %d partitions",
                self.name,
                self.conf["group.id"],
                describe(partitions) or "no partition",
                f" after {now - self._unassigned_since:.1f} s without any" if first else "",
                len(self._assigned),
            )
        self._joined = True
        if not self._assigned:
            self._unassigned_since = self._last_wait_log = now
        self._rebalanced = True
        # pause()d partitions may stay paused across a reassignment: settle it in _hold
        self._resume_pending = self._resume_pending or self._ever_paused
        # a join round ended (cooperative: every round ends here, with or without new
        # partitions): offsets a commit sent with the old generation kept go out now
        if self._failing_since is not None:
            self._retry_at = 0.0
        self._rebase_backoff = True

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Incremental (cooperative) or full revocation: wait up to REVOKE_DRAIN for the
        batches in flight to be delivered, commit what is delivered (every partition still
        owned), then forget the revoked partitions (what is still in flight for them will
        never commit: their new owner reads it again)."""
        if partitions and not self._stopping:
            self._drain(REVOKE_DRAIN)  # at stop the sinks have already stopped: nothing would come
        try:
            self._commit_delivered(consumer)
        except Exception as exc:
            log.warning("source '%s': committing before a rebalance failed (%s); those records are read again", self.name, exc)
        self._forget([(tp.topic, tp.partition) for tp in partitions], consumer)
        self._rebase_backoff = True
        if partitions:
            log.info("source '%s': rebalance revoked %s; it reads %d partitions", self.name, describe(partitions), len(self._assigned))

    def _drain(self, timeout: float) -> None:
        """Wait until no batch handed on is awaiting delivery, or ``timeout`` passed."""
        acks = getattr(self, "acks", None)
        if acks is None:
            return
        deadline = time.monotonic() + timeout
        while acks.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        if acks.in_flight:
            log.info(
                "source '%s': %d batches still in flight after %.0f s at a rebalance; their records are read again by the new owner",
                self.name,
                acks.in_flight,
                timeout,
            )

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions], consumer)
        if partitions:
            log.warning(
                "source '%s': lost %s (the group moved on without this consumer: session timed out?); undelivered records "
                "of those partitions are read again by their new owner",
                self.name,
                describe(partitions),
            )

    def _forget(self, gone: list[TP], consumer: Any) -> None:
        """Partitions left this consumer: in-flight batches never commit their offsets,
        the kept batch is dropped (retained partitions seek back to re-read it)."""
        gone_set = set(gone)
        if gone and self._assigned and self._assigned <= gone_set:
            self._unassigned_since = self._last_wait_log = time.monotonic()
        for tp in gone:
            self._generation[tp] = self._generation.get(tp, 0) + 1
            self._assigned.discard(tp)
            self._uncommitted.pop(tp, None)
            self._awaiting.pop(tp, None)
            self._floor.pop(tp, None)
            self._handed.pop(tp, None)
        self._rebalanced = True
        pending, self._pending = self._pending, None
        if pending is not None:
            tp_cls = _kafka().TopicPartition
            for tp, (first, _next, _gen) in pending[1].items():
                if tp not in gone_set and tp in self._assigned:
                    try:
                        consumer.seek(tp_cls(tp[0], tp[1], first))
                    except Exception as exc:
                        log.warning("source '%s': seek back on %s[%d] failed (%s)", self.name, tp[0], tp[1], exc)

    # -- commit results (run inside consume(), on the source's thread) -------------------

    def _on_client_error(self, err: Any) -> None:
        """librdkafka's client-level errors (inside consume()): with every broker down, a
        commit in flight cannot be answered — no need to wait STALL_AFTER to know."""
        if err.code() == _kafka().KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        """librdkafka's answer to an asynchronous commit. Success raises the partitions'
        committed floor; a failure puts the offsets back into ``_uncommitted`` (for
        partitions still assigned, unless a later commit covers them), so the next commit
        sends them again (see ``_commit_failed`` for when)."""
        now = time.monotonic()
        self._waiting_since = now
        if err is not None and err.code() == _kafka().KafkaError._NO_OFFSET:
            err = None
        failure: str | None = None
        awaiting, floor, uncommitted = self._awaiting, self._floor, self._uncommitted
        for p in partitions or ():
            tp = (p.topic, p.partition)
            offset = p.offset
            sent = awaiting.get(tp)
            if sent is not None and sent[0] <= offset:
                del awaiting[tp]
            problem = err if err is not None else p.error
            if problem is None:
                if tp in floor and offset > floor[tp]:
                    floor[tp] = offset
                if offset > self._confirmed.get(tp, -1):
                    self._confirmed[tp] = offset
                continue
            failure = failure or f"{p.topic}[{p.partition}]: {problem.str()}"
            # re-queue unless the partition is gone, or a later commit of it is in flight
            if (
                tp in self._assigned
                and offset > floor.get(tp, -1)
                and offset > uncommitted.get(tp, -1)
                and (sent is None or sent[0] <= offset)
            ):
                uncommitted[tp] = offset
        if failure is None and err is not None:
            failure = err.str()
        if failure is not None:
            self._commit_failed(failure, _rebalancing(err, partitions), now)
        else:
            self._commit_succeeded(now)

    def _stalled(self, now: float) -> str | None:
        """Why commits count as stalled (the last one failed, or one is unanswered for
        ``STALL_AFTER``), or None. Commits unanswered for ``RESEND_AFTER`` are re-queued."""
        if self._commit_error is not None:
            return f"failed: {self._commit_error}"
        if self._awaiting and self._brokers_down:
            return "unanswered: every broker is down"
        if self._awaiting and self._polled_at - self._waiting_since >= STALL_AFTER:
            for tp, (offset, sent_at) in list(self._awaiting.items()):
                if now - sent_at >= RESEND_AFTER:
                    del self._awaiting[tp]
                    if offset > self._uncommitted.get(tp, -1):
                        self._uncommitted[tp] = offset
            return f"unanswered for {self._polled_at - self._waiting_since:.1f} s"
        return None

    def _ahead(self) -> int:
        """Records handed to the channel past the last commit known to have succeeded."""
        floor = self._floor
        return sum(max(0, nxt - floor.get(tp, nxt)) for tp, nxt in self._handed.items())

    def _hold(self, consumer: Any, now: float) -> bool:
        """Pause the assigned partitions while commits are stalled and more than
        ``max_ahead`` records were handed on past the last successful commit; resume
        once that is over (or a rebalance took the partitions). True while paused."""
        stalled = self._stalled(now)
        if stalled is not None:
            ahead = self._ahead()
            if ahead > self.max_ahead:
                if not self._paused or self._rebalanced or self._resume_pending:
                    self._rebalanced = False
                    self._resume_pending = False
                    consumer.pause(consumer.assignment())
                    if not self._paused and now - self._last_pause_log >= 30.0:
                        self._last_pause_log = now
                        log.warning(
                            "source '%s': offset commits %s with %d records handed on past the last committed offsets: "
                            "reading paused until a commit succeeds (a rebalance meanwhile re-reads at most those records)",
                            self.name,
                            stalled,
                            ahead,
                        )
                    self._paused = self._ever_paused = True
                return True
        if self._paused or self._resume_pending:
            if self._paused:
                log.info("source '%s': offset commits succeed again; reading resumed", self.name)
            self._paused = False
            self._resume_pending = False
            consumer.resume(consumer.assignment())
        return False

    # -- the data path -------------------------------------------------------------------

    def process(self) -> Status:
        """Commit delivered offsets, then offer one batch (the kept one first). BACKOFF
        when nothing was read or the channel is full (the batch is kept). While commits
        are stalled and too much is uncommitted, only wait for commit results (paused)."""
        with self._lock:
            consumer = self._consumer
            if consumer is None:
                return Status.BACKOFF
            if self._fatal is not None:
                now = time.monotonic()
                if not (self._fenced and len([t for t in self._rejoins if now - t < REJOIN_WINDOW]) < MAX_REJOINS):
                    raise ConfigError(self._fatal)
                consumer = self._rejoin(consumer)
            if not self._assigned and self._pending is None:
                self._log_waiting(time.monotonic())
            if (self.acks.changed.is_set() or self._uncommitted) and self._commit_due():
                self._commit_delivered(consumer, asynchronous=True)
            if (self._awaiting or self._commit_error is not None or self._paused or self._resume_pending) and self._hold(
                consumer, time.monotonic()
            ):
                self._wait_paused(consumer)
                return Status.BACKOFF
            if self._pending is None:
                self._pending = self._read_batch(consumer)
                if self._pending is None:
                    if self.acks.changed.is_set() or self._uncommitted:
                        self._commit_delivered(consumer)  # idle: nothing to batch up, commit now
                    return Status.BACKOFF
            events, position = self._pending
            token = self.acks.token(position)
            try:
                self.processor.process_batch(events, token)
            except ChannelFullError:
                return Status.BACKOFF
            self._pending = None
            self._handed_on(position)
            if self.acks.changed.is_set() and self._commit_due():
                self._commit_delivered(consumer, asynchronous=True)
            return Status.READY

    def backlog(self) -> Backlog | None:
        """Records left to read on the assigned partitions (the lag: high watermark as of
        the last fetch less the next offset to hand on), grouped by topic in ``detail``;
        ``done`` is the records received since start. For progress reports, from their
        own thread once a second: no lock taken (``process`` holds it while it reads),
        librdkafka's cached watermarks only (no broker round trip). None when unknown."""
        consumer = self._consumer
        if consumer is None:
            return None
        kafka = _kafka()
        try:
            assigned = sorted(self._assigned)
            handed = dict(self._handed)
        except RuntimeError:  # changed by a rebalance while copied: next time
            return None
        lag: dict[str, list[int]] = {}
        for topic, partition in assigned:
            try:
                low, high = consumer.get_watermark_offsets(kafka.TopicPartition(topic, partition), cached=True)
            except Exception:
                continue
            if high < 0:
                continue  # not fetched yet
            nxt = handed.get((topic, partition))
            if nxt is None:
                try:
                    (tp,) = consumer.position([kafka.TopicPartition(topic, partition)])
                    nxt = tp.offset if tp.offset >= 0 else low
                except Exception:
                    continue
            lag.setdefault(topic, []).append(max(0, high - max(nxt, low)))
        counter = getattr(self, "counter", None)
        done = int(getattr(counter, "event_received_count", 0))
        left = sum(sum(v) for v in lag.values())
        detail = ", ".join(f"{topic} lag {sum(v):,} ({len(v)} partitions)" for topic, v in sorted(lag.items()))
        return Backlog(done, done + left, "events", detail or "no partition fetched yet")

    def _handed_on(self, position: Position) -> None:
        generation, floor, handed = self._generation, self._floor, self._handed
        for tp, (first, nxt, gen) in position.items():
            if gen == generation.get(tp, 0):
                if tp not in floor:
                    floor[tp] = first
                    self._check_rewind(tp, first)
                if nxt > handed.get(tp, -1):
                    handed[tp] = nxt

    def _check_rewind(self, tp: TP, first: int) -> None:
        """A partition (re)assigned to this source starts below an offset this source had
        committed successfully: the group's committed offset went back (a broker that lost
        acknowledged commits, e.g. one replica and an unclean restart). Those records are
        read again; say so (at most every 30 s)."""
        confirmed = self._confirmed.get(tp)
        if confirmed is None or first >= confirmed:
            return
        now = time.monotonic()
        if now - self._last_rewind_log >= 30.0:
            self._last_rewind_log = now
            log.warning(
                "source '%s': %s[%d] restarts at offset %d although offset %d was committed successfully: the consumer "
                "group's committed offset went back (did the broker lose acknowledged commits?); %d records are read again",
                self.name,
                tp[0],
                tp[1],
                first,
                confirmed,
                confirmed - first,
            )

    def _wait_paused(self, consumer: Any) -> None:
        """Serve commit results and rebalances for a moment. Records that still arrive
        (a partition assigned meanwhile) join the kept batch: consumed records are never
        dropped."""
        got = consumer.consume(self.batch, 0.1)
        self._polled_at = time.monotonic()
        if not got:
            return
        more = self._convert(got)
        if more is None:
            return
        if self._pending is None:
            self._pending = more
            return
        events, position = self._pending
        for tp, (first, nxt, gen) in more[1].items():
            seen = position.get(tp)
            position[tp] = (first, nxt, gen) if seen is None else (min(seen[0], first), max(seen[1], nxt), seen[2])
        self._pending = concat([events, more[0]]), position

    def _read_batch(self, consumer: Any) -> tuple[AnyBatch, Position] | None:
        """Poll until ``batchSize`` records or ``batchDurationMillis`` (or a rebalance)."""
        messages: list[Any] = []
        want = self.batch
        deadline = time.monotonic() + self.duration
        self._rebalanced = False
        while len(messages) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = consumer.consume(want - len(messages), left)
            self._polled_at = time.monotonic()
            if got:
                if messages:
                    messages.extend(got)
                else:
                    messages = got
            if self._rebalanced:
                if self._pending is None and messages:
                    # records read before a revocation may belong to revoked partitions
                    messages = [m for m in messages if (m.topic(), m.partition()) in self._assigned or m.error()]
                break
        if not messages:
            return None
        return self._convert(messages, ordered=not self._rebalanced)

    def _convert(self, messages: list[Any], ordered: bool = False) -> tuple[AnyBatch, Position] | None:
        """The batch and per-partition (first, next, generation) offsets of ``messages``
        (errors are logged and skipped). Plain records become one column-wise
        :class:`~flafka.batch.Batch` with a :class:`RecordHeaders` column (headers built only if asked for); ``useFlumeEventFormat``
        records a ``list[Event]`` (decoded now). ``ordered``: the records come from reads
        with no rebalance in between (each partition's offsets ascend)."""
        if not messages:
            return None
        context: HeaderContext = (self.set_topic_header, self.topic_header, self.header_map, int(time.time() * 1000))
        message: Any = type(messages[0])  # confluent_kafka.Message (or a test's fake): unbound methods, mapped in C
        if any(map(message.error, messages)):
            good = []
            for m in messages:
                err = m.error()
                if err is None:
                    good.append(m)
                else:
                    self._record_error(err)
            if not good:
                return None
            messages = good
        if self.avro:
            batch: AnyBatch = [self._avro_event(m, m.value() or b"", context) for m in messages]
        else:
            bodies = list(map(message.value, messages))
            if not all(bodies):  # a record without value (None) has an empty body
                bodies = [b or b"" for b in bodies]
            batch = Batch(bodies, RecordHeaders(messages, context))
        return batch, self._positions(messages, message, ordered)

    def _positions(self, messages: list[Any], message: Any, ordered: bool) -> Position:
        """Per partition of ``messages`` (never empty): (first offset, highest offset + 1,
        generation). ``ordered`` (no rebalance during the reads: librdkafka hands each
        partition's records in offset order) finds each partition's first and last record
        with scans in C instead of a Python loop over the records."""
        generation = self._generation
        if ordered:
            partitions = list(map(message.partition, messages))
            seen = set(partitions)
            # one literal topic subscribed: every record is of it (error records are gone)
            topics = self._topics_read or set(map(message.topic, messages))
            if len(topics) == 1 and len(seen) <= 32:
                (topic,) = topics
                n = len(partitions)
                backwards = partitions[::-1]
                return {
                    (topic, p): (
                        messages[partitions.index(p)].offset(),
                        messages[n - 1 - backwards.index(p)].offset() + 1,
                        generation.get((topic, p), 0),
                    )
                    for p in seen
                }
        first: dict[TP, int] = {}
        last: dict[TP, int] = {}
        for m in messages:
            tp = (m.topic(), m.partition())
            offset = m.offset()
            seen_offset = last.get(tp)
            if seen_offset is None:
                first[tp] = last[tp] = offset
            elif offset > seen_offset:
                last[tp] = offset
        return {tp: (offset, last[tp] + 1, generation.get(tp, 0)) for tp, offset in first.items()}

    def _avro_event(self, m: Any, value: bytes, context: HeaderContext) -> Event:
        try:
            headers, body = avro_event.decode(value)
        except avro_event.AvroEventError as exc:
            headers, body = {}, value
            self._bad_records += 1
            if self._bad_records in (1, 10) or self._bad_records % 10000 == 0:
                log.warning(
                    "source '%s': record %s[%d]@%d is not a Flume Avro event (%s); its value became the body "
                    "(%d such records so far; set useFlumeEventFormat = false if the topic holds plain values)",
                    self.name,
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    exc,
                    self._bad_records,
                )
        return Event(body, add_record_headers(headers, m, context))

    def _record_error(self, err: Any) -> None:
        if err.code() == _kafka().KafkaError._PARTITION_EOF:
            return
        if err.fatal() or err.code() == _kafka().KafkaError._FATAL:
            fix = group_error_fix(err, {**self.conf, "group.instance.id": self._instance_id or ""})
            self._fatal = f"source '{self.name}': the Kafka consumer failed for good: {err.str()}" + (f". Fix: {fix}" if fix else "")
            if "fenced" in err.str().lower() and self._instance_id:
                self._fenced = True
                return  # process() closes the consumer and joins again (up to MAX_REJOINS)
            raise ConfigError(self._fatal)
        text = err.str()
        self._last_client_error = text
        now = time.monotonic()
        if now - self._record_errors.get(text, -1e9) >= 60.0:
            self._record_errors[text] = now
            fix = group_error_fix(err, self.conf)  # e.g. JoinGroup: inconsistent group protocol (Flume agents in the group)
            if fix:
                log.error("source '%s': %s. Fix: %s", self.name, text, fix)
            else:
                log.warning("source '%s': %s", self.name, text)

    def _commit_due(self) -> bool:
        """At most one offset commit every COMMIT_INTERVAL while data flows (a commit is a
        broker round trip), and none for COMMIT_RETRY after one failed. Stop, revoke and
        idle polls commit at once. A crash re-reads at most what was delivered in the last
        interval (or, while commits fail, what was handed on since the last success)."""
        now = time.monotonic()
        if now - self._last_commit >= COMMIT_INTERVAL and now >= self._retry_at:
            self._last_commit = now
            return True
        return False

    def _commit_delivered(self, consumer: Any, asynchronous: bool = False) -> bool:
        """Commit the offsets of every delivered batch (explicit offsets), skipping
        partitions this consumer no longer owns. Synchronous on stop, revoke and idle
        polls (a failed commit is kept and retried on the next call); asynchronous while
        data flows, so the source keeps reading during the broker round trip — its result
        comes to ``_on_commit``, which re-queues the offsets of a failed one. False when
        the commit failed (its offsets are kept for the next one); True when it succeeded,
        was sent (asynchronous) or there was nothing to commit."""
        merged = self._uncommitted
        generation = self._generation
        for position in self.acks.delivered():
            for tp, (_first, nxt, gen) in position.items():
                if gen == generation.get(tp, 0) and nxt > merged.get(tp, -1):
                    merged[tp] = nxt
        if not merged:
            return True
        tp_cls = _kafka().TopicPartition
        offsets = [tp_cls(t, p, o) for (t, p), o in merged.items()]
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
                now = time.monotonic()
                awaiting = self._awaiting
                if not awaiting:
                    self._waiting_since = now
                for tp, o in merged.items():
                    sent = awaiting.get(tp)
                    awaiting[tp] = (o, now if sent is None else sent[1])
                merged.clear()
                return True
            result = consumer.commit(offsets=offsets, asynchronous=False)
        except _kafka().KafkaException as exc:
            err = exc.args[0]
            if err.code() == _kafka().KafkaError._NO_OFFSET:
                merged.clear()
                return True
            if err.fatal():
                raise
            # Never let a failed commit keep the source from calling consume(): librdkafka
            # rejoins the group (after a broker restart, an expired session) only there.
            # The offsets stay in _uncommitted and are committed again later.
            self._commit_failed(err.str(), _rebalancing(err, None), time.monotonic())
            return False
        failed = [r for r in (result or []) if getattr(r, "error", None)]
        if failed:
            error = failed[0].error
            reason = f"{failed[0].topic}[{failed[0].partition}]: {error.str() if hasattr(error, 'str') else error}"
            self._commit_failed(reason, _rebalancing(None, failed), time.monotonic())
            return False
        floor = self._floor
        for tp, o in merged.items():
            if tp in floor and o > floor[tp]:
                floor[tp] = o
            if o > self._confirmed.get(tp, -1):
                self._confirmed[tp] = o
            sent = self._awaiting.get(tp)
            if sent is not None and sent[0] <= o:
                del self._awaiting[tp]
        merged.clear()
        self._commit_succeeded(time.monotonic())
        return True

    # commit failures (state kept between commits; class-level defaults)
    _failing_since: float | None = None
    """When the current run of failed commits began (None: the last commit succeeded)."""
    _failures = 0
    """Failed commits in the current run."""
    _warned: frozenset[str] = frozenset()
    """Kinds of failure (error names) already warned about in the current run."""

    def _commit_failed(self, reason: str, rebalancing: bool, now: float) -> None:
        """A commit failed; its offsets are kept (``_uncommitted``) for the next one.

        A commit refused because the group is rebalancing (``ILLEGAL_GENERATION``,
        ``REBALANCE_IN_PROGRESS``: it went out with the generation a cooperative join round
        was just replacing — every handover of partitions has such rounds) is retried
        after REBALANCE_RETRY and at once when the round ends (``_on_assign``), and counts
        as a failure (``_commit_error``: reading pauses past ``MAX_AHEAD_BATCHES``) only
        once such refusals last REBALANCE_GRACE. Any other failure counts at once and is
        retried after COMMIT_RETRY. One warning per kind of failure while commits keep
        failing (a rebalance's only after FAILING_WARN_AFTER), one line when they succeed
        again: never one per batch."""
        if self._failing_since is None:
            self._failing_since = now
            self._failures = 0
            self._warned = frozenset()
        self._failures += 1
        failing_for = now - self._failing_since
        if rebalancing and failing_for < REBALANCE_GRACE:
            self._retry_at = now + REBALANCE_RETRY
            log.debug("source '%s': offset commit refused during a group rebalance (%s); retried", self.name, reason)
            return
        self._commit_error = reason
        self._retry_at = now + (REBALANCE_RETRY if rebalancing else COMMIT_RETRY)
        kind = reason.rsplit(": ", 1)[-1]
        if kind in self._warned or (rebalancing and failing_for < FAILING_WARN_AFTER):
            return
        self._warned = self._warned | {kind}
        log.warning(
            "source '%s': committing delivered offsets fails (%s; %d attempts in %.1f s%s); the offsets are kept and "
            "retried — a crash before a commit succeeds re-reads those events (duplicates, no loss)",
            self.name,
            reason,
            self._failures,
            failing_for,
            ": the consumer group is rebalancing (a member that joins, leaves or died and is waited for)" if rebalancing else "",
        )

    def _commit_succeeded(self, now: float) -> None:
        """A commit succeeded: the run of failures (if any) is over."""
        self._commit_error = None
        self._brokers_down = False
        if self._failing_since is None:
            return
        failing_for = now - self._failing_since
        (log.info if self._warned else log.debug)(
            "source '%s': offset commits succeed again (after %d failed attempts in %.1f s)",
            self.name,
            self._failures,
            failing_for,
        )
        self._failing_since = None
        self._failures = 0
        self._warned = frozenset()


REBALANCE_ERRORS = ("ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "STALE_MEMBER_EPOCH")
"""Commit errors that only say the group is between two generations (a join round)."""

REBALANCE_RETRY = 0.05
"""Seconds between commit attempts while the group is rebalancing (the round ending retries
at once: ``_on_assign``)."""

REBALANCE_GRACE = STALL_AFTER
"""Seconds commits may be refused by a rebalance before they count as failing (reading
pauses past ``MAX_AHEAD_BATCHES``): a cooperative join round takes milliseconds when every
member polls."""

FAILING_WARN_AFTER = 5.0
"""Seconds commits may be refused by a rebalance before a warning says so (a round that
waits for a member: one that is slow to poll, or died and is waited for until its session
times out)."""


def _rebalancing(err: Any, partitions: list[Any] | None) -> bool:
    """The commit failed only because the group is rebalancing (``REBALANCE_ERRORS``):
    the request-level ``err`` or, without one, every failed partition's error."""
    kafka_error = _kafka().KafkaError
    codes = {getattr(kafka_error, name) for name in REBALANCE_ERRORS if hasattr(kafka_error, name)}
    if err is not None:
        return bool(err.code() in codes)
    errors = [p.error for p in partitions or () if getattr(p, "error", None) is not None]
    return bool(errors) and all(getattr(e, "code", lambda: None)() in codes for e in errors)


LEAVE_WAIT = 2.0
"""Longest wait (seconds) at stop for the group to take the partitions back."""


def leave_group(consumer: Any, component: str) -> None:
    """Leave the consumer group before ``close()``: a static member (``group.instance.id``)
    does not leave on close (KIP-345): its partitions waited ``session.timeout.ms`` (45.2 s
    measured) for another member after a clean stop. ``unsubscribe()`` and polling until
    the revocation ran (the callbacks commit) sends the LeaveGroup request: the others had
    the partitions 0.1 s later. Records polled meanwhile are dropped (never handed on,
    never committed)."""
    try:
        consumer.unsubscribe()
        deadline = time.monotonic() + LEAVE_WAIT
        while time.monotonic() < deadline:
            consumer.poll(0.05)
            if not consumer.assignment():
                break
        consumer.poll(0.1)  # lets the LeaveGroup request go out
    except Exception as exc:
        log.debug("%s: leaving the consumer group failed: %s", component, exc)


COMPONENTS = [KafkaSource]

__all__ = [
    "COMPONENTS",
    "KafkaRecordEvent",
    "KafkaSource",
    "RecordHeaders",
    "add_record_headers",
    "leave_group",
    "start_positions",
    "topics_of",
]
