"""The plugin manager: finds plugins through the ``flafka`` entry point group, registers
them with pluggy and fills the component :class:`~flafka.registry.Registry`.

Core's own components are a plugin like any other (entry point ``builtins``). Every
entry point load and every hook call is wrapped: a broken plugin becomes a
:class:`PluginError` (plugin, distribution, version, error and how to disable it) and never
breaks the CLI. Two plugins claiming one type name is an error naming both; the first one
keeps the name, and :meth:`PluginReport.conflict_for` lets ``flafka agent`` / ``validate``
refuse a configuration that uses it.

Environment:

- ``FLAFKA_PLUGINS``: comma list of entry point names to load (an allow-list; ``builtins``
  is core's own). Unset or empty: load every plugin.
- ``FLAFKA_DISABLE_PLUGINS``: comma list of entry point names not to load (they are not
  even imported — the escape hatch when a plugin breaks at import).

Hooks are called at registration time only, never on the data path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from flafka import hookspecs
from flafka.component import CORE_KINDS, Component
from flafka.registry import Deferred, DuplicateTypeError, KindError, Registry

if TYPE_CHECKING:
    import importlib.metadata

    import click

log = logging.getLogger(__name__)

GROUP = "flafka"
BUILTINS = "builtins"
KINDS = CORE_KINDS
"""Core's kinds; plugins may define more (``Registry.kind_names()``)."""


class ComponentEntry(NamedTuple):
    kind: str
    type_name: str
    aliases: tuple[str, ...]


@dataclass
class PluginInfo:
    """A plugin that loaded: its entry point name, distribution, version, the component
    types it registered and the hooks it implements."""

    name: str
    distribution: str
    version: str
    components: list[ComponentEntry] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginError:
    """A plugin that failed (import, hook, bad component, type conflict). ``fix`` says
    how to get rid of it."""

    plugin: str
    distribution: str
    version: str
    error: str
    fix: str = ""

    def __post_init__(self) -> None:
        if not self.fix:
            self.fix = disable_fix(self.plugin, self.distribution)

    def format(self) -> str:
        what = " ".join(x for x in (self.distribution, self.version) if x)
        dist = f" ({what})" if what else ""
        return f"plugin '{self.plugin}'{dist}: {self.error}\n    fix: {self.fix}"


@dataclass(frozen=True)
class Conflict:
    """A type name two plugins claim (of one kind)."""

    kind: str
    name: str
    kept: str
    """The plugin that holds the name."""
    refused: str
    """The plugin whose class was not registered."""
    message: str


@dataclass
class PluginReport:
    """What :func:`load_plugins` found."""

    registry: Registry
    plugins: list[PluginInfo] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    """Entry point names skipped by FLAFKA_DISABLE_PLUGINS or left out of FLAFKA_PLUGINS."""
    conflicts: list[Conflict] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None

    def conflict_for(self, kind: str | None, name: str) -> Conflict | None:
        """The conflict involving type ``name`` (of ``kind``; any kind when None), if any."""
        low = name.strip().lower()
        for c in self.conflicts:
            if c.name == low and (kind is None or c.kind == kind):
                return c
        return None

    def plugin(self, name: str) -> PluginInfo | None:
        for p in self.plugins:
            if p.name == name:
                return p
        return None


def disable_fix(plugin: str, distribution: str) -> str:
    fix = f"set FLAFKA_DISABLE_PLUGINS={plugin}"
    if distribution:
        fix += f" or pip uninstall {distribution}"
    return fix


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def _dist(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    """(distribution name, version) of the entry point's distribution, or ("", "")."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    try:
        found = _name_version(dist)
        return found if found[0] else (str(dist.name or ""), str(dist.version or ""))
    except Exception:  # broken metadata must not break the CLI
        return "", ""


def _name_version(dist: object) -> tuple[str, str]:
    """Name and Version from the header section of the distribution's METADATA only.
    (``dist.name`` and ``dist.version`` each parse the whole file, long description
    included, with the email parser: most of plugin discovery's time at start.)"""
    read_text = getattr(dist, "read_text", None)
    text = (read_text("METADATA") or read_text("PKG-INFO") or "") if callable(read_text) else ""
    name = version = ""
    for line in text.partition("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        if key == "Name" and not name:
            name = value.strip()
        elif key == "Version" and not version:
            version = value.strip()
    return name, version


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def discover(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> list[importlib.metadata.EntryPoint]:
    """The ``flafka`` entry points, ``builtins`` first, then by name (stable order).
    Found by :func:`flafka.entry_points.entry_points` (``importlib.metadata``'s answer,
    without importing it when ``sys.path`` holds only directories)."""
    if entry_points is None:
        from flafka.entry_points import entry_points as find

        entry_points = find(GROUP)
    eps = list(entry_points)
    return sorted(eps, key=lambda ep: (ep.name != BUILTINS, ep.name))


def load_plugins(
    env: Mapping[str, str] | None = None,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> PluginReport:
    """Load every allowed plugin and register its components. Never raises for a broken
    plugin: failures are in ``report.errors``.

    ``entry_points`` replaces discovery (tests pass fake ``EntryPoint`` objects so they do
    not depend on what is installed).
    """
    env = os.environ if env is None else env
    allow = set(_names(env.get("FLAFKA_PLUGINS")))
    deny = set(_names(env.get("FLAFKA_DISABLE_PLUGINS")))
    pm = new_manager()
    report = PluginReport(Registry(), manager=pm)
    dists: dict[str, tuple[str, str]] = {}

    for ep in discover(entry_points):
        dist, version = _dist(ep)
        if ep.name in deny or (allow and ep.name not in allow):
            report.disabled.append(ep.name)
            continue
        try:
            module = ep.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            report.errors.append(PluginError(ep.name, dist, version, f"failed to import {ep.value}: {_describe(exc)}"))
            continue
        if pm.has_plugin(ep.name):
            other = dists.get(ep.name, ("", ""))[0] or "another distribution"
            report.errors.append(
                PluginError(ep.name, dist, version, f"the plugin name '{ep.name}' is already used by {other}; this one is not loaded")
            )
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as exc:
            report.errors.append(PluginError(ep.name, dist, version, f"cannot be registered: {_describe(exc)}"))
            continue
        dists[ep.name] = (dist, version)
        info = PluginInfo(ep.name, dist, version)
        for caller in pm.get_hookcallers(module) or []:
            info.hooks.append(caller.name)
            if not caller.has_spec():
                known = sorted(n for n in dir(hookspecs) if n.startswith("flafka_"))
                report.errors.append(
                    PluginError(
                        ep.name,
                        dist,
                        version,
                        f"implements hook '{caller.name}', which flafka does not define (known hooks: {', '.join(known)})",
                        fix=f"rename the hook in plugin '{ep.name}' (a typo?), or upgrade flafka-core",
                    )
                )
        info.hooks.sort()
        report.plugins.append(info)

    _register_kinds(report)
    _register_components(report)
    return report


def _register_kinds(report: PluginReport) -> None:
    """Every plugin's ``flafka_register_kinds``, before any component is registered."""
    pm = report.manager
    assert pm is not None
    for impl in pm.hook.flafka_register_kinds.get_hookimpls():
        name = impl.plugin_name
        info = report.plugin(name)
        dist, version = (info.distribution, info.version) if info else ("", "")
        try:
            returned: Any = impl.function()
            specs = list(returned or [])
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            report.errors.append(PluginError(name, dist, version, f"flafka_register_kinds failed: {_describe(exc)}"))
            continue
        for spec in specs:
            try:
                report.registry.add_kind(spec, name)
            except KindError as exc:
                report.errors.append(PluginError(name, dist, version, str(exc)))


def _register_components(report: PluginReport) -> None:
    pm = report.manager
    assert pm is not None
    for impl in pm.hook.flafka_register_components.get_hookimpls():  # registration order
        name = impl.plugin_name
        info = report.plugin(name)
        dist, version = (info.distribution, info.version) if info else ("", "")
        try:
            classes: Any = impl.function()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            report.errors.append(PluginError(name, dist, version, f"flafka_register_components failed: {_describe(exc)}"))
            continue
        if classes is None:
            continue
        try:
            classes = list(classes)
        except TypeError:
            report.errors.append(
                PluginError(name, dist, version, f"flafka_register_components returned {type(classes).__name__}, not a list of classes")
            )
            continue
        for cls in classes:
            if isinstance(cls, Deferred):  # imported when first used
                problem = report.registry.check_deferred(cls)
                kind, type_name, aliases = cls.kind, cls.type_name, tuple(cls.aliases)
            else:
                problem = _check_class(cls) or report.registry.check_kind(cls)
                kind, type_name, aliases = (cls.kind, cls.type_name, tuple(cls.aliases)) if not problem else ("", "", ())
            if problem:
                report.errors.append(PluginError(name, dist, version, problem))
                continue
            try:
                report.registry.add(cls, name)
            except DuplicateTypeError as exc:
                report.errors.append(PluginError(name, dist, version, str(exc)))
                _record_conflict(report, kind, (type_name, *aliases), name, str(exc))
                continue
            if info is not None:
                info.components.append(ComponentEntry(kind, type_name, aliases))


def _check_class(cls: Any) -> str:
    """'' when ``cls`` can be registered, else why not (a sentence)."""
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        return f"flafka_register_components returned {cls!r}, which is not a flafka Component class"
    label = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(getattr(cls, "type_name", None), str) or not cls.type_name.strip():
        return f"component class {label} has no type_name"
    return ""


def _record_conflict(report: PluginReport, kind: str, names: tuple[str, ...], plugin: str, message: str) -> None:
    """Every name of the refused component becomes a conflict: using any of them is an
    error, since the user cannot know which class they would get."""
    for name in names:
        held = report.registry.registration(kind, name)
        kept = held.plugin if held else ""
        report.conflicts.append(Conflict(kind, name.strip().lower(), kept, plugin, message))


def register_commands(cli: click.Group, report: PluginReport, protected: Iterable[str] = ()) -> None:
    """Call every plugin's ``flafka_register_commands(cli)``; a failure is recorded in
    ``report.errors`` and the other plugins' commands still register. A plugin may not
    replace a ``protected`` (core) command: the core one is put back and that is an error."""
    pm = report.manager
    if pm is None:
        return
    guarded = list(protected)
    for impl in pm.hook.flafka_register_commands.get_hookimpls():
        name = impl.plugin_name
        info = report.plugin(name)
        dist, version = (info.distribution, info.version) if info else ("", "")
        before = {n: cli.commands.get(n) for n in guarded}
        try:
            impl.function(cli=cli)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            report.errors.append(PluginError(name, dist, version, f"flafka_register_commands failed: {_describe(exc)}"))
        for command_name, command in before.items():
            if command is not None and cli.commands.get(command_name) is not command:
                cli.commands[command_name] = command
                report.errors.append(
                    PluginError(name, dist, version, f"tried to replace the core command 'flafka {command_name}'; the core command is kept")
                )


@cache
def plugin_report() -> PluginReport:
    """The process-wide :func:`load_plugins` result (loaded once, from ``os.environ``)."""
    return load_plugins()


def get_registry() -> Registry:
    """The process-wide registry (plugins loaded once). Plugin errors are logged as
    warnings the first time."""
    first = plugin_report.cache_info().currsize == 0
    report = plugin_report()
    if first:
        for err in report.errors:
            log.warning("%s", err.format())
    return report.registry


def reset() -> None:
    """Forget the cached report (tests; after changing FLAFKA_PLUGINS)."""
    plugin_report.cache_clear()
