"""What the side-by-side benchmarks print (kafka_hdfs.py, sources.py, file_channel.py,
peers.py): one :class:`Result` per measured process, its line while the benchmark runs,
markdown tables of the results, the ratio lines of flafka against another system, and a
summary of medians with the ratios. Formatting only: nothing here measures.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

LINE = 100
"""Body bytes of one event in every benchmark's data (MB/s = events/s x LINE / 1e6)."""

T = TypeVar("T")
Column = tuple[str, Callable[[T], object]]
"""A table column: its header and the cell of one row (formatted with ``str``)."""


@dataclass
class Result:
    """One measured process (an agent, Flume's JVM, rsyslogd, kcat) on one pipeline."""

    pipeline: str
    system: str
    round: int
    events: int
    wall: float
    cpu: float
    rss_mb: float
    note: str = ""
    first_at: float = 0.0
    """Seconds from exec to the first sample that saw delivered events."""
    first_events: int = 0
    """Events delivered at that sample."""
    idle: float = 0.0
    """Seconds of the wall time spent waiting for hdfs.idleTimeout to close the last file
    (Flume rolls by size only when the NEXT event arrives; see kafka_hdfs.py)."""
    cpu_first: float = 0.0
    """CPU seconds used up to the first sample that saw delivered events (start-up)."""
    threads: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the process's live threads by name at the moment of completion."""

    @property
    def rate(self) -> float:
        return self.events / self.wall if self.wall else 0.0

    @property
    def rate_adj(self) -> float:
        return self.events / (self.wall - self.idle) if self.wall > self.idle else 0.0

    @property
    def steady(self) -> float:
        """Events/s from the first delivered event to the last."""
        span = self.wall - self.first_at
        return (self.events - self.first_events) / span if span > 0 else 0.0

    @property
    def steady_adj(self) -> float:
        span = self.wall - self.idle - self.first_at
        return (self.events - self.first_events) / span if span > 0 else 0.0

    @property
    def mb_s(self) -> float:
        return self.rate * LINE / 1e6

    @property
    def us_per_event(self) -> float:
        """CPU microseconds (all threads) per event delivered."""
        return self.cpu / self.events * 1e6 if self.events else 0.0

    def line(self, per_event: bool = False) -> str:
        """The line printed when the run ends; ``per_event`` adds CPU µs per event."""
        cpu = f"cpu {self.cpu:6.2f} s" + (f" ({self.us_per_event:5.2f} us/ev)" if per_event else "")
        return (
            f"{self.pipeline:<12} run {self.round}  {self.system:<7} {self.events:>10,} ev  {self.wall:7.2f} s  "
            f"{self.rate:>10,.0f} ev/s ({self.mb_s:6.1f} MB/s)  steady {self.steady:>10,.0f} ev/s  "
            f"{cpu}  peak RSS {self.rss_mb:7.1f} MB  {self.note}"
        ).rstrip()


def table(columns: Sequence[Column[T]], rows: Iterable[T]) -> list[str]:
    """A markdown table: the header line, the separator, one line per row."""
    out = ["| " + " | ".join(head for head, _ in columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(cell(row)) for _, cell in columns) + " |" for row in rows]
    return out


def ratios(a: Result, b: Result, adj: str = "") -> str:
    """``a`` against ``b``: events/s (and steady), CPU seconds, peak RSS; ``adj`` goes
    right after the events/s ratio."""
    return (
        f"events/s {a.rate / b.rate:.2f}x (steady {a.steady / b.steady:.2f}x){adj}, "
        f"CPU s {a.cpu / b.cpu:.2f}x, peak RSS {a.rss_mb / b.rss_mb:.2f}x"
    )


def ratio_line(pipeline: str, rnd: int, label: str, a: Result, b: Result, goal: str, adj: str = "") -> str:
    """``<pipeline> run <n>  <label>: <ratios>   [<goal>]`` (one line per round and pair)."""
    return f"{pipeline:<12} run {rnd}  {label}: {ratios(a, b, adj)}   [{goal}]"


def by_system(results: Iterable[Result], pipeline: str) -> dict[str, list[Result]]:
    """``pipeline``'s results grouped by system, in the order systems first appear."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        if r.pipeline == pipeline:
            groups.setdefault(r.system, []).append(r)
    return groups


def median_line(results: Sequence[Result], pipeline: str, a: str = "flafka", b: str = "Flume") -> str | None:
    """Median events/s of ``a`` and ``b`` and their ratio; ``a``'s worst peak RSS against
    ``b``'s lowest. None unless both ran ``pipeline``."""
    groups = by_system(results, pipeline)
    if not groups.get(a) or not groups.get(b):
        return None
    ar, br = statistics.median(r.rate for r in groups[a]), statistics.median(r.rate for r in groups[b])
    am, bm = max(r.rss_mb for r in groups[a]), min(r.rss_mb for r in groups[b])
    return (
        f"{pipeline}: median events/s {a} {ar:,.0f}, {b} {br:,.0f} ({ar / br:.2f}x); "
        f"worst peak RSS {a} {am:.1f} MB vs {b}'s lowest {bm:.1f} MB ({am / bm:.2f}x)"
    )


def summary(results: Sequence[Result], pipeline: str, label: str, base: str = "flafka") -> list[str]:
    """A markdown table of ``pipeline``'s medians per system (events/s, CPU s, CPU µs per
    event, peak RSS; ``runs`` = how many) and ``base``'s ratio to each (base / system:
    above 1 means ``base`` is faster, uses more CPU, or more memory)."""
    groups = by_system(results, pipeline)
    ref = groups.get(base)

    def med(rs: list[Result], value: Callable[[Result], float]) -> float:
        return statistics.median(value(r) for r in rs)

    rows: list[list[str]] = []
    for system, rs in groups.items():
        rate, cpu = med(rs, lambda r: r.rate), med(rs, lambda r: r.cpu)
        us, rss = med(rs, lambda r: r.us_per_event), med(rs, lambda r: r.rss_mb)
        cells = [label, system, str(len(rs)), f"{rate:,.0f}", f"{cpu:.2f}", f"{us:.2f}", f"{rss:.1f}"]
        if ref and system != base:
            cells += [
                f"{med(ref, lambda r: r.rate) / rate:.2f}x",
                f"{med(ref, lambda r: r.us_per_event) / us:.2f}x" if us else "-",
                f"{med(ref, lambda r: r.rss_mb) / rss:.2f}x" if rss else "-",
            ]
        else:
            cells += ["", "", ""]
        rows.append(cells)
    heads = ["pipeline", "system", "runs", "median events/s", "CPU s", "CPU µs/event", "peak RSS MB"]
    heads += [f"{base}/system events/s", f"{base}/system CPU per event", f"{base}/system peak RSS"]
    return table([(h, operator.itemgetter(i)) for i, h in enumerate(heads)], rows)


def emit(text: str) -> None:
    """Print the final tables after a blank line."""
    print("\n" + text, flush=True)


__all__ = ["LINE", "Column", "Result", "by_system", "emit", "median_line", "ratio_line", "ratios", "summary", "table"]


def compile_sources(trees: Iterable[Path]) -> str:
    """Byte-compile the flafka package sources under each tree (``<tree>/flafka-*/src``),
    as ``pip install`` of a wheel does, and say so in one line.

    An editable install under ``PYTHONDONTWRITEBYTECODE=1`` (set on the project's machines)
    otherwise recompiles every flafka module at each agent's start: about a third of its
    start-up CPU, which no installed agent pays. ``compileall`` writes the ``.pyc`` files
    whatever that variable says; ``__pycache__`` is ignored by git.
    """
    import compileall

    done = []
    for tree in trees:
        for src in sorted(Path(tree).glob("flafka-*/src")):
            compileall.compile_dir(str(src), quiet=1)
            done.append(str(src))
    return f"byte-compiled (as a wheel install does): {', '.join(done) or 'nothing'}"
