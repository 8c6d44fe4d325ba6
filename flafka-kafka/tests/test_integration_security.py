"""Security pass-through against a real SASL_SSL listener (the test kit's
``kafka_secure_service``: TLS with a throw-away CA, SASL/PLAIN and SCRAM-SHA-512).

Every component is configured only through Flume-style keys, loaded by the real config
loader: ``kafka.producer.*`` / ``kafka.consumer.*`` with the Java spelling
(``sasl.jaas.config`` with PlainLoginModule / ScramLoginModule) and librdkafka's
(``sasl.username`` / ``sasl.password``). The CA is given as ``ssl.ca.location`` (the
spelling docs/kafka.md documents) or as Java trust and key stores (JKS, PKCS12) made by
keytool, which flafka converts to PEM files for the run. Hostname
verification stays on. Secrets never appear in logs, ``flafka validate`` or the agent's
output, at DEBUG level. The last test checks the authentication/TLS hint of
``client_config.error_logger`` without a broker (not marked integration).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka.agent import Agent
from flafka_kafka.client_config import error_logger
from flafka_testkit.agent import start_agent_from_text

integration = pytest.mark.integration

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def secure(kafka_secure_service: Any) -> Any:
    assert kafka_secure_service.address and kafka_secure_service.password, kafka_secure_service.endpoints
    return kafka_secure_service


@pytest.fixture
def agents() -> Iterator[Callable[[str, Path], Agent]]:
    """``start(config_text, workdir)`` -> a started agent ``a1``, stopped at teardown."""
    started: list[Agent] = []

    def start(text: str, workdir: Path) -> Agent:
        agent = start_agent_from_text(text, "a1", workdir)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop(10)


def _jaas(module: str, user: str, password: str) -> str:
    return f'{module} required username="{user}" password="{password}";'


def _security(prefix: str, secure: Any, *, mechanism: str = "PLAIN", password: str | None = None, java: bool = True) -> str:
    """Flume-style config lines for one client (``prefix`` ends with ``kafka.producer`` or
    ``kafka.consumer``): SASL_SSL, the CA as ssl.ca.location, credentials in the Java
    (``sasl.jaas.config``) or librdkafka (``sasl.username``/``sasl.password``) spelling."""
    password = secure.password if password is None else password
    lines = [
        f"{prefix}.security.protocol = SASL_SSL",
        f"{prefix}.sasl.mechanism = {mechanism}",
        f"{prefix}.ssl.ca.location = {secure.ca_file}",
    ]
    if java:
        module = PLAIN if mechanism == "PLAIN" else SCRAM
        lines.append(f"{prefix}.sasl.jaas.config = {_jaas(module, secure.username, password)}")
    else:
        lines += [f"{prefix}.sasl.username = {secure.username}", f"{prefix}.sasl.password = {password}"]
    return "\n".join(lines) + "\n"


def _new_topic(secure: Any, partitions: int = 1) -> str:
    """A fresh topic, created through the SASL_SSL listener."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(secure.client_config())
    name = f"sec-{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = admin.list_topics(name, timeout=5).topics.get(name)
        if t is not None and t.error is None and all(p.leader >= 0 for p in t.partitions.values()):
            return name
        time.sleep(0.1)
    raise AssertionError(f"topic {name} did not become ready")


def _produce(secure: Any, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({**secure.client_config("SCRAM-SHA-512"), "linger.ms": 5})
    for v in values:
        producer.produce(topic, v)
    assert producer.flush(30) == 0


def _read(secure: Any, topic: str, n: int, timeout: float = 30.0) -> list[bytes]:
    """The values of the first ``n`` records of ``topic`` (partition 0), read over SASL_SSL."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**secure.client_config(), "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            out += [m.value() for m in consumer.consume(n - len(out), 0.5) if m.error() is None]
        return out
    finally:
        consumer.close()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.2)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, formatted as a handler would print it (message and args,
    exception text included)."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records)


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, "a password appears in the output"


# -- events through the secure listener ---------------------------------------------------------


@integration
def test_agent_java_spelling_source_channel_sink_over_sasl_ssl(
    secure: Any, agents: Callable[[str, Path], Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """sasl.jaas.config (PLAIN for source and sink, SCRAM-SHA-512 for the channel's producer
    and consumer): Kafka source -> Kafka channel -> Kafka sink, all through SASL_SSL."""
    caplog.set_level(logging.DEBUG)
    src, chan, dst = _new_topic(secure), _new_topic(secure), _new_topic(secure)
    values = [b"e%03d" % i for i in range(200)]
    _produce(secure, src, values)
    r, c, k = "a1.sources.r1.kafka.consumer", "a1.channels.c1.kafka", "a1.sinks.k1.kafka.producer"
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {secure.address}
a1.sources.r1.kafka.topics = {src}
a1.sources.r1.kafka.consumer.group.id = g-{src}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 50
a1.sources.r1.channels = c1
{_security(r, secure)}
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {secure.address}
a1.channels.c1.kafka.topic = {chan}
a1.channels.c1.kafka.consumer.group.id = g-{chan}
{_security(c + ".producer", secure, mechanism="SCRAM-SHA-512")}
{_security(c + ".consumer", secure, mechanism="SCRAM-SHA-512")}
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {secure.address}
a1.sinks.k1.kafka.topic = {dst}
a1.sinks.k1.kafka.producer.acks = all
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.channel = c1
# librdkafka's own SASL debug output, through Python logging at DEBUG
a1.sinks.k1.kafka.producer.debug = security
{_security(k, secure)}
"""
    agent = agents(config, tmp_path)
    got = _read(secure, dst, len(values))
    assert sorted(got) == values
    assert any(r.levelno == logging.DEBUG and "SASL" in r.getMessage() for r in caplog.records), "no librdkafka debug output captured"
    assert agent.stop(10)
    _assert_no_secret(_logged(caplog), secure.password)


@integration
def test_agent_librdkafka_spelling_over_sasl_ssl(
    secure: Any, agents: Callable[[str, Path], Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """sasl.username / sasl.password (librdkafka's names, passed through): Kafka source
    (SCRAM-SHA-512) -> memory channel -> Kafka sink (PLAIN)."""
    caplog.set_level(logging.DEBUG)
    src, dst = _new_topic(secure), _new_topic(secure)
    values = [b"l%03d" % i for i in range(100)]
    _produce(secure, src, values)
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = kafka
a1.sources.r1.kafka.bootstrap.servers = {secure.address}
a1.sources.r1.kafka.topics = {src}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.kafka.consumer.group.id = g-{src}
a1.sources.r1.batchSize = 100
a1.sources.r1.channels = c1
{_security("a1.sources.r1.kafka.consumer", secure, mechanism="SCRAM-SHA-512", java=False)}
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.sinks.k1.type = kafka
a1.sinks.k1.kafka.bootstrap.servers = {secure.address}
a1.sinks.k1.kafka.topic = {dst}
a1.sinks.k1.kafka.producer.acks = all
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.channel = c1
{_security("a1.sinks.k1.kafka.producer", secure, java=False)}
"""
    agent = agents(config, tmp_path)
    assert sorted(_read(secure, dst, len(values))) == values
    assert agent.stop(10)
    _assert_no_secret(_logged(caplog), secure.password)


@pytest.fixture(scope="module")
def broker_stores(kafka_secure_service: Any, java_stores_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Java stores made by keytool whose trust stores hold the SASL_SSL broker's CA."""
    return java_stores_factory(tmp_path_factory.mktemp("broker-stores"), ca_pem=kafka_secure_service.ca_file)


def _java_tls(prefix: str, truststore: Path, trust_type: str, stores: Any, keystore: Path | None = None) -> str:
    """``ssl.truststore.*`` (and ``ssl.keystore.*``, ``ssl.key.password``) lines as a Java
    shop writes them; no ``ssl.ca.location``."""
    lines = [
        f"{prefix}.ssl.truststore.location = {truststore}",
        f"{prefix}.ssl.truststore.type = {trust_type}",
        f"{prefix}.ssl.truststore.password = {stores.trust_password}",
    ]
    if keystore is not None:
        lines += [
            f"{prefix}.ssl.keystore.location = {keystore}",
            f"{prefix}.ssl.keystore.password = {stores.store_password}",
            f"{prefix}.ssl.key.password = {stores.key_password}",
        ]
    return "\n".join(lines) + "\n"


@integration
def test_agent_with_java_key_and_trust_stores_over_sasl_ssl(
    secure: Any, broker_stores: Any, agents: Callable[[str, Path], Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's CA in JKS and PKCS12 trust stores, a client key in JKS and PKCS12 key
    stores (the broker asks for no client certificate: librdkafka still loads and checks
    the converted key and chain): Kafka source -> Kafka channel -> Kafka sink over
    SASL_SSL with hostname verification. The PEM files exist only while the agent runs,
    private to its user; no password is logged."""
    import glob
    import stat
    import tempfile

    caplog.set_level(logging.DEBUG)
    s = broker_stores
    src, chan, dst = _new_topic(secure), _new_topic(secure), _new_topic(secure)
    values = [b"j%03d" % i for i in range(100)]
    _produce(secure, src, values)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "flafka-tls-*")))

    def sasl(prefix: str) -> str:
        return "\n".join(
            [
                f"{prefix}.security.protocol = SASL_SSL",
                f"{prefix}.sasl.mechanism = PLAIN",
                f"{prefix}.sasl.jaas.config = {_jaas(PLAIN, secure.username, secure.password)}",
            ]
        )

    r, c, k = "a1.sources.r1.kafka.consumer", "a1.channels.c1.kafka", "a1.sinks.k1.kafka.producer"
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.kafka.bootstrap.servers = {secure.address}
a1.sources.r1.kafka.topics = {src}
a1.sources.r1.kafka.consumer.group.id = g-{src}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 50
a1.sources.r1.channels = c1
{sasl(r)}
{_java_tls(r, s.trust_jks, "JKS", s, s.key_jks)}
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {secure.address}
a1.channels.c1.kafka.topic = {chan}
a1.channels.c1.kafka.consumer.group.id = g-{chan}
{sasl(c + ".producer")}
{_java_tls(c + ".producer", s.trust_p12, "PKCS12", s)}
{sasl(c + ".consumer")}
{_java_tls(c + ".consumer", s.trust_jks, "JKS", s)}
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {secure.address}
a1.sinks.k1.kafka.topic = {dst}
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.channel = c1
{sasl(k)}
{_java_tls(k, s.trust_p12, "PKCS12", s, s.key_p12)}
"""
    config = config.replace(f"{k}.ssl.key.password = {s.key_password}\n", "")  # a PKCS12 key opens with the store password
    agent = agents(config, tmp_path)
    got = _read(secure, dst, len(values), timeout=60)
    assert sorted(got) == values
    dirs = set(glob.glob(os.path.join(tempfile.gettempdir(), "flafka-tls-*"))) - before
    assert len(dirs) == 4, dirs  # source, sink, channel producer and consumer
    for d in dirs:
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        for f in os.listdir(d):
            assert stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode) == 0o600
    assert agent.stop(10)
    assert not any(os.path.exists(d) for d in dirs), "PEM files left after stop"
    _assert_no_secret(_logged(caplog), secure.password, s.trust_password, s.store_password, s.key_password)


@integration
def test_a_trust_store_without_the_brokers_ca_fails_the_handshake_and_names_the_key(
    secure: Any, java_stores: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A trust store that does not hold the broker's CA is really used: the TLS handshake
    fails and the error names the keys to fix."""
    from flafka.testing import make
    from flafka_kafka.sink import KafkaSink

    raw = {
        "kafka.bootstrap.servers": secure.address,
        "kafka.topic": "never-written",
        "kafka.producer.security.protocol": "SASL_SSL",
        "kafka.producer.sasl.mechanism": "PLAIN",
        "kafka.producer.sasl.jaas.config": _jaas(PLAIN, secure.username, secure.password),
        "kafka.producer.ssl.truststore.location": str(java_stores.trust_jks),  # another CA
        "kafka.producer.ssl.truststore.password": java_stores.trust_password,
        "kafka.producer.message.timeout.ms": "3000",
    }
    sink = make(KafkaSink, "k1", **raw)
    sink.start()
    try:
        from flafka.event import Event

        outcome: Any = None
        try:
            outcome = sink.write([Event(b"x")])
        except Exception as exc:
            outcome = exc
        assert outcome is not None  # not delivered
    finally:
        sink.stop()
    text = _logged(caplog)
    assert "TLS handshake failed" in text or "SSL handshake failed" in text
    _assert_no_secret(text, secure.password, java_stores.trust_password)


# -- a wrong password ---------------------------------------------------------------------------


@integration
def test_sink_wrong_password_names_the_authentication_failure_and_the_key(
    secure: Any, agents: Callable[[str, Path], Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + uuid.uuid4().hex
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = 5
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = kafka
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {secure.address}
a1.sinks.k1.kafka.topic = {_new_topic(secure)}
a1.sinks.k1.kafka.producer.message.timeout.ms = 3000
{_security("a1.sinks.k1.kafka.producer", secure, password=wrong)}
"""
    agent = agents(config, tmp_path)
    key = "kafka.producer.sasl.jaas.config"
    _wait(lambda: any(key in r.getMessage() for r in caplog.records), 30, f"a log line naming {key}")
    line = next(r.getMessage() for r in caplog.records if key in r.getMessage())
    assert "Authentication failed" in line or "authentication" in line.lower(), line
    assert "k1" in line, line
    counters = {c.name: c.snapshot() for c in agent.counters()}
    assert counters["k1"]["EventDrainSuccessCount"] == 0
    agent.stop(5)
    _assert_no_secret(_logged(caplog), wrong, secure.password)


@integration
def test_source_wrong_password_names_the_authentication_failure_and_the_key(
    secure: Any, agents: Callable[[str, Path], Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + uuid.uuid4().hex
    topic = _new_topic(secure)
    _produce(secure, topic, [b"x"])
    config = f"""
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = kafka
a1.sources.r1.channels = c1
a1.sources.r1.kafka.bootstrap.servers = {secure.address}
a1.sources.r1.kafka.topics = {topic}
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 100
{_security("a1.sources.r1.kafka.consumer", secure, mechanism="SCRAM-SHA-512", password=wrong)}
a1.channels.c1.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
"""
    agent = agents(config, tmp_path)
    key = "kafka.consumer.sasl.jaas.config"
    _wait(lambda: any(key in r.getMessage() for r in caplog.records), 30, f"a log line naming {key}")
    line = next(r.getMessage() for r in caplog.records if key in r.getMessage())
    assert "authentication" in line.lower() and "r1" in line, line
    counters = {c.name: c.snapshot() for c in agent.counters()}
    assert counters["r1"]["EventAcceptedCount"] == 0
    agent.stop(5)
    _assert_no_secret(_logged(caplog), wrong, secure.password)


# -- the command line: validate and agent at DEBUG ----------------------------------------------


def _cli(*args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flafka", *args], capture_output=True, text=True, cwd=str(cwd), timeout=timeout, env={**os.environ}
    )


def _cli_config(secure: Any, topic: str, group: str, total: int) -> str:
    """seq -> memory -> Kafka sink (Java spelling, PLAIN) into ``topic``; Kafka source
    (librdkafka spelling, SCRAM) reads it back -> memory -> null. librdkafka's own debug
    output for security and configuration is switched on."""
    return f"""
a1.sources = gen back
a1.channels = c1 c2
a1.sinks = out drop
a1.sources.gen.type = seq
a1.sources.gen.totalEvents = {total}
a1.sources.gen.channels = c1
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.sinks.out.type = kafka
a1.sinks.out.channel = c1
a1.sinks.out.kafka.bootstrap.servers = {secure.address}
a1.sinks.out.kafka.topic = {topic}
a1.sinks.out.kafka.producer.acks = all
a1.sinks.out.kafka.producer.debug = security,conf,broker
{_security("a1.sinks.out.kafka.producer", secure)}
a1.sources.back.type = kafka
a1.sources.back.channels = c2
a1.sources.back.kafka.bootstrap.servers = {secure.address}
a1.sources.back.kafka.topics = {topic}
a1.sources.back.kafka.consumer.group.id = {group}
a1.sources.back.kafka.consumer.auto.offset.reset = earliest
a1.sources.back.batchSize = 100
a1.sources.back.kafka.consumer.debug = security,conf
{_security("a1.sources.back.kafka.consumer", secure, mechanism="SCRAM-SHA-512", java=False)}
a1.sinks.drop.type = null
a1.sinks.drop.channel = c2
"""


@integration
def test_validate_never_prints_the_password(secure: Any, tmp_path: Path) -> None:
    conf = tmp_path / "agent.conf"
    conf.write_text(_cli_config(secure, "t-validate", "g-validate", 10))
    done = _cli("validate", "-f", str(conf), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    _assert_no_secret(done.stdout + done.stderr, secure.password)
    # an invalid configuration reports its problems; the password is still not quoted
    not_a_store = tmp_path / "truststore.p12"
    not_a_store.write_bytes(b"0" * 64)
    conf.write_text(
        conf.read_text()
        + f"a1.sinks.out.kafka.producer.ssl.truststore.location = {not_a_store}\n"
        + f"a1.sinks.out.kafka.producer.ssl.truststore.password = {secure.password}\n"
    )
    bad = _cli("validate", "-f", str(conf), cwd=tmp_path)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "error: a1.sinks.out.kafka.producer.ssl.truststore.password: sink 'out': trust store" in bad.stdout + bad.stderr
    _assert_no_secret(bad.stdout + bad.stderr, secure.password)


@integration
def test_agent_at_debug_never_logs_the_password(secure: Any, tmp_path: Path) -> None:
    """``python -m flafka agent -Dflume.root.logger=DEBUG,console,LOGFILE`` with librdkafka
    debug contexts on: events go through SASL_SSL both ways; neither stdout, stderr nor
    the log file holds the password."""
    topic, group, total = _new_topic(secure), f"g-{uuid.uuid4().hex[:8]}", 50
    conf = tmp_path / "agent.conf"
    conf.write_text(_cli_config(secure, topic, group, total))
    logs = tmp_path / "logs"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flafka", "agent", "-n", "a1", "-f", str(conf), "--no-reload-conf",
             "-Dflume.root.logger=DEBUG,console,LOGFILE", f"-Dflume.log.dir={logs}"],
            stdout=stdout, stderr=stderr, cwd=str(tmp_path), start_new_session=True,
        )  # fmt: skip
        try:
            assert sorted(_read(secure, topic, total, timeout=60)) == sorted(str(i).encode() for i in range(total))
            # the source reads them back and commits its offsets (SCRAM over TLS)
            _wait(lambda: _committed(secure, group, topic) >= total, 30, "the agent's Kafka source to commit")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    text = out.read_text() + err.read_text()
    log_file = logs / "flume.log"
    assert log_file.exists(), text[-2000:]
    log_text = log_file.read_text()
    assert " DEBUG " in log_text and "SASL" in log_text, "DEBUG / librdkafka debug output was not logged"
    _assert_no_secret(text, secure.password)
    _assert_no_secret(log_text, secure.password)


def _committed(secure: Any, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**secure.client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        return int(c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset)
    finally:
        c.close()


# -- the error hint (no broker needed) ----------------------------------------------------------


class _Err:
    def __init__(self, name: str, text: str) -> None:
        self._name, self._text = name, text

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text

    def fatal(self) -> bool:
        return False


def test_client_errors_name_the_keys_to_fix_once_per_minute(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flafka_kafka.librdkafka")
    on_error = error_logger("k1", "kafka.producer.")
    auth = "b:9093/bootstrap: SASL authentication error: Authentication failed: Invalid username or password (after {}ms in state AUTH_REQ)"
    on_error(_Err("_AUTHENTICATION", auth.format(301)))
    on_error(_Err("_AUTHENTICATION", auth.format(304)))  # the same failure again: not logged again
    on_error(_Err("_SSL", "b:9093/bootstrap: SSL handshake failed: certificate verify failed (after 4ms in state SSL_HANDSHAKE)"))
    on_error(_Err("_TRANSPORT", "b:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: Connection refused"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "k1: kafka client:" in lines[0] and "kafka.producer.sasl.jaas.config" in lines[0] and "kafka.producer.sasl.password" in lines[0]
    assert "kafka.producer.ssl.ca.location" in lines[1]
    assert "Fix:" not in lines[2]
