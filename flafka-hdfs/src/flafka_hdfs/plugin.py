"""flafka-hdfs's plugin (entry point ``flafka: hdfs = flafka_hdfs.plugin``): registers the
HDFS sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.registry import Deferred, Entry


@hookimpl
def flafka_register_components() -> list[Entry]:
    """Registered by name: a module is imported only when a configuration uses its type."""
    return [
        Deferred("flafka_hdfs.sink:HdfsSink", "sink", "hdfs", ("org.apache.flume.sink.hdfs.HDFSEventSink",)),
    ]
