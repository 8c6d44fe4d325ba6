"""Crash campaign: spooldir -> memory channel -> file_roll, SIGKILLed 20 times at random
moments over 1,000,000 sequence-numbered lines, restarted each time.

Passes when no line is lost, nothing is corrupt, each kill's duplicates are at most what
that kill left in flight — lines delivered that the killed source had not yet recorded,
measured from its position file right after the kill — and that in-flight amount stays
within the structural bound below.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from pathlib import Path

import pytest

from flafka_testkit.crash import AgentProcess, wait_until, write_lines

LINES = int(os.environ.get("FLAFKA_CRASH_LINES", "1000000"))
KILLS = int(os.environ.get("FLAFKA_CRASH_KILLS", "20"))
FILES = 20
CAPACITY = 10_000
BATCH = 500
# lines delivered but not yet recorded when killed: the source records positions every
# 5 ms; at ~1,000,000 lines/s that is ~5,000 lines — doubled for scheduling slack on 2 cores
POSITION_LAG = 10_000
# in flight = undelivered (at most the channel's capacity plus a batch each side) plus
# delivered-but-unrecorded: what the sink drained while the source thread waited for room
# in the full channel (at most a capacity) plus the position lag
IN_FLIGHT_BOUND = 2 * CAPACITY + 2 * BATCH + POSITION_LAG

CONF = """
agent.sources = spool
agent.channels = mem
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = {batch}
agent.sources.spool.pollDelay = 50
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = {capacity}
agent.channels.mem.transactionCapacity = {batch}
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = {batch}
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = mem
"""


LINE_BYTES = 101


def output_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.iterdir())


class OutputScanner:
    """Reads what file_roll wrote, incrementally, counting every sequence number."""

    def __init__(self, out: Path, expected: int) -> None:
        self.out = out
        self.seen = bytearray(expected)
        self.offsets: dict[Path, int] = {}
        self.corrupt = 0
        self.unexpected = 0
        self.total = 0

    def scan(self) -> int:
        """Consume new complete lines; return how many were duplicates."""
        dups = 0
        for path in sorted(self.out.iterdir()):
            start = self.offsets.get(path, 0)
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            self.offsets[path] = start + end
            for line in data[:end].split(b"\n")[:-1]:
                self.total += 1
                parts = line.split(b" ", 2)
                if len(parts) != 3 or not parts[0].isdigit() or zlib.crc32(parts[0] + b" " + parts[2]) != int(parts[1] or b"0", 16):
                    self.corrupt += 1
                    continue
                seq = int(parts[0])
                if seq >= len(self.seen):
                    self.unexpected += 1
                elif self.seen[seq]:
                    dups += 1
                else:
                    self.seen[seq] = 1
        return dups

    def partial_tails(self) -> int:
        return sum(1 for p, off in self.offsets.items() if p.stat().st_size != off)

    def lost(self) -> int:
        return self.seen.count(0)


def delivered_not_committed(spool: Path, scanner: OutputScanner, per_file: int) -> int:
    """Lines that reached the output but that the killed source had not recorded as
    delivered (its position file and completed files): exactly what a restart re-delivers."""
    committed = bytearray(len(scanner.seen))
    positions = {}
    position_file = spool / ".flumespool" / "flafka-positions.json"
    if position_file.exists():
        positions = {e["path"]: e["lines"] for e in json.loads(position_file.read_text())["files"]}
    for i in range(len(scanner.seen) // per_file):
        name = f"data-{i:03d}.log"
        done = per_file if (spool / (name + ".COMPLETED")).exists() else positions.get(name, 0)
        committed[i * per_file : i * per_file + done] = b"\x01" * done
    return sum(1 for seen, ok in zip(scanner.seen, committed, strict=True) if seen and not ok)


@pytest.mark.slow
def test_sigkill_campaign_loses_nothing(tmp_path: Path) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    per_file = LINES // FILES
    conf = tmp_path / "crash.conf"
    conf.write_text(CONF.format(spool=spool, out=out, capacity=CAPACITY, batch=BATCH))
    agent = AgentProcess(["-n", "agent", "-f", str(conf), "--no-reload-conf"], tmp_path / "agent.log")
    scanner = OutputScanner(out, per_file * FILES)
    rng = random.Random(int(os.environ.get("FLAFKA_CRASH_SEED", "20261125")))
    dups_per_kill: list[int] = []
    in_flight: list[int] = []
    for i in range(FILES):
        write_lines(spool / f"data-{i:03d}.log", i * per_file, per_file)
    agent.start()
    try:
        for kill in range(KILLS):
            # kill while data moves: after a random number of new lines reached the output
            target = output_bytes(out) + rng.randint(5_000, 40_000) * LINE_BYTES
            moving = wait_until(lambda target=target: output_bytes(out) >= target, timeout=60, interval=0.002)
            assert moving and agent.alive(), (tmp_path / "agent.log").read_text()[-3000:]
            agent.kill()
            # duplicates found now were re-delivered by the previous restart: the previous kill's
            dups = scanner.scan()
            if kill:
                dups_per_kill.append(dups)
            in_flight.append(delivered_not_committed(spool, scanner, per_file))
            agent.start()

        def done() -> bool:
            scanner.scan()
            return scanner.lost() == 0

        wait_until(done, timeout=180, interval=0.5)
        time.sleep(0.5)
        dups_per_kill.append(scanner.scan())
        status = agent.terminate(60)
    finally:
        if agent.alive():
            agent.kill()
    report = (
        f"kills={agent.kills} lines={per_file * FILES} lost={scanner.lost()} corrupt={scanner.corrupt} "
        f"unexpected={scanner.unexpected} duplicates={sum(dups_per_kill)} max_dups_per_kill={max(dups_per_kill)} "
        f"bound={IN_FLIGHT_BOUND} partial_tails={scanner.partial_tails()} dups_per_kill={dups_per_kill} "
        f"in_flight_at_kill={in_flight}"
    )
    print(report)
    (tmp_path / "report.txt").write_text(report)
    assert agent.kills == KILLS, report
    assert scanner.lost() == 0, report
    assert scanner.corrupt == 0 and scanner.unexpected == 0, report
    # each kill re-delivers at most what it left in flight (delivered, position not recorded)...
    assert all(d <= f for d, f in zip(dups_per_kill, in_flight, strict=True)), report
    # ...and what can be in flight is bounded by the channel, the batches and the position lag
    assert max(in_flight) <= IN_FLIGHT_BOUND, report
    assert status == 0, report
    completed = sorted(p.name for p in spool.iterdir() if p.name.endswith(".COMPLETED"))
    assert len(completed) == FILES, report
