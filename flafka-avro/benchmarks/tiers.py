"""Two-tier Avro RPC throughput, flafka against Flume 1.11 in one run.

sender:   seq -> memory -> avro sink   (batch 1000)
receiver: avro source -> memory -> null
for flafka and for Flume, without and with deflate. Reports the receiver's accepted
events/s over a window after a warm-up (from each agent's /metrics JSON), and the peak
RSS of each agent. Run: ``.nox/tests/bin/python flafka-avro/benchmarks/tiers.py`` (needs
the test kit's Flume; ``--window``/``--warmup`` seconds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from flafka_testkit.services.base import free_port
from flafka_testkit.services.flume import LOG4J2, FlumeHome

SENDER = """
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = seq
a.sources.s.batchSize = 1000
a.sources.s.channels = c
a.channels.c.type = memory
a.channels.c.capacity = 100000
a.channels.c.transactionCapacity = 1000
a.sinks.k.type = avro
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
a.sinks.k.batch-size = 1000
a.sinks.k.compression-type = {comp}
a.sinks.k.channel = c
"""
RECEIVER = """
a.sources = r
a.channels = c
a.sinks = k
a.sources.r.type = avro
a.sources.r.bind = 127.0.0.1
a.sources.r.port = {port}
a.sources.r.compression-type = {comp}
a.sources.r.channels = c
a.channels.c.type = memory
a.channels.c.capacity = 100000
a.channels.c.transactionCapacity = 1000
a.sinks.k.type = null
a.sinks.k.batchSize = 1000
a.sinks.k.channel = c
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def accepted(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        doc = json.load(r)
    return int(doc.get("SOURCE.r", {}).get("EventAcceptedCount", 0))


def start(kind: str, conf: str, work: Path, name: str, mport: int, flume: FlumeHome) -> subprocess.Popen[bytes]:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.conf"
    path.write_text(conf)
    mon = ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={mport}"]
    if kind == "flume":
        (work / "log4j2.properties").write_text(LOG4J2)
        cmd = flume.command(path, "a", work, mport)
    else:
        cmd = [sys.executable, "-m", "flafka", "agent", "-n", "a", "-f", str(path), *mon]
    log = open(work / f"{name}.log", "ab")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(work), start_new_session=True)


def run(kind: str, comp: str, work: Path, flume: FlumeHome, warmup: float, window: float) -> str:
    port, m_recv, m_send = free_port(), free_port(), free_port()
    recv = start(kind, RECEIVER.format(port=port, comp=comp), work, "recv", m_recv, flume)
    procs = [recv]
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                accepted(m_recv)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        procs.append(send := start(kind, SENDER.format(port=port, comp=comp), work, "send", m_send, flume))
        time.sleep(warmup)
        a0, t0 = accepted(m_recv), time.monotonic()
        time.sleep(window)
        a1, t1 = accepted(m_recv), time.monotonic()
        rate = (a1 - a0) / (t1 - t0)
        rss = f"RSS receiver {rss_kib(recv.pid) / 1024:6.0f} MiB  sender {rss_kib(send.pid) / 1024:6.0f} MiB"
        return f"{kind:6} {comp:8} {rate:12,.0f} events/s   {rss}"
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--window", type=float, default=20)
    args = ap.parse_args()
    flume = FlumeHome()
    with tempfile.TemporaryDirectory() as tmp:
        for comp in ("none", "deflate"):
            for kind in ("flafka", "flume"):
                print(run(kind, comp, Path(tmp) / f"{kind}-{comp}", flume, args.warmup, args.window), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
