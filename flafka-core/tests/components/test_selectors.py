"""Built-in channel selectors: replicating, multiplexing, load_balancing."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flafka.channel import Channel
from flafka.channels.memory import MemoryChannel
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.registry import Registry
from flafka.selector import ChannelSelector, Routing
from flafka.selectors import builtin as sb
from flafka.testing import make


def build(cls: type[ChannelSelector], channel_names: str, **raw: Any) -> tuple[Any, dict[str, Channel]]:
    """Parse raw ``selector.*`` keys (without the prefix) with the schema, construct, bind."""
    settings, problems = cls.settings_schema.parse({k: str(v) for k, v in raw.items()})
    assert not [p for p in problems if p.severity == "error"], problems
    selector = cls("r1", settings)
    channels: dict[str, Channel] = {n: make(MemoryChannel, n) for n in channel_names.split()}
    selector.bind(channels)
    return selector, channels


def names(routing: Routing) -> dict[str, list[bytes]]:
    return {ch.name: [e.body for e in events] for ch, events in routing}


def evs(*specs: str, header: str = "state") -> list[Event]:
    """'body' or 'body=value' (value of ``header``)."""
    out = []
    for s in specs:
        body, _, value = s.partition("=")
        out.append(Event(body.encode(), {header: value} if value else {}))
    return out


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("replicating", sb.ReplicatingChannelSelector),
        ("org.apache.flume.channel.ReplicatingChannelSelector", sb.ReplicatingChannelSelector),
        ("MULTIPLEXING", sb.MultiplexingChannelSelector),
        ("org.apache.flume.channel.MultiplexingChannelSelector", sb.MultiplexingChannelSelector),
        ("load_balancing", sb.LoadBalancingChannelSelector),
        ("org.apache.flume.channel.LoadBalancingChannelSelector", sb.LoadBalancingChannelSelector),
    ],
)
def test_registered(name: str, cls: type[ChannelSelector]) -> None:
    reg = Registry()
    for c in sb.COMPONENTS:
        reg.add(c, "builtins")
    assert reg.lookup("selector", name) is cls


# -- replicating ----------------------------------------------------------------------------


def test_replicating_sends_the_batch_itself_to_every_channel() -> None:
    sel, chans = build(sb.ReplicatingChannelSelector, "c1 c2 c3")
    events = evs("a", "b")
    required, optional = sel.select(events)
    assert [ch for ch, _ in required] == [chans["c1"], chans["c2"], chans["c3"]]
    assert all(batch is events for _, batch in required)
    assert optional == []


def test_replicating_optional_channels() -> None:
    sel, _ = build(sb.ReplicatingChannelSelector, "c1 c2 c3", optional="c3 c2", type="replicating")
    events = evs("a")
    required, optional = sel.select(events)
    assert [ch.name for ch, _ in required] == ["c1"]
    assert [ch.name for ch, _ in optional] == ["c3", "c2"]
    assert all(batch is events for _, batch in optional)


def test_replicating_unknown_optional_channel_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Selector channel not found: 'c9' in selector\.optional"):
        build(sb.ReplicatingChannelSelector, "c1 c2", optional="c9")


# -- multiplexing ---------------------------------------------------------------------------

UG = {"header": "state", "mapping.CZ": "c1", "mapping.US": "c2 c3", "default": "c4"}


def test_multiplexing_flume_user_guide_example() -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2 c3 c4", **UG)
    required, optional = sel.select(evs("1=CZ", "2=US", "3=DE", "4", "5=US", "6=  "))
    assert names(required) == {"c1": [b"1"], "c2": [b"2", b"5"], "c3": [b"2", b"5"], "c4": [b"3", b"4", b"6"]}
    assert optional == []
    assert sel.discarded == 0


def test_multiplexing_fast_path_returns_the_batch_itself() -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2 c3 c4", **UG)
    events = evs("a=US", "b=US")
    required, _ = sel.select(events)
    assert [ch.name for ch, _ in required] == ["c2", "c3"]
    assert all(batch is events for _, batch in required)


def test_multiplexing_default_header_name() -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2", **{"mapping.x": "c1", "default": "c2"})
    required, _ = sel.select(evs("a=x", "b=x", "c", header="flume.selector.header"))
    assert names(required) == {"c1": [b"a", b"b"], "c2": [b"c"]}


def test_multiplexing_optional_channels() -> None:
    raw = {**UG, "optional.CZ": "c1 c2", "optional.FR": "c3"}
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2 c3 c4", **raw)
    required, optional = sel.select(evs("1=CZ", "2=FR", "3=US"))
    # c1 is both required and optional for CZ: it counts as required
    assert names(required) == {"c1": [b"1"], "c4": [b"2"], "c2": [b"3"], "c3": [b"3"]}
    assert names(optional) == {"c2": [b"1"], "c3": [b"2"]}


def test_multiplexing_optional_only_value_without_default_is_not_discarded() -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2", header="h", **{"mapping.a": "c1", "optional.b": "c2"})
    required, optional = sel.select(evs("x=b", header="h"))
    assert required == []
    assert names(optional) == {"c2": [b"x"]}
    assert sel.discarded == 0


def test_multiplexing_unmapped_without_default_is_counted_and_logged_once_per_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1", header="state", **{"mapping.CZ": "c1"})
    with caplog.at_level(logging.WARNING):
        required, _ = sel.select(evs("1=CZ", "2=DE", "3=DE", "4"))
        sel.select(evs("5=DE", "6=FR"))
        assert sel.select(evs("7=FR")) == ([], [])
    assert names(required) == {"c1": [b"1"]}
    assert sel.discarded == 6
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # DE, no header, FR
    assert all("add selector.default" in m for m in messages)
    assert any("'DE'" in m for m in messages)


def test_multiplexing_logging_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1", header="h", **{"mapping.a": "c1"})
    with caplog.at_level(logging.WARNING):
        sel.select(evs(*[f"e={i}" for i in range(500)], header="h"))
    assert len(caplog.records) <= sb._MAX_LOGGED_VALUES + 1
    assert sel.discarded == 500


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mapping.CZ": "c9"}, r"Selector channel not found: 'c9' in selector\.mapping\.CZ"),
        ({"default": "c1 nope"}, r"Selector channel not found: 'nope' in selector\.default"),
        ({"optional.CZ": "c7"}, r"Selector channel not found: 'c7' in selector\.optional\.CZ"),
    ],
)
def test_multiplexing_unknown_channel_is_config_error(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(sb.MultiplexingChannelSelector, "c1 c2", **raw)


def test_multiplexing_mapping_value_must_be_given() -> None:
    with pytest.raises(ConfigError, match="no header value"):
        build(sb.MultiplexingChannelSelector, "c1", **{"mapping.": "c1"})


@given(st.lists(st.sampled_from(["CZ", "US", "DE", ""]), max_size=40))
def test_multiplexing_keeps_order_and_routes_every_event(values: list[str]) -> None:
    sel, _ = build(sb.MultiplexingChannelSelector, "c1 c2 c3 c4", **UG)
    events = [Event(str(i).encode(), {"state": v} if v else {}) for i, v in enumerate(values)]
    required, _ = sel.select(events)
    got = names(required)
    expect: dict[str, list[bytes]] = {}
    route = {"CZ": ["c1"], "US": ["c2", "c3"]}
    for e, v in zip(events, values, strict=True):
        for ch in route.get(v, ["c4"]):
            expect.setdefault(ch, []).append(e.body)
    assert got == expect


# -- load_balancing -------------------------------------------------------------------------


def test_load_balancing_round_robin_continues_across_batches() -> None:
    sel, _ = build(sb.LoadBalancingChannelSelector, "c1 c2 c3")
    required, optional = sel.select(evs("a", "b", "c", "d"))
    assert names(required) == {"c1": [b"a", b"d"], "c2": [b"b"], "c3": [b"c"]}
    assert optional == []
    required, _ = sel.select(evs("e"))
    assert names(required) == {"c2": [b"e"]}
    required, _ = sel.select(evs("f", "g"))
    assert names(required) == {"c3": [b"f"], "c1": [b"g"]}


def test_load_balancing_single_channel_gets_the_batch_itself() -> None:
    sel, _ = build(sb.LoadBalancingChannelSelector, "c1")
    events = evs("a", "b")
    required, _ = sel.select(events)
    assert required[0][1] is events


def test_load_balancing_random_policy() -> None:
    sel, _ = build(sb.LoadBalancingChannelSelector, "c1 c2 c3", policy="RANDOM")
    assert isinstance(sel, sb.LoadBalancingChannelSelector)
    assert sel.policy == "random"
    sel.random = lambda population, k: [2, 0, 2, 2][:k]
    required, _ = sel.select(evs("a", "b", "c", "d"))
    assert names(required) == {"c1": [b"b"], "c3": [b"a", b"c", b"d"]}


def test_load_balancing_random_uses_every_channel_eventually() -> None:
    sel, _ = build(sb.LoadBalancingChannelSelector, "c1 c2", policy="random")
    required, _ = sel.select(evs(*[str(i) for i in range(200)]))
    got = names(required)
    assert set(got) == {"c1", "c2"}
    assert sorted(got["c1"] + got["c2"], key=int) == [str(i).encode() for i in range(200)]


def test_load_balancing_bad_policy_is_a_problem() -> None:
    _, problems = sb.LoadBalancingChannelSelector.settings_schema.parse({"policy": "round-robin"})
    assert [p.key for p in problems] == ["policy"]


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=8), st.integers(1, 5))
def test_load_balancing_round_robin_is_even_and_ordered(batches: list[int], n_channels: int) -> None:
    sel, chans = build(sb.LoadBalancingChannelSelector, " ".join(f"c{i}" for i in range(n_channels)))
    per: dict[str, list[int]] = {name: [] for name in chans}
    seq = 0
    for size in batches:
        events = [Event(str(seq + i).encode()) for i in range(size)]
        seq += size
        required, _ = sel.select(events)
        for ch, batch in required:
            per[ch.name].extend(int(e.body) for e in batch)
    counts = [len(v) for v in per.values()]
    assert max(counts) - min(counts) <= 1
    assert sorted(x for v in per.values() for x in v) == list(range(seq))
    for v in per.values():
        assert v == sorted(v)
        assert all((b - a) == n_channels for a, b in itertools.pairwise(v))
