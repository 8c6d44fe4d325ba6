"""``flafka top --once`` against a real agent process, and its bad inputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")


def _table(out: str) -> dict[str, dict[str, str]]:
    lines = out.strip().splitlines()
    columns = re.split(r"\s{2,}", lines[1].strip())
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        rows[f"{cells[0]}.{cells[1]}"] = dict(zip(columns, cells, strict=False))
    return rows


def test_once_prints_every_component_of_a_running_agent(run_agent: Callable[..., Any], cli: Callable[..., Any]) -> None:
    agent = run_agent()
    result = cli("top", "--once", "--url", agent.url)
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert re.match(rf"flafka top: agent 'agent', up 0:00:\d\d, http://127\.0\.0\.1:{agent.port}/metrics, \d{{4}}-", header), header
    rows = _table(result.stdout)
    assert set(rows) == {"source.gen", "channel.mem", "sink.out"}
    assert rows["source.gen"]["TYPE"] == "seq"
    assert float(rows["source.gen"]["IN/s"].replace(",", "")) > 0
    assert float(rows["sink.out"]["OUT/s"].replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d% [\d,]+/5,000", rows["channel.mem"]["FILL"]), rows["channel.mem"]
    assert re.fullmatch(r"[\d,.]+ (B|KiB) / 781\.2 KiB", rows["channel.mem"]["BYTES"]), rows["channel.mem"]  # 80% of byteCapacity
    assert re.fullmatch(r"[\d,]+ ev", rows["source.gen"]["IN FLIGHT"]), rows["source.gen"]
    assert re.fullmatch(r"\d batches", rows["sink.out"]["IN FLIGHT"]), rows["sink.out"]
    assert rows["sink.out"]["STATE"] == "ok"
    assert rows["sink.out"]["ERRORS"] == "0" and rows["sink.out"]["DEAD"] == "0"


def test_once_needs_no_extra(run_agent: Callable[..., Any]) -> None:
    agent = run_agent()
    code = "import sys; sys.modules['rich'] = None; from flafka.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "top", "--once", "--url", agent.url],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FLAFKA_PLUGINS": "builtins"},
    )
    assert result.returncode == 0, result.stderr
    assert "channel" in result.stdout and "mem" in result.stdout


def test_unreachable_endpoint_says_how_to_enable_it(cli: Callable[..., Any], unused_port: int) -> None:
    port = unused_port
    result = cli("top", "--once", "--url", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"cannot read metrics from http://127.0.0.1:{port}/metrics" in result.stderr
    assert "-Dflume.monitoring.type=http -Dflume.monitoring.port=PORT" in result.stderr


def test_a_non_metrics_url_is_named(run_agent: Callable[..., Any], cli: Callable[..., Any]) -> None:
    agent = run_agent()
    result = cli("top", "--once", "--url", agent.url + "/metrics/prometheus")
    assert result.returncode == 1
    assert "did not answer Flume's JSON metrics" in result.stderr
    result = cli("top", "--once", "--url", "ftp://host/x")
    assert result.returncode == 1 and "is not an http URL" in result.stderr


def test_endpoint_exports_in_flight_backoff_bytes_and_uptime(run_agent: Callable[..., Any]) -> None:
    agent = run_agent()
    with urllib.request.urlopen(agent.url + "/metrics", timeout=5) as resp:
        doc = json.loads(resp.read())
    assert float(doc["AGENT.agent"]["UptimeSeconds"]) >= 0
    assert doc["AGENT.agent"]["Type"] == "AGENT"
    assert int(doc["SOURCE.gen"]["InFlightEventCount"]) >= 0
    assert int(doc["SOURCE.gen"]["InFlightBatchCount"]) >= 0
    assert doc["SOURCE.gen"]["ComponentType"] == "seq"
    assert doc["SINK.out"]["BackoffFailureCount"] == "0"
    assert doc["SINK.out"]["RunnerAlive"] == "1"
    assert doc["SINK.out"]["EventDiscardedCount"] == "0"
    assert doc["CHANNEL.mem"]["ChannelByteCapacity"] == "800000"
    assert int(doc["CHANNEL.mem"]["ChannelBytes"]) >= 0
    with urllib.request.urlopen(agent.url + "/metrics/prometheus", timeout=5) as resp:
        text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "agent_uptime_seconds",
        "agent_start_time_seconds",
        "component_in_flight_events",
        "sink_backoff_failures",
        "channel_size_bytes",
        "channel_capacity_bytes",
        "channel_fill_ratio",
        "component_start_time_seconds",
    ):
        assert families[name].samples, name
    (uptime,) = families["agent_uptime_seconds"].samples
    assert uptime.labels == {"agent": "agent"} and uptime.value >= 0


PILE_UP = """\
agent.sources = gen
agent.channels = mem
agent.sinks = slow
agent.sources.gen.type = seq
agent.sources.gen.batchSize = 100
agent.sources.gen.channels = mem
agent.channels.mem.type = memory
agent.channels.mem.capacity = 2000
agent.channels.mem.transactionCapacity = 100
agent.sinks.slow.type = logger
agent.sinks.slow.batchSize = 1
agent.sinks.slow.channel = mem
"""


def test_rows_are_sorted_by_where_events_pile_up(run_agent: Callable[..., Any], cli: Callable[..., Any]) -> None:
    # a logger sink writing one event per take cannot keep up with seq: the channel fills
    agent = run_agent(PILE_UP)
    time.sleep(2)
    result = cli("top", "--once", "--url", agent.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].split()[:2] == ["channel", "mem"], result.stdout
    assert float(_table(result.stdout)["channel.mem"]["FILL"].split("%")[0]) > 50, result.stdout
