"""The channel processor: what a source calls to hand a batch to its channels.

Order (Flume's ``ChannelProcessor.processEventBatch``): interceptors, then the selector,
then one put transaction per required channel, in order; then optional channels, whose
failures are logged and ignored. A failing required channel raises to the source, which
keeps its batch and retries (channels committed before it may then hold duplicates, as in
Flume).

Acknowledgements: with ``acknowledgements`` on, each put into a *required* channel carries
the batch's token and the token expects one delivery per event copy; with it off (Flume's
rule) the token is paid as soon as the required channels committed. Optional channels
never carry the token: their failures are ignored (Flume), so their delivery must not hold
the source's position back either. If the batch fails, the token is abandoned so the
source's position never moves past it.

Threads: :meth:`ChannelProcessor.process_batch` may be called from several threads at
once (an event-driven source's connection threads); callers need no lock of their own.
The interceptor chain, the selector and the processor's accounting (source counters,
discard and failure tallies) run under the processor's lock, one batch at a time, so
interceptors and selectors with state need no locking of their own. The puts run outside
it (channels are thread-safe), so concurrent callers' commits overlap and a file channel
syncs them together. Each caller's batches keep their order; between callers, batches
reach a channel in no defined order. Single-threaded cost: two uncontended lock
acquisitions per batch.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

from flafka.ack import AckToken
from flafka.batch import AnyBatch, as_events
from flafka.channel import Channel
from flafka.errors import ChannelError
from flafka.event import Event
from flafka.interceptor import Interceptor
from flafka.metrics.counters import SourceCounter
from flafka.selector import ChannelSelector, Routing

log = logging.getLogger(__name__)


class ChannelProcessor:
    """Interceptors, selector, then put transactions: see the module docstring, which
    states the threading contract (safe for concurrent callers)."""

    def __init__(
        self,
        selector: ChannelSelector,
        interceptors: list[Interceptor],
        counter: SourceCounter,
        acknowledgements: bool = True,
    ) -> None:
        self.selector = selector
        self.interceptors = interceptors
        self.counter = counter
        self.acknowledgements = acknowledgements
        self._lock = threading.Lock()
        """Held around interceptors, selector and accounting; never around a put."""
        self._optional_failures: dict[str, int] = {}
        self._selector_discarded = 0

    def process_batch(self, events: AnyBatch, token: AckToken | None = None) -> None:
        """Put ``events`` (a ``list[Event]`` or a column-wise :class:`~flafka.batch.Batch`)
        into the selected channels. Components that are not ``batch_aware`` see it as a
        ``list[Event]``. Raises ChannelError (or
        ChannelFullError) when a required channel could not take the batch; nothing was
        lost then — the caller still holds the batch and must retry it. Safe to call from
        several threads at once (module docstring)."""
        counter = self.counter
        n = len(events)
        try:
            with self._lock:
                counter.event_received_count += n
                counter.append_batch_received_count += 1
                required, optional = self._route(events, n)
            carried = token if self.acknowledgements else None
            for channel, batch in required:
                self._put(channel, batch, carried)
            for channel, batch in optional:
                try:
                    self._put(channel, batch, None)  # best effort: never holds the source back
                except ChannelError as exc:
                    self._optional_failed(channel, exc)
        except BaseException:
            with self._lock:
                counter.channel_write_fail += 1
            if token is not None:
                token.abandon()
            raise
        with self._lock:
            counter.event_accepted_count += n
            counter.append_batch_accepted_count += 1
        if token is not None:
            token.release()

    def _route(self, events: AnyBatch, n: int) -> tuple[Routing, Routing]:
        """Interceptors, then the selector (call with the lock held)."""
        counter = self.counter
        for interceptor in self.interceptors:
            if not interceptor.batch_aware:
                events = as_events(events)
            events = interceptor.intercept(cast("list[Event]", events))  # a Batch only when batch_aware
            if not events:
                break
        if len(events) != n:
            counter.discarded += n - len(events)  # dropped on purpose by an interceptor
        if not events:
            return [], []
        selector = self.selector
        required, optional = selector.select(cast("list[Event]", events) if selector.batch_aware else as_events(events))
        discarded = getattr(self.selector, "discarded", 0)
        if discarded != self._selector_discarded:  # multiplexing: unmapped, no default
            counter.discarded += discarded - self._selector_discarded
            self._selector_discarded = discarded
        return required, optional

    @staticmethod
    def _put(channel: Channel, batch: AnyBatch, token: AckToken | None) -> None:
        if not channel.batch_aware:
            batch = as_events(batch)
        tx = channel.put_transaction()
        try:
            tx.put(cast("list[Event]", batch), token)  # a Batch only when batch_aware
            if token is not None:
                token.add(len(batch))  # staged, not yet visible: no sink can pay before this
            tx.commit()
        except BaseException:
            tx.rollback()
            raise

    def _optional_failed(self, channel: Channel, exc: ChannelError) -> None:
        with self._lock:
            seen = self._optional_failures.get(channel.name, 0)
            self._optional_failures[channel.name] = seen + 1
        if seen % 1000 == 0:  # one line per 1000 failures: never per event
            log.warning("optional channel '%s' did not take a batch (ignored, as Flume does): %s", channel.name, exc)
