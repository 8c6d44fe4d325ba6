"""SIGKILL with events in flight after a quarantine, then a restart: nothing is lost.

Run 1 is an agent process (spooldir -> memory -> a sink that delivers the first 100
events, then finds its destination down): the source hands six batches to the channel,
hits an undecodable line and quarantines the file while four of them are still in flight.
The process is SIGKILLed: the memory channel's events die with it. The operator then runs
the note's re-feed recipe, and run 2 (``flafka agent --exit-when-drained``, file_roll)
delivers the rest. Every line arrives, at least once."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from flafka_testkit.crash import AgentProcess

RUN1 = '''
import sys, time
from pathlib import Path
from flafka.agent import Agent
from flafka.config.loader import load_config
from flafka.errors import RetriableError
from flafka.plugins import get_registry
from flafka.settings import Schema, Setting
from flafka.sink import Sink


class DownAfter(Sink):
    """Appends bodies to ``path`` for the first ``accept`` events, then is down for good."""

    type_name = "down_after"
    settings_schema = Schema(
        Setting("batchSize", "int", 50, "events per take", minimum=1),
        Setting("accept", "int", 100, "events delivered before the outage", minimum=0),
        Setting("path", "str", "", "output file"),
    )

    def write(self, events):
        accepted = Path(self.settings["path"]).read_bytes().count(b"\\n")
        if accepted + len(events) > self.settings["accept"]:
            raise RetriableError("destination down")
        with open(self.settings["path"], "ab") as out:
            out.write(b"".join(e.body + b"\\n" for e in events))


registry = get_registry()
registry.add(DownAfter, "test")
result = load_config([Path(sys.argv[1])], "a1", registry)
assert result.plan is not None, result.format()
agent = Agent(result.plan, registry)
agent.start()
while True:
    time.sleep(1)
'''

CONF1 = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.batchSize = 50
a1.sources.r1.pollDelay = 20
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 50
a1.sinks.k1.type = down_after
a1.sinks.k1.batchSize = 50
a1.sinks.k1.accept = 100
a1.sinks.k1.path = {out1}
a1.sinks.k1.channel = c1
"""

CONF2 = """
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = spooldir
a1.sources.r1.spoolDir = {spool}
a1.sources.r1.decodeErrorPolicy = REPLACE
a1.sources.r1.pollDelay = 20
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.sink.directory = {out2}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.channel = c1
"""


def wait_for(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_after_quarantine_with_events_in_flight_loses_nothing(tmp_path: Path) -> None:
    spool, out2 = tmp_path / "spool", tmp_path / "out2"
    spool.mkdir()
    out2.mkdir()
    out1 = tmp_path / "out1.txt"
    out1.write_bytes(b"")
    good = [b"line-%04d" % i for i in range(300)]
    tail = [b"tail-%d" % i for i in range(10)]
    (spool / ".a.log.tmp").write_bytes(b"".join(x + b"\n" for x in good) + b"bad\xff\n" + b"".join(x + b"\n" for x in tail))
    (spool / ".a.log.tmp").rename(spool / "a.log")
    script = tmp_path / "run1.py"
    script.write_text(RUN1)
    conf1 = tmp_path / "run1.conf"
    conf1.write_text(CONF1.format(spool=spool, out1=out1))
    note = spool / ".flafka-quarantine" / "a.log.reason.txt"
    log1 = open(tmp_path / "run1.log", "wb")
    proc = subprocess.Popen([sys.executable, str(script), str(conf1)], stdout=log1, stderr=subprocess.STDOUT)
    try:
        wait_for("the quarantine note", note.exists)
        wait_for("the first 100 events delivered", lambda: out1.read_bytes().count(b"\n") == 100)
        time.sleep(0.3)  # the sink keeps failing: 200 events stay in flight
    finally:
        proc.kill()  # SIGKILL
        proc.wait(10)
        log1.close()
    text = note.read_text()
    delivered = out1.read_bytes().split(b"\n")[:-1]
    assert delivered == good[:100]
    m = re.search(r"^delivered: lines 1\.\.(\d+) \(bytes 0\.\.(\d+)\)", text, re.M) or re.search(r"^delivered: none", text, re.M)
    assert m, text
    claimed = int(m.group(1)) if m.groups() else 0
    assert claimed <= 100  # never claims more than the sink confirmed
    assert f"in flight: lines {claimed + 1}..300 " in text
    assert "reading stopped: line 301 at byte offset 3003" in text
    # the operator runs the recipe (the undecodable line is then replaced: REPLACE in run 2)
    recipe = re.search(r"^re-feed: (.+)$", text, re.M)
    assert recipe and f"tail -c +{claimed * 10 + 1} " in recipe.group(1)
    subprocess.run(recipe.group(1), shell=True, check=True)
    conf2 = tmp_path / "run2.conf"
    conf2.write_text(CONF2.format(spool=spool, out2=out2))
    run2 = AgentProcess(["-n", "a1", "-f", str(conf2), "--no-reload-conf", "--exit-when-drained"], tmp_path / "run2.log")
    run2.start()
    assert run2.proc is not None and run2.proc.wait(60) == 0, (tmp_path / "run2.log").read_text()
    again = b"".join(p.read_bytes() for p in sorted(out2.iterdir())).split(b"\n")[:-1]
    everything = delivered + again
    assert set(good) | set(tail) <= set(everything), "lines lost"
    assert "bad\ufffd".encode() in everything
    assert len(everything) - len(set(everything)) == 100 - claimed  # duplicates: only what the note could not confirm
