"""Crash campaign: spooldir -> memory channel -> file_roll, SIGKILLed 20 times at random
moments over 1,000,000 sequence-numbered lines, restarted each time.

Passes when no line is lost, nothing is corrupt, and the duplicates each kill caused stay
within what can be in flight at once (channel capacity + one source batch + one sink
batch + the lines delivered while the source's position write was pending).
"""

from __future__ import annotations

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
# lines the source may have delivered but not yet recorded when killed: it records
# positions at least every 20 ms; at most a few channel-fulls pass in that time
POSITION_LAG = 2 * CAPACITY
IN_FLIGHT_BOUND = CAPACITY + 2 * BATCH + POSITION_LAG

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
    dropped = 0
    dups_per_kill: list[int] = []
    agent.start()
    try:
        for kill in range(KILLS):
            # keep new files arriving so that kills land while data moves
            while dropped < FILES and dropped <= (kill + 1) * FILES // KILLS:
                write_lines(spool / f"data-{dropped:03d}.log", dropped * per_file, per_file)
                dropped += 1
            time.sleep(rng.uniform(0.3, 1.2))
            assert agent.alive(), (tmp_path / "agent.log").read_text()[-3000:]
            agent.kill()
            scanner.scan()
            agent.start()
            # what the restart re-delivers is what the kill left in flight
            time.sleep(0.8)
            dups_per_kill.append(scanner.scan())
        while dropped < FILES:
            write_lines(spool / f"data-{dropped:03d}.log", dropped * per_file, per_file)
            dropped += 1

        def done() -> bool:
            scanner.scan()
            return scanner.lost() == 0

        wait_until(done, timeout=180, interval=0.5)
        time.sleep(0.5)
        dups_per_kill[-1] += scanner.scan()
        status = agent.terminate(60)
    finally:
        if agent.alive():
            agent.kill()
    report = (
        f"kills={agent.kills} lines={per_file * FILES} lost={scanner.lost()} corrupt={scanner.corrupt} "
        f"unexpected={scanner.unexpected} duplicates={sum(dups_per_kill)} max_dups_per_kill={max(dups_per_kill)} "
        f"bound={IN_FLIGHT_BOUND} partial_tails={scanner.partial_tails()} dups_per_kill={dups_per_kill}"
    )
    print(report)
    (tmp_path / "report.txt").write_text(report)
    assert agent.kills == KILLS, report
    assert scanner.lost() == 0, report
    assert scanner.corrupt == 0 and scanner.unexpected == 0, report
    assert max(dups_per_kill) <= IN_FLIGHT_BOUND, report
    assert status == 0, report
    completed = sorted(p.name for p in spool.iterdir() if p.name.endswith(".COMPLETED"))
    assert len(completed) == FILES, report
