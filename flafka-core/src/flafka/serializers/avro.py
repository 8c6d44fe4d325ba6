"""Flume's Avro serializers, written with fastavro (the ``flafka-core[avro]`` extra).

* ``avro_event`` (Flume's ``FlumeEventAvroEventSerializer``): an Avro object container file
  of Flume's ``Event`` record (``headers: map<string>``, ``body: bytes``).
* ``AvroEventSerializer`` (Flume's ``org.apache.flume.sink.hdfs.AvroEventSerializer$Builder``):
  each event body is already one Avro-encoded datum; it is written as is into a container
  file whose schema comes from the first event of the file: its ``flume.avro.schema.url``
  header, else its ``flume.avro.schema.literal`` header, else ``schemaURL`` (Flume 1.11's
  order). An event that names another schema than its file's is refused (Flume would
  write it under the wrong schema).

Both take ``compressionCodec`` (``null``, ``deflate``, ``snappy``, ``bzip2``, ``xz``,
``zstandard``; snappy needs ``cramjam``, zstandard the ``zstandard`` package) and
``syncIntervalBytes`` (a block is closed once it holds that many bytes; every batch ends
its last block, so a batch's bytes stand alone).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

from flafka.errors import ConfigError, PermanentError, RetriableError
from flafka.event import Event
from flafka.serializers import EventSerializer
from flafka.settings import Problem, Schema, Setting, Settings

INSTALL = "pip install 'flafka-core[avro]'"

FLUME_EVENT_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Event",
    "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}],
}
"""Flume's ``FlumeEventAvroEventSerializer`` record."""

SCHEMA_URL_HEADER = "flume.avro.schema.url"
SCHEMA_LITERAL_HEADER = "flume.avro.schema.literal"

CODECS: dict[str, str] = {"null": "", "deflate": "", "snappy": "cramjam", "bzip2": "", "xz": "", "zstandard": "zstandard"}
"""Avro codecs (Avro's ``CodecFactory`` names) and the Python package each needs besides fastavro."""


def fastavro_problem(what: str) -> str:
    """'' when fastavro can be imported, else a sentence naming ``what`` needs it and the fix."""
    try:
        importlib.import_module("fastavro")
    except ImportError:
        return f"{what} needs the fastavro package, which is not installed; install it with {INSTALL}"
    return ""


def require_fastavro(what: str) -> Any:
    """The fastavro module, or ConfigError saying how to install it."""
    problem = fastavro_problem(what)
    if problem:
        raise ConfigError(problem)
    return importlib.import_module("fastavro")


def codec_problem(value: str) -> Problem | None:
    """A problem with ``compressionCodec = value`` (unknown, or its package missing)."""
    codec = value.strip().lower()
    if codec not in CODECS:
        import difflib

        hint = difflib.get_close_matches(codec, list(CODECS), n=1)
        extra = f"did you mean '{hint[0]}'? " if hint else ""
        return Problem("compressionCodec", f"'{value}' is not an Avro codec", f"{extra}use one of {', '.join(CODECS)}")
    package = CODECS[codec]
    if package:
        try:
            importlib.import_module(package)
        except ImportError:
            fix = INSTALL if package == "cramjam" else f"pip install {package}"
            return Problem("compressionCodec", f"the {codec} codec needs the '{package}' package, which is not installed", fix)
    return None


_COMMON = Schema(
    Setting("compressionCodec", "str", "null", "null, deflate, snappy, bzip2, xz or zstandard"),
    Setting("syncIntervalBytes", "int", 2048000, "bytes after which a block is closed", minimum=1),
)


class _AvroSerializer(EventSerializer):
    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problem = fastavro_problem(f"serializer {cls.type_name}")
        if problem:
            return [Problem("", problem, INSTALL)]  # reported on the serializer's own line
        codec = codec_problem(settings["compressionCodec"])
        return [codec] if codec else []

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.codec: str = settings["compressionCodec"].strip().lower()
        self.sync_interval: int = settings["syncIntervalBytes"]
        self._out = io.BytesIO()
        self._writer: Any = None

    def _open(self, schema: Any) -> bytes:
        """Start the container with ``schema``; return the header bytes."""
        fastavro = require_fastavro(f"serializer {self.type_name}")
        parsed = fastavro.parse_schema(schema)
        self._writer = fastavro.write.Writer(
            self._out, parsed, codec=self.codec, sync_interval=self.sync_interval, sync_marker=os.urandom(16)
        )
        return self._take()

    def _take(self) -> bytes:
        out = self._out
        data = out.getvalue()
        out.seek(0)
        out.truncate()
        return data


class FlumeEventAvroSerializer(_AvroSerializer):
    """``avro_event``: Avro container of Flume's Event record, one or more blocks per batch."""

    type_name = "avro_event"
    aliases = ("org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder",)
    summary = "Avro container file of Flume's Event record (headers and body)"
    settings_schema = _COMMON

    def begin(self) -> bytes:
        return self._open(FLUME_EVENT_SCHEMA)

    def encode(self, events: list[Event]) -> bytes:
        write = self._writer.write
        for e in events:
            write({"headers": e.headers if e.has_headers else {}, "body": e.body})
        self._writer.flush()
        return self._take()


class _RawBlock:
    """What ``fastavro``'s ``Writer.write_block`` reads: encoded datums and their count."""

    __slots__ = ("bytes_", "num_records")

    def __init__(self, num_records: int, data: bytes) -> None:
        self.num_records = num_records
        self.bytes_ = io.BytesIO(data)


class AvroEventSerializer(_AvroSerializer):
    """Bodies that are Avro datums, written under the schema named by the file's first event
    (``flume.avro.schema.url`` / ``flume.avro.schema.literal`` header) or ``schemaURL``."""

    type_name = "AvroEventSerializer"
    aliases = ("org.apache.flume.sink.hdfs.AvroEventSerializer$Builder", "org.apache.flume.sink.hdfs.AvroEventSerializer")
    summary = "Event bodies that are Avro datums, in an Avro container under the schema their headers or schemaURL name"
    settings_schema = _COMMON + Schema(
        Setting(
            "schemaURL", "str", "", "schema used when an event has no flume.avro.schema.url/.literal header (file:, http(s): or a path)"
        ),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = super().check_settings(settings)
        url = settings["schemaURL"]
        if url and not _readable_scheme(url):
            problems.append(
                Problem(
                    "schemaURL",
                    f"'{url}' can be read by the hdfs sink only (hdfs://, webhdfs:// through its WebHDFS client); other "
                    f"sinks read file:, http:, https: and local paths, and refuse events without a {SCHEMA_URL_HEADER} "
                    f"or {SCHEMA_LITERAL_HEADER} header",
                    "with another sink, copy the schema next to the agent and set schemaURL = file:///path/to/schema.avsc",
                    "warning",
                )
            )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.schema_url: str = settings["schemaURL"]
        self._source: tuple[str, str] | None = None
        """How the file's schema was named: (header name or 'schemaURL', value)."""

    @staticmethod
    def _named(headers: dict[str, str]) -> tuple[str, str] | None:
        url = headers.get(SCHEMA_URL_HEADER)
        if url is not None:
            return SCHEMA_URL_HEADER, url
        literal = headers.get(SCHEMA_LITERAL_HEADER)
        if literal is not None:
            return SCHEMA_LITERAL_HEADER, literal
        return None

    def _start(self, first: Event) -> bytes:
        named = self._named(first.headers) if first.has_headers else None
        if named is None:
            if not self.schema_url:
                raise PermanentError(
                    f"sink '{self.name}': an event has no {SCHEMA_URL_HEADER} or {SCHEMA_LITERAL_HEADER} header and "
                    f"serializer.schemaURL is not set, so its Avro schema is unknown; set serializer.schemaURL or add "
                    f"one of those headers (a static interceptor)"
                )
            named = ("schemaURL", self.schema_url)
        key, value = named
        text = value if key == SCHEMA_LITERAL_HEADER else load_schema_text(value, f"sink '{self.name}': {key}", self.open_url)
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise PermanentError(f"sink '{self.name}': the Avro schema from {key} is not JSON ({exc}); fix the schema") from exc
        try:
            head = self._open(schema)
        except ConfigError:
            raise
        except Exception as exc:  # fastavro's SchemaParseException and friends
            raise PermanentError(f"sink '{self.name}': the Avro schema from {key} = {value[:200]} is not valid: {exc}") from exc
        self._source = named
        return head

    def _check(self, events: list[Event]) -> None:
        """Refuse a batch in which an event names another schema than the open file's."""
        source = self._source
        named_of = self._named
        for e in events:
            if e.has_headers:
                named = named_of(e.headers)
                if named is not None and named != source:
                    assert source is not None
                    raise PermanentError(
                        f"sink '{self.name}': an event names the Avro schema {named[0]} = {named[1][:200]}, but the open "
                        f"file holds the schema of {source[0]} = {source[1][:200]}; send events of different schemas to "
                        f"different files (e.g. hdfs.filePrefix = %{{{SCHEMA_URL_HEADER}}}) or sinks"
                    )

    def encode(self, events: list[Event]) -> bytes:
        if not events:
            return b""
        fresh = self._writer is None
        head = self._start(events[0]) if fresh else b""
        try:
            self._check(events)
        except PermanentError:
            if fresh:  # the header goes with the next batch instead
                self._writer, self._source = None, None
            raise
        limit = self.sync_interval
        write_block = self._writer.write_block
        bodies: list[bytes] = []
        size = 0
        for e in events:
            body = e.body
            bodies.append(body)
            size += len(body)
            if size >= limit:
                write_block(_RawBlock(len(bodies), b"".join(bodies)))
                bodies, size = [], 0
        if bodies:
            write_block(_RawBlock(len(bodies), b"".join(bodies)))
        return head + self._take()


def _readable_scheme(url: str) -> bool:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    return scheme in ("", "file", "http", "https") or (len(scheme) == 1 and os.name == "nt")


def load_schema_text(url: str, where: str, open_url: Callable[[str], bytes] | None = None, timeout: float = 30.0) -> str:
    """The schema text at ``url`` (``file:``, ``http(s):``, a local path, or what ``open_url``
    reads). Raises RetriableError when it cannot be read now, PermanentError for a scheme
    nothing here can read."""
    if not _readable_scheme(url) and open_url is not None:
        try:
            return open_url(url).decode("utf-8")
        except (PermanentError, RetriableError):
            raise
        except Exception as exc:
            raise RetriableError(f"{where} = {url}: cannot read the Avro schema ({exc}); make it readable (retried meanwhile)") from exc
    if not _readable_scheme(url):
        raise PermanentError(
            f"{where} = {url}: flafka cannot read schemas from this kind of URL yet (file:, http:, https: or a local "
            f"path); copy the schema next to the agent and use file:///path/to/schema.avsc"
        )
    import urllib.request  # here: it costs ~40 ms of agent start-up, and only schema URLs need it

    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https"):
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                data: bytes = resp.read()
        else:
            path = urllib.request.url2pathname(parts.path) if parts.scheme == "file" else url
            with open(path, "rb") as fh:
                data = fh.read()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RetriableError(f"{where} = {url}: cannot read the Avro schema ({exc}); make it readable (retried meanwhile)") from exc


COMPONENTS = [FlumeEventAvroSerializer, AvroEventSerializer]
