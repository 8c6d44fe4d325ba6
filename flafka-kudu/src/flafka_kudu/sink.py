"""The Kudu sink (Flume's ``org.apache.flume.sink.kudu.KuduSink``, formerly
``org.apache.kudu.flume.sink.KuduSink``).

One ``write`` is one Flume transaction: the producer turns the **whole batch** into
operations first (pure Python; nothing is applied if it fails), then the session applies
them all and flushes once (MANUAL_FLUSH). The batch commits only when every operation
succeeded; AlreadyPresent rows count as written with ``ignoreDuplicateRows`` (counted in
``duplicates_ignored`` and logged; the client is not asked to hide them). Events that failed are
named in a :class:`~flafka.sink.BatchOutcome` (retriable for timeouts and unavailable
tablet servers, permanent for rows Kudu or the producer refuses), and the session is
discarded and replaced, so nothing of a failed batch can be flushed later (Flume's sink
instead returns BACKOFF forever once an op is left buffered). Delivery is at-least-once:
a retried event's rows may already be written (inserts then hit AlreadyPresent, upserts
are idempotent).
"""

from __future__ import annotations

import importlib.util
import logging
import threading

from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, Sink
from flafka_kudu.backend import RETRIABLE_KINDS, BackendError, KuduBackend, KuduSession, choose, connect, java_problem
from flafka_kudu.producers.base import OperationsProducer, known_names, lookup

log = logging.getLogger(__name__)

DEFAULT_PRODUCER = "org.apache.flume.sink.kudu.SimpleKuduOperationsProducer"
DEFAULT_PORT = 7051


def master_list(value: str) -> list[str]:
    """``masterAddresses`` as ``host:port`` strings (Kudu's default port 7051 added)."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        host, _, port = part.rpartition(":") if part.count(":") == 1 else (part, "", "")
        out.append(f"{host}:{port}" if port else f"{part}:{DEFAULT_PORT}")
    return out


def resolve_producer(settings: Settings) -> tuple[type[OperationsProducer] | None, Settings | None, list[Problem]]:
    """The producer class and its parsed ``producer.*`` keys, with every problem (keys
    relative to the sink). Pure."""
    name = settings["producer"]
    cls = lookup(name)
    if cls is None:
        return None, None, [Problem("producer", f"unknown Kudu operations producer '{name}'", f"use one of {', '.join(known_names())}")]
    sub = dict(settings.get("producer.*") or {})
    parsed, problems = cls.settings_schema.parse(sub)
    if not any(p.severity == "error" for p in problems):
        problems = [*problems, *cls.check_settings(parsed)]
    return cls, parsed, [Problem(f"producer.{p.key}" if p.key else "producer", p.message, p.suggestion, p.severity) for p in problems]


class KuduSink(Sink):
    """Writes events to a Kudu table through an operations producer; a batch commits only
    when every operation succeeded."""

    type_name = "kudu"
    aliases = ("org.apache.flume.sink.kudu.KuduSink", "org.apache.kudu.flume.sink.KuduSink")
    summary = "Write events to a Kudu table (Java client via JPype, or kudu-python); one flush per batch"
    batch_size_key = "batchSize"
    settings_schema = Schema(
        Setting("masterAddresses", "str", REQUIRED, "host[:port],... of the Kudu masters (port 7051 by default)", since="1.10"),
        Setting("tableName", "str", REQUIRED, "the Kudu table (Impala's tables are named impala::db.table)", since="1.10"),
        Setting("batchSize", "int", 1000, "most events taken and written in one transaction", minimum=1, since="1.10"),
        Setting("timeoutMillis", "int", 30000, "timeout of Kudu operations, flushes included (ms)", minimum=1, since="1.10"),
        Setting("ignoreDuplicateRows", "bool", True, "an insert whose key exists counts as written", since="1.10"),
        Setting("producer", "str", DEFAULT_PRODUCER, "operations producer: simple, simple_keyed, regexp, avro or a Flume class name"),
        Setting("producer.*", "map", None, "keys of the operations producer (producer.pattern, ...)", since="1.10"),
        Setting("kerberosPrincipal", "str", None, "not supported: run kinit (the Java client uses the ticket cache)", since="1.10"),
        Setting("kerberosKeytab", "str", None, "not supported: run kinit -kt <keytab> <principal> before the agent", since="1.10"),
        Setting("proxyUser", "str", None, "not supported (needs Hadoop's UGI)", since="1.10"),
        Setting("backend", "enum", "auto", "Kudu client: java (JPype), python (kudu-python) or auto", choices=("auto", "java", "python")),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        """Producer and its keys, Kerberos keys, and whether the chosen client can run
        here (looks for Java and JPype; starts nothing)."""
        problems: list[Problem] = []
        if not master_list(settings["masterAddresses"]):
            problems.append(Problem("masterAddresses", "masterAddresses names no master", "set host:7051[,host2:7051...]"))
        problems += resolve_producer(settings)[2]
        for key in ("kerberosPrincipal", "kerberosKeytab"):
            if settings.get(key):
                problems.append(
                    Problem(
                        key,
                        f"{key} is not supported by flafka's Kudu sink (Flume logs in through Hadoop's UGI)",
                        "remove it and run `kinit -kt <keytab> <principal>` (and renew it, e.g. with k5start) as the agent's "
                        "user before starting: the Kudu client authenticates from the ticket cache (KRB5CCNAME)",
                    )
                )
        if settings.get("proxyUser"):
            problems.append(
                Problem("proxyUser", "proxyUser is not supported (it needs Hadoop's UGI)", "remove it; write as the kinit user")
            )
        if settings["backend"] == "python" and importlib.util.find_spec("kudu") is None:
            problems.append(
                Problem(
                    "backend",
                    "backend = python but kudu-python is not installed",
                    "pip install kudu-python (it needs Kudu's C++ client), or set backend = java (or auto)",
                )
            )
        elif choose(settings["backend"]) == "java":
            why = java_problem()
            if why:
                problems.append(
                    Problem("backend", f"the Kudu Java client cannot run here: {why}", "or install kudu-python and set backend = python")
                )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        cls, sub, problems = resolve_producer(settings)
        errors = [p for p in problems if p.severity == "error"]
        if errors or cls is None or sub is None:
            raise ConfigError(f"sink '{name}': " + "; ".join(f"{p.key}: {p.message} ({p.suggestion})" for p in errors))
        self.producer: OperationsProducer = cls(name, sub)
        self.masters = master_list(settings["masterAddresses"])
        self.table_name: str = settings["tableName"]
        self.timeout_ms: int = settings["timeoutMillis"]
        self.ignore_duplicates: bool = settings["ignoreDuplicateRows"]
        self.backend_name: str = settings["backend"]
        self._backend: KuduBackend | None = None
        self._session: KuduSession | None = None
        self._lock = threading.Lock()
        self.duplicates_ignored = 0
        """Rows refused as AlreadyPresent and counted as written (``ignoreDuplicateRows``)."""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect and open the table. A missing table (or a producer whose columns it
        lacks) refuses to start; an unreachable Kudu is only logged (``write`` retries)."""
        try:
            self._connect()
        except BackendError as exc:
            if not exc.retriable:
                raise ConfigError(f"sink '{self.name}': {exc}") from None
            log.warning("sink '%s': %s; retrying with the next batch", self.name, exc)
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.started()

    def _connect(self) -> None:
        if self._backend is None:
            self._backend = connect(self.backend_name, self.masters, self.timeout_ms)
            counter = getattr(self, "counter", None)
            if counter is not None:
                counter.connection_created_count += 1
        table = self._backend.open_table(self.table_name)
        try:
            self.producer.initialize(table)
        except ValueError as exc:
            raise BackendError(str(exc), retriable=False) from None
        self._session = self._backend.new_session(self.timeout_ms, False)
        log.info(
            "sink '%s': writing to Kudu table %s on %s (%s client)", self.name, self.table_name, ",".join(self.masters), self._backend.name
        )

    def stop(self) -> None:
        if not self._lock.acquire(timeout=5.0):
            log.error("sink '%s': a write is still blocked; the Kudu client is left open", self.name)
            return
        try:
            session, self._session = self._session, None
            backend, self._backend = self._backend, None
            if session is not None:
                session.close()
            if backend is not None:
                self.producer.close()
                backend.close()
                counter = getattr(self, "counter", None)
                if counter is not None:
                    counter.connection_closed_count += 1
                    counter.stopped()
        finally:
            self._lock.release()

    # -- the data path -------------------------------------------------------------------

    def write(self, events: list[Event]) -> BatchOutcome | None:
        with self._lock:
            return self._write(events)

    def _write(self, events: list[Event]) -> BatchOutcome | None:
        if self._session is None:
            try:
                self._connect()
            except BackendError as exc:
                if exc.retriable:
                    raise RetriableError(f"sink '{self.name}': {exc}; the batch stays in the channel") from None
                raise PermanentError(f"sink '{self.name}': {exc}") from None
        session = self._session
        assert session is not None
        try:
            produced = self.producer.operations(events)
        except OSError as exc:
            raise RetriableError(f"sink '{self.name}': an event could not be read ({exc}); nothing was written") from None
        except Exception as exc:
            raise PermanentError(f"sink '{self.name}': the Kudu operations producer failed: {exc}; nothing was written") from None
        errors: dict[int, tuple[bool, str]] = {i: (False, msg) for i, msg in produced.failed}
        ops = produced.ops
        if ops:
            try:
                failures = session.write(ops)
            except Exception as exc:  # the client failed as a whole
                self._discard()
                raise RetriableError(f"sink '{self.name}': Kudu write failed ({exc}); the batch stays in the channel") from None
            duplicates = 0
            for f in failures:
                if f.kind == "already_present" and self.ignore_duplicates:
                    duplicates += 1
                    continue
                event = ops[f.op].event if 0 <= f.op < len(ops) else -1
                targets = [event] if event >= 0 else sorted({op.event for op in ops})
                for e in targets:
                    retriable = f.kind in RETRIABLE_KINDS
                    if e not in errors or retriable:
                        errors[e] = (retriable, f"event {e} of the batch: Kudu refused a row: {f.message}")
            if duplicates:  # only after a replay: not a per-batch log line in normal running
                self.duplicates_ignored += duplicates
                log.info(
                    "sink '%s': %d rows were already present (a replayed batch) and count as written; %d since start",
                    self.name,
                    duplicates,
                    self.duplicates_ignored,
                )
        if not errors:
            return None
        self._discard()
        failed = sorted(errors)
        retriable = any(r for r, _ in errors.values())
        first = next((m for r, m in errors.values() if r), None) or errors[failed[0]][1]
        summary = f"sink '{self.name}': {len(failed)} of {len(events)} events failed; first: {first}"
        error: Exception = RetriableError(summary) if retriable else PermanentError(summary)
        if len(failed) == len(events):
            raise error
        return BatchOutcome(failed, error, retriable=retriable)

    def _discard(self) -> None:
        """Replace the session after a failure: nothing of the failed batch stays buffered."""
        session, self._session = self._session, None
        if session is not None:
            session.close()
        if self._backend is not None:
            try:
                self._session = self._backend.new_session(self.timeout_ms, False)
            except Exception as exc:
                log.warning("sink '%s': a new Kudu session could not be opened (%s); retrying with the next batch", self.name, exc)


COMPONENTS = [KuduSink]

__all__ = ["COMPONENTS", "KuduSink", "master_list", "resolve_producer"]
