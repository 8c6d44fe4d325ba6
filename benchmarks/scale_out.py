"""Scale-out on Kafka (issue 14): N flafka agents in one consumer group, N sinks on one
Kafka channel, and how long a SIGKILLed agent takes to read again after its restart.
Run with ``python3 -m nox -s bench`` or ``python benchmarks/scale_out.py [part ...]``.
Figures go to benchmarks/RESULTS.md ("Scale-out on Kafka (issue 14)").

Parts:
  agents   N = 1, 2, 3 ``flafka agent`` processes, Kafka source -> memory -> null, one
           group, on an empty topic of --partitions partitions (maxBackoffSleep = 100 ms:
           with Flume's 5000 an idle source sleeps up to 5 s before it sees new records,
           which this measurement would count). Once the group is stable
           (N members, each with partitions), kcat writes --events 100-byte records.
           Events/s = records / (kcat's start -> the group's committed offsets reach every
           record); CPU s = all agents' utime+stime over that interval; peak RSS per
           agent. kcat alone into another topic first: the writer's ceiling.
  sinks    one agent, Kafka channel (parseAsFlumeEvent = false) -> 1 or 3 sinks (null;
           file_roll too with --file-roll): each sink's thread has its own consumer in the
           channel's group. Measured the same way (the group settled with N members).
  restart  Kafka source -> memory -> null on 4 partitions with a producer writing ~2,000
           records/s: the agent is SIGKILLed and restarted; time from the restart to the
           first commit past the kill (its first delivered events), with static group
           membership (the default) and without (kafka.consumer.group.instance.id empty).

The broker runs on this machine (the test kit's local Kafka), so agents and broker share
its cores: the figures measure this machine, not Kafka's limits. The broker's CPU seconds
over each measured interval are printed too. SCALE_OUT_TRACE=1 prints the group's
committed offsets while a measurement waits for them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
sys.path.insert(0, str(HERE))
from _services import bench_services  # noqa: E402
from kafka_hdfs import BenchError, KafkaProbe, flafka_metric, proc_cpu, tail, vm_hwm  # noqa: E402
from run import machine  # noqa: E402

PARTS = ("agents", "sinks", "restart")

SOURCE_AGENT = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = kafka
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = {group}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
{extra}a1.sources.r1.batchSize = 1000
a1.sources.r1.batchDurationMillis = 100
a1.sources.r1.backoffSleepIncrement = 50
a1.sources.r1.maxBackoffSleep = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = 1000
a1.sinks.k1.channel = c1
"""

CHANNEL_AGENT = """a1.channels = c1
a1.sinks = {sinks}
a1.channels.c1.type = kafka
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = {topic}
a1.channels.c1.kafka.consumer.group.id = {group}
a1.channels.c1.parseAsFlumeEvent = false
"""


@dataclass
class Row:
    what: str
    events: int
    wall: float
    cpu: float
    rss: list[float]
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.wall if self.wall > 0 else 0.0

    def line(self) -> str:
        rss = "/".join(f"{r:.0f}" for r in self.rss)
        figures = f"{self.events:>9,} ev  {self.wall:6.2f} s  {self.rate:>9,.0f} ev/s  cpu {self.cpu:6.2f} s  RSS {rss} MB"
        return f"{self.what:<40} {figures} {self.note}"


class Agents:
    """``flafka agent`` processes started by this script, watched for CPU and RSS."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.hwm: dict[int, float] = {}

    def start(self, name: str, conf_text: str, metrics_port: int = 0) -> subprocess.Popen[bytes]:
        conf = self.work / f"{name}.conf"
        conf.write_text(conf_text)
        log = self.work / f"{name}.log"
        argv = [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(conf), "--no-reload-conf"]
        if metrics_port:
            argv += ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={metrics_port}"]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.procs.append((proc, log))
        return proc

    def sample(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is None:
                self.hwm[proc.pid] = max(self.hwm.get(proc.pid, 0.0), vm_hwm(proc.pid))
            elif proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
                raise BenchError(f"agent {proc.pid} exited with {proc.returncode}:\n{tail(log)}")

    def cpu(self) -> float:
        return sum(proc_cpu(p.pid) for p, _ in self.procs if p.poll() is None)

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs = []


def preload(bootstrap: str, topic: str, events: int) -> None:
    """``events`` 100-byte records, spread over the partitions (no key: sticky batches)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000})
    body = b"x" * 90
    for i in range(events):
        while True:
            try:
                producer.produce(topic, b"%09d " % i + body)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120) != 0:
        raise BenchError("preloading the topic did not finish")


def until_committed(
    probe: KafkaProbe, agents: Agents, group: str, topic: str, partitions: int, total: int, timeout: float, settled: list[float]
) -> float:
    """Wait until ``group`` committed ``total`` records; returns when. ``settled`` gets
    (time, records committed) of the first sample past 10 % of ``total`` (the group has
    joined and read: the steady rate is measured from there)."""
    started = time.perf_counter()
    while True:
        agents.sample()
        done = probe.committed(group, topic, partitions)
        if os.environ.get("SCALE_OUT_TRACE"):
            print(f"  {time.perf_counter() - started:5.2f} s committed {done:,}", flush=True)
        if not settled and done >= total // 10:
            settled.extend([time.perf_counter(), done])
        if done >= total:
            return time.perf_counter()
        if time.perf_counter() - started > timeout:
            raise BenchError(f"group {group} committed only {probe.committed(group, topic, partitions):,} of {total:,} in {timeout:.0f} s")
        time.sleep(0.05)


def settled_group(probe: KafkaProbe, agents: Agents, group: str, members: int, partitions: int, timeout: float = 120.0) -> float:
    """Wait until ``group`` is STABLE with ``members`` members that hold every partition
    between them, each at least one, for 1 s; returns the seconds it took."""
    from confluent_kafka import ConsumerGroupState

    started = time.perf_counter()
    since = None
    while time.perf_counter() - started < timeout:
        agents.sample()
        try:
            desc = probe.admin.describe_consumer_groups([group])[group].result(5)
            owned = [len(m.assignment.topic_partitions) for m in desc.members]
            ok = desc.state == ConsumerGroupState.STABLE and len(owned) == members and sum(owned) == partitions and min(owned) > 0
        except Exception:
            ok = False
        if ok:
            since = since or time.perf_counter()
            if time.perf_counter() - since >= 1.0:
                return time.perf_counter() - started
        else:
            since = None
        time.sleep(0.1)
    raise BenchError(f"group {group} did not settle with {members} members in {timeout:.0f} s")


def kcat_produce(bootstrap: str, topic: str, data: Path) -> subprocess.Popen[bytes]:
    """kcat -P of every line of ``data`` (librdkafka, C: the producer is not the limit)."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        raise BenchError("kcat is needed to write the records while the agents read (apt-get install kcat)")
    with open(data, "rb") as inp:
        return subprocess.Popen(
            [kcat, "-P", "-b", bootstrap, "-t", topic, "-X", "acks=1", "-X", "linger.ms=20", "-X", "queue.buffering.max.messages=1000000"],
            stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


def broker_cpu(args: argparse.Namespace) -> float:
    """CPU seconds the broker's processes used so far (0 when unknown)."""
    total = 0.0
    for pid in getattr(args, "broker_pids", []):
        try:
            total += proc_cpu(pid)
        except OSError:
            pass
    return total


def write_data(work: Path, events: int) -> Path:
    data = work / "records.txt"
    if not data.exists() or data.stat().st_size != events * 101:
        with open(data, "wb") as out:
            for base in range(0, events, 100_000):
                out.write(b"".join(b"%09d %s\n" % (i, b"x" * 90) for i in range(base, min(events, base + 100_000))))
    return data


def measure(
    args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, agents: Agents, group: str, topic: str, members: int
) -> tuple[float, float, list[float], float]:
    """The agents are started on the empty ``topic``: wait until the group settled, then
    kcat writes --events records; returns (seconds from the first record written to the
    group committing the last, the agents' CPU seconds meanwhile, their peak RSS, seconds
    the group took to settle)."""
    settle = settled_group(probe, agents, group, members, args.partitions)
    cpu0 = agents.cpu()
    broker0 = broker_cpu(args)
    began = time.perf_counter()
    writer = kcat_produce(bootstrap, topic, write_data(work, args.events))
    try:
        done = until_committed(probe, agents, group, topic, args.partitions, args.events, args.timeout, [])
    finally:
        writer.wait(60)
    cpu = agents.cpu() - cpu0
    args.last_broker_cpu = broker_cpu(args) - broker0
    rss = [agents.hwm.get(p.pid, 0.0) for p, _ in agents.procs]
    return done - began, cpu, rss, settle


def steady_note(settled: list[float], done: float, total: int) -> str:
    """Events/s from the first 10 % committed to the end (start-up and joins excluded)."""
    if not settled or done <= settled[0]:
        return ""
    return f"steady {(total - settled[1]) / (done - settled[0]):,.0f} ev/s"


def run_agents(args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, rows: list[Row]) -> None:
    """N agents on one group; records written (kcat) once the group settled."""
    write_data(work, args.events)
    baseline = f"scale-kcat-{uuid.uuid4().hex[:8]}"
    probe.create_topic(baseline, args.partitions)
    began = time.perf_counter()
    kcat_produce(bootstrap, baseline, write_data(work, args.events)).wait(300)
    while probe.end_offsets(baseline, args.partitions) < args.events:
        time.sleep(0.05)
    row = Row("kcat -P alone (the writer's ceiling)", args.events, time.perf_counter() - began, 0.0, [])
    rows.append(row)
    print(row.line(), flush=True)
    for rnd in range(args.runs):
        for n in args.agents:
            topic = f"scale-agents-{uuid.uuid4().hex[:8]}"
            probe.create_topic(topic, args.partitions)
            group = f"scale-{n}-{rnd}-{uuid.uuid4().hex[:6]}"
            agents = Agents(work)
            for i in range(n):
                extra = f"a1.sources.r1.kafka.consumer.group.instance.id = bench-{i}\n"  # one host, one agent name: ids apart
                agents.start(f"agents-{n}-{rnd}-{i}", SOURCE_AGENT.format(bootstrap=bootstrap, topic=topic, group=group, extra=extra))
            try:
                wall, cpu, rss, settle = measure(args, work, probe, bootstrap, agents, group, topic, n)
            finally:
                agents.stop_all()
            note = f"broker cpu {args.last_broker_cpu:.2f} s (group settled in {settle:.1f} s)"
            row = Row(f"agents N={n} (round {rnd + 1})", args.events, wall, cpu, rss, note)
            rows.append(row)
            print(row.line(), flush=True)


def run_sinks(args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, rows: list[Row]) -> None:
    """One agent, Kafka channel -> N sinks (one consumer each); records written (kcat)
    once the channel's group settled with N members."""
    kinds = ["null"] + (["file_roll"] if args.file_roll else [])
    for rnd in range(args.runs):
        for kind in kinds:
            for n in args.sinks:
                topic = f"scale-sinks-{uuid.uuid4().hex[:8]}"
                probe.create_topic(topic, args.partitions)
                group = f"scale-sinks-{n}-{rnd}-{uuid.uuid4().hex[:6]}"
                names = [f"k{i + 1}" for i in range(n)]
                text = CHANNEL_AGENT.format(sinks=" ".join(names), bootstrap=bootstrap, topic=topic, group=group)
                for name in names:
                    text += f"a1.sinks.{name}.type = {kind}\na1.sinks.{name}.channel = c1\n"
                    if kind == "file_roll":
                        out = work / f"roll-{group}-{name}"
                        out.mkdir()
                        text += f"a1.sinks.{name}.sink.directory = {out}\na1.sinks.{name}.sink.rollInterval = 0\n"
                        text += f"a1.sinks.{name}.sink.batchSize = 1000\n"
                    else:
                        text += f"a1.sinks.{name}.batchSize = 1000\n"
                agents = Agents(work)
                agents.start(f"sinks-{kind}-{n}-{rnd}", text)
                try:
                    wall, cpu, rss, settle = measure(args, work, probe, bootstrap, agents, group, topic, n)
                finally:
                    agents.stop_all()
                note = f"broker cpu {args.last_broker_cpu:.2f} s (group settled in {settle:.1f} s)"
                row = Row(f"kafka channel -> {n} {kind} (round {rnd + 1})", args.events, wall, cpu, rss, note)
                rows.append(row)
                print(row.line(), flush=True)


class Trickle(threading.Thread):
    """Writes about ``rate`` records/s to ``topic`` until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.rate = topic, rate
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.wait(0.01):
            for _ in range(self.rate // 100):
                self.producer.produce(self.topic, b"%09d" % i)
                i += 1
            self.producer.poll(0)
        self.producer.flush(10)


DYNAMIC = "a1.sources.r1.staticMembership = false\n"
EAGER = "a1.sources.r1.kafka.consumer.partition.assignment.strategy = range,roundrobin\n"
MODES = (
    ("static membership (default)", ""),
    ("dynamic membership", DYNAMIC),
    ("dynamic, range,roundrobin (flafka before)", DYNAMIC + EAGER),
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_restart(args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, rows: list[Row]) -> None:
    """Two agents in one group (one stays up); the other is SIGKILLed and restarted.
    Measured: restart -> the restarted agent's null sink delivered its first event (its
    metrics endpoint), and how many "waiting for partition assignment" lines it logged."""
    partitions = 4
    topic = f"scale-restart-{uuid.uuid4().hex[:8]}"
    probe.create_topic(topic, partitions)
    trickle = Trickle(bootstrap, topic, 2000)
    trickle.start()
    try:
        for rnd in range(args.runs):
            for index, (mode, extra) in enumerate(MODES):
                group = f"scale-restart-{rnd}-{uuid.uuid4().hex[:6]}"
                text = SOURCE_AGENT.format(bootstrap=bootstrap, topic=topic, group=group, extra=extra)
                agents = Agents(work)
                name = f"restart-{index}-{rnd}"
                port = free_port()
                companion = extra or "a1.sources.r1.kafka.consumer.group.instance.id = companion\n"  # not the same static member
                agents.start(f"{name}-companion", SOURCE_AGENT.format(bootstrap=bootstrap, topic=topic, group=group, extra=companion))
                proc = agents.start(name, text, port)
                try:
                    deadline = time.monotonic() + 120
                    while flafka_metric(port, "SINK.k1", "EventDrainSuccessCount") == 0:
                        if time.monotonic() > deadline:
                            raise BenchError(f"{mode}: nothing delivered in 120 s:\n{tail(work / (name + '.log'))}")
                        time.sleep(0.05)
                    time.sleep(2.0)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    began = time.perf_counter()
                    agents.start(name, text, port)
                    while flafka_metric(port, "SINK.k1", "EventDrainSuccessCount") == 0:
                        if time.perf_counter() - began > args.timeout:
                            raise BenchError(f"{mode}: nothing delivered {args.timeout:.0f} s after the restart")
                        time.sleep(0.05)
                    took = time.perf_counter() - began
                finally:
                    agents.stop_all()
                waits = [line for line in (work / f"{name}.log").read_text().splitlines() if "waiting for partition assignment" in line]
                row = Row(f"restart after SIGKILL, {mode}", 0, took, 0.0, [], f"({len(waits)} 'waiting for partition assignment' lines)")
                rows.append(row)
                print(f"{row.what} (round {rnd + 1}): first event delivered {took:.1f} s after the restart {row.note}", flush=True)
    finally:
        trickle.halt.set()
        trickle.join(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--agents", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 3])
    parser.add_argument("--sinks", type=lambda v: [int(x) for x in v.split(",")], default=[1, 3])
    parser.add_argument("--file-roll", action="store_true", help="sinks: file_roll sinks as well as null ones")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for Kafka (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true")
    parser.add_argument("--keep-work", action="store_true", help="keep the configs and agent logs")
    args = parser.parse_args()
    parts = args.parts or list(PARTS)
    if set(parts) - set(PARTS):
        parser.error(f"choose parts from {', '.join(PARTS)}")
    print(f"machine: {machine()}", flush=True)
    rows: list[Row] = []
    status = 0
    with bench_services(["kafka"], args.run_dir, args.keep_services) as services:
        bootstrap = services.address("kafka")
        args.broker_pids = list(services["kafka"].pids().values())
        print(f"kafka: {bootstrap} (pids {args.broker_pids})", flush=True)
        work = Path(tempfile.mkdtemp(prefix="flafka-bench-scale-out-"))
        probe = KafkaProbe(bootstrap)
        try:
            for part in parts:
                {"agents": run_agents, "sinks": run_sinks, "restart": run_restart}[part](args, work, probe, bootstrap, rows)
        except BenchError as exc:
            print(f"FAILED: {exc}", file=sys.stderr, flush=True)
            status = 1
        finally:
            probe.close()
            if args.keep_work:
                print(f"work dir kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    print("\n".join(r.line() for r in rows))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
