"""Fixtures for flafka-kudu's tests, on the test kit's real Kudu (``kudu_service``: a master
and a tablet server from kudu-binary; skipped, or failed under
``FLAFKA_REQUIRE_SERVICES=1``, when it cannot be had).

Tables are created and read back with the ``kudu`` command-line tool, never through the
sink's client: ``new_table(columns, key)`` creates one (hash partitioned, one replica),
``scan(table)`` returns its rows as dicts of the CLI's printed values.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # kudu_test_support (pytest runs with --import-mode=importlib)

from kudu_test_support import Cli, create_table, run_cli, scan_rows  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def kudu_master(kudu_service: Any) -> str:
    address = kudu_service.address
    assert address, f"the kudu_service fixture gave no address: {kudu_service!r}"
    return str(address)


@pytest.fixture(scope="session")
def kudu_cli(kudu_service: Any) -> Cli:
    path = kudu_service.endpoints["kudu_cli"]
    return lambda *args, **kw: run_cli(path, *args, **kw)


@pytest.fixture
def new_table(kudu_cli: Cli, kudu_master: str) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def make(columns: list[tuple[str, str, bool]], key: list[str], prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        made.append(create_table(kudu_cli, kudu_master, name, columns, key))
        return name

    yield make
    for name in made:
        try:
            kudu_cli("table", "delete", kudu_master, name)
        except AssertionError:
            pass


@pytest.fixture
def scan(kudu_cli: Cli, kudu_master: str) -> Callable[[str], list[dict[str, Any]]]:
    return lambda table: scan_rows(kudu_cli, kudu_master, table)
