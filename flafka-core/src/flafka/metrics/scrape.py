"""Reading a running agent's metrics endpoint (Flume's JSON at ``/metrics``) and turning
two reads into per-component rows: rates, channel fill, events in flight, errors, dead
letters, sink backoff. Used by ``flafka top``; works against Apache Flume's own endpoint
too (flafka's additions then show as unknown).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from flafka.metrics.counters import FLOWS
from flafka.metrics.http import DEFAULT_PORT

Document = dict[str, dict[str, str]]

ENABLE_HINT = (
    f"start the agent with -Dflume.monitoring.type=http -Dflume.monitoring.port=PORT (default {DEFAULT_PORT}) "
    "and pass --url http://127.0.0.1:PORT"
)


class MetricsUnavailable(Exception):
    """The endpoint cannot be read; the message says why and how to enable it."""


def metrics_url(url: str) -> str:
    """``host:port``, ``http://host:port`` or a full ``.../metrics`` URL as the JSON URL."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MetricsUnavailable(f"--url {url!r} is not an http URL; give e.g. http://127.0.0.1:{DEFAULT_PORT}")
    path = parts.path.rstrip("/")
    if path in ("", "/"):
        path = "/metrics"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def fetch(url: str, timeout: float = 2.0) -> Document:
    """Read Flume's JSON document from ``url``; raise :class:`MetricsUnavailable`."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise MetricsUnavailable(f"{url} answered HTTP {exc.code}; point --url at the agent's /metrics") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MetricsUnavailable(f"cannot read metrics from {url}: {reason}; is the agent running? {ENABLE_HINT}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise MetricsUnavailable(f"{url} did not answer Flume's JSON metrics; point --url at the agent's /metrics") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise MetricsUnavailable(f'{url} did not answer Flume\'s JSON metrics ({{"SOURCE.r1": {{...}}}}); point --url at /metrics')
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in doc.items()}


@dataclass(frozen=True)
class Reading:
    """One read of the endpoint and when it was taken (monotonic seconds)."""

    doc: Document
    at: float


def read(url: str, timeout: float = 2.0) -> Reading:
    return Reading(fetch(url, timeout), time.monotonic())


def _num(values: dict[str, str], key: str) -> float | None:
    raw = values.get(key)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


@dataclass
class Row:
    """One component's line. ``None`` means the endpoint does not export the value."""

    kind: str
    name: str
    type: str
    in_rate: float | None = None
    out_rate: float | None = None
    size: float | None = None
    capacity: float | None = None
    bytes: float | None = None
    byte_capacity: float | None = None
    in_flight: float | None = None
    in_flight_unit: str = "events"
    errors: float | None = None
    dead_letters: float | None = None
    retries: float | None = None
    backoff: float | None = None
    alive: bool = True

    @property
    def fill(self) -> float | None:
        """Percent of the channel's capacity in use."""
        if self.size is None or not self.capacity:
            return None
        return self.size * 100.0 / self.capacity

    @property
    def state(self) -> str:
        if not self.alive:
            return "DEAD"
        if self.backoff:
            return f"backoff ({int(self.backoff)} failures)"
        return "ok" if self.kind == "sink" else ""

    @property
    def pile(self) -> tuple[int, float, float]:
        """Sort key, largest first: stuck sinks, then events held (channel size, source
        events awaiting delivery), then fill."""
        stuck = 1 if (not self.alive or self.backoff) else 0
        held = self.size if self.kind == "channel" else (self.in_flight if self.in_flight_unit == "events" else 0)
        return (stuck, held or 0.0, self.fill or 0.0)


def _rate(prev: dict[str, str] | None, cur: dict[str, str], key: str, elapsed: float) -> float | None:
    now = _num(cur, key)
    if now is None or prev is None or elapsed <= 0:
        return None
    before = _num(prev, key) or 0.0
    delta = now - before if now >= before else now  # a counter that restarted (reload) counts from 0
    return delta / elapsed


_ERROR_KEYS = ("EventReadFail", "ChannelWriteFail", "GenericProcessingFail", "ChannelReadFail", "EventWriteFail", "ConnectionFailedCount")


def rows(prev: Reading | None, cur: Reading) -> list[Row]:
    """Rows of every source, channel and sink in ``cur``, rates against ``prev`` (None:
    rates unknown), sorted by where events pile up (see :attr:`Row.pile`)."""
    out: list[Row] = []
    elapsed = cur.at - prev.at if prev else 0.0
    for key, values in cur.doc.items():
        group, _, name = key.partition(".")
        if group not in FLOWS:
            continue
        before = prev.doc.get(key) if prev else None
        received, sent = FLOWS[group]
        row = Row(group.lower(), name, values.get("ComponentType", ""))
        row.in_rate = _rate(before, values, received, elapsed)
        row.out_rate = _rate(before, values, sent, elapsed)
        if group == "CHANNEL":
            row.size = _num(values, "ChannelSize")
            row.capacity = _num(values, "ChannelCapacity")
            row.bytes = _num(values, "ChannelBytes")
            row.byte_capacity = _num(values, "ChannelByteCapacity")
        if group == "SOURCE":
            row.in_flight = _num(values, "InFlightEventCount")
        elif group == "SINK":
            row.in_flight = _num(values, "InFlightBatchCount")
            row.in_flight_unit = "batches"
            row.dead_letters = _num(values, "EventDiscardedCount")
            row.backoff = _num(values, "BackoffFailureCount")
            row.alive = _num(values, "RunnerAlive") != 0
        row.errors = _num(values, "ErrorCount")
        if row.errors is None:  # Apache Flume: sum its failure counters
            row.errors = sum(_num(values, k) or 0.0 for k in _ERROR_KEYS)
        row.retries = _num(values, "RetryCount")
        out.append(row)
    out.sort(key=lambda r: (tuple(-x for x in r.pile), r.kind, r.name))
    return out


def agent_line(doc: Document) -> tuple[str, float | None]:
    """The agent's name and uptime in seconds (None: not exported, e.g. Apache Flume)."""
    for key, values in doc.items():
        group, _, name = key.partition(".")
        if group == "AGENT":
            return name, _num(values, "UptimeSeconds")
    return "", None
