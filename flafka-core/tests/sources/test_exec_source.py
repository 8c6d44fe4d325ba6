"""The exec source: Flume's keys with real commands; the command never outlives the agent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from flafka.sources.exec import ExecSource, command_args
from flafka.testing import make

from .agentproc import AgentProc
from .conftest import drain, wait_for, wire


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


@pytest.fixture
def sources() -> object:
    started: list[ExecSource] = []

    def start(capacity: int = 1000, tx: int = 100, **keys: object) -> tuple[ExecSource, object]:
        src = make(ExecSource, "e1", **keys)
        ch = wire(src, capacity, tx)
        src.start()
        started.append(src)
        return src, ch

    yield start
    for src in started:
        src.stop()


def test_argv_is_built_as_flume_builds_it() -> None:
    assert command_args("tail -F  /var/log/x", None) == ["tail", "-F", "/var/log/x"]
    assert command_args("tail -F a | grep b", "/bin/sh -c") == ["/bin/sh", "-c", "tail -F a | grep b"]


def test_lines_with_java_terminators_and_unterminated_last_line(sources) -> None:
    _src, ch = sources(command="printf a\\nb\\r\\nc\\rlast", batchTimeout=100)
    got: list[bytes] = []
    wait_for(lambda: bool(got.extend(e.body for e in drain(ch))) or len(got) >= 4, what="4 events")
    assert got == [b"a", b"b", b"c", b"last"]


def test_batch_timeout_hands_on_an_incomplete_batch(sources) -> None:
    _src, ch = sources(command="echo one; sleep 30", shell="/bin/sh -c", batchSize=20, batchTimeout=200)
    began = time.monotonic()
    wait_for(lambda: ch.size() == 1, timeout=5, what="the timed-out batch")
    assert time.monotonic() - began < 3


def test_restart_runs_the_command_again(sources) -> None:
    src, ch = sources(command="echo hi", restart="true", restartThrottle=50, batchTimeout=50)
    wait_for(lambda: src.runs >= 3, what="3 runs")
    assert {e.body for e in drain(ch)} == {b"hi"}


def test_without_restart_it_runs_once(sources) -> None:
    src, ch = sources(command="echo once", batchTimeout=50)
    wait_for(lambda: ch.size() == 1, what="1 event")
    time.sleep(0.3)
    assert src.runs == 1 and ch.size() == 1


def test_log_stderr(sources, caplog) -> None:
    caplog.set_level("INFO", logger="flafka.sources.exec")
    sources(command="echo oops >&2", shell="/bin/sh -c", logStdErr="true")
    wait_for(lambda: "StderrLogger[1] = 'oops'" in caplog.text, what="the stderr line")


def test_stderr_is_not_an_event_and_not_logged_by_default(sources, caplog) -> None:
    caplog.set_level("INFO", logger="flafka.sources.exec")
    _src, ch = sources(command="echo out; echo err >&2", shell="/bin/sh -c", batchTimeout=50)
    wait_for(lambda: ch.size() == 1, what="1 event")
    time.sleep(0.2)
    assert [e.body for e in drain(ch)] == [b"out"]
    assert "StderrLogger" not in caplog.text


def test_missing_command_is_a_sentence_and_the_source_lives(sources, caplog) -> None:
    src, _ = sources(command="/no/such/command -x")
    wait_for(lambda: "cannot run" in caplog.text, what="the warning")  # logged just after the count
    assert ("command_failed", "receiving") in src.counter.errors
    assert "cannot run '/no/such/command -x'" in caplog.text and "shell = /bin/sh -c" in caplog.text


def test_full_channel_holds_the_batch_and_loses_nothing(sources) -> None:
    src, ch = sources(capacity=50, tx=50, command="seq 1 2000", batchSize=20, batchTimeout=50)
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
        got.extend(e.body for e in drain(ch))
    assert got == [str(i).encode() for i in range(1, 2001)]
    assert src.counter.channel_write_fail >= 1


def test_charset_latin1_bodies_stay_latin1(sources) -> None:
    _src, ch = sources(command="printf caf\\351\\n", charset="ISO-8859-1", batchTimeout=50)
    wait_for(lambda: ch.size() == 1, what="1 event")
    assert drain(ch)[0].body == b"caf\xe9"


def test_long_line_is_cut_and_counted(sources) -> None:
    src, ch = sources(command="head -c 5000 /dev/zero", maxLineLength=1000, batchTimeout=50)
    wait_for(lambda: ch.size() == 5, what="5 pieces")
    assert [len(e.body) for e in drain(ch)] == [1000] * 5
    assert src.counter.errors[("line_cut", "receiving")] == 1


def test_stop_ends_the_whole_process_group(sources) -> None:
    src, _ = sources(command="sleep 1000 | cat", shell="/bin/sh -c")
    wait_for(lambda: src.child_pid is not None and len(group_members(src.child_pid)) >= 3, what="sh, sleep and cat")
    pgid = src.child_pid
    began = time.monotonic()
    src.stop()
    assert time.monotonic() - began < 5
    wait_for(lambda: group_members(pgid) == [], timeout=5, what="the group to be gone")


def test_validate_warns_that_exec_cannot_replay() -> None:
    settings, _ = ExecSource.settings_schema.parse({"command": "tail -F /x"})
    (problem,) = ExecSource.check_settings(settings)
    assert problem.severity == "warning" and "cannot replay" in problem.message and "TAILDIR" in problem.suggestion


CONF = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.shell = /bin/sh -c
a1.sources.r1.command = echo $$; sleep 1000 | cat
a1.sources.r1.batchTimeout = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 1
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_command_does_not_outlive_the_agent(tmp_path: Path, how: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    agent = AgentProc(tmp_path, CONF.format(out=out))
    try:
        agent.wait_for("agent 'a1' started")

        def pid_written() -> bool:
            return any(p.read_bytes().strip() for p in out.iterdir())

        wait_for(pid_written, timeout=20, what="the command's pid")
        pgid = int(b"".join(p.read_bytes() for p in out.iterdir()).split()[0])
        wait_for(lambda: len(group_members(pgid)) >= 3, what="sh, sleep and cat")
        os.kill(agent.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
        agent.proc.wait(20)
        wait_for(lambda: group_members(pgid) == [], timeout=5, what=f"the command's group to end after {how}")
    finally:
        agent.stop()
