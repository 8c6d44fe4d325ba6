"""flafka.header_paths: no header value leads a path out of its configured directory."""

from __future__ import annotations

import posixpath
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flafka.errors import ConfigError
from flafka.header_paths import DEFAULT_RULE, HDFS_RULE, LATEST, UnsafeHeaderPath

BASE = "/flume/events"


def path_of(value: str, template: str = BASE + "/{}/data", rule=HDFS_RULE, header: str = "dir") -> str:  # type: ignore[no-untyped-def]
    return rule.check(template.format(value), [(header, value)], "hdfs.path")


@pytest.mark.parametrize(
    "value,why",
    [
        ("..", "'..' segment"),
        ("../../etc", "'..' segment"),
        ("a/../../..", "'..' segment"),
        ("a/..", "'..' segment"),
        ("#LATEST", LATEST),
        ("x#LATEST{3}", LATEST),
        ("a\0b", r"\0 (NUL)"),
        ("a\nb", r"control character \n"),
        ("a\rb", r"control character \r"),
        ("tab\there", r"control character \t"),
        ("del\x7f", r"control character \x7f"),
        ("c1\x85", r"control character \x85"),
        ("lone\ud800", r"lone surrogate \ud800"),
        ("c:/windows", "contains ':'"),
        ("x" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),  # 256 bytes in UTF-8
    ],
)
def test_values_that_would_escape_or_be_reinterpreted_are_refused_naming_header_and_value(value: str, why: str) -> None:
    with pytest.raises(UnsafeHeaderPath) as err:
        path_of(value)
    text = str(err.value)
    assert text.startswith("header 'dir' = ") and why in text and "hdfs.path refuses it" in text
    assert err.value.headers == (("dir", value),)
    assert "\0" not in text and "\n" not in text  # the message itself is one printable line


@pytest.mark.parametrize(
    "value,expected",
    [
        ("web-1", BASE + "/web-1/data"),
        ("a/b", BASE + "/a/b/data"),  # '/' makes subdirectories, as in Flume
        ("/var/log/app.log", BASE + "/var/log/app.log/data"),  # an absolute value stays inside
        ("", BASE + "/data"),  # empty and '.' segments are dropped, as Hadoop's Path drops them
        (".", BASE + "/data"),
        ("./a//b/.", BASE + "/a/b/data"),
        ("%2e%2e", BASE + "/%2e%2e/data"),  # a name, not a URL: never decoded
        ("%2F..%2F", BASE + "/%2F..%2F/data"),
        ("..a", BASE + "/..a/data"),
        ("...", BASE + "/.../data"),
        ("a..b", BASE + "/a..b/data"),
        ("#latest", BASE + "/#latest/data"),  # the marker is case-sensitive in the client
        ("x#1?op=DELETE&y", BASE + "/x#1?op=DELETE&y/data"),  # the client percent-encodes names
        ("日本語/ü/😀", BASE + "/日本語/ü/😀/data"),
        ("back\\slash", BASE + "/back\\slash/data"),
        ("x" * 255, BASE + "/" + "x" * 255 + "/data"),
    ],
)
def test_plain_names_pass_and_empty_or_dot_segments_are_dropped(value: str, expected: str) -> None:
    assert path_of(value) == expected


def test_colon_is_only_refused_where_the_destination_refuses_it() -> None:
    assert path_of("12:30", rule=DEFAULT_RULE) == BASE + "/12:30/data"


def test_values_that_are_harmless_alone_but_make_dot_dot_together_are_refused() -> None:
    used = [("a", "."), ("b", ".")]
    with pytest.raises(UnsafeHeaderPath, match=r"built from the header\(s\) 'a' = '.', 'b' = '.' makes a '\.\.' segment"):
        HDFS_RULE.check(BASE + "/..", used, "hdfs.path")  # template /flume/events/%{a}%{b}
    with pytest.raises(UnsafeHeaderPath, match=LATEST):
        HDFS_RULE.check(BASE + "/#LATEST", [("h", "LATEST")], "hdfs.path")  # template .../#%{h}


def test_reserved_root_is_refused_only_as_the_first_segment() -> None:
    with pytest.raises(UnsafeHeaderPath, match=r"'\.reserved', a reserved directory"):
        HDFS_RULE.check("/.reserved/.inodes/16386/x", [("dir", ".reserved/.inodes/16386")], "hdfs.path")
    for resolved, value in (("//.reserved/raw/x", "/.reserved/raw/x"), ("/./.reserved", "./.reserved"), ("/.reserved", ".reserved")):
        with pytest.raises(UnsafeHeaderPath, match="a reserved directory"):
            HDFS_RULE.check(resolved, [("dir", value)], "hdfs.path")  # template /%{dir}
    assert HDFS_RULE.check(BASE + "/.reserved", [("dir", ".reserved")], "hdfs.path") == BASE + "/.reserved"


def test_file_names_refuse_slash_and_are_kept_byte_for_byte() -> None:
    with pytest.raises(UnsafeHeaderPath, match="contains '/', and it is used in a file name"):
        HDFS_RULE.check("logs-a/b", [("app", "a/b")], "hdfs.filePrefix", name=True)
    assert HDFS_RULE.check("logs-.", [("app", ".")], "hdfs.filePrefix", name=True) == "logs-."
    assert HDFS_RULE.check("", [("app", "")], "hdfs.filePrefix", name=True) == ""
    with pytest.raises(UnsafeHeaderPath, match=r"'\.\.' segment"):
        HDFS_RULE.check("..", [("app", "..")], "hdfs.filePrefix", name=True)


def test_templates_are_checked_once_for_their_own_text() -> None:
    HDFS_RULE.check_template("/flume/x/%Y", "hdfs.path")
    for bad, why in (("/flume/../x", "'..' segment"), ("/flume/#LATEST", LATEST), ("/.reserved/raw/x", "reserved"), ("/a:b", "':'")):
        with pytest.raises(ConfigError, match=re.escape(why)):
            HDFS_RULE.check_template(bad, "hdfs.path")
    with pytest.raises(ConfigError, match=r"hdfs.inUsePrefix: the configured text has a '\.\.' segment"):
        HDFS_RULE.check_template("../", "hdfs.inUsePrefix", name=True)


# -- the property: nothing outside the configured prefix, whatever the headers say ------------

TEMPLATES = [
    BASE + "/{a}",
    BASE + "/{a}/{b}",
    BASE + "/{a}{b}",
    BASE + "/.{a}",
    BASE + "/x{a}/{b}y",
    BASE + "/#{a}",
    BASE + "/{a}/.{b}/z",
]
TRICKY = st.sampled_from(
    ["..", ".", "/", "//", "#LATEST", "#", "LATEST", "{2}", "%2e", "%2f", "%", ":", "\0", "\n", "é", "\ud800", "a", ".reserved"]
)
VALUES = st.lists(st.one_of(TRICKY, st.text(max_size=6)), max_size=6).map("".join)


def hdfs_client_view(path: str) -> str:
    """What the ``hdfs`` library would do to a path: normpath, then expand #LATEST markers."""
    return re.sub(r"/?#LATEST(?:{(\d+)})?(?=/|$)", "/<newest entry>/..", posixpath.normpath(path))


@settings(max_examples=3000, deadline=None)
@given(template=st.sampled_from(TEMPLATES), a=VALUES, b=VALUES)
def test_no_header_value_produces_a_path_outside_the_configured_prefix(template: str, a: str, b: str) -> None:
    resolved = template.format(a=a, b=b)
    try:
        path = HDFS_RULE.check(resolved, [("a", a), ("b", b)], "hdfs.path")
    except UnsafeHeaderPath as exc:
        assert exc.headers and "hdfs.path refuses it" in str(exc)
        return
    assert path == BASE or path.startswith(BASE + "/")
    assert posixpath.normpath(path) == path  # nothing left for anyone to collapse
    assert hdfs_client_view(path) == path  # and nothing the client library rewrites
    assert ".." not in path.split("/")
    assert not any(ch < " " or "\x7f" <= ch <= "\x9f" or "\ud800" <= ch <= "\udfff" for ch in path)
    path.encode("utf-8")  # always a valid UTF-8 name
