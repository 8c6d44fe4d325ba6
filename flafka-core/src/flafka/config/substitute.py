"""``${...}`` substitution in values, Flume 1.10+ style (Apache Commons Text
``StringSubstitutor`` as Flume's ``MapResolver`` sets it up).

- ``${env:VAR}``: the environment variable ``VAR``;
- ``${sys:KEY}``: the system property ``KEY`` (``-DKEY=value`` on the command line;
  ``user.home``, ``user.name``, ``user.dir`` and ``java.io.tmpdir`` have defaults);
- ``${KEY}``: the key ``KEY`` of the merged configuration itself (e.g. ``NC_PORT = 44444``
  in an override file), then the environment variable ``KEY`` (Flume 1.8's
  ``EnvVarResolverProperties`` behaviour, so 1.8/1.9 files keep working);
- ``${NAME:-default}`` uses ``default`` when ``NAME`` is not resolved;
- ``$${X}`` is the literal text ``${X}``;
- nested: ``${env:${WHICH}}`` resolves ``WHICH`` first; substituted text is substituted
  again (a cycle is an error).

Unresolved variables stay in the value literally and are reported as warnings naming
the file, line, key and variable. Messages never contain values, so secrets cannot leak.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flafka.config.grammar import Located, java_trim

_UNSUPPORTED_LOOKUPS = (
    "java",
    "date",
    "base64",
    "base64Decoder",
    "base64Encoder",
    "const",
    "dns",
    "file",
    "localhost",
    "properties",
    "resourceBundle",
    "script",
    "url",
    "urlDecoder",
    "urlEncoder",
    "xml",
)


@dataclass(frozen=True)
class SubstitutionIssue:
    """A variable that could not be resolved (warning) or a cycle (error)."""

    severity: str
    message: str
    file: str
    line: int
    key: str
    variable: str
    suggestion: str = ""


def default_system_properties() -> dict[str, str]:
    """The few JVM system properties configs commonly refer to, with this machine's values."""
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user name on this system
        user = ""
    return {
        "user.home": str(Path.home()),
        "user.name": user,
        "user.dir": os.getcwd(),
        "java.io.tmpdir": tempfile.gettempdir(),
    }


class _Cycle(Exception):
    def __init__(self, chain: list[str]) -> None:
        super().__init__(" -> ".join(chain))
        self.chain = chain


@dataclass
class Substitutor:
    """Resolves ``${...}`` in values against the config, system properties and environment."""

    config: Mapping[str, str]
    system_properties: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)
    """Config keys that were used as variables (so nobody warns they are unused)."""

    def lookup(self, name: str, stack: list[str]) -> tuple[str | None, str, list[tuple[str, str]]]:
        """(value or None, how it was looked up, unresolved variables inside the value)."""
        prefix, colon, rest = name.partition(":")
        value: str | None
        if colon and prefix == "env":
            value, how = self.env.get(rest), "environment variable"
        elif colon and prefix == "sys":
            value, how = self.system_properties.get(rest), "system property"
        elif colon and prefix in _UNSUPPORTED_LOOKUPS:
            return None, "unsupported lookup", []
        elif name in self.config:
            self.referenced.add(name)
            value, how = java_trim(self.config[name]), "config key"
        else:
            value, how = self.env.get(name), "config key or environment variable"
        if value is None or "${" not in value:
            return value, how, []
        text, unresolved = self.resolve(value, [*stack, name])
        return text, how, unresolved

    def resolve(self, text: str, stack: list[str] | None = None) -> tuple[str, list[tuple[str, str]]]:
        """Substitute every ``${...}`` in ``text``. Returns the new text and the
        unresolved variables as (name, how it was looked up)."""
        stack = stack or []
        unresolved: list[tuple[str, str]] = []
        out: list[str] = []
        i = 0
        n = len(text)
        while i < n:
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            if start > i and text[start - 1] == "$":
                # "$${" is an escaped "${"
                out.append(text[i : start - 1] + "${")
                i = start + 2
                continue
            out.append(text[i:start])
            end = _matching_brace(text, start + 2)
            if end < 0:
                out.append(text[start:])
                break
            raw_name = text[start + 2 : end]
            name, inner = self.resolve(raw_name, stack) if "${" in raw_name else (raw_name, [])
            unresolved.extend(inner)
            name, sep, default = name.partition(":-")
            if name in stack:
                raise _Cycle([*stack, name])
            value, how, inner = self.lookup(name, stack)
            unresolved.extend(inner)
            if value is None and sep:
                value, in_default = self.resolve(default, stack)
                unresolved.extend(in_default)
            if value is None:
                unresolved.append((name, how))
                out.append(text[start : end + 1])
            else:
                out.append(value)
            i = end + 1
        return "".join(out), unresolved


def _matching_brace(text: str, pos: int) -> int:
    """Index of the ``}`` closing a ``${`` whose name starts at ``pos`` (-1 if none)."""
    depth = 1
    i = pos
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _advice(name: str, how: str) -> str:
    if how == "environment variable":
        return f"set the environment variable {name[4:]} before starting the agent, or write ${{{name}:-default}}"
    if how == "system property":
        return f"pass -D{name[4:]}=<value> on the command line, or write ${{{name}:-default}}"
    if how == "unsupported lookup":
        return "flafka supports ${env:NAME}, ${sys:NAME} and ${KEY}; replace this lookup"
    return (
        f"define {name} = <value> in a config file (e.g. an override file given with a second -f), or set the environment variable {name}"
    )


def substitute(
    entries: Mapping[str, Located],
    system_properties: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Located], list[SubstitutionIssue], set[str]]:
    """Substitute every value of a merged configuration (full key -> located value).

    Returns the new mapping (same keys and order), the issues, and the config keys used
    as variables.
    """
    sysprops = {**default_system_properties(), **(system_properties or {})}
    sub = Substitutor({k: loc.value for k, loc in entries.items()}, sysprops, dict(os.environ if env is None else env))
    out: dict[str, Located] = {}
    issues: list[SubstitutionIssue] = []
    for key, loc in entries.items():
        if "${" not in loc.value:
            out[key] = loc
            continue
        try:
            value, unresolved = sub.resolve(loc.value, [key])
        except _Cycle as cycle:
            issues.append(
                SubstitutionIssue(
                    "error",
                    f"substitution loops: {' -> '.join('${' + c + '}' for c in cycle.chain)}",
                    loc.file,
                    loc.line,
                    key,
                    cycle.chain[-1],
                    "break the cycle: one of these keys must have a value without ${...}",
                )
            )
            out[key] = loc
            continue
        seen: set[str] = set()
        for name, how in unresolved:
            if name in seen:
                continue
            seen.add(name)
            issues.append(
                SubstitutionIssue(
                    "warning",
                    f"${{{name}}} is not defined ({how}); the value keeps the text ${{{name}}}",
                    loc.file,
                    loc.line,
                    key,
                    name,
                    _advice(name, how),
                )
            )
        out[key] = Located(loc.key, value, loc.file, loc.line)
    return out, issues, sub.referenced
