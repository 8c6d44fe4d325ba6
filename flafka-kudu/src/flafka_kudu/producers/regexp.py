"""Flume's ``RegexpKuduOperationsProducer``: each match of ``pattern`` in the decoded body
is one row (several per event are possible); a table column takes the named group of the
same name, parsed with Java's parsers for the column's type.

Policies (``REJECT``/``WARN``/``IGNORE``): ``missingColumnPolicy`` (no group for a column:
default REJECT), ``badColumnValuePolicy`` (a value Java cannot parse: default REJECT),
``unmatchedRowPolicy`` (no match in the body: default WARN). WARN and IGNORE leave the
column unset (or make no row); REJECT refuses the event. Deprecated booleans:
``skipMissingColumn``/``skipBadColumnValue`` (true = WARN, false = REJECT) and
``skipUnmatchedRows`` (true = WARN, false = IGNORE), each exclusive with its new key.

As in Flume: a BOOL column takes anything other than "true" (any case) as false; a
non-participating group for a STRING/BINARY/FLOAT/DOUBLE column fails the event whatever
the policy (Java's NullPointerException); DECIMAL, DATE and VARCHAR columns are left unset
with a warning. Java's pattern syntax is translated: ``(?<name>...)`` and ``\\k<name>``
become Python's, ``\\d \\w \\s \\b`` are ASCII-only as in Java; a Java group name is
``[a-zA-Z][a-zA-Z0-9]*``, so a column named with ``_`` never has a group (as in Flume).
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from flafka.event import Event
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka_kudu.backend import Op, TableInfo
from flafka_kudu.producers import javaparse
from flafka_kudu.producers.base import OperationsProducer, Produced, RateLimitedLog
from flafka_kudu.producers.simple import FLUME, KUDU

log = logging.getLogger(__name__)

POLICIES = ("REJECT", "WARN", "IGNORE")
_JAVA_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")


class PatternError(ValueError):
    pass


def java_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a Java regular expression with Python's ``re`` (named groups and back
    references translated, ASCII classes). Raises PatternError naming the problem."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "k" and not in_class and pattern.startswith("<", i + 2):
                end = pattern.find(">", i + 3)
                if end < 0:
                    raise PatternError(f"unclosed \\k<name> at index {i}")
                out.append(f"(?P={pattern[i + 3 : end]})")
                i = end + 1
                continue
            if nxt in "pP" and not pattern.startswith("{L}", i + 2):
                raise PatternError(
                    f"Java character class \\{nxt}{{...}} at index {i} is not supported; use an explicit class such as [a-zA-Z]"
                )
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):  # a literal ] first in a class
                out.append("\\]")
                i += 1
            i += 1
            continue
        if pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            end = pattern.find(">", i + 3)
            name = pattern[i + 3 : end] if end > 0 else ""
            if not _JAVA_NAME.fullmatch(name):
                raise PatternError(
                    f"named group '{name}' at index {i}: Java group names are a letter then letters/digits (no '_'); "
                    f"name the column accordingly"
                )
            out.append(f"(?P<{name}>")
            i = end + 1
            continue
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as exc:
        raise PatternError(str(exc)) from None


def _policy(settings: Settings, key: str, legacy: str, default: str, legacy_true: str, legacy_false: str) -> str:
    if settings.get(legacy) is not None:
        return legacy_true if settings[legacy] else legacy_false
    value = settings.get(key)
    return str(value).upper() if value else default


class RegexpProducer(OperationsProducer):
    """Rows from the named groups of every match of ``pattern`` in the event body."""

    type_name = "regexp"
    aliases = (FLUME + "RegexpKuduOperationsProducer", KUDU + "RegexpKuduOperationsProducer")
    summary = "one row per match of a regular expression; named groups -> columns (Java parsing)"
    settings_schema = Schema(
        Setting("pattern", "str", REQUIRED, "Java regular expression; named groups (?<column>...) give the column values"),
        Setting("encoding", "charset", "utf-8", "charset of the event body"),
        Setting("operation", "str", "upsert", "upsert or insert (case-insensitive)"),
        Setting("missingColumnPolicy", "enum", None, "a table column without a group: REJECT (default), WARN or IGNORE", choices=POLICIES),
        Setting("badColumnValuePolicy", "enum", None, "a value that does not parse: REJECT (default), WARN or IGNORE", choices=POLICIES),
        Setting(
            "unmatchedRowPolicy", "enum", None, "a body the pattern does not match: WARN (default), REJECT or IGNORE", choices=POLICIES
        ),
        Setting("skipMissingColumn", "bool", None, "deprecated: true = missingColumnPolicy WARN, false = REJECT"),
        Setting("skipBadColumnValue", "bool", None, "deprecated: true = badColumnValuePolicy WARN, false = REJECT"),
        Setting("skipUnmatchedRows", "bool", None, "deprecated: true = unmatchedRowPolicy WARN, false = IGNORE"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems: list[Problem] = []
        try:
            java_pattern(settings["pattern"])
        except PatternError as exc:
            problems.append(Problem("pattern", f"the pattern cannot be compiled: {exc}", "fix the regular expression"))
        if str(settings["operation"]).lower() not in ("upsert", "insert"):
            problems.append(Problem("operation", f"unrecognized operation '{settings['operation']}'", "use upsert or insert"))
        for new, old in (
            ("missingColumnPolicy", "skipMissingColumn"),
            ("badColumnValuePolicy", "skipBadColumnValue"),
            ("unmatchedRowPolicy", "skipUnmatchedRows"),
        ):
            if settings.get(new) is not None and settings.get(old) is not None:
                problems.append(Problem(old, f"both {new} and the deprecated {old} are set", f"remove {old}"))
            elif settings.get(old) is not None:
                problems.append(Problem(old, f"{old} is deprecated", f"use {new} (REJECT, WARN or IGNORE)", "warning"))
        return problems

    def __init__(self, sink: str, settings: Settings) -> None:
        super().__init__(sink, settings)
        self.regex = java_pattern(settings["pattern"])
        self.charset: str = codecs.lookup(settings["encoding"]).name
        self.kind = "insert" if str(settings["operation"]).lower() == "insert" else "upsert"
        self.missing = _policy(settings, "missingColumnPolicy", "skipMissingColumn", "REJECT", "WARN", "REJECT")
        self.bad_value = _policy(settings, "badColumnValuePolicy", "skipBadColumnValue", "REJECT", "WARN", "REJECT")
        self.unmatched = _policy(settings, "unmatchedRowPolicy", "skipUnmatchedRows", "WARN", "WARN", "IGNORE")
        # one counter per kind of warning: the first of each kind is always logged
        self.warn_missing, self.warn_bad, self.warn_unmatched, self.warn_type = (RateLimitedLog(log) for _ in range(4))
        self.plan: list[tuple[str, str, Callable[[Any], Any] | None]] = []

    def initialize(self, table: TableInfo) -> None:
        super().initialize(table)
        charset = self.charset
        parsers: dict[str, Callable[[Any], Any]] = {
            "BOOL": javaparse.parse_boolean,
            "FLOAT": javaparse.parse_float,
            "DOUBLE": javaparse.parse_double,
            "STRING": _not_null_str,
            "BINARY": lambda v: _not_null_str(v).encode(charset, "replace"),
        }
        for kind in javaparse.RANGES:
            parsers[kind] = functools.partial(_parse_integer, kind=kind)
        self.plan = [(c.name, c.type, parsers.get(c.type)) for c in table.columns]

    def operations(self, events: list[Event]) -> Produced:
        out = Produced()
        finditer = self.regex.finditer
        groups = self.regex.groupindex
        charset, kind, plan = self.charset, self.kind, self.plan
        for i, event in enumerate(events):
            text = event.body.decode(charset, "replace")
            matched = False
            ops: list[Op] = []
            try:
                for m in finditer(text):
                    matched = True
                    values: dict[str, Any] = {}
                    for name, col_type, parse in plan:
                        if name not in groups:
                            if self.missing == "REJECT":
                                raise _Reject(f"column '{name}' has no named group (?<{name}>...) in the pattern (missingColumnPolicy)")
                            if self.missing == "WARN":
                                self.warn_missing.warn("sink '%s': column '%s' has no group in the pattern; left unset", self.sink, name)
                            continue
                        if parse is None:
                            self.warn_type.warn(
                                "sink '%s': column '%s' has type %s, which the Regexp producer ignores", self.sink, name, col_type
                            )
                            continue
                        raw = m.group(name)
                        try:
                            values[name] = parse(raw)
                        except javaparse.NumberFormat as exc:
                            if self.bad_value == "REJECT":
                                raise _Reject(f"column '{name}' ({col_type}): value {raw!r} does not parse: {exc} (badColumnValuePolicy)")
                            if self.bad_value == "WARN":
                                self.warn_bad.warn(
                                    "sink '%s': event %d: column '%s' (%s): value %r does not parse; left unset",
                                    self.sink,
                                    i,
                                    name,
                                    col_type,
                                    raw,
                                )
                        except javaparse.NullValue:
                            raise _Reject(f"column '{name}' ({col_type}): its group did not take part in the match (no value)")
                    ops.append(Op(kind, values, i))  # type: ignore[arg-type]
            except _Reject as exc:
                out.failed.append((i, f"event {i} of the batch: {exc}"))
                continue
            if not matched:
                if self.unmatched == "REJECT":
                    out.failed.append((i, f"event {i} of the batch does not match the pattern (unmatchedRowPolicy = REJECT)"))
                    continue
                if self.unmatched == "WARN":
                    self.warn_unmatched.warn("sink '%s': event %d does not match the pattern; no row written", self.sink, i)
            out.ops += ops
        return out


class _Reject(Exception):
    pass


def _parse_integer(value: str | None, kind: str) -> int:
    return javaparse.parse_integer(value, kind)


def _not_null_str(value: str | None) -> str:
    if value is None:
        raise javaparse.NullValue("null")
    return value
