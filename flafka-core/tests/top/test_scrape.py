"""Rows from two reads of Flume's JSON: rates, sort order (where events pile up), Apache
Flume's own document (no flafka additions), URL forms."""

from __future__ import annotations

import pytest

from flafka.metrics.scrape import MetricsUnavailable, Reading, agent_line, metrics_url, rows
from flafka.top import plain, uptime_text


def _doc(size: int, received: int, backoff: int = 0, in_flight: int = 0) -> dict[str, dict[str, str]]:
    return {
        "AGENT.a": {"Type": "AGENT", "StartTime": "1", "UptimeSeconds": "3725.5"},
        "SOURCE.r": {
            "Type": "SOURCE",
            "EventReceivedCount": str(received),
            "EventAcceptedCount": str(received),
            "InFlightEventCount": str(in_flight),
        },
        "CHANNEL.quiet": {
            "Type": "CHANNEL",
            "ChannelSize": "0",
            "ChannelCapacity": "100",
            "EventPutSuccessCount": "0",
            "EventTakeSuccessCount": "0",
        },
        "CHANNEL.full": {
            "Type": "CHANNEL",
            "ChannelSize": str(size),
            "ChannelCapacity": "100",
            "EventPutSuccessCount": str(received),
            "EventTakeSuccessCount": "0",
        },
        "SINK.ok": {
            "Type": "SINK",
            "EventDrainAttemptCount": "0",
            "EventDrainSuccessCount": "0",
            "BackoffFailureCount": "0",
            "RunnerAlive": "1",
        },
        "SINK.down": {
            "Type": "SINK",
            "EventDrainAttemptCount": "10",
            "EventDrainSuccessCount": "0",
            "BackoffFailureCount": str(backoff),
            "RunnerAlive": "1",
            "EventDiscardedCount": "4",
            "ErrorCount": "9",
        },
    }


def test_rates_and_pile_up_order() -> None:
    prev = Reading(_doc(10, 100), 10.0)
    cur = Reading(_doc(90, 300, backoff=7, in_flight=50), 12.0)
    out = rows(prev, cur)
    assert [f"{r.kind}.{r.name}" for r in out] == ["sink.down", "channel.full", "source.r", "channel.quiet", "sink.ok"]
    by = {r.name: r for r in out}
    assert by["r"].in_rate == 100.0 and by["full"].in_rate == 100.0 and by["full"].out_rate == 0.0
    assert by["full"].fill == 90.0
    assert by["down"].state == "backoff (7 failures)" and by["down"].dead_letters == 4 and by["down"].errors == 9
    assert by["ok"].state == "ok"
    assert agent_line(cur.doc) == ("a", 3725.5)
    text = plain("http://x/metrics", prev, cur)
    assert text.splitlines()[0].startswith("flafka top: agent 'a', up 1:02:05, http://x/metrics, ")
    assert "90.0% 90/100" in text


def test_a_restarted_counter_counts_from_zero_and_no_previous_read_means_unknown_rates() -> None:
    out = {r.name: r for r in rows(Reading(_doc(0, 500), 0.0), Reading(_doc(0, 20), 1.0))}
    assert out["r"].in_rate == 20.0
    assert all(r.in_rate is None for r in rows(None, Reading(_doc(0, 20), 1.0)))


def test_apache_flume_document_without_flafka_additions() -> None:
    doc = {
        "SINK.k1": {
            "Type": "SINK",
            "EventDrainSuccessCount": "5",
            "EventDrainAttemptCount": "5",
            "EventWriteFail": "2",
            "ConnectionFailedCount": "1",
        },
        "SOURCE.r1": {"Type": "SOURCE", "EventReceivedCount": "5", "EventAcceptedCount": "5"},
    }
    out = {r.name: r for r in rows(None, Reading(doc, 0.0))}
    assert out["k1"].errors == 3 and out["k1"].backoff is None and out["k1"].alive
    assert out["r1"].in_flight is None
    assert agent_line(doc) == ("", None)
    assert "up unknown" in plain("u", None, Reading(doc, 0.0))


def test_dead_runner_sorts_first() -> None:
    doc = _doc(50, 10)
    doc["SINK.ok"]["RunnerAlive"] = "0"
    out = rows(None, Reading(doc, 0.0))
    assert out[0].name == "ok" and out[0].state == "DEAD"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:41414", "http://127.0.0.1:41414/metrics"),
        ("http://h:1/", "http://h:1/metrics"),
        ("http://h:1/metrics", "http://h:1/metrics"),
        ("https://h/x/metrics", "https://h/x/metrics"),
    ],
)
def test_metrics_url(given: str, url: str) -> None:
    assert metrics_url(given) == url


def test_bad_url() -> None:
    with pytest.raises(MetricsUnavailable, match="not an http URL"):
        metrics_url("ftp://h/")


def test_uptime_text() -> None:
    assert uptime_text(59) == "0:00:59"
    assert uptime_text(90061) == "1d 1:01:01"
    assert uptime_text(None) == "unknown"
