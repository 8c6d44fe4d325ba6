"""The netcatudp source in-process with a real UDP sender."""

from __future__ import annotations

import socket
import time

import pytest

from flafka.sources.netbase import java_address
from flafka.sources.netcatudp import NetcatUdpSource, first_line
from flafka.testing import make

from .conftest import drain, wait_for, wire


@pytest.fixture
def sender() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s
    s.close()


def _start(capacity: int = 1000, **keys: object) -> tuple[NetcatUdpSource, object]:
    src = make(NetcatUdpSource, "u1", bind="127.0.0.1", port=0, **keys)
    ch = wire(src, capacity, min(100, capacity))
    src.start()
    return src, ch


def test_one_event_per_datagram_up_to_the_first_newline(sender) -> None:
    src, ch = _start()
    try:
        for payload in (b"hello", b"two\nlines", b"", b"bin\x00\xff"):
            sender.sendto(payload, src.address)
        wait_for(lambda: ch.size() == 4, what="4 events")
    finally:
        src.stop()
    events = drain(ch)
    assert [e.body for e in events] == [b"hello", b"two", b"", b"bin\x00\xff"]
    assert all(e.headers == {} for e in events)


@pytest.mark.parametrize("key", ["remoteAddressHeader", "remoteAddress"])
def test_sender_address_header_as_java_prints_it(sender, key: str) -> None:
    src, ch = _start(**{key: "addr"})
    try:
        sender.sendto(b"x", src.address)
        wait_for(lambda: ch.size() == 1, what="1 event")
    finally:
        src.stop()
    assert drain(ch)[0].headers == {"addr": f"/127.0.0.1:{sender.getsockname()[1]}"}


def test_long_datagram_is_not_cut(sender) -> None:
    src, ch = _start()
    try:
        sender.sendto(b"y" * 60000, src.address)
        wait_for(lambda: ch.size() == 1, what="1 event")
    finally:
        src.stop()
    assert drain(ch)[0].body == b"y" * 60000


def test_full_channel_holds_the_batch_and_delivers_it_later(sender) -> None:
    src, ch = _start(capacity=5)
    try:
        for i in range(8):
            sender.sendto(b"%d" % i, src.address)
        wait_for(lambda: src.counter.channel_write_fail >= 1, what="a refused batch")
        time.sleep(0.3)
        got: list[bytes] = []

        def all_taken() -> bool:
            got.extend(e.body for e in drain(ch))
            return len(got) >= 8

        wait_for(all_taken, what="the held events")
    finally:
        src.stop()
    assert sorted(got, key=int) == [b"%d" % i for i in range(8)]
    assert src.counter.channel_write_fail >= 1


def test_java_address_forms() -> None:
    assert java_address("127.0.0.1", 5) == "/127.0.0.1:5"
    assert java_address("::1", 5) == "/0:0:0:0:0:0:0:1:5"
    assert first_line(b"a\nb") == b"a"
