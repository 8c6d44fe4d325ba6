"""The HDFS sink's data path, before and after a change, in one run: flafka only, the same
Flume properties text for every variant, alternating which variant goes first.

    python benchmarks/hdfs_path.py [PIPELINE ...] [--before REV] [--variant NAME=DIR ...]

Pipelines (100-byte events, batches of 1000, memory channel 100,000 / 1,000, HDFS
``DataStream`` with files rolled by size, as in kafka_hdfs.py's ``kafka-hdfs``):
  kafka-hdfs  Kafka source -> memory -> HDFS (the topic filled once per round by kcat)
  spool-hdfs  spooldir -> memory -> HDFS (the spooldir source emits column-wise batches)

Variants: ``this`` is this checkout. ``--before REV`` adds ``before``: flafka-hdfs's sources
at git revision REV (``git archive`` into the work directory), put first on the agent's
PYTHONPATH, so only the HDFS package differs. ``--variant NAME=DIR`` adds any directory
holding a ``flafka_hdfs`` package the same way. Each measured agent is watched from outside
until the closed (renamed) files of its HDFS directory hold N x 101 bytes (kafka_hdfs.py's
``watch``: CPU s of all threads, peak RSS = VmHWM), then stopped. The machine may be shared:
compare the variants within one run (the ratios printed per round), not across runs.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import Result, ratios, summary, table  # noqa: E402
from _services import bench_services  # noqa: E402
from kafka_hdfs import (  # noqa: E402
    CHANNEL,
    HDFS_SINK,
    HDFS_USER,
    KAFKA_SOURCE,
    LINE,
    SPOOL_SOURCE,
    Bench,
    BenchError,
)
from run import machine  # noqa: E402

PIPELINES = ("kafka-hdfs", "spool-hdfs")


class PathBench(Bench):
    """kafka_hdfs.py's Bench (data, topics, agents, HDFS probe), run per variant."""

    def __init__(self, args: argparse.Namespace, work: Path, bootstrap: str, hdfs: Any, variants: dict[str, str]) -> None:
        super().__init__(args, work, bootstrap, hdfs, None)
        self.variants = variants

    def variant_order(self, rnd: int) -> list[str]:
        names = list(self.variants)
        shift = (rnd - 1) % len(names)
        return names[shift:] + names[:shift]

    def hdfs_run(self, pipeline: str, rnd: int, events: int, source: Any) -> None:
        """One agent per variant on ``pipeline``; ``source(variant)`` gives its source keys."""
        assert self.webhdfs is not None and self.hdfs_service is not None
        conf_dir = Path(self.hdfs_service.conf_dir)
        expected = events * (LINE + 1)
        by: dict[str, Result] = {}
        for variant in self.variant_order(rnd):
            path = f"/bench/{self.stamp}-{pipeline}-{rnd}-{variant}"
            conf = CHANNEL + source(variant) + HDFS_SINK.format(path=path, roll_size=self.args.lines_per_file * LINE)
            env = {"HADOOP_CONF_DIR": str(conf_dir), "HADOOP_USER_NAME": HDFS_USER}
            if self.variants[variant]:
                env["PYTHONPATH"] = self.variants[variant] + os.pathsep + os.environ.get("PYTHONPATH", "")
            result = self.run_agent(
                "flafka", f"{pipeline}.{variant}", rnd, conf, total=expected, units=LINE + 1, env=env,
                progress=functools.partial(self.webhdfs.closed_bytes, path),
            )  # fmt: skip
            got = self.webhdfs.closed_bytes(path)
            files = [f for f in self.webhdfs.files(path) if not f.endswith(".tmp")]
            result.pipeline, result.system = pipeline, variant
            result.note = f"{len(files)} files" + ("" if got == expected else f", {got:,} bytes (expected {expected:,})")
            if self.args.profile is not None:
                result.note += " PROFILED"
            self.results.append(result)
            print(result.line(per_event=True), flush=True)
            by[variant] = result
            self.webhdfs.delete(path)
        names = list(self.variants)
        for other in names[1:]:
            a, b = by[names[0]], by[other]
            print(f"{pipeline:<12} run {rnd}  {names[0]}/{other}: {ratios(a, b)}", flush=True)

    def run(self) -> None:
        a = self.args
        warm = self.kcat(0, a.hdfs_events, "warmup", record=False)
        self.kafka.delete_topics([warm])
        for rnd in range(1, a.runs + 1):
            if "kafka-hdfs" in a.pipelines:
                topic = self.kcat(rnd, a.hdfs_events, "hdfs", record=False)

                def kafka(variant: str, rnd: int = rnd, topic: str = topic) -> str:
                    group = f"bench-{self.stamp}-hdfs-{rnd}-{variant}"
                    return KAFKA_SOURCE.format(bootstrap=self.bootstrap, topic=topic, group=group)

                self.hdfs_run("kafka-hdfs", rnd, a.hdfs_events, kafka)
                self.kafka.delete_topics([topic])
            if "spool-hdfs" in a.pipelines:
                files = self.generate(a.hdfs_events)

                def spool(variant: str, rnd: int = rnd, files: list[Path] = files) -> str:
                    directory = self.work / f"spool-{rnd}-{variant}"
                    directory.mkdir()
                    for f in files:
                        os.link(f, directory / f.name)
                    return SPOOL_SOURCE.format(spool=directory)

                self.hdfs_run("spool-hdfs", rnd, a.hdfs_events, spool)

    def markdown(self) -> str:
        columns = [
            ("pipeline", lambda r: r.pipeline),
            ("variant", lambda r: r.system),
            ("run", lambda r: r.round),
            ("events", lambda r: f"{r.events:,}"),
            ("wall s", lambda r: f"{r.wall:.2f}"),
            ("MB/s", lambda r: f"{r.mb_s:.1f}"),
            ("events/s", lambda r: f"{r.rate:,.0f}"),
            ("steady events/s", lambda r: f"{r.steady:,.0f}"),
            ("CPU s", lambda r: f"{r.cpu:.2f}"),
            ("CPU µs/event", lambda r: f"{r.us_per_event:.2f}"),
            ("peak RSS MB", lambda r: f"{r.rss_mb:.1f}"),
            ("note", lambda r: r.note),
        ]
        lines = table(columns, self.results)
        base = next(iter(self.variants))
        for pipeline in self.args.pipelines:
            lines += ["", *summary(self.results, pipeline, pipeline, base=base)]
        return "\n".join(lines)


def archive(rev: str, into: Path) -> str:
    """flafka-hdfs's package at ``rev``, unpacked under ``into``; returns its src directory."""
    into.mkdir(parents=True, exist_ok=True)
    repo = HERE.parent
    tar = subprocess.run(["git", "-C", str(repo), "archive", rev, "flafka-hdfs/src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return str(into / "flafka-hdfs" / "src")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", metavar="PIPELINE", help=f"any of {', '.join(PIPELINES)} (default: all)")
    parser.add_argument("--hdfs-events", type=int, default=5_000_000)
    parser.add_argument("--lines-per-file", type=int, default=500_000, help="input file size, and the HDFS roll size / 100")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measured process")
    parser.add_argument("--before", metavar="REV", help="add the variant 'before': flafka-hdfs at this git revision")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR", help="a flafka_hdfs package directory")
    parser.add_argument("--no-this", action="store_true", help="leave this checkout's variant out")
    parser.add_argument("--run-dir", type=Path, default=None, help="FLAFKA_RUN_DIR for the services (default: a new temp dir)")
    parser.add_argument("--keep-services", action="store_true", help="leave the services running at the end")
    parser.add_argument("--keep-work", action="store_true", help="keep the data, configs and logs directory")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the agents into this directory (slows them)")
    args = parser.parse_args()
    args.pipelines = args.pipelines or list(PIPELINES)
    args.systems, args.flume_heap = ["flafka"], "512m"
    unknown = set(args.pipelines) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(sorted(unknown))}; choose from {', '.join(PIPELINES)}")

    work = Path(tempfile.mkdtemp(prefix="flafka-bench-hdfs-path-"))
    variants: dict[str, str] = {} if args.no_this else {"this": ""}
    if args.before:
        variants["before"] = archive(args.before, work / "before")
    for spec in args.variant:
        name, _, directory = spec.partition("=")
        variants[name] = str(Path(directory).resolve())
    if not variants:
        parser.error("no variant to run")

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"variants: {variants}", flush=True)
    status = 0
    bench = None
    try:
        with bench_services(["kafka", "hdfs"], args.run_dir, args.keep_services) as services:
            try:
                print(f"work dir: {work}; FLAFKA_RUN_DIR={services.run_dir}", flush=True)
                bench = PathBench(args, work, services.address("kafka"), services["hdfs"], variants)
                bench.run()
            finally:
                if bench is not None:
                    bench.report_and_close()
                    print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
