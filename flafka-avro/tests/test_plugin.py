"""The plugin as users meet it: ``flafka plugins`` lists it, Flume configs naming the
Flume classes validate, and a bad ipFilterRules is reported on its line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONF = """\
a.sources = r
a.channels = c
a.sinks = k
a.sources.r.type = org.apache.flume.source.AvroSource
a.sources.r.bind = 0.0.0.0
a.sources.r.port = 4141
a.sources.r.channels = c
a.sources.r.ipFilter = true
a.sources.r.ipFilterRules = {rules}
a.channels.c.type = memory
a.channels.c.capacity = 5000
a.channels.c.transactionCapacity = 500
a.sinks.k.type = org.apache.flume.sink.AvroSink
a.sinks.k.hostname = collector
a.sinks.k.port = 4141
a.sinks.k.batch-size = 500
a.sinks.k.maxIoWorkers = 8
a.sinks.k.channel = c
"""


def flafka(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flafka", *args], capture_output=True, text=True, timeout=120, check=False)


def test_plugins_lists_the_avro_source_and_sink() -> None:
    run = flafka("plugins", "--json")
    assert run.returncode == 0, run.stderr
    ours = [p for p in json.loads(run.stdout)["plugins"] if p["name"] == "avro"]
    assert len(ours) == 1 and ours[0]["distribution"] == "flafka-avro", ours


def test_flume_config_with_flume_class_names_validates(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(CONF.format(rules="allow:ip:10.*,deny:ip:*"))
    run = flafka("validate", "-n", "a", "-f", str(conf))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "maxIoWorkers is ignored" in run.stdout + run.stderr


def test_bad_ip_filter_rule_is_reported_on_its_line(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(CONF.format(rules="allow:ip:10.*,permit:everyone"))
    run = flafka("validate", "-n", "a", "-f", str(conf))
    out = run.stdout + run.stderr
    assert run.returncode != 0 and "a.conf:9:" in out and "permit:everyone" in out, out
