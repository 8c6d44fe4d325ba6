"""Run an agent in-process from configuration text (for tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flafka.agent import Agent
from flafka.errors import ConfigError


def start_agent_from_text(text: str, name: str, workdir: Path, system_properties: dict[str, str] | None = None) -> Agent:
    """Write ``text`` to a file under ``workdir``, load it as agent ``name`` and start it.
    Raises ConfigError (with every diagnostic) when the configuration is invalid."""
    from flafka.config.loader import load_config
    from flafka.plugins import get_registry

    path = workdir / f"{name}-{abs(hash(text)) & 0xFFFF:04x}.conf"
    path.write_text(text, encoding="utf-8")
    registry = get_registry()
    result: Any = load_config([path], name, registry, system_properties=system_properties or {})
    if result.plan is None:
        raise ConfigError(
            "invalid configuration:\n" + "\n".join(d.format() for d in result.diagnostics if d.is_error),
            result.diagnostics,
        )
    agent = Agent(result.plan, registry)
    agent.start()
    return agent
