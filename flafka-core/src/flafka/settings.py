"""Typed settings schemas: one declaration per component drives parsing, validation,
``flafka describe`` and the generated config reference.

A component declares ``settings_schema = Schema(Setting(...), ...)`` using Flume's key
names (relative to the component: ``spoolDir``, ``deserializer.maxLineLength``,
``hdfs.path``). :meth:`Schema.parse` turns the raw string values of one component into a
:class:`Settings` mapping of typed values and returns every problem at once (Kafka
Connect's ``ConfigDef.validate`` style), never stopping at the first one.

Keys ending in ``.*`` are *map settings*: every raw key under that prefix is collected
into a ``dict[str, str]`` (``kafka.producer.*``, ``selector.mapping.*``, ``header.*``).
"""

from __future__ import annotations

import codecs
import difflib
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["str", "int", "float", "bool", "enum", "list", "regex", "charset", "map"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Sentinel default: the key must be given."""


JAVA_INT_MAX = 2**31 - 1
JAVA_LONG_MAX = 2**63 - 1
_DURATION = re.compile(r"millis|delay|timeout|interval|keep-?alive|backoff|sleep|penalty|seconds", re.I)


def is_duration(key: str) -> bool:
    """True when a numeric key names a time (``pollDelay``, ``keep-alive``,
    ``hdfs.rollInterval``, ``batchDurationMillis``), not a size (``syncIntervalBytes``)."""
    return bool(_DURATION.search(key)) and not key.lower().endswith("bytes")


def default_range(key: str) -> tuple[int | None, int]:
    """The range a numeric setting gets when its declaration leaves a bound out: a
    duration fits Java's int (0 .. 2^31-1: 24 days in ms, 68 years in s, so every wait
    and sleep the runtime makes can use it), any other number Java's long (.. 2^63-1),
    which is what Flume itself can parse."""
    if is_duration(key):
        return 0, JAVA_INT_MAX
    return None, JAVA_LONG_MAX


@dataclass(frozen=True)
class Setting:
    """One key of a component.

    ``key`` is Flume's spelling (1.7+ where they differ). ``legacy`` lists older spellings
    (Flume 1.6) that are accepted with a deprecation warning naming ``key``. ``secret``
    values are masked wherever settings are shown. ``choices`` (for ``enum``) match
    case-insensitively and parse to the spelling given here.
    """

    key: str
    kind: Kind = "str"
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    legacy: tuple[str, ...] = ()
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    since: str = ""

    def __post_init__(self) -> None:
        if self.kind in ("int", "float"):
            low, high = default_range(self.key)
            if self.maximum is None:
                object.__setattr__(self, "maximum", high)
            if self.minimum is None and low is not None:
                object.__setattr__(self, "minimum", low)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def is_map(self) -> bool:
        return self.key.endswith(".*")

    @property
    def prefix(self) -> str:
        """For a map setting, the prefix its keys start with (``kafka.producer.``)."""
        return self.key[:-1] if self.is_map else self.key


@dataclass(frozen=True)
class Problem:
    """A problem with one key of one component. ``key`` is relative to the component."""

    key: str
    message: str
    suggestion: str = ""
    severity: Literal["error", "warning"] = "error"


@dataclass
class Settings(Mapping[str, Any]):
    """Typed values of one component, by key. Map settings map to ``dict[str, str]``.

    ``explicit`` holds the keys the user actually wrote (after legacy translation).
    """

    data: dict[str, Any] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    schema: Schema | None = None

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def masked(self) -> dict[str, Any]:
        """The values with every secret (and every map entry that looks secret) masked."""
        secret_keys = {s.key for s in self.schema.settings if s.secret} if self.schema else set()
        out: dict[str, Any] = {}
        for key, value in self.data.items():
            if key in secret_keys:
                out[key] = "******"
            elif isinstance(value, dict):
                out[key] = {k: ("******" if looks_secret(k) else v) for k, v in value.items()}
            else:
                out[key] = value
        return out


_SECRET_WORDS = re.compile(r"(password|passwd|secret|token|credential|sasl\.jaas|private[._-]?key|keystore\.key)", re.I)


def looks_secret(key: str) -> bool:
    """True for keys whose values must never be printed (``ssl.key.password``, ``sasl.jaas.config``)."""
    return bool(_SECRET_WORDS.search(key))


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _convert(setting: Setting, raw: str) -> tuple[Any, str | None]:
    """Convert one raw string; return (value, error message or None)."""
    kind = setting.kind
    text = raw.strip()
    if kind == "str":
        return text, None
    if kind == "int":
        try:
            value: Any = int(text)
        except ValueError:
            return None, f"'{_short(raw)}' is not a whole number"
    elif kind == "float":
        try:
            value = float(text)
        except ValueError:
            return None, f"'{_short(raw)}' is not a number"
        if not math.isfinite(value):
            return None, f"'{_short(raw)}' is not a finite number"
    elif kind == "bool":
        low = text.lower()
        if low in _TRUE:
            return True, None
        if low in _FALSE:
            return False, None
        return None, f"'{raw}' is not true or false"
    elif kind == "enum":
        for choice in setting.choices:
            if choice.lower() == text.lower():
                return choice, None
        hint = difflib.get_close_matches(text, setting.choices, n=1)
        extra = f"; did you mean '{hint[0]}'?" if hint else ""
        return None, f"'{raw}' is not one of {', '.join(setting.choices)}{extra}"
    elif kind == "list":
        return text.split(), None
    elif kind == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            return None, f"'{raw}' is not a valid regular expression ({exc})"
        return text, None
    elif kind == "charset":
        try:
            codecs.lookup(text)
        except (LookupError, ValueError):  # ValueError: a NUL character (\u0000) in the name
            return None, f"'{raw}' is not a known character set (try UTF-8 or ISO-8859-1)"
        return text, None
    else:  # pragma: no cover - map settings are handled by the caller
        return text, None
    shown = _short(text)
    if setting.minimum is not None and value < setting.minimum:
        return None, f"{shown} is below the minimum {_bound(setting.minimum)}"
    if setting.maximum is not None and value > setting.maximum:
        return None, f"{shown} is above the maximum {_bound(setting.maximum)}"
    return value, None


_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?<!\\)[+*](?:[^()\\]|\\.)*\)[+*{]")


def nested_quantifier(pattern: str) -> str:
    """The first ``(...+...)+``-like part of a regular expression (a quantified group whose
    body is quantified too, the usual cause of catastrophic backtracking), or ''."""
    m = _NESTED.search(pattern)
    return m.group(0) if m else ""


def _short(text: str) -> str:
    """A value short enough to quote in a message (a 400-digit number is cut)."""
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _bound(value: float) -> str:
    """A bound as written in messages: whole numbers in full (2147483647, not 2.14748e+09)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Schema:
    """The settings of one component type. Immutable after construction."""

    def __init__(self, *settings: Setting, reserved: tuple[str, ...] = ()) -> None:
        self.settings: tuple[Setting, ...] = settings
        self.reserved = reserved
        self._by_key = {s.key: s for s in settings if not s.is_map}
        self._maps = [s for s in settings if s.is_map]
        self._legacy = {old: s for s in settings for old in s.legacy}

    def __add__(self, other: Schema) -> Schema:
        return Schema(*self.settings, *other.settings, reserved=self.reserved + other.reserved)

    def get(self, key: str) -> Setting | None:
        return self._by_key.get(key)

    def known_keys(self) -> list[str]:
        return [s.key for s in self.settings]

    def map_for(self, key: str) -> Setting | None:
        for s in self._maps:
            if key.startswith(s.prefix):
                return s
        return None

    def suggest(self, key: str) -> str:
        """A did-you-mean for an unknown key ('' when nothing is close)."""
        candidates = list(self._by_key) + list(self._legacy)
        lowered = {c.lower(): c for c in candidates}
        if key.lower() in lowered:
            return lowered[key.lower()]
        hits = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
        return hits[0] if hits else ""

    def parse(self, raw: Mapping[str, str]) -> tuple[Settings, list[Problem]]:
        """Parse raw values of one component. Returns typed settings and every problem.

        Unknown keys are errors with a did-you-mean; legacy keys are translated with a
        warning naming the new key (the new key wins when both are given); required keys
        that are missing are errors. Defaults fill every key not given.
        """
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        explicit: set[str] = set()
        given: dict[str, str] = {}
        for key, text in raw.items():
            if key in self._by_key or self.map_for(key):
                given[key] = text
            elif key in self._legacy:
                new = self._legacy[key]
                if new.key in raw:
                    problems.append(
                        Problem(
                            key,
                            f"'{key}' is the Flume 1.6 spelling of '{new.key}', which is also set; '{key}' is ignored",
                            f"remove '{key}'",
                            "warning",
                        )
                    )
                    continue
                problems.append(
                    Problem(
                        key,
                        f"'{key}' is the Flume 1.6 spelling; it is read as '{new.key}'",
                        f"rename it to '{new.key}' (flafka migrate does this)",
                        "warning",
                    )
                )
                given[new.key] = text
            elif any(key == r or key.startswith(r + ".") for r in self.reserved):
                continue
            else:
                hint = self.suggest(key)
                problems.append(
                    Problem(
                        key,
                        f"unknown key '{key}'",
                        f"did you mean '{hint}'?" if hint else "see `flafka describe` for the keys this type accepts",
                    )
                )
        for s in self.settings:
            if s.is_map:
                values[s.key] = {
                    k[len(s.prefix) :]: v.strip() for k, v in given.items() if k.startswith(s.prefix) and k not in self._by_key
                }
                if values[s.key]:
                    explicit.add(s.key)
                continue
            if s.key in given:
                value, err = _convert(s, given[s.key])
                if err:
                    problems.append(Problem(s.key, err, _fix_hint(s)))
                    value = None if s.required else s.default
                else:
                    explicit.add(s.key)
                    if s.kind == "regex" and nested_quantifier(value):
                        problems.append(
                            Problem(
                                s.key,
                                f"'{_short(value)}' repeats a group that itself repeats ('{nested_quantifier(value)}'): "
                                "matching can take exponential time on some inputs (catastrophic backtracking)",
                                "rewrite it without a quantifier on a quantified group, e.g. (ab)+ instead of (a+b?)+",
                                "warning",
                            )
                        )
                values[s.key] = value
            elif s.required:
                problems.append(Problem(s.key, f"required key '{s.key}' is missing", f"add {s.key} = <{s.doc or s.kind}>"))
                values[s.key] = None
            else:
                values[s.key] = s.default
        return Settings(values, frozenset(explicit), self), problems


def _fix_hint(s: Setting) -> str:
    if s.kind == "enum":
        return f"use one of: {', '.join(s.choices)}"
    if s.kind == "bool":
        return "use true or false"
    if s.kind in ("int", "float"):
        bounds = []
        if s.minimum is not None:
            bounds.append(f">= {_bound(s.minimum)}")
        if s.maximum is not None:
            bounds.append(f"<= {_bound(s.maximum)}")
        return "use a number" + (f" {' and '.join(bounds)}" if bounds else "")
    return ""


EMPTY_SCHEMA = Schema()
