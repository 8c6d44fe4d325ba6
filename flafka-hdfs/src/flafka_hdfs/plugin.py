"""flafka-hdfs's plugin (entry point ``flafka: hdfs = flafka_hdfs.plugin``): registers the
HDFS sink. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.component import Component


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_hdfs.sink import HdfsSink

    return [HdfsSink]
