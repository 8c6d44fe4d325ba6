"""Shared fixtures for flafka-core's tests. Builders live in :mod:`flafka.testing`."""

from __future__ import annotations

from typing import Any

import pytest

from flafka.testing import make


@pytest.fixture
def memory_channel() -> Any:
    from flafka.channels.memory import MemoryChannel

    ch = make(MemoryChannel, "ch", capacity=1000, transactionCapacity=100, **{"keep-alive": 0})
    ch.start()
    return ch
