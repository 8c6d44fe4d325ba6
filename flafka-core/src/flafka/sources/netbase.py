"""Pieces shared by the network and process sources (netcat, syslog, exec, http).

- :class:`Throttled`: a warning that is logged at most once a minute per kind, with the
  number of repeats it held back (bad input must be reported, never per event).
- :func:`batch_cap`: the largest batch the source's required channels take in one
  transaction (event-driven sources have no ``batchSize`` the loader can check).
- :class:`Delivery`: hand a batch to the channel processor from any thread, one batch at
  a time (interceptors and counters are not thread-safe), split to :func:`batch_cap`.
- :func:`java_address`: a peer address as Java's ``InetSocketAddress.toString()`` prints
  it (``/127.0.0.1:5555``), which Flume puts in its address headers.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from typing import TYPE_CHECKING

from flafka.event import Event

if TYPE_CHECKING:
    from flafka.source import Source

DEFAULT_TRANSACTION_CAPACITY = 100


class Throttled:
    """``warn(kind, message, *args)`` logs once per ``interval`` seconds per ``kind``."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``kind`` was logged less than ``interval`` ago.
        Returns True when the line was logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            message += " (%d more like this in the last minute not logged)"
            args = (*args, held)
        self.logger.warning(message, *args)
        return True


def batch_cap(source: Source) -> int:
    """Smallest ``transactionCapacity`` of the channels ``source`` feeds (100 when a
    channel does not say)."""
    caps = []
    for channel in getattr(source.processor.selector, "channels", {}).values():
        try:
            cap = type(channel).transaction_capacity_from(channel.settings)
        except Exception:  # a channel whose settings do not carry it
            cap = None
        caps.append(cap or DEFAULT_TRANSACTION_CAPACITY)
    return max(1, min(caps)) if caps else DEFAULT_TRANSACTION_CAPACITY


class Delivery:
    """Serialises ``process_batch`` calls of one source's threads.

    :meth:`put` raises what the channel processor raises (ChannelError,
    ChannelFullError): the caller still holds the events and decides (reply FAILED,
    answer 503, retry). Non-replayable sources pass no acknowledgement token.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.lock = threading.Lock()
        self.cap = batch_cap(source)

    def put(self, events: list[Event]) -> None:
        """Put ``events`` in chunks of at most :attr:`cap`; on failure, the chunks before
        the failing one are committed (``committed`` on the raised error says how many
        events)."""
        cap = self.cap
        done = 0
        with self.lock:
            processor = self.source.processor
            try:
                if len(events) <= cap:
                    processor.process_batch(events)
                    return
                for start in range(0, len(events), cap):
                    processor.process_batch(events[start : start + cap])
                    done = start + cap
            except Exception as exc:
                exc.committed = done  # type: ignore[attr-defined]
                raise


def java_address(host: str, port: int) -> str:
    """``/host:port`` as ``InetSocketAddress.toString()`` prints a resolved address
    (IPv6 in Java's uncompressed form: ``/0:0:0:0:0:0:0:1:5555``)."""
    if ":" in host:
        try:
            groups = ipaddress.IPv6Address(host.split("%")[0]).exploded.split(":")
            host = ":".join(f"{int(g, 16):x}" for g in groups)
        except ValueError:
            pass
    return f"/{host}:{port}"
