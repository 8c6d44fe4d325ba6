"""kudu-python (the C++ client's wrapper), used when ``import kudu`` works.

kudu-python's MANUAL session measures its buffer in bytes and has no ignore-duplicates
flag, so AlreadyPresent errors are reported as ``already_present`` and the sink drops them
when ``ignoreDuplicateRows`` is set. UNIXTIME_MICROS values (int microseconds) are turned
into UTC datetimes exactly (``timedelta(microseconds=...)``), as the C++ wrapper requires.
Not exercised by this repository's CI (kudu-python has no wheels for it); the Java
backend is the tested default.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from flafka_kudu.backend import BackendError, Column, FailureKind, Op, RowFailure, TableInfo

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _kind(text: str) -> FailureKind:
    low = text.lower()
    if low.startswith("already present"):
        return "already_present"
    if low.startswith("not found"):
        return "not_found"
    if low.startswith("timed out"):
        return "timeout"
    if low.startswith(("service unavailable", "network error", "aborted")):
        return "unavailable"
    if low.startswith("invalid argument"):
        return "invalid"
    return "other"


class PythonBackend:
    name = "python"

    def __init__(self, masters: list[str], timeout_ms: int) -> None:
        import kudu

        self.kudu = kudu
        hosts = [m.rsplit(":", 1)[0] for m in masters]
        ports = [int(m.rsplit(":", 1)[1]) for m in masters]
        try:
            self.client = kudu.connect(hosts, ports, admin_timeout_ms=timeout_ms, rpc_timeout_ms=timeout_ms)
        except kudu.KuduException as exc:
            raise BackendError(f"cannot connect to Kudu masters {','.join(masters)}: {exc}") from None
        self.masters = masters
        self.table: Any = None

    def open_table(self, table: str) -> TableInfo:
        try:
            self.table = self.client.table(table)
        except self.kudu.KuduNotFound:
            raise BackendError(
                f"Kudu table '{table}' does not exist on {','.join(self.masters)}; create it first", retriable=False
            ) from None
        except self.kudu.KuduException as exc:
            raise BackendError(f"could not open Kudu table '{table}': {exc}") from None
        schema = self.table.schema
        keys = set(schema.primary_key_indices())
        cols = tuple(
            Column(c.name, str(c.type.name).upper(), i in keys, bool(c.nullable))
            for i, c in enumerate(schema[j] for j in range(len(schema)))
        )
        self.micros = {c.name for c in cols if c.type == "UNIXTIME_MICROS"}
        return TableInfo(table, cols)

    def new_session(self, timeout_ms: int, ignore_duplicates: bool) -> PythonSession:
        return PythonSession(self, timeout_ms)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


class PythonSession:
    def __init__(self, backend: PythonBackend, timeout_ms: int) -> None:
        self.backend = backend
        self.session = backend.client.new_session(flush_mode="manual", timeout_ms=timeout_ms, mutation_buffer_sz=64 << 20)

    def write(self, ops: Sequence[Op]) -> list[RowFailure]:
        table, micros, kudu = self.backend.table, self.backend.micros, self.backend.kudu
        failures: list[RowFailure] = []
        for n, op in enumerate(ops):
            values = {k: (EPOCH + datetime.timedelta(microseconds=v) if k in micros and v is not None else v) for k, v in op.values.items()}
            try:
                kop = table.new_insert(values) if op.kind == "insert" else table.new_upsert(values)
                self.session.apply(kop)
            except (kudu.KuduException, TypeError, ValueError, OverflowError) as exc:
                failures.append(RowFailure(n, "invalid", str(exc)))
        try:
            self.session.flush()
        except kudu.KuduBadStatus:
            errors, _overflowed = self.session.get_pending_errors()
            # kudu-python does not say which op failed: every op counts as failed unless
            # every error is AlreadyPresent
            kinds = [_kind(repr(e).removeprefix("KuduError('")) for e in errors]
            if kinds and all(k == "already_present" for k in kinds):
                return [*failures, RowFailure(-1, "already_present", "Already present")]
            kind: FailureKind = next((k for k in kinds if k != "already_present"), "other")
            return [*failures, RowFailure(-1, kind, repr(errors[0]) if errors else "flush failed")]
        return failures

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close()
