"""ReadLineSplitter: Java readLine's terminators, bounded lines, bytes kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.readline import ReadLineSplitter


def test_java_terminators() -> None:
    s = ReadLineSplitter()
    assert s.feed(b"a\nb\rc\r\nd") == [b"a", b"b", b"c"]
    assert s.feed(b"", final=True) == [b"d"]


def test_crlf_split_across_chunks_is_one_terminator() -> None:
    s = ReadLineSplitter()
    assert s.feed(b"a\r") == [b"a"]
    assert s.feed(b"\nb\n") == [b"b"]


def test_empty_lines_are_events() -> None:
    assert ReadLineSplitter().feed(b"\n\n") == [b"", b""]


def test_long_line_is_cut_and_counted_once() -> None:
    s = ReadLineSplitter(max_chars=4)
    out = s.feed(b"abcdefghij")
    out += s.feed(b"kl\n")
    assert out == [b"abcd", b"efgh", b"ijkl"]
    assert s.cut == 1


def test_invalid_bytes_are_kept() -> None:
    s = ReadLineSplitter()
    assert s.feed(b"\xff\xfe\n") == [b"\xff\xfe"]
    assert s.invalid == 1


def test_one_megabyte_without_newline_holds_at_most_the_limit() -> None:
    s = ReadLineSplitter(max_chars=1000)
    n = 0
    for _ in range(16):
        n += sum(len(x) for x in s.feed(b"z" * 65536))
        assert s._pending <= 1000
    n += sum(len(x) for x in s.feed(b"", final=True))
    assert n == 16 * 65536


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20), st.integers(min_value=1, max_value=50))
def test_fuzz_bytes_are_never_lost(chunks: list[bytes], limit: int) -> None:
    s = ReadLineSplitter(max_chars=limit)
    out: list[bytes] = []
    for c in chunks:
        out += s.feed(c)
    out += s.feed(b"", final=True)
    data = b"".join(chunks)
    # every byte that is not a terminator comes out, in order
    assert b"".join(out) == data.replace(b"\r", b"").replace(b"\n", b"")
    assert all(len(x.decode("utf-8", "surrogateescape")) <= limit for x in out)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1000), st.sampled_from(["UTF-8", "ISO-8859-1", "US-ASCII", "UTF-16"]))
def test_fuzz_any_charset_never_raises(data: bytes, charset: str) -> None:
    s = ReadLineSplitter(charset, max_chars=64)
    s.feed(data)
    s.feed(b"", final=True)
