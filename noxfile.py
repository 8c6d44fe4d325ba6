"""Every developer task. `python3 -m nox -s tests` is the README's test command."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = [
    "flafka-core[test,avro,top,keystores,fastjson]", "flafka-testkit[services,docker]", "flafka-kafka[jks]",
    "examples/flafka-example-jsonl", "flafka-hdfs[snappy]", "flafka-hbase", "flafka-kudu[avro]", "flafka-avro[test]",
]  # fmt: skip
TEST_PATHS = [
    "flafka-core/tests", "flafka-testkit/tests", "flafka-kafka/tests", "examples/flafka-example-jsonl/tests", "flafka-hdfs/tests",
    "flafka-hbase/tests", "flafka-kudu/tests", "flafka-avro/tests", "tests",
]  # fmt: skip


def install(session: nox.Session, *extra: str) -> None:
    args: list[str] = []
    for pkg in PACKAGES:
        args += ["-e", pkg]
    session.install(*args, *extra)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole test suite: unit, contract, end-to-end and crash tests.

    pytest's exit code 5 (nothing collected) fails the session like any other non-zero code.
    """
    install(session)
    # `nox -s tests -- some/tests -x` runs just those paths; options alone keep every path
    named = [a for a in session.posargs if not a.startswith("-") and Path(a.split("::")[0]).exists()]
    # -c: the root config even when only paths under one package are named (a package's own
    # pyproject.toml would otherwise be picked and lack the root's markers)
    session.run("pytest", "-c", "pyproject.toml", *([] if named else TEST_PATHS), *session.posargs)


@nox.session(python="3.11")
def crash(session: nox.Session) -> None:
    """Crash campaigns against real servers, the Kafka ones included (~15 minutes)."""
    install(session)
    env = {"FLAFKA_CRASH_KAFKA": "1", "FLAFKA_REQUIRE_SERVICES": "1"}
    session.run(
        "pytest", "-c", "pyproject.toml", "tests/test_crash_spooldir_file_roll.py", "tests/test_crash_kafka.py", *session.posargs, env=env
    )  # fmt: skip
    full = {"FLAFKA_FILECHANNEL_CRASH_LINES": "1000000", "FLAFKA_FILECHANNEL_CRASH_KILLS": "20"}
    session.run("pytest", "-c", "pyproject.toml", "tests/test_crash_spooldir_file_channel.py", *session.posargs, env=full)
    stores = {"FLAFKA_CRASH_HBASE": "1", "FLAFKA_CRASH_KUDU": "1", "FLAFKA_TAILDIR_KILLS": "20", "FLAFKA_REQUIRE_SERVICES": "1"}
    session.run(
        "pytest", "-c", "pyproject.toml", "flafka-hbase/tests/test_crash_campaign.py",
        "flafka-kudu/tests/test_crash_kudu.py",
        "flafka-core/tests/sources/test_taildir_agent.py", *session.posargs, env=stores,
    )  # fmt: skip
    scale = {"FLAFKA_SCALE_OUT_SLOW": "1", "FLAFKA_REQUIRE_SERVICES": "1"}
    session.run("pytest", "-c", "pyproject.toml", "flafka-kafka/tests/test_integration_scale_out.py", *session.posargs, env=scale)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """Long fuzzing runs (atheris): every target of tests/fuzz/targets.py, 1,000,000
    executions each by default (`-- TARGET --runs N` for one; `--jobs`, `--workers`,
    `--seconds`, `--timeout`: docs/fuzzing.md). Run it with `nice -n 19` on a shared
    machine. The short hypothesis run of the same targets is part of `tests`."""
    install(session, "atheris==2.3.0")
    args = session.posargs or ["all"]
    session.run("python", "tests/fuzz/run_atheris.py", *args, "--workdir", ".fuzz")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    install(session, "mypy>=1.10")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks: events/s, CPU seconds and peak RSS; see benchmarks/RESULTS.md."""
    install(session, "pyinstrument", "py-spy")
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run("python", "benchmarks/kafka_hdfs.py")
    session.run("python", "benchmarks/hbase.py")
    session.run("python", "benchmarks/sources.py")
    session.run("python", "benchmarks/file_channel.py")
    session.run("python", "benchmarks/kudu.py")
    session.run("python", "benchmarks/peers.py")
    session.run("python", "benchmarks/avro_tiers.py", "--headers")
    session.run("python", "benchmarks/scale_out.py")
