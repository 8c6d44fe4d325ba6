"""Interop with real Apache Flume 1.11 (the test kit's ``flume_home``), both ways:
Flume's avro sinks -> flafka's avro source, Flume's own RPC client (``RpcClientFactory``)
-> flafka's avro source, and flafka's avro sink -> Flume's avro sources; plain, deflate,
TLS and TLS + deflate; headers (non-ASCII too) and bodies compared exactly."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flafka.event import Event
from flafka_avro.sink import AvroSink
from flafka_testkit.contracts.harness import SourceHarness
from flafka_testkit.services.base import free_port

pytestmark = pytest.mark.integration

VARIANTS = {
    "plain": ({}, {}),
    "deflate": ({"compression-type": "deflate"}, {"compression-type": "deflate", "compression-level": "1"}),
    "tls": ({"ssl": "true"}, {"ssl": "true"}),
    "tlsdeflate": (
        {"ssl": "true", "compression-type": "deflate"},
        {"ssl": "true", "compression-type": "deflate", "compression-level": "9"},
    ),
}
N = 230


def _collect(h: SourceHarness, want: int, timeout: float = 60.0) -> list[Event]:
    got: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += h.take_all()
        time.sleep(0.05)
    return got


def test_flume_avro_sinks_send_to_flafka_avro_sources(
    flume_home: Any, avro_source: Callable[..., SourceHarness], tls_files: dict[str, Path], tmp_path: Path
) -> None:
    harnesses = {}
    lines = [f"a1.sources = {' '.join('s_' + v for v in VARIANTS)}", f"a1.channels = {' '.join('c_' + v for v in VARIANTS)}",
             f"a1.sinks = {' '.join('k_' + v for v in VARIANTS)}"]  # fmt: skip
    for v, (src_keys, sink_keys) in VARIANTS.items():
        keys = dict(src_keys)
        if "ssl" in keys:
            keys.update({"keystore": str(tls_files["key_pem"]), "keystore-type": "PEM"})
        harnesses[v] = h = avro_source(**keys)
        lines += [
            f"a1.sources.s_{v}.type = seq", f"a1.sources.s_{v}.totalEvents = {N}", f"a1.sources.s_{v}.batchSize = 50",
            f"a1.sources.s_{v}.channels = c_{v}", f"a1.sources.s_{v}.interceptors = i",
            f"a1.sources.s_{v}.interceptors.i.type = static", f"a1.sources.s_{v}.interceptors.i.key = tier",
            f"a1.sources.s_{v}.interceptors.i.value = \\u00fcber-{v}",
            f"a1.channels.c_{v}.type = memory",
            f"a1.sinks.k_{v}.type = avro", f"a1.sinks.k_{v}.channel = c_{v}", f"a1.sinks.k_{v}.hostname = 127.0.0.1",
            f"a1.sinks.k_{v}.port = {h.source.address[1]}", f"a1.sinks.k_{v}.batch-size = 40",  # type: ignore[attr-defined]
        ]  # fmt: skip
        lines += [f"a1.sinks.k_{v}.{k} = {val}" for k, val in sink_keys.items()]
        if "ssl" in sink_keys:
            lines.append(f"a1.sinks.k_{v}.trust-all-certs = true")
    with flume_home.run_agent("\n".join(lines) + "\n", tmp_path / "flume") as agent:
        got = {v: _collect(h, N) for v, h in harnesses.items()}
        log = agent.log.read_text(errors="replace")
    for v, events in got.items():
        assert sorted(e.body for e in events) == sorted(str(i).encode() for i in range(N)), (v, log[-3000:])
        assert all(e.headers == {"tier": f"über-{v}"} for e in events), (v, events[:2])
    for bad in ("EventDeliveryException", "AvroRuntimeException", "Failed to send events"):  # every call answered OK at once
        assert bad not in log, log[-3000:]


RPC_CLIENT = r"""
import java.nio.charset.StandardCharsets;
import java.util.*;
import org.apache.flume.Event;
import org.apache.flume.api.*;
import org.apache.flume.event.EventBuilder;

public class Send {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.setProperty("hosts", "h1");
    p.setProperty("hosts.h1", "127.0.0.1:" + a[0]);
    p.setProperty("batch-size", "25");
    if (a.length > 1) { p.setProperty("compression-type", "deflate"); p.setProperty("compression-level", "6"); }
    RpcClient c = RpcClientFactory.getInstance(p);
    List<Event> batch = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      Map<String, String> h = new HashMap<>();
      h.put("n", Integer.toString(i));
      h.put("\u00e9t\u00e9", "\u2713");
      batch.add(EventBuilder.withBody(("rpc-" + i).getBytes(StandardCharsets.UTF_8), h));
    }
    c.appendBatch(batch);
    c.append(EventBuilder.withBody(new byte[] {0, (byte) 255, 10}, Collections.singletonMap("one", "yes")));
    c.close();
    System.out.println("SENT");
  }
}
"""


@pytest.mark.parametrize("deflate", [False, True])
def test_flumes_rpc_client_sends_to_flafka(
    flume_home: Any, avro_source: Callable[..., SourceHarness], tmp_path: Path, deflate: bool
) -> None:
    """Flume's ``RpcClientFactory`` client (what the log4j appender uses): appendBatch and append."""
    h = avro_source(**({"compression-type": "deflate"} if deflate else {}))
    src = tmp_path / "Send.java"
    src.write_text(RPC_CLIENT)
    args = [str(h.source.address[1])] + (["deflate"] if deflate else [])  # type: ignore[attr-defined]
    cmd = [flume_home.java, "-Xmx256m", "-cp", f"{flume_home.lib}/*", str(src), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0 and "SENT" in proc.stdout, proc.stderr[-3000:]
    got = _collect(h, 61, timeout=10)
    want = [Event(f"rpc-{i}".encode(), {"n": str(i), "été": "✓"}) for i in range(60)] + [Event(b"\x00\xff\n", {"one": "yes"})]
    assert got == want


_LINE = re.compile(r"^\{(.*)\} (.*)$")


def _read_header_and_text(directory: Path) -> list[Event]:
    """Parse Flume's ``header_and_text`` output: ``{k=v, k2=v2} body`` per line."""
    out = []
    for f in sorted(directory.iterdir()):
        for line in f.read_text("utf-8").splitlines():
            m = _LINE.match(line)
            assert m, line
            headers = dict(kv.split("=", 1) for kv in m.group(1).split(", ")) if m.group(1) else {}
            out.append(Event(m.group(2).encode(), headers))
    return out


def test_flafka_avro_sink_sends_to_flume_avro_sources(
    flume_home: Any, avro_sink: Callable[..., AvroSink], tls_files: dict[str, Path], tmp_path: Path
) -> None:
    ports = {v: free_port() for v in VARIANTS}
    lines = [f"a1.sources = {' '.join('r_' + v for v in VARIANTS)}", f"a1.channels = {' '.join('c_' + v for v in VARIANTS)}",
             f"a1.sinks = {' '.join('k_' + v for v in VARIANTS)}"]  # fmt: skip
    for v, (src_keys, _) in VARIANTS.items():
        out = tmp_path / f"out-{v}"
        out.mkdir()
        lines += [
            f"a1.sources.r_{v}.type = avro", f"a1.sources.r_{v}.bind = 127.0.0.1", f"a1.sources.r_{v}.port = {ports[v]}",
            f"a1.sources.r_{v}.channels = c_{v}", f"a1.channels.c_{v}.type = memory",
            f"a1.sinks.k_{v}.type = file_roll", f"a1.sinks.k_{v}.channel = c_{v}", f"a1.sinks.k_{v}.sink.directory = {out}",
            f"a1.sinks.k_{v}.sink.rollInterval = 0", f"a1.sinks.k_{v}.sink.serializer = header_and_text",
        ]  # fmt: skip
        lines += [f"a1.sources.r_{v}.{k} = {val}" for k, val in src_keys.items()]
        if "ssl" in src_keys:
            lines += [f"a1.sources.r_{v}.keystore = {tls_files['p12']}", f"a1.sources.r_{v}.keystore-password = secret",
                      f"a1.sources.r_{v}.keystore-type = PKCS12"]  # fmt: skip
    sent = [Event(f"body-{i} ünï".encode(), {"n": str(i), "ключ": "значение", "empty": ""}) for i in range(N)]
    with flume_home.run_agent("\n".join(lines) + "\n", tmp_path / "flume") as agent:
        deadline = time.monotonic() + 60  # "Starting Source" comes before the server is bound
        while not all(f"Avro source r_{v} started" in agent.log.read_text(errors="replace") for v in VARIANTS):
            assert time.monotonic() < deadline, agent.log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        for v, (_, sink_keys) in VARIANTS.items():
            keys = dict(sink_keys)
            if "ssl" in keys:
                keys.update({"truststore": str(tls_files["cert_pem"]), "truststore-type": "PEM"})
            sink = avro_sink(ports[v], **keys)
            for i in range(0, N, 100):
                assert sink.write(sent[i : i + 100]) is None
        deadline = time.monotonic() + 30
        got: dict[str, list[Event]] = {}
        while time.monotonic() < deadline:
            got = {v: _read_header_and_text(tmp_path / f"out-{v}") for v in VARIANTS}
            if all(len(g) >= N for g in got.values()):
                break
            time.sleep(0.2)
        log = agent.log.read_text(errors="replace")
    for v in VARIANTS:
        assert got[v] == sent, (v, got[v][:2], log[-3000:])
