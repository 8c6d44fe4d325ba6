"""The http source with real HTTP clients: Flume's JSON format and status codes, BLOB
handler, 413 before reading, TLS from a PEM file, concurrent load."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.http import HttpSource
from flafka.sources.httphandlers import BadRequest, HttpRequest, JSONHandler, resolve_handler
from flafka.testing import make
from flafka_testkit.services.base import free_port

from .agentproc import AgentProc
from .conftest import connect, drain, wire


@pytest.fixture
def started() -> object:
    sources: list[HttpSource] = []

    def start(capacity: int = 1000, tx: int = 100, **keys: object) -> tuple[HttpSource, object]:
        src = make(HttpSource, "h1", bind="127.0.0.1", port=0, **keys)
        ch = wire(src, capacity, tx)
        src.start()
        sources.append(src)
        return src, ch

    yield start
    for src in sources:
        src.stop()


def post(port: int, body: bytes, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers=headers or {"Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def test_json_events_and_200_after_commit(started) -> None:
    src, ch = started()
    body = json.dumps([{"headers": {"a": "b", "n": 1}, "body": "random_body"}, {"headers": {}, "body": "café"}, {"body": None}])
    assert post(src.address[1], body.encode())[0] == 200
    events = drain(ch)
    assert [(e.headers, e.body) for e in events] == [({"a": "b", "n": "1"}, b"random_body"), ({}, "café".encode()), ({}, b"")]
    assert src.counter.event_accepted_count == 3


def test_bad_json_is_400_with_the_reason_and_nothing_is_put(started) -> None:
    src, ch = started()
    status, text = post(src.address[1], b'[{"body": "x"')
    assert status == 400 and b"invalid JSON" in text
    status, text = post(src.address[1], b'{"body": "not an array"}')
    assert status == 400 and b"array" in text
    status, text = post(src.address[1], b"")
    assert status == 400 and b"empty" in text
    assert ch.size() == 0 and src.counter.event_read_fail == 3


def test_utf16_request_charset(started) -> None:
    src, ch = started()
    body = json.dumps([{"body": "é"}]).encode("utf-16")
    assert post(src.address[1], body, headers={"Content-Type": "application/json; charset=UTF-16"})[0] == 200
    assert drain(ch)[0].body == "é".encode("utf-16")  # Flume encodes the body in the request's charset
    assert post(src.address[1], b"[]", headers={"Content-Type": "application/json; charset=ISO-8859-1"})[0] == 400


def test_full_channel_is_503_and_a_retry_succeeds(started) -> None:
    src, ch = started(capacity=5, tx=5)
    batch = json.dumps([{"body": str(i)} for i in range(4)]).encode()
    assert post(src.address[1], batch)[0] == 200
    status, text = post(src.address[1], batch)
    assert status == 503 and b"Channel might be full" in text
    drain(ch)
    assert post(src.address[1], batch)[0] == 200
    assert [e.body for e in drain(ch)] == [b"0", b"1", b"2", b"3"]


def test_huge_body_is_refused_with_413_before_it_is_read(started) -> None:
    src, _ = started(maxBodyBytes=1000)
    sock = socket.create_connection(src.address, timeout=10)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n" + b"[" * 1000)
    reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply
    sock.close()
    assert src.counter.errors[("body_too_large", "receiving")] == 1


def test_chunked_body(started) -> None:
    src, ch = started()
    conn = http.client.HTTPConnection("127.0.0.1", src.address[1], timeout=10)
    conn.request("POST", "/", body=iter([b'[{"body":', b' "chunked"}]']), encode_chunked=True)
    assert conn.getresponse().status == 200
    assert drain(ch)[0].body == b"chunked"


def test_blob_handler_params_become_headers(started) -> None:
    src, ch = started(handler="org.apache.flume.source.http.BLOBHandler", **{"handler.mandatoryParameters": "a"})
    assert post(src.address[1], b"\x00binary\xff", "/?a=1&b=2")[0] == 200
    assert post(src.address[1], b"x", "/?b=2")[0] == 400
    (event,) = drain(ch)
    assert event.body == b"\x00binary\xff" and event.headers == {"a": "1", "b": "2"}


def test_unknown_handler_is_refused_with_the_fix() -> None:
    settings_, _ = HttpSource.settings_schema.parse({"port": "1", "handler": "org.apache.flume.source.http.Nope"})
    (problem,) = HttpSource.check_settings(settings_)
    assert "unknown http handler 'org.apache.flume.source.http.Nope'" in problem.message and "JSONHandler" in problem.suggestion


class UpperHandler:
    """A third-party handler: the body upper-cased."""

    def configure(self, props: dict[str, str]) -> None:
        self.header = props.get("header", "h")

    def get_events(self, request: HttpRequest) -> list:
        from flafka.event import Event

        if not request.body:
            raise BadRequest("empty")
        return [Event(request.body.upper(), {self.header: "x"})]


def test_third_party_handler_by_module_path(started) -> None:
    spec, problems = resolve_handler("h1", f"{__name__}:UpperHandler", {})
    assert problems == [] and spec is not None and spec.cls is UpperHandler
    src, ch = started(handler=f"{__name__}:UpperHandler", **{"handler.header": "who"})
    assert post(src.address[1], b"abc")[0] == 200
    assert [(e.body, e.headers) for e in drain(ch)] == [(b"ABC", {"who": "x"})]


def test_concurrent_clients_lose_nothing(started) -> None:
    src, ch = started(capacity=100_000)
    port = src.address[1]
    statuses: list[int] = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        for b in range(20):
            body = json.dumps([{"headers": {"k": str(k)}, "body": f"{k}-{b}-{i}"} for i in range(100)]).encode()
            conn.request("POST", "/", body=body)
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - began
    bodies = sorted(e.body for e in drain(ch))
    assert statuses == [200] * 160
    assert bodies == sorted(f"{k}-{b}-{i}".encode() for k in range(8) for b in range(20) for i in range(100))
    print(f"16,000 events in 160 requests from 8 clients: {elapsed:.2f} s")


def test_tls_from_a_pem_file(started, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    pem = tmp_path / "server.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out",
                    str(tmp_path / "c.pem"), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)  # fmt: skip
    pem.write_bytes((tmp_path / "c.pem").read_bytes() + (tmp_path / "k.pem").read_bytes())
    src, ch = started(ssl="true", keystore=str(pem))
    ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
    conn = http.client.HTTPSConnection("localhost", src.address[1], context=ctx, timeout=10)
    conn.request("POST", "/", body=b'[{"body": "secret"}]')
    assert conn.getresponse().status == 200
    assert drain(ch)[0].body == b"secret"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500) | st.text(max_size=200).map(str.encode))
def test_fuzz_json_handler_raises_only_bad_request(body: bytes) -> None:
    try:
        JSONHandler().get_events(HttpRequest("POST", "/", {}, {}, body))
    except BadRequest:
        pass


GUIDE = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = http
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
a1.sources.r1.handler = org.example.rest.RestHandler
a1.sources.r1.handler.nickname = random props
a1.channels.c1.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
"""


def test_guide_config_with_the_default_handler_runs_in_an_agent(tmp_path: Path) -> None:
    port = free_port()
    conf = GUIDE.format(port=port).replace(
        "a1.sources.r1.handler = org.example.rest.RestHandler\na1.sources.r1.handler.nickname = random props\n", ""
    )
    agent = AgentProc(tmp_path, conf)
    try:
        agent.wait_for("agent 'a1' started")
        assert post(port, b'[{"headers": {"a": "b"}, "body": "hello"}]')[0] == 200
        agent.wait_for(r"Event: \{ headers:\{a=b\} body: 68 65 6C 6C 6F")
    finally:
        assert agent.stop() == 0


SIDE = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = http
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = {out}
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.serializer = HEADER_AND_TEXT
"""

REQUESTS = [
    b'[{"headers": {"a": "b"}, "body": "one"}, {"headers": {}, "body": "two"}]',
    b'[{"headers": {"n": 12, "t": true}, "body": "caf\\u00e9 \xe2\x82\xac"}]',
    b'[{"body": "no headers"}]',
    b"[]",
    b'[{"body": "x"',
    b'{"body": "object"}',
]


@pytest.mark.integration
def test_same_statuses_and_events_as_flume(flume_home, tmp_path: Path) -> None:
    from .test_syslog_sources import _parse

    results = []
    for who in ("flume", "flafka"):
        port = free_port()
        out = tmp_path / who / "out"
        out.mkdir(parents=True)
        conf = SIDE.format(port=port, out=out)

        def run(port: int = port, out: Path = out) -> tuple[list[int], list[tuple[dict[str, str], bytes]]]:
            statuses = [post(port, body)[0] for body in REQUESTS]
            deadline = time.monotonic() + 15
            data = b""
            while time.monotonic() < deadline:
                data = b"".join(p.read_bytes() for p in sorted(out.glob("*")))
                if data.count(b"\n") >= 4:
                    break
                time.sleep(0.1)
            return statuses, _parse(data)

        if who == "flume":
            with flume_home.run_agent(conf, tmp_path / who):
                connect(port, timeout=60).close()  # Jetty binds after Flume logs "Starting Source"
                results.append(run())
        else:
            proc = AgentProc(tmp_path / who, conf)
            try:
                proc.wait_for("agent 'a1' started")
                results.append(run())
            finally:
                proc.stop()
    (flume_statuses, flume_events), (statuses, events) = results
    assert flume_statuses == [200, 200, 200, 200, 400, 400]
    assert statuses == flume_statuses
    assert events == flume_events and len(events) == 4
