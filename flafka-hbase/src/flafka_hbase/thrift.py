"""Thrift1 connections to HBase with failover over ``thrift.servers`` (tried in order),
idle reconnection and error classification. A :class:`ThriftConnection` is used by one
thread at a time; a :class:`ThriftPool` lends ``thrift.connections`` of them.

Errors are classified by :func:`classify`:

* ``"connect"``: nothing was sent (no server accepted the connection) — safe to send again;
* ``"transport"``: the connection broke (the server closed it, reset, broken pipe) — a
  request may or may not have reached HBase;
* ``"timeout"``: no answer within ``thrift.timeout`` — outcome unknown;
* ``"hbase"``: HBase answered with an error (``IOError``/``IllegalArgument``);
* ``"mismatch"``: the answer could not be decoded — typically ``thrift.transport`` or
  ``thrift.protocol`` differ from the server's.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import queue
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

ErrorClass = Literal["connect", "transport", "timeout", "hbase", "mismatch", "other"]


def thrift_types() -> Any:
    """The ``Hbase_thrift`` module happybase loads (BatchMutation, Mutation, TIncrement,
    IOError, IllegalArgument)."""
    import happybase  # noqa: F401  (registers Hbase_thrift)

    return importlib.import_module("Hbase_thrift")


@dataclass(frozen=True)
class ThriftOptions:
    servers: tuple[tuple[str, int], ...]
    transport: str = "buffered"
    protocol: str = "binary"
    timeout_ms: int = 60000
    idle_reconnect_ms: int = 50000


def parse_servers(text: str) -> tuple[tuple[str, int], ...]:
    """``host:port[,host:port...]`` → tuple of (host, port); ValueError naming the bad part."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{part}' is not host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("no server given")
    return tuple(out)


def classify(exc: BaseException) -> ErrorClass:
    from thriftpy2.protocol.exc import TProtocolException
    from thriftpy2.thrift import TApplicationException
    from thriftpy2.transport import TTransportException

    hb = thrift_types()
    if isinstance(exc, hb.IOError | hb.IllegalArgument):
        return "hbase"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, TTransportException):
        if exc.type == TTransportException.TIMED_OUT:
            return "timeout"
        if exc.type == TTransportException.NOT_OPEN:
            return "connect"
        return "transport"
    if isinstance(exc, TProtocolException | TApplicationException):
        return "mismatch"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    if isinstance(exc, OSError):
        return "transport"
    return "other"


def describe(exc: BaseException) -> str:
    """A one-line description (HBase's ``IOError`` carries a whole Java stack trace)."""
    msg = getattr(exc, "message", None)
    text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg if msg is not None else exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first[:300]}"


class ThriftConnection:
    """A happybase connection to the first server of ``options.servers`` that answers.

    ``client()`` returns an open Thrift client, reopening it first when it was idle longer
    than ``idle_reconnect_ms`` (HBase's threadpool server closes idle sockets) or broken.
    ``broken()`` marks it for reopening (after any transport error or timeout: the byte
    stream is out of step). ``on_connect``/``on_failure`` count connections."""

    def __init__(self, options: ThriftOptions) -> None:
        self.options = options
        self._conn: Any = None
        self._last_used = 0.0
        self.current: str = ""
        self.connections_created = 0
        self.connections_failed = 0
        self.connections_closed = 0

    def client(self) -> Any:
        now = time.monotonic()
        if self._conn is not None and (now - self._last_used) * 1000 > self.options.idle_reconnect_ms:
            self.close()
        if self._conn is None:
            self._open()
        self._last_used = now
        return self._conn.client

    def touch(self) -> None:
        self._last_used = time.monotonic()

    def _open(self) -> None:
        import happybase

        errors = []
        for host, port in self.options.servers:
            conn = happybase.Connection(
                host,
                port,
                timeout=self.options.timeout_ms or None,
                autoconnect=False,
                transport=self.options.transport,
                protocol=self.options.protocol,
            )
            try:
                conn.open()
            except Exception as exc:
                self.connections_failed += 1
                errors.append(f"{host}:{port} ({describe(exc)})")
                _close_quietly(conn)
                continue
            self._conn = conn
            self.current = f"{host}:{port}"
            self.connections_created += 1
            return
        from thriftpy2.transport import TTransportException

        raise TTransportException(TTransportException.NOT_OPEN, "no Thrift server accepted a connection: " + "; ".join(errors))

    def broken(self) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            _close_quietly(self._conn)
            self._conn = None
            self.connections_closed += 1


class ThriftPool:
    """``size`` :class:`ThriftConnection` s with the same options. :meth:`lend` gives one to
    one thread until the ``with`` block ends (blocking while all are lent); the most
    recently returned is lent first, so a lightly loaded sink keeps using one warm
    connection and the others are reopened (idle reconnection) only when needed.
    ``first`` is the connection lent first (tests and the start-up check use it)."""

    def __init__(self, options: ThriftOptions, size: int) -> None:
        self.connections = [ThriftConnection(options) for _ in range(max(1, size))]
        self.first = self.connections[0]
        self._free: queue.LifoQueue[ThriftConnection] = queue.LifoQueue()
        for conn in reversed(self.connections):
            self._free.put(conn)

    @contextlib.contextmanager
    def lend(self) -> Iterator[ThriftConnection]:
        conn = self._free.get()
        try:
            yield conn
        finally:
            self._free.put(conn)

    def close(self) -> None:
        """Close every connection, lent ones included (a thread blocked on one gets an error)."""
        for conn in self.connections:
            conn.close()

    @property
    def created(self) -> int:
        return sum(c.connections_created for c in self.connections)

    @property
    def failed(self) -> int:
        return sum(c.connections_failed for c in self.connections)

    @property
    def closed(self) -> int:
        return sum(c.connections_closed for c in self.connections)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass
