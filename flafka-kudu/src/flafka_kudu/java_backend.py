"""The Kudu Java client (``org.apache.kudu:kudu-client``) in the agent's process, through JPype.

One JVM per process (started on first use, under a lock, with the jars of
:mod:`flafka_kudu.jars`); a forked child cannot use its parent's JVM and is refused with a
clear error (use the ``spawn`` start method). Sessions are MANUAL_FLUSH with a buffer sized
to the batch, so one ``flush`` sends the whole batch and nothing ever stays buffered: an op
whose row cannot be built or applied is reported as failed and the rest are still
flushed (never Flume's stuck ``hasPendingOperations`` BACKOFF).

Crossings: per cell on the plain path (one typed ``PartialRow`` setter per value); with a
JDK, :mod:`flafka_kudu.java_helper` compiles a small helper once that takes the batch as a
few Java arrays and builds and applies every op in one call.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flafka_kudu import jars, java_helper
from flafka_kudu.backend import BackendError, Column, FailureKind, Op, RowFailure, TableInfo

log = logging.getLogger(__name__)

_lock = threading.Lock()
_started_by: int | None = None


def start_jvm() -> None:
    """Start the JVM once per process with the Kudu client's jars (idempotent)."""
    global _started_by
    import jpype

    with _lock:
        if jpype.isJVMStarted():
            if _started_by is not None and _started_by != os.getpid():
                raise BackendError(
                    "the JVM was started by the parent process before a fork; JPype cannot be used in a forked child. "
                    "Fix: start the Kudu sink in the child (multiprocessing start method 'spawn')",
                    retriable=False,
                )
        else:
            try:
                classpath = jars.classpath()
            except jars.JarError as exc:
                raise BackendError(str(exc)) from None
            try:
                jpype.startJVM(classpath=classpath, convertStrings=False, interrupt=False)
            except Exception as exc:
                raise BackendError(f"the JVM cannot be started ({exc}); install Java 8 or later or set JAVA_HOME", retriable=False)
            _started_by = os.getpid()
    try:
        jpype.JClass("org.apache.kudu.client.KuduClient")
    except Exception:
        raise BackendError(
            "the JVM of this process was started without the Kudu client jars (another component started it first). "
            "Fix: add them to its classpath (`flafka-kudu-jars` prints it) or set FLAFKA_KUDU_CLASSPATH before anything starts Java",
            retriable=False,
        ) from None


def _failure_kind(status: Any) -> FailureKind:
    if status.isAlreadyPresent():
        return "already_present"
    if status.isNotFound():
        return "not_found"
    if status.isTimedOut():
        return "timeout"
    if status.isServiceUnavailable() or status.isNetworkError() or status.isAborted():
        return "unavailable"
    if status.isInvalidArgument():
        return "invalid"
    return "other"


def _message(exc: Any) -> str:
    get = getattr(exc, "getMessage", None)
    text = str(get()) if get is not None else str(exc)
    return f"{type(exc).__name__}: {text}"


class JavaBackend:
    """:class:`~flafka_kudu.backend.KuduBackend` on ``KuduClient``."""

    name = "java"

    def __init__(self, masters: list[str], timeout_ms: int) -> None:
        start_jvm()
        import jpype

        self._jpype = jpype
        KuduClient = jpype.JClass("org.apache.kudu.client.KuduClient")
        builder = jpype.JClass("org.apache.kudu.client.KuduClient$KuduClientBuilder")(",".join(masters))
        self.client = builder.defaultOperationTimeoutMs(timeout_ms).defaultAdminOperationTimeoutMs(timeout_ms).build()
        assert isinstance(self.client, KuduClient)
        self.masters = masters
        self.table: Any = None

    def open_table(self, table: str) -> TableInfo:
        KuduException = self._jpype.JClass("org.apache.kudu.client.KuduException")
        try:
            self.table = self.client.openTable(table)
        except KuduException as exc:
            status = exc.getStatus()
            if status.isNotFound():
                raise BackendError(
                    f"Kudu table '{table}' does not exist on {','.join(self.masters)}; create it first "
                    f"(e.g. `kudu table create` or Impala; Impala tables are named impala::db.table) or fix tableName",
                    retriable=False,
                ) from None
            raise BackendError(f"could not open Kudu table '{table}' on {','.join(self.masters)}: {_message(exc)}") from None
        cols = []
        for c in self.table.getSchema().getColumns():
            cols.append(Column(str(c.getName()), str(c.getType().name()), bool(c.isKey()), bool(c.isNullable())))
        return TableInfo(table, tuple(cols))

    def new_session(self, timeout_ms: int, ignore_duplicates: bool) -> JavaSession:
        return JavaSession(self, timeout_ms, ignore_duplicates)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.shutdown()
            except Exception as exc:
                log.warning("closing the Kudu client failed: %s", _message(exc))


def _setters(jpype: Any) -> dict[str, Callable[[Any, int, Any], Any]]:
    """Per Kudu type: how to put a normalised Python value into a PartialRow column."""
    BigDecimal = jpype.JClass("java.math.BigDecimal")
    LocalDate = jpype.JClass("java.time.LocalDate")
    SqlDate = jpype.JClass("java.sql.Date")
    JByte, JShort = jpype.JByte, jpype.JShort

    def date(row: Any, i: int, v: Any) -> Any:
        days = v if isinstance(v, int) else v.toordinal() - 719163
        return row.addDate(i, SqlDate.valueOf(LocalDate.ofEpochDay(days)))

    return {
        "BOOL": lambda row, i, v: row.addBoolean(i, v),
        "INT8": lambda row, i, v: row.addByte(i, JByte(v)),
        "INT16": lambda row, i, v: row.addShort(i, JShort(v)),
        "INT32": lambda row, i, v: row.addInt(i, v),
        "INT64": lambda row, i, v: row.addLong(i, v),
        "UNIXTIME_MICROS": lambda row, i, v: row.addLong(i, v),
        "FLOAT": lambda row, i, v: row.addFloat(i, v),
        "DOUBLE": lambda row, i, v: row.addDouble(i, v),
        "STRING": lambda row, i, v: row.addString(i, v),
        "VARCHAR": lambda row, i, v: row.addVarchar(i, v),
        "BINARY": lambda row, i, v: row.addBinary(i, v),
        "DECIMAL": lambda row, i, v: row.addDecimal(i, BigDecimal(str(v))),
        "DATE": date,
    }


class JavaSession:
    """A MANUAL_FLUSH ``KuduSession``: :meth:`write` applies a batch and flushes it once."""

    def __init__(self, backend: JavaBackend, timeout_ms: int, ignore_duplicates: bool) -> None:
        jpype = backend._jpype
        self.jpype = jpype
        self.table = backend.table
        self.session = backend.client.newSession()
        flush_mode = jpype.JClass("org.apache.kudu.client.SessionConfiguration$FlushMode").MANUAL_FLUSH
        self.session.setFlushMode(flush_mode)
        self.session.setTimeoutMillis(timeout_ms)
        self.session.setIgnoreAllDuplicateRows(ignore_duplicates)
        self._buffer = 0
        schema = self.table.getSchema()
        setters = _setters(jpype)
        self.plan: dict[str, tuple[int, Callable[[Any, int, Any], Any], tuple[str, int, int, str] | None]] = {}
        for c in schema.getColumns():
            name, type_name = str(c.getName()), str(c.getType().name())
            index = int(schema.getColumnIndex(name))
            check = (name, index, *HELPER_TYPES[type_name]) if type_name in HELPER_TYPES else None
            self.plan[name] = (index, setters.get(type_name, _unsupported), check)
        self.collect = jpype.JClass("org.apache.kudu.client.OperationResponse").collectErrors
        self.JException = jpype.JException
        self.helper: Any = None
        self.columns: list[tuple[str, int, int, str]] = []
        """(name, Kudu column index, helper setter code, array kind) of every column."""
        helper = java_helper.load()
        if helper is not None:
            for c in schema.getColumns():
                name, type_name = str(c.getName()), str(c.getType().name())
                if type_name not in HELPER_TYPES:  # DECIMAL, DATE: the per-cell path
                    break
                self.columns.append((name, int(schema.getColumnIndex(name)), *HELPER_TYPES[type_name]))
            else:
                self.helper = helper
                self.Operation = jpype.JClass("org.apache.kudu.client.Operation")
                self.arrays = {
                    "long": jpype.JArray(jpype.JLong),
                    "double": jpype.JArray(jpype.JDouble),
                    "str": jpype.JArray(jpype.JString),
                    "bytes": jpype.JArray(jpype.JArray(jpype.JByte)),
                }

    def write(self, ops: Sequence[Op]) -> list[RowFailure]:
        session = self.session
        if len(ops) > self._buffer:  # only while nothing is buffered (it is, between batches)
            self._buffer = max(len(ops), 2 * self._buffer, 1000)
            session.setErrorCollectorSpace(self._buffer)
            session.setMutationBufferSpace(self._buffer)
        if self.helper is not None:
            return self._write_batch(ops)
        return self._write_cells(ops)

    def _write_batch(self, ops: Sequence[Op]) -> list[RowFailure]:
        """The batch path: one Java array per column, one call builds and applies every op."""
        jpype = self.jpype
        n, columns = len(ops), self.columns
        m = len(columns)
        position = {name: c for c, (name, _, _, _) in enumerate(columns)}
        kinds = bytearray(n)
        state = bytearray(n * m)
        data: list[list[Any]] = [[EMPTY[kind]] * n for _, _, _, kind in columns]
        failures: list[RowFailure] = []
        for i, op in enumerate(ops):
            if op.kind != "insert":
                kinds[i] = 1
            base = i * m
            for name, value in op.values.items():
                c = position.get(name)
                if c is None:
                    failures.append(RowFailure(i, "invalid", f"the table has no column '{name}'"))
                    kinds[i] = 255
                    break
                if value is None:
                    state[base + c] = 2
                    continue
                problem = _check(columns[c], value)
                if problem:
                    failures.append(RowFailure(i, "invalid", f"column '{name}': {problem}"))
                    kinds[i] = 255
                    break
                data[c][i] = float(value) if columns[c][3] == "double" else value
                state[base + c] = 1
        arrays = self.arrays
        jdata = jpype.JArray(jpype.JObject)([arrays[kind](data[c]) for c, (_, _, _, kind) in enumerate(columns)])
        jops = jpype.JArray(self.Operation)(n)
        try:
            errors = self.helper.apply(
                self.table, self.session, jpype.JArray(jpype.JByte)(bytes(kinds)),
                jpype.JArray(jpype.JInt)([c[1] for c in columns]), jpype.JArray(jpype.JInt)([c[2] for c in columns]),
                jdata, jpype.JArray(jpype.JByte)(bytes(state)), jops,
            )  # fmt: skip
        except self.JException as exc:  # not per op: the helper itself failed
            self.session.flush()
            return [*failures, *(RowFailure(i, "other", _message(exc)) for i in range(n) if kinds[i] != 255)]
        for text in errors:
            index, _, message = str(text).partition(":")
            failures.append(RowFailure(int(index), "invalid", message))
        session = self.session
        try:
            row_errors = self.collect(session.flush())
        except self.JException as exc:
            failed = {f.op for f in failures}
            return failures + [RowFailure(i, "unavailable", _message(exc)) for i in range(n) if i not in failed]
        pending = session.getPendingErrors().getRowErrors()
        if row_errors.size() or len(pending):
            everything = jpype.JClass("java.util.ArrayList")(row_errors)
            everything.addAll(jpype.JClass("java.util.Arrays").asList(pending))
            where = list(self.helper.indexOf(jops, everything))
            seen: set[int] = set()
            for k, err in enumerate(everything):
                at = int(where[k])
                if at >= 0 and at in seen:
                    continue
                seen.add(at)
                status = err.getErrorStatus()
                failures.append(RowFailure(at, _failure_kind(status), str(status.toString())))
        return failures

    def _write_cells(self, ops: Sequence[Op]) -> list[RowFailure]:
        """The per-cell path (no JDK to compile the helper, or DECIMAL/DATE columns)."""
        session = self.session
        failures: list[RowFailure] = []
        built: list[tuple[int, Any]] = []
        new_insert, new_upsert = self.table.newInsert, self.table.newUpsert
        plan = self.plan
        JException = self.JException
        for n, op in enumerate(ops):
            jop = new_insert() if op.kind == "insert" else new_upsert()
            row = jop.getRow()
            try:
                for name, value in op.values.items():
                    index, setter, check = plan[name]
                    if value is None:
                        row.setNull(index)
                        continue
                    problem = _check(check, value) if check is not None else ""
                    if problem:  # JPype would narrow an int silently (JByte(300) is 44)
                        raise ValueError(f"column '{name}': {problem}")
                    setter(row, index, value)
            except (JException, TypeError, OverflowError, ValueError, KeyError) as exc:
                failures.append(RowFailure(n, "invalid", f"column value rejected: {_message(exc)}"))
                continue
            built.append((n, jop))
        apply = session.apply
        for n, jop in built:
            try:
                apply(jop)
            except JException as exc:  # e.g. "Primary key column X is not set": not buffered
                failures.append(RowFailure(n, "invalid", _message(exc)))
        try:
            errors = list(self.collect(session.flush()))
        except JException as exc:
            # flush itself failed: every op applied so far counts as failed, and the buffer
            # is dropped with the session (the caller opens a new one)
            failed = {f.op for f in failures}
            return failures + [RowFailure(n, "unavailable", _message(exc)) for n, _ in built if n not in failed]
        pending = session.getPendingErrors()
        errors += list(pending.getRowErrors())
        if errors:
            failures += self._row_failures(errors, built)
        return failures

    def _row_failures(self, errors: list[Any], built: list[tuple[int, Any]]) -> list[RowFailure]:
        """Map the failed Java operations back to op indices (only on the failure path)."""
        index = self.jpype.JClass("java.util.IdentityHashMap")()
        JInt = self.jpype.JInt
        for n, jop in built:
            index.put(jop, JInt(n))
        seen: set[int] = set()
        out: list[RowFailure] = []
        for err in errors:
            found = index.get(err.getOperation())
            n = int(found) if found is not None else -1
            if n in seen and n >= 0:
                continue
            seen.add(n)
            status = err.getErrorStatus()
            out.append(RowFailure(n, _failure_kind(status), str(status.toString())))
        return out

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            try:
                session.close()
            except Exception as exc:
                log.debug("closing a Kudu session: %s", exc)


HELPER_TYPES: dict[str, tuple[int, str]] = {
    "BOOL": (0, "long"),
    "INT8": (1, "long"),
    "INT16": (2, "long"),
    "INT32": (3, "long"),
    "INT64": (4, "long"),
    "UNIXTIME_MICROS": (4, "long"),
    "FLOAT": (5, "double"),
    "DOUBLE": (6, "double"),
    "STRING": (7, "str"),
    "VARCHAR": (8, "str"),
    "BINARY": (9, "bytes"),
}
"""Kudu type -> (FlafkaKuduBatch setter code, array kind)."""

EMPTY: dict[str, Any] = {"long": 0, "double": 0.0, "str": None, "bytes": b""}

_RANGES = {0: (0, 1), 1: (-(2**7), 2**7 - 1), 2: (-(2**15), 2**15 - 1), 3: (-(2**31), 2**31 - 1), 4: (-(2**63), 2**63 - 1)}


def _check(column: tuple[str, int, int, str], value: Any) -> str:
    """Why ``value`` cannot go into ``column`` on the batch path ('' when it can)."""
    code, kind = column[2], column[3]
    if kind == "long":
        if not isinstance(value, int):
            return f"{type(value).__name__} is not an integer"
        lo, hi = _RANGES[code]
        if code == 0:
            return "" if isinstance(value, bool) else "not a bool"
        return "" if lo <= value <= hi else f"{value} is out of range"
    if kind == "double":
        return "" if isinstance(value, float | int) and not isinstance(value, bool) else f"{type(value).__name__} is not a number"
    if kind == "str":
        return "" if isinstance(value, str) else f"{type(value).__name__} is not a str"
    return "" if isinstance(value, bytes) else f"{type(value).__name__} is not bytes"


def _unsupported(row: Any, i: int, v: Any) -> None:
    raise TypeError(f"column {i} has a type flafka-kudu cannot write")
