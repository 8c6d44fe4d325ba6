"""Flume's text serializers: ``TEXT`` (``BodyTextEventSerializer``) and
``HEADER_AND_TEXT`` (``HeaderAndBodyTextEventSerializer``)."""

from __future__ import annotations

from flafka.batch import AnyBatch, bodies_of
from flafka.event import Event
from flafka.serializers import EventSerializer
from flafka.settings import Schema, Setting, Settings
from flafka.sinks.logger import format_headers

_NEWLINE = Schema(Setting("appendNewline", "bool", True, "end each event with a newline"))


class BodyTextSerializer(EventSerializer):
    """``TEXT``: the body of each event, then ``\\n`` unless ``appendNewline = false``;
    headers are dropped."""

    type_name = "TEXT"
    aliases = ("org.apache.flume.serialization.BodyTextEventSerializer$Builder",)
    summary = "Event bodies, one per line (headers dropped)"
    settings_schema = _NEWLINE
    batch_aware = True  # reads bodies only

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.append_newline: bool = settings["appendNewline"]
        self.newline_framed = self.append_newline

    def encode(self, events: AnyBatch) -> bytes:
        bodies = bodies_of(events)
        if not self.append_newline:
            return b"".join(bodies)
        return b"\n".join([*bodies, b""])


class HeaderAndBodyTextSerializer(EventSerializer):
    """``HEADER_AND_TEXT``: ``{k=v, ...} `` (Java's map format), the body, then ``\\n``
    unless ``appendNewline = false``."""

    type_name = "HEADER_AND_TEXT"
    aliases = ("org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder",)
    summary = "Headers as {k=v, ...}, a space, then the body; one event per line"
    settings_schema = _NEWLINE

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.append_newline: bool = settings["appendNewline"]
        self.newline_framed = self.append_newline

    def encode(self, events: list[Event]) -> bytes:
        parts = [(format_headers(e.headers) + " ").encode() + e.body for e in events]
        if not self.append_newline:
            return b"".join(parts)
        parts.append(b"")
        return b"\n".join(parts)


COMPONENTS = [BodyTextSerializer, HeaderAndBodyTextSerializer]
