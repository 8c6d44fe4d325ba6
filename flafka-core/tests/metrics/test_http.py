"""The metrics HTTP server: Flume JSON at /metrics, Prometheus text, negotiation, 404/403."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flafka.metrics.counters import ChannelCounter, Counter, SinkCounter, SourceCounter
from flafka.metrics.http import MetricsServer, escape_label, flume_json, java_double, prometheus_text, wants_prometheus


def fake_counters() -> list[Counter]:
    src = SourceCounter("r1", "seq")
    src.event_received_count = 120
    src.event_accepted_count = 100
    src.channel_write_fail = 2
    ch = ChannelCounter("c1", "memory")
    ch.capacity = 10
    ch.size = lambda: 5
    ch.event_put_success_count = 100
    ch.event_take_success_count = 95
    sink = SinkCounter("k1", "null")
    sink.event_drain_attempt_count = 95
    sink.event_drain_success_count = 90
    sink.event_write_fail = 1
    sink.retries = 3
    sink.discarded = 4
    sink.error("timeout", "sending", 7)
    return [src, ch, sink]


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    s = MetricsServer(fake_counters, "127.0.0.1", 0)
    s.start()
    yield s
    s.stop()


def get(server: MetricsServer, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read().decode()
    finally:
        conn.close()


def test_flume_json_shape() -> None:
    doc = flume_json(fake_counters())
    assert set(doc) == {"SOURCE.r1", "CHANNEL.c1", "SINK.k1"}
    for values in doc.values():
        assert all(isinstance(v, str) for v in values.values())
    assert doc["SOURCE.r1"]["Type"] == "SOURCE"
    assert doc["SOURCE.r1"]["EventReceivedCount"] == "120"
    assert doc["SOURCE.r1"]["ChannelWriteFail"] == "2"
    assert doc["CHANNEL.c1"]["ChannelSize"] == "5"
    assert doc["CHANNEL.c1"]["ChannelCapacity"] == "10"
    assert doc["CHANNEL.c1"]["ChannelFillPercentage"] == "50.0"
    assert doc["SINK.k1"]["EventDrainSuccessCount"] == "90"
    assert doc["SINK.k1"]["StartTime"] == "0"


def test_zero_capacity_fill_is_javas_double_max() -> None:
    ch = ChannelCounter("c", "memory")
    assert flume_json([ch])["CHANNEL.c"]["ChannelFillPercentage"] == "1.7976931348623157E308"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0.0"), (50.0, "50.0"), (33.333333333333336, "33.333333333333336"), (1e7, "1.0E7"), (1.5e-5, "1.5E-5"), (-2.5e10, "-2.5E10")],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


def test_http_metrics_json(server: MetricsServer) -> None:
    status, ctype, body = get(server, "/metrics")
    assert status == 200 and ctype.startswith("application/json")
    doc = json.loads(body)
    assert doc["CHANNEL.c1"]["Type"] == "CHANNEL"
    assert doc == json.loads(json.dumps(flume_json(fake_counters())))


def test_http_index_404_and_forbidden_methods(server: MetricsServer) -> None:
    status, ctype, body = get(server, "/")
    assert status == 200 and ctype.startswith("text/html") and "/metrics" in body
    assert get(server, "/nope")[0] == 404
    assert get(server, "/metrics/other")[0] == 404
    assert get(server, "/metrics", method="TRACE")[0] == 403
    assert get(server, "/metrics", method="OPTIONS")[0] == 403
    status, _, body = get(server, "/metrics", method="HEAD")
    assert status == 200 and body == ""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _labels(cid: str, kind: str, ctype: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"component_id": cid, "component_kind": kind, "component_type": ctype, **extra}.items()))


def test_prometheus_text_values() -> None:
    samples = _samples(prometheus_text(fake_counters()))
    assert samples[("component_received_events_total", _labels("r1", "source", "seq"))] == 120
    assert samples[("component_sent_events_total", _labels("r1", "source", "seq"))] == 100
    assert samples[("component_received_events_total", _labels("c1", "channel", "memory"))] == 100
    assert samples[("component_sent_events_total", _labels("c1", "channel", "memory"))] == 95
    assert samples[("component_sent_events_total", _labels("k1", "sink", "null"))] == 90
    assert samples[("channel_size_events", _labels("c1", "channel", "memory"))] == 5
    assert samples[("channel_capacity_events", _labels("c1", "channel", "memory"))] == 10
    assert samples[("component_retries_total", _labels("k1", "sink", "null"))] == 3
    assert samples[("component_discarded_events_total", _labels("k1", "sink", "null"))] == 4
    err = "component_errors_total"
    assert samples[(err, _labels("r1", "source", "seq", error_type="channel_write_failed", stage="sending"))] == 2
    assert samples[(err, _labels("k1", "sink", "null", error_type="write_failed", stage="sending"))] == 1
    assert samples[(err, _labels("k1", "sink", "null", error_type="timeout", stage="sending"))] == 7
    assert not any(name == "channel_size_events" and dict(labels)["component_kind"] != "channel" for name, labels in samples)


def test_prometheus_text_declares_each_family_once() -> None:
    text = prometheus_text(fake_counters())
    types = [line for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) == 17
    assert "# TYPE component_received_events_total counter" in types
    assert "# TYPE channel_size_events gauge" in types
    assert text.endswith("\n")


def test_prometheus_label_escaping() -> None:
    weird = 'a"b\\c\nd'
    assert escape_label(weird) == 'a\\"b\\\\c\\nd'
    counter = SinkCounter(weird, "null")
    samples = _samples(prometheus_text([counter]))
    assert ("component_sent_events_total", _labels(weird, "sink", "null")) in samples


def test_http_prometheus_and_negotiation(server: MetricsServer) -> None:
    status, ctype, body = get(server, "/metrics/prometheus")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert "component_sent_events_total" in body
    scrape = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    status, ctype, body = get(server, "/metrics", headers={"Accept": scrape})
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4") and "# TYPE" in body
    status, ctype, _ = get(server, "/metrics", headers={"Accept": "*/*"})
    assert ctype.startswith("application/json")


def test_wants_prometheus() -> None:
    assert wants_prometheus("text/plain; version=0.0.4")
    assert wants_prometheus("application/openmetrics-text; version=1.0.0")
    assert not wants_prometheus("text/html,application/xhtml+xml,*/*;q=0.8")
    assert not wants_prometheus("text/plain")
    assert not wants_prometheus("")


def test_port_in_use_raises_and_stop_is_idempotent(server: MetricsServer) -> None:
    other = MetricsServer(fake_counters, "127.0.0.1", server.port)
    with pytest.raises(OSError):
        other.start()
    other.stop()
    server.stop()
    server.stop()


def test_counter_read_failure_is_a_500() -> None:
    def broken() -> list[Counter]:
        raise RuntimeError("boom")

    s = MetricsServer(broken, "127.0.0.1", 0)
    s.start()
    try:
        assert get(s, "/metrics")[0] == 500
    finally:
        s.stop()
