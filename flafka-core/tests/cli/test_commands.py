"""``flafka validate / plugins / describe / migrate / version`` and the agent's flag
handling up to the config check, through click's CliRunner with an isolated plugin set."""

from __future__ import annotations

import itertools
import json
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flafka import plugins
from flafka.cli import main, parse_defines, setup_logging
from flafka.plugins import PluginReport, load_plugins

_ids = itertools.count()

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

KAFKA_DOUBLE = """
from flafka import Sink, hookimpl
from flafka.settings import REQUIRED, Schema, Setting

class KafkaSinkDouble(Sink):
    # a registry double: only its schema matters here
    type_name = "{type_name}"
    aliases = ("org.apache.flume.sink.kafka.KafkaSink{suffix}",)
    summary = "writes to Kafka"
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", REQUIRED, "host:port,...", legacy=("brokerList",)),
        Setting("kafka.topic", "str", "default-flume-topic", "topic", legacy=("topic",)),
        Setting("acks", "enum", "1", "producer acks", choices=("0", "1", "all"), since="1.7"),
        Setting("kafka.producer.*", "map", doc="producer properties"),
        Setting("password", "str", None, "a secret", secret=True),
    )

    def write(self, events):
        return None

@hookimpl
def flafka_register_components():
    return [KafkaSinkDouble]
"""


def write(tmp_path: Path, text: str, name: str = "pipeline.conf") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    name = f"flafka_cli_test_plugin_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PluginReport:
    """builtins plus a Kafka sink double, installed as the CLI's plugin report."""
    mod = plugin(tmp_path, monkeypatch, KAFKA_DOUBLE.format(type_name="kafka", suffix=""))
    rep = load_plugins(env={}, entry_points=[EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("kafka", mod, "flafka")])
    assert rep.errors == []
    monkeypatch.setattr(plugins, "plugin_report", lambda: rep)
    return rep


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# -- validate -----------------------------------------------------------------------------


def test_validate_valid_config(report: PluginReport, tmp_path: Path) -> None:
    result = run("validate", "-f", write(tmp_path, GOOD), "-n", "agent")
    assert result.exit_code == 0, result.output
    assert "agent 'agent': valid (1 source, 1 channel, 1 sink)" in result.stdout
    assert result.stdout.strip().endswith("valid: 0 errors, 0 warnings")


def test_validate_invalid_config_prints_every_diagnostic(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, GOOD.replace("type = null", "type = nul").replace("sources.s.channels = c", "sources.s.channels = cc"))
    result = run("validate", "-f", conf, "-n", "agent")
    assert result.exit_code == 2
    assert "did you mean 'null'?" in result.stdout
    assert "cc" in result.stdout
    assert f"{conf}:" in result.stdout  # file:line
    assert result.stdout.strip().splitlines()[-1].startswith("invalid: 2 errors")


def test_validate_warnings_are_allowed(report: PluginReport, tmp_path: Path) -> None:
    result = run("validate", "-f", write(tmp_path, GOOD + "agent.sinks.k.channel = c\n"), "-n", "agent")
    assert result.exit_code == 0, result.output
    assert "warning" in result.stdout and "valid: 0 errors, 1 warning" in result.stdout


def test_validate_every_agent_when_no_name(report: PluginReport, tmp_path: Path) -> None:
    second = GOOD.replace("agent.", "edge.")
    result = run("validate", "-f", write(tmp_path, GOOD + second))
    assert result.exit_code == 0, result.output
    assert "agent 'agent': valid" in result.stdout and "agent 'edge': valid" in result.stdout
    bad = second.replace("type = memory", "type = memroy")
    result = run("validate", "-f", write(tmp_path, GOOD + bad))
    assert result.exit_code == 2
    assert "agent 'agent': valid" in result.stdout and "agent 'edge': invalid (1 error)" in result.stdout


def test_validate_no_agent_and_missing_file(report: PluginReport, tmp_path: Path) -> None:
    result = run("validate", "-f", write(tmp_path, "# nothing\n"))
    assert result.exit_code == 2
    assert "no agent found" in result.stdout
    result = run("validate", "-f", str(tmp_path / "missing.conf"), "-n", "agent")
    assert result.exit_code == 2
    assert "does not exist" in result.stdout
    assert "Traceback" not in result.output


def test_validate_system_properties_reach_substitution(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, GOOD.replace("totalEvents = 10", "totalEvents = ${sys:events}"))
    assert run("validate", "-f", conf, "-n", "agent", "-Devents=5").exit_code == 0
    assert run("validate", "-f", conf, "-n", "agent", "-D", "events=x").exit_code == 2


def test_validate_and_agent_refuse_a_type_two_plugins_claim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    one = plugin(tmp_path, monkeypatch, KAFKA_DOUBLE.format(type_name="kafka", suffix=""))
    two = plugin(tmp_path, monkeypatch, KAFKA_DOUBLE.format(type_name="kafka", suffix="2"))
    eps = [EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("kafka", one, "flafka"), EntryPoint("kafka2", two, "flafka")]
    rep = load_plugins(env={}, entry_points=eps)
    monkeypatch.setattr(plugins, "plugin_report", lambda: rep)
    conf = write(tmp_path, GOOD + "agent.sinks = k k2\nagent.sinks.k2.type = kafka\nagent.sinks.k2.channel = c\n")
    conf = write(tmp_path, Path(conf).read_text().replace("agent.sinks = k\n", "") + "agent.sinks.k2.kafka.bootstrap.servers = h:1\n")
    result = run("validate", "-f", conf, "-n", "agent")
    assert result.exit_code == 2
    assert "claimed by two plugins ('kafka' and 'kafka2')" in result.stdout
    assert "FLAFKA_DISABLE_PLUGINS=kafka2" in result.stdout
    assert "warning: plugin 'kafka2'" in result.stderr
    agent = run("agent", "-n", "agent", "-f", conf, "--no-reload-conf")
    assert agent.exit_code == 2
    assert "claimed by two plugins" in agent.stderr
    # a config that does not use the contested type still validates, and `plugins` works
    assert run("validate", "-f", write(tmp_path, GOOD, "plain.conf"), "-n", "agent").exit_code == 0
    assert run("plugins").exit_code == 0


# -- plugins ------------------------------------------------------------------------------


def test_plugins_text(report: PluginReport) -> None:
    result = run("plugins")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("builtins")
    assert "hooks: flafka_register_components" in out
    assert "channels:" in out and "memory  (also: org.apache.flume.channel.MemoryChannel)" in out
    assert "kafka  (also: org.apache.flume.sink.kafka.KafkaSink)" in out


def test_plugins_json(report: PluginReport) -> None:
    doc = json.loads(run("plugins", "--json").stdout)
    assert set(doc) == {"plugins", "errors", "disabled"}
    names = [p["name"] for p in doc["plugins"]]
    assert names == ["builtins", "kafka"]
    builtins = doc["plugins"][0]
    assert builtins["distribution"] == ""  # a hand-made EntryPoint has no distribution
    assert {"type": "memory", "aliases": ["org.apache.flume.channel.MemoryChannel"]}.items() <= builtins["components"]["channel"][0].items()
    assert doc["errors"] == []


# -- describe -----------------------------------------------------------------------------


def test_describe_text(report: PluginReport) -> None:
    result = run("describe", "kafka")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("kafka (sink): writes to Kafka")
    assert "aliases: org.apache.flume.sink.kafka.KafkaSink" in out
    assert "kafka.bootstrap.servers  (str, required)" in out
    assert "Flume 1.6 spelling: brokerList" in out
    assert "choices: 0, 1, all; since 1.7" in out
    assert "password  (str, no default, secret)" in out
    assert "framework keys: channel (required)" in out


def test_describe_by_alias_and_json(report: PluginReport) -> None:
    result = run("describe", "org.apache.flume.sink.kafka.KafkaSink", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["type"], doc["kind"], doc["plugin"]) == ("kafka", "sink", "kafka")
    by_key = {s["key"]: s for s in doc["settings"]}
    servers = by_key["kafka.bootstrap.servers"]
    assert servers["required"] is True and servers["default"] is None and servers["legacy"] == ["brokerList"]
    assert by_key["acks"]["choices"] == ["0", "1", "all"] and by_key["acks"]["since"] == "1.7"
    assert by_key["kafka.producer.*"]["kind"] == "map"
    assert by_key["kafka.topic"]["default"] == "default-flume-topic"


def test_describe_memory_channel_defaults(report: PluginReport) -> None:
    doc = json.loads(run("describe", "memory", "--json").stdout)
    capacity = next(s for s in doc["settings"] if s["key"] == "capacity")
    assert capacity["kind"] == "int" and capacity["required"] is False and isinstance(capacity["default"], int)


def test_describe_unknown_type_suggests(report: PluginReport) -> None:
    result = run("describe", "spoldir")
    assert result.exit_code == 2
    assert "unknown component type 'spoldir'; did you mean 'spooldir' (source)?" in result.stderr
    assert "Traceback" not in result.output
    result = run("describe", "zzzzzz")
    assert result.exit_code == 2 and "flafka plugins" in result.stderr


def test_describe_kind_filter(report: PluginReport) -> None:
    assert run("describe", "memory", "--kind", "sink").exit_code == 2
    assert run("describe", "memory", "--kind", "channel").exit_code == 0
    assert run("describe", "failover", "--kind", "sink-processor").exit_code == 0


# -- migrate ------------------------------------------------------------------------------

LEGACY = """\
# kafka sink, 1.6 style
agent.sinks = k
agent.sinks.k.type = org.apache.flume.sink.kafka.KafkaSink
agent.sinks.k.brokerList = h:9092
agent.sinks.k.topic = t
"""


def test_migrate_prints_new_text(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, LEGACY)
    result = run("migrate", conf)
    assert result.exit_code == 0, result.output
    assert "agent.sinks.k.kafka.bootstrap.servers = h:9092" in result.stdout
    assert "agent.sinks.k.kafka.topic = t" in result.stdout
    assert "# kafka sink, 1.6 style" in result.stdout
    assert "2 changes" in result.stderr
    assert Path(conf).read_text() == LEGACY  # untouched without --write


def test_migrate_write(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, LEGACY)
    result = run("migrate", conf, "--write")
    assert result.exit_code == 0, result.output
    text = Path(conf).read_text()
    assert "brokerList" not in text and "kafka.bootstrap.servers = h:9092" in text
    assert "2 changes written" in result.stderr
    again = run("migrate", conf, "--write")
    assert again.exit_code == 0 and "nothing to migrate" in again.stderr


def test_migrate_missing_file(report: PluginReport, tmp_path: Path) -> None:
    result = run("migrate", str(tmp_path / "nope.conf"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


# -- version, help ------------------------------------------------------------------------


def test_version() -> None:
    result = run("version")
    assert result.exit_code == 0 and result.stdout.startswith("flafka-core ")
    assert run("--version").stdout.startswith("flafka ")


def test_help_lists_commands(report: PluginReport) -> None:
    out = run("--help").stdout
    for name in ("agent", "validate", "plugins", "describe", "migrate", "version"):
        assert name in out
    assert "--no-reload-conf" in run("agent", "-h").stdout


# -- agent flags up to the configuration check --------------------------------------------


def test_agent_config_error_exits_2(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, GOOD.replace("type = null", "type = nul"))
    result = run("agent", "-n", "agent", "-f", conf, "--no-reload-conf")
    assert result.exit_code == 2
    assert "did you mean 'null'?" in result.stderr
    assert "agent 'agent' not started: 1 error" in result.stderr


def test_agent_wrong_name_and_missing_flags(report: PluginReport, tmp_path: Path) -> None:
    conf = write(tmp_path, GOOD)
    result = run("agent", "-n", "agnet", "-f", conf)
    assert result.exit_code == 2 and "did you mean 'agent'?" in result.stderr
    assert run("agent", "-f", conf).exit_code == 2  # -n is required
    result = run("agent", "-n", "agent")
    assert result.exit_code == 2 and "-f/--conf-file" in result.stderr


def test_agent_flume_ng_flags_are_accepted(report: PluginReport, tmp_path: Path) -> None:
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "flume-env.sh").write_text("JAVA_OPTS=-Xmx1g\n")
    (confdir / "log4j.properties").write_text("")
    conf = write(tmp_path, GOOD.replace("type = null", "type = nul"))
    result = run(
        "agent", "--conf", str(confdir), "--conf-file", conf, "--name", "agent", "-Xmx512m",
        "-Dflume.root.logger=WARN,console", "-i", "5", "-C", "/opt/lib",
    )  # fmt: skip
    assert result.exit_code == 2  # reached the config check
    assert "JVM options ignored: -Xmx512m" in result.stderr
    assert "flume-env.sh, log4j.properties" in result.stderr and "not used" in result.stderr
    assert "--classpath/--plugins-path ignored" in result.stderr


def test_agent_unsupported_sources_of_config(report: PluginReport, tmp_path: Path) -> None:
    result = run("agent", "-n", "agent", "-z", "zk:2181")
    assert result.exit_code == 2 and "ZooKeeper" in result.stderr
    result = run("agent", "-n", "agent", "-u", "http://example.com/x.conf")
    assert result.exit_code == 2 and "only file: URIs" in result.stderr
    result = run("agent", "-n", "agent", "-u", f"file://{write(tmp_path, GOOD.replace('type = null', 'type = nul'))}")
    assert result.exit_code == 2 and "did you mean 'null'?" in result.stderr


def test_parse_defines() -> None:
    assert parse_defines(["a=b", "flume.root.logger=INFO,console", "flag", "x = y=z "]) == {
        "a": "b",
        "flume.root.logger": "INFO,console",
        "flag": "",
        "x": "y=z",
    }


def test_setup_logging_levels_and_logfile(tmp_path: Path) -> None:
    import logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        assert setup_logging({"flume.root.logger": "WARN,console"}) == []
        assert root.level == logging.WARNING
        notes = setup_logging({"flume.root.logger": "LOUD,nowhere"})
        assert any("unknown log level 'LOUD'" in n for n in notes) and any("unknown log appender" in n for n in notes)
        setup_logging({"flume.root.logger": "DEBUG,LOGFILE", "flume.log.dir": str(tmp_path / "logs")})
        logging.getLogger("flafka.test").debug("written to the file")
        for h in root.handlers:
            h.flush()
        assert "written to the file" in (tmp_path / "logs" / "flume.log").read_text()
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        root.setLevel(saved[0])
        for h in saved[1]:
            root.addHandler(h)
