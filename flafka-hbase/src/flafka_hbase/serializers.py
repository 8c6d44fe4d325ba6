"""HBase event serializers: the second family of the registry's ``serializer`` kind.

The ``serializer`` kind holds two families told apart by their base class:

* :class:`flafka.serializers.EventSerializer` (``file_roll``, ``hdfs``): events → the bytes
  of a file;
* :class:`HBaseEventSerializer` (this module; the ``hbase2``/``hbase``/``asynchbase``
  sinks): events → puts and increments.

Both are registered as components of kind ``serializer`` and looked up by name (type
name, alias, Flume class name, case-insensitive), so a third-party package adds an HBase
serializer by registering a subclass of :class:`HBaseEventSerializer` from its plugin.
A sink refuses a serializer of the other family with a message naming both.

Contract of an :class:`HBaseEventSerializer` (one instance per sink):

* ``__init__(name, settings)`` is pure; ``settings`` are the sink's ``serializer.*`` keys
  with the prefix removed, parsed by the serializer's ``settings_schema``.
* ``serialize(events, family)`` turns one batch into :class:`Mutations`. It never raises
  for one bad event: an event it drops on purpose (Flume drops it too) is counted in
  ``dropped``; an event it cannot serialize is named in ``rejected`` with the reason (the
  sink sends it to the dead-letter path). It runs on the data path: no logging, no I/O.
"""

from __future__ import annotations

import random
import re
import string
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from flafka.component import Component, ComponentKind
from flafka.event import Event
from flafka.settings import Problem, Schema, Setting, Settings

__all__ = [
    "HBaseEventSerializer",
    "Mutations",
    "RegexHBaseSerializer",
    "SimpleHBaseSerializer",
    "java_regex",
]

Cells = dict[bytes, bytes]
"""``{b"family:qualifier": value}`` of one row."""


@dataclass
class Mutations:
    """What one batch becomes. ``puts[i] = (event_index, row, cells)`` in event order;
    ``increments[i] = (row, b"family:qualifier", amount)``."""

    puts: list[tuple[int, bytes, Cells]] = field(default_factory=list)
    increments: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    dropped: int = 0
    """Events consumed without output, as Flume does (a body the regex does not match)."""
    dropped_example: str = ""
    """Why one of the dropped events was dropped, with (a prefix of) its body."""
    rejected: dict[int, str] = field(default_factory=dict)
    """Index of an event in the batch → why it cannot be written (Flume fails the batch)."""


class HBaseEventSerializer(Component):
    """Base class of HBase serializers (see the module docstring for the contract)."""

    kind: ClassVar[ComponentKind] = "serializer"
    family: ClassVar[str] = "hbase"
    """The serializer family (``EventSerializer`` has none): what sinks check."""

    def serialize(self, events: Sequence[Event], family: bytes) -> Mutations:
        raise NotImplementedError


# -- Simple ---------------------------------------------------------------------------------


def _random_long() -> int:
    return random.getrandbits(64) - (1 << 63)


class SimpleHBaseSerializer(HBaseEventSerializer):
    """Flume's ``SimpleHbaseEventSerializer`` / ``SimpleHBase2EventSerializer`` (and
    asynchbase's ``SimpleAsyncHbaseEventSerializer``): the body goes to
    ``<cf>:<payloadColumn>`` of row ``<rowPrefix><suffix>``, and every event increments
    ``<incrementRow>:<cf>:<incrementColumn>`` by 1. Headers are ignored."""

    type_name = "hbase_simple"
    aliases = (
        "SimpleHBase2EventSerializer",
        "SimpleHbaseEventSerializer",
        "SimpleAsyncHbaseEventSerializer",
        "org.apache.flume.sink.hbase2.SimpleHBase2EventSerializer",
        "org.apache.flume.sink.hbase.SimpleHbaseEventSerializer",
        "org.apache.flume.sink.hbase.SimpleAsyncHbaseEventSerializer",
    )
    summary = "HBase: body to one column of a generated row, plus a counter per event (Flume's default)"
    settings_schema = Schema(
        Setting("rowPrefix", "str", "default", "row keys start with this"),
        Setting("incrementRow", "str", "incRow", "row of the event counter"),
        Setting("suffix", "str", "uuid", "row key suffix: uuid, random, timestamp or nano (anything else: uuid, as Flume)"),
        Setting("payloadColumn", "str", "pCol", "qualifier of the body; empty: no put at all"),
        Setting("incrementColumn", "str", "iCol", "qualifier of the counter; empty: no increment"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        suffix = settings["suffix"]
        if suffix not in ("uuid", "random", "timestamp", "nano"):
            return [
                Problem(
                    "suffix",
                    f"suffix '{suffix}' is not uuid, random, timestamp or nano; Flume (and flafka) use uuid",
                    "set suffix = uuid, random, timestamp or nano",
                    "warning",
                )
            ]
        return []

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.prefix: str = settings["rowPrefix"]
        self.increment_row = settings["incrementRow"].encode()
        self.payload_column = settings["payloadColumn"].encode()
        self.increment_column = settings["incrementColumn"].encode()
        self.suffix: str = settings["suffix"]

    def _keys(self, n: int) -> list[bytes]:
        p = self.prefix
        if self.suffix == "timestamp":
            return [f"{p}{int(time.time() * 1000)}".encode() for _ in range(n)]
        if self.suffix == "random":
            return [f"{p}{_random_long()}".encode() for _ in range(n)]
        if self.suffix == "nano":
            return [f"{p}{time.monotonic_ns()}".encode() for _ in range(n)]
        return [f"{p}{uuid.uuid4()}".encode() for _ in range(n)]

    def serialize(self, events: Sequence[Event], family: bytes) -> Mutations:
        out = Mutations()
        if self.payload_column:
            column = family + b":" + self.payload_column
            keys = self._keys(len(events))
            out.puts = [(i, keys[i], {column: e.body}) for i, e in enumerate(events)]
        if self.increment_column:
            column = family + b":" + self.increment_column
            out.increments = [(self.increment_row, column, 1)] * len(events)
        if not self.payload_column and not self.increment_column:
            out.dropped = len(events)
            out.dropped_example = "payloadColumn and incrementColumn are both empty"
        return out


# -- Regex ----------------------------------------------------------------------------------

_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_UNSUPPORTED = re.compile(r"\\[pP]\{|\\[QEGZ]|\(\?[a-zA-Z]*[udU][a-zA-Z]*[):]")


def java_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compile a ``java.util.regex`` pattern as Flume's regex serializer does (``DOTALL``,
    optionally ``CASE_INSENSITIVE``; ASCII classes and case folding, as Java's defaults).
    ``(?<name>...)`` becomes ``(?P<name>...)``. Raises ``ValueError`` (with the reason) for
    constructs Python's ``re`` reads differently (``\\p{...}``, ``\\Q...\\E``, ``\\G``, ``\\Z``)."""
    bad = _UNSUPPORTED.search(pattern)
    if bad:
        raise ValueError(f"'{bad.group()}' (at {bad.start()}) is Java regex syntax that Python reads differently; rewrite it")
    flags = re.DOTALL | re.ASCII | (re.IGNORECASE if ignore_case else 0)
    try:
        return re.compile(_NAMED_GROUP.sub("(?P<", pattern), flags)
    except re.error as exc:
        raise ValueError(str(exc)) from None


_ALPHANUMERIC = string.ascii_letters + string.digits
_RANDOM_KEY = "".join(random.choices(_ALPHANUMERIC, k=10))
"""Commons Lang ``randomAlphanumeric(10)``: one per process, as Flume's static field."""
_nonce_lock = threading.Lock()
_nonce = 0
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1


def _take_nonces(n: int) -> list[int]:
    """``n`` consecutive values of Flume's JVM-wide ``AtomicInteger`` nonce (wraps like Java)."""
    global _nonce
    with _nonce_lock:
        start = _nonce
        nxt = start + n
        while nxt > _INT_MAX:
            nxt -= 1 << 32
        _nonce = nxt
    out = []
    v = start
    for _ in range(n):
        out.append(v)
        v = v + 1 if v < _INT_MAX else _INT_MIN
    return out


class RegexHBaseSerializer(HBaseEventSerializer):
    """Flume's ``RegexHbaseEventSerializer`` / ``RegexHBase2EventSerializer``: the body
    (decoded with ``charset``) must match ``regex`` entirely; group ``i`` goes to column
    ``<cf>:<colNames[i]>`` of one put. A body that does not match, or a pattern whose group
    count differs from ``colNames``, is dropped (as Flume). A group that did not take part
    in the match rejects the event (Flume fails the whole batch forever)."""

    type_name = "hbase_regex"
    aliases = (
        "RegexHBase2EventSerializer",
        "RegexHbaseEventSerializer",
        "org.apache.flume.sink.hbase2.RegexHBase2EventSerializer",
        "org.apache.flume.sink.hbase.RegexHbaseEventSerializer",
    )
    summary = "HBase: split the body into columns with a regular expression"
    settings_schema = Schema(
        Setting("regex", "str", "(.*)", "Java regular expression that must match the whole body"),
        Setting("regexIgnoreCase", "str", "false", "true: case-insensitive (only 'true' counts, as in Flume)"),
        Setting("colNames", "str", "payload", "comma-separated column names, one per group; ROW_KEY names the row key group"),
        Setting("rowKeyIndex", "int", -1, "index in colNames of the ROW_KEY column; -1: generated keys"),
        Setting("depositHeaders", "str", "false", "true: every header becomes a column too"),
        Setting("charset", "charset", "UTF-8", "decodes the body; encodes column names and headers"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        problems = []
        try:
            java_regex(settings["regex"], _flume_bool(settings["regexIgnoreCase"]))
        except ValueError as exc:
            problems.append(Problem("regex", f"regex '{settings['regex']}' cannot be used: {exc}", "use Python/Java-compatible syntax"))
        names = settings["colNames"].split(",")
        index = settings["rowKeyIndex"]
        if index >= 0:
            if index >= len(names):
                problems.append(
                    Problem(
                        "rowKeyIndex",
                        f"rowKeyIndex = {index} but colNames has {len(names)} names",
                        "point it at the ROW_KEY column (0-based)",
                    )
                )
            elif names[index].upper() != "ROW_KEY":
                problems.append(
                    Problem(
                        "rowKeyIndex",
                        f"colNames[{index}] is '{names[index]}', not ROW_KEY (Flume refuses this)",
                        f"rename column {index} to ROW_KEY or point rowKeyIndex at it",
                    )
                )
        return problems

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)
        self.pattern = java_regex(settings["regex"], _flume_bool(settings["regexIgnoreCase"]))
        self.charset: str = settings["charset"]
        self.names: list[str] = settings["colNames"].split(",")
        self.row_key_index: int = settings["rowKeyIndex"]
        self.deposit_headers = _flume_bool(settings["depositHeaders"])

    def serialize(self, events: Sequence[Event], family: bytes) -> Mutations:
        out = Mutations()
        pattern, charset, rk = self.pattern, self.charset, self.row_key_index
        prefix = family + b":"
        columns = [prefix + n.encode(charset, "replace") for n in self.names]
        groups_ok = pattern.groups == len(self.names)
        matches: list[tuple[int, re.Match[str]]] = []
        for i, e in enumerate(events):
            text = e.body.decode(charset, "replace")
            m = pattern.fullmatch(text) if groups_ok else None
            if m is None:
                out.dropped += 1
                if not out.dropped_example:
                    why = "does not match regex" if groups_ok else f"regex has {pattern.groups} groups but colNames has {len(self.names)}"
                    out.dropped_example = f"body {text[:80]!r} {why} {pattern.pattern!r}"
                continue
            matches.append((i, m))
        nonces = _take_nonces(len(matches)) if rk < 0 else []
        for n, (i, m) in enumerate(matches):
            values = m.groups()
            if None in values:
                g = values.index(None)
                out.rejected[i] = f"group {g + 1} ({self.names[g]}) of regex {pattern.pattern!r} did not take part in the match"
                continue
            row = f"{int(time.time() * 1000)}-{_RANDOM_KEY}-{nonces[n]}".encode(charset, "replace") if rk < 0 else values[rk].encode()
            cells: Cells = {}
            for c, v in enumerate(values):
                if c != rk:
                    cells[columns[c]] = v.encode()
            if self.deposit_headers:
                for k, v in (events[i].headers or {}).items():
                    cells[prefix + k.encode(charset, "replace")] = v.encode(charset, "replace")
            out.puts.append((i, row, cells))
        return out


def _flume_bool(value: str | bool) -> bool:
    """Flume's ``Context.getBoolean``: only ``true`` (any case, trimmed) is true."""
    if isinstance(value, bool):
        return value
    return value.strip().lower() == "true"
