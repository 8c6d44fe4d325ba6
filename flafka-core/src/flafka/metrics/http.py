"""Metrics over HTTP (``-Dflume.monitoring.type=http``): Flume-compatible JSON and the
Prometheus text format.

- ``GET /metrics``: Flume's JSON, ``{"SOURCE.r1": {...}, "CHANNEL.c1": {...}, ...}``, every
  value a string and ``"Type"`` included, as Flume's ``HTTPMetricsServer`` serves it. A
  request whose ``Accept`` header asks for the Prometheus text format
  (``text/plain;version=0.0.4`` or OpenMetrics, as a Prometheus server does) gets that.
- ``GET /metrics/prometheus``: Prometheus text format 0.0.4 with the field's standard names
  (``component_received_events_total``, ``component_sent_events_total``,
  ``component_errors_total{error_type,stage}``, ``component_discarded_events_total``,
  ``component_retries_total``, ``channel_size_events``, ``channel_capacity_events``), labels
  ``component_id``, ``component_kind``, ``component_type``; and flafka's gauges
  (``channel_fill_ratio``, ``channel_size_bytes``, ``component_in_flight_events``,
  ``sink_backoff_failures``, ``agent_uptime_seconds``... see docs/observability.md).
- ``GET /``: a small HTML page; other paths 404; TRACE and OPTIONS 403 (as Flume).

The server binds 127.0.0.1 by default (Flume binds every interface; override with
``-Dflume.monitoring.host=0.0.0.0``). It reads counters on request only: nothing on the
data path.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flafka.metrics.counters import FLOWS, FLUME_ERRORS, Counter

log = logging.getLogger(__name__)

DEFAULT_PORT = 41414
DEFAULT_HOST = "127.0.0.1"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

CounterSource = Callable[[], Iterable[Counter]]

# -- Flume JSON ---------------------------------------------------------------------------


def java_double(value: float) -> str:
    """``Double.toString`` of Java: ``50.0``, ``0.0``, ``1.0E7``, ``1.7976931348623157E308``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "e" not in text else _scientific(value)
    return _scientific(value)


def _scientific(value: float) -> str:
    sign, digits, exponent = Decimal(repr(float(value))).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp = exponent + len(digits) - 1
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{exp}"


def _flume_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def flume_json(counters: Iterable[Counter]) -> dict[str, dict[str, str]]:
    """Flume's ``/metrics`` document: ``<GROUP>.<name>`` -> attribute -> string value."""
    out: dict[str, dict[str, str]] = {}
    for counter in counters:
        values = {key: _flume_value(value) for key, value in counter.snapshot().items()}
        values["Type"] = counter.group
        if counter.component_type:
            values["ComponentType"] = counter.component_type
        out[f"{counter.group}.{counter.name}"] = dict(sorted(values.items()))
    return out


# -- Prometheus text format ---------------------------------------------------------------

_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("component_received_events_total", "counter", "Events the component received (source: read; channel: put; sink: taken)."),
    ("component_sent_events_total", "counter", "Events passed on (source: put into channels; channel: taken; sink: delivered)."),
    ("component_errors_total", "counter", "Errors by type and stage (retries are counted apart)."),
    ("component_discarded_events_total", "counter", "Events the component dropped on purpose (filters, dead letter)."),
    ("component_retries_total", "counter", "Retries after retriable failures."),
    ("channel_size_events", "gauge", "Events in the channel now."),
    ("channel_capacity_events", "gauge", "Capacity of the channel in events."),
    ("channel_fill_ratio", "gauge", "Events in the channel over its capacity (0 to 1)."),
    ("channel_size_bytes", "gauge", "Body bytes in the channel (channels that count bytes: memory with byteCapacity)."),
    ("channel_capacity_bytes", "gauge", "Usable byte capacity of the channel (byteCapacity less its buffer percentage)."),
    ("component_in_flight_events", "gauge", "Event copies a source put into channels that sinks have not delivered yet."),
    ("component_in_flight_batches", "gauge", "Batches awaiting acknowledgement (source: not all delivered; sink: sent, not committed)."),
    ("sink_backoff_failures", "gauge", "Consecutive failed attempts of the sink's runner; 0 while it delivers."),
    ("sink_runner_up", "gauge", "1 while the sink's runner thread is alive, 0 once it died."),
    ("component_start_time_seconds", "gauge", "When the component last started, Unix time."),
    ("agent_start_time_seconds", "gauge", "When the agent started, Unix time."),
    ("agent_uptime_seconds", "gauge", "Seconds since the agent started."),
)

PROBE_FAMILIES: dict[str, str] = {
    # snapshot attribute (bound by flafka.metrics.live): Prometheus family
    "InFlightEventCount": "component_in_flight_events",
    "InFlightBatchCount": "component_in_flight_batches",
    "BackoffFailureCount": "sink_backoff_failures",
    "RunnerAlive": "sink_runner_up",
}


def escape_label(value: str) -> str:
    """A label value as the text format needs it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    f = float(value)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


def prometheus_text(counters: Iterable[Counter]) -> str:
    """Prometheus text exposition format 0.0.4 of ``counters``."""
    samples: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for counter in counters:
        snap = counter.snapshot()
        if counter.group == "AGENT":
            agent_label = _labels((("agent", counter.name),))
            samples["agent_start_time_seconds"].append(f"agent_start_time_seconds{agent_label} {_number(snap['StartTime'] / 1000.0)}")
            samples["agent_uptime_seconds"].append(f"agent_uptime_seconds{agent_label} {_number(snap['UptimeSeconds'])}")
            continue
        base = (
            ("component_id", counter.name),
            ("component_kind", counter.group.lower()),
            ("component_type", counter.component_type),
        )
        label = _labels(base)
        flow = FLOWS.get(counter.group)
        if flow is not None:
            samples["component_received_events_total"].append(f"component_received_events_total{label} {_number(snap.get(flow[0], 0))}")
            samples["component_sent_events_total"].append(f"component_sent_events_total{label} {_number(snap.get(flow[1], 0))}")
        errors: dict[tuple[str, str], float] = {}
        for attr, key in FLUME_ERRORS.items():
            if attr in snap:
                errors[key] = errors.get(key, 0) + snap[attr]
        for key, count in getattr(counter, "errors", {}).items():
            errors[key] = errors.get(key, 0) + count
        for (error_type, stage), count in sorted(errors.items()):
            samples["component_errors_total"].append(
                f"component_errors_total{_labels((*base, ('error_type', error_type), ('stage', stage)))} {_number(count)}"
            )
        samples["component_discarded_events_total"].append(f"component_discarded_events_total{label} {_number(counter.discarded)}")
        samples["component_retries_total"].append(f"component_retries_total{label} {_number(counter.retries)}")
        if counter.group == "CHANNEL":
            samples["channel_size_events"].append(f"channel_size_events{label} {_number(snap.get('ChannelSize', 0))}")
            samples["channel_capacity_events"].append(f"channel_capacity_events{label} {_number(snap.get('ChannelCapacity', 0))}")
            capacity = snap.get("ChannelCapacity", 0)
            ratio = snap.get("ChannelSize", 0) / capacity if capacity else 0.0
            samples["channel_fill_ratio"].append(f"channel_fill_ratio{label} {_number(float(ratio))}")
            if "ChannelBytes" in snap:
                samples["channel_size_bytes"].append(f"channel_size_bytes{label} {_number(snap['ChannelBytes'])}")
                samples["channel_capacity_bytes"].append(f"channel_capacity_bytes{label} {_number(snap['ChannelByteCapacity'])}")
        for attr, family in PROBE_FAMILIES.items():
            if attr in snap:
                samples[family].append(f"{family}{label} {_number(snap[attr])}")
        if counter.start_time:
            samples["component_start_time_seconds"].append(f"component_start_time_seconds{label} {_number(counter.start_time / 1000.0)}")
    lines: list[str] = []
    for name, kind, help_text in _FAMILIES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(samples[name])
    return "\n".join(lines) + "\n"


def wants_prometheus(accept: str) -> bool:
    """True when an ``Accept`` header asks for the Prometheus text format explicitly (a
    Prometheus server's scrape does; browsers and curl's ``*/*`` do not)."""
    low = accept.lower().replace(" ", "")
    return "openmetrics-text" in low or ("text/plain" in low and "version=0.0.4" in low)


# -- the server ---------------------------------------------------------------------------

_INDEX = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flafka agent</title></head>
<body><h1>flafka agent</h1>
<ul><li><a href="/metrics">/metrics</a> (Flume JSON)</li>
<li><a href="/metrics/prometheus">/metrics/prometheus</a> (Prometheus text format)</li></ul>
</body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "flafka"
    sys_version = ""

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics" and not wants_prometheus(self.headers.get("Accept", "")):
                body = json.dumps(flume_json(self.server.counters())).encode()
                self._send(200, "application/json; charset=utf-8", body)
            elif path in ("/metrics", "/metrics/prometheus"):
                self._send(200, PROMETHEUS_CONTENT_TYPE, prometheus_text(self.server.counters()).encode())
            elif path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", _INDEX.encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found; see /metrics or /metrics/prometheus\n")
        except Exception:
            log.exception("metrics request %s failed", path)
            self._send(500, "text/plain; charset=utf-8", b"internal error\n")

    do_HEAD = do_GET

    def do_TRACE(self) -> None:
        self._send(403, "text/plain; charset=utf-8", b"forbidden\n")

    do_OPTIONS = do_TRACE

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics %s - " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], counters: CounterSource) -> None:
        self.counters = counters
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class MetricsServer:
    """Serves ``counters()`` over HTTP from a daemon thread. :meth:`start` binds (raises
    OSError when the port is taken); :meth:`stop` is idempotent."""

    def __init__(self, counters: CounterSource, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        self.counters = counters
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = _Server((self.host, self.port), self.counters)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="flafka-metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
