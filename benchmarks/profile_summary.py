"""Summarise a py-spy profile of a flafka agent (``py-spy record --threads --idle
[--native] --format raw``, as ``peers.py --profile DIR`` and ``kafka_hdfs.py --profile DIR``
write them; FLAFKA_BENCH_NATIVE=1 adds C frames) by thread and by where the time goes.

Each sample is one thread at one moment. It is *waiting* when its innermost frames are a
wait (a condition variable, a lock, librdkafka's queue wait in ``flush``), split into
waiting for the GIL (a thread that has work but not the interpreter), waiting for
librdkafka (``flush``: the broker's acknowledgements) and idle (a lock or condition:
the channel is full or empty). Every other sample is *busy* and goes to the first
category below whose marker is in its stack. Busy shares approximate CPU shares; with
``--cpu`` (the Python threads' CPU seconds, e.g. peers.py's "CPU by thread name" line for
``python``) and ``--events``, each category is also given in CPU µs per event.

    python benchmarks/profile_summary.py PROFILE.txt [--cpu 3.88 --events 2000000]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

BUSY: list[tuple[str, tuple[str, ...]]] = [
    ("start-up (imports, config)", ("importlib._bootstrap", "load_config", "tune_gc", "<module> (")),
    ("garbage collector", ("gc_collect",)),
    ("delivery reports: a GIL round trip per record (confluent-kafka dr_msg_cb)", ("dr_msg_cb",)),
    ("produce_batch in C (parse each dict, librdkafka enqueue)", ("Producer_produce_batch",)),
    ("record dict + callback per event (KafkaSink._produce_batch)", ("KafkaSink._produce_batch",)),
    ("produce() per record in C, bodies through map (KafkaSink._produce_values)", ("KafkaSink._produce_values",)),
    ("produce() record by record, headers (KafkaSink._produce)", ("KafkaSink._produce (",)),
    ("flush (busy part)", ("Producer_flush",)),
    ("sink: batch outcome (_Delivery.wait)", ("_Delivery.wait",)),
    ("Event objects (SpoolDirectorySource._events)", ("SpoolDirectorySource._events", "Event.__init__")),
    ("reading and splitting lines (LineDeserializer)", ("LineDeserializer",)),
    ("position file (spooldir _flush)", ("SpoolDirectorySource._flush",)),
    ("channel put (ChannelProcessor, memory put)", ("process_batch", "_MemoryPut")),
    ("channel take (memory take)", ("_MemoryTake",)),
    ("spooldir file checks (fstat, scan)", ("SpoolDirectorySource._read_batch", "SpoolDirectorySource._scan")),
]
WAIT_LEAVES = ("pthread_cond_timedwait", "pthread_cond_wait", "PyThread_acquire_lock_timed", "sem_wait", "sem_timedwait",
               "cnd_timedwait", "epoll_wait", "poll (libc", "select (libc", "nanosleep", "futex")  # fmt: skip


def classify(frames: list[str]) -> tuple[bool, str]:
    """(busy, category) of one sample; ``frames`` root first."""
    inner = frames[-4:]
    if any(any(w in f for w in WAIT_LEAVES) for f in inner):
        stack = ";".join(frames)
        if "cnd_timedwait_ms" in stack:
            return False, "waiting for librdkafka (flush: the broker's acknowledgements)"
        if "lock_PyThread_acquire_lock" in stack or "Condition.wait" in stack or "Event.wait" in stack:
            return False, "idle (a lock or condition: channel full or empty, stop event)"
        return False, "waiting for the GIL"
    stack = ";".join(frames)
    for name, markers in BUSY:
        if any(m in stack for m in markers):
            return True, name
    return True, "other (runtime, counters, acknowledgements)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--cpu", type=float, default=None, help="CPU seconds of the sampled (Python) threads")
    parser.add_argument("--events", type=int, default=None, help="events the run delivered")
    parser.add_argument("--skip-startup", action="store_true", help="leave start-up samples out of the busy total")
    args = parser.parse_args()
    threads: dict[str, collections.Counter[tuple[bool, str]]] = collections.defaultdict(collections.Counter)
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        head = frames[0]
        thread = head.split(": ", 1)[1] if ": " in head else "MainThread"
        threads[thread][classify(frames[1:])] += int(count)
    busy_all: collections.Counter[str] = collections.Counter()
    for thread, cats in sorted(threads.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(cats.values())
        busy = sum(n for (b, _), n in cats.items() if b)
        print(f"\n{thread}: {total:,} samples, {busy:,} busy ({busy / total:.0%})")
        for (b, name), n in cats.most_common():
            print(f"  {'busy' if b else 'wait'}  {n / total:6.1%}  {name}")
            if b and not (args.skip_startup and name.startswith("start-up")):
                busy_all[name] += n
    total_busy = sum(busy_all.values())
    print(f"\nbusy samples of all threads: {total_busy:,}")
    scale = args.cpu / total_busy * 1e6 / args.events if args.cpu and args.events and total_busy else None
    print("| where | share of busy samples |" + (" CPU µs per event |" if scale else ""))
    print("|---|---|" + ("---|" if scale else ""))
    for name, n in busy_all.most_common():
        print(f"| {name} | {n / total_busy:.1%} |" + (f" {n * scale:.2f} |" if scale else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
