"""HBase for Flafka: Flume's ``hbase2``, ``hbase`` and ``asynchbase`` sinks and their
serializers, writing through HBase's Thrift1 server with happybase.

Components are registered through the ``flafka`` entry point (:mod:`flafka_hbase.plugin`);
import the modules directly to use them in code or tests.
"""

__version__ = "0.1.0"
