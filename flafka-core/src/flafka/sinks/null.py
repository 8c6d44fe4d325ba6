"""The ``null`` sink (Flume's ``NullSink``): takes batches and discards them.

Useful to measure a source and channel alone. The runtime counts the drained events;
``write`` does nothing at all.
"""

from __future__ import annotations

from flafka.batch import AnyBatch
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink


class NullSink(Sink):
    """Discards every event; each batch counts as delivered."""

    type_name = "null"
    aliases = ("org.apache.flume.sink.NullSink",)
    summary = "Discard every event (benchmarks, tests)"
    batch_aware = True
    settings_schema = Schema(
        Setting("batchSize", "int", 100, "most events taken per transaction", minimum=1),
    )

    def write(self, events: AnyBatch) -> BatchOutcome | None:
        """Deliver nothing, successfully."""
        return None


COMPONENTS = [NullSink]
