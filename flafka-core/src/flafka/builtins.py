"""flafka-core's own plugin: registers the built-in components through the same hook
third-party plugins use (entry point ``flafka = builtins``).

Each module listed in :data:`MODULES` defines ``COMPONENTS``, a list of component classes,
imported at start-up (the light ones every agent needs). :data:`DEFERRED` names the rest
(network sources, the file channel, TAILDIR, the Avro serializers): their modules are
imported only when a configuration uses them (:class:`~flafka.registry.Deferred`).
"""

from __future__ import annotations

import importlib

from flafka.hookspecs import hookimpl
from flafka.registry import Deferred, Entry

MODULES = (
    "flafka.channels.memory",
    "flafka.sources.seq",
    "flafka.sinks.null",
    "flafka.sinks.logger",
    "flafka.sinks.file_roll",
    "flafka.interceptors.builtin",
    "flafka.selectors.builtin",
    "flafka.sinkprocessors.builtin",
    "flafka.serializers.text",
)

DEFERRED = (
    Deferred(
        "flafka.sources.spooldir:SpoolDirectorySource", "source", "spooldir", ("org.apache.flume.source.SpoolDirectorySource",)
    ),  # deserializers, name filter (subprocess), notes: not imported by agents that read no spool directory
    Deferred("flafka.channels.file.channel:FileChannel", "channel", "file", ("org.apache.flume.channel.file.FileChannel",)),
    Deferred("flafka.sources.netcat:NetcatSource", "source", "netcat", ("org.apache.flume.source.NetcatSource",)),
    Deferred("flafka.sources.netcatudp:NetcatUdpSource", "source", "netcatudp", ("org.apache.flume.source.NetcatUdpSource",)),
    Deferred("flafka.sources.exec:ExecSource", "source", "exec", ("org.apache.flume.source.ExecSource",)),
    Deferred("flafka.sources.syslog:SyslogTcpSource", "source", "syslogtcp", ("org.apache.flume.source.SyslogTcpSource",)),
    Deferred("flafka.sources.syslog:SyslogUdpSource", "source", "syslogudp", ("org.apache.flume.source.SyslogUDPSource",)),
    Deferred(
        "flafka.sources.syslogmultiport:MultiportSyslogTcpSource",
        "source",
        "multiport_syslogtcp",
        ("org.apache.flume.source.MultiportSyslogTCPSource",),
    ),
    Deferred("flafka.sources.http:HttpSource", "source", "http", ("org.apache.flume.source.http.HTTPSource",)),
    Deferred(
        "flafka.sources.httphandlers:JSONHandler", "http_handler", "JSONHandler", ("org.apache.flume.source.http.JSONHandler", "JSON")
    ),
    Deferred(
        "flafka.sources.httphandlers:BLOBHandler", "http_handler", "BLOBHandler", ("org.apache.flume.source.http.BLOBHandler", "BLOB")
    ),
    Deferred(
        "flafka.sources.httphandlers:MorphlineBlobHandler",
        "http_handler",
        "MorphlineBlobHandler",
        ("org.apache.flume.sink.solr.morphline.BlobHandler",),
    ),
    Deferred("flafka.sources.taildir:TaildirSource", "source", "TAILDIR", ("org.apache.flume.source.taildir.TaildirSource", "taildir")),
    Deferred(
        "flafka.serializers.avro:FlumeEventAvroSerializer",
        "serializer",
        "avro_event",
        ("org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder",),
    ),
    Deferred(
        "flafka.serializers.avro:AvroEventSerializer",
        "serializer",
        "AvroEventSerializer",
        ("org.apache.flume.sink.hdfs.AvroEventSerializer$Builder", "org.apache.flume.sink.hdfs.AvroEventSerializer"),
    ),
)
"""Built-in components imported on first use; ``tests/runtime/test_deferred.py`` checks
each entry against its class."""


@hookimpl
def flafka_register_components() -> list[Entry]:
    entries: list[Entry] = []
    for name in MODULES:
        entries.extend(importlib.import_module(name).COMPONENTS)
    entries.extend(DEFERRED)
    return entries
