"""The protocol text, its MD5, and the byte layout of handshake, call and response
(golden vectors captured from real Avro Java, docs ../shared reference §2.4)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.event import Event
from flafka_avro import protocol
from flafka_avro.protocol import FLUME_MD5, PROTOCOL_TEXT, HandshakeRequest, ProtocolError, Status

H = bytes.fromhex("86aadae2c45474c0fe93ffd0f2350a65")
# Java client's first request of a batch of 2 events {k:v0} "java-0-0", {k:v1} "java-0-1"
JAVA_REQUEST_1 = (
    H + b"\x00" + H + b"\x02\x00" + b"\x00\x16appendBatch"
    + bytes.fromhex("04" "02026b04763000" "106a6176612d302d30" "02026b04763100" "106a6176612d302d31" "00")
)  # fmt: skip


def test_protocol_text_hashes_to_flumes_md5() -> None:
    assert len(PROTOCOL_TEXT) == 1334
    assert FLUME_MD5 == H


def test_request_is_byte_identical_to_javas() -> None:
    hs = protocol.encode_handshake_request(HandshakeRequest(FLUME_MD5, None, FLUME_MD5, {}))
    call = protocol.encode_batch_call([Event(b"java-0-0", {"k": "v0"}), Event(b"java-0-1", {"k": "v1"})])
    assert hs + call == JAVA_REQUEST_1


def test_javas_request_decodes() -> None:
    buf = io.BytesIO(JAVA_REQUEST_1)
    req = protocol.read_handshake_request(buf)
    assert (req.client_hash, req.client_protocol, req.server_hash, req.meta) == (H, None, H, {})
    call = protocol.read_call(buf, 10)
    assert call.name == "appendBatch"
    assert call.events == [Event(b"java-0-0", {"k": "v0"}), Event(b"java-0-1", {"k": "v1"})]


def test_responses_match_javas_bytes() -> None:
    assert protocol.encode_handshake_response(protocol.HandshakeResponse(protocol.Match.BOTH, None, None, None)) == b"\x00\x00\x00\x00"
    assert protocol.encode_response(Status.OK) == b"\x00\x00\x00"
    assert protocol.encode_response(Status.FAILED) == b"\x00\x00\x02"
    assert protocol.read_response(io.BytesIO(b"\x00\x00\x02")) is Status.FAILED
    assert protocol.read_response(io.BytesIO(protocol.encode_error("boom"))) == "boom"


def test_batch_over_the_limit_is_refused() -> None:
    call = protocol.encode_batch_call([Event(b"x")] * 3)
    try:
        protocol.read_call(io.BytesIO(call), 2)
    except ProtocolError as exc:
        assert "3 events exceeds the 2" in str(exc)
    else:
        raise AssertionError("a batch over the limit was accepted")


headers = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)
events = st.lists(st.builds(Event, st.binary(max_size=64), headers), max_size=20)


@given(events)
def test_batch_round_trip(evs: list[Event]) -> None:
    call = protocol.read_call(io.BytesIO(protocol.encode_batch_call(evs)), 100)
    assert call.events == evs


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_fuzz_request_decoders_raise_only_protocol_error(data: bytes) -> None:
    for reader in (
        protocol.read_handshake_request,
        lambda b: protocol.read_call(b, 1000),
        protocol.read_response,
        protocol.read_handshake_response,
    ):
        try:
            reader(io.BytesIO(data))
        except ProtocolError:
            pass


@settings(max_examples=300)
@given(events.filter(bool), st.data())
def test_fuzz_mutated_batches_raise_only_protocol_error(evs: list[Event], data: st.DataObject) -> None:
    raw = bytearray(protocol.encode_batch_call(evs))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        call = protocol.read_call(io.BytesIO(bytes(raw[:cut])), 1000)
    except ProtocolError:
        return
    assert all(isinstance(e.body, bytes) for e in call.events)


@given(st.lists(st.binary(max_size=300), max_size=30))
def test_header_less_fast_path_matches_fastavro(bodies: list[bytes]) -> None:
    import fastavro

    evs = [Event(b) for b in bodies]
    ref = io.BytesIO()
    ref.write(b"\x00\x16appendBatch")
    fastavro.schemaless_writer(ref, protocol._BATCH_SCHEMA, [{"headers": {}, "body": b} for b in bodies])
    assert protocol.encode_batch_call(evs) == ref.getvalue()


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.data())
def test_fuzz_mutated_header_less_batches_raise_only_protocol_error(bodies: list[bytes], data: st.DataObject) -> None:
    """The header-less fast decoder: any corruption is a ProtocolError or decodes to
    events with byte bodies, exactly as the general decoder would."""
    raw = bytearray(protocol.encode_batch_call([Event(b) for b in bodies]))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(13, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(13, len(raw)))
    try:
        call = protocol.read_call(io.BytesIO(bytes(raw[:cut])), 1000)
    except ProtocolError:
        return
    assert all(isinstance(e.body, bytes) for e in call.events)
