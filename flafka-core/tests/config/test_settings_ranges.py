"""Every numeric setting has a range (issue 17 item 1), and regular expressions that can
backtrack catastrophically are warned about (issue 17 item 2)."""

from __future__ import annotations

import pytest

from flafka.settings import JAVA_INT_MAX, JAVA_LONG_MAX, Schema, Setting, default_range, is_duration


@pytest.mark.parametrize(
    ("key", "duration"),
    [
        ("pollDelay", True),
        ("keep-alive", True),
        ("sink.rollInterval", True),
        ("hdfs.callTimeout", True),
        ("batchDurationMillis", True),
        ("maxBackoffSleep", True),
        ("selector.maxTimeOut", True),
        ("maxpenalty", True),
        ("sink.serializer.syncIntervalBytes", False),
        ("byteCapacity", False),
        ("capacity", False),
        ("batchSize", False),
    ],
)
def test_durations_get_java_int_others_java_long(key: str, duration: bool) -> None:
    assert is_duration(key) is duration
    assert default_range(key) == ((0, JAVA_INT_MAX) if duration else (None, JAVA_LONG_MAX))
    s = Setting(key, "int", 1)
    assert s.maximum == (JAVA_INT_MAX if duration else JAVA_LONG_MAX)


def test_declared_bounds_win() -> None:
    s = Setting("byteCapacityBufferPercentage", "int", 20, minimum=0, maximum=100)
    assert (s.minimum, s.maximum) == (0, 100)


@pytest.mark.parametrize(
    ("key", "raw", "says"),
    [
        ("keep-alive", "99999999999999999999", "99999999999999999999 is above the maximum 2147483647"),
        ("pollDelay", "99999999999999", "is above the maximum 2147483647"),
        ("pollDelay", "-1", "-1 is below the minimum 0"),
        ("byteCapacity", "9" * 400, "99999999999999999999... (400 characters) is above the maximum 9223372036854775807"),
        ("ratio", "nan", "'nan' is not a finite number"),
        ("ratio", "1e400", "'1e400' is not a finite number"),
        ("ratio", "-inf", "'-inf' is not a finite number"),
    ],
)
def test_out_of_range_numbers_are_errors(key: str, raw: str, says: str) -> None:
    schema = Schema(Setting(key, "float" if key == "ratio" else "int", 1))
    settings, problems = schema.parse({key: raw})
    [problem] = problems
    assert problem.severity == "error" and says in problem.message
    assert settings[key] == 1


@pytest.mark.parametrize("pattern", ["(a+)+$", "^(.*)*x", "(?:ab+)+", "(\\w*)*"])
def test_nested_quantifier_regex_is_a_warning(pattern: str) -> None:
    settings, problems = Schema(Setting("includePattern", "regex", "^.*$")).parse({"includePattern": pattern})
    [problem] = problems
    assert problem.severity == "warning" and "catastrophic backtracking" in problem.message
    assert settings["includePattern"] == pattern


@pytest.mark.parametrize("pattern", ["^.*$", "^[^.]+\\.log$", "(\\d+)-(\\d+)", "(a|b)*", "\\(a+\\)+"])
def test_ordinary_regex_is_quiet(pattern: str) -> None:
    assert Schema(Setting("includePattern", "regex", "^.*$")).parse({"includePattern": pattern})[1] == []


@pytest.mark.parametrize("raw", ["UTF\x00-8", "\x00"])
def test_a_charset_with_a_nul_is_an_error_naming_the_key(raw: str) -> None:
    # found by the fuzzing campaign (tests/fuzz, target config): inputCharset = UTF\u0000-8
    # ended validate in "ValueError: embedded null character" from codecs.lookup
    _settings, problems = Schema(Setting("inputCharset", "charset", "UTF-8")).parse({"inputCharset": raw})
    [problem] = problems
    assert problem.severity == "error" and problem.key == "inputCharset" and "not a known character set" in problem.message


def test_multiport_syslog_ports_that_only_look_like_numbers_are_errors() -> None:
    # found by the fuzzing campaign (tests/fuzz, target config): '10002²10003'.isdigit() is
    # true, int() refuses it: validate ended in a ValueError traceback
    from flafka.sources.syslogmultiport import MultiportSyslogTcpSource
    from flafka.testing import settings_for

    settings = settings_for(MultiportSyslogTcpSource, host="127.0.0.1", ports="10001 10002\u00b210003", **{"charset.port.1\u00b2": "UTF-8"})
    problems = MultiportSyslogTcpSource.check_settings(settings)
    assert {p.key for p in problems} == {"ports", "charset.port.1\u00b2"}
