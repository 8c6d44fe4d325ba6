"""flafka-kafka's plugin (entry point ``flafka: kafka = flafka_kafka.plugin``): registers
the Kafka source, sink and channel. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.component import Component


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_kafka.channel import KafkaChannel
    from flafka_kafka.sink import KafkaSink
    from flafka_kafka.source import KafkaSource

    return [KafkaSource, KafkaChannel, KafkaSink]
