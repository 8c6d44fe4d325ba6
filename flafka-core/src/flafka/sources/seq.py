"""The ``seq`` source (Flume's ``SequenceGeneratorSource``): events whose bodies are the
decimal counter ``0, 1, 2, ...`` in ASCII, ``batchSize`` per batch, until
``totalEvents`` were generated.

A batch the channels refuse (full, or any other failure) is kept and offered again, so a
retry carries the same bodies — the counter only moves past a batch the channels
committed. The source is not replayable (a restart begins again at 0), yet each batch
still gets an acknowledgement token as every source's does; its position is the next
counter value. Generation is batch-at-a-time (about 0.2 µs per event).
"""

from __future__ import annotations

from flafka.batch import Batch
from flafka.errors import ChannelFullError
from flafka.settings import Schema, Setting, Settings
from flafka.source import POLLABLE_SETTINGS, PollableSource, Status

UNBOUNDED = 2**63 - 1
"""Flume's ``Long.MAX_VALUE``: the default ``totalEvents``."""

_FORMAT = b"%d".__mod__


class SequenceGeneratorSource(PollableSource):
    """Generates ``totalEvents`` events numbered from 0 (benchmarks, smoke tests)."""

    type_name = "seq"
    aliases = ("org.apache.flume.source.SequenceGeneratorSource",)
    replayable = False
    summary = "Generate events whose bodies are 0, 1, 2, ... (testing, benchmarks)"
    settings_schema = (
        Schema(
            Setting("batchSize", "int", 1, "events generated per batch", minimum=1),
            Setting("totalEvents", "int", UNBOUNDED, "events generated in all (default: unbounded)", minimum=0),
        )
        + POLLABLE_SETTINGS
    )

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.batch = int(settings["batchSize"])
        self.total = int(settings["totalEvents"])
        self.next = 0
        """The counter value the next new batch starts with (events before it were committed)."""
        self._pending: Batch | None = None
        self._pending_end = 0

    def process(self) -> Status:
        """Offer one batch (the kept one first). READY after a committed batch; BACKOFF
        when everything was generated or the channel is full; other channel errors
        propagate (the batch is kept) and the runner backs off."""
        pending = self._pending
        if pending is None:
            start = self.next
            if start >= self.total:
                self._settle()
                return Status.BACKOFF
            end = min(start + self.batch, self.total)
            pending = self._pending = Batch(list(map(_FORMAT, range(start, end))))
            self._pending_end = end
        token = self.acks.token(self._pending_end)
        try:
            self.processor.process_batch(pending, token)
        except ChannelFullError:
            return Status.BACKOFF
        self.next = self._pending_end
        self._pending = None
        if self.acks.changed.is_set():
            self._settle()
        return Status.READY

    def _settle(self) -> None:
        """Take the delivered positions (nothing to persist: the source cannot replay)."""
        self.acks.delivered()

    def drained(self) -> bool:
        """True once ``totalEvents`` were committed and every batch was delivered."""
        if self.next < self.total or self._pending is not None:
            return False
        self._settle()
        return self.acks.in_flight == 0


COMPONENTS = [SequenceGeneratorSource]
