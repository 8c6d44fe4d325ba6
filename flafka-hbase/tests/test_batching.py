"""How a batch is cut into mutateRows calls (no server needed): capped by bytes and by
cells, rows merged with the last value of a cell winning, oversized cells alone."""

from __future__ import annotations

from flafka_hbase.serializers import Mutations
from flafka_hbase.sink import HBase2Sink


def sink(**keys: str) -> HBase2Sink:
    settings, problems = HBase2Sink.settings_schema.parse({"table": "t", "columnFamily": "cf", "thrift.servers": "h:9090", **keys})
    assert not [p for p in problems if p.severity == "error"]
    return HBase2Sink("k", settings)


def cut(s: HBase2Sink, m: Mutations) -> list[tuple[list[tuple[bytes, list[tuple[bytes, bytes]]]], list[int], bool]]:
    rows, owner = s._rows(m)
    return [
        ([(bm.row, [(x.column, x.value) for x in bm.mutations]) for bm in batch], owners, big)
        for batch, owners, big in s._chunks(rows, owner)
    ]


def test_chunks_respect_the_byte_and_cell_caps_and_keep_every_cell() -> None:
    s = sink(**{"thrift.maxBatchBytes": "1000", "thrift.maxBatchCells": "7"})
    m = Mutations(puts=[(i, b"r%03d" % i, {b"cf:a": b"x" * 100, b"cf:b": b"y" * 50, b"cf:c": b""}) for i in range(40)])
    chunks = cut(s, m)
    sent = []
    for batch, owners, big in chunks:
        cells = [(row, c, v) for row, muts in batch for c, v in muts]
        assert not big and len(cells) <= 7
        assert sum(len(r) + len(c) + len(v) + 16 for r, c, v in cells) <= 1000
        assert len(owners) == len(batch)
        sent += cells
    want = [(b"r%03d" % i, c, v) for i in range(40) for c, v in ((b"cf:a", b"x" * 100), (b"cf:b", b"y" * 50), (b"cf:c", b""))]
    assert sent == want


def test_same_row_in_one_batch_merges_and_the_last_value_wins() -> None:
    s = sink()
    m = Mutations(puts=[(0, b"r", {b"cf:a": b"1", b"cf:b": b"1"}), (1, b"s", {b"cf:a": b"2"}), (2, b"r", {b"cf:a": b"3"})])
    assert cut(s, m) == [([(b"r", [(b"cf:a", b"3"), (b"cf:b", b"1")]), (b"s", [(b"cf:a", b"2")])], [2, 1], False)]


def test_a_cell_larger_than_the_cap_is_sent_alone_and_marked() -> None:
    s = sink(**{"thrift.maxBatchBytes": "500"})
    m = Mutations(puts=[(0, b"a", {b"cf:v": b"s"}), (1, b"b", {b"cf:v": b"L" * 600}), (2, b"c", {b"cf:v": b"t"})])
    chunks = cut(s, m)
    assert [(owners, big) for _, owners, big in chunks] == [([1], True), ([0, 2], False)]


def test_enable_wal_false_reaches_every_mutation() -> None:
    s = sink(enableWal="false")
    rows, owner = s._rows(Mutations(puts=[(0, b"r", {b"cf:a": b"1", b"cf:b": b"2"})]))
    ((batch, _, _),) = list(s._chunks(rows, owner))
    assert [m.writeToWAL for bm in batch for m in bm.mutations] == [False, False]
