"""Per-component counters with Apache Flume's names (``SourceCounter``, ``ChannelCounter``,
``SinkCounter``). The runtime increments them per batch; exporters read :meth:`snapshot`.

Counter attributes are plain ints written by one thread each (the component's runner), so
no lock is taken on the hot path; readers may see a value one batch old.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

FLOWS: dict[str, tuple[str, str]] = {  # here, not in metrics.http: the status line needs them, not the server
    # group: (received attribute, sent attribute)
    "SOURCE": ("EventReceivedCount", "EventAcceptedCount"),
    "CHANNEL": ("EventPutSuccessCount", "EventTakeSuccessCount"),
    "SINK": ("EventDrainAttemptCount", "EventDrainSuccessCount"),
}

FLUME_ERRORS: dict[str, tuple[str, str]] = {
    # Flume failure counter: (error_type, stage)
    "EventReadFail": ("read_failed", "receiving"),
    "ChannelWriteFail": ("channel_write_failed", "sending"),
    "GenericProcessingFail": ("processing_failed", "processing"),
    "ChannelReadFail": ("channel_read_failed", "receiving"),
    "EventWriteFail": ("write_failed", "sending"),
    "ConnectionFailedCount": ("connection_failed", "sending"),
    "EventPutErrorCount": ("put_failed", "receiving"),
    "EventTakeErrorCount": ("take_failed", "sending"),
    "CheckpointWriteErrorCount": ("checkpoint_write_failed", "processing"),
    "CheckpointBackupWriteErrorCount": ("checkpoint_backup_write_failed", "processing"),
}


class Counter:
    """Base: ``group`` is Flume's MBean type (SOURCE, CHANNEL, SINK, ...)."""

    group: ClassVar[str] = "OTHER"
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, component_type: str = "") -> None:
        self.name = name
        self.component_type = component_type
        self.start_time = 0
        self.stop_time = 0
        for f in self.fields:
            setattr(self, f, 0)
        self.retries = 0
        self.discarded = 0
        self.errors: dict[tuple[str, str], int] = {}
        """Typed errors beyond Flume's ``*Fail`` counters: (error_type, stage) -> count.
        Exported as ``component_errors_total{error_type,stage}``."""
        self.probes: dict[str, Callable[[], int | float]] = {}
        """Live values read from runtime objects when a snapshot is taken (never pushed
        from the data path): attribute name (``InFlightEventCount``...) -> reader. Bound
        by :mod:`flafka.metrics.live`."""

    def error(self, error_type: str, stage: str, count: int = 1) -> None:
        """Count ``count`` errors of ``error_type`` (e.g. ``timeout``) at ``stage``
        (``receiving``, ``processing``, ``sending``). Per batch, never per event."""
        key = (error_type, stage)
        self.errors[key] = self.errors.get(key, 0) + count

    def started(self) -> None:
        self.start_time = int(time.time() * 1000)
        self.stop_time = 0

    def stopped(self) -> None:
        self.stop_time = int(time.time() * 1000)

    def error_total(self) -> int | float:
        """Every error: Flume's ``*Fail`` counters plus the typed :attr:`errors`."""
        return sum(getattr(self, f) for f in self.fields if f in ERROR_FIELDS) + sum(self.errors.values())

    def snapshot(self) -> dict[str, int | float]:
        """Flume's attribute names and values (``EventReceivedCount``...), then flafka's
        additions: ``RetryCount``, ``EventDiscardedCount`` (filtered or dead-lettered),
        ``ErrorCount`` (every error, Flume's ``*Fail`` counters included) and the bound
        :attr:`probes`."""
        out: dict[str, int | float] = {_flume_name(f): getattr(self, f) for f in self.fields}
        out["StartTime"] = self.start_time
        out["StopTime"] = self.stop_time
        out["RetryCount"] = self.retries
        out["EventDiscardedCount"] = self.discarded
        out["ErrorCount"] = self.error_total()
        for key, read in list(self.probes.items()):
            out[key] = read()
        return out


ERROR_FIELDS = frozenset(
    {
        "event_read_fail",
        "channel_write_fail",
        "generic_processing_fail",
        "channel_read_fail",
        "event_write_fail",
        "connection_failed_count",
    }
)
"""Counter fields that count errors (``ErrorCount`` sums them with the typed errors)."""


def _flume_name(field: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in field.split("_"))


class SourceCounter(Counter):
    group = "SOURCE"
    fields = (
        "event_received_count",
        "event_accepted_count",
        "append_received_count",
        "append_accepted_count",
        "append_batch_received_count",
        "append_batch_accepted_count",
        "open_connection_count",
        "event_read_fail",
        "channel_write_fail",
        "generic_processing_fail",
    )
    event_received_count: int
    event_accepted_count: int
    append_batch_received_count: int
    append_batch_accepted_count: int
    event_read_fail: int
    channel_write_fail: int
    generic_processing_fail: int


class ChannelCounter(Counter):
    group = "CHANNEL"
    fields = (
        "event_put_attempt_count",
        "event_put_success_count",
        "event_take_attempt_count",
        "event_take_success_count",
    )
    event_put_attempt_count: int
    event_put_success_count: int
    event_take_attempt_count: int
    event_take_success_count: int

    def __init__(self, name: str, component_type: str = "") -> None:
        super().__init__(name, component_type)
        self.size = lambda: 0
        self.capacity = 0
        self.bytes_used: Callable[[], int | None] = lambda: None
        """Body bytes held, or None when the channel does not count bytes."""
        self.byte_capacity = 0

    def snapshot(self) -> dict[str, int | float]:
        """Adds ``ChannelSize``, ``ChannelCapacity``, ``ChannelFillPercentage`` (Flume's)
        and, when the channel counts bytes, ``ChannelBytes`` and ``ChannelByteCapacity``."""
        out = super().snapshot()
        size = self.size()
        out["ChannelSize"] = size
        out["ChannelCapacity"] = self.capacity
        out["ChannelFillPercentage"] = (size * 100.0 / self.capacity) if self.capacity else 1.7976931348623157e308
        used = self.bytes_used()
        if used is not None:
            out["ChannelBytes"] = used
            out["ChannelByteCapacity"] = self.byte_capacity
        return out


class SinkCounter(Counter):
    group = "SINK"
    fields = (
        "connection_created_count",
        "connection_closed_count",
        "connection_failed_count",
        "batch_empty_count",
        "batch_underflow_count",
        "batch_complete_count",
        "event_drain_attempt_count",
        "event_drain_success_count",
        "event_write_fail",
        "channel_read_fail",
    )
    connection_created_count: int
    connection_closed_count: int
    connection_failed_count: int
    batch_empty_count: int
    batch_underflow_count: int
    batch_complete_count: int
    event_drain_attempt_count: int
    event_drain_success_count: int
    event_write_fail: int
    channel_read_fail: int


class SinkProcessorCounter(Counter):
    group = "SINK_PROCESSOR"


class AgentCounter(Counter):
    """The agent itself (``AGENT.<name>`` in the JSON): ``StartTime`` is when it started
    and ``UptimeSeconds`` how long ago that was."""

    group = "AGENT"

    def __init__(self, name: str, component_type: str = "agent") -> None:
        super().__init__(name, component_type)
        self.started()
        self._monotonic_start = time.monotonic()

    def uptime(self) -> float:
        return time.monotonic() - self._monotonic_start

    def snapshot(self) -> dict[str, int | float]:
        return {"StartTime": self.start_time, "UptimeSeconds": round(self.uptime(), 3)}


class InterceptorCounter(Counter):
    """Events an interceptor dropped (``regex_filter``) are counted here."""

    group = "INTERCEPTOR"
    fields = ("event_dropped_count",)
    event_dropped_count: int
