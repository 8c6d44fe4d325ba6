"""Flume's escape sequences for ``hdfs.path`` and ``hdfs.filePrefix`` (``BucketPath``).

``%{header}`` is the header's value ('' when missing); ``%[localhost]``, ``%[IP]`` and
``%[FQDN]`` are this host's name, address and canonical name; ``%t`` is the timestamp in
epoch milliseconds as given; ``%a %A %b %B %c %d %e %D %H %I %j %k %l %m %n %M %p %s %S
%y %Y %z`` are date fields of the event's time (Java ``SimpleDateFormat`` output, English
names); ``%%`` is a percent sign. An unknown ``%x`` gives '' (as in Flume).

The time is the ``timestamp`` header (epoch ms) — or the local clock with
``hdfs.useLocalTimeStamp`` — rounded down when ``hdfs.round`` is set (every escape but
``%t``), and shown in ``hdfs.timeZone`` (local time when empty).

Header values go through :data:`flafka.header_paths.HDFS_RULE` (a ``/`` makes
subdirectories, empty and ``.`` segments are dropped, and a value with ``..``, ``#LATEST``,
``:``, a control character or a name over 255 bytes is refused with
:class:`~flafka.header_paths.UnsafeHeaderPath`), so no header leads a write out of the
configured directory.

Resolution (and a refusal) is cached per batch key (header values used + the time
truncated to the finest field the template shows), so a batch costs a dict lookup per event.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flafka.errors import ConfigError
from flafka.header_paths import HDFS_RULE, HeaderPathRule, UnsafeHeaderPath

TAG = re.compile(r"%(\w|%)|%\{([\w.-]+)\}|%\[(\w+)\]")
TIME_CHARS = set("aAbBcdeDHIjklmnMpsStyYz")
HOST_TAGS = ("localhost", "IP", "FQDN")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_UNIT_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}


class MissingTimestamp(Exception):
    """An event has no usable ``timestamp`` header and ``hdfs.useLocalTimeStamp`` is off."""


def time_zone(name: str) -> tzinfo | None:
    """``hdfs.timeZone`` as Java reads it: an IANA id (``America/Los_Angeles``), ``UTC``/``GMT``,
    or ``GMT+8``/``GMT-05:30``; '' means the local zone (returns None)."""
    text = name.strip()
    if not text:
        return None
    m = re.fullmatch(r"(?:GMT|UTC)([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"hdfs.timeZone = '{name}' is not a known time zone; use an id such as UTC, Europe/Berlin or GMT+8")


def _local_tz() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def _h12(h: int) -> int:
    return h % 12 or 12


def _offset(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


FIELDS: dict[str, Callable[[datetime], str]] = {
    "a": lambda d: _DAYS[d.weekday()][:3],
    "A": lambda d: _DAYS[d.weekday()],
    "b": lambda d: _MONTHS[d.month - 1][:3],
    "B": lambda d: _MONTHS[d.month - 1],
    "c": lambda d: f"{_DAYS[d.weekday()][:3]} {_MONTHS[d.month - 1][:3]} {d.day} {d.hour:02d}:{d.minute:02d}:{d.second:02d} {d.year}",
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: str(d.day),
    "D": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    "H": lambda d: f"{d.hour:02d}",
    "I": lambda d: f"{_h12(d.hour):02d}",
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "k": lambda d: str(d.hour),
    "l": lambda d: str(_h12(d.hour)),
    "m": lambda d: f"{d.month:02d}",
    "n": lambda d: str(d.month),
    "M": lambda d: f"{d.minute:02d}",
    "p": lambda d: "AM" if d.hour < 12 else "PM",
    "S": lambda d: f"{d.second:02d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "Y": lambda d: f"{d.year:04d}" if d.year < 10000 else str(d.year),
    "z": _offset,
}
"""Date fields (``s`` and ``t`` are computed from the epoch value directly)."""

_GRANULE = {"t": 1, "s": 1000, "S": 1000, "c": 1000, "M": 60_000}


@dataclass(frozen=True)
class Host:
    """This host's name, address and canonical name (``%[localhost]``, ``%[IP]``, ``%[FQDN]``)."""

    localhost: str
    ip: str
    fqdn: str

    @classmethod
    def lookup(cls) -> Host:
        """Ask the resolver (call at start, never while constructing a component)."""
        name = socket.gethostname()
        try:
            ip = socket.gethostbyname(name)
        except OSError:
            ip = "127.0.0.1"
        return cls(name, ip, socket.getfqdn(name))

    def get(self, tag: str) -> str:
        return {"localhost": self.localhost, "IP": self.ip, "FQDN": self.fqdn}[tag]


Part = tuple[str, str]
"""('lit', text) | ('hdr', name) | ('host', tag) | ('time', char)"""


def parse(template: str, key: str = "hdfs.path") -> list[Part]:
    """Split a template into parts. Raises ConfigError for an unknown ``%[tag]``."""
    parts: list[Part] = []
    pos = 0
    for m in TAG.finditer(template):
        if m.start() > pos:
            parts.append(("lit", template[pos : m.start()]))
        pos = m.end()
        if m.group(2) is not None:
            parts.append(("hdr", m.group(2)))
        elif m.group(3) is not None:
            tag = m.group(3)
            if tag not in HOST_TAGS:
                raise ConfigError(f"{key} = '{template}': %[{tag}] is not an escape; use %[localhost], %[IP] or %[FQDN]")
            parts.append(("host", tag))
        else:
            c = m.group(1)
            if c == "%":
                parts.append(("lit", "%"))
            elif len(c) == 1 and c in TIME_CHARS:
                parts.append(("time", c))
            else:
                parts.append(("lit", ""))  # Flume: an unknown %x gives ''
    if pos < len(template):
        parts.append(("lit", template[pos:]))
    return parts


def skeleton(template: str) -> str:
    """The template's own text with every escape replaced by a plain name (``x``), for
    checking what the configuration itself says (``..``, ``#LATEST``, ``:``)."""
    return TAG.sub(lambda m: "%" if m.group(1) == "%" else "x", template)


def unknown_escapes(template: str) -> list[str]:
    """``%x`` escapes Flume would silently replace with '' (for a warning)."""
    return [m.group(0) for m in TAG.finditer(template) if m.group(1) and m.group(1) != "%" and m.group(1) not in TIME_CHARS]


class PathTemplate:
    """Resolves one or more templates (``hdfs.path``, ``hdfs.filePrefix``) for events.

    ``resolve(headers, now_ms)`` returns the expanded strings, raising MissingTimestamp when
    a time escape needs a ``timestamp`` header that is absent or not a number, and
    UnsafeHeaderPath when header values break ``rule`` (``keys``: each template's setting,
    for the message; ``names``: which templates are file names, where ``/`` is refused).
    Templates that start with ``/`` come back without empty and ``.`` segments.
    """

    def __init__(
        self,
        templates: Sequence[str],
        tz: tzinfo | None = None,
        round_value: int = 0,
        round_unit: str = "second",
        use_local_timestamp: bool = False,
        host: Host | None = None,
        keys: Sequence[str] = (),
        names: Sequence[bool] = (),
        rule: HeaderPathRule = HDFS_RULE,
    ) -> None:
        self.templates = tuple(templates)
        self.keys = tuple(keys) or tuple(f"template {i + 1}" for i in range(len(self.templates)))
        self.names = tuple(names) or (False,) * len(self.templates)
        self.rule = rule
        self.parts = [parse(t) for t in templates]
        flat = [p for parts in self.parts for p in parts]
        self.headers = tuple(dict.fromkeys(name for kind, name in flat if kind == "hdr"))
        self.time_chars = {name for kind, name in flat if kind == "time"}
        self.needs_time = bool(self.time_chars)
        self.needs_host = any(kind == "host" for kind, _ in flat)
        self.tz = tz
        self.round_value = max(1, round_value) if round_value else 0
        self.round_unit = round_unit
        self.use_local_timestamp = use_local_timestamp
        self.host = host
        self.constant = not (self.headers or self.needs_time)
        self.per_batch = not self.headers and (not self.needs_time or use_local_timestamp)
        """Every event of a batch resolves alike (``resolve(None, now_ms)`` once per batch)."""
        self.granule = min((_GRANULE.get(c, 60_000) for c in self.time_chars), default=60_000)
        self._cache: dict[tuple[object, ...], tuple[str, ...] | UnsafeHeaderPath] = {}

    def _zone(self) -> tzinfo:
        return self.tz or _local_tz()

    def round_down(self, ts: int) -> int:
        """Flume's ``TimestampRoundDownUtil`` in ``hdfs.timeZone``: clear the fields below
        ``hdfs.roundUnit`` and round that field down to a multiple of ``hdfs.roundValue``."""
        if not self.round_value:
            return ts
        dt = datetime.fromtimestamp(ts / 1000, self._zone())
        n = self.round_value
        if self.round_unit == "second":
            dt = dt.replace(second=dt.second - dt.second % n, microsecond=0)
        elif self.round_unit == "minute":
            dt = dt.replace(minute=dt.minute - dt.minute % n, second=0, microsecond=0)
        else:
            dt = dt.replace(hour=dt.hour - dt.hour % n, minute=0, second=0, microsecond=0)
        return int(dt.timestamp() * 1000)

    def _expand(self, headers: dict[str, str], ts_text: str, ts: int) -> tuple[str, ...]:
        rounded = self.round_down(ts) if self.needs_time else ts
        dt = datetime.fromtimestamp(rounded / 1000, self._zone()) if self.needs_time else None
        out = []
        for parts, key, name in zip(self.parts, self.keys, self.names, strict=True):
            pieces = []
            used: list[tuple[str, str]] = []
            for kind, value in parts:
                if kind == "lit":
                    pieces.append(value)
                elif kind == "hdr":
                    text = headers.get(value, "")
                    used.append((value, text))
                    pieces.append(text)
                elif kind == "host":
                    host = self.host or Host.lookup()
                    self.host = host
                    pieces.append(host.get(value))
                elif value == "t":
                    pieces.append(ts_text)
                elif value == "s":
                    pieces.append(str(rounded // 1000))
                else:
                    assert dt is not None
                    pieces.append(FIELDS[value](dt))
            out.append(self.rule.check("".join(pieces), used, key, name))
        return tuple(out)

    def resolve(self, headers: dict[str, str] | None, now_ms: int) -> tuple[str, ...]:
        hdrs = headers or {}
        if self.constant:
            key: tuple[object, ...] = ()
            ts, ts_text = 0, ""
        else:
            if self.needs_time:
                if self.use_local_timestamp:
                    ts, ts_text = now_ms, str(now_ms)
                else:
                    raw = hdrs.get("timestamp")
                    if raw is None:
                        raise MissingTimestamp("no 'timestamp' header")
                    try:
                        ts = int(raw)
                    except ValueError:
                        raise MissingTimestamp(f"'timestamp' header '{raw}' is not epoch milliseconds")
                    ts_text = raw
            else:
                ts, ts_text = 0, ""
            key = (ts // self.granule if "t" not in self.time_chars else ts_text, *(hdrs.get(h) for h in self.headers))
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            try:
                found = self._expand(hdrs, ts_text, ts)
            except UnsafeHeaderPath as exc:
                found = exc
            self._cache[key] = found
        if isinstance(found, UnsafeHeaderPath):
            raise found.with_traceback(None)
        return found
