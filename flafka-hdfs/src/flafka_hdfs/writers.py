"""Output formats (``hdfs.fileType``), serializers (``serializer``) and codecs (``hdfs.codeC``).

A :class:`FileEncoder` turns batches of one output file into the bytes to append; the
first call includes the file header. Bytes are final-format bytes: staging keeps exactly
what is uploaded, so a re-upload after a crash sends the same bytes.

* ``DataStream``: the serializer's output as is. Serializers (``serializer``) are looked up
  in the component registry (:mod:`flafka.serializers`): ``TEXT``, ``HEADER_AND_TEXT``,
  ``avro_event``, ``AvroEventSerializer`` or a plugin's.
* ``CompressedStream``: each batch's serializer output as one complete codec stream (a gzip
  member, a bzip2 stream, ...), as Flume's ``HDFSCompressedDataStream`` finishes the codec
  stream on every batch; concatenated members decompress with ``gzip -d``/``bzip2 -d``/
  Hadoop's codecs.
* ``SequenceFile``: see :mod:`flafka_hdfs.sequencefile`.

Codecs (Hadoop's stream format of each): ``gzip`` (GzipCodec, ``.gz``), ``bzip2``
(BZip2Codec, ``.bz2``), ``deflate``/``default`` (DeflateCodec/DefaultCodec: a zlib stream,
``.deflate``), ``snappy`` (SnappyCodec, ``.snappy``: Hadoop's block framing — a 4-byte raw
length, then 4-byte-length-prefixed raw Snappy chunks; needs ``cramjam``).
"""

from __future__ import annotations

import bz2
import difflib
import gzip
import hashlib
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flafka.batch import AnyBatch, as_events
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.serializers import EventSerializer, SerializerSpec
from flafka_hdfs.sequencefile import SequenceFileEncoder


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _bzip2(data: bytes) -> bytes:
    return bz2.compress(data, 9)


def _zlib(data: bytes) -> bytes:
    return zlib.compress(data, 6)


SNAPPY_BUFFER = 256 * 1024
SNAPPY_MAX_INPUT = SNAPPY_BUFFER - (SNAPPY_BUFFER // 6 + 32)
"""Hadoop's ``BlockCompressorStream`` for Snappy: buffer 256 KiB minus the compression overhead."""


def _snappy(data: bytes) -> bytes:
    try:
        import cramjam
    except ImportError as exc:  # checked at configuration time; kept for direct callers
        raise ConfigError("hdfs.codeC = snappy needs the 'cramjam' package: pip install 'flafka-hdfs[snappy]'") from exc
    out = []
    pack = struct.Struct(">i").pack
    if not data:
        return pack(0)
    for i in range(0, len(data), SNAPPY_MAX_INPUT):
        piece = data[i : i + SNAPPY_MAX_INPUT]
        packed = bytes(cramjam.snappy.compress_raw(piece))
        out += [pack(len(piece)), pack(len(packed)), packed]
    return b"".join(out)


@dataclass(frozen=True)
class Codec:
    """A Hadoop compression codec: its class, default extension and stream encoder."""

    name: str
    hadoop_class: str
    extension: str
    compress: Callable[[bytes], bytes]


CODECS: dict[str, Codec] = {
    "gzip": Codec("gzip", "org.apache.hadoop.io.compress.GzipCodec", ".gz", _gzip),
    "bzip2": Codec("bzip2", "org.apache.hadoop.io.compress.BZip2Codec", ".bz2", _bzip2),
    "snappy": Codec("snappy", "org.apache.hadoop.io.compress.SnappyCodec", ".snappy", _snappy),
    "deflate": Codec("deflate", "org.apache.hadoop.io.compress.DeflateCodec", ".deflate", _zlib),
    "default": Codec("default", "org.apache.hadoop.io.compress.DefaultCodec", ".deflate", _zlib),
}
_UNSUPPORTED = {"lzo", "lzop", "lz4", "zstd", "zstandard", "brotli", "passthrough"}


def codec_for(value: str) -> Codec:
    """Resolve ``hdfs.codeC`` as Flume does (case-insensitive; a codec's short name, its
    class's simple name with or without ``Codec``, or its full class name)."""
    name = value.strip()
    low = name.lower().rsplit(".", 1)[-1]
    if low.endswith("codec"):
        low = low[: -len("codec")]
    if low in CODECS:
        codec = CODECS[low]
        if codec.name == "snappy":
            try:
                import cramjam  # noqa: F401
            except ImportError:
                raise ConfigError("hdfs.codeC = snappy needs the 'cramjam' package; install it with pip install 'flafka-hdfs[snappy]'")
        return codec
    known = ", ".join(n for n in CODECS if n != "default")
    if low in _UNSUPPORTED:
        raise ConfigError(f"hdfs.codeC = '{value}' is not available in flafka (it needs a native Hadoop library); use one of {known}")
    hint = difflib.get_close_matches(low, list(CODECS), n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else ""
    raise ConfigError(f"hdfs.codeC = '{value}' is not a known codec; use one of {known}{extra}")


# -- encoders ------------------------------------------------------------------------------


class FileEncoder:
    """Encodes the batches of one output file. ``mark()``/``reset(mark)`` undo an encode
    whose bytes could not be written; ``finish()`` gives the bytes that close the file.
    ``encode`` takes a ``list[Event]`` or a column-wise :class:`~flafka.batch.Batch`."""

    def encode(self, events: AnyBatch) -> bytes:
        raise NotImplementedError

    def mark(self) -> Any:
        raise NotImplementedError

    def reset(self, mark: Any) -> None:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class StreamEncoder(FileEncoder):
    """``DataStream`` (``codec`` None) or ``CompressedStream``: one codec stream per batch.
    A ``batch_aware`` serializer (``TEXT``) gets the batch as it comes, others a
    ``list[Event]``."""

    def __init__(self, serializer: SerializerSpec, codec: Codec | None) -> None:
        self.spec = serializer
        self.serializer: EventSerializer = serializer.new()
        self.compress = codec.compress if codec else None
        self.started = False

    def encode(self, events: AnyBatch) -> bytes:
        batch = cast("list[Event]", events if self.serializer.batch_aware else as_events(events))  # a Batch only when batch_aware
        if self.started:
            data = self.serializer.encode(batch)
        else:
            try:
                head = self.serializer.begin()  # first: it may pick the file's sync marker
                data = head + self.serializer.encode(batch)
            except BaseException:
                self.serializer = self.spec.new()  # begin() is called once per instance
                raise
            self.started = True
        return self.compress(data) if self.compress is not None else data

    def mark(self) -> Any:
        return self.started

    def reset(self, mark: Any) -> None:
        if self.started and not mark:  # the file's first bytes were undone: start over
            self.serializer = self.spec.new()
        self.started = bool(mark)

    def finish(self) -> bytes:
        if not self.started:
            return b""
        tail = self.serializer.end()
        if not tail:
            return b""
        return self.compress(tail) if self.compress is not None else tail


class SequenceEncoder(FileEncoder):
    def __init__(self, inner: SequenceFileEncoder) -> None:
        self.inner = inner

    def encode(self, events: AnyBatch) -> bytes:
        return self.inner.encode(events)

    def mark(self) -> Any:
        return self.inner.mark()

    def reset(self, mark: Any) -> None:
        self.inner.reset(mark)


@dataclass(frozen=True)
class OutputFormat:
    """Everything needed to start encoders for new files of one sink."""

    file_type: str
    codec: Codec | None
    serializer: SerializerSpec | None = None
    """DataStream/CompressedStream: the serializer (None for SequenceFile)."""
    text_values: bool = False

    @property
    def extension(self) -> str:
        """The codec's default extension ('' without a codec), used when hdfs.fileSuffix is empty."""
        return self.codec.extension if self.codec else ""

    def new_encoder(self, seed: str, clock: Callable[[], float] = time.time) -> FileEncoder:
        """An encoder for one file. SequenceFile sync markers derive from ``seed`` (the
        file's name), so they are stable for that file."""
        if self.file_type == "SequenceFile":
            sync = hashlib.md5(seed.encode(), usedforsecurity=False).digest()
            codec = self.codec
            return SequenceEncoder(
                SequenceFileEncoder(sync, self.text_values, codec.hadoop_class if codec else None, codec.compress if codec else None, clock)
            )
        assert self.serializer is not None
        return StreamEncoder(self.serializer, self.codec if self.file_type == "CompressedStream" else None)
