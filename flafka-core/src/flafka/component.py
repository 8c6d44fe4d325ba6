"""The base every component derives from: kind, type name, aliases, settings schema, lifecycle.

Lifecycle (DESIGN §2): ``__init__(name, settings)`` is pure (no I/O, no threads) and may
raise :class:`~flafka.errors.ConfigError` for cross-key problems; ``start()`` opens
clients; ``stop()`` is idempotent and bounded. Runtime wiring (``counter``, channel
processor, ...) is attached by the agent before ``start()``.
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from flafka.settings import EMPTY_SCHEMA, Problem, Schema, Settings

ComponentKind = Literal["source", "channel", "sink", "interceptor", "selector", "sink_processor", "serializer", "http_handler"]
"""Core's kinds. A plugin may define more (``flafka_register_kinds``,
:class:`flafka.registry.KindSpec`): their names are namespaced (``flafka_kudu.producer``)."""
CORE_KINDS: tuple[str, ...] = get_args(ComponentKind)


class Component:
    """Base class of sources, channels, sinks, interceptors, selectors and sink processors."""

    kind: ClassVar[str]
    """One of :data:`CORE_KINDS` (:data:`ComponentKind`), or a kind a plugin defined
    (the ``base`` of its :class:`~flafka.registry.KindSpec` sets it)."""
    type_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names for the type: Flume's alias spellings and fully qualified class names."""
    settings_schema: ClassVar[Schema] = EMPTY_SCHEMA
    summary: ClassVar[str] = ""
    """One line for ``flafka describe`` and ``flafka plugins``."""
    batch_aware: ClassVar[bool] = False
    """True when the component's batch methods (``write``/``send``, ``intercept``,
    ``select``, a channel's ``put``) accept a column-wise :class:`~flafka.batch.Batch` as
    well as a ``list[Event]`` (:data:`flafka.batch.AnyBatch`). Otherwise the runtime hands
    it ``as_events(batch)``: components written against ``list[Event]`` work unchanged."""
    agent_name: str = "agent"
    """Name of the agent running this component (set by the agent before ``start``)."""

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        """Cross-key checks on parsed settings, pure (no I/O): return warnings (e.g. "acks=1
        can lose data") or errors. ``flafka validate`` and the loader report them on the
        right lines."""
        return []

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings

    def start(self) -> None:
        """Open clients and resources. Called once before any data moves."""

    def stop(self) -> None:
        """Release resources. Idempotent; must return promptly."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
