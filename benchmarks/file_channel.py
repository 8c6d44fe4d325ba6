"""flafka's file channel vs Apache Flume 1.11's, side by side in one run: same config text,
same data, same disk, same Kafka broker. Batches of 1000 everywhere; file channel
``capacity = 1000000``, ``transactionCapacity = 1000``, Flume's defaults otherwise.

  seq-null     seq -> search_replace (prefixes 94 bytes: 95-100-byte bodies) -> file -> null
  spool-kafka  spooldir (100-byte lines) -> file -> Kafka sink (acks=1, 4 partitions)
  seq          seq (bare counter bodies) -> file -> file_roll
  spool        spooldir (100-byte lines) -> file -> file_roll

The first two are issue 12's (the default); the file_roll pair is the earlier comparison.

Progress is counted from outside each agent, and nothing listens off loopback:
  file_roll    the bytes in the sink's output directory
  spool-kafka  the topic's end offsets (sum over partitions): the records the sink wrote
  seq-null     flafka: the null sink's EventDrainSuccessCount from flafka's own metrics
               endpoint (``-Dflume.monitoring.type=http``, bound to 127.0.0.1; counted after
               each take commit). Flume: its null sink's own log line "Null sink k1
               successful processed N events." (every 10,000 events, Flume's default
               ``logEveryNEvents``). Flume logs it while taking, before that batch's take
               commit, so Flume's time leaves out its last commit (one fdatasync): this
               favours Flume. Not used: Flume's HTTP metrics (they bind 0.0.0.0) and its
               checkpoint (written every 30 s only).
Figures: events/s (exec -> last event counted, JVM start-up included), "steady" events/s
(first counted -> last), CPU seconds, peak RSS (``watch`` from kafka_hdfs.py). Log syncs
are counted in separate, shorter runs (after round 1) under ``strace -f -c --seccomp-bpf -e
trace=fsync,fdatasync`` (only those calls stop the agent; strace is installed with apt-get
when missing and this runs as root): reported per 1000 events, and per second as that
ratio times the measured runs' median steady events/s (a traced run's own wall time is
mostly start-up for Flume's JVM, and strace slows the syncing threads). The Kafka broker comes from the test kit (FLAFKA_RUN_DIR
= --run-dir, else a new temporary directory) and is warmed up once, unmeasured.

    python benchmarks/file_channel.py [PIPELINE ...] [--events N] [--runs R] [--systems flafka,Flume]
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
from _report import emit, median_line, ratio_line, table  # noqa: E402
from _services import bench_services  # noqa: E402
from kafka_hdfs import KAFKA_SINK, NULL_SINK, PRODUCER_LOOP, BenchError, KafkaProbe, Result, flafka_metric, watch  # noqa: E402
from run import machine  # noqa: E402

LINE = 100
PAD = 94
"""seq-null: bytes the search_replace interceptor puts before seq's counter (95-100 bytes)."""
NULL_LOG_EVERY = 10_000
"""Flume's NullSink logs its count every this many events (its default logEveryNEvents)."""

PIPELINES = {
    "seq-null": "seq (+94-byte prefix) → file → null",
    "spool-kafka": "spooldir (100-byte lines) → file → Kafka sink",
    "seq": "seq → file → file_roll",
    "spool": "spooldir (100-byte lines) → file → file_roll",
}
DEFAULT = ["seq-null", "spool-kafka"]

HEAD = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
"""

CHANNEL = """a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {work}/checkpoint
a1.channels.c1.dataDirs = {work}/data
a1.channels.c1.capacity = 1000000
a1.channels.c1.transactionCapacity = 1000
"""

SEQ = """a1.sources.r1.type = seq
a1.sources.r1.batchSize = 1000
a1.sources.r1.totalEvents = {events}
"""

PADDING = """a1.sources.r1.interceptors = pad
a1.sources.r1.interceptors.pad.type = search_replace
a1.sources.r1.interceptors.pad.searchPattern = ^
a1.sources.r1.interceptors.pad.replaceString = {pad}
"""

SPOOL = """a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {work}/spool
a1.sources.r1.batchSize = 1000
"""

FILE_ROLL = """a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {work}/out
a1.sinks.k1.sink.batchSize = 1000
a1.sinks.k1.sink.rollInterval = 0
"""

NULL_LINE = re.compile(rb"Null sink \S+ successful processed (\d+) events")


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


class NullSinkLog:
    """Flume's null sink count, read from the new bytes of its log on each call."""

    def __init__(self, log: Path) -> None:
        self.log, self.offset, self.rest, self.count = log, 0, b"", 0

    def __call__(self) -> int:
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return 0
        self.offset += len(chunk)
        data = self.rest + chunk
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        for m in NULL_LINE.finditer(data, 0, cut):
            self.count = max(self.count, int(m.group(1)))
        return self.count


def ensure_strace() -> str:
    """strace's path; installs Debian's package when missing and running as root."""
    found = shutil.which("strace")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        print("strace not found: apt-get install strace", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "strace"], env=env, check=False)
        found = shutil.which("strace")
    if not found:
        raise BenchError("strace is needed to count fsync/fdatasync: install it (Debian: apt-get install strace) or pass --sync-events 0")
    return found


@dataclass
class Setup:
    """One agent run: its command line and how its progress is counted."""

    argv: list[str]
    progress: Callable[[], int]
    total: int
    units: int = 1
    note: str = ""
    topic: str | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, base: Path, flume: Any, bootstrap: str | None) -> None:
        self.args, self.base, self.flume = args, base, flume
        self.kafka = KafkaProbe(bootstrap) if bootstrap else None
        self.bootstrap = bootstrap
        self.data = base / "input"
        self.results: list[Result] = []
        self.syncs: list[tuple[str, str, int, int, float]] = []
        self.topics: list[str] = []
        self.stamp = time.strftime("%H%M%S")

    # -- input ------------------------------------------------------------------------------
    def generate(self, events: int, files: int = 10) -> None:
        from flafka_testkit.crash import write_lines

        self.data.mkdir(exist_ok=True)
        per = events // files
        for i in range(files):
            write_lines(self.data / f"data-{i:03d}.log", i * per, per, width=LINE)

    def warm_broker(self, events: int) -> None:
        """Produce ``events`` 100-byte records into a scratch topic, unmeasured: a broker that
        just started is slower for its first records, which penalised whoever ran first."""
        assert self.kafka is not None and self.bootstrap is not None
        topic = self.topic("warmup")
        joined = self.base / "warmup.log"
        with open(joined, "wb") as out:
            for f in sorted(self.data.iterdir()):
                out.write(f.read_bytes())
        watch("warmup", "producer", 0, [sys.executable, "-c", PRODUCER_LOOP, self.bootstrap, topic], total=events,
              progress=functools.partial(self.kafka.end_offsets, topic, self.args.partitions), log=self.base / "warmup.out",
              stdin=joined, timeout=self.args.timeout)  # fmt: skip
        self.kafka.delete_topics([topic])
        joined.unlink()
        print(f"warm-up: {events:,} records produced into a scratch topic (not measured)", flush=True)

    def topic(self, what: str) -> str:
        assert self.kafka is not None
        name = f"bench-fc-{self.stamp}-{what}"
        self.kafka.create_topic(name, self.args.partitions)
        self.topics.append(name)
        return name

    # -- one run ----------------------------------------------------------------------------
    def setup(self, system: str, pipeline: str, work: Path, events: int) -> Setup:
        """Fresh ``work`` directory, config and input for one run of ``pipeline``."""
        from flafka_testkit.services.base import free_port

        if work.exists():
            shutil.rmtree(work)
        (work / "out").mkdir(parents=True)
        if pipeline.startswith("spool"):
            spool = work / "spool"
            spool.mkdir()
            for f in sorted(self.data.iterdir()):
                os.link(f, spool / f.name)  # same bytes for both; spooldir renames its own link
            source = SPOOL.format(work=work)
        else:
            source = SEQ.format(events=events) + (PADDING.format(pad="x" * PAD) if pipeline == "seq-null" else "")
        setup = Setup([], lambda: 0, events)
        if pipeline in ("seq", "spool"):
            sink = FILE_ROLL.format(work=work)
            out = work / "out"
            setup.progress = functools.partial(out_bytes, out)
            setup.units = 1 if pipeline == "seq" else LINE + 1
            setup.total = seq_bytes(events) if pipeline == "seq" else events * (LINE + 1)
            setup.note = "counted: file_roll output bytes"
        elif pipeline == "spool-kafka":
            assert self.kafka is not None
            setup.topic = self.topic(work.name)
            sink = KAFKA_SINK.format(bootstrap=self.bootstrap, topic=setup.topic)
            setup.progress = functools.partial(self.kafka.end_offsets, setup.topic, self.args.partitions)
            setup.note = "counted: topic end offsets"
        else:
            sink = NULL_SINK
        conf = HEAD + source + CHANNEL.format(work=work) + sink
        (work / "a1.conf").write_text(conf)
        (self.base / "configs").mkdir(exist_ok=True)
        (self.base / "configs" / f"{pipeline}.properties").write_text(conf)
        if system == "flafka":
            setup.argv = [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(work / "a1.conf"), "--no-reload-conf"]
            if pipeline == "seq-null":
                port = free_port()
                setup.argv += ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={port}"]
                setup.progress = functools.partial(flafka_metric, port, "SINK.k1", "EventDrainSuccessCount")
                setup.note = "counted: null sink drained (flafka metrics, 127.0.0.1)"
        else:
            from flafka_testkit.services.flume import LOG4J2

            (work / "log4j2.properties").write_text(LOG4J2)
            setup.argv = self.flume.command(work / "a1.conf", "a1", work, heap=self.args.flume_heap)
            if pipeline == "seq-null":
                setup.progress = NullSinkLog(work / "agent.log")
                setup.note = "counted: null sink log line"
        return setup

    def finish(self, setup: Setup) -> str:
        """Check and drop the run's topic; returns a note on what it held."""
        if setup.topic is None or self.kafka is None:
            return ""
        held = self.kafka.end_offsets(setup.topic, self.args.partitions)
        self.kafka.delete_topics([setup.topic])
        return "" if held == setup.total else f"; topic holds {held:,} records (expected {setup.total:,})"

    def measure(self, pipeline: str, system: str, rnd: int) -> Result:
        work = self.base / f"{pipeline}-{rnd}-{system.lower()}"
        setup = self.setup(system, pipeline, work, self.args.events)
        result = watch(pipeline, system, rnd, setup.argv, total=setup.total, progress=setup.progress, log=work / "agent.log",
                       cwd=work, units=setup.units, timeout=self.args.timeout)  # fmt: skip
        if pipeline == "seq":  # progress was bytes: back to events
            result.events = self.args.events
            result.first_events = result.first_events * self.args.events // setup.total  # approximately
        result.note = setup.note + self.finish(setup)
        self.results.append(result)
        print(result.line(), flush=True)
        if not self.args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        return result

    def count_syncs(self, pipeline: str, system: str, strace: str) -> None:
        """fsync + fdatasync calls of one traced run of --sync-events events."""
        events = self.args.sync_events
        work = self.base / f"strace-{pipeline}-{system.lower()}"
        setup = self.setup(system, pipeline, work, events)
        trace = work / "strace.txt"
        argv = [strace, "-f", "-c", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-o", str(trace), *setup.argv]
        with open(work / "agent.log", "ab") as log:
            began = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=work, start_new_session=True)
            try:
                while setup.progress() < setup.total:
                    if proc.poll() is not None:
                        raise BenchError(f"{system} exited early under strace; see {work / 'agent.log'}")
                    if time.perf_counter() - began > self.args.timeout:
                        raise BenchError(f"{system} too slow under strace")
                    time.sleep(0.05)
                seconds = time.perf_counter() - began
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, 15)
                    proc.wait(60)
        self.finish(setup)
        calls = 0
        for line in trace.read_text().splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
            if m:
                calls += int(m.group(1))
        self.syncs.append((pipeline, system, events, calls, seconds))
        print(
            f"{pipeline:<12} {system:<7} {calls:,} fsync/fdatasync for {events:,} events in {seconds:.1f} s traced "
            f"(start-up included), {calls * 1000 / events:.2f} per 1000 events; at the measured steady rate "
            f"{self.sync_rate(pipeline, system, calls / events):,.1f}/s",
            flush=True,
        )
        if not self.args.keep_work:
            shutil.rmtree(work, ignore_errors=True)

    # -- reporting --------------------------------------------------------------------------
    def steady(self, pipeline: str, system: str) -> float:
        """Median steady events/s of the measured runs so far (0 if none)."""
        rates = [r.steady for r in self.results if r.pipeline == pipeline and r.system == system]
        return statistics.median(rates) if rates else 0.0

    def sync_rate(self, pipeline: str, system: str, per_event: float) -> float:
        """Syncs per second while delivering at the measured rate: the traced run's syncs per
        event times the measured runs' median steady events/s (strace itself slows the agents)."""
        return per_event * self.steady(pipeline, system)

    def ratio(self, pipeline: str, rnd: int) -> None:
        by = {r.system: r for r in self.results if r.pipeline == pipeline and r.round == rnd}
        if "flafka" in by and "Flume" in by:
            f, j = by["flafka"], by["Flume"]
            met = f.rate >= 3 * j.rate and f.rss_mb <= j.rss_mb / 3
            goal = f"goal >= 3x events/s, <= 1/3 RSS: {'met' if met else 'NOT met'}"
            print(ratio_line(pipeline, rnd, "flafka/Flume", f, j, goal), flush=True)

    def markdown(self) -> str:
        rows = table(RESULT_COLUMNS, self.results)
        for pipeline in dict.fromkeys(r.pipeline for r in self.results):
            medians = median_line(self.results, pipeline)
            if medians is not None:
                rows.append("\n" + medians)
        if self.syncs:
            rows += ["", *table(SYNC_COLUMNS, self.syncs_rows())]
        return "\n".join(rows)

    def syncs_rows(self) -> list[tuple[str, str, int, int, float, float]]:
        """The traced runs with their syncs per second at the measured steady rate."""
        return [(p, s, e, c, sec, self.sync_rate(p, s, c / e)) for p, s, e, c, sec in self.syncs]

    def run(self) -> None:
        a = self.args
        systems = [s for s in ("flafka", "Flume") if s in a.systems]
        if any(p.startswith("spool") for p in a.pipelines):
            self.generate(a.events)
        if "spool-kafka" in a.pipelines:
            self.warm_broker(a.events)
        strace = ensure_strace() if a.sync_events else ""
        for rnd in range(1, a.runs + 1):
            for pipeline in a.pipelines:
                for system in systems if rnd % 2 else systems[::-1]:  # alternate who goes first
                    self.measure(pipeline, system, rnd)
                self.ratio(pipeline, rnd)
            if a.report is not None:  # the tables so far, should a later round not finish in time
                a.report.write_text(self.markdown() + "\n")
            if rnd == 1 and a.sync_events:  # right after the first round: figures for both early
                if any(p.startswith("spool") for p in a.pipelines) and a.sync_events != a.events:
                    shutil.rmtree(self.data)
                    self.generate(a.sync_events)
                for pipeline in a.pipelines:
                    for system in systems:
                        self.count_syncs(pipeline, system, strace)
                if a.report is not None:
                    a.report.write_text(self.markdown() + "\n")
                if any(p.startswith("spool") for p in a.pipelines) and a.sync_events != a.events:
                    shutil.rmtree(self.data)
                    self.generate(a.events)


RESULT_COLUMNS: list[tuple[str, Callable[[Result], object]]] = [
    ("pipeline", lambda r: PIPELINES[r.pipeline]),
    ("system", lambda r: r.system),
    ("run", lambda r: r.round),
    ("events", lambda r: f"{r.events:,}"),
    ("wall s", lambda r: f"{r.wall:.2f}"),
    ("events/s", lambda r: f"{r.rate:,.0f}"),
    ("steady events/s", lambda r: f"{r.steady:,.0f}"),
    ("CPU s", lambda r: f"{r.cpu:.2f}"),
    ("peak RSS MB", lambda r: f"{r.rss_mb:.1f}"),
]
SYNC_COLUMNS: list[tuple[str, Callable[[tuple[str, str, int, int, float, float]], object]]] = [
    ("pipeline", lambda t: PIPELINES[t[0]]),
    ("system", lambda t: t[1]),
    ("traced events", lambda t: f"{t[2]:,}"),
    ("fsync+fdatasync", lambda t: f"{t[3]:,}"),
    ("traced s", lambda t: f"{t[4]:.1f}"),
    ("per 1000 events", lambda t: f"{t[3] * 1000 / t[2]:.2f}"),
    ("per s at measured steady rate", lambda t: f"{t[5]:,.1f}"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", metavar="PIPELINE", help=f"any of {', '.join(PIPELINES)} (default: {' '.join(DEFAULT)})")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sync-events", type=int, default=20_000, help="events of the strace runs that count syncs (0: none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--systems", default="flafka,Flume", type=lambda v: v.split(","))
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the Kafka sink's topic")
    parser.add_argument("--flume-heap", default="512m", help="Flume's -Xmx (the test kit's default)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the Kafka broker (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave the Kafka broker running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs")
    parser.add_argument("--report", type=Path, default=None, help="write the markdown tables here after every round")
    args = parser.parse_args()
    args.pipelines = args.pipelines or DEFAULT
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")
    for n, what in ((args.events, "--events"), (args.sync_events, "--sync-events")):
        if n % NULL_LOG_EVERY:
            parser.error(f"{what} {n:,} must be a multiple of {NULL_LOG_EVERY:,} (Flume's null sink logs its count that often)")

    from flafka_testkit.services.flume import FlumeHome

    flume = FlumeHome() if "Flume" in args.systems else None
    base = Path(tempfile.mkdtemp(prefix="flafka-bench-filechannel-", dir=os.environ.get("FLAFKA_BENCH_DIR")))
    print(f"machine: {machine()}\nwork dir: {base}", flush=True)
    if flume is not None:
        print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}", flush=True)
    needs = ["kafka"] if "spool-kafka" in args.pipelines else []
    bench = None
    status = 0
    try:
        with bench_services(needs, args.run_dir, args.keep_services) as services:
            try:
                bootstrap = services.address("kafka") if "kafka" in services else None
                print(f"FLAFKA_RUN_DIR={services.run_dir}", flush=True)
                bench = Bench(args, base, flume, bootstrap)
                bench.run()
            finally:
                if bench is not None:
                    emit(bench.markdown())
                    if bench.kafka is not None:
                        bench.kafka.delete_topics(bench.topics)
                        bench.kafka.close()
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        if not args.keep_work:
            shutil.rmtree(base, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
