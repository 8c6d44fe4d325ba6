from __future__ import annotations

import pytest

from flafka.channels.memory import MemoryChannel
from flafka_testkit.contracts import ChannelContract


class TestMemoryChannel(ChannelContract):
    channel_class = MemoryChannel

    @pytest.fixture
    def channel_settings(self) -> dict[str, str]:
        return {"capacity": "1000", "transactionCapacity": "100", "keep-alive": "0"}
