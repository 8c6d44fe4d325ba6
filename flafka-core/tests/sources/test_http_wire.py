"""The http source's HTTP/1.1 layer (flafka.sources.httpwire) with raw sockets: keep-alive
rules, pipelining, Expect: 100-continue, refusals that close, and a TLS client that sends
nothing does not hold up the others."""

from __future__ import annotations

import http.client
import io
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from flafka.sources import httpwire
from flafka.sources.http import HttpSource
from flafka.testing import make

from .conftest import drain, wire

BODY = b'[{"headers": {"a": "b"}, "body": "x"}]'


@pytest.fixture
def source() -> object:
    made: list[HttpSource] = []

    def start(**keys: object) -> tuple[HttpSource, object]:
        src = make(HttpSource, "h1", bind="127.0.0.1", port=0, **keys)
        ch = wire(src, 1000, 100)
        src.start()
        made.append(src)
        return src, ch

    yield start
    for src in made:
        src.stop()


def exchange(sock: socket.socket, data: bytes, answers: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``data``; read ``answers`` whole answers (status, lower-case headers, body)."""
    sock.sendall(data)
    rfile = sock.makefile("rb")
    out = []
    for _ in range(answers):
        status = int(rfile.readline().split()[1])
        headers = {}
        while (line := rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        out.append((status, headers, rfile.read(int(headers.get("content-length", "0")))))
    return out


def closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def post(body: bytes, version: str = "HTTP/1.1", extra: str = "") -> bytes:
    return f"POST / {version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_pipelined_keep_alive_requests_are_answered_in_order(source) -> None:
    src, ch = source()
    with socket.create_connection(src.address, timeout=10) as sock:
        answers = exchange(sock, post(BODY) + post(b"[") + post(BODY), answers=2)
        assert [a[0] for a in answers] == [200, 400]
        assert answers[1][1]["connection"] == "close" and b"invalid JSON" in answers[1][2]
        assert closed(sock)  # a 400 closes: the third request is not read
    assert len(drain(ch)) == 1
    assert "date" in answers[0][1] and answers[0][1]["server"] == "flafka"


def test_http_1_0_closes_unless_keep_alive_is_asked(source) -> None:
    src, ch = source()
    with socket.create_connection(src.address, timeout=10) as sock:
        ((status, headers, _),) = exchange(sock, post(BODY, "HTTP/1.0"))
        assert status == 200 and headers["connection"] == "close" and closed(sock)
    with socket.create_connection(src.address, timeout=10) as sock:
        first, second = exchange(sock, post(BODY, "HTTP/1.0", "Connection: keep-alive\r\n") * 2, answers=2)
        assert first[0] == second[0] == 200 and first[1]["connection"] == "keep-alive"
    assert len(drain(ch)) == 3


def test_expect_100_continue_only_for_a_body_that_is_read(source) -> None:
    src, ch = source(maxBodyBytes=1000)
    with socket.create_connection(src.address, timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 413 "), "refused without 100 Continue"
    with socket.create_connection(src.address, timeout=10) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {len(BODY)}\r\n\r\n".encode())
        assert sock.recv(100) == httpwire.CONTINUE
        ((status, _, _),) = exchange(sock, BODY)
        assert status == 200
    assert len(drain(ch)) == 1


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"POST /\r\n\r\n", 400),
        (b"POST / HTTP/2.0\r\n\r\n", 505),
        (b"POST / HTTPS/1.1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: twelve\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"POST /" + b"a" * 66000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
)
def test_requests_that_break_the_rules_are_refused_and_closed(source, request_: bytes, status: int) -> None:
    src, ch = source()
    with socket.create_connection(src.address, timeout=10) as sock:
        ((got, headers, _),) = exchange(sock, request_)
        assert got == status and headers["connection"] == "close" and closed(sock)
    assert ch.size() == 0


def test_query_parameters_and_an_absolute_target_reach_the_handler(source) -> None:
    src, ch = source(handler="BLOBHandler")
    with socket.create_connection(src.address, timeout=10) as sock:
        data = b"POST http://x/in?a=1&b=&a=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        assert exchange(sock, data)[0][0] == 200
    (event,) = drain(ch)
    assert event.body == b"abc" and event.headers == {"a": "1", "b": ""}


def test_a_silent_tls_client_does_not_hold_up_the_others(source, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out",
                    str(tmp_path / "c.pem"), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)  # fmt: skip
    (tmp_path / "s.pem").write_bytes((tmp_path / "c.pem").read_bytes() + (tmp_path / "k.pem").read_bytes())
    src, ch = source(ssl="true", keystore=str(tmp_path / "s.pem"))
    silent = socket.create_connection(src.address, timeout=10)  # TCP only, no ClientHello
    try:
        began = time.monotonic()
        ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        conn = http.client.HTTPSConnection("localhost", src.address[1], context=ctx, timeout=10)
        conn.request("POST", "/", body=BODY)
        assert conn.getresponse().status == 200
        assert time.monotonic() - began < 5
    finally:
        silent.close()
    assert len(drain(ch)) == 1


def test_read_head_and_answer_units() -> None:
    head = httpwire.read_head(io.BytesIO(b"\r\nPUT /p HTTP/1.1\r\nX-Long: a\r\n  b\r\nConnection: Close\r\n\r\n"))
    assert head is not None and head.method == "PUT" and head.headers == {"x-long": "a b", "connection": "Close"}
    assert head.keep_alive is False and httpwire.body_size(head) == 0
    assert httpwire.read_head(io.BytesIO(b"")) is None
    chunked = httpwire.read_head(io.BytesIO(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"))
    assert chunked is not None and httpwire.body_size(chunked) is None
    body = io.BytesIO(b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")
    assert httpwire.read_body(body, chunked, None, 10) == b"abcde"
    with pytest.raises(httpwire.TooLarge):
        httpwire.read_body(io.BytesIO(b"b\r\n" + b"x" * 11 + b"\r\n0\r\n\r\n"), chunked, None, 10)
    text = httpwire.answer(503, "full é", close=False).decode()
    assert text.startswith("HTTP/1.1 503 Service Unavailable\r\n") and "Connection" not in text
    assert text.endswith(f"Content-Length: {len('full é'.encode())}\r\n\r\nfull é")
