"""Builders for the file channel's tests (imported by name: conftest.py puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flafka.channels.file import FileChannel
from flafka.event import Event
from flafka.testing import make


def file_channel(root: Path, **keys: Any) -> FileChannel:
    """A file channel over ``root/checkpoint`` and ``root/data1,root/data2`` (not started)."""
    settings: dict[str, Any] = {
        "checkpointDir": str(root / "checkpoint"),
        "dataDirs": f"{root / 'data1'},{root / 'data2'}",
        "minimumRequiredSpace": str(1 << 20),
        "keep-alive": "0",
    }
    settings.update(keys)
    ch = make(FileChannel, "fc", **settings)
    assert isinstance(ch, FileChannel)
    return ch


def events(start: int, n: int) -> list[Event]:
    return [Event(b"%08d" % i, {"i": str(i)} if i % 3 == 0 else None) for i in range(start, start + n)]


def put(ch: FileChannel, start: int, n: int) -> None:
    with ch.put_transaction() as tx:
        tx.put(events(start, n))


def drain(ch: FileChannel, batch: int = 97) -> list[int]:
    out: list[int] = []
    while True:
        tx = ch.take_transaction()
        got = tx.take(batch)
        tx.commit()
        if not got:
            return out
        out += [int(e.body) for e in got]


def crash(ch: FileChannel) -> None:
    """Stop as a killed process would leave the disk: no checkpoint at close."""
    ch.checkpoint_on_close = False
    ch.stop()
