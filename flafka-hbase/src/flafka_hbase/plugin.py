"""flafka-hbase's plugin (entry point ``flafka: hbase = flafka_hbase.plugin``): registers
the HBase sinks and the HBase serializers. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.registry import Deferred, Entry


@hookimpl
def flafka_register_components() -> list[Entry]:
    """Registered by name: a module is imported only when a configuration uses its type."""
    from flafka_hbase.serializers import RegexHBaseSerializer, SimpleHBaseSerializer  # light: no client imports

    return [
        Deferred("flafka_hbase.sink:HBase2Sink", "sink", "hbase2", ("org.apache.flume.sink.hbase2.HBase2Sink",)),
        Deferred("flafka_hbase.sink:HBaseSink", "sink", "hbase", ("org.apache.flume.sink.hbase.HBaseSink",)),
        Deferred("flafka_hbase.sink:AsyncHBaseSink", "sink", "asynchbase", ("org.apache.flume.sink.hbase.AsyncHBaseSink",)),
        SimpleHBaseSerializer,
        RegexHBaseSerializer,
    ]
