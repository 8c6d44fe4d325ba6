"""flafka vs Apache Flume 1.11 side by side, the sources of issue 13, in one run on one
machine (Kafka on it). Run with ``python3 -m nox -s bench`` or
``python benchmarks/sources.py [pipeline ...]``. Figures go to benchmarks/RESULTS.md.

Pipelines (both systems run the SAME Flume properties text; memory channel 100,000 /
1,000):
  taildir-kafka  TAILDIR -> memory -> Kafka sink (acks=1): one file, empty when the agent
                 starts, appended at full speed (``cat`` of 100-byte lines, started at
                 the agent's exec); counted as the topic's end offsets reaching N
  http-null      http (JSONHandler) -> memory -> null: a load generator POSTs JSON batches
                 of 100 events over 4 keep-alive connections (64 bodies built before the
                 run, round robin; a 503 is sent again); counted as the events of requests
                 answered 200 (the source answers 200 only after the channel committed:
                 same rule in both). The generator is ``wrk`` (C, one thread, a Lua script:
                 ~0.1 of a core) so that it does not cap either system on 2 cores;
                 ``--http-load python`` uses the earlier Python client processes (one per
                 connection, ~1 core between them). wrk is installed with apt-get when
                 missing (as root); without it the Python clients are used, and said so.
                 The generator's CPU seconds are printed in the note.
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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _services import bench_services  # noqa: E402
from kafka_hdfs import CHANNEL, KAFKA_SINK, NULL_SINK, Bench, BenchError, Result, proc_cpu  # noqa: E402
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


#: wrk's script (LuaJIT, one state per wrk thread). Arguments after ``--``: the directory of
#: the bodies (body-NN.json), the progress directory, the 200s each thread must collect.
#: Each thread rewrites ``<progress>/<thread>`` (fixed width: "<200s> <other statuses>")
#: every 10 answers and stops itself once it has its share of 200s.
WRK_SCRIPT = r"""
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local reqs, n, i, ok, bad, share, out = {}, 0, 0, 0, 0, 0, nil

local function report()
  out:seek("set")
  out:write(string.format("%12d %12d\n", ok, bad))
  out:flush()
end

function init(args)
  local k = 0
  while true do
    local f = io.open(string.format("%s/body-%02d.json", args[1], k), "rb")
    if f == nil then break end
    local body = f:read("*a")
    f:close()
    k = k + 1
    reqs[k] = wrk.format("POST", "/", {["Content-Type"] = "application/json"}, body)
  end
  n = k
  share = tonumber(args[3 + tid])
  out = io.open(string.format("%s/%d", args[2], tid), "w")
  report()
  if share == 0 then wrk.thread:stop() end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if ok >= share then
      report()
      wrk.thread:stop()
    elseif ok % 10 == 0 then
      report()
    end
  elseif status ~= 503 then
    bad = bad + 1
    report()
  end
end
"""


def ensure_wrk() -> str | None:
    """wrk's path; installs Debian's package when missing and running as root (None if
    it cannot be had)."""
    found = shutil.which("wrk")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: apt-get install wrk", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], env=env, check=False)
        found = shutil.which("wrk")
    return found


class SteadyCpu:
    """The agent's CPU seconds at the first sample that saw delivered events (the start of
    "steady"), so that CPU per event can leave out start-up (the JVM's, Python's imports).
    The agent is found in /proc as this script's child whose command line holds ``marker``
    (its config file's path)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self.at_first: float | None = None

    def _pid(self) -> int | None:
        me = str(os.getpid())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == me and self.marker in (proc / "cmdline").read_bytes():
                    return int(proc.name)
            except (OSError, IndexError):
                continue
        return None

    def sample(self, delivered: int) -> None:
        if self.at_first is None and delivered > 0:
            pid = self._pid()
            if pid is not None:
                try:
                    self.at_first = proc_cpu(pid)
                except (OSError, IndexError):
                    pass

    def note(self, result: Result) -> str:
        """"N us CPU/event steady" (CPU from the first delivered event to the last)."""
        if self.at_first is None or result.events <= result.first_events:
            return "CPU/event steady unknown"
        return f"{(result.cpu - self.at_first) / (result.events - result.first_events) * 1e6:.2f} us CPU/event steady"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


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
    def __init__(self, args: argparse.Namespace, work: Path, bootstrap: str, flume: Any, wrk: str | None) -> None:
        super().__init__(args, work, bootstrap, None, flume)
        self.wrk = wrk

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

    def http_bodies(self) -> list[bytes]:
        return [
            json.dumps([{"headers": {"seq": str(b * BATCH + i)}, "body": f"{b * BATCH + i:099d}"} for i in range(BATCH)]).encode()
            for b in range(64)
        ]

    def http_null(self, rnd: int, events: int) -> None:
        requests = events // BATCH
        for system in self.order(rnd):
            run = self.http_wrk if self.wrk else self.http_python
            self.record(run(system, rnd, events, requests))
        self.ratio("http-null", rnd, "goal: >= 2x events/s, <= 0.33x RSS")

    def http_wrk(self, system: str, rnd: int, events: int, requests: int) -> Result:
        """wrk POSTs over ``--http-clients`` connections from ``--http-threads`` threads,
        started once the port accepts connections (wrk would spin reconnecting while the
        agent starts); progress = the 200s its threads wrote to their progress files."""
        from flafka_testkit.services.base import free_port

        assert self.wrk is not None
        threads = min(self.args.http_threads, self.args.http_clients)
        run = self.work / f"wrk-{rnd}-{system.lower()}"
        (run / "progress").mkdir(parents=True)
        for k, body in enumerate(self.http_bodies()):
            (run / f"body-{k:02d}.json").write_bytes(body)
        (run / "post.lua").write_text(WRK_SCRIPT)
        shares = [requests // threads + (1 if k < requests % threads else 0) for k in range(threads)]
        port = free_port()
        conf = CHANNEL + HTTP_SOURCE.format(port=port) + NULL_SINK
        argv = [self.wrk, "-t", str(threads), "-c", str(self.args.http_clients), "-d", f"{int(self.args.timeout)}s"]
        argv += ["--timeout", "30s", "-s", str(run / "post.lua"), f"http://127.0.0.1:{port}/"]
        argv += ["--", str(run), str(run / "progress"), *map(str, shares)]
        procs: list[subprocess.Popen[bytes]] = []
        counts: dict[str, tuple[int, int]] = {}
        load_cpu = [0.0]
        steady = SteadyCpu(str(self.work / f"http-null-{rnd}-{system.lower()}" / "a1.conf"))

        def progress() -> int:
            if not procs:
                if not _listening(port):
                    return 0
                with open(run / "wrk.log", "wb") as log:
                    procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
            if procs[0].poll() is None:
                try:
                    load_cpu[0] = proc_cpu(procs[0].pid)
                except (OSError, IndexError):
                    pass
            for f in (run / "progress").iterdir():
                try:
                    ok, bad = (int(v) for v in f.read_text().split())
                except (OSError, ValueError):
                    continue  # being rewritten: keep the last reading
                counts[f.name] = (ok, bad)
            bad = sum(b for _, b in counts.values())
            if bad:
                raise BenchError(f"{system} (http-null): {bad} answers were neither 200 nor 503")
            delivered = sum(ok for ok, _ in counts.values()) * BATCH
            steady.sample(delivered)
            return delivered

        try:
            result = self.run_agent(system, "http-null", rnd, conf, total=events, progress=progress)
        finally:
            for p in procs:  # wrk's threads stop at their share, but wrk sleeps out -d: SIGINT ends it
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        result.note = (
            f"{steady.note(result)}; wrk -t{threads} -c{self.args.http_clients} (load generator {load_cpu[0]:.2f} CPU s), "
            f"JSON batches of {BATCH}; counted: events answered 200"
        )
        return result

    def http_python(self, system: str, rnd: int, events: int, requests: int) -> Result:
        """The earlier load generator: one Python process per connection."""
        from flafka_testkit.services.base import free_port

        clients = self.args.http_clients
        bodies = self.http_bodies()
        ctx = multiprocessing.get_context("fork")
        port = free_port()
        conf = CHANNEL + HTTP_SOURCE.format(port=port) + NULL_SINK
        counter = ctx.Value("q", 0)
        deadline = time.monotonic() + self.args.timeout
        share = [requests // clients + (1 if k < requests % clients else 0) for k in range(clients)]
        procs: list[Any] = []
        load_cpu: dict[int, float] = {}
        steady = SteadyCpu(str(self.work / f"http-null-{rnd}-{system.lower()}" / "a1.conf"))

        def progress() -> int:
            if not procs:
                for n in share:
                    p = ctx.Process(target=_client, args=(port, bodies, n, counter, deadline), daemon=True)
                    p.start()
                    procs.append(p)
            for p in procs:
                try:
                    load_cpu[p.pid] = proc_cpu(p.pid)
                except (OSError, IndexError):
                    pass
            delivered = int(counter.value)
            steady.sample(delivered)
            return delivered

        try:
            result = self.run_agent(system, "http-null", rnd, conf, total=events, progress=progress)
        finally:
            for p in procs:
                p.join(30)
                if p.is_alive():
                    p.kill()
        result.note = (
            f"{steady.note(result)}; {clients} Python client processes (load generator {sum(load_cpu.values()):.2f} CPU s), "
            f"JSON batches of {BATCH}; counted: events answered 200"
        )
        return result

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
    parser.add_argument("--http-clients", type=int, default=4, help="keep-alive connections (python: one process each)")
    parser.add_argument("--http-threads", type=int, default=1, help="wrk threads (event loops) for those connections")
    parser.add_argument("--http-load", choices=("wrk", "python"), default="wrk", help="the http load generator")
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

    from flafka_testkit.services.flume import FlumeHome

    print(f"machine: {machine()}", flush=True)
    needs = (["kafka"] if "taildir-kafka" in args.pipelines else []) + ["flume"]
    work = Path(tempfile.mkdtemp(prefix="flafka-bench-sources-"))
    status = 0
    bench = None
    try:
        with bench_services(needs, args.run_dir, args.keep_services) as services:
            try:
                flume = FlumeHome()
                print(f"Flume {flume.version}: {flume.java}, heap -Xmx{args.flume_heap}", flush=True)
                print(f"work dir: {work}; FLAFKA_RUN_DIR={services.run_dir}", flush=True)
                wrk = ensure_wrk() if "http-null" in args.pipelines and args.http_load == "wrk" else None
                if "http-null" in args.pipelines:
                    missing = " (wrk could not be installed)" if args.http_load == "wrk" else ""
                    load = f"wrk ({wrk})" if wrk else f"Python client processes{missing}"
                    print(f"http load generator: {load}", flush=True)
                bootstrap = services.address("kafka") if "kafka" in services else ""
                bench = SourcesBench(args, work, bootstrap, flume, wrk)
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


__all__ = ["Result", "SourcesBench"]

if __name__ == "__main__":
    raise SystemExit(main())
