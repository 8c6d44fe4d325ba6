"""Built-in interceptors: every key, Flume's documented examples, and flafka's choices."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.batch import Batch
from flafka.component import Component
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.interceptors import builtin as ib
from flafka.registry import Registry
from flafka.settings import Problem

C = TypeVar("C", bound=Component)


def build(cls: type[C], **raw: Any) -> C:
    """Construct as the agent does: parse raw Flume keys with the schema, then Cls(name, settings)."""
    settings, problems = cls.settings_schema.parse({k: str(v) for k, v in raw.items()})
    errors = [p for p in problems if p.severity == "error"]
    assert not errors, errors
    return cls("i1", settings)


def problems(cls: type[Component], **raw: Any) -> list[Problem]:
    return [p for p in cls.settings_schema.parse({k: str(v) for k, v in raw.items()})[1] if p.severity == "error"]


def ev(body: bytes | str = b"", **headers: str) -> Event:
    return Event(body.encode() if isinstance(body, str) else body, dict(headers))


# -- registration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("timestamp", ib.TimestampInterceptor),
        ("TIMESTAMP", ib.TimestampInterceptor),
        ("org.apache.flume.interceptor.TimestampInterceptor$Builder", ib.TimestampInterceptor),
        ("host", ib.HostInterceptor),
        ("org.apache.flume.interceptor.HostInterceptor$Builder", ib.HostInterceptor),
        ("static", ib.StaticInterceptor),
        ("org.apache.flume.interceptor.StaticInterceptor$Builder", ib.StaticInterceptor),
        ("remove_header", ib.RemoveHeaderInterceptor),
        ("org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder", ib.RemoveHeaderInterceptor),
        ("regex_filter", ib.RegexFilteringInterceptor),
        ("org.apache.flume.interceptor.RegexFilteringInterceptor$Builder", ib.RegexFilteringInterceptor),
        ("regex_extractor", ib.RegexExtractorInterceptor),
        ("REGEX_EXTRACTOR", ib.RegexExtractorInterceptor),
        ("org.apache.flume.interceptor.RegexExtractorInterceptor$Builder", ib.RegexExtractorInterceptor),
        ("search_replace", ib.SearchAndReplaceInterceptor),
        ("org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder", ib.SearchAndReplaceInterceptor),
        ("uuid", ib.UUIDInterceptor),
        ("org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder", ib.UUIDInterceptor),
    ],
)
def test_registered_under_flume_alias_and_class_name(name: str, cls: type[Component]) -> None:
    reg = Registry()
    for c in ib.COMPONENTS:
        reg.add(c, "builtins")
    assert reg.lookup("interceptor", name) is cls


def test_type_key_is_reserved_not_unknown() -> None:
    assert problems(ib.StaticInterceptor, type="static", key="k") == []


# -- timestamp ------------------------------------------------------------------------------


def test_timestamp_sets_epoch_millis_and_overwrites_by_default() -> None:
    i = build(ib.TimestampInterceptor)
    i.clock = lambda: 1700000000.1234
    events = [ev("a"), ev("b", timestamp="1")]
    out = i.intercept(events)
    assert out is events
    assert [e.headers["timestamp"] for e in out] == ["1700000000123", "1700000000123"]


def test_timestamp_preserve_existing_and_header_name() -> None:
    i = build(ib.TimestampInterceptor, headerName="ts", preserveExisting="true")
    i.clock = lambda: 2.5
    out = i.intercept([ev("a"), ev("b", ts="old")])
    assert [e.headers["ts"] for e in out] == ["2500", "old"]
    assert "timestamp" not in out[0].headers


def test_timestamp_uses_the_real_clock_by_default() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    (e,) = build(ib.TimestampInterceptor).intercept([ev("a")])
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before - 1 <= int(e.headers["timestamp"]) <= after + 1


# -- host -----------------------------------------------------------------------------------


def test_host_resolves_once_and_sets_ip_by_default() -> None:
    i = build(ib.HostInterceptor)
    calls: list[bool] = []

    def resolver(use_ip: bool) -> str:
        calls.append(use_ip)
        return "10.0.0.7"

    i.resolver = resolver
    i.start()
    i.intercept([ev("a")])
    out = i.intercept([ev("b", host="old"), ev("c")])
    assert calls == [True]
    assert [e.headers["host"] for e in out] == ["10.0.0.7", "10.0.0.7"]


def test_host_name_header_and_preserve() -> None:
    i = build(ib.HostInterceptor, useIP="false", hostHeader="hostname", preserveExisting="true")
    calls: list[bool] = []

    def resolver(use_ip: bool) -> str:
        calls.append(use_ip)
        return "box.example.com"

    i.resolver = resolver
    out = i.intercept([ev("a"), ev("b", hostname="keep")])  # resolves lazily without start()
    assert calls == [False]
    assert [e.headers["hostname"] for e in out] == ["box.example.com", "keep"]


def test_host_unresolvable_sets_no_header_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    i = build(ib.HostInterceptor)
    i.resolver = lambda use_ip: None
    with caplog.at_level(logging.WARNING):
        i.start()
        out = i.intercept([ev("a"), ev("b")])
    assert all("host" not in e.headers for e in out)
    assert len([r for r in caplog.records if "could not resolve" in r.getMessage()]) == 1


def test_local_host_returns_text_or_none() -> None:
    for use_ip in (True, False):
        value = ib.local_host(use_ip)
        assert value is None or (isinstance(value, str) and value)


# -- static ---------------------------------------------------------------------------------


def test_static_defaults_preserve_existing() -> None:
    i = build(ib.StaticInterceptor)
    out = i.intercept([ev("a"), ev("b", key="mine")])
    assert [e.headers["key"] for e in out] == ["value", "mine"]


def test_static_overwrite() -> None:
    i = build(ib.StaticInterceptor, key="datacenter", value="NEW_YORK", preserveExisting="false")
    out = i.intercept([ev("a", datacenter="LA")])
    assert out[0].headers == {"datacenter": "NEW_YORK"}


# -- remove_header --------------------------------------------------------------------------


def test_remove_header_with_name() -> None:
    i = build(ib.RemoveHeaderInterceptor, withName="secret")
    out = i.intercept([ev("a", secret="x", keep="y"), ev("b")])
    assert [e.headers for e in out] == [{"keep": "y"}, {}]


def test_remove_header_from_list_default_separator() -> None:
    i = build(ib.RemoveHeaderInterceptor, fromList="a , b,c")
    out = i.intercept([ev("x", a="1", b="2", c="3", d="4")])
    assert out[0].headers == {"d": "4"}


def test_remove_header_from_list_custom_separator() -> None:
    i = build(ib.RemoveHeaderInterceptor, fromList="a;b", fromListSeparator=";")
    out = i.intercept([ev("x", a="1", b="2", c="3")])
    assert out[0].headers == {"c": "3"}


def test_remove_header_matching_must_match_whole_name() -> None:
    i = build(ib.RemoveHeaderInterceptor, matching="tmp_.*")
    out = i.intercept([ev("x", tmp_a="1", tmp_b="2", my_tmp_c="3")])
    assert out[0].headers == {"my_tmp_c": "3"}


def test_remove_header_all_criteria_together() -> None:
    i = build(ib.RemoveHeaderInterceptor, withName="w", fromList="l1,l2", matching="m[0-9]")
    out = i.intercept([ev("x", w="", l1="", l2="", m1="", m10="", keep="")])
    assert out[0].headers == {"m10": "", "keep": ""}


def test_remove_header_nothing_configured_is_a_no_op() -> None:
    i = build(ib.RemoveHeaderInterceptor)
    events = [ev("x", a="1")]
    assert i.intercept(events) is events
    assert events[0].headers == {"a": "1"}


def test_remove_header_bad_regex_is_a_problem() -> None:
    assert [p.key for p in problems(ib.RemoveHeaderInterceptor, matching="(")] == ["matching"]


# -- regex_filter ---------------------------------------------------------------------------


def test_regex_filter_default_keeps_everything() -> None:
    i = build(ib.RegexFilteringInterceptor)
    events = [ev("a"), ev(""), ev(b"\xff")]
    assert i.intercept(events) is events
    assert i.counter.event_dropped_count == 0


def test_regex_filter_keeps_matches_and_counts_drops() -> None:
    i = build(ib.RegexFilteringInterceptor, regex="ERROR|WARN")
    out = i.intercept([ev("1 ERROR x"), ev("2 INFO"), ev("3 WARN"), ev("4 DEBUG")])
    assert [e.body for e in out] == [b"1 ERROR x", b"3 WARN"]
    assert i.counter.event_dropped_count == 2


def test_regex_filter_exclude_events() -> None:
    i = build(ib.RegexFilteringInterceptor, regex="^DEBUG", excludeEvents="true")
    out = i.intercept([ev("DEBUG a"), ev("INFO DEBUG"), ev("DEBUG b")])
    assert [e.body for e in out] == [b"INFO DEBUG"]
    assert i.counter.event_dropped_count == 2


def test_regex_filter_exclude_everything_with_default_regex() -> None:
    i = build(ib.RegexFilteringInterceptor, excludeEvents="true")
    assert i.intercept([ev("a"), ev("b")]) == []
    assert i.counter.event_dropped_count == 2


def test_regex_filter_body_is_utf8_text() -> None:
    i = build(ib.RegexFilteringInterceptor, regex="^é+$")
    out = i.intercept([ev("éé"), ev(b"\xe9\xe9")])  # the second is Latin-1, not UTF-8
    assert [e.body for e in out] == ["éé".encode()]


# -- regex_extractor ------------------------------------------------------------------------

EXTRACT3 = {
    "regex": r"(\d):(\d):(\d)",
    "serializers": "s1 s2 s3",
    "serializers.s1.name": "one",
    "serializers.s2.name": "two",
    "serializers.s3.name": "three",
}


def test_regex_extractor_flume_example_1() -> None:
    i = build(ib.RegexExtractorInterceptor, **EXTRACT3)
    (e,) = i.intercept([ev("1:2:3.4foobar5")])
    assert e.body == b"1:2:3.4foobar5"
    assert e.headers == {"one": "1", "two": "2", "three": "3"}


def test_regex_extractor_flume_example_2_fewer_serializers_than_groups() -> None:
    raw = {k: v for k, v in EXTRACT3.items() if "s3" not in k}
    raw["serializers"] = "s1 s2"
    (e,) = build(ib.RegexExtractorInterceptor, **raw).intercept([ev("1:2:3.4foobar5")])
    assert e.headers == {"one": "1", "two": "2"}


def test_regex_extractor_no_match_leaves_event_alone() -> None:
    (e,) = build(ib.RegexExtractorInterceptor, **EXTRACT3).intercept([ev("nothing here", a="b")])
    assert e.headers == {"a": "b"}


def test_regex_extractor_unmatched_optional_group_sets_no_header() -> None:
    i = build(
        ib.RegexExtractorInterceptor,
        regex="(WARNING)|(ERROR)",
        serializers="w e",
        **{"serializers.w.name": "warning", "serializers.e.name": "error", "serializers.e.type": "default"},
    )
    (e,) = i.intercept([ev("an ERROR occurred")])
    assert e.headers == {"error": "ERROR"}


def test_regex_extractor_millis_serializer_local_time() -> None:
    i = build(
        ib.RegexExtractorInterceptor,
        regex=r"^(\d\d\d\d-\d\d-\d\d \d\d:\d\d)",
        serializers="s1",
        **{
            "serializers.s1.type": ib.MILLIS_SERIALIZER,
            "serializers.s1.name": "timestamp",
            "serializers.s1.pattern": "yyyy-MM-dd HH:mm",
        },
    )
    (e,) = i.intercept([ev("2012-10-17 14:34 some log line")])
    expected = int(datetime(2012, 10, 17, 14, 34).timestamp() * 1000)  # naive = local time, as Joda's default zone
    assert e.headers["timestamp"] == str(expected)


def test_regex_extractor_millis_serializer_with_zone_and_millis() -> None:
    i = build(
        ib.RegexExtractorInterceptor,
        regex=r"\[(.*?)\]",
        serializers="t",
        **{
            "serializers.t.type": ib.MILLIS_SERIALIZER,
            "serializers.t.name": "ts",
            "serializers.t.pattern": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        },
    )
    (e,) = i.intercept([ev("[2020-01-02T03:04:05.678+0100] x")])
    expected = datetime(2020, 1, 2, 2, 4, 5, 678000, tzinfo=UTC)
    assert e.headers["ts"] == str(int(expected.timestamp() * 1000))


def test_regex_extractor_unparsable_date_keeps_event_without_header(caplog: pytest.LogCaptureFixture) -> None:
    i = build(
        ib.RegexExtractorInterceptor,
        regex=r"^(\S+) (\S+)",
        serializers="d w",
        **{
            "serializers.d.type": ib.MILLIS_SERIALIZER,
            "serializers.d.name": "ts",
            "serializers.d.pattern": "yyyy-MM-dd",
            "serializers.w.name": "word",
        },
    )
    with caplog.at_level(logging.WARNING):
        out = i.intercept([ev("notadate hello"), ev("alsobad x")])
    assert [e.headers for e in out] == [{"word": "hello"}, {"word": "x"}]
    assert i.parse_failures == 2
    assert len([r for r in caplog.records if "could not parse" in r.getMessage()]) == 1


def test_regex_extractor_required_keys() -> None:
    assert {p.key for p in problems(ib.RegexExtractorInterceptor)} == {"regex", "serializers"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"serializers.s3.name": None}, "serializers.s3.name"),
        ({"serializers.s1.type": "com.example.MySerializer"}, "not a known serializer"),
        ({"serializers.s1.type": ib.MILLIS_SERIALIZER}, "serializers.s1.pattern"),
        ({"serializers.s1.type": ib.MILLIS_SERIALIZER, "serializers.s1.pattern": "yyyy-QQ"}, "letter 'Q'"),
    ],
)
def test_regex_extractor_serializer_errors_name_the_key(extra: dict[str, str | None], message: str) -> None:
    raw = {**EXTRACT3, **extra}
    raw = {k: v for k, v in raw.items() if v is not None}
    settings, errs = ib.RegexExtractorInterceptor.settings_schema.parse(raw)  # type: ignore[arg-type]
    assert not errs
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        ib.RegexExtractorInterceptor("i1", settings)


def test_regex_extractor_passthrough_class_name_is_default() -> None:
    raw = {**EXTRACT3, "serializers.s1.type": ib.PASSTHROUGH_SERIALIZER}
    (e,) = build(ib.RegexExtractorInterceptor, **raw).intercept([ev("7:8:9")])
    assert e.headers["one"] == "7"


@pytest.mark.parametrize(
    ("joda", "python"),
    [
        ("yyyy-MM-dd HH:mm:ss.SSS Z", "%Y-%m-%d %H:%M:%S.%f %z"),
        ("yy/M/d h:mm a", "%y/%m/%d %I:%M %p"),
        ("dd MMM yyyy", "%d %b %Y"),
        ("EEEE, dd MMMM yyyy", "%A, %d %B %Y"),
        ("yyyy-MM-dd'T'HH:mm:ssZZ", "%Y-%m-%dT%H:%M:%S%z"),
        ("HH 'o''clock' 100%", "%H o'clock 100%%"),
        ("''yyyy''", "'%Y'"),
        ("yyyyMMddHHmmss", "%Y%m%d%H%M%S"),
    ],
)
def test_joda_to_strptime(joda: str, python: str) -> None:
    assert ib.joda_to_strptime(joda) == python


def test_joda_unterminated_quote() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        ib.joda_to_strptime("yyyy 'T")


# -- search_replace -------------------------------------------------------------------------


def test_search_replace_flume_example_remove_leading_word() -> None:
    # UG: searchPattern = ^[A-Za-z0-9_]+ and an empty replaceString (which the parser
    # drops, so the key is missing: same thing)
    i = build(ib.SearchAndReplaceInterceptor, searchPattern="^[A-Za-z0-9_]+")
    out = i.intercept([ev("lorem_42 ipsum dolor"), ev("!keep")])
    assert [e.body for e in out] == [b" ipsum dolor", b"!keep"]


def test_search_replace_flume_example_group_references() -> None:
    i = build(
        ib.SearchAndReplaceInterceptor,
        searchPattern="The quick brown ([a-z]+) jumped over the lazy ([a-z]+)",
        replaceString="The hungry $2 ate the careless $1",
    )
    (e,) = i.intercept([ev("The quick brown fox jumped over the lazy dog")])
    assert e.body == b"The hungry dog ate the careless fox"


def test_search_replace_replaces_all_matches() -> None:
    i = build(ib.SearchAndReplaceInterceptor, searchPattern=r"\d", replaceString="#")
    (e,) = i.intercept([ev("a1b22c")])
    assert e.body == b"a#b##c"


def test_search_replace_charset() -> None:
    i = build(ib.SearchAndReplaceInterceptor, searchPattern="é", replaceString="e", charset="ISO-8859-1")
    (e,) = i.intercept([ev("café".encode("latin-1"))])
    assert e.body == b"cafe"


def test_search_replace_keeps_invalid_bytes_and_untouched_bodies() -> None:
    i = build(ib.SearchAndReplaceInterceptor, searchPattern="x", replaceString="y")
    untouched = ev(b"\xff\xfe abc")
    changed = ev(b"\xff x")
    body = untouched.body
    i.intercept([untouched, changed])
    assert untouched.body is body
    assert changed.body == b"\xff y"


def test_search_replace_requires_search_pattern() -> None:
    assert [p.key for p in problems(ib.SearchAndReplaceInterceptor)] == ["searchPattern"]


@pytest.mark.parametrize("bad", ["$", "$3", "a\\", "${nope}", "$x"])
def test_search_replace_bad_replacement_is_config_error(bad: str) -> None:
    settings, _ = ib.SearchAndReplaceInterceptor.settings_schema.parse({"searchPattern": "(a)(b)", "replaceString": bad})
    with pytest.raises(ConfigError, match="replaceString"):
        ib.SearchAndReplaceInterceptor("i1", settings)


@pytest.mark.parametrize(
    ("replacement", "groups", "names", "template"),
    [
        ("$1", 1, {}, r"\g<1>"),
        ("$12", 1, {}, r"\g<1>2"),  # Java: longest reference to an existing group
        ("$12", 12, {}, r"\g<12>"),
        ("$0!", 0, {}, r"\g<0>!"),
        (r"\$1", 1, {}, "$1"),
        ("a\\\\b", 0, {}, "a\\\\b"),
        (r"\t", 0, {}, "t"),  # Java: a backslash quotes the next character
        ("${word}", 1, {"word": 1}, r"\g<word>"),
        ("plain \\n text", 0, {}, "plain n text"),
    ],
)
def test_java_replacement(replacement: str, groups: int, names: dict[str, int], template: str) -> None:
    assert ib.java_replacement(replacement, groups, names) == template


@given(st.text(alphabet=st.characters(blacklist_characters="$\\"), max_size=30), st.text(max_size=30))
def test_java_replacement_literal_text_is_inserted_verbatim(replacement: str, body: str) -> None:
    import re

    template = ib.java_replacement(replacement, 0)
    assert re.sub("^", template, body) == replacement + body


# -- UUID -----------------------------------------------------------------------------------


def test_uuid_sets_distinct_ids_and_preserves_existing() -> None:
    i = build(ib.UUIDInterceptor)
    out = i.intercept([ev("a"), ev("b"), ev("c", id="given")])
    ids = [e.headers["id"] for e in out]
    assert ids[2] == "given"
    assert ids[0] != ids[1]
    assert all(len(x) == 36 and x.count("-") == 4 for x in ids[:2])


def test_uuid_prefix_header_and_overwrite() -> None:
    i = build(ib.UUIDInterceptor, headerName="eventId", prefix="agent1-", preserveExisting="false")
    (e,) = i.intercept([ev("a", eventId="old")])
    assert e.headers["eventId"].startswith("agent1-")
    assert len(e.headers["eventId"]) == len("agent1-") + 36


def test_interceptors_handle_empty_batches() -> None:
    for cls, raw in [
        (ib.TimestampInterceptor, {}),
        (ib.StaticInterceptor, {}),
        (ib.RemoveHeaderInterceptor, {"withName": "a"}),
        (ib.RegexFilteringInterceptor, {"regex": "a"}),
        (ib.RegexExtractorInterceptor, EXTRACT3),
        (ib.SearchAndReplaceInterceptor, {"searchPattern": "a"}),
        (ib.UUIDInterceptor, {}),
    ]:
        assert build(cls, **raw).intercept([]) == []


# -- column-wise batches: the batch path gives the events the event path gives ------------

_names = st.sampled_from(["timestamp", "host", "key", "ts", "a", "b"])
_maps = st.dictionaries(_names, st.sampled_from(["1", "x", "10.0.0.1", ""]), max_size=3)


@st.composite
def _column_batch(draw: st.DrawFn) -> tuple[Batch, list[Event]]:
    bodies = draw(st.lists(st.sampled_from([b"", b"abc", b"error 1", b"\xff\xfeok", b"b"]), max_size=8))
    common = draw(st.one_of(st.none(), _maps))
    column: list[dict[str, str] | None] | None = None
    if draw(st.booleans()):
        column = []
        for _ in bodies:
            shared = column and draw(st.booleans())
            column.append(column[-1] if shared else draw(st.one_of(st.none(), _maps)))
    col = column or [None] * len(bodies)
    events = [Event(b, {**(common or {}), **(m or {})} or None) for b, m in zip(bodies, col, strict=True)]
    return Batch(bodies, column, common), events


_BATCH_AWARE: list[tuple[type[ib.Interceptor], dict[str, str]]] = [
    (ib.TimestampInterceptor, {}),
    (ib.TimestampInterceptor, {"preserveExisting": "true", "headerName": "ts"}),
    (ib.HostInterceptor, {}),
    (ib.HostInterceptor, {"preserveExisting": "true"}),
    (ib.StaticInterceptor, {"key": "a", "value": "v"}),
    (ib.StaticInterceptor, {"key": "a", "value": "v", "preserveExisting": "false"}),
    (ib.RemoveHeaderInterceptor, {"withName": "a"}),
    (ib.RemoveHeaderInterceptor, {"fromList": "a, host", "matching": "t.*"}),
    (ib.RemoveHeaderInterceptor, {}),
    (ib.RegexFilteringInterceptor, {"regex": "b"}),
    (ib.RegexFilteringInterceptor, {"regex": "^e", "excludeEvents": "true"}),
    (ib.RegexFilteringInterceptor, {"excludeEvents": "true"}),
    (ib.SearchAndReplaceInterceptor, {"searchPattern": "b+", "replaceString": "B"}),
    (ib.SearchAndReplaceInterceptor, {"searchPattern": "^(e)rror", "replaceString": "$1", "charset": "latin-1"}),
]


def _built(cls: type[ib.Interceptor], raw: dict[str, str]) -> ib.Interceptor:
    i = build(cls, **raw)
    if isinstance(i, ib.TimestampInterceptor):
        i.clock = lambda: 1700000000.5
    if isinstance(i, ib.HostInterceptor):
        i.resolver = lambda use_ip: "10.1.2.3"
    i.start()
    return i


@settings(max_examples=150)
@given(_column_batch(), st.lists(st.integers(0, len(_BATCH_AWARE) - 1), min_size=1, max_size=4))
def test_batch_path_yields_exactly_the_event_paths_events(case: tuple[Batch, list[Event]], chain: list[int]) -> None:
    batch, events = case
    by_events = [_built(*_BATCH_AWARE[k]) for k in chain]
    by_batch = [_built(*_BATCH_AWARE[k]) for k in chain]
    expected: list[Event] = [Event(e.body, dict(e.headers)) for e in events]
    got: Any = batch
    for a, b in zip(by_events, by_batch, strict=True):
        expected = a.intercept(expected)
        got = b.intercept(got)
    assert batch.columnar  # no interceptor built events
    assert not isinstance(got, Batch) or got.columnar
    assert isinstance(got, Batch) or got == []  # every step stayed column-wise (all but "drop everything")
    assert batch.events() == events  # nor changed the batch it was given
    assert list(got) == expected
    assert [dict(e.headers) for e in got] == [dict(e.headers) for e in expected]
    assert [b.counter.event_dropped_count for b in by_batch] == [a.counter.event_dropped_count for a in by_events]


def test_timestamp_and_host_on_a_column_wise_batch_set_one_common_map() -> None:
    ts, host = _built(ib.TimestampInterceptor, {}), _built(ib.HostInterceptor, {})
    batch = Batch([b"%d" % i for i in range(1000)])
    out = host.intercept(ts.intercept(batch))
    assert isinstance(out, Batch) and out.columnar  # no Event built
    assert out.common == {"timestamp": "1700000000500", "host": "10.1.2.3"}
    assert not batch.has_headers()
    assert out[999] == Event(b"999", {"timestamp": "1700000000500", "host": "10.1.2.3"})


def test_a_list_of_events_still_changes_in_place() -> None:
    events = [ev("a"), ev("b", host="h")]
    out = _built(ib.HostInterceptor, {"preserveExisting": "true"}).intercept(events)
    assert out is events
    assert [e.headers["host"] for e in events] == ["10.1.2.3", "h"]
