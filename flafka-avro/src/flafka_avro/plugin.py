"""flafka-avro's plugin (entry point ``flafka: avro = flafka_avro.plugin``): registers the
Avro RPC source and sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.component import Component


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_avro.sink import AvroSink
    from flafka_avro.source import AvroSource

    return [AvroSource, AvroSink]
