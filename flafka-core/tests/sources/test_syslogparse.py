"""Flume's SyslogUtils framing and parsing: headers, keepFields, timestamps, bad input."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.syslogparse import (
    SyslogFramer,
    build_event,
    choose_fields_to_keep,
    rfc3164_millis,
    rfc5424_millis,
)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    from flafka.sources import syslogparse

    def reset() -> None:
        time.tzset()
        syslogparse.rfc5424_millis.cache_clear()  # cached under the previous time zone
        syslogparse._rfc3164_candidates.cache_clear()

    monkeypatch.setenv("TZ", "UTC")
    reset()
    yield
    monkeypatch.undo()
    reset()


def one(data: bytes, keep: str | None = None, size: int = 2500) -> tuple[dict[str, str], bytes]:
    (msg,) = SyslogFramer(size).feed(data)
    event = build_event(msg, choose_fields_to_keep(keep), now_ms=1_700_000_000_000)
    return event.headers, event.body


def test_rfc5424() -> None:
    headers, body = one(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n")
    assert headers == {
        "Facility": "4", "Severity": "2", "priority": "34", "version": "1",
        "timestamp": "1065910455003", "host": "mymachine.example.com",
    }  # fmt: skip
    assert body == b"su - ID47 - 'su root' failed"


def test_rfc3164() -> None:
    headers, body = one(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!\n")
    assert headers == {"Facility": "1", "Severity": "5", "priority": "13", "timestamp": "1675618338000", "host": "10.0.0.99"}
    assert body == b"Use the BFG!"


def test_invalid_is_kept_whole() -> None:
    assert one(b"no priority here\n") == ({"Facility": "0", "Severity": "0", "flume.syslog.status": "Invalid"}, b"no priority here")
    assert one(b"<>x\n")[1] == b"<>x"
    assert one(b"<1234>y\n")[0]["flume.syslog.status"] == "Invalid"
    assert one(b"<a>z\n")[1] == b"<a>z"


def test_unparsed_valid_priority_keeps_raw_body() -> None:
    headers, body = one(b"<13>just text\n")
    assert headers == {"Facility": "1", "Severity": "5"} and body == b"<13>just text"


def test_carriage_return_defeats_both_formats_as_in_java() -> None:
    headers, body = one(b"<13>Feb  5 17:32:18 host msg\r\n")
    assert "host" not in headers and body == b"<13>Feb  5 17:32:18 host msg\r"


def test_event_size_cuts_and_marks_incomplete() -> None:
    msgs = SyslogFramer(20).feed(b"<13>" + b"a" * 30 + b"\n")
    assert [m.data for m in msgs] == [b"<13>" + b"a" * 16, b"a" * 14]
    assert msgs[0].incomplete and msgs[1].bad


@pytest.mark.parametrize(
    ("keep", "body"),
    [
        ("all", b"<34>1 2003-10-11T22:14:15Z host app - - msg"),
        ("priority", b"<34>app - - msg"),
        ("version hostname", b"1 host app - - msg"),
        ("timestamp", b"2003-10-11T22:14:15Z app - - msg"),
        ("true", b"<34>1 2003-10-11T22:14:15Z host app - - msg"),
        ("false", b"app - - msg"),
    ],
)
def test_keep_fields(keep: str, body: bytes) -> None:
    assert one(b"<34>1 2003-10-11T22:14:15Z host app - - msg\n", keep)[1] == body


def test_nil_fields_print_as_null_when_kept() -> None:
    assert one(b"<34>1 - - app - - msg\n", "timestamp hostname")[1] == b"null null app - - msg"


@pytest.mark.parametrize(
    ("stamp", "millis"),
    [
        ("2003-10-11T22:14:15Z", 1065910455000),
        ("2003-10-11T22:14:15+02:00", 1065910455000 - 7_200_000),
        ("2003-10-11T22:14:15", 1065910455000),
        ("2003-10-11T22:14:15.5Z", 1065910455005),  # SimpleDateFormat: 'S' is a count of ms
        ("2003-10-11T22:14:15.123456+02:00", 1065910455123),  # fraction: the zone is ignored
        ("2003-13-11T22:14:15Z", 1073859255000),  # lenient: month 13 is next January
    ],
)
def test_rfc5424_timestamps_as_simpledateformat_parses_them(stamp: str, millis: int) -> None:
    assert rfc5424_millis(stamp) == millis


def test_rfc3164_year_window() -> None:
    now = 1_700_000_000_000  # 2023-11-14
    assert rfc3164_millis("Nov 14 00:00:00", now) == 1699920000000
    assert rfc3164_millis("Dec 10 00:00:00", now) == 1702166400000  # less than a month ahead: this year
    assert rfc3164_millis("Dec 30 00:00:00", now) == 1672358400000  # more than a month ahead: last year
    assert rfc3164_millis("Jan  2 00:00:00", now) == 1672617600000  # within 11 months back: this year
    assert rfc3164_millis("Jan  2 00:00:00", 1_734_220_800_000) == 1735776000000  # on 2024-12-15 Jan 2 is next year
    assert rfc3164_millis("Abc  2 00:00:00", now) is None


def test_udp_datagram_without_newline_and_with_extra_lines() -> None:
    f = SyslogFramer(1 << 16)
    assert f.feed(b"<13>a\n<14>b", first_only=True)[0].data == b"<13>a"
    g = SyslogFramer(1 << 16)
    assert g.feed(b"<13>abc", first_only=True) == []
    assert g.finish_datagram().data == b"<13>abc"
    assert SyslogFramer().finish_datagram() is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=15), st.integers(min_value=10, max_value=200))
def test_fuzz_framer_never_loses_bytes_or_grows(chunks: list[bytes], size: int) -> None:
    f = SyslogFramer(size)
    msgs = []
    for chunk in chunks:
        msgs += f.feed(chunk)
        assert f.pending <= size
    for m in msgs:
        assert len(m.data) <= size
        event = build_event(m, choose_fields_to_keep("all"))
        assert event.body == m.data  # keepFields=all: the message as received
        build_event(m, None)
        build_event(m, choose_fields_to_keep("priority version timestamp hostname"))


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(
        r"<\d{1,3}>\d? ?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)?|-) [a-z.]{1,8} .{0,20}", fullmatch=True
    )
)
def test_fuzz_rfc5424_shapes_parse_without_error(text: str) -> None:
    (msg,) = SyslogFramer().feed(text.encode() + b"\n") or [None]
    if msg is not None:
        build_event(msg, None)


def test_one_megabyte_without_newline_is_cut_into_bounded_messages() -> None:
    f = SyslogFramer(2500)
    n = 0
    for _ in range(16):
        n += len(f.feed(b"<13>" + b"z" * 65532))
        assert f.pending <= 2500
    assert n > 400


def test_tz_fixture_applies() -> None:
    assert os.environ["TZ"] == "UTC"


def test_priority_and_version_carry_over_to_an_unparsed_message_as_in_flume() -> None:
    from flafka.sources.syslogparse import ParseState

    state = ParseState()
    f = SyslogFramer()
    first, second, third = f.feed(b"<34>1 2003-10-11T22:14:15Z h app - - m\n<13>just text\nno priority\n")
    build_event(first, None, 0, state)
    assert build_event(second, None, 0, state).headers == {"Facility": "1", "Severity": "5", "priority": "34", "version": "1"}
    assert build_event(third, None, 0, state).headers["priority"] == "34"
    assert "priority" not in build_event(second, None, 0, ParseState()).headers
