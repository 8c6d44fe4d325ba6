"""Handlers of the ``http`` source: turn one HTTP request into events.

Handlers are a plugin kind (``http_handler``), looked up in the component registry like
serializers: ``handler = NAME`` names a registered type, one of its aliases (Flume's class
names) or, as before, an importable ``package.module.ClassName`` /
``package.module:ClassName``. Built in: :class:`JSONHandler` (Flume's
``org.apache.flume.source.http.JSONHandler``, the default), :class:`BLOBHandler`
(``org.apache.flume.source.http.BLOBHandler``) and :class:`MorphlineBlobHandler`
(``org.apache.flume.sink.solr.morphline.BlobHandler``). A third-party package registers
an :class:`HttpHandler` subclass through its ``flafka`` entry point
(``flafka_register_components``).

Contract of an :class:`HttpHandler` (one instance per source, shared by the request
threads, so ``get_events`` must not keep per-request state on ``self``):

* ``__init__(name, settings)`` is pure: ``name`` is the source's name, ``settings`` the
  handler's own keys (``handler.*`` with the prefix removed) parsed by its
  ``settings_schema`` (``flafka validate`` checks them, with did-you-mean).
* ``get_events(request)`` returns the request's events; it raises :class:`BadRequest` for
  a request the client must fix (the source answers 400 with the reason). Any other
  exception is a 500.

A class found by module path that is not an :class:`HttpHandler` keeps the older
contract: ``cls()``, then ``configure(props)`` with the ``handler.*`` keys, then
``get_events(request)``.

Handlers run on the data path: no per-event logging, no plugin calls.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from flafka.component import Component, ComponentKind
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.registry import Registry
from flafka.settings import Problem, Schema, Setting, Settings

__all__ = [
    "BadRequest",
    "HandlerSpec",
    "HttpHandler",
    "HttpRequest",
    "handler_or_raise",
    "resolve_handler",
]

DEFAULT = "org.apache.flume.source.http.JSONHandler"


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
    def get_events(self, request: HttpRequest) -> list[Event]: ...


class HttpHandler(Component):
    """Base class of http source handlers (see the module docstring for the contract)."""

    kind: ClassVar[ComponentKind] = "http_handler"

    def get_events(self, request: HttpRequest) -> list[Event]:
        """The request's events; raise :class:`BadRequest` with the reason for a bad one."""
        raise NotImplementedError


_JSON_CHARSETS = {"utf-8", "utf-16", "utf-32"}
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str)  # numbers keep their text, as Gson does


def _typed_decoder() -> Callable[[bytes], list[Any]] | None:
    """With msgspec (extra ``flafka-core[fastjson]``): a decoder of UTF-8 JSON straight
    into items whose ``headers`` is an object of strings or null and whose ``body`` is a
    string or null, validated in C (other keys ignored, as Flume's Gson does); it raises
    on anything else. None without msgspec."""
    try:
        import msgspec
    except ImportError:
        return None

    class Item(msgspec.Struct, gc=False):
        headers: dict[str, str] | None = None
        body: str | None = None

    return msgspec.json.Decoder(list[Item]).decode


_typed_items = _typed_decoder()


def _as_string(value: Any, what: str) -> str | None:
    """Gson reads numbers and booleans into a String field as their text; objects and
    arrays are a syntax error."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    raise BadRequest(f"Request has invalid JSON Syntax. {what} must be a string, not {type(value).__name__}")


def _plain_events(data: list[Any], charset: str) -> list[Event] | None:
    """The events of the common case, fast: every item an object whose ``headers`` is
    absent, null or an object of strings and whose ``body`` is absent, null or a string.
    None when any item is otherwise (the caller's item-by-item rules decide then); the
    result is the same as theirs. The header dicts come fresh from the decoder: the events
    own them."""
    utf8 = charset.lower() == "utf-8"
    events: list[Event] = []
    append = events.append
    for item in data:
        if type(item) is not dict:
            return None
        headers = item.get("headers")
        if headers is not None:
            if type(headers) is not dict:
                return None
            for value in headers.values():
                if type(value) is not str:
                    return None
        body = item.get("body")
        if body is None or body == "":
            append(Event(b"", headers or None))
        elif type(body) is str:
            append(Event(body.encode() if utf8 else body.encode(charset), headers or None))
        else:
            return None
    return events


class JSONHandler(HttpHandler):
    """Flume's JSON format: ``[{"headers": {"k": "v"}, "body": "text"}, ...]``; the
    body is encoded in the request's charset (UTF-8 when none; UTF-8, UTF-16 and UTF-32
    only, as in Flume)."""

    type_name = "JSONHandler"
    aliases = ("org.apache.flume.source.http.JSONHandler", "JSON")
    summary = 'Flume\'s JSON array of events: [{"headers": {...}, "body": "..."}] (the default)'

    def __init__(self, name: str = "", settings: Settings | None = None) -> None:
        super().__init__(name, settings if settings is not None else Settings({}))

    def get_events(self, request: HttpRequest) -> list[Event]:
        charset = request.charset or "UTF-8"
        lower = charset.lower()
        if lower not in _JSON_CHARSETS:
            raise BadRequest(f"JSON handler supports UTF-8, UTF-16 and UTF-32 only, not '{charset}'")
        if lower == "utf-8" and _typed_items is not None:
            # msgspec when installed: strict RFC 8259, UTF-8, plain items only; whatever it
            # refuses goes through the rules below, which decide the answer
            try:
                return [Event(i.body.encode() if i.body else b"", i.headers or None) for i in _typed_items(request.body)]
            except Exception:
                pass
        try:
            text = request.body.decode(charset)
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the body is not valid {charset}: {exc}") from exc
        if not text.strip():
            raise BadRequest('the body is empty; send a JSON array of events: [{"headers": {}, "body": "..."}]')
        try:
            data = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"Request has invalid JSON Syntax. {exc}") from exc
        if not isinstance(data, list):
            raise BadRequest('Request has invalid JSON Syntax. Expected a JSON array of events: [{"headers": {}, "body": "..."}]')
        events = _plain_events(data, charset)
        if events is not None:
            return events
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


class BLOBHandler(HttpHandler):
    """The whole body is one event; query parameters become headers.
    ``handler.mandatoryParameters`` (comma-separated) must all be present."""

    type_name = "BLOBHandler"
    aliases = ("org.apache.flume.source.http.BLOBHandler", "BLOB")
    summary = "the whole body is one event; query parameters become headers"
    settings_schema = Schema(Setting("mandatoryParameters", "str", "", "comma-separated query parameters every request must have"))

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.mandatory = [p.strip() for p in str(settings["mandatoryParameters"] or "").split(",") if p.strip()]

    def get_events(self, request: HttpRequest) -> list[Event]:
        for name in self.mandatory:
            if name not in request.params:
                raise BadRequest(f"Please specify {name} parameter in the request.")
        return [Event(request.body, dict(request.params))]


class MorphlineBlobHandler(HttpHandler):
    """Flume's ``org.apache.flume.sink.solr.morphline.BlobHandler``: the whole body is one
    event; headers are the query parameters and ``Content-Type``. A body longer than
    ``handler.maxBlobLength`` is refused with 400 (Flume cuts it, losing the rest)."""

    type_name = "MorphlineBlobHandler"
    aliases = ("org.apache.flume.sink.solr.morphline.BlobHandler",)
    summary = "the whole body is one event; query parameters and Content-Type become headers"
    settings_schema = Schema(Setting("maxBlobLength", "int", 100_000_000, "largest body in bytes (larger ones get 400)", minimum=1))

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.max_length = int(settings["maxBlobLength"])

    def get_events(self, request: HttpRequest) -> list[Event]:
        if len(request.body) > self.max_length:
            raise BadRequest(
                f"the body has {len(request.body)} bytes, more than handler.maxBlobLength ({self.max_length}); send a smaller one"
            )
        headers = dict(request.params)
        content_type = request.headers.get("content-type")
        if content_type is not None:
            headers["Content-Type"] = content_type
        return [Event(request.body, headers)]


COMPONENTS = [JSONHandler, BLOBHandler, MorphlineBlobHandler]


class _Legacy(HttpHandler):
    """Wraps a module-path class with the older ``configure(props)`` contract."""

    type_name = "legacy"

    def __init__(self, name: str, inner: Handler) -> None:
        super().__init__(name, Settings({}))
        self.get_events = inner.get_events  # type: ignore[method-assign]


@dataclass(frozen=True)
class HandlerSpec:
    """A resolved ``handler = NAME`` with its sub-keys: makes the source's handler."""

    cls: type
    settings: Settings | None
    """Parsed ``handler.*`` keys (None for a module-path class of the older contract)."""
    props: dict[str, str]
    owner: str

    @property
    def type_name(self) -> str:
        return str(getattr(self.cls, "type_name", "") or f"{self.cls.__module__}.{self.cls.__qualname__}")

    def new(self) -> HttpHandler:
        """The handler instance (the older contract's ``configure`` is called here)."""
        if self.settings is not None:
            handler: HttpHandler = self.cls(self.owner, self.settings)
            return handler
        inner = self.cls()
        configure = getattr(inner, "configure", None)
        if callable(configure):
            configure(dict(self.props))
        return _Legacy(self.owner, inner)


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from flafka import plugins

    return plugins.get_registry()


def _import(name: str) -> tuple[type | None, str]:
    """The class at module path ``name`` (``a.b.C`` or ``a.b:C``), or None and why not."""
    module, sep, cls = name.partition(":")
    if not sep:
        module, _, cls = name.rpartition(".")
    if not module or not cls:
        return None, "it is not module.ClassName"
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        return None, f"it cannot be imported ({exc})"
    if not isinstance(found, type) or not callable(getattr(found, "get_events", None)):
        return None, "it has no get_events(request) method"
    return found, ""


def _looks_like_java(name: str) -> bool:
    """``org.example.rest.RestHandler``: a reverse-domain package and a capitalised class."""
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] in ("org", "com", "net", "io") and parts[-1][:1].isupper()


def resolve_handler(
    owner: str, name: str, sub: Mapping[str, str], registry: Registry | None = None
) -> tuple[HandlerSpec | None, list[Problem]]:
    """Look ``name`` up: the registry first (type names, aliases; case-insensitive), then
    a module path. Parse ``sub`` (the ``handler.*`` keys, prefix removed) with the
    handler's schema. Returns the spec (None on an error) and every problem, keyed
    ``handler`` or ``handler.<key>``. Imports a module path; no other I/O."""
    reg = _registry(registry)
    name = (name or DEFAULT).strip()
    cls: type | None = reg.lookup("http_handler", name)
    why = ""
    if cls is None and not name.startswith("org.apache.flume."):
        cls, why = _import(name)
    if cls is None:
        names = reg.names("http_handler")
        known = ", ".join(names) if names else "none installed"
        hint = (_dotted_hint(reg, name) if "." in name else "") or reg.suggest("http_handler", name)
        if hint:
            suggestion = f"did you mean '{hint}'? (handlers: {known})"
        elif name.startswith("org.apache.flume."):
            suggestion = f"flafka cannot load Java classes; use one of {known}"
        else:
            suggestion = f"use one of {known}, install a flafka plugin that registers '{name}', or give an importable module.ClassName"
        detail = f" ({why})" if why and "." in name else ""
        if _looks_like_java(name) and not name.startswith("org.apache.flume."):
            message = (
                f"http handler '{name}' is a Java class: Java components are not implemented in flafka "
                f"(and no Python module or plugin has that name{detail})"
            )
            return None, [Problem("handler", message, f"write the handler in Python as a flafka plugin; built in: {known}")]
        return None, [Problem("handler", f"unknown http handler '{name}'{detail}", suggestion)]
    if not issubclass(cls, HttpHandler):
        return HandlerSpec(cls, None, dict(sub), owner), []  # older contract: its keys are its own business
    problems: list[Problem] = []
    schema = cls.settings_schema
    given: dict[str, str] = {}
    for key, value in sub.items():
        if schema.get(key) or schema.map_for(key) or any(key in s.legacy for s in schema.settings):
            given[key] = value
            continue
        hint = schema.suggest(key)
        problems.append(
            Problem(
                f"handler.{key}",
                f"unknown key 'handler.{key}' for http handler {cls.type_name}",
                f"did you mean 'handler.{hint}'?" if hint else f"see `flafka describe {cls.type_name} --kind http_handler`",
            )
        )
    settings, parsed = schema.parse(given)
    if not any(p.severity == "error" for p in parsed):
        parsed = [*parsed, *cls.check_settings(settings)]
    problems += [Problem(f"handler.{p.key}" if p.key else "handler", p.message, p.suggestion, p.severity) for p in parsed]
    if any(p.severity == "error" for p in problems):
        return None, problems
    return HandlerSpec(cls, settings, dict(sub), owner), problems


def _dotted_hint(reg: Registry, name: str) -> str:
    """A registered dotted alias ``name`` is a near-miss of ('' if none)."""
    names = {n.lower(): n for r in reg.registrations if r.kind == "http_handler" for n in r.aliases if "." in n}
    hits = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.85)
    return names[hits[0]] if hits else ""


def handler_or_raise(owner: str, name: str, sub: Mapping[str, str], registry: Registry | None = None) -> HandlerSpec:
    """:func:`resolve_handler` for constructors: ConfigError (source, key, fix) on the first error."""
    spec, problems = resolve_handler(owner, name, sub, registry)
    for p in problems:
        if p.severity == "error":
            fix = f"; {p.suggestion}" if p.suggestion else ""
            where = f"handler = '{name}'" if p.key == "handler" else p.key
            raise ConfigError(f"source '{owner}': {where}: {p.message}{fix}")
    assert spec is not None
    return spec
