"""``flafka validate`` on Kudu sink configurations: what to install when Java is missing,
Kerberos keys answered, producer keys checked on their own lines (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.kudu.flume.sink.KuduSink
a1.sinks.k1.channel = c1
a1.sinks.k1.masterAddresses = kudu1,kudu2:7151
a1.sinks.k1.tableName = impala::db.t
"""


def validate(tmp_path: Path, extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    conf = tmp_path / "agent.conf"
    conf.write_text(BASE + extra)
    proc = subprocess.run(
        [sys.executable, "-m", "flafka", "validate", "-f", str(conf)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_valid_configuration_passes(tmp_path: Path) -> None:
    code, out = validate(tmp_path, "a1.sinks.k1.producer = regexp\na1.sinks.k1.producer.pattern = (?<id>\\\\d+)\n")
    assert code == 0, out


def test_no_java_says_what_to_install(tmp_path: Path) -> None:
    code, out = validate(tmp_path, "", env={"JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": "/nonexistent"})
    assert code == 2, out
    assert "agent.conf:" in out and "backend" in out
    assert "no Java runtime found" in out and "openjdk-17-jre-headless" in out and "JAVA_HOME" in out


def test_kerberos_keys_are_answered(tmp_path: Path) -> None:
    code, out = validate(
        tmp_path, "a1.sinks.k1.kerberosPrincipal = flume/h@R\na1.sinks.k1.kerberosKeytab = /k.keytab\na1.sinks.k1.proxyUser = bob\n"
    )
    assert code == 2, out
    assert "kinit -kt <keytab> <principal>" in out and "proxyUser is not supported" in out


def test_producer_keys_are_checked(tmp_path: Path) -> None:
    code, out = validate(
        tmp_path,
        "a1.sinks.k1.producer = org.apache.flume.sink.kudu.RegexpKuduOperationsProducer\na1.sinks.k1.producer.pattern = (?<my_col>x)\n",
    )
    assert code == 2, out
    assert "agent.conf:14: error: a1.sinks.k1.producer.pattern" in out and "no '_'" in out
    code, out = validate(
        tmp_path, "a1.sinks.k1.producer = regexp\na1.sinks.k1.producer.pattern = x\na1.sinks.k1.producer.unmatchedRowPolicy = DROP\n"
    )
    assert code == 2 and "producer.unmatchedRowPolicy" in out and "REJECT, WARN, IGNORE" in out
    code, out = validate(tmp_path, "a1.sinks.k1.producer = com.example.Nope\n")
    assert code == 2 and "unknown Kudu operations producer" in out and "regexp" in out


def test_python_backend_without_kudu_python_says_what_to_install(tmp_path: Path) -> None:
    code, out = validate(tmp_path, "a1.sinks.k1.backend = python\n")
    assert code == 2 and "kudu-python is not installed" in out and "backend = java" in out
