"""The netcat source in-process with a real TCP client: OK/FAILED replies, limits, bad input."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from flafka.sources.netcat import NetcatSource
from flafka.testing import make
from flafka_testkit.contracts import SourceCapabilities, SourceContract
from flafka_testkit.services.base import free_port

from .conftest import connect, drain, read_replies, wait_for, wire


def _source(**keys: object) -> NetcatSource:
    raw = {"bind": "127.0.0.1", "port": 0, **keys}
    return make(NetcatSource, "r1", **raw)


@pytest.fixture
def running() -> object:
    started: list[NetcatSource] = []

    def start(capacity: int = 1000, tx: int = 100, **keys: object) -> tuple[NetcatSource, object]:
        src = _source(**keys)
        ch = wire(src, capacity, tx)
        src.start()
        started.append(src)
        return src, ch

    yield start
    for src in started:
        src.stop()


def test_guide_example_line_gets_ok_and_keeps_carriage_return(running) -> None:
    src, ch = running()
    with connect(src.address[1]) as c:
        c.sendall(b"Hello world!\r\n")
        assert read_replies(c, 1) == [b"OK"]
    events = drain(ch)
    assert [e.body for e in events] == [b"Hello world!\r"]
    assert events[0].headers == {}
    assert src.counter.event_accepted_count == 1


def test_many_lines_in_one_write_get_one_ok_each(running) -> None:
    src, ch = running(tx=7)  # more lines than one transaction holds: split, all OK
    lines = [b"line-%d" % i for i in range(50)]
    with connect(src.address[1]) as c:
        c.sendall(b"".join(line + b"\n" for line in lines))
        assert read_replies(c, 50) == [b"OK"] * 50
    assert [e.body for e in drain(ch)] == lines


def test_ack_every_event_false_sends_nothing(running) -> None:
    src, ch = running(**{"ack-every-event": "false"})
    with connect(src.address[1]) as c:
        c.sendall(b"a\nb\n")
        wait_for(lambda: ch.size() == 2, what="2 events")
        c.settimeout(0.3)
        with pytest.raises(TimeoutError):
            c.recv(10)


def test_line_at_the_limit_passes_one_more_char_fails_and_closes(running) -> None:
    src, ch = running(**{"max-line-length": "10"})
    with connect(src.address[1]) as c:
        c.sendall(b"123456789\n" + b"1234567890\n" + b"never\n")
        replies = read_replies(c, 3)
        assert replies[:2] == [b"OK", b"FAILED: Event exceeds the maximum length (10 chars, including newline)"]
        assert c.recv(100) == b""  # closed, as Flume does
    assert [e.body for e in drain(ch)] == [b"123456789"]
    assert src.counter.errors[("line_too_long", "receiving")] == 1
    assert src.counter.event_read_fail == 1


def test_one_megabyte_without_newline_is_refused_and_the_source_lives(running, caplog) -> None:
    src, _ = running()
    with connect(src.address[1]) as c:
        try:
            c.sendall(b"x" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := c.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        assert data.startswith(b"FAILED: Event exceeds the maximum length (512 chars")
    assert "raise max-line-length" in caplog.text and "127.0.0.1:" in caplog.text
    with connect(src.address[1]) as c:  # the source still serves
        c.sendall(b"after\n")
        assert read_replies(c, 1) == [b"OK"]


def test_full_channel_answers_failed_per_refused_event(running) -> None:
    src, ch = running(capacity=3, tx=3)
    with connect(src.address[1]) as c:
        c.sendall(b"1\n2\n3\n")
        assert read_replies(c, 3) == [b"OK"] * 3
        c.sendall(b"4\n5\n")
        replies = read_replies(c, 2)
        assert all(r.startswith(b"FAILED: ") for r in replies), replies
        assert b"channel" in replies[0].lower() or b"full" in replies[0].lower() or b"room" in replies[0].lower()
        drain(ch)
        c.sendall(b"4\n5\n")  # the client resends; now there is room
        assert read_replies(c, 2) == [b"OK", b"OK"]
    assert [e.body for e in drain(ch)] == [b"4", b"5"]
    assert src.counter.channel_write_fail >= 1


def test_invalid_utf8_is_kept_counted_and_reported(running, caplog) -> None:
    src, ch = running()
    with connect(src.address[1]) as c:
        c.sendall(b"bad \xff\xfe bytes\n")
        assert read_replies(c, 1) == [b"OK"]
    assert [e.body for e in drain(ch)] == [b"bad \xff\xfe bytes"]
    assert src.counter.errors[("invalid_encoding", "receiving")] == 1
    assert "not valid utf-8" in caplog.text and "set encoding" in caplog.text


def test_latin1_encoding_gives_utf8_bodies_like_flume(running) -> None:
    src, ch = running(encoding="ISO-8859-1")
    with connect(src.address[1]) as c:
        c.sendall(b"caf\xe9\n")
        assert read_replies(c, 1) == [b"OK"]
    assert [e.body for e in drain(ch)] == ["café".encode()]


def test_unterminated_last_line_is_dropped_and_counted(running) -> None:
    src, ch = running()
    with connect(src.address[1]) as c:
        c.sendall(b"done\npartial")
        assert read_replies(c, 1) == [b"OK"]
    wait_for(lambda: ("unterminated_line", "receiving") in src.counter.errors, what="the count")
    assert [e.body for e in drain(ch)] == [b"done"]


def test_idle_clients_do_not_hold_the_stop(running) -> None:
    src, _ = running()
    idle = [connect(src.address[1]) for _ in range(200)]
    wait_for(lambda: src.counter.open_connection_count == 200, what="200 connections")
    began = time.monotonic()
    src.stop()
    assert time.monotonic() - began < 3
    for c in idle:
        c.close()


def test_concurrent_clients_lose_nothing(running) -> None:
    src, ch = running(capacity=100_000)
    port = src.address[1]

    def client(k: int) -> None:
        with connect(port) as c:
            c.sendall(b"".join(b"c%d-%d\n" % (k, i) for i in range(500)))
            assert read_replies(c, 500) == [b"OK"] * 500

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    bodies = [e.body for e in drain(ch)]
    assert sorted(bodies) == sorted(b"c%d-%d" % (k, i) for k in range(8) for i in range(500))
    for k in range(8):  # per connection, order is kept
        mine = [b for b in bodies if b.startswith(b"c%d-" % k)]
        assert mine == [b"c%d-%d" % (k, i) for i in range(500)]


def test_port_in_use_is_a_sentence_with_the_fix() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    src = _source(port=holder.getsockname()[1])
    wire(src)
    try:
        with pytest.raises(OSError, match=r"source 'r1': cannot listen on 127.0.0.1:\d+ .*choose another port"):
            src.start()
    finally:
        holder.close()


def test_missing_bind_and_port_are_reported() -> None:
    _, problems = NetcatSource.settings_schema.parse({})
    assert {p.key for p in problems if p.severity == "error"} == {"bind", "port"}


class TestNetcatContract(SourceContract):
    """The shared source contract; ``produce`` is a client that resends what got FAILED."""

    source_class = NetcatSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        return {"bind": "127.0.0.1", "port": str(free_port())}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        port = int(settings["port"])

        def client() -> None:
            with connect(port) as c:
                for start in range(0, len(bodies), 50):
                    todo = bodies[start : start + 50]
                    while todo:
                        c.sendall(b"".join(b + b"\n" for b in todo))
                        replies = read_replies(c, len(todo))
                        failed = [b for b, r in zip(todo, replies, strict=True) if r != b"OK"]
                        if failed:
                            time.sleep(0.05)
                        todo = failed

        threading.Thread(target=client, daemon=True).start()
