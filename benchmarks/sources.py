"""flafka vs Apache Flume 1.11 side by side, the sources of issue 13, in one run on one
machine (Kafka on it). Run with ``python3 -m nox -s bench`` or
``python benchmarks/sources.py [pipeline ...]``. Figures go to benchmarks/RESULTS.md.

Pipelines (both systems run the SAME Flume properties text; memory channel 100,000 /
1,000):
  taildir-kafka  TAILDIR -> memory -> Kafka sink (acks=1): one file, empty when the agent
                 starts, appended at full speed (``cat`` of 100-byte lines, started at
                 the agent's exec); counted as the topic's end offsets reaching N
  http-null      http (JSONHandler) -> memory -> null: client processes POST JSON batches
                 of 100 events over keep-alive connections (bodies built before the run;
                 a 503 is retried); counted as the events of requests answered 200 (the
                 source answers 200 only after the channel committed: same rule in both)
Goals: flafka >= 2x Flume's events/s with <= 1/3 of its RSS; TAILDIR's CPU per line.

Figures as in kafka_hdfs.py (whose helpers this script reuses): wall = exec -> last event
delivered (start-up included: ~0.2 s flafka, 1-3 s the JVM), steady = events/s from the
first delivered event to the last, CPU s = utime+stime of all the agent's threads, peak
RSS = VmHWM of the agent. Everything listens on 127.0.0.1; Flume's HTTP metrics (0.0.0.0)
are not used. Kafka is warmed with one unmeasured kcat run first.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import emit  # noqa: E402
from kafka_hdfs import CHANNEL, KAFKA_SINK, NULL_SINK, Bench, BenchError, Result  # noqa: E402
from run import machine  # noqa: E402

PIPELINES = ("taildir-kafka", "http-null")
BATCH = 100  # events per HTTP request

TAILDIR_SOURCE = """a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {dir}/app.*\\.log
a1.sources.r1.positionFile = {position}
a1.sources.r1.batchSize = 1000
"""

HTTP_SOURCE = """a1.sources.r1.type = http
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
"""


def _client(port: int, bodies: list[bytes], requests: int, counter: Any, deadline: float) -> None:
    """One keep-alive connection POSTing ``requests`` bodies (round robin); adds the events
    of every 200 to ``counter``; retries a 503 or a refused connection (agent starting)."""
    import http.client

    conn = None
    sent = 0
    while sent < requests and time.monotonic() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/", body=bodies[sent % len(bodies)], headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except OSError:
            conn.close()
            conn = None
            time.sleep(0.02)
            continue
        if resp.status == 200:
            sent += 1
            with counter.get_lock():
                counter.value += BATCH
        elif resp.status != 503:
            raise SystemExit(f"http client: status {resp.status}")
        if resp.will_close:
            conn.close()
            conn = None


class SourcesBench(Bench):
    def __init__(self, args: argparse.Namespace, work: Path, bootstrap: str, flume: Any) -> None:
        super().__init__(args, work, bootstrap, None, flume)

    def taildir_kafka(self, rnd: int, events: int) -> None:
        data = self.concatenated(events)
        for system in self.order(rnd):
            tailed = self.work / f"tail-{rnd}-{system.lower()}"
            tailed.mkdir()
            target = tailed / "app.log"
            target.write_bytes(b"")
            topic = self.topic("taildir", rnd, system)
            conf = CHANNEL + TAILDIR_SOURCE.format(dir=tailed, position=tailed / "positions.json")
            conf += KAFKA_SINK.format(bootstrap=self.bootstrap, topic=topic)
            writer: list[subprocess.Popen[bytes]] = []

            def progress(topic: str = topic, target: Path = target, writer: list[subprocess.Popen[bytes]] = writer) -> int:
                if not writer:  # first sample: just after the agent's exec
                    with open(target, "ab") as out:
                        writer.append(subprocess.Popen(["cat", str(data)], stdout=out))
                return self.kafka.end_offsets(topic, self.partitions)

            try:
                result = self.run_agent(system, "taildir-kafka", rnd, conf, total=events, progress=progress)
            finally:
                for w in writer:
                    w.wait(60)
            written = self.kafka.end_offsets(topic, self.partitions)
            result.note = (
                f"{result.cpu / result.events * 1e6:.1f} us CPU/line"
                + ("" if written == events else f"; topic holds {written:,} records (expected {events:,})")
            )
            self.record(result)
            self.kafka.delete_topics([topic])
            shutil.rmtree(tailed, ignore_errors=True)
        self.ratio("taildir-kafka", rnd, "goal: >= 2x events/s, <= 0.33x RSS")

    def http_null(self, rnd: int, events: int) -> None:
        from flafka_testkit.services.base import free_port

        requests = events // BATCH
        clients = self.args.http_clients
        bodies = [
            json.dumps([{"headers": {"seq": str(b * BATCH + i)}, "body": f"{b * BATCH + i:099d}"} for i in range(BATCH)]).encode()
            for b in range(64)
        ]
        ctx = multiprocessing.get_context("fork")
        for system in self.order(rnd):
            port = free_port()
            conf = CHANNEL + HTTP_SOURCE.format(port=port) + NULL_SINK
            counter = ctx.Value("q", 0)
            deadline = time.monotonic() + self.args.timeout
            share = [requests // clients + (1 if k < requests % clients else 0) for k in range(clients)]
            procs: list[Any] = []

            def progress(
                procs: list[Any] = procs, counter: Any = counter, port: int = port, share: list[int] = share, deadline: float = deadline
            ) -> int:
                if not procs:
                    for n in share:
                        p = ctx.Process(target=_client, args=(port, bodies, n, counter, deadline), daemon=True)
                        p.start()
                        procs.append(p)
                return int(counter.value)

            try:
                result = self.run_agent(system, "http-null", rnd, conf, total=events, progress=progress)
            finally:
                for p in procs:
                    p.join(30)
                    if p.is_alive():
                        p.kill()
            result.note = f"{clients} client processes, JSON batches of {BATCH}; counted: events answered 200"
            self.record(result)
        self.ratio("http-null", rnd, "goal: >= 2x events/s, <= 0.33x RSS")

    def run(self) -> None:
        a = self.args
        if "taildir-kafka" in a.pipelines:
            warm = self.kcat(0, a.taildir_events, "warmup", record=False)
            self.kafka.delete_topics([warm])
            print(f"warm-up: kcat produced {a.taildir_events:,} records into a scratch topic (not measured)", flush=True)
        for rnd in range(1, a.runs + 1):
            if "taildir-kafka" in a.pipelines:
                self.taildir_kafka(rnd, a.taildir_events)
            if "http-null" in a.pipelines:
                self.http_null(rnd, a.http_events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", metavar="PIPELINE", help=f"any of {', '.join(PIPELINES)} (default: all)")
    parser.add_argument("--taildir-events", type=int, default=2_000_000)
    parser.add_argument("--http-events", type=int, default=1_000_000, help="a multiple of 100 (JSON batches of 100)")
    parser.add_argument("--http-clients", type=int, default=4, help="client processes, one keep-alive connection each")
    parser.add_argument("--lines-per-file", type=int, default=100_000, help="generation chunk (the tailed file is their concatenation)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--flume-heap", default="512m", help="Flume's -Xmx (the test kit's default)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the services (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave the services running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs directory")
    parser.add_argument("--systems", default="flafka,Flume", type=lambda v: v.split(","), help="which agents to run (flafka,Flume)")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the flafka agents into this directory (slows them)")
    args = parser.parse_args()
    args.pipelines = args.pipelines or list(PIPELINES)
    args.kafka_events = args.taildir_events  # Bench.kcat's warm-up size
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")
    if args.http_events % BATCH:
        parser.error(f"--http-events must be a multiple of {BATCH}")

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="flafka-bench-services-"))
    os.environ["FLAFKA_RUN_DIR"] = str(run_dir)
    from flafka_testkit.services import local_service
    from flafka_testkit.services.flume import FlumeHome

    print(f"machine: {machine()}", flush=True)
    needs = (["kafka"] if "taildir-kafka" in args.pipelines else []) + ["flume"]
    started: list[Any] = []
    services: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-sources-"))
    status = 0
    bench = None
    try:
        for name in needs:
            service = local_service(name)
            began = time.monotonic()
            if service.start():
                started.append(service)
            services[name] = service
            print(f"{name}: ready in {time.monotonic() - began:.1f} s ({service.address})", flush=True)
        flume = FlumeHome()
        print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}", flush=True)
        print(f"work dir: {work}; FLAFKA_RUN_DIR={run_dir}", flush=True)
        kafka = services.get("kafka")
        bench = SourcesBench(args, work, kafka.address if kafka is not None else "", flume)
        bench.run()
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        if bench is not None:
            emit(bench.markdown())
            bench.kafka.delete_topics(bench.topics)
            bench.kafka.close()
        if not args.keep_services:
            for service in reversed(started):
                service.stop(10.0)
            if args.run_dir is None:
                shutil.rmtree(run_dir, ignore_errors=True)
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return status


__all__ = ["Result", "SourcesBench"]

if __name__ == "__main__":
    raise SystemExit(main())
