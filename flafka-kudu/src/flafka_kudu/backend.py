"""One small interface over the two Kudu clients (the Java client through JPype, and
kudu-python), and the plain values that cross it.

Values are normalised Python values: ``int`` for every integer type and for
UNIXTIME_MICROS (microseconds since the epoch, UTC), ``float``, ``bool``, ``str``,
``bytes``, ``None`` (null). A producer builds :class:`Op` objects from events; a backend
applies a whole batch of them and reports every row that failed as a :class:`RowFailure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

OpKind = Literal["insert", "upsert"]
FailureKind = Literal["already_present", "not_found", "timeout", "unavailable", "invalid", "other"]

RETRIABLE_KINDS: frozenset[str] = frozenset({"timeout", "unavailable"})
"""Failures that trying the same row again may cure (a tablet server down or busy)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """Kudu's type name, upper case: BOOL INT8 INT16 INT32 INT64 FLOAT DOUBLE STRING BINARY
    UNIXTIME_MICROS DECIMAL VARCHAR DATE."""
    is_key: bool
    nullable: bool


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[Column, ...]

    @property
    def key_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.is_key)


@dataclass
class Op:
    """One write: ``kind`` and the values of the columns it sets (unset columns get the
    table default; a key column must be set)."""

    kind: OpKind
    values: dict[str, Any] = field(default_factory=dict)
    event: int = 0
    """Index of the event (in its batch) this operation was made from."""


@dataclass(frozen=True)
class RowFailure:
    """One operation the server (or the client) refused."""

    op: int
    """Index of the operation in the applied list (-1 when unknown)."""
    kind: FailureKind
    message: str


class BackendError(Exception):
    """The client failed as a whole (cannot connect, table missing, JVM unusable)."""

    def __init__(self, message: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class KuduSession(Protocol):
    def write(self, ops: Sequence[Op]) -> list[RowFailure]:
        """Apply every op and flush once (MANUAL_FLUSH); the failures, [] when all succeeded.
        Nothing stays buffered afterwards, whatever happened."""
        ...

    def close(self) -> None: ...


class KuduBackend(Protocol):
    name: str

    def open_table(self, table: str) -> TableInfo:
        """Raise :class:`BackendError` (not retriable when the table does not exist)."""
        ...

    def new_session(self, timeout_ms: int, ignore_duplicates: bool) -> KuduSession: ...

    def close(self) -> None: ...


def choose(backend: str) -> str:
    """'java' or 'python' for the ``backend`` key's value (auto: kudu-python when importable)."""
    if backend != "auto":
        return backend
    try:
        import kudu  # noqa: F401
    except Exception:
        return "java"
    return "python"


def connect(backend: str, masters: list[str], timeout_ms: int) -> KuduBackend:
    """Build the chosen backend's client (raises BackendError with the fix)."""
    if choose(backend) == "python":
        from flafka_kudu.python_backend import PythonBackend

        return PythonBackend(masters, timeout_ms)
    from flafka_kudu.java_backend import JavaBackend

    return JavaBackend(masters, timeout_ms)


def java_problem() -> str | None:
    """Why the Java backend cannot run here (JPype missing, no Java runtime), or None.
    Looks only (``stat``: no JVM start, no directory listing, no network)."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("jpype") is None:
        return "JPype1 is not installed: pip install JPype1"
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.isfile(java):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH and JAVA_HOME is not set"
        return (
            f"no Java runtime found ({where}); the Kudu Java client needs Java 8 or later: install one "
            "(e.g. apt-get install openjdk-17-jre-headless, or any JDK/JRE) and put it on PATH or set JAVA_HOME"
        )
    return None
