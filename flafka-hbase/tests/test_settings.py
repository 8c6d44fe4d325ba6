"""Settings of the hbase2/hbase/asynchbase sinks: Flume's keys honoured or answered."""

from __future__ import annotations

import pytest

from flafka.errors import ConfigError
from flafka.settings import Problem
from flafka_hbase.sink import AsyncHBaseSink, HBase2Sink, HBaseSink, resolve_hbase_serializer

BASE = {"table": "t", "columnFamily": "cf", "thrift.servers": "h1:9090,h2:9091"}


def problems(cls: type[HBase2Sink], **keys: str) -> list[Problem]:
    settings, parsed = cls.settings_schema.parse(keys)
    assert not [p for p in parsed if p.severity == "error"], parsed
    return cls.check_settings(settings)


def errors(cls: type[HBase2Sink], **keys: str) -> dict[str, Problem]:
    return {p.key: p for p in problems(cls, **keys) if p.severity == "error"}


def test_only_zookeeper_quorum_is_rejected_with_the_line_to_add() -> None:
    errs = errors(HBase2Sink, table="t", columnFamily="cf", zookeeperQuorum="zk1:2181,zk2:2181")
    assert "thrift.servers = zk1:9090,zk2:9090" in errs["zookeeperQuorum"].suggestion
    assert "thrift.servers" in errors(HBase2Sink, table="t", columnFamily="cf")


def test_zookeeper_keys_next_to_thrift_servers_are_noted_unused() -> None:
    ps = problems(HBase2Sink, **BASE, zookeeperQuorum="zk:2181", znodeParent="/hbase")
    assert {(p.key, p.severity) for p in ps} == {("zookeeperQuorum", "warning"), ("znodeParent", "warning")}
    assert all("unused" in p.message for p in ps)


@pytest.mark.parametrize("key", ["kerberosPrincipal", "kerberosKeytab"])
def test_kerberos_is_not_supported_over_thrift_yet(key: str) -> None:
    assert "not supported over Thrift yet" in errors(HBase2Sink, **BASE, **{key: "x"})[key].message


def test_bad_thrift_servers_and_enums() -> None:
    assert "thrift.servers" in errors(HBase2Sink, **{**BASE, "thrift.servers": "h1"})
    _, parsed = HBase2Sink.settings_schema.parse({**BASE, "thrift.transport": "framd"})
    assert [p.key for p in parsed if p.severity == "error"] == ["thrift.transport"]


def test_flume_booleans_only_true_is_true() -> None:
    ps = problems(HBase2Sink, **BASE, enableWal="yes")
    assert any(p.key == "enableWal" and "read as false" in p.message for p in ps)
    settings, _ = HBase2Sink.settings_schema.parse({**BASE, "enableWal": "yes", "coalesceIncrements": " TRUE "})
    sink = HBase2Sink("k", settings)
    assert sink.wal is False and sink.coalesce is True


def test_defaults_and_types() -> None:
    settings, _ = HBase2Sink.settings_schema.parse(BASE)
    sink = HBase2Sink("k", settings)
    assert sink.batch_size() == 100 and sink.wal and not sink.coalesce
    assert sink.options.servers == (("h1", 9090), ("h2", 9091))
    assert sink.options.timeout_ms == 60000 and sink.max_bytes == 32 * 1024 * 1024
    assert type(sink.serializer).__name__ == "SimpleHBaseSerializer"
    settings, _ = HBase2Sink.settings_schema.parse({**BASE, "thrift.transport": "framed"})
    assert HBase2Sink("k", settings).max_bytes == 1536 * 1024
    assert HBase2Sink.aliases == ("org.apache.flume.sink.hbase2.HBase2Sink",)
    assert HBaseSink.aliases == ("org.apache.flume.sink.hbase.HBaseSink",)
    assert AsyncHBaseSink.aliases == ("org.apache.flume.sink.hbase.AsyncHBaseSink",)


def test_asynchbase_timeout_is_the_call_timeout_and_async_keys_are_answered() -> None:
    settings, _ = AsyncHBaseSink.settings_schema.parse({**BASE, "timeout": "1234", "async.foo": "1"})
    assert AsyncHBaseSink("k", settings).options.timeout_ms == 1234
    ps = problems(AsyncHBaseSink, **BASE, **{"async.foo": "1", "maxConsecutiveFails": "3"})
    assert {p.key for p in ps} == {"async.*", "maxConsecutiveFails"}
    assert {p.key for p in problems(HBase2Sink, **BASE, timeout="5")} == {"timeout"}


def test_file_serializer_is_refused_naming_both_families() -> None:
    cls, _, ps = resolve_hbase_serializer("TEXT", {})
    assert cls is None and "writes files" in ps[0].message and "hbase_regex" in ps[0].suggestion
    cls, _, ps = resolve_hbase_serializer("org.example.MySerializer", {})
    assert cls is None and "Java classes" in ps[0].message


def test_serializer_sub_keys_are_checked() -> None:
    errs = errors(HBase2Sink, **BASE, serializer="RegexHBase2EventSerializer", **{"serializer.colNmes": "a"})
    assert "serializer.colNames" in errs["serializer.colNmes"].suggestion
    with pytest.raises(ConfigError, match=r"serializer\.colNmes"):
        settings, _ = HBase2Sink.settings_schema.parse({**BASE, "serializer": "RegexHBase2EventSerializer", "serializer.colNmes": "a"})
        HBase2Sink("k", settings)
