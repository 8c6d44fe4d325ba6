"""Producers without a server: Java's parsing, Java regex translation, the Regexp
producer's policies, Simple/SimpleKeyed, and the producer registry (entry points)."""

from __future__ import annotations

import logging
import math
import sys
import textwrap
from pathlib import Path

import pytest

from flafka.event import Event
from flafka_kudu.backend import Column, TableInfo
from flafka_kudu.producers import javaparse
from flafka_kudu.producers.base import known_names, lookup, registry
from flafka_kudu.producers.regexp import PatternError, RegexpProducer, java_pattern
from flafka_kudu.producers.simple import SimpleKeyedProducer, SimpleProducer


def table(*cols: tuple[str, str], key: str = "id") -> TableInfo:
    return TableInfo("t", tuple(Column(n, t, n == key, n != key) for n, t in cols))


def regexp(t: TableInfo, **keys: str) -> RegexpProducer:
    settings, problems = RegexpProducer.settings_schema.parse(keys)
    problems += RegexpProducer.check_settings(settings)
    assert not [p for p in problems if p.severity == "error"], problems
    p = RegexpProducer("k", settings)
    p.initialize(t)
    return p


# -- Java parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,want",
    [("42", "INT32", 42), ("+7", "INT8", 7), ("-128", "INT8", -128), ("٣", "INT16", 3), ("9223372036854775807", "INT64", 2**63 - 1)],
)
def test_integers_java_accepts(text: str, kind: str, want: int) -> None:
    assert javaparse.parse_integer(text, kind) == want


@pytest.mark.parametrize(
    "text,kind",
    [(" 1", "INT32"), ("1 ", "INT32"), ("1_000", "INT32"), ("128", "INT8"), ("32768", "INT16"), ("2147483648", "INT32"), ("", "INT64"),
     ("1.0", "INT64"), ("0x10", "INT32"), (None, "INT32"), ("-", "INT32")],
)  # fmt: skip
def test_integers_java_refuses(text: str | None, kind: str) -> None:
    with pytest.raises(javaparse.NumberFormat):
        javaparse.parse_integer(text, kind)


@pytest.mark.parametrize(
    "text,want",
    [(" 1.5 ", 1.5), ("1.5f", 1.5), ("2D", 2.0), ("-Infinity", -math.inf), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("0x1p3", 8.0),
     ("0x1.8p1", 3.0)],
)  # fmt: skip
def test_doubles_java_accepts(text: str, want: float) -> None:
    assert javaparse.parse_double(text) == want


def test_nan_and_float_rounding() -> None:
    assert math.isnan(javaparse.parse_double("NaN"))
    assert javaparse.parse_float("0.1") == 0.10000000149011612
    assert javaparse.parse_float("1e39") == math.inf


@pytest.mark.parametrize("text", ["inf", "nan", "infinity", "1_0.0", "1e", "0x1", "", "1.5x", "١.5"])
def test_doubles_java_refuses(text: str) -> None:
    with pytest.raises(javaparse.NumberFormat):
        javaparse.parse_double(text)
    with pytest.raises(javaparse.NullValue):
        javaparse.parse_double(None)


def test_booleans_like_java() -> None:
    assert [javaparse.parse_boolean(v) for v in ("true", "TRUE", "True", "yes", "1", "", None, " true")] == [
        True, True, True, False, False, False, False, False,
    ]  # fmt: skip


# -- Java regular expressions ----------------------------------------------------------------


def test_java_named_groups_and_backreferences_are_translated() -> None:
    rx = java_pattern(r"(?<key>\d+):(?<name>\w+)=\k<name>(?<=x)?")
    assert set(rx.groupindex) == {"key", "name"}
    assert rx.fullmatch("12:ab=ab")
    assert java_pattern(r"(?<!a)b(?<=b)").search("cb")
    assert java_pattern(r"[(?<x>)]").fullmatch("<")  # inside a class: literal characters


def test_java_classes_are_ascii_only() -> None:
    assert java_pattern(r"\d+").fullmatch("123")
    assert java_pattern(r"\d+").fullmatch("٣") is None


def test_java_group_names_refuse_underscores() -> None:
    with pytest.raises(PatternError, match="no '_'"):
        java_pattern(r"(?<my_col>\d+)")
    with pytest.raises(PatternError, match="not supported"):
        java_pattern(r"\p{Alpha}")


# -- Regexp producer -------------------------------------------------------------------------

T = table(("id", "INT32"), ("name", "STRING"), ("score", "DOUBLE"))


def test_several_rows_per_event_and_operation() -> None:
    p = regexp(T, pattern=r"\|(?<id>\d+),(?<name>[a-z]+),(?<score>[\d.]+)\|", operation="INSERT")
    out = p.operations([Event(b"|1,a,1.5||2,b,2|"), Event(b"|3,c,3|")])
    assert [(o.kind, o.values, o.event) for o in out.ops] == [
        ("insert", {"id": 1, "name": "a", "score": 1.5}, 0),
        ("insert", {"id": 2, "name": "b", "score": 2.0}, 0),
        ("insert", {"id": 3, "name": "c", "score": 3.0}, 1),
    ]
    assert out.failed == []


def test_encoding_decodes_body_and_encodes_binary() -> None:
    t = table(("id", "INT32"), ("b", "BINARY"), ("s", "STRING"))
    p = regexp(t, pattern=r"(?<id>\d+) (?<b>\S+) (?<s>\S+)", encoding="ISO-8859-1")
    out = p.operations([Event("1 é ü".encode("latin-1"))])
    assert out.ops[0].values == {"id": 1, "b": "é".encode("latin-1"), "s": "ü"}


def test_missing_column_policies(caplog: pytest.LogCaptureFixture) -> None:
    pattern = r"(?<id>\d+),(?<name>\w+)"  # no group for score
    assert regexp(T, pattern=pattern).operations([Event(b"1,a")]).failed[0][1].count("score") >= 1  # REJECT by default
    caplog.set_level(logging.WARNING)
    out = regexp(T, pattern=pattern, missingColumnPolicy="warn").operations([Event(b"1,a")])
    assert out.ops[0].values == {"id": 1, "name": "a"} and "score" in caplog.text
    caplog.clear()
    out = regexp(T, pattern=pattern, missingColumnPolicy="IGNORE").operations([Event(b"1,a")])
    assert out.ops[0].values == {"id": 1, "name": "a"} and caplog.text == ""
    assert regexp(T, pattern=pattern, skipMissingColumn="true").missing == "WARN"
    assert regexp(T, pattern=pattern, skipMissingColumn="false").missing == "REJECT"


def test_bad_value_policies(caplog: pytest.LogCaptureFixture) -> None:
    pattern = r"(?<id>\d+),(?<name>\w+),(?<score>\S+)"
    out = regexp(T, pattern=pattern).operations([Event(b"1,a,x"), Event(b"2,b,2.5")])
    assert out.failed and out.failed[0][0] == 0 and "score" in out.failed[0][1] and "'x'" in out.failed[0][1]
    assert [o.values for o in out.ops] == [{"id": 2, "name": "b", "score": 2.5}]
    caplog.set_level(logging.WARNING)
    out = regexp(T, pattern=pattern, badColumnValuePolicy="WARN").operations([Event(b"1,a,x")])
    assert out.ops[0].values == {"id": 1, "name": "a"} and "score" in caplog.text
    caplog.clear()
    out = regexp(T, pattern=pattern, skipBadColumnValue="true").operations([Event(b"1,a,x")])
    assert out.ops[0].values == {"id": 1, "name": "a"}
    out = regexp(T, pattern=pattern, badColumnValuePolicy="IGNORE").operations([Event(b"1,a,x")])
    assert out.ops[0].values == {"id": 1, "name": "a"}


def test_unmatched_row_policies(caplog: pytest.LogCaptureFixture) -> None:
    pattern = r"(?<id>\d+),(?<name>\w+),(?<score>\S+)"
    caplog.set_level(logging.WARNING)
    out = regexp(T, pattern=pattern).operations([Event(b"garbage")])  # WARN by default
    assert out.ops == [] and out.failed == [] and "does not match" in caplog.text
    out = regexp(T, pattern=pattern, unmatchedRowPolicy="REJECT").operations([Event(b"garbage")])
    assert out.failed[0][0] == 0
    caplog.clear()
    out = regexp(T, pattern=pattern, unmatchedRowPolicy="IGNORE").operations([Event(b"garbage")])
    assert out.ops == [] and out.failed == [] and caplog.text == ""
    assert regexp(T, pattern=pattern, skipUnmatchedRows="false").unmatched == "IGNORE"
    assert regexp(T, pattern=pattern, skipUnmatchedRows="true").unmatched == "WARN"


def test_deprecated_and_new_key_together_is_an_error() -> None:
    settings, _ = RegexpProducer.settings_schema.parse({"pattern": "x", "skipMissingColumn": "true", "missingColumnPolicy": "WARN"})
    problems = RegexpProducer.check_settings(settings)
    assert any(p.key == "skipMissingColumn" and p.severity == "error" for p in problems)


def test_non_participating_group_is_fatal_for_strings_and_false_for_bool() -> None:
    t = table(("id", "INT32"), ("flag", "BOOL"), ("name", "STRING"))
    p = regexp(t, pattern=r"(?<id>\d+)(,(?<flag>\w+))?(;(?<name>\w+))?", badColumnValuePolicy="IGNORE")
    out = p.operations([Event(b"1;x"), Event(b"2")])
    assert out.ops[0].values == {"id": 1, "flag": False, "name": "x"}
    assert out.failed[0][0] == 1 and "name" in out.failed[0][1]


def test_unknown_types_are_left_unset() -> None:
    t = table(("id", "INT32"), ("d", "DECIMAL"))
    out = regexp(t, pattern=r"(?<id>\d+) (?<d>\S+)").operations([Event(b"1 2.5")])
    assert out.ops[0].values == {"id": 1}


def test_bad_pattern_and_operation_are_reported_at_configure_time() -> None:
    settings, _ = RegexpProducer.settings_schema.parse({"pattern": "(unclosed", "operation": "delete"})
    keys = {p.key for p in RegexpProducer.check_settings(settings)}
    assert keys == {"pattern", "operation"}


# -- Simple and SimpleKeyed ------------------------------------------------------------------


def test_simple_and_keyed() -> None:
    t = TableInfo("t", (Column("key", "STRING", True, False), Column("payload", "BINARY", False, True)))
    s, _ = SimpleProducer.settings_schema.parse({})
    simple = SimpleProducer("k", s)
    simple.initialize(TableInfo("t", (Column("payload", "BINARY", True, False),)))
    assert [o.values for o in simple.operations([Event(b"x")]).ops] == [{"payload": b"x"}]
    s, _ = SimpleKeyedProducer.settings_schema.parse({"operation": "Insert"})
    keyed = SimpleKeyedProducer("k", s)
    keyed.initialize(t)
    out = keyed.operations([Event(b"a", {"key": "k1"}), Event(b"b")])
    assert [(o.kind, o.values) for o in out.ops] == [("insert", {"key": "k1", "payload": b"a"})]
    assert out.failed[0][0] == 1 and "key" in out.failed[0][1]
    with pytest.raises(ValueError, match="no column 'payload'"):
        simple.initialize(TableInfo("t", (Column("p", "BINARY", True, False),)))


# -- registry --------------------------------------------------------------------------------


def test_flume_class_names_and_short_names_resolve() -> None:
    assert lookup("org.apache.flume.sink.kudu.RegexpKuduOperationsProducer") is RegexpProducer
    assert lookup("org.apache.kudu.flume.sink.SimpleKeyedKuduOperationsProducer") is SimpleKeyedProducer
    assert lookup("REGEXP") is RegexpProducer
    assert {"simple", "simple_keyed", "regexp", "avro"} <= set(known_names())


def test_a_third_party_package_adds_a_producer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real distribution on sys.path with an entry point in group flafka_kudu.producers."""
    (tmp_path / "thirdparty_producer.py").write_text(
        textwrap.dedent(
            """
            from flafka_kudu.producers.base import OperationsProducer, Produced
            from flafka_kudu.backend import Op

            class Upper(OperationsProducer):
                type_name = "upper"
                aliases = ("com.example.UpperProducer",)

                def operations(self, events):
                    return Produced([Op("upsert", {"payload": e.body.upper()}, i) for i, e in enumerate(events)])

            PRODUCERS = [Upper]
            """
        )
    )
    dist = tmp_path / "thirdparty_producer-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-producer\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flafka_kudu.producers]\nupper = thirdparty_producer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "thirdparty_producer", raising=False)
    cls = lookup("com.example.UpperProducer")
    assert cls is not None and cls.type_name == "upper"
    assert "regexp" in registry()  # the built-in ones are still there
