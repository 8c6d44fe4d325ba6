"""Java key stores and trust stores for librdkafka, which reads PEM only.

Flume configs name Java stores: ``kafka.<role>.ssl.truststore.location`` /
``ssl.keystore.location`` with ``...type`` (JKS, the Java client's default, JCEKS, PKCS12
or PEM), ``...password`` and ``ssl.key.password``. This module:

* :func:`translate_stores` (pure, no I/O): PEM stores map straight to librdkafka's keys
  (``ssl.ca.location``, ``ssl.certificate.location``/``ssl.key.location``, inline
  ``ssl.*.pem``); JKS/JCEKS/PKCS12 files become a :class:`Stores` under the client
  configuration's :data:`STORES` key, converted later;
* :func:`convert` reads and decrypts them — PKCS12 with ``cryptography``, JKS and JCEKS with
  ``pyjks`` (extra ``flafka-kafka[jks]``), through flafka-core's :mod:`flafka.keystores`
  readers — the file format is recognised from its content, as Java's keystores do,
  whatever ``type`` says;
* :class:`TlsFiles` writes the result for a component's clients as PEM files of mode 0600
  in a private temporary directory (mode 0700), removed by :meth:`TlsFiles.close` (the
  component's stop) or at the latest when the process exits. The private key is written
  encrypted with a random password that only the client configuration holds, so a file
  left behind by a killed process does not give the key away;
* :func:`inline_config` gives the same material as inline PEM settings, for validation
  (``flafka validate`` lets librdkafka check it without writing a file).

Passwords never appear in a message or in ``repr``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import Any

from flafka.errors import ConfigError
from flafka.keystores import StoreFormatError, StorePasswordError, detect, open_jks, open_pkcs12
from flafka.settings import Problem

log = logging.getLogger(__name__)

STORES = "flafka.ssl.stores"
"""Key of a client configuration that holds a :class:`Stores` to convert before the
client is created (librdkafka itself refuses the key: a client built without
:meth:`TlsFiles.resolve` fails loudly)."""

STORE_KEYS = frozenset(
    {
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.truststore.type",
        "ssl.truststore.certificates",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.keystore.type",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
    }
)
"""Java client properties handled here (``ssl.key.password`` too, when a key store is given)."""

JAVA_TYPES = ("JKS", "JCEKS", "PKCS12", "PEM")
JKS_EXTRA = "pip install 'flafka-kafka[jks]'"


@dataclass(frozen=True)
class Stores:
    """Key and trust store files of one client, as the user gave them (``prefix`` is
    ``kafka.producer.`` or ``kafka.consumer.``: messages name the user's keys)."""

    prefix: str
    truststore: str | None = None
    truststore_type: str | None = None
    truststore_password: str | None = field(default=None, repr=False)
    keystore: str | None = None
    keystore_type: str | None = None
    keystore_password: str | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)


class StoreError(ValueError):
    """A store cannot be read. ``key`` is the user's key to fix; the message never holds
    a password."""

    def __init__(self, key: str, message: str, suggestion: str = "", unreadable: bool = False) -> None:
        super().__init__(message)
        self.key = key
        self.suggestion = suggestion
        self.unreadable = unreadable
        """The file could not be read (missing, no permission): it may exist where and
        when the agent runs, so validation only warns."""


@dataclass(frozen=True)
class Pem:
    """What librdkafka needs, as PEM: the CAs to trust, the client certificate chain and
    its private key (encrypted with ``key_password``, random)."""

    ca: bytes | None = None
    certificate: bytes | None = None
    key: bytes | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()


def _upper(value: str | None) -> str | None:
    text = (value or "").strip().upper().replace("#", "")
    return text or None


def translate_stores(props: dict[str, str], prefix: str, out: dict[str, Any], problems: list[Problem]) -> None:
    """Handle the store keys of ``props`` (Java names, prefix stripped): write librdkafka
    keys (and :data:`STORES`) to ``out`` and problems, keyed ``prefix + key``, to
    ``problems``. Pure: no file is read."""

    def problem(key: str, message: str, suggestion: str = "", severity: str = "error") -> None:
        problems.append(Problem(prefix + key, message, suggestion, severity))  # type: ignore[arg-type]

    ttype, ktype = _upper(props.get("ssl.truststore.type")), _upper(props.get("ssl.keystore.type"))
    for key, kind in (("ssl.truststore.type", ttype), ("ssl.keystore.type", ktype)):
        if kind is not None and kind not in JAVA_TYPES:
            problem(
                key,
                f"store type '{props[key].strip()}' cannot be read",
                "use a JKS, JCEKS, PKCS12 or PEM store (keytool -importkeystore -deststoretype PKCS12 converts one)",
            )
    trust = (props.get("ssl.truststore.location") or "").strip() or None
    keystore = (props.get("ssl.keystore.location") or "").strip() or None
    stores = Stores(prefix)

    # trust store
    if ttype == "PEM":
        if trust:
            out["ssl.ca.location"] = trust
        if "ssl.truststore.certificates" in props:
            out["ssl.ca.pem"] = props["ssl.truststore.certificates"]
        if "ssl.truststore.password" in props:
            problem("ssl.truststore.password", "a PEM trust store has no password; it is not used", "remove it", "warning")
    elif "ssl.truststore.certificates" in props:
        problem(
            "ssl.truststore.certificates", "inline certificates need ssl.truststore.type = PEM", f"add {prefix}ssl.truststore.type = PEM"
        )
    elif trust:
        stores = Stores(prefix, trust, ttype, props.get("ssl.truststore.password"))
    else:
        for key in ("ssl.truststore.password", "ssl.truststore.type"):
            if key in props:
                problem(key, f"'{prefix}{key}' is not used without {prefix}ssl.truststore.location", "remove it", "warning")

    # key store
    inline = [k for k in ("ssl.keystore.key", "ssl.keystore.certificate.chain") if k in props]
    if ktype == "PEM":
        if keystore:  # one file with the certificate chain and the private key
            out["ssl.certificate.location"] = keystore
            out["ssl.key.location"] = keystore
        if "ssl.keystore.certificate.chain" in props:
            out["ssl.certificate.pem"] = props["ssl.keystore.certificate.chain"]
        if "ssl.keystore.key" in props:
            out["ssl.key.pem"] = props["ssl.keystore.key"]
        if "ssl.key.password" in props:
            out["ssl.key.password"] = props["ssl.key.password"]
        if "ssl.keystore.password" in props:
            problem("ssl.keystore.password", "a PEM key store has no store password; it is not used", "remove it", "warning")
    elif inline:
        for key in inline:
            problem(key, f"'{prefix}{key}' needs ssl.keystore.type = PEM", f"add {prefix}ssl.keystore.type = PEM")
    elif keystore:
        stores = Stores(
            prefix,
            stores.truststore,
            stores.truststore_type,
            stores.truststore_password,
            keystore,
            ktype,
            props.get("ssl.keystore.password"),
            props.get("ssl.key.password"),
        )
    else:
        for key in ("ssl.keystore.password", "ssl.keystore.type"):
            if key in props:
                problem(key, f"'{prefix}{key}' is not used without {prefix}ssl.keystore.location", "remove it", "warning")
        if "ssl.key.password" in props:
            out["ssl.key.password"] = props["ssl.key.password"]  # librdkafka's own, for ssl.key.location
    if stores.truststore or stores.keystore:
        out[STORES] = stores


# -- reading stores (file I/O) --------------------------------------------------------------------


_format = detect


def _read(path: str, key: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte, or an unpaired surrogate (UnicodeEncodeError)
        raise StoreError(
            key,
            f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
            "check the path and that the agent's user may read it",
            unreadable=True,
        ) from None


def _jks(data: bytes, password: str | None, where: str, key: str) -> Any:
    try:
        return open_jks(data, password)
    except ImportError:
        raise StoreError(key, f"{where} is a Java (JKS/JCEKS) store: reading it needs pyjks", JKS_EXTRA) from None
    except StorePasswordError:
        raise StoreError(
            key.rsplit(".", 1)[0] + ".password", f"the password of {where} is wrong (the store's integrity check failed)"
        ) from None
    except StoreFormatError as exc:
        raise StoreError(key, f"{where} is not a readable JKS/JCEKS store ({exc})") from None


def _pkcs12(data: bytes, passwords: list[str | None], where: str, key: str) -> Any:
    try:
        return open_pkcs12(data, passwords)
    except StoreFormatError as exc:
        raise StoreError(key, f"{where} is not a readable PKCS12 store ({exc})") from None
    except StorePasswordError:
        raise StoreError(
            key.rsplit(".", 1)[0] + ".password",
            f"{where} cannot be opened: the password is wrong or the file is not a PKCS12, JKS or PEM store",
        ) from None


def _trusted(stores: Stores) -> list[Any]:
    """The certificates of the trust store (as Java trusts them: certificate entries and
    the first certificate of each key entry)."""
    from cryptography import x509

    assert stores.truststore is not None
    key = stores.prefix + "ssl.truststore.location"
    where = f"trust store {stores.truststore}"
    data = _read(stores.truststore, key)
    kind = _format(data)
    if kind == "PEM":
        try:
            return list(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise StoreError(key, f"{where} holds no PEM certificate") from None
    if kind == "PKCS12":
        p12 = _pkcs12(data, [stores.truststore_password], where, key)
        certs = [c.certificate for c in p12.additional_certs]
        if p12.cert is not None:
            certs.insert(0, p12.cert.certificate)
    else:
        ks = _jks(data, stores.truststore_password, where, key)
        certs = [x509.load_der_x509_certificate(entry.cert) for entry in ks.certs.values() if entry.type == "X.509"]
        for entry in ks.private_keys.values():
            if entry.cert_chain:
                certs.append(x509.load_der_x509_certificate(entry.cert_chain[0][1]))
    if not certs:
        raise StoreError(key, f"{where} holds no certificate", "import the CA certificate: keytool -importcert -alias ca -file ca.pem ...")
    return certs


def _key_and_chain(stores: Stores) -> tuple[Any, list[Any], list[str]]:
    """(private key, certificate chain, notes) of the key store's key entry."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    assert stores.keystore is not None
    key = stores.prefix + "ssl.keystore.location"
    where = f"key store {stores.keystore}"
    data = _read(stores.keystore, key)
    kind = _format(data)
    notes: list[str] = []
    if kind == "PEM":
        raise StoreError(
            stores.prefix + "ssl.keystore.type",
            f"{where} is a PEM file",
            f"set {stores.prefix}ssl.keystore.type = PEM (the file then holds the certificate chain and the private key)",
        )
    if kind == "PKCS12":
        p12 = _pkcs12(data, [stores.keystore_password, stores.key_password], where, key)
        if p12.key is None or p12.cert is None:
            raise StoreError(
                key, f"{where} holds no private key with its certificate", "it may be a trust store: use ssl.truststore.location"
            )
        return p12.key, [p12.cert.certificate, *(c.certificate for c in p12.additional_certs)], notes
    ks = _jks(data, stores.keystore_password, where, key)
    entries = sorted(ks.private_keys.items())
    if not entries:
        raise StoreError(key, f"{where} holds no private key", "it may be a trust store: use ssl.truststore.location")
    alias, entry = entries[0]
    if len(entries) > 1:
        notes.append(f"{where} holds {len(entries)} private keys ({', '.join(a for a, _ in entries)}); flafka presents '{alias}'")
    for password in dict.fromkeys(p for p in (stores.key_password, stores.keystore_password) if p is not None):
        try:
            entry.decrypt(password)
            break
        except Exception:
            continue
    if not entry.is_decrypted():
        raise StoreError(
            stores.prefix + "ssl.key.password",
            f"the private key '{alias}' of {where} cannot be decrypted: the key password is wrong or missing",
            f"set {stores.prefix}ssl.key.password (the -keypass given to keytool)",
        )
    private = load_der_private_key(entry.pkey_pkcs8, None)
    chain = [x509.load_der_x509_certificate(der) for kind_, der in entry.cert_chain if kind_ == "X.509"]
    return private, chain, notes


def convert(stores: Stores) -> Pem:
    """Read, decrypt and convert ``stores`` to PEM. Raises :class:`StoreError` naming
    the key to fix."""
    from cryptography.hazmat.primitives import serialization

    pem = serialization.Encoding.PEM
    ca = cert = private_pem = None
    password = None
    notes: list[str] = []
    if stores.truststore:
        ca = b"".join(c.public_bytes(pem) for c in _trusted(stores))
    if stores.keystore:
        private, chain, notes = _key_and_chain(stores)
        password = secrets.token_urlsafe(32)
        private_pem = private.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password.encode())
        )
        cert = b"".join(c.public_bytes(pem) for c in chain)
    return Pem(ca, cert, private_pem, password, tuple(notes))


def inline_config(material: Pem) -> dict[str, str]:
    """librdkafka settings that carry ``material`` inline (no file)."""
    conf: dict[str, str] = {}
    if material.ca is not None:
        conf["ssl.ca.pem"] = material.ca.decode()
    if material.certificate is not None and material.key is not None and material.key_password is not None:
        conf["ssl.certificate.pem"] = material.certificate.decode()
        conf["ssl.key.pem"] = material.key.decode()
        conf["ssl.key.password"] = material.key_password
    return conf


def _write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


class TlsFiles:
    """The PEM files of one component's clients. :meth:`resolve` turns a client
    configuration holding :data:`STORES` into one that names PEM files (converted once
    per store set); :meth:`close` removes them (idempotent; also done at process exit)."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._done: dict[Stores, dict[str, str]] = {}
        self._dirs: list[tuple[str, weakref.finalize[Any, Any]]] = []
        self.notes: list[str] = []

    def resolve(self, conf: dict[str, Any]) -> dict[str, Any]:
        """``conf`` without :data:`STORES`, with ``ssl.ca.location``,
        ``ssl.certificate.location``, ``ssl.key.location`` and ``ssl.key.password`` for
        its stores. Raises :class:`StoreError`."""
        stores = conf.get(STORES)
        if stores is None:
            return conf
        out = {k: v for k, v in conf.items() if k != STORES}
        files = self._done.get(stores)
        if files is None:
            files = self._done[stores] = self._materialize(stores)
        out.update(files)
        return out

    def _materialize(self, stores: Stores) -> dict[str, str]:
        material = convert(stores)
        self.notes.extend(material.notes)
        directory = tempfile.mkdtemp(prefix=f"flafka-tls-{self.component}-")  # mode 0700
        self._dirs.append((directory, weakref.finalize(self, shutil.rmtree, directory, True)))
        files: dict[str, str] = {}
        if material.ca is not None:
            files["ssl.ca.location"] = _write(directory, "ca.pem", material.ca)
        if material.certificate is not None and material.key is not None and material.key_password is not None:
            files["ssl.certificate.location"] = _write(directory, "certificate.pem", material.certificate)
            files["ssl.key.location"] = _write(directory, "key.pem", material.key)
            files["ssl.key.password"] = material.key_password
        return files

    @property
    def directories(self) -> list[str]:
        """The private directories written so far (and not removed yet)."""
        return [d for d, _ in self._dirs]

    def close(self) -> None:
        """Remove every file written. Idempotent."""
        dirs, self._dirs = self._dirs, []
        self._done.clear()
        for _directory, finalizer in dirs:
            finalizer()


def resolved(tls: TlsFiles, conf: dict[str, Any], label: str) -> dict[str, Any]:
    """``tls.resolve(conf)``, a :class:`StoreError` raised as a ConfigError that starts
    with ``label`` (``sink 'k1'``) and names the key to fix; notes are logged once."""
    try:
        out = tls.resolve(conf)
    except StoreError as exc:
        fix = f" Fix: {exc.suggestion}." if exc.suggestion else ""
        raise ConfigError(f"{label}: {exc.key}: {exc}.{fix}") from None
    while tls.notes:
        log.warning("%s: %s", label, tls.notes.pop(0))
    return out


def store_problems(conf: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """For validation: ``conf`` with its :data:`STORES` converted to inline PEM settings
    (so that librdkafka checks them too), and the problems converting found: errors, and
    warnings for notes and for a file that cannot be read here (it may exist where the
    agent runs, as the Flume User Guide's ``/path/to/truststore.jks``). Reads the store
    files; writes nothing."""
    stores = conf.get(STORES)
    if stores is None:
        return conf, []
    out = {k: v for k, v in conf.items() if k != STORES}
    try:
        material = convert(stores)
    except StoreError as exc:
        if exc.unreadable:  # like a missing spoolDir: it may exist on the host that runs the agent
            return out, [Problem(exc.key, f"{exc}; the agent will not start until it can read it", exc.suggestion, "warning")]
        return out, [Problem(exc.key, str(exc), exc.suggestion)]
    out.update(inline_config(material))
    location = stores.prefix + "ssl.keystore.location"
    return out, [Problem(location, note, "", "warning") for note in material.notes]


__all__ = [
    "STORES",
    "STORE_KEYS",
    "Pem",
    "StoreError",
    "Stores",
    "TlsFiles",
    "convert",
    "inline_config",
    "resolved",
    "store_problems",
    "translate_stores",
]
