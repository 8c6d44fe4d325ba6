"""The HBase serializers against Flume 1.11's behaviour (flume-ng-hbase2-sink:
SimpleHBase2EventSerializer, SimpleRowKeyGenerator, RegexHBase2EventSerializer)."""

from __future__ import annotations

import re
import struct

import pytest

from flafka import plugins
from flafka.event import Event
from flafka_hbase import serializers
from flafka_hbase.serializers import HBaseEventSerializer, RegexHBaseSerializer, SimpleHBaseSerializer


def simple(**keys: str) -> SimpleHBaseSerializer:
    settings, problems = SimpleHBaseSerializer.settings_schema.parse(keys)
    assert not [p for p in problems if p.severity == "error"]
    return SimpleHBaseSerializer("k", settings)


def regex(**keys: str) -> RegexHBaseSerializer:
    settings, problems = RegexHBaseSerializer.settings_schema.parse(keys)
    assert not [p for p in problems if p.severity == "error"]
    assert not [p for p in RegexHBaseSerializer.check_settings(settings) if p.severity == "error"]
    return RegexHBaseSerializer("k", settings)


def test_simple_defaults_put_pcol_and_increment_incrow_icol() -> None:
    m = simple().serialize([Event(b"\x00body\xff", {"h": "v"}), Event(b"two")], b"cf")
    assert [(i, cells) for i, _, cells in m.puts] == [(0, {b"cf:pCol": b"\x00body\xff"}), (1, {b"cf:pCol": b"two"})]
    for _, row, _ in m.puts:
        assert re.fullmatch(rb"default[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", row), row
    assert m.increments == [(b"incRow", b"cf:iCol", 1)] * 2
    assert m.dropped == 0 and not m.rejected


@pytest.mark.parametrize(
    ("suffix", "pattern"),
    [
        ("uuid", rb"p[0-9a-f-]{36}"),
        ("random", rb"p-?\d{1,19}"),
        ("timestamp", rb"p1\d{12}"),
        ("nano", rb"p\d+"),
        ("typo", rb"p[0-9a-f-]{36}"),
    ],
)
def test_simple_row_key_suffixes(suffix: str, pattern: bytes) -> None:
    m = simple(rowPrefix="p", suffix=suffix).serialize([Event(b"x")] * 50, b"cf")
    for _, row, _ in m.puts:
        assert re.fullmatch(pattern, row), row


def test_simple_random_suffix_is_a_signed_java_long() -> None:
    rows = [row for _, row, _ in simple(rowPrefix="", suffix="random").serialize([Event(b"x")] * 2000, b"cf").puts]
    values = [int(r) for r in rows]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_simple_empty_payload_column_means_no_put_and_empty_both_drops() -> None:
    m = simple(payloadColumn="").serialize([Event(b"a"), Event(b"b")], b"f")
    assert m.puts == [] and m.increments == [(b"incRow", b"f:iCol", 1)] * 2
    m = simple(payloadColumn="", incrementColumn="").serialize([Event(b"a")], b"f")
    assert m.puts == [] and m.increments == [] and m.dropped == 1
    m = simple(incrementColumn="", incrementRow="r").serialize([Event(b"a")], b"f")
    assert m.increments == [] and len(m.puts) == 1


def test_regex_defaults_whole_body_to_payload_with_flume_auto_key() -> None:
    ser = regex()
    m = ser.serialize([Event(b"line one"), Event(b"two\nlines")], b"cf")
    assert [cells for _, _, cells in m.puts] == [{b"cf:payload": b"line one"}, {b"cf:payload": b"two\nlines"}]  # DOTALL
    keys = [row.decode() for _, row, _ in m.puts]
    parsed = [re.fullmatch(r"(\d{13})-([A-Za-z0-9]{10})-(-?\d+)", k) for k in keys]
    assert all(parsed), keys
    assert parsed[0] and parsed[1] and parsed[0].group(2) == parsed[1].group(2)  # one random part per process
    assert int(parsed[1].group(3)) == int(parsed[0].group(3)) + 1  # JVM-wide nonce


def test_regex_columns_row_key_and_headers() -> None:
    ser = regex(regex=r"(\w+) (\S+) (.*)", colNames="ROW_KEY,b,c", rowKeyIndex="0", depositHeaders="true")
    m = ser.serialize([Event("k1 vé rest".encode(), {"h1": "x"})], b"cf")
    assert m.puts == [(0, b"k1", {b"cf:b": "vé".encode(), b"cf:c": b"rest", b"cf:h1": b"x"})]


def test_regex_not_matching_or_wrong_group_count_is_dropped() -> None:
    ser = regex(regex=r"(\d+) (\d+)", colNames="a,b")
    m = ser.serialize([Event(b"1 2"), Event(b"1 2 3"), Event(b"x")], b"cf")
    assert [i for i, _, _ in m.puts] == [0] and m.dropped == 2 and "does not match" in m.dropped_example
    m = regex(regex=r"(\d+) (\d+)", colNames="a").serialize([Event(b"1 2")], b"cf")
    assert m.puts == [] and m.dropped == 1 and "colNames" in m.dropped_example


def test_regex_group_that_did_not_take_part_rejects_only_that_event() -> None:
    ser = regex(regex=r"(a)|(b)", colNames="x,y")
    m = ser.serialize([Event(b"a"), Event(b"b")], b"cf")
    assert m.puts == [] and sorted(m.rejected) == [0, 1] and "did not take part" in m.rejected[0]


def test_regex_is_full_match_ascii_and_ignore_case_only_for_true() -> None:
    assert regex(regex="ab").serialize([Event(b"abc")], b"f").dropped == 1
    assert regex(regex="(AB)", regexIgnoreCase="yes").serialize([Event(b"ab")], b"f").dropped == 1  # Flume: only "true"
    assert regex(regex="(AB)", regexIgnoreCase="TRUE").serialize([Event(b"ab")], b"f").puts
    assert regex(regex=r"(\w+)").serialize([Event("é".encode())], b"f").dropped == 1  # Java \w is ASCII


def test_regex_charset_decodes_body_and_encodes_names_but_values_are_utf8() -> None:
    ser = regex(regex="(.*)", colNames="n\u00e9", charset="ISO-8859-1")
    m = ser.serialize([Event(b"\xe9")], b"cf")
    assert m.puts[0][2] == {b"cf:n\xe9": "é".encode()}


def test_regex_row_key_index_validation() -> None:
    s, _ = RegexHBaseSerializer.settings_schema.parse({"colNames": "a,b", "rowKeyIndex": "1"})
    assert [p.key for p in RegexHBaseSerializer.check_settings(s)] == ["rowKeyIndex"]
    s, _ = RegexHBaseSerializer.settings_schema.parse({"colNames": "a,row_key", "rowKeyIndex": "1", "regex": "(a)(b)"})
    assert RegexHBaseSerializer.check_settings(s) == []


def test_nonce_wraps_like_a_java_int(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serializers, "_nonce", 2**31 - 2)
    assert serializers._take_nonces(4) == [2**31 - 2, 2**31 - 1, -(2**31), -(2**31) + 1]
    assert serializers._nonce == -(2**31) + 2


def test_java_named_groups_translate_and_unsupported_syntax_is_refused() -> None:
    assert serializers.java_regex(r"(?<word>\w+)", False).fullmatch("abc")
    with pytest.raises(ValueError, match=r"\\p\{"):
        serializers.java_regex(r"\p{Alpha}+", False)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("org.apache.flume.sink.hbase2.SimpleHBase2EventSerializer", SimpleHBaseSerializer),
        ("org.apache.flume.sink.hbase.SimpleHbaseEventSerializer", SimpleHBaseSerializer),
        ("org.apache.flume.sink.hbase.SimpleAsyncHbaseEventSerializer", SimpleHBaseSerializer),
        ("SimpleHBase2EventSerializer", SimpleHBaseSerializer),
        ("org.apache.flume.sink.hbase2.RegexHBase2EventSerializer", RegexHBaseSerializer),
        ("org.apache.flume.sink.hbase.RegexHbaseEventSerializer", RegexHBaseSerializer),
        ("regexhbase2eventserializer", RegexHBaseSerializer),
        ("hbase_regex", RegexHBaseSerializer),
    ],
)
def test_found_through_the_registry_serializer_kind(name: str, cls: type[HBaseEventSerializer]) -> None:
    assert plugins.get_registry().lookup("serializer", name) is cls


def test_counter_bytes_match_flume_long() -> None:
    assert struct.pack(">q", 3) == b"\x00" * 7 + b"\x03"
