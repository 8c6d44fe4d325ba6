"""Plugin hook specifications (group ``flafka``). Called at registration time only —
never on the data path. Plugin authors import :data:`hookimpl` from ``flafka``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from flafka.registry import Entry, KindSpec

hookspec = pluggy.HookspecMarker("flafka")
hookimpl = pluggy.HookimplMarker("flafka")


@hookspec
def flafka_register_components() -> list[Entry]:  # type: ignore[empty-body]
    """Return component classes (sources, channels, sinks, interceptors, selectors, sink
    processors, serializers, http source handlers, or of a kind a plugin defines with
    ``flafka_register_kinds``) this plugin provides, or :class:`~flafka.registry.Deferred`
    entries (kind, names and ``"module:Class"``) for those whose module should be imported
    only when a configuration uses them. Called once at start-up."""


@hookspec
def flafka_register_kinds() -> list[KindSpec]:  # type: ignore[empty-body]
    """Return the component kinds this plugin defines beyond core's (a
    :class:`~flafka.registry.KindSpec` each: a namespaced name and the base class every
    component of the kind derives from). Called once at start-up, before any plugin's
    ``flafka_register_components``, so any plugin may register components of the kind."""


@hookspec
def flafka_register_commands(cli: click.Group) -> None:
    """Add click commands to the ``flafka`` command group."""


@hookspec
def flafka_register_test_services() -> list[Any]:  # type: ignore[empty-body]
    """Return test service definitions (used by flafka-testkit)."""
