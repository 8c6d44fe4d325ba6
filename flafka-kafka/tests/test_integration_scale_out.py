"""Scale-out on Kafka (issue 14) against the test kit's real broker, with real ``flafka
agent`` processes:

* three agents (Kafka source -> memory -> file_roll) in one group share a 12-partition
  topic while a producer writes to it; one agent is SIGKILLed and a fourth is added
  mid-stream: nothing is lost and the duplicates are at most what the killed agent had in
  flight (lines it had written whose offsets its group had not committed at the kill);
* an agent SIGKILLed and restarted gets its partitions back at once (static group
  membership), while its companion in the group keeps reading; with
  ``staticMembership = false`` the restart waits for the dead member's session to expire
  and says so in its log.

Each agent on this one host sets its own ``kafka.consumer.group.instance.id`` (the default
``<host>/<agent>/<component>`` would be the same for all of them).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka_testkit.crash import AgentProcess, make_line, read_output_lines, verify, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PARTITIONS = 12
RATE = 6000  # records/s written while the agents read
LINES = 72_000

AGENT = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = kafka
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = {group}
a1.sources.r1.kafka.consumer.group.instance.id = {instance}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.kafka.consumer.session.timeout.ms = 6000
a1.sources.r1.kafka.consumer.heartbeat.interval.ms = 1000
a1.sources.r1.batchSize = 500
a1.sources.r1.batchDurationMillis = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 500
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.batchSize = 500
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
"""


class Writer(threading.Thread):
    """Writes line ``seq`` to partition ``seq % PARTITIONS`` (so at offset ``seq //
    PARTITIONS``: one idempotent producer, in order) at about RATE lines/s."""

    def __init__(self, bootstrap: str, topic: str, total: int, partitions: int = PARTITIONS) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.topic, self.total, self.partitions = topic, total, partitions
        self.written = 0
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            started = time.monotonic()
            for seq in range(self.total):
                if self.halt.is_set():
                    break
                while True:
                    try:
                        self.producer.produce(self.topic, make_line(seq), partition=seq % self.partitions)
                        break
                    except BufferError:
                        self.producer.poll(0.01)
                self.written = seq + 1
                if seq % 500 == 499:
                    self.producer.poll(0)
                    ahead = started + self.written / RATE - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            assert self.producer.flush(60) == 0
        except BaseException as exc:  # reported by the test
            self.error = exc


def committed(bootstrap: str, group: str, topic: str) -> list[int]:
    """The group's committed offset per partition (0 when none), read as an outsider."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30)
    finally:
        consumer.close()
    return [max(tp.offset, 0) for tp in tps]


def seqs(directory: Path) -> list[int]:
    return [int(line[:12]) for line in read_output_lines(directory) if line[:12].isdigit()]


def count_lines(directory: Path) -> int:
    """Lines written so far (every line is 100 bytes and a newline)."""
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file()) // 101


def test_agents_share_a_topic_one_killed_one_added_nothing_lost(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = new_topic(PARTITIONS, "scale")
    group = f"g-{topic}"
    outs: list[Path] = []
    agents: list[AgentProcess] = []

    def add_agent(i: int) -> AgentProcess:
        out = tmp_path / f"out-{i}"
        out.mkdir()
        conf = tmp_path / f"agent-{i}.conf"
        conf.write_text(AGENT.format(bootstrap=kafka_bootstrap, topic=topic, group=group, instance=f"agent-{i}", out=out))
        agent = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / f"agent-{i}.log")
        agent.start()
        outs.append(out)
        agents.append(agent)
        return agent

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def owned() -> list[int]:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
        except Exception:
            return []
        return sorted(len(m.assignment.topic_partitions) for m in desc.members)

    writer = Writer(kafka_bootstrap, topic, LINES)
    started = time.monotonic()
    try:
        for i in range(3):
            add_agent(i)
        # write once the group has settled (cooperative-sticky: a few join rounds): agents
        # still starting on a loaded machine let the writer finish before the kill
        assert wait_until(lambda: owned() == [4, 4, 4], 90, 0.2), owned()
        writer.start()
        # every agent delivers, then the third is killed mid-stream
        assert wait_until(lambda: all(count_lines(o) for o in outs) and sum(count_lines(o) for o in outs) >= LINES // 4, 60, 0.05), [
            count_lines(o) for o in outs
        ]
        victim = agents[2]
        victim.kill()
        written_at_kill = writer.written
        print(f"kill at {time.monotonic() - started:.1f} s, {written_at_kill} written, lines {[count_lines(o) for o in outs]}")
        marks = committed(kafka_bootstrap, group, topic)
        mine = seqs(outs[2])
        in_flight = sum(1 for s in mine if s // PARTITIONS >= marks[s % PARTITIONS])
        assert written_at_kill < LINES, "the writer finished before the kill: not mid-stream"
        add_agent(3)

        def all_arrived() -> bool:
            return sum(count_lines(o) for o in outs) >= LINES and len(set().union(*(set(seqs(o)) for o in outs))) >= LINES

        arrived = wait_until(all_arrived, 120, 0.5)
        time.sleep(1.0)  # anything re-delivered late lands now
        for agent in agents[:2] + agents[3:]:
            assert agent.terminate(60) == 0
    finally:
        for agent in agents:
            if agent.alive():
                agent.kill()
        writer.join(30)
    took = time.monotonic() - started
    assert writer.error is None, writer.error
    verdict = verify((line for o in outs for line in read_output_lines(o)), LINES)
    per_agent = [len(seqs(o)) for o in outs]
    report = f"{verdict.summary()}; killed agent in flight {in_flight}; lines per agent {per_agent}; {took:.0f} s"
    print(report)
    assert arrived and not verdict.lost, report
    assert verdict.corrupt == 0 and verdict.unexpected == 0, report
    assert verdict.duplicates <= in_flight, report
    assert per_agent[3] > 0, f"the added agent took no partition: {report}"
    logs = "".join((tmp_path / f"agent-{i}.log").read_text() for i in (0, 1, 3))
    assert "assigned" in logs and "revoked" in logs, logs[-3000:]
    assert committed(kafka_bootstrap, group, topic) == [len(range(p, LINES, PARTITIONS)) for p in range(PARTITIONS)]


def first_delivery_after_restart(
    kafka_bootstrap: str, topic: str, tmp_path: Path, static: bool, companion_out: Path, out: Path
) -> tuple[float, str, list[int]]:
    """Start a companion and an agent in one group on ``topic`` (4 partitions, written to
    meanwhile), SIGKILL the agent, restart it: seconds from the restart to its first line
    written, its log, and the companion's line counts sampled every second meanwhile."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    extra = "" if static else "a1.sources.r1.staticMembership = false\n"
    texts = []
    for name, directory in (("companion", companion_out), ("agent", out)):
        directory.mkdir()
        text = AGENT.format(bootstrap=kafka_bootstrap, topic=topic, group=group, instance=name, out=directory)
        text = text.replace("a1.sources.r1.kafka.consumer.session.timeout.ms = 6000\n", "")  # the 45 s default
        if not static:
            text = text.replace(f"a1.sources.r1.kafka.consumer.group.instance.id = {name}\n", "") + extra
        texts.append(text)
    procs = []
    for (name, _), text in zip((("companion", 0), ("agent", 0)), texts, strict=True):
        conf = tmp_path / f"{name}-{static}.conf"
        conf.write_text(text)
        proc = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / f"{name}-{static}.log")
        proc.start()
        procs.append(proc)
    companion, agent = procs
    try:
        assert wait_until(lambda: bool(count_lines(out)) and bool(count_lines(companion_out)), 60, 0.05)
        agent.kill()
        before = count_lines(out)
        began = time.monotonic()
        agent.start()
        samples = []
        next_sample = began
        while count_lines(out) <= before and time.monotonic() - began < 70:
            if time.monotonic() >= next_sample:
                samples.append(count_lines(companion_out))
                next_sample += 1.0
            time.sleep(0.05)
        took = time.monotonic() - began
        companion.terminate(30)
        agent.terminate(30)
    finally:
        for p in procs:
            if p.alive():
                p.kill()
    return took, (tmp_path / f"agent-{static}.log").read_text(), samples


def test_a_restarted_agent_gets_its_partitions_back_at_once(kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path) -> None:
    topic = new_topic(4, "restart")
    writer = Writer(kafka_bootstrap, topic, 10**9, 4)
    writer.start()
    try:
        took, log, samples = first_delivery_after_restart(kafka_bootstrap, topic, tmp_path, True, tmp_path / "c", tmp_path / "a")
    finally:
        writer.halt.set()
    print(f"static membership: first line {took:.1f} s after the restart; companion lines {samples}")
    assert took < 10.0, f"the restarted agent waited {took:.1f} s:\n{log[-3000:]}"
    assert "static member 'agent'" in log


@pytest.mark.skipif(not os.environ.get("FLAFKA_SCALE_OUT_SLOW"), reason="takes 50 s: FLAFKA_SCALE_OUT_SLOW=1 (nox -s crash)")
def test_without_static_membership_a_restart_waits_for_the_session_and_says_so(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = new_topic(4, "restart-dyn")
    writer = Writer(kafka_bootstrap, topic, 10**9, 4)
    writer.start()
    try:
        took, log, samples = first_delivery_after_restart(kafka_bootstrap, topic, tmp_path, False, tmp_path / "c", tmp_path / "a")
    finally:
        writer.halt.set()
    print(f"dynamic membership: first line {took:.1f} s after the restart; companion lines {samples}")
    assert took > 30.0, f"expected the session timeout's wait, got {took:.1f} s"
    assert "waiting for partition assignment of group" in log, log[-3000:]
    # cooperative rebalancing: the companion kept its partitions and went on reading (until
    # its uncommitted batches paused it: commits wait for the rebalance, see docs/scale-out.md)
    assert samples[-1] > samples[0], samples


def test_a_cleanly_stopped_static_member_hands_its_partitions_over_at_once(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    """A static member that only closes keeps its partitions until its session times out
    (45 s); flafka leaves the group at stop, so the other agent takes them at once."""
    from confluent_kafka.admin import AdminClient

    topic = new_topic(4, "leave")
    group = f"g-{topic}"
    agents = []
    for name in ("first", "second"):
        out = tmp_path / name
        out.mkdir()
        text = AGENT.format(bootstrap=kafka_bootstrap, topic=topic, group=group, instance=name, out=out)
        text = text.replace("a1.sources.r1.kafka.consumer.session.timeout.ms = 6000\n", "")  # the 45 s default
        conf = tmp_path / f"{name}.conf"
        conf.write_text(text)
        agent = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / f"{name}.log")
        agent.start()
        agents.append(agent)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def owned() -> list[int]:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
        except Exception:
            return []
        return sorted(len(m.assignment.topic_partitions) for m in desc.members)

    try:
        assert wait_until(lambda: owned() == [2, 2], 60, 0.2), owned()
        assert agents[1].terminate(30) == 0
        stopped = time.monotonic()
        assert wait_until(lambda: owned() == [4], 20, 0.1), owned()
        took = time.monotonic() - stopped
    finally:
        for agent in agents:
            if agent.alive():
                agent.kill()
    print(f"the remaining agent had every partition {took:.1f} s after the other stopped")
    assert took < 10.0


def committed_of(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offset per partition (0 when none), read as an outsider."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
    finally:
        consumer.close()
    return [max(tp.offset, 0) for tp in tps]


def test_clean_stops_in_a_cooperative_group_commit_every_delivered_offset(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    """Two agents (the default assignor: cooperative-sticky) share 4 partitions while a
    producer writes. Each clean stop (SIGTERM) — one of them right after a SIGKILL and a
    restart, as in the Kafka crash campaign — must leave the group's committed offset past
    every line that agent process delivered; the other agent takes its partitions over from
    there, so clean stops re-deliver nothing. At the end: committed = end offsets, nothing
    lost, duplicates at most what the SIGKILL left in flight."""
    partitions = 4
    topic = new_topic(partitions, "stops")
    group = f"g-{topic}"
    runs = {"a": 0, "b": 0}
    outs: list[Path] = []

    def start(name: str) -> tuple[AgentProcess, Path]:
        runs[name] += 1
        out = tmp_path / f"out-{name}-{runs[name]}"  # one directory per agent process
        out.mkdir()
        outs.append(out)
        conf = tmp_path / f"{name}-{runs[name]}.conf"
        conf.write_text(AGENT.format(bootstrap=kafka_bootstrap, topic=topic, group=group, instance=name, out=out))
        agent = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / f"{name}-{runs[name]}.log")
        agent.start()
        return agent, out

    def lines() -> int:
        return sum(count_lines(o) for o in outs)

    def stop(agent: AgentProcess) -> None:
        """SIGTERM once the agent runs (a SIGTERM during Python's start-up kills it: -15)."""
        up = wait_until(lambda: "' started: " in agent.log_path.read_text(errors="replace") or not agent.alive(), 60, 0.05)
        assert up and agent.alive(), agent.log_path.read_text(errors="replace")[-3000:]
        assert agent.terminate(60) == 0

    def past_committed(out: Path) -> list[int]:
        """Lines of ``out`` at or past the group's committed offsets."""
        marks = committed_of(kafka_bootstrap, group, topic, partitions)
        return [s for s in seqs(out) if s // partitions >= marks[s % partitions]]

    writer = Writer(kafka_bootstrap, topic, 10**9, partitions)  # until halted
    agents = {name: start(name) for name in ("a", "b")}
    uncommitted: list[str] = []
    in_flight = 0
    try:
        writer.start()
        for victim, kill_first in (("b", False), ("a", False), ("b", True), ("a", False)):
            target = lines() + 3000
            assert wait_until(lambda target=target: lines() >= target, 60, 0.05), [count_lines(o) for o in outs]
            agent, out = agents[victim]
            if kill_first:  # the campaign's case: a clean stop after a SIGKILL and a restart
                agent.kill()
                in_flight += len(past_committed(out))
                agent, out = agents[victim] = start(victim)
                restarted_log = tmp_path / f"{victim}-{runs[victim]}.log"
                assert wait_until(lambda out=out: count_lines(out) >= 1000, 60, 0.05), restarted_log.read_text()[-3000:]
            stop(agent)
            left = past_committed(out)
            if left:
                uncommitted.append(f"{victim}#{runs[victim]}: {len(left)} lines past the committed offsets, e.g. {left[:3]}")
            agents[victim] = start(victim)
        writer.halt.set()
        writer.join(60)
        total = writer.written

        def all_arrived() -> bool:
            return len(set().union(*(set(seqs(o)) for o in outs))) >= total

        arrived = wait_until(all_arrived, 120, 0.5)
        for agent, _ in agents.values():
            stop(agent)
    finally:
        for agent, _ in agents.values():
            if agent.alive():
                agent.kill()
        writer.halt.set()
        writer.join(30)
    assert writer.error is None, writer.error
    final = committed_of(kafka_bootstrap, group, topic, partitions)
    verdict = verify((line for o in outs for line in read_output_lines(o)), total)
    report = f"{verdict.summary()}; in flight at the kill {in_flight}; final committed {final}; not committed at a stop: {uncommitted}"
    print(report)
    assert arrived and not verdict.lost and verdict.corrupt == 0, report
    assert not uncommitted, report
    assert final == [len(range(p, total, partitions)) for p in range(partitions)], report
    assert verdict.duplicates <= in_flight, report


@pytest.mark.slow
def test_flume_and_flafka_agents_share_one_group_with_the_range_assignor(
    kafka_bootstrap: str, new_topic: Callable[..., str], flume_home: Any, tmp_path: Path
) -> None:
    """Replacing Flume agents one at a time: a Flume 1.11 agent (Kafka client 2.7, only
    RangeAssignor) and a flafka agent with the same config text, RangeAssignor set, share
    one group: each reads its own partitions, and together they deliver every record once."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    topic = new_topic(4, "mixed")
    group = f"g-{topic}"
    text = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.group.id = {group}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.kafka.consumer.partition.assignment.strategy = org.apache.kafka.clients.consumer.RangeAssignor
a1.sources.r1.batchDurationMillis = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
"""
    outs = {name: tmp_path / f"out-{name}" for name in ("flume", "flafka")}
    for out in outs.values():
        out.mkdir()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def owned() -> list[int]:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
        except Exception:
            return []
        return sorted(len(m.assignment.topic_partitions) for m in desc.members)

    def lines(out: Path) -> list[str]:
        return [line for p in out.iterdir() for line in p.read_text().split()]

    conf = tmp_path / "flafka.conf"
    conf.write_text(text.format(bootstrap=kafka_bootstrap, topic=topic, group=group, out=outs["flafka"]))
    flafka = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / "flafka.log")
    n = 2000
    with flume_home.run_agent(text.format(bootstrap=kafka_bootstrap, topic=topic, group=group, out=outs["flume"]), tmp_path / "flume"):
        flafka.start()
        try:
            assert wait_until(lambda: owned() == [2, 2], 90, 0.2), f"{owned()}\n" + (tmp_path / "flafka.log").read_text()[-3000:]
            producer = Producer({"bootstrap.servers": kafka_bootstrap})
            for i in range(n):
                producer.produce(topic, b"%04d" % i, partition=i % 4)
            assert producer.flush(30) == 0
            assert wait_until(lambda: len(lines(outs["flume"])) + len(lines(outs["flafka"])) >= n, 60, 0.2)
            time.sleep(1.0)
        finally:
            flafka.terminate(30)
    got = {name: lines(out) for name, out in outs.items()}
    assert sorted(got["flume"] + got["flafka"]) == [f"{i:04d}" for i in range(n)]
    assert len(got["flume"]) == len(got["flafka"]) == n // 2, {k: len(v) for k, v in got.items()}  # two partitions each


def test_a_member_that_hands_partitions_over_keeps_committing_and_its_clean_stop_re_delivers_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    """Agent A reads all 4 partitions (cooperative-sticky, the default) under a live
    producer; agent B joins and A hands two partitions over. B delivers soon after its
    assignment (it used to sleep maxBackoffSleep, 5 s, after its first empty read: the
    empty polls while it waited for partitions counted as backoff), neither agent warns
    that commits fail (a commit refused by the join round used to count as failing: a
    warning and a pause), and A, stopped cleanly while it keeps delivering its two
    partitions, has committed every line it delivered: B takes those partitions over from
    there and nothing is delivered twice (duplicates at most what A had in flight: 0)."""
    partitions = 4
    topic = new_topic(partitions, "handover")
    group = f"g-{topic}"
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def owned() -> dict[str, int]:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
        except Exception:
            return {}
        return {str(m.group_instance_id): len(m.assignment.topic_partitions) for m in desc.members}

    def start(name: str) -> tuple[AgentProcess, Path]:
        out = tmp_path / f"out-{name}"
        out.mkdir()
        conf = tmp_path / f"{name}.conf"
        conf.write_text(AGENT.format(bootstrap=kafka_bootstrap, topic=topic, group=group, instance=name, out=out))
        agent = AgentProcess(["-n", "a1", "-f", str(conf), "--no-reload-conf"], tmp_path / f"{name}.log")
        agent.start()
        return agent, out

    def past_committed(out: Path) -> list[int]:
        lines = seqs(out)  # read first: the committed offsets read next are at least as new
        marks = committed_of(kafka_bootstrap, group, topic, partitions)
        return [s for s in lines if s // partitions >= marks[s % partitions]]

    writer = Writer(kafka_bootstrap, topic, 10**9, partitions)
    (a, out_a), (b, out_b) = start("a"), (None, tmp_path / "out-b")
    left: list[int] = []
    try:
        writer.start()
        assert wait_until(lambda: owned().get("a") == 4 and count_lines(out_a) >= 2000, 60, 0.1), owned()
        b, out_b = start("b")
        b_log = tmp_path / "b.log"
        assert wait_until(lambda: "' assigned " in b_log.read_text(errors="replace"), 60, 0.02), b_log.read_text()[-3000:]
        assigned = time.monotonic()
        assert wait_until(lambda: count_lines(out_b) > 0, 30, 0.02), b_log.read_text()[-3000:]
        b_first = time.monotonic() - assigned
        assert wait_until(lambda: owned() == {"a": 2, "b": 2}, 30, 0.1), owned()
        before = count_lines(out_a)
        time.sleep(3.0)  # A goes on delivering (and committing) its two partitions
        assert count_lines(out_a) > before, "A stopped delivering after the handover"
        assert a.terminate(60) == 0
        left = past_committed(out_a)
        assert wait_until(lambda: owned() == {"b": 4}, 30, 0.1), owned()
        time.sleep(2.0)  # B reads A's partitions from A's committed offsets
        writer.halt.set()
        writer.join(60)
        total = writer.written
        arrived = wait_until(lambda: len(set(seqs(out_a)) | set(seqs(out_b))) >= total, 120, 0.5)
        assert b.terminate(60) == 0
    finally:
        writer.halt.set()
        writer.join(30)
        for agent in (a, b):
            if agent is not None and agent.alive():
                agent.kill()
    assert writer.error is None, writer.error
    verdict = verify((line for o in (out_a, out_b) for line in read_output_lines(o)), total)
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in ("a", "b")}
    report = (
        f"{verdict.summary()}; A's lines past the committed offsets after its stop: {len(left)}; "
        f"B's first line {b_first:.1f} s after its assignment"
    )
    print(report)
    assert arrived and not verdict.lost and verdict.corrupt == 0 and verdict.unexpected == 0, report
    assert not left, report
    assert verdict.duplicates <= len(left), report
    for name, text in logs.items():
        assert "committing delivered offsets fail" not in text, f"{name}: {report}\n{text[-3000:]}"
    assert b_first < 4.5, f"{report}\n{logs['b'][-3000:]}"
