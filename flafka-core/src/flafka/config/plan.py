"""What a valid configuration resolves to: the components of one agent, with classes and
typed settings, ready for :class:`flafka.agent.Agent` to build. Produced by the loader
only when there is no error diagnostic."""

from __future__ import annotations

from dataclasses import dataclass, field

from flafka.component import Component
from flafka.settings import Settings


@dataclass
class ComponentPlan:
    name: str
    cls: type[Component]
    settings: Settings
    type_name: str
    """The type as the user wrote it (alias or class name)."""
    origin: str = ""
    """``file:line`` of the component's ``type`` line, for messages at start-up."""


@dataclass
class SourcePlan(ComponentPlan):
    channels: list[str] = field(default_factory=list)
    selector: ComponentPlan | None = None
    interceptors: list[ComponentPlan] = field(default_factory=list)
    acknowledgements: bool = True


@dataclass
class SinkPlan(ComponentPlan):
    channel: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    """The sink's ``errors.*`` keys (framework-owned: dead-letter directory, ...)."""


@dataclass
class SinkGroupPlan:
    name: str
    sinks: list[str]
    processor: ComponentPlan


@dataclass
class AgentPlan:
    name: str
    sources: dict[str, SourcePlan] = field(default_factory=dict)
    channels: dict[str, ComponentPlan] = field(default_factory=dict)
    sinks: dict[str, SinkPlan] = field(default_factory=dict)
    sinkgroups: dict[str, SinkGroupPlan] = field(default_factory=dict)
    system_properties: dict[str, str] = field(default_factory=dict)
    """``-Dkey=value`` properties (``flume.monitoring.type``...)."""
