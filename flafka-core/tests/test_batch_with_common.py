"""flafka.batch.with_common: a header set once for a whole column-wise batch gives exactly
the events that setting it event by event gives, and never changes the batch it got."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.batch import Batch, HeaderMap, with_common
from flafka.event import Event

names = st.sampled_from(["timestamp", "host", "k", "topic"])
values = st.sampled_from(["1", "2", "10.0.0.1", ""])
maps = st.dictionaries(names, values, max_size=3)


class LazyColumn:
    """A HeaderColumn over fixed maps that counts how often it built them."""

    def __init__(self, maps: list[HeaderMap | None]) -> None:
        self._maps = maps
        self.built = 0

    def __len__(self) -> int:
        return len(self._maps)

    def __getitem__(self, index: slice) -> LazyColumn:
        return LazyColumn(self._maps[index])

    def maps(self) -> list[HeaderMap | None]:
        self.built += 1
        return [dict(m) if m else None for m in self._maps]


@st.composite
def column_batches(draw: st.DrawFn) -> tuple[Batch, list[Event], LazyColumn | None]:
    bodies = draw(st.lists(st.binary(max_size=4), max_size=8))
    common = draw(st.one_of(st.none(), maps))
    kind = draw(st.sampled_from(["none", "list", "lazy"]))
    column: list[HeaderMap | None] = [draw(st.one_of(st.none(), maps)) for _ in bodies]
    if kind == "none":
        column = [None] * len(bodies)
    expected = [Event(b, {**(common or {}), **(m or {})} or None) for b, m in zip(bodies, column, strict=True)]
    lazy = LazyColumn(column) if kind == "lazy" else None
    headers = None if kind == "none" else lazy if lazy is not None else column
    return Batch(bodies, headers, common), expected, lazy


def set_on_events(events: list[Event], key: str, value: str, preserve: bool) -> list[Event]:
    out = [Event(e.body, dict(e.headers)) for e in events]
    for e in out:
        if preserve:
            e.headers.setdefault(key, value)
        else:
            e.headers[key] = value
    return out


@settings(max_examples=500)
@given(column_batches(), names, values, st.booleans())
def test_with_common_yields_the_events_the_event_path_yields(
    case: tuple[Batch, list[Event], LazyColumn | None], key: str, value: str, preserve: bool
) -> None:
    batch, expected, lazy = case
    got = with_common(batch, key, value, preserve)
    assert got is not None
    assert got.columnar
    if lazy is not None and preserve:
        assert lazy.built == 0  # kept lazy
    assert got.events() == set_on_events(expected, key, value, preserve)
    assert got.header_maps() == [e.headers for e in set_on_events(expected, key, value, preserve)]
    assert batch.columnar and batch.events() == expected  # the batch it got is unchanged


def test_the_header_goes_into_the_common_map() -> None:
    batch = Batch([b"a", b"b"], None, {"host": "h"})
    got = with_common(batch, "timestamp", "17", preserve=False)
    assert got is not None
    assert got.common == {"host": "h", "timestamp": "17"}
    assert batch.common == {"host": "h"}
    again = with_common(got, "timestamp", "18", preserve=True)  # every event has it: nothing to do
    assert again is not None and again is not got
    assert again.common == {"host": "h", "timestamp": "17"}


def test_not_column_wise_is_none() -> None:
    events = [Event(b"a")]
    assert with_common(events, "k", "v", preserve=False) is None
    batch = Batch([b"a"])
    batch.events()
    assert with_common(batch, "k", "v", preserve=False) is None
