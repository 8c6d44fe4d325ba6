"""A tiny third-party serializer plugin (tests register it through a ``flafka`` entry
point): ``hexlines`` writes ``<hex body><sep><header count>`` lines between a ``begin``
and an ``end`` line, so a test can see every part of the serializer API at work."""

from __future__ import annotations

from flafka import Event, Problem, Schema, Setting, Settings, hookimpl
from flafka.serializers import EventSerializer


class HexLinesSerializer(EventSerializer):
    type_name = "hexlines"
    aliases = ("com.example.flume.HexLinesSerializer$Builder",)
    summary = "hex bodies, one per line, framed by begin/end lines (a test plugin)"
    settings_schema = Schema(
        Setting("separator", "str", ";", "between the hex body and the header count"),
        Setting("title", "str", "hexlines", "text of the first line"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        if not settings["separator"]:
            return [Problem("separator", "separator is empty", "set it to one character, such as ';'")]
        return []

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.sep: str = settings["separator"]
        self.title: str = settings["title"]

    def begin(self) -> bytes:
        return f"# {self.title}\n".encode()

    def encode(self, events: list[Event]) -> bytes:
        return "".join(f"{e.body.hex()}{self.sep}{len(e.headers)}\n" for e in events).encode()

    def end(self) -> bytes:
        return b"# end\n"


@hookimpl
def flafka_register_components() -> list[type[EventSerializer]]:
    return [HexLinesSerializer]
