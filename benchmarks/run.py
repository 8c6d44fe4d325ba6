"""flafka-core benchmarks: events/s, CPU seconds (all threads) and peak RSS of a real
``flafka agent`` process per pipeline. Run with ``python3 -m nox -s bench`` (or directly
with a Python that has flafka-core installed). Figures go to benchmarks/RESULTS.md.

Pipelines:
  seq      seq -> memory -> null                (target >= 1,000,000 events/s)
  spool    spooldir (100-byte lines) -> memory -> file_roll   (target >= 500,000 events/s)
  startup  agent start to first event delivered (target < 0.5 s), and RSS (< 60 MB)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
from flafka_testkit.crash import write_lines  # noqa: E402


@dataclass
class Result:
    name: str
    events: int
    wall: float
    cpu: float
    rss_mb: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.wall if self.wall else 0.0

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.events:>10,} events  {self.wall:7.2f} s  {self.rate:>12,.0f} events/s  "
            f"cpu {self.cpu:6.2f} s  peak RSS {self.rss_mb:6.1f} MB  {self.note}"
        )


def run_agent(conf: str, workdir: Path, extra: list[str] | None = None) -> tuple[float, float, float, int]:
    """Run ``flafka agent --exit-when-drained``; return (wall s, cpu s, peak RSS MB, status)."""
    path = workdir / "bench.conf"
    path.write_text(conf)
    args = [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(path), "--exit-when-drained", "--no-reload-conf"]
    args += extra or []
    log = open(workdir / "agent.log", "wb")
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    log.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write((workdir / "agent.log").read_text()[-3000:])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, proc.returncode


def generate(spool: Path, files: int, per: int) -> None:
    """Write the input files from a separate process: the benchmark process must stay
    small, because a child's peak RSS (ru_maxrss) starts from its parent's at fork."""
    code = (
        "import sys; from pathlib import Path; from flafka_testkit.crash import write_lines\n"
        f"for i in range({files}): write_lines(Path({str(spool)!r}) / f'data-{{i}}.log', i * {per}, {per}, width=100)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "flafka-testkit" / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def bench_seq(events: int, workdir: Path) -> Result:
    conf = f"""
agent.sources = seq
agent.channels = mem
agent.sinks = null
agent.sources.seq.type = seq
agent.sources.seq.batchSize = 1000
agent.sources.seq.totalEvents = {events}
agent.sources.seq.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 100000
agent.channels.mem.transactionCapacity = 1000
agent.sinks.null.type = null
agent.sinks.null.batchSize = 1000
agent.sinks.null.channel = mem
"""
    wall, cpu, rss, status = run_agent(conf, workdir)
    return Result("seq -> memory -> null", events, wall, cpu, rss, "" if status == 0 else f"exit {status}")


def bench_spool(events: int, workdir: Path) -> Result:
    spool, out = workdir / "spool", workdir / "out"
    spool.mkdir()
    out.mkdir()
    files = 4
    per = events // files
    generate(spool, files, per)
    conf = f"""
agent.sources = spool
agent.channels = mem
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = 1000
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 100000
agent.channels.mem.transactionCapacity = 1000
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = 1000
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = mem
"""
    wall, cpu, rss, status = run_agent(conf, workdir)
    verdict = verify_in_child(out, per * files)
    note = "verified: " + verdict
    if status:
        note += f" exit {status}"
    return Result("spooldir 100B -> memory -> file_roll", per * files, wall, cpu, rss, note)


def verify_in_child(out: Path, expected: int) -> str:
    code = (
        "import sys; from pathlib import Path; from flafka_testkit.crash import read_output_lines, verify\n"
        f"v = verify(read_output_lines(Path({str(out)!r})), {expected}); print('ok' if v.ok and not v.duplicates else v.summary())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "flafka-testkit" / "src")}
    return subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True).stdout.strip()


def bench_startup(workdir: Path) -> Result:
    spool, out = workdir / "spool", workdir / "out"
    spool.mkdir()
    out.mkdir()
    write_lines(spool / "one.log", 0, 1)
    conf = f"""
agent.sources = spool
agent.channels = mem
agent.sinks = files
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.channel = mem
"""
    path = workdir / "bench.conf"
    path.write_text(conf)
    args = [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(path), "--no-reload-conf"]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while time.perf_counter() - start < 20:
        if any(p.stat().st_size > 0 for p in out.iterdir()):
            first = time.perf_counter() - start
            break
        time.sleep(0.002)
    time.sleep(0.5)  # let it settle, then measure an idle agent's footprint
    proc.terminate()
    _, _, usage = os.wait4(proc.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    return Result(
        "start to first event (spooldir->file_roll)",
        1,
        first if first is not None else float("nan"),
        cpu,
        usage.ru_maxrss / 1024.0,
        "wall column = seconds from exec to first event on disk",
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, Python {platform.python_version()}, {system}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="*", default=["seq", "spool", "startup"])
    parser.add_argument("--seq-events", type=int, default=5_000_000)
    parser.add_argument("--spool-events", type=int, default=2_000_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = []
    for which in args.which:
        workdir = Path(tempfile.mkdtemp(prefix=f"flafka-bench-{which}-"))
        try:
            if which == "seq":
                results.append(bench_seq(args.seq_events, workdir))
            elif which == "spool":
                results.append(bench_spool(args.spool_events, workdir))
            elif which == "startup":
                results.append(bench_startup(workdir))
            print(results[-1].line(), flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
