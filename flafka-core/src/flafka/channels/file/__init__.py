"""Flume's ``file`` channel: a durable write-ahead log with group commit (see
docs/file-channel.md for the on-disk format and the guarantees)."""

from flafka.channels.file.channel import COMPONENTS, FileChannel

__all__ = ["COMPONENTS", "FileChannel"]
