"""Settings: Flume 1.6 keys translated to 1.7+, defaults, cross-key checks (no broker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flafka.errors import ConfigError
from flafka.testing import make, settings_for
from flafka_kafka.channel import KafkaChannel
from flafka_kafka.sink import KafkaSink, TopicTemplate
from flafka_kafka.source import KafkaSource, topics_of

# -- sink ------------------------------------------------------------------------------------


def test_sink_16_keys_are_read_as_17_keys_with_warnings() -> None:
    settings, problems = KafkaSink.settings_schema.parse(
        {"brokerList": "b1:9092,b2:9092", "topic": "t", "batchSize": "250", "requiredAcks": "-1"}
    )
    assert settings["kafka.bootstrap.servers"] == "b1:9092,b2:9092"
    assert settings["kafka.topic"] == "t"
    assert settings["flumeBatchSize"] == 250
    assert settings["kafka.producer.acks"] == "-1"
    warned = {p.key for p in problems if p.severity == "warning"}
    assert warned == {"brokerList", "topic", "batchSize", "requiredAcks"}
    assert all("1.6" in p.message for p in problems)
    assert not [p for p in problems if p.severity == "error"]


def test_sink_user_guide_example_batch_key_is_accepted() -> None:
    # the UG example writes kafka.flumeBatchSize, which Flume never read; flafka reads it, with a warning
    settings, problems = KafkaSink.settings_schema.parse({"kafka.bootstrap.servers": "b:9092", "kafka.flumeBatchSize": "20"})
    assert settings["flumeBatchSize"] == 20
    assert [p.key for p in problems] == ["kafka.flumeBatchSize"]


def test_sink_defaults_are_flumes() -> None:
    s = settings_for(KafkaSink, **{"kafka.bootstrap.servers": "b:9092"})
    assert s["kafka.topic"] == "default-flume-topic"
    assert s["flumeBatchSize"] == 100
    assert s["kafka.producer.acks"] == "1"
    assert s["allowTopicOverride"] is True
    assert s["topicHeader"] == "topic"
    assert s["useFlumeEventFormat"] is False
    assert KafkaSink.batch_size_from(s) == 100
    sink = make(KafkaSink, "k", **{"kafka.bootstrap.servers": "b:9092"})
    assert sink.conf["acks"] == "1"
    assert sink.conf["partitioner"] == "murmur2_random"  # the Java client's: same key, same partition
    assert sink.conf["message.max.bytes"] == 1048576  # the Java client's max.request.size


def test_sink_new_key_wins_over_legacy() -> None:
    settings, problems = KafkaSink.settings_schema.parse({"kafka.bootstrap.servers": "new:1", "brokerList": "old:1"})
    assert settings["kafka.bootstrap.servers"] == "new:1"
    assert "ignored" in problems[0].message


def test_sink_acks_warning_suggests_all() -> None:
    problems = KafkaSink.check_settings(settings_for(KafkaSink, **{"kafka.bootstrap.servers": "b:9092"}))
    acks = [p for p in problems if p.key == "kafka.producer.acks"]
    assert len(acks) == 1
    assert acks[0].severity == "warning"
    assert "all" in acks[0].suggestion
    problems = KafkaSink.check_settings(settings_for(KafkaSink, **{"kafka.bootstrap.servers": "b:9092", "kafka.producer.acks": "all"}))
    assert not [p for p in problems if p.key == "kafka.producer.acks"]


def test_sink_bad_acks_is_an_error() -> None:
    with pytest.raises(ConfigError, match="acks"):
        make(KafkaSink, "k", **{"kafka.bootstrap.servers": "b:9092", "kafka.producer.acks": "most"})


def test_sink_rejects_time_escapes_in_topic() -> None:
    with pytest.raises(ConfigError, match="%"):
        make(KafkaSink, "k", **{"kafka.bootstrap.servers": "b:9092", "kafka.topic": "logs-%Y"})


def test_sink_unknown_key_has_did_you_mean() -> None:
    _, problems = KafkaSink.settings_schema.parse({"kafka.bootstrap.servers": "b:9092", "useFlumeEventFormats": "true"})
    assert problems[0].severity == "error" and "useFlumeEventFormat" in problems[0].suggestion


def test_sink_producer_map_and_header_map() -> None:
    s = settings_for(
        KafkaSink,
        **{
            "kafka.bootstrap.servers": "b:9092",
            "kafka.producer.linger.ms": "20",
            "kafka.producer.acks": "all",
            "header.host": "origin-host",
        },
    )
    assert s["kafka.producer.*"] == {"linger.ms": "20"}
    assert s["kafka.producer.acks"] == "all"
    assert s["header.*"] == {"host": "origin-host"}


def test_sink_validate_runs_librdkafka_check() -> None:
    s = settings_for(KafkaSink, **{"kafka.bootstrap.servers": "b:9092", "kafka.producer.lingr.ms": "5"})
    errors = [p for p in KafkaSink.check_settings(s) if p.severity == "error"]
    assert errors and errors[0].key == "kafka.producer.lingr.ms"


# -- topic templates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "headers", "topic"),
    [
        ("plain", {"x": "1"}, "plain"),
        ("logs-%{host}", {"host": "web1"}, "logs-web1"),
        ("%{a}.%{b}", {"a": "x", "b": "y"}, "x.y"),
        ("logs-%{missing}", {}, "logs-"),
        ("%{host}", {"host": "h"}, "h"),
    ],
)
def test_topic_template(template: str, headers: dict[str, str], topic: str) -> None:
    assert TopicTemplate(template).render(headers) == topic


# -- source ----------------------------------------------------------------------------------


def test_source_16_keys() -> None:
    settings, problems = KafkaSource.settings_schema.parse(
        {"kafka.bootstrap.servers": "b:9092", "topic": "t1", "groupId": "g", "batchSize": "5", "batchDurationMillis": "200"}
    )
    assert settings["kafka.topics"] == "t1"
    assert settings["kafka.consumer.group.id"] == "g"
    assert {p.key for p in problems} == {"topic", "groupId"}


def test_source_timestamp_header_is_accepted_with_a_note(tmp_path: Path) -> None:
    # Flume 1.11's User Guide lists timestampHeader for the Kafka source; its code never reads it
    raw = {"kafka.bootstrap.servers": "b:9092", "kafka.topics": "t", "timestampHeader": "ts"}
    settings, problems = KafkaSource.settings_schema.parse(raw)
    assert problems == []
    notes = KafkaSource.check_settings(settings, check_librdkafka=False)
    assert [(p.key, p.severity) for p in notes] == [("timestampHeader", "warning")]
    assert notes[0].message.startswith("note:") and "Flume 1.11 ignores it" in notes[0].message
    make(KafkaSource, "s", **raw)  # builds
    conf = tmp_path / "a.conf"
    conf.write_text(
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n"
        "a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource\n"
        "a1.sources.r1.kafka.bootstrap.servers = localhost:9092\na1.sources.r1.kafka.topics = test1, test2\n"
        "a1.sources.r1.timestampHeader = ts\na1.sources.r1.channels = c1\n"
        "a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 1000\n"
        "a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n"
    )
    done = subprocess.run([sys.executable, "-m", "flafka", "validate", "-n", "a1", "-f", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"{conf}:7: warning: a1.sources.r1.timestampHeader" in done.stdout + done.stderr and "timestampHeader" in done.stdout + done.stderr
    )


def test_source_zookeeper_only_names_bootstrap_servers() -> None:
    with pytest.raises(ConfigError) as info:
        make(KafkaSource, "s", zookeeperConnect="zk:2181", topic="t")
    text = str(info.value)
    assert "zookeeperConnect" in text and "kafka.bootstrap.servers" in text


def test_source_zookeeper_with_bootstrap_is_a_warning() -> None:
    s = settings_for(KafkaSource, zookeeperConnect="zk:2181", topic="t", **{"kafka.bootstrap.servers": "b:9092"})
    problems = KafkaSource.check_settings(s, check_librdkafka=False)
    assert [(p.key, p.severity) for p in problems] == [("zookeeperConnect", "warning")]
    make(KafkaSource, "s", zookeeperConnect="zk:2181", topic="t", **{"kafka.bootstrap.servers": "b:9092"})


def test_source_needs_bootstrap_and_topics() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap\.servers"):
        make(KafkaSource, "s", **{"kafka.topics": "t"})
    with pytest.raises(ConfigError, match=r"kafka\.topics"):
        make(KafkaSource, "s", **{"kafka.bootstrap.servers": "b:9092"})


def test_source_topics_and_regex() -> None:
    assert topics_of(settings_for(KafkaSource, **{"kafka.bootstrap.servers": "b", "kafka.topics": "a, b,c"})) == ["a", "b", "c"]
    s = settings_for(KafkaSource, **{"kafka.bootstrap.servers": "b", "kafka.topics.regex": "logs-.*"})
    assert topics_of(s) == ["^(logs-.*)$"]
    s = settings_for(KafkaSource, **{"kafka.bootstrap.servers": "b", "kafka.topics.regex": "^logs-.*$"})
    assert topics_of(s) == ["^(logs-.*)$"]


def test_source_forces_manual_offsets_and_keeps_user_properties() -> None:
    src = make(
        KafkaSource,
        "s",
        **{
            "kafka.bootstrap.servers": "b:9092",
            "kafka.topics": "t",
            "kafka.consumer.enable.auto.commit": "true",
            "kafka.consumer.session.timeout.ms": "12000",
            "kafka.consumer.group.id": "grp",
        },
    )
    assert src.conf["enable.auto.commit"] is False
    assert src.conf["enable.auto.offset.store"] is False
    assert src.conf["session.timeout.ms"] == "12000"
    assert src.conf["group.id"] == "grp"
    assert src.replayable is True


def test_source_16_consumer_timeout_is_dropped_with_warning() -> None:
    s = settings_for(KafkaSource, **{"kafka.bootstrap.servers": "b", "topic": "t", "kafka.consumer.timeout.ms": "100"})
    problems = KafkaSource.check_settings(s)
    assert [p.severity for p in problems if p.key == "kafka.consumer.timeout.ms"] == ["warning"]
    assert not [p for p in problems if p.severity == "error"]


# -- channel ---------------------------------------------------------------------------------


def test_channel_16_keys() -> None:
    raw = {
        "brokerList": "b:9092",
        "zookeeperConnect": "zk:2181",
        "topic": "chan",
        "groupId": "g",
        "parseAsFlumeEvent": "false",
        "readSmallestOffset": "true",
        "capacity": "10000",
        "transactionCapacity": "1000",
    }
    settings, problems = KafkaChannel.settings_schema.parse(raw)
    assert not [p for p in problems if p.severity == "error"]
    ch = KafkaChannel("c", settings)
    assert ch.topic == "chan"
    assert ch.consumer_conf["group.id"] == "g"
    assert ch.consumer_conf["auto.offset.reset"] == "earliest"
    assert ch.avro is False
    warnings = {p.key for p in KafkaChannel.check_settings(settings, check_librdkafka=False)}
    assert {"zookeeperConnect", "readSmallestOffset", "capacity", "transactionCapacity"} <= warnings
    assert KafkaChannel.transaction_capacity_from(settings) is None


def test_channel_defaults_follow_flumes_code() -> None:
    ch = make(KafkaChannel, "c", **{"kafka.bootstrap.servers": "b:9092"})
    assert ch.topic == "flume-channel"
    assert ch.avro is True
    assert ch.producer_conf["acks"] == "all"  # code default, undocumented
    assert ch.consumer_conf["auto.offset.reset"] == "earliest"  # code default (the doc says latest)
    assert ch.poll_timeout == 0.5
    assert ch.durable is True


def test_channel_poll_timeout_spellings() -> None:
    # pollTimeout is what Flume 1.11's User Guide shows: accepted as is, no 1.6 warning
    s, problems = KafkaChannel.settings_schema.parse({"kafka.bootstrap.servers": "b", "pollTimeout": "250"})
    assert problems == [] and KafkaChannel.check_settings(s, check_librdkafka=False) == []
    assert KafkaChannel("c", s).poll_timeout == 0.25
    # kafka.pollTimeout (the key Flume's code reads) wins over it, with a warning when they differ
    s, problems = KafkaChannel.settings_schema.parse({"kafka.bootstrap.servers": "b", "pollTimeout": "250", "kafka.pollTimeout": "40"})
    assert problems == [] and KafkaChannel("c", s).poll_timeout == 0.04
    assert [(p.key, p.severity) for p in KafkaChannel.check_settings(s, check_librdkafka=False)] == [("pollTimeout", "warning")]
    # Flume 1.6's consumer `timeout` is still read as kafka.pollTimeout, with the 1.6 warning
    s, problems = KafkaChannel.settings_schema.parse({"kafka.bootstrap.servers": "b", "timeout": "100"})
    assert KafkaChannel("c", s).poll_timeout == 0.1 and [p.key for p in problems] == ["timeout"]


def test_channel_zookeeper_only_names_bootstrap_servers() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap\.servers"):
        make(KafkaChannel, "c", zookeeperConnect="zk:2181")
