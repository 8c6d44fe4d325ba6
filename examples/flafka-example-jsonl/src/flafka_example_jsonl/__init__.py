"""flafka-example-jsonl: a Flafka connector with one sink, ``jsonl``, which appends each
event as one JSON line to size-rolled files in a local directory.

The plugin module (:mod:`flafka_example_jsonl.plugin`) is what the ``flafka`` entry point
names; the sink lives in :mod:`flafka_example_jsonl.sink`.
"""

__version__ = "0.1.0"
