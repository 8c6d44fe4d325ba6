"""flafka-hbase's plugin (entry point ``flafka: hbase = flafka_hbase.plugin``): registers
the HBase sinks and the HBase serializers. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.component import Component


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_hbase.serializers import RegexHBaseSerializer, SimpleHBaseSerializer
    from flafka_hbase.sink import AsyncHBaseSink, HBase2Sink, HBaseSink

    return [HBase2Sink, HBaseSink, AsyncHBaseSink, SimpleHBaseSerializer, RegexHBaseSerializer]
