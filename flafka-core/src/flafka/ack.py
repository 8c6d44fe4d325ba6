"""End-to-end acknowledgements (DESIGN §2): a replayable source advances its position
only past events that every sink delivered.

A source owns one :class:`AckTracker`. For each batch it calls :meth:`AckTracker.token`
with the position the source may commit once the batch is delivered. The channel
processor adds to the token the number of event copies it put into channels (``add``) and
releases its own hold (``release``); a channel carries ``(token, count)`` runs beside its
events, and a sink's take commit pays them off (``pay``). A durable channel pays at put
commit. When a token is fully paid, the tracker moves every paid-off token at the head of
its queue to :meth:`AckTracker.delivered`, in order. Bookkeeping is per batch, never per
event.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class AckToken:
    """One source batch in flight. ``pending`` counts copies not yet delivered, plus one
    hold while the channel processor is still putting the batch."""

    __slots__ = ("done", "pending", "position", "tracker")

    def __init__(self, tracker: AckTracker, position: Any) -> None:
        self.tracker = tracker
        self.position = position
        self.pending = 1
        self.done = False

    def add(self, count: int) -> None:
        """Expect ``count`` more copies to be delivered (call before the put commits)."""
        with self.tracker.lock:
            self.pending += count

    def pay(self, count: int) -> None:
        """``count`` copies were delivered (or need no delivery: dropped, put rolled back)."""
        tracker = self.tracker
        with tracker.lock:
            self.pending -= count
            if self.pending <= 0 and not self.done:
                self.done = True
                tracker._advance()

    def abandon(self) -> None:
        """The batch failed and the source will retry it under a new token: this token
        must never advance the position (copies already in channels may still pay it)."""
        tracker = self.tracker
        with tracker.lock:
            if not self.done:
                self.done = True
                try:
                    tracker._tokens.remove(self)
                except ValueError:
                    pass
                tracker._advance()

    def release(self) -> None:
        """The channel processor finished putting this batch."""
        self.pay(1)

    def __repr__(self) -> str:
        return f"AckToken(position={self.position!r}, pending={self.pending})"


class AckTracker:
    """Tokens of one source, in the order the source created them.

    Thread-safe: sinks pay tokens from their threads; the source thread reads
    :meth:`delivered`. ``in_flight`` is the number of tokens not yet delivered.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._tokens: deque[AckToken] = deque()
        self._delivered: list[Any] = []
        self.changed = threading.Event()

    def token(self, position: Any) -> AckToken:
        tok = AckToken(self, position)
        with self.lock:
            self._tokens.append(tok)
        return tok

    def _advance(self) -> None:  # called with the lock held
        tokens = self._tokens
        moved = False
        while tokens and tokens[0].done:
            self._delivered.append(tokens.popleft().position)
            moved = True
        if moved:
            self.changed.set()

    def delivered(self) -> list[Any]:
        """Positions of batches delivered since the last call, oldest first."""
        with self.lock:
            out, self._delivered = self._delivered, []
            self.changed.clear()
        return out

    @property
    def in_flight(self) -> int:
        with self.lock:
            return len(self._tokens)

    @property
    def in_flight_events(self) -> int:
        """Event copies put into channels and not yet delivered, for metrics (a batch
        still being put counts one more). O(batches in flight), read once a second."""
        with self.lock:
            return sum(tok.pending for tok in self._tokens if not tok.done and tok.pending > 0)

    def forget(self) -> None:
        """Drop every token (the source restarts from its last committed position)."""
        with self.lock:
            for tok in self._tokens:
                tok.done = True
            self._tokens.clear()
            self._delivered.clear()


Run = tuple[AckToken, int]
"""``(token, count)``: ``count`` consecutive events in a channel belong to ``token``."""


def pay_runs(runs: list[Run]) -> None:
    """Pay off every run (a take commit, or a durable put commit)."""
    for token, count in runs:
        token.pay(count)
