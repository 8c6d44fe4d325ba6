"""Apache Flume 1.11's component types that flafka does not provide (yet), so that a
configuration using one is told so by name instead of "unknown type".

:func:`missing_type` answers for a ``type`` value as written (Flume's alias, matched
case-insensitively as Flume does, or its fully qualified class name) whether it is a Flume
type, and which flafka distribution provides or will provide it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlumeType:
    """A Flume component type flafka does not have installed."""

    kind: str
    alias: str
    """Flume's alias (or its class's short name when Flume has no alias)."""
    fqcn: str
    plugin: str = ""
    """The flafka distribution for it ('' when none is planned)."""
    released: bool = False
    """True when ``plugin`` exists (``pip install`` it); False: planned, not released."""

    @property
    def label(self) -> str:
        return f"Flume's {self.alias} {self.kind.replace('_', ' ')} ({self.fqcn})"


def _t(kind: str, alias: str, fqcn: str, plugin: str = "", released: bool = False) -> FlumeType:
    return FlumeType(kind, alias, fqcn, plugin, released)


_SRC = "org.apache.flume.source."
_SINK = "org.apache.flume.sink."
_CH = "org.apache.flume.channel."

TYPES: tuple[FlumeType, ...] = (
    _t("source", "netcat", _SRC + "NetcatSource"),
    _t("source", "netcatudp", _SRC + "NetcatUdpSource"),
    _t("source", "exec", _SRC + "ExecSource"),
    _t("source", "avro", _SRC + "AvroSource", "flafka-avro", True),
    _t("source", "thrift", _SRC + "ThriftSource"),
    _t("source", "syslogtcp", _SRC + "SyslogTcpSource"),
    _t("source", "multiport_syslogtcp", _SRC + "MultiportSyslogTCPSource"),
    _t("source", "syslogudp", _SRC + "SyslogUDPSource"),
    _t("source", "http", _SRC + "http.HTTPSource"),
    _t("source", "jms", _SRC + "jms.JMSSource"),
    _t("source", "taildir", _SRC + "taildir.TaildirSource"),
    _t("source", "twitter", _SRC + "twitter.TwitterSource"),
    _t("source", "scribe", _SRC + "scribe.ScribeSource"),
    _t("source", "stress", _SRC + "StressSource"),
    _t("source", "avroLegacy", _SRC + "avroLegacy.AvroLegacySource"),
    _t("source", "thriftLegacy", _SRC + "thriftLegacy.ThriftLegacySource"),
    _t("source", "kafka", _SRC + "kafka.KafkaSource", "flafka-kafka", True),
    _t("sink", "avro", _SINK + "AvroSink", "flafka-avro", True),
    _t("sink", "thrift", _SINK + "ThriftSink"),
    _t("sink", "irc", _SINK + "irc.IRCSink"),
    _t("sink", "elasticsearch", _SINK + "elasticsearch.ElasticSearchSink"),
    _t("sink", "hbase", _SINK + "hbase.HBaseSink", "flafka-hbase", True),
    _t("sink", "asynchbase", _SINK + "hbase.AsyncHBaseSink", "flafka-hbase", True),
    _t("sink", "hbase2", _SINK + "hbase2.HBase2Sink", "flafka-hbase", True),
    _t("sink", "kudu", "org.apache.kudu.flume.sink.KuduSink", "flafka-kudu", True),
    _t("sink", "KuduSink", _SINK + "kudu.KuduSink", "flafka-kudu", True),
    _t("sink", "morphline_solr", _SINK + "solr.morphline.MorphlineSolrSink"),
    _t("sink", "hive", _SINK + "hive.HiveSink"),
    _t("sink", "http", _SINK + "http.HttpSink"),
    _t("sink", "DatasetSink", _SINK + "kite.DatasetSink"),
    _t("sink", "hdfs", _SINK + "hdfs.HDFSEventSink", "flafka-hdfs", True),
    _t("sink", "kafka", _SINK + "kafka.KafkaSink", "flafka-kafka", True),
    _t("channel", "file", _CH + "file.FileChannel"),
    _t("channel", "jdbc", _CH + "jdbc.JdbcChannel"),
    _t("channel", "SPILLABLEMEMORY", _CH + "SpillableMemoryChannel"),
    _t("channel", "kafka", _CH + "kafka.KafkaChannel", "flafka-kafka", True),
    _t("interceptor", "morphline", _SINK + "solr.morphline.MorphlineInterceptor$Builder"),
)

_BY_NAME: dict[tuple[str, str], FlumeType] = {}
for _type in TYPES:
    _BY_NAME.setdefault((_type.kind, _type.alias.lower()), _type)
    _BY_NAME[(_type.kind, _type.fqcn.lower())] = _type
    if _type.kind == "interceptor":
        _BY_NAME[(_type.kind, _type.fqcn.lower().removesuffix("$builder"))] = _type

_DISTRIBUTIONS = {
    "kafka": ("flafka-kafka", True),
    "hdfs": ("flafka-hdfs", True),
    "hbase": ("flafka-hbase", True),
    "kudu": ("flafka-kudu", True),
}


def missing_type(kind: str, type_name: str) -> FlumeType | None:
    """The Flume type ``type_name`` names for ``kind`` (alias, case-insensitive, or class
    name), or None when it is not one of Flume's types. A name that only mentions a
    plugin's subject (``...kafka...``) maps to that plugin."""
    text = type_name.strip()
    found = _BY_NAME.get((kind, text.lower()))
    if found is not None:
        return found
    low = text.lower()
    for word, (dist, released) in _DISTRIBUTIONS.items():
        if word in low:
            return FlumeType(kind, text, text, dist, released)
    return None


def missing_advice(found: FlumeType) -> tuple[str, str]:
    """(what to say about the type, the fix) for a Flume type that is not installed."""
    if found.plugin and found.released:
        return (
            f"it comes with the {found.plugin} plugin, which is not installed",
            f"pip install {found.plugin}",
        )
    if found.plugin:
        return (
            f"{found.label} is not implemented in flafka yet: it is planned for the {found.plugin} plugin, which is not released",
            f"there is no {found.plugin} package to install yet; keep this agent on Flume for now",
        )
    return (
        f"{found.label} is not implemented in flafka yet",
        "keep this agent on Flume for now, or provide the type as a flafka plugin (docs/plugins.md)",
    )
