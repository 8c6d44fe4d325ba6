"""Java key stores (JKS, JCEKS, PKCS12) for servers flafka runs with Python's ``ssl``,
which reads PEM only (the ``http`` source's ``keystore``).

:func:`load_cert_chain` puts a store's private key and certificate chain into an
``ssl.SSLContext``: the format is recognised from the file's content (as Java's key
stores do, whatever ``keystore-type`` says); PKCS12 is read with ``cryptography``, JKS and
JCEKS with ``pyjks`` (extra ``flafka-core[keystores]``); PEM files go straight to
``ssl``. :func:`detect`, :func:`open_pkcs12` and :func:`open_jks` are shared with
flafka-kafka's stores for librdkafka. The converted key and chain exist as files only for the ``load_cert_chain``
call, in a private temporary directory (mode 0700, files 0600), the key encrypted with a
random password; both are removed before the function returns. Done once at start, never
per connection. Passwords never appear in a message.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl  # imported where used: Kafka clients import this module, and need no ssl module

__all__ = [
    "EXTRA",
    "KeystoreError",
    "StoreFormatError",
    "StorePasswordError",
    "detect",
    "load_cert_chain",
    "missing_library",
    "open_jks",
    "open_pkcs12",
]

EXTRA = "pip install 'flafka-core[keystores]'"
TYPES = ("JKS", "JCEKS", "PKCS12", "PEM")


class KeystoreError(ValueError):
    """A key store cannot be used; ``key`` is the setting to fix (``keystore`` or
    ``keystore-password``), ``suggestion`` the fix. Never holds a password."""

    def __init__(self, key: str, message: str, suggestion: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.suggestion = suggestion


def detect(data: bytes) -> str:
    """JKS, JCEKS, PEM or PKCS12, from the content."""
    if data[:4] == b"\xfe\xed\xfe\xed":
        return "JKS"
    if data[:4] == b"\xce\xce\xce\xce":
        return "JCEKS"
    if b"-----BEGIN" in data[:4096]:
        return "PEM"
    return "PKCS12"


def missing_library(kind: str) -> str:
    """'' when the library that reads ``kind`` stores is installed, else its name."""
    kind = kind.upper()
    if kind in ("JKS", "JCEKS"):
        for module in ("jks", "cryptography"):
            if importlib.util.find_spec(module) is None:
                return "pyjks" if module == "jks" else "cryptography"
    if kind == "PKCS12" and importlib.util.find_spec("cryptography") is None:
        return "cryptography"
    return ""


def _need(kind: str, path: str) -> None:
    lib = missing_library(kind)
    if lib:
        raise KeystoreError("keystore-type", f"{path} is a {kind} key store: reading it needs {lib}", EXTRA)


class StorePasswordError(ValueError):
    """No password given opens the store (or its integrity check failed)."""


class StoreFormatError(ValueError):
    """The bytes are not a readable store of the kind tried; ``str()`` names the error class."""


def open_pkcs12(data: bytes, passwords: list[str | None]) -> Any:
    """The PKCS12 store in ``data`` (``cryptography``'s key-and-certificates object),
    opened with the first of ``passwords`` that works. Raises :class:`StorePasswordError`
    or :class:`StoreFormatError`."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    for password in dict.fromkeys(passwords):
        try:
            return pkcs12.load_pkcs12(data, password.encode() if password is not None else None)
        except ValueError:
            continue
        except Exception as exc:
            raise StoreFormatError(type(exc).__name__) from None
    raise StorePasswordError("no password opens the store")


def open_jks(data: bytes, password: str | None) -> Any:
    """The JKS/JCEKS store in ``data`` (``pyjks``'s KeyStore, keys still encrypted).
    Raises ImportError (pyjks missing), :class:`StorePasswordError` or
    :class:`StoreFormatError`."""
    import jks

    try:
        return jks.KeyStore.loads(data, password, try_decrypt_keys=False)
    except jks.util.KeystoreSignatureException:
        raise StorePasswordError("the store's integrity check failed") from None
    except Exception as exc:
        raise StoreFormatError(type(exc).__name__) from None


def _pkcs12(data: bytes, password: str | None, path: str) -> tuple[Any, list[Any]]:
    try:
        p12 = open_pkcs12(data, [password, None])
    except StoreFormatError as exc:
        raise KeystoreError("keystore", f"{path} is not a readable PKCS12 key store ({exc})") from None
    except StorePasswordError:
        raise KeystoreError(
            "keystore-password", f"{path} cannot be opened: the password is wrong or the file is not a PKCS12, JKS or PEM key store"
        ) from None
    if p12.key is None or p12.cert is None:
        raise KeystoreError("keystore", f"{path} holds no private key with its certificate", "give the server's key store")
    return p12.key, [p12.cert.certificate, *(c.certificate for c in p12.additional_certs)]


def _jks(data: bytes, password: str | None, path: str) -> tuple[Any, list[Any]]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    try:
        store = open_jks(data, password)
    except StorePasswordError:
        raise KeystoreError("keystore-password", f"the password of {path} is wrong (the store's integrity check failed)") from None
    except StoreFormatError as exc:
        raise KeystoreError("keystore", f"{path} is not a readable JKS/JCEKS key store ({exc})") from None
    entries = sorted(store.private_keys.items())
    if not entries:
        raise KeystoreError("keystore", f"{path} holds no private key", "give the server's key store, not a trust store")
    alias, entry = entries[0]  # Jetty presents the first key entry too when no alias is set
    try:
        entry.decrypt(password)
    except Exception:
        raise KeystoreError(
            "keystore-password", f"the private key '{alias}' of {path} cannot be decrypted with keystore-password",
            "give the key the store's password (keytool -keypasswd), as Flume's Jetty expects",
        ) from None  # fmt: skip
    key = load_der_private_key(entry.pkey_pkcs8, None)
    chain = [x509.load_der_x509_certificate(der) for kind, der in entry.cert_chain if kind == "X.509"]
    return key, chain


def load_cert_chain(ctx: ssl.SSLContext, path: str, password: str | None, declared: str | None = None) -> str:
    """Load the private key and certificate chain of the store at ``path`` into ``ctx``;
    returns the format read (JKS, JCEKS, PKCS12 or PEM). ``declared`` (``keystore-type``)
    is only a hint: the content decides. Raises :class:`KeystoreError`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, or an unpaired surrogate (UnicodeEncodeError)
        raise KeystoreError(
            "keystore",
            f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
            "check the path and that the agent's user may read it",
        ) from None
    import ssl

    kind = detect(data)
    if kind == "PEM":
        try:
            ctx.load_cert_chain(path, password=password)
        except (OSError, ssl.SSLError) as exc:
            raise KeystoreError(
                "keystore", f"cannot load the PEM key store {path} ({exc})",
                "it must hold the certificate chain and the private key (keystore-password decrypts the key)",
            ) from None  # fmt: skip
        return kind
    _need(kind, path)
    from cryptography.hazmat.primitives import serialization

    key, chain = _jks(data, password, path) if kind in ("JKS", "JCEKS") else _pkcs12(data, password, path)
    secret = secrets.token_urlsafe(32)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(secret.encode()))
    chain_pem = b"".join(c.public_bytes(pem) for c in chain)
    directory = tempfile.mkdtemp(prefix="flafka-keystore-")  # mode 0700
    try:
        files = []
        for name, blob in (("chain.pem", chain_pem), ("key.pem", key_pem)):
            file = os.path.join(directory, name)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            files.append(file)
        try:
            ctx.load_cert_chain(files[0], files[1], password=secret)
        except ssl.SSLError as exc:
            raise KeystoreError("keystore", f"the key and certificate of {path} do not go together ({exc})") from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return kind
