"""Handlers of the ``http`` source: turn one HTTP request into events.

A handler is a class with ``configure(props: dict[str, str])`` (the source's
``handler.*`` keys, prefix removed) and ``get_events(request: HttpRequest) ->
list[Event]``; it raises :class:`BadRequest` for a request the client must fix (the
source answers 400 with the reason). Built in: :class:`JSONHandler` (Flume's
``org.apache.flume.source.http.JSONHandler``, the default) and :class:`BLOBHandler`
(Flume's ``org.apache.flume.source.http.BLOBHandler``). Third parties name their class
as ``handler = package.module.ClassName`` (or ``package.module:ClassName``).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from flafka.event import Event


class BadRequest(Exception):
    """The request cannot be turned into events; ``str()`` is the reason sent back."""


@dataclass
class HttpRequest:
    """What a handler sees: method, path, query parameters (first value of each), request
    headers (lower-case names), the body, and the charset of its Content-Type (or None)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    charset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    def configure(self, props: dict[str, str]) -> None: ...

    def get_events(self, request: HttpRequest) -> list[Event]: ...


_JSON_CHARSETS = {"utf-8", "utf-16", "utf-32"}


def _as_string(value: Any, what: str) -> str | None:
    """Gson reads numbers and booleans into a String field as their text; objects and
    arrays are a syntax error."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    raise BadRequest(f"Request has invalid JSON Syntax. {what} must be a string, not {type(value).__name__}")


class JSONHandler:
    """Flume's JSON format: ``[{"headers": {"k": "v"}, "body": "text"}, ...]``; the
    body is encoded in the request's charset (UTF-8 when none; UTF-8, UTF-16 and UTF-32
    only, as in Flume)."""

    def configure(self, props: dict[str, str]) -> None:
        pass

    def get_events(self, request: HttpRequest) -> list[Event]:
        charset = request.charset or "UTF-8"
        if charset.lower() not in _JSON_CHARSETS:
            raise BadRequest(f"JSON handler supports UTF-8, UTF-16 and UTF-32 only, not '{charset}'")
        try:
            text = request.body.decode(charset)
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the body is not valid {charset}: {exc}") from exc
        if not text.strip():
            raise BadRequest('the body is empty; send a JSON array of events: [{"headers": {}, "body": "..."}]')
        try:
            data = json.loads(text, parse_int=str, parse_float=str)  # numbers keep their text, as Gson does
        except json.JSONDecodeError as exc:
            raise BadRequest(f"Request has invalid JSON Syntax. {exc}") from exc
        if not isinstance(data, list):
            raise BadRequest('Request has invalid JSON Syntax. Expected a JSON array of events: [{"headers": {}, "body": "..."}]')
        events = []
        for i, item in enumerate(data):
            if item is None:
                raise BadRequest(f"Request has invalid JSON Syntax. event {i} is null")
            if not isinstance(item, dict):
                raise BadRequest(f"Request has invalid JSON Syntax. event {i} must be an object with headers and body")
            raw_headers = item.get("headers") or {}
            if not isinstance(raw_headers, dict):
                raise BadRequest(f"Request has invalid JSON Syntax. event {i}: headers must be an object")
            headers = {}
            for key, value in raw_headers.items():
                text_value = _as_string(value, f"event {i} header '{key}'")
                if text_value is not None:
                    headers[key] = text_value
            body = _as_string(item.get("body"), f"event {i} body")
            events.append(Event(body.encode(charset) if body else b"", headers))
        return events


class BLOBHandler:
    """The whole body is one event; query parameters become headers.
    ``handler.mandatoryParameters`` (comma-separated) must all be present."""

    def configure(self, props: dict[str, str]) -> None:
        self.mandatory = [p for p in props.get("mandatoryParameters", "").split(",") if p]

    def get_events(self, request: HttpRequest) -> list[Event]:
        for name in self.mandatory:
            if name not in request.params:
                raise BadRequest(f"Please specify {name} parameter in the request.")
        return [Event(request.body, dict(request.params))]


BUILT_IN = {
    "org.apache.flume.source.http.JSONHandler": JSONHandler,
    "JSONHandler": JSONHandler,
    "JSON": JSONHandler,
    "org.apache.flume.source.http.BLOBHandler": BLOBHandler,
    "BLOBHandler": BLOBHandler,
    "BLOB": BLOBHandler,
}


def handler_class(name: str) -> type:
    """The class named by ``handler``: a built-in (Flume's class names) or an importable
    ``module.Class`` / ``module:Class``. Raises ValueError with the fix."""
    name = name.strip()
    if name in BUILT_IN:
        return BUILT_IN[name]
    module, sep, cls = name.partition(":")
    if not sep:
        module, _, cls = name.rpartition(".")
    if not module or not cls:
        raise ValueError(f"handler '{name}' is neither a built-in (JSONHandler, BLOBHandler) nor module.ClassName")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        if name.startswith("org.apache.flume."):
            raise ValueError(f"handler '{name}' is a Flume Java class flafka does not have; use JSONHandler or BLOBHandler") from exc
        raise ValueError(f"handler '{name}' cannot be imported ({exc}); install the package that provides it") from exc
    if not callable(getattr(found, "get_events", None)):
        raise ValueError(f"handler '{name}' has no get_events(request) method")
    return found
