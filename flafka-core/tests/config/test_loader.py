"""The config loader: plans for valid configs, and a diagnostic (file, line, key, message,
fix) for every problem — all of them at once. Component classes come from the test
doubles registered in conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flafka.config.diagnostics import Diagnostic
from flafka.config.loader import LoadResult, load_config
from flafka.errors import ConfigError
from flafka.registry import Registry
from flafka.settings import Schema, Setting, Settings
from flafka.sink import Sink

GOOD = """\
# a complete pipeline
a.sources = r1
a.channels = c1 c2
a.sinks = k1 k2 k3
a.sinkgroups = g1

a.sources.r1.type = spooldir
a.sources.r1.spoolDir = /var/spool
a.sources.r1.batchSize = 50
a.sources.r1.channels = c1 c2
a.sources.r1.selector.type = multiplexing
a.sources.r1.selector.header = dc
a.sources.r1.selector.mapping.east = c1
a.sources.r1.selector.default = c2
a.sources.r1.interceptors = ts st
a.sources.r1.interceptors.ts.type = timestamp
a.sources.r1.interceptors.st.type = static
a.sources.r1.interceptors.st.key = dc
a.sources.r1.interceptors.st.value = east
a.sources.r1.acknowledgements = false

a.channels.c1.type = memory
a.channels.c1.capacity = 1000
a.channels.c1.transactionCapacity = 100
a.channels.c2.type = org.apache.flume.channel.MemoryChannel

a.sinks.k1.type = logger
a.sinks.k1.channel = c1
a.sinks.k2.type = hdfs
a.sinks.k2.hdfs.path = /flume/%Y
a.sinks.k2.hdfs.fileType = datastream
a.sinks.k2.channel = c2
a.sinks.k2.errors.deadletter.directory = /var/dead
a.sinks.k3.type = logger
a.sinks.k3.channel = c2

a.sinkgroups.g1.sinks = k2 k3
a.sinkgroups.g1.processor.type = failover
a.sinkgroups.g1.processor.priority.k2 = 10
a.sinkgroups.g1.processor.maxpenalty = 1000
"""


def write(tmp_path: Path, text: str, name: str = "flume.conf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, registry: Registry, agent: str = "a", **kw: object) -> LoadResult:
    return load_config([write(tmp_path, text)], agent, registry, env=kw.pop("env", {}), **kw)  # type: ignore[arg-type]


def only(result: LoadResult, needle: str, severity: str | None = None) -> Diagnostic:
    hits = [d for d in result.diagnostics if needle in d.message and (severity is None or d.severity == severity)]
    assert len(hits) == 1, f"expected one diagnostic with {needle!r}, got:\n{result.format()}"
    return hits[0]


def minimal(**extra: str | None) -> str:
    lines: dict[str, str | None] = {
        "a.sources": "r",
        "a.channels": "c",
        "a.sinks": "k",
        "a.sources.r.type": "seq",
        "a.sources.r.channels": "c",
        "a.channels.c.type": "memory",
        "a.sinks.k.type": "logger",
        "a.sinks.k.channel": "c",
    }
    lines.update(extra)
    return "".join(f"{k} = {v}\n" for k, v in lines.items() if v is not None)


# -- the seed configs, exactly as written ------------------------------------------------------


def test_seed_spooldir_sample(registry: Registry, seed_dir: Path) -> None:
    result = load_config([seed_dir / "spooldir_sample.conf"], "agent", registry, env={})
    assert result.plan is None
    assert result.errors
    for line in (12, 13, 14):
        (diag,) = [d for d in result.diagnostics if d.line == line]
        assert diag.is_error
        assert "this line is for agent 'agent4' but the agent is started as 'agent'" in diag.message
        assert "did you mean 'agent'" in diag.suggestion
        assert diag.key.startswith("agent4.channels.memory-channel.")
        assert diag.file.endswith("spooldir_sample.conf")
    no_type = only(result, "channel 'memory-channel' has no type")
    assert no_type.is_error and no_type.line == 3  # where it is listed
    assert "agent.channels.memory-channel.type" in no_type.suggestion
    assert "spooldir_sample.conf:12" in no_type.suggestion  # where it was almost defined
    # 1.6 Kafka keys are read with a warning naming the new key, on their own line
    legacy = {d.line: d for d in result.warnings if "Flume 1.6 spelling" in d.message}
    assert set(legacy) == {8, 9, 10}
    assert "kafka.bootstrap.servers" in legacy[9].message


def test_seed_kafka_hdfs(registry: Registry, seed_dir: Path) -> None:
    result = load_config([seed_dir / "kafka_hdfs.conf"], "agent", registry, env={})
    assert result.plan is None
    for line in range(5, 10):
        (diag,) = [d for d in result.diagnostics if d.line == line]
        assert "this line is for agent 'agent2'" in diag.message
        assert "did you mean 'agent'" in diag.suggestion
    unbound = only(result, "source 'kafka-source' is bound to no channel")
    assert unbound.is_error and unbound.line == 4
    assert "agent2.sources.kafka-source.channels" in unbound.suggestion
    topic = only(result, "required key 'kafka.topics' is missing")
    assert topic.is_error


def test_seed_kafka_channel_legacy_keys(registry: Registry, seed_dir: Path) -> None:
    result = load_config([seed_dir / "kafka_channel.conf"], "agent", registry, env={})
    legacy = {d.line: d.message for d in result.warnings if "Flume 1.6 spelling" in d.message}
    assert set(legacy) == {12, 14}
    assert "'kafka.bootstrap.servers'" in legacy[12]


# -- a valid config ----------------------------------------------------------------------------


def test_good_config_builds_a_plan(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, GOOD, registry, system_properties={"flume.monitoring.type": "http"})
    assert result.diagnostics == [], result.format()
    plan = result.plan
    assert plan is not None
    assert plan.name == "a" and plan.system_properties == {"flume.monitoring.type": "http"}
    assert list(plan.channels) == ["c1", "c2"]
    assert plan.channels["c1"].settings["capacity"] == 1000
    assert plan.channels["c2"].cls.type_name == "memory"
    assert plan.channels["c2"].type_name == "org.apache.flume.channel.MemoryChannel"
    src = plan.sources["r1"]
    assert src.channels == ["c1", "c2"]
    assert src.settings["batchSize"] == 50 and src.settings["spoolDir"] == "/var/spool"
    assert src.acknowledgements is False
    assert src.selector is not None and src.selector.cls.type_name == "multiplexing"
    assert src.selector.settings["mapping.*"] == {"east": "c1"}
    assert src.selector.settings["default"] == ["c2"]
    assert [i.name for i in src.interceptors] == ["ts", "st"]
    assert src.interceptors[1].settings["value"] == "east"
    assert plan.sinks["k2"].settings["hdfs.fileType"] == "DataStream"
    assert plan.sinks["k2"].errors == {"deadletter.directory": "/var/dead"}
    assert plan.sinks["k2"].channel == "c2"
    group = plan.sinkgroups["g1"]
    assert group.sinks == ["k2", "k3"]
    assert group.processor.cls.type_name == "failover"
    assert group.processor.settings["priority.*"] == {"k2": "10"}
    assert group.processor.settings["maxpenalty"] == 1000


def test_defaults_for_selector_and_processor(tmp_path: Path, registry: Registry) -> None:
    text = minimal() + "a.sinkgroups = g\na.sinkgroups.g.sinks = k\n"
    result = load(tmp_path, text, registry)
    assert result.plan is not None, result.format()
    selector = result.plan.sources["r"].selector
    assert selector is not None and selector.type_name == "replicating"
    assert result.plan.sources["r"].acknowledgements is True
    assert result.plan.sinkgroups["g"].processor.type_name == "default"


def test_constructor_refusal_is_an_error_on_the_line_it_names(tmp_path: Path, registry: Registry) -> None:
    """What a constructor refuses (``flafka agent`` would refuse it at start) is reported
    by the loader, on the line of the key the message names."""

    class Picky(Sink):
        type_name = "picky"
        settings_schema = Schema(Setting("mode", "str", "a"), Setting("sink.serializer", "str", "TEXT"))

        def __init__(self, name: str, settings: Settings) -> None:
            super().__init__(name, settings)
            if settings["sink.serializer"] != "TEXT":
                raise ConfigError(f"sink '{name}': sink.serializer = '{settings['sink.serializer']}' is not supported; use TEXT")

    registry.add(Picky, "test")
    result = load(tmp_path, minimal(**{"a.sinks.k.type": "picky", "a.sinks.k.mode": "b", "a.sinks.k.sink.serializer": "bogus"}), registry)
    assert result.plan is None
    d = only(result, "is not supported")
    assert (d.line, d.key) == (10, "a.sinks.k.sink.serializer")
    assert d.message == "sink 'k': sink.serializer = 'bogus' is not supported; use TEXT"


def test_constructor_crash_is_an_error_on_the_type_line(tmp_path: Path, registry: Registry) -> None:
    class Exploding(Sink):
        type_name = "exploding"

        def __init__(self, *args: object) -> None:
            raise OverflowError("int too large to convert")

    registry.add(Exploding, "test")
    result = load(tmp_path, minimal(**{"a.sinks.k.type": "exploding"}), registry)
    d = only(result, "refused by the 'exploding' type")
    assert d.is_error and d.line == 7 and "OverflowError: int too large" in d.message
    assert "report this to the maintainers" in d.suggestion


def test_constructors_of_components_with_bad_settings_are_not_called(tmp_path: Path, registry: Registry) -> None:
    built: list[str] = []

    class Counting(Sink):
        type_name = "counting"
        settings_schema = Schema(Setting("n", "int", 1))

        def __init__(self, name: str, settings: Settings) -> None:
            super().__init__(name, settings)
            built.append(name)

    registry.add(Counting, "test")
    assert load(tmp_path, minimal(**{"a.sinks.k.type": "counting", "a.sinks.k.n": "x"}), registry).plan is None
    assert built == []
    assert load(tmp_path, minimal(**{"a.sinks.k.type": "counting", "a.sinks.k.n": "2"}), registry).plan is not None
    assert built == ["k"]


# -- files ---------------------------------------------------------------------------------


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path, registry: Registry) -> None:
    missing = tmp_path / "nope.conf"
    result = load_config([missing], "a", registry, env={})
    assert result.plan is None
    diag = only(result, "does not exist")
    assert str(missing) in diag.message and diag.file == str(missing)
    assert "-f" in diag.suggestion


def test_directory_instead_of_file(tmp_path: Path, registry: Registry) -> None:
    result = load_config([tmp_path], "a", registry, env={})
    assert "is a directory" in only(result, "directory").message


def test_files_merge_in_order_and_override_substitutes(tmp_path: Path, registry: Registry) -> None:
    base = write(tmp_path, minimal(**{"a.channels.c.capacity": "${CAP}", "a.channels.c.transactionCapacity": "100"}), "base.conf")
    override = write(tmp_path, "CAP = 5000\na.sinks.k.maxBytesToLog = 99\n", "override.conf")
    result = load_config([base, override], "a", registry, env={})
    assert result.diagnostics == [], result.format()
    assert result.plan is not None
    assert result.plan.channels["c"].settings["capacity"] == 5000
    assert result.plan.sinks["k"].settings["maxBytesToLog"] == 99


def test_later_file_overrides_earlier(tmp_path: Path, registry: Registry) -> None:
    base = write(tmp_path, minimal(**{"a.channels.c.capacity": "100", "a.channels.c.transactionCapacity": "10"}), "base.conf")
    override = write(tmp_path, "a.channels.c.capacity = 200\na.channels.c.transactionCapacity = 100\n", "override.conf")
    result = load_config([base, override], "a", registry, env={})
    assert result.plan is not None and result.plan.channels["c"].settings["capacity"] == 200


def test_unresolved_variable_is_a_warning_with_location(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sources.r.totalEvents": "${env:TOTAL:-5}", "a.sinks.k.maxBytesToLog": "${env:N}"}), registry)
    diag = only(result, "${env:N} is not defined")
    assert diag.severity == "warning" and diag.line == 10 and diag.key == "a.sinks.k.maxBytesToLog"
    # and since the literal text is not a number, the schema reports it as an error
    assert result.plan is None


def test_duplicate_key_names_both_lines(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "a.sinks.k.channel = c\n", registry)
    diag = only(result, "is set twice")
    assert diag.severity == "warning" and diag.line == 9 and "line 8" in diag.message
    assert result.plan is not None


# -- agent names ---------------------------------------------------------------------------


def test_agent_absent_lists_the_agents_found(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal().replace("a.", "agent1."), registry, agent="agent")
    assert result.plan is None
    diag = only(result, "no configuration for agent 'agent'")
    assert "'agent1'" in diag.message
    assert "did you mean 'agent1'" in diag.suggestion
    assert result.agents == ["agent1"]


def test_other_complete_agents_get_one_summary_warning(tmp_path: Path, registry: Registry) -> None:
    text = minimal() + minimal().replace("a.", "b.")
    result = load(tmp_path, text, registry)
    assert result.plan is not None
    diag = only(result, "line(s) for agent(s) 'b'")
    assert diag.severity == "warning" and diag.line == 9


def test_two_complete_agents_with_close_names_and_shared_component_names(tmp_path: Path, registry: Registry) -> None:
    """agent1 and agent2 both stand alone (Flume guide style: same r/c/k names): neither
    is a typo of the other, whichever is started."""
    text = minimal().replace("a.", "agent1.") + minimal().replace("a.", "agent2.")
    for name, other in (("agent1", "agent2"), ("agent2", "agent1")):
        result = load(tmp_path, text, registry, agent=name)
        assert result.plan is not None, result.format()
        assert only(result, f"line(s) for agent(s) '{other}'").severity == "warning"
        assert result.typos == {}


@pytest.mark.parametrize(
    ("extra", "typo"),
    [
        ("agent4.channels.c.type = memory\nagent4.channels.c.capacity = 10\n", "agent4"),  # the seed's pipeline 1
        ("agent2.sources.r.channels = c\n", "agent2"),  # the seed's pipeline 2
        ("agnet.sinks = k\n", "agnet"),  # a list line with a mistyped prefix
        ("zz.sinks.k.channel = c\n", "zz"),  # not close, but it configures agent's sink k
    ],
)
def test_mistyped_agent_prefix_is_a_typo_of_the_real_agent(tmp_path: Path, registry: Registry, extra: str, typo: str) -> None:
    base = minimal().replace("a.", "agent.")
    if typo == "agnet":
        base = base.replace("agent.sinks = k\n", "")
    result = load(tmp_path, base + extra, registry, agent="agent")
    assert result.typos == {typo: "agent"}
    assert all(d.is_error or "Flume ignores it" in d.message for d in result.diagnostics if f"agent '{typo}'" in d.message)
    assert not any("the configuration also has" in d.message for d in result.diagnostics), result.format()


def test_stray_line_for_unlisted_component_is_a_warning(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "ab.channels.other.type = memory\n", registry)
    diag = only(result, "this line is for agent 'ab'")
    assert diag.severity == "warning" and "did you mean 'a'" in diag.suggestion
    assert result.plan is not None


def test_line_without_agent_name(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "sources = r\n", registry)
    assert only(result, "names no agent").severity == "warning"
    # a variable used in ${...} is not reported
    result = load(tmp_path, minimal(**{"a.sources.r.totalEvents": "${TOTAL}"}) + "TOTAL = 5\n", registry)
    assert result.diagnostics == [], result.format()


# -- lists and component definitions -----------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_channels_missing_or_empty(tmp_path: Path, registry: Registry, value: str | None) -> None:
    result = load(tmp_path, minimal(**{"a.channels": value}), registry)
    diag = only(result, "agent 'a' has no channels")
    assert diag.is_error and ("empty" if value == "" else "missing") in diag.message
    assert "a.channels = c" in diag.suggestion
    if value == "":
        assert only(result, "empty value").severity == "warning"


def test_listed_component_with_properties_but_no_type(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.type": None, "a.channels.c.capacity": "10"}), registry)
    diag = only(result, "channel 'c' has no type")
    assert diag.line == 8 and diag.key == "a.channels.c.type" and "memory" in diag.suggestion


def test_unknown_type_did_you_mean(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.type": "memroy"}), registry)
    diag = only(result, "unknown channel type 'memroy'")
    assert diag.line == 6 and "did you mean 'memory'" in diag.suggestion


def test_unknown_key_did_you_mean_with_line(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.capacty": "10"}), registry)
    diag = only(result, "unknown key 'capacty'")
    assert diag.is_error and diag.line == 9 and diag.key == "a.channels.c.capacty"
    assert "capacity" in diag.suggestion


def test_bad_value_is_reported_on_its_line(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.capacity": "lots"}), registry)
    diag = only(result, "is not a whole number")
    assert diag.line == 9 and "channel 'c'" in diag.message


def test_required_key_missing_points_at_type_line(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sinks.k.type": "hdfs"}), registry)
    diag = only(result, "required key 'hdfs.path' is missing")
    assert diag.line == 7 and diag.key == "a.sinks.k.hdfs.path"


def test_unlisted_component_is_named(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "a.sinks.k2.type = logger\na.sinks.k2.channel = c\n", registry)
    diag = only(result, "sink 'k2' is configured but not listed in a.sinks")
    assert diag.severity == "warning" and diag.line == 9
    assert "a.sinks = k k2" in diag.suggestion


def test_invalid_property_suggests_the_section(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "a.source.r.type = seq\n", registry)
    diag = only(result, "invalid key")
    assert diag.is_error and diag.line == 9 and "a.sources.r.type" in diag.suggestion


def test_empty_value_is_a_warning(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal() + "a.channels.c.capacity =\n", registry)
    diag = only(result, "empty value")
    assert diag.severity == "warning" and diag.line == 9
    assert result.plan is not None


def test_legacy_key_warning_names_new_key(tmp_path: Path, registry: Registry) -> None:
    text = minimal(**{"a.sinks.k.type": "org.apache.flume.sink.kafka.KafkaSink", "a.sinks.k.brokerList": "h:9092"})
    result = load(tmp_path, text, registry)
    diag = only(result, "brokerList")
    assert diag.severity == "warning" and diag.line == 9 and "kafka.bootstrap.servers" in diag.message
    assert result.plan is not None
    assert result.plan.sinks["k"].settings["kafka.bootstrap.servers"] == "h:9092"


# -- bindings ------------------------------------------------------------------------------


def test_source_channel_not_listed(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sources.r.channels": "c cc"}), registry)
    diag = only(result, "channel 'cc', which is not listed")
    assert diag.line == 5 and "did you mean 'c'" in diag.suggestion


def test_source_with_singular_channel(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sources.r.channels": None, "a.sources.r.channel": "c"}), registry)
    diag = only(result, "uses 'channel' (singular)")
    assert "a.sources.r.channels" in diag.suggestion


def test_sink_channel_missing_two_names_or_plural(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sinks.k.channel": None}), registry)
    assert only(result, "sink 'k' reads from no channel").is_error
    result = load(tmp_path, minimal(**{"a.channels": "c d", "a.channels.d.type": "memory", "a.sinks.k.channel": "c d"}), registry)
    assert "exactly one channel" in only(result, "names 2 channels").message
    result = load(tmp_path, minimal(**{"a.sinks.k.channel": None, "a.sinks.k.channels": "c"}), registry)
    assert "a.sinks.k.channel" in only(result, "uses 'channels' (plural)").suggestion


def test_sink_in_two_groups(tmp_path: Path, registry: Registry) -> None:
    text = minimal() + "a.sinkgroups = g1 g2\na.sinkgroups.g1.sinks = k\na.sinkgroups.g2.sinks = k\n"
    result = load(tmp_path, text, registry)
    diag = only(result, "sink groups 'g1' and 'g2'")
    assert diag.is_error and diag.line == 11


def test_sinkgroup_problems(tmp_path: Path, registry: Registry) -> None:
    text = minimal() + "a.sinkgroups = g\na.sinkgroups.g.sinks = k kk\na.sinkgroups.g.procesor.type = failover\n"
    result = load(tmp_path, text, registry)
    assert "did you mean 'k'" in only(result, "sink 'kk'").suggestion
    assert only(result, "unknown key 'procesor.type'").line == 11


def test_interceptor_problems(tmp_path: Path, registry: Registry) -> None:
    text = minimal(
        **{
            "a.sources.r.interceptors": "i1 i2",
            "a.sources.r.interceptors.i1.type": "timestamp",
            "a.sources.r.interceptors.i1.headerNme": "ts",
            "a.sources.r.interceptors.i3.type": "static",
        }
    )
    result = load(tmp_path, text, registry)
    assert only(result, "interceptor 'i2' has no type").is_error
    unknown = only(result, "unknown key 'headerNme'")
    assert unknown.key == "a.sources.r.interceptors.i1.headerNme" and "headerName" in unknown.suggestion
    assert only(result, "interceptor 'i3' is configured but not listed").severity == "warning"


def test_selector_problems(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sources.r.selector.type": "multiplex"}), registry)
    assert "multiplexing" in only(result, "unknown selector type").suggestion
    result = load(tmp_path, minimal(**{"a.sources.r.selector.optinal": "c"}), registry)
    diag = only(result, "unknown key 'optinal'")
    assert diag.key == "a.sources.r.selector.optinal" and "optional" in diag.suggestion


def test_acknowledgements_must_be_boolean(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.sources.r.acknowledgements": "maybe"}), registry)
    assert only(result, "acknowledgements must be true or false").is_error


# -- capacity checks ------------------------------------------------------------------------


def test_source_batch_larger_than_transaction_capacity(tmp_path: Path, registry: Registry) -> None:
    text = minimal(**{"a.sources.r.batchSize": "500", "a.channels.c.transactionCapacity": "100", "a.channels.c.capacity": "1000"})
    result = load(tmp_path, text, registry)
    diag = only(result, "larger than channel 'c' transactionCapacity (100)")
    assert diag.is_error and diag.line == 9 and "source 'r'" in diag.message
    assert "transactionCapacity = 500" in diag.suggestion


def test_sink_batch_uses_its_batch_key_and_legacy_line(tmp_path: Path, registry: Registry) -> None:
    text = minimal(
        **{
            "a.sinks.k.type": "org.apache.flume.sink.kafka.KafkaSink",
            "a.sinks.k.brokerList": "h:1",
            "a.sinks.k.batchSize": "1000",
        }
    )
    result = load(tmp_path, text, registry)
    diag = only(result, "transactionCapacity (100)")
    assert diag.line == 10 and "sink 'k'" in diag.message


def test_transaction_capacity_above_capacity(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.capacity": "10", "a.channels.c.transactionCapacity": "100"}), registry)
    diag = only(result, "transactionCapacity (100) is larger than capacity (10)")
    assert diag.is_error and diag.line == 10


def test_default_batch_sizes_fit_default_capacity(tmp_path: Path, registry: Registry) -> None:
    text = minimal(**{"a.sources.r.type": "spooldir", "a.sources.r.spoolDir": "/x"})
    assert load(tmp_path, text, registry).diagnostics == []


# -- connectivity ---------------------------------------------------------------------------


def test_channel_with_nothing_connected(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels": "c spare", "a.channels.spare.type": "memory"}), registry)
    diag = only(result, "channel 'spare' has no source or sink connected")
    assert diag.severity == "warning" and result.plan is not None


def test_channel_no_sink_reads_is_an_error_naming_it_and_the_fix(tmp_path: Path, registry: Registry) -> None:
    """Its source would stall once the channel is full (issue 9 item 7)."""
    text = minimal(**{"a.channels": "c c2", "a.sources.r.channels": "c c2", "a.channels.c2.type": "memory"})
    result = load(tmp_path, text, registry)
    d = only(result, "no sink reads it")
    assert d.is_error and (d.line, d.key) == (9, "a.channels.c2.type") and "source 'r'" in d.message
    assert "a.sinks.k1.channel = c2" in d.suggestion and "remove 'c2' from a.sources.r.channels" in d.suggestion
    assert result.plan is None


def test_kafka_channel_without_sink_is_fine(tmp_path: Path, registry: Registry) -> None:
    """Flume's documented use: a source writes through the Kafka channel to a topic other apps read."""
    text = minimal(**{"a.channels": "c kc", "a.sources.r.channels": "c kc", "a.channels.kc.type": "kafka"})
    text += "a.channels.kc.kafka.bootstrap.servers = h:9092\n"
    result = load(tmp_path, text, registry)
    assert result.plan is not None, result.format()


def test_no_sources_and_no_sinks(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, "a.channels = c\na.channels.c.type = memory\n", registry)
    assert only(result, "no sources and no sinks").is_error


def test_every_problem_is_reported_at_once(tmp_path: Path, registry: Registry) -> None:
    text = minimal(
        **{
            "a.channels.c.type": "memroy",
            "a.sources.r.totalEvnts": "5",
            "a.sinks.k.channel": "x",
            "a.sinks.k.maxBytesToLog": "many",
        }
    )
    result = load(tmp_path, text, registry)
    messages = " | ".join(d.message for d in result.errors)
    for needle in ("unknown channel type 'memroy'", "unknown key 'totalEvnts'", "channel 'x'", "not a whole number"):
        assert needle in messages


# -- secrets ---------------------------------------------------------------------------------


def test_secret_values_are_masked(tmp_path: Path, registry: Registry) -> None:
    class SecretSink(Sink):
        type_name = "secret"
        settings_schema = Schema(Setting("password", "int", None, secret=True), Setting("auth.token", "enum", "a", choices=("a", "b")))

    registry.add(SecretSink, "test")
    text = minimal(**{"a.sinks.k.type": "secret", "a.sinks.k.password": "hunter2", "a.sinks.k.auth.token": "tok-XYZ"})
    result = load(tmp_path, text, registry)
    assert len(result.errors) == 2
    for diag in result.diagnostics:
        assert "hunter2" not in diag.format() and "tok-XYZ" not in diag.format()
    assert all("******" in d.message for d in result.errors)


def test_format_summarises(tmp_path: Path, registry: Registry) -> None:
    result = load(tmp_path, minimal(**{"a.channels.c.type": "memroy"}), registry)
    text = result.format()
    assert "flume.conf:6: error: a.channels.c.type: channel 'c': unknown channel type 'memroy'" in text
    assert text.endswith("1 error, 0 warnings")


def test_uninstalled_plugin_type_names_the_plugin(tmp_path: Path) -> None:
    empty = Registry()
    result = load(tmp_path, minimal(**{"a.sinks.k.type": "org.apache.flume.sink.kafka.KafkaSink"}), empty)
    d = only(result, "is not installed")
    assert "it comes with the flafka-kafka plugin" in d.message and d.suggestion == "pip install flafka-kafka"


@pytest.mark.parametrize(
    ("section", "type_name", "plugin"),
    [
        ("sinks", "hbase", "flafka-hbase"),
        ("sinks", "org.apache.flume.sink.hbase2.HBase2Sink", "flafka-hbase"),
        ("sinks", "asynchbase", "flafka-hbase"),
        ("sinks", "org.apache.kudu.flume.sink.KuduSink", "flafka-kudu"),
        ("sinks", "avro", "flafka-avro"),
        ("sources", "AVRO", "flafka-avro"),
    ],
)
def test_connector_types_name_their_package(
    tmp_path: Path, registry: Registry, section: str, type_name: str, plugin: str
) -> None:
    """flafka-hbase, flafka-kudu and flafka-avro are packages of this repository: a config
    that uses their types without them installed is told which one to install."""
    key = {"sources": "a.sources.r.type", "sinks": "a.sinks.k.type"}[section]
    result = load(tmp_path, minimal(**{key: type_name}), registry)
    d = only(result, "is not installed")
    assert f"type '{type_name}' is not installed" in d.message and f"it comes with the {plugin} plugin" in d.message
    assert d.suggestion == f"pip install {plugin}"


@pytest.mark.parametrize(
    ("section", "type_name"),
    [("sources", "netcat"), ("sources", "TAILDIR"), ("channels", "jdbc"), ("sinks", "org.apache.flume.sink.hive.HiveSink")],
)
def test_flume_types_flafka_lacks_are_named_not_implemented_yet(tmp_path: Path, registry: Registry, section: str, type_name: str) -> None:
    key = {"sources": "a.sources.r.type", "channels": "a.channels.c.type", "sinks": "a.sinks.k.type"}[section]
    d = only(load(tmp_path, minimal(**{key: type_name}), registry), "is not implemented in flafka yet")
    assert d.is_error and f"'{type_name}'" in d.message and "keep this agent on Flume" in d.suggestion


def test_custom_java_class_type_says_java_components_are_not_implemented(tmp_path: Path, registry: Registry) -> None:
    d = only(load(tmp_path, minimal(**{"a.sinks.k.type": "org.example.MySink"}), registry), "unknown sink type")
    assert "'org.example.MySink': it names a Java class" in d.message and "not implemented in flafka" in d.message
    assert "flafka plugin" in d.suggestion


def test_config_filter_used_by_a_value_is_an_error_unused_a_warning(tmp_path: Path, registry: Registry) -> None:
    text = minimal() + "a.configfilters = f1\na.configfilters.f1.type = external\n"
    d = only(load(tmp_path, text, registry), "config filter 'f1'")
    assert d.severity == "warning" and "of type 'external' is not implemented in flafka yet" in d.message
    used = load(tmp_path, text + "a.sinks.k.maxBytesToLog = ${f1['n']}\n", registry)
    d = only(used, "config filter 'f1'")
    assert d.is_error and d.line == 11 and "would stay as written" in d.message


@pytest.mark.timeout(30)
def test_fifo_is_refused_without_blocking(tmp_path: Path, registry: Registry) -> None:
    """Reading a FIFO with no writer blocked validate for good."""
    fifo = tmp_path / "pipe.conf"
    os.mkfifo(fifo)
    result = load_config([fifo], "a", registry, env={})
    d = only(result, "is a FIFO (named pipe), not a regular file")
    assert d.is_error and d.file == str(fifo) and "-f/--conf-file" in d.suggestion


def test_oversized_file_is_refused_unread(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka.config import properties

    monkeypatch.setattr(properties, "MAX_FILE_BYTES", 100)
    path = write(tmp_path, minimal() + "# padding\n" * 20)
    d = only(load_config([path], "a", registry, env={}), "config files are read up to 100 bytes")
    assert d.is_error


def test_constructor_warnings_become_diagnostics_on_their_line(tmp_path: Path, registry: Registry) -> None:
    import logging

    class Chatty(Sink):
        type_name = "chatty"
        settings_schema = Schema(Setting("oldKey", "int", None))

        def __init__(self, name: str, settings: Settings) -> None:
            super().__init__(name, settings)
            logging.getLogger("flafka.test.chatty").warning("sink '%s': oldKey is obsolete; remove it", name)

    registry.add(Chatty, "test")
    result = load(tmp_path, minimal(**{"a.sinks.k.type": "chatty", "a.sinks.k.oldKey": "3"}), registry)
    d = only(result, "oldKey is obsolete")
    assert d.severity == "warning" and (d.line, d.key) == (9, "a.sinks.k.oldKey")
    assert d.message == "sink 'k': oldKey is obsolete; remove it"
    assert result.plan is not None


# -- check_settings problems name keys in full ---------------------------------------------------


def test_check_settings_messages_name_keys_with_the_full_prefix(tmp_path: Path) -> None:
    """A component's cross-key check speaks of its keys relative to it (``add
    backupCheckpointDir = ...``); the report writes them in full, so the fix can be pasted
    into the file. Prose, values and type names are left alone."""
    from importlib.metadata import EntryPoint

    from flafka import plugins

    report = plugins.load_plugins(env={}, entry_points=[EntryPoint("builtins", "flafka.builtins", "flafka")])
    registry = report.registry
    text = minimal(
        **{
            "a.channels.c.type": "file",
            "a.channels.c.checkpointDir": str(tmp_path / "cp"),
            "a.channels.c.dataDirs": str(tmp_path / "data"),
            "a.channels.c.useDualCheckpoints": "true",
            "a.channels.c.capacity": "10",
            "a.channels.c.transactionCapacity": "100",
            "a.sinks.k.type": "file_roll",
            "a.sinks.k.sink.directory": str(tmp_path / "out"),
            "a.sinks.k.sink.serializer": "TEXT",
            "a.sinks.k.sink.serializer.appendNewlin": "false",
        }
    )
    result = load(tmp_path, text, registry)
    dual = only(result, "needs backupCheckpointDir")
    assert dual.key == "a.channels.c.backupCheckpointDir"
    assert dual.message == "channel 'c': a.channels.c.useDualCheckpoints = true needs backupCheckpointDir"
    assert dual.suggestion == "add a.channels.c.backupCheckpointDir = <directory>"
    cap = only(result, "is larger than capacity")
    assert cap.message == "channel 'c': transactionCapacity (100) is larger than capacity (10)"  # prose: unchanged
    newline = only(result, "for serializer TEXT")
    assert newline.key == "a.sinks.k.sink.serializer.appendNewlin"
    assert newline.message == "sink 'k': unknown key 'a.sinks.k.sink.serializer.appendNewlin' for serializer TEXT"
    assert newline.suggestion == "did you mean 'a.sinks.k.sink.serializer.appendNewline'?"
    # a schema problem is about its line's own key, named in full by the key column
    typo = only(load(tmp_path, minimal(**{"a.channels.c.capacty": "5"}), registry), "unknown key")
    assert (typo.key, typo.message) == ("a.channels.c.capacty", "channel 'c': unknown key 'capacty'")
