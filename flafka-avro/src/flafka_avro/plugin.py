"""flafka-avro's plugin (entry point ``flafka: avro = flafka_avro.plugin``): registers the
Avro RPC source and sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.registry import Deferred, Entry


@hookimpl
def flafka_register_components() -> list[Entry]:
    """Registered by name: a module is imported only when a configuration uses its type."""
    return [
        Deferred("flafka_avro.source:AvroSource", "source", "avro", ("org.apache.flume.source.AvroSource",)),
        Deferred("flafka_avro.sink:AvroSink", "sink", "avro", ("org.apache.flume.sink.AvroSink",)),
    ]
