"""The ``http`` source (Flume's ``HTTPSource``): events from HTTP POST (and GET)
requests, turned into events by a handler (:mod:`flafka.sources.httphandlers`).

Answers, as Flume's: 200 once the channels committed every event of the request; 400
with the reason when the handler refuses the request (bad JSON); 503 when the channels
refuse the events (full) — the client should retry; 500 when the handler fails
unexpectedly. Added: 413 for a body larger than ``maxBodyBytes`` (sent before the body
is read), 400 for an empty body (Flume answers 500).

HTTP/1.1 is read and answered by :mod:`flafka.sources.httpwire` (keep-alive, pipelining,
chunked bodies, ``Expect: 100-continue``), one thread per connection.

TLS: ``ssl = true`` (Flume 1.6's ``enableSSL``) with ``keystore`` naming a Java key store
(JKS, JCEKS or PKCS12, read by :mod:`flafka.keystores`, extra ``flafka-core[keystores]``)
or a PEM file with the certificate chain and the private key; ``keystore-password``
opens the store and its key. Jetty tuning keys (``QueuedThreadPool.*``, ``HttpConfiguration.*``,
``SslContextFactory.*``, ``ServerConnector.*``) are accepted and ignored with a warning.
"""

from __future__ import annotations

import logging
import socketserver
import ssl
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flafka import keystores
from flafka.errors import ChannelError
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.httphandlers import DEFAULT, BadRequest, HttpHandler, HttpRequest, handler_or_raise, resolve_handler
from flafka.sources.httpwire import CONTINUE, BadHttp, Head, TooLarge, answer, body_size, expects_continue, read_body, read_head
from flafka.sources.netbase import Delivery, Throttled

log = logging.getLogger(__name__)

_JETTY = ("QueuedThreadPool.*", "HttpConfiguration.*", "SslContextFactory.*", "ServerConnector.*")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bug in a connection's thread: logged once a minute, not printed on stderr (a
        connection that broke while being set up is not one)."""
        source: HttpSource = self.source  # type: ignore[attr-defined]
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        source._warn.warn("bug", "http source '%s': a connection from %s failed unexpectedly: %r", source.name, client_address[0], exc)


class _Connection(socketserver.StreamRequestHandler):
    """One connection (one thread): requests read with :mod:`flafka.sources.httpwire`,
    served by ``server.source`` until the client or an answer closes it."""

    rbufsize = 65536
    timeout = 60  # an idle keep-alive connection is closed after a minute
    disable_nagle_algorithm = True

    def handle(self) -> None:
        source: HttpSource = self.server.source  # type: ignore[attr-defined]
        try:
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()  # here, in this thread, not in the accept loop
            while source.serve(self):
                pass
        except (OSError, EOFError):  # closed, reset, idle for a minute, TLS failure
            pass


class HttpSource(EventDrivenSource):
    """Events from HTTP requests (Flume's JSON format by default)."""

    type_name = "http"
    aliases = ("org.apache.flume.source.http.HTTPSource",)
    summary = "Events from HTTP requests (Flume's JSON format; 200 after commit, 503 when full)"
    settings_schema = Schema(
        Setting("port", "int", REQUIRED, "TCP port (0: any free port)", minimum=0, maximum=65535),
        Setting("bind", "str", "0.0.0.0", "host name or address to listen on"),
        Setting("handler", "str", DEFAULT, "an http handler: JSONHandler, BLOBHandler, a plugin's, or module.ClassName"),
        Setting("handler.*", "map", None, "the handler's own keys (flafka describe NAME --kind http_handler)"),
        Setting("maxBodyBytes", "int", 64 << 20, "flafka: largest request body; larger ones get 413 unread", minimum=1),
        Setting("ssl", "bool", False, "serve HTTPS with the keystore's key and certificate chain", legacy=("enableSSL",)),
        Setting("keystore", "str", None, "key store: JKS, JCEKS, PKCS12 or PEM (certificate chain and private key)"),
        Setting("keystore-password", "str", None, "password of the key store and of its key", secret=True, legacy=("keystorePassword",)),
        Setting("keystore-type", "str", "JKS", "JKS, JCEKS, PKCS12 or PEM (the file's content decides; a hint for validate)"),
        Setting("exclude-protocols", "str", "SSLv3", "TLS versions refused (SSLv3, TLSv1, TLSv1.1)", legacy=("excludeProtocols",)),
        Setting("include-protocols", "str", None, "TLS versions allowed (TLSv1.2, TLSv1.3)"),
        Setting("exclude-cipher-suites", "str", None, "accepted; not applied (Java cipher names)"),
        Setting("include-cipher-suites", "str", None, "accepted; not applied (Java cipher names)"),
        *(Setting(key, "map", None, "Jetty tuning: accepted and ignored") for key in _JETTY),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        _, problems = resolve_handler("", str(settings["handler"]), settings["handler.*"] or {})
        kind = str(settings.get("keystore-type") or "JKS").strip().upper()
        if kind not in keystores.TYPES:
            problems.append(Problem("keystore-type", f"unknown keystore-type '{kind}'", f"use one of {', '.join(keystores.TYPES)}"))
        elif settings.get("ssl"):
            lib = keystores.missing_library(kind) if "keystore-type" in settings.explicit else ""
            if lib:
                problems.append(Problem("keystore-type", f"reading {kind} key stores needs {lib}, which is not installed", keystores.EXTRA))
            if not settings.get("keystore"):
                fix = "set keystore = /path/to/keystore.jks (JKS, PKCS12 or PEM)"
                problems.append(Problem("keystore", "ssl = true needs a keystore", fix))
        for key in _JETTY:
            if settings.get(key):
                problems.append(Problem(key[:-2], f"Jetty tuning keys ({key}) are ignored by flafka", "remove them", "warning"))
        for key in ("exclude-cipher-suites", "include-cipher-suites"):
            if settings.get(key):
                problems.append(Problem(key, f"{key} names Java cipher suites; flafka does not apply it", "remove it", "warning"))
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.host = str(settings["bind"])
        self.port = int(settings["port"] or 0)
        self.max_body = int(settings["maxBodyBytes"])
        self.handler_name = str(settings["handler"])
        self.handler_spec = handler_or_raise(name, self.handler_name, settings["handler.*"] or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._warn = Throttled(log)
        self._delivery: Delivery | None = None
        self._handler: HttpHandler | None = None

    def batch_size(self) -> int:
        """Most events per ``process_batch`` call: the smallest ``transactionCapacity``
        of the channels (known once started; this source has no batchSize key)."""
        return self._delivery.cap if self._delivery is not None else super().batch_size()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            keystores.load_cert_chain(
                ctx, str(self.settings["keystore"]), self.settings.get("keystore-password"), self.settings.get("keystore-type")
            )
        except keystores.KeystoreError as exc:
            fix = f"; {exc.suggestion}" if exc.suggestion else ""
            raise OSError(f"source '{self.name}': {exc.key}: {exc}{fix}") from None
        excluded = (self.settings.get("exclude-protocols") or "").split()
        included = (self.settings.get("include-protocols") or "").split()
        versions = [("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1), ("TLSv1.2", ssl.TLSVersion.TLSv1_2)]
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        for name, version in versions:
            if name in included and name not in excluded:
                ctx.minimum_version = min(ctx.minimum_version, version)
        if "TLSv1.2" in excluded:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    def start(self) -> None:
        self._handler = self.handler_spec.new()
        self._delivery = Delivery(self)
        try:
            server = _Server((self.host, self.port), _Connection)
        except OSError as exc:
            raise OSError(
                f"source '{self.name}': cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "another process may hold the port: stop it or choose another port"
            ) from exc
        if self.settings.get("ssl"):
            try:
                # the handshake runs in the connection's thread (with its timeout): a client
                # that connects and sends nothing must not hold up the accept loop
                server.socket = self._tls().wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            except BaseException:
                server.server_close()
                raise
        server.source = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"http-{self.name}", daemon=True)
        self._thread.start()
        log.info("http source '%s' listening on %s:%d%s", self.name, *self.address, " (TLS)" if self.settings.get("ssl") else "")

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._server = None
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    # -- one request -------------------------------------------------------------------

    def serve(self, conn: _Connection) -> bool:
        """Read one request from ``conn``, answer it; True to read the next one (keep-alive)."""
        send = conn.wfile.write
        try:
            head = read_head(conn.rfile)
            if head is None:
                return False
            if head.method not in ("POST", "GET", "PUT"):
                raise BadHttp(501, f"Unsupported method ({head.method!r})")
            size = body_size(head)
            if size is not None and size > self.max_body:
                raise TooLarge()
            if expects_continue(head):
                send(CONTINUE)
            body = read_body(conn.rfile, head, size, self.max_body)
        except BadHttp as exc:
            send(answer(exc.status, str(exc), close=True))
            return False
        except TooLarge:
            self._too_large(conn)
            return False
        status, message = self._handle(conn, head, body)
        keep = head.keep_alive and (status < 400 or status == 503)
        send(answer(status, message, close=not keep, keep_alive_header=keep and head.version == "HTTP/1.0"))
        return keep

    def _too_large(self, conn: _Connection) -> None:
        self.counter.event_read_fail += 1
        self.counter.error("body_too_large", "receiving")
        self._warn.warn(
            "too_large", "http source '%s': refused a body from %s larger than maxBodyBytes (%d) with 413 "
            "(raise maxBodyBytes or send smaller batches)", self.name, conn.client_address[0], self.max_body,
        )  # fmt: skip
        conn.wfile.write(answer(413, f"Request body larger than {self.max_body} bytes (maxBodyBytes); send smaller batches", close=True))

    def _handle(self, conn: _Connection, head: Head, body: bytes) -> tuple[int, str]:
        """The handler's events put in the channels: the status and message to answer."""
        target = head.target
        if "?" in target or "#" in target or not target.startswith("/"):
            url = urlsplit(target)
            path = url.path
            params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()} if url.query else {}
        else:
            path, params = target, {}
        headers = head.headers
        charset = None
        content_type = headers.get("content-type", "")
        if ";" in content_type:
            for part in content_type.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                if key.lower() == "charset":
                    charset = value.strip().strip('"')
        request = HttpRequest(head.method, path, params, headers, body, charset)
        assert self._handler is not None
        try:
            events = self._handler.get_events(request)
        except BadRequest as exc:
            self.counter.event_read_fail += 1
            self.counter.error("bad_request", "receiving")
            self._warn.warn("bad", "http source '%s': answered 400 to %s: %s", self.name, conn.client_address[0], exc)
            return 400, f"Bad request from client. {exc}"
        except Exception as exc:
            self.counter.event_read_fail += 1
            log.exception("http source '%s': handler %s failed", self.name, self.handler_name)
            return 500, f"Deserializer threw unexpected exception. {exc}"
        if events:
            assert self._delivery is not None
            try:
                self._delivery.put(events)
            except ChannelError as exc:
                self._warn.warn(
                    "channel", "http source '%s': answered 503, the channels refused the events (%s); the client "
                    "should retry (raise the channel's capacity or make the sinks faster)", self.name, exc,
                )  # fmt: skip
                return 503, f"Error appending event to channel. Channel might be full. {exc}"
            except Exception as exc:
                self.counter.generic_processing_fail += 1
                log.exception("http source '%s': unexpected error putting events", self.name)
                return 500, f"Unexpected error while appending event to channel. {exc}"
        return 200, ""


COMPONENTS = [HttpSource]
