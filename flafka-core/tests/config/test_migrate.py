"""flafka migrate: legacy (Flume 1.6) keys renamed in place, layout kept."""

from __future__ import annotations

from pathlib import Path

from flafka.config.loader import load_config
from flafka.config.migrate import migrate_file, migrate_text
from flafka.config.properties import parse_text
from flafka.registry import Registry


def test_seed_kafka_channel_is_migrated(registry: Registry, seed_dir: Path, tmp_path: Path) -> None:
    text = (seed_dir / "kafka_channel.conf").read_text()
    new, changes = migrate_text(text, registry)
    assert [(c.line, c.old_key, c.new_key, c.action) for c in changes] == [
        (12, "agent.channels.kafka-channel.brokerList", "agent.channels.kafka-channel.kafka.bootstrap.servers", "renamed"),
        (14, "agent.channels.kafka-channel.topic", "agent.channels.kafka-channel.kafka.topic", "renamed"),
    ]
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    assert new_lines[11] == "agent.channels.kafka-channel.kafka.bootstrap.servers = localhost:9092"
    assert new_lines[13] == "agent.channels.kafka-channel.kafka.topic = eventtopic"
    # every other line is untouched
    assert [a for i, a in enumerate(old_lines) if i not in (11, 13)] == [b for i, b in enumerate(new_lines) if i not in (11, 13)]
    # the migrated file loads with no legacy warnings
    path = tmp_path / "migrated.conf"
    path.write_text(new)
    result = load_config([path], "agent", registry, env={})
    assert not [d for d in result.diagnostics if "1.6 spelling" in d.message]


def test_seed_spooldir_sample_sink_keys(registry: Registry, seed_dir: Path) -> None:
    new, changes = migrate_text((seed_dir / "spooldir_sample.conf").read_text(), registry)
    assert {c.new_key for c in changes} == {
        "agent.sinks.kafka-sink.kafka.topic",
        "agent.sinks.kafka-sink.kafka.bootstrap.servers",
        "agent.sinks.kafka-sink.flumeBatchSize",
    }
    assert "agent.sinks.kafka-sink.flumeBatchSize = 20\n" in new
    # agent4's lines (a typo, not a legacy spelling) are not touched
    assert "agent4.channels.memory-channel.type = memory" in new


def test_layout_comments_separators_and_crlf_are_kept(registry: Registry) -> None:
    text = (
        "# Kafka sink\r\n"
        "a.sinks.k.type = org.apache.flume.sink.kafka.KafkaSink\r\n"
        "   a.sinks.k.brokerList:h1:9092,\\\r\n"
        "        h2:9092   # trailing text is part of the value\r\n"
        "\r\n"
        "! comment\r\n"
        "a.sinks.k.topic\tevents\r\n"
    )
    new, changes = migrate_text(text, registry)
    assert len(changes) == 2
    assert new == (
        "# Kafka sink\r\n"
        "a.sinks.k.type = org.apache.flume.sink.kafka.KafkaSink\r\n"
        "   a.sinks.k.kafka.bootstrap.servers:h1:9092,\\\r\n"
        "        h2:9092   # trailing text is part of the value\r\n"
        "\r\n"
        "! comment\r\n"
        "a.sinks.k.kafka.topic\tevents\r\n"
    )
    assert parse_text(new).as_dict()["a.sinks.k.kafka.bootstrap.servers"] == "h1:9092,h2:9092   # trailing text is part of the value"


def test_old_key_next_to_new_key_is_commented_out(registry: Registry) -> None:
    text = (
        "a.sinks.k.type = org.apache.flume.sink.kafka.KafkaSink\n"
        "a.sinks.k.brokerList = old:1,\\\n"
        "    old:2\n"
        "a.sinks.k.kafka.bootstrap.servers = new:1\n"
    )
    new, changes = migrate_text(text, registry)
    assert [c.action for c in changes] == ["commented out"]
    assert "commented out" in str(changes[0])
    assert new.splitlines()[1:3] == ["# a.sinks.k.brokerList = old:1,\\", "#     old:2"]
    assert parse_text(new).as_dict() == {
        "a.sinks.k.type": "org.apache.flume.sink.kafka.KafkaSink",
        "a.sinks.k.kafka.bootstrap.servers": "new:1",
    }


def test_unknown_types_and_current_keys_are_left_alone(registry: Registry) -> None:
    text = "a.sinks.k.type = com.example.Custom\na.sinks.k.brokerList = x\na.sinks.h.type = hdfs\na.sinks.h.hdfs.path = /p\n"
    assert migrate_text(text, registry) == (text, [])


def test_subcomponent_keys_use_their_own_schema(registry: Registry) -> None:
    from flafka.interceptor import Interceptor
    from flafka.settings import Schema, Setting

    class Renamed(Interceptor):
        type_name = "renamed"
        settings_schema = Schema(Setting("headerName", legacy=("header",)))

    registry.add(Renamed, "test")
    text = (
        "a.sources.r.type = seq\n"
        "a.sources.r.interceptors = i\n"
        "a.sources.r.interceptors.i.type = renamed\n"
        "a.sources.r.interceptors.i.header = h\n"
    )
    new, changes = migrate_text(text, registry)
    assert [c.new_key for c in changes] == ["a.sources.r.interceptors.i.headerName"]
    assert new.endswith("a.sources.r.interceptors.i.headerName = h\n")


def test_migrate_file(registry: Registry, seed_dir: Path) -> None:
    new, changes = migrate_file(seed_dir / "kafka_channel.conf", registry)
    assert len(changes) == 2 and "kafka.bootstrap.servers" in new
