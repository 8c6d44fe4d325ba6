"""Kafka channel crash campaign: a sink-only agent (Kafka channel, ``parseAsFlumeEvent =
false`` -> file_roll) SIGKILLed again and again while a producer writes sequence-numbered
lines into the channel's topic, against the test kit's real broker.

The take commits of the Kafka channel send their offsets asynchronously (one commit in
flight per taker): a kill may leave delivered records uncommitted, and those must be read
again (duplicates allowed), never lost. Passes when

* every line reached the output, none corrupt (``flafka_testkit.crash.verify``);
* each kill re-delivered at most what it left in flight: lines the output had whose Kafka
  offset was at or past the group's committed offset, read right after the kill;
* a clean stop (SIGTERM) at the end commits every delivered offset (the committed offsets
  equal the end of every partition) and exits with status 0.

Line ``seq`` goes to partition ``seq % PARTITIONS`` at offset ``seq // PARTITIONS`` (one
idempotent producer, in order, no broker fault), so offsets map back to lines exactly.

Knobs (env): FLAFKA_CRASH_CHANNEL_LINES (default 300,000), FLAFKA_CRASH_CHANNEL_KILLS (6),
FLAFKA_CRASH_CHANNEL_RATE (lines/s the producer writes, 40,000), FLAFKA_CRASH_SEED.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from flafka_testkit.crash import AgentProcess, OutputScanner, make_line, read_output_lines, verify, wait_until

LINES = int(os.environ.get("FLAFKA_CRASH_CHANNEL_LINES", "300000"))
KILLS = int(os.environ.get("FLAFKA_CRASH_CHANNEL_KILLS", "6"))
RATE = int(os.environ.get("FLAFKA_CRASH_CHANNEL_RATE", "40000"))
SEED = int(os.environ.get("FLAFKA_CRASH_SEED", "20261126"))
PARTITIONS = 4
BATCH = 1000
MOVE_TIMEOUT = 120.0

CLIENT_LOG = logging.getLogger("crash-kafka-channel-client")
CLIENT_LOG.addHandler(logging.NullHandler())
CLIENT_LOG.propagate = False

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]

CONF = """
agent.channels = kc
agent.sinks = files
agent.channels.kc.type = org.apache.flume.channel.kafka.KafkaChannel
agent.channels.kc.kafka.bootstrap.servers = {address}
agent.channels.kc.kafka.topic = {topic}
agent.channels.kc.kafka.consumer.group.id = {group}
agent.channels.kc.parseAsFlumeEvent = false
agent.channels.kc.kafka.consumer.auto.offset.reset = earliest
agent.channels.kc.kafka.consumer.session.timeout.ms = 6000
agent.channels.kc.kafka.consumer.heartbeat.interval.ms = 1000
agent.sinks.files.type = file_roll
agent.sinks.files.sink.directory = {out}
agent.sinks.files.sink.batchSize = {batch}
agent.sinks.files.sink.rollInterval = 0
agent.sinks.files.channel = kc
"""


class Feeder(threading.Thread):
    """Produces lines 0 .. LINES-1 at about RATE lines/s, line ``seq`` to partition
    ``seq % PARTITIONS`` (idempotent producer: each once, in order)."""

    def __init__(self, address: str, topic: str) -> None:
        super().__init__(name="feeder", daemon=True)
        self.topic = topic
        self.producer = Producer(
            {"bootstrap.servers": address, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "logger": CLIENT_LOG}
        )
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            step = max(1, RATE // 100)
            for base in range(0, LINES, step):
                for seq in range(base, min(LINES, base + step)):
                    while True:
                        try:
                            self.producer.produce(self.topic, make_line(seq), partition=seq % PARTITIONS)
                            break
                        except BufferError:
                            self.producer.poll(0.05)
                self.producer.poll(0)
                ahead = started + (base + step) / RATE - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            assert self.producer.flush(120) == 0, "the feeder could not deliver every line"
        except BaseException as exc:
            self.error = exc


def committed_offsets(address: str, group: str, topic: str, timeout: float = 60.0) -> list[int]:
    """The group's committed offset per partition (0 when none), read as an outsider."""
    deadline = time.monotonic() + timeout
    consumer = Consumer({"bootstrap.servers": address, "group.id": group, "enable.auto.commit": False, "logger": CLIENT_LOG})
    try:
        while True:
            try:
                tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
                return [max(tp.offset, 0) for tp in tps]
            except KafkaException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def test_kafka_channel_to_file_roll_loses_nothing_when_the_agent_is_killed(tmp_path: Path, kafka_service: Any) -> None:
    address = str(kafka_service.address)
    topic = f"crash-channel-{uuid.uuid4().hex[:8]}"
    group = f"crash-channel-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": address, "logger": CLIENT_LOG})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    assert wait_until(lambda: len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == PARTITIONS, 30)
    out = tmp_path / "out"
    out.mkdir()
    conf = tmp_path / "crash.conf"
    conf.write_text(CONF.format(address=address, topic=topic, group=group, out=out, batch=BATCH))
    agent = AgentProcess(["-n", "agent", "-f", str(conf), "--no-reload-conf"], tmp_path / "agent.log")
    scanner = OutputScanner(out, LINES)
    rng = random.Random(SEED)
    feeder = Feeder(address, topic)
    in_flight: list[int] = []
    kill_dups: list[int] = []
    # kills strike in the first 80 % of the lines, at random points
    points = sorted(rng.sample(range(LINES // 20, LINES * 4 // 5), KILLS))
    feeder.start()
    agent.start()
    try:
        for point in points:
            before = scanner.dups
            replay = before + (in_flight[-1] if in_flight else 0)

            def ready(point: int = point, replay: int = replay) -> bool:
                # new lines reached the point, and the previous kill's re-reads arrived
                return (scanner.scan() >= point and scanner.dups >= replay) or not agent.alive()

            assert wait_until(ready, MOVE_TIMEOUT, 0.01) and agent.alive(), (
                f"{scanner.unique} < {point} or dups {scanner.dups} < {replay}; " + (tmp_path / "agent.log").read_text()[-3000:]
            )
            if in_flight:
                kill_dups.append(scanner.dups - before)
            agent.kill()
            committed = committed_offsets(address, group, topic)  # right after the kill
            scanner.scan()
            in_flight.append(scanner.past(committed))
            print(f"kill {len(in_flight)} at {scanner.unique} lines: in flight {in_flight[-1]}, committed {committed}", flush=True)
            agent.start()
        feeder.join(300)
        assert feeder.error is None, feeder.error
        end = [len(range(p, LINES, PARTITIONS)) for p in range(PARTITIONS)]
        before = scanner.dups
        replay = before + in_flight[-1]
        assert wait_until(lambda: (scanner.scan() >= LINES and scanner.dups >= replay) or not agent.alive(), MOVE_TIMEOUT, 0.05), (
            f"lost {LINES - scanner.unique}, dups {scanner.dups} < {replay}; " + (tmp_path / "agent.log").read_text()[-3000:]
        )
        kill_dups.append(scanner.dups - before)
        started = agent.kills + 1  # "' started: " lines: once per start
        assert wait_until(lambda: (tmp_path / "agent.log").read_text(errors="replace").count("' started: ") >= started, 60)
        time.sleep(1.0)
        status = agent.terminate(60)
    finally:
        if agent.alive():
            agent.kill()
        feeder.producer.flush(10)
    final = committed_offsets(address, group, topic)
    verdict = verify(read_output_lines(out), LINES)
    report = f"{verdict.summary()}; in_flight_at_kill={in_flight} dups_per_kill={kill_dups} final_committed={final} end={end}"
    print(report)
    (tmp_path / "report.txt").write_text(report)
    assert verdict.ok and not verdict.lost and verdict.corrupt == 0, report
    assert len(kill_dups) == KILLS and all(d <= f for d, f in zip(kill_dups, in_flight, strict=True)), report
    assert verdict.duplicates == sum(kill_dups), report
    assert status == 0, report
    assert final == end, report  # a clean stop commits every delivered offset
