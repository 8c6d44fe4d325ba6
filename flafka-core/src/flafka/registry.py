"""The component registry: (kind, type name or alias) -> component class.

Filled once at start-up by the plugin manager (:mod:`flafka.plugins`) from every plugin's
``flafka_register_components`` hook; looked up by the config loader. Type names match
case-insensitively (as Flume's aliases do); fully qualified Flume class names are aliases.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from flafka.component import Component


class DuplicateTypeError(Exception):
    """Two plugins claim the same type name for the same kind."""


@dataclass(frozen=True)
class Registration:
    cls: type[Component]
    plugin: str
    """The plugin (entry point name) that registered ``cls``."""


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[tuple[str, str], Registration] = {}
        self.registrations: list[Registration] = []

    def add(self, cls: type[Component], plugin: str) -> None:
        """Register ``cls`` under its type name and aliases. Raises DuplicateTypeError
        naming both plugins when another class already holds one of the names."""
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
