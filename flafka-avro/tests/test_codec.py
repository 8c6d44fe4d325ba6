"""The whole-batch codec against fastavro, the reference: byte-for-byte equal encodings,
the same decoded events, the same verdict on corrupted input."""

from __future__ import annotations

import io

import fastavro
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flafka.batch import Batch
from flafka.event import Event
from flafka_avro import protocol
from flafka_avro.codec import DecodeError, EncodeError, decode_batch, decode_events, encode_batch, encode_events, varint
from flafka_avro.protocol import ProtocolError

SCHEMA = protocol._BATCH_SCHEMA


def fastavro_bytes(events: list[Event]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, SCHEMA, [{"headers": e.headers, "body": e.body} for e in events])
    return buf.getvalue()


def fastavro_events(data: bytes) -> tuple[list[Event], int]:
    buf = io.BytesIO(data)
    records = fastavro.schemaless_reader(buf, SCHEMA, None)
    return [Event(r["body"], r["headers"]) for r in records], buf.tell()


text = st.text(max_size=8)  # any code point but lone surrogates
pool = st.sampled_from(["timestamp", "host", "", "é", "日本", "k" * 70])  # names that repeat
header_maps = st.dictionaries(st.one_of(text, pool), st.one_of(text, pool), max_size=5)
bodies = st.one_of(st.binary(max_size=40), st.sampled_from([b"z" * 63, b"z" * 64, b"z" * 4095, b"z" * 4096, b"z" * 9000]))  # varint edges


@st.composite
def batches(draw: st.DrawFn) -> list[Event]:
    """Events whose header maps are often the previous event's (equal dicts, or the same
    entries in another order), sometimes new, sometimes empty."""
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 25))):
        choice = draw(st.integers(0, 3))
        if choice == 0 or not events:
            headers = draw(header_maps)
        elif choice == 1:
            headers = dict(events[-1].headers)
        elif choice == 2:
            headers = dict(reversed(list(events[-1].headers.items())))
        else:
            headers = {}
        events.append(Event(draw(bodies), headers))
    return events


@settings(max_examples=200)
@given(batches())
@example([])
@example([Event(b"", {})])
@example([Event(b"x" * 5000, {"a" * 300: "b" * 9000})])
def test_encoding_is_byte_identical_to_fastavros(events: list[Event]) -> None:
    assert encode_events(events) == fastavro_bytes(events)
    assert protocol.encode_batch_call(events) == b"\x00\x16appendBatch" + fastavro_bytes(events)


@settings(max_examples=200)
@given(batches(), st.binary(max_size=3))
def test_round_trip_and_agreement_with_fastavros_reader(events: list[Event], tail: bytes) -> None:
    data = b"\xff" + encode_events(events) + tail
    got = decode_events(data, 1)
    assert got is not None
    decoded, end = got
    assert decoded == events
    assert end == len(data) - len(tail)
    assert (decoded, end - 1) == fastavro_events(data[1:])
    for e in decoded:
        assert type(e.body) is bytes
        assert e.has_headers == bool(e.headers)


def test_a_batch_of_more_than_4096_events() -> None:
    events = [Event(b"%d" % i, {"n": str(i % 3)}) for i in range(5000)]
    assert encode_events(events) == fastavro_bytes(events)
    assert decode_events(encode_events(events), 0) == (events, len(encode_events(events)))


def blocks(items: list[bytes], sizes: list[int], negative: bool) -> bytes:
    """An Avro array/map of pre-encoded ``items`` split into blocks of ``sizes``; with
    ``negative``, each block as Java's BlockingBinaryEncoder writes it (-count, bytes)."""
    out, i = [], 0
    for n in sizes:
        chunk = b"".join(items[i : i + n])
        out.append(varint(-n) + varint(len(chunk)) if negative else varint(n))
        out.append(chunk)
        i += n
    return b"".join(out) + b"\x00"


def enc_str(s: str) -> bytes:
    raw = s.encode()
    return varint(len(raw)) + raw


@pytest.mark.parametrize("negative", [False, True])
def test_every_block_layout_decodes_as_fastavro_does(negative: bool) -> None:
    """Several blocks per array and per map; negative counts (with byte sizes) are left to
    fastavro by decode_events, and read_call still returns the same events."""
    header_map = blocks([enc_str("a") + enc_str("1"), enc_str("b") + enc_str("2"), enc_str("a") + enc_str("3")], [2, 1], negative)
    events = [header_map + enc_str("body-1"), b"\x00" + enc_str("body-2"), header_map + enc_str("body-3")]
    data = blocks(events, [1, 2], negative)
    expected, end = fastavro_events(data)
    assert expected[0] == Event(b"body-1", {"a": "3", "b": "2"})
    got = decode_events(data, 0)
    if negative:
        assert got is None
    else:
        assert got == (expected, end)
    call = protocol.read_call(io.BytesIO(b"\x00\x16appendBatch" + data), 10)
    assert call.events == expected


@settings(max_examples=300)
@given(batches().filter(bool), st.data())
def test_corrupted_batches_get_fastavros_verdict(events: list[Event], data: st.DataObject) -> None:
    """On corrupted bytes the codec either raises DecodeError or decodes exactly what
    fastavro decodes (events and end position); it never returns something fastavro
    would not."""
    raw = bytearray(encode_events(events))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        got = decode_events(bytes(raw), 0)
    except DecodeError:
        return
    if got is None:
        return  # a negative count: fastavro decides
    assert got == fastavro_events(bytes(raw))


@settings(max_examples=300)
@given(st.binary(max_size=100))
def test_garbage_raises_only_decode_error(data: bytes) -> None:
    try:
        decode_events(data, 0)
    except DecodeError:
        pass


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (Event(b"x", {"k": 1}), "header value of type int ('k')"),  # type: ignore[dict-item]
        (Event(b"x", {2: "v"}), "header name of type int (2)"),  # type: ignore[dict-item]
        (Event(b"x", {"k": "\udc80"}), "header value that is not valid Unicode ('k': surrogates not allowed)"),
        (Event("text", {}), "body of type str"),  # type: ignore[arg-type]
        (Event(None, {"k": "v"}), "body of type NoneType"),  # type: ignore[arg-type]
    ],
)
def test_an_event_the_schema_cannot_carry_is_named(event: Event, says: str) -> None:
    good = Event(b"fine", {"k": "v"})
    with pytest.raises(EncodeError) as info:
        encode_events([good, good, event, good])
    assert info.value.index == 2
    assert f"event 2 of the batch has a {says}" in str(info.value)


def test_decoded_header_names_are_shared_within_a_batch() -> None:
    events = [Event(b"a", {"host": "h1"}), Event(b"b", {"host": "h2"})]
    decoded, _ = decode_events(encode_events(events), 0) or ([], 0)
    assert decoded == events
    assert next(iter(decoded[0].headers)) is next(iter(decoded[1].headers))


def test_equal_maps_decode_to_separate_dicts() -> None:
    """Events of one batch with the same headers still own their dicts (interceptors
    change them in place)."""
    decoded, _ = decode_events(encode_events([Event(b"a", {"k": "v"}), Event(b"b", {"k": "v"})]), 0) or ([], 0)
    decoded[0].headers["k"] = "changed"
    assert decoded[1].headers == {"k": "v"}


def test_read_call_reports_codec_errors_as_protocol_errors() -> None:
    bad = b"\x00\x16appendBatch" + bytes.fromhex("0202026104ff fe000000")  # value not UTF-8
    with pytest.raises(ProtocolError, match=r"malformed appendBatch events .*not valid UTF-8"):
        protocol.read_call(io.BytesIO(bad), 10)


# -- column-wise batches (flafka.batch.Batch) ---------------------------------------------


@st.composite
def column_batches(draw: st.DrawFn) -> tuple[Batch, list[Event]]:
    """A column-wise batch (no headers, a common map, a header column, or both) and the
    events it stands for, built separately (the batch stays column-wise)."""
    body_list = draw(st.lists(bodies, max_size=25))
    common = draw(st.one_of(st.none(), header_maps))
    column: list[dict[str, str] | None] | None = None
    if draw(st.booleans()):
        column = []
        for _ in body_list:
            choice = draw(st.integers(0, 3))
            if choice == 0 or not column:
                column.append(draw(st.one_of(st.none(), header_maps)))
            elif choice == 1:
                column.append(column[-1])  # the same map object again
            elif choice == 2:
                column.append(dict(column[-1] or {}))
            else:
                column.append(None)
    col = column or [None] * len(body_list)
    expected = [Event(b, {**(common or {}), **(m or {})} if common or m else None) for b, m in zip(body_list, col, strict=True)]
    return Batch(body_list, column, common), expected


@settings(max_examples=300)
@given(column_batches())
@example((Batch([]), []))
@example((Batch([b"x" * 5000, b""], None, {"k": "v"}), [Event(b"x" * 5000, {"k": "v"}), Event(b"", {"k": "v"})]))
def test_a_column_wise_batch_encodes_to_its_events_bytes(case: tuple[Batch, list[Event]]) -> None:
    batch, expected = case
    raw = encode_batch(batch, b"head")
    assert batch.columnar  # no Event was built to encode it
    assert raw == b"head" + encode_events(expected) == b"head" + fastavro_bytes(expected)
    assert encode_batch(batch.events()) == raw[4:]  # and the list path agrees


@settings(max_examples=300)
@given(column_batches(), st.binary(max_size=3))
def test_decode_batch_gives_the_events_column_wise(case: tuple[Batch, list[Event]], tail: bytes) -> None:
    _, expected = case
    data = b"\xff" + encode_events(expected) + tail
    got = decode_batch(data, 1)
    assert got is not None
    batch, end = got
    assert end == len(data) - len(tail)
    assert batch.columnar
    maps = [e._headers or None for e in expected]
    if not any(maps):
        assert not batch.has_headers()
    elif all(m == maps[0] for m in maps) and len({encode_events([Event(b"", m)]) for m in maps}) == 1:
        assert batch.common == maps[0]  # one map for the whole batch
    assert batch.events() == expected == fastavro_events(data[1:])[0]


def test_decode_batch_shares_one_map_when_every_event_has_the_same_headers() -> None:
    events = [Event(b"%d" % i, {"timestamp": "1700000000000", "host": "10.0.0.1"}) for i in range(1000)]
    got = decode_batch(encode_events(events), 0)
    assert got is not None
    batch, _ = got
    assert batch.bodies == [e.body for e in events]
    assert batch.common == {"timestamp": "1700000000000", "host": "10.0.0.1"}
    assert batch.events() == events
    batch.events()[0].headers["host"] = "changed"  # each event owns its dict
    assert batch.events()[1].headers["host"] == "10.0.0.1"


def test_an_unencodable_event_of_a_column_wise_batch_is_named() -> None:
    batch = Batch([b"a", b"b", b"c"], [None, {"k": 1}, None])  # type: ignore[list-item]
    with pytest.raises(EncodeError) as info:
        encode_batch(batch)
    assert info.value.index == 1
    assert "event 1 of the batch has a header value of type int ('k')" in str(info.value)
    with pytest.raises(EncodeError, match="event 0 of the batch has a body of type str"):
        encode_batch(Batch(["text", b"b"]))  # type: ignore[list-item]
