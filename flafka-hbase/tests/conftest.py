"""Fixtures for flafka-hbase's tests.

``hbase_address`` is the Thrift host:port of the test kit's real HBase 2.6
(``hbase_service``: skips, or fails under ``FLAFKA_REQUIRE_SERVICES=1``, when it cannot be
had). ``new_table(*families)`` creates a fresh table and returns its name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def hbase_address(hbase_service: Any) -> str:
    address = hbase_service.address
    assert address, f"the hbase_service fixture gave no address: {hbase_service!r}"
    return str(address)


def connect(address: str) -> Any:
    """An independent happybase client (not the sink's code)."""
    import happybase

    host, _, port = address.rpartition(":")
    return happybase.Connection(host, int(port), timeout=60000)


@pytest.fixture
def new_table(hbase_address: str) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def create(*families: str) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        conn = connect(hbase_address)
        try:
            conn.create_table(name, {f: {} for f in (families or ("cf",))})
        finally:
            conn.close()
        made.append(name)
        return name

    yield create
    try:
        conn = connect(hbase_address)
        for name in made:
            try:
                conn.delete_table(name, disable=True)
            except Exception:
                pass
        conn.close()
    except Exception:
        pass


@pytest.fixture
def scan_table(hbase_address: str) -> Callable[[str], list[tuple[bytes, dict[bytes, bytes]]]]:
    """``scan_table(name)``: every row of a table, read with an independent happybase client."""

    def scan(table: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        conn = connect(hbase_address)
        try:
            return list(conn.table(table).scan())
        finally:
            conn.close()

    return scan


@pytest.fixture
def counter_value(hbase_address: str) -> Callable[[str, bytes, bytes], int]:
    """``counter_value(table, row, column)``: an HBase counter read back independently."""

    def read(table: str, row: bytes, column: bytes) -> int:
        conn = connect(hbase_address)
        try:
            return int(conn.table(table).counter_get(row, column))
        finally:
            conn.close()

    return read
