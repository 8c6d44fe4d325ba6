"""The Grafana dashboard in ``dashboards/`` queries only metrics (and labels) that a real
agent exposes, and the exposition follows Prometheus' naming conventions."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[3] / "dashboards" / "grafana-flafka-agent.json"
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "changes", "by", "without", "label_values"}


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def metrics_in(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, labels grouped by) of a PromQL expression."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    grouped: set[str] = set()
    for labels in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", text):
        grouped.update(x.strip() for x in labels.split(",") if x.strip())
    m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)\s*", text)
    if m:
        return {m.group(1)}, {m.group(2)}
    text = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    return set(re.findall(r"[a-zA-Z_:][\w:]*", text)) - PROMQL_WORDS, grouped


def _exposition(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics/prometheus", timeout=5) as resp:
        return str(resp.read().decode())


def test_every_queried_metric_and_label_exists_in_a_real_agent(run_agent: Callable[..., Any]) -> None:
    agent = run_agent()
    text = _exposition(agent.url)
    labels_of: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels_of.setdefault(sample.name, set()).update(sample.labels)
            labels_of[sample.name].add("instance")  # added by Prometheus at scrape time
    doc = json.loads(DASHBOARD.read_text())
    exprs = list(_exprs(doc))
    assert len(exprs) >= 15
    queried: set[str] = set()
    for expr in exprs:
        names, grouped = metrics_in(expr)
        assert names, expr
        for name in names:
            assert name in labels_of, f"{DASHBOARD.name}: '{name}' (in {expr!r}) is not in the agent's exposition"
            assert grouped <= labels_of[name], f"{expr!r}: labels {grouped - labels_of[name]} not on {name}"
        queried |= names
    assert {"channel_fill_ratio", "component_in_flight_events", "sink_backoff_failures", "agent_uptime_seconds"} <= queried


def test_metric_names_follow_prometheus_conventions(run_agent: Callable[..., Any]) -> None:
    agent = run_agent()
    text = _exposition(agent.url)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert len(types) >= 17
    for name, kind in types.items():
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert kind == "gauge" and not name.endswith("_total"), name
            assert re.search(r"_(events|batches|bytes|seconds|ratio|failures|up)$", name), f"{name}: no unit suffix"
    assert "ms" not in {n.rsplit("_", 1)[-1] for n in types}  # base units only


def test_metrics_in() -> None:
    assert metrics_in('sum by (component_id, stage) (rate(component_errors_total{instance=~"$i",x="a}b"}[5m]))') == (
        {"component_errors_total"},
        {"component_id", "stage"},
    )
    assert metrics_in("label_values(agent_uptime_seconds, instance)") == ({"agent_uptime_seconds"}, {"instance"})
