"""LineFramer: Flume's netcat line splitting (limit counts the newline, \r kept, UTF-8 bodies)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.sources.lines import LineFramer


def test_lines_keep_carriage_return_and_drop_newline() -> None:
    f = LineFramer()
    assert f.feed(b"Hello world!\r\nsecond\n") == [b"Hello world!\r", b"second"]
    assert not f.too_long


def test_line_split_across_chunks() -> None:
    f = LineFramer()
    assert f.feed(b"ab") == []
    assert f.feed(b"c") == []
    assert f.feed(b"d\nef\n") == [b"abcd", b"ef"]


def test_limit_includes_the_newline() -> None:
    f = LineFramer(max_chars=5)
    assert f.feed(b"abcd\n") == [b"abcd"]
    assert f.feed(b"abcde\n") == []
    assert f.too_long


def test_lines_before_a_too_long_line_are_kept() -> None:
    f = LineFramer(max_chars=4)
    assert f.feed(b"ok\nabcdefgh\nlater\n") == [b"ok"]
    assert f.too_long
    assert f.feed(b"more\n") == []


def test_unterminated_input_is_bounded_by_the_limit() -> None:
    f = LineFramer(max_chars=10)
    assert f.feed(b"123456789") == []
    assert not f.too_long and f.pending_chars == 9
    assert f.feed(b"0") == []
    assert f.too_long and f.pending_chars == 0


def test_limit_counts_characters_not_bytes() -> None:
    f = LineFramer(max_chars=3)
    assert f.feed("éé\n".encode()) == ["éé".encode()]


def test_other_charset_is_reencoded_as_utf8_like_flume() -> None:
    f = LineFramer("ISO-8859-1")
    assert f.feed(b"caf\xe9\n") == ["café".encode()]


def test_invalid_bytes_are_kept_and_counted() -> None:
    f = LineFramer()
    assert f.feed(b"a\xff\xfeb\n") == [b"a\xff\xfeb"]
    assert f.invalid == 1


def test_multibyte_char_split_across_chunks() -> None:
    f = LineFramer()
    data = "€\n".encode()
    assert f.feed(data[:1]) == []
    assert f.feed(data[1:]) == ["€".encode()]
    assert f.invalid == 0


def test_one_megabyte_without_newline_holds_no_more_than_the_limit() -> None:
    f = LineFramer(max_chars=512)
    for _ in range(16):
        f.feed(b"x" * 65536)
    assert f.too_long and f.pending_chars == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(min_value=1, max_value=64))
def test_fuzz_utf8_lines_round_trip(chunks: list[bytes], limit: int) -> None:
    data = b"".join(chunks)
    f = LineFramer(max_chars=limit)
    out: list[bytes] = []
    for chunk in chunks:
        out += f.feed(chunk)
    assert f.pending_chars < limit
    if not f.too_long:
        # every complete line comes back byte for byte, whatever bytes it holds
        assert out == data.split(b"\n")[: len(out)]
        assert len(out) == data.count(b"\n")
    else:
        assert out == data.split(b"\n")[: len(out)]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["utf-8", "ISO-8859-1", "ascii", "utf-16"]))
def test_fuzz_any_bytes_any_charset_never_raises(data: bytes, encoding: str) -> None:
    f = LineFramer(encoding, max_chars=100)
    f.feed(data)
    f.feed(b"", final=True)
