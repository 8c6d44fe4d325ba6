"""Flume's HBase sinks (``hbase2``, ``hbase``, ``asynchbase``) over HBase's Thrift1 server.

One batch (one take transaction) becomes: the serializer's puts, merged per row (the last
value of a cell wins) and sent in ``mutateRows`` calls capped by ``thrift.maxBatchBytes``
and ``thrift.maxBatchCells``; then the increments (summed per cell, sorted, when
``coalesceIncrements``) in ``incrementRows`` calls. ``write`` returns once HBase answered
every call, so the take commits only then.

Retries: a put call that fails because the connection broke is sent once more on a new
connection (the same cells: rewriting them is harmless); any other put failure fails the
batch, which the runtime rolls back and retries. Increments are applied **at most once**:
they are re-sent only when no server accepted the connection (nothing was sent); when
the outcome is unknown (timeout, connection lost, HBase error) they are not re-sent, the
batch (whose puts are written) commits, and the possibly lost increments are logged and
counted (``errors{error_type="increment_unknown"}``). Flume instead replays the whole
batch, re-applying increments (counters over-count).

Pipelining (``send``): the runtime keeps up to ``thrift.connections`` + 1 batches taken.
Each is serialized on the runner thread, then written by one of ``thrift.connections``
worker threads, each with its own connection: HBase works on up to ``thrift.connections``
batches while the runner prepares the next. With 1 connection the batches are written one
after the other, in the order taken. Each batch's take commits only once HBase answered all
of its calls, in the order the batches were taken. The retry rules above hold per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.registry import Registry
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, PendingWrite, Sink
from flafka_hbase.serializers import Cells, HBaseEventSerializer, Mutations, _flume_bool
from flafka_hbase.thrift import ThriftConnection, ThriftOptions, ThriftPool, classify, describe, parse_servers, thrift_types

log = logging.getLogger(__name__)

MIB = 1024 * 1024
FRAMED_MAX_BATCH_BYTES = 3 * MIB // 2
BUFFERED_MAX_BATCH_BYTES = 32 * MIB
_CELL_OVERHEAD = 16
_MIN_FRAMED_BYTES = 64 * 1024
_DROP_LOG_INTERVAL = 60.0


def _serializer_classes(registry: Registry) -> tuple[list[str], list[str]]:
    """(HBase serializer names, other serializer names) registered."""
    hbase: list[str] = []
    other: list[str] = []
    for r in registry.registrations:
        if r.kind == "serializer":
            (hbase if issubclass(r.cls, HBaseEventSerializer) else other).append(r.cls.type_name)
    return sorted(set(hbase)), sorted(set(other))


def resolve_hbase_serializer(
    name: str, sub: Mapping[str, str], registry: Registry | None = None
) -> tuple[type[HBaseEventSerializer] | None, Settings | None, list[Problem]]:
    """Look ``serializer = name`` up in the registry's ``serializer`` kind, require the
    HBase family, and parse the ``serializer.*`` keys. Pure."""
    if registry is None:
        from flafka import plugins

        registry = plugins.get_registry()
    hbase_names = _serializer_classes(registry)[0]
    cls = registry.lookup("serializer", name)
    if cls is None or not issubclass(cls, HBaseEventSerializer):
        if cls is not None:
            msg = f"serializer '{name}' writes files (file_roll, hdfs), not HBase puts"
        elif "." in name:
            msg = f"unknown HBase serializer '{name}'; flafka cannot load Java classes"
        else:
            msg = f"unknown HBase serializer '{name}'"
        hint = registry.suggest("serializer", name)
        fix = f"did you mean '{hint}'? " if hint and hint in hbase_names else ""
        return (
            None,
            None,
            [Problem("serializer", msg, f"{fix}use one of {', '.join(hbase_names)}, or install a flafka plugin that registers it")],
        )
    problems: list[Problem] = []
    schema = cls.settings_schema
    given = {}
    for key, value in sub.items():
        if schema.get(key) is None and schema.map_for(key) is None:
            hint = schema.suggest(key)
            problems.append(
                Problem(
                    f"serializer.{key}",
                    f"unknown key 'serializer.{key}' for serializer {cls.type_name}",
                    f"did you mean 'serializer.{hint}'?" if hint else f"see `flafka describe {cls.type_name} --kind serializer`",
                )
            )
        else:
            given[key] = value
    settings, parsed = schema.parse(given)
    if not any(p.severity == "error" for p in parsed):
        parsed = [*parsed, *cls.check_settings(settings)]
    problems += [Problem(f"serializer.{p.key}" if p.key else "serializer", p.message, p.suggestion, p.severity) for p in parsed]
    if any(p.severity == "error" for p in problems):
        return None, None, problems
    return cls, settings, problems


class HBase2Sink(Sink):
    """Flume's ``HBase2Sink`` through HBase's Thrift1 server (happybase).

    Threads: ``write`` and ``send`` run on the sink's runner; ``stop`` on the agent's;
    ``_lock`` serializes them (``stop`` gives up after 5 s when a call is stuck). The Thrift
    calls of a batch given to ``send`` run on one of ``thrift.connections`` worker threads
    (started by ``start``) with a connection lent by the pool for that batch."""

    type_name = "hbase2"
    aliases: ClassVar[tuple[str, ...]] = ("org.apache.flume.sink.hbase2.HBase2Sink",)
    summary = "Write events to an HBase table (puts and counters) through HBase's Thrift server"
    default_serializer: ClassVar[str] = "org.apache.flume.sink.hbase2.SimpleHBase2EventSerializer"

    settings_schema = Schema(
        Setting("table", "str", REQUIRED, "HBase table (namespace:name allowed)"),
        Setting("columnFamily", "str", REQUIRED, "column family every cell is written to"),
        Setting("batchSize", "int", 100, "most events taken per transaction", minimum=1),
        Setting(
            "serializer", "str", "", "HBase serializer: SimpleHBase2EventSerializer (default), RegexHBase2EventSerializer or a plugin's"
        ),
        Setting("serializer.*", "map", None, "the serializer's own keys (flafka describe NAME --kind serializer)"),
        Setting("enableWal", "str", "true", "false: puts skip the write-ahead log (only 'true' counts as true, as in Flume)"),
        Setting("coalesceIncrements", "str", "false", "true: sum the increments of a batch per cell before sending"),
        Setting("zookeeperQuorum", "str", None, "Flume's ZooKeeper quorum: unused, flafka talks to the Thrift server (thrift.servers)"),
        Setting("znodeParent", "str", None, "Flume's HBase znode: unused over Thrift"),
        Setting("kerberosPrincipal", "str", None, "not supported over Thrift yet"),
        Setting("kerberosKeytab", "str", None, "not supported over Thrift yet"),
        Setting("timeout", "int", None, "asynchbase's call timeout (ms); on hbase/hbase2 Flume ignores it: use thrift.timeout"),
        Setting("maxConsecutiveFails", "int", None, "asynchbase's reconnect threshold; unused (flafka reconnects on every failure)"),
        Setting("thrift.servers", "str", None, "host:port[,host:port...] of HBase Thrift1 servers, tried in order"),
        Setting(
            "thrift.transport",
            "enum",
            "buffered",
            "must match the server: buffered, or framed (-framed, -hsha, -nonblocking)",
            choices=("buffered", "framed"),
        ),
        Setting("thrift.protocol", "enum", "binary", "must match the server: binary, or compact (-compact)", choices=("binary", "compact")),
        Setting(
            "thrift.timeout", "int", 60000, "ms to wait for each Thrift call; no answer: outcome unknown, batch rolled back", minimum=1
        ),
        Setting(
            "thrift.idleReconnect",
            "int",
            50000,
            "ms: reopen a connection idle this long (the server closes idle sockets after 60 s)",
            minimum=0,
        ),
        Setting("thrift.maxBatchBytes", "int", 0, "bytes of cells per mutateRows call; 0: 1.5 MiB framed, 32 MiB buffered", minimum=0),
        Setting("thrift.maxBatchCells", "int", 10000, "cells per mutateRows call (and increments per incrementRows call)", minimum=1),
        Setting(
            "thrift.connections",
            "int",
            1,
            "batches written at once, each on its own Thrift connection; each commits only when HBase answered it. "
            ">1: batches may land out of order (a cell written by two batches in flight may keep the older value)",
            minimum=1,
            maximum=16,
        ),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems: list[Problem] = []
        quorum = settings.get("zookeeperQuorum")
        servers = settings.get("thrift.servers")
        if not servers:
            hosts = sorted({h.strip().rpartition(":")[0] or h.strip() for h in (quorum or "").split(",") if h.strip()})
            line = f"thrift.servers = {','.join(f'{h}:9090' for h in hosts) or 'HOST:9090'}"
            if quorum:
                problems.append(
                    Problem(
                        "zookeeperQuorum",
                        "flafka writes to HBase through its Thrift server, not through ZooKeeper; thrift.servers is missing",
                        f"add the line `<this sink>.{line}` (the host(s) running `hbase thrift start`; 9090 is its default port)",
                    )
                )
            else:
                problems.append(Problem("thrift.servers", "thrift.servers is required", f"add the line `<this sink>.{line}`"))
        else:
            try:
                parse_servers(servers)
            except ValueError as exc:
                problems.append(Problem("thrift.servers", f"thrift.servers = '{servers}': {exc}", "write host:port[,host:port...]"))
            for key in ("zookeeperQuorum", "znodeParent"):
                if settings.get(key):
                    problems.append(
                        Problem(key, f"{key} is unused: flafka talks to HBase through thrift.servers", f"remove {key}", "warning")
                    )
        for key in ("kerberosPrincipal", "kerberosKeytab"):
            if settings.get(key):
                problems.append(
                    Problem(
                        key,
                        f"{key}: Kerberos is not supported over Thrift yet "
                        "(the Thrift server holds HBase's credentials; SASL to it is not implemented)",
                        f"remove {key} and run the Thrift server with hbase.thrift.kerberos.principal / hbase.thrift.keytab.file",
                    )
                )
        problems += cls._async_key_problems(settings)
        for key in ("enableWal", "coalesceIncrements"):
            value = str(settings.get(key, "")).strip().lower()
            if value not in ("true", "false"):
                problems.append(
                    Problem(
                        key,
                        f"{key} = '{settings[key]}' is read as false (Flume: only 'true' is true)",
                        f"write {key} = true or false",
                        "warning",
                    )
                )
        if not _flume_bool(settings["enableWal"]):
            problems.append(
                Problem(
                    "enableWal",
                    "enableWal = false: puts skip the WAL (lost if a region server dies); "
                    "increments always use the table's WAL setting over Thrift",
                    "",
                    "warning",
                )
            )
        name = settings["serializer"] or cls.default_serializer
        problems += resolve_hbase_serializer(name, settings["serializer.*"] or {})[2]
        return problems

    @classmethod
    def _async_key_problems(cls, settings: Settings) -> list[Problem]:
        out = []
        for key in ("timeout", "maxConsecutiveFails"):
            if settings.get(key) is not None:
                out.append(
                    Problem(
                        key,
                        f"{key} is used only by Flume's asynchbase sink; it is ignored here",
                        "remove it (thrift.timeout sets the call timeout)",
                        "warning",
                    )
                )
        return out

    def __init__(self, name: str, settings: Settings) -> None:
        """Pure: parses settings and builds the serializer; opens nothing."""
        super().__init__(name, settings)
        problems = [p for p in self.check_settings(settings) if p.severity == "error"]
        if problems:
            p = problems[0]
            raise ConfigError(f"sink '{name}': {p.key}: {p.message}; {p.suggestion}")
        self.table: bytes = settings["table"].encode()
        self.family: bytes = settings["columnFamily"].encode()
        self.wal = _flume_bool(settings["enableWal"])
        self.coalesce = _flume_bool(settings["coalesceIncrements"])
        transport = settings["thrift.transport"]
        self.max_bytes: int = settings["thrift.maxBatchBytes"] or (
            FRAMED_MAX_BATCH_BYTES if transport == "framed" else BUFFERED_MAX_BATCH_BYTES
        )
        self.max_cells: int = settings["thrift.maxBatchCells"]
        self.options = ThriftOptions(
            servers=parse_servers(settings["thrift.servers"]),
            transport=transport,
            protocol=settings["thrift.protocol"],
            timeout_ms=self._timeout_ms(settings),
            idle_reconnect_ms=settings["thrift.idleReconnect"],
        )
        cls, ser_settings, _ = resolve_hbase_serializer(settings["serializer"] or self.default_serializer, settings["serializer.*"] or {})
        assert cls is not None and ser_settings is not None
        self.serializer: HBaseEventSerializer = cls(name, ser_settings)
        self.connections: int = settings["thrift.connections"]
        self.pool = ThriftPool(self.options, self.connections)
        self.conn: ThriftConnection = self.pool.first
        self._executor: ThreadPoolExecutor | None = None
        # per sink: the runtime keeps this many batches (take transactions) open: one per
        # connection being written, plus the one the runner serializes meanwhile
        vars(self)["max_pending_batches"] = self.connections + 1
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._checked = False
        self._fresh = True
        self._dropped_since_log = 0
        self._dropped_example = ""
        self._last_drop_log = 0.0
        self.dropped_total = 0
        self.increments_unknown = 0

    @classmethod
    def _timeout_ms(cls, settings: Settings) -> int:
        return int(settings["thrift.timeout"])

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Open a connection and check the table and family (as Flume's start()). A missing
        table or family raises ConfigError naming both; an unreachable server is logged and
        checked again before the first batch."""
        with self._lock:
            try:
                with self.pool.lend() as conn:
                    self._check_table(conn)
            except RetriableError as exc:
                log.warning("%s", exc)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.connections, thread_name_prefix=f"hbase-{self.name}")

    def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if not self._lock.acquire(timeout=5.0):
            log.error("sink '%s': a Thrift call is still blocked; closing its connection anyway", self.name)
            self.pool.close()
            return
        try:
            self.pool.close()
        finally:
            self._lock.release()
        self._log_dropped(force=True)

    def _check_table(self, conn: ThriftConnection) -> None:
        table, family = self.table.decode(errors="replace"), self.family.decode(errors="replace")
        try:
            fresh = conn._conn is None
            descriptors = conn.client().getColumnDescriptors(self.table)
            conn.touch()
        except Exception as exc:
            kind = classify(exc)
            if kind != "hbase":
                conn.broken()
            if kind == "hbase":
                if "TableNotFound" in describe(exc) or "TableNotFound" in str(getattr(exc, "message", "")):
                    raise ConfigError(self._missing_table(table, family)) from None
                raise RetriableError(f"sink '{self.name}': HBase could not describe table '{table}': {describe(exc)}") from None
            raise RetriableError(self._transport_message(exc, kind, fresh, "checking table", conn)) from None
        if not any(k.rstrip(b":") == self.family for k in descriptors):
            have = ", ".join(sorted(k.decode(errors="replace").rstrip(":") for k in descriptors)) or "none"
            raise ConfigError(
                f"sink '{self.name}': table '{table}' has no column family '{family}' (it has: {have}); "
                f"create it in the HBase shell: alter '{table}', '{family}' — or set columnFamily to one of {have}"
            )
        self._checked = True
        if not self.wal:
            log.warning(
                "sink '%s': enableWal = false: puts skip the WAL; increments use the table's WAL setting (Thrift cannot skip it)", self.name
            )

    def _missing_table(self, table: str, family: str) -> str:
        return (
            f"sink '{self.name}': table '{table}' does not exist in HBase; "
            f"create it with its family in the HBase shell: create '{table}', '{family}'"
        )

    # -- data path -----------------------------------------------------------------------

    def write(self, events: list[Event]) -> BatchOutcome | None:
        """Write the batch's puts, then its increments; return once HBase answered (see the
        module docstring for retries and what a failure leaves behind)."""
        with self._lock:
            try:
                with self.pool.lend() as conn:
                    self._check_once(conn)
                    return self._apply(self._prepare(self._serialize(events)), conn)
            finally:
                self._sync_counters()

    def send(self, events: list[Event]) -> PendingWrite:
        """Serialize here, then write on a worker thread with a connection lent for the
        batch; return at once. ``wait()`` gives what ``write`` would have. Before
        ``start()`` (no workers yet): ``write`` now."""
        executor = self._executor
        if executor is None:
            return super().send(events)
        with self._lock:
            if not self._checked:
                with self.pool.lend() as conn:
                    self._check_once(conn)
            # no connection is held while serializing: the workers keep theirs busy meanwhile
            p = self._prepare(self._serialize(events))
        return _Pending(self, executor.submit(self._apply_lent, p))

    def _apply_lent(self, p: _Prepared) -> BatchOutcome | None:
        """A worker thread: write one serialized batch on a connection lent for it."""
        with self.pool.lend() as conn:
            return self._apply(p, conn)

    def _sync_counters(self) -> None:
        counter = getattr(self, "counter", None)
        if counter is not None:
            counter.connection_created_count = self.pool.created
            counter.connection_failed_count = self.pool.failed
            counter.connection_closed_count = self.pool.closed

    def _check_once(self, conn: ThriftConnection) -> None:
        """The start-up check of table and family, until it succeeded once."""
        if not self._checked:
            try:
                self._check_table(conn)
            except ConfigError as exc:
                raise PermanentError(str(exc)) from None

    def _serialize(self, events: list[Event]) -> Mutations:
        """Turn the batch into puts and increments (runner thread)."""
        m = self.serializer.serialize(events, self.family)
        if m.dropped:
            self._note_dropped(m)
        return m

    def _apply(self, p: _Prepared, conn: ThriftConnection) -> BatchOutcome | None:
        """Send a serialized batch's puts, then its increments, on ``conn``."""
        m = p.mutations
        rejected = dict(m.rejected)
        if m.puts:
            rejected.update(self._send_puts(p, conn))
        if m.increments:
            self._send_increments(m.increments, conn)
        if rejected:
            idx = sorted(rejected)
            first = rejected[idx[0]]
            return BatchOutcome(
                idx,
                PermanentError(
                    f"sink '{self.name}': {len(idx)} event(s) cannot be written to HBase table "
                    f"'{self.table.decode(errors='replace')}'; first: {first}"
                ),
                retriable=False,
            )
        return None

    def _rows(self, m: Mutations) -> tuple[dict[bytes, Cells], dict[bytes, int]]:
        rows: dict[bytes, Cells] = {}
        owner: dict[bytes, int] = {}
        for i, row, cells in m.puts:
            have = rows.get(row)
            if have is None:
                rows[row] = dict(cells)
            else:
                have.update(cells)  # the last event's value of a cell wins (Flume: last put wins)
            owner[row] = i
        return rows, owner

    def _chunks(self, rows: dict[bytes, Cells], owner: dict[bytes, int]) -> Iterator[tuple[list[Any], list[int], bool]]:
        """(BatchMutations, owning event indices, oversized single cell) capped by bytes and cells."""
        hb = thrift_types()
        batch: list[Any] = []
        owners: list[int] = []
        size = cells_n = 0
        for row, cells in rows.items():
            mutations: list[Any] = []
            for col, value in cells.items():
                cell_size = len(row) + len(col) + len(value) + _CELL_OVERHEAD
                if cell_size > self.max_bytes:
                    single = [
                        hb.BatchMutation(row=row, mutations=[hb.Mutation(isDelete=False, column=col, value=value, writeToWAL=self.wal)])
                    ]
                    yield single, [owner[row]], True
                    continue
                if cells_n and (size + cell_size > self.max_bytes or cells_n + 1 > self.max_cells):
                    if mutations:
                        batch.append(hb.BatchMutation(row=row, mutations=mutations))
                        owners.append(owner[row])
                        mutations = []
                    yield batch, owners, False
                    batch, owners, size, cells_n = [], [], 0, 0
                mutations.append(hb.Mutation(isDelete=False, column=col, value=value, writeToWAL=self.wal))
                size += cell_size
                cells_n += 1
            if mutations:
                batch.append(hb.BatchMutation(row=row, mutations=mutations))
                owners.append(owner[row])
        if batch:
            yield batch, owners, False

    def _prepare(self, m: Mutations) -> _Prepared:
        """The batch's ``mutateRows`` calls, built ahead (on the runner, while a worker waits)."""
        rows, owner = self._rows(m)
        return _Prepared(m, rows, owner, list(self._chunks(rows, owner)) if m.puts else [], self.max_bytes)

    def _send_puts(self, p: _Prepared, conn: ThriftConnection) -> dict[int, str]:
        """Send every put; return events rejected for good (a cell too large for the server).

        On a framed transport a call the server drops (its frame limit may be below
        ``thrift.maxBatchBytes``) halves the byte cap (down to 64 KiB) and sends the puts
        again from the start: rewriting cells already written is harmless."""
        rows, owner = p.rows, p.owner
        while True:
            rejected: dict[int, str] = {}
            # the calls built ahead, unless the cap changed since (cut again)
            chunks = p.chunks if p.max_bytes == self.max_bytes else self._chunks(rows, owner)
            p.max_bytes = -1
            try:
                for batch, owners, oversized in chunks:
                    try:
                        self._call(lambda c, b=batch: c.mutateRows(self.table, b, {}), "writing puts", True, conn)
                    except RetriableError as exc:
                        if not oversized:
                            raise
                        rejected[owners[0]] = (
                            f"a cell of {len(batch[0].mutations[0].value)} bytes is larger than thrift.maxBatchBytes = {self.max_bytes} "
                            f"and the server dropped the connection when it was sent ({exc}); raise the server's frame limit "
                            "(hbase.regionserver.thrift.framed.max_frame_size_in_mb) or use a buffered Thrift server"
                        )
                return rejected
            except RetriableError as exc:
                if getattr(exc, "kind", "") != "transport" or self.options.transport != "framed" or self.max_bytes <= _MIN_FRAMED_BYTES:
                    raise
                self.max_bytes = max(_MIN_FRAMED_BYTES, self.max_bytes // 2)
                log.warning(
                    "sink '%s': the framed Thrift server dropped a call; lowering thrift.maxBatchBytes to %d bytes "
                    "(set it below the server's hbase.regionserver.thrift.framed.max_frame_size_in_mb)",
                    self.name, self.max_bytes,
                )  # fmt: skip

    def _send_increments(self, increments: list[tuple[bytes, bytes, int]], conn: ThriftConnection) -> None:
        """At most once: re-sent only when nothing was sent (no server accepted a connection)."""
        if self.coalesce:
            summed: dict[tuple[bytes, bytes], int] = {}
            for row, col, n in increments:
                summed[(row, col)] = summed.get((row, col), 0) + n
            increments = [(r, c, n) for (r, c), n in sorted(summed.items())]
        hb = thrift_types()
        for start in range(0, len(increments), self.max_cells):
            part = [hb.TIncrement(table=self.table, row=r, column=c, ammount=n) for r, c, n in increments[start : start + self.max_cells]]
            try:
                self._call(lambda c, p=part: c.incrementRows(p), "sending increments", False, conn)
            except RetriableError as exc:
                if getattr(exc, "nothing_sent", False):
                    raise  # no server took the connection: nothing applied, the runtime retries the batch
                lost = len(increments) - start
                with self._stats_lock:
                    self.increments_unknown += lost
                    if hasattr(self, "counter"):
                        self.counter.error("increment_unknown", "sending", lost)
                log.error(
                    "sink '%s': %d increment(s) may not have been applied (%s); they are not re-sent, so a counter is never "
                    "incremented twice (Flume would replay the batch and over-count); the batch's puts are written",
                    self.name, lost, exc,
                )  # fmt: skip
                return

    def _call(self, fn: Any, what: str, retry: bool, conn: ThriftConnection) -> Any:
        """One Thrift call. A broken connection is reopened and, with ``retry``, the call
        sent once more; a connection that cannot be opened is retried on the next server
        (ThriftConnection). Errors become RetriableError/PermanentError with the fix."""
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            fresh = conn._conn is None
            try:
                client = conn.client()
            except Exception as exc:
                err = RetriableError(self._transport_message(exc, "connect", True, what, conn))
                err.nothing_sent = True  # type: ignore[attr-defined]
                raise err from None
            try:
                result = fn(client)
            except Exception as exc:
                kind = classify(exc)
                if kind != "hbase":
                    conn.broken()
                if kind == "hbase":
                    raise self._hbase_error(exc, what) from None
                if kind == "transport" and attempt + 1 < attempts:
                    continue
                err = RetriableError(self._transport_message(exc, kind, fresh, what, conn))
                err.kind = kind  # type: ignore[attr-defined]
                raise err from None
            conn.touch()
            return result
        raise AssertionError("unreachable")

    def _transport_message(self, exc: BaseException, kind: str, fresh: bool, what: str, conn: ThriftConnection) -> str:
        servers = ",".join(f"{h}:{p}" for h, p in self.options.servers)
        base = f"sink '{self.name}': {what} on HBase Thrift server {conn.current or servers} failed ({describe(exc)})"
        mismatch = (
            f"check that thrift.transport = {self.options.transport} and thrift.protocol = {self.options.protocol} match the server's "
            "(framed for -framed/-hsha/-nonblocking servers, compact for -compact)"
        )
        if kind == "timeout":
            return (
                f"{base}: no answer within thrift.timeout = {self.options.timeout_ms} ms; "
                "the outcome is unknown, the batch is rolled back and retried"
                + (f"; a new connection got no answer at all: HBase may be down or slow, or {mismatch}" if fresh else "")
            )
        if kind == "connect":
            return (
                f"{base}: no server of thrift.servers = {servers} accepted a connection; the batch stays in the channel "
                "and is retried — start the Thrift server (`hbase thrift start`) or fix thrift.servers"
            )
        hint = (
            f"; the server dropped a new connection at its first request: {mismatch}"
            if fresh or kind == "mismatch"
            else "; the batch is rolled back and retried"
        )
        return base + hint

    def _hbase_error(self, exc: BaseException, what: str) -> Exception:
        text = describe(exc)
        full = str(getattr(exc, "message", "") or "")
        table, family = self.table.decode(errors="replace"), self.family.decode(errors="replace")
        if "NoSuchColumnFamily" in full or "NoSuchColumnFamily" in text:
            return PermanentError(
                f"sink '{self.name}': table '{table}' has no column family '{family}' any more ({what}); "
                f"create it in the HBase shell: alter '{table}', '{family}'"
            )
        if "TableNotFound" in full or "TableNotFound" in text:
            return PermanentError(self._missing_table(table, family))
        return RetriableError(f"sink '{self.name}': HBase refused {what} on table '{table}': {text}; the batch is rolled back and retried")

    def _note_dropped(self, m: Mutations) -> None:
        self.dropped_total += m.dropped
        self._dropped_since_log += m.dropped
        if not self._dropped_example:
            self._dropped_example = m.dropped_example
        if hasattr(self, "counter"):
            self.counter.discarded += m.dropped
            self.counter.error("serializer_dropped", "processing", m.dropped)
        self._log_dropped()

    def _log_dropped(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._dropped_since_log and (force or now - self._last_drop_log >= _DROP_LOG_INTERVAL):
            log.warning(
                "sink '%s': the serializer dropped %d event(s) since the last report, as Flume does (e.g. %s)",
                self.name, self._dropped_since_log, self._dropped_example,
            )  # fmt: skip
            self._dropped_since_log = 0
            self._dropped_example = ""
            self._last_drop_log = now


@dataclass
class _Prepared:
    """A serialized batch: its mutations, rows merged per key, and the ``mutateRows``
    calls cut for ``max_bytes`` (the cap when they were cut)."""

    mutations: Mutations
    rows: dict[bytes, Cells]
    owner: dict[bytes, int]
    chunks: list[tuple[list[Any], list[int], bool]]
    max_bytes: int


class _Pending(PendingWrite):
    """A batch written by a worker thread."""

    __slots__ = ("future", "sink")

    def __init__(self, sink: HBase2Sink, future: Future[BatchOutcome | None]) -> None:
        self.sink = sink
        self.future = future

    def wait(self) -> BatchOutcome | None:
        try:
            return self.future.result()
        finally:
            self.sink._sync_counters()


class HBaseSink(HBase2Sink):
    """Flume's HBase 1 sink (``hbase``): the same keys and behaviour as ``hbase2``; the
    Thrift server speaks to whatever HBase it belongs to."""

    type_name = "hbase"
    aliases = ("org.apache.flume.sink.hbase.HBaseSink",)
    summary = "Flume's hbase sink (HBase 1 keys) through HBase's Thrift server"
    default_serializer = "org.apache.flume.sink.hbase.SimpleHbaseEventSerializer"


class AsyncHBaseSink(HBase2Sink):
    """Flume's ``asynchbase`` sink: ``timeout`` (ms) is the call timeout unless
    ``thrift.timeout`` is set; ``async.*`` (asynchbase client properties) are ignored."""

    type_name = "asynchbase"
    aliases = ("org.apache.flume.sink.hbase.AsyncHBaseSink",)
    summary = "Flume's asynchbase sink through HBase's Thrift server"
    default_serializer = "org.apache.flume.sink.hbase.SimpleAsyncHbaseEventSerializer"
    settings_schema = HBase2Sink.settings_schema + Schema(
        Setting("async.*", "map", None, "asynchbase client properties: unused over Thrift", since="1.9"),
    )

    @classmethod
    def _async_key_problems(cls, settings: Settings) -> list[Problem]:
        out = []
        if settings.get("async.*"):
            out.append(Problem("async.*", "async.* (asynchbase client properties) are unused over Thrift", "remove them", "warning"))
        if settings.get("maxConsecutiveFails") is not None:
            out.append(
                Problem(
                    "maxConsecutiveFails",
                    "maxConsecutiveFails is unused: flafka reopens the connection after every failure",
                    "remove it",
                    "warning",
                )
            )
        return out

    @classmethod
    def _timeout_ms(cls, settings: Settings) -> int:
        if "thrift.timeout" not in settings.explicit and settings.get("timeout") is not None:
            return int(settings["timeout"])
        return int(settings["thrift.timeout"])
