"""Flume's AvroFlumeEvent datum: vectors from Avro Java, by hand from the Avro spec, and
Java HashMap header order (printed by OpenJDK 17 for these exact keys)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flafka_kafka.avro_event import AvroEventError, decode, encode, java_hashmap_order

# Captured from Avro Java 1.12.1 (SpecificDatumWriter), reference/flume-avro-rpc.md §2.4.
JAVA_VECTOR = bytes.fromhex("02026b04763000106a6176612d302d30")


def test_java_vector() -> None:
    assert encode({"k": "v0"}, b"java-0-0") == JAVA_VECTOR
    assert decode(JAVA_VECTOR) == ({"k": "v0"}, b"java-0-0")


def test_empty_event_is_two_zero_bytes() -> None:
    # empty map = block count 0; empty bytes = length 0
    assert encode({}, b"") == b"\x00\x00"
    assert decode(b"\x00\x00") == ({}, b"")


def test_two_byte_length_by_hand() -> None:
    # 64 -> zig-zag 128 -> varint 0x80 0x01
    assert encode({}, b"a" * 64) == b"\x00\x80\x01" + b"a" * 64
    # -> zig-zag of 300 is 600 = 0b100_1011000 -> 0xd8 0x04
    assert encode({}, b"b" * 300)[:3] == b"\x00\xd8\x04"


def test_utf8_headers_by_hand() -> None:
    # count 1 (0x02); key 'héllo' = 6 UTF-8 bytes (0x0c); value '✓' = 3 bytes (0x06); end 0x00; body len 0
    expected = bytes.fromhex("020c68c3a96c6c6f06e29c930000")
    assert encode({"héllo": "✓"}, b"") == expected
    assert decode(expected) == ({"héllo": "✓"}, b"")


@pytest.mark.parametrize(
    ("inserted", "java"),
    [
        (["timestamp", "host", "key", "topic", "seq", "kind"], ["kind", "host", "topic", "key", "seq", "timestamp"]),
        (["a", "b", "c", "zz", "Aa", "BB", "héllo", "✓"], ["zz", "Aa", "BB", "a", "b", "c", "✓", "héllo"]),
        (
            [f"k{i}" for i in range(14)],  # 14 keys: the table grows to 32 buckets
            ["k0", "k1", "k2", "k3", "k4", "k5", "k11", "k6", "k10", "k7", "k13", "k8", "k12", "k9"],
        ),
    ],
)
def test_headers_are_written_in_java_hashmap_order(inserted: list[str], java: list[str]) -> None:
    assert java_hashmap_order(inserted) == java
    data = encode(dict.fromkeys(inserted, "v"), b"")
    expected = bytes([len(java) * 2]) + b"".join(bytes([len(k.encode()) * 2]) + k.encode() + b"\x02v" for k in java) + b"\x00\x00"
    assert data == expected


def test_decode_accepts_negative_block_counts_and_several_blocks() -> None:
    # count -1 (0x01), block size 5 bytes (0x0a), the entry, end of map, empty body
    assert decode(bytes.fromhex("010a026b0476300000")) == ({"k": "v0"}, b"")
    # two blocks of one entry each
    assert decode(bytes.fromhex("020261023102026202320000")) == ({"a": "1", "b": "2"}, b"")


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"\x00",  # no body
        b"\x00\x04a",  # body shorter than its length
        b"\x00\x00\x00",  # a trailing byte
        bytes.fromhex("0202ff02000000"),  # key is not UTF-8
        b"\x00" + b"\xff" * 11,  # varint too long
        b"plain text that is not avro",
    ],
)
def test_decode_rejects_what_is_not_one_event(data: bytes) -> None:
    with pytest.raises(AvroEventError):
        decode(data)


@given(
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=12),
    st.binary(max_size=600),
)
def test_round_trip(headers: dict[str, str], body: bytes) -> None:
    got_headers, got_body = decode(encode(headers, body))
    assert got_headers == headers
    assert got_body == body
