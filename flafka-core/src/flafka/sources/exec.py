"""The ``exec`` source (Flume's ``ExecSource``): runs a command and turns each line of its
standard output into an event.

Flume's behaviour, kept: ``command`` is split on whitespace and run directly, or, with
``shell``, run as ``<shell words> <command>`` (``shell = /bin/sh -c`` for pipes and
wildcards); lines end at ``\\n``, ``\\r`` or ``\\r\\n`` (Java's ``readLine``) and the body
is the line in ``charset``; a batch goes to the channels when it holds ``batchSize``
events or ``batchTimeout`` ms passed since the last one; with ``restart`` the command is
run again ``restartThrottle`` ms after it ends; ``logStdErr`` logs its standard error.

**It cannot replay** (Flume's documented warning, repeated by ``flafka validate``): what
the command wrote is not kept anywhere else, so events in a memory channel are lost on a
crash, and a command restarted by ``restart`` starts over (``tail -F`` re-reads its last
lines). Use ``TAILDIR`` or ``spooldir`` for files.

Differences: a batch the channels refuse is held and retried — reading pauses and the
command blocks on its full pipe (Flume kills the command and loses the batch); bytes
invalid in ``charset`` are kept (Flume writes U+FFFD); a line longer than
``maxLineLength`` (a flafka key) is cut and counted, so memory stays bounded.

The command never outlives the agent: it runs in its own process group, and a watchdog
(``/bin/sh`` waiting on a pipe only the agent holds) kills that whole group as soon as the
agent's end of the pipe closes — on a clean stop, and when the agent is SIGKILLed.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time

from flafka.event import Event
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.source import EventDrivenSource
from flafka.sources.netbase import Delivery, Throttled
from flafka.sources.readline import ReadLineSplitter

log = logging.getLogger(__name__)

_READ = 65536
_WATCHDOG = "read _ ; kill -9 -$0 2>/dev/null"
"""Blocks until the agent's end of its stdin pipe closes, then kills process group $0."""


def command_args(command: str, shell: str | None) -> list[str]:
    """The argv Flume builds: ``shell.split() + [command]`` or ``command.split()``."""
    if shell:
        return [*shell.split(), command]
    return command.split()


class ChildProcess:
    """A command in its own process group, with a watchdog that kills the group when the
    agent goes away. ``stdout``/``stderr`` are pipes; stdin is /dev/null."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        read_end, self._lifeline = os.pipe()
        try:
            self.watchdog = subprocess.Popen(["/bin/sh", "-c", _WATCHDOG, str(self.proc.pid)], stdin=read_end, start_new_session=True)
        except OSError:
            self.kill_group(signal.SIGKILL)
            raise
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 1.0) -> int | None:
        """SIGTERM the group, SIGKILL it after ``grace`` s; reap; retire the watchdog.
        Returns the command's exit code."""
        if self.proc.poll() is None:
            self.kill_group(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group(signal.SIGKILL)  # what is left of the group (pipeline members)
        code = self.proc.wait()
        self.retire()
        return code

    def retire(self) -> None:
        """The group is gone: stop the watchdog without letting it fire."""
        if self.watchdog.poll() is None:
            self.watchdog.kill()
        self.watchdog.wait()
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1


class ExecSource(EventDrivenSource):
    """Events from the lines a command writes to its standard output."""

    type_name = "exec"
    aliases = ("org.apache.flume.source.ExecSource",)
    summary = "Events from the output lines of a command (cannot replay: no delivery guarantee)"
    settings_schema = Schema(
        Setting("command", "str", REQUIRED, "the command to run, split on whitespace (use shell for pipes)"),
        Setting("shell", "str", None, "shell that runs the command, e.g. /bin/sh -c or /bin/bash -c"),
        Setting("restart", "bool", False, "run the command again when it ends"),
        Setting("restartThrottle", "int", 10000, "ms to wait before running it again", minimum=0),
        Setting("logStdErr", "bool", False, "log the command's standard error lines (INFO)"),
        Setting("batchSize", "int", 20, "most events per batch handed to the channels", minimum=1),
        Setting("batchTimeout", "int", 3000, "ms after which an incomplete batch is handed on", minimum=1),
        Setting("charset", "charset", "UTF-8", "charset of the command's output"),
        Setting("maxLineLength", "int", 1 << 20, "flafka: longest line in characters; longer ones are cut", minimum=1),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        return [
            Problem(
                "command",
                "the exec source cannot replay: lines the command wrote that were not delivered yet are lost when the "
                "agent stops or dies, and a restarted command starts over (Flume's documented warning)",
                "to read log files reliably use TAILDIR or spooldir instead",
                "warning",
            )
        ]

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.command = str(settings["command"])
        self.shell: str | None = settings["shell"] or None
        self.restart = bool(settings["restart"])
        self.throttle = int(settings["restartThrottle"]) / 1000.0
        self.log_stderr = bool(settings["logStdErr"])
        self.batch = int(settings["batchSize"])
        self.timeout = int(settings["batchTimeout"]) / 1000.0
        self.charset = str(settings["charset"])
        self.max_line = int(settings["maxLineLength"])
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: ChildProcess | None = None
        self._child_lock = threading.Lock()
        self._warn = Throttled(log)
        self._delivery: Delivery | None = None
        self.runs = 0
        """How many times the command was started."""

    @property
    def child_pid(self) -> int | None:
        child = self._child
        return child.pid if child else None

    def start(self) -> None:
        self._stopping.clear()
        self._delivery = Delivery(self)
        self._thread = threading.Thread(target=self._run, name=f"exec-{self.name}", daemon=True)
        self._thread.start()
        log.info("exec source '%s' starting command: %s", self.name, self.command)

    def stop(self) -> None:
        """Stop restarting, end the command's process group, hand on the lines read
        (bounded: about 5 s)."""
        self._stopping.set()
        with self._child_lock:
            child = self._child
        if child is not None:
            child.kill_group(signal.SIGTERM)
        if self._thread is not None:
            self._thread.join(5.0)
            if self._thread.is_alive() and child is not None:
                child.kill_group(signal.SIGKILL)
                self._thread.join(2.0)
            self._thread = None

    # -- the runner thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            code: int | None = None
            try:
                argv = command_args(self.command, self.shell)
                child = ChildProcess(argv)
            except OSError as exc:
                self.counter.error("command_failed", "receiving")
                self._warn.warn(
                    "spawn", "exec source '%s': cannot run %r: %s (check command; for pipes or shell syntax set shell = /bin/sh -c)",
                    self.name, self.command, exc.strerror or exc,
                )  # fmt: skip
            else:
                with self._child_lock:
                    self._child = child
                self.runs += 1
                try:
                    self._pump(child)
                finally:
                    code = child.stop()
                    with self._child_lock:
                        self._child = None
            if not self.restart or self._stopping.is_set():
                log.info("exec source '%s': command [%s] exited with %s", self.name, self.command, code)
                break
            log.info("exec source '%s': restarting in %d ms, exit code %s", self.name, int(self.throttle * 1000), code)
            self._stopping.wait(self.throttle)

    def _pump(self, child: ChildProcess) -> None:
        assert child.proc.stdout is not None and child.proc.stderr is not None
        out_fd, err_fd = child.proc.stdout.fileno(), child.proc.stderr.fileno()
        lines = ReadLineSplitter(self.charset, self.max_line)
        errs = ReadLineSplitter(self.charset, self.max_line)
        fds = [out_fd, err_fd]
        pending: list[Event] = []
        last_push = time.monotonic()
        err_count = 0
        cut_seen = invalid_seen = 0
        try:
            while out_fd in fds:
                wait = max(0.0, last_push + self.timeout - time.monotonic()) if pending else 0.5
                ready, _, _ = select.select(fds, [], [], wait)
                for fd in ready:
                    data = os.read(fd, _READ)
                    if not data:
                        fds.remove(fd)
                    if fd == err_fd:
                        for line in errs.feed(data, final=not data):
                            err_count += 1
                            if self.log_stderr:
                                log.info("StderrLogger[%d] = '%s'", err_count, line.decode(self.charset, "replace"))
                        continue
                    got = lines.feed(data, final=not data)
                    if lines.cut != cut_seen or lines.invalid != invalid_seen:
                        self._report(lines, cut_seen, invalid_seen)
                        cut_seen, invalid_seen = lines.cut, lines.invalid
                    for body in got:
                        pending.append(Event(body))
                        if len(pending) >= self.batch:
                            self._flush(pending)
                            pending = []
                            last_push = time.monotonic()
                if pending and time.monotonic() - last_push >= self.timeout:
                    self._flush(pending)
                    pending = []
                    last_push = time.monotonic()
        finally:
            if pending:
                self._flush(pending)

    def _report(self, lines: ReadLineSplitter, cut_seen: int, invalid_seen: int) -> None:
        if lines.cut != cut_seen:
            self.counter.error("line_cut", "receiving", lines.cut - cut_seen)
            self._warn.warn(
                "cut", "exec source '%s': the command wrote a line longer than maxLineLength (%d chars); it was cut into "
                "several events (raise maxLineLength if such lines are valid)", self.name, self.max_line,
            )  # fmt: skip
        if lines.invalid != invalid_seen:
            self.counter.error("invalid_encoding", "receiving", lines.invalid - invalid_seen)
            self._warn.warn(
                "encoding", "exec source '%s': the command wrote bytes that are not valid %s; they are kept as written "
                "(set charset to the command's output charset)", self.name, self.charset,
            )  # fmt: skip

    def _flush(self, events: list[Event]) -> None:
        """Hand ``events`` on; retry while the channels refuse them (the command blocks on
        its pipe meanwhile). After a stop request, give up after 5 s (logged, counted)."""
        assert self._delivery is not None
        delay = 0.05
        deadline: float | None = None
        while True:
            try:
                self._delivery.put(events)
                return
            except Exception as exc:
                events = events[int(getattr(exc, "committed", 0)) :]
                self._warn.warn(
                    "channel", "exec source '%s': the channels refused %d events (%s); holding them and retrying",
                    self.name, len(events), exc,
                )  # fmt: skip
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + 5.0
                if time.monotonic() > deadline:
                    self.counter.discarded += len(events)
                    log.warning("exec source '%s': stopping with %d events the channels refused; they are lost", self.name, len(events))
                    return
                time.sleep(delay)
            else:
                self._stopping.wait(delay)
            delay = min(delay * 2, 1.0)


COMPONENTS = [ExecSource]
