"""Progress of ``flafka agent --exit-when-drained`` over the backlog of each replayable
source that reports one (``source.backlog()``, see :mod:`flafka.backlog`).

A :class:`ProgressReporter` thread reads the backlogs and the sources' counters once a
second (never on the data path). On a terminal (stderr is a tty and ``rich`` is
installed) it draws a bar per source with events/s and an ETA; otherwise it logs a plain
line per source every ``flafka.progress.interval`` seconds (default 10) on the
``flafka.progress`` logger, and a last line when it stops.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flafka.backlog import Backlog

log = logging.getLogger("flafka.progress")

DEFAULT_INTERVAL = 10.0


def _size(value: float, unit: str) -> str:
    if unit != "bytes":
        return f"{int(value):,}"
    for name in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or name == "GiB":
            return f"{int(value):,} B" if name == "B" else f"{value:,.1f} {name}"
        value /= 1024
    return ""  # pragma: no cover


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@dataclass
class SourceProgress:
    """Rates of one source, smoothed over the last readings."""

    name: str
    type: str
    backlog: Backlog
    events: float
    at: float
    started: float
    done_rate: float = 0.0
    event_rate: float = 0.0
    history: list[tuple[float, float, float]] = field(default_factory=list)

    def update(self, backlog: Backlog, events: float, at: float, window: float = 10.0) -> None:
        self.history.append((at, float(backlog.done), events))
        while len(self.history) > 2 and at - self.history[0][0] > window:
            self.history.pop(0)
        first_at, first_done, first_events = self.history[0]
        elapsed = at - first_at
        if elapsed > 0:
            self.done_rate = max(0.0, (backlog.done - first_done) / elapsed)
            self.event_rate = max(0.0, (events - first_events) / elapsed)
        self.backlog, self.events, self.at = backlog, events, at

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; 0 when nothing is left, None when unknown."""
        if self.backlog.left == 0:
            return 0.0
        return self.backlog.left / self.done_rate if self.done_rate > 0 else None

    def line(self) -> str:
        b = self.backlog
        pct = b.done * 100.0 / b.total if b.total else 100.0
        parts = [
            f"source {self.name}" + (f" ({self.type})" if self.type else "") + f": {pct:.1f}%",
            f"{_size(b.done, b.unit)}/{_size(b.total, b.unit)}" + ("" if b.unit == "bytes" else f" {b.unit}"),
        ]
        if b.detail:
            parts.append(b.detail)
        parts.append(f"{self.event_rate:,.0f} events/s")
        parts.append(f"ETA {eta_text(self.eta)}")
        return ", ".join(parts)


class ProgressReporter(threading.Thread):
    """Reads ``sources()`` (name -> source) once a second until :meth:`stop`."""

    def __init__(
        self,
        sources: Callable[[], dict[str, Any]],
        *,
        terminal: bool | None = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="flafka-progress", daemon=True)
        self._sources = sources
        self._clock = clock
        self.interval = max(0.1, interval)
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.progress: dict[str, SourceProgress] = {}
        self._stop_event = threading.Event()
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._redirected: list[tuple[logging.StreamHandler[Any], Any]] = []

    def sample(self) -> list[SourceProgress]:
        """Read every source that reports a backlog once; returns their progress."""
        now = self._clock()
        out: list[SourceProgress] = []
        for name, source in list(self._sources().items()):
            backlog_of = getattr(source, "backlog", None)
            if not callable(backlog_of):
                continue
            try:
                backlog = backlog_of()
            except Exception:
                log.debug("source '%s': backlog() failed", name, exc_info=True)
                continue
            if not isinstance(backlog, Backlog):
                continue
            counter = getattr(source, "counter", None)
            events = float(getattr(counter, "event_accepted_count", 0))
            state = self.progress.get(name)
            if state is None:
                state = SourceProgress(name, getattr(counter, "component_type", ""), backlog, events, now, now)
                self.progress[name] = state
            state.update(backlog, events, now)
            out.append(state)
        return out

    def _start_bars(self) -> bool:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
        except ImportError:
            log.info("progress bars need rich (pip install 'flafka-core[top]'); logging progress lines instead")
            return False
        self._bars = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[amount]}"),
            TextColumn("{task.fields[detail]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=False,
            redirect_stderr=True,
        )
        original = sys.stderr
        self._bars.start()
        # log lines go through rich (above the bars) instead of breaking into them
        if sys.stderr is not original:
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                    handler.setStream(sys.stderr)
                    self._redirected.append((handler, original))
        return True

    def _stop_bars(self) -> None:
        for handler, stream in self._redirected:
            handler.setStream(stream)
        self._bars.stop()

    def _draw(self, states: list[SourceProgress]) -> None:
        bars = self._bars
        for state in states:
            b = state.backlog
            fields = {
                "amount": f"{_size(b.done, b.unit)}/{_size(b.total, b.unit)}",
                "detail": b.detail,
                "rate": f"{state.event_rate:,.0f} events/s",
                "eta": eta_text(state.eta),
            }
            total, done = (b.total, b.done) if b.total else (1, 1)  # nothing to read: complete
            task = self._tasks.get(state.name)
            if task is None:
                self._tasks[state.name] = bars.add_task(f"source {state.name}", total=total, completed=done, **fields)
            else:
                bars.update(task, total=total, completed=done, **fields)
        bars.refresh()

    def run(self) -> None:
        bars = self.terminal and self._start_bars()
        next_line = self._clock() + self.interval
        self.sample()  # the baseline the first rates are measured from
        try:
            while not self._stop_event.wait(1.0 if bars else min(1.0, self.interval)):
                states = self.sample()
                if bars:
                    self._draw(states)
                elif self._clock() >= next_line:
                    next_line = self._clock() + self.interval
                    for state in states:
                        log.info("%s", state.line())
            states = self.sample()
            if bars:
                self._draw(states)
            else:
                for state in states:
                    log.info("%s", state.line())
        finally:
            if bars:
                self._stop_bars()

    def stop(self, timeout: float = 5.0) -> None:
        """Draw or log the last state and end the thread."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)
