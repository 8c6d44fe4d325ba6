"""Event serializers: the plugin kind that turns batches of events into the bytes of one
output file. ``file_roll`` (``sink.serializer``) and ``hdfs`` (``serializer``, for
``DataStream``/``CompressedStream``) look the name up in the component registry, so a
built-in (``TEXT``, ``HEADER_AND_TEXT``, ``avro_event``, Flume's ``...$Builder`` class
names) and a third-party serializer are found the same way.

Contract of an :class:`EventSerializer` (one instance per output file):

* ``__init__(name, settings)`` is pure (no I/O): ``name`` is the owning sink's name,
  ``settings`` the serializer's own keys (``sink.serializer.*`` / ``serializer.*`` with the
  prefix removed), parsed by its ``settings_schema``.
* The file's bytes are ``begin() + encode(batch1) + encode(batch2) + ... + end()``.
  ``begin`` is called once, just before the first ``encode``; ``end`` when the file is
  closed normally (a file left by a crash has no ``end`` bytes, as in Flume).
* ``encode(events)`` returns the whole batch's bytes; they are written with one call, and
  a sink may discard them (a failed write) and go on with the next batch, so the bytes of
  one ``encode`` must stand alone (Avro: the batch ends with a complete block).
* ``encode`` may raise :class:`~flafka.errors.RetriableError` (a resource it reads, such as
  a schema URL, is unavailable) or :class:`~flafka.errors.PermanentError` (the events cannot
  be written); nothing of that batch is written.
* ``newline_framed`` is True when every event ends with ``\\n`` and nothing else is
  written: after a crash a sink may then cut a torn last line off the file.
* ``open_url`` (may be None) is a reader the owning sink lends for URLs only it can read
  (the hdfs sink: ``hdfs://`` through its WebHDFS client); a serializer that reads
  resources by URL (``AvroEventSerializer``'s schemas) tries it for other schemes.

Serializers run on the data path: no per-event logging, no plugin calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from flafka.component import Component, ComponentKind
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.registry import Registry
from flafka.settings import Problem, Settings

__all__ = ["EventSerializer", "SerializerSpec", "resolve_serializer", "serializer_or_raise"]


class EventSerializer(Component):
    """Base class of serializers (see the module docstring for the contract)."""

    kind: ClassVar[ComponentKind] = "serializer"
    family: ClassVar[str] = "file"
    """The serializer family: file serializers (this base) turn events into file bytes.
    Other families share the ``serializer`` kind with their own base class (flafka-hbase's
    ``HBaseEventSerializer``, family ``hbase``); :func:`resolve_serializer` finds, lists
    and suggests only subclasses of this one."""
    newline_framed: bool = False
    """True when each event's bytes end with ``\\n`` and there are no other bytes."""
    open_url: Callable[[str], bytes] | None = None
    """A reader of URLs the owning sink can read (set by the sink; see the module docstring)."""

    def begin(self) -> bytes:
        """Bytes that start the file (written together with the first batch)."""
        return b""

    def encode(self, events: list[Event]) -> bytes:
        """The bytes of one batch (self-contained; see the module docstring). A
        ``batch_aware`` serializer may also receive a column-wise
        :class:`~flafka.batch.Batch`; others always get a ``list[Event]``."""
        raise NotImplementedError

    def end(self) -> bytes:
        """Bytes that close the file (written when it is closed normally)."""
        return b""


@dataclass(frozen=True)
class SerializerSpec:
    """A resolved ``serializer = NAME`` with its parsed sub-keys: a factory of per-file
    serializers."""

    cls: type[EventSerializer]
    settings: Settings
    owner: str
    """The owning sink's name (given to each serializer as its ``name``)."""
    open_url: Callable[[str], bytes] | None = None
    """Given to each serializer (``EventSerializer.open_url``)."""

    @property
    def type_name(self) -> str:
        return self.cls.type_name

    def new(self) -> EventSerializer:
        """A serializer for one new output file."""
        serializer = self.cls(self.owner, self.settings)
        if self.open_url is not None:
            serializer.open_url = self.open_url
        return serializer


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from flafka import plugins

    return plugins.get_registry()


def _file_serializers(registry: Registry) -> list[type[EventSerializer]]:
    """Registered serializers of the file family (other families share the kind)."""
    out: list[type[EventSerializer]] = []
    for r in registry.registrations:
        if r.kind != "serializer":
            continue
        cls = r.cls
        if isinstance(cls, type) and issubclass(cls, EventSerializer) and cls not in out:
            out.append(cls)
    return out


def _known_names(registry: Registry) -> str:
    names = sorted({c.type_name for c in _file_serializers(registry)})
    return ", ".join(names) if names else "none installed"


def _suggest(registry: Registry, name: str) -> str:
    """The file serializer whose type name or alias is closest to ``name`` ('' if none)."""
    import difflib

    names = {n.lower(): c.type_name for c in _file_serializers(registry) for n in (c.type_name, *c.aliases)}
    hits = difflib.get_close_matches(name.strip().lower(), list(names), n=1, cutoff=0.6)
    return names[hits[0]] if hits else ""


def _family_of(cls: type[Component]) -> str:
    family = getattr(cls, "family", "")
    return family if isinstance(family, str) and family else cls.__module__.split(".")[0]


def resolve_serializer(
    owner: str, key: str, name: str, sub: Mapping[str, str], registry: Registry | None = None
) -> tuple[SerializerSpec | None, list[Problem]]:
    """Look ``name`` up (case-insensitive; type names, aliases, Flume class names) among
    the file serializers (:class:`EventSerializer` subclasses: the ``serializer`` kind also
    holds other families, e.g. HBase's) and parse ``sub`` (the keys under ``<key>.``,
    prefix removed) with the serializer's schema. A serializer of another family is an
    error naming its family; names, suggestions and "key of another serializer" hints
    come from the file family only.

    Returns the spec (None when the name is unknown or a sub-key is wrong) and every
    problem, keyed relative to the sink (``key`` or ``key.<sub-key>``). Pure: no I/O.
    """
    reg = _registry(registry)
    cls = reg.lookup("serializer", name or "TEXT")
    if cls is not None and not (isinstance(cls, type) and issubclass(cls, EventSerializer)):
        shown = f"'{name.strip()}'" + ("" if cls.type_name.lower() == name.strip().lower() else f" ('{cls.type_name}')")
        return None, [
            Problem(
                key,
                f"serializer {shown} belongs to the {_family_of(cls)} serializer family, not to the file serializers "
                f"this sink writes with",
                f"use one of {_known_names(reg)}",
            )
        ]
    if cls is None:
        known = _known_names(reg)
        hint = _java_hint(reg, name) if "." in name else _suggest(reg, name)
        if hint:
            suggestion = f"did you mean '{hint}'? (serializers: {known})"
        elif "." in name:
            suggestion = f"flafka cannot load Java classes; use one of {known}, or install a flafka plugin that registers '{name}'"
        else:
            suggestion = f"use one of {known} (`flafka plugins` lists the installed ones)"
        return None, [Problem(key, f"unknown serializer '{name}'", suggestion)]
    problems: list[Problem] = []
    schema = cls.settings_schema
    given: dict[str, str] = {}
    for sub_key, value in sub.items():
        if schema.get(sub_key) or schema.map_for(sub_key) or any(sub_key in s.legacy for s in schema.settings):
            given[sub_key] = value
            continue
        owners = _other_owners(reg, cls, sub_key)
        if owners:
            problems.append(
                Problem(
                    f"{key}.{sub_key}",
                    f"'{key}.{sub_key}' is a key of the {' and '.join(owners)} serializer, not of {cls.type_name}; it is ignored",
                    f"remove it, or set {key} = {owners[0]}",
                    "warning",
                )
            )
            continue
        hint = schema.suggest(sub_key)
        problems.append(
            Problem(
                f"{key}.{sub_key}",
                f"unknown key '{key}.{sub_key}' for serializer {cls.type_name}",
                f"did you mean '{key}.{hint}'?" if hint else f"see `flafka describe {cls.type_name} --kind serializer`",
            )
        )
    settings, parsed = schema.parse(given)
    if not any(p.severity == "error" for p in parsed):
        parsed = [*parsed, *cls.check_settings(settings)]
    problems += [Problem(f"{key}.{p.key}" if p.key else key, p.message, p.suggestion, p.severity) for p in parsed]
    if any(p.severity == "error" for p in problems):
        return None, problems
    return SerializerSpec(cls, settings, owner), problems


def _java_hint(reg: Registry, name: str) -> str:
    """A registered class name that ``name`` (a Java class name) is a near-miss of ('' if none)."""
    import difflib

    names = {n.lower(): n for c in _file_serializers(reg) for n in c.aliases if "." in n}
    hits = difflib.get_close_matches(name.strip().lower(), list(names), n=1, cutoff=0.9)
    return names[hits[0]] if hits else ""


def _other_owners(reg: Registry, cls: type[Component], sub_key: str) -> list[str]:
    """Type names of other registered file serializers that declare ``sub_key``."""
    out = [o.type_name for o in _file_serializers(reg) if o is not cls and o.settings_schema.get(sub_key) is not None]
    return sorted(set(out))


def serializer_or_raise(owner: str, key: str, name: str, sub: Mapping[str, str], registry: Registry | None = None) -> SerializerSpec:
    """:func:`resolve_serializer` for constructors: raise ConfigError (naming the sink, the
    key and the fix) on the first error."""
    spec, problems = resolve_serializer(owner, key, name, sub, registry)
    for p in problems:
        if p.severity == "error":
            fix = f"; {p.suggestion}" if p.suggestion else ""
            where = f"{key} = '{name}'" if p.key == key else p.key
            raise ConfigError(f"sink '{owner}': {where}: {p.message}{fix}")
    assert spec is not None
    return spec
