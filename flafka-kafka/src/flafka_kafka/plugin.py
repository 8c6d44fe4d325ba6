"""flafka-kafka's plugin (entry point ``flafka: kafka = flafka_kafka.plugin``): registers
the Kafka source, sink and channel. Called once at start-up, never on the data path."""

from __future__ import annotations

from flafka import hookimpl
from flafka.registry import Deferred, Entry


@hookimpl
def flafka_register_components() -> list[Entry]:
    """Registered by name: a module is imported only when a configuration uses its type."""
    return [
        Deferred("flafka_kafka.source:KafkaSource", "source", "kafka", ("org.apache.flume.source.kafka.KafkaSource",)),
        Deferred("flafka_kafka.channel:KafkaChannel", "channel", "kafka", ("org.apache.flume.channel.kafka.KafkaChannel",)),
        Deferred("flafka_kafka.sink:KafkaSink", "sink", "kafka", ("org.apache.flume.sink.kafka.KafkaSink",)),
    ]
