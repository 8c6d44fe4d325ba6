"""Power-loss simulation: for ≥ 200 random crash points of a recorded run (concurrent
puts, takes committed and rolled back, checkpoints, file roll-over and deletion), build a
state a power loss could leave and restart the channel on it. Every event whose put
commit returned is there exactly once unless its take commit began before the crash
(then it may be gone; it is gone if that commit returned); nothing is there twice; each
putter's events come back in order; no state prevents the start."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

from fchelpers import file_channel
from powerloss import RecordingIO, crash_state, materialize

from flafka.event import Event

CRASH_POINTS = int(os.environ.get("FLAFKA_POWERLOSS_POINTS", "240"))
PUTTERS = 2


def run_workload(root: Path, seed: int) -> tuple[RecordingIO, dict[int, int], dict[int, int], dict[int, int], list[str]]:
    io = RecordingIO()
    ch = file_channel(root, maxFileSize="3000", capacity="400", transactionCapacity="40")
    ch.io = io
    for d in [ch.checkpoint_dir, *ch.data_dirs]:
        os.makedirs(d, exist_ok=True)
    ch.start()
    put_done: dict[int, int] = {}
    take_began: dict[int, int] = {}
    take_done: dict[int, int] = {}
    lock = threading.Lock()

    def putter(k: int) -> None:
        rng = random.Random(seed * 10 + k)
        next_id = k * 1_000_000
        for _ in range(60):
            n = rng.randint(1, 12)
            batch = [Event(b"%d" % (next_id + i), {"p": str(k)} if rng.random() < 0.3 else None) for i in range(n)]
            try:
                with ch.put_transaction() as tx:
                    tx.put(batch)
            except Exception:  # full: retried with new ids (the old ones may or may not be there)
                next_id += n
                continue
            mark = io.mark()
            with lock:
                for i in range(n):
                    put_done[next_id + i] = mark
            next_id += n

    def taker() -> None:
        rng = random.Random(seed * 10 + 9)
        for _ in range(120):
            tx = ch.take_transaction()
            got = tx.take(rng.randint(1, 30))
            if got and rng.random() < 0.7:
                began = io.mark()
                tx.commit()
                done = io.mark()
                with lock:
                    for e in got:
                        take_began[int(e.body)] = began
                        take_done[int(e.body)] = done
            else:
                tx.rollback()
            if rng.random() < 0.08:
                ch.checkpoint()

    threads = [threading.Thread(target=putter, args=(k,)) for k in range(PUTTERS)] + [threading.Thread(target=taker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ch.stop()
    return io, put_done, take_began, take_done, [ch.checkpoint_dir, *ch.data_dirs]


def test_power_loss_at_random_points_loses_no_committed_event(tmp_path: Path) -> None:
    root = tmp_path / "run"
    io, put_done, take_began, take_done, dirs = run_workload(root, seed=7)
    ops = io.ops
    kinds = {op[0] for op in ops}
    assert {"create", "write", "sync", "syncdir", "rename", "unlink"} <= kinds, kinds
    rng = random.Random(20261202)
    points = sorted(rng.randint(0, len(ops)) for _ in range(CRASH_POINTS))
    checked_present = 0
    for n, point in enumerate(points):
        files = crash_state(ops, point, rng)
        target = tmp_path / f"crash-{n}"
        materialize(files, str(root), str(target), dirs)
        ch = file_channel(target, maxFileSize="3000", capacity="400", transactionCapacity="40")
        ch.start()  # no state may prevent the start
        got: list[int] = []
        while True:
            tx = ch.take_transaction()
            batch = tx.take(40)
            tx.commit()
            if not batch:
                break
            got += [int(e.body) for e in batch]
        ch.stop()
        where = f"crash point {point} of {len(ops)} (state {n})"
        seen = set(got)
        assert len(seen) == len(got), f"{where}: duplicated events {sorted(e for e in seen if got.count(e) > 1)[:10]}"
        must = {e for e, mark in put_done.items() if mark <= point and take_began.get(e, len(ops) + 1) >= point}
        missing = must - seen
        assert not missing, f"{where}: committed events lost: {sorted(missing)[:10]}"
        gone = {e for e, mark in take_done.items() if mark <= point}
        assert not (gone & seen), f"{where}: events whose take committed came back: {sorted(gone & seen)[:10]}"
        for k in range(PUTTERS):
            mine = [e for e in got if e // 1_000_000 == k]
            assert mine == sorted(mine), f"{where}: putter {k}'s events out of order"
        checked_present += len(must)
    assert checked_present > 1000  # the check had teeth: many committed events were required
