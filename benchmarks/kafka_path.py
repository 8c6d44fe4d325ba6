"""Where the CPU of files -> Kafka goes, stage by stage, and what the directions of issue 15
would save: a micro-benchmark of flafka's own classes in ONE thread (no runtime threads,
no agent), each variant in a fresh process. Figures go to benchmarks/RESULTS.md ("Peers:
rsyslog and kcat (issue 15)"). Not the product: the "bodies" variants are prototypes.

Cumulative Python-only variants (no broker; CPU of the one thread):
  split        LineDeserializer.read(1000) over the files (spooldir's reader)
  events       + one Event per line (SpoolDirectorySource._events)
  channel      + MemoryChannel put/commit and take/commit per batch (100,000 / 1,000)
  timestamp    channel + flafka's timestamp interceptor on each batch (one clock reading
               per batch, a header dict per event): what an interceptor costs per event
  records      channel + the Kafka sink's record per event ({"value", "callback": partial}),
               as KafkaSink._produce_batch builds them, without producing
To the broker (acks=1, 4 partitions; CPU of the whole process: librdkafka's threads too;
the topic's end offsets must reach N):
  sink         split + the column-wise Batch of bodies spooldir emits + channel + the real
               KafkaSink.send / wait, max_pending_batches in flight (the runtime's
               pipelining; --depth overrides it): today's data path without threads
  sink-events  as sink, but the channel holds one Event per line (list[Event], as before
               column-wise batches): the same sink path, plus the Events
  sink-headers as sink, each batch with a header every event shares (as a timestamp
               interceptor adds): the sink's per-record path (Flume's header semantics,
               one delivery callback per record)
  sink-keyed   as sink, each event with its own `key` header (16 keys): the sink's
               record-by-record path (Flume's header semantics, one delivery callback per
               record; the header maps are built in the timed loop too)
  shared-cb    split + channel of bodies + producer.produce(topic, body, None, -1, cb) per
               line through map(), ONE callback object per batch: the sink's header-less
               path without the sink
  events-batch as sink, but each record is {"value": event.body} without the per-record
               delivery callback (and so without confluent-kafka's per-record GIL round
               trip in its delivery-report trampoline): the price of that callback
  bodies       split + channel holding the bodies lists (no Event) + produce_batch with
               {"value": body} per record, no per-record callback, one flush per two
               batches: bodies straight to librdkafka with confluent-kafka's API as it is
  bodies-loop  split + producer.produce(topic, body) per line (no dict at all)
  native-bodies  split (Python) + channel of bodies + one C call per batch that produces
               every body (benchmarks/native/rdk_lines.c, a CPython extension on Debian's
               librdkafka, built here with gcc; the GIL is released while it produces)
  native-lines Python reads 128 KiB chunks; C splits each chunk into lines and produces
               them: Python's cost per batch only, the floor of a native extension
  kcat         ``kcat -P -X acks=1`` on the concatenated file: librdkafka without Python
The native variants need gcc and librdkafka-dev (apt-get install librdkafka-dev); without
them they are left out with a message.

    python benchmarks/kafka_path.py [VARIANT[@PROCS] ...] [--events N] [--rounds R] [--procs P] [--bootstrap HOST:PORT]

VARIANT@PROCS (or --procs for all) runs PROCS processes of the variant at once, each on its
share of the files (several processes behind one agent, issue 15 item 4): events and CPU
add up, the wall time is the slowest one's.

Without --bootstrap the test kit's Kafka broker is used, started if it does not run yet, in
--run-dir, else the kit's own run directory ($FLAFKA_RUN_DIR, else <cache>/run), and stopped
at the end only if this run started it (the directory is kept). Rounds alternate the order
of the variants.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "flafka-testkit" / "src"))
sys.path.insert(0, str(HERE))
from _services import bench_services  # noqa: E402

LOCAL = ("split", "events", "channel", "timestamp", "records")
BROKER = (
    "sink",
    "sink-events",
    "sink-headers",
    "sink-keyed",
    "shared-cb",
    "events-batch",
    "bodies",
    "bodies-loop",
    "native-bodies",
    "native-lines",
    "kcat",
)
NATIVE = ("native-bodies", "native-lines")
VARIANTS = LOCAL + BROKER
BATCH = 1000
KEYS = [f"key-{i}" for i in range(16)]


def cpu_self() -> float:
    """CPU seconds (user + system) of every thread of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def vm_hwm() -> float:
    """This process's peak RSS (MB) since its exec (ru_maxrss would start from the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def lines(files: list[Path]) -> Any:
    """Batches of up to 1000 bodies from spooldir's LineDeserializer, file after file."""
    from flafka.sources.deserializers import LineDeserializer

    for path in files:
        with open(path, "rb", buffering=0) as fobj:
            deser = LineDeserializer(fobj)
            while True:
                bodies = deser.read(BATCH)
                if not bodies:
                    break
                yield bodies


def build_native(out: Path) -> Path | None:
    """Compile benchmarks/native/rdk_lines.c into ``out``; None (and why, printed) when it
    cannot be built."""
    import sysconfig

    gcc = shutil.which("gcc")
    if gcc is None or not Path("/usr/include/librdkafka/rdkafka.h").exists():
        print("native variants left out: they need gcc and librdkafka-dev (apt-get install gcc librdkafka-dev)", flush=True)
        return None
    target = out / f"rdk_lines{sysconfig.get_config_var('EXT_SUFFIX')}"
    argv = [gcc, "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", str(HERE / "native" / "rdk_lines.c"),
            "-lrdkafka", "-o", str(target)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        print(f"native variants left out: building rdk_lines failed:\n{done.stderr}", flush=True)
        return None
    return out


def chunks(files: list[Path], size: int = 128 << 10) -> Any:
    """Chunks of whole lines (each ends with a newline) of about ``size`` bytes."""
    for path in files:
        with open(path, "rb", buffering=0) as fobj:
            rest = b""
            while data := fobj.read(size):
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest += data
                    continue
                yield rest + data[:cut] if rest else data[:cut]
                rest = data[cut:]
            if rest:
                yield rest + b"\n"


def run_one(variant: str, files: list[Path], bootstrap: str, topic: str, depth: int = 0) -> dict[str, float]:
    """One variant in this process; returns wall s, process CPU s, this thread's CPU s."""
    from flafka.batch import Batch
    from flafka.channels.memory import MemoryChannel
    from flafka.event import Event
    from flafka.testing import make
    from flafka.tuning import tune_gc

    channel = make(MemoryChannel, "c1", capacity=100000, transactionCapacity=BATCH)
    producer: Any = None
    sink: Any = None
    if variant.startswith("sink"):
        from flafka_kafka.sink import KafkaSink

        sink = make(KafkaSink, "k1", **{"kafka.bootstrap.servers": bootstrap, "kafka.topic": topic, "flumeBatchSize": BATCH,
                                        "kafka.producer.acks": "1"})  # fmt: skip
        if depth:
            sink.max_pending_batches = depth
        sink.start()
    elif variant in ("events-batch", "bodies", "bodies-loop", "shared-cb"):
        from confluent_kafka import Producer

        # the sink's own settings (flafka_kafka.sink._producer_conf): linger 1 ms, error reports only
        producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 1, "delivery.report.only.error": True})
    elif variant in NATIVE:
        import rdk_lines  # built by build_native

        producer = rdk_lines.producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": "1"})
    tune_gc()  # as the agent does at start (flafka/tuning.py)

    def through_channel(batch: Any) -> Any:
        """Put ``batch`` (a list of events or bodies, or a Batch) and take it back."""
        put = channel.put_transaction()
        put.put(batch)
        put.commit()
        take = channel.take_transaction()
        got = take.take(BATCH)
        take.commit()
        return got

    wall0, cpu0, thread0 = time.perf_counter(), cpu_self(), time.thread_time()
    n = 0
    if variant == "split":
        for bodies in lines(files):
            n += len(bodies)
    elif variant == "events":
        for bodies in lines(files):
            n += len([Event(b) for b in bodies])
    elif variant == "channel":
        for bodies in lines(files):
            n += len(through_channel([Event(b) for b in bodies]))
    elif variant == "timestamp":
        from flafka.interceptors.builtin import TimestampInterceptor

        stamp = make(TimestampInterceptor, "i1").intercept
        for bodies in lines(files):
            n += len(through_channel(stamp([Event(b) for b in bodies])))
    elif variant == "records":
        import functools

        def report(i: int, err: Any, msg: Any) -> None:
            pass

        for bodies in lines(files):
            events = through_channel([Event(b) for b in bodies])
            msgs = [
                {"value": e.body, "key": h.get("key"), "callback": functools.partial(report, i)}
                if (h := e._headers)
                else {"value": e.body, "callback": functools.partial(report, i)}
                for i, e in enumerate(events)
            ]
            n += len(msgs)
    elif variant.startswith("sink"):
        in_flight: list[Any] = []
        shared = {"timestamp": "1700000000000"}
        for bodies in lines(files):
            if variant == "sink-events":
                events = through_channel([Event(b) for b in bodies])
            elif variant == "sink-keyed":
                keys: list[dict[str, str] | None] = [{"key": KEYS[i & 15]} for i in range(len(bodies))]
                events = through_channel(Batch(bodies, keys))
            else:
                events = through_channel(Batch(bodies, common=shared if variant == "sink-headers" else None))
            in_flight.append(sink.send(events))
            n += len(events)
            if len(in_flight) == sink.max_pending_batches and in_flight.pop(0).wait() is not None:
                raise SystemExit("a batch failed")
        for pending in in_flight:
            if pending.wait() is not None:
                raise SystemExit("a batch failed")
    elif variant in ("bodies", "events-batch"):
        produce_batch, flush = producer.produce_batch, producer.flush
        for k, bodies in enumerate(lines(files), 1):
            if variant == "bodies":
                msgs = [{"value": b} for b in through_channel(bodies)]
            else:
                msgs = [{"value": e.body} for e in through_channel([Event(b) for b in bodies])]
            produce_batch(topic, msgs)
            if any("_error" in m for m in msgs):
                raise SystemExit("produce_batch refused records (queue full?)")
            n += len(msgs)
            if k % 2 == 0:  # one flush confirms two batches, as the sink does
                flush(60)
        flush(60)
    elif variant == "bodies-loop":
        produce, poll, flush = producer.produce, producer.poll, producer.flush
        for k, bodies in enumerate(lines(files), 1):
            for b in bodies:
                try:
                    produce(topic, b)
                except BufferError:
                    poll(0.01)
                    produce(topic, b)
            n += len(bodies)
            if k % 2 == 0:
                flush(60)
        flush(60)
    elif variant == "shared-cb":
        from collections import deque
        from itertools import repeat

        produce, flush = producer.produce, producer.flush
        failed: list[Any] = []

        def rejected(err: Any, msg: Any) -> None:  # runs only for failed records
            failed.append(err)

        for k, bodies in enumerate(lines(files), 1):
            batch = through_channel(bodies)
            deque(map(produce, repeat(topic), batch, repeat(None), repeat(-1), repeat(rejected)), maxlen=0)
            n += len(batch)
            if k % 2 == 0:
                flush(60)
        flush(60)
        if failed:
            raise SystemExit(f"{len(failed)} records failed")
    elif variant == "native-bodies":
        for k, bodies in enumerate(lines(files), 1):
            n += rdk_lines.produce_bodies(producer, topic, through_channel(bodies))
            if k % 2 == 0:
                rdk_lines.flush(producer, 60000)
        if rdk_lines.flush(producer, 60000) != (0, 0):
            raise SystemExit("records left or failed")
    elif variant == "native-lines":
        for k, chunk in enumerate(chunks(files), 1):
            n += rdk_lines.produce_lines(producer, topic, chunk)
            if k % 2 == 0:
                rdk_lines.flush(producer, 60000)
        if rdk_lines.flush(producer, 60000) != (0, 0):
            raise SystemExit("records left or failed")
    wall, cpu, thread = time.perf_counter() - wall0, cpu_self() - cpu0, time.thread_time() - thread0
    if sink is not None:
        sink.stop()
    rss = vm_hwm()
    return {"events": n, "wall": wall, "cpu": cpu, "thread": thread, "rss_mb": rss}


def kcat(path: Path, bootstrap: str, topic: str) -> dict[str, float]:
    argv = [shutil.which("kcat") or "kcat", "-P", "-b", bootstrap, "-t", topic, "-X", "acks=1"]
    with open(path, "rb") as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=inp)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"kcat failed with {status}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "thread": float("nan"), "rss_mb": float("nan")}  # ru_maxrss: the parent's at fork


def base(spec: str) -> str:
    """The variant of ``VARIANT[@PROCS]``."""
    return spec.split("@")[0]


def children(argv: list[str], procs: int) -> dict[str, float]:
    """Run ``procs`` copies of a variant at once, copy i on files i, i+procs, ...: the
    events and CPU add up, the wall time is the slowest copy's, RSS the largest."""
    running = [subprocess.Popen([*argv, "--part", str(i), "--procs", str(procs)], stdout=subprocess.PIPE, text=True) for i in range(procs)]
    outs = []
    for proc in running:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv)} failed with exit code {proc.returncode}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "events": sum(o["events"] for o in outs), "wall": max(o["wall"] for o in outs), "cpu": sum(o["cpu"] for o in outs),
        "thread": sum(o["thread"] for o in outs), "rss_mb": max(o["rss_mb"] for o in outs),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--events", type=int, default=2_000_000, help="a multiple of 500,000 (files of 500,000 lines)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bootstrap", default=None, help="Kafka to use (default: start the test kit's broker)")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the test kit's broker")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--topic", default="", help=argparse.SUPPRESS)
    parser.add_argument("--procs", type=int, default=1, help="processes per variant, each on its share of the files (4 files)")
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--native-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--depth", type=int, default=0, help="the sink variants' max_pending_batches (default: the sink's)")
    args = parser.parse_args()
    if args.one:  # a child: one variant, figures as JSON on stdout
        if args.native_dir is not None:
            sys.path.insert(0, str(args.native_dir))
        files = sorted(args.data.glob("data-*.log"))[args.part :: args.procs]
        print(json.dumps(run_one(args.one, files, args.bootstrap or "", args.topic, args.depth)))
        return 0
    variants = args.variants or list(VARIANTS)
    if {v.split("@")[0] for v in variants} - set(VARIANTS) or any(v.startswith("kcat@") for v in variants):
        parser.error(f"unknown variant(s); choose from {', '.join(VARIANTS)}")
    per = 500_000
    if args.events % per:
        parser.error("--events must be a multiple of 500,000")

    from kafka_hdfs import KafkaProbe
    from run import machine

    from flafka_testkit.crash import write_lines

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {args.procs} process(es) per variant", flush=True)
    work = Path(tempfile.mkdtemp(prefix="flafka-kafka-path-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        data = work / "data"
        data.mkdir()
        for i in range(args.events // per):
            write_lines(data / f"data-{i:03d}.log", i * per, per)
        joined = work / "all.log"
        with open(joined, "wb") as out:
            for f in sorted(data.glob("data-*.log")):
                with open(f, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
        native = build_native(work) if any(base(v) in NATIVE for v in variants) else None
        if native is None:
            variants = [v for v in variants if base(v) not in NATIVE]
        bootstrap = args.bootstrap
        probe = None
        if any(base(v) in BROKER for v in variants):
            if bootstrap is None:
                from flafka_testkit.services.base import run_dir

                # --run-dir, else the kit's own (FLAFKA_RUN_DIR or <cache>/run): never removed
                services = stack.enter_context(bench_services(["kafka"], args.run_dir or run_dir()))
                bootstrap = services.address("kafka")
            probe = KafkaProbe(bootstrap)
            warm = f"kafka-path-warm-{os.getpid()}"
            probe.create_topic(warm, 4)
            kcat(joined, bootstrap, warm)  # a broker that just started is slower for its first records
            probe.delete_topics([warm])
        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for rnd in range(1, args.rounds + 1):
            for spec in variants if rnd % 2 else variants[::-1]:
                variant, procs = base(spec), int(spec.split("@")[1]) if "@" in spec else args.procs
                topic = ""
                if variant in BROKER:
                    assert probe is not None and bootstrap is not None
                    topic = f"kafka-path-{os.getpid()}-{variant}-{procs}-{rnd}"
                    probe.create_topic(topic, 4)
                if variant == "kcat":
                    assert bootstrap is not None
                    got = kcat(joined, bootstrap, topic)
                    got["events"] = args.events
                else:
                    argv = [sys.executable, __file__, "--one", variant, "--data", str(data), "--topic", topic]
                    argv += ["--bootstrap", bootstrap] if bootstrap else []
                    argv += ["--native-dir", str(native)] if native else []
                    argv += ["--depth", str(args.depth)] if args.depth else []
                    got = children(argv, procs)
                if variant in BROKER:
                    assert probe is not None
                    held = probe.end_offsets(topic, 4)
                    probe.delete_topics([topic])
                    if held != args.events:
                        raise SystemExit(f"{variant}: the topic holds {held:,} records, not {args.events:,}")
                results[spec].append(got)
                us, th = got["cpu"] / args.events * 1e6, got["thread"] / args.events * 1e6
                print(
                    f"round {rnd}  {spec:<14} {args.events / got['wall']:>10,.0f} ev/s  cpu {got['cpu']:6.2f} s "
                    f"({us:5.2f} us/ev; main thread {th:5.2f} us/ev)  max RSS {got['rss_mb']:6.1f} MB",
                    flush=True,
                )
        print("\n| variant | rounds | median events/s | median CPU µs/event (process) | median CPU µs/event (main thread) | max RSS MB |")
        print("|---|---|---|---|---|---|")
        for variant, runs in results.items():
            rate = statistics.median(args.events / r["wall"] for r in runs)
            us = statistics.median(r["cpu"] / args.events * 1e6 for r in runs)
            th = statistics.median(r["thread"] / args.events * 1e6 for r in runs)
            print(f"| {variant} | {len(runs)} | {rate:,.0f} | {us:.2f} | {th:.2f} | {max(r['rss_mb'] for r in runs):.1f} |")
        if probe is not None:
            probe.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
