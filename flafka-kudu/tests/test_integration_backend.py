"""The Java backend on both paths (batch helper and per cell) against the kit's Kudu: an op
that cannot be built (unknown column, wrong type, out of range, NULL into NOT NULL, unset
key) is reported by index and the others are written; nothing stays buffered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flafka_kudu.backend import Op
from flafka_kudu.java_backend import JavaBackend


@pytest.mark.parametrize("helper", ["1", "0"])
def test_bad_ops_are_reported_and_the_rest_written(
    helper: str,
    monkeypatch: pytest.MonkeyPatch,
    kudu_master: str,
    new_table: Callable[..., str],
    scan: Callable[[str], list[dict[str, Any]]],
) -> None:
    monkeypatch.setenv("FLAFKA_KUDU_HELPER", helper)
    table = new_table([("id", "INT64", False), ("small", "INT8", True), ("name", "STRING", False), ("f", "FLOAT", True)], ["id"])
    backend = JavaBackend([kudu_master], 10000)
    try:
        backend.open_table(table)
        session = backend.new_session(10000, False)
        assert (session.helper is not None) is (helper == "1")
        ops = [
            Op("insert", {"id": 1, "small": 5, "name": "a", "f": 2}),
            Op("insert", {"id": 2, "nope": 1, "name": "b"}),
            Op("insert", {"id": 3, "small": 300, "name": "c"}),
            Op("insert", {"id": 4, "small": "x", "name": "d"}),
            Op("insert", {"id": 5, "name": None}),
            Op("insert", {"small": 1, "name": "e"}),
            Op("upsert", {"id": 6, "small": -128, "name": "f", "f": None}),
        ]
        failures = session.write(ops)
        assert sorted(f.op for f in failures) == [1, 2, 3, 4, 5], failures
        assert {f.op: f.kind for f in failures}[5] == "invalid"
        assert session.session.hasPendingOperations() is False
        assert session.write([Op("insert", {"id": 1, "name": "dup"})])[0].kind == "already_present"
        session.close()
    finally:
        backend.close()
    rows = {r["id"]: r for r in scan(table)}
    assert rows == {1: {"id": 1, "small": 5, "name": "a", "f": 2.0}, 6: {"id": 6, "small": -128, "name": "f", "f": None}}
