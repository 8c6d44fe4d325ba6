"""A tiny third-party http handler plugin (tests register it through a ``flafka`` entry
point): ``csvlines`` turns each ``key,value`` line of the body into an event whose body is
the value and whose header ``<headerName>`` is the key."""

from __future__ import annotations

from flafka import Event, Problem, Schema, Setting, Settings, hookimpl
from flafka.sources.httphandlers import BadRequest, HttpHandler, HttpRequest


class CsvLinesHandler(HttpHandler):
    type_name = "csvlines"
    aliases = ("com.example.flume.CsvLinesHandler",)
    summary = "key,value lines, one event each (a test plugin)"
    settings_schema = Schema(Setting("headerName", "str", "key", "header that receives the key"))

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        if not settings["headerName"]:
            return [Problem("headerName", "headerName is empty", "set it to a header name, such as 'key'")]
        return []

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.header: str = settings["headerName"]

    def get_events(self, request: HttpRequest) -> list[Event]:
        events = []
        for n, line in enumerate(request.body.splitlines(), 1):
            key, sep, value = line.partition(b",")
            if not sep:
                raise BadRequest(f"line {n} has no comma")
            events.append(Event(value, {self.header: key.decode()}))
        return events


@hookimpl
def flafka_register_components() -> list[type[HttpHandler]]:
    return [CsvLinesHandler]
