"""Issue 17's spooling-directory findings, through a real agent: a file whose name holds a
newline is read (it was skipped, exit 0: a silent loss); a FIFO in spoolDir is reported
once, never opened (an open would block the source); a file name that is not valid UTF-8
reaches the sink as a header it can write (the sink retried it forever)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest


def test_a_name_with_a_newline_is_read(h, tmp_path: Path, spool: Path) -> None:
    h.write(spool / "two\nlines.log", b"x1\nx2\n")
    got = h.run_agent(tmp_path, spool)
    assert got == [b"x1", b"x2"]
    assert (spool / "two\nlines.log.COMPLETED").exists()


def test_a_fifo_is_reported_once_and_never_opened(h, tmp_path: Path, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.mkfifo(spool / "pipe.log")
    h.write(spool / "ok.log", b"ok\n")
    with caplog.at_level(logging.WARNING):
        got = h.run_agent(tmp_path, spool)
    assert got == [b"ok"]
    warnings = [r.getMessage() for r in caplog.records if "pipe.log" in r.getMessage()]
    assert len(warnings) == 1 and "FIFO" in warnings[0] and "regular files" in warnings[0] and "ignorePattern" in warnings[0]


def test_a_name_that_is_not_utf8_becomes_a_writable_header(h, tmp_path: Path, spool: Path) -> None:
    name = os.fsdecode(b"bad\xffname.log")
    h.write(spool / name, b"body\n")
    extra = "a1.sources.r1.basenameHeader = true\na1.sinks.k1.sink.serializer = HEADER_AND_TEXT\n"
    got = h.run_agent(tmp_path, spool, extra, timeout=10)
    assert got == [b"{basename=bad\\xffname.log} body"]
    assert (spool / (name + ".COMPLETED")).exists()
