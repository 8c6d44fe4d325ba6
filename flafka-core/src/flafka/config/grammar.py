"""Flume's key grammar (``FlumeConfiguration``): split every key into agent, section,
component and component key, keeping where each value came from.

- ``<agent>.<rest>``: the agent name is the text before the first dot;
- ``<agent>.sources|channels|sinks|sinkgroups|configfilters`` are whitespace-separated
  name lists;
- ``<agent>.<section>.<name>.<key>``: ``name`` is up to the next dot, ``key`` is the rest
  and may contain dots (``hdfs.path``, ``selector.mapping.CA``, ``interceptors.i1.type``);
- anything else is an *invalid property* (Flume warns and ignores it).

Keys and values are trimmed like Java's ``String.trim()``; lines with an empty value are
kept apart (Flume ignores them with a warning). No validation of component contents
happens here: see :mod:`flafka.config.loader`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_LISTED = 10_000
"""Names one list line may hold (``agent.sinks = k1 k2 ...``); the loader reports more as
an error and validates the first ``MAX_LISTED`` only, so a huge line cannot flood the report."""

SECTIONS = ("sources", "channels", "sinks", "sinkgroups", "configfilters")
"""The plural section names that hold lists and components."""

KIND_OF_SECTION = {
    "sources": "source",
    "channels": "channel",
    "sinks": "sink",
    "sinkgroups": "sinkgroup",
    "configfilters": "configfilter",
}

_JAVA_TRIM = "".join(chr(c) for c in range(0x21))


def java_trim(text: str) -> str:
    """``String.trim()``: strip every character <= U+0020 from both ends."""
    return text.strip(_JAVA_TRIM)


@dataclass(frozen=True)
class Located:
    """A trimmed value with the full key it was written under and where."""

    key: str
    value: str
    file: str = ""
    line: int = 0


@dataclass
class RawComponent:
    """The properties of one component of one agent: relative key -> located value."""

    section: str
    name: str
    props: dict[str, Located] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return KIND_OF_SECTION[self.section]

    @property
    def first(self) -> Located | None:
        """The earliest line configuring the component (by file order, then line)."""
        return min(self.props.values(), key=lambda loc: (loc.file, loc.line), default=None)

    def get(self, key: str) -> str | None:
        loc = self.props.get(key)
        return loc.value if loc else None


@dataclass
class InvalidKey:
    """A key that does not fit Flume's grammar, with a suggested spelling ('' if none)."""

    located: Located
    reason: str
    suggestion: str = ""


@dataclass
class RawAgent:
    """Everything written for one agent name."""

    name: str
    lists: dict[str, Located] = field(default_factory=dict)
    """section -> its name list line (``agent.sources = r1 r2``)."""
    components: dict[str, dict[str, RawComponent]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    invalid: list[InvalidKey] = field(default_factory=list)
    lines: list[Located] = field(default_factory=list)
    """Every (non-empty) line of this agent, in input order."""
    empty: list[Located] = field(default_factory=list)
    """Lines with an empty value (Flume ignores them)."""
    _listed: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _listed_sets: dict[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

    def listed(self, section: str) -> list[str]:
        """The names of a list, in order, without duplicates (at most :data:`MAX_LISTED`).
        The list is shared: do not modify it."""
        cached = self._listed.get(section)
        if cached is None:
            loc = self.lists.get(section)
            cached = list(dict.fromkeys(loc.value.split()))[:MAX_LISTED] if loc is not None else []
            self._listed[section] = cached
            self._listed_sets[section] = frozenset(cached)
        return cached

    def is_listed(self, section: str, name: str) -> bool:
        """``name in self.listed(section)``, in constant time."""
        self.listed(section)
        return name in self._listed_sets[section]

    def component(self, section: str, name: str) -> RawComponent | None:
        return self.components[section].get(name)

    @property
    def has_lists(self) -> bool:
        return bool(self.lists)


@dataclass
class Grammar:
    """All agents found in a configuration, plus keys that name no agent."""

    agents: dict[str, RawAgent] = field(default_factory=dict)
    no_agent: list[Located] = field(default_factory=list)
    """Keys with no dot or an empty agent name (``NC_PORT = 44444``, ``.sources = r1``)."""


def _invalid_suggestion(agent: str, rest: str) -> str:
    """A corrected key for ``agent.rest`` when the section is misspelled."""
    head, _, tail = rest.partition(".")
    hits = difflib.get_close_matches(head, SECTIONS, n=1, cutoff=0.6)
    if not hits:
        return ""
    fixed = f"{agent}.{hits[0]}" + (f".{tail}" if tail else "")
    return fixed


def parse_keys(entries: Iterable[Located]) -> Grammar:
    """Sort located ``key = value`` lines (already merged, substituted) into agents."""
    grammar = Grammar()
    for raw in entries:
        key = java_trim(raw.key)
        value = java_trim(raw.value)
        loc = Located(key, value, raw.file, raw.line)
        agent_name, dot, rest = key.partition(".")
        if not dot or not agent_name:
            grammar.no_agent.append(loc)
            continue
        agent = grammar.agents.get(agent_name)
        if agent is None:
            agent = grammar.agents[agent_name] = RawAgent(agent_name)
        if not value:
            agent.empty.append(loc)
            continue
        agent.lines.append(loc)
        if rest in SECTIONS:
            agent.lists[rest] = loc
            continue
        section, dot, tail = rest.partition(".")
        name, dot2, ckey = tail.partition(".")
        if section not in SECTIONS or not dot:
            agent.invalid.append(InvalidKey(loc, f"'{rest}' is not a Flume key", _invalid_suggestion(agent_name, rest)))
            continue
        if not name or not dot2 or not ckey:
            agent.invalid.append(
                InvalidKey(
                    loc,
                    f"'{rest}' names no component key; expected {agent_name}.{section}.<name>.<key>",
                    "",
                )
            )
            continue
        comp = agent.components[section].get(name)
        if comp is None:
            comp = agent.components[section][name] = RawComponent(section, name)
        comp.props[ckey] = loc
    return grammar
