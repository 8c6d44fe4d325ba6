"""Column-wise batches (flafka.batch): every operation gives what the same operation on
the equivalent ``list[Event]`` gives, and events are built only when asked for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.ack import AckTracker
from flafka.batch import Batch, as_events, bodies_of, concat, has_headers, header_maps_of, subset
from flafka.channels.memory import MemoryChannel
from flafka.event import Event
from flafka.interceptor import Interceptor
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.testing import make

header_maps = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b", "host"]), st.text(max_size=3), max_size=2))


@st.composite
def batches(draw: st.DrawFn) -> tuple[Batch, list[Event]]:
    """A column-wise batch and the list of events it stands for."""
    bodies = draw(st.lists(st.binary(max_size=4), max_size=8))
    kind = draw(st.sampled_from(["none", "common", "column", "both"]))
    common = draw(st.dictionaries(st.sampled_from(["a", "c"]), st.text(max_size=2), min_size=1, max_size=2))
    column = [draw(header_maps) for _ in bodies]
    if kind == "none":
        return Batch(bodies), [Event(b) for b in bodies]
    if kind == "common":
        return Batch(bodies, None, common), [Event(b, dict(common)) for b in bodies]
    if kind == "column":
        return Batch(bodies, column), [Event(b, dict(m) if m else None) for b, m in zip(bodies, column, strict=True)]
    expected = [Event(b, {**common, **(m or {})}) for b, m in zip(bodies, column, strict=True)]
    return Batch(bodies, column, common), expected


@settings(max_examples=300, deadline=None)
@given(batches(), st.slices(10))
def test_slices_and_columns_match_the_event_list(pair: tuple[Batch, list[Event]], cut: slice) -> None:
    batch, expected = pair
    part = batch[cut]
    assert isinstance(part, Batch) and part.columnar and batch.columnar  # slicing builds nothing
    assert bodies_of(part) == [e.body for e in expected[cut]]
    assert [m or {} for m in header_maps_of(part)] == [e.headers for e in expected[cut]]
    assert as_events(part) == expected[cut]
    assert len(batch) == len(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=4), st.data())
def test_concat_and_subset_match_the_event_list(pairs: list[tuple[Batch, list[Event]]], data: st.DataObject) -> None:
    parts = [b for b, _ in pairs]
    expected = [e for _, events in pairs for e in events]
    joined = concat(parts)
    assert as_events(joined) == expected
    indices = data.draw(st.lists(st.integers(0, max(0, len(expected) - 1)), max_size=5)) if expected else []
    assert as_events(subset(concat([b for b, _ in pairs]), indices)) == [expected[i] for i in indices]


def test_events_are_built_once_and_then_are_the_truth() -> None:
    batch = Batch([b"x", b"y"], None, {"h": "1"})
    assert not has_headers(Batch([b"x"]))
    assert has_headers(batch)
    events = batch.events()
    assert batch.events() is events and not batch.columnar
    events[0].headers["h"] = "changed"
    events[1].body = b"z"
    assert batch.header_maps()[0] == {"h": "changed"}
    assert batch.bodies == [b"x", b"z"]
    assert events[1].headers == {"h": "1"}, "each event owns its own map"
    assert batch[1:].bodies == [b"z"]


def test_a_lazy_header_column_is_built_only_when_read() -> None:
    built: list[int] = []

    class Column:
        def __init__(self, rows: range) -> None:
            self.rows = rows

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, index: slice) -> Column:
            return Column(self.rows[index])

        def maps(self) -> list[dict[str, str] | None]:
            built.extend(self.rows)
            return [{"offset": str(i)} for i in self.rows]

    batch = Batch([b"%d" % i for i in range(6)], Column(range(6)))
    tail = batch[4:]
    assert bodies_of(tail) == [b"4", b"5"] and built == []
    assert as_events(tail) == [Event(b"4", {"offset": "4"}), Event(b"5", {"offset": "5"})]
    assert built == [4, 5]


class _Stamp(Interceptor):
    """A third-party interceptor written against list[Event] (not batch-aware)."""

    type_name = "stamp"

    def intercept(self, events: list[Event]) -> list[Event]:
        assert type(events) is list
        for e in events:
            e.headers["stamped"] = "yes"
        return events


def test_components_that_are_not_batch_aware_receive_lists() -> None:
    channel = make(MemoryChannel, "c", capacity=100, transactionCapacity=100)
    selector = make(ReplicatingChannelSelector, "s")
    selector.bind({"c": channel})
    processor = ChannelProcessor(selector, [make(_Stamp, "i")], SourceCounter("src"))
    processor.process_batch(Batch([b"1", b"2"]))
    tx = channel.take_transaction()
    got = tx.take(10)
    tx.commit()
    assert list(got) == [Event(b"1", {"stamped": "yes"}), Event(b"2", {"stamped": "yes"})]


def test_the_memory_channel_keeps_batches_column_wise_and_pays_tokens() -> None:
    channel = make(MemoryChannel, "c", capacity=100, transactionCapacity=100)
    selector = make(ReplicatingChannelSelector, "s")
    selector.bind({"c": channel})
    processor = ChannelProcessor(selector, [], SourceCounter("src"))
    acks = AckTracker()
    processor.process_batch(Batch([b"a", b"b", b"c"]), acks.token(1))
    processor.process_batch(Batch([b"d"]), acks.token(2))
    tx = channel.take_transaction()
    first = tx.take(2)
    second = tx.take(2)
    assert isinstance(first, Batch) and first.columnar and bodies_of(first) == [b"a", b"b"]
    assert isinstance(second, Batch) and bodies_of(second) == [b"c", b"d"]
    assert acks.delivered() == []
    tx.commit()
    assert acks.delivered() == [1, 2]


def test_the_multiplexing_selector_routes_column_wise_batches_without_events() -> None:
    from flafka.selectors.builtin import MultiplexingChannelSelector

    a = make(MemoryChannel, "a", capacity=100, transactionCapacity=100)
    b = make(MemoryChannel, "b", capacity=100, transactionCapacity=100)
    selector = make(MultiplexingChannelSelector, "s", header="dc", **{"mapping.x": "a", "mapping.y": "b", "default": "a"})
    selector.bind({"a": a, "b": b})
    whole = Batch([b"1", b"2"], None, {"dc": "y"})
    required, optional = selector.select(whole)  # type: ignore[arg-type]
    assert required == [(b, whole)] and optional == [] and whole.columnar
    mixed = Batch([b"1", b"2", b"3"], [{"dc": "x"}, {"dc": "y"}, None])
    required, _ = selector.select(mixed)  # type: ignore[arg-type]
    assert [(ch.name, [e.body for e in got]) for ch, got in required] == [("a", [b"1", b"3"]), ("b", [b"2"])]


@settings(max_examples=200, deadline=None)
@given(batches())
def test_the_file_channel_encodes_a_column_wise_batch_to_the_same_bytes(pair: tuple[Batch, list[Event]]) -> None:
    from flafka.channels.file import records

    batch, expected = pair
    assert records.encode_events(batch) == records.encode_events(expected)
    assert batch.columnar


class _Counted:
    """A lazy column over ``rows`` that records which rows it built, with an events hook."""

    def __init__(self, rows: range, built: list[int]) -> None:
        self.rows = rows
        self.built = built

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: slice) -> _Counted:
        return _Counted(self.rows[index], self.built)

    def maps(self) -> list[dict[str, str] | None]:
        self.built.extend(self.rows)
        return [{"offset": str(i)} for i in self.rows]

    def events(self, bodies: list[bytes]) -> list[Event]:
        return [Event(b, m) for b, m in zip(bodies, self.maps(), strict=True)]


def test_concat_keeps_lazy_columns_lazy_and_uses_their_events_hook() -> None:
    built: list[int] = []
    first = Batch([b"0", b"1"], _Counted(range(2), built))
    second = Batch([b"2"], [{"k": "v"}])
    third = Batch([b"3", b"4"], _Counted(range(3, 5), built))
    joined = concat([first, second, third, Batch([b"5"])])
    assert isinstance(joined, Batch) and joined.columnar and built == []
    assert bodies_of(joined) == [b"0", b"1", b"2", b"3", b"4", b"5"] and built == []
    assert as_events(joined) == [
        Event(b"0", {"offset": "0"}),
        Event(b"1", {"offset": "1"}),
        Event(b"2", {"k": "v"}),
        Event(b"3", {"offset": "3"}),
        Event(b"4", {"offset": "4"}),
        Event(b"5"),
    ]
    assert as_events(second)[0].headers is not joined.events()[2].headers, "list columns are copied per batch"


def test_two_threads_building_the_same_batch_get_the_same_events() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        for _ in range(200):
            batch = Batch([b"%d" % i for i in range(200)], [{"i": str(i)} for i in range(200)], {"c": "1"})
            results = list(pool.map(lambda b: (b.events(), b.bodies, b.header_maps()), [batch] * 4))
            assert all(r[0] is results[0][0] for r in results)
            assert all(r[1] == results[0][1] and [m or {} for m in r[2]] == [e.headers for e in results[0][0]] for r in results)
