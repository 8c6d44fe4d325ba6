from __future__ import annotations

from pathlib import Path

from flafka_testkit.crash import make_line, read_output_lines, verify, write_lines


def test_generated_lines_verify_clean(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.log", 0, 500)
    write_lines(tmp_path / "b.log", 500, 500)
    verdict = verify(read_output_lines(tmp_path), 1000)
    assert verdict.ok and verdict.seen == 1000 and verdict.duplicates == 0, verdict.summary()
    assert all(len(line) == 100 for line in read_output_lines(tmp_path))


def test_verifier_counts_lost_duplicated_corrupt_and_unexpected() -> None:
    lines = [make_line(i) for i in range(10) if i != 3]
    lines += [make_line(5), make_line(5), make_line(42)]
    bad = bytearray(make_line(7))
    bad[-1] ^= 1
    lines += [bytes(bad), b"garbage", make_line(8)[:30]]
    verdict = verify(lines, 10)
    assert verdict.lost == [3]
    assert verdict.duplicates == 2
    assert verdict.unexpected == 1
    assert verdict.corrupt == 3
    assert not verdict.ok
    assert "lost 1" in verdict.summary()


def test_partial_last_line_is_reported_as_corrupt(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(make_line(0) + b"\n" + make_line(1)[:40])
    verdict = verify(read_output_lines(tmp_path), 2)
    assert verdict.corrupt == 1 and verdict.lost == [1]
