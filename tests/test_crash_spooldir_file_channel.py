"""Crash campaign: spooldir -> file channel -> file_roll with ``acknowledgements = false``
(Flume's rule: the source records its position once the channel holds the batch),
SIGKILLed at random moments while data moves, restarted each time.

Passes when no line is lost, nothing is corrupt, and each kill's duplicates are at most
what that kill left in flight, measured right after the kill by reading the killed
agent's position file and its file channel (offline): lines the channel held or the sink
had written that the source had not yet recorded (the restarted source reads them
again), plus lines both written by the sink and still in the channel (a take not yet
committed). CI size by default; ``FLAFKA_FILECHANNEL_CRASH_LINES=1000000
FLAFKA_FILECHANNEL_CRASH_KILLS=20`` (the nox ``crash`` session) is the full campaign.
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from flafka.channels.file import records
from flafka.channels.file.fileio import FileIO
from flafka.channels.file.log import find_files
from flafka.channels.file.replay import replay
from flafka_testkit.crash import AgentProcess, wait_until, write_lines


def _sibling(name: str) -> Any:
    """A module next to this one (pytest's importlib mode puts none on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"_flafka_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_roll = _sibling("test_crash_spooldir_file_roll")
LINE_BYTES: int = _roll.LINE_BYTES
OutputScanner = _roll.OutputScanner
output_bytes = _roll.output_bytes

LINES = int(os.environ.get("FLAFKA_FILECHANNEL_CRASH_LINES", "100000"))
KILLS = int(os.environ.get("FLAFKA_FILECHANNEL_CRASH_KILLS", "5"))
FILES = 10
CAPACITY = 20_000
BATCH = 500

CONF = """
agent.sources = spool
agent.channels = fc
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = {batch}
agent.sources.spool.pollDelay = 50
agent.sources.spool.acknowledgements = false
agent.sources.spool.channels = fc
agent.channels.fc.type = file
agent.channels.fc.checkpointDir = {root}/checkpoint
agent.channels.fc.dataDirs = {root}/data1,{root}/data2
agent.channels.fc.capacity = {capacity}
agent.channels.fc.transactionCapacity = {batch}
agent.channels.fc.checkpointInterval = 2000
agent.channels.fc.maxFileSize = 8000000
agent.channels.fc.minimumRequiredSpace = 1048576
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = {batch}
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = fc
"""


class _ReadOnly(FileIO):
    """Replays without changing anything (the restarted agent does the cutting)."""

    def truncate(self, fd: int, size: int) -> None:
        pass

    def unlink(self, path: str) -> None:
        pass

    def pwritev(self, fd: int, bufs: list[bytes], offset: int) -> None:
        pass

    def open_write(self, path: str) -> int:
        return os.open(path, os.O_RDONLY)


def channel_lines(root: Path) -> list[int]:
    """Sequence numbers of the lines the killed agent's file channel holds."""
    data_dirs = [str(root / "data1"), str(root / "data2")]
    result = replay("probe", _ReadOnly(), data_dirs, [str(root / "checkpoint")])
    files = find_files(data_dirs)
    out: list[int] = []
    for rec in result.live.ordered():
        with open(files[rec.file_id], "rb") as fh:
            fh.seek(rec.offset)
            data = fh.read(rec.length)
        frame = records._frame_at(data, 0)
        assert frame is not None
        for index, count in rec.untaken():
            out += [int(e.body[:12]) for e in records.decode_put(frame.payload, index, count)]
    return out


def recorded(spool: Path, per_file: int, total: int) -> bytearray:
    """Lines the killed source had recorded as handed to the channel."""
    import json

    done = bytearray(total)
    positions = {}
    position_file = spool / ".flumespool" / "flafka-positions.json"
    if position_file.exists():
        positions = {e["path"]: e["lines"] for e in json.loads(position_file.read_text())["files"]}
    for i in range(total // per_file):
        name = f"data-{i:03d}.log"
        n = per_file if (spool / (name + ".COMPLETED")).exists() else positions.get(name, 0)
        done[i * per_file : i * per_file + n] = b"\x01" * n
    return done


@pytest.mark.slow
def test_sigkill_campaign_file_channel_loses_nothing(tmp_path: Path) -> None:
    spool, out, root = tmp_path / "spool", tmp_path / "out", tmp_path / "channel"
    spool.mkdir()
    out.mkdir()
    per_file = LINES // FILES
    total = per_file * FILES
    conf = tmp_path / "crash.conf"
    conf.write_text(CONF.format(spool=spool, out=out, root=root, capacity=CAPACITY, batch=BATCH))
    agent = AgentProcess(["-n", "agent", "-f", str(conf), "--no-reload-conf"], tmp_path / "agent.log")
    scanner = OutputScanner(out, total)
    rng = random.Random(int(os.environ.get("FLAFKA_CRASH_SEED", "20261202")))
    dups_per_kill: list[int] = []
    in_flight: list[int] = []
    held_at_kill: list[int] = []
    for i in range(FILES):
        write_lines(spool / f"data-{i:03d}.log", i * per_file, per_file)
    agent.start()
    began = time.monotonic()
    try:
        for kill in range(KILLS):
            step = max(2_000, total // (KILLS + 2))
            target = output_bytes(out) + rng.randint(step // 4, step) * LINE_BYTES
            moving = wait_until(lambda target=target: output_bytes(out) >= target, timeout=120, interval=0.002)
            assert moving and agent.alive(), (tmp_path / "agent.log").read_text()[-3000:]
            agent.kill()
            dups = scanner.scan()
            if kill:
                dups_per_kill.append(dups)
            held = channel_lines(root)
            held_at_kill.append(len(held))
            done = recorded(spool, per_file, total)
            in_channel = bytearray(total)
            for seq in held:
                in_channel[seq] = 1
            again = sum(1 for s in range(total) if (scanner.seen[s] or in_channel[s]) and not done[s])
            both = sum(1 for seq in held if scanner.seen[seq])
            in_flight.append(again + both)
            agent.start()

        def finished() -> bool:
            scanner.scan()
            return scanner.lost() == 0

        wait_until(finished, timeout=300, interval=0.5)
        time.sleep(0.5)
        dups_per_kill.append(scanner.scan())
        status = agent.terminate(60)
    finally:
        if agent.alive():
            agent.kill()
    seconds = time.monotonic() - began
    report = (
        f"kills={agent.kills} lines={total} seconds={seconds:.1f} lost={scanner.lost()} corrupt={scanner.corrupt} "
        f"unexpected={scanner.unexpected} duplicates={sum(dups_per_kill)} dups_per_kill={dups_per_kill} "
        f"in_flight_at_kill={in_flight} channel_held_at_kill={held_at_kill}"
    )
    print(report)
    (tmp_path / "report.txt").write_text(report)
    assert agent.kills == KILLS, report
    assert scanner.lost() == 0, report
    assert scanner.corrupt == 0 and scanner.unexpected == 0, report
    assert all(d <= f for d, f in zip(dups_per_kill, in_flight, strict=True)), report
    assert any(held_at_kill), f"the channel never held anything at a kill: the test did not exercise replay; {report}"
    assert status == 0, report
    completed = sorted(p.name for p in spool.iterdir() if p.name.endswith(".COMPLETED"))
    assert len(completed) == FILES, report
