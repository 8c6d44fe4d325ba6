"""flafka's avro sink against flafka's avro source, in process, on real sockets: batches,
acknowledgement (OK only after the channel committed), back-pressure, deflate, TLS
(PEM and PKCS12), ipFilterRules, and peers that misbehave."""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flafka.batch import Batch
from flafka.errors import RetriableError
from flafka.event import Event
from flafka_avro import ipfilter
from flafka_avro.framing import encode_pack
from flafka_avro.sink import AvroSink
from flafka_testkit.contracts.harness import SourceHarness


def _events(n: int, tag: str = "e") -> list[Event]:
    return [Event(f"{tag}-{i}".encode() + bytes([i % 256]), {"i": str(i), "tag": tag, "ü": "✓"}) for i in range(n)]


def _port(h: SourceHarness) -> int:
    return h.source.address[1]  # type: ignore[attr-defined]


def test_batches_arrive_with_headers_and_bodies(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]) -> None:
    h = avro_source()
    sink = avro_sink(_port(h))
    sent = _events(250)
    for i in range(0, 250, 100):
        assert sink.write(sent[i : i + 100]) is None
    assert h.take_all() == sent
    assert h.source.counter.append_batch_accepted_count == 3
    assert sink.counter.connection_created_count == 1  # one connection, handshake once


def test_ok_is_sent_only_after_the_channel_committed(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]) -> None:
    h = avro_source()
    real = h.channel.put_transaction
    seen: list[bool] = []

    def slow_put() -> Any:
        tx = real()
        commit = tx.commit

        def late_commit() -> None:
            time.sleep(0.3)
            commit()
            seen.append(True)

        tx.commit = late_commit  # type: ignore[method-assign]
        return tx

    h.channel.put_transaction = slow_put  # type: ignore[method-assign]
    sink = avro_sink(_port(h))
    t0 = time.monotonic()
    sink.write(_events(5))
    assert seen == [True] and time.monotonic() - t0 >= 0.3


def test_full_channel_answers_failed_and_the_sender_retries(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]
) -> None:
    h = avro_source(capacity=10, transaction_capacity=10)
    sink = avro_sink(_port(h))
    sink.write(_events(8, "a"))
    with pytest.raises(RetriableError, match="answered FAILED"):
        sink.write(_events(5, "b"))
    assert len(h.take_all()) == 8  # room again
    sink.write(_events(5, "b"))  # the retry goes through (new connection)
    assert [e.body for e in h.take_all()] == [e.body for e in _events(5, "b")]


def test_batch_over_transaction_capacity_is_failed_with_a_clear_line(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], caplog: pytest.LogCaptureFixture
) -> None:
    h = avro_source(transaction_capacity=10)
    sink = avro_sink(_port(h))
    with caplog.at_level(logging.WARNING), pytest.raises(RetriableError, match="FAILED"):
        sink.write(_events(11))
    assert "127.0.0.1:" in caplog.text and "transactionCapacity" in caplog.text
    sink.write(_events(10))
    assert len(h.take_all()) == 10


@pytest.mark.parametrize("level", [1, 6, 9])
def test_deflate(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], level: int) -> None:
    h = avro_source(**{"compression-type": "deflate"})
    sink = avro_sink(_port(h), **{"compression-type": "deflate", "compression-level": level})
    sent = _events(300)
    sink.write(sent[:150])
    sink.write(sent[150:])
    assert h.take_all() == sent


def test_deflate_mismatch_fails_clearly(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], caplog: pytest.LogCaptureFixture
) -> None:
    h = avro_source()
    sink = avro_sink(_port(h), **{"compression-type": "deflate", "request-timeout": 1000, "connect-timeout": 1000})
    with caplog.at_level(logging.WARNING), pytest.raises(RetriableError):
        sink.write(_events(3))
    assert "zlib stream" in caplog.text and "127.0.0.1:" in caplog.text


@pytest.mark.parametrize("store", ["pem", "p12", "p12+deflate"])
def test_tls(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], tls_files: dict[str, Path], store: str) -> None:
    keys = (
        {"keystore": str(tls_files["key_pem"]), "keystore-type": "PEM"}
        if store == "pem"
        else {"keystore": str(tls_files["p12"]), "keystore-type": "PKCS12", "keystore-password": "secret"}
    )
    comp = {"compression-type": "deflate"} if "deflate" in store else {}
    h = avro_source(ssl="true", **keys, **comp)
    sink = avro_sink(_port(h), ssl="true", truststore=str(tls_files["cert_pem"]), **{"truststore-type": "PEM"}, **comp)
    sent = _events(50)
    sink.write(sent)
    assert h.take_all() == sent


def test_tls_untrusted_server_is_refused_unless_trust_all(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], tls_files: dict[str, Path]
) -> None:
    h = avro_source(ssl="true", keystore=str(tls_files["key_pem"]), **{"keystore-type": "PEM"})
    bad = avro_sink(_port(h), ssl="true", truststore=str(tls_files["other_cert_pem"]))
    with pytest.raises(RetriableError, match="TLS failed"):
        bad.write(_events(1))
    ok = avro_sink(_port(h), ssl="true", **{"trust-all-certs": "true"})
    ok.write(_events(2))
    assert len(h.take_all()) == 2


def test_plain_client_on_tls_port_and_tls_client_on_plain_port(
    avro_source: Callable[..., SourceHarness],
    avro_sink: Callable[..., AvroSink],
    tls_files: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls = avro_source(ssl="true", keystore=str(tls_files["key_pem"]))
    plain = avro_source()
    with caplog.at_level(logging.WARNING):
        with pytest.raises(RetriableError):
            avro_sink(_port(tls), **{"request-timeout": 1000}).write(_events(1))
        with pytest.raises(RetriableError):
            avro_sink(_port(plain), ssl="true", **{"trust-all-certs": "true", "connect-timeout": 1000}).write(_events(1))
    assert "TLS" in caplog.text
    # both still serve good clients
    avro_sink(_port(plain)).write(_events(1))
    avro_sink(_port(tls), ssl="true", **{"trust-all-certs": "true"}).write(_events(1))
    assert len(plain.take_all()) == 1 and len(tls.take_all()) == 1


def test_ip_filter_denies_with_a_line_naming_the_peer(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], caplog: pytest.LogCaptureFixture
) -> None:
    h = avro_source(ipFilter="true", ipFilterRules="allow:ip:10.*,deny:ip:127.0.0.*")
    with caplog.at_level(logging.WARNING), pytest.raises(RetriableError):
        avro_sink(_port(h)).write(_events(1))
    assert "refused by ipFilterRules rule 'deny:ip:127.0.0.*'" in caplog.text
    h2 = avro_source(ipFilter="true", ipFilterRules="deny:ip:10.*,allow:name:localhost")
    avro_sink(_port(h2)).write(_events(1))
    assert len(h2.take_all()) == 1


def test_ip_rules_parse_and_match() -> None:
    rules = ipfilter.parse_rules("allow:ip:192.168.1.?,deny:ip:192.168.*")
    assert ipfilter.allowed(rules, "192.168.1.5")[0]
    assert not ipfilter.allowed(rules, "192.168.2.5")[0]
    assert ipfilter.allowed(rules, "10.0.0.1") == (True, None)
    with pytest.raises(ipfilter.RuleError, match="allow:ip:127"):
        ipfilter.parse_rules("permit:ip:1.2.3.4")


def _handshake(client_hash: bytes, client_protocol: str | None) -> bytes:
    from flafka_avro import protocol

    return protocol.encode_handshake_request(protocol.HandshakeRequest(client_hash, client_protocol, client_hash, {}))


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            return s.recv(100)
        except OSError:
            return b""


@pytest.mark.parametrize(
    ("junk", "said"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP"),
        (struct.pack(">iii", 1, 1, 2**30), "larger than"),
        (encode_pack(1, b"\x01\x02garbage"), "malformed handshake"),
        # found by the fuzzing campaign (tests/fuzz, target avro_rpc): a client protocol
        # nested too deeply for json ended in a RecursionError traceback
        (encode_pack(1, _handshake(b"\x02" * 16, "[" * 100_000)), "protocol text is not JSON"),
    ],
)
def test_malformed_peers_get_a_line_and_others_are_still_served(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], caplog: pytest.LogCaptureFixture, junk: bytes, said: str
) -> None:
    h = avro_source()
    with caplog.at_level(logging.WARNING):
        _raw(_port(h), junk)
        deadline = time.monotonic() + 5
        while said not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    assert said in caplog.text and "closing the connection from 127.0.0.1:" in caplog.text
    avro_sink(_port(h)).write(_events(2))
    assert len(h.take_all()) == 2


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=st.binary(max_size=300), framed=st.booleans(), after_handshake=st.booleans())
def test_fuzz_source_survives_any_bytes(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], junk: bytes, framed: bool, after_handshake: bool
) -> None:
    """Raw bytes, or a well-framed pack of junk (reaching the handshake parser), or junk
    after a valid handshake (reaching the call and event parsers): the source neither
    crashes nor hangs, and still serves a good client."""
    from flafka_avro import protocol

    h = _shared(avro_source)
    if after_handshake:
        hs = protocol.encode_handshake_request(protocol.HandshakeRequest(protocol.FLUME_MD5, None, protocol.FLUME_MD5, {}))
        junk = encode_pack(1, hs + junk)
    elif framed:
        junk = encode_pack(1, junk)
    _raw(_port(h), junk)
    sink = _shared_sink(avro_sink, _port(h))
    sink.write(_events(1))
    assert len(h.take_all()) == 1


_cache: dict[str, Any] = {}


def _shared(factory: Callable[..., SourceHarness]) -> SourceHarness:
    if "src" not in _cache or _cache["src"][0] is not factory:
        _cache["src"] = (factory, factory())
    return _cache["src"][1]


def _shared_sink(factory: Callable[..., AvroSink], port: int) -> AvroSink:
    if "sink" not in _cache or _cache["sink"][0] is not factory:
        _cache["sink"] = (factory, factory(port))
    return _cache["sink"][1]


def test_peer_that_stops_answering_times_out_the_sink(avro_sink: Callable[..., AvroSink]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        sink = avro_sink(server.getsockname()[1], **{"request-timeout": 1000})
        t0 = time.monotonic()
        with pytest.raises(RetriableError, match="timed out"):
            sink.write(_events(1))
        assert 0.9 < time.monotonic() - t0 < 5


def test_handshake_none_then_client_protocol(avro_source: Callable[..., SourceHarness]) -> None:
    """A client with another hash gets NONE (with the server's protocol); resending with
    its protocol text is accepted (Java Requestor's behaviour)."""
    import io

    from flafka_avro import protocol
    from flafka_avro.framing import PackDecoder

    h = avro_source()
    other = b"\x01" * 16
    with socket.create_connection(("127.0.0.1", _port(h)), timeout=3) as s:
        call = protocol.encode_batch_call(_events(1))
        hs = protocol.encode_handshake_request(protocol.HandshakeRequest(other, None, other, {}))
        s.sendall(encode_pack(1, hs + call))
        dec = PackDecoder(1 << 20)
        packs: list[tuple[int, bytes]] = []
        while not packs:
            packs = dec.feed(s.recv(4096))
        resp = protocol.read_handshake_response(io.BytesIO(packs[0][1]))
        assert resp.match is protocol.Match.NONE and resp.server_hash == protocol.FLUME_MD5
        hs = protocol.encode_handshake_request(protocol.HandshakeRequest(other, protocol.PROTOCOL_TEXT + " ", other, {}))
        s.sendall(encode_pack(2, hs + call))
        packs = []
        while not packs:
            packs = dec.feed(s.recv(4096))
        buf = io.BytesIO(packs[0][1])
        assert protocol.read_handshake_response(buf).match is protocol.Match.CLIENT
        assert protocol.read_response(buf) is protocol.Status.OK
    assert len(h.take_all()) == 1


def test_reset_connection_interval_reconnects(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]) -> None:
    h = avro_source()
    sink = avro_sink(_port(h), **{"reset-connection-interval": 1})
    sink.write(_events(1))
    time.sleep(1.1)
    sink.write(_events(1))
    assert sink.counter.connection_created_count == 2
    assert len(h.take_all()) == 2


def test_threads_bounds_the_connections_served(avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]) -> None:
    h = avro_source(threads=1)
    idle = socket.create_connection(("127.0.0.1", _port(h)), timeout=3)
    time.sleep(0.3)
    waiting = avro_sink(_port(h), **{"request-timeout": 1000})
    with pytest.raises(RetriableError, match="timed out"):
        waiting.write(_events(1))  # connected (backlog) but not served while the slot is taken
    idle.close()
    avro_sink(_port(h)).write(_events(2, "late"))
    got = [e.body for e in h.take_all()]
    # the timed-out call was still in the backlog: served once the slot freed (the sender
    # counts it as failed and sends it again: a duplicate, never a loss)
    assert got[-2:] == [e.body for e in _events(2, "late")] and len(got) in (2, 3)


@pytest.fixture(scope="session")
def jks_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A JKS keystore (RSA key pair) and a JKS truststore with its certificate, made by
    the JDK's keytool (skips when no JDK is installed)."""
    import shutil
    import subprocess

    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool (a JDK) is needed to make JKS stores")
    d = tmp_path_factory.mktemp("jks")
    ks, ts, crt = d / "server.jks", d / "trust.jks", d / "server.crt"
    common = ["-storepass", "secret123", "-noprompt"]
    for args in (
        ["-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=flafka", "-validity", "30",
         "-storetype", "JKS", "-keystore", str(ks), "-keypass", "secret123"],
        ["-exportcert", "-alias", "server", "-keystore", str(ks), "-rfc", "-file", str(crt)],
        ["-importcert", "-alias", "ca", "-file", str(crt), "-storetype", "JKS", "-keystore", str(ts)],
    ):  # fmt: skip
        subprocess.run([keytool, *args, *common], check=True, capture_output=True, timeout=120)
    return {"keystore": ks, "truststore": ts}


def test_tls_with_jks_stores(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink], jks_files: dict[str, Path]
) -> None:
    pytest.importorskip("jks", reason="pyjks (flafka-avro[jks]) reads JKS stores")
    h = avro_source(ssl="true", keystore=str(jks_files["keystore"]), **{"keystore-password": "secret123"})
    sink = avro_sink(_port(h), ssl="true", truststore=str(jks_files["truststore"]), **{"truststore-password": "secret123"})
    sink.write(_events(3))
    assert len(h.take_all()) == 3


def test_pipelined_batches_through_the_runtime_lose_nothing_under_back_pressure(avro_source: Callable[..., SourceHarness]) -> None:
    """The runtime keeps two appendBatch calls in flight (``max_pending_batches``); the
    next tier's channel is small and drained slowly, so some calls are answered FAILED
    while the next one is in flight: everything arrives (duplicates allowed), in one
    connection while nothing fails."""
    import threading

    from flafka.testing import make
    from flafka_testkit.contracts.harness import SinkHarness, put

    h = avro_source(capacity=300, transaction_capacity=100)
    sink = make(AvroSink, "out", hostname="127.0.0.1", port=_port(h), **{"batch-size": 100})
    harness = SinkHarness(sink)
    assert harness.driver._depth == 2  # pipelined on a memory channel
    sent = _events(3000, "p")
    put(harness.channel, sent, 100)
    sink.start()
    got: list[Event] = []
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            got.extend(h.take_all())
            time.sleep(0.02)

    t = threading.Thread(target=drain)
    t.start()
    try:
        failures = harness.drive_until_empty(timeout=60)
    finally:
        time.sleep(0.3)
        done.set()
        t.join()
        sink.stop()
    got.extend(h.take_all())
    assert {e.body for e in got} == {e.body for e in sent}
    assert harness.channel.is_empty()
    assert failures, "the small channel never pushed back: the test proves nothing"


def test_peer_that_stops_reading_is_dropped_with_a_line(
    avro_source: Callable[..., SourceHarness],
    avro_sink: Callable[..., AvroSink],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that keeps sending calls but never reads the answers: once the answers
    back up for the send timeout (30 s; 1 s here) the source logs it and drops the peer."""
    from flafka_avro import protocol
    from flafka_avro import source as source_module

    monkeypatch.setattr(source_module, "_SEND_TIMEOUT", 1.0)
    h = avro_source(capacity=100_000_000, transaction_capacity=10)
    hs = protocol.encode_handshake_request(protocol.HandshakeRequest(protocol.FLUME_MD5, None, protocol.FLUME_MD5, {}))
    call = b"\x00\x0cappend" + b"\x00\x00"  # one empty event, no headers
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", _port(h)))
    s.settimeout(0.5)
    burst = b"".join(encode_pack(i, call) for i in range(2, 10_002))
    with caplog.at_level(logging.WARNING):
        s.sendall(encode_pack(1, hs + call))
        deadline = time.monotonic() + 60
        try:
            while "stopped reading" not in caplog.text and time.monotonic() < deadline:
                s.sendall(burst)
        except OSError:
            pass  # dropped (reset) or our own send buffer full: either way, wait for the line
        while "stopped reading" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
    s.close()
    assert "stopped reading" in caplog.text and "127.0.0.1:" in caplog.text
    avro_sink(_port(h)).write(_events(1))  # others still served


def test_concurrent_senders_are_all_counted(avro_source: Callable[..., SourceHarness]) -> None:
    """Several connections at once: every event arrives once and the source's counters
    (updated by the channel processor, which is not thread-safe) add up."""
    import threading

    from flafka.metrics.counters import SinkCounter
    from flafka.testing import make

    h = avro_source(capacity=200_000)

    def send(tag: str) -> None:
        sink = make(AvroSink, tag, hostname="127.0.0.1", port=_port(h))
        sink.counter = SinkCounter(tag, "avro")
        sink.start()
        for i in range(20):
            sink.write(_events(50, f"{tag}-{i}"))
        sink.stop()

    threads = [threading.Thread(target=send, args=(f"s{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = h.take_all()
    assert len(got) == len({e.body + e.headers["tag"].encode() for e in got}) == 4 * 20 * 50
    assert h.source.counter.event_accepted_count == 4000 and h.source.counter.append_batch_accepted_count == 80


def test_sink_resends_with_its_protocol_after_a_none_handshake(avro_sink: Callable[..., AvroSink]) -> None:
    """A server that does not know Flume's hash answers NONE (Avro Java's responder);
    the sink sends the call again with the protocol text and the batch goes through."""
    import io
    import threading

    from flafka_avro import protocol
    from flafka_avro.framing import PackDecoder, encode_pack_parts

    seen: list[protocol.HandshakeRequest] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        dec = PackDecoder(1 << 20)
        with conn:
            for _ in range(2):
                packs: list[tuple[int, bytes]] = []
                while not packs:
                    packs = dec.feed(conn.recv(65536))
                serial, msg = packs[0]
                buf = io.BytesIO(msg)
                req = protocol.read_handshake_request(buf)
                seen.append(req)
                if req.client_protocol is None:
                    none = protocol.HandshakeResponse(protocol.Match.NONE, protocol.PROTOCOL_TEXT, protocol.FLUME_MD5, None)
                    conn.sendall(encode_pack_parts(serial, [protocol.encode_handshake_response(none)]))
                else:
                    both = protocol.encode_handshake_response(protocol.HandshakeResponse(protocol.Match.BOTH, None, None, None))
                    conn.sendall(encode_pack_parts(serial, [both, protocol.encode_response(protocol.Status.OK)]))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    sink = avro_sink(server.getsockname()[1])
    assert sink.write(_events(2)) is None
    t.join(5)
    server.close()
    assert [r.client_protocol for r in seen] == [None, protocol.PROTOCOL_TEXT]


def test_events_the_schema_cannot_carry_fail_for_good_and_the_others_are_sent(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]
) -> None:
    """A header that is not a string (a faulty interceptor) or not valid Unicode: those
    events are reported failed for good, naming the first; the rest of the batch arrives."""
    h = avro_source()
    sink = avro_sink(_port(h))
    good = _events(4)
    bad = [Event(b"bad-1", {"n": 7}), Event(b"bad-2", {"k": "\udc80"})]  # type: ignore[dict-item]
    outcome = sink.write([good[0], bad[0], good[1], good[2], bad[1], good[3]])
    assert outcome is not None
    assert list(outcome.failed) == [1, 4] and not outcome.retriable
    assert "2 event(s) cannot be sent over Avro RPC" in str(outcome.error)
    assert "event 1 of the batch has a header value of type int ('n'), not str" in str(outcome.error)
    assert h.take_all() == good
    all_bad = sink.write(bad)
    assert all_bad is not None and list(all_bad.failed) == [0, 1]
    assert h.take_all() == []


def test_column_wise_batches_cross_the_tier_without_events(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]
) -> None:
    """A column-wise batch is sent from its columns and arrives as one: bodies plus no
    headers, one common map, or a header column; the events are the same."""
    h = avro_source()
    sink = avro_sink(_port(h))
    common = {"timestamp": "1700000000000", "host": "10.0.0.1"}
    sent = [
        Batch([b"plain-%d" % i for i in range(300)]),
        Batch([b"common-%d" % i for i in range(300)], None, common),
        Batch([b"col-%d" % i for i in range(300)], [{"i": str(i % 3)} if i % 2 else None for i in range(300)], common),
    ]
    expected = [list(Batch(list(b.bodies), b._column, b.common)) for b in sent]
    for batch in sent:
        assert sink.write(batch) is None
        assert batch.columnar  # the sink built no events
    tx = h.channel.take_transaction()
    got = [tx.take(300) for _ in sent]
    tx.commit()
    assert all(isinstance(b, Batch) and b.columnar for b in got)  # nor did the source
    assert not got[0].has_headers()
    assert isinstance(got[1], Batch) and got[1].common == common
    assert [list(b) for b in got] == expected


def test_an_unencodable_event_of_a_column_wise_batch_fails_alone(
    avro_source: Callable[..., SourceHarness], avro_sink: Callable[..., AvroSink]
) -> None:
    h = avro_source()
    sink = avro_sink(_port(h))
    batch = Batch([b"a", b"b", b"c"], [None, {"n": 7}, None], {"k": "v"})  # type: ignore[list-item]
    outcome = sink.write(batch)
    assert outcome is not None and list(outcome.failed) == [1] and not outcome.retriable
    assert "event 1 of the batch has a header value of type int ('n'), not str" in str(outcome.error)
    assert h.take_all() == [Event(b"a", {"k": "v"}), Event(b"c", {"k": "v"})]
