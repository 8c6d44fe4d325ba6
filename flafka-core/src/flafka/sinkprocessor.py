"""Sink processors (Flume's sink groups): ``default``, ``failover``, ``load_balance``.

A processor gets :class:`~flafka.runtime.SinkDriver` objects (sink + its channel) and
decides which one moves the next batch. ``driver.drive()`` takes a batch, writes it and
commits; it returns a Status and raises :class:`~flafka.runtime.SinkFailure` after
rolling back when the sink failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flafka.component import Component
from flafka.source import Status

if TYPE_CHECKING:
    from flafka.runtime import SinkDriver


class SinkProcessor(Component):
    kind = "sink_processor"

    def bind(self, drivers: list[SinkDriver]) -> None:
        """Receive the group's sinks in configured order. May raise ConfigError."""
        self.drivers = drivers

    def process(self) -> Status:
        """Move one batch through one sink. Raise SinkFailure when no sink could."""
        raise NotImplementedError
