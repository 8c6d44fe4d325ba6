"""``flafka describe file`` lists every key of Flume 1.11's file channel."""

from __future__ import annotations

import json

from click.testing import CliRunner

from flafka.cli import main

FLUME_KEYS = [
    "checkpointDir", "dataDirs", "capacity", "transactionCapacity", "checkpointInterval", "maxFileSize",
    "minimumRequiredSpace", "keep-alive", "useDualCheckpoints", "backupCheckpointDir", "compressBackupCheckpoint",
    "checkpointOnClose", "fsyncPerTransaction", "fsyncInterval", "use-fast-replay", "use-log-replay-v1", "encryption.*",
]  # fmt: skip


def test_describe_file_lists_every_key() -> None:
    result = CliRunner().invoke(main, ["describe", "file", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["type"], doc["kind"]) == ("file", "channel")
    assert [s["key"] for s in doc["settings"]] == sorted(FLUME_KEYS, key=[s["key"] for s in doc["settings"]].index)
    assert set(FLUME_KEYS) == {s["key"] for s in doc["settings"]}
    by_alias = CliRunner().invoke(main, ["describe", "org.apache.flume.channel.file.FileChannel"])
    assert by_alias.exit_code == 0 and "file (channel)" in by_alias.stdout
