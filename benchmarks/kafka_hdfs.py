"""flafka vs Apache Flume 1.11 side by side: the Kafka and HDFS pipelines, in one run, on
one machine with the servers (Kafka, HDFS) on it. Run with ``python3 -m nox -s bench`` or
``python benchmarks/kafka_hdfs.py [pipeline ...]``. Figures go to benchmarks/RESULTS.md.

Pipelines (100-byte events, batches of 1000, memory channel 100,000 / 1,000; both systems
run the SAME Flume properties text, written once per run):
  kcat        kcat -P (librdkafka) producing the input file: the producer ceiling
  spool-kafka spooldir -> memory -> Kafka sink     (flafka target >= 300,000 events/s)
  kafka-null  Kafka source -> memory -> null       (flafka target >= 400,000 events/s)
  kafka-hdfs  Kafka source -> memory -> HDFS DataStream (flafka target >= 50 MB/s)
  kafka-file  Kafka source -> memory -> file_roll (rollInterval 0)
              (issue 15: flafka target >= 1,200,000 events/s)
  spool-channel  spooldir -> Kafka channel (parseAsFlumeEvent = false, no sink): puts
  channel-file   Kafka channel (parseAsFlumeEvent = false, the kcat topic) -> file_roll: takes
                 (these two only when named)
Goals: flafka >= 2x Flume's events/s with < 1/3 of its RSS (Kafka); >= Flume's MB/s (HDFS).

Before the first round, kcat produces the Kafka input once into a scratch topic, unmeasured:
a broker that just started is slower for its first records, which penalised whichever system
ran first.

Each measured process (flafka agent, Flume's JVM, kcat) is started by this script and
watched until every event is delivered, counted outside the process:
  spool-kafka, kcat   the topic's end offsets (sum over partitions) reach N
  kafka-null          flafka: the null sink's EventDrainSuccessCount over flafka's metrics
                      HTTP endpoint (127.0.0.1); Flume: the consumer group's committed
                      offsets reach N (Flume commits once a batch is in the channel, i.e.
                      slightly before the sink took it: this favours Flume). Flume's own
                      HTTP metrics are not used: Flume 1.11 binds them on 0.0.0.0.
  kafka-hdfs          the bytes of closed (renamed, non-.tmp) files under the run's HDFS
                      directory reach N * 101 (files roll by size exactly at N / k events)
  kafka-file, channel-file  the bytes in file_roll's output directory reach N * 101;
                      after the run every line is checked (each sequence number once, valid CRC)
  spool-channel       the channel topic's end offsets reach N
Then the process is stopped (SIGTERM). Figures: "wall" = exec -> last event delivered
(includes start-up: ~0.2 s for flafka, ~1-3 s for the JVM); "steady" = events/s from the
first delivered event to the last; CPU s = utime+stime of all threads at the moment the
last event was delivered (/proc/<pid>/stat; wait4 for a process that exited itself); peak
RSS = VmHWM from /proc/<pid>/status, sampled every 50 ms (not wait4's ru_maxrss, which
starts from this script's own peak at fork).

Before the first round the flafka package sources (this tree's and --baseline's) are
byte-compiled, as installing a wheel does: with PYTHONDONTWRITEBYTECODE=1 and an editable
install, each agent would otherwise recompile every flafka module at its start.

``--baseline DIR`` adds a third agent, ``flafka-base``: the same ``python -m flafka`` with
PYTHONPATH set to DIR's package sources (an export of another commit, e.g. ``git archive
<commit> | tar -x -C DIR``), so that before/after figures come from one run. Add
``flafka-base`` to ``--systems``.

Services come from flafka_testkit's service API with this script's own FLAFKA_RUN_DIR
(a temporary directory unless --run-dir), and are stopped at the end unless they were
already running there (or --keep-services).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
sys.path.insert(0, str(HERE))
from _report import Result, compile_sources, emit, ratio_line, table  # noqa: E402
from _services import bench_services  # noqa: E402
from run import machine  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
LINE = 100  # body bytes of one event (+1 newline in files and in HDFS DataStream output)
HDFS_USER = "flafka"
PIPELINES = ("kcat", "spool-kafka", "kafka-null", "kafka-hdfs", "kafka-file", "spool-channel", "channel-file")
OPT_IN = ("spool-channel", "channel-file")
"""Pipelines run only when named (the default is every other one)."""


class BenchError(Exception):
    """A run failed; the message says why (with the log's tail)."""


# -- one measured process --------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """utime + stime (seconds) of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s live threads by thread name (digits at the end dropped, so
    ``rdk:broker1`` and ``rdk:broker2`` add up). Python 3.11 leaves its threads' names as
    the process's; librdkafka names its own ``rdk:...``, the JVM and rsyslog theirs."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")].rstrip("0123456789-")
        fields = text.rsplit(")", 1)[1].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return totals


def vm_hwm(pid: int) -> float:
    """Peak resident set (MB) of ``pid``'s address space since its exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def watch(
    pipeline: str,
    system: str,
    rnd: int,
    argv: list[str],
    *,
    total: int,
    progress: Callable[[], int],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Path | None = None,
    timeout: float = 900.0,
    units: int = 1,
    profile: Path | None = None,
) -> Result:
    """Start ``argv``; sample until ``progress()`` (in events * ``units``) reaches ``total``;
    stop the process; return the figures measured at the moment of completion. With
    ``profile``, py-spy samples the process (all threads, idle ones too) into that file."""
    with open(log, "wb") as out, open(stdin or os.devnull, "rb") as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=inp, env={**os.environ, **(env or {})},
            cwd=str(cwd) if cwd else None, start_new_session=True,
        )  # fmt: skip
    pid = proc.pid
    spy = None
    hwm, first, exited = 0.0, None, None
    threads: dict[str, float] = {}
    cpu_first = 0.0
    cpu_exit = 0.0
    try:
        if profile is not None:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            native = ["--native"] if os.environ.get("FLAFKA_BENCH_NATIVE") else []  # C frames too (librdkafka, gc)
            spy_argv = [py_spy, "record", "--pid", str(pid), "--threads", "--idle", *native, "--rate", "250"]
            spy_argv += ["--format", "raw", "-o", str(profile)]
            with open(f"{profile}.log", "wb") as spy_log:
                spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=spy_log)
        while True:
            now = time.perf_counter()
            if exited is None:
                done_pid, status, usage = os.wait4(pid, os.WNOHANG)
                if done_pid:
                    exited = os.waitstatus_to_exitcode(status)
                    cpu_exit = usage.ru_utime + usage.ru_stime
                    proc.returncode = exited
                else:
                    hwm = max(hwm, vm_hwm(pid))
            count = progress()
            if count > 0 and first is None:
                first = (now, count)
                if exited is None:
                    cpu_first = proc_cpu(pid)
            if count >= total:
                done = time.perf_counter() if exited is None else now
                cpu = proc_cpu(pid) if exited is None else cpu_exit
                if exited is None:
                    hwm = max(hwm, vm_hwm(pid))
                    threads = thread_cpu(pid)
                break
            if exited is not None:
                raise BenchError(f"{system} ({pipeline}) exited with code {exited} after {count:,} of {total:,}:\n{tail(log)}")
            if now - start > timeout:
                raise BenchError(f"{system} ({pipeline}) delivered only {count:,} of {total:,} in {timeout:.0f} s:\n{tail(log)}")
            time.sleep(0.05)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if proc.returncode is None:
            stop_process(proc)
    wall = done - start
    first_at, first_events = (first[0] - start, first[1] // units) if first is not None else (wall, total // units)
    result = Result(pipeline, system, rnd, total // units, wall, cpu, hwm, first_at=first_at, first_events=first_events)
    result.threads, result.cpu_first = threads, cpu_first
    return result


def stop_process(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaps it."""
    if proc.returncode is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- counters outside the measured process -------------------------------------------


class KafkaProbe:
    """Topic end offsets and group committed offsets, from this process."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "flafka-bench-probe", "enable.auto.commit": False, "log_level": 3}
        )

    def create_topic(self, topic: str, partitions: int) -> None:
        from confluent_kafka.admin import NewTopic

        self.admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
            if meta is not None and meta.error is None and len(meta.partitions) == partitions:
                return
            time.sleep(0.1)
        raise BenchError(f"topic {topic} did not appear")

    def delete_topics(self, topics: list[str]) -> None:
        if topics:
            for fut in self.admin.delete_topics(topics).values():
                try:
                    fut.result(30)
                except Exception:
                    pass

    def end_offsets(self, topic: str, partitions: int) -> int:
        from confluent_kafka import TopicPartition

        total = 0
        for p in range(partitions):
            try:
                total += self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
            except Exception:
                return 0
        return total

    def committed(self, group: str, topic: str, partitions: int) -> int:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
        try:
            result = self.admin.list_consumer_group_offsets(request)[group].result(5)
        except Exception:
            return 0
        return sum(tp.offset for tp in result.topic_partitions if tp.offset > 0)

    def close(self) -> None:
        """Close the consumer and drop the admin client (it has no close()): neither may
        outlive the broker, or librdkafka logs failed reconnects until the process exits."""
        self.consumer.close()
        del self.admin


def dir_bytes(path: Path) -> int:
    """Bytes in the files directly under ``path`` (0 while it is missing)."""
    try:
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    except OSError:
        return 0


def flafka_metric(port: int, component: str, field: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return int(json.load(resp).get(component, {}).get(field, 0))
    except (OSError, ValueError):
        return 0


class WebHdfs:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def _url(self, path: str, op: str) -> str:
        return f"{self.base}/webhdfs/v1{path}?op={op}&user.name={HDFS_USER}"

    def closed_bytes(self, path: str) -> int:
        """Bytes in the final-named (closed) files directly under ``path``."""
        try:
            with urllib.request.urlopen(self._url(path, "LISTSTATUS"), timeout=5) as resp:
                files = json.load(resp)["FileStatuses"]["FileStatus"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 0
            raise
        except OSError:
            return 0
        return sum(int(f["length"]) for f in files if f["type"] == "FILE" and not f["pathSuffix"].endswith(".tmp"))

    def files(self, path: str) -> list[str]:
        with urllib.request.urlopen(self._url(path, "LISTSTATUS"), timeout=5) as resp:
            return [f["pathSuffix"] for f in json.load(resp)["FileStatuses"]["FileStatus"]]

    def delete(self, path: str) -> None:
        req = urllib.request.Request(self._url(path, "DELETE") + "&recursive=true", method="DELETE")
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except OSError:
            pass


#: The librdkafka ceiling when kcat is not installed: produce every stdin line, acks=1.
PRODUCER_LOOP = """
import sys
from confluent_kafka import Producer
producer = Producer({"bootstrap.servers": sys.argv[1], "acks": 1, "queue.buffering.max.messages": 1000000})
produce, poll, topic = producer.produce, producer.poll, sys.argv[2]
for line in sys.stdin.buffer:
    while True:
        try:
            produce(topic, line[:-1])
            break
        except BufferError:
            poll(0.01)
producer.flush()
"""

# -- the configurations (one text, both systems) -------------------------------------

CHANNEL = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
"""

SPOOL_SOURCE = """a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 1000
"""

KAFKA_SOURCE = """a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = {group}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 1000
a1.sources.r1.batchDurationMillis = 1000
"""

KAFKA_SINK = """a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.flumeBatchSize = 1000
a1.sinks.k1.kafka.producer.acks = 1
"""

NULL_SINK = """a1.sinks.k1.type = null
a1.sinks.k1.batchSize = 1000
"""

FILE_SINK = """a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.batchSize = 1000
a1.sinks.k1.sink.rollInterval = 0
"""

KAFKA_CHANNEL = """a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = {topic}
a1.channels.c1.kafka.consumer.group.id = {group}
a1.channels.c1.parseAsFlumeEvent = false
"""

HDFS_SINK = """a1.sinks.k1.type = hdfs
a1.sinks.k1.hdfs.path = {path}
a1.sinks.k1.hdfs.fileType = DataStream
a1.sinks.k1.hdfs.batchSize = 1000
a1.sinks.k1.hdfs.rollInterval = 0
a1.sinks.k1.hdfs.rollCount = 0
a1.sinks.k1.hdfs.rollSize = {roll_size}
a1.sinks.k1.hdfs.idleTimeout = 1
"""


# -- the benchmark -----------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, bootstrap: str, hdfs: Any, flume: Any) -> None:
        self.args = args
        self.work = work
        self.bootstrap = bootstrap
        self.kafka = KafkaProbe(bootstrap)
        self.hdfs_service = hdfs
        self.webhdfs = WebHdfs(hdfs.address) if hdfs is not None else None
        self.flume = flume
        self.partitions = args.partitions
        self.results: list[Result] = []
        self.topics: list[str] = []
        self.stamp = time.strftime("%H%M%S")

    # data: files of ``per`` lines, file i = lines [i*per, (i+1)*per) (flafka_testkit.crash format)
    def generate(self, events: int) -> list[Path]:
        per = self.args.lines_per_file
        if events % per:
            raise SystemExit(f"event counts must be multiples of --lines-per-file ({per:,})")
        data = self.work / "data"
        data.mkdir(exist_ok=True)
        files = [data / f"data-{i:03d}.log" for i in range(events // per)]
        missing = [i for i, f in enumerate(files) if not f.exists()]
        if missing:
            code = (
                "import sys; from pathlib import Path; from flafka_testkit.crash import write_lines\n"
                f"for i in {missing!r}: write_lines(Path({str(data)!r}) / f'data-{{i:03d}}.log', i * {per}, {per}, width={LINE})\n"
            )
            env = {**os.environ, "PYTHONPATH": str(HERE.parent / "flafka-testkit" / "src")}
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return files

    def concatenated(self, events: int) -> Path:
        path = self.work / "data" / f"all-{events}.log"
        if not path.exists():
            files = self.generate(events)  # first: it creates the data directory
            with open(path, "wb") as out:
                for f in files:
                    with open(f, "rb") as inp:
                        shutil.copyfileobj(inp, out, 1 << 20)
        return path

    def topic(self, what: str, rnd: int, system: str) -> str:
        name = f"bench-{self.stamp}-{what}-{rnd}-{system.lower()}"
        self.kafka.create_topic(name, self.partitions)
        self.topics.append(name)
        return name

    # the two ways to run an agent on a config text
    def run_agent(self, system: str, pipeline: str, rnd: int, conf: str, *, total: int, progress: Callable[[], int],
                  metrics_port: int | None = None, units: int = 1, env: dict[str, str] | None = None,
                  flume_files: list[Path] | None = None) -> Result:  # fmt: skip
        workdir = self.work / f"{pipeline}-{rnd}-{system.lower()}"
        workdir.mkdir(parents=True, exist_ok=True)
        conf_file = workdir / "a1.conf"
        conf_file.write_text(conf)
        (self.work / "configs").mkdir(exist_ok=True)
        (self.work / "configs" / f"{pipeline}.properties").write_text(conf)
        if system == "flafka-base":
            base = self.args.baseline
            if base is None:
                raise BenchError("system flafka-base needs --baseline DIR")
            src = [str(base / pkg / "src") for pkg in ("flafka-core", "flafka-kafka", "flafka-hdfs", "flafka-testkit")]
            env = {**(env or {}), "PYTHONPATH": os.pathsep.join(src)}
        if system in ("flafka", "flafka-base"):
            argv = [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(conf_file), "--no-reload-conf"]
            if metrics_port:
                argv += ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={metrics_port}"]
            # hdfs.stagingDir defaults under $FLAFKA_CACHE_DIR: keep it in this run's workdir
            env = {**(env or {}), "FLAFKA_CACHE_DIR": str(workdir / "cache")}
        else:
            from flafka_testkit.services.flume import LOG4J2

            (workdir / "log4j2.properties").write_text(LOG4J2)
            for f in flume_files or []:
                shutil.copy(f, workdir / f.name)  # core-site.xml / hdfs-site.xml on Flume's classpath
            argv = self.flume.command(conf_file, "a1", workdir, heap=self.args.flume_heap)
        profile = None
        if self.args.profile is not None and system in ("flafka", "flafka-base"):
            self.args.profile.mkdir(parents=True, exist_ok=True)
            profile = self.args.profile / f"{pipeline}-{rnd}{'-base' if system == 'flafka-base' else ''}.txt"
        result = watch(pipeline, system, rnd, argv, total=total, progress=progress, log=workdir / "agent.log", env=env,
                       cwd=workdir, timeout=self.args.timeout, units=units, profile=profile)  # fmt: skip
        return result

    def record(self, result: Result) -> Result:
        if self.args.profile is not None and result.system in ("flafka", "flafka-base"):
            result.note += " PROFILED (py-spy slows it: not a benchmark figure)"
        self.results.append(result)
        print(result.line(per_event=True), flush=True)
        return result

    def ratio(self, pipeline: str, rnd: int, goal: str) -> None:
        by = {r.system: r for r in self.results if r.pipeline == pipeline and r.round == rnd}
        f, j = by.get("flafka"), by.get("Flume")
        if f and j and j.rate and j.rss_mb and j.steady:
            adj = ""
            if j.idle or f.idle:
                adj = (
                    f" | without the {j.idle:.0f} s idle close: {f.rate_adj / j.rate_adj:.2f}x (steady {f.steady_adj / j.steady_adj:.2f}x)"
                )
            print(ratio_line(pipeline, rnd, "ratio flafka/Flume", f, j, goal, adj), flush=True)
        b = by.get("flafka-base")
        if f and b and b.rate and b.rss_mb and b.steady:
            cpu = f"CPU us/event {f.us_per_event:.2f} vs {b.us_per_event:.2f} ({f.us_per_event / b.us_per_event:.2f}x)"
            print(ratio_line(pipeline, rnd, "ratio flafka/flafka-base", f, b, cpu), flush=True)

    def order(self, rnd: int) -> list[str]:
        """Alternate who goes first, so that neither always meets a warmer broker or page cache."""
        systems = ["flafka", "flafka-base", "Flume"]
        systems = systems if rnd % 2 else systems[::-1]
        return [s for s in systems if s in self.args.systems]

    # -- pipelines ---------------------------------------------------------------------
    def kcat(self, rnd: int, events: int, what: str = "in", record: bool = True) -> str:
        """kcat producing the input file into a fresh topic (also the source pipelines' input);
        without kcat, confluent-kafka's Producer in a tight loop (same librdkafka, acks=1)."""
        topic = self.topic(what, rnd, "kcat")
        kcat = shutil.which("kcat") or shutil.which("kafkacat")
        if kcat:
            argv, system = [kcat, "-P", "-b", self.bootstrap, "-t", topic, "-X", "acks=1"], "kcat"
        else:
            argv, system = [sys.executable, "-c", PRODUCER_LOOP, self.bootstrap, topic], "ck-loop"
        log = self.work / f"kcat-{what}-{rnd}.log"
        result = watch(
            "kcat", system, rnd, argv, total=events, progress=lambda: self.kafka.end_offsets(topic, self.partitions),
            log=log, stdin=self.concatenated(events), timeout=self.args.timeout,
        )  # fmt: skip
        result.note = f"-> {topic}" + ("" if kcat else " (kcat not installed: confluent-kafka Producer loop)")
        if record and (what == "in" or "kcat" in self.args.pipelines):
            self.record(result)
        return topic

    def spool_kafka(self, rnd: int, events: int) -> None:
        files = self.generate(events)
        for system in self.order(rnd):
            spool = self.work / f"spool-{rnd}-{system.lower()}"
            spool.mkdir()
            for f in files:
                os.link(f, spool / f.name)  # same bytes for both; spooldir renames its own link
            topic = self.topic("sink", rnd, system)
            conf = CHANNEL + SPOOL_SOURCE.format(spool=spool) + KAFKA_SINK.format(bootstrap=self.bootstrap, topic=topic)
            result = self.run_agent(
                system, "spool-kafka", rnd, conf, total=events, progress=functools.partial(self.kafka.end_offsets, topic, self.partitions)
            )
            written = self.kafka.end_offsets(topic, self.partitions)
            result.note = "ok" if written == events else f"topic holds {written:,} records (expected {events:,})"
            self.record(result)
            self.kafka.delete_topics([topic])
        self.ratio("spool-kafka", rnd, "goal: >= 2x events/s, < 0.33x RSS; flafka >= 300,000 ev/s")

    def kafka_null(self, rnd: int, events: int, topic: str) -> None:
        from flafka_testkit.services.base import free_port

        for system in self.order(rnd):
            group = f"bench-{self.stamp}-null-{rnd}-{system.lower()}"
            conf = CHANNEL + KAFKA_SOURCE.format(bootstrap=self.bootstrap, topic=topic, group=group) + NULL_SINK
            if system == "flafka":
                port = free_port()
                result = self.run_agent(
                    system, "kafka-null", rnd, conf, total=events, metrics_port=port,
                    progress=functools.partial(flafka_metric, port, "SINK.k1", "EventDrainSuccessCount"),
                )  # fmt: skip
                result.note = "counted: null sink drained (metrics)"
            else:
                result = self.run_agent(
                    system,
                    "kafka-null",
                    rnd,
                    conf,
                    total=events,
                    progress=functools.partial(self.kafka.committed, group, topic, self.partitions),
                )
                result.note = "counted: group's committed offsets"
            self.record(result)
        self.ratio("kafka-null", rnd, "goal: >= 2x events/s, < 0.33x RSS; flafka >= 400,000 ev/s")

    def kafka_hdfs(self, rnd: int, events: int, topic: str) -> None:
        webhdfs = self.webhdfs
        assert webhdfs is not None and self.hdfs_service is not None
        conf_dir = Path(self.hdfs_service.conf_dir)
        site = [conf_dir / "core-site.xml", conf_dir / "hdfs-site.xml"]
        per_file = self.args.lines_per_file
        expected = events * (LINE + 1)
        for system in self.order(rnd):
            group = f"bench-{self.stamp}-hdfs-{rnd}-{system.lower()}"
            path = f"/bench/{self.stamp}-{rnd}-{system.lower()}"
            conf = (
                CHANNEL
                + KAFKA_SOURCE.format(bootstrap=self.bootstrap, topic=topic, group=group)
                + HDFS_SINK.format(path=path, roll_size=per_file * LINE)
            )
            env = {"HADOOP_CONF_DIR": str(conf_dir), "HADOOP_USER_NAME": HDFS_USER}
            result = self.run_agent(
                system, "kafka-hdfs", rnd, conf, total=expected, units=LINE + 1, env=env, flume_files=site,
                progress=functools.partial(webhdfs.closed_bytes, path),
            )  # fmt: skip
            got = webhdfs.closed_bytes(path)
            files = [f for f in webhdfs.files(path) if not f.endswith(".tmp")]
            result.note = f"{len(files)} files" + ("" if got == expected else f", {got:,} bytes (expected {expected:,})")
            if system == "Flume" and len(files) * per_file >= events:
                # Flume checks rollSize before appending the NEXT event, so its last file
                # stays open until hdfs.idleTimeout (1 s after the last flush) closes it.
                result.idle = 1.0
                result.note += f"; last file closed by idleTimeout: {result.rate_adj:,.0f} ev/s without that 1 s"
            self.record(result)
            webhdfs.delete(path)
        self.ratio("kafka-hdfs", rnd, "goal: >= 1x Flume; flafka >= 50 MB/s")

    def kafka_file(self, rnd: int, events: int, topic: str) -> None:
        from flafka_testkit.crash import read_output_lines, verify

        expected = events * (LINE + 1)
        for system in self.order(rnd):
            group = f"bench-{self.stamp}-file-{rnd}-{system.lower()}"
            out = self.work / f"kafka-file-{rnd}-{system.lower()}-out"
            out.mkdir()
            conf = CHANNEL + KAFKA_SOURCE.format(bootstrap=self.bootstrap, topic=topic, group=group) + FILE_SINK.format(out=out)
            result = self.run_agent(
                system, "kafka-file", rnd, conf, total=expected, units=LINE + 1, progress=functools.partial(dir_bytes, out)
            )
            verdict = verify(read_output_lines(out), events)
            exact = verdict.ok and not verdict.duplicates and verdict.seen == events
            result.note = "verified: each event once" if exact else f"NOT exactly once: {verdict.summary()}"
            result.note += f"; first events after {result.first_at:.2f} s, {result.cpu_first:.2f} CPU s"
            self.record(result)
            shutil.rmtree(out, ignore_errors=True)
        self.ratio("kafka-file", rnd, "issue 15 goal: flafka >= 1,200,000 ev/s, peak RSS no higher")

    def spool_channel(self, rnd: int, events: int) -> None:
        files = self.generate(events)
        for system in self.order(rnd):
            spool = self.work / f"spool-channel-{rnd}-{system.lower()}"
            spool.mkdir()
            for f in files:
                os.link(f, spool / f.name)
            topic = self.topic("channel", rnd, system)
            group = f"bench-{self.stamp}-channel-{rnd}-{system.lower()}"
            conf = "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\n" + SPOOL_SOURCE.format(spool=spool)
            conf += KAFKA_CHANNEL.format(bootstrap=self.bootstrap, topic=topic, group=group)
            result = self.run_agent(
                system, "spool-channel", rnd, conf, total=events, progress=functools.partial(self.kafka.end_offsets, topic, self.partitions)
            )
            written = self.kafka.end_offsets(topic, self.partitions)
            result.note = "ok" if written == events else f"topic holds {written:,} records (expected {events:,})"
            self.record(result)
            self.kafka.delete_topics([topic])
        self.ratio("spool-channel", rnd, "Kafka channel puts")

    def channel_file(self, rnd: int, events: int, topic: str) -> None:
        from flafka_testkit.crash import read_output_lines, verify

        expected = events * (LINE + 1)
        for system in self.order(rnd):
            group = f"bench-{self.stamp}-chfile-{rnd}-{system.lower()}"
            out = self.work / f"channel-file-{rnd}-{system.lower()}-out"
            out.mkdir()
            conf = "a1.channels = c1\na1.sinks = k1\na1.sinks.k1.channel = c1\n"
            conf += KAFKA_CHANNEL.format(bootstrap=self.bootstrap, topic=topic, group=group) + FILE_SINK.format(out=out)
            conf += "a1.channels.c1.kafka.consumer.auto.offset.reset = earliest\n"
            result = self.run_agent(
                system, "channel-file", rnd, conf, total=expected, units=LINE + 1, progress=functools.partial(dir_bytes, out)
            )
            verdict = verify(read_output_lines(out), events)
            exact = verdict.ok and not verdict.duplicates and verdict.seen == events
            result.note = "verified: each event once" if exact else f"NOT exactly once: {verdict.summary()}"
            self.record(result)
            shutil.rmtree(out, ignore_errors=True)
        self.ratio("channel-file", rnd, "Kafka channel takes")

    def run(self) -> None:
        a = self.args
        # A broker that just started is slower for its first few million records (JIT,
        # page cache, first log segments): whichever system ran first paid for it (1.65x
        # vs 2.0-2.5x in the later rounds). Warm it once, unmeasured, for both.
        warm = self.kcat(0, a.kafka_events, "warmup", record=False)
        self.kafka.delete_topics([warm])
        print(f"warm-up: kcat produced {a.kafka_events:,} records into a scratch topic (not measured)", flush=True)
        for rnd in range(1, a.runs + 1):
            wanted = set(a.pipelines)
            if "spool-kafka" in wanted:
                self.spool_kafka(rnd, a.kafka_events)
            if "spool-channel" in wanted:
                self.spool_channel(rnd, a.kafka_events)
            if wanted & {"kcat", "kafka-null", "kafka-file", "channel-file"}:
                topic = self.kcat(rnd, a.kafka_events)
                if "kafka-null" in wanted:
                    self.kafka_null(rnd, a.kafka_events, topic)
                if "kafka-file" in wanted:
                    self.kafka_file(rnd, a.kafka_events, topic)
                if "channel-file" in wanted:
                    self.channel_file(rnd, a.kafka_events, topic)
                self.kafka.delete_topics([topic])
            if "kafka-hdfs" in wanted:
                topic = self.kcat(rnd, a.hdfs_events, "hdfs")
                self.kafka_hdfs(rnd, a.hdfs_events, topic)
                self.kafka.delete_topics([topic])

    def markdown(self) -> str:
        return "\n".join(table(RESULT_COLUMNS, self.results))

    def report_and_close(self) -> None:
        """Print the tables, delete this run's topics and close the probe (while the broker
        still runs: call it inside the ``bench_services`` block)."""
        emit(self.markdown())
        self.kafka.delete_topics(self.topics)
        self.kafka.close()


RESULT_COLUMNS: list[tuple[str, Callable[[Result], object]]] = [
    ("pipeline", lambda r: r.pipeline),
    ("system", lambda r: r.system),
    ("run", lambda r: r.round),
    ("events", lambda r: f"{r.events:,}"),
    ("wall s", lambda r: f"{r.wall:.2f}"),
    ("events/s", lambda r: f"{r.rate:,.0f}"),
    ("MB/s", lambda r: f"{r.mb_s:.1f}"),
    ("steady events/s", lambda r: f"{r.steady:,.0f}"),
    ("CPU s", lambda r: f"{r.cpu:.2f}"),
    ("peak RSS MB", lambda r: f"{r.rss_mb:.1f}"),
    ("note", lambda r: r.note),
]
"""The columns of the results table (kafka_hdfs.py and sources.py)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "pipelines", nargs="*", metavar="PIPELINE", help=f"any of {', '.join(PIPELINES)} (default: all but {', '.join(OPT_IN)})"
    )
    parser.add_argument("--kafka-events", type=int, default=2_000_000)
    parser.add_argument("--hdfs-events", type=int, default=5_000_000)
    parser.add_argument("--lines-per-file", type=int, default=500_000, help="input file size, and the HDFS roll size / 100")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--flume-heap", default="512m", help="Flume's -Xmx (the test kit's default)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the services (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave the services running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs directory")
    parser.add_argument(
        "--systems", default="flafka,Flume", type=lambda v: v.split(","), help="which agents to run (flafka,Flume,flafka-base)"
    )
    parser.add_argument("--baseline", type=Path, default=None, help="sources of another commit, run as system flafka-base")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the flafka agents into this directory (slows them)")
    args = parser.parse_args()
    args.pipelines = args.pipelines or [p for p in PIPELINES if p not in OPT_IN]
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")

    from flafka_testkit.services.flume import FlumeHome

    print(f"machine: {machine()}", flush=True)
    print(compile_sources([HERE.parent, *([args.baseline] if args.baseline else [])]), flush=True)
    needs = ["kafka"] + (["hdfs"] if "kafka-hdfs" in args.pipelines else []) + ["flume"]
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-kafka-hdfs-"))
    status = 0
    bench = None
    try:
        with bench_services(needs, args.run_dir, args.keep_services) as services:
            try:
                flume = FlumeHome()
                print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}; kcat {shutil.which('kcat')}", flush=True)
                print(f"work dir: {work}; FLAFKA_RUN_DIR={services.run_dir}", flush=True)
                bench = Bench(args, work, services.address("kafka"), services.get("hdfs"), flume)
                bench.run()
            finally:
                if bench is not None:
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
