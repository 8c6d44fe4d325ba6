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
