"""The Flume 1.11 User Guide's first example (netcat -> memory -> logger) in a real
``flafka agent`` process with a real TCP client, and side by side with Apache Flume 1.11
on the same input: same replies, same logger lines, same bodies."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from flafka_testkit.services.base import free_port

from .agentproc import AgentProc
from .conftest import connect, read_replies

# The guide's example, verbatim but for the port (44444 may be taken on a shared host).
GUIDE = """\
# example.conf: A single-node Flume configuration

# Name the components on this agent
a1.sources = r1
a1.sinks = k1
a1.channels = c1

# Describe/configure the source
a1.sources.r1.type = netcat
a1.sources.r1.bind = localhost
a1.sources.r1.port = {port}

# Describe the sink
a1.sinks.k1.type = logger

# Use a memory channel which buffers events in memory
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100

# Bind the source and sink to the channel
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
"""

EVENT_LINE = re.compile(r"Event: \{ headers:\{.*?\} body:.*? \}")


def test_guide_example_runs_unchanged(tmp_path: Path) -> None:
    port = free_port()
    agent = AgentProc(tmp_path, GUIDE.format(port=port))
    try:
        agent.wait_for("agent 'a1' started")
        with connect(port) as c:
            c.sendall(b"Hello world!\r\n")  # what telnet sends
            assert read_replies(c, 1) == [b"OK"]
        agent.wait_for(re.escape("Event: { headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21 0D          Hello world!. }"))
    finally:
        assert agent.stop() == 0, agent.text()
    assert "Traceback" not in agent.text()


# Guide example plus a second channel into file_roll, so whole bodies are compared too.
SIDE_BY_SIDE = (
    GUIDE.replace("a1.sinks = k1", "a1.sinks = k1 k2")
    .replace("a1.channels = c1", "a1.channels = c1 c2")
    .replace("a1.sources.r1.channels = c1", "a1.sources.r1.channels = c1 c2")
    + """
a1.sources.r1.max-line-length = 40
a1.channels.c2.type = memory
a1.sinks.k2.type = file_roll
a1.sinks.k2.channel = c2
a1.sinks.k2.sink.directory = {out}
a1.sinks.k2.sink.rollInterval = 0
"""
)

LINES = [
    b"Hello world!\r",
    b"",
    b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    b"tab\there \x01\x7f",
    b"x" * 39,  # at the limit (40 with the newline)
]


def _exchange(port: int) -> list[bytes]:
    with connect(port) as c:
        replies: list[bytes] = []
        for line in LINES:
            c.sendall(line + b"\n")
            replies += read_replies(c, 1)
        c.sendall(b"y" * 40 + b"\n")  # one over the limit: FAILED and the connection closes
        replies += read_replies(c, 1)
        c.settimeout(10)
        assert c.recv(100) == b""
    return replies


def _run(agent_log: object, port: int, out: Path) -> tuple[list[bytes], list[str], bytes]:
    replies = _exchange(port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        logged = EVENT_LINE.findall(Path(str(agent_log)).read_text(errors="replace"))
        written = b"".join(p.read_bytes() for p in sorted(out.iterdir()))
        if len(logged) >= len(LINES) and written.count(b"\n") >= len(LINES):
            break
        time.sleep(0.1)
    return replies, logged, written


@pytest.mark.integration
def test_same_replies_and_events_as_flume(flume_home, tmp_path: Path) -> None:
    results = []
    for who in ("flume", "flafka"):
        port = free_port()
        out = tmp_path / who / "out"
        out.mkdir(parents=True)
        conf = SIDE_BY_SIDE.format(port=port, out=out)
        if who == "flume":
            with flume_home.run_agent(conf, tmp_path / who) as agent:
                results.append(_run(agent.log, port, out))
        else:
            proc = AgentProc(tmp_path / who, conf)
            try:
                proc.wait_for("agent 'a1' started")
                results.append(_run(proc.log, port, out))
            finally:
                proc.stop()
    (flume_replies, flume_logged, flume_written), (replies, logged, written) = results
    assert flume_replies == [b"OK"] * 5 + [b"FAILED: Event exceeds the maximum length (40 chars, including newline)"]
    assert replies == flume_replies
    assert logged == flume_logged and len(logged) == len(LINES)
    assert written == flume_written == b"".join(line + b"\n" for line in LINES)
