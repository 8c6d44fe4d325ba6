"""Start-up refusals carry the component's ``file:line`` (issue 17 item 3), whether the
constructor or ``start()`` refuses, and ``start()`` failures are StartError (exit 3)."""

from __future__ import annotations

import pytest

from flafka.agent import Agent, StartError
from flafka.config.plan import AgentPlan, ComponentPlan, SinkPlan, SourcePlan
from flafka.errors import ConfigError
from flafka.plugins import load_plugins
from flafka.settings import Settings
from flafka.sink import Sink


class Refusing(Sink):
    type_name = "refusing"

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        if settings.get("when") == "build":
            raise ConfigError(f"sink '{name}': no thanks")

    def start(self) -> None:
        raise OSError("the directory is gone")


def plan(when: str) -> tuple[AgentPlan, object]:
    report = load_plugins(env={"FLAFKA_PLUGINS": "builtins"})
    registry = report.registry
    seq, memory = registry.lookup("source", "seq"), registry.lookup("channel", "memory")
    assert seq is not None and memory is not None
    channel = ComponentPlan("c", memory, memory.settings_schema.parse({})[0], "memory", origin="f.conf:6")
    source = SourcePlan("s", seq, seq.settings_schema.parse({})[0], "seq", origin="f.conf:4", channels=["c"])
    sink = SinkPlan("k", Refusing, Settings({"when": when}), "refusing", origin="f.conf:8", channel="c")
    return AgentPlan("a", {"s": source}, {"c": channel}, {"k": sink}), registry


@pytest.mark.parametrize(("when", "error", "says"), [("build", ConfigError, "no thanks"), ("start", StartError, "could not start")])
def test_refusals_name_file_and_line(when: str, error: type[Exception], says: str) -> None:
    agent_plan, registry = plan(when)
    agent = Agent(agent_plan, registry)  # type: ignore[arg-type]
    with pytest.raises(error) as info:
        agent.start()
    agent.stop(timeout=1.0)
    assert str(info.value).startswith("f.conf:8: ") and says in str(info.value)
    assert when == "start" or not isinstance(info.value, StartError)
