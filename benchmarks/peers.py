"""flafka against its native peers and Apache Flume 1.11, on the same data in the same run
(issue 15). Run with ``python3 -m nox -s bench`` or ``python benchmarks/peers.py
[PIPELINE ...]``. Figures go to benchmarks/RESULTS.md ("Peers: rsyslog and kcat").

Pipelines (2,000,000 100-byte lines by default, in files of 500,000; each system reads its
own hard links of the same files):
  spool-kafka  flafka and Flume: spooldir -> memory -> Kafka sink (one Flume properties
               text, batches of 1000, memory channel 100,000 / 1,000, acks=1);
               rsyslog: imfile -> main queue -> omkafka (acks=1, librdkafka's partitioner);
               kcat: ``kcat -P -X acks=1`` reading the concatenated file on stdin.
               Every system writes to its own fresh topic (4 partitions) on the test kit's
               Kafka broker on this machine.
  spool-file   flafka and Flume: spooldir -> memory -> file_roll (rollInterval 0);
               rsyslog: imfile -> main queue -> omfile.

rsyslog (Debian packages ``rsyslog`` and ``rsyslog-kafka``; kcat: ``kcat``; installed with
apt-get when missing and this runs as root) runs as this script's own foreground process,
``rsyslogd -n -f <its config> -i <pidfile>``, with its own work directory, never the
system service. Its config: ``global(workDirectory)``, ``main_queue(FixedArray, size
100000, dequeueBatchSize 1000)`` (as the memory channel), ``imfile`` (inotify) bound to
a ruleset holding the one action with the template ``%msg%`` (``%msg%\\n`` for omfile).
Everything else is each system's default (linger, batch sizes of librdkafka, threads).

Measured as in kafka_hdfs.py (whose ``watch`` this uses): each system is one process,
started by this script and sampled every 50 ms until every event is delivered, counted
from outside (the topic's end offsets reach N; the output directory holds N x 101 bytes),
then stopped with SIGTERM. events/s = N / seconds from exec to the last delivery (start-up
included); "steady" from the first delivered event to the last; CPU s = utime + stime of
all the process's threads at that moment; CPU µs per event = CPU s / N (and the part of
it in librdkafka's own threads, named ``rdk:...``, read per thread from /proc at the same
moment); peak RSS = VmHWM.

After each run, while nothing is measured, the output is checked for every event exactly
once: Kafka: the end offsets are N and a consumer reads ALL the topic's records; files:
every output line. Each line carries its sequence number and a CRC (flafka_testkit.crash),
so the check counts lost, duplicated, corrupt and unexpected records; a run that fails it
fails the benchmark. The order of the systems alternates each round (reversed on even
rounds); the broker is warmed once with an unmeasured kcat run first.

Before the first round the flafka package sources (this tree's and --baseline's) are
byte-compiled, as installing a wheel does: with PYTHONDONTWRITEBYTECODE=1 and an editable
install, each agent would otherwise recompile every flafka module at its start.

``--baseline DIR`` adds the system ``flafka-base``: the same agent run from another source
tree (e.g. ``git archive <commit> | tar -x -C DIR``; its flafka-core and flafka-kafka
packages go first on PYTHONPATH, everything else is this environment's), measured in the
same rounds, so a change is compared before/after on the same broker and load.

    python benchmarks/peers.py [spool-kafka] [spool-file] [--runs R] [--events N]
        [--systems flafka,Flume,rsyslog,kcat] [--report FILE] [--profile DIR] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
from _report import Result, compile_sources, ratio_line, summary, table  # noqa: E402
from _services import bench_services  # noqa: E402
from file_channel import out_bytes  # noqa: E402
from kafka_hdfs import CHANNEL, KAFKA_SINK, LINE, SPOOL_SOURCE, Bench, BenchError, watch  # noqa: E402
from run import machine  # noqa: E402

PIPELINES = {
    "spool-kafka": "files → Kafka (spooldir/imfile → memory → Kafka sink/omkafka; kcat -P)",
    "spool-file": "files → file (spooldir/imfile → memory → file_roll/omfile)",
}
SYSTEMS = ("flafka", "flafka-base", "Flume", "rsyslog", "kcat")
PACKAGES = ("rsyslog", "rsyslog-kafka", "kcat")

FILE_ROLL = """a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.batchSize = 1000
a1.sinks.k1.sink.rollInterval = 0
"""

RSYSLOG_HEAD = """global(workDirectory="{work}" maxMessageSize="8k")
module(load="imfile" mode="inotify")
main_queue(queue.type="FixedArray" queue.size="100000" queue.dequeueBatchSize="1000")
input(type="imfile" file="{spool}/*.log" tag="bench" ruleset="bench")
# rsyslog's own messages go to the default ruleset: keep them out of the measured output
action(type="omfile" file="{work}/rsyslogd-internal.log")
"""

RSYSLOG_KAFKA = """module(load="omkafka")
template(name="body" type="string" string="%msg%")
ruleset(name="bench") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="body" partitions.auto="on"
         topicConfParam=["acks=1"])
}}
"""

RSYSLOG_FILE = """template(name="body" type="string" string="%msg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}/rsyslog.log" template="body")
}}
"""


def omkafka_present() -> bool:
    return bool(glob.glob("/usr/lib/*/rsyslog/omkafka.so") or glob.glob("/usr/lib/rsyslog/omkafka.so"))


def ensure_peers(systems: list[str]) -> None:
    """rsyslogd (with omkafka) and kcat, installed from Debian's packages when missing
    (as root); otherwise a BenchError naming the packages. Installing never starts
    anything here: this script runs its own rsyslogd."""

    def missing() -> list[str]:
        need = []
        if "rsyslog" in systems and not shutil.which("rsyslogd"):
            need.append("rsyslog")
        if "rsyslog" in systems and not omkafka_present():
            need.append("rsyslog-kafka")
        if "kcat" in systems and not shutil.which("kcat"):
            need.append("kcat")
        return need

    need = missing()
    if need and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(need)} with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", *need]
        if subprocess.run(install, env=env, check=False).returncode:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        need = missing()
    if need:
        raise BenchError(f"missing {', '.join(need)}: install the Debian package(s) {' '.join(need)}, or leave them out with --systems")


def rsyslog_version() -> str:
    out = subprocess.run(["rsyslogd", "-v"], capture_output=True, text=True, check=False).stdout
    return " ".join(out.splitlines()[0].replace("compiled with:", "").split()) if out else "rsyslogd (version unknown)"


def kafka_bodies(bootstrap: str, topic: str, partitions: int, expected: int) -> Iterator[bytes]:
    """Every record value of ``topic``, read with a consumer from the first offset up to the
    end offsets at the call (the producer has stopped by then)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"peers-check-{topic}", "enable.auto.commit": False, "log_level": 3,
         "fetch.max.bytes": 64 << 20, "queued.min.messages": 1_000_000}
    )  # fmt: skip
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1] for p in range(partitions)}
        left = {p: end for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in left])
        idle_since = time.monotonic()
        while left:
            msgs = consumer.consume(10_000, 1.0)
            if not msgs and time.monotonic() - idle_since > 30:
                raise BenchError(f"topic {topic}: the check consumer read nothing for 30 s with {sum(left.values()):,} records unread")
            for m in msgs:
                if m.error() is not None:
                    continue
                idle_since = time.monotonic()
                p, offset = m.partition(), m.offset()
                if p is None or offset is None:
                    continue
                if p in left and offset < ends[p]:
                    value = m.value()
                    yield value if value is not None else b""
                    if offset + 1 >= ends[p]:
                        del left[p]
    finally:
        consumer.close()


def file_bodies(out: Path) -> Iterator[bytes]:
    from flafka_testkit.crash import read_output_lines

    return iter(read_output_lines(out))


def check(bodies: Iterator[bytes], expected: int) -> str:
    """'' when every sequence number 0..expected-1 arrived exactly once; else what was wrong."""
    from flafka_testkit.crash import verify

    verdict = verify(bodies, expected)
    if verdict.ok and not verdict.duplicates and verdict.seen == expected:
        return ""
    return verdict.summary()


class PeersBench(Bench):
    def __init__(self, args: argparse.Namespace, work: Path, bootstrap: str, flume: Any) -> None:
        super().__init__(args, work, bootstrap, None, flume)

    def order(self, rnd: int) -> list[str]:
        """Reversed on even rounds, so that no system always meets the warmest broker."""
        systems = [s for s in SYSTEMS if s in self.args.systems]
        return systems if rnd % 2 else systems[::-1]

    def run_agent(self, system: str, pipeline: str, rnd: int, conf: str, **kw: Any) -> Result:
        """flafka-base: the flafka agent from the ``--baseline`` source tree."""
        if system != "flafka-base":
            return super().run_agent(system, pipeline, rnd, conf, **kw)
        base = self.args.baseline
        path = os.pathsep.join(str(base / pkg / "src") for pkg in ("flafka-core", "flafka-kafka"))
        result = super().run_agent("flafka", pipeline, rnd, conf, env={"PYTHONPATH": path}, **kw)
        result.system = "flafka-base"
        shutil.rmtree(self.work / f"{pipeline}-{rnd}-flafka", ignore_errors=True)  # flafka's own run uses that name
        return result

    def record(self, result: Result) -> Result:
        if self.args.profile is not None and result.system == "flafka":
            result.note += " PROFILED (py-spy slows it: not a benchmark figure)"
        self.results.append(result)
        print(result.line(per_event=True), flush=True)
        if result.threads:
            top = sorted(result.threads.items(), key=lambda kv: -kv[1])[:6]
            names = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in top)
            print(f"{'':<21}CPU by thread name: {names}; {result.cpu_first:.2f} s before the first delivered event", flush=True)
        return result

    def spool(self, pipeline: str, rnd: int, system: str) -> Path:
        """A fresh spool directory of hard links to the run's files."""
        spool = self.work / f"{pipeline}-{rnd}-{system.lower()}" / "spool"
        spool.mkdir(parents=True)
        for f in self.generate(self.args.events):
            os.link(f, spool / f.name)  # same bytes for every system; spooldir renames its own link
        return spool

    def rsyslogd(self, pipeline: str, rnd: int, conf: str, *, total: int, progress: Callable[[], int], units: int = 1) -> Result:
        workdir = self.work / f"{pipeline}-{rnd}-rsyslog"
        state = workdir / "state"
        state.mkdir(parents=True, exist_ok=True)
        conf_file = workdir / "rsyslog.conf"
        conf_file.write_text(conf)
        (self.work / "configs").mkdir(exist_ok=True)
        (self.work / "configs" / f"{pipeline}.rsyslog.conf").write_text(conf)
        checked = subprocess.run(["rsyslogd", "-N1", "-f", str(conf_file)], capture_output=True, text=True, check=False)
        if checked.returncode:
            raise BenchError(f"rsyslogd rejects {conf_file}:\n{checked.stdout}{checked.stderr}")
        argv = ["rsyslogd", "-n", "-f", str(conf_file), "-i", str(workdir / "rsyslogd.pid")]
        return watch(pipeline, "rsyslog", rnd, argv, total=total, progress=progress, log=workdir / "rsyslogd.log", cwd=workdir,
                     timeout=self.args.timeout, units=units)  # fmt: skip

    def verified(self, result: Result, problem: str, what: str) -> None:
        if problem:
            raise BenchError(f"{result.system} ({result.pipeline}, round {result.round}): {what}: {problem}")
        result.note = (result.note + "; " if result.note else "") + f"verified: {what}"
        self.record(result)

    # -- pipelines ---------------------------------------------------------------------
    def files_kafka(self, rnd: int) -> None:
        events, parts = self.args.events, self.partitions
        for system in self.order(rnd):
            topic = self.topic("peers", rnd, system)
            progress = functools.partial(self.kafka.end_offsets, topic, parts)
            if system in ("flafka", "flafka-base", "Flume"):
                spool = self.spool("spool-kafka", rnd, system)
                conf = CHANNEL + SPOOL_SOURCE.format(spool=spool) + KAFKA_SINK.format(bootstrap=self.bootstrap, topic=topic)
                result = self.run_agent(system, "spool-kafka", rnd, conf, total=events, progress=progress)
            elif system == "rsyslog":
                spool = self.spool("spool-kafka", rnd, system)
                workdir = self.work / f"spool-kafka-{rnd}-rsyslog"
                conf = RSYSLOG_HEAD.format(work=workdir / "state", spool=spool)
                conf += RSYSLOG_KAFKA.format(bootstrap=self.bootstrap, topic=topic)
                result = self.rsyslogd("spool-kafka", rnd, conf, total=events, progress=progress)
            else:
                argv = [shutil.which("kcat") or "kcat", "-P", "-b", self.bootstrap, "-t", topic, "-X", "acks=1"]
                result = watch("spool-kafka", "kcat", rnd, argv, total=events, progress=progress,
                               log=self.work / f"kcat-{rnd}.log", stdin=self.concatenated(events), timeout=self.args.timeout)  # fmt: skip
            held = self.kafka.end_offsets(topic, parts)
            problem = "" if held == events else f"the topic's end offsets sum to {held:,}, not {events:,}"
            problem = problem or check(kafka_bodies(self.bootstrap, topic, parts, events), events)
            self.verified(result, problem, f"end offsets {held:,}; consumer read all, each seq once")
            self.kafka.delete_topics([topic])
            shutil.rmtree(self.work / f"spool-kafka-{rnd}-{system.lower()}", ignore_errors=True)
        self.ratios("spool-kafka", rnd)

    def files_file(self, rnd: int) -> None:
        events = self.args.events
        for system in self.order(rnd):
            if system == "kcat":
                continue
            workdir = self.work / f"spool-file-{rnd}-{system.lower()}"
            spool = self.spool("spool-file", rnd, system)
            out = workdir / "out"
            out.mkdir()
            progress = functools.partial(out_bytes, out)
            if system == "rsyslog":
                conf = RSYSLOG_HEAD.format(work=workdir / "state", spool=spool) + RSYSLOG_FILE.format(out=out)
                result = self.rsyslogd("spool-file", rnd, conf, total=events * (LINE + 1), progress=progress, units=LINE + 1)
            else:
                conf = CHANNEL + SPOOL_SOURCE.format(spool=spool) + FILE_ROLL.format(out=out)
                result = self.run_agent(system, "spool-file", rnd, conf, total=events * (LINE + 1), progress=progress, units=LINE + 1)
            self.verified(result, check(file_bodies(out), events), "every output line, each seq once")
            if not self.args.keep_work:
                shutil.rmtree(workdir, ignore_errors=True)
        self.ratios("spool-file", rnd)

    def ratios(self, pipeline: str, rnd: int) -> None:
        by = {r.system: r for r in self.results if r.pipeline == pipeline and r.round == rnd}
        f = by.get("flafka")
        if f is None:
            return
        for other in ("flafka-base", "rsyslog", "kcat", "Flume"):
            o = by.get(other)
            if o is not None and o.rate and o.steady and o.cpu and o.rss_mb:
                per_event = f"CPU/event {f.us_per_event:.2f} vs {o.us_per_event:.2f} us"
                print(ratio_line(pipeline, rnd, f"flafka/{other}", f, o, per_event), flush=True)

    def markdown(self) -> str:
        rows = table(RESULT_COLUMNS, self.results)
        for pipeline in PIPELINES:
            if any(r.pipeline == pipeline for r in self.results):
                rows += ["", *summary(self.results, pipeline, PIPELINES[pipeline])]
        return "\n".join(rows)

    def run(self) -> None:
        a = self.args
        self.generate(a.events)
        if "spool-kafka" in a.pipelines:
            warm = self.kcat(0, a.events, "warmup", record=False)
            self.kafka.delete_topics([warm])
            print(f"warm-up: kcat produced {a.events:,} records into a scratch topic (not measured)", flush=True)
        for rnd in range(1, a.runs + 1):
            if "spool-kafka" in a.pipelines:
                self.files_kafka(rnd)
            if "spool-file" in a.pipelines:
                self.files_file(rnd)
            if a.report is not None:  # the tables so far, should a later round not finish in time
                a.report.write_text(self.markdown() + "\n")


RESULT_COLUMNS: list[tuple[str, Callable[[Result], object]]] = [
    ("pipeline", lambda r: r.pipeline),
    ("system", lambda r: r.system),
    ("run", lambda r: r.round),
    ("events", lambda r: f"{r.events:,}"),
    ("wall s", lambda r: f"{r.wall:.2f}"),
    ("events/s", lambda r: f"{r.rate:,.0f}"),
    ("steady events/s", lambda r: f"{r.steady:,.0f}"),
    ("CPU s", lambda r: f"{r.cpu:.2f}"),
    ("CPU µs/event", lambda r: f"{r.us_per_event:.2f}"),
    ("of which librdkafka threads", lambda r: rdk_share(r)),
    ("peak RSS MB", lambda r: f"{r.rss_mb:.1f}"),
    ("note", lambda r: r.note),
]


def rdk_share(r: Result) -> str:
    """CPU µs per event in librdkafka's threads (named ``rdk:...``), '-' without any."""
    rdk = sum(cpu for name, cpu in r.threads.items() if name.startswith("rdk:"))
    return f"{rdk / r.events * 1e6:.2f}" if rdk else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", metavar="PIPELINE", help=f"any of {', '.join(PIPELINES)} (default: both)")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--lines-per-file", type=int, default=500_000, help="lines per input file")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each topic")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS), type=lambda v: v.split(","), help=f"any of {','.join(SYSTEMS)}")
    parser.add_argument("--flume-heap", default="512m", help="Flume's -Xmx (the test kit's default)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the services (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave the services running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs directory")
    parser.add_argument("--report", type=Path, default=None, help="write the markdown tables here after every round")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the flafka agents into this directory (slows them)")
    parser.add_argument("--baseline", type=Path, default=None, help="source tree of flafka-base (adds that system)")
    args = parser.parse_args()
    args.pipelines = args.pipelines or list(PIPELINES)
    args.kafka_events = args.events
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")
    if set(args.systems) - set(SYSTEMS):
        parser.error(f"unknown system(s) {', '.join(sorted(set(args.systems) - set(SYSTEMS)))}; choose from {', '.join(SYSTEMS)}")
    if args.baseline is not None and "flafka-base" not in args.systems:
        args.systems = [*args.systems, "flafka-base"]
    if "flafka-base" in args.systems and args.baseline is None:
        parser.error("flafka-base needs --baseline DIR")
    if args.events % args.lines_per_file:
        parser.error(f"--events must be a multiple of --lines-per-file ({args.lines_per_file:,})")

    from flafka_testkit.services.flume import FlumeHome

    print(f"machine: {machine()}", flush=True)
    print(compile_sources([HERE.parent, *([args.baseline] if args.baseline else [])]), flush=True)
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-peers-", dir=os.environ.get("FLAFKA_BENCH_DIR")))
    status = 0
    bench = None
    try:
        # kcat warms the broker and is the producer ceiling: needed whatever --systems says
        ensure_peers([*args.systems, "kcat"] if "spool-kafka" in args.pipelines else args.systems)
        with bench_services(["kafka", "flume"], args.run_dir, args.keep_services) as services:
            try:
                flume = FlumeHome()
                kcat = f"kcat {shutil.which('kcat')}"
                peers = f"{rsyslog_version()}; {kcat}" if "rsyslog" in args.systems else kcat
                print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}; {peers}", flush=True)
                print(f"work dir: {work}; FLAFKA_RUN_DIR={services.run_dir}", flush=True)
                bench = PeersBench(args, work, services.address("kafka"), flume)
                bench.run()
            finally:
                if bench is not None:
                    if args.report is not None:
                        args.report.write_text(bench.markdown() + "\n")
                    bench.report_and_close()
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
