"""Replay time of the file channel with 1,000,000 queued events (100-byte bodies, put in
batches of 1000): start after a crash with no checkpoint (every data file replayed), and
after a checkpoint (nothing after it to replay); then the time to take them all.

    python benchmarks/file_channel_replay.py [events] [batch]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from flafka.channels.file import FileChannel
from flafka.event import Event
from flafka.testing import make


def channel(root: Path, **keys: str) -> FileChannel:
    ch = make(
        FileChannel,
        "bench",
        checkpointDir=str(root / "checkpoint"),
        dataDirs=str(root / "data"),
        capacity="2000000",
        transactionCapacity="10000",
        checkpointInterval="3600000",
        minimumRequiredSpace=str(1 << 20),
        **keys,
    )
    assert isinstance(ch, FileChannel)
    return ch


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        ch = channel(root)
        ch.start()
        body = b"x" * 100
        began = time.monotonic()
        for i in range(0, total, batch):
            with ch.put_transaction() as tx:
                tx.put([Event(b"%012d" % (i + j) + body[12:]) for j in range(batch)])
        put_s = time.monotonic() - began
        syncs = ch._writer.syncs if ch._writer else 0
        ch.checkpoint_on_close = False
        ch.stop()  # as a crash leaves it: no checkpoint
        print(f"put {total} events in batches of {batch}: {put_s:.2f} s ({total / put_s:,.0f} events/s, {syncs} syncs)")

        ch = channel(root)
        began = time.monotonic()
        ch.start()
        full = time.monotonic() - began
        print(f"start with no checkpoint (full replay): {full:.2f} s (replay {ch.replay_seconds:.2f} s), {ch.size()} events")
        ch.stop()  # checkpoint on close

        ch = channel(root)
        began = time.monotonic()
        ch.start()
        fast = time.monotonic() - began
        print(f"start after a checkpoint: {fast:.3f} s (replay {ch.replay_seconds:.3f} s), {ch.size()} events")
        began = time.monotonic()
        n = 0
        while True:
            tx = ch.take_transaction()
            got = tx.take(batch)
            tx.commit()
            if not got:
                break
            n += len(got)
        take_s = time.monotonic() - began
        print(f"took {n} events back from disk: {take_s:.2f} s ({n / take_s:,.0f} events/s)")
        ch.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
