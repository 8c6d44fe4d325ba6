"""Channel selectors decide which channels receive each event of a batch."""

from __future__ import annotations

from flafka.batch import AnyBatch
from flafka.channel import Channel
from flafka.component import Component
from flafka.event import Event

Routing = list[tuple[Channel, AnyBatch]]


class ChannelSelector(Component):
    """``bind`` receives the source's channels (name -> channel, in configured order) and
    may raise ConfigError (e.g. a mapping naming a channel the source does not list).
    ``select`` splits a batch into required and optional ``(channel, events)`` pairs;
    order of events is kept within each channel."""

    kind = "selector"

    def bind(self, channels: dict[str, Channel]) -> None:
        self.channels = channels

    def select(self, events: list[Event]) -> tuple[Routing, Routing]:  # AnyBatch when batch_aware
        raise NotImplementedError

    def required_channels(self) -> list[Channel]:
        """Channels this selector may make required for some event (after ``bind``). A
        channel the source lists but never requires is best-effort: its failures never hold
        the source back. The default (every bound channel) is the safe answer."""
        return list(self.channels.values())
