"""TLS contexts from Flume's keystore / truststore keys.

Key and trust stores may be PEM (certificates and, for a keystore, the private key in one
file), PKCS12 (read with ``cryptography``) or JKS (read with ``pyjks``, the optional
``flafka-avro[jks]`` extra). Java protocol names (``TLSv1.2``) select the versions;
``SSLv3`` is always excluded, as in Flume. As Flume does, the client verifies the
server's certificate chain (unless ``trust-all-certs``) but not its host name, and the
server asks for no client certificate. Passwords are never logged.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterable

_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
STORE_TYPES = ("JKS", "PKCS12", "PEM")


class TlsConfigError(Exception):
    """A key or trust store that cannot be used; ``str`` names the file and the fix."""


def _store_type(path: str, declared: str) -> str:
    kind = declared.upper()
    if kind == "JKS" and path.lower().endswith((".pem", ".crt")):
        return "PEM"  # Flume's default type with an obviously PEM file: read it as PEM
    return kind


def _set_versions(ctx: ssl.SSLContext, include: Iterable[str], exclude: Iterable[str]) -> None:
    inc = [p for p in include if p]
    exc = set(exclude) | {"SSLv3", "SSLv2Hello"}
    # as Java 11+, TLSv1 and TLSv1.1 only when include-protocols names them
    allowed = [v for name, v in _VERSIONS.items() if (name in inc if inc else v >= ssl.TLSVersion.TLSv1_2) and name not in exc]
    if not allowed:
        raise TlsConfigError(f"include-protocols/exclude-protocols leave no TLS version to use (known: {', '.join(_VERSIONS)})")
    ctx.minimum_version = min(allowed)
    ctx.maximum_version = max(allowed)


def _pem_from_pkcs12(path: str, password: str | None) -> tuple[bytes, bytes | None]:
    """(certificates PEM, private key PEM or None)."""
    # cryptography is imported when a store is converted, not when the plugin loads (RSS and
    # start-up of every agent, TLS or not)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = _read(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError as exc:
        raise TlsConfigError(f"cannot read the PKCS12 store '{path}' ({exc}); check its password and type") from None
    certs = ([cert] if cert else []) + list(extra or [])
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    key_pem = (
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        if key is not None
        else None
    )
    return pem, key_pem


def _pem_from_jks(path: str, password: str | None) -> tuple[bytes, bytes | None]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        import jks
    except ImportError:
        raise TlsConfigError(
            f"'{path}' is a JKS store and pyjks is not installed: pip install 'flafka-avro[jks]', or convert it "
            f"with keytool -importkeystore -deststoretype PKCS12 and set the type to PKCS12"
        ) from None
    try:
        store = jks.KeyStore.load(path, password or "")
    except Exception as exc:  # pyjks raises several types
        raise TlsConfigError(f"cannot read the JKS store '{path}' ({type(exc).__name__}); check its password") from None
    certs, key_pem = [], None
    for entry in store.private_keys.values():
        der = entry.pkey_pkcs8
        key_pem = serialization.load_der_private_key(der, None).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        certs += [c[1] for c in entry.cert_chain]
        break
    certs += [e.cert for e in store.certs.values()]
    pem = b"".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in certs)
    return pem, key_pem


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsConfigError(f"cannot read '{path}' ({exc.strerror or exc}); fix the path or its permissions") from None


def _as_pem(path: str, kind: str, password: str | None) -> tuple[bytes, bytes | None]:
    if kind == "PKCS12":
        return _pem_from_pkcs12(path, password)
    if kind == "JKS":
        return _pem_from_jks(path, password)
    return _read(path), None


def server_context(
    keystore: str, password: str | None, store_type: str, include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> ssl.SSLContext:
    """A server context with the keystore's key and certificate chain."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_versions(ctx, include, exclude)
    kind = _store_type(keystore, store_type)
    if kind == "PEM":
        try:
            ctx.load_cert_chain(keystore, password=password or None)
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(
                f"cannot load the PEM keystore '{keystore}' ({exc}); it must hold the certificate chain and the "
                f"private key (keystore-password decrypts an encrypted key)"
            ) from None
        return ctx
    certs, key = _as_pem(keystore, kind, password)
    if key is None:
        raise TlsConfigError(f"the keystore '{keystore}' holds no private key; export the server's key pair into it")
    fd, tmp = tempfile.mkstemp(prefix="flafka-avro-", suffix=".pem")  # 0600, deleted at once
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key + certs)
        ctx.load_cert_chain(tmp)
    finally:
        os.unlink(tmp)
    return ctx


def client_context(
    trust_all: bool,
    truststore: str | None,
    password: str | None,
    store_type: str,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> ssl.SSLContext:
    """A client context: no host name check (as Flume); the chain is verified against the
    truststore (or the system's CAs) unless ``trust_all``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    _set_versions(ctx, include, exclude)
    if trust_all:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not truststore:
        ctx.load_default_certs()
        return ctx
    kind = _store_type(truststore, store_type)
    pem, _ = _as_pem(truststore, kind, password)
    try:
        ctx.load_verify_locations(cadata=pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise TlsConfigError(f"the truststore '{truststore}' holds no usable certificate ({exc})") from None
    return ctx
