"""Flume's Avro RPC source and sink (``type = avro``) for Flafka."""

__version__ = "0.1.0"
