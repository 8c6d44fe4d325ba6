"""flafka-kudu's plugin (entry point ``flafka: kudu = flafka_kudu.plugin``): registers the
Kudu sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.component import Component


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_kudu.sink import KuduSink

    return [KuduSink]
