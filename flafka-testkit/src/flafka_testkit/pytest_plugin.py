"""The pytest plugin (``pytest11`` entry point ``flafka``). Cheap to import: fixtures import
flafka lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("flafka_testkit.contracts")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A contract subclass opts out of a check with ``opt_out = {"test_name": "reason"}``:
    the check becomes ``xfail(strict=True)``, so it fails loudly once it passes."""
    for item in items:
        cls = getattr(item, "cls", None)
        reason = (getattr(cls, "opt_out", None) or {}).get(getattr(item, "originalname", item.name))
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """An empty spooling directory."""
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture
def run_agent(tmp_path: Path) -> Iterator[Any]:
    """Start an agent in-process from config text: ``agent = run_agent(text, name="agent")``.
    Every agent started is stopped at teardown."""
    from flafka_testkit.agent import start_agent_from_text

    started: list[Any] = []

    def run(text: str, name: str = "agent", **system_properties: str) -> Any:
        agent = start_agent_from_text(text, name, tmp_path, system_properties)
        started.append(agent)
        return agent

    yield run
    for agent in started:
        agent.stop(10)


# Real test services (session-scoped, started lazily; cheap to import).
from flafka_testkit.fixtures import *  # noqa: E402, F403
