"""syslogtcp and syslogudp with real senders (sockets and logger(1)); side by side with
Apache Flume 1.11 on the same messages: same headers, same bodies."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from flafka.sources.syslog import SyslogTcpSource, SyslogUdpSource
from flafka.testing import make
from flafka_testkit.services.base import free_port

from .agentproc import AgentProc
from .conftest import connect, drain, wait_for, wire


def _tcp(**keys: object) -> tuple[SyslogTcpSource, object]:
    src = make(SyslogTcpSource, "s1", host="127.0.0.1", port=0, **keys)
    ch = wire(src)
    src.start()
    return src, ch


def test_tcp_messages_headers_and_client_headers() -> None:
    src, ch = _tcp(clientIPHeader="ip", clientHostnameHeader="hn")
    try:
        with connect(src.address[1]) as c:
            c.sendall(b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - hello\nnot syslog\n")
            wait_for(lambda: ch.size() == 2, what="2 events")
    finally:
        src.stop()
    good, bad = drain(ch)
    assert good.body == b"su - ID47 - hello"
    assert good.headers["host"] == "mymachine" and good.headers["Facility"] == "4" and good.headers["ip"] == "127.0.0.1"
    assert good.headers["hn"] == socket.gethostbyaddr("127.0.0.1")[0]
    assert bad.headers["flume.syslog.status"] == "Invalid" and bad.body == b"not syslog"
    assert src.counter.errors[("invalid_syslog", "receiving")] == 1


def test_tcp_full_channel_holds_the_sender_back_and_loses_nothing() -> None:
    src = make(SyslogTcpSource, "s1", host="127.0.0.1", port=0)
    ch = wire(src, capacity=20, tx=20)
    src.start()
    got: list[bytes] = []
    try:
        with connect(src.address[1]) as c:
            c.sendall(b"".join(b"<13>Oct  1 10:00:00 h m%d\n" % i for i in range(300)))
            deadline = time.monotonic() + 30
            while len(got) < 300 and time.monotonic() < deadline:
                time.sleep(0.02)
                got += [e.body for e in drain(ch)]
    finally:
        src.stop()
    assert got == [b"m%d" % i for i in range(300)]


def test_tls_and_custom_formats_are_refused_with_the_way_out() -> None:
    settings, _ = SyslogTcpSource.settings_schema.parse({"port": "1", "ssl": "true", "format.regex": "x"})
    messages = {p.key: p for p in SyslogTcpSource.check_settings(settings)}
    assert "not supported" in messages["ssl"].message and "stunnel" in messages["ssl"].suggestion
    assert "format" in messages["format.regex"].message


def test_udp_with_logger_command() -> None:
    logger = shutil.which("logger")
    if logger is None:
        pytest.skip("logger(1) is not installed (bsdutils)")
    src = make(SyslogUdpSource, "u1", host="127.0.0.1", port=0)
    ch = wire(src)
    src.start()
    try:
        subprocess.run([logger, "-n", "127.0.0.1", "-P", str(src.address[1]), "-d", "--rfc5424", "-t", "app", "-p", "local3.warning",
                        "hello from logger"], check=True)  # fmt: skip
        subprocess.run([logger, "-n", "127.0.0.1", "-P", str(src.address[1]), "-d", "--rfc3164", "-t", "app", "old style"], check=True)
        wait_for(lambda: ch.size() == 2, what="2 events")
    finally:
        src.stop()
    new, old = drain(ch)
    assert new.headers["Facility"] == "19" and new.headers["Severity"] == "4" and new.headers["version"] == "1"
    assert new.body.endswith(b"hello from logger") and "timestamp" in new.headers and "host" in new.headers
    assert old.headers["Facility"] == "1" and old.body.endswith(b"old style") and "timestamp" in old.headers


# -- side by side with Flume 1.11 ------------------------------------------------------------

MESSAGES = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    b'<165>1 2003-10-11T22:14:15+02:00 host app - - [exampleSDID@32473 iut="3"] msg',
    b"<165>1 2003-10-11T22:14:15.5 host app - - no zone, short fraction",
    b"<13>1 - - app - - nil stamp and host",
    b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    b"<13>Oct 11 22:14:15 mymachine app[1]: classic",
    b"<13>Abc 11 22:14:15 mymachine unknown month",
    b"<13>Oct 11 22:14:15 mymachine ",
    b"<13>just text",
    b"no priority at all",
    b"<>empty priority",
    b"<1234>too long priority",
    b"<13>Oct 11 22:14:15 host caf\xc3\xa9 \xe2\x82\xac",
    b"<13>Oct 11 22:14:15 host with cr\r",
    b"<13>Oct 11 22:14:15 host " + b"x" * 150,  # longer than eventSize 100 over TCP
]

SIDE = """\
a1.sources = t1 t2 u1
a1.channels = c1 c2 c3
a1.sinks = k1 k2 k3
a1.sources.t1.type = syslogtcp
a1.sources.t1.host = 127.0.0.1
a1.sources.t1.port = {tcp1}
a1.sources.t1.eventSize = 100
a1.sources.t1.clientIPHeader = ip
a1.sources.t1.channels = c1
a1.sources.t2.type = syslogtcp
a1.sources.t2.host = 127.0.0.1
a1.sources.t2.port = {tcp2}
a1.sources.t2.keepFields = priority version timestamp hostname
a1.sources.t2.channels = c2
a1.sources.u1.type = syslogudp
a1.sources.u1.host = 127.0.0.1
a1.sources.u1.port = {udp}
a1.sources.u1.keepFields = all
a1.sources.u1.channels = c3
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.channels.c3.type = memory
""" + "".join(
    f"""a1.sinks.k{i}.type = file_roll
a1.sinks.k{i}.channel = c{i}
a1.sinks.k{i}.sink.directory = {{out}}/{i}
a1.sinks.k{i}.sink.rollInterval = 0
a1.sinks.k{i}.sink.serializer = HEADER_AND_TEXT
"""
    for i in (1, 2, 3)
)

_LINE = re.compile(rb"^\{(.*?)\} (.*)$", re.S)


def _parse(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for line in data.split(b"\n")[:-1]:
        m = _LINE.match(line)
        assert m, line
        headers = dict(kv.split("=", 1) for kv in m.group(1).decode().split(", ")) if m.group(1) else {}
        out.append((headers, m.group(2)))
    return out


def _exercise(ports: dict[str, int], out: Path) -> list[list[tuple[dict[str, str], bytes]]]:
    for key in ("tcp1", "tcp2"):
        with connect(ports[key]) as c:
            c.sendall(b"".join(m + b"\n" for m in MESSAGES))
            time.sleep(0.5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for m in MESSAGES:
        udp.sendto(m, ("127.0.0.1", ports["udp"]))
        time.sleep(0.01)
    udp.close()
    want = {1: len(MESSAGES) + 1, 2: len(MESSAGES) + 1, 3: len(MESSAGES)}  # the cut message makes two events

    def files(i: int) -> bytes:
        return b"".join(p.read_bytes() for p in sorted((out / str(i)).glob("*")))

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(files(i).count(b"\n") < n for i, n in want.items()):
        time.sleep(0.1)
    return [_parse(files(i)) for i in (1, 2, 3)]


@pytest.mark.integration
def test_same_events_as_flume(flume_home, tmp_path: Path) -> None:
    results = []
    for who in ("flume", "flafka"):
        ports = {"tcp1": free_port(), "tcp2": free_port(), "udp": free_port()}
        out = tmp_path / who / "out"
        for i in (1, 2, 3):
            (out / str(i)).mkdir(parents=True)
        conf = SIDE.format(out=out, **ports)
        if who == "flume":
            with flume_home.run_agent(conf, tmp_path / who):
                time.sleep(1.0)  # Flume logs "started" before its Netty servers are bound
                results.append(_exercise(ports, out))
        else:
            proc = AgentProc(tmp_path / who, conf)
            try:
                proc.wait_for("agent 'a1' started")
                results.append(_exercise(ports, out))
            finally:
                proc.stop()
    flume, flafka = results
    for name, theirs, ours in zip(("syslogtcp", "syslogtcp keepFields", "syslogudp keepFields=all"), flume, flafka, strict=True):
        assert len(theirs) >= len(MESSAGES), (name, theirs)
        assert ours == theirs, name
