"""The counters a running agent exports, with live values bound at read time.

:class:`LiveCounters` is the ``counters()`` callable the metrics server and ``flafka
agent``'s progress reporter read. Each call (once per scrape or per second) binds, on the
current counters, readers of values the runtime already keeps:

- source ``InFlightEventCount`` / ``InFlightBatchCount``: event copies and batches put
  into channels that sinks have not yet delivered (end-to-end acknowledgement);
- sink ``InFlightBatchCount``: batches sent and not yet committed;
- sink ``BackoffFailureCount``: consecutive failed attempts of the sink's runner (0 while
  it delivers), ``RunnerAlive``: 0 once the runner died;

and prepends an ``AGENT.<name>`` counter with ``StartTime`` and ``UptimeSeconds``.
Nothing is pushed from the data path: the values are read here, when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flafka.metrics.counters import AgentCounter, Counter

if TYPE_CHECKING:
    from flafka.ack import AckTracker
    from flafka.agent import Agent
    from flafka.runtime import SinkDriver, SinkRunner


class LiveCounters:
    """``agent``'s counters plus an agent counter and live probes (see the module doc)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.agent_counter = AgentCounter(agent.plan.name)

    def bind(self) -> None:
        """(Re)bind the probes on the current components (cheap; handles reloads)."""
        agent = self.agent
        for source in list(agent.sources.values()):
            acks = getattr(source, "acks", None)
            counter = getattr(source, "counter", None)
            if acks is None or counter is None:
                continue
            _bind_source(counter, acks)
        for runner in agent.sink_runners:
            for driver in runner.drivers:
                _bind_sink(runner, driver)

    def __call__(self) -> list[Counter]:
        self.bind()
        return [self.agent_counter, *self.agent.counters()]


def _bind_source(counter: Counter, acks: AckTracker) -> None:
    counter.probes["InFlightEventCount"] = lambda: acks.in_flight_events
    counter.probes["InFlightBatchCount"] = lambda: acks.in_flight


def _bind_sink(runner: SinkRunner, driver: SinkDriver) -> None:
    probes = driver.counter.probes
    probes["InFlightBatchCount"] = lambda: driver.in_flight
    probes["BackoffFailureCount"] = lambda: runner.backoff.failures
    probes["RunnerAlive"] = lambda: int(runner.is_alive())
