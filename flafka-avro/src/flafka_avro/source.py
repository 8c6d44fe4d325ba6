"""Flume's Avro source (``type = avro``): an Avro IPC server Flume's avro sinks and RPC
clients send to.

Threads: ``start`` opens the listening socket and an accept thread; each connection gets
its own thread that reads a request, hands its events to the channels and answers. The
answer to ``append``/``appendBatch`` is sent only after every required channel committed
the batch (that is the acknowledgement to the sending tier); a channel that refuses it
(full, or failing) makes the answer ``FAILED`` so the sender rolls back and retries —
nothing accepted is lost. A peer that sends something malformed (not Avro IPC, TLS or
HTTP on a plain port, an absurd frame length), that the ``ipFilterRules`` deny, or that
stops reading gets one log line naming it and its connection is closed; other
connections are not affected.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import ssl
import threading
import zlib

from flafka.errors import ChannelError, ChannelFullError
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka_avro import ipfilter, protocol
from flafka_avro.framing import FrameError, PackDecoder, encode_pack_parts
from flafka_avro.protocol import (
    FLUME_MD5,
    PROTOCOL_TEXT,
    HandshakeResponse,
    Match,
    ProtocolError,
    Status,
)
from flafka_avro.tls import STORE_TYPES, TlsConfigError, server_context
from flafka_avro.transport import PeerClosed, Stream

log = logging.getLogger(__name__)

_POLL = 0.5  # s between checks of the stop flag while a connection is idle
_SEND_TIMEOUT = 30.0  # s a peer may take to read a response before it is dropped


def _sniff(data: bytes) -> str:
    """A guess at what a peer that is not speaking Avro IPC speaks."""
    if data[:1] == b"\x16" and data[1:2] == b"\x03":
        return " (it looks like a TLS handshake: the peer has ssl = true, this source has not)"
    if data[:4] in (b"GET ", b"POST", b"PUT ", b"HEAD"):
        return " (it looks like HTTP: point HTTP clients at an http source)"
    if data[:2] in (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x78\x5e"):
        return " (it looks like a zlib stream: the peer has compression-type = deflate, this source has not)"
    return ""


def _protocol_hash(text: str, claimed: bytes) -> bytes:
    """``claimed`` when ``text`` is an Avro protocol (JSON with a ``protocol`` name);
    raises :class:`ProtocolError` otherwise (Java's ``Protocol.parse`` fails too)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays or objects nested too deeply
        raise ProtocolError(f"the client's protocol text is not JSON ({str(exc)[:200]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("protocol"), str):
        raise ProtocolError("the client's protocol text names no protocol")
    return claimed


class AvroSource(EventDrivenSource):
    """Avro IPC server speaking Flume's ``AvroSourceProtocol`` (``append``, ``appendBatch``)."""

    type_name = "avro"
    aliases = ("org.apache.flume.source.AvroSource",)
    summary = "Receive events from Flume avro sinks and Flume RPC clients (Avro IPC, optional deflate and TLS)"
    settings_schema = Schema(
        Setting("bind", "str", REQUIRED, "address to listen on (0.0.0.0: every interface)"),
        Setting("port", "int", REQUIRED, "TCP port to listen on (0: any free port)", minimum=0, maximum=65535),
        Setting("threads", "int", 0, "most connections served at once (more wait in the backlog); 0 = no limit", minimum=0),
        Setting(
            "compression-type", "enum", "none", "deflate: the stream is zlib-compressed; must match the sender", choices=("none", "deflate")
        ),
        Setting("ssl", "bool", False, "serve TLS (keystore required)"),
        Setting("keystore", "str", None, "key store with the server key and certificate chain (PEM, PKCS12, JKS)"),
        Setting("keystore-password", "str", None, "key store password", secret=True),
        Setting("keystore-type", "str", "JKS", "JKS, PKCS12 or PEM (a .pem/.crt file is read as PEM)"),
        Setting("include-protocols", "list", [], "TLS versions allowed (e.g. TLSv1.2 TLSv1.3); empty: all but the excluded"),
        Setting("exclude-protocols", "list", ["SSLv3"], "TLS versions refused (SSLv3 always)"),
        Setting("include-cipher-suites", "list", [], "accepted for compatibility; not applied (see docs/avro.md)"),
        Setting("exclude-cipher-suites", "list", [], "accepted for compatibility; not applied (see docs/avro.md)"),
        Setting("ipFilter", "bool", False, "filter connections by ipFilterRules"),
        Setting("ipFilterRules", "str", "", "comma list of allow|deny:ip|name:<glob>; first match wins, no match = allowed"),
        Setting("maxFrameBytes", "int", 64 * 1024 * 1024, "largest request accepted (bytes); larger closes the connection", minimum=1024),
        Setting("maxBatchEvents", "int", 100_000, "most events in one appendBatch; more is refused (FAILED)", minimum=1),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = []
        if settings["ssl"] and not settings["keystore"]:
            problems.append(
                Problem("keystore", "ssl = true needs a keystore", "set keystore (and keystore-password) to the server's key store")
            )
        if settings["keystore-type"].upper() not in STORE_TYPES:
            problems.append(
                Problem("keystore-type", f"unknown keystore-type '{settings['keystore-type']}'", f"use one of {', '.join(STORE_TYPES)}")
            )
        if settings["ipFilter"]:
            try:
                ipfilter.parse_rules(settings["ipFilterRules"])
            except ipfilter.RuleError as exc:
                problems.append(Problem("ipFilterRules", str(exc), "fix the entry; separate rules with commas"))
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
        self.bind: str = settings["bind"]
        self.port: int = settings["port"]
        self.deflate: bool = settings["compression-type"] == "deflate"
        self.max_frame: int = settings["maxFrameBytes"]
        self.max_batch: int = settings["maxBatchEvents"]
        self.rules = ipfilter.parse_rules(settings["ipFilterRules"]) if settings["ipFilter"] else None
        threads = settings["threads"]
        self._slots = threading.BoundedSemaphore(threads) if threads > 0 else None
        self._ssl: ssl.SSLContext | None = None
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._put_lock = threading.Lock()
        self._conns: dict[int, tuple[socket.socket, threading.Thread]] = {}
        self._learned: set[bytes] = {FLUME_MD5}

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port), once started (``port = 0`` picks a free one)."""
        assert self._listener is not None, "not started"
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Load the TLS material, listen, start the accept thread. Raises on a bad keystore
        or a port in use (the agent reports it)."""
        s = self.settings
        if s["ssl"]:
            try:
                self._ssl = server_context(
                    s["keystore"], s["keystore-password"], s["keystore-type"], s["include-protocols"], s["exclude-protocols"]
                )
            except TlsConfigError as exc:
                raise TlsConfigError(f"source '{self.name}': {exc}") from None
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.bind, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno,
                f"source '{self.name}': cannot listen on {self.bind}:{self.port} ({exc.strerror}); pick a free port or stop what uses it",
            ) from None
        sock.listen(1024)
        sock.settimeout(_POLL)
        self._listener = sock
        self._stopping.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"source-{self.name}-accept", daemon=True)
        self._accept_thread.start()
        log.info("source '%s': Avro RPC listening on %s:%d%s%s", self.name, *self.address,
                 " (deflate)" if self.deflate else "", " (TLS)" if self._ssl else "")  # fmt: skip

    def stop(self) -> None:
        """Stop accepting, close every connection, join the threads (5 s at most). Idempotent.
        A request being handled finishes first: its answer tells the sender the outcome."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        thread, self._accept_thread = self._accept_thread, None
        if thread is not None:
            thread.join(5.0)
        with self._lock:
            conns = list(self._conns.values())
        for _sock, t in conns:
            t.join(5.0)
            if t.is_alive():
                log.warning("source '%s': a connection thread did not finish within 5 s", self.name)

    # --- connections -------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            if self._slots is not None and not self._slots.acquire(timeout=_POLL):
                continue
            try:
                sock, addr = listener.accept()
            except TimeoutError:
                if self._slots is not None:
                    self._slots.release()
                continue
            except OSError:
                if self._slots is not None:
                    self._slots.release()
                if self._stopping.is_set():
                    return
                log.exception("source '%s': accept failed", self.name)
                self._stopping.wait(_POLL)
                continue
            peer = f"{addr[0]}:{addr[1]}"
            if self.rules is not None:
                ok, rule = ipfilter.allowed(self.rules, addr[0])
                if not ok:
                    log.warning("source '%s': connection from %s refused by ipFilterRules rule '%s'", self.name, peer, rule)
                    sock.close()
                    if self._slots is not None:
                        self._slots.release()
                    continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            t = threading.Thread(target=self._serve, args=(sock, peer), name=f"source-{self.name}-{peer}", daemon=True)
            with self._lock:
                self._conns[id(t)] = (sock, t)
            t.start()

    def _count_connection(self, delta: int) -> None:
        with self._lock:
            c = self.counter
            c.open_connection_count = getattr(c, "open_connection_count", 0) + delta  # type: ignore[attr-defined]

    def _serve(self, sock: socket.socket, peer: str) -> None:
        self._count_connection(+1)
        stream = Stream(sock, deflate_level=6 if self.deflate else None, ssl_context=self._ssl, server_side=True)
        conn = _Connection(self, stream, peer)
        try:
            conn.run()
        except PeerClosed:
            log.debug("source '%s': %s closed the connection", self.name, peer)
        except (FrameError, ProtocolError) as exc:
            log.warning("source '%s': closing the connection from %s: %s%s", self.name, peer, exc, _sniff(conn.first))
        except ssl.SSLError as exc:
            log.warning("source '%s': TLS failed with %s (%s)%s; closing the connection", self.name, peer, exc.reason or exc,
                        " — is the peer sending without ssl = true?" if conn.first[:1] != b"\x16" else "")  # fmt: skip
        except zlib.error as exc:
            log.warning(
                "source '%s': %s sent data that does not inflate (%s): is compression-type the same on both sides? "
                "Closing the connection", self.name, peer, exc,
            )  # fmt: skip
        except TimeoutError:
            log.warning("source '%s': %s stopped reading (no progress for %.0f s); closing the connection", self.name, peer, _SEND_TIMEOUT)
        except OSError as exc:
            log.info("source '%s': connection from %s failed (%s)", self.name, peer, exc)
        except Exception:
            log.exception("source '%s': unexpected error on the connection from %s; closing it", self.name, peer)
        finally:
            stream.close()
            self._count_connection(-1)
            with self._lock:
                self._conns.pop(id(threading.current_thread()), None)
            if self._slots is not None:
                self._slots.release()


class _Connection:
    """One client connection's state: the handshake and the request/answer loop."""

    def __init__(self, source: AvroSource, stream: Stream, peer: str) -> None:
        self.source = source
        self.stream = stream
        self.peer = peer
        self.decoder = PackDecoder(source.max_frame)
        self.handshaken = False
        self.first = b""  # the first plaintext bytes, to explain a protocol mismatch
        self._warned: set[str] = set()

    def run(self) -> None:
        src = self.source
        stopping = src._stopping
        if src._ssl is not None:
            try:
                self.stream.handshake(_SEND_TIMEOUT)
            except ssl.SSLError:
                try:
                    self.first = self.stream.sock.recv(8, socket.MSG_PEEK)
                except OSError:
                    pass
                raise
        while not stopping.is_set():
            try:
                data = self.stream.recv(_POLL)
            except TimeoutError:
                continue
            if not self.first:
                self.first = data[:8]
            for serial, message in self.decoder.feed(data):
                answer = self.handle(message)
                self.stream.send(encode_pack_parts(serial, answer), _SEND_TIMEOUT)

    def handle(self, message: bytes) -> list[bytes]:
        """The answer's buffers for one request (handshake, then response)."""
        buf = io.BytesIO(message)
        hs = b""
        if not self.handshaken:
            req = protocol.read_handshake_request(buf)
            learned = self.source._learned
            if req.client_hash not in learned and req.client_protocol is not None and len(learned) < 1000:
                learned.add(_protocol_hash(req.client_protocol, req.client_hash))  # Java caches it under the client's hash
            known = req.client_hash in learned
            # Java's Responder: BOTH/CLIENT when the client's protocol is known, else NONE
            match = Match.NONE if not known else Match.BOTH if req.server_hash == FLUME_MD5 else Match.CLIENT
            both = match is Match.BOTH
            hs = protocol.encode_handshake_response(
                HandshakeResponse(match, None if both else PROTOCOL_TEXT, None if both else FLUME_MD5, None)
            )
            if match is Match.NONE:
                return [hs]
            self.handshaken = True
        if buf.tell() == len(message):
            return [hs]  # a handshake ping
        call = protocol.read_call(buf, self.source.max_batch)
        if call.name == "":
            return [hs]
        if call.name not in (protocol.APPEND, protocol.APPEND_BATCH):
            return [hs, protocol.encode_error(f"org.apache.avro.AvroRuntimeException: No such local message: {call.name}")]
        return [hs, protocol.encode_response(self.deliver(call))]

    def deliver(self, call: protocol.Call) -> Status:
        """Put the events into the channels; OK only once every required channel committed."""
        src = self.source
        try:
            with src._put_lock:  # the processor (counters, interceptors) is not thread-safe
                src.processor.process_batch(call.events)
        except ChannelFullError:
            return Status.FAILED  # back-pressure: the sender rolls back and retries
        except ChannelError as exc:
            self._warn_once(
                str(exc),
                f"source '{src.name}': the {len(call.events)} events of {call.name} from {self.peer} were refused ({exc}); "
                f"answered FAILED so the sender retries. If the batch exceeds a channel's transactionCapacity, lower the "
                f"sender's batch-size or raise transactionCapacity",
            )
            return Status.FAILED
        except Exception as exc:
            self._warn_once(repr(exc), f"source '{src.name}': {call.name} from {self.peer} failed ({exc!r}); answered FAILED")
            src.counter.generic_processing_fail += 1
            return Status.FAILED
        return Status.OK

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned and len(self._warned) < 100:
            self._warned.add(key)
            log.warning("%s", message)
