"""Netty data-pack framing: round trips over any split, and bounded refusal of bad packs."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka_avro.framing import FrameError, PackDecoder, encode_pack, encode_pack_parts


@given(st.lists(st.tuples(st.integers(0, 2**31 - 1), st.lists(st.binary(max_size=50), max_size=4)), max_size=6), st.data())
def test_packs_survive_any_split(packs: list[tuple[int, list[bytes]]], data: st.DataObject) -> None:
    wire = b"".join(encode_pack_parts(s, parts) for s, parts in packs)
    dec = PackDecoder(1 << 20)
    got = []
    pos = 0
    while pos < len(wire):
        n = data.draw(st.integers(1, 40))
        got += dec.feed(wire[pos : pos + n])
        pos += n
    assert got == [(s, b"".join(parts)) for s, parts in packs]
    assert dec.buffered == 0


def test_zero_length_buffers_are_not_terminators() -> None:
    assert PackDecoder(100).feed(encode_pack_parts(1, [b"", b"\x00", b"\x00\x00"])) == [(1, b"\x00\x00\x00")]


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (struct.pack(">ii", 1, 1_000_000), "buffers"),
        (struct.pack(">iii", 1, 1, -5), "negative"),
        (struct.pack(">iii", 1, 1, 2**31 - 1), "larger than"),
        (b"GET / HTTP/1.1\r\n", "buffers"),
    ],
)
def test_absurd_packs_are_refused_before_buffering(wire: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        PackDecoder(1024).feed(wire)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_fuzz_decoder_raises_only_frame_error_and_stays_bounded(data: bytes) -> None:
    dec = PackDecoder(256)
    try:
        for _serial, message in dec.feed(data):
            assert len(message) <= 256
    except FrameError:
        return
    assert dec.buffered <= len(data)


def test_single_buffer_encoding() -> None:
    assert encode_pack(7, b"ab") == struct.pack(">iii", 7, 1, 2) + b"ab"
