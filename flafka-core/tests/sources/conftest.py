"""Helpers for the network sources' tests: wiring a source to a memory channel, clients."""

from __future__ import annotations

import socket
import time
from typing import Any

from flafka.ack import AckTracker
from flafka.channels.memory import MemoryChannel
from flafka.event import Event
from flafka.metrics.counters import SourceCounter
from flafka.processor import ChannelProcessor
from flafka.selectors.builtin import ReplicatingChannelSelector
from flafka.source import Source
from flafka.testing import make


def wire(source: Source, capacity: int = 1000, tx: int = 100, acknowledgements: bool = True) -> MemoryChannel:
    """Attach ``source`` to a fresh memory channel (keep-alive 0) as the agent would
    (acknowledgements apply to replayable sources only, as in the agent)."""
    channel = make(MemoryChannel, "c1", capacity=capacity, transactionCapacity=tx, **{"keep-alive": 0})
    channel.start()
    source.counter = SourceCounter(source.name, source.type_name)
    source.acks = AckTracker()
    selector = make(ReplicatingChannelSelector, "selector")
    selector.bind({"c1": channel})
    source.processor = ChannelProcessor(selector, [], source.counter, acknowledgements=acknowledgements and source.replayable)
    return channel


def drain(channel: MemoryChannel) -> list[Event]:
    out: list[Event] = []
    while True:
        tx = channel.take_transaction()
        got = tx.take(1000)
        tx.commit()
        if not got:
            return out
        out.extend(got)


def wait_for(cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def connect(port: int, timeout: float = 20.0) -> socket.socket:
    """Connect to 127.0.0.1:port, retrying while nothing listens yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_replies(sock: socket.socket, n: int) -> list[bytes]:
    """Read ``n`` newline-terminated replies."""
    buf = b""
    while buf.count(b"\n") < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n")[:n]
