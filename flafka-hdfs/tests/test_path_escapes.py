"""Every escape of hdfs.path, with fixed clocks and time zones."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest

from flafka.errors import ConfigError
from flafka.header_paths import UnsafeHeaderPath
from flafka_hdfs.path_escapes import Host, MissingTimestamp, PathTemplate, time_zone, unknown_escapes

# 2015-03-07 05:04:09.123 UTC, a Saturday; day 66 of the year.
TS = 1425704649123
UTC = UTC
HOST = Host("box", "10.1.2.3", "box.example.org")


def expand(template: str, tz: object = UTC, **kw: object) -> str:
    t = PathTemplate([template], tz, host=HOST, **kw)  # type: ignore[arg-type]
    return t.resolve({"timestamp": str(TS), "host": "web-1", "a.b-c": "x"}, 0)[0]


@pytest.mark.parametrize(
    "escape,expected",
    [
        ("%t", "1425704649123"),
        ("%a", "Sat"),
        ("%A", "Saturday"),
        ("%b", "Mar"),
        ("%B", "March"),
        ("%c", "Sat Mar 7 05:04:09 2015"),
        ("%d", "07"),
        ("%e", "7"),
        ("%D", "03/07/15"),
        ("%H", "05"),
        ("%I", "05"),
        ("%j", "066"),
        ("%k", "5"),
        ("%l", "5"),
        ("%m", "03"),
        ("%n", "3"),
        ("%M", "04"),
        ("%p", "AM"),
        ("%s", "1425704649"),
        ("%S", "09"),
        ("%y", "15"),
        ("%Y", "2015"),
        ("%z", "+0000"),
        ("%%", "%"),
        ("%{host}", "web-1"),
        ("%{a.b-c}", "x"),
        ("%{missing}", ""),
        ("%[localhost]", "box"),
        ("%[IP]", "10.1.2.3"),
        ("%[FQDN]", "box.example.org"),
        ("%q", ""),
    ],
)
def test_each_escape(escape: str, expected: str) -> None:
    assert expand(escape) == expected


def test_time_zone_and_twelve_hour_clock() -> None:
    la = time_zone("America/Los_Angeles")
    # 21:04:09 on the 6th in Los Angeles (PST, -0800)
    assert expand("%Y-%m-%d %H %I %k %l %p %z %a", la) == "2015-03-06 21 09 21 9 PM -0800 Fri"
    assert expand("%H:%M %z", time_zone("GMT+05:30")) == "10:34 +0530"
    assert time_zone("GMT-8") == timezone(-timedelta(hours=8))
    with pytest.raises(ConfigError, match="time zone"):
        time_zone("Mars/Olympus")


def test_rounding_applies_to_every_time_escape_but_t() -> None:
    assert expand("%H%M%S %s %t", round_value=10, round_unit="minute") == "050000 1425704400 1425704649123"
    assert expand("%H%M%S", round_value=15, round_unit="second") == "050400"
    assert expand("%H%M", round_value=2, round_unit="hour") == "0400"
    assert expand("%H", time_zone("GMT+05:30"), round_value=1, round_unit="hour") == "10"
    assert expand("%H:%M", time_zone("GMT+05:30"), round_value=1, round_unit="hour") == "10:00"


def test_a_realistic_path() -> None:
    assert expand("/flume/%{host}/%Y/%m/%d/%H%M") == "/flume/web-1/2015/03/07/0504"


def test_missing_or_bad_timestamp_is_reported_and_local_time_is_used_when_asked() -> None:
    t = PathTemplate(["/f/%Y"], UTC)
    with pytest.raises(MissingTimestamp):
        t.resolve({}, TS)
    with pytest.raises(MissingTimestamp, match="not epoch"):
        t.resolve({"timestamp": "yesterday"}, TS)
    local = PathTemplate(["/f/%Y%m%d %t"], UTC, use_local_timestamp=True)
    assert local.resolve({}, TS) == (f"/f/20150307 {TS}",)


def test_headers_only_template_needs_no_timestamp_and_constant_templates_are_constant() -> None:
    t = PathTemplate(["/f/%{h}", "Prefix"], UTC)
    assert t.resolve({"h": "a"}, 0) == ("/f/a", "Prefix")
    assert PathTemplate(["/f"]).constant


def test_cache_does_not_mix_seconds_or_headers() -> None:
    t = PathTemplate(["/%{h}/%S"], UTC)
    assert t.resolve({"timestamp": str(TS), "h": "a"}, 0) == ("/a/09",)
    assert t.resolve({"timestamp": str(TS + 1000), "h": "a"}, 0) == ("/a/10",)
    assert t.resolve({"timestamp": str(TS + 1000), "h": "b"}, 0) == ("/b/10",)


def test_unknown_host_tag_is_a_config_error_and_unknown_escapes_are_listed() -> None:
    with pytest.raises(ConfigError, match="%\\[nope\\]"):
        PathTemplate(["/x/%[nope]"])
    assert unknown_escapes("/x/%q/%Y/%%") == ["%q"]


# -- header values in paths (flafka.header_paths.HDFS_RULE) ------------------------------------


def test_header_values_are_substituted_once_never_expanded_again() -> None:
    t = PathTemplate(["/logs/%{a}/%Y", "p-%{b}"], UTC, keys=("hdfs.path", "hdfs.filePrefix"), names=(False, True))
    got = t.resolve({"timestamp": str(TS), "a": "%{b}%Y%%", "b": "%[localhost]"}, 0)
    assert got == ("/logs/%{b}%Y%%/2015", "p-%[localhost]")


def test_a_header_that_would_climb_out_is_refused_naming_setting_header_and_value_every_time() -> None:
    t = PathTemplate(["/logs/%{app}", "%{host}"], UTC, keys=("hdfs.path", "hdfs.filePrefix"), names=(False, True))
    assert t.resolve({"app": "web/./x", "host": "h1"}, 0) == ("/logs/web/x", "h1")
    for _ in range(2):  # the refusal is cached, and raised again for the next such event
        with pytest.raises(UnsafeHeaderPath, match=r"header 'app' = '../../etc' has a '\.\.' segment.*hdfs.path refuses it"):
            t.resolve({"app": "../../etc", "host": "h1"}, 0)
    with pytest.raises(UnsafeHeaderPath, match=r"header 'host' = 'a/b' contains '/'.*hdfs.filePrefix refuses it"):
        t.resolve({"app": "web", "host": "a/b"}, 0)


def test_time_escapes_alone_are_not_header_values() -> None:
    t = PathTemplate(["/logs/%c"], UTC, keys=("hdfs.path",))
    assert t.resolve({"timestamp": str(TS)}, 0) == ("/logs/Sat Mar 7 05:04:09 2015",)
