"""The ``netcat`` source (Flume's ``NetcatSource``): listens on a TCP port, turns each
line a client sends into an event and answers ``OK`` for it.

Flume's behaviour, kept:

- one event per ``\\n``-terminated line, the body without the ``\\n`` (a ``\\r`` stays),
  encoded as UTF-8 after reading the stream in ``encoding``; no headers;
- ``OK\\n`` per event once the channels committed it (``ack-every-event = false``: no
  reply); ``FAILED: <reason>\\n`` per event the channels refused (the client resends);
- a line longer than ``max-line-length`` characters including its newline: the lines
  before it are delivered, then ``FAILED: Event exceeds the maximum length (N chars,
  including newline)`` and the connection is closed;
- an unterminated last line when the client closes is not an event (Flume drops it; we
  count it as ``component_errors_total{error_type="unterminated_line"}``).

Differences: the lines that arrive together are put in one transaction (at most the
smallest ``transactionCapacity`` of the channels), not one per line; bytes invalid in
``encoding`` are kept in the body and counted (Flume drops the connection); a bad client
never stops the source — its connection is closed with a warning naming the peer.
"""

from __future__ import annotations

import codecs
import logging
import socket
import threading

from flafka.errors import ChannelError
from flafka.event import Event
from flafka.settings import REQUIRED, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.lines import LineFramer
from flafka.sources.netbase import Delivery, TcpConnections, Throttled

log = logging.getLogger(__name__)

_RECV = 65536


def listen_tcp(source: str, host: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket with SO_REUSEADDR (as Flume sets). Raises OSError with a
    sentence naming the source, the address and the fix."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"source '{source}': cannot resolve bind address '{host}' ({exc}); set bind to an address of this host") from exc
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"source '{source}': cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "another process may hold the port: stop it or choose another port"
        ) from exc
    return sock


class NetcatSource(EventDrivenSource):
    """One event per line received on a TCP port; ``OK`` per committed event."""

    type_name = "netcat"
    aliases = ("org.apache.flume.source.NetcatSource",)
    summary = "Events from lines sent to a TCP port (answers OK per event)"
    settings_schema = Schema(
        Setting("bind", "str", REQUIRED, "host name or address to listen on"),
        Setting("port", "int", REQUIRED, "TCP port to listen on (0: any free port)", minimum=0, maximum=65535),
        Setting("max-line-length", "int", 512, "most characters of one line, newline included", minimum=1),
        Setting("ack-every-event", "bool", True, "answer OK for every event the channels committed"),
        Setting("encoding", "charset", "utf-8", "charset the client's bytes are read (and OK written) in", since="1.7"),
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.host = str(settings["bind"])
        self.port = int(settings["port"])
        self.max_line = int(settings["max-line-length"])
        self.ack = bool(settings["ack-every-event"])
        self.encoding = str(settings["encoding"])
        self._stopping = threading.Event()
        self._warn = Throttled(log)
        self._tcp = TcpConnections(self, "netcat", self._serve, self._stopping, self._warn, join=2.0)
        self._delivery: Delivery | None = None

    def batch_size(self) -> int:
        """Most events per ``process_batch`` call: the smallest ``transactionCapacity``
        of the channels (known once started; this source has no batchSize key)."""
        return self._delivery.cap if self._delivery is not None else super().batch_size()

    @property
    def address(self) -> tuple[str, int]:
        """The address listened on (the real port when ``port = 0``)."""
        assert self._tcp.servers, "not started"
        host, port = self._tcp.servers[0].getsockname()[:2]
        return host, port

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        self._tcp.start([listen_tcp(self.name, self.host, self.port)], f"netcat-{self.name}-accept", f"netcat-{self.name}-conn")
        log.info("netcat source '%s' listening on %s:%d", self.name, *self.address)

    def stop(self) -> None:
        """Stop accepting, close every connection (a line being put finishes first),
        join the threads (bounded: 2 s)."""
        self._tcp.stop()

    # -- one connection's thread -----------------------------------------------------

    def _serve(self, conn: socket.socket, peer: tuple[str, int], port: int) -> None:
        where = f"{peer[0]}:{peer[1]}"
        framer = LineFramer(self.encoding, self.max_line)
        encoder = codecs.getincrementalencoder(self.encoding)("replace")
        invalid_seen = 0
        try:
            while not self._stopping.is_set():
                data = conn.recv(_RECV)
                lines = framer.feed(data, final=not data)
                if framer.invalid != invalid_seen:
                    invalid_seen = framer.invalid
                    self.counter.error("invalid_encoding", "receiving")
                    self._warn.warn(
                        "encoding",
                        "netcat source '%s': client %s sent bytes that are not valid %s; they are kept in the body as "
                        "received (set encoding to the charset the client writes, e.g. ISO-8859-1 for raw bytes)",
                        self.name, where, self.encoding,
                    )  # fmt: skip
                if lines:
                    self._deliver(conn, encoder, lines, where)
                if framer.too_long:
                    self.counter.event_read_fail += 1
                    self.counter.error("line_too_long", "receiving")
                    self._warn.warn(
                        "too_long",
                        "netcat source '%s': client %s sent a line longer than max-line-length (%d chars, newline "
                        "included); answered FAILED and closed the connection (raise max-line-length if such lines are valid)",
                        self.name, where, self.max_line,
                    )  # fmt: skip
                    reply = f"FAILED: Event exceeds the maximum length ({self.max_line} chars, including newline)\n"
                    conn.sendall(encoder.encode(reply))
                    break
                if not data:
                    if framer.pending_chars:
                        self.counter.error("unterminated_line", "receiving")
                        log.debug("netcat source '%s': client %s closed after an unterminated line (dropped)", self.name, where)
                    break
        except OSError as exc:
            if not self._stopping.is_set():
                log.debug("netcat source '%s': connection from %s broken: %s", self.name, where, exc)
        except Exception:  # never let one client end the source
            self.counter.generic_processing_fail += 1
            log.exception("netcat source '%s': unexpected error serving %s; connection closed", self.name, where)

    def _deliver(self, conn: socket.socket, encoder: codecs.IncrementalEncoder, lines: list[bytes], where: str) -> None:
        assert self._delivery is not None
        n = len(lines)
        try:
            self._delivery.put([Event(body) for body in lines])
        except Exception as exc:
            committed = int(getattr(exc, "committed", 0))
            if not isinstance(exc, ChannelError):
                self.counter.generic_processing_fail += 1
            self._warn.warn(
                "channel", "netcat source '%s': %d events from %s answered FAILED (the client may resend): %s",
                self.name, n - committed, where, exc,
            )  # fmt: skip
            reason = " ".join(str(exc).split())
            reply = ("OK\n" * committed if self.ack else "") + f"FAILED: {reason}\n" * (n - committed)
        else:
            if not self.ack:
                return
            reply = "OK\n" * n
        conn.sendall(encoder.encode(reply))


COMPONENTS = [NetcatSource]
