"""``ChannelContract``: the transaction rules every channel keeps. Subclass it::

    class TestMyChannel(ChannelContract):
        channel_class = MyChannel

        @pytest.fixture
        def channel_settings(self, tmp_path): return {"capacity": "100", ...}

The fixture must give ``transactionCapacity`` >= 10 and room for at least 100 events.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from flafka.ack import AckTracker
from flafka.channel import Channel
from flafka.errors import ChannelError
from flafka.event import Event
from flafka.metrics.counters import ChannelCounter
from flafka_testkit.contracts.guards import build_without_io
from flafka_testkit.contracts.harness import build


class ChannelContract:
    channel_class: ClassVar[type[Channel]]
    opt_out: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def channel_settings(self) -> dict[str, str]:
        raise NotImplementedError("override the channel_settings fixture")

    @pytest.fixture
    def channel(self, channel_settings: dict[str, str]) -> Iterator[Channel]:
        ch = build(self.channel_class, "contract-channel", channel_settings)
        ch.start()
        yield ch
        ch.stop()

    @staticmethod
    def _events(n: int, start: int = 0) -> list[Event]:
        return [Event(b"%d" % i, {"i": str(i)}) for i in range(start, start + n)]

    @staticmethod
    def _drain(channel: Channel, batch: int = 10) -> list[int]:
        out: list[int] = []
        while True:
            tx = channel.take_transaction()
            got = tx.take(batch)
            tx.commit()
            if not got:
                return out
            out.extend(int(e.body) for e in got)

    def test_settings_parse_without_errors(self, channel_settings: dict[str, str]) -> None:
        _, problems = self.channel_class.settings_schema.parse(channel_settings)
        assert [p for p in problems if p.severity == "error"] == []

    def test_construction_does_no_file_io(self, channel_settings: dict[str, str]) -> None:
        """``check_settings`` and ``__init__`` open, create and list nothing (open a data
        directory in ``start``): ``flafka validate`` builds every component."""
        build_without_io(self.channel_class, "contract-channel", channel_settings)

    def test_put_commit_then_take_in_order(self, channel: Channel) -> None:
        for start in (0, 10, 20):
            with channel.put_transaction() as tx:
                tx.put(self._events(10, start))
        assert self._drain(channel) == list(range(30))
        assert channel.is_empty()

    def test_put_rollback_discards(self, channel: Channel) -> None:
        tx = channel.put_transaction()
        tx.put(self._events(5))
        tx.rollback()
        assert self._drain(channel) == []

    def test_context_manager_rolls_back_on_error(self, channel: Channel) -> None:
        with pytest.raises(RuntimeError), channel.put_transaction() as tx:
            tx.put(self._events(5))
            raise RuntimeError("boom")
        assert self._drain(channel) == []

    def test_take_rollback_returns_events_to_the_head_in_order(self, channel: Channel) -> None:
        with channel.put_transaction() as tx:
            tx.put(self._events(10))
        take = channel.take_transaction()
        assert [int(e.body) for e in take.take(4)] == [0, 1, 2, 3]
        take.rollback()
        assert self._drain(channel, 3) == list(range(10))

    def test_headers_and_bodies_survive(self, channel: Channel) -> None:
        events = [Event(b"", {"a": "1"}), Event(bytes(range(256)), {}), Event("ü".encode(), {"k": "v", "x": ""})]
        with channel.put_transaction() as tx:
            tx.put(events)
        take = channel.take_transaction()
        got = take.take(10)
        take.commit()
        assert [(e.body, e.headers) for e in got] == [(e.body, e.headers) for e in events]

    def test_transaction_capacity_is_enforced(self, channel: Channel) -> None:
        cap = self.channel_class.transaction_capacity_from(channel.settings)
        if cap is None:
            pytest.skip("the channel declares no transaction capacity")
        with pytest.raises(ChannelError):
            tx = channel.put_transaction()
            tx.put(self._events(cap + 1))
            tx.commit()

    def test_acknowledgements_are_paid_when_safe(self, channel: Channel) -> None:
        tracker = AckTracker()
        token = tracker.token("p1")
        tx = channel.put_transaction()
        tx.put(self._events(5), token)
        token.add(5)
        tx.commit()
        token.release()
        if channel.durable:
            assert tracker.delivered() == ["p1"], "a durable channel pays at put commit"
            return
        assert tracker.delivered() == [], "paid before any sink delivered"
        take = channel.take_transaction()
        take.take(5)
        take.rollback()
        assert tracker.delivered() == [], "a rolled back take must not pay"
        take = channel.take_transaction()
        take.take(5)
        take.commit()
        assert tracker.delivered() == ["p1"]

    def test_counters(self, channel: Channel) -> None:
        with channel.put_transaction() as tx:
            tx.put(self._events(7))
        self._drain(channel)
        counter: ChannelCounter = channel.counter
        assert counter.event_put_success_count == 7
        assert counter.event_take_success_count == 7
        snap = counter.snapshot()
        assert snap["ChannelSize"] == 0 and snap["EventPutSuccessCount"] == 7

    def test_wait_for_events_wakes_up(self, channel: Channel) -> None:
        began = time.monotonic()
        assert channel.wait_for_events(0.05) is False
        assert time.monotonic() - began < 2
        with channel.put_transaction() as tx:
            tx.put(self._events(1))
        assert channel.wait_for_events(1.0) is True
