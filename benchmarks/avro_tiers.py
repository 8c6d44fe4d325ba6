"""Two Avro RPC tiers, flafka against Apache Flume 1.11, side by side in one run.

Each system runs the SAME two Flume properties texts (issue 14's performance point):
  sender:   seq (batchSize 1000) -> memory (100,000 / 1,000) -> avro sink (batch-size 1000)
  receiver: avro source -> memory (100,000 / 1,000) -> null (batchSize 1000)
without and with ``compression-type = deflate`` (level 6 on both sides), and with
``--headers`` also with the ``timestamp`` and ``host`` interceptors on the sender (every
event then carries two headers, as a typical edge agent's do; seq's bodies alone carry
none). Goal: flafka >= 2x Flume's events/s with <= 1/3 of its RSS per agent.

Per run: the receiver starts, then the sender; after ``--warmup`` seconds (JIT, pipes
full) the receiver's ``EventAcceptedCount`` (HTTP metrics JSON, same key in both) is read
at the start and end of a ``--window``. Printed: accepted events/s over the window, CPU
seconds of each agent over the window (utime + stime of all its threads, /proc), CPU per
event, and each agent's peak RSS (VmHWM since exec). Both agents and this script share
the machine's cores. ``--rounds`` repeats everything, alternating which system runs
first. ``--profile DIR`` py-spy samples both flafka agents during the window (slows
them; figures of a profiled run are not comparable).

``--codec`` instead times flafka-avro's whole-batch codec against fastavro (CPU
microseconds per event of a 1,000-event batch, encode and decode, four kinds of batch).

Run: ``python3 -m nox -s bench`` or ``python benchmarks/avro_tiers.py [--rounds 2]
[--headers]`` (needs the test kit's Flume 1.11 and Java 17; ``--profile`` needs
``pip install py-spy``). Figures go to benchmarks/RESULTS.md (the avro section).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from kafka_hdfs import proc_cpu, stop_process, tail, vm_hwm  # noqa: E402
from run import machine  # noqa: E402

from flafka_testkit.services.base import free_port  # noqa: E402
from flafka_testkit.services.flume import LOG4J2, FlumeHome  # noqa: E402

SENDER = """a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = seq
a.sources.s.batchSize = 1000
a.sources.s.channels = c
{interceptors}a.channels.c.type = memory
a.channels.c.capacity = 100000
a.channels.c.transactionCapacity = 1000
a.sinks.k.type = avro
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
a.sinks.k.batch-size = 1000
a.sinks.k.compression-type = {comp}
a.sinks.k.channel = c
"""
INTERCEPTORS = """a.sources.s.interceptors = ts host
a.sources.s.interceptors.ts.type = timestamp
a.sources.s.interceptors.host.type = host
"""
RECEIVER = """a.sources = r
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


class BenchError(Exception):
    """A run that could not be measured (an agent died or never came up)."""


@dataclass
class Result:
    system: str
    comp: str
    headers: bool
    rnd: int
    rate: float  # accepted events/s over the window
    events: int  # accepted in the window
    cpu_send: float  # CPU seconds over the window
    cpu_recv: float
    rss_send: float  # MB, peak since exec
    rss_recv: float

    def cpu_us(self) -> float:
        """CPU microseconds per event, both agents together."""
        return (self.cpu_send + self.cpu_recv) / max(self.events, 1) * 1e6

    def line(self) -> str:
        h = "headers" if self.headers else "plain"
        return (
            f"round {self.rnd} {self.system:6} {self.comp:7} {h:7} {self.rate:11,.0f} events/s  "
            f"CPU s send {self.cpu_send:5.1f} recv {self.cpu_recv:5.1f} ({self.cpu_us():4.1f} us/event)  "
            f"peak RSS send {self.rss_send:5.0f} MB recv {self.rss_recv:5.0f} MB"
        )


def accepted(mport: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as r:
        doc = json.load(r)
    return int(doc.get("SOURCE.r", {}).get("EventAcceptedCount", 0))


def start(system: str, conf: str, work: Path, name: str, mport: int, flume: FlumeHome) -> subprocess.Popen[bytes]:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.conf"
    path.write_text(conf)
    if system == "flume":
        (work / "log4j2.properties").write_text(LOG4J2)
        cmd = flume.command(path, "a", work, mport)
    else:
        mon = ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={mport}"]
        cmd = [sys.executable, "-m", "flafka", "agent", "-n", "a", "-f", str(path), *mon]
    with open(work / f"{name}.log", "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(work), start_new_session=True)


def wait_up(proc: subprocess.Popen[bytes], mport: int, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            accepted(mport)
            return
        except OSError:
            if proc.poll() is not None:
                raise BenchError(f"agent exited with code {proc.returncode}:\n{tail(log)}") from None
            if time.monotonic() > deadline:
                raise BenchError(f"agent's metrics did not answer within {timeout:.0f} s:\n{tail(log)}") from None
            time.sleep(0.25)


def py_spy(pid: int, out: Path, seconds: float, extra: list[str]) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [exe, "record", "--pid", str(pid), "--threads", "--rate", "200", "--duration", str(int(seconds)), *extra]
    argv += ["--format", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(f"{out}.log", "wb"))


def run(system: str, comp: str, headers: bool, rnd: int, work: Path, flume: FlumeHome, args: argparse.Namespace) -> Result:
    port, m_recv, m_send = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    spies: list[subprocess.Popen[bytes]] = []
    try:
        recv = start(system, RECEIVER.format(port=port, comp=comp), work, "recv", m_recv, flume)
        procs.append(recv)
        wait_up(recv, m_recv, work / "recv.log")
        conf = SENDER.format(port=port, comp=comp, interceptors=INTERCEPTORS if headers else "")
        send = start(system, conf, work, "send", m_send, flume)
        procs.append(send)
        time.sleep(args.warmup)
        for p, name in ((recv, "recv"), (send, "send")):
            if p.poll() is not None:
                raise BenchError(f"{system} {name} exited with code {p.returncode}:\n{tail(work / f'{name}.log')}")
        if args.profile is not None and system == "flafka":
            args.profile.mkdir(parents=True, exist_ok=True)
            tag = f"{comp}-{'headers' if headers else 'plain'}-{rnd}"
            extra = (["--gil"] if args.gil else []) + (["--native"] if args.native else [])
            spies = [py_spy(p.pid, args.profile / f"{n}-{tag}.txt", args.window, extra) for p, n in ((send, "send"), (recv, "recv"))]
        a0, t0 = accepted(m_recv), time.monotonic()
        c_send0, c_recv0 = proc_cpu(send.pid), proc_cpu(recv.pid)
        time.sleep(args.window)
        a1, t1 = accepted(m_recv), time.monotonic()
        c_send1, c_recv1 = proc_cpu(send.pid), proc_cpu(recv.pid)
        if a1 <= a0:
            raise BenchError(f"{system} {comp}: the receiver accepted nothing in the window:\n{tail(work / 'send.log')}")
        rate = (a1 - a0) / (t1 - t0)
        cpu_send, cpu_recv = c_send1 - c_send0, c_recv1 - c_recv0
        return Result(system, comp, headers, rnd, rate, a1 - a0, cpu_send, cpu_recv, vm_hwm(send.pid), vm_hwm(recv.pid))
    finally:
        for spy in spies:
            try:
                spy.wait(args.window + 30)
            except subprocess.TimeoutExpired:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        for p in reversed(procs):
            stop_process(p, grace=20)


def summary(results: list[Result]) -> list[str]:
    """One line per (round, compression, headers): flafka / Flume ratios."""
    out = []
    keys = sorted({(r.rnd, r.comp, r.headers) for r in results}, key=lambda k: (k[2], k[1] != "none", k[0]))
    for key in keys:
        by = {r.system: r for r in results if (r.rnd, r.comp, r.headers) == key}
        f, j = by.get("flafka"), by.get("flume")
        if f is None or j is None:
            continue
        rss = max(f.rss_send / j.rss_send, f.rss_recv / j.rss_recv)
        out.append(
            f"round {key[0]} {key[1]:7} {'headers' if key[2] else 'plain':7} events/s flafka/Flume {f.rate / j.rate:5.2f}x "
            f"(goal >= 2)  CPU per event {f.cpu_us():4.1f} / {j.cpu_us():4.1f} us  "
            f"RSS per agent at most {rss:4.2f}x Flume's (goal <= 0.33)"
        )
    return out


def codec_micro() -> None:
    """CPU us per event: fastavro (records built / read, as flafka-avro did before its
    codec) against flafka_avro.codec, on 1,000-event batches; GC tuned as in an agent."""
    import io
    import uuid

    import fastavro

    from flafka.event import Event
    from flafka.tuning import tune_gc
    from flafka_avro import codec, protocol

    tune_gc()
    schema = protocol._BATCH_SCHEMA

    def cpu(f: Callable[[], object], n: int = 200) -> float:
        f()
        t = time.process_time()
        for _ in range(n):
            f()
        return (time.process_time() - t) / n / 1000 * 1e6

    def fa_encode(evs: list[Event]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, [{"headers": e.headers, "body": e.body} for e in evs])
        return buf.getvalue()

    def fa_decode(raw: bytes) -> list[Event]:
        return [Event(r["body"], r["headers"] or None) for r in fastavro.schemaless_reader(io.BytesIO(raw), schema, None)]

    ts = int(time.time() * 1000)
    kinds = {
        "seq bodies, no headers": [Event(b"%d" % i) for i in range(10**7, 10**7 + 1000)],
        "seq bodies, timestamp + host (one ms)": [Event(b"%d" % i, {"timestamp": str(ts), "host": "127.0.0.1"}) for i in range(1000)],
        "100 B, 3 headers (10 timestamps)": [
            Event(b"x" * 100, {"timestamp": str(ts + i // 100), "host": "web-17.example.com", "app": "checkout"}) for i in range(1000)
        ],
        "100 B, 2 headers unique per event": [Event(b"x" * 100, {"timestamp": str(ts + i), "id": str(uuid.uuid4())}) for i in range(1000)],
    }
    print("codec: CPU us per event, fastavro -> flafka_avro.codec on list[Event] -> on a column-wise Batch (1,000-event batches)")
    for name, evs in kinds.items():
        raw = codec.encode_events(evs)
        assert raw == fa_encode(evs) and fa_decode(raw) == evs
        assert (codec.decode_events(raw, 0) or ([], 0))[0] == evs
        batch = columns(evs)
        assert codec.encode_batch(batch) == raw and batch.columnar
        e0, e1 = cpu(lambda evs=evs: fa_encode(evs)), cpu(lambda evs=evs: codec.encode_events(evs))
        e2 = cpu(lambda batch=batch: codec.encode_batch(batch))
        d0, d1 = cpu(lambda raw=raw: fa_decode(raw)), cpu(lambda raw=raw: codec.decode_events(raw, 0))
        d2 = cpu(lambda raw=raw: codec.decode_batch(raw, 0))
        print(f"  {name:40} encode {e0:5.2f} -> {e1:5.2f} -> {e2:5.2f}   decode {d0:5.2f} -> {d1:5.2f} -> {d2:5.2f}")


def columns(events: list[Any]) -> Any:
    """The column-wise Batch the pipeline would carry for ``events``: one common map when
    every event has the same headers (as the timestamp and host interceptors make them),
    otherwise a header column."""
    from flafka.batch import Batch

    bodies = [e.body for e in events]
    maps = [e.headers or None for e in events]
    if maps and all(m == maps[0] for m in maps):
        return Batch(bodies, None, maps[0])
    return Batch(bodies, maps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds after the sender starts before measuring")
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured")
    ap.add_argument("--comp", nargs="*", default=["none", "deflate"], choices=["none", "deflate"])
    ap.add_argument("--headers", action="store_true", help="also run with timestamp + host interceptors on the sender")
    ap.add_argument("--only", choices=["flafka", "flume"], default=None, help="run one system (no ratios)")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy the flafka agents into this directory")
    ap.add_argument("--gil", action="store_true", help="with --profile: only samples holding the GIL (Python CPU)")
    ap.add_argument("--native", action="store_true", help="with --profile: C frames too (fastavro, zlib)")
    ap.add_argument("--codec", action="store_true", help="time the codec against fastavro (no agents) and exit")
    args = ap.parse_args()
    if args.codec:
        codec_micro()
        return 0
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    flume = FlumeHome()
    systems = [args.only] if args.only else ["flafka", "flume"]
    variants = [False, True] if args.headers else [False]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="avro-tiers-") as tmp:
        for rnd in range(1, args.rounds + 1):
            for headers in variants:
                for comp in args.comp:
                    for system in systems if rnd % 2 else systems[::-1]:
                        work = Path(tmp) / f"{system}-{comp}-{int(headers)}-{rnd}"
                        try:
                            result = run(system, comp, headers, rnd, work, flume, args)
                        except BenchError as exc:
                            print(f"round {rnd} {system} {comp}: FAILED: {exc}", flush=True)
                            continue
                        results.append(result)
                        print(result.line(), flush=True)
    for line in summary(results):
        print(line)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
