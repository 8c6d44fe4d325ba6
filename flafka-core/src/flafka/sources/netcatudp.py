"""The ``netcatudp`` source (Flume's ``NetcatUdpSource``, 1.8+): one event per UDP
datagram, its body the datagram's bytes up to the first ``\\n`` (the rest of the
datagram is ignored, as in Flume).

Headers: the sender's address as Java prints it (``/127.0.0.1:5555``) under the key named
by ``remoteAddressHeader`` (the key Flume's guide documents) or ``remoteAddress`` (the key
Flume's code reads). Without either key Flume puts the address under a ``null`` header
name that no sink can use; flafka then adds no header.

Differences: datagrams that arrive together are put in one transaction. UDP has no
back-pressure, so when the channels refuse a batch Flume drops it; flafka keeps the batch
and retries it (reading pauses, the kernel's socket buffer absorbs what it can), and
counts and reports the refusals. Flume's Netty reads at most 2048 bytes of a datagram;
flafka reads up to 65,507 (a datagram's maximum), so long datagrams are not cut.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from flafka.event import Event
from flafka.settings import REQUIRED, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.netbase import Delivery, Throttled, datagram_loop, java_address

log = logging.getLogger(__name__)

_MAX_DATAGRAM = 65535


def bind_udp(source: str, host: str | None, port: int) -> socket.socket:
    """A bound UDP socket; OSError with a sentence naming the source and the fix."""
    where = host or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"source '{source}': cannot resolve bind address '{where}' ({exc}); set bind to an address of this host") from exc
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"source '{source}': cannot bind UDP {where}:{port} ({exc.strerror or exc}); "
            "another process may hold the port: stop it or choose another port"
        ) from exc
    return sock


def first_line(datagram: bytes) -> bytes:
    """The bytes before the first ``\\n`` (all of them when there is none)."""
    idx = datagram.find(b"\n")
    return datagram if idx < 0 else datagram[:idx]


class NetcatUdpSource(EventDrivenSource):
    """One event per UDP datagram (its first line)."""

    type_name = "netcatudp"
    aliases = ("org.apache.flume.source.NetcatUdpSource",)
    summary = "Events from UDP datagrams (one per datagram, up to its first newline)"
    settings_schema = Schema(
        Setting("bind", "str", None, "host name or address to listen on (default: every address)"),
        Setting("port", "int", REQUIRED, "UDP port (0: any free port)", minimum=0, maximum=65535),
        Setting("remoteAddressHeader", "str", None, "header that receives the sender's address (/ip:port)", since="1.8"),
        Setting("remoteAddress", "str", None, "the key Flume 1.11's code reads for remoteAddressHeader (same meaning)"),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.host = settings["bind"] or None
        self.port = int(settings["port"])
        self.header: str | None = settings["remoteAddressHeader"] or settings["remoteAddress"] or None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._warn = Throttled(log)
        self._delivery: Delivery | None = None

    def batch_size(self) -> int:
        """Most events per ``process_batch`` call: the smallest ``transactionCapacity``
        of the channels (known once started; this source has no batchSize key)."""
        return self._delivery.cap if self._delivery is not None else super().batch_size()

    @property
    def address(self) -> tuple[str, int]:
        assert self._sock is not None, "not started"
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        self._sock = bind_udp(self.name, self.host, self.port)
        self._thread = threading.Thread(target=self._run, name=f"netcatudp-{self.name}", daemon=True)
        self._thread.start()
        log.info("netcatudp source '%s' listening on %s:%d", self.name, *self.address)

    def stop(self) -> None:
        """Stop reading; a batch the channels keep refusing is given up after 2 s (logged)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(3.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        assert self._sock is not None and self._delivery is not None
        header = self.header
        event = self._event

        def handle(datagrams: list[tuple[bytes, tuple[str, int]]]) -> None:
            self._put([event(data, peer, header) for data, peer in datagrams])

        datagram_loop(self, "netcatudp", self._sock, _MAX_DATAGRAM, self._delivery.cap, self._stopping, self._warn, handle)

    @staticmethod
    def _event(data: bytes, peer: tuple[str, int], header: str | None) -> Event:
        body = first_line(data)
        if header is None:
            return Event(body)
        return Event(body, {header: java_address(peer[0], peer[1])})

    def _put(self, batch: list[Event]) -> None:
        """Put ``batch``, retrying while the channels refuse it (never dropped while the
        source runs; after a stop request, given up after 2 s with a warning)."""
        assert self._delivery is not None
        delay = 0.05
        deadline: float | None = None
        while True:
            try:
                self._delivery.put(batch)
                return
            except Exception as exc:
                batch = batch[int(getattr(exc, "committed", 0)) :]
                self._warn.warn(
                    "channel",
                    "netcatudp source '%s': the channels refused %d events (%s); holding them and retrying "
                    "(reading is paused; the kernel drops datagrams once its buffer is full)",
                    self.name, len(batch), exc,
                )  # fmt: skip
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + 2.0
                if time.monotonic() > deadline:
                    self.counter.discarded += len(batch)
                    log.warning("netcatudp source '%s': stopping with %d events the channels refused; they are lost", self.name, len(batch))
                    return
                time.sleep(delay)
            else:
                self._stopping.wait(delay)
            delay = min(delay * 2, 0.5)


COMPONENTS = [NetcatUdpSource]
