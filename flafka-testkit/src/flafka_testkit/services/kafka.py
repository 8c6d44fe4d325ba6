"""Kafka 4.x in KRaft mode: one combined broker+controller JVM on 127.0.0.1.

Jars: ``org.apache.kafka:kafka_2.13`` + a log4j2 binding (the POM ships none). Format with
``kafka.tools.StorageTool format`` (static ``controller.quorum.voters``, so no
``--standalone``), then run ``kafka.Kafka``. Ready when an AdminClient lists topics.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from flafka_testkit.services.base import LocalService, ServiceError, find_java, free_port, port_open
from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

KAFKA_VERSION = os.environ.get("FLAFKA_KAFKA_VERSION", "4.1.1")
LOG4J2_VERSION = "2.24.3"

CLASSPATH = Classpath(
    "kafka",
    (
        Coordinate("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-api", LOG4J2_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-core", LOG4J2_VERSION),
        Coordinate("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J2_VERSION),
    ),
)

LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
"""

JVM_FLAGS = [
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
]  # fmt: skip


def probe(address: str, timeout: float = 5.0) -> None:
    """List topics through confluent-kafka's AdminClient (raises when Kafka does not answer)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        raise ServiceError("the Kafka readiness check needs confluent-kafka. Fix: pip install 'flafka-testkit[kafka]'.") from None
    host, _, port = address.split(",")[0].rpartition(":")
    if not port_open(host, int(port)):  # spare librdkafka's reconnect loop (and its log spam)
        raise ServiceError(f"nothing listens on {address} yet")
    admin = AdminClient({"bootstrap.servers": address, "socket.timeout.ms": int(timeout * 1000), "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    finally:
        del admin
    if not metadata.brokers:
        raise ServiceError(f"Kafka at {address} reports no brokers yet")


class KafkaService(LocalService):
    """Kafka ``KAFKA_VERSION`` (env ``FLAFKA_KAFKA_VERSION``), heap 512 MiB."""

    name = "kafka"
    start_timeout = 120.0
    hints: ClassVar = (
        ("ClassNotFoundException: kafka.tools.StorageTool", "this Kafka version moved StorageTool; pin 4.1.x."),
        ("Invalid cluster.id", "the data directory is stale; `flafka testkit down kafka` and start again."),
    )

    def prepare(self) -> None:
        try:
            import confluent_kafka  # noqa: F401  (the readiness check needs it: fail before starting a JVM)
        except ImportError:
            raise ServiceError("the Kafka readiness check needs confluent-kafka. Fix: pip install 'flafka-testkit[kafka]'.") from None
        self.java = find_java(17)
        self.lib = resolve_classpath(CLASSPATH)

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("kafka is not started")
        probe(self.address)

    def launch(self, deadline: float) -> None:
        port, controller = free_port(), free_port()
        while controller == port:
            controller = free_port()
        address = f"127.0.0.1:{port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://{address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "num.io.threads": "4",
            "num.network.threads": "2",
        }
        self.state.update(address=address, endpoints={"bootstrap": address}, ports={"broker": port, "controller": controller})
        format_extra = self.configure(props, address)
        config = self.conf_dir / "server.properties"
        config.write_text("".join(f"{k}={_escape(v)}\n" for k, v in props.items()))
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        logging = [f"-Dkafka.logs.dir={self.log_dir}", f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.properties'}"]
        classpath = f"{self.lib}/*"
        cluster_id = "-"
        while cluster_id.startswith("-"):  # StorageTool would read "-t -abc..." as an option (1 start in 64)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.run_tool(
            "format",
            [self.java, "-Xmx256m", "-XX:TieredStopAtLevel=1", *logging, "-cp", classpath,
             "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), *format_extra],
            timeout=deadline - time.monotonic(),
        )  # fmt: skip
        self.spawn("kafka", [self.java, "-Xms512m", "-Xmx512m", *JVM_FLAGS, *logging, "-cp", classpath,
                             "kafka.Kafka", str(config)])  # fmt: skip
        self.wait_ready("Kafka did not become ready", self.probe, deadline)

    def configure(self, props: dict[str, str], address: str) -> list[str]:
        """Hook for flavours (:class:`SecureKafkaService`): change the broker properties in
        place, set ``self.state`` address/endpoints; returns extra ``StorageTool format``
        arguments. The plain broker changes nothing."""
        return []


def _escape(value: str) -> str:
    """A value for a Java ``.properties`` line (backslashes and line breaks escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "")


# -- the SASL_SSL flavour ---------------------------------------------------------------

SECURE_USER = "flafka"
SECURE_MECHANISMS = ("PLAIN", "SCRAM-SHA-512")


def make_tls_material(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[Path, str, str]:
    """A throw-away CA and a broker certificate signed by it, naming ``hosts`` (IPs and DNS
    names) so clients keep hostname verification on. Writes ``ca.pem`` under ``directory``;
    returns (CA file, broker certificate chain PEM, broker private key PEM (PKCS#8, clear))."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise ServiceError("the SASL_SSL Kafka broker needs the cryptography package. Fix: pip install 'flafka-testkit[kafka]'.") from None
    import datetime
    import ipaddress

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"flafka test CA {uuid.uuid4().hex[:8]}")])
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem).decode()
    ca_file = directory / "ca.pem"
    ca_file.write_text(ca_pem)
    chain = cert.public_bytes(pem).decode() + ca_pem
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return ca_file, chain, key_pem


def secure_client_config(address: str, ca_file: str, username: str, password: str, mechanism: str = "PLAIN") -> dict[str, str]:
    """librdkafka settings for the SASL_SSL listener (hostname verification stays on)."""
    return {
        "bootstrap.servers": address,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": username,
        "sasl.password": password,
        "ssl.ca.location": ca_file,
    }


def probe_secure(address: str, ca_file: str, username: str, password: str, timeout: float = 5.0) -> None:
    """An authenticated (SASL/PLAIN over TLS) AdminClient lists topics; raises when it cannot."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    host, _, port = address.rpartition(":")
    if not port_open(host, int(port)):
        raise ServiceError(f"nothing listens on {address} yet")
    errors: list[str] = []

    def on_error(err: KafkaError) -> None:
        errors.append(err.str())

    conf: dict[str, Any] = {
        **secure_client_config(address, ca_file, username, password),
        "socket.timeout.ms": int(timeout * 1000),
        "log_level": 0,
        "error_cb": on_error,
    }
    admin = AdminClient(conf)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception as exc:
        raise ServiceError(f"SASL_SSL listener {address}: {exc} {'; '.join(errors[-2:])}".strip()) from None
    finally:
        del admin
    if not metadata.brokers:
        raise ServiceError(f"Kafka at {address} (SASL_SSL) reports no brokers yet")


class SecureKafkaService(KafkaService):
    """The same broker with an extra ``SASL_SSL`` listener on 127.0.0.1 (service
    ``kafka-secure``, its own run directory, so it never disturbs the plain ``kafka``).

    * TLS: a throw-away CA and broker certificate (SAN ``127.0.0.1``, ``localhost``) made at
      every start; Kafka reads them as PEM (``ssl.keystore.type=PEM``). Clients trust
      :attr:`ca_file` and keep hostname verification on.
    * SASL: ``PLAIN`` (JAAS ``user_<name>``) and ``SCRAM-SHA-512`` (created by
      ``StorageTool format --add-scram``) for :attr:`username` / :attr:`password` (a new
      random password per start).
    * Inter-broker traffic on the ``PLAINTEXT`` listener (``endpoints['plaintext']``, handy
      for test set-up), the controller listener as in the plain broker.
    * Ready when a SASL/PLAIN-over-TLS AdminClient lists topics.

    ``address`` is the SASL_SSL bootstrap address; ``endpoints`` holds ``bootstrap``,
    ``plaintext``, ``ca_file``, ``username``, ``password`` and ``mechanisms``.
    """

    name = "kafka-secure"

    def configure(self, props: dict[str, str], address: str) -> list[str]:
        import secrets

        secure = free_port()
        taken = set(self.state["ports"].values())
        while secure in taken:
            secure = free_port()
        secure_address = f"127.0.0.1:{secure}"
        password = "pw-" + secrets.token_hex(12)
        ca_file, chain, key = make_tls_material(self.conf_dir)
        props["listeners"] += f",SASL_SSL://{secure_address}"
        props["advertised.listeners"] += f",SASL_SSL://{secure_address}"
        props["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
        listener = "listener.name.sasl_ssl."
        props.update(
            {
                listener + "ssl.keystore.type": "PEM",
                listener + "ssl.keystore.certificate.chain": chain,
                listener + "ssl.keystore.key": key,
                listener + "ssl.client.auth": "none",
                listener + "sasl.enabled.mechanisms": ",".join(SECURE_MECHANISMS),
                listener + "plain.sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_{SECURE_USER}="{password}";',
                listener + "scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            }
        )
        self.state["address"] = secure_address
        self.state["ports"]["sasl_ssl"] = secure
        self.state["endpoints"] = {
            "bootstrap": secure_address,
            "plaintext": address,
            "ca_file": str(ca_file),
            "username": SECURE_USER,
            "password": password,
            "mechanisms": ",".join(SECURE_MECHANISMS),
        }
        return ["--add-scram", f"SCRAM-SHA-512=[name={SECURE_USER},password={password}]"]

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the broker's certificate (``ssl.ca.location``)."""
        return self.endpoints.get("ca_file", "")

    @property
    def username(self) -> str:
        return self.endpoints.get("username", "")

    @property
    def password(self) -> str:
        return self.endpoints.get("password", "")

    @property
    def plaintext_address(self) -> str:
        """The same broker's PLAINTEXT listener (no authentication; for test set-up)."""
        return self.endpoints.get("plaintext", "")

    def client_config(self, mechanism: str = "PLAIN") -> dict[str, str]:
        """librdkafka settings that reach the SASL_SSL listener."""
        return secure_client_config(self.address or "", self.ca_file, self.username, self.password, mechanism)

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("kafka-secure is not started")
        probe_secure(self.address, self.ca_file, self.username, self.password)
