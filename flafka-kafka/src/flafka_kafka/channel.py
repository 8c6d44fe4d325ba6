"""The Kafka channel (Flume's ``org.apache.flume.channel.kafka.KafkaChannel``): a durable
channel whose storage is a Kafka topic.

* Put transaction: events are staged in memory; ``commit`` produces them all (value =
  Flume's Avro event when ``parseAsFlumeEvent``, else the body; key = header ``key``;
  partition = ``partitionIdHeader`` / ``defaultPartitionId``), flushes the producer and
  checks every delivery report. Only then is the commit done — and, the channel being
  durable, the batch's acknowledgement tokens are paid. Any failure raises
  :class:`~flafka.errors.ChannelError`: the source keeps its batch and retries.
* Take transaction: records are read with the taking thread's own consumer (group
  ``kafka.consumer.group.id``; :mod:`flafka_kafka.taker`), as Flume's KafkaChannel gives
  each thread its own: N sinks take in parallel, each from the partitions the group
  assigned to its consumer. The record key becomes header ``key`` (as Flume's
  KafkaChannel does, whether or not ``parseAsFlumeEvent``); ``commit`` queues their
  offsets on that consumer, which commits them asynchronously, one commit in flight at a
  time (Flume commits synchronously in every take commit: a ~7.6 ms round trip per take
  that bounded one taker to ~130k events/s); a crash re-reads what was delivered since
  the last commit that reached the broker (duplicates, never loss), and a revocation or a
  clean stop commits every delivered offset synchronously; ``rollback`` puts the records it
  took back at the head of that consumer's read buffer (as Flume keeps them in memory),
  so the next take of the thread returns them again, in order — no seek, so nothing a
  failing broker call could lose. Records of a partition revoked meanwhile are dropped
  instead: its new owner reads them from the committed offset. A take transaction holds
  its taker's lock from its first non-empty ``take`` to its end (``stop`` waits for it);
  an empty take holds nothing.
* Column-wise (``batch_aware``, issue 15): a put reads bodies and header maps from the
  batch (:func:`~flafka.batch.bodies_of`, :func:`~flafka.batch.header_maps_of`) without
  building ``Event`` objects; a take returns a :class:`~flafka.batch.Batch` — with
  ``parseAsFlumeEvent = false`` the bodies are the record values and the ``key`` headers
  a lazy column over the records (built only when a component reads headers); with
  ``parseAsFlumeEvent = true`` each record is decoded at take (body and headers).
* A thread's consumer is created on its first take (never in a channel nobody takes
  from), so a source-only agent writing to the channel does not join the consumer group,
  and a sink-only (sourceless) agent just reads the topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from operator import length_hint
from typing import Any

from flafka.ack import AckToken
from flafka.batch import AnyBatch, Batch, HeaderMap, bodies_of, has_headers, header_maps_of
from flafka.channel import Channel, PutTransaction, TakeTransaction
from flafka.errors import ChannelError, ConfigError
from flafka.event import Event
from flafka.metrics.counters import ChannelCounter
from flafka.settings import Problem, Schema, Setting, Settings
from flafka_kafka import avro_event
from flafka_kafka.client_config import (
    BOOTSTRAP_HELP,
    RENAMED,
    _OncePerMinute,
    client_config_for_validation,
    consumer_config,
    group_error_fix,
    librdkafka_problems,
    producer_config,
    with_instance_id,
    zookeeper_problems,
)
from flafka_kafka.keystores import TlsFiles, resolved
from flafka_kafka.source import leave_group
from flafka_kafka.taker import KeyHeaders, Taker, fatal_message, key_text, offset_ranges

log = logging.getLogger(__name__)

TP = tuple[str, int]
ASSIGNMENT_WAIT = 10.0
"""Seconds the first take waits for the consumer group to assign partitions."""
POLL_SLICE = 0.1
"""Longest single consumer poll (seconds): a take or a wait for events polls in slices of
this, so :meth:`KafkaChannel.wake_waiters` (the agent stopping) ends it within one."""


def _kafka() -> Any:
    import confluent_kafka

    return confluent_kafka


class KafkaChannel(Channel):
    """A durable channel stored in a Kafka topic."""

    type_name = "kafka"
    aliases = ("org.apache.flume.channel.kafka.KafkaChannel",)
    durable = True
    batch_aware = True  # puts read bodies and header maps, takes return column-wise batches
    needs_sink = False  # with no sink it writes events to the topic for other consumers (Flume's documented use)
    summary = "Durable channel stored in a Kafka topic (librdkafka)"
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", None, "(required) host:port,... of Kafka brokers", legacy=("brokerList",), since="1.7"),
        Setting("kafka.topic", "str", "flume-channel", "topic that stores the channel's events", legacy=("topic",), since="1.7"),
        Setting("kafka.consumer.group.id", "str", "flume", "consumer group of the takers", legacy=("groupId",), since="1.7"),
        Setting("parseAsFlumeEvent", "bool", True, "store events in Flume's Avro format (headers kept); false: body only"),
        Setting("defaultPartitionId", "int", None, "partition every put goes to (default: by key)", minimum=0, since="1.7"),
        Setting("partitionIdHeader", "str", None, "header naming the partition of a put (overrides defaultPartitionId)", since="1.7"),
        Setting("kafka.pollTimeout", "int", 500, "ms a take waits for records (Flume's code)", legacy=("timeout",), minimum=0, since="1.7"),
        Setting("pollTimeout", "int", None, "ms a take waits (Flume's User Guide; kafka.pollTimeout wins)", minimum=0, since="1.7"),
        Setting("readSmallestOffset", "bool", None, "Flume 1.6: read from the beginning (now kafka.consumer.auto.offset.reset)"),
        Setting("zookeeperConnect", "str", None, "Flume 1.6 ZooKeeper address: not supported, use kafka.bootstrap.servers"),
        Setting("migrateZookeeperOffsets", "bool", True, "accepted for compatibility; offsets in ZooKeeper are not migrated", since="1.7"),
        Setting("capacity", "int", None, "not used by the Kafka channel (Flume 1.6 examples set it; ignored)"),
        Setting("transactionCapacity", "int", None, "not used by the Kafka channel (ignored)"),
        Setting("kafka.producer.*", "map", None, "Kafka producer properties (acks defaults to all)", since="1.7"),
        Setting("kafka.consumer.*", "map", None, "Kafka consumer properties (auto.offset.reset defaults to earliest)", since="1.7"),
        Setting(
            "staticMembership",
            "bool",
            True,
            "flafka: join the group as a static member (group.instance.id <host>/<agent>/<component>/<topics digest> unless "
            "kafka.consumer.group.instance.id is set), so a restarted agent gets its partitions back at once",
        ),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.producer_factory: Callable[[dict[str, Any]], Any] | None = None
        """Builds the producer (default ``confluent_kafka.Producer``); tests put a fake here."""
        self.consumer_factory: Callable[[dict[str, Any]], Any] | None = None
        """Builds the consumer (default ``confluent_kafka.Consumer``)."""
        errors = [p for p in self.check_settings(settings, check_librdkafka=False) if p.severity == "error"]
        if errors:
            raise ConfigError(
                f"channel '{name}': " + "; ".join(f"{p.key}: {p.message}" + (f" ({p.suggestion})" if p.suggestion else "") for p in errors)
            )
        self.producer_conf, _ = self._producer_conf(settings, name)
        self.consumer_conf, _ = self._consumer_conf(settings, name)
        self._tls = TlsFiles(name)
        """PEM files converted from Java key/trust stores (written when a client is made, removed at stop)."""
        self.topic: str = settings["kafka.topic"]
        self.static = bool(settings["staticMembership"])
        self._probe: Any = None
        self.avro = bool(settings["parseAsFlumeEvent"])
        self.default_partition: int | None = settings["defaultPartitionId"]
        self.partition_header: str | None = settings["partitionIdHeader"]
        self.poll_timeout = poll_timeout_ms(settings) / 1000.0
        timeout_ms = self.producer_conf.get("message.timeout.ms", self.producer_conf.get("delivery.timeout.ms", 300000))
        self.flush_timeout = int(timeout_ms) / 1000.0 + 5.0
        self.counter = ChannelCounter(name, self.type_name)
        self.counter.size = self.size
        self._producer: Any = None
        self._takers: list[Taker] = []
        """Every taking thread's consumer, in the order of their first take."""
        self._takers_lock = threading.Lock()
        self._local = threading.local()
        self._bad_records = 0
        self._errors_seen = _OncePerMinute()
        """Consumer errors are logged once a minute per distinct text (JoinGroup retries)."""
        self._stopped = False
        self._waking = threading.Event()

    # -- configuration -------------------------------------------------------------------

    @staticmethod
    def _producer_conf(settings: Settings, name: str) -> tuple[dict[str, Any], list[Problem]]:
        user = dict(settings.get("kafka.producer.*") or {})
        acks = str(user.pop("acks", "all")).strip().lower()
        # failures only: a delivered record costs no Python call; completion is flush() == 0
        return producer_config(settings.get("kafka.bootstrap.servers") or "", user, acks, name, {"delivery.report.only.error": True})

    @staticmethod
    def _consumer_conf(settings: Settings, name: str) -> tuple[dict[str, Any], list[Problem]]:
        defaults = {"auto.offset.reset": "earliest", "fetch.wait.max.ms": "100"}
        smallest = settings.get("readSmallestOffset")
        if smallest is not None:
            defaults["auto.offset.reset"] = "earliest" if smallest else "latest"
        return consumer_config(
            settings.get("kafka.bootstrap.servers") or "",
            settings.get("kafka.consumer.group.id") or "flume",
            dict(settings.get("kafka.consumer.*") or {}),
            name,
            defaults,
        )

    @classmethod
    def transaction_capacity_from(cls, settings: Settings) -> int | None:
        """Unbounded: a Kafka channel transaction holds what the producer queue holds."""
        return None

    @classmethod
    def check_settings(cls, settings: Settings, check_librdkafka: bool = True) -> list[Problem]:
        """Cross-key checks (no network I/O): ZooKeeper, 1.6 keys, client properties."""
        problems = zookeeper_problems(settings)
        if not settings.get("kafka.bootstrap.servers") and not settings.get("zookeeperConnect"):
            problems.append(Problem("kafka.bootstrap.servers", "required key 'kafka.bootstrap.servers' is missing", BOOTSTRAP_HELP))
        explicit = settings.explicit
        if "readSmallestOffset" in explicit:
            problems.append(
                Problem(
                    "readSmallestOffset",
                    "'readSmallestOffset' is the Flume 1.6 spelling; it is read as kafka.consumer.auto.offset.reset = "
                    + ("earliest" if settings.get("readSmallestOffset") else "latest"),
                    "replace it with kafka.consumer.auto.offset.reset",
                    "warning",
                )
            )
        if "pollTimeout" in explicit and "kafka.pollTimeout" in explicit and settings["pollTimeout"] != settings["kafka.pollTimeout"]:
            problems.append(
                Problem(
                    "pollTimeout",
                    f"'pollTimeout' ({settings['pollTimeout']}) is ignored: kafka.pollTimeout "
                    f"({settings['kafka.pollTimeout']}) is also set and wins (as in Flume, whose code reads kafka.pollTimeout)",
                    "keep one of them",
                    "warning",
                )
            )
        for key in ("capacity", "transactionCapacity"):
            if key in explicit:
                problems.append(
                    Problem(key, f"'{key}' is not used by the Kafka channel and is ignored (as in Flume)", f"remove '{key}'", "warning")
                )
        acks = str((settings.get("kafka.producer.*") or {}).get("acks", "all")).strip().lower()
        if acks in ("0", "1"):
            problems.append(
                Problem(
                    "kafka.producer.acks",
                    f"acks={acks} can lose committed channel events when a partition leader fails",
                    "remove it (the channel's default is all)",
                    "warning",
                )
            )
        pconf, pprob = cls._producer_conf(settings, "validate")
        cconf, cprob = cls._consumer_conf(settings, "validate")
        problems += pprob + cprob
        if check_librdkafka and not any(p.severity == "error" for p in pprob + cprob):
            pknown = {RENAMED[k]: k for k in (settings.get("kafka.producer.*") or {}) if k in RENAMED}
            cknown = {RENAMED[k]: k for k in (settings.get("kafka.consumer.*") or {}) if k in RENAMED}
            problems += librdkafka_problems(client_config_for_validation(pconf), "producer", "kafka.producer.", pknown)
            problems += librdkafka_problems(client_config_for_validation(cconf), "consumer", "kafka.consumer.", cknown)
        return problems

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        kafka = _kafka()
        self._stopped = False
        self._waking.clear()
        self._local = threading.local()  # a restarted channel makes new takers (stop closed the old ones)
        factory = self.producer_factory or kafka.Producer
        conf = resolved(self._tls, dict(self.producer_conf), f"channel '{self.name}'")
        try:
            self._producer = factory(conf)
        except kafka.KafkaException as exc:
            self._tls.close()
            raise ConfigError(f"channel '{self.name}': the Kafka producer cannot be created: {exc.args[0].str()}") from None
        self.counter.started()
        log.info("channel '%s': topic '%s' at %s", self.name, self.topic, self.producer_conf["bootstrap.servers"])

    def stop(self) -> None:
        """Flush the producer, commit what takes committed, leave the group. Idempotent."""
        self._stopped = True
        probe, self._probe = self._probe, None
        if probe is not None:
            try:
                probe.close()
            except Exception:
                pass
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.flush(5.0)
            except Exception:
                log.exception("channel '%s': flushing the producer at stop failed", self.name)
        with self._takers_lock:
            takers, self._takers = self._takers, []
        for taker in takers:
            got = taker.lock.acquire(timeout=5.0)
            try:
                taker.close(leave_group)
            finally:
                if got:
                    taker.lock.release()
        self._tls.close()
        self.counter.stopped()

    # -- Channel API ---------------------------------------------------------------------

    def put_transaction(self) -> PutTransaction:
        return _KafkaPut(self)

    def take_transaction(self) -> TakeTransaction:
        return _KafkaTake(self)

    def size(self) -> int:
        """Records in the partitions this agent's takers own that they have not taken
        yet, as of each one's last take (cached watermarks), plus records read but not
        taken. Never calls a consumer (its thread may be inside it)."""
        return sum(t.backlog + len(t.buffer) for t in list(self._takers))

    def _taker(self) -> Taker:
        """The calling thread's taker (made on its first take; consumer not yet created).
        Takers of threads that ended are closed first (a reload's old sink runners)."""
        taker: Taker | None = getattr(self._local, "taker", None)
        if taker is not None:
            return taker
        me = threading.current_thread()
        gone: list[Taker] = []
        with self._takers_lock:
            alive: list[Taker] = []
            for t in self._takers:
                (alive if t.thread.is_alive() else gone).append(t)
            used = {t.index for t in alive}
            index = next(i for i in range(1, len(alive) + 2) if i not in used)
            taker = Taker(self.name, self.topic, index, self.consumer_conf["group.id"], me)
            alive.append(taker)
            self._takers = alive
        for t in gone:
            t.close(leave_group)
        self._local.taker = taker
        return taker

    @property
    def takers(self) -> int:
        """How many consumers (taking threads) this channel has."""
        return len(self._takers)

    def is_empty(self) -> bool:
        """True only when the group has taken every record of the topic in committed take
        transactions: asks the brokers (committed offsets against high watermarks) through
        a probe consumer that never joins the group, and counts what this agent's takes
        delivered whose asynchronous offset commit is not confirmed yet (a stop commits
        it). Used by ``--exit-when-drained``; the agent's stop does not wait on durable
        channels. Unsure (broker unreachable) means False."""
        takers = list(self._takers)
        buffered = any(t.buffer for t in takers)
        if buffered or self._stopped:
            return not buffered
        delivered: dict[TP, int] = {}  # by this agent's takers, commits confirmed or not (the stop commits them)
        for t in takers:
            for tp, offset in t.delivered().items():
                delivered[tp] = max(offset, delivered.get(tp, -1))
        kafka = _kafka()
        try:
            probe = self._probe
            if probe is None:
                conf = {k: v for k, v in self.consumer_conf.items() if k not in ("logger", "error_cb", "group.instance.id")}
                conf = resolved(self._tls, conf, f"channel '{self.name}'")
                probe = self._probe = (self.consumer_factory or kafka.Consumer)(conf)
            meta = probe.list_topics(self.topic, timeout=5.0).topics.get(self.topic)
            if meta is None or meta.error is not None:
                return True  # no topic: nothing was ever put
            tps = [kafka.TopicPartition(self.topic, p) for p in meta.partitions]
            earliest = str(self.consumer_conf.get("auto.offset.reset", "earliest")).lower() in ("earliest", "smallest", "beginning")
            for tp in probe.committed(tps, timeout=5.0):
                low, high = probe.get_watermark_offsets(tp, timeout=5.0, cached=False)
                start = tp.offset if tp.offset >= 0 else (low if earliest else high)
                start = max(start, delivered.get((tp.topic, tp.partition), -1))
                if high > start:
                    return False
            return True
        except Exception as exc:
            log.debug("channel '%s': could not tell whether the topic is drained: %s", self.name, exc)
            return False

    def wait_for_events(self, timeout: float) -> bool:
        """Wait (on the calling thread's consumer) up to ``timeout`` for a record."""
        taker = self._taker()
        if taker.buffer:
            return True
        if not taker.lock.acquire(timeout=max(timeout, 0.0)):
            return False
        try:
            if taker.buffer:
                return True
            deadline = time.monotonic() + timeout
            try:
                consumer = self._ensure_consumer(taker, timeout)
                if consumer is None:
                    return False
                msg = self._poll(consumer, deadline - time.monotonic())
                taker.commit_async(consumer, idle=True)  # offsets queued while a commit was in flight (its answer came in the poll)
                if msg is not None and self._usable(taker, msg):
                    taker.buffer.append(msg)
            except ChannelError:
                return True  # the next take raises it (and the sink runner reports it)
            return bool(taker.buffer)
        finally:
            taker.lock.release()

    def wake_waiters(self) -> None:
        """End every wait for records within one :data:`POLL_SLICE` (the agent is
        stopping); later waits return at once."""
        self._waking.set()

    def _poll(self, consumer: Any, timeout: float) -> Any:
        """One record (or None) within ``timeout`` seconds, polled in slices so that
        :meth:`wake_waiters` cuts the wait short."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            msg = consumer.poll(max(0.0, min(POLL_SLICE, deadline - time.monotonic())))
            if msg is not None or self._waking.is_set() or time.monotonic() >= deadline:
                return msg

    # -- producing -------------------------------------------------------------------------

    def _partition(self, headers: HeaderMap | None) -> int:
        """The partition of an event with ``headers`` (``partitionIdHeader``, else
        ``defaultPartitionId``, else -1: librdkafka's partitioner)."""
        if self.partition_header is not None and headers:
            raw = headers.get(self.partition_header)
            if raw is not None:
                try:
                    value = int(raw)
                except ValueError:
                    value = -1
                if value < 0:
                    raise ChannelError(
                        f"channel '{self.name}': header '{self.partition_header}' is '{raw}', not a partition number "
                        f"(partitionIdHeader); fix the header or the interceptor that sets it"
                    )
                return value
        return -1 if self.default_partition is None else self.default_partition

    def _produce(self, batches: list[AnyBatch]) -> None:
        """Produce every event, flush, check the reports; raise ChannelError on any failure.

        The shared callback runs only for failed records (``delivery.report.only.error``;
        with it off it also sees successes and ignores them): the put is complete when
        ``flush`` leaves nothing queued and no failure was reported. A header-less batch
        (no Avro wrapping, no partitionIdHeader) is produced with one C-level ``map`` over
        its bodies: no Python frame per record."""
        producer = self._producer
        if producer is None:
            raise ChannelError(f"channel '{self.name}' is not started")
        failures: list[Any] = []

        def report(err: Any, msg: Any) -> None:
            if err is not None:
                failures.append(err)

        topic = self.topic
        partition = -1 if self.default_partition is None else self.default_partition
        plain = not self.avro and self.partition_header is None
        for batch in batches:
            if plain and not has_headers(batch):
                self._produce_bodies(producer, topic, bodies_of(batch), partition, report)
            else:
                self._produce_events(producer, topic, batch, partition, report)
        left = producer.flush(self.flush_timeout)
        if failures:
            err = failures[0]
            raise ChannelError(
                f"channel '{self.name}': {len(failures)} records were not acknowledged by Kafka (first: {err.name()}: {err.str()}); "
                f"the put is rolled back and the source retries it"
            )
        if left:
            raise ChannelError(f"channel '{self.name}': {left} records got no delivery report in time; the put is rolled back")

    def _produce_bodies(self, producer: Any, topic: str, bodies: list[bytes], partition: int, report: Callable[..., None]) -> None:
        """``produce(topic, body, None, partition, report)`` for every body, one C call each
        (``map`` drained by a zero-length deque); a full local queue is drained and the rest
        produced from where it stopped."""
        produce = producer.produce
        start = 0
        n = len(bodies)
        while start < n:
            rest = bodies[start:] if start else bodies
            it = iter(rest)
            try:
                deque(map(produce, repeat(topic), it, repeat(None), repeat(partition), repeat(report)), maxlen=0)
                return
            except BufferError:  # that record was not queued: let the queue drain, resume at it
                start += len(rest) - length_hint(it) - 1
                producer.poll(0.05)
            except _kafka().KafkaException as exc:
                producer.flush(self.flush_timeout)
                raise ChannelError(f"channel '{self.name}': Kafka refused a record: {exc.args[0].str()}") from None

    def _produce_events(self, producer: Any, topic: str, batch: AnyBatch, partition: int, report: Callable[..., None]) -> None:
        """Record by record: Avro-wrapped values, the ``key`` header, partitionIdHeader."""
        encode = avro_event.encode
        avro = self.avro
        fixed = self.partition_header is None
        produce = producer.produce
        kafka = _kafka()
        for body, headers in zip(bodies_of(batch), header_maps_of(batch), strict=True):
            if not fixed:
                partition = self._partition(headers)
            value = encode(headers or {}, body) if avro else body
            key = headers.get("key") if headers else None
            while True:
                try:
                    produce(topic, value, key, partition, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.05)
                except kafka.KafkaException as exc:
                    producer.flush(self.flush_timeout)
                    raise ChannelError(f"channel '{self.name}': Kafka refused a record: {exc.args[0].str()}") from None

    # -- consuming -------------------------------------------------------------------------

    def _ensure_consumer(self, taker: Taker, wait: float) -> Any:
        """``taker``'s consumer (created and subscribed on first use); waits up to
        ``wait`` seconds for a first assignment. Call with ``taker.lock`` held."""
        if self._stopped:
            return None
        if taker.fatal is not None:
            if not taker.may_rejoin():
                raise ChannelError(taker.fatal)
            taker.drop_fenced()  # a fenced static member: a new consumer joins below
        consumer = taker.consumer
        if consumer is None:
            kafka = _kafka()
            factory = self.consumer_factory or kafka.Consumer
            conf = with_instance_id(self.consumer_conf, self.agent_name, self.name, [self.topic], taker.index, self.static)
            group_conf = {k: conf.get(k) for k in ("group.id", "group.instance.id", "partition.assignment.strategy")}
            log_error = conf.get("error_cb")

            def on_error(err: Any) -> None:
                fix = group_error_fix(err, group_conf)
                if fix and getattr(err, "fatal", lambda: False)():
                    taker.fatal = fatal_message(taker.name, err, fix)
                    taker.fenced = taker.fenced or ("fenced" in err.str().lower() and bool(group_conf.get("group.instance.id")))
                if fix:
                    log.error("channel '%s': kafka consumer: %s. Fix: %s", taker.name, err.str(), fix)
                elif log_error is not None:
                    log_error(err)

            conf["error_cb"] = on_error
            try:
                consumer = taker.open(factory, resolved(self._tls, conf, f"channel '{self.name}'"))
            except ConfigError as exc:
                raise ChannelError(str(exc)) from None
            except kafka.KafkaException as exc:
                raise ChannelError(f"channel '{self.name}': the Kafka consumer cannot be created: {exc.args[0].str()}") from None
            log.info(
                "channel '%s': taker %d (thread '%s') joins group '%s' as %s",
                self.name,
                taker.index,
                taker.thread.name,
                conf["group.id"],
                f"static member '{conf['group.instance.id']}'" if conf.get("group.instance.id") else "a dynamic member",
            )
        deadline = time.monotonic() + wait
        while not taker.assigned and time.monotonic() < deadline and not self._waking.is_set():
            msg = consumer.poll(min(POLL_SLICE, max(0.0, deadline - time.monotonic())))
            if msg is not None and self._usable(taker, msg):
                taker.buffer.append(msg)
        if not taker.assigned:
            taker.waiting()
        return consumer

    def _usable(self, taker: Taker, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal() or err.code() == _kafka().KafkaError._FATAL:
            conf = with_instance_id(self.consumer_conf, self.agent_name, self.name, [self.topic], taker.index, self.static)
            taker.fatal = fatal_message(taker.name, err, group_error_fix(err, conf))
            taker.fenced = "fenced" in err.str().lower() and bool(conf.get("group.instance.id"))
            raise ChannelError(taker.fatal + (" (a new consumer joins the group at the next take)" if taker.may_rejoin() else ""))
        if err.code() != _kafka().KafkaError._PARTITION_EOF and self._errors_seen.first(err.str()):
            fix = group_error_fix(err, self.consumer_conf)
            if fix:
                log.error("channel '%s': %s. Fix: %s", taker.name, err.str(), fix)
            else:
                log.warning("channel '%s': %s", taker.name, err.str())
        return False

    def _read(self, taker: Taker, max_events: int) -> list[Any]:
        """Up to ``max_events`` records of ``taker``: buffered ones first, else wait up to
        ``kafka.pollTimeout`` for the first and take what else is already fetched. Each
        poll also sends the offsets committed takes queued while a commit was in flight
        (its answer is served inside the poll). No Python code per record unless a record
        is an error or a rebalance took partitions during the poll."""
        buf = taker.buffer
        if not buf:
            consumer = self._ensure_consumer(taker, ASSIGNMENT_WAIT if taker.consumer is None else 0.0)
            if consumer is None:
                return []
            revocations = taker.revocations
            msg = self._poll(consumer, self.poll_timeout)
            if msg is None:
                taker.commit_async(consumer, idle=True)
                taker.refresh_backlog(consumer)
                return []
            got = [msg]
            if max_events > 1:
                got += consumer.consume(max_events - 1, 0)
            if any(map(type(msg).error, got)):
                got = [m for m in got if self._usable(taker, m)]
            taker.commit_async(consumer)
            taker.refresh_backlog(consumer, flowing=True)
            if taker.revocations != revocations:  # a rebalance inside the poll: drop what it took away
                assigned = taker.assigned
                got = [m for m in got if (m.topic(), m.partition()) in assigned]
            buf = taker.buffer  # a revocation replaces it
            if not buf:
                return got  # at most max_events
            buf.extend(got)
        if len(buf) <= max_events:
            out = list(buf)
            buf.clear()
            return out
        return [buf.popleft() for _ in range(max_events)]

    def _to_batch(self, messages: list[Any]) -> Batch:
        """The batch of ``messages``: with ``parseAsFlumeEvent`` each record decoded as
        Flume's Avro event, else the values as bodies; the record key, when there is one,
        becomes header ``key`` (overriding the event's own, as Flume does) — for plain
        values through a lazy column (:class:`~flafka_kafka.taker.KeyHeaders`)."""
        message: Any = type(messages[0])
        values = list(map(message.value, messages))
        if not all(values):  # a record without value (None) has an empty body
            values = [v or b"" for v in values]
        if not self.avro:
            return Batch(values, KeyHeaders(messages))
        bodies: list[bytes] = []
        maps: list[HeaderMap | None] = []
        for msg, value in zip(messages, values, strict=True):
            key = msg.key()
            try:
                headers, body = avro_event.decode(value)
            except avro_event.AvroEventError as exc:
                self._bad_records += 1
                if self._bad_records in (1, 10) or self._bad_records % 10000 == 0:
                    log.warning(
                        "channel '%s': record %s[%d]@%d is not a Flume Avro event (%s); its value became the body "
                        "(%d such records so far; set parseAsFlumeEvent = false if the topic holds plain values)",
                        self.name,
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        exc,
                        self._bad_records,
                    )
                headers, body = {}, value
            if key is not None:
                headers["key"] = key_text(key)
            bodies.append(body)
            maps.append(headers)
        return Batch(bodies, maps)

    def _to_event(self, msg: Any) -> Event:
        """The event of one record (as :meth:`_to_batch` builds it)."""
        return self._to_batch([msg]).events()[0]


def poll_timeout_ms(settings: Settings) -> int:
    """``kafka.pollTimeout`` (Flume's code) when given, else ``pollTimeout`` (Flume's
    User Guide), else 500."""
    if "kafka.pollTimeout" in settings.explicit or settings.get("pollTimeout") is None:
        return int(settings["kafka.pollTimeout"])
    return int(settings["pollTimeout"])


class _KafkaPut(PutTransaction):
    __slots__ = ("_ch", "_open", "_staged")

    def __init__(self, channel: KafkaChannel) -> None:
        self._ch = channel
        self._staged: list[tuple[AnyBatch, AckToken | None]] = []
        self._open = True

    def put(self, events: AnyBatch, token: AckToken | None = None) -> None:
        ch = self._ch
        ch.counter.event_put_attempt_count += len(events)
        if ch.partition_header is not None:
            for headers in header_maps_of(events):
                ch._partition(headers)  # reject a bad partition header now, not at commit
        if events:
            self._staged.append((events, token))

    def commit(self) -> None:
        if not self._open:
            return
        self._open = False
        staged, self._staged = self._staged, []
        try:
            if staged:
                self._ch._produce([events for events, _ in staged])
        finally:
            # durable: once Kafka acknowledged, the channel can replay -> pay now; on
            # failure the copies will never be delivered from here -> pay as well (the
            # processor abandons the token, so the source never advances past it)
            for events, token in staged:
                if token is not None:
                    token.pay(len(events))
        self._ch.counter.event_put_success_count += sum(len(e) for e, _ in staged)

    def rollback(self) -> None:
        if self._open:
            self._open = False
            for events, token in self._staged:
                if token is not None:
                    token.pay(len(events))
            self._staged = []


class _KafkaTake(TakeTransaction):
    """A take on the calling thread's :class:`~flafka_kafka.taker.Taker` (bound at the
    first take)."""

    __slots__ = ("_ch", "_count", "_locked", "_messages", "_taken", "_taker")

    def __init__(self, channel: KafkaChannel) -> None:
        self._ch = channel
        self._taker: Taker | None = None
        self._taken: dict[TP, tuple[int, int, int]] = {}  # tp -> (first offset, next offset, generation)
        self._messages: list[Any] = []  # the records taken, in order (a rollback returns them)
        self._count = 0
        self._locked = False

    def take(self, max_events: int) -> AnyBatch:
        ch = self._ch
        ch.counter.event_take_attempt_count += 1
        if max_events <= 0:
            return []
        taker = self._taker
        if taker is None:
            taker = self._taker = ch._taker()
        if not self._locked:
            taker.lock.acquire()
            self._locked = True
        try:
            messages = ch._read(taker, max_events)
        except BaseException:
            if not self._messages:
                self._release()
            raise
        if not messages:
            if not self._messages:
                self._release()  # nothing taken: hold nothing, even if nobody closes this transaction
            return []
        self._messages.extend(messages)
        taken = self._taken
        generation = taker.generation
        batch = ch._to_batch(messages)
        # one topic (a literal kafka.topic, not a "^regex" subscription): asked of one record
        for tp, (first, nxt) in offset_ranges(messages, None if ch.topic.startswith("^") else messages[0].topic()).items():
            seen = taken.get(tp)
            if seen is None:
                taken[tp] = (first, nxt, generation.get(tp, 0))
            elif nxt > seen[1]:
                taken[tp] = (seen[0], nxt, seen[2])
        self._count += len(batch)
        ch.counter.event_take_success_count += len(batch)
        return batch

    def _release(self) -> None:
        if self._locked:
            self._locked = False
            assert self._taker is not None
            self._taker.lock.release()

    def commit(self) -> None:
        try:
            if self._taken and self._taker is not None:
                self._taker.committed_take(self._taken)
            self._taken = {}
            self._messages = []
            self._count = 0
        finally:
            self._release()

    def rollback(self) -> None:
        """Return the records taken to the head of the taker's read buffer, in order, so
        its next take gets them again. Records of a partition revoked since they were read
        are dropped: the partition's new owner reads them from the committed offset."""
        taker = self._taker
        try:
            if self._messages and taker is not None:
                generation = taker.generation
                assigned = taker.assigned
                keep = []
                for m in self._messages:
                    tp = (m.topic(), m.partition())
                    seen = self._taken.get(tp)
                    if tp in assigned and seen is not None and seen[2] == generation.get(tp, 0):
                        keep.append(m)
                taker.buffer.extendleft(reversed(keep))
            self._taken = {}
            self._messages = []
            self._count = 0
        finally:
            self._release()


COMPONENTS = [KafkaChannel]

__all__ = ["COMPONENTS", "KafkaChannel"]
