"""The ``syslogtcp`` and ``syslogudp`` sources (Flume's ``SyslogTcpSource`` and
``SyslogUDPSource``): RFC 3164 and RFC 5424 messages parsed into Flume's headers by
:mod:`flafka.sources.syslogparse`, byte for byte as Flume 1.11 builds them.

Differences from Flume: when the channels refuse events Flume drops them; flafka holds
them and retries (TCP: it stops reading that connection, so the sender is held back;
UDP: reading pauses and the kernel buffers what it can). An unterminated message when a
TCP client closes is counted (``error_type="unterminated_message"``) and dropped, as in
Flume. UDP datagrams are read whole (Flume's Netty reads 2048 bytes of each). Kept from Flume
on purpose: a message that matches neither format carries the ``priority``/``version``
headers of the previous message on the same connection (``syslogudp``: of the source). ``format.*`` custom formats and TLS (``ssl``) are
refused with a message: they are not implemented.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from flafka.event import Event
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.netbase import Delivery, TcpConnections, Throttled, datagram_loop
from flafka.sources.netcat import listen_tcp
from flafka.sources.netcatudp import bind_udp
from flafka.sources.syslogparse import DEFAULT_SIZE, ParseState, RawMessage, SyslogFramer, build_event, choose_fields_to_keep

log = logging.getLogger(__name__)

_RECV = 65536

COMMON = Schema(
    Setting("host", "str", None, "host name or address to listen on (default: every address)"),
    Setting("keepFields", "str", "none", "none, all, or any of: priority version timestamp hostname (kept in the body)"),
    Setting("clientIPHeader", "str", None, "header that receives the sender's IP address", since="1.9"),
    Setting("clientHostnameHeader", "str", None, "header that receives the sender's host name (reverse DNS)", since="1.9"),
    Setting("format.*", "map", None, "Flume's custom formats (regex, search, replace, dateFormat): not supported"),
)

TLS = Schema(
    Setting("ssl", "bool", False, "TLS: not supported by flafka yet", since="1.9"),
    Setting("keystore", "str", None, "TLS keystore (not supported)"),
    Setting("keystore-password", "str", None, "TLS keystore password (not supported)", secret=True),
    Setting("keystore-type", "str", "JKS", "TLS keystore type (not supported)"),
    Setting("exclude-protocols", "str", "SSLv3", "TLS (not supported)"),
    Setting("include-protocols", "str", None, "TLS (not supported)"),
    Setting("exclude-cipher-suites", "str", None, "TLS (not supported)"),
    Setting("include-cipher-suites", "str", None, "TLS (not supported)"),
)


def check_common(settings: Settings) -> list[Problem]:
    """Refuse what is not implemented, with the way out."""
    problems = []
    if settings.get("format.*"):
        problems.append(
            Problem("format.regex", "custom syslog formats (format.*) are not supported by flafka yet", "remove the format.* keys")
        )
    if settings.get("ssl"):
        problems.append(
            Problem(
                "ssl",
                "TLS for syslog is not supported by flafka yet",
                "terminate TLS in front of the agent (e.g. stunnel, or rsyslog's own relay) and set ssl = false",
            )
        )
    return problems


class _Resolver:
    """Reverse DNS for ``clientHostnameHeader``, cached (Flume looks it up per event)."""

    def __init__(self, size: int = 4096) -> None:
        self._cache: dict[str, str] = {}
        self._size = size

    def name(self, ip: str) -> str:
        hit = self._cache.get(ip)
        if hit is None:
            try:
                hit = socket.gethostbyaddr(ip)[0]
            except OSError:
                hit = ip  # Java's getHostName() falls back to the address
            if len(self._cache) >= self._size:
                self._cache.clear()
            self._cache[ip] = hit
        return hit


def _java_ip(ip: str) -> str:
    """``InetAddress.getHostAddress()`` form (IPv6 uncompressed)."""
    from flafka.sources.netbase import java_address

    return java_address(ip, 0)[1:-2]


class _SyslogBase(EventDrivenSource):
    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.host: str | None = settings["host"] or None
        self.port = int(settings["port"])
        self.keep = choose_fields_to_keep(settings["keepFields"])
        self.ip_header: str | None = settings["clientIPHeader"] or None
        self.hostname_header: str | None = settings["clientHostnameHeader"] or None
        self._stopping = threading.Event()
        self._warn = Throttled(log)
        self._delivery: Delivery | None = None
        self._resolver = _Resolver()

    def batch_size(self) -> int:
        """Most events per ``process_batch`` call: the smallest ``transactionCapacity``
        of the channels (known once started; this source has no batchSize key)."""
        return self._delivery.cap if self._delivery is not None else super().batch_size()

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        return check_common(settings)

    def _client_headers(self, ip: str) -> dict[str, str]:
        headers = {}
        if self.ip_header:
            headers[self.ip_header] = _java_ip(ip)
        if self.hostname_header:
            headers[self.hostname_header] = self._resolver.name(ip)
        return headers

    def _events(self, messages: list[RawMessage], extra: dict[str, str], state: ParseState) -> list[Event]:
        now = int(time.time() * 1000)
        events = []
        for msg in messages:
            event = build_event(msg, self.keep, now, state)
            if extra:
                event.headers.update(extra)
            events.append(event)
        invalid = sum(1 for m in messages if m.bad)
        cut = sum(1 for m in messages if m.incomplete)
        if invalid or cut:
            self._report(invalid, cut)
        return events

    def _report(self, invalid: int, cut: int) -> None:
        if invalid:
            self.counter.error("invalid_syslog", "receiving", invalid)
            self._warn.warn(
                "invalid", "%s source '%s': %d messages do not start with a <priority>; kept whole with "
                "flume.syslog.status=Invalid (check the sender's syslog format)", self.type_name, self.name, invalid,
            )  # fmt: skip
        if cut:
            self.counter.error("message_cut", "receiving", cut)
            self._warn.warn(
                "cut", "%s source '%s': %d messages reached eventSize (%s bytes) and were cut; the parts are events with "
                "flume.syslog.status=Incomplete (raise eventSize)", self.type_name, self.name, cut,
                self.settings.get("eventSize", "65536"),
            )  # fmt: skip

    def _put(self, events: list[Event]) -> bool:
        """Put ``events``; retry while refused. False when given up (stop, after 2 s)."""
        assert self._delivery is not None
        delay = 0.05
        deadline: float | None = None
        while True:
            try:
                self._delivery.put(events)
                return True
            except Exception as exc:
                events = events[int(getattr(exc, "committed", 0)) :]
                self._warn.warn(
                    "channel", "%s source '%s': the channels refused %d events (%s); holding them and retrying",
                    self.type_name, self.name, len(events), exc,
                )  # fmt: skip
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + 2.0
                if time.monotonic() > deadline:
                    self.counter.discarded += len(events)
                    log.warning("%s source '%s': stopping with %d refused events; they are lost", self.type_name, self.name, len(events))
                    return False
                time.sleep(delay)
            else:
                self._stopping.wait(delay)
            delay = min(delay * 2, 0.5)


class SyslogTcpSource(_SyslogBase):
    """Syslog over TCP: messages end at a newline (or at ``eventSize`` bytes)."""

    type_name = "syslogtcp"
    aliases = ("org.apache.flume.source.SyslogTcpSource",)
    summary = "Syslog messages (RFC 3164/5424) over TCP, parsed into Flume's headers"
    settings_schema = (
        Schema(
            Setting("port", "int", REQUIRED, "TCP port (0: any free port)", minimum=0, maximum=65535),
            Setting("eventSize", "int", DEFAULT_SIZE, "most bytes of one message (at least 10)", minimum=1),
        )
        + COMMON
        + TLS
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.event_size = int(settings["eventSize"])
        self._tcp = TcpConnections(self, "syslogtcp", self._serve, self._stopping, self._warn, join=3.0)

    @property
    def address(self) -> tuple[str, int]:
        assert self._tcp.servers, "not started"
        host, port = self._tcp.servers[0].getsockname()[:2]
        return host, port

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        server = listen_tcp(self.name, self.host or "0.0.0.0", self.port)
        self._tcp.start([server], f"syslogtcp-{self.name}", f"syslogtcp-{self.name}-conn")
        log.info("syslogtcp source '%s' listening on %s:%d", self.name, *self.address)

    def stop(self) -> None:
        self._tcp.stop()

    def _serve(self, conn: socket.socket, peer: tuple[str, int], port: int) -> None:
        framer = SyslogFramer(self.event_size)
        state = ParseState()  # per connection, as Flume's handler
        extra = self._client_headers(peer[0]) if (self.ip_header or self.hostname_header) else {}
        try:
            while not self._stopping.is_set():
                data = conn.recv(_RECV)
                if not data:
                    if framer.pending:
                        self.counter.error("unterminated_message", "receiving")
                    break
                messages = framer.feed(data)
                if messages and not self._put(self._events(messages, extra, state)):
                    break
        except OSError as exc:
            if not self._stopping.is_set():
                log.debug("syslogtcp source '%s': connection from %s:%d broken: %s", self.name, peer[0], peer[1], exc)
        except Exception:
            self.counter.generic_processing_fail += 1
            log.exception("syslogtcp source '%s': unexpected error serving %s:%d; connection closed", self.name, peer[0], peer[1])


class SyslogUdpSource(_SyslogBase):
    """Syslog over UDP: one message per datagram (up to its first newline)."""

    type_name = "syslogudp"
    aliases = ("org.apache.flume.source.SyslogUDPSource",)
    summary = "Syslog messages (RFC 3164/5424) over UDP, parsed into Flume's headers"
    settings_schema = Schema(Setting("port", "int", REQUIRED, "UDP port (0: any free port)", minimum=0, maximum=65535)) + COMMON

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._state = ParseState()  # one for every sender, as Flume's single UDP handler

    @property
    def address(self) -> tuple[str, int]:
        assert self._sock is not None, "not started"
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        self._sock = bind_udp(self.name, self.host, self.port)
        self._thread = threading.Thread(target=self._run, name=f"syslogudp-{self.name}", daemon=True)
        self._thread.start()
        log.info("syslogudp source '%s' listening on %s:%d", self.name, *self.address)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(3.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _message(self, data: bytes) -> RawMessage | None:
        framer = SyslogFramer(1 << 16)
        got = framer.feed(data, first_only=True)
        return got[0] if got else framer.finish_datagram()

    def _run(self) -> None:
        assert self._sock is not None and self._delivery is not None
        datagram_loop(self, "syslogudp", self._sock, 65535, self._delivery.cap, self._stopping, self._warn, self._datagrams)

    def _datagrams(self, datagrams: list[tuple[bytes, tuple[str, int]]]) -> None:
        events: list[Event] = []
        for data, peer in datagrams:
            msg = self._message(data)
            if msg is None:
                self.counter.event_read_fail += 1
                self.counter.error("empty_datagram", "receiving")
                continue
            extra = self._client_headers(peer[0]) if (self.ip_header or self.hostname_header) else {}
            events += self._events([msg], extra, self._state)
        if events:
            self._put(events)


COMPONENTS = [SyslogTcpSource, SyslogUdpSource]
