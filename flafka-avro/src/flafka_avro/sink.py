"""Flume's Avro sink (``type = avro``): sends each batch with one ``appendBatch`` call to
the next tier (a Flume or flafka avro source).

``write`` returns only when the next tier answered ``OK`` — its channels committed the
batch — so the runtime commits the take only then. ``FAILED``, a system error, a timeout
(``connect-timeout`` to connect and hand the call over, ``request-timeout`` for the
answer) or any I/O error closes the connection and raises ``RetriableError``: the take
rolls back and the batch is sent again on a new connection (duplicates if the other tier
had committed and the answer was lost, never loss).
"""

from __future__ import annotations

import collections
import io
import logging
import socket
import ssl
import threading
import time
import zlib

from flafka.batch import AnyBatch, as_events
from flafka.errors import PermanentError, RetriableError
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, PendingWrite, Sink, Written
from flafka_avro import codec, protocol
from flafka_avro.codec import EncodeError
from flafka_avro.framing import FrameError, PackDecoder, encode_pack
from flafka_avro.protocol import FLUME_MD5, PROTOCOL_TEXT, HandshakeRequest, Match, ProtocolError, Status
from flafka_avro.tls import STORE_TYPES, TlsConfigError, client_context
from flafka_avro.transport import PeerClosed, Stream

log = logging.getLogger(__name__)

_DEFAULT_TIMEOUT_MS = 20000
_MAX_RESPONSE = 1024 * 1024


def _timeout_ms(value: int) -> int:
    """Flume's rule: below 1000 ms the default (20 s) is used."""
    return value if value >= 1000 else _DEFAULT_TIMEOUT_MS


class AvroSink(Sink):
    """Avro IPC client speaking Flume's ``AvroSourceProtocol`` (``appendBatch``)."""

    type_name = "avro"
    aliases = ("org.apache.flume.sink.AvroSink",)
    summary = "Send events to a Flume or flafka avro source (Avro IPC, optional deflate and TLS)"
    batch_size_key = "batch-size"
    max_pending_batches = 2
    batch_aware = True  # encodes a column-wise batch from its bodies and header maps
    settings_schema = Schema(
        Setting("hostname", "str", REQUIRED, "host of the next tier's avro source"),
        Setting("port", "int", REQUIRED, "port of the next tier's avro source", minimum=1, maximum=65535),
        Setting("batch-size", "int", 100, "most events taken per transaction and sent per appendBatch", minimum=1),
        Setting("connect-timeout", "int", _DEFAULT_TIMEOUT_MS, "ms to connect and hand a call over (below 1000: 20000, as Flume)"),
        Setting("request-timeout", "int", _DEFAULT_TIMEOUT_MS, "ms to wait for the answer (below 1000: 20000, as Flume)"),
        Setting("reset-connection-interval", "int", 0, "s after which the connection is closed and opened again (0: never)", minimum=0),
        Setting(
            "compression-type", "enum", "none", "deflate: compress the stream with zlib; must match the source", choices=("none", "deflate")
        ),
        Setting("compression-level", "int", 6, "zlib level 0-9 with compression-type = deflate", minimum=0, maximum=9),
        Setting("ssl", "bool", False, "connect with TLS"),
        Setting("trust-all-certs", "bool", False, "accept any server certificate (no verification)"),
        Setting("truststore", "str", None, "trusted certificates (PEM, PKCS12, JKS); empty: the system's CAs"),
        Setting("truststore-password", "str", None, "truststore password", secret=True),
        Setting("truststore-type", "str", "JKS", "JKS, PKCS12 or PEM (a .pem/.crt file is read as PEM)"),
        Setting("include-protocols", "list", [], "TLS versions allowed (e.g. TLSv1.2 TLSv1.3); empty: all but the excluded"),
        Setting("exclude-protocols", "list", ["SSLv3"], "TLS versions refused (SSLv3 always)"),
        Setting("include-cipher-suites", "list", [], "accepted for compatibility; not applied (see docs/avro.md)"),
        Setting("exclude-cipher-suites", "list", [], "accepted for compatibility; not applied (see docs/avro.md)"),
        Setting("maxIoWorkers", "int", None, "accepted for compatibility; ignored (as in Flume 1.10+)"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = []
        if settings["truststore-type"].upper() not in STORE_TYPES:
            problems.append(
                Problem(
                    "truststore-type", f"unknown truststore-type '{settings['truststore-type']}'", f"use one of {', '.join(STORE_TYPES)}"
                )
            )
        for key in ("connect-timeout", "request-timeout"):
            if settings[key] < 1000:
                problems.append(
                    Problem(
                        key, f"{key} = {settings[key]} ms is below 1000 ms: 20000 ms is used (as in Flume)", "set at least 1000", "warning"
                    )
                )
        if settings["maxIoWorkers"] is not None:
            problems.append(
                Problem("maxIoWorkers", "maxIoWorkers is ignored (no longer supported since Flume 1.10)", "remove the key", "warning")
            )
        for key in ("include-cipher-suites", "exclude-cipher-suites"):
            if settings[key]:
                problems.append(
                    Problem(
                        key,
                        f"{key} is not applied by flafka (Java and OpenSSL name suites differently)",
                        "restrict versions with include-protocols instead",
                        "warning",
                    )
                )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.hostname: str = settings["hostname"]
        self.port: int = settings["port"]
        self.connect_timeout = _timeout_ms(settings["connect-timeout"]) / 1000.0
        self.request_timeout = _timeout_ms(settings["request-timeout"]) / 1000.0
        self.reset_interval: int = settings["reset-connection-interval"]
        self.level: int | None = settings["compression-level"] if settings["compression-type"] == "deflate" else None
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._conn: _Client | None = None

    @property
    def peer(self) -> str:
        return f"{self.hostname}:{self.port}"

    def start(self) -> None:
        """Build the TLS context (a bad truststore stops the agent here). Connects lazily:
        a next tier that is down is retried by the runtime."""
        s = self.settings
        if s["ssl"]:
            try:
                self._ssl = client_context(
                    s["trust-all-certs"], s["truststore"], s["truststore-password"], s["truststore-type"],
                    s["include-protocols"], s["exclude-protocols"],
                )  # fmt: skip
            except TlsConfigError as exc:
                raise TlsConfigError(f"sink '{self.name}': {exc}") from None

    def stop(self) -> None:
        """Close the connection. Idempotent; does not wait for a call in progress."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def write(self, events: AnyBatch) -> BatchOutcome | None:
        """One ``appendBatch``; returns once the next tier answered OK."""
        return self._send(events).wait()

    def send(self, events: AnyBatch) -> PendingWrite:
        """:meth:`_send` (the runtime's pipelined path)."""
        return self._send(events)

    def _send(self, events: AnyBatch) -> PendingWrite:
        """Send one ``appendBatch`` and return at once; the result's ``wait`` reads the
        answer. The runtime keeps up to ``max_pending_batches`` calls on the connection
        (the next tier answers them in order), so encoding, the network and the next
        tier's work overlap. The first call of a connection (the handshake) is waited for
        here. A column-wise batch is encoded from its columns, building no ``Event``.
        Events the Avro schema cannot carry are not sent: ``wait`` reports them as failed
        for good (the others are sent)."""
        try:
            call = protocol.encode_batch_call(events)
        except EncodeError:
            return self._send_without_unencodable(events)
        return self._send_call(call)

    def _send_without_unencodable(self, batch: AnyBatch) -> PendingWrite:
        events = as_events(batch)
        bad: list[int] = []
        first = ""
        for i, e in enumerate(events):
            why = codec.problem(e)
            if why is not None:
                bad.append(i)
                first = first or f"event {i} of the batch has {why}"
        bad_set = set(bad)
        good = [e for i, e in enumerate(events) if i not in bad_set]
        error = PermanentError(
            f"sink '{self.name}': {len(bad)} event(s) cannot be sent over Avro RPC (headers must be strings, bodies bytes): {first}"
        )
        return _Rejected(self._send(good) if good else None, bad, error)

    def _send_call(self, call: bytes) -> PendingWrite:
        with self._lock:
            conn = self._conn
            if conn is not None and self.reset_interval and not conn.outstanding and time.monotonic() - conn.opened > self.reset_interval:
                self._drop()
                conn = None
            try:
                if conn is None:
                    conn = self._conn = self._connect()
                if not conn.established:
                    self._check(conn.append_batch(call, self.connect_timeout, self.request_timeout))
                    return Written(None)
                serial = conn.send_batch(call, self.connect_timeout)
            except (OSError, ssl.SSLError, zlib.error, PeerClosed, FrameError, ProtocolError) as exc:
                self._drop()
                raise RetriableError(self._explain(exc)) from None
            return _Pending(self, conn, serial, time.monotonic() + self.request_timeout)

    def _check(self, status: Status | str) -> None:
        """None for OK; else drop the connection and raise RetriableError."""
        if status is Status.OK:
            return
        self._drop()
        if isinstance(status, str):
            raise RetriableError(
                f"sink '{self.name}': {self.peer} answered with an error ({status}); the batch stays in the channel and is retried"
            )
        raise RetriableError(
            f"sink '{self.name}': {self.peer} answered {status.name} (its channel is full or failing); "
            "the batch stays in the channel and is retried"
        )

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self.counter.connection_closed_count += 1

    def _explain(self, exc: BaseException) -> str:
        what: str
        if isinstance(exc, TimeoutError):
            what = "timed out (connect-timeout / request-timeout)"
        elif isinstance(exc, PeerClosed):
            what = "closed the connection (does its compression-type and ssl match this sink's?)"
        elif isinstance(exc, ssl.SSLError):
            what = f"TLS failed ({exc.reason or exc}); check ssl, trust-all-certs and the truststore on both sides"
        elif isinstance(exc, zlib.error):
            what = f"sent data that does not inflate ({exc}); compression-type must match on both sides"
        elif isinstance(exc, FrameError | ProtocolError):
            what = f"does not speak Flume's Avro RPC ({exc})"
        else:
            what = f"failed ({exc})"
        return f"sink '{self.name}': {self.peer} {what}; the batch stays in the channel and is retried"

    def _connect(self) -> _Client:
        try:
            sock = socket.create_connection((self.hostname, self.port), timeout=self.connect_timeout)
        except OSError:
            self.counter.connection_failed_count += 1
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = Stream(sock, deflate_level=self.level, ssl_context=self._ssl)
        try:
            stream.handshake(self.connect_timeout)
        except BaseException:
            stream.close()
            self.counter.connection_failed_count += 1
            raise
        self.counter.connection_created_count += 1
        return _Client(stream)


class _Pending(PendingWrite):
    """A call sent on ``conn``; ``wait`` reads its answer (in send order)."""

    __slots__ = ("conn", "deadline", "serial", "sink")

    def __init__(self, sink: AvroSink, conn: _Client, serial: int, deadline: float) -> None:
        self.sink, self.conn, self.serial, self.deadline = sink, conn, serial, deadline

    def wait(self) -> BatchOutcome | None:
        sink = self.sink
        with sink._lock:
            conn = self.conn
            conn.outstanding -= 1
            if sink._conn is not conn:
                raise RetriableError(
                    f"sink '{sink.name}': the connection to {sink.peer} was closed before this batch was answered; "
                    "the batch stays in the channel and is retried"
                )
            try:
                status = protocol.read_response(io.BytesIO(conn.answer(self.serial, self.deadline)))
            except (OSError, ssl.SSLError, zlib.error, PeerClosed, FrameError, ProtocolError) as exc:
                sink._drop()
                raise RetriableError(sink._explain(exc)) from None
            sink._check(status)
            return None


class _Rejected(PendingWrite):
    """A batch some of whose events the schema cannot carry: the others were sent as
    ``sent``; ``wait`` reports the ``bad`` indices as failed for good (the runtime holds or
    dead-letters them)."""

    __slots__ = ("bad", "error", "sent")

    def __init__(self, sent: PendingWrite | None, bad: list[int], error: PermanentError) -> None:
        self.sent, self.bad, self.error = sent, bad, error

    def wait(self) -> BatchOutcome | None:
        if self.sent is not None:
            self.sent.wait()  # the avro sink answers None or raises (the whole batch rolls back)
        return BatchOutcome(self.bad, self.error, retriable=False)


class _Client:
    """One connection: serials from 1, the Avro handshake on the first call."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.serial = 0
        self.established = False
        self.client_protocol: str | None = None
        self.opened = time.monotonic()
        self.decoder = PackDecoder(_MAX_RESPONSE)
        self.ready: collections.deque[tuple[int, bytes]] = collections.deque()
        self.outstanding = 0  # calls sent and not yet waited for

    def close(self) -> None:
        self.stream.close()

    def append_batch(self, call: bytes, connect_timeout: float, request_timeout: float) -> Status | str:
        """Send the encoded ``call`` with the handshake and wait for its answer."""
        for _ in range(2):  # a NONE answer: once more with our protocol text
            hs = b""
            if not self.established:
                hs = protocol.encode_handshake_request(HandshakeRequest(FLUME_MD5, self.client_protocol, FLUME_MD5, {}))
            self.serial += 1
            self.stream.send(encode_pack(self.serial, hs + call), connect_timeout)
            buf = io.BytesIO(self.answer(self.serial, time.monotonic() + request_timeout))
            if not self.established:
                resp = protocol.read_handshake_response(buf)
                if resp.match is Match.NONE:
                    self.client_protocol = PROTOCOL_TEXT
                    continue
                self.established = True
            return protocol.read_response(buf)
        raise ProtocolError("the server does not recognise Flume's AvroSourceProtocol (handshake NONE twice)")

    def send_batch(self, call: bytes, connect_timeout: float) -> int:
        """Send an encoded ``appendBatch`` on an established connection; its serial."""
        self.serial += 1
        self.stream.send(encode_pack(self.serial, call), connect_timeout)
        self.outstanding += 1
        return self.serial

    def answer(self, serial: int, deadline: float) -> bytes:
        """The answer to call ``serial`` (answers come in call order)."""
        ready = self.ready
        while not ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            ready.extend(self.decoder.feed(self.stream.recv(left)))
        got, message = ready.popleft()
        if got != serial:
            raise ProtocolError(f"an answer for call {got} arrived while call {serial} was waiting")
        return message
