"""Kafka for Flafka: Flume's Kafka source, sink and channel on librdkafka
(confluent-kafka), and Flume's Avro event format.

Components are registered through the ``flafka`` entry point (:mod:`flafka_kafka.plugin`);
import the modules directly to use them in code or tests.
"""

__version__ = "0.1.0"
