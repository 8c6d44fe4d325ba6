"""Real agent processes from Flume-style configs, run with `python -m flafka agent ...
--exit-when-drained`, then the files checked: seq -> memory -> jsonl sink, and jsonl
source -> memory -> jsonl sink (a copy), run twice: the second run copies nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """\
# seq -> memory -> jsonl
agent.sources = gen
agent.channels = mem
agent.sinks = out

agent.sources.gen.type = seq
agent.sources.gen.totalEvents = {total}
agent.sources.gen.batchSize = 100
agent.sources.gen.channels = mem

agent.channels.mem.type = memory
agent.channels.mem.capacity = 10000
agent.channels.mem.transactionCapacity = 500

agent.sinks.out.type = jsonl
agent.sinks.out.channel = mem
agent.sinks.out.directory = {directory}
agent.sinks.out.prefix = seq
agent.sinks.out.rollSize = {roll_size}
agent.sinks.out.batchSize = 500
"""


def run_agent(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "agent.conf"
    path.write_text(conf)
    return subprocess.run(
        [sys.executable, "-m", "flafka", "agent", "-n", "agent", "-f", str(path), "--exit-when-drained"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FLAFKA_PLUGINS": "builtins,jsonl"},
    )


def test_seq_memory_jsonl_delivers_every_event_once_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    total = 20_000
    run = run_agent(tmp_path, CONFIG.format(total=total, directory=out, roll_size=100_000))
    assert run.returncode == 0, f"agent exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    files = sorted(out.iterdir())
    assert len(files) > 1, "rollSize = 100000 should have rolled"
    assert all(p.name.startswith("seq-") and p.name.endswith(".jsonl") for p in files)
    records = [json.loads(line) for p in files for line in p.read_text("utf-8").splitlines()]
    assert [r["body"] for r in records] == [str(i) for i in range(total)]
    assert {r["body_encoding"] for r in records} == {"utf-8"}
    sizes = [p.stat().st_size for p in files]
    assert max(sizes) <= 100_000


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("rollSize", "rolSize", ["unknown key 'rolSize'", "did you mean 'rollSize'?"]),
        ("prefix = seq", "prefix = a/b", ["agent.sinks.out.prefix", "prefix 'a/b' is not a file name"]),
    ],
)
def test_bad_config_is_refused_with_the_key_named(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    conf = CONFIG.format(total=10, directory=tmp_path / "out", roll_size=1000).replace(old, new)
    run = run_agent(tmp_path, conf)
    assert run.returncode != 0
    for text in expected:
        assert text in run.stderr, f"{text!r} missing from:\n{run.stderr}"
    assert not (tmp_path / "out").exists()


COPY = """\
# jsonl source -> memory -> jsonl sink: copies one directory of jsonl files to another
agent.sources = in
agent.channels = mem
agent.sinks = out

agent.sources.in.type = jsonl
agent.sources.in.directory = {source}
agent.sources.in.prefix = seq
agent.sources.in.positionFile = {position}
agent.sources.in.batchSize = 200
agent.sources.in.channels = mem

agent.channels.mem.type = memory
agent.channels.mem.capacity = 10000
agent.channels.mem.transactionCapacity = 500

agent.sinks.out.type = jsonl
agent.sinks.out.channel = mem
agent.sinks.out.directory = {target}
agent.sinks.out.batchSize = 500
"""


def test_jsonl_source_copies_every_event_once_and_a_rerun_copies_nothing(tmp_path: Path) -> None:
    first = run_agent(tmp_path, CONFIG.format(total=5000, directory=tmp_path / "a", roll_size=50_000))
    assert first.returncode == 0, first.stderr
    position = tmp_path / "state" / "copy.position.json"
    conf = COPY.format(source=tmp_path / "a", position=position, target=tmp_path / "b")
    copy = run_agent(tmp_path, conf)
    assert copy.returncode == 0, f"agent exited {copy.returncode}:\n{copy.stdout}\n{copy.stderr}"
    records = [json.loads(line) for p in sorted((tmp_path / "b").iterdir()) for line in p.read_text("utf-8").splitlines()]
    assert [r["body"] for r in records] == [str(i) for i in range(5000)]
    newest = sorted((tmp_path / "a").iterdir())[-1]
    assert json.loads(position.read_text()) == {"file": newest.name, "offset": newest.stat().st_size}
    again = run_agent(tmp_path, conf)
    assert again.returncode == 0, again.stderr
    rerun = [line for p in sorted((tmp_path / "b").iterdir()) for line in p.read_text("utf-8").splitlines()]
    assert len(rerun) == 5000, "the second run delivered again what the first delivered"


def test_a_killed_copy_loses_nothing_when_restarted(tmp_path: Path) -> None:
    """SIGKILL the jsonl -> memory -> jsonl agent mid-copy (events in its memory channel,
    the position file throttled), restart it: the saved position was never ahead of what
    the sink had delivered, every event arrives, and only what was delivered past the
    saved position is copied twice."""
    from flafka_testkit.crash import AgentProcess, wait_until

    source, target = tmp_path / "a", tmp_path / "b"
    source.mkdir()
    total, per_file = 100_000, 25_000
    for n in range(total // per_file):
        lines = (b'{"headers":{},"body":"%d","body_encoding":"utf-8"}\n' % i for i in range(n * per_file, (n + 1) * per_file))
        (source / f"seq-1700000000000-{n + 1:06d}.jsonl").write_bytes(b"".join(lines))
    conf = tmp_path / "copy.conf"
    text = COPY.format(source=source, position=tmp_path / "copy.position.json", target=target)
    # positions written often, a sink slower than the source (fsync per batch): the channel fills up
    text = text.replace("agent.sinks.out.batchSize = 500", "agent.sinks.out.batchSize = 100")
    text += "agent.sources.in.writePosInterval = 50\nagent.sinks.out.fsync = true\n"
    conf.write_text(text)

    def copied() -> list[str]:
        return [line for p in sorted(target.glob("*.jsonl")) for line in p.read_text("utf-8").splitlines()]

    env = {"FLAFKA_PLUGINS": "builtins,jsonl"}
    agent = AgentProcess(["-n", "agent", "-f", str(conf)], tmp_path / "agent.log", env)
    agent.start()
    assert wait_until(lambda: target.exists() and len(copied()) >= 20_000, 60, 0.01), (tmp_path / "agent.log").read_text()
    agent.kill()
    before = len(copied())
    assert before < total, "the copy finished before the kill: nothing was in flight"
    saved = json.loads((tmp_path / "copy.position.json").read_text())
    done = (source / saved["file"]).read_bytes()[: saved["offset"]]
    persisted = (int(saved["file"][-12:-6]) - 1) * per_file + done.count(b"\n")
    assert persisted <= before, f"the position ({persisted} events) is ahead of what the sink delivered ({before})"
    again = AgentProcess(["-n", "agent", "-f", str(conf), "--exit-when-drained"], tmp_path / "agent.log", env)
    again.start()
    assert again.wait(120) == 0, (tmp_path / "agent.log").read_text()
    bodies = [json.loads(line)["body"] for line in copied()]
    assert set(bodies) == {str(i) for i in range(total)}, "events were lost"
    duplicates = len(bodies) - total
    assert duplicates <= before - persisted, f"{duplicates} duplicates: more than was delivered past the saved position"
