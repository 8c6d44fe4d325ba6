"""``flafka testkit up|down|status [kafka|kafka-secure|hdfs|hbase|kudu|flume ...]``.

Added to the ``flafka`` command by :mod:`flafka_testkit.plugin`; also runnable alone as
``python -m flafka_testkit.cli``. ``up`` starts services one at a time (local processes, or
checks an address given by ``FLAFKA_TEST_<NAME>``) and prints where each answers and how
long it took; the processes outlive the command. ``down`` stops them (SIGTERM, then SIGKILL
after the grace period). ``status`` says what runs where. Exit code 1 when a service fails.

Without names, ``up`` starts kafka, hdfs, hbase, kudu and flume; ``kafka-secure`` (a second
broker with a SASL_SSL listener) starts only when named. ``status`` and ``down`` without
names cover every service, ``kafka-secure`` included. Text output masks the throw-away
password of ``kafka-secure`` (``status --json`` shows it).
"""

from __future__ import annotations

import json
import time

import click

from flafka_testkit.services import DEFAULT_UP, NAMES, ServiceError, get_service

_NAMES = click.Choice(NAMES)
_SECRET_KEYS = frozenset({"password"})


def _selected(names: tuple[str, ...], default: tuple[str, ...] = NAMES) -> list[str]:
    return list(dict.fromkeys(names)) if names else list(default)


def _shown(key: str, value: str) -> str:
    return "****** (status --json shows it)" if key in _SECRET_KEYS else value


@click.group("testkit")
def testkit() -> None:
    """Real test services on 127.0.0.1: Kafka (also with SASL_SSL: kafka-secure), HDFS, HBase+Thrift, Kudu,
    Apache Flume 1.11.0."""


@testkit.command("up")
@click.argument("names", nargs=-1, type=_NAMES)
@click.option("--timeout", type=float, default=None, help="Seconds to wait for each service (default: per service).")
def up(names: tuple[str, ...], timeout: float | None) -> None:
    """Start services (all but kafka-secure when none is named), one at a time; idempotent."""
    failed = False
    for name in _selected(names, DEFAULT_UP):
        service = get_service(name, docker=False)
        click.echo(f"{name}: starting ({service.source}) ...", err=True)
        began = time.monotonic()
        try:
            started = service.start(timeout)
        except ServiceError as exc:
            click.echo(f"{name}: FAILED after {time.monotonic() - began:.1f}s\n{exc}", err=True)
            failed = True
            continue
        verb = "started" if started else "already running"
        endpoints = " ".join(f"{k}={v}" for k, v in service.endpoints.items() if k not in _SECRET_KEYS)
        click.echo(f"{name}: {verb} in {time.monotonic() - began:.1f}s  {endpoints}")
    if failed:
        raise SystemExit(1)


@testkit.command("down")
@click.argument("names", nargs=-1, type=_NAMES)
@click.option("--grace", type=float, default=None, help="Seconds before SIGKILL (default: per service, 5-30).")
def down(names: tuple[str, ...], grace: float | None) -> None:
    """Stop services this kit started (all when none is named)."""
    for name in reversed(_selected(names)):
        service = get_service(name, docker=False)
        if service.source != "local":
            click.echo(f"{name}: given by the environment ({service.address}), left alone")
            continue
        service.stop(grace)
        click.echo(f"{name}: stopped")


@testkit.command("status")
@click.argument("names", nargs=-1, type=_NAMES)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(names: tuple[str, ...], as_json: bool) -> None:
    """Say what runs where."""
    rows = [get_service(name, docker=False).status() for name in _selected(names)]
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    width = max([6, *(len(row.name) for row in rows)])
    for row in rows:
        state = "ready" if row.ready else ("running, NOT answering" if row.running else "stopped")
        click.echo(f"{row.name:<{width}} {row.source:<6} {state:<22} {row.address or '-'}")
        for key, value in row.endpoints.items():
            click.echo(f"         {key}: {_shown(key, value)}")
        for role, pid in row.pids.items():
            click.echo(f"         pid {pid} ({role}), log {row.logs.get(role, '-')}")
        if row.detail and (row.running or row.pids):
            click.echo(f"         {row.detail}")


def main() -> None:
    testkit()


if __name__ == "__main__":
    main()
