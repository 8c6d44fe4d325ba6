"""Crash and fault tools: sequence-numbered checksummed lines, a verifier that counts lost,
duplicated, corrupt and unexpected records, and an agent process that can be SIGKILLed
and restarted.

Line format (ASCII, fixed width by default ~100 bytes): ``<seq:012d> <crc32:08x> <pad>``
where the CRC-32 covers ``<seq:012d> <pad>``. A line that does not parse or whose CRC
does not match is *corrupt*; a sequence number outside the generated range is
*unexpected*.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PAD = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 4


def make_line(seq: int, width: int = 100) -> bytes:
    """One line (without the newline) of about ``width`` bytes for ``seq``."""
    head = b"%012d" % seq
    pad = _PAD[: max(1, width - 22)]
    crc = zlib.crc32(head + b" " + pad)
    return b"%s %08x %s" % (head, crc, pad)


def write_lines(path: Path, start: int, count: int, width: int = 100) -> None:
    """Write lines ``start .. start+count-1`` to ``path`` atomically (temp name, rename),
    as a well-behaved producer drops files into a spooling directory."""
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as fh:
        step = 10000
        for base in range(start, start + count, step):
            end = min(start + count, base + step)
            fh.write(b"\n".join(make_line(i, width) for i in range(base, end)) + b"\n")
    os.replace(tmp, path)


@dataclass
class Verdict:
    """What arrived compared with what was generated."""

    expected: int
    seen: int = 0
    lost: list[int] = field(default_factory=list)
    duplicates: int = 0
    corrupt: int = 0
    unexpected: int = 0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.corrupt and not self.unexpected

    def summary(self) -> str:
        lost = len(self.lost)
        sample = f" (first lost: {self.lost[:5]})" if lost else ""
        return (
            f"expected {self.expected}, records seen {self.seen}, lost {lost}{sample}, "
            f"duplicated {self.duplicates}, corrupt {self.corrupt}, unexpected {self.unexpected}"
        )


def verify(lines: Iterable[bytes], expected: int) -> Verdict:
    """Count each sequence number in ``lines`` (bodies without newline)."""
    counts = bytearray(expected)
    verdict = Verdict(expected)
    extra_dups = 0
    for line in lines:
        verdict.seen += 1
        parts = line.split(b" ", 2)
        if len(parts) != 3 or len(parts[0]) != 12 or not parts[0].isdigit():
            verdict.corrupt += 1
            continue
        try:
            crc = int(parts[1], 16)
        except ValueError:
            verdict.corrupt += 1
            continue
        if zlib.crc32(parts[0] + b" " + parts[2]) != crc:
            verdict.corrupt += 1
            continue
        seq = int(parts[0])
        if seq >= expected:
            verdict.unexpected += 1
            continue
        if counts[seq] == 255:
            extra_dups += 1
        else:
            counts[seq] += 1
    verdict.lost = [i for i, c in enumerate(counts) if c == 0]
    verdict.duplicates = sum(c - 1 for c in counts if c > 1) + extra_dups
    return verdict


def read_output_lines(directory: Path) -> Iterable[bytes]:
    """Every complete line of every file in ``directory`` (a trailing partial line — one
    without a newline — is reported as it is; the verifier counts it as corrupt)."""
    for path in sorted(directory.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            if not data:
                continue
            chunks = data.split(b"\n")
            if chunks[-1] == b"":
                chunks.pop()
            yield from chunks


class OutputScanner:
    """Reads what file_roll wrote into ``out``, incrementally, counting every sequence
    number (the 12-digit head of :func:`make_line`) below ``expected``: ``unique``,
    ``dups``, ``total`` lines. A line without a sequence head is left for :func:`verify`
    (it counts it as corrupt); a partial last line is read once it is complete."""

    def __init__(self, out: Path, expected: int) -> None:
        self.out = out
        self.seen = bytearray(expected)
        self.offsets: dict[Path, int] = {}
        self.total = 0
        self.unique = 0
        self.dups = 0

    def scan(self) -> int:
        """Read what was appended; returns how many distinct lines arrived so far."""
        for path in sorted(self.out.iterdir()):
            start = self.offsets.get(path, 0)
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            self.offsets[path] = start + end
            for line in data[:end].split(b"\n")[:-1]:
                self.total += 1
                head = line[:12]
                if not head.isdigit():
                    continue
                seq = int(head)
                if seq < len(self.seen):
                    if self.seen[seq]:
                        self.dups += 1
                    else:
                        self.seen[seq] = 1
                        self.unique += 1
        return self.unique

    def past(self, committed: list[int]) -> int:
        """Lines in the output whose Kafka offset is at or past the committed one, for
        lines produced round-robin (line ``seq`` to partition ``seq % len(committed)``, at
        offset ``seq // len(committed)``)."""
        n = len(committed)
        return sum(self.seen[p + n * c :: n].count(1) for p, c in enumerate(committed))

    def lost(self) -> int:
        return self.seen.count(0)


class AgentProcess:
    """``flafka agent`` as a child process that tests can SIGKILL and restart."""

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flafka", "agent", *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (no cleanup of any kind) and reap."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.kills += 1
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


def wait_until(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
