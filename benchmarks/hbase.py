"""flafka's hbase2 sink vs Apache Flume 1.11's HBase2 sink, side by side in one run, on the
test kit's HBase 2.6 (standalone JVM + Thrift1 server JVM, both on this machine). Run with
``python3 -m nox -s bench`` or ``python benchmarks/hbase.py``. Figures go to
benchmarks/RESULTS.md (issue 10).

Pipeline: spooldir (batchSize 1000) -> memory (100,000 / 1,000) -> hbase2 (batchSize 1000)
with the regex serializer: each 100-byte line (``flafka_testkit.crash.make_line``:
``<12-digit seq> <8-hex crc> <78 chars>``) becomes one row keyed by its sequence number with
3 columns (crc, head, tail). Both systems run the SAME Flume properties text: it names
``zookeeperQuorum`` (Flume's) and ``thrift.servers`` (flafka's; Flume ignores it, flafka
warns that ``zookeeperQuorum`` is unused). Flume's sink talks to the region server natively;
flafka's goes through the Thrift server.

Systems: ``flafka`` (the config as is: one Thrift connection), ``flafka x4`` (the same plus
``thrift.connections = 4``: 4 batches in flight on 4 connections; ``--connections``),
``Flume``. Also measured, as flafka's ceiling through Thrift: ``raw``, a Python loop that reads the
same files, splits each line with the same regex (``re.fullmatch``) and sends the rows with
happybase's Thrift client, ``mutateRows`` of 1000 rows per call, on 1 connection and on
``--connections`` connections (one thread each).

Each measured process is started by this script and watched until every event is in HBase:
  flafka  its sink's EventDrainSuccessCount (committed, i.e. HBase answered) over the agent's
          metrics HTTP endpoint on 127.0.0.1 reaches N
  Flume   rows read back: the last row of every 10,000 lines and of every file (Flume's sink
          writes one batch at a time, in channel order, so a row seen means every earlier
          line of its file is in; Flume's HTTP metrics bind 0.0.0.0, so not used)
  raw     the loop writes its count to a file when its last call was answered
then stopped (SIGTERM), and the table is counted with an independent happybase scan: every
row key 0..N-1 present, no other (a run that is short fails the benchmark). Figures: events/s
from exec to the last event (start-up included) and "steady" from the first delivered event;
CPU s of all the process's threads; peak RSS = VmHWM (sampled every 50 ms); and the CPU
seconds the HBase JVM and the Thrift server JVM spent meanwhile (the Thrift server works for
flafka and raw only: it is part of their cost).

Services come from flafka_testkit's service API with this script's own FLAFKA_RUN_DIR (a
temporary directory unless --run-dir), stopped at the end unless they were already running
there (or --keep-services).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
sys.path.insert(0, str(HERE))
from _services import bench_services  # noqa: E402
from kafka_hdfs import BenchError, Result, flafka_metric, proc_cpu, watch  # noqa: E402
from run import machine  # noqa: E402

LINE = 100
FAMILY = "cf"
REGEX = r"([0-9]+) ([0-9a-f]+) (.{39})(.*)"
COLUMNS = "ROW_KEY,crc,head,tail"
SYSTEMS = ("flafka", "flafka-pipelined", "Flume", "raw")

CONFIG = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 1000
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.hbase2.HBase2Sink
a1.sinks.k1.channel = c1
a1.sinks.k1.table = {table}
a1.sinks.k1.columnFamily = {family}
a1.sinks.k1.batchSize = 1000
a1.sinks.k1.zookeeperQuorum = {zookeeper}
a1.sinks.k1.thrift.servers = {thrift}
a1.sinks.k1.serializer = org.apache.flume.sink.hbase2.RegexHBase2EventSerializer
a1.sinks.k1.serializer.regex = {regex}
a1.sinks.k1.serializer.colNames = {columns}
a1.sinks.k1.serializer.rowKeyIndex = 0
"""

#: flafka's ceiling through Thrift: the same regex split, happybase's client, mutateRows.
RAW_LOOP = r"""
import re, sys, threading, queue
from pathlib import Path
import happybase
from Hbase_thrift import BatchMutation, Mutation
host, port, table, family, regex, conns, status = sys.argv[1:8]
files = sys.argv[8:]
pattern = re.compile(regex, re.DOTALL | re.ASCII)
cols = [f"{family}:{c}".encode() for c in ("crc", "head", "tail")]
table = table.encode()

def batches():
    rows = []
    for f in files:
        with open(f, "rb") as fh:
            for line in fh:
                m = pattern.fullmatch(line[:-1].decode("utf-8", "replace"))
                key, *values = m.groups()
                rows.append(BatchMutation(row=key.encode(), mutations=[
                    Mutation(isDelete=False, column=c, value=v.encode(), writeToWAL=True) for c, v in zip(cols, values)]))
                if len(rows) == 1000:
                    yield rows
                    rows = []
    if rows:
        yield rows

sent = [0]
lock = threading.Lock()
work = queue.Queue(maxsize=int(conns))

def worker():
    conn = happybase.Connection(host, int(port), timeout=120000)
    client = conn.client
    while True:
        rows = work.get()
        if rows is None:
            break
        client.mutateRows(table, rows, {})
        with lock:
            sent[0] += len(rows)
    conn.close()

threads = [threading.Thread(target=worker) for _ in range(int(conns))]
for t in threads:
    t.start()
for rows in batches():
    work.put(rows)
for _ in threads:
    work.put(None)
for t in threads:
    t.join()
Path(status).write_text(str(sent[0]))
"""


class HBaseProbe:
    """Tables, last rows and the final count, through an independent happybase client."""

    def __init__(self, thrift: str) -> None:
        import happybase

        host, _, port = thrift.rpartition(":")
        self.conn = happybase.Connection(host, int(port), timeout=120000)

    def create(self, table: str) -> None:
        self.conn.create_table(table, {FAMILY: {}})

    def drop(self, table: str) -> None:
        try:
            self.conn.delete_table(table, disable=True)
        except Exception as exc:
            print(f"(could not drop {table}: {exc})", flush=True)

    def present(self, table: str, marks: list[tuple[bytes, int]], seen: set[bytes]) -> int:
        """Sum of the events the ``marks`` (row, events it stands for) found so far stand
        for. Each call reads only the first 4 rows not seen yet (rows arrive in order), so
        the probe costs HBase little."""
        todo = [r for r, _ in marks if r not in seen][:4]
        if todo:
            try:
                seen.update(row for row, _ in self.conn.table(table).rows(todo, columns=[f"{FAMILY}:crc".encode()]))
            except Exception:
                self.reopen()
        return sum(n for row, n in marks if row in seen)

    def verify(self, table: str, events: int) -> str:
        """Scan every row key; '' when exactly the keys 0..events-1 are there, else what differs."""
        keys = set()
        extra = 0
        scan = self.conn.table(table).scan(filter=b"KeyOnlyFilter() AND FirstKeyOnlyFilter()", batch_size=10000)
        for row, _ in scan:
            try:
                keys.add(int(row))
            except ValueError:
                extra += 1
        lost = events - len(keys & set(range(events)))
        extra += len(keys - set(range(events)))
        return "" if not lost and not extra else f"{lost:,} rows missing, {extra:,} unexpected rows"

    def reopen(self) -> None:
        try:
            self.conn.close()
        finally:
            self.conn.open()

    def close(self) -> None:
        self.conn.close()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, hbase: Any, flume: Any) -> None:
        self.args = args
        self.work = work
        self.hbase = hbase
        self.thrift = hbase.address
        self.zookeeper = hbase.endpoints["zookeeper"]
        self.flume = flume
        self.probe = HBaseProbe(self.thrift)
        self.results: list[Result] = []
        self.extra: dict[tuple[str, int], str] = {}
        self.stamp = time.strftime("%H%M%S")

    def generate(self, events: int) -> list[Path]:
        per = self.args.lines_per_file
        if events % per:
            raise SystemExit(f"--events must be a multiple of --lines-per-file ({per:,})")
        data = self.work / "data"
        data.mkdir(exist_ok=True)
        files = [data / f"data-{i:03d}.log" for i in range(events // per)]
        code = (
            "from pathlib import Path; from flafka_testkit.crash import write_lines\n"
            f"for i in range({len(files)}): write_lines(Path({str(data)!r}) / f'data-{{i:03d}}.log', i * {per}, {per}, width={LINE})\n"
        )
        env = {**os.environ, "PYTHONPATH": str(HERE.parent / "flafka-testkit" / "src")}
        subprocess.run([sys.executable, "-c", code], check=True, env=env)  # not in this process: it would raise children's RSS
        return files

    def checkpoints(self, events: int) -> list[tuple[bytes, int]]:
        """(row key, events it stands for): the last line of every 10,000 (and of every file)."""
        per = self.args.lines_per_file
        step = min(per, 10_000)
        out = []
        for start in range(0, events, per):
            marks = [*range(start + step - 1, start + per - 1, step), start + per - 1]
            out += [(b"%012d" % m, step if i + 1 < len(marks) else per - step * (len(marks) - 1)) for i, m in enumerate(marks)]
        return out

    def jvm_cpu(self) -> dict[str, float]:
        return {role: proc_cpu(pid) for role, pid in self.hbase.pids().items()}

    def order(self, rnd: int) -> list[str]:
        """Alternate who goes first, so that neither always meets a fresher HBase."""
        systems = ["flafka", "flafka-pipelined", "Flume", "raw"] if rnd % 2 else ["Flume", "flafka-pipelined", "flafka", "raw"]
        return [s for s in systems if s in self.args.systems]

    def run_one(self, system: str, rnd: int, files: list[Path], events: int, connections: int = 1) -> Result:
        label = f"{system.split('-')[0]} x{connections}" if connections > 1 or system == "raw" else system
        workdir = self.work / f"{rnd}-{label.replace(' ', '')}"
        workdir.mkdir()
        table = f"bench_{self.stamp}_{rnd}_{label.replace(' ', '')}"
        self.probe.create(table)
        env: dict[str, str] = {}
        if system == "raw":
            status = workdir / "sent"
            host, _, port = self.thrift.rpartition(":")
            argv = [sys.executable, "-c", RAW_LOOP, host, port, table, FAMILY, REGEX, str(connections), str(status), *map(str, files)]

            def progress() -> int:
                try:
                    return int(status.read_text())
                except (OSError, ValueError):
                    return 0

        else:
            spool = workdir / "spool"
            spool.mkdir()
            for f in files:
                os.link(f, spool / f.name)  # the same bytes for every system; spooldir renames its own link
            conf = CONFIG.format(
                spool=spool, table=table, family=FAMILY, zookeeper=self.zookeeper, thrift=self.thrift,
                regex=REGEX.replace("\\", "\\\\"), columns=COLUMNS,
            )  # fmt: skip
            if connections > 1:
                conf += f"a1.sinks.k1.thrift.connections = {connections}\n"  # Flume ignores thrift.* keys
            conf += "".join(f"a1.sinks.k1.{k} = {v}\n" for k, v in self.args.flafka_key)
            conf_file = workdir / "a1.conf"
            conf_file.write_text(conf)
            (self.work / f"hbase-{label.replace(' ', '')}.properties").write_text(conf)
            if system.startswith("flafka"):
                from flafka_testkit.services.base import free_port

                port_n = free_port()
                argv = [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(conf_file), "--no-reload-conf"]
                argv += ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={port_n}"]
                progress = functools.partial(flafka_metric, port_n, "SINK.k1", "EventDrainSuccessCount")
                env["FLAFKA_CACHE_DIR"] = str(workdir / "cache")
            else:
                from flafka_testkit.services.flume import LOG4J2

                (workdir / "log4j2.properties").write_text(LOG4J2)
                argv = self.flume.command(conf_file, "a1", workdir, heap=self.args.flume_heap)
                progress = functools.partial(self.probe.present, table, self.checkpoints(events), set())
        cpu0 = self.jvm_cpu()
        try:
            profile = None
            if self.args.profile is not None and system.startswith("flafka"):
                self.args.profile.mkdir(parents=True, exist_ok=True)
                profile = self.args.profile / f"hbase2-{rnd}-{label.replace(' ', '')}.txt"
            result = watch("hbase2", label, rnd, argv, total=events, progress=progress, log=workdir / "agent.log",
                           env=env, cwd=workdir, timeout=self.args.timeout, profile=profile)  # fmt: skip
            cpu1 = self.jvm_cpu()
            problem = self.probe.verify(table, events)
        finally:
            if not self.args.keep_tables:
                self.probe.drop(table)
        if problem:
            raise BenchError(f"{label} round {rnd}: {problem} (logs: {workdir})")
        jvm = {role: cpu1.get(role, 0.0) - cpu0.get(role, 0.0) for role in cpu0}
        if profile is not None:
            result.note = "PROFILED (py-spy slows it: not a benchmark figure); "
        result.note += f"verified {events:,} rows; HBase JVM cpu {jvm.get('master', 0):.1f} s, Thrift JVM cpu {jvm.get('thrift', 0):.1f} s"
        self.results.append(result)
        print(result.line(), flush=True)
        return result

    def ratio(self, rnd: int) -> None:
        by = {r.system: r for r in self.results if r.round == rnd}
        j = by.get("Flume")
        raws = [r for r in self.results if r.round == rnd and r.system.startswith("raw")]
        for f in [r for name, r in by.items() if name.startswith("flafka")]:
            if j and j.rate and j.rss_mb and j.steady:
                print(
                    f"hbase2       run {rnd}  ratio {f.system}/Flume: events/s {f.rate / j.rate:.2f}x (steady {f.steady / j.steady:.2f}x), "
                    f"CPU s {f.cpu / j.cpu:.2f}x, peak RSS {f.rss_mb / j.rss_mb:.2f}x   [goal: >= 1x events/s, < 0.33x RSS]",
                    flush=True,
                )
            if raws:
                best = max(raws, key=lambda r: r.rate)
                print(f"hbase2       run {rnd}  {f.system} / best raw mutateRows ({best.system}): {f.rate / best.rate:.2f}x", flush=True)

    def run(self) -> None:
        files = self.generate(self.args.events)
        for rnd in range(1, self.args.runs + 1):
            for system in self.order(rnd):
                if system == "raw":
                    for n in sorted({1, self.args.connections}):
                        self.run_one("raw", rnd, files, self.args.events, n)
                elif system == "flafka-pipelined":
                    self.run_one(system, rnd, files, self.args.events, self.args.connections)
                else:
                    self.run_one(system, rnd, files, self.args.events)
            self.ratio(rnd)

    def markdown(self) -> str:
        head = "| system | run | events | wall s | events/s | steady events/s | CPU s | peak RSS MB | note |"
        rows = [head, "|" + "---|" * 9]
        for r in self.results:
            rows.append(
                f"| {r.system} | {r.round} | {r.events:,} | {r.wall:.2f} | {r.rate:,.0f} | {r.steady:,.0f} | {r.cpu:.2f} | "
                f"{r.rss_mb:.1f} | {r.note} |"
            )
        return "\n".join(rows)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    return key.strip(), value.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--lines-per-file", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS), type=lambda v: v.split(","), help=f"which to run ({','.join(SYSTEMS)})")
    parser.add_argument(
        "--connections", type=int, default=4, help="flafka-pipelined's thrift.connections, and the raw loop's second connection count"
    )
    parser.add_argument(
        "--flafka-key", type=key_value, action="append", default=[], metavar="KEY=VALUE",
        help="an extra sink key for every system (e.g. thrift.maxBatchCells=5000); Flume ignores thrift.* keys",
    )  # fmt: skip
    parser.add_argument("--flume-heap", default="512m", help="Flume's -Xmx (the test kit's default)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for HBase (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave HBase running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs directory")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the flafka agents into this directory (slows them)")
    parser.add_argument("--keep-tables", action="store_true", help="do not drop the tables written")
    args = parser.parse_args()
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s) {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")

    from flafka_testkit.services.flume import FlumeHome

    print(f"machine: {machine()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-hbase-"))
    status = 0
    bench = None
    try:
        with bench_services(["hbase"], args.run_dir, args.keep_services) as services:
            try:
                hbase = services["hbase"]
                print(f"hbase: thrift {hbase.address}, zookeeper {hbase.endpoints['zookeeper']}", flush=True)
                flume = FlumeHome() if "Flume" in args.systems else None
                if flume is not None:
                    print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}", flush=True)
                extra = args.flafka_key or "none"
                print(f"work dir: {work}; FLAFKA_RUN_DIR={services.run_dir}; flafka extra keys: {extra}", flush=True)
                bench = Bench(args, work, hbase, flume)
                bench.run()
            finally:
                if bench is not None:
                    print("\n" + bench.markdown(), flush=True)
                    bench.probe.close()
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
