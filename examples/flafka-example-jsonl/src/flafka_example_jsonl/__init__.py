"""flafka-example-jsonl: a Flafka connector with a ``jsonl`` sink, which appends each
event as one JSON line to size-rolled files in a local directory, and a replayable
``jsonl`` source, which reads those files back.

The plugin module (:mod:`flafka_example_jsonl.plugin`) is what the ``flafka`` entry point
names; the sink lives in :mod:`flafka_example_jsonl.sink`, the source in
:mod:`flafka_example_jsonl.source`.
"""

__version__ = "0.1.0"
