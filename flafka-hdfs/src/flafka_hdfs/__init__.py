"""HDFS for Flafka: Apache Flume's ``hdfs`` sink over WebHDFS.

Each open file is staged on local disk (fsync per batch), uploaded write-once at roll
under its in-use name, renamed to its final name, then dropped locally; a restart
finishes whatever a crash left in flight. See ``docs/hdfs.md`` for the exact guarantee.
Registered through the ``flafka`` entry point (:mod:`flafka_hdfs.plugin`).
"""

__version__ = "0.1.0"
