from __future__ import annotations

from pathlib import Path

import pytest

from flafka.channels.file import FileChannel
from flafka_testkit.contracts import ChannelContract


class TestFileChannel(ChannelContract):
    channel_class = FileChannel

    @pytest.fixture
    def channel_settings(self, tmp_path: Path) -> dict[str, str]:
        return {
            "checkpointDir": str(tmp_path / "checkpoint"),
            "dataDirs": f"{tmp_path / 'data1'},{tmp_path / 'data2'}",
            "capacity": "1000",
            "transactionCapacity": "100",
            "keep-alive": "0",
            "minimumRequiredSpace": str(1 << 20),
        }
