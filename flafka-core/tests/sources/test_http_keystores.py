"""The http source serves HTTPS from Java key stores made by ``keytool`` (JKS and PKCS12,
Flume 1.11's ``keystore``/``keystore-password``/``keystore-type`` and the 1.6 spellings),
checked with a real HTTPS client; wrong passwords, a missing library and unknown types
give messages naming the key and the fix, never the password."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from flafka import keystores
from flafka.sources.http import HttpSource
from flafka.testing import make

from .conftest import drain, wire

KEYTOOL = shutil.which("keytool")
pytestmark = pytest.mark.skipif(KEYTOOL is None, reason="keytool (a JDK) is not installed")
PASSWORD = "s3cret-Store"


def keystore(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A key store of ``kind`` with a self-signed localhost key, and its certificate (PEM)."""
    assert KEYTOOL is not None
    store = tmp_path / f"server.{kind.lower()}"
    subprocess.run(
        [KEYTOOL, "-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=localhost",
         "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2", "-keystore", str(store), "-storetype", kind,
         "-storepass", PASSWORD, "-keypass", PASSWORD],
        check=True, capture_output=True,
    )  # fmt: skip
    cert = tmp_path / "server.crt"
    subprocess.run(
        [KEYTOOL, "-exportcert", "-rfc", "-alias", "server", "-keystore", str(store), "-storepass", PASSWORD, "-file", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return store, cert


def https_post(port: int, cafile: Path, body: bytes) -> int:
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("JKS", {"ssl": "true", "keystore-password": PASSWORD, "keystore-type": "JKS"}),
        ("PKCS12", {"ssl": "true", "keystore-password": PASSWORD, "keystore-type": "PKCS12"}),
        ("JKS", {"enableSSL": "true", "keystorePassword": PASSWORD}),  # Flume 1.6 spellings, type left to JKS
        ("PKCS12", {"ssl": "true", "keystore-password": PASSWORD}),  # declared JKS by default: the content decides, as in Java
    ],
)
def test_https_from_a_keytool_store(tmp_path: Path, kind: str, keys: dict[str, str]) -> None:
    store, cert = keystore(tmp_path, kind)
    src = make(HttpSource, "h1", bind="127.0.0.1", port=0, keystore=str(store), **keys)
    ch = wire(src)
    src.start()
    try:
        for i in range(3):  # several connections: the context was built once at start
            assert https_post(src.address[1], cert, f'[{{"body": "over tls {i}"}}]'.encode()) == 200
        assert [e.body for e in drain(ch)] == [b"over tls 0", b"over tls 1", b"over tls 2"]
        with pytest.raises(ssl.SSLError):  # a client that does not trust the key is refused
            https_post(src.address[1], Path(ssl.get_default_verify_paths().cafile or cert.with_name("none")), b"[]")
    finally:
        src.stop()
    assert not list(Path(tempfile_dir()).glob("flafka-keystore-*"))  # nothing of the key left on disk


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


@pytest.mark.parametrize("kind", ["JKS", "PKCS12"])
def test_a_wrong_password_names_the_key_not_the_password(tmp_path: Path, kind: str) -> None:
    store, _ = keystore(tmp_path, kind)
    src = make(HttpSource, "h1", bind="127.0.0.1", port=0, ssl="true", keystore=str(store), **{"keystore-password": "wrong-pw-123"})
    wire(src)
    with pytest.raises(OSError, match=r"source 'h1': keystore-password: .*password") as info:
        src.start()
    assert "wrong-pw-123" not in str(info.value)
    src.stop()


def test_a_missing_library_is_named_with_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = keystore(tmp_path, "JKS")
    real = keystores.importlib.util.find_spec
    monkeypatch.setattr(keystores.importlib.util, "find_spec", lambda name, *a: None if name == "jks" else real(name, *a))
    monkeypatch.setitem(sys.modules, "jks", None)
    settings_, _ = HttpSource.settings_schema.parse({"port": "1", "ssl": "true", "keystore": str(store), "keystore-type": "JKS"})
    (problem,) = HttpSource.check_settings(settings_)
    assert problem.key == "keystore-type" and "needs pyjks" in problem.message and "flafka-core[keystores]" in problem.suggestion
    src = make(HttpSource, "h1", bind="127.0.0.1", port=0, ssl="true", keystore=str(store), **{"keystore-password": PASSWORD})
    wire(src)
    with pytest.raises(OSError, match=r"is a JKS key store: reading it needs pyjks; pip install 'flafka-core\[keystores\]'"):
        src.start()
    src.stop()


def test_unknown_type_and_missing_keystore_are_config_problems() -> None:
    settings_, _ = HttpSource.settings_schema.parse({"port": "1", "ssl": "true", "keystore-type": "BKS"})
    problems = {p.key: p for p in HttpSource.check_settings(settings_)}
    assert "unknown keystore-type 'BKS'" in problems["keystore-type"].message
    settings_, _ = HttpSource.settings_schema.parse({"port": "1", "ssl": "true"})
    (problem,) = HttpSource.check_settings(settings_)
    assert problem.key == "keystore" and "ssl = true needs a keystore" in problem.message


@pytest.mark.parametrize("path", ["/tmp/key\x00store.p12", "/tmp/key\udc80store.p12"])
def test_a_keystore_path_the_os_cannot_take_names_the_key(path: str) -> None:
    # a NUL byte (\u0000 in the properties file) ended in "ValueError: embedded null byte"
    with pytest.raises(keystores.KeystoreError) as info:
        keystores.load_cert_chain(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), path, "secret-pass-2")
    assert info.value.key == "keystore" and "cannot read" in str(info.value) and "secret-pass-2" not in str(info.value)
