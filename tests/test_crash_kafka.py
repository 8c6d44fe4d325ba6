"""Kafka crash campaigns (issue #8): 1,000,000 sequence-numbered lines through

* spooldir -> memory channel -> Kafka sink, and
* Kafka source -> memory channel -> file_roll,

each against a broker of the test's own (its own state dir under ``FLAFKA_RUN_DIR``, so
killing it disturbs no other test), while the agent is SIGKILLed 20 times, the broker is
SIGKILLed and restarted (same port, same data) 5 times and paused with SIGSTOP for 60 s
3 times, in a random order; every fault lands while data moves (after a random number of
new lines reached the destination).

Passes when nothing is lost or corrupt (``flafka_testkit.crash.verify`` over everything that
arrived) and each agent kill re-delivered at most what it left in flight: lines the
destination had that the killed source had not recorded as delivered — the spooldir
position file, or the group's committed Kafka offsets, read right after the kill.
Duplicates after broker faults (producer retries, rebalances) are reported apart.

Two sizes. By default (every test run, CI included) a CI-sized campaign: 200,000 lines,
4 agent kills, 1 broker kill and 1 broker pause of 10 s (a few minutes for both). With
``FLAFKA_CRASH_KAFKA=1`` (``python3 -m nox -s crash``) the full campaign above.

Knobs (env, override either size): FLAFKA_CRASH_LINES, FLAFKA_CRASH_KILLS,
FLAFKA_CRASH_BROKER_KILLS, FLAFKA_CRASH_BROKER_PAUSES, FLAFKA_CRASH_PAUSE_SECONDS,
FLAFKA_CRASH_SEED.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import logging
import os
import random
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

# Plain imports: the test run installs flafka-kafka, and a missing client must fail the
# run (an importorskip here skipped the campaigns even with FLAFKA_REQUIRE_SERVICES=1).
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flafka_testkit import faults
from flafka_testkit.crash import AgentProcess, OutputScanner, make_line, read_output_lines, verify, wait_until, write_lines
from flafka_testkit.fixtures import require_services

FULL = os.environ.get("FLAFKA_CRASH_KAFKA") == "1"
LINES = int(os.environ.get("FLAFKA_CRASH_LINES", "1000000" if FULL else "200000"))
KILLS = int(os.environ.get("FLAFKA_CRASH_KILLS", "20" if FULL else "4"))
BROKER_KILLS = int(os.environ.get("FLAFKA_CRASH_BROKER_KILLS", "5" if FULL else "1"))
BROKER_PAUSES = int(os.environ.get("FLAFKA_CRASH_BROKER_PAUSES", "3" if FULL else "1"))
PAUSE_SECONDS = float(os.environ.get("FLAFKA_CRASH_PAUSE_SECONDS", "60" if FULL else "10"))
SEED = int(os.environ.get("FLAFKA_CRASH_SEED", "20261126"))
FILES = 20
CAPACITY = 10_000
BATCH = 500
PARTITIONS = 4
TOPIC = "crash"
# new lines at the destination between two faults; 28 faults x 17,500 on average leaves
# about half of the million for after the last fault (CI size: 6 x 5,000 of 200,000)
STEP = (5_000, 30_000) if FULL else (2_000, 8_000)
# a fault waits this long for the lines that trigger it (covers a broker restart, the
# sink's retry backoff and a consumer group's rebalance after an agent restart)
MOVE_TIMEOUT = 240.0

CLIENT_LOG = logging.getLogger("crash-kafka-client")  # librdkafka's reconnect noise while the broker is down
CLIENT_LOG.addHandler(logging.NullHandler())
CLIENT_LOG.propagate = False

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.timeout(1500),
]


# -- the broker of the test's own --------------------------------------------------------


@contextmanager
def own_broker(tmp_path: Path, campaign: str) -> Iterator[Any]:
    """A Kafka of this test's own under ``$FLAFKA_RUN_DIR/crash-kafka-<campaign>-<id>``:
    started through the test kit, stopped and removed at the end (its log is copied to
    ``tmp_path``). Skips (or fails with FLAFKA_REQUIRE_SERVICES=1) when Kafka cannot run."""
    from flafka_testkit.services import ServiceError
    from flafka_testkit.services.base import run_dir
    from flafka_testkit.services.kafka import KafkaService

    service = KafkaService(home=run_dir() / f"crash-kafka-{campaign}-{uuid.uuid4().hex[:8]}")
    try:
        service.start()
    except ServiceError as exc:
        shutil.rmtree(service.home, ignore_errors=True)
        if require_services():
            pytest.fail(f"kafka is required (FLAFKA_REQUIRE_SERVICES=1) but unavailable: {exc}", pytrace=False)
        pytest.skip(f"kafka unavailable: {exc}")
    try:
        yield service
    finally:
        with_log = service.log_dir / "kafka.log"
        try:
            faults.resume(service)  # never leave it SIGSTOPped (stop() would wait for nothing)
        except Exception:
            pass
        service.stop(grace=10.0)
        if with_log.exists():
            shutil.copy(with_log, tmp_path / "kafka.log")
        shutil.rmtree(service.home, ignore_errors=True)


def create_topic(address: str) -> None:
    conf: dict[str, Any] = {"bootstrap.servers": address, "logger": CLIENT_LOG}
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
    assert wait_until(lambda: len(admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions) == PARTITIONS, 30)


def high_watermarks(consumer: Any, timeout: float = 60.0) -> list[int]:
    """High watermarks of every partition. Right after a broker restart the client may not
    know the partitions yet (_UNKNOWN_PARTITION): retry until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return [
                consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=max(1.0, deadline - time.monotonic()), cached=False)[1]
                for p in range(PARTITIONS)
            ]
        except KafkaException:
            if time.monotonic() >= deadline:
                raise
            with contextlib.suppress(KafkaException):
                # librdkafka may have dropped the topic from its metadata while the broker
                # was paused, and would not ask again for topic.metadata.refresh.interval.ms
                consumer.list_topics(TOPIC, timeout=5)
            time.sleep(0.2)


def wait_started(agent: AgentProcess, timeout: float = MOVE_TIMEOUT) -> None:
    """Until the agent process started last logged that it runs: from then on a SIGTERM
    stops it cleanly. A SIGTERM during Python's start-up (a test ending right after a
    restart) killed it instead (exit status -15)."""
    starts = agent.kills + 1

    def up() -> bool:
        return agent.log_path.read_text(errors="replace").count("' started: ") >= starts or not agent.alive()

    assert wait_until(up, timeout, 0.1) and agent.alive(), agent.log_path.read_text(errors="replace")[-3000:]


# -- the fault schedule --------------------------------------------------------------------


@dataclass
class Campaign:
    """Which fault came when, and the duplicates found after each (attributed to the last
    fault before them)."""

    rng: random.Random
    windows: list[tuple[str, int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)  # per agent kill
    agent_dups: list[int] = field(default_factory=list)  # per agent kill, same order
    started: float = field(default_factory=time.monotonic)
    progress: Path | None = None

    def note(self, text: str) -> None:
        """One line of progress (stdout with -s, and ``progress.log``)."""
        line = f"[{time.monotonic() - self.started:7.1f}s] {text}"
        print(line, flush=True)
        if self.progress is not None:
            with open(self.progress, "a") as fh:
                fh.write(line + "\n")

    def plan(self) -> list[str]:
        faults_ = ["agent"] * KILLS + ["broker-kill"] * BROKER_KILLS + ["broker-pause"] * BROKER_PAUSES
        self.rng.shuffle(faults_)
        return faults_

    def start(self, fault: str, detail: str = "") -> None:
        """A fault struck: the next window is its own."""
        self.kinds.append(fault)
        self.note(f"{fault} #{len(self.kinds)}" + (f": {detail}" if detail else ""))

    def settle(self, window_dups: list[int]) -> None:
        """Duplicates found in each window (index 0: before the first fault)."""
        kinds = ["start", *self.kinds]
        assert len(window_dups) == len(kinds), (window_dups, kinds)
        self.windows = list(zip(kinds, window_dups, strict=True))
        self.agent_dups = [d for k, d in self.windows if k == "agent"]

    def broker_dups(self) -> dict[str, list[int]]:
        return {kind: [d for k, d in self.windows if k == kind] for kind in ("start", "broker-kill", "broker-pause")}

    def report(self, verdict: Any, extra: str = "") -> str:
        broker = self.broker_dups()
        return (
            f"{verdict.summary()}; agent kills={len(self.in_flight)} dups_per_agent_kill={self.agent_dups} "
            f"in_flight_at_kill={self.in_flight} agent_dups_total={sum(self.agent_dups)} max_in_flight={max(self.in_flight, default=0)}; "
            f"broker_kill_dups={broker['broker-kill']} broker_pause_dups={broker['broker-pause']} before_first_fault={broker['start']}; "
            f"pause={PAUSE_SECONDS:.0f}s run_time={time.monotonic() - self.started:.0f}s order={[k for k, _ in self.windows]} {extra}"
        )

    def check(self, verdict: Any, report: str) -> None:
        assert not verdict.lost, report
        assert verdict.corrupt == 0 and verdict.unexpected == 0, report
        assert len(self.in_flight) == KILLS and len(self.agent_dups) == KILLS, report
        # each agent kill re-delivered at most what it left in flight
        assert all(d <= f for d, f in zip(self.agent_dups, self.in_flight, strict=True)), report


def broker_fault(kind: str, broker: Any) -> None:
    if kind == "broker-kill":
        faults.kill(broker)
        faults.restart(broker)
    else:
        with faults.paused(broker, PAUSE_SECONDS):
            pass


# -- spooldir -> memory -> Kafka sink ------------------------------------------------------

SINK_CONF = """
agent.sources = spool
agent.channels = mem
agent.sinks = kafka
agent.sources.spool.type = spooldir
agent.sources.spool.spoolDir = {spool}
agent.sources.spool.batchSize = {batch}
agent.sources.spool.pollDelay = 50
agent.sources.spool.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = {capacity}
agent.channels.mem.transactionCapacity = {batch}
agent.sinks.kafka.type = kafka
agent.sinks.kafka.kafka.bootstrap.servers = {address}
agent.sinks.kafka.kafka.topic = {topic}
agent.sinks.kafka.flumeBatchSize = {batch}
agent.sinks.kafka.kafka.producer.acks = all
agent.sinks.kafka.channel = mem
"""


class TopicScanner:
    """Reads the topic from the beginning, incrementally, counting every sequence number.

    Duplicates are attributed to fault windows by offset: :meth:`boundary` records the high
    watermarks at a fault; a duplicate at an offset at or past them belongs to that fault's
    window (or a later one)."""

    def __init__(self, address: str, expected: int) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": address,
                "group.id": f"crash-scanner-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.queue.backoff.ms": 10,
                "logger": CLIENT_LOG,
            }
        )
        self.consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        self.next = [0] * PARTITIONS
        self.seen = bytearray(expected)
        self.total = 0
        self.dups = 0
        self.corrupt = 0
        self.unexpected = 0
        self.bounds: list[list[int]] = [[] for _ in range(PARTITIONS)]
        self.window_dups = [0]
        self.marks = [0] * PARTITIONS
        self.meter_conf: dict[str, Any] = {
            "bootstrap.servers": address,
            "group.id": f"crash-meter-{uuid.uuid4().hex}",
            "logger": CLIENT_LOG,
        }
        self.meter = Consumer(self.meter_conf)
        self.meter_ok = time.monotonic()

    def boundary(self, marks: list[int]) -> None:
        """A new fault window starts at ``marks`` (per-partition offsets)."""
        for p, mark in enumerate(marks):
            self.bounds[p].append(mark)
        self.window_dups.append(0)

    def delivered(self) -> int:
        """Records in the topic (sum of the high watermarks; the last known while the
        broker does not answer). Asked through a consumer of its own that fetches nothing:
        the scanning consumer, with a full fetch queue, stopped answering after a broker
        pause."""
        try:
            self.marks = high_watermarks(self.meter, timeout=2.0)
            self.meter_ok = time.monotonic()
        except Exception:
            if time.monotonic() - self.meter_ok > 10:  # a client that lost its way: a fresh one
                self.meter.close()
                self.meter = Consumer(self.meter_conf)
                self.meter_ok = time.monotonic()
        return sum(self.marks)

    def watermarks(self, timeout: float = 120.0) -> list[int]:
        """High watermarks through the meter (a consumer that fetches nothing), with a fresh
        meter after each 10 s of errors: after a broker pause the scanning consumer answered
        _UNKNOWN_PARTITION for a full minute (its metadata had lost the topic)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return high_watermarks(self.meter, timeout=10.0)
            except KafkaException:
                if time.monotonic() >= deadline:
                    raise
                self.meter.close()
                self.meter = Consumer(self.meter_conf)

    def poll(self, timeout: float) -> None:
        for m in self.consumer.consume(10_000, timeout):
            if m.error():
                continue
            partition, offset = cast(int, m.partition()), cast(int, m.offset())
            self.next[partition] = offset + 1
            self.total += 1
            line = m.value() or b""
            parts = line.split(b" ", 2)
            if len(parts) != 3 or not parts[0].isdigit() or zlib.crc32(parts[0] + b" " + parts[2]) != int(parts[1] or b"0", 16):
                self.corrupt += 1
                continue
            seq = int(parts[0])
            if seq >= len(self.seen):
                self.unexpected += 1
            elif self.seen[seq]:
                self.dups += 1
                self.window_dups[bisect.bisect_right(self.bounds[partition], offset)] += 1
            else:
                self.seen[seq] = 1

    def catch_up(self, timeout: float = 120.0) -> list[int]:
        """Read up to the high watermarks once they stopped moving (what a killed producer
        sent before dying may still be appended for a moment); returns them. Only while
        nothing writes (after an agent kill): with a live agent they never stop moving."""
        deadline = time.monotonic() + timeout
        marks = self.watermarks()
        while True:
            time.sleep(0.3)
            again = self.watermarks()
            if again == marks:
                break
            marks = again
        while any(n < m for n, m in zip(self.next, marks, strict=True)):
            assert time.monotonic() < deadline, f"could not read the topic up to {marks} (at {self.next})"
            self.poll(0.2)
        return marks

    def lost(self) -> int:
        return self.seen.count(0)


def spool_committed(spool: Path, expected: int, per_file: int) -> bytearray:
    """1 for each line the spooldir source recorded as delivered (position file and
    completed files), read right after a kill."""
    committed = bytearray(expected)
    positions = {}
    position_file = spool / ".flumespool" / "flafka-positions.json"
    if position_file.exists():
        positions = {e["path"]: e["lines"] for e in json.loads(position_file.read_text())["files"]}
    for i in range(expected // per_file):
        name = f"data-{i:03d}.log"
        done = per_file if (spool / (name + ".COMPLETED")).exists() else positions.get(name, 0)
        committed[i * per_file : i * per_file + done] = b"\x01" * done
    return committed


def test_spooldir_to_kafka_sink_survives_agent_and_broker_faults(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    per_file = LINES // FILES
    expected = per_file * FILES
    rng = random.Random(SEED)
    campaign = Campaign(rng, progress=tmp_path / "progress.log")
    with own_broker(tmp_path, "sink") as broker:
        create_topic(broker.address)
        conf = tmp_path / "crash.conf"
        conf.write_text(SINK_CONF.format(spool=spool, capacity=CAPACITY, batch=BATCH, address=broker.address, topic=TOPIC))
        agent = AgentProcess(["-n", "agent", "-f", str(conf), "--no-reload-conf"], tmp_path / "agent.log")
        scanner = TopicScanner(broker.address, expected)
        for i in range(FILES):
            write_lines(spool / f"data-{i:03d}.log", i * per_file, per_file)
        campaign.started = time.monotonic()
        agent.start()
        try:
            for fault in campaign.plan():
                # strike while data moves: after a random number of new records reached the topic
                target = scanner.delivered() + rng.randint(*STEP)
                moving = wait_until(lambda target=target: scanner.delivered() >= target or not agent.alive(), MOVE_TIMEOUT, 0.01)
                assert moving and agent.alive(), f"{sum(scanner.marks)} < {target}; " + (tmp_path / "agent.log").read_text()[-3000:]
                campaign.note(f"{fault} at {sum(scanner.marks)} records in the topic")
                if fault == "agent":
                    agent.kill()
                    committed = spool_committed(spool, expected, per_file)  # right after the kill
                    scanner.boundary(scanner.catch_up())  # what the restart writes is this kill's window
                    campaign.in_flight.append(sum(1 for s, c in zip(scanner.seen, committed, strict=True) if s and not c))
                    campaign.start(fault, f"in flight {campaign.in_flight[-1]}")
                    agent.start()
                else:
                    scanner.boundary(scanner.watermarks())
                    campaign.start(fault)
                    broker_fault(fault, broker)

            def all_arrived() -> bool:
                scanner.poll(0.2)
                return scanner.lost() == 0

            wait_until(all_arrived, timeout=MOVE_TIMEOUT, interval=0)
            wait_started(agent)  # after a last agent kill: a SIGTERM while it starts kills it
            time.sleep(1.0)
            scanner.catch_up()
            status = agent.terminate(60)
        finally:
            if agent.alive():
                agent.kill()
            scanner.consumer.close()
            scanner.meter.close()
        campaign.settle(scanner.window_dups)
        # the verdict: everything in the topic, read afresh
        verdict = verify(read_topic(broker.address), expected)
    report = campaign.report(verdict, f"scanner_dups={scanner.dups}")
    print(report)
    (tmp_path / "report.txt").write_text(report)
    campaign.check(verdict, report)
    assert verdict.duplicates == scanner.dups, report
    assert status == 0, report
    assert len([p for p in spool.iterdir() if p.name.endswith(".COMPLETED")]) == FILES, report


def read_topic(address: str) -> Iterator[bytes]:
    """Every record value of the topic, from the beginning to the high watermarks."""
    consumer = Consumer({"bootstrap.servers": address, "group.id": f"crash-verify-{uuid.uuid4().hex}", "logger": CLIENT_LOG})
    try:
        marks = high_watermarks(consumer)
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        position = [0] * PARTITIONS
        deadline = time.monotonic() + 300
        while any(p < m for p, m in zip(position, marks, strict=True)):
            assert time.monotonic() < deadline, f"could not read the topic up to {marks} (at {position})"
            for m in consumer.consume(10_000, 0.5):
                if not m.error():
                    position[cast(int, m.partition())] = cast(int, m.offset()) + 1
                    yield m.value() or b""
    finally:
        consumer.close()


# -- Kafka source -> memory -> file_roll -------------------------------------------------

SOURCE_CONF = """
agent.sources = kafka
agent.channels = mem
agent.sinks = files
agent.sources.kafka.type = kafka
agent.sources.kafka.kafka.bootstrap.servers = {address}
agent.sources.kafka.kafka.topics = {topic}
agent.sources.kafka.kafka.consumer.group.id = {group}
agent.sources.kafka.kafka.consumer.auto.offset.reset = earliest
agent.sources.kafka.kafka.consumer.session.timeout.ms = 6000
agent.sources.kafka.kafka.consumer.heartbeat.interval.ms = 1000
agent.sources.kafka.batchSize = {batch}
agent.sources.kafka.batchDurationMillis = 100
agent.sources.kafka.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = {capacity}
agent.channels.mem.transactionCapacity = {batch}
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = {batch}
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = mem
"""
GROUP = "crash-file-roll"


def preload(address: str, expected: int) -> None:
    """Line ``seq`` goes to partition ``seq % PARTITIONS`` at offset ``seq // PARTITIONS``
    (idempotent producer, in order, no faults yet): offsets map back to lines exactly."""
    producer = Producer({"bootstrap.servers": address, "acks": "all", "enable.idempotence": True, "linger.ms": 20, "logger": CLIENT_LOG})
    for seq in range(expected):
        while True:
            try:
                producer.produce(TOPIC, make_line(seq), partition=seq % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    consumer = Consumer({"bootstrap.servers": address, "group.id": "crash-preload-check", "logger": CLIENT_LOG})
    try:
        marks = high_watermarks(consumer)
    finally:
        consumer.close()
    assert marks == [len(range(p, expected, PARTITIONS)) for p in range(PARTITIONS)], marks


def committed_offsets(address: str, timeout: float = 60.0) -> list[int]:
    """The group's committed offset per partition (0 when none), read as an outsider
    (assign-free: the consumer never joins the group). Retried until ``timeout`` while the
    broker answers NOT_COORDINATOR or "loading" (right after a broker pause or restart)."""
    deadline = time.monotonic() + timeout
    consumer = Consumer({"bootstrap.servers": address, "group.id": GROUP, "enable.auto.commit": False, "logger": CLIENT_LOG})
    try:
        while True:
            try:
                tps = consumer.committed(
                    [TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=max(1.0, deadline - time.monotonic())
                )
                break
            except KafkaException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()
    return [max(tp.offset, 0) for tp in tps]


def test_kafka_source_to_file_roll_survives_agent_and_broker_faults(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    expected = LINES
    rng = random.Random(SEED + 1)
    campaign = Campaign(rng, progress=tmp_path / "progress.log")
    with own_broker(tmp_path, "source") as broker:
        create_topic(broker.address)
        preload(broker.address, expected)
        conf = tmp_path / "crash.conf"
        conf.write_text(SOURCE_CONF.format(address=broker.address, topic=TOPIC, group=GROUP, batch=BATCH, capacity=CAPACITY, out=out))
        agent = AgentProcess(["-n", "agent", "-f", str(conf), "--no-reload-conf"], tmp_path / "agent.log")
        scanner = OutputScanner(out, expected)
        window_dups: list[int] = []  # found after each fault (index 0: before the first)
        plan = campaign.plan()
        # where each fault strikes, in distinct lines at the output: random steps, squeezed
        # into the first 85 % so that a fast agent cannot run out of lines before the last one
        steps = [rng.randint(*STEP) for _ in plan]
        scale = min(1.0, 0.85 * expected / sum(steps))
        points = list(itertools.accumulate(int(step * scale) for step in steps))
        campaign.started = time.monotonic()
        agent.start()
        try:
            for fault in plan:
                # strike while data moves: after a random number of new lines reached the output
                # (new ones, not re-deliveries: those belong to the fault before)
                # and, after an agent kill, once the restart re-read what that kill left in flight
                # (the rebalance and the other partitions can let new lines arrive first)
                before = scanner.dups  # the window of the previous fault runs until this one strikes
                # (never past the last line: after a broker fault the source can re-read and
                # deliver every remaining line at once, and a fault must still strike)
                target = min(expected, max(points[len(campaign.kinds)], scanner.unique + STEP[0] // 5))
                replay = before + (campaign.in_flight[-1] if campaign.kinds and campaign.kinds[-1] == "agent" else 0)

                def ready(target: int = target, replay: int = replay) -> bool:
                    unique = scanner.scan()
                    return (unique >= target and scanner.dups >= replay) or unique >= target + STEP[1] or not agent.alive()

                moving = wait_until(ready, MOVE_TIMEOUT, 0.01)
                assert moving and agent.alive(), f"{scanner.unique} < {target}; " + (tmp_path / "agent.log").read_text()[-3000:]
                campaign.note(f"{fault} at {scanner.unique} lines in the output")
                if fault == "agent":
                    agent.kill()
                    committed = committed_offsets(broker.address)  # right after the kill
                    scanner.scan()
                    window_dups.append(scanner.dups - before)
                    campaign.in_flight.append(scanner.past(committed))
                    campaign.start(fault, f"in flight {campaign.in_flight[-1]}, committed {committed}")
                    agent.start()
                else:
                    scanner.scan()
                    window_dups.append(scanner.dups - before)
                    campaign.start(fault)
                    broker_fault(fault, broker)
            before = scanner.dups
            # the restart after a last agent kill must have read again what that kill left in
            # flight before the clean stop below (as the loop waits before each fault): when
            # every line had arrived before that kill, the stop came 1 s after the restart,
            # while the agent was still starting (a restart delivers its first line 1.1-4.1 s
            # after the spawn here, docs/scale-out.md), and so committed nothing: the final
            # check failed in 3 of 7 runs, whatever the assignor. "Or": the restarted agent's
            # own commits reached the end.
            replay = before + (campaign.in_flight[-1] if campaign.kinds and campaign.kinds[-1] == "agent" else 0)
            end = [len(range(p, expected, PARTITIONS)) for p in range(PARTITIONS)]
            checked = [0.0]

            def all_arrived() -> bool:
                scanner.scan()
                if scanner.lost() or not agent.alive():
                    return not agent.alive()
                if scanner.dups >= replay:
                    return True
                if time.monotonic() - checked[0] < 1.0:
                    return False
                checked[0] = time.monotonic()
                return committed_offsets(broker.address) == end

            assert wait_until(all_arrived, timeout=MOVE_TIMEOUT, interval=0.2) and agent.alive(), (
                f"lost {scanner.lost()}, dups {scanner.dups} < {replay}; " + (tmp_path / "agent.log").read_text()[-3000:]
            )
            wait_started(agent)  # with nothing to re-read, a SIGTERM while it starts kills it (status -15)
            time.sleep(1.0)
            scanner.scan()
            window_dups.append(scanner.dups - before)
            status = agent.terminate(60)
        finally:
            if agent.alive():
                agent.kill()
        campaign.settle(window_dups)
        final = committed_offsets(broker.address)
    verdict = verify(read_output_lines(out), expected)
    report = campaign.report(verdict, f"scanner_dups={scanner.dups} final_committed={final}")
    print(report)
    (tmp_path / "report.txt").write_text(report)
    campaign.check(verdict, report)
    assert verdict.duplicates == scanner.dups, report
    assert status == 0, report
    # a clean stop commits everything delivered
    assert final == end, report
