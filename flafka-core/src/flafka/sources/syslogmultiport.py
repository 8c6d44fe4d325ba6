"""The ``multiport_syslogtcp`` source (Flume's ``MultiportSyslogTCPSource``): syslog over
TCP on several ports, parsed by Flume's *other* syslog parser (``SyslogParser``), whose
headers differ from ``syslogtcp``'s: ``Priority`` and ``Version`` (capitalised),
``Facility``, ``Severity``, ``timestamp`` (RFC 3164 dates in UTC) and ``host``; a
message that does not parse is kept whole with only ``flume.syslog.status = Invalid``.

Lines end at ``\\n``; a line of ``eventSize`` bytes or more (newline included) is cut
there and the part is marked ``Incomplete`` (when it parses). Each port may have its own
charset (``charset.port.<port>``, else ``charset.default``); a line invalid in it is
kept as received with ``Invalid``.

Differences from Flume (each where Flume loses or garbles data): Flume drops the rest of
a read (and its batch) when a line is empty, ends inside an RFC 5424 timestamp, or has
an impossible date; flafka makes each such line an ``Invalid`` event (empty lines are
skipped and counted). Flume gives RFC 3164 dates more than a month old the year 2001
(Joda's default year 2000, plus one); flafka applies ``syslogtcp``'s window (a month
ahead, eleven months behind) in UTC. A nil RFC 5424 timestamp (``-``) is the time of
arrival in both. Refused batches are held, not dropped. ``numProcessors`` and
``readBufferBytes`` are accepted; flafka uses one thread per connection and 64 KiB reads.
"""

from __future__ import annotations

import calendar
import codecs
import logging
import re
import socket
import threading
import time
from datetime import UTC, datetime

from flafka.event import Event
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.netbase import Delivery, TcpConnections, Throttled
from flafka.sources.netcat import listen_tcp
from flafka.sources.syslog import TLS, _java_ip, _Resolver
from flafka.sources.syslogparse import DEFAULT_SIZE, KEEP_ALL, STATUS, _keep, choose_fields_to_keep

log = logging.getLogger(__name__)

_RECV = 65536
_INT = re.compile(r"[+-]?\d+")
_PREFIX = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", re.ASCII)
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_3164 = re.compile(r"([A-Za-z]{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)


class BadMessage(ValueError):
    """The message does not parse: it becomes an ``Invalid`` event."""


def _utc(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    """Joda's strict UTC fields -> epoch ms (BadMessage on an impossible date)."""
    try:
        return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * 1000
    except ValueError as exc:
        raise BadMessage(f"impossible date: {exc}") from exc


def _add_months_utc(millis: int, months: int) -> int:
    t = time.gmtime(millis // 1000)
    y, mo = t.tm_year + (t.tm_mon - 1 + months) // 12, (t.tm_mon - 1 + months) % 12 + 1
    d = min(t.tm_mday, calendar.monthrange(y, mo)[1])
    return _utc(y, mo, d, t.tm_hour, t.tm_min, t.tm_sec) + millis % 1000


def rfc3164_utc(stamp: str, now_ms: int) -> int:
    """``MMM d HH:mm:ss`` in UTC, this year, moved a year back when more than a month
    ahead and a year forward when more than eleven months behind; 0 when it does not
    parse (Flume's value)."""
    m = _3164.fullmatch(stamp.replace("  ", " ", 1))
    month = _MONTHS.get(m.group(1).lower()) if m else None
    if m is None or month is None:
        return 0
    year = time.gmtime(now_ms // 1000).tm_year
    try:
        parsed = _utc(year, month, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))
    except BadMessage:
        return 0
    if parsed > now_ms and _add_months_utc(parsed, -1) > now_ms:
        parsed = _add_months_utc(parsed, -12)
    elif parsed < now_ms and _add_months_utc(parsed, 11) < now_ms:
        parsed = _add_months_utc(parsed, 12)
    return parsed


def rfc5424_utc(stamp: str) -> int:
    """Flume's ``parseRfc5424Date``: the first 19 characters in UTC, a fraction scaled to
    milliseconds, then ``Z``, ``+hh:mm``/``-hh:mm`` (anything else: no offset)."""
    if len(stamp) <= 19:
        raise BadMessage(f"not a valid RFC 5424 timestamp: {stamp}")
    m = _PREFIX.fullmatch(stamp[:19])
    if m is None:
        raise BadMessage(f"not a valid RFC 5424 timestamp: {stamp}")
    ts = _utc(*(int(g) for g in m.groups()))
    pos = 19
    if stamp[pos] == ".":
        end = pos + 1
        while end < len(stamp) and "0" <= stamp[end] <= "9":
            end += 1
        digits = end - pos - 1
        if digits == 0 or end >= len(stamp):
            raise BadMessage(f"invalid fractional seconds or no time zone: {stamp}")
        ms = int(stamp[pos + 1 : end])
        ts += ms // 10 ** (digits - 3) if digits > 3 else ms * 10 ** (3 - digits)
        pos = end
    first = stamp[pos]
    if first in "+-":
        tz = stamp[pos + 1 : pos + 6]
        if len(stamp) <= pos + 5 or not re.fullmatch(r"\d\d:\d\d", tz, re.ASCII):
            raise BadMessage(f"invalid time zone: {stamp}")
        sign = 1 if first == "+" else -1
        ts -= sign * (int(tz[:2]) * 60 + int(tz[3:])) * 60_000
    return ts


def _trunc_divmod(pri: int) -> tuple[int, int]:
    """Java's ``/`` and ``%`` (towards zero)."""
    q = abs(pri) // 8 * (1 if pri >= 0 else -1)
    return q, pri - q * 8


def parse_message(msg: str, keep: frozenset[str] | None, now_ms: int) -> tuple[dict[str, str], str]:
    """Flume's ``SyslogParser.parseMessage``: (headers, body text). Raises BadMessage."""
    n = len(msg)
    if not msg or msg[0] != "<":
        raise BadMessage("cannot find open bracket '<'")
    end = msg.find(">")
    if not 0 < end <= 6:
        raise BadMessage("cannot find end bracket '>'")
    priority = msg[1:end]
    if not _INT.fullmatch(priority):
        raise BadMessage(f"invalid priority '{priority}'")
    facility, severity = _trunc_divmod(int(priority))
    headers = {"Priority": priority, "Facility": str(facility), "Severity": str(severity)}
    if n <= end + 1:
        raise BadMessage("no data except priority")
    pos = end + 1
    version: str | None = None
    if n > pos + 2 and msg[pos : pos + 2] == "1 ":
        version = "1"
        headers["Version"] = version
        pos += 2
    first = msg[pos]
    if first == "-":
        stamp = "-"
        ts = now_ms
        if n <= pos + 2:
            raise BadMessage("missing hostname")
        pos += 2
    elif "A" <= first <= "Z":
        if n <= pos + 15:
            raise BadMessage("bad timestamp format")
        stamp = msg[pos : pos + 15]
        ts = rfc3164_utc(stamp, now_ms)
        pos += 16
    else:
        space = msg.find(" ", pos)
        if space < 0:
            raise BadMessage("bad timestamp format")
        stamp = msg[pos:space]
        ts = rfc5424_utc(stamp)
        pos = space + 1
    headers["timestamp"] = str(ts)
    space = msg.find(" ", pos)
    if space < 0:
        raise BadMessage("missing hostname")
    host = msg[pos:space]
    headers["host"] = host
    if n > space + 1 and not (keep is not None and KEEP_ALL in keep):
        body = _keep(keep, msg[space + 1 :], priority, version, stamp, host)
    else:
        body = msg
    return headers, body


def split_lines(saved: bytearray, data: bytes, max_len: int) -> list[tuple[bytes, bool]]:
    """Flume's ``LineSplitter``: (line, incomplete) pairs; ``saved`` holds the unfinished
    line between calls (at most ``max_len - 1`` bytes)."""
    out: list[tuple[bytes, bool]] = []
    i, n = 0, len(data)
    while i < n:
        room = max_len - len(saved)
        j = data.find(b"\n", i, i + room)
        if j >= 0:
            saved += data[i:j]
            out.append((bytes(saved), False))
            saved.clear()
            i = j + 1
        elif n - i >= room:
            saved += data[i : i + room]
            out.append((bytes(saved), True))
            saved.clear()
            i += room
        else:
            saved += data[i:]
            break
    return out


class MultiportSyslogTcpSource(EventDrivenSource):
    """Syslog over TCP on several ports (Flume's SyslogParser headers)."""

    type_name = "multiport_syslogtcp"
    aliases = ("org.apache.flume.source.MultiportSyslogTCPSource",)
    summary = "Syslog messages over TCP on several ports (Flume's multiport parser)"
    settings_schema = (
        Schema(
            Setting("ports", "list", REQUIRED, "space-separated TCP ports"),
            Setting("host", "str", None, "host name or address to listen on (default: every address)"),
            Setting("eventSize", "int", DEFAULT_SIZE, "most bytes of one line, newline included", minimum=1),
            Setting("keepFields", "str", "none", "none, all, or any of: priority version timestamp hostname"),
            Setting("portHeader", "str", None, "header that receives the port the message arrived on"),
            Setting("clientIPHeader", "str", None, "header that receives the sender's IP address", since="1.9"),
            Setting("clientHostnameHeader", "str", None, "header that receives the sender's host name", since="1.9"),
            Setting("charset.default", "charset", "UTF-8", "charset of the messages"),
            Setting("charset.port.*", "map", None, "charset of the messages on one port: charset.port.<port> = <charset>"),
            Setting("batchSize", "int", 100, "most events handed to the channels at once", minimum=1),
            Setting("readBufferBytes", "int", 1024, "accepted for Flume configs; flafka reads 64 KiB at a time", minimum=1),
            Setting("readBufferSize", "int", None, "the spelling Flume's guide uses for readBufferBytes (accepted, unused)"),
            Setting("numProcessors", "int", None, "accepted for Flume configs; flafka uses one thread per connection"),
        )
        + TLS
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = []
        for word in settings["ports"] or []:
            if not (word.isascii() and word.isdigit()) or not 0 <= int(word) <= 65535:  # '²' is a digit to isdigit
                problems.append(Problem("ports", f"'{word}' is not a port number", "list ports as numbers separated by spaces"))
        for port, charset in (settings.get("charset.port.*") or {}).items():
            if not (port.isascii() and port.isdigit()):
                problems.append(Problem(f"charset.port.{port}", f"'{port}' is not a port number", "use charset.port.<number>"))
            try:
                codecs.lookup(charset)
            except (LookupError, ValueError):  # ValueError: a NUL in the name
                problems.append(Problem(f"charset.port.{port}", f"'{charset}' is not a known character set", "try UTF-8"))
        if settings.get("ssl"):
            problems.append(
                Problem("ssl", "TLS for syslog is not supported by flafka yet", "terminate TLS in front of the agent and set ssl = false")
            )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.ports = [int(p) for p in settings["ports"]]
        self.host = settings["host"] or "0.0.0.0"
        self.event_size = int(settings["eventSize"])
        self.keep = choose_fields_to_keep(settings["keepFields"])
        self.port_header: str | None = settings["portHeader"] or None
        self.ip_header: str | None = settings["clientIPHeader"] or None
        self.hostname_header: str | None = settings["clientHostnameHeader"] or None
        self.default_charset = str(settings["charset.default"])
        self.charsets = {int(p): c for p, c in (settings.get("charset.port.*") or {}).items() if p.isascii() and p.isdigit()}
        self.batch = int(settings["batchSize"])
        self._stopping = threading.Event()
        self._warn = Throttled(log)
        self._tcp = TcpConnections(self, "multiport_syslogtcp", self._serve, self._stopping, self._warn, join=3.0)
        self._resolver = _Resolver()
        self._delivery: Delivery | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for s in self._tcp.servers]

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        servers: list[socket.socket] = []
        try:
            for port in self.ports:
                servers.append(listen_tcp(self.name, self.host, port))
        except OSError:
            for server in servers:
                server.close()
            raise
        self._tcp.start(servers, f"multiport-{self.name}", f"multiport-{self.name}-conn")
        log.info("multiport_syslogtcp source '%s' listening on %s", self.name, ", ".join(f"{h}:{p}" for h, p in self.addresses))

    def stop(self) -> None:
        self._tcp.stop()

    def _serve(self, conn: socket.socket, peer: tuple[str, int], port: int) -> None:
        charset = self.charsets.get(port, self.default_charset)
        extra: dict[str, str] = {}
        if self.port_header:
            extra[self.port_header] = str(port)
        if self.ip_header:
            extra[self.ip_header] = _java_ip(peer[0])
        if self.hostname_header:
            extra[self.hostname_header] = self._resolver.name(peer[0])
        saved = bytearray()
        try:
            while not self._stopping.is_set():
                data = conn.recv(_RECV)
                if not data:
                    if saved:
                        self.counter.error("unterminated_message", "receiving")
                    break
                lines = split_lines(saved, data, self.event_size)
                if lines and not self._put(self._events(lines, charset, extra)):
                    break
        except OSError:
            pass
        except Exception:
            self.counter.generic_processing_fail += 1
            log.exception("multiport_syslogtcp source '%s': unexpected error serving %s:%d", self.name, peer[0], peer[1])

    def _events(self, lines: list[tuple[bytes, bool]], charset: str, extra: dict[str, str]) -> list[Event]:
        now = int(time.time() * 1000)
        events: list[Event] = []
        invalid = empty = 0
        for raw, incomplete in lines:
            if not raw:
                empty += 1
                continue
            try:
                text = raw.decode(charset)
            except UnicodeDecodeError:
                invalid += 1
                headers = {STATUS: "Invalid"}
                body = raw
            else:
                try:
                    headers, body_text = parse_message(text, self.keep, now)
                    if incomplete:
                        headers[STATUS] = "Incomplete"
                except BadMessage:
                    invalid += 1
                    headers, body_text = {STATUS: "Invalid"}, text
                body = body_text.encode(charset)
            headers.update(extra)
            events.append(Event(body, headers))
        if invalid:
            self.counter.event_read_fail += invalid
            self.counter.error("invalid_syslog", "receiving", invalid)
            self._warn.warn(
                "invalid", "multiport_syslogtcp source '%s': %d messages did not parse; kept whole with "
                "flume.syslog.status=Invalid (check the sender's syslog format and charset)", self.name, invalid,
            )  # fmt: skip
        if empty:
            self.counter.error("empty_line", "receiving", empty)
        return events

    def _put(self, events: list[Event]) -> bool:
        assert self._delivery is not None
        delay = 0.05
        deadline: float | None = None
        for start in range(0, len(events), self.batch):
            chunk = events[start : start + self.batch]
            while True:
                try:
                    self._delivery.put(chunk)
                    break
                except Exception as exc:
                    chunk = chunk[int(getattr(exc, "committed", 0)) :]
                    self._warn.warn("channel", "multiport_syslogtcp source '%s': channels refused %d events (%s); retrying",
                                    self.name, len(chunk), exc)  # fmt: skip
                if self._stopping.is_set():
                    deadline = deadline or time.monotonic() + 2.0
                    if time.monotonic() > deadline:
                        self.counter.discarded += len(events) - start
                        log.warning("multiport_syslogtcp source '%s': stopping with %d refused events; they are lost",
                                    self.name, len(events) - start)  # fmt: skip
                        return False
                    time.sleep(delay)
                else:
                    self._stopping.wait(delay)
                delay = min(delay * 2, 0.5)
        return True


COMPONENTS = [MultiportSyslogTcpSource]
