"""The component registry: (kind, type name or alias) -> component class.

Filled once at start-up by the plugin manager (:mod:`flafka.plugins`) from every plugin's
``flafka_register_components`` hook; looked up by the config loader. Type names match
case-insensitively (as Flume's aliases do); fully qualified Flume class names are aliases.

Kinds: core's (:data:`~flafka.component.CORE_KINDS`) plus those plugins define with
``flafka_register_kinds`` (:class:`KindSpec`). A class is registered only under a known
kind, and a class of a plugin-defined kind must derive from that kind's base class.

A plugin may register a component as a :class:`Deferred` entry (its kind, names and
``"module:Class"``) instead of the class: its module is then imported only when a
configuration uses the type or a tool lists it, so an agent pays neither the import time
nor the memory of the connectors it does not run.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from dataclasses import dataclass
from typing import TypeAlias

from flafka.component import CORE_KINDS, Component

KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
"""A plugin-defined kind: ``<package>.<kind>``, lower case (``flafka_kudu.producer``)."""


class DuplicateTypeError(Exception):
    """Two plugins claim the same type name for the same kind."""


class KindError(Exception):
    """A kind that cannot be defined, or a class whose kind is unknown or whose base is wrong."""


@dataclass(frozen=True)
class KindSpec:
    """A component kind a plugin defines (returned from ``flafka_register_kinds``).

    ``name`` is namespaced by the package that defines it (``flafka_kudu.producer``: see
    :data:`KIND_NAME`) so two plugins cannot collide by accident and no core kind is
    shadowed. ``base`` is the class every component of the kind derives from; it sets
    ``kind = name`` itself, so subclasses inherit it. The defining package looks its
    components up with ``registry.lookup(name, type_name)``; other packages register
    more by subclassing ``base``.
    """

    name: str
    base: type[Component]
    summary: str = ""
    """One line: what components of this kind do (for tools and error messages)."""


@dataclass(frozen=True)
class Deferred:
    """A component registered by name and imported on first use (see the module docstring).

    ``target`` is ``"package.module:ClassName"``. Once imported, the class must have exactly
    this ``kind``, ``type_name`` and ``aliases``; a mismatch or a failed import is a
    :class:`KindError` naming the plugin and the target when the type is first used."""

    target: str
    kind: str
    type_name: str
    aliases: tuple[str, ...] = ()

    def load(self) -> type[Component]:
        """Import and check the class (raises KindError with the reason)."""
        module_name, _, attr = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:
            raise KindError(
                f"{self.kind} type '{self.type_name}' cannot be imported from {self.target}: {type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Component)):
            raise KindError(f"{self.target} is not a flafka Component class")
        declared = (self.kind, self.type_name, tuple(self.aliases))
        actual = (getattr(cls, "kind", None), getattr(cls, "type_name", None), tuple(getattr(cls, "aliases", ())))
        if declared != actual:
            raise KindError(
                f"{self.target} was registered as (kind, type_name, aliases) = {declared!r} but the class says {actual!r}; "
                f"make the plugin's Deferred entry match the class"
            )
        return cls


Entry: TypeAlias = "type[Component] | Deferred"
"""What ``flafka_register_components`` may return: classes or :class:`Deferred` entries."""

_LOAD_LOCK = threading.Lock()


class Registration:
    """One registered component: its kind and names at once, its class on first access."""

    __slots__ = ("_cls", "aliases", "deferred", "kind", "plugin", "type_name")

    def __init__(self, entry: Entry, plugin: str) -> None:
        self.plugin = plugin
        """The plugin (entry point name) that registered it."""
        if isinstance(entry, Deferred):
            self._cls: type[Component] | None = None
            self.deferred: Deferred | None = entry
            self.kind, self.type_name, self.aliases = entry.kind, entry.type_name, tuple(entry.aliases)
        else:
            self._cls, self.deferred = entry, None
            self.kind, self.type_name, self.aliases = entry.kind, entry.type_name, tuple(entry.aliases)

    @property
    def loaded(self) -> bool:
        """True once the class is imported (always, for a class registered directly)."""
        return self._cls is not None

    @property
    def cls(self) -> type[Component]:
        """The class (imported now for a Deferred entry; raises KindError naming the
        plugin when that fails)."""
        cls = self._cls
        if cls is None:
            assert self.deferred is not None
            with _LOAD_LOCK:
                if self._cls is None:
                    try:
                        self._cls = self.deferred.load()
                    except KindError as exc:
                        raise KindError(f"plugin '{self.plugin}': {exc}") from exc
                cls = self._cls
        return cls

    def same_as(self, entry: Entry) -> bool:
        """True when ``entry`` is this registration's class or Deferred entry."""
        if isinstance(entry, Deferred):
            return self.deferred == entry or (self._cls is not None and f"{self._cls.__module__}:{self._cls.__qualname__}" == entry.target)
        if self._cls is not None:
            return self._cls is entry
        assert self.deferred is not None
        return self.deferred.target == f"{entry.__module__}:{entry.__qualname__}"


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[tuple[str, str], Registration] = {}
        self.registrations: list[Registration] = []
        self.kinds: dict[str, tuple[KindSpec, str]] = {}
        """Plugin-defined kinds: name -> (spec, the plugin that defined it)."""

    def add_kind(self, spec: KindSpec, plugin: str) -> None:
        """Define a kind. Raises KindError (a sentence with the fix) for a name that is
        not namespaced, a core kind, a kind another plugin defined, or a base that is not
        a Component setting ``kind = spec.name``."""
        if not isinstance(spec, KindSpec):
            raise KindError(f"flafka_register_kinds returned {spec!r}, not a flafka.registry.KindSpec")
        name = spec.name
        if name in CORE_KINDS:
            raise KindError(f"kind '{name}' is a core kind; a plugin defines new kinds only")
        if not isinstance(name, str) or not KIND_NAME.match(name):
            raise KindError(
                f"kind name {name!r} is not namespaced: use '<your package>.<kind>' in lower case (e.g. 'flafka_kudu.producer')"
            )
        prior = self.kinds.get(name)
        if prior is not None and prior[0] != spec:
            raise KindError(f"kind '{name}' is defined twice: by plugin '{prior[1]}' and by plugin '{plugin}'; uninstall one")
        base = spec.base
        if not (isinstance(base, type) and issubclass(base, Component)) or getattr(base, "kind", None) != name:
            raise KindError(
                f"kind '{name}': its base {base!r} must be a flafka Component subclass with kind = '{name}' (subclasses inherit it)"
            )
        self.kinds.setdefault(name, (spec, plugin))

    def kind_names(self) -> tuple[str, ...]:
        """Core's kinds, then plugin-defined ones in definition order."""
        return (*CORE_KINDS, *self.kinds)

    def check_kind(self, cls: type[Component]) -> str:
        """'' when ``cls`` may be registered under its kind, else why not (a sentence)."""
        kind = getattr(cls, "kind", None)
        label = f"{cls.__module__}.{cls.__qualname__}"
        if kind in CORE_KINDS:
            return ""
        defined = self.kinds.get(kind) if isinstance(kind, str) else None
        if defined is None:
            extra = f"; plugin-defined: {', '.join(self.kinds)}" if self.kinds else ""
            return (
                f"component class {label} has no valid kind ({kind!r}; expected one of {', '.join(CORE_KINDS)}{extra}, "
                f"or a kind a plugin defines with flafka_register_kinds)"
            )
        spec = defined[0]
        if not issubclass(cls, spec.base):
            base = f"{spec.base.__module__}.{spec.base.__qualname__}"
            return f"component class {label} has kind '{kind}' but does not derive from its base {base}"
        return ""

    def check_deferred(self, entry: Deferred) -> str:
        """'' when ``entry`` may be registered (its kind is known, it names a type and a
        ``module:Class`` target), else why not. The class itself is checked on first use."""
        if entry.kind not in self.kind_names():
            return f"{entry.target} is registered under kind {entry.kind!r}, which is neither a core kind nor defined by a plugin"
        if not isinstance(entry.type_name, str) or not entry.type_name.strip():
            return f"{entry.target} is registered without a type_name"
        module, _, attr = entry.target.partition(":")
        if not module or not attr:
            return f"Deferred target {entry.target!r} is not 'package.module:ClassName'"
        return ""

    def add(self, entry: Entry, plugin: str) -> None:
        """Register a class (or a :class:`Deferred` entry) under its type name and aliases.
        Raises KindError when its kind is unknown (or a class does not derive from a plugin
        kind's base), DuplicateTypeError naming both plugins when another component already
        holds one of the names."""
        problem = self.check_deferred(entry) if isinstance(entry, Deferred) else self.check_kind(entry)
        if problem:
            raise KindError(problem)
        reg = Registration(entry, plugin)
        names = (reg.type_name, *reg.aliases)
        for name in names:
            prior = self._by_name.get((reg.kind, name.lower()))
            if prior is not None and not prior.same_as(entry):
                raise DuplicateTypeError(
                    f"{reg.kind} type '{name}' is registered twice: by plugin '{prior.plugin}' "
                    f"({_where(prior)}) and by plugin '{plugin}' ({_where(reg)}); uninstall one or disable it with "
                    f"FLAFKA_DISABLE_PLUGINS={plugin}"
                )
        for name in names:
            self._by_name[(reg.kind, name.lower())] = reg
        self.registrations.append(reg)

    def lookup(self, kind: str, name: str) -> type[Component] | None:
        """The class registered under ``name`` (imported now if it was deferred; raises
        KindError naming the plugin when that import fails), or None."""
        reg = self._by_name.get((kind, name.strip().lower()))
        return reg.cls if reg else None

    def registration(self, kind: str, name: str) -> Registration | None:
        return self._by_name.get((kind, name.strip().lower()))

    def names(self, kind: str) -> list[str]:
        """Primary type names of one kind, sorted."""
        return sorted({r.type_name for r in self.registrations if r.kind == kind})

    def suggest(self, kind: str, name: str) -> str:
        """Closest known type name or alias of ``kind`` ('' if none is close)."""
        known = [n for (k, n) in self._by_name if k == kind]
        hits = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
        if not hits:
            return ""
        return self._by_name[(kind, hits[0])].type_name


def _where(reg: Registration) -> str:
    """``module.Class`` of a registration, without importing a deferred one."""
    if reg.deferred is not None and not reg.loaded:
        return reg.deferred.target.replace(":", ".")
    cls = reg.cls
    return f"{cls.__module__}.{cls.__qualname__}"
