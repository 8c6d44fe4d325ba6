"""Flume's channel selectors: ``replicating``, ``multiplexing`` and ``load_balancing``.

Contract (see :class:`flafka.selector.ChannelSelector`): ``bind`` receives the source's
channels in configured order and raises :class:`~flafka.errors.ConfigError` when the
selector names a channel the source does not list; ``select`` returns required and
optional ``(channel, events)`` pairs. Events keep their order within each channel. When
every event of a batch goes to the same channels, each pair carries the batch list itself
(no copy): channels must not modify the lists they are given.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence

from flafka.batch import as_events, header_maps_of
from flafka.channel import Channel
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.selector import ChannelSelector, Routing
from flafka.settings import Schema, Setting, Settings

log = logging.getLogger(__name__)

_RESERVED = ("type",)
_MAX_LOGGED_VALUES = 100
"""Distinct unrouted header values logged by one multiplexing selector (then only counted)."""


def _resolve(selector: ChannelSelector, key: str, names: Sequence[str], channels: dict[str, Channel]) -> list[Channel]:
    """Channels named by ``names`` (duplicates removed, order kept); ConfigError for a name
    the source does not list."""
    out: list[Channel] = []
    for name in names:
        ch = channels.get(name)
        if ch is None:
            listed = " ".join(channels) or "(none)"
            raise ConfigError(
                f"Selector channel not found: '{name}' in selector.{key} of source '{selector.name}'; the source "
                f"lists channels {listed} — add '{name}' to the source's channels or fix selector.{key}"
            )
        if ch not in out:
            out.append(ch)
    return out


class ReplicatingChannelSelector(ChannelSelector):
    """Every event goes to every channel; channels in ``optional`` are optional (their
    failures are logged and ignored)."""

    type_name = "replicating"
    batch_aware = True  # hands the batch on as it is
    aliases = ("org.apache.flume.channel.ReplicatingChannelSelector",)
    summary = "Copy every event to every channel of the source (the default)"
    settings_schema = Schema(
        Setting("optional", "list", [], "channels whose failures are ignored"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.discarded = 0
        self.required: list[Channel] = []
        self.optional: list[Channel] = []

    def bind(self, channels: dict[str, Channel]) -> None:
        super().bind(channels)
        self.optional = _resolve(self, "optional", self.settings["optional"] or [], channels)
        self.required = [ch for ch in channels.values() if ch not in self.optional]

    def select(self, events: list[Event]) -> tuple[Routing, Routing]:
        if not events:
            return [], []
        return [(ch, events) for ch in self.required], [(ch, events) for ch in self.optional]

    def required_channels(self) -> list[Channel]:
        return list(self.required)


class _Route:
    """Where events with one header value go."""

    __slots__ = ("optional", "required", "unrouted")

    def __init__(self, required: list[Channel], optional: list[Channel]) -> None:
        self.required = required
        self.optional = optional
        self.unrouted = not required and not optional


class MultiplexingChannelSelector(ChannelSelector):
    """Routes each event by the value of one header: ``mapping.<value>`` lists required
    channels, ``optional.<value>`` optional ones, ``default`` the required channels of a
    missing, blank or unmapped value. A channel both required and optional for a value is
    required.

    Difference from Flume: an event that ends up with no channel (unmapped value and no
    ``default``) is still discarded, as in Flume, but counted in ``self.discarded`` and
    logged once per distinct value with the fix (add ``selector.default``).
    """

    type_name = "multiplexing"
    batch_aware = True  # reads header maps only; a batch with one route passes through whole
    aliases = ("org.apache.flume.channel.MultiplexingChannelSelector",)
    summary = "Route events to channels by the value of a header"
    settings_schema = Schema(
        Setting("header", "str", "flume.selector.header", "header whose value picks the channels"),
        Setting("default", "list", [], "required channels for missing, blank or unmapped values"),
        Setting("mapping.*", "map", None, "mapping.<value> = required channels for that value"),
        Setting("optional.*", "map", None, "optional.<value> = optional channels for that value"),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.header: str = settings["header"]
        self.discarded = 0
        self._logged: set[str | None] = set()
        self._routes: dict[str, _Route] = {}
        self._default = _Route([], [])

    def bind(self, channels: dict[str, Channel]) -> None:
        super().bind(channels)
        settings = self.settings
        mapping: dict[str, str] = settings["mapping.*"] or {}
        optional: dict[str, str] = settings["optional.*"] or {}
        default = _resolve(self, "default", settings["default"] or [], channels)
        routes: dict[str, _Route] = {}
        for value, names in mapping.items():
            if not value:
                raise ConfigError(
                    f"selector.mapping. of source '{self.name}' has no header value after 'mapping.'; "
                    f"write selector.mapping.<value> = <channels>"
                )
            required = _resolve(self, f"mapping.{value}", names.split(), channels)
            if not required:
                raise ConfigError(
                    f"selector.mapping.{value} of source '{self.name}' names no channel; "
                    f"list at least one channel or remove the key"
                )
            routes[value] = _Route(required, [])
        for value, names in optional.items():
            chosen = _resolve(self, f"optional.{value}", names.split(), channels)
            required = routes[value].required if value in routes else default
            routes[value] = _Route(required, [ch for ch in chosen if ch not in required])
        self._routes = routes
        self._default = _Route(default, [])

    def required_channels(self) -> list[Channel]:
        out: list[Channel] = list(self._default.required)
        for route in self._routes.values():
            out.extend(ch for ch in route.required if ch not in out)
        return out

    def select(self, events: list[Event]) -> tuple[Routing, Routing]:
        if not events:
            return [], []
        header = self.header
        get = self._routes.get
        default = self._default
        routes = [get((m.get(header) if m else None) or "", default) for m in header_maps_of(events)]
        first = routes[0]
        if all(r is first for r in routes):
            if first.unrouted:
                self._unrouted(as_events(events), routes)
                return [], []
            return [(ch, events) for ch in first.required], [(ch, events) for ch in first.optional]
        events = as_events(events)  # split per event
        required: dict[Channel, list[Event]] = {}
        optional: dict[Channel, list[Event]] = {}
        unrouted = False
        for e, r in zip(events, routes, strict=True):
            for ch in r.required:
                bucket = required.get(ch)
                if bucket is None:
                    required[ch] = [e]
                else:
                    bucket.append(e)
            for ch in r.optional:
                bucket = optional.get(ch)
                if bucket is None:
                    optional[ch] = [e]
                else:
                    bucket.append(e)
            if r.unrouted:
                unrouted = True
        if unrouted:
            self._unrouted(events, routes)
        return list(required.items()), list(optional.items())

    def _unrouted(self, events: list[Event], routes: list[_Route]) -> None:
        header = self.header
        lost = [e for e, r in zip(events, routes, strict=True) if r.unrouted]
        self.discarded += len(lost)
        logged = self._logged
        if len(logged) >= _MAX_LOGGED_VALUES:
            return
        for e in lost:
            value = e.headers.get(header)
            if value in logged:
                continue
            logged.add(value)
            what = f"header '{header}' = '{value}'" if value else f"no (or a blank) header '{header}'"
            log.warning(
                "source '%s': events with %s match no selector.mapping and there is no selector.default, so they "
                "are discarded (Flume drops them silently; flafka counts them); add selector.default = <channel>%s",
                self.name,
                what,
                f" or selector.mapping.{value} = <channel>" if value else "",
            )
            if len(logged) >= _MAX_LOGGED_VALUES:
                log.warning("source '%s': more unrouted header values are only counted, not logged", self.name)
                return


class LoadBalancingChannelSelector(ChannelSelector):
    """Spreads events over the source's channels, one channel per event (Flume 1.10+):
    ``round_robin`` continues where the previous batch stopped; ``random`` picks each
    event's channel at random. No optional channels."""

    type_name = "load_balancing"
    batch_aware = True  # round_robin slices the batch; random builds events
    aliases = ("org.apache.flume.channel.LoadBalancingChannelSelector",)
    summary = "Send each event to one channel, round robin or at random"
    settings_schema = Schema(
        Setting(
            "policy", "enum", "round_robin", "how a channel is picked", choices=("round_robin", "random"), since="1.10"
        ),
        reserved=_RESERVED,
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.policy: str = settings["policy"]
        self.random: Callable[[Sequence[int], int], list[int]] = lambda population, k: random.choices(population, k=k)
        """Picks ``k`` channel indexes; replaceable in tests."""
        self._next = 0
        self._list: list[Channel] = []

    def bind(self, channels: dict[str, Channel]) -> None:
        super().bind(channels)
        if not channels:
            raise ConfigError(f"source '{self.name}': the load_balancing selector needs at least one channel")
        self._list = list(channels.values())

    def select(self, events: list[Event]) -> tuple[Routing, Routing]:
        chans = self._list
        n = len(chans)
        if not events:
            return [], []
        if n == 1:
            return [(chans[0], events)], []
        if self.policy == "round_robin":
            start = self._next
            self._next = (start + len(events)) % n
            # event i goes to channel (start + i) % n; events[k::n] keeps their order
            routing: Routing = [(chans[(start + k) % n], events[k::n]) for k in range(min(n, len(events)))]
            return routing, []
        picks = self.random(range(n), len(events))
        buckets: list[list[Event]] = [[] for _ in range(n)]
        for e, p in zip(events, picks, strict=True):
            buckets[p].append(e)
        return [(chans[i], b) for i, b in enumerate(buckets) if b], []


COMPONENTS: list[type[ChannelSelector]] = [
    ReplicatingChannelSelector,
    MultiplexingChannelSelector,
    LoadBalancingChannelSelector,
]
