"""The file channel's counters: Flume's ``ChannelCounter`` plus its file-channel fields."""

from __future__ import annotations

from typing import ClassVar

from flafka.metrics.counters import ChannelCounter


class FileChannelCounter(ChannelCounter):
    """Flume's file-channel counters plus the events lost to damage and the log syncs."""

    fields: ClassVar[tuple[str, ...]] = (  # type: ignore[assignment]
        *ChannelCounter.fields,
        "event_put_error_count",
        "event_take_error_count",
        "checkpoint_write_error_count",
        "checkpoint_backup_write_error_count",
        "events_lost_count",
        "log_sync_count",
    )
    event_put_error_count: int
    event_take_error_count: int
    checkpoint_write_error_count: int
    checkpoint_backup_write_error_count: int
    events_lost_count: int
    log_sync_count: int

    def __init__(self, name: str, component_type: str = "") -> None:
        super().__init__(name, component_type)
        self.open = False
        self.unhealthy = False
        self.syncs = lambda: 0

    def snapshot(self) -> dict[str, int | float]:
        self.log_sync_count = self.syncs()
        out = super().snapshot()
        out["Open"] = int(self.open)
        out["Closed"] = int(not self.open)
        out["Unhealthy"] = int(self.unhealthy)
        return out
