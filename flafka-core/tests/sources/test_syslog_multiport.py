"""multiport_syslogtcp: Flume's SyslogParser headers, per-port charsets, several ports;
side by side with Apache Flume 1.11 on the same lines."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.syslogmultiport import (
    BadMessage,
    MultiportSyslogTcpSource,
    parse_message,
    rfc3164_utc,
    rfc5424_utc,
    split_lines,
)
from flafka.testing import make
from flafka_testkit.services.base import free_port

from .agentproc import AgentProc
from .conftest import connect, drain, wait_for, wire
from .test_syslog_sources import _parse

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_rfc5424_headers_are_capitalised() -> None:
    headers, body = parse_message("<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - hi", None, NOW)
    assert headers == {
        "Priority": "34", "Facility": "4", "Severity": "2", "Version": "1", "timestamp": "1065910455003", "host": "mymachine",
    }  # fmt: skip
    assert body == "su - ID47 - hi"


def test_rfc5424_fraction_scaled_and_zone_applied() -> None:
    assert rfc5424_utc("2003-10-11T22:14:15.5+02:00") == 1065910455500 - 7_200_000
    assert rfc5424_utc("2003-10-11T22:14:15.123456Z") == 1065910455123
    with pytest.raises(BadMessage):
        rfc5424_utc("2003-10-11T22:14:15.003")  # ends inside the fraction (Flume: the batch is dropped)
    with pytest.raises(BadMessage):
        rfc5424_utc("2003-13-11T22:14:15Z")


def test_rfc3164_in_utc_with_the_year_window() -> None:
    assert rfc3164_utc("Nov 14 00:00:00", NOW) == 1699920000000
    assert rfc3164_utc("Oct 11 22:14:15", NOW) == 1697062455000  # a month old: this year (Flume says 2001)
    assert rfc3164_utc("Abc 11 22:14:15", NOW) == 0


def test_nil_timestamp_is_arrival_time_and_keep_fields() -> None:
    headers, body = parse_message("<13>1 - host app - - m", frozenset({"priority", "hostname"}), NOW)
    assert headers["timestamp"] == str(NOW) and body == "<13>host app - - m"
    assert parse_message("<13>1 - host app", frozenset({"--all--"}), NOW)[1] == "<13>1 - host app"


@pytest.mark.parametrize("msg", ["", "no bracket", "<>x", "<1234567>x", "<13>", "<13>Oct 11", "<ab>x y z", "<13>2003-10-11 x"])
def test_unparseable_messages_raise_bad_message(msg: str) -> None:
    with pytest.raises(BadMessage):
        parse_message(msg, None, NOW)


def test_negative_priority_is_divided_as_java_does() -> None:
    headers, _ = parse_message("<-5>Oct 11 22:14:15 h m", None, NOW)
    assert (headers["Facility"], headers["Severity"]) == ("0", "-5")


def test_line_splitter_limits() -> None:
    saved = bytearray()
    assert split_lines(saved, b"abc\nabcd", 5) == [(b"abc", False)]
    # 5 bytes without a newline: cut; the newline then ends an empty line (as in Flume)
    assert split_lines(saved, b"e\n", 5) == [(b"abcde", True), (b"", False)]
    assert split_lines(saved, b"x\n", 5) == [(b"x", False)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_parse_message_raises_only_bad_message(text: str) -> None:
    try:
        parse_message(text, None, NOW)
    except BadMessage:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10), st.integers(min_value=1, max_value=100))
def test_fuzz_split_lines_bounded_and_lossless(chunks: list[bytes], size: int) -> None:
    saved = bytearray()
    out = []
    for c in chunks:
        out += split_lines(saved, c, size)
        assert len(saved) < size
    joined = b"".join(line + (b"" if cut else b"\n") for line, cut in out) + bytes(saved)
    assert joined == b"".join(chunks)


def test_two_ports_port_header_and_per_port_charset() -> None:
    p1, p2 = free_port(), free_port()
    src = make(MultiportSyslogTcpSource, "m1", host="127.0.0.1", ports=f"{p1} {p2}", portHeader="port",
               **{"charset.port." + str(p2): "ISO-8859-1"})  # fmt: skip
    ch = wire(src)
    src.start()
    try:
        with connect(p1) as c:
            c.sendall(b"<13>Oct 11 22:14:15 h caf\xc3\xa9\n<13>Oct 11 22:14:15 h bad \xff\n")
        with connect(p2) as c:
            c.sendall(b"<13>Oct 11 22:14:15 h caf\xe9\n")
        wait_for(lambda: ch.size() == 3, what="3 events")
    finally:
        src.stop()
    events = sorted(drain(ch), key=lambda e: (e.headers["port"], e.body))
    by_port = [(e.headers["port"], e.body, e.headers.get("flume.syslog.status")) for e in events]
    assert (str(p1), "café".encode(), None) in by_port
    assert (str(p1), b"<13>Oct 11 22:14:15 h bad \xff", "Invalid") in by_port
    assert (str(p2), b"caf\xe9", None) in by_port


def test_bad_port_list_is_reported() -> None:
    settings_, _ = MultiportSyslogTcpSource.settings_schema.parse({"ports": "514 x"})
    assert [p.key for p in MultiportSyslogTcpSource.check_settings(settings_)] == ["ports"]


def _recent_3164(offset_s: int) -> bytes:
    return time.strftime("%b %e %H:%M:%S", time.gmtime(time.time() + offset_s)).encode()


def _lines() -> list[bytes]:
    return [
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
        b"<165>1 2003-10-11T22:14:15.5+02:00 host app - - short fraction",
        b"<13>" + _recent_3164(-3600) + b" myhost app[1]: an hour ago",
        b"<13>" + _recent_3164(86400 * 3) + b" myhost app[1]: three days ahead",
        b"<13>Abc 11 22:14:15 myhost unknown month",
        b"<13>just text",
        b"no priority",
        b"<>x",
        b"<+13>" + _recent_3164(-120) + b" h plus sign",  # dates over a month old differ on purpose (Flume: 2001)
        b"<13>" + _recent_3164(-60) + b" host caf\xc3\xa9 \xe2\x82\xac",
        b"<13>" + _recent_3164(-60) + b" host " + b"y" * 120,  # cut at eventSize 100
    ]


SIDE = """\
a1.sources = m1
a1.channels = c1
a1.sinks = k1
a1.sources.m1.type = multiport_syslogtcp
a1.sources.m1.host = 127.0.0.1
a1.sources.m1.ports = {p1} {p2}
a1.sources.m1.eventSize = 100
a1.sources.m1.portHeader = port
a1.sources.m1.clientIPHeader = ip
a1.sources.m1.keepFields = hostname
a1.sources.m1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.serializer = HEADER_AND_TEXT
"""


def _exercise(p1: int, p2: int, out: Path, lines: list[bytes]) -> list[tuple[dict[str, str], bytes]]:
    for port in (p1, p2):
        with connect(port) as c:
            c.sendall(b"".join(line + b"\n" for line in lines))
            time.sleep(0.5)
    want = 2 * (len(lines) + 1)

    def data() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(out.glob("*")))

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and data().count(b"\n") < want:
        time.sleep(0.1)
    got = _parse(data())
    for headers, _ in got:
        headers["port"] = "p1" if headers.get("port") == str(p1) else "p2"
    return sorted(got, key=lambda hb: (hb[0]["port"], hb[1]))


@pytest.mark.integration
def test_same_events_as_flume(flume_home, tmp_path: Path) -> None:
    lines = _lines()
    results = []
    for who in ("flume", "flafka"):
        p1, p2 = free_port(), free_port()
        out = tmp_path / who / "out"
        out.mkdir(parents=True)
        conf = SIDE.format(p1=p1, p2=p2, out=out)
        if who == "flume":
            with flume_home.run_agent(conf, tmp_path / who):
                time.sleep(1.0)
                results.append(_exercise(p1, p2, out, lines))
        else:
            proc = AgentProc(tmp_path / who, conf)
            try:
                proc.wait_for("agent 'a1' started")
                results.append(_exercise(p1, p2, out, lines))
            finally:
                proc.stop()
    flume, ours = results
    assert len(flume) == 2 * (len(lines) + 1), flume
    assert ours == flume
