"""The ``logger`` sink (Flume's ``LoggerSink``): logs every event at INFO.

Each event becomes one log record ``Event: { headers:{k=v, ...} body: <dump> }`` where the
dump is Flume's (``EventHelper.dumpEvent``): the first ``maxBytesToLog`` bytes of the body
as rows of 16 upper-case hex bytes followed by their printable ASCII (``.`` for the rest);
the offset column of the first row is left out, later rows keep theirs. An empty body
gives ``body: }``. Logging per event is this sink's purpose (debugging, demos); it is
exempt from the hot-path rule.
"""

from __future__ import annotations

import logging

from flafka.event import Event
from flafka.settings import Schema, Setting
from flafka.sink import BatchOutcome, Sink

log = logging.getLogger(__name__)

_ROW = 16
_ASCII = bytes(b if 32 <= b < 127 else ord(".") for b in range(256))
"""Translation table: printable ASCII stays, every other byte becomes ``.``."""


def format_headers(headers: dict[str, str]) -> str:
    """Headers as Java's ``Map.toString`` prints them: ``{a=1, b=2}``."""
    return "{" + ", ".join(f"{k}={v}" for k, v in headers.items()) + "}"


def hex_dump(data: bytes) -> str:
    """Rows of ``OOOOOOOO XX XX ... ascii`` as commons-io ``HexDump.dump`` writes them
    (offset and bytes in upper-case hex, short rows padded), joined by newlines."""
    rows = []
    for start in range(0, len(data), _ROW):
        chunk = data[start : start + _ROW]
        rows.append(
            f"{start:08X} {chunk.hex(' ').upper()} {'   ' * (_ROW - len(chunk))}{chunk.translate(_ASCII).decode('ascii')}"
        )
    return "\n".join(rows)


def dump_event(event: Event, max_bytes: int = 16) -> str:
    """``{ headers:{...} body: <dump> }`` — Flume's ``EventHelper.dumpEvent`` format."""
    body = event.body[:max_bytes] if max_bytes > 0 else b""
    dump = hex_dump(body)[8:] if body else ""  # the first offset is dropped, as Flume does
    return f"{{ headers:{format_headers(event.headers)} body:{dump} }}"


class LoggerSink(Sink):
    """Logs each event at INFO with a hex dump of the start of its body."""

    type_name = "logger"
    aliases = ("org.apache.flume.sink.LoggerSink",)
    summary = "Log every event at INFO (debugging)"
    settings_schema = Schema(
        Setting("maxBytesToLog", "int", 16, "body bytes shown per event (0: none)", minimum=0),
        Setting("batchSize", "int", 100, "most events taken per transaction (flafka; Flume logs one event per take)", minimum=1),
    )

    def write(self, events: list[Event]) -> BatchOutcome | None:
        """Log every event; nothing can fail (a disabled INFO level skips the formatting)."""
        if not log.isEnabledFor(logging.INFO):
            return None
        max_bytes = self.settings["maxBytesToLog"]
        info = log.info
        for event in events:
            info("Event: %s", dump_event(event, max_bytes))
        return None


COMPONENTS = [LoggerSink]
