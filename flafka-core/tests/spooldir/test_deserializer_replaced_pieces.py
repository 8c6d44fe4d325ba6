"""A long line with replaced (undecodable) bytes is cut into maxLineLength pieces whose
offsets are exact: a restart after any piece reads exactly the pieces that followed
(found by the fuzz target ``line_deserializer``: the offsets of pieces ahead of an
unfinished multi-byte sequence pointed past it, so a restart skipped an event)."""

from __future__ import annotations

import io

import pytest

from flafka.sources.deserializers import LineDeserializer


def _read(content: bytes, offset: int, line: int, max_len: int, chunk: int) -> list[tuple[bytes, int, int]]:
    f = io.BytesIO(content)
    f.seek(offset)
    d = LineDeserializer(f, offset=offset, line=line, max_line_length=max_len, decode_error_policy="REPLACE", chunk_size=chunk)
    out = []
    while batch := d.read(1):
        out.append((batch[0], d.offset, d.line))
    return out


@pytest.mark.parametrize("content", [b"\xc2\xc2", b"\x00" * 9 + b"\xe1\x80\x00", b"ab\xe1\x80\xe1\x80cd\xf0\x9f\x98", b"\xff" * 5 + b"x\n"])
@pytest.mark.parametrize("chunk", [1, 3, 65536])
def test_a_restart_after_any_piece_reads_exactly_the_rest(content: bytes, chunk: int) -> None:
    whole = _read(content, 0, 0, 1, chunk)
    assert whole[-1][1] == len(content)
    for i, (_body, offset, line) in enumerate(whole):
        assert [b for b, _, _ in _read(content, offset, line, 1, chunk)] == [b for b, _, _ in whole[i + 1 :]], (i, offset)


class _Counting(io.BytesIO):
    """Counts the bytes the deserializer has read so far."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


@pytest.mark.parametrize("policy", ["REPLACE", "IGNORE"])
def test_a_long_line_with_a_bad_byte_is_cut_as_it_is_read(policy: str) -> None:
    """Issue 17: one undecodable byte at the start of a long line without newline made the
    source buffer the whole line and re-decode it per chunk (200 MiB: 113 s, 844 MB). Now
    its pieces go out while it is read, exactly as for a clean line."""
    content = b"\xff" + b"a" * (16 << 20)
    f = _Counting(content)
    d = LineDeserializer(f, max_line_length=2048, decode_error_policy=policy)
    first = d.read(10)
    assert len(first) == 10 and f.taken <= (2 << 20), f.taken  # a chunk or two, not the whole line
    assert d.repaired == 1 and d.cuts == 1
    total = len(first)
    while batch := d.read(1000):
        total += len(batch)
    assert d.offset == len(content) and d.repaired == 1
    assert total == (16 << 20) // 2048 + (1 if policy == "REPLACE" else 0)


def test_fail_policy_fails_at_once_on_a_long_line() -> None:
    from flafka.sources.deserializers import DecodeFailure

    f = _Counting(b"ok\n" + b"a" * 100_000 + b"\xff" + b"a" * (8 << 20))
    d = LineDeserializer(f, max_line_length=2048, decode_error_policy="FAIL")
    bodies = []
    with pytest.raises(DecodeFailure) as exc:
        while batch := d.read(100):
            bodies.extend(batch)
    assert exc.value.offset == 3 + 100_000 and exc.value.line == 2
    assert f.taken <= (2 << 20)
    assert bodies[0] == b"ok"


def test_dropped_bytes_are_decoded_once_not_once_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the fuzzing campaign (target ``line_deserializer``): one character, then
    undecodable bytes with ``decodeErrorPolicy = IGNORE`` (no whole piece to cut yet)
    made every chunk decode the whole buffered line again: quadratic (``a`` + 512 KiB of
    0xFF: 29 CPU s, 1 MiB: minutes). Counts the bytes decoded: at most each byte twice."""
    from flafka.sources import deserializers

    decoded = 0
    real = deserializers._decode_runs

    def counting(raw: bytes, cs: str, errors: str, final: bool) -> tuple[list[tuple[str, int, bool]], int]:
        nonlocal decoded
        decoded += len(raw)
        return real(raw, cs, errors, final)

    monkeypatch.setattr(deserializers, "_decode_runs", counting)
    content = b"a" + b"\xff" * (128 << 10) + b"bc\n"
    d = LineDeserializer(io.BytesIO(content), max_line_length=16, decode_error_policy="IGNORE", chunk_size=4096)
    bodies = []
    while batch := d.read(100):
        bodies.extend(batch)
    assert bodies == [b"abc"] and d.offset == len(content) and d.repaired == 1
    assert decoded <= 2 * len(content), decoded
