"""Java's number and boolean parsing (``Long.parseLong``, ``Double.parseDouble``, ...),
which Flume's Regexp producer uses, reproduced exactly enough that a value Flume refuses
is refused here (and the other way round).

Each parser raises :class:`NumberFormat` (Java's NumberFormatException) for text Java
refuses, and ``None`` stands for Java's null: ``parseInt(null)`` is a NumberFormatException,
``parseFloat(null)``/``parseDouble(null)`` a NullPointerException (:class:`NullValue`).
"""

from __future__ import annotations

import re
import struct

# Long.parseLong: an optional sign, then at least one digit (Character.digit: any Unicode
# decimal digit); no spaces, no underscores (both of which Python's int() accepts)
_INTEGER = re.compile(r"[+-]?\d+")
# FloatingDecimal.readJavaFormatString, after String.trim() (which strips chars <= ' ')
_FLOAT = re.compile(
    r"""[+-]?(?:
        NaN | Infinity
      | (?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?
      | 0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?\d+[fFdD]?
    )""",
    re.VERBOSE | re.ASCII,
)

RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UNIXTIME_MICROS": (-(2**63), 2**63 - 1),
}


class NumberFormat(ValueError):
    """Java's NumberFormatException."""


class NullValue(ValueError):
    """Java's NullPointerException from parsing null."""


def parse_integer(text: str | None, kind: str) -> int:
    """``Byte/Short/Integer/Long.parseX`` for ``kind`` (INT8..INT64, UNIXTIME_MICROS)."""
    if text is None:
        raise NumberFormat("Cannot parse null string: null")
    if not _INTEGER.fullmatch(text):
        raise NumberFormat(f'For input string: "{text}"')
    value = int(text)
    lo, hi = RANGES[kind]
    if not lo <= value <= hi:
        raise NumberFormat(f'Value out of range. Value:"{text}"')
    return value


def _java_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def parse_double(text: str | None) -> float:
    """``Double.parseDouble``."""
    if text is None:
        raise NullValue("parseDouble(null)")
    s = _java_trim(text)
    if not _FLOAT.fullmatch(s):
        raise NumberFormat(f'For input string: "{text}"' if s else "empty String")
    body = s.lstrip("+-")
    negative = s.startswith("-")
    if body == "NaN":
        return float("nan")
    if body == "Infinity":
        return float("-inf") if negative else float("inf")
    if body[-1] in "fFdD":
        s = s[:-1]
    if "x" in s or "X" in s:
        return float.fromhex(s)
    return float(s)


def parse_float(text: str | None) -> float:
    """``Float.parseFloat``: the double rounded to the nearest float32 (overflow to infinity)."""
    value = parse_double(text)
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return float("-inf") if value < 0 else float("inf")


def parse_boolean(text: str | None) -> bool:
    """``Boolean.parseBoolean``: true only for "true" in any case (null is false)."""
    return text is not None and text.lower() == "true"
