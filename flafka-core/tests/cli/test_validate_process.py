"""``flafka validate`` and ``flafka agent`` as real processes: the exit statuses
docs/cli.md promises, what validate catches that used to fail only at start or at run
time, and bad input that used to crash or hang it (issue 9 item 7, issue 17 item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ORIGINAL = REPO / "examples" / "seed" / "original"

GOOD = """\
agent.sources = s
agent.channels = c
agent.sinks = k
agent.sources.s.type = seq
agent.sources.s.totalEvents = 10
agent.sources.s.channels = c
agent.channels.c.type = memory
agent.sinks.k.type = null
agent.sinks.k.channel = c
"""


def flafka(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins,kafka,hdfs", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "flafka", *args], capture_output=True, text=True, env=env, timeout=timeout, errors="replace"
    )


def conf(tmp_path: Path, text: str, name: str = "pipeline.conf") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


# -- exit statuses (docs/cli.md) -----------------------------------------------------------------


def test_validate_exit_0_when_valid_with_warnings(tmp_path: Path) -> None:
    proc = flafka("validate", "-f", conf(tmp_path, GOOD + "agent.channels.spare.type = memory\n"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "channel 'spare' is configured but not listed" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "valid: 0 errors, 1 warning"


def test_validate_exit_2_when_invalid_missing_or_bad_flag(tmp_path: Path) -> None:
    bad = flafka("validate", "-f", conf(tmp_path, GOOD.replace("type = null", "type = nul")))
    assert bad.returncode == 2 and "did you mean 'null'?" in bad.stdout
    missing = flafka("validate", "-f", str(tmp_path / "nope.conf"))
    assert missing.returncode == 2 and "does not exist" in missing.stdout
    flag = flafka("validate", "--bogus", "-f", conf(tmp_path, GOOD))
    assert flag.returncode == 2 and "No such option" in flag.stderr
    for proc in (bad, missing, flag):
        assert_no_traceback(proc)


def test_describe_and_migrate_exit_0_or_2(tmp_path: Path) -> None:
    assert flafka("describe", "memory").returncode == 0
    unknown = flafka("describe", "memroy")
    assert unknown.returncode == 2 and "did you mean 'memory'" in unknown.stderr
    assert flafka("migrate", conf(tmp_path, GOOD)).returncode == 0
    missing = flafka("migrate", str(tmp_path / "nope.conf"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    for proc in (unknown, missing):
        assert_no_traceback(proc)


def test_agent_exit_2_for_a_value_a_constructor_refuses_with_its_line(tmp_path: Path) -> None:
    """spooldir refuses inputCharset = UTF-16 in its constructor: validate reports it on
    its line, and the agent exits 2 before starting anything."""
    spool = tmp_path / "spool"
    spool.mkdir()
    text = GOOD.replace("agent.sources.s.type = seq\nagent.sources.s.totalEvents = 10\n", "")
    text += f"agent.sources.s.type = spooldir\nagent.sources.s.spoolDir = {spool}\nagent.sources.s.inputCharset = UTF-16\n"
    path = conf(tmp_path, text)
    proc = flafka("validate", "-f", path)
    assert proc.returncode == 2
    assert f"{path}:10: error: agent.sources.s.inputCharset: source 's': inputCharset = UTF-16 is not supported yet" in proc.stdout
    agent = flafka("agent", "-n", "agent", "-f", path, "--no-reload-conf")
    assert agent.returncode == 2 and f"{path}:10: error: agent.sources.s.inputCharset" in agent.stderr
    assert "could not start" not in agent.stderr


def test_agent_exit_3_when_a_component_cannot_start(tmp_path: Path) -> None:
    """A valid configuration whose component fails in start() (its spool directory is
    gone) is a runtime failure: status 3, as docs/cli.md says."""
    spool = tmp_path / "spool"
    text = GOOD.replace("agent.sources.s.type = seq\nagent.sources.s.totalEvents = 10\n", "")
    text += f"agent.sources.s.type = spooldir\nagent.sources.s.spoolDir = {spool}\n"
    proc = flafka("agent", "-n", "agent", "-f", conf(tmp_path, text), "--no-reload-conf")
    assert proc.returncode == 3, proc.stderr
    assert "could not start" in proc.stderr and str(spool) in proc.stderr
    assert_no_traceback(proc)


@pytest.mark.parametrize(
    ("define", "says"),
    [
        ("flafka.gc.threshold=3000000000", "out of range; give 0 to 2147483647"),
        ("flafka.gc.threshold=nan", "is not a whole number"),
        ("flafka.stop.timeout=inf", "is not a finite number"),
        ("flafka.status.interval=-1", "is negative"),
    ],
)
def test_bad_runtime_properties_exit_2_with_a_sentence(tmp_path: Path, define: str, says: str) -> None:
    path = conf(tmp_path, GOOD)
    for args in (("validate", "-f", path), ("agent", "-n", "agent", "-f", path, "--no-reload-conf", "--exit-when-drained")):
        proc = flafka(*args, f"-D{define}")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"-D{define} " in proc.stderr and says in proc.stderr
        assert_no_traceback(proc)


# -- validate without -n: mistyped agent prefixes --------------------------------------------------


@pytest.mark.parametrize(("name", "typo"), [("spooldir_sample.conf", "agent4"), ("kafka_hdfs.conf", "agent2")])
def test_seed_typo_prefix_is_a_typo_not_an_agent(name: str, typo: str) -> None:
    """The seed's agent4./agent2. lines are reported as typos for 'agent' only; no verdict
    or advice treats them as an agent of their own (which would contradict the fix)."""
    proc = flafka("validate", "-f", str(ORIGINAL / name))
    out = proc.stdout
    assert proc.returncode == 2
    assert "did you mean 'agent'? write agent." in out
    assert f"'{typo}': not an agent of its own; its lines look meant for agent 'agent'" in out
    assert f"agent '{typo}': invalid" not in out and f"agent '{typo}' has no" not in out
    assert f"started as '{typo}'" not in out and f"-n {typo}" not in out
    assert_no_traceback(proc)


def test_two_real_agents_are_both_validated(tmp_path: Path) -> None:
    text = GOOD.replace("agent.", "agent1.") + GOOD.replace("agent.", "agent2.")
    proc = flafka("validate", "-f", conf(tmp_path, text))
    assert proc.returncode == 0, proc.stdout
    assert "agent 'agent1': valid" in proc.stdout and "agent 'agent2': valid" in proc.stdout


# -- what only failed at start or at run time ------------------------------------------------------


def test_channel_no_sink_reads_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("agent.channels = c", "agent.channels = c c2")
    text = text.replace("agent.sources.s.channels = c", "agent.sources.s.channels = c c2")
    text += "agent.channels.c2.type = memory\n"
    path = conf(tmp_path, text)
    proc = flafka("validate", "-f", path)
    assert proc.returncode == 2
    assert f"{path}:10: error: agent.channels.c2.type: channel 'c2' is written by source 's' but no sink reads it" in proc.stdout


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("agent.channels.c.keep-alive", "99999999999999999999"),
        ("agent.channels.c.keep-alive", "9" * 400),
        ("agent.channels.c.byteCapacity", "9" * 400),
        ("agent.sources.s.batchSize", "1e400"),
    ],
)
def test_numbers_the_runtime_chokes_on_are_refused_with_the_range(tmp_path: Path, key: str, value: str) -> None:
    proc = flafka("validate", "-f", conf(tmp_path, GOOD + f"{key} = {value}\n"))
    assert proc.returncode == 2, proc.stdout
    assert f"10: error: {key}:" in proc.stdout
    assert "above the maximum" in proc.stdout or "not a whole number" in proc.stdout
    assert_no_traceback(proc)


def test_spooldir_poll_delay_and_file_roll_interval_ranges(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    text = GOOD.replace("agent.sources.s.type = seq\nagent.sources.s.totalEvents = 10\n", "").replace("type = null", "type = file_roll")
    text += f"agent.sources.s.type = spooldir\nagent.sources.s.spoolDir = {spool}\nagent.sources.s.pollDelay = 99999999999999\n"
    text += f"agent.sinks.k.sink.directory = {tmp_path}\nagent.sinks.k.sink.rollInterval = {'9' * 400}\n"
    proc = flafka("validate", "-f", conf(tmp_path, text))
    assert proc.returncode == 2
    assert "agent.sources.s.pollDelay: source 's': 99999999999999 is above the maximum 2147483647" in proc.stdout
    assert "agent.sinks.k.sink.rollInterval: sink 'k': 99999999999999999999... (400 characters) is above the maximum" in proc.stdout


def test_lone_surrogate_escape_is_printed_not_a_crash(tmp_path: Path) -> None:
    path = conf(tmp_path, GOOD + "agent.channels.c.capacity = \\uD800\n")
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
    proc = subprocess.run([sys.executable, "-m", "flafka", "validate", "-f", path], capture_output=True, env=env, timeout=60)
    out = proc.stdout.decode("utf-8")
    assert proc.returncode == 2, out + proc.stderr.decode("utf-8", "replace")
    assert "agent.channels.c.capacity: channel 'c': '\\ud800' is not a whole number" in out
    assert b"Traceback" not in proc.stderr


def test_doubling_substitution_chain_stops_fast_with_the_limit(tmp_path: Path) -> None:
    """24 variables, each twice the previous one: hung before the limits."""
    lines = ["v0 = ab"] + [f"v{i} = ${{v{i - 1}}}${{v{i - 1}}}" for i in range(1, 25)]
    started = time.monotonic()
    proc = flafka("validate", "-f", conf(tmp_path, GOOD.replace("totalEvents = 10", "totalEvents = ${v24}") + "\n".join(lines) + "\n"))
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    assert "agent.sources.s.totalEvents: substitution stopped: the value expands to more than 1,048,576 characters" in proc.stdout
