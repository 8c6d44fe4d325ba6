"""flafka's file channel vs Apache Flume 1.11's, side by side in one run, same config text,
same data, same disk:

  seq    seq -> file channel -> file_roll   (batches of 1000)
  spool  spooldir (100-byte lines) -> file channel -> file_roll   (batches of 1000)

file_roll instead of null: the bytes in its output tell both agents' progress the same
way from outside (Flume's HTTP metrics bind 0.0.0.0, so they are not used). Figures:
events/s, CPU seconds, peak RSS (``watch`` from kafka_hdfs.py). Log syncs per second are
counted in separate, shorter runs under ``strace -f -c --seccomp-bpf -e
trace=fsync,fdatasync`` (only those calls are traced, so the agents run nearly unhindered).

    python benchmarks/file_channel.py [--events N] [--runs R] [--systems flafka,Flume]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
from kafka_hdfs import BenchError, Result, watch  # noqa: E402
from run import machine  # noqa: E402

LINE = 100

CHANNEL = """a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {work}/checkpoint
a1.channels.c1.dataDirs = {work}/data
a1.channels.c1.capacity = 1000000
a1.channels.c1.transactionCapacity = 1000
"""

SINK = """a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {work}/out
a1.sinks.k1.sink.batchSize = 1000
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
"""

SEQ = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.batchSize = 1000
a1.sources.r1.totalEvents = {events}
a1.sources.r1.channels = c1
"""

SPOOL = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {work}/spool
a1.sources.r1.batchSize = 1000
a1.sources.r1.channels = c1
"""


def seq_bytes(events: int) -> int:
    """Bytes file_roll writes for seq's bodies 0 .. events-1, one per line."""
    total, digits, low = 0, 1, 0
    while low < events:
        high = min(events, 10**digits)
        total += (high - low) * (digits + 1)
        low, digits = high, digits + 1
    return total


def out_bytes(out: Path) -> int:
    total = 0
    try:
        for p in out.iterdir():
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
    except FileNotFoundError:
        pass
    return total


def prepare(work: Path, pipeline: str, events: int, data: Path) -> str:
    if work.exists():
        shutil.rmtree(work)
    (work / "out").mkdir(parents=True)
    conf = (SEQ if pipeline == "seq" else SPOOL).format(events=events, work=work) + CHANNEL.format(work=work) + SINK.format(work=work)
    if pipeline == "spool":
        spool = work / "spool"
        spool.mkdir()
        for f in sorted(data.iterdir()):
            os.link(f, spool / f.name) if f.stat().st_dev == spool.stat().st_dev else shutil.copy(f, spool / f.name)
    (work / "a1.conf").write_text(conf)
    return conf


def argv_for(system: str, work: Path, flume: object) -> list[str]:
    if system == "flafka":
        return [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(work / "a1.conf"), "--no-reload-conf"]
    from flafka_testkit.services.flume import LOG4J2

    (work / "log4j2.properties").write_text(LOG4J2)
    return flume.command(work / "a1.conf", "a1", work, heap="512m")  # type: ignore[attr-defined]


def progress_for(pipeline: str, work: Path, events: int) -> tuple[Callable[[], int], int, int]:
    out = work / "out"
    if pipeline == "seq":
        expected = seq_bytes(events)
        return (lambda: out_bytes(out)), expected, 1
    return (lambda: out_bytes(out)), events * (LINE + 1), LINE + 1


def count_syncs(system: str, pipeline: str, events: int, base: Path, data: Path, flume: object) -> tuple[int, float]:
    """(fsync + fdatasync calls, seconds) of one traced run of ``events``."""
    work = base / f"strace-{pipeline}-{system.lower()}"
    prepare(work, pipeline, events, data)
    progress, total, _ = progress_for(pipeline, work, events)
    trace = work / "strace.txt"
    argv = ["strace", "-f", "-c", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-o", str(trace), *argv_for(system, work, flume)]
    with open(work / "agent.log", "wb") as log:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True)
        while progress() < total:
            if proc.poll() is not None:
                raise BenchError(f"{system} exited early under strace; see {work / 'agent.log'}")
            if time.perf_counter() - began > 600:
                raise BenchError(f"{system} too slow under strace")
            time.sleep(0.05)
        seconds = time.perf_counter() - began
        os.killpg(proc.pid, 15)
        proc.wait(60)
    calls = 0
    for line in trace.read_text().splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
        if m:
            calls += int(m.group(1))
    return calls, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", default=["seq", "spool"])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sync-events", type=int, default=200_000, help="events of the strace runs that count syncs")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--systems", default="flafka,Flume", type=lambda v: v.split(","))
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs")
    args = parser.parse_args()
    from flafka_testkit.services.flume import FlumeHome

    flume = FlumeHome() if "Flume" in args.systems else None
    base = Path(tempfile.mkdtemp(prefix="flafka-bench-filechannel-", dir=os.environ.get("FLAFKA_BENCH_DIR")))
    data = base / "input"
    data.mkdir()
    from flafka_testkit.crash import write_lines

    files = 10
    for i in range(files):
        write_lines(data / f"data-{i:03d}.log", i * (args.events // files), args.events // files, width=LINE)
    print(f"machine: {machine()}\nwork dir: {base}", flush=True)
    results: list[Result] = []
    try:
        for rnd in range(1, args.runs + 1):
            for pipeline in args.pipelines:
                order = ["flafka", "Flume"] if rnd % 2 else ["Flume", "flafka"]
                for system in [s for s in order if s in args.systems]:
                    work = base / f"{pipeline}-{rnd}-{system.lower()}"
                    prepare(work, pipeline, args.events, data)
                    progress, total, units = progress_for(pipeline, work, args.events)
                    result = watch(pipeline, system, rnd, argv_for(system, work, flume), total=total, progress=progress,
                                   log=work / "agent.log", cwd=work, units=units)  # fmt: skip
                    if pipeline == "seq":  # progress was bytes: back to events
                        result.events = args.events
                    results.append(result)
                    print(result.line(), flush=True)
                    if not args.keep_work:
                        shutil.rmtree(work, ignore_errors=True)
                by = {r.system: r for r in results if r.pipeline == pipeline and r.round == rnd}
                if "flafka" in by and "Flume" in by:
                    f, j = by["flafka"], by["Flume"]
                    print(
                        f"{pipeline:<6} run {rnd}  flafka/Flume: events/s {f.rate / j.rate:.2f}x, CPU s {f.cpu / j.cpu:.2f}x, "
                        f"peak RSS {f.rss_mb / j.rss_mb:.2f}x   [goal >= 3x events/s, <= 1/3 RSS]",
                        flush=True,
                    )
        for pipeline in args.pipelines:
            for system in args.systems:
                calls, seconds = count_syncs(system, pipeline, args.sync_events, base, data, flume)
                print(
                    f"{pipeline:<6} {system:<7} {calls:,} fsync/fdatasync for {args.sync_events:,} events in {seconds:.1f} s "
                    f"({calls / seconds:,.0f}/s, {calls * 1000 / args.sync_events:.1f} per 1000 events)",
                    flush=True,
                )
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if not args.keep_work:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
