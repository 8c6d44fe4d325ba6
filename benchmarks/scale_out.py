"""Scale-out on Kafka (issue 14): N flafka agents in one consumer group, N sinks on one
Kafka channel, and how long a SIGKILLed agent takes to read again after its restart.
Run with ``python3 -m nox -s bench`` or ``python benchmarks/scale_out.py [part ...]``.
Figures go to benchmarks/RESULTS.md ("Scale-out on Kafka (issue 14)").

Parts:
  agents   N = 1, 2, 3 ``flafka agent`` processes, Kafka source -> memory -> null, one
           group, on a topic of --partitions partitions preloaded with --events 100-byte
           records. Events/s = records / (start of the agents -> the group's committed
           offsets reach every record), CPU s = all agents' utime+stime, peak RSS per agent.
  sinks    one agent, Kafka channel -> 1 or 3 sinks (null; file_roll with --file-roll),
           the channel's topic preloaded (parseAsFlumeEvent = false): each sink's thread
           has its own consumer. Events/s until the channel's group committed every record.
  restart  Kafka source -> memory -> null on 4 partitions with a producer writing ~2,000
           records/s: the agent is SIGKILLed and restarted; time from the restart to the
           first commit past the kill (its first delivered events), with static group
           membership (the default) and without (kafka.consumer.group.instance.id empty).

The broker runs on this machine (the test kit's local Kafka), so agents and broker share
its cores: the figures measure this machine, not Kafka's limits.
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
        if not settled and done >= total // 10:
            settled.extend([time.perf_counter(), done])
        if done >= total:
            return time.perf_counter()
        if time.perf_counter() - started > timeout:
            raise BenchError(f"group {group} committed only {probe.committed(group, topic, partitions):,} of {total:,} in {timeout:.0f} s")
        time.sleep(0.05)


def steady_note(settled: list[float], done: float, total: int) -> str:
    """Events/s from the first 10 % committed to the end (start-up and joins excluded)."""
    if not settled or done <= settled[0]:
        return ""
    return f"steady {(total - settled[1]) / (done - settled[0]):,.0f} ev/s"


def run_agents(args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, rows: list[Row]) -> None:
    topic = f"scale-agents-{uuid.uuid4().hex[:8]}"
    probe.create_topic(topic, args.partitions)
    preload(bootstrap, topic, args.events)
    for rnd in range(args.runs):
        for n in args.agents:
            group = f"scale-{n}-{rnd}-{uuid.uuid4().hex[:6]}"
            agents = Agents(work)
            began = time.perf_counter()
            for i in range(n):
                agents.start(f"agents-{n}-{rnd}-{i}", SOURCE_AGENT.format(bootstrap=bootstrap, topic=topic, group=group, extra=""))
            settled: list[float] = []
            try:
                done = until_committed(probe, agents, group, topic, args.partitions, args.events, args.timeout, settled)
                cpu = agents.cpu()
                rss = [agents.hwm.get(p.pid, 0.0) for p, _ in agents.procs]
            finally:
                agents.stop_all()
            row = Row(f"agents N={n} (round {rnd + 1})", args.events, done - began, cpu, rss, steady_note(settled, done, args.events))
            rows.append(row)
            print(row.line(), flush=True)


def run_sinks(args: argparse.Namespace, work: Path, probe: KafkaProbe, bootstrap: str, rows: list[Row]) -> None:
    topic = f"scale-sinks-{uuid.uuid4().hex[:8]}"
    probe.create_topic(topic, args.partitions)
    preload(bootstrap, topic, args.events)
    kinds = ["null"] + (["file_roll"] if args.file_roll else [])
    for rnd in range(args.runs):
        for kind in kinds:
            for n in args.sinks:
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
                began = time.perf_counter()
                agents.start(f"sinks-{kind}-{n}-{rnd}", text)
                settled: list[float] = []
                try:
                    done = until_committed(probe, agents, group, topic, args.partitions, args.events, args.timeout, settled)
                    cpu = agents.cpu()
                    rss = [agents.hwm.get(p.pid, 0.0) for p, _ in agents.procs]
                finally:
                    agents.stop_all()
                note = steady_note(settled, done, args.events)
                row = Row(f"kafka channel -> {n} {kind} (round {rnd + 1})", args.events, done - began, cpu, rss, note)
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
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="flafka-bench-services-"))
    os.environ["FLAFKA_RUN_DIR"] = str(run_dir)
    from flafka_testkit.services import local_service

    print(f"machine: {machine()}", flush=True)
    service = local_service("kafka")
    started = service.start()
    print(f"kafka: {service.address}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-scale-out-"))
    probe = KafkaProbe(service.address)
    rows: list[Row] = []
    status = 0
    try:
        for part in parts:
            {"agents": run_agents, "sinks": run_sinks, "restart": run_restart}[part](args, work, probe, service.address, rows)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        probe.close()
        if started and not args.keep_services:
            service.stop(10.0)
            if args.run_dir is None:
                shutil.rmtree(run_dir, ignore_errors=True)
        if args.keep_work:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(r.line() for r in rows))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
