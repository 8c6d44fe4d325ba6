"""A catastrophic ``includePattern``/``ignorePattern`` cannot freeze the spooling directory
source nor keep SIGTERM from stopping the agent (issue 17 item 2).

Before: ``(a+)+$`` against a file named ``aaa...ab`` held the interpreter lock for hours;
the agent read nothing more and SIGTERM did nothing (only SIGKILL stopped it)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flafka.sources.name_filter import MATCH_SECONDS, NameFilter

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

EVIL = "a" * 40 + "b"  # (a+)+$ needs ~2**40 steps to refuse it


def test_a_catastrophic_pattern_is_matched_with_a_time_limit(caplog: pytest.LogCaptureFixture) -> None:
    names = NameFilter("s", "(a+)+$", "^$")
    assert [key for key, _ in names.guarded] == ["includePattern"]
    try:
        with caplog.at_level(logging.ERROR):
            assert names.accepts("aaa")  # the helper starts and answers
            started = time.monotonic()
            assert not names.accepts(EVIL)
            took = time.monotonic() - started
            assert not names.accepts(EVIL)  # decided once: no second wait
            assert names.accepts("aaaa")  # a new helper answers the next name
        assert took < MATCH_SECONDS + 5, took
        assert f"'{EVIL}'" in caplog.text and "includePattern '(a+)+$'" in caplog.text and "stays in spoolDir" in caplog.text
    finally:
        names.close()


def test_an_ordinary_pattern_is_matched_in_process() -> None:
    names = NameFilter("s", r"^[^.]+\.log$", r"^skip.*")
    assert names.guarded == []
    assert names.accepts("a.log") and not names.accepts("skip.log") and not names.accepts("a.txt")
    assert names.accepts("new\nline.log")  # DOTALL, as before


def test_interrupt_makes_undecided_names_a_quick_no() -> None:
    names = NameFilter("s", "^.*$", "(a+)+$")
    names.interrupt()
    assert not names.accepts("ok")  # not decided (no helper started) ...
    names.reset()
    try:
        assert names.accepts("ok")  # ... and decided after the next start
    finally:
        names.close()


CONF = """\
agent.sources = s
agent.channels = c
agent.sinks = k
agent.sources.s.type = spooldir
agent.sources.s.spoolDir = {spool}
agent.sources.s.includePattern = (a+)+$
agent.sources.s.pollDelay = 100
agent.sources.s.channels = c
agent.channels.c.type = memory
agent.sinks.k.type = file_roll
agent.sinks.k.sink.directory = {out}
agent.sinks.k.channel = c
"""


def test_the_agent_reads_on_and_stops_on_sigterm(tmp_path: Path) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    out.mkdir()
    (spool / EVIL).write_text("never read\n")
    (spool / "aaa").write_text("one\ntwo\n")
    conf = tmp_path / "agent.conf"
    conf.write_text(CONF.format(spool=spool, out=out))
    log_path = tmp_path / "agent.log"
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(conf), "--no-reload-conf",
             "-Dflume.root.logger=INFO,console", "-Dflafka.stop.timeout=10"],
            stdout=log_file, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (spool / "aaa.COMPLETED").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        text = log_path.read_text(errors="replace")
        assert (spool / "aaa.COMPLETED").exists(), text  # the source read on past the evil name
        assert "catastrophic backtracking" in text and EVIL in text, text
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stop_seconds = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log_path.read_text(errors="replace")
    print(f"stop after SIGTERM took {stop_seconds:.2f} s")
    assert code == 0 and stop_seconds < 10, (code, stop_seconds, text)
    assert "Traceback" not in text, text
    assert b"one\ntwo\n" in b"".join(p.read_bytes() for p in out.iterdir())  # nothing lost
    assert (spool / EVIL).exists()  # not read, left in place
