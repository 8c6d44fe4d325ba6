"""Small helpers for tests of components (ours and plugin authors'): build a component
from raw Flume-style settings exactly as the config loader would."""

from __future__ import annotations

from typing import Any, TypeVar

from flafka.component import Component
from flafka.errors import ConfigError
from flafka.settings import Settings

C = TypeVar("C", bound=Component)


def settings_for(cls: type[Component], **raw: Any) -> Settings:
    """Parse ``raw`` keys (pass dashed or dotted keys with ``**{"keep-alive": 3}``) with
    ``cls.settings_schema``; raise ConfigError listing every error problem."""
    values, problems = cls.settings_schema.parse({k: str(v) for k, v in raw.items()})
    errors = [f"{p.key}: {p.message}" for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError("; ".join(errors))
    return values


def make(cls: type[C], name: str = "c", **raw: Any) -> C:
    """``cls(name, settings_for(cls, **raw))``."""
    return cls(name, settings_for(cls, **raw))
