"""Kudu for Flafka: Flume's Kudu sink (``org.apache.flume.sink.kudu.KuduSink``) and its
operation producers, on the official Kudu Java client through JPype (default) or on
kudu-python when it is importable.

The sink is registered through the ``flafka`` entry point (:mod:`flafka_kudu.plugin`);
operation producers through the ``flafka_kudu.producers`` entry point group
(:mod:`flafka_kudu.producers`).
"""

__version__ = "0.1.0"
