"""Java client properties -> librdkafka, JAAS parsing, secrets never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flafka.errors import ConfigError
from flafka.testing import make, settings_for
from flafka_kafka.client_config import librdkafka_problems, masked, parse_jaas, translate
from flafka_kafka.keystores import STORES, Stores
from flafka_kafka.sink import KafkaSink
from flafka_kafka.source import KafkaSource

SECRET = "s3cr3t-Pa55"
JAAS = f'org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="{SECRET}";'


def test_renamed_and_same_name_properties() -> None:
    out, problems = translate(
        {
            "max.request.size": "2000000",
            "linger.ms": "10",
            "compression.type": "lz4",
            "buffer.memory": "33554432",
            "fetch.max.wait.ms": "200",
            "auto.offset.reset": "none",
            "ssl.endpoint.identification.algorithm": "",
        },
        "producer",
        "kafka.producer.",
    )
    assert out == {
        "message.max.bytes": "2000000",
        "linger.ms": "10",
        "compression.type": "lz4",
        "queue.buffering.max.kbytes": "32768",
        "fetch.wait.max.ms": "200",
        "auto.offset.reset": "error",
        "ssl.endpoint.identification.algorithm": "none",
    }
    assert problems == []


def test_java_only_properties_are_dropped_with_warnings() -> None:
    out, problems = translate(
        {"key.serializer": "org.apache.kafka.common.serialization.StringSerializer", "max.block.ms": "1000", "producer.type": "sync"},
        "producer",
        "kafka.producer.",
    )
    assert out == {}
    assert sorted(p.key for p in problems) == [
        "kafka.producer.key.serializer",
        "kafka.producer.max.block.ms",
        "kafka.producer.producer.type",
    ]
    assert all(p.severity == "warning" for p in problems)


def test_forced_properties_warn_and_are_not_passed() -> None:
    out, problems = translate(
        {"enable.auto.commit": "true", "group.id": "x", "enable.auto.offset.store": "false"}, "consumer", "kafka.consumer."
    )
    assert out == {}
    assert sorted(p.key for p in problems) == ["kafka.consumer.enable.auto.commit", "kafka.consumer.group.id"]


def test_plain_jaas_becomes_sasl_username_password() -> None:
    out, problems = translate(
        {"sasl.jaas.config": JAAS, "sasl.mechanism": "PLAIN", "security.protocol": "SASL_SSL"}, "producer", "kafka.producer."
    )
    assert problems == []
    assert out == {"sasl.username": "alice", "sasl.password": SECRET, "sasl.mechanism": "PLAIN", "security.protocol": "SASL_SSL"}


def test_scram_and_kerberos_jaas() -> None:
    scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="p w";'
    out, _ = translate({"sasl.jaas.config": scram}, "consumer", "kafka.consumer.")
    assert out == {"sasl.username": "bob", "sasl.password": "p w"}
    krb = (
        "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true "
        'keyTab="/etc/f.keytab" principal="flume@EX.COM";'
    )
    out, _ = translate({"sasl.jaas.config": krb}, "consumer", "kafka.consumer.")
    assert out == {"sasl.kerberos.keytab": "/etc/f.keytab", "sasl.kerberos.principal": "flume@EX.COM"}


def test_parse_jaas_without_trailing_semicolon() -> None:
    module, options = parse_jaas('x.PlainLoginModule required username="a" password="b"')
    assert module == "x.PlainLoginModule" and options == {"username": "a", "password": "b"}


@pytest.mark.parametrize(
    "value",
    [
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="alice";',  # no password
        f'PlainLoginModule required username="alice" password="{SECRET};',  # unbalanced quote
        "nonsense",
        f'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientSecret="{SECRET}";',
    ],
)
def test_bad_jaas_is_an_error_that_never_shows_the_secret(value: str) -> None:
    _, problems = translate({"sasl.jaas.config": value}, "producer", "kafka.producer.")
    assert [p.severity for p in problems] == ["error"]
    assert SECRET not in problems[0].message + problems[0].suggestion


def test_java_stores_are_kept_for_conversion_at_start() -> None:
    # translation reads no file: the stores ride along under STORES, converted when a client starts
    props = {
        "ssl.truststore.location": "/etc/t.jks",
        "ssl.truststore.password": SECRET,
        "ssl.keystore.location": "/etc/k.p12",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.password": SECRET,
        "ssl.key.password": SECRET,
    }
    out, problems = translate(props, "producer", "kafka.producer.")
    assert problems == []
    assert out == {STORES: Stores("kafka.producer.", "/etc/t.jks", None, SECRET, "/etc/k.p12", "PKCS12", SECRET, SECRET)}
    assert SECRET not in repr(out) and SECRET not in repr(masked(out))


def test_flume_hostname_verification_switch() -> None:
    out, _ = translate({"ssl.disableTLSHostnameVerification": "true"}, "consumer", "kafka.consumer.")
    assert out == {"ssl.endpoint.identification.algorithm": "none"}


def test_assignor_class_names() -> None:
    out, _ = translate(
        {"partition.assignment.strategy": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}, "consumer", "kafka.consumer."
    )
    assert out == {"partition.assignment.strategy": "cooperative-sticky"}
    _, problems = translate(
        {"partition.assignment.strategy": "org.apache.kafka.clients.consumer.StickyAssignor"}, "consumer", "kafka.consumer."
    )
    assert problems[0].severity == "error"


def test_sink_builds_with_a_truststore_and_start_names_an_unreadable_one() -> None:
    sink = make(KafkaSink, "k", **{"kafka.bootstrap.servers": "b:9092", "kafka.producer.ssl.truststore.location": "/no/such/x.jks"})
    with pytest.raises(ConfigError, match=r"sink 'k': kafka\.producer\.ssl\.truststore\.location: cannot read /no/such/x\.jks"):
        sink.start()


def test_secrets_are_masked_in_settings_and_config() -> None:
    s = settings_for(KafkaSource, **{"kafka.bootstrap.servers": "b", "kafka.topics": "t", "kafka.consumer.sasl.jaas.config": JAAS})
    assert SECRET not in repr(s.masked())
    src = KafkaSource("s", s)
    assert src.conf["sasl.password"] == SECRET
    assert SECRET not in repr(masked(src.conf))


def test_secrets_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings_for(KafkaSink, **{"kafka.bootstrap.servers": "127.0.0.1:1", "kafka.producer.sasl.jaas.config": JAAS})
    problems = KafkaSink.check_settings(s)
    sink = KafkaSink("k", s)
    sink.start()
    sink.stop()
    text = caplog.text + repr(problems)
    assert SECRET not in text


def test_librdkafka_checks_names_and_values_without_connecting() -> None:
    problems = librdkafka_problems({"no.such.prop": "1"}, "producer", "kafka.producer.")
    assert [(p.key, p.severity) for p in problems] == [("kafka.producer.no.such.prop", "error")]
    problems = librdkafka_problems({"acks": "banana"}, "producer", "kafka.producer.")
    assert problems[0].severity == "error"
    problems = librdkafka_problems({"fetch.wait.max.ms": "100"}, "producer", "kafka.producer.")
    assert [p.severity for p in problems] == ["warning"]  # a consumer property on a producer
    assert librdkafka_problems({"session.timeout.ms": "10000"}, "consumer", "kafka.consumer.") == []


def test_a_pem_truststore_is_read_as_the_ca_location() -> None:
    conf, problems = translate(
        {"ssl.truststore.type": "PEM", "ssl.truststore.location": "/etc/kafka/ca.pem", "security.protocol": "SASL_SSL"},
        "consumer",
        "kafka.consumer.",
    )
    assert problems == []
    assert conf["ssl.ca.location"] == "/etc/kafka/ca.pem"
    assert "ssl.truststore.location" not in conf


def test_librdkafka_log_lines_repeat_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka logs through ``flafka_kafka.librdkafka`` (``logger`` in every client
    config); a broker that stays down must not repeat its failure every reconnect."""
    from flafka_kafka.client_config import client_log as rdkafka_log

    def fail(after: int, suppressed: str = "") -> None:
        text = f"[thrd:b]: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after {after}ms in state CONNECT{suppressed})"
        rdkafka_log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", text)

    with caplog.at_level(logging.ERROR, logger="flafka_kafka.librdkafka.client"):
        fail(0)
        fail(3, ", 4 identical error(s) suppressed")
        fail(1)
        rdkafka_log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "[thrd:x]: SSL handshake failed")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "Connection refused (after 0ms" in lines[0] and lines[1].endswith("SSL handshake failed")


# -- scale-out: assignor, static membership, group errors (issue 14) -----------------------------


def test_consumers_default_to_cooperative_sticky_unless_the_user_sets_an_assignor() -> None:
    from flafka_kafka.channel import KafkaChannel

    src = make(KafkaSource, "r1", **{"kafka.bootstrap.servers": "b:9092", "kafka.topics": "t"})
    ch = make(KafkaChannel, "c1", **{"kafka.bootstrap.servers": "b:9092"})
    assert src.conf["partition.assignment.strategy"] == "cooperative-sticky"
    assert ch.consumer_conf["partition.assignment.strategy"] == "cooperative-sticky"
    java = "org.apache.kafka.clients.consumer.RangeAssignor"
    key = "kafka.consumer.partition.assignment.strategy"
    for chosen, expected in ((java, "range"), ("roundrobin", "roundrobin")):
        source = make(KafkaSource, "r1", **{"kafka.bootstrap.servers": "b:9092", "kafka.topics": "t", key: chosen})
        channel = make(KafkaChannel, "c1", **{"kafka.bootstrap.servers": "b:9092", key: chosen})
        assert source.conf["partition.assignment.strategy"] == expected
        assert channel.consumer_conf["partition.assignment.strategy"] == expected


def test_the_default_instance_id_names_host_agent_component_and_topics() -> None:
    import socket

    from flafka_kafka.client_config import default_instance_id, with_instance_id

    one = default_instance_id("a1", "r1", ["t", "u"], host="h1")
    assert one.startswith("h1/a1/r1/") and len(one) == len("h1/a1/r1/") + 8
    assert default_instance_id("a1", "r1", ["u", "t"], host="h1") == one  # order does not matter
    assert default_instance_id("a1", "r1", ["t"], host="h1") != one  # another subscription: another member
    assert default_instance_id("a1", "r2", ["t", "u"], host="h1") != one
    assert default_instance_id("a2", "r1", ["t", "u"], host="h1") != one
    conf = with_instance_id({"group.id": "g"}, "a1", "c1", ["t"])
    assert conf["group.instance.id"].startswith(f"{socket.gethostname()}/a1/c1/")
    assert with_instance_id({"group.id": "g"}, "a1", "c1", ["t"], taker=3)["group.instance.id"] == conf["group.instance.id"] + "-3"
    assert "group.instance.id" not in with_instance_id({"group.id": "g"}, "a1", "c1", ["t"], static=False)
    users = {"group.id": "g", "group.instance.id": "node-7"}
    assert with_instance_id(users, "a1", "c1", ["t"], static=False)["group.instance.id"] == "node-7"  # the user's id wins
    assert with_instance_id(users, "a1", "c1", ["t"], taker=2)["group.instance.id"] == "node-7-2"


def test_the_user_instance_id_passes_through_and_static_membership_can_be_switched_off() -> None:
    src = make(
        KafkaSource, "r1", **{"kafka.bootstrap.servers": "b:9092", "kafka.topics": "t", "kafka.consumer.group.instance.id": "${env:X:-n1}"}
    )
    assert src.conf["group.instance.id"] == "${env:X:-n1}"  # substitution happens in the config loader, not here
    off = make(KafkaSource, "r1", **{"kafka.bootstrap.servers": "b:9092", "kafka.topics": "t", "staticMembership": "false"})
    assert off.static is False


class _Err:
    def __init__(self, name: str, text: str, fatal: bool = True) -> None:
        self._name, self._text, self._fatal = name, text, fatal

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text

    def fatal(self) -> bool:
        return self._fatal


def test_group_errors_name_the_key_to_fix() -> None:
    from flafka_kafka.client_config import group_error_fix

    conf = {"group.id": "g", "group.instance.id": "h/a1/r1/0a1b2c3d", "partition.assignment.strategy": "cooperative-sticky"}
    fenced = group_error_fix(
        _Err("_FATAL", "Fatal error: Broker: Static consumer fenced by other consumer with same group.instance.id"), conf
    )
    assert "h/a1/r1/0a1b2c3d" in fenced and "kafka.consumer.group.instance.id" in fenced and "staticMembership = false" in fenced
    mixed = group_error_fix(_Err("INCONSISTENT_GROUP_PROTOCOL", "Broker: Inconsistent group protocol", False), conf)
    assert "RangeAssignor" in mixed and "kafka.consumer.partition.assignment.strategy" in mixed
    assert group_error_fix(_Err("_TRANSPORT", "Broker: transport failure", False), conf) == ""


_SURROGATE_KEY = r"""a1.channels = c1
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = localhost:9092
a1.channels.c1.kafka.producer.\uD800security.protocol = PLAINTEXT
a1.channels.c1.kafka.consumer.client.id = a\u0000b
a1.sources = r1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.channels = c1
a1.sources.r1.kafka.bootstrap.servers = localhost:9092
a1.sources.r1.kafka.topics = t1
a1.sources.r1.kafka.consumer.group.id = \uD800flume
a1.sinks = k1
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
"""


def test_a_key_or_value_librdkafka_cannot_take_is_reported_with_its_line(tmp_path: Path) -> None:
    # found by the fuzzing campaign (tests/fuzz, target config): a lone surrogate in a
    # kafka.producer.* key made `flafka validate` die of a segmentation fault in librdkafka
    path = tmp_path / "kafka.conf"
    path.write_text(_SURROGATE_KEY, encoding="utf-8")
    env = {**os.environ, "FLAFKA_PLUGINS": "builtins,kafka", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "flafka", "validate", "-f", str(path), "-n", "a1"],
                          capture_output=True, text=True, env=env, timeout=60, errors="replace")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out  # errors found, not a crash (-11)
    assert "Traceback" not in out and "Fatal Python error" not in out, out
    assert f"{path}:4" in out and "lone surrogate" in out, out
    assert f"{path}:5" in out and "NUL character" in out, out
    # flafka's own group.id: an assertion inside confluent-kafka aborted the process
    assert f"{path}:11" in out and "kafka.consumer.group.id" in out, out


def test_translate_refuses_what_librdkafka_cannot_take() -> None:
    out, problems = translate({"\udc80x": "1", "client.id": "a\x00b", "linger.ms": "5"}, "producer", "kafka.producer.")
    assert out == {"linger.ms": "5"}
    assert sorted(p.key for p in problems if p.severity == "error") == ["kafka.producer.client.id", "kafka.producer.\udc80x"]
