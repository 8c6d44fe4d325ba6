"""The component registry: (kind, type name or alias) -> component class.

Filled once at start-up by the plugin manager (:mod:`flafka.plugins`) from every plugin's
``flafka_register_components`` hook; looked up by the config loader. Type names match
case-insensitively (as Flume's aliases do); fully qualified Flume class names are aliases.

Kinds: core's (:data:`~flafka.component.CORE_KINDS`) plus those plugins define with
``flafka_register_kinds`` (:class:`KindSpec`). A class is registered only under a known
kind, and a class of a plugin-defined kind must derive from that kind's base class.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

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
class Registration:
    cls: type[Component]
    plugin: str
    """The plugin (entry point name) that registered ``cls``."""


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

    def add(self, cls: type[Component], plugin: str) -> None:
        """Register ``cls`` under its type name and aliases. Raises KindError when its kind
        is unknown (or it does not derive from a plugin kind's base), DuplicateTypeError
        naming both plugins when another class already holds one of the names."""
        problem = self.check_kind(cls)
        if problem:
            raise KindError(problem)
        names = (cls.type_name, *cls.aliases)
        for name in names:
            prior = self._by_name.get((cls.kind, name.lower()))
            if prior is not None and prior.cls is not cls:
                raise DuplicateTypeError(
                    f"{cls.kind} type '{name}' is registered twice: by plugin '{prior.plugin}' "
                    f"({prior.cls.__module__}.{prior.cls.__qualname__}) and by plugin '{plugin}' "
                    f"({cls.__module__}.{cls.__qualname__}); uninstall one or disable it with "
                    f"FLAFKA_DISABLE_PLUGINS={plugin}"
                )
        reg = Registration(cls, plugin)
        for name in names:
            self._by_name[(cls.kind, name.lower())] = reg
        self.registrations.append(reg)

    def lookup(self, kind: str, name: str) -> type[Component] | None:
        reg = self._by_name.get((kind, name.strip().lower()))
        return reg.cls if reg else None

    def registration(self, kind: str, name: str) -> Registration | None:
        return self._by_name.get((kind, name.strip().lower()))

    def names(self, kind: str) -> list[str]:
        """Primary type names of one kind, sorted."""
        return sorted({r.cls.type_name for r in self.registrations if r.cls.kind == kind})

    def suggest(self, kind: str, name: str) -> str:
        """Closest known type name or alias of ``kind`` ('' if none is close)."""
        known = [n for (k, n) in self._by_name if k == kind]
        hits = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
        if not hits:
            return ""
        return self._by_name[(kind, hits[0])].cls.type_name
