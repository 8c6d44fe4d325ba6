"""SequenceFile bytes against a vector built from Hadoop's format description."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import zlib

import fastavro
import pytest

from flafka.event import Event
from flafka.serializers import SerializerSpec, serializer_or_raise
from flafka_hdfs import sequencefile as sf
from flafka_hdfs.writers import CODECS, OutputFormat, codec_for

SYNC = bytes(range(16))


@pytest.mark.parametrize(
    "value,encoded",
    [
        (0, "00"),
        (127, "7f"),
        (-112, "90"),
        (128, "8f80"),
        (255, "8fff"),
        (256, "8e0100"),
        (-113, "8770"),
        (-1, "ff"),
        (2**31, "8c80000000"),
    ],
)
def test_vlong_matches_hadoop(value: int, encoded: str) -> None:
    assert sf.vlong(value).hex() == encoded


def test_uncompressed_file_bytes() -> None:
    enc = sf.SequenceFileEncoder(SYNC, clock=lambda: 5.0)
    data = enc.encode([Event(b"ab", {"timestamp": "1"}), Event(b"", {})])
    expected = (
        b"SEQ\x06"
        + b"\x21org.apache.hadoop.io.LongWritable"
        + b"\x22org.apache.hadoop.io.BytesWritable"
        + b"\x00\x00"  # not compressed, not block-compressed
        + b"\x00\x00\x00\x00"  # no metadata
        + SYNC
        + bytes.fromhex("0000000e 00000008 0000000000000001 00000002") + b"ab"
        + bytes.fromhex("0000000c 00000008 0000000000001388 00000000")  # now = 5000 ms
    )  # fmt: skip
    assert data == expected
    info, records = sf.read_records(data)
    assert info["sync"] == SYNC and records == [(1, b"ab"), (5000, b"")]


def test_text_values_and_sync_markers_every_interval() -> None:
    enc = sf.SequenceFileEncoder(SYNC, text_values=True, clock=lambda: 0.0)
    bodies = [b"x" * 1000 for _ in range(300)]
    data = enc.encode([Event(b, {"timestamp": str(i)}) for i, b in enumerate(bodies)])
    assert data.startswith(b"SEQ\x06\x21org.apache.hadoop.io.LongWritable\x19org.apache.hadoop.io.Text")
    assert data.count(b"\xff\xff\xff\xff" + SYNC) == len(data) // sf.SYNC_INTERVAL
    info, records = sf.read_records(data)
    assert info["value"] == sf.TEXT
    assert records == [(i, b) for i, b in enumerate(bodies)]


def test_encoding_in_two_batches_equals_one_batch() -> None:
    events = [Event(b"e%d" % i * 50, {"timestamp": str(i)}) for i in range(3000)]
    one = sf.SequenceFileEncoder(SYNC).encode(events)
    enc = sf.SequenceFileEncoder(SYNC)
    assert enc.encode(events[:1234]) + enc.encode(events[1234:]) == one


def test_block_compressed_layout() -> None:
    enc = sf.SequenceFileEncoder(SYNC, codec_class=CODECS["default"].hadoop_class, compress=zlib.compress, clock=lambda: 0.0)
    data = enc.encode([Event(b"ab", {"timestamp": "7"}), Event(b"cde", {"timestamp": "8"})])
    head = enc.header()
    assert head[-16:] == SYNC and b"\x01\x01\x2aorg.apache.hadoop.io.compress.DefaultCodec" in head
    block = data[len(head) :]
    assert block[:20] == b"\xff\xff\xff\xff" + SYNC and block[20] == 2
    pos = 21
    buffers = []
    for _ in range(4):
        n = block[pos]
        buffers.append(zlib.decompress(block[pos + 1 : pos + 1 + n]))
        pos += 1 + n
    assert pos == len(block)
    assert buffers == [b"\x08\x08", struct.pack(">qq", 7, 8), b"\x06\x07", b"\x00\x00\x00\x02ab\x00\x00\x00\x03cde"]


def test_codecs_round_trip_with_standard_tools() -> None:
    data = b"hello hadoop\n" * 1000
    assert gzip.decompress(codec_for("gzip").compress(data)) == data
    assert gzip.decompress(codec_for("GzipCodec").compress(data) * 2) == data * 2  # concatenated members
    assert bz2.decompress(codec_for("org.apache.hadoop.io.compress.BZip2Codec").compress(data)) == data
    assert zlib.decompress(codec_for("deflate").compress(data)) == data


def test_snappy_uses_hadoop_block_framing() -> None:
    cramjam = pytest.importorskip("cramjam")
    data = bytes(range(256)) * 2000  # > one 256 KiB buffer
    packed = codec_for("snappy").compress(data)
    out, pos = b"", 0
    while pos < len(packed):
        raw_len, comp_len = struct.unpack_from(">ii", packed, pos)
        piece = bytes(cramjam.snappy.decompress_raw(packed[pos + 8 : pos + 8 + comp_len]))
        assert len(piece) == raw_len
        out += piece
        pos += 8 + comp_len
    assert out == data


def test_unknown_and_unsupported_codecs_name_the_fix() -> None:
    from flafka.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'gzip'"):
        codec_for("gzp")
    with pytest.raises(ConfigError, match="not available in flafka"):
        codec_for("lzo")


def spec(name: str = "TEXT", **sub: str) -> SerializerSpec:
    return serializer_or_raise("k", "serializer", name, sub)


def test_compressed_stream_is_one_member_per_batch() -> None:
    enc = OutputFormat("CompressedStream", codec_for("gzip"), spec()).new_encoder("seed")
    data = enc.encode([Event(b"a"), Event(b"b")]) + enc.encode([Event(b"c")])
    assert gzip.decompress(data) == b"a\nb\nc\n"


def test_avro_event_batches_are_whole_blocks_of_one_container() -> None:
    enc = OutputFormat("DataStream", None, spec("avro_event", compressionCodec="deflate")).new_encoder("seed")
    first = enc.encode([Event(b"ab", {"k": "v"})])
    mark = enc.mark()
    enc.encode([Event(b"lost", {})])  # a batch whose bytes were not written
    enc.reset(mark)
    second = enc.encode([Event(b"cd", {})])
    reader = fastavro.block_reader(io.BytesIO(first + second))
    assert reader.metadata["avro.codec"] == "deflate"
    assert [list(block) for block in reader] == [[{"headers": {"k": "v"}, "body": b"ab"}], [{"headers": {}, "body": b"cd"}]]
