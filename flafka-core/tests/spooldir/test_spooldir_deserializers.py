"""LINE and BLOB deserializers: bodies, exact offsets, resume, long lines, bad bytes."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.deserializers import BlobDeserializer, DecodeFailure, LineDeserializer, ascii_compatible


def line_reader(data: bytes, offset: int = 0, line: int = 0, **kw: Any) -> LineDeserializer:
    f = io.BytesIO(data)
    f.seek(offset)
    return LineDeserializer(f, offset=offset, line=line, **kw)


def read_all(d: LineDeserializer | BlobDeserializer, batch: int = 1000) -> list[bytes]:
    out: list[bytes] = []
    while True:
        got = d.read(batch)
        if not got:
            assert d.at_eof()
            return out
        out.extend(got)


def read_restarting(data: bytes, batch: int, **kw: Any) -> tuple[list[bytes], int, int]:
    """Read ``data`` with a new reader at each batch boundary (a restart after each
    delivered batch), each resuming at the last one's position; every batch must move the
    offset. Returns (bodies, final offset, final line)."""
    got: list[bytes] = []
    offset = line = 0
    while True:
        d = line_reader(data, offset=offset, line=line, **kw)
        events = d.read(batch)
        if not events:
            return got, offset, line
        got.extend(events)
        assert d.offset > offset
        offset, line = d.offset, d.line


def reference(data: bytes, limit: int, charset: str = "utf-8", errors: str = "strict") -> list[bytes]:
    """Flume's line semantics (without its spurious empty event), character based."""
    if not data:
        return []
    raws = data.split(b"\n")
    if data.endswith(b"\n"):
        raws.pop()
    out = []
    for raw in raws:
        text = raw.decode(charset, errors)
        if len(text) <= limit:
            out.append(text.encode("utf-8"))
        else:
            out.extend(text[k : k + limit].encode("utf-8") for k in range(0, len(text), limit))
    return out


def test_lines_keep_cr_empty_lines_and_last_line_without_newline() -> None:
    d = line_reader(b"a\r\n\nb\nlast")
    assert read_all(d) == [b"a\r", b"", b"b", b"last"]
    assert d.offset == 10 and d.line == 4


def test_empty_input_gives_no_event() -> None:
    d = line_reader(b"")
    assert d.read(10) == [] and d.at_eof() and d.offset == 0


def test_only_newlines() -> None:
    assert read_all(line_reader(b"\n\n")) == [b"", b""]


def test_offsets_are_exact_after_each_batch() -> None:
    data = b"aa\nbbb\nc\n"
    d = line_reader(data, chunk_size=4)
    assert d.read(1) == [b"aa"] and d.offset == 3 and d.line == 1
    assert d.read(1) == [b"bbb"] and d.offset == 7
    assert d.read(5) == [b"c"] and d.offset == 9 and d.line == 3
    assert d.at_eof()


def test_line_of_exactly_max_length_is_not_cut() -> None:
    d = line_reader(b"abcd\nabcde\n", max_line_length=4)
    assert read_all(d) == [b"abcd", b"abcd", b"e"]
    assert d.cuts == 1 and d.first_cut == (2, 5)


def test_max_line_length_counts_characters_not_bytes() -> None:
    text = "日本語の" * 3  # 12 characters, 36 bytes
    d = line_reader((text + "\n").encode(), max_line_length=12)
    assert read_all(d) == [text.encode()] and d.cuts == 0
    d = line_reader((text + "\n").encode(), max_line_length=5)
    assert read_all(d) == [text[:5].encode(), text[5:10].encode(), text[10:].encode()]
    assert d.cuts == 1 and d.first_cut == (1, 12)


def test_cut_pieces_have_exact_offsets_and_resume_mid_line() -> None:
    data = ("x" * 10 + "\n" + "é" * 7 + "\nend\n").encode()
    d = line_reader(data, max_line_length=3)
    first = d.read(2)
    assert first == [b"xxx", b"xxx"] and d.offset == 6 and d.line == 0
    rest = read_all(line_reader(data, offset=d.offset, line=d.line, max_line_length=3))
    assert first + rest == reference(data, 3)


def test_invalid_utf8_fail_names_line_and_offset_after_the_good_lines() -> None:
    data = b"good\nalso good\nbad \xff here\nnever\n"
    d = line_reader(data)
    assert d.read(10) == [b"good", b"also good"]
    with pytest.raises(DecodeFailure) as info:
        d.read(10)
    assert info.value.line == 3 and info.value.offset == data.index(b"\xff")
    assert d.offset == 15


def test_invalid_utf8_replace_and_ignore() -> None:
    data = b"ok\nbad \xff\xfe x\n"
    d = line_reader(data, decode_error_policy="REPLACE")
    assert read_all(d) == [b"ok", "bad \ufffd\ufffd x".encode()]
    assert d.repaired == 1 and d.first_repair == (2, 7)
    d = line_reader(data, decode_error_policy="IGNORE")
    assert read_all(d) == [b"ok", b"bad  x"] and d.offset == len(data)


def test_latin1_input_is_reencoded_to_the_output_charset() -> None:
    data = "café\nna\xefve\n".encode("latin-1")
    assert read_all(line_reader(data, input_charset="ISO-8859-1")) == ["café".encode(), "naïve".encode()]
    d = line_reader("é\n".encode(), output_charset="ISO-8859-1")
    assert read_all(d) == [b"\xe9"]


def test_chunk_boundaries_inside_lines_and_multibyte_characters() -> None:
    data = ("αβγ\n" * 50 + "tail").encode()
    for chunk in (1, 2, 3, 5, 7, 64):
        assert read_all(line_reader(data, chunk_size=chunk), batch=7) == reference(data, 2048)


def test_very_long_line_without_newline_across_many_chunks() -> None:
    data = b"z" * 10_000
    d = line_reader(data, chunk_size=1000, max_line_length=4096)
    assert read_all(d) == [b"z" * 4096, b"z" * 4096, b"z" * 1808]
    assert d.offset == 10_000 and d.line == 1


def test_file_without_newlines_is_emitted_in_pieces_with_bounded_memory() -> None:
    """A 3 MB file with no newline: pieces go out while it is read (never the whole file
    in memory), with exact offsets, one cut counted, and the same events as Flume's."""
    data = ("é" * 1000 + "x").encode() * 1000  # 2-byte characters across chunk boundaries
    d = line_reader(data, chunk_size=65536, max_line_length=2048)
    got: list[bytes] = []
    most_buffered = 0
    while True:
        events = d.read(100)
        if not events:
            break
        got.extend(events)
        most_buffered = max(most_buffered, d._parts_len)
        assert d.line == 0 or d.offset == len(data)
    assert got == reference(data, 2048)
    assert most_buffered <= 2 * 65536
    assert d.offset == len(data) and d.line == 1
    assert d.cuts == 1 and d.first_cut is not None and d.first_cut[0] == 1


def test_resuming_inside_a_long_line_that_was_emitted_early() -> None:
    data = b"a" * 5000 + b"\nnext\n"
    d = line_reader(data, chunk_size=1000, max_line_length=1000)
    first = d.read(2)
    assert first == [b"a" * 1000] * 2 and (d.offset, d.line) == (2000, 0)
    rest = read_all(line_reader(data, offset=d.offset, line=d.line, chunk_size=1000, max_line_length=1000))
    assert first + rest == reference(data, 1000)


@settings(max_examples=int(os.environ.get("FLAFKA_HYPOTHESIS_EXAMPLES", "300")), deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(["a", "é", "日", "😀"]), min_size=50, max_size=400),
    limit=st.integers(min_value=1, max_value=12),
    chunk=st.integers(min_value=1, max_value=16),
    batch=st.integers(min_value=1, max_value=9),
)
def test_long_lines_emitted_early_resume_exactly(text: str, limit: int, chunk: int, batch: int) -> None:
    raw = (text + "\n" + text).encode()
    expected = reference(raw, limit)
    kw: dict[str, Any] = {"max_line_length": limit, "chunk_size": chunk}
    assert read_all(line_reader(raw, **kw), batch) == expected
    got, offset, line = read_restarting(raw, batch, **kw)
    assert got == expected and offset == len(raw) and line == 2


def test_ascii_compatible() -> None:
    assert ascii_compatible("UTF-8") and ascii_compatible("ISO-8859-1") and ascii_compatible("Shift_JIS")
    assert not ascii_compatible("UTF-16") and not ascii_compatible("UTF-32-LE")


texts = st.text(alphabet=st.sampled_from(["a", "b", "\n", "\r", "é", "日", "😀", " "]), max_size=120)


@settings(max_examples=int(os.environ.get("FLAFKA_HYPOTHESIS_EXAMPLES", "300")), deadline=None)
@given(
    text=texts,
    bad=st.lists(st.integers(min_value=0, max_value=200), max_size=3),
    limit=st.integers(min_value=1, max_value=12),
    chunk=st.integers(min_value=1, max_value=40),
    batch=st.integers(min_value=1, max_value=9),
    policy=st.sampled_from(["REPLACE", "IGNORE"]),
)
def test_resuming_at_every_batch_boundary_gives_the_reference_events(
    text: str, bad: list[int], limit: int, chunk: int, batch: int, policy: str
) -> None:
    data = bytearray(text.encode())
    for pos in bad:  # sprinkle invalid bytes
        data.insert(min(pos, len(data)), 0xFF)
    raw = bytes(data)
    errors = policy.lower()
    expected = reference(raw, limit, errors=errors)
    kw: dict[str, Any] = {"max_line_length": limit, "chunk_size": chunk, "decode_error_policy": policy}
    # one reader, all the way
    assert read_all(line_reader(raw, **kw), batch) == expected
    # a new reader at each batch boundary (a restart after each delivered batch)
    got, offset, line = read_restarting(raw, batch, **kw)
    assert got == expected
    assert offset == len(raw)
    assert line == len(raw.split(b"\n")) - (1 if raw.endswith(b"\n") or not raw else 0)


def test_blob_whole_file_split_and_empty() -> None:
    assert read_all(BlobDeserializer(io.BytesIO(b"a\nb\n"))) == [b"a\nb\n"]
    d = BlobDeserializer(io.BytesIO(b"0123456789"), max_blob_length=4)
    assert d.read(100) == [b"0123"] and d.offset == 4
    assert read_all(d) == [b"4567", b"89"] and d.offset == 10 and d.cuts == 2
    assert read_all(BlobDeserializer(io.BytesIO(b""))) == []
    exact = BlobDeserializer(io.BytesIO(b"0123"), max_blob_length=4)
    assert read_all(exact) == [b"0123"] and exact.cuts == 0
