"""Kafka client settings: Flume's ``kafka.producer.*`` / ``kafka.consumer.*`` (Java client
property names) translated to librdkafka's, with every problem reported at once.

Most Java client properties have the same name in librdkafka and pass through untouched
(``security.protocol``, ``sasl.mechanism``, ``linger.ms``, ``compression.type``,
``session.timeout.ms`` ...). This module handles the rest:

* renamed: ``max.request.size`` -> ``message.max.bytes``, ``fetch.max.wait.ms`` ->
  ``fetch.wait.max.ms``, ``buffer.memory`` -> ``queue.buffering.max.kbytes``, ...;
* ``sasl.jaas.config`` is parsed: PLAIN/SCRAM ``username``/``password`` become
  ``sasl.username``/``sasl.password``; Kerberos ``keyTab``/``principal`` become
  ``sasl.kerberos.keytab``/``sasl.kerberos.principal``;
* Java trust and key stores (JKS, JCEKS, PKCS12, PEM): PEM ones map to librdkafka's keys,
  the others are converted to PEM files when the client starts (:mod:`flafka_kafka.keystores`);
* Java-only properties (serializer classes, ``max.block.ms``, ...) are dropped with a warning;
* what flafka owns (``enable.auto.commit``, ``enable.auto.offset.store``, ``group.id``,
  ``bootstrap.servers``) is forced, with a warning when the user tried to set it.

Values of secret keys (:func:`flafka.settings.looks_secret`) never appear in a message.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from flafka.settings import Problem, looks_secret
from flafka_kafka.keystores import STORE_KEYS, STORES, store_problems, translate_stores

Role = Literal["producer", "consumer"]

log = logging.getLogger("flafka_kafka.librdkafka")


class _OncePerMinute:
    """True the first time a line is seen in a minute. Lines that differ only in
    librdkafka's retry details ("(after 301ms in state AUTH_REQ)", "4 identical error(s)
    suppressed") count as the same line."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def first(self, text: str) -> bool:
        key = _TIMING.sub("", _SUPPRESSED.sub("", text))
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < 60.0:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


class _LogOncePerMinute(logging.Filter):
    """Lets each distinct librdkafka log line through once a minute (a broker that stays
    down would otherwise repeat its connection failure every reconnect backoff)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = _OncePerMinute()

    def filter(self, record: logging.LogRecord) -> bool:
        return self._seen.first(record.getMessage())


client_log = logging.getLogger("flafka_kafka.librdkafka.client")
"""librdkafka's own log lines (the ``logger`` of every client); ``log`` above carries
flafka's lines about client errors (:func:`error_logger`)."""
client_log.addFilter(_LogOncePerMinute())

# Java name -> librdkafka name (same value)
RENAMED: dict[str, str] = {
    "max.request.size": "message.max.bytes",
    "fetch.max.wait.ms": "fetch.wait.max.ms",
    "receive.buffer.bytes": "socket.receive.buffer.bytes",
    "send.buffer.bytes": "socket.send.buffer.bytes",
    "request.required.acks": "acks",  # Kafka 0.8 producer (Flume 1.6 pass-through)
}

# Java-only properties: no librdkafka equivalent, dropped with a warning.
JAVA_ONLY: dict[str, str] = {
    "key.serializer": "flafka always writes the key as UTF-8 text and the value as bytes",
    "value.serializer": "flafka always writes the key as UTF-8 text and the value as bytes",
    "key.deserializer": "flafka always reads the key as UTF-8 text and the value as bytes",
    "value.deserializer": "flafka always reads the key as UTF-8 text and the value as bytes",
    "serializer.class": "a Kafka 0.8 producer property; flafka writes bytes",
    "key.serializer.class": "a Kafka 0.8 producer property; flafka writes UTF-8 keys",
    "producer.type": "a Kafka 0.8 producer property; flafka always waits for delivery reports",
    "type": "the Kafka 0.8 `producer.type`; flafka always waits for delivery reports",
    "timeout.ms": "the Kafka 0.8 `consumer.timeout.ms`; flafka uses batchDurationMillis / kafka.pollTimeout",
    "consumer.timeout.ms": "a Kafka 0.8 consumer property; flafka uses batchDurationMillis / kafka.pollTimeout",
    "zookeeper.connect": "flafka talks to the brokers only (kafka.bootstrap.servers)",
    "max.block.ms": "librdkafka never blocks a send; flafka bounds each batch by message.timeout.ms",
    "max.poll.records": "the batch size (batchSize) bounds what one poll returns",
    "interceptor.classes": "Java interceptors cannot run in librdkafka",
    "partitioner.class": "set librdkafka's `partitioner` (e.g. murmur2_random, the Java default) instead",
    "client.dns.lookup": "librdkafka resolves every address a name has",
    "ssl.protocol": "librdkafka negotiates the TLS version",
    "ssl.enabled.protocols": "librdkafka negotiates the TLS version",
    "ssl.keymanager.algorithm": "a JVM setting",
    "ssl.trustmanager.algorithm": "a JVM setting",
    "ssl.provider": "a JVM setting",
    "ssl.secure.random.implementation": "a JVM setting",
    "security.providers": "a JVM setting",
    "sasl.login.class": "a JVM setting",
    "sasl.client.callback.handler.class": "a JVM setting",
    "sasl.login.callback.handler.class": "a JVM setting",
    "metric.reporters": "a JVM setting; flafka exports its own metrics",
    "metrics.num.samples": "a JVM setting",
    "metrics.sample.window.ms": "a JVM setting",
    "metrics.recording.level": "a JVM setting",
    "auto.include.jmx.reporter": "a JVM setting",
    "default.api.timeout.ms": "flafka bounds each call itself",
    "exclude.internal.topics": "librdkafka never subscribes to internal topics by pattern",
    "ssl.disableTLSHostnameVerification": "",  # handled below (Flume 1.9/1.10 switch)
}

# Owned by flafka: a user value is ignored with a warning.
FORCED: dict[str, str] = {
    "bootstrap.servers": "set kafka.bootstrap.servers instead",
    "group.id": "set kafka.consumer.group.id instead",
    "enable.auto.commit": "flafka commits offsets itself, only after delivery",
    "auto.commit.enable": "flafka commits offsets itself, only after delivery",
    "enable.auto.offset.store": "flafka stores offsets itself, only after delivery",
}

ASSIGNORS = {
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
    "range": "range",
    "roundrobin": "roundrobin",
    "cooperative-sticky": "cooperative-sticky",
}

_JAAS = re.compile(r"^\s*(?P<module>[\w.$]+)\s+(?P<flag>required|requisite|sufficient|optional)\s*(?P<opts>.*?)\s*;?\s*$", re.S)


class JaasError(ValueError):
    """``sasl.jaas.config`` could not be read. The message never holds the value."""


def parse_jaas(value: str) -> tuple[str, dict[str, str]]:
    """``(login module class, options)`` of a one-module JAAS line such as
    ``org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";``."""
    match = _JAAS.match(value)
    if not match:
        raise JaasError("sasl.jaas.config is not '<LoginModule> required key=\"value\" ...;'")
    try:
        words = shlex.split(match.group("opts"), posix=True)
    except ValueError:
        raise JaasError("sasl.jaas.config has an unbalanced quote") from None
    options: dict[str, str] = {}
    for word in words:
        key, sep, val = word.partition("=")
        if not sep:
            raise JaasError(f"sasl.jaas.config option '{key}' has no '=value'")
        options[key] = val
    return match.group("module"), options


_UNUSABLE_FIX = "write the key and value in plain text (a \\uXXXX escape must not give a lone surrogate or \\u0000)"


def _unusable(text: str) -> str:
    """Why librdkafka cannot take ``text`` (a key or value of ``kafka.<role>.*``), or ''."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which librdkafka would cut the text at"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (a \\uD800-\\uDFFF escape that is not half of a pair), which is not text"
    return ""


def translate(props: dict[str, str], role: Role, prefix: str) -> tuple[dict[str, str], list[Problem]]:
    """Java client properties (``props``: ``kafka.<role>.*`` without the prefix) ->
    librdkafka properties, plus problems keyed ``prefix + key``. Never includes forced
    keys (bootstrap, group, auto commit): the caller sets those."""
    out: dict[str, str] = {}
    problems: list[Problem] = []

    def warn(key: str, message: str, suggestion: str = "") -> None:
        problems.append(Problem(prefix + key, message, suggestion, "warning"))

    def error(key: str, message: str, suggestion: str) -> None:
        problems.append(Problem(prefix + key, message, suggestion, "error"))

    for key, value in props.items():
        bad = _unusable(key) or _unusable(value)
        if bad:  # librdkafka takes C strings: a lone surrogate in a key crashes the process
            error(key, f"'{prefix}{ascii(key)[1:-1]}' {bad}", _UNUSABLE_FIX)
            continue
        if key in FORCED:
            truthy = value.strip().lower() in ("true", "1", "yes", "on")
            if key in ("bootstrap.servers", "group.id") or truthy:
                warn(key, f"'{prefix}{key}' is ignored: {FORCED[key]}", f"remove '{prefix}{key}'")
            continue
        if key == "ssl.disableTLSHostnameVerification":
            if value.strip().lower() == "true":
                out["ssl.endpoint.identification.algorithm"] = "none"
            continue
        if key in JAVA_ONLY:
            warn(key, f"'{prefix}{key}' has no librdkafka equivalent and is ignored ({JAVA_ONLY[key]})", f"remove '{prefix}{key}'")
            continue
        if key in RENAMED:
            out[RENAMED[key]] = value
            continue
        if key == "buffer.memory":
            try:
                out["queue.buffering.max.kbytes"] = str(max(1, int(value) // 1024))
            except ValueError:
                error(key, f"'{value}' is not a number of bytes", "use a whole number, e.g. 33554432")
            continue
        if key == "auto.offset.reset":
            low = value.strip().lower()
            out[key] = {"none": "error", "smallest": "earliest", "largest": "latest"}.get(low, low)
            continue
        if key == "ssl.endpoint.identification.algorithm":
            out[key] = value.strip().lower() or "none"
            continue
        if key == "partition.assignment.strategy":
            names = [n.strip() for n in value.split(",") if n.strip()]
            unknown = [n for n in names if n not in ASSIGNORS]
            if unknown:
                error(
                    key,
                    f"assignor {', '.join(unknown)} has no librdkafka equivalent",
                    "use RangeAssignor, RoundRobinAssignor or CooperativeStickyAssignor (or range, roundrobin, cooperative-sticky)",
                )
            else:
                out[key] = ",".join(ASSIGNORS[n] for n in names)
            continue
        if key in STORE_KEYS or key == "ssl.key.password":
            continue  # Java key and trust stores: translate_stores, after the loop
        if key == "transactional.id":
            error(key, "Kafka transactions are not supported by flafka's Kafka components", f"remove '{prefix}{key}'")
            continue
        if key == "sasl.jaas.config":
            _jaas(value, prefix, out, problems)
            continue
        out[key] = value
    translate_stores(props, prefix, out, problems)
    return out, problems


def _jaas(value: str, prefix: str, out: dict[str, str], problems: list[Problem]) -> None:
    key = prefix + "sasl.jaas.config"
    try:
        module, options = parse_jaas(value)
    except JaasError as exc:
        problems.append(Problem(key, str(exc), "write it as Kafka's documentation shows, or set sasl.username and sasl.password"))
        return
    short = module.rsplit(".", 1)[-1]
    if short in ("PlainLoginModule", "ScramLoginModule"):
        if "username" not in options or "password" not in options:
            problems.append(Problem(key, f"{short} in sasl.jaas.config needs username and password", 'add username="..." password="..."'))
            return
        out["sasl.username"] = options["username"]
        out["sasl.password"] = options["password"]
    elif short == "Krb5LoginModule":
        if "keyTab" in options:
            out["sasl.kerberos.keytab"] = options["keyTab"]
        if "principal" in options:
            out["sasl.kerberos.principal"] = options["principal"]
    elif short == "OAuthBearerLoginModule":
        problems.append(
            Problem(
                key,
                "OAUTHBEARER login modules cannot run in librdkafka",
                f"use librdkafka's OIDC settings: {prefix}sasl.oauthbearer.method = oidc, sasl.oauthbearer.client.id, "
                "sasl.oauthbearer.client.secret, sasl.oauthbearer.token.endpoint.url",
            )
        )
    else:
        problems.append(Problem(key, f"login module {short} has no librdkafka equivalent", "use PLAIN, SCRAM or GSSAPI (Kerberos)"))


def masked(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf`` with every secret value replaced, for logs and error messages."""
    return {k: ("******" if looks_secret(k) or k == "sasl.password" else v) for k, v in conf.items() if not callable(v)}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


_CONFWARN = re.compile(r"CONFWARN \[[^]]*\] \[[^]]*\]: (.*)")
_NO_PROPERTY = re.compile(r'No such configuration property: "([^"]+)"')
_BAD_VALUE = re.compile(r'configuration property "([^"]+)"')


def librdkafka_problems(conf: dict[str, Any], role: Role, prefix: str, known: dict[str, str] | None = None) -> list[Problem]:
    """Let librdkafka itself check ``conf`` (no network: no bootstrap servers are given,
    so nothing connects). ``known`` maps librdkafka keys back to the user's key, for
    messages. Java key and trust stores are read and converted in memory first (their
    errors name the store's keys). Returns errors (unknown key, bad value) and its
    configuration warnings."""
    from flafka_kafka import cimpl

    confluent_kafka = cimpl.load()
    original = conf
    conf, problems = store_problems(conf)
    check = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    if role == "consumer":
        check.setdefault("group.id", "flafka-validate")
    logger = logging.getLogger(f"flafka_kafka.validate.{threading.get_ident()}")
    logger.propagate = False
    handler = _Collect()
    logger.addHandler(handler)
    check["logger"] = logger
    try:
        try:
            client: Any = confluent_kafka.Producer(check) if role == "producer" else confluent_kafka.Consumer(check)
        except confluent_kafka.KafkaException as exc:
            text = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
            missing = _NO_PROPERTY.search(text)
            m = missing or _BAD_VALUE.search(text)
            name = m.group(1) if m else ""
            user_key = {"request.required.acks": "acks", **(known or {})}.get(name, name)
            if not name and STORES in original:  # the converted stores: name the user's store key
                if "ssl.key" in text or "ssl.certificate" in text:
                    user_key = "ssl.keystore.location"
                elif "ssl.ca" in text:
                    user_key = "ssl.truststore.location"
            if missing:
                problems.append(
                    Problem(
                        prefix + user_key,
                        f"librdkafka has no {role} property '{name}'",
                        "check the spelling against librdkafka's CONFIGURATION.md",
                    )
                )
            else:
                problems.append(
                    Problem(prefix + user_key if user_key else prefix.rstrip("."), f"librdkafka rejects the {role} settings: {text}", "")
                )
            return problems
        try:
            client.poll(0)
        finally:
            if role == "consumer":
                client.close()
            del client
    finally:
        logger.removeHandler(handler)
    for message in handler.messages:
        m = _CONFWARN.search(message)
        if m and "bootstrap.servers" not in m.group(1):
            problems.append(Problem(prefix.rstrip("."), f"librdkafka: {m.group(1)}", "", "warning"))
    return problems


_TIMING = re.compile(r"\s*\(after \d+ms in state \w+\)")
_SUPPRESSED = re.compile(r",?\s*\d+ identical error\(s\) suppressed")


def client_error_fix(err: Any, prefix: str = "kafka.") -> str:
    """The keys to fix for a librdkafka client error that configuration causes
    (authentication, TLS), '' for others. ``prefix``: ``kafka.producer.`` or ``kafka.consumer.``."""
    name = err.name() if hasattr(err, "name") else ""
    text = err.str() if hasattr(err, "str") else str(err)
    if name in ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED") or "SASL authentication" in text:
        return (
            f"the broker refused the SASL login: check the user name and password in {prefix}sasl.jaas.config "
            f"(or {prefix}sasl.username / {prefix}sasl.password) and {prefix}sasl.mechanism"
        )
    if name == "_SSL" or "SSL handshake failed" in text:
        return (
            f"the TLS handshake failed: check {prefix}ssl.ca.location (PEM file of the CA that signed the brokers' "
            f"certificates), that those certificates name the host you connect to, and {prefix}security.protocol"
        )
    return ""


def error_logger(component: str, prefix: str = "kafka.") -> Callable[[Any], None]:
    """An ``error_cb`` that logs librdkafka's client-level errors (broker down, auth
    failed) once per distinct message per minute: never per event. Authentication and
    TLS failures name the ``prefix``-ed keys to fix."""
    seen = _OncePerMinute()

    def on_error(err: Any) -> None:
        text = err.str() if hasattr(err, "str") else str(err)
        if seen.first(text):
            level = logging.ERROR if getattr(err, "fatal", lambda: False)() else logging.WARNING
            fix = client_error_fix(err, prefix)
            log.log(level, "%s: kafka client: %s%s", component, text, f". Fix: {fix}" if fix else "")

    return on_error


def base_config(bootstrap: str, component: str, prefix: str = "kafka.") -> dict[str, Any]:
    """What every client gets: bootstrap servers, a client id, logging through Python.
    ``prefix`` (``kafka.producer.`` / ``kafka.consumer.``) names the user's keys in errors."""
    return {
        "bootstrap.servers": bootstrap,
        "client.id": f"flafka-{component}".encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00"),
        "logger": client_log,
        "error_cb": error_logger(component, prefix),
    }


def default_instance_id(agent: str, component: str, topics: list[str], host: str | None = None) -> str:
    """The ``group.instance.id`` (Kafka static group membership) of a component's consumer
    when the user set none: ``<host>/<agent>/<component>/<8 hex digits of the topics>``.
    Stable across restarts of one agent, distinct between agents on different hosts and
    between components and agents of different names on one host. The topics are part of
    it because a static member that rejoins gets its previous assignment back as it was
    (measured: a restart reading another topic was handed the old topic's partition).
    Two agents with the same agent and component names on one host must set
    ``kafka.consumer.group.instance.id`` apart."""
    digest = hashlib.sha1("\0".join(sorted(topics)).encode("utf-8", "replace")).hexdigest()[:8]
    return f"{host or socket.gethostname()}/{agent}/{component}/{digest}"


def with_instance_id(
    conf: dict[str, Any], agent: str, component: str, topics: list[str], taker: int = 1, static: bool = True
) -> dict[str, Any]:
    """``conf`` with its ``group.instance.id``: the user's, else (``static``, the
    component's ``staticMembership``) :func:`default_instance_id`, else none (a dynamic
    member); ``taker`` > 1 (the channel's second, third ... consumer) appends
    ``-<taker>``. Returns a new dict."""
    out = dict(conf)
    instance = out.get("group.instance.id")
    if instance is None:
        if not static:
            return out
        instance = default_instance_id(agent, component, topics)
    instance = str(instance).strip()
    if not instance:
        out.pop("group.instance.id", None)
        return out
    out["group.instance.id"] = instance if taker <= 1 else f"{instance}-{taker}"
    return out


def group_error_fix(err: Any, conf: dict[str, Any]) -> str:
    """What to do about a consumer group error the configuration causes (another member
    with the same ``group.instance.id``; assignors no other member offers), '' for others."""
    name = err.name() if hasattr(err, "name") else ""
    text = err.str() if hasattr(err, "str") else str(err)
    group = conf.get("group.id", "")
    if name == "FENCED_INSTANCE_ID" or "fenced" in text.lower():
        return (
            f"another consumer of group '{group}' uses group.instance.id '{conf.get('group.instance.id', '')}' (two agents with "
            "the same agent and component names on one host?): give each agent its own "
            "kafka.consumer.group.instance.id (e.g. ${env:INSTANCE}), or set staticMembership = false"
        )
    if name == "INCONSISTENT_GROUP_PROTOCOL" or "inconsistent group protocol" in text.lower():
        return (
            f"the other members of group '{group}' offer no assignor in common with this consumer's "
            f"({conf.get('partition.assignment.strategy', '')}); Flume 1.11 and older Java consumers offer only RangeAssignor: "
            "set kafka.consumer.partition.assignment.strategy = org.apache.kafka.clients.consumer.RangeAssignor on every flafka "
            "agent of the group until they are all flafka"
        )
    return ""


BOOTSTRAP_HELP = "set kafka.bootstrap.servers = host1:9092,host2:9092 (the brokers' addresses)"


def zookeeper_problems(settings: Any) -> list[Problem]:
    """Flume 1.6's ``zookeeperConnect``: flafka never talks to ZooKeeper. An error when it
    is the only address given, a warning when kafka.bootstrap.servers is given too."""
    zk = settings.get("zookeeperConnect")
    if not zk:
        return []
    if settings.get("kafka.bootstrap.servers"):
        return [
            Problem(
                "zookeeperConnect",
                "zookeeperConnect is ignored: flafka reads broker addresses from kafka.bootstrap.servers",
                "remove zookeeperConnect",
                "warning",
            )
        ]
    return [
        Problem(
            "zookeeperConnect",
            "zookeeperConnect is not supported: flafka connects to the Kafka brokers directly, not through ZooKeeper "
            "(Flume 1.7+ needs kafka.bootstrap.servers too)",
            BOOTSTRAP_HELP,
        )
    ]


def producer_config(
    bootstrap: str, user: dict[str, str], acks: str, component: str, defaults: dict[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """librdkafka producer configuration: flafka's defaults, then the user's translated
    ``kafka.producer.*``, then ``acks``."""
    translated, problems = translate(user, "producer", "kafka.producer.")
    conf = base_config(bootstrap, component, "kafka.producer.")
    conf.update(PRODUCER_DEFAULTS)
    conf.update(defaults)
    if "delivery.timeout.ms" in translated:
        conf.pop("message.timeout.ms", None)
    conf.update(translated)
    conf["acks"] = acks
    _owned_usable(conf, problems)
    return conf, problems


_OWNED = {"bootstrap.servers": "kafka.bootstrap.servers", "group.id": "kafka.consumer.group.id"}


def _owned_usable(conf: dict[str, Any], problems: list[Problem]) -> None:
    """The values flafka sets from its own keys (bootstrap servers, group id) must be text
    librdkafka can take too: a lone surrogate in group.id aborted the process inside
    confluent-kafka (an assertion), one in bootstrap.servers raised SystemError."""
    for key, user_key in _OWNED.items():
        value = conf.get(key)
        if isinstance(value, str) and (bad := _unusable(value)):
            problems.append(Problem(user_key, f"'{user_key}' {bad}", _UNUSABLE_FIX, "error"))
            conf[key] = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def consumer_config(
    bootstrap: str, group: str, user: dict[str, str], component: str, defaults: dict[str, str]
) -> tuple[dict[str, Any], list[Problem]]:
    """librdkafka consumer configuration: flafka's defaults, the user's translated
    ``kafka.consumer.*``, then what flafka owns (group, no automatic offset commits)."""
    translated, problems = translate(user, "consumer", "kafka.consumer.")
    conf = base_config(bootstrap, component, "kafka.consumer.")
    conf.update(CONSUMER_DEFAULTS)
    conf.update(defaults)
    conf.update(translated)
    conf.update({"group.id": group, "enable.auto.commit": False, "enable.auto.offset.store": False})
    _owned_usable(conf, problems)
    return conf, problems


PRODUCER_DEFAULTS: dict[str, Any] = {
    "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition as Flume
    "message.max.bytes": 1048576,  # the Java client's max.request.size
    "message.timeout.ms": 30000,  # a record not acknowledged by then fails its batch (rolled back, retried)
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "allow.auto.create.topics": True,  # the Java consumer's default
    # N agents in one group: a rebalance moves only the partitions that change owner, the
    # others keep flowing (range, Flume 1.11's assignor, revokes every partition of every
    # member at each change). A group shared with Java consumers that only offer
    # RangeAssignor (Flume 1.11) needs the user's kafka.consumer.partition.assignment.strategy
    # = range (the JoinGroup error says so). A clean stop commits every delivered offset with
    # either (tests/test_crash_kafka.py, test_integration_scale_out.py).
    "partition.assignment.strategy": "cooperative-sticky",
    # librdkafka pauses a partition's fetching for fetch.queue.backoff.ms (default 1000)
    # whenever its local queue is above its thresholds, which a batch consumer reaches all
    # the time: with the default the Kafka source ran at ~130k events/s, with 10 ms ~380k.
    "fetch.queue.backoff.ms": 10,
    # librdkafka connects to a broker it has not used yet at most once per max(11, this / 2)
    # ms: with its default 100 a new consumer waited ~45 ms after the bootstrap connection
    # before it could connect to the group coordinator (the bootstrap broker is replaced by
    # the broker id it learns), delaying the group join. 20 ms: the first reconnect after a
    # broker failure comes 20 ms later instead of 100 ms (the Java client's default: 50),
    # doubling up to reconnect.backoff.max.ms as before.
    "reconnect.backoff.ms": 20,
}


def client_config_for_validation(conf: dict[str, Any]) -> dict[str, str]:
    """``conf`` without the Python objects (logger, callbacks) and bootstrap servers."""
    return {k: v for k, v in conf.items() if not callable(v) and not isinstance(v, logging.Logger) and k != "bootstrap.servers"}


__all__ = [
    "ASSIGNORS",
    "FORCED",
    "JAVA_ONLY",
    "RENAMED",
    "JaasError",
    "base_config",
    "client_config_for_validation",
    "client_error_fix",
    "consumer_config",
    "default_instance_id",
    "error_logger",
    "group_error_fix",
    "librdkafka_problems",
    "masked",
    "parse_jaas",
    "producer_config",
    "translate",
    "with_instance_id",
    "zookeeper_problems",
]
