"""Syslog framing and parsing exactly as Flume 1.11's ``SyslogUtils`` does it (the
``syslogtcp`` and ``syslogudp`` sources).

Framing (:class:`SyslogFramer`): a message starts at ``<``; up to 3 digits and ``>``
make the priority; anything else makes the message *invalid* and all of it is data. A
message ends at ``\\n`` (TCP) or at the end of the datagram (UDP), or when it reached
``eventSize`` bytes (*incomplete*; what follows starts a new message). A ``\\n`` between
messages is skipped.

Parsing (:func:`build_event`): headers ``Facility`` and ``Severity`` always (``0`` for an
invalid message); when the message matches RFC 5424 or RFC 3164 (Flume's two regular
expressions, Java semantics), ``priority``, ``version`` (when present), ``timestamp``
(epoch ms, parsed as Java's ``SimpleDateFormat`` does — see :func:`rfc5424_millis` and
:func:`rfc3164_millis`) and ``host``; the body is the message after the host, with the
fields named by ``keepFields`` put back in front. ``flume.syslog.status`` is ``Invalid``
or ``Incomplete``. A message that does not parse keeps all its bytes as the body:
nothing is dropped.
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flafka.event import Event

MIN_SIZE = 10
DEFAULT_SIZE = 2500
KEEP_ALL = "--all--"
STATUS = "flume.syslog.status"
_FIELDS = ("priority", "version", "timestamp", "hostname")

_DOT = "[^\n\r\x85\u2028\u2029]"  # Java's '.': any char but a line terminator
RFC5424 = re.compile(
    r"(?:<(\d{1,3})>)(?:(\d?)\s?)"
    r"(?:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)?)|-)\s"
    r"(?:([\w][\w\d\.@\-]*)|-)\s"
    rf"({_DOT}*)",
    re.ASCII,
)
RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)(?:(\d)?\s?)"
    r"([A-Z][a-z][a-z]\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2})\s"
    r"([\w][\w\d\.@-]*)"
    rf"\s({_DOT}*)",
    re.ASCII,
)
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}


def choose_fields_to_keep(value: str | None) -> frozenset[str] | None:
    """Flume's ``keepFields``: ``none``/``false`` -> None, ``all``/``true`` -> all,
    otherwise every field name the value contains (``priority version timestamp hostname``)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("false", "none"):
        return None
    if text in ("true", "all"):
        return frozenset({KEEP_ALL})
    return frozenset(f for f in _FIELDS if f in text)


# -- timestamps (java.text.SimpleDateFormat, lenient, in the agent's time zone) -------------


def _local_millis(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int = 0) -> int:
    """Wall time in the local zone -> epoch ms; out-of-range fields roll over (lenient).
    Years ``mktime`` cannot take (0, 9999+) are read as UTC."""
    y += (mo - 1) // 12
    mo = (mo - 1) % 12 + 1
    try:
        return int(time.mktime((y, mo, d, h, mi, s, 0, 0, -1))) * 1000 + ms
    except (OverflowError, ValueError):
        return _utc_millis(y, mo, d, h, mi, s) + ms


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year; m in 1..12)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _utc_millis(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    """UTC wall time -> epoch ms; out-of-range fields roll over (lenient)."""
    y, mo = y + (mo - 1) // 12, (mo - 1) % 12 + 1
    return ((_days_from_civil(y, mo, 1) + d - 1) * 86400 + h * 3600 + mi * 60 + s) * 1000


@functools.lru_cache(maxsize=4096)
def rfc5424_millis(stamp: str) -> int:
    """Flume's RFC 5424 timestamp: with a fraction the zone is ignored (``ss.S`` parses
    first and ignores the rest) and the digits are milliseconds as a number (``.5`` is
    5 ms); without a fraction a zone is honoured; no zone means local time."""
    v = stamp.replace("Z", "+0000")
    v = re.sub(r"([+-])(\d{2}):(\d{2})", r"\1\2\3", v)
    v = re.sub(r"(T\d{2}:\d{2}:\d{2}\.\d{3})(\d*)", r"\1", v)
    y, mo, d, h, mi, s = int(v[0:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), int(v[17:19])
    rest = v[19:]
    if rest.startswith("."):
        digits = re.match(r"\d*", rest[1:])
        return _local_millis(y, mo, d, h, mi, s, int(digits.group() if digits else "0"))
    if rest[:1] in ("+", "-"):
        sign = 1 if rest[0] == "+" else -1
        offset = sign * (int(rest[1:3]) * 60 + int(rest[3:5])) * 60_000
        return _utc_millis(y, mo, d, h, mi, s) - offset
    return _local_millis(y, mo, d, h, mi, s)


def _add_months(millis: int, months: int) -> int:
    """``Calendar.add(MONTH, n)`` in the local zone (day clamped to the month's length)."""
    t = time.localtime(millis // 1000)
    y, mo = t.tm_year + (t.tm_mon - 1 + months) // 12, (t.tm_mon - 1 + months) % 12 + 1
    d = min(t.tm_mday, calendar.monthrange(y, mo)[1])
    return _local_millis(y, mo, d, t.tm_hour, t.tm_min, t.tm_sec, millis % 1000)


def rfc3164_millis(stamp: str, now_ms: int) -> int | None:
    """Flume's RFC 3164 timestamp (``MMM d HH:mm:ss``): the current UTC year is added,
    then the date is moved a year back when more than a month ahead of now, a year
    forward when more than 11 months behind. None when the month name is unknown."""
    year = datetime.fromtimestamp(now_ms / 1000, UTC).year
    found = _rfc3164_candidates(stamp, year)
    if found is None:
        return None
    parsed, minus_month, plus_eleven, year_back, year_on = found
    if parsed > now_ms and minus_month > now_ms:
        return year_back
    if parsed < now_ms and plus_eleven < now_ms:
        return year_on
    return parsed


@functools.lru_cache(maxsize=4096)
def _rfc3164_candidates(stamp: str, year: int) -> tuple[int, int, int, int, int] | None:
    """The parsed date in ``year`` and the four dates the window compares or picks
    (cached: ``mktime`` costs microseconds)."""
    parts = stamp.replace("  ", " ").split(" ")
    month = _MONTHS.get(parts[0].lower())
    if month is None or len(parts) != 3:
        return None
    h, mi, s = (int(x) for x in parts[2].split(":"))
    parsed = _local_millis(year, month, int(parts[1]), h, mi, s)
    return parsed, _add_months(parsed, -1), _add_months(parsed, 11), _add_months(parsed, -12), _add_months(parsed, 12)


# -- framing -----------------------------------------------------------------------------


@dataclass
class RawMessage:
    """One framed message: its bytes, the priority digits, and Flume's two flags."""

    data: bytes
    prio: str
    bad: bool
    incomplete: bool


_START, _PRIO, _DATA = 0, 1, 2


class SyslogFramer:
    """Flume's ``extractEvent`` state machine; pure, no I/O. Holds at most ``max_size``
    bytes of an unfinished message."""

    def __init__(self, max_size: int = DEFAULT_SIZE) -> None:
        self.max_size = max(MIN_SIZE, max_size)
        self._reset()

    def _reset(self) -> None:
        self._mode = _START
        self._buf = bytearray()
        self._prio = ""
        self._bad = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message held."""
        return len(self._buf) if self._mode != _START else 0

    def _emit(self, incomplete: bool) -> RawMessage:
        msg = RawMessage(bytes(self._buf), self._prio, self._bad, incomplete)
        self._reset()
        return msg

    def feed(self, data: bytes, first_only: bool = False) -> list[RawMessage]:
        """Messages completed by ``data``. ``first_only`` stops after one message and
        ignores the rest of ``data`` (a UDP datagram, as Flume reads it)."""
        out: list[RawMessage] = []
        i, n = 0, len(data)
        buf = self._buf
        while i < n:
            mode = self._mode
            if mode == _DATA:
                end = min(n, i + self.max_size - len(buf))
                j = data.find(b"\n", i, end)
                if j >= 0:
                    buf += data[i:j]
                    i = j + 1
                    out.append(self._emit(False))
                else:
                    buf += data[i:end]
                    i = end
                    if len(buf) >= self.max_size:
                        out.append(self._emit(True))
                    else:
                        continue
                buf = self._buf
                if first_only:
                    return out
                continue
            b = data[i]
            i += 1
            if mode == _START:
                if b == 0x3C:  # '<'
                    buf.append(b)
                    self._mode = _PRIO
                elif b != 0x0A:
                    self._bad = True
                    buf.append(b)
                    self._mode = _DATA
            else:  # _PRIO
                buf.append(b)
                if b == 0x3E:  # '>'
                    if not self._prio:
                        self._bad = True
                    self._mode = _DATA
                else:
                    self._prio += chr(b)
                    if not (0x30 <= b <= 0x39) or len(self._prio) > 3:
                        self._bad = True
                        self._mode = _DATA
        return out

    def finish_datagram(self) -> RawMessage | None:
        """UDP: the message built from what the datagram held (None when it held only
        newlines, where Flume fails on an empty priority and drops it)."""
        if self._mode == _START and not self._buf:
            self._reset()
            return None
        return self._emit(False)


# -- events ------------------------------------------------------------------------------


def _keep(keep: frozenset[str] | None, body: str, prio: str | None, version: str | None, stamp: str | None, host: str | None) -> str:
    """``SyslogUtils.addFieldsToBody`` (Java prints a missing field as ``null``)."""
    if keep is None:
        return body
    if "hostname" in keep:
        body = f"{'null' if host is None else host} {body}"
    if "timestamp" in keep:
        body = f"{'null' if stamp is None else stamp} {body}"
    if "version" in keep and version:
        body = f"{version} {body}"
    if "priority" in keep:
        body = f"<{prio}>{body}"
    return body


class ParseState:
    """What Flume's ``SyslogUtils`` keeps from one message to the next: ``priority`` and
    ``version`` are set only when a message matches a format, and are never reset, so a
    message that matches neither (or is invalid) carries the previous message's values
    as headers. One state per TCP connection; one per ``syslogudp`` source."""

    __slots__ = ("priority", "version")

    def __init__(self) -> None:
        self.priority: str | None = None
        self.version: str | None = None


def build_event(msg: RawMessage, keep: frozenset[str] | None, now_ms: int | None = None, state: ParseState | None = None) -> Event:
    """Flume's ``buildEvent``. Raises ValueError for a message with an empty priority
    that is not marked invalid (Flume's NumberFormatException; only a UDP datagram of
    newlines can make one, and :meth:`SyslogFramer.finish_datagram` filters it)."""
    if state is None:
        state = ParseState()
    headers: dict[str, str] = {}
    body_text: str | None = None
    if msg.bad:
        headers["Facility"] = "0"
        headers["Severity"] = "0"
    else:
        pri = int(msg.prio)
        headers["Facility"] = str(pri // 8)
        headers["Severity"] = str(pri % 8)
        text = msg.data.decode("utf-8", "replace")
        for pattern, is_5424 in ((RFC5424, True), (RFC3164, False)):
            m = pattern.fullmatch(text)
            if m is None:
                continue
            prio, version, stamp, host, rest = m.groups()
            state.priority, state.version = prio, version
            if stamp is not None:
                if is_5424:
                    millis: int | None = rfc5424_millis(stamp)
                else:
                    millis = rfc3164_millis(stamp, int(time.time() * 1000) if now_ms is None else now_ms)
                if millis is not None:
                    headers["timestamp"] = str(millis)
            if host:
                headers["host"] = host
            body_text = _keep(keep, rest, prio, version, stamp, host)
            break
    if state.priority:
        headers["priority"] = state.priority
    if state.version:
        headers["version"] = state.version
    if msg.bad:
        headers[STATUS] = "Invalid"
    elif msg.incomplete:
        headers[STATUS] = "Incomplete"
    keep_all = keep is not None and KEEP_ALL in keep
    return Event(msg.data if keep_all or not body_text else body_text.encode("utf-8"), headers)
