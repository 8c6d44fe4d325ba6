"""Java key and trust stores made by the JDK's keytool (JKS and PKCS12) converted to PEM
for librdkafka: what comes out is the same CA, key and chain; librdkafka loads it; the
files are private and gone at stop; errors name the key to fix and never a password."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from flafka.errors import ConfigError
from flafka.testing import make, settings_for
from flafka_kafka.client_config import translate
from flafka_kafka.keystores import STORES, StoreError, Stores, TlsFiles, convert
from flafka_kafka.sink import KafkaSink

PREFIX = "kafka.producer."


def _stores(s: Any, trust: Path | None = None, keystore: Path | None = None, **over: Any) -> Stores:
    values: dict[str, Any] = {"prefix": PREFIX}
    if trust is not None:
        values.update(truststore=str(trust), truststore_password=s.trust_password)
    if keystore is not None:
        values.update(keystore=str(keystore), keystore_password=s.store_password, key_password=s.key_password)
    values.update(over)
    return Stores(**values)


def _pem_certs(data: bytes) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(data))


@pytest.mark.parametrize("trust", ["trust_jks", "trust_p12"])
def test_a_trust_store_becomes_the_ca_pem(java_stores: Any, trust: str) -> None:
    pem = convert(_stores(java_stores, trust=getattr(java_stores, trust)))
    assert pem.ca is not None and pem.key is None
    assert _pem_certs(pem.ca) == _pem_certs(java_stores.ca_pem.read_bytes())


@pytest.mark.parametrize("keystore", ["key_jks", "key_p12"])
def test_a_key_store_becomes_the_client_key_and_chain(java_stores: Any, keystore: str) -> None:
    pem = convert(_stores(java_stores, keystore=getattr(java_stores, keystore)))
    assert pem.certificate is not None and pem.key is not None and pem.key_password
    chain = _pem_certs(pem.certificate)
    assert chain[0] == x509.load_pem_x509_certificate(java_stores.client_pem.read_bytes())
    assert chain[1:] == _pem_certs(java_stores.ca_pem.read_bytes())
    assert pem.key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")  # never written in clear
    key = serialization.load_pem_private_key(pem.key, pem.key_password.encode())
    assert key.public_key() == chain[0].public_key()


def test_the_declared_type_does_not_matter_the_content_does(java_stores: Any) -> None:
    # Java's keystores read JKS and PKCS12 whatever the type says; so does flafka
    pem = convert(_stores(java_stores, trust=java_stores.trust_p12, truststore_type="JKS"))
    assert pem.ca is not None


def test_wrong_passwords_name_the_key_and_never_the_password(java_stores: Any) -> None:
    s = java_stores
    cases = [
        (_stores(s, trust=s.trust_jks, truststore_password="wrong-pass-9"), "ssl.truststore.password"),
        (_stores(s, trust=s.trust_p12, truststore_password="wrong-pass-9"), "ssl.truststore.password"),
        (_stores(s, keystore=s.key_jks, keystore_password="wrong-pass-9"), "ssl.keystore.password"),
        (_stores(s, keystore=s.key_jks, key_password="wrong-pass-9", keystore_password="wrong-pass-8"), "ssl.keystore.password"),
        (_stores(s, keystore=s.key_p12, keystore_password="wrong-pass-9", key_password=None), "ssl.keystore.password"),
        (_stores(s, keystore=s.key_jks, key_password=None), "ssl.key.password"),
        (_stores(s, trust=s.dir / "missing.jks"), "ssl.truststore.location"),
        (_stores(s, keystore=s.trust_jks, keystore_password=s.trust_password), "ssl.keystore.location"),  # no key in it
    ]
    for stores, key in cases:
        with pytest.raises(StoreError) as info:
            convert(stores)
        assert info.value.key == PREFIX + key, (stores, str(info.value))
        text = str(info.value) + info.value.suggestion
        for secret in ("wrong-pass-9", "wrong-pass-8", s.trust_password, s.store_password, s.key_password):
            assert secret not in text


def test_a_jks_truststore_without_password_is_read_as_java_reads_it(java_stores: Any) -> None:
    pem = convert(_stores(java_stores, trust=java_stores.trust_jks, truststore_password=None))
    assert pem.ca is not None


def test_pem_files_are_private_loaded_by_librdkafka_and_removed_at_close(java_stores: Any) -> None:
    import confluent_kafka

    s = java_stores
    out, problems = translate(
        {
            "security.protocol": "SSL",
            "ssl.truststore.location": str(s.trust_jks),
            "ssl.truststore.password": s.trust_password,
            "ssl.keystore.location": str(s.key_jks),
            "ssl.keystore.password": s.store_password,
            "ssl.key.password": s.key_password,
        },
        "producer",
        PREFIX,
    )
    assert problems == [] and isinstance(out[STORES], Stores)
    tls = TlsFiles("k1")
    conf = tls.resolve(out)
    assert STORES not in conf
    directory = Path(tls.directories[0])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = {conf[k] for k in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location")}
    assert {Path(f).parent for f in files} == {directory}
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert tls.resolve(out) == conf  # converted once
    producer = confluent_kafka.Producer(conf)  # librdkafka loads CA, chain and key (and checks they match)
    del producer
    with pytest.raises(confluent_kafka.KafkaException, match=r"ssl\.key"):
        confluent_kafka.Producer({**conf, "ssl.key.password": "not-it"})
    tls.close()
    assert not directory.exists()
    tls.close()  # idempotent


def test_a_client_without_conversion_fails_loudly() -> None:
    import confluent_kafka

    out, _ = translate({"ssl.truststore.location": "/x.jks"}, "producer", PREFIX)
    with pytest.raises(confluent_kafka.KafkaException, match=r"flafka\.ssl\.stores"):
        confluent_kafka.Producer(out)


def test_pem_stores_map_to_librdkafka_keys() -> None:
    out, problems = translate(
        {"ssl.keystore.type": "PEM", "ssl.keystore.location": "/etc/k.pem", "ssl.key.password": "p", "ssl.truststore.type": "PEM"},
        "producer",
        PREFIX,
    )
    assert problems == []
    assert out == {"ssl.certificate.location": "/etc/k.pem", "ssl.key.location": "/etc/k.pem", "ssl.key.password": "p"}
    out, problems = translate({"ssl.keystore.type": "BKS", "ssl.keystore.location": "/etc/k.bks"}, "producer", PREFIX)
    assert [(p.key, p.severity) for p in problems] == [(PREFIX + "ssl.keystore.type", "error")]
    out, problems = translate({"ssl.key.password": "p", "ssl.key.location": "/k.pem"}, "producer", PREFIX)
    assert out == {"ssl.key.password": "p", "ssl.key.location": "/k.pem"}


def test_validate_reads_the_stores_and_names_the_line_to_fix(java_stores: Any, caplog: pytest.LogCaptureFixture) -> None:
    s = java_stores
    raw = {
        "kafka.bootstrap.servers": "127.0.0.1:1",
        "kafka.producer.security.protocol": "SSL",
        "kafka.producer.ssl.truststore.location": str(s.trust_p12),
        "kafka.producer.ssl.truststore.password": s.trust_password,
        "kafka.producer.ssl.keystore.location": str(s.key_jks),
        "kafka.producer.ssl.keystore.password": s.store_password,
        "kafka.producer.ssl.key.password": s.key_password,
    }
    assert [p for p in KafkaSink.check_settings(settings_for(KafkaSink, **raw)) if p.severity == "error"] == []
    bad = {**raw, "kafka.producer.ssl.key.password": "wrong-pass-9"}
    problems = KafkaSink.check_settings(settings_for(KafkaSink, **bad))
    assert [p.key for p in problems if p.severity == "error"] == ["kafka.producer.ssl.key.password"]
    assert "wrong-pass-9" not in repr(problems)
    # start refuses the same, naming the key; nothing is left on disk
    caplog.set_level(logging.DEBUG)
    sink = make(KafkaSink, "k1", **bad)
    with pytest.raises(ConfigError, match=r"sink 'k1': kafka\.producer\.ssl\.key\.password: the private key 'client'"):
        sink.start()
    assert sink._tls.directories == []
    assert "wrong-pass-9" not in caplog.text


def test_the_user_guides_example_paths_validate_with_a_warning() -> None:
    # Flume's User Guide writes /path/to/truststore.jks: a file that is not on this host may
    # be on the one that runs the agent (a warning, as for a missing spoolDir); start refuses
    raw = {
        "kafka.bootstrap.servers": "kafka-1:9093",
        "kafka.producer.security.protocol": "SSL",
        "kafka.producer.ssl.endpoint.identification.algorithm": "HTTPS",
        "kafka.producer.ssl.truststore.location": "/path/to/truststore.jks",
        "kafka.producer.ssl.truststore.password": "<password to access the truststore>",
        "kafka.producer.ssl.keystore.location": "/path/to/client.keystore.jks",
        "kafka.producer.ssl.keystore.password": "<password to access the keystore>",
        "kafka.producer.ssl.key.password": "<password to access the key>",
    }
    problems = KafkaSink.check_settings(settings_for(KafkaSink, **raw))
    assert [p for p in problems if p.severity == "error"] == []
    warned = [p for p in problems if p.key == PREFIX + "ssl.truststore.location"]
    assert warned and "the agent will not start until it can read it" in warned[0].message
    with pytest.raises(ConfigError, match=r"cannot read /path/to/truststore\.jks"):
        make(KafkaSink, "k1", **raw).start()


def test_a_sink_writes_its_pem_files_at_start_and_removes_them_at_stop(java_stores: Any) -> None:
    s = java_stores
    sink = make(
        KafkaSink,
        "k1",
        **{
            "kafka.bootstrap.servers": "127.0.0.1:1",
            "kafka.producer.security.protocol": "SSL",
            "kafka.producer.ssl.truststore.location": str(s.trust_jks),
            "kafka.producer.ssl.truststore.password": s.trust_password,
            "kafka.producer.ssl.keystore.location": str(s.key_p12),
            "kafka.producer.ssl.keystore.password": s.store_password,
        },
    )
    assert sink._tls.directories == []  # building reads and writes nothing
    sink.start()
    (directory,) = sink._tls.directories
    assert sorted(os.listdir(directory)) == ["ca.pem", "certificate.pem", "key.pem"]
    sink.stop()
    assert not Path(directory).exists()


def _tls_server_requiring_client_certs(stores: Any, directory: Path) -> tuple[str, list[str], Any]:
    """A TLS server on 127.0.0.1 (certificate signed by the stores' CA) that requires a
    client certificate signed by that CA; records the subject of each client that
    completed the handshake. Returns (address, subjects, stop)."""
    import datetime
    import ipaddress
    import socket
    import ssl
    import threading

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    ca = pkcs12.load_pkcs12((stores.dir / "ca.p12").read_bytes(), stores.ca_password.encode())
    assert ca.key is not None and ca.cert is not None
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.cert.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (directory / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(directory / "server.pem"))
    context.load_verify_locations(str(stores.ca_pem))
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    subjects: list[str] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    subjects.append(dict(x[0] for x in peer["subject"])["commonName"] if peer else "")
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(5)
        listener.close()

    return f"127.0.0.1:{listener.getsockname()[1]}", subjects, stop


@pytest.mark.parametrize("keystore", ["key_jks", "key_p12"])
def test_the_converted_key_store_is_presented_to_a_server_that_requires_it(java_stores: Any, keystore: str, tmp_path: Path) -> None:
    """A TLS server that demands a client certificate signed by the CA sees the key
    store's certificate (CN=flafka-client) in the handshake of the sink's producer."""
    import time

    s = java_stores
    address, subjects, stop = _tls_server_requiring_client_certs(s, tmp_path)
    raw = {
        "kafka.bootstrap.servers": address,
        "kafka.producer.security.protocol": "SSL",
        "kafka.producer.ssl.truststore.location": str(s.trust_jks),
        "kafka.producer.ssl.truststore.password": s.trust_password,
        "kafka.producer.ssl.keystore.location": str(getattr(s, keystore)),
        "kafka.producer.ssl.keystore.password": s.store_password,
        "kafka.producer.ssl.key.password": s.key_password if keystore == "key_jks" else s.store_password,
    }
    sink = make(KafkaSink, "k1", **raw)
    sink.start()
    try:
        deadline = time.monotonic() + 20
        while not subjects and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sink.stop()
        stop()
    assert subjects and subjects[0] == "flafka-client", subjects


@pytest.mark.parametrize("path", ["/tmp/trust\x00store.jks", "/tmp/trust\udc80store.jks"])
def test_a_store_path_the_os_cannot_take_is_a_message_naming_the_key(path: str) -> None:
    # found by the fuzzing campaign (tests/fuzz, target config): a NUL byte (\u0000 in the
    # properties file) made validate end in "ValueError: embedded null byte"
    with pytest.raises(StoreError) as info:
        convert(Stores(PREFIX, truststore=path, truststore_password="secret-pass-1"))
    assert info.value.key == PREFIX + "ssl.truststore.location" and "cannot read" in str(info.value)
    raw = {
        "kafka.bootstrap.servers": "kafka-1:9093",
        "kafka.producer.security.protocol": "SSL",
        "kafka.producer.ssl.truststore.location": path,
        "kafka.producer.ssl.truststore.password": "secret-pass-1",
    }
    problems = KafkaSink.check_settings(settings_for(KafkaSink, **raw))
    assert [p.key for p in problems if p.severity == "error"] == [PREFIX + "ssl.truststore.location"]
    assert "secret-pass-1" not in repr(problems)
    with pytest.raises(ConfigError, match=r"ssl\.truststore\.location"):
        make(KafkaSink, "k1", **raw).start()
