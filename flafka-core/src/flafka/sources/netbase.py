"""Pieces shared by the network and process sources (netcat, syslog, exec, http).

- :class:`Throttled`: a warning that is logged at most once a minute per kind, with the
  number of repeats it held back (bad input must be reported, never per event).
- :func:`batch_cap`: the largest batch the source's required channels take in one
  transaction (event-driven sources have no ``batchSize`` the loader can check).
- :class:`Delivery`: hand a batch to the channel processor from any thread, one batch at
  a time (interceptors and counters are not thread-safe), split to :func:`batch_cap`.
- :func:`java_address`: a peer address as Java's ``InetSocketAddress.toString()`` prints
  it (``/127.0.0.1:5555``), which Flume puts in its address headers.
- :class:`TcpConnections`: the accept loops of listening TCP sockets and one thread per
  connection, with the stop that closes them all (netcat, syslogtcp, multiport_syslogtcp).
- :func:`datagram_loop`: read datagrams in batches of at most :func:`batch_cap` until a
  stop is requested (netcatudp, syslogudp).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flafka.event import Event

if TYPE_CHECKING:
    from flafka.source import Source

DEFAULT_TRANSACTION_CAPACITY = 100


class Throttled:
    """``warn(kind, message, *args)`` logs once per ``interval`` seconds per ``kind``."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``kind`` was logged less than ``interval`` ago.
        Returns True when the line was logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            message += " (%d more like this in the last minute not logged)"
            args = (*args, held)
        self.logger.warning(message, *args)
        return True


def batch_cap(source: Source) -> int:
    """Smallest ``transactionCapacity`` of the channels ``source`` feeds (100 when a
    channel does not say)."""
    caps = []
    for channel in getattr(source.processor.selector, "channels", {}).values():
        try:
            cap = type(channel).transaction_capacity_from(channel.settings)
        except Exception:  # a channel whose settings do not carry it
            cap = None
        caps.append(cap or DEFAULT_TRANSACTION_CAPACITY)
    return max(1, min(caps)) if caps else DEFAULT_TRANSACTION_CAPACITY


class Delivery:
    """Serialises ``process_batch`` calls of one source's threads.

    :meth:`put` raises what the channel processor raises (ChannelError,
    ChannelFullError): the caller still holds the events and decides (reply FAILED,
    answer 503, retry). Non-replayable sources pass no acknowledgement token.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.lock = threading.Lock()
        self.cap = batch_cap(source)

    def put(self, events: list[Event]) -> None:
        """Put ``events`` in chunks of at most :attr:`cap`; on failure, the chunks before
        the failing one are committed (``committed`` on the raised error says how many
        events)."""
        cap = self.cap
        done = 0
        with self.lock:
            processor = self.source.processor
            try:
                if len(events) <= cap:
                    processor.process_batch(events)
                    return
                for start in range(0, len(events), cap):
                    processor.process_batch(events[start : start + cap])
                    done = start + cap
            except Exception as exc:
                exc.committed = done  # type: ignore[attr-defined]
                raise


def java_address(host: str, port: int) -> str:
    """``/host:port`` as ``InetSocketAddress.toString()`` prints a resolved address
    (IPv6 in Java's uncompressed form: ``/0:0:0:0:0:0:0:1:5555``)."""
    if ":" in host:
        try:
            groups = ipaddress.IPv6Address(host.split("%")[0]).exploded.split(":")
            host = ":".join(f"{int(g, 16):x}" for g in groups)
        except ValueError:
            pass
    return f"/{host}:{port}"


Peer = tuple[str, int]


class TcpConnections:
    """Accept loops on listening TCP sockets, one thread per accepted connection.

    ``serve(conn, peer, port)`` runs in the connection's thread (``port``: the local port
    that accepted it) and handles its own errors; when it returns the socket is closed and
    forgotten. The source's ``stopping`` event ends the loops: :meth:`stop` sets it, joins
    the accept threads (2 s), closes the listening sockets, shuts every connection down
    and joins their threads (``join`` seconds each). ``counter.open_connection_count``
    follows the number of open connections. Accept errors are counted
    (``accept_failed``) and logged once a minute; the loop goes on.
    """

    def __init__(
        self,
        source: Source,
        kind: str,
        serve: Callable[[socket.socket, Peer, int], None],
        stopping: threading.Event,
        warn: Throttled,
        join: float = 2.0,
    ) -> None:
        self.source = source
        self.kind = kind
        self.serve = serve
        self.stopping = stopping
        self.warn = warn
        self.join = join
        self.servers: list[socket.socket] = []
        self._accepts: list[threading.Thread] = []
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._conn_name = ""

    def start(self, servers: list[socket.socket], accept_name: str, conn_name: str) -> None:
        """Accept on ``servers`` (listening sockets, now owned here), one thread each
        named ``accept_name``; connection threads are named ``conn_name``."""
        self._conn_name = conn_name
        for server in servers:
            server.settimeout(0.2)  # the accept loop looks at ``stopping`` this often
            self.servers.append(server)
            thread = threading.Thread(target=self._accept_loop, args=(server,), name=accept_name, daemon=True)
            self._accepts.append(thread)
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._accepts:
            thread.join(2.0)
        self._accepts.clear()
        for server in self.servers:
            server.close()
        self.servers.clear()
        with self._lock:
            conns = dict(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in conns.values():
            thread.join(self.join)

    def _accept_loop(self, server: socket.socket) -> None:
        port = server.getsockname()[1]
        source = self.source
        while not self.stopping.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self.stopping.is_set():
                    break
                source.counter.error("accept_failed", "receiving")
                self.warn.warn("accept", "%s source '%s': accepting a connection failed: %s", self.kind, source.name, exc)
                self.stopping.wait(0.1)
                continue
            conn.settimeout(None)
            thread = threading.Thread(target=self._run, args=(conn, peer, port), name=self._conn_name, daemon=True)
            with self._lock:
                self._conns[conn] = thread
                source.counter.open_connection_count = len(self._conns)  # type: ignore[attr-defined]
            thread.start()

    def _run(self, conn: socket.socket, peer: Peer, port: int) -> None:
        try:
            self.serve(conn, peer, port)
        finally:
            try:
                conn.close()
            finally:
                with self._lock:
                    self._conns.pop(conn, None)
                    self.source.counter.open_connection_count = len(self._conns)  # type: ignore[attr-defined]


def datagram_loop(
    source: Source,
    kind: str,
    sock: socket.socket,
    size: int,
    cap: int,
    stopping: threading.Event,
    warn: Throttled,
    handle: Callable[[list[tuple[bytes, Peer]]], None],
) -> None:
    """Until ``stopping`` is set: wait (0.2 s at a time) for a datagram of at most
    ``size`` bytes on ``sock``, take the ones already queued behind it without waiting
    (at most ``cap`` in all) and hand them to ``handle`` as ``(data, peer)`` pairs.
    Receive errors are counted (``receive_failed``), logged once a minute, and the loop
    goes on."""
    sock.settimeout(0.2)
    while not stopping.is_set():
        try:
            first = sock.recvfrom(size)
        except TimeoutError:
            continue
        except OSError as exc:
            if stopping.is_set():
                break
            source.counter.error("receive_failed", "receiving")
            warn.warn("recv", "%s source '%s': receiving failed: %s", kind, source.name, exc)
            stopping.wait(0.1)
            continue
        datagrams = [first]
        sock.setblocking(False)
        try:
            while len(datagrams) < cap:
                datagrams.append(sock.recvfrom(size))
        except OSError:  # BlockingIOError: nothing more queued
            pass
        finally:
            sock.settimeout(0.2)
        handle(datagrams)
