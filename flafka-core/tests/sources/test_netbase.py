"""The network sources' shared loops (flafka.sources.netbase): TcpConnections accepts on
every listening socket, closes and forgets a connection when its ``serve`` returns, counts
open connections and stops them all; datagram_loop hands over batches of at most ``cap``."""

from __future__ import annotations

import logging
import socket
import threading

from flafka.metrics.counters import SourceCounter
from flafka.sources.netbase import TcpConnections, Throttled, datagram_loop
from flafka.sources.netcat import listen_tcp

from .conftest import wait_for


class _Owner:
    """What the loops need of a source: a name and a counter."""

    name = "s1"

    def __init__(self) -> None:
        self.counter = SourceCounter("s1", "test")


def test_tcp_connections_on_two_ports_count_close_and_stop() -> None:
    owner = _Owner()
    stopping = threading.Event()
    served: list[tuple[int, bytes]] = []

    def serve(conn: socket.socket, peer: tuple[str, int], port: int) -> None:
        data = conn.recv(100)
        served.append((port, data))
        conn.sendall(b"ok")
        if data == b"hold":
            conn.recv(100)  # blocks until stop() shuts the connection down

    tcp = TcpConnections(owner, "test", serve, stopping, Throttled(logging.getLogger("t")), join=2.0)  # type: ignore[arg-type]
    tcp.start([listen_tcp("s1", "127.0.0.1", 0), listen_tcp("s1", "127.0.0.1", 0)], "acc", "conn")
    ports = [s.getsockname()[1] for s in tcp.servers]
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"hi")
            assert c.recv(10) == b"ok"
    wait_for(lambda: owner.counter.open_connection_count == 0, what="connections closed")  # type: ignore[attr-defined]
    assert sorted(served) == sorted((p, b"hi") for p in ports)
    held = socket.create_connection(("127.0.0.1", ports[0]), timeout=5)
    held.sendall(b"hold")
    assert held.recv(10) == b"ok"
    assert owner.counter.open_connection_count == 1  # type: ignore[attr-defined]
    tcp.stop()
    assert stopping.is_set() and tcp.servers == []
    assert held.recv(10) == b""  # closed by the source
    held.close()
    wait_for(lambda: owner.counter.open_connection_count == 0, what="count back to 0")  # type: ignore[attr-defined]


def test_datagram_loop_batches_up_to_cap_and_stops() -> None:
    owner = _Owner()
    stopping = threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    batches: list[list[bytes]] = []
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(7):  # queued before the loop starts: read as batches of 3, 3, 1
        sender.sendto(str(i).encode(), sock.getsockname())
    loop = threading.Thread(
        target=datagram_loop,
        args=(owner, "test", sock, 100, 3, stopping, Throttled(logging.getLogger("t")), lambda d: batches.append([x for x, _ in d])),
    )
    loop.start()
    wait_for(lambda: sum(map(len, batches)) == 7, what="7 datagrams")
    stopping.set()
    loop.join(2)
    assert not loop.is_alive()
    assert [len(b) for b in batches] == [3, 3, 1] and [x for b in batches for x in b] == [str(i).encode() for i in range(7)]
    sock.close()
    sender.close()
