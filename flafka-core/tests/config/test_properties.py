"""java.util.Properties parsing: separators, comments, escapes, continuation lines,
duplicates, line numbers, encodings — and a hypothesis round trip through an
independent escaping writer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.config.properties import escape, parse_file, parse_text, unescape


def props(text: str) -> dict[str, str]:
    return parse_text(text).as_dict()


# -- separators and whitespace --------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["a=b", "a = b", "a:b", "a : b", "a b", "a\tb", "a   b", "  a = b", "\ta=b", "\fa=b", "a =b", "a= b", "a \t: b"],
)
def test_separators(line: str) -> None:
    assert props(line) == {"a": "b"}


def test_only_first_separator_splits() -> None:
    assert props("a = b = c") == {"a": "b = c"}
    assert props("a b c") == {"a": "b c"}
    assert props("a:b:c") == {"a": "b:c"}
    # whitespace then '=' then '=': only one separator is skipped
    assert props("a = = b") == {"a": "= b"}


def test_key_without_value() -> None:
    assert props("lonely") == {"lonely": ""}
    assert props("lonely =") == {"lonely": ""}


def test_trailing_whitespace_of_value_is_kept() -> None:
    # Java keeps it; Flume trims later (grammar layer)
    assert props("a = b  ") == {"a": "b  "}


# -- comments and blank lines ------------------------------------------------------------------


def test_comments_and_blank_lines() -> None:
    text = "# comment\n! also comment\n   # indented comment\n\n   \nkey = value # not a comment\n"
    assert props(text) == {"key": "value # not a comment"}


def test_comment_does_not_continue() -> None:
    assert props("# comment \\\nkey = value") == {"key": "value"}


# -- continuation lines -----------------------------------------------------------------------


def test_continuation_strips_leading_whitespace() -> None:
    assert props("a = one, \\\n      two, \\\n\tthree") == {"a": "one, two, three"}


def test_even_backslashes_do_not_continue() -> None:
    assert props("a = b\\\\\nc = d") == {"a": "b\\", "c": "d"}


def test_continued_line_starting_with_hash_is_not_a_comment() -> None:
    assert props("a = x\\\n  #y") == {"a": "x#y"}


def test_blank_continued_line_ends_the_logical_line() -> None:
    assert props("a = x\\\n\nb = y") == {"a": "x", "b": "y"}


def test_backslash_at_end_of_file_is_dropped() -> None:
    assert props("a = x\\") == {"a": "x"}


def test_continuation_inside_key() -> None:
    assert props("agent.so\\\n   urces = r1") == {"agent.sources": "r1"}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_and_line_numbers(newline: str) -> None:
    text = newline.join(["# c", "a = 1", "b = 2 \\", "    3", "", "c = 4"])
    parsed = parse_text(text, "f.conf")
    assert [(e.key, e.value, e.line, e.end_line) for e in parsed.entries] == [
        ("a", "1", 2, 2),
        ("b", "2 3", 3, 4),
        ("c", "4", 6, 6),
    ]
    assert all(e.file == "f.conf" for e in parsed.entries)


# -- escapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\\\\d", "\\d"),
        ("(\\\\d):(\\\\d)", "(\\d):(\\d)"),
        ("\\=", "="),
        ("\\:", ":"),
        ("\\ ", " "),
        ("\\t", "\t"),
        ("\\n", "\n"),
        ("\\r", "\r"),
        ("\\f", "\f"),
        ("\\q", "q"),
        ("\\u00e9", "é"),
        ("\\u0041BC", "ABC"),
        ("\\uD83D\\uDE00", "\U0001f600"),
    ],
)
def test_unescape(raw: str, expected: str) -> None:
    assert unescape(raw) == expected


def test_escaped_separators_in_keys() -> None:
    assert props("a\\=b = c") == {"a=b": "c"}
    assert props("a\\:b:c") == {"a:b": "c"}
    assert props("a\\ b c") == {"a b": "c"}


def test_flume_regex_example() -> None:
    # the Flume user guide's regex_extractor example relies on \\d -> \d
    parsed = props("a1.sources.r1.interceptors.i1.regex = (\\\\d):(\\\\d):(\\\\d)")
    assert parsed == {"a1.sources.r1.interceptors.i1.regex": "(\\d):(\\d):(\\d)"}


def test_malformed_unicode_escape_is_reported() -> None:
    parsed = parse_text("ok = 1\nbad = \\u12g4\nalso = 2", "x.conf")
    assert parsed.as_dict() == {"ok": "1", "also": "2"}
    (problem,) = parsed.problems
    assert problem.severity == "error"
    assert problem.line == 2
    assert "\\u" in problem.message


# -- duplicates ------------------------------------------------------------------------------


def test_duplicates_last_wins_and_are_recorded() -> None:
    parsed = parse_text("a = 1\nb = 2\na = 3\n", "d.conf")
    assert parsed.as_dict() == {"a": "3", "b": "2"}
    ((earlier, later),) = parsed.duplicates
    assert (earlier.line, earlier.value, later.line, later.value) == (1, "1", 3, "3")


# -- files and encodings -------------------------------------------------------------------


def test_utf8_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.conf"
    path.write_bytes("\ufeffagent.sources.r.header = café\n".encode())
    parsed = parse_file(path)
    assert parsed.as_dict() == {"agent.sources.r.header": "café"}
    assert parsed.problems == []


def test_latin1_file_falls_back_with_warning(tmp_path: Path) -> None:
    path = tmp_path / "a.conf"
    path.write_bytes("x = 1\nname = caf\xe9\n".encode("iso-8859-1"))
    parsed = parse_file(path)
    assert parsed.as_dict() == {"x": "1", "name": "café"}
    (problem,) = parsed.problems
    assert problem.severity == "warning" and problem.line == 2 and "UTF-8" in problem.message


def test_missing_file_raises() -> None:
    with pytest.raises(FileNotFoundError):
        parse_file("/nonexistent/flafka.conf")


def test_key_offsets_cover_the_raw_key() -> None:
    text = "  first.key = 1\nsecond\\\n   .key: 2\n"
    entries = parse_text(text).entries
    assert [text[e.key_start : e.key_end] for e in entries] == ["first.key", "second\\\n   .key"]


# -- property tests --------------------------------------------------------------------------


def reference_escape(text: str, is_key: bool) -> str:
    """An escaping writer written independently of the library's (Java's saveConvert,
    escaping every non-ASCII character as \\uXXXX like Properties.store does)."""
    out = []
    for i, ch in enumerate(text):
        code = ord(ch)
        if ch == " " and (is_key or i == 0):
            out.append("\\ ")
        elif ch in "\\=:#!":
            out.append("\\" + ch)
        elif ch in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[ch])
        elif code < 0x20 or code > 0x7E:
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(units[j : j + 2], 'big'):04x}" for j in range(0, len(units), 2))
        else:
            out.append(ch)
    return "".join(out)


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)
keys = texts.filter(bool)


@settings(max_examples=300)
@given(st.dictionaries(keys, texts, max_size=8), st.sampled_from(["=", " = ", ":", " ", "\t: "]), st.sampled_from(["\n", "\r\n"]))
def test_round_trip_through_reference_writer(data: dict[str, str], sep: str, newline: str) -> None:
    text = newline.join(reference_escape(k, True) + sep + reference_escape(v, False) for k, v in data.items())
    assert props(text) == data


@settings(max_examples=300)
@given(st.dictionaries(keys, texts, max_size=8))
def test_round_trip_through_library_escape(data: dict[str, str]) -> None:
    text = "\n".join(escape(k, is_key=True) + "=" + escape(v, is_key=False) for k, v in data.items())
    assert props(text) == data


@settings(max_examples=200)
@given(
    st.text(alphabet="abc.=: xyz", min_size=1, max_size=12).map(lambda s: s.strip() or "k"),
    st.lists(st.text(alphabet="abcd ,-", min_size=1, max_size=10).filter(lambda s: s.strip()), min_size=1, max_size=4),
    st.sampled_from(["", " ", "    ", "\t"]),
)
def test_continuation_lines_join_pieces(key: str, pieces: list[str], indent: str) -> None:
    """Splitting a value over continuation lines (at any point not followed by blanks)
    reads the same value back, with the indentation of continued lines dropped."""
    value = "".join(p.strip() for p in pieces)
    text = reference_escape(key, True) + " = " + ("\\\n" + indent).join(p.strip() for p in pieces)
    assert props(text) == {key: value}


@settings(max_examples=200)
@given(st.lists(st.tuples(keys, texts), min_size=1, max_size=10))
def test_duplicates_last_wins(pairs: list[tuple[str, str]]) -> None:
    text = "\n".join(reference_escape(k, True) + "=" + reference_escape(v, False) for k, v in pairs)
    assert props(text) == dict(pairs)
    parsed = parse_text(text)
    assert [e.line for e in parsed.entries] == list(range(1, len(pairs) + 1))
    assert len(parsed.duplicates) == len(pairs) - len(dict(pairs))
