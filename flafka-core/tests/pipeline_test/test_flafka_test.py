"""``flafka test``: config unit tests run through the real interceptors and selectors,
failures shown with the event and the difference, bad tests files named by line and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def flafka(*args: str, plugins: str | None = "builtins") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("FLAFKA_PLUGINS", None)
    if plugins:
        env["FLAFKA_PLUGINS"] = plugins
    return subprocess.run([sys.executable, "-m", "flafka", *args], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


@pytest.mark.parametrize("name", ["spooldir_kafka", "kafka_hdfs", "spooldir_kafkachannel_hdfs"])
def test_seed_pipeline_examples_pass(name: str) -> None:
    conf, tests = f"examples/seed/{name}.conf", f"examples/seed/tests/{name}.toml"
    result = flafka("test", "-n", "agent", "-f", conf, tests, plugins=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 0 failed" in result.stdout


def test_routing_example_runs_interceptors_and_selector() -> None:
    result = flafka("test", "-n", "agent", "-f", "examples/routing.conf", "examples/routing.tests.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "2 tests, 2 passed, 0 failed"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.toml"
    path.write_text(text)
    return str(path)


def test_a_failure_prints_the_event_and_the_difference(tmp_path: Path) -> None:
    tests = _write(
        tmp_path,
        """\
[[tests]]
name = "routed by host"
[[tests.inputs]]
source = "gen"
body = "hi"
headers = { host = "web1" }
[[tests.outputs]]
channel = "mem"
body = "hi!"
headers = { dc = "osaka" }
[[tests.outputs]]
sink = "k2"
body = "hi"
[[tests.outputs]]
channel = "mem"
count = 2
""",
    )
    result = flafka("test", "-n", "agent", "-f", "examples/routing.conf", tests)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"FAILED  {tests}:1: routed by host" in out
    assert "line 7: channel 'mem': no event matches; expected body 'hi!' headers {'dc': 'osaka'}" in out
    assert "got: body 'hi' headers {'host': 'web1', 'dc': 'tokyo'}" in out
    assert "body 'hi' != expected 'hi!'; header 'dc' = 'tokyo', expected 'osaka'" in out
    assert "line 11: sink 'k2' (channel 'other'): no event reached it; expected body 'hi' headers {}" in out
    assert "line 14: channel 'mem': 1 events reached it, expected 2" in out
    assert out.splitlines()[-1] == "1 tests, 0 passed, 1 failed"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gne"\nbody = "a"\n[[tests.outputs]]\nchannel = "mem"\ncount = 1\n',
         ":4: test 'x': source = 'gne' is not a source of agent 'agent'; did you mean 'gen'?"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n[[tests.outputs]]\nsink = "k3"\ncount = 1\n',
         ":7: test 'x': sink = 'k3' is not a sink of agent 'agent'; did you mean 'k2'?"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n[[tests.outputs]]\nchannel = "mem"\n\nheaders = "dc"\n',
         ":9: 'headers' must be a table of strings"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n[[tests.outputs]]\nchannel = "mem"\ncount = -1\n',
         ":8: test 'x': count must be a whole number >= 0"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n[[tests.outputs]]\nchannel = "mem"\nboddy = "a"\n',
         ":6: test 'x': unknown output key(s) boddy"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n[[tests.outputs]]\nchannel = "mem"\nsink = "out"\n',
         ":6: test 'x': an output names exactly one of channel"),
        ('[[tests]]\nname = "x"\n[[tests.inputs]]\nsource = "gen"\nbody = "a"\n', ":1: test 'x' has no output"),
        ("[[tests]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_tests_files_are_named_by_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    tests = _write(tmp_path, text)
    result = flafka("test", "-n", "agent", "-f", "examples/routing.conf", tests)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr


def test_an_invalid_config_exits_2(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("agent.sources = s\nagent.sources.s.type = nosuchtype\n")
    tests = _write(tmp_path, '[[tests]]\nname = "x"\n')
    result = flafka("test", "-n", "agent", "-f", str(conf), tests)
    assert result.returncode == 2
    assert "configuration of agent 'agent' is invalid" in result.stderr


def test_a_filtering_interceptor_drops_before_the_channel(tmp_path: Path) -> None:
    conf = tmp_path / "filter.conf"
    conf.write_text(
        """\
agent.sources = gen
agent.channels = mem
agent.sinks = out
agent.sources.gen.type = seq
agent.sources.gen.channels = mem
agent.sources.gen.interceptors = drop tag
agent.sources.gen.interceptors.drop.type = regex_filter
agent.sources.gen.interceptors.drop.regex = ^DEBUG
agent.sources.gen.interceptors.drop.excludeEvents = true
agent.sources.gen.interceptors.tag.type = static
agent.sources.gen.interceptors.tag.key = kept
agent.sources.gen.interceptors.tag.value = yes
agent.channels.mem.type = memory
agent.sinks.out.type = null
agent.sinks.out.channel = mem
"""
    )
    tests = _write(
        tmp_path,
        """\
[[tests]]
name = "debug lines are dropped, the rest tagged"
[[tests.inputs]]
source = "gen"
body = "DEBUG noise"
[[tests.inputs]]
source = "gen"
body = "ERROR disk full"
[[tests.outputs]]
sink = "out"
body = "ERROR disk full"
headers = { kept = "yes" }
[[tests.outputs]]
sink = "out"
count = 1
""",
    )
    result = flafka("test", "-n", "agent", "-f", str(conf), tests)
    assert result.returncode == 0, result.stdout + result.stderr
    Path(tests).write_text(Path(tests).read_text().replace("count = 1", "count = 2"))
    result = flafka("test", "-n", "agent", "-f", str(conf), tests)
    assert result.returncode == 1
    assert "line 13: sink 'out' (channel 'mem'): 1 events reached it, expected 2" in result.stdout
    assert "got: body 'ERROR disk full' headers {'kept': 'yes'}" in result.stdout
