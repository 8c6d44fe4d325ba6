"""Fixtures for the config tests.

The classes below are TEST DOUBLES for registry lookups only: they declare the type
names, aliases and settings schemas the loader needs to see (the real Kafka, HDFS,
spooldir and memory components live elsewhere and are built in parallel). None of them
moves data; the loader never instantiates a component anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flafka.channel import Channel
from flafka.interceptor import Interceptor
from flafka.registry import Registry
from flafka.selector import ChannelSelector
from flafka.settings import REQUIRED, Schema, Setting
from flafka.sink import Sink
from flafka.sinkprocessor import SinkProcessor
from flafka.source import PollableSource

SEED = Path(__file__).parent / "seed"


class MemoryChannelDouble(Channel):
    type_name = "memory"
    aliases = ("org.apache.flume.channel.MemoryChannel",)
    settings_schema = Schema(
        Setting("capacity", "int", 100, minimum=1),
        Setting("transactionCapacity", "int", 100, minimum=1),
        Setting("keep-alive", "int", 3, minimum=0),
        Setting("byteCapacity", "int", None, minimum=0),
        Setting("byteCapacityBufferPercentage", "int", 20, minimum=0, maximum=100),
    )


class FileChannelDouble(Channel):
    type_name = "file"
    aliases = ("org.apache.flume.channel.file.FileChannel",)
    settings_schema = Schema(
        Setting("checkpointDir", "str", "~/.flume/file-channel/checkpoint"),
        Setting("dataDirs", "str", "~/.flume/file-channel/data"),
        Setting("capacity", "int", 1000000, minimum=1),
        Setting("transactionCapacity", "int", 10000, minimum=1),
    )


class KafkaChannelDouble(Channel):
    type_name = "kafka"
    aliases = ("org.apache.flume.channel.kafka.KafkaChannel",)
    durable = True
    needs_sink = False
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", REQUIRED, "host:port,...", legacy=("brokerList",)),
        Setting("kafka.topic", "str", "flume-channel", legacy=("topic",)),
        Setting("kafka.consumer.group.id", "str", "flume", legacy=("groupId",)),
        Setting("parseAsFlumeEvent", "bool", True),
        Setting("kafka.producer.*", "map"),
        Setting("kafka.consumer.*", "map"),
    )

    @classmethod
    def transaction_capacity_from(cls, settings: object) -> int | None:
        return None


class SpoolDirDouble(PollableSource):
    type_name = "spooldir"
    aliases = ("org.apache.flume.source.SpoolDirectorySource",)
    replayable = True
    settings_schema = Schema(
        Setting("spoolDir", "str", REQUIRED, "directory"),
        Setting("fileSuffix", "str", ".COMPLETED"),
        Setting("batchSize", "int", 100, minimum=1),
        Setting("deletePolicy", "enum", "never", choices=("never", "immediate")),
    )


class SeqDouble(PollableSource):
    type_name = "seq"
    settings_schema = Schema(Setting("batchSize", "int", 1, minimum=1), Setting("totalEvents", "int", None))


class KafkaSourceDouble(PollableSource):
    type_name = "kafka"
    aliases = ("org.apache.flume.source.kafka.KafkaSource",)
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", REQUIRED, "host:port,..."),
        Setting("kafka.topics", "str", REQUIRED, "topic,...", legacy=("topic",)),
        Setting("kafka.consumer.group.id", "str", "flume", legacy=("groupId",)),
        Setting("batchSize", "int", 1000, minimum=1),
        Setting("kafka.consumer.*", "map"),
    )


class KafkaSinkDouble(Sink):
    type_name = "kafka"
    aliases = ("org.apache.flume.sink.kafka.KafkaSink",)
    batch_size_key = "flumeBatchSize"
    settings_schema = Schema(
        Setting("kafka.bootstrap.servers", "str", REQUIRED, "host:port,...", legacy=("brokerList",)),
        Setting("kafka.topic", "str", "default-flume-topic", legacy=("topic",)),
        Setting("flumeBatchSize", "int", 100, minimum=1, legacy=("batchSize",)),
        Setting("kafka.producer.acks", "str", "1", legacy=("requiredAcks",)),
        Setting("kafka.producer.*", "map"),
    )


class HdfsSinkDouble(Sink):
    type_name = "hdfs"
    aliases = ("org.apache.flume.sink.hdfs.HDFSEventSink",)
    batch_size_key = "hdfs.batchSize"
    settings_schema = Schema(
        Setting("hdfs.path", "str", REQUIRED, "hdfs://namenode/path"),
        Setting("hdfs.fileType", "enum", "SequenceFile", choices=("SequenceFile", "DataStream", "CompressedStream")),
        Setting("hdfs.batchSize", "int", 100, minimum=1),
        Setting("hdfs.rollSize", "int", 1024, minimum=0),
    )


class LoggerSinkDouble(Sink):
    type_name = "logger"
    settings_schema = Schema(Setting("maxBytesToLog", "int", 16), Setting("batchSize", "int", 100, minimum=1))


class ReplicatingDouble(ChannelSelector):
    type_name = "replicating"
    settings_schema = Schema(Setting("optional", "list", []))


class MultiplexingDouble(ChannelSelector):
    type_name = "multiplexing"
    settings_schema = Schema(
        Setting("header", "str", "flume.selector.header"),
        Setting("default", "list", []),
        Setting("mapping.*", "map"),
        Setting("optional.*", "map"),
    )


class TimestampDouble(Interceptor):
    type_name = "timestamp"
    settings_schema = Schema(Setting("headerName", "str", "timestamp"), Setting("preserveExisting", "bool", False))


class StaticDouble(Interceptor):
    type_name = "static"
    settings_schema = Schema(Setting("key", "str", "key"), Setting("value", "str", "value"), Setting("preserveExisting", "bool", True))


class DefaultProcessorDouble(SinkProcessor):
    type_name = "default"


class FailoverDouble(SinkProcessor):
    type_name = "failover"
    settings_schema = Schema(Setting("priority.*", "map"), Setting("maxpenalty", "int", 30000, minimum=0))


DOUBLES = (
    MemoryChannelDouble,
    FileChannelDouble,
    KafkaChannelDouble,
    SpoolDirDouble,
    SeqDouble,
    KafkaSourceDouble,
    KafkaSinkDouble,
    HdfsSinkDouble,
    LoggerSinkDouble,
    ReplicatingDouble,
    MultiplexingDouble,
    TimestampDouble,
    StaticDouble,
    DefaultProcessorDouble,
    FailoverDouble,
)


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    for cls in DOUBLES:
        reg.add(cls, "test-doubles")
    return reg


@pytest.fixture
def seed_dir() -> Path:
    return SEED
