"""flafka-kudu's plugin (entry point ``flafka: kudu = flafka_kudu.plugin``): registers the
Kudu sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.registry import Deferred, Entry


@hookimpl
def flafka_register_components() -> list[Entry]:
    """Registered by name: a module is imported only when a configuration uses its type."""
    return [
        Deferred(
            "flafka_kudu.sink:KuduSink", "sink", "kudu", ("org.apache.flume.sink.kudu.KuduSink", "org.apache.kudu.flume.sink.KuduSink")
        ),
    ]
