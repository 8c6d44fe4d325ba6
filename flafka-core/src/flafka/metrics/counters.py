"""Per-component counters with Apache Flume's names (``SourceCounter``, ``ChannelCounter``,
``SinkCounter``). The runtime increments them per batch; exporters read :meth:`snapshot`.

Counter attributes are plain ints written by one thread each (the component's runner), so
no lock is taken on the hot path; readers may see a value one batch old.
"""

from __future__ import annotations

import time
from typing import ClassVar


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

    def snapshot(self) -> dict[str, int | float]:
        """Flume's attribute names and values (``EventReceivedCount``...)."""
        out: dict[str, int | float] = {_flume_name(f): getattr(self, f) for f in self.fields}
        out["StartTime"] = self.start_time
        out["StopTime"] = self.stop_time
        return out


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

    def snapshot(self) -> dict[str, int | float]:
        out = super().snapshot()
        size = self.size()
        out["ChannelSize"] = size
        out["ChannelCapacity"] = self.capacity
        out["ChannelFillPercentage"] = (size * 100.0 / self.capacity) if self.capacity else 1.7976931348623157e308
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


class InterceptorCounter(Counter):
    """Events an interceptor dropped (``regex_filter``) are counted here."""

    group = "INTERCEPTOR"
    fields = ("event_dropped_count",)
    event_dropped_count: int
