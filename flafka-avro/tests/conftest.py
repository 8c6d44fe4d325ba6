"""Fixtures for flafka-avro's tests: an Avro source on a free port feeding a real memory
channel (``avro_source``), a sink built from raw keys (``avro_sink``), and PEM / PKCS12
key material made with ``cryptography`` (``tls_files``)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka.metrics.counters import SinkCounter
from flafka.testing import make
from flafka_avro.sink import AvroSink
from flafka_avro.source import AvroSource
from flafka_testkit.contracts.harness import SourceHarness, memory_channel


@pytest.fixture
def avro_source() -> Iterator[Callable[..., SourceHarness]]:
    """``avro_source(**keys)``: a started AvroSource on 127.0.0.1:<free port> (keys may
    override) with a memory channel (``capacity``/``transaction_capacity`` kwargs)."""
    started: list[SourceHarness] = []

    def start(capacity: int = 10_000, transaction_capacity: int = 1_000, **keys: Any) -> SourceHarness:
        raw = {"bind": "127.0.0.1", "port": 0, **keys}
        source = make(AvroSource, "in", **raw)
        harness = SourceHarness(source, memory_channel(capacity, transaction_capacity), acknowledgements=False)
        source.start()
        started.append(harness)
        return harness

    yield start
    for h in started:
        h.source.stop()


@pytest.fixture
def avro_sink() -> Iterator[Callable[..., AvroSink]]:
    """``avro_sink(port, **keys)``: a started AvroSink to 127.0.0.1:port."""
    started: list[AvroSink] = []

    def start(port: int, **keys: Any) -> AvroSink:
        sink = make(AvroSink, "out", hostname="127.0.0.1", port=port, **keys)
        sink.counter = SinkCounter("out", "avro")
        sink.start()
        started.append(sink)
        return sink

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed server key pair as ``key_pem`` (key + cert), ``cert_pem`` and
    ``p12`` (PKCS12, password ``secret``); ``other_cert_pem`` is an unrelated cert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("tls")

    def cert(cn: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.datetime.now(datetime.UTC)
        c = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return key, c

    key, c = cert("flafka-test")
    _, other = cert("someone-else")
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem_cert = c.public_bytes(serialization.Encoding.PEM)
    files = {"key_pem": d / "server.pem", "cert_pem": d / "cert.pem", "p12": d / "server.p12", "other_cert_pem": d / "other.pem"}
    files["key_pem"].write_bytes(pem_key + pem_cert)
    files["cert_pem"].write_bytes(pem_cert)
    files["other_cert_pem"].write_bytes(other.public_bytes(serialization.Encoding.PEM))
    files["p12"].write_bytes(
        pkcs12.serialize_key_and_certificates(b"server", key, c, None, serialization.BestAvailableEncryption(b"secret"))
    )
    return files
