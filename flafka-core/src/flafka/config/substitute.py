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

Limits (an error naming the key, the line and the limit; the value is kept as written):
references nest at most :data:`MAX_DEPTH` levels (a reference inside a variable's value
or inside a name counts one level), one value expands to at most :data:`MAX_VALUE_CHARS`
characters and the whole configuration to at most :data:`MAX_TOTAL_CHARS`. Each variable
is expanded once and reused, so ten references to a variable cost one expansion.
"""

from __future__ import annotations

import getpass
import os
import re
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


MAX_DEPTH = 50
"""Nesting levels of ``${...}`` references (inside values or names) one value may use."""
MAX_VALUE_CHARS = 1024 * 1024
"""Characters one substituted value may expand to (1 MiB)."""
MAX_TOTAL_CHARS = 16 * 1024 * 1024
"""Characters all substituted values of a configuration may expand to together (16 MiB)."""


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


class _Limit(Exception):
    """A substitution went past one of the limits; the message says which. ``depth`` is
    the nesting level where the depth limit was crossed (None for a size limit)."""

    def __init__(self, message: str, suggestion: str, depth: int | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion
        self.depth = depth


_PLAIN_REF = re.compile(r"(?<!\$)\$\{([^${}]*)\}")
"""``${NAME}`` with no reference inside NAME (``$${...}`` is a literal)."""

_Lookup = tuple[str | None, str, list[tuple[str, str]]]


@dataclass
class Substitutor:
    """Resolves ``${...}`` in values against the config, system properties and environment."""

    config: Mapping[str, str]
    system_properties: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    referenced: set[str] = field(default_factory=set)
    """Config keys that were used as variables (so nobody warns they are unused)."""

    _cache: dict[str, tuple[_Lookup, int]] = field(default_factory=dict)
    """Expanded variables and the nesting levels they used (a variable's expansion does not
    depend on where it is used)."""
    _deepest: int = 0
    _heights: dict[str, int] = field(default_factory=dict)
    _failed: dict[str, _Limit] = field(default_factory=dict)
    """Variables whose expansion went past a limit (every later use fails at once)."""

    def lookup(self, name: str, stack: list[str], depth: int = 0) -> _Lookup:
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
        if how == "config key":
            height = self._height(name)
            if depth + height > MAX_DEPTH:
                self._reach(depth + height, [*stack, name])
        cached = self._cache.get(name)
        if cached is not None:
            found, height = cached
            self._reach(depth + height, [*stack, name])
            return found
        failed = self._failed.get(name)
        if failed is not None:
            raise failed
        outer, self._deepest = self._deepest, depth
        try:
            text, unresolved = self.resolve(value, [*stack, name], depth + 1)
            height = self._deepest - depth
        except _Limit as limit:
            if limit.depth is None or limit.depth - depth > MAX_DEPTH:
                self._failed[name] = limit  # too big or too deep by itself, wherever it is used
            raise
        finally:
            self._deepest = max(outer, self._deepest)
        found = (text, how, list(dict.fromkeys(unresolved)))
        self._cache[name] = (found, height)
        return found

    def _height(self, root: str) -> int:
        """How many levels the expansion of config key ``root`` nests through other config
        keys, computed without recursion (so a 5,000-long chain is refused in one step,
        wherever it is used). Cycles count nothing here: :meth:`resolve` reports them."""
        heights = self._heights
        if root in heights:
            return heights[root]
        best = {root: 0}
        path = {root}
        todo = [(root, iter(self._refs(root)))]
        while todo:
            name, children = todo[-1]
            child = next(children, None)
            if child is None:
                todo.pop()
                path.discard(name)
                heights[name] = 1 + best[name]
                if todo:
                    parent = todo[-1][0]
                    best[parent] = max(best[parent], heights[name])
            elif child in heights:
                best[name] = max(best[name], heights[child])
            elif child not in path:
                path.add(child)
                best[child] = 0
                todo.append((child, iter(self._refs(child))))
        return heights[root]

    def _refs(self, name: str) -> list[str]:
        """The config keys the value of ``name`` refers to with plain ``${KEY}`` / ``${KEY:-...}``."""
        found = (m.partition(":-")[0] for m in _PLAIN_REF.findall(self.config[name]))
        return [ref for ref in dict.fromkeys(found) if ref in self.config and "${" in self.config[ref]]

    def _reach(self, depth: int, stack: list[str]) -> None:
        """Note that a resolution went ``depth`` levels deep; past :data:`MAX_DEPTH`, stop.
        (Counted through cached variables too, so the verdict does not depend on the order
        of the lines.)"""
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH:
            raise _Limit(
                f"${{...}} references nest more than {MAX_DEPTH} levels deep (through {' -> '.join(stack[:3]) or 'nested names'} ...)",
                f"flatten the chain: give one of these keys its value directly (the limit is {MAX_DEPTH} levels)",
                depth,
            )

    def resolve(self, text: str, stack: list[str] | None = None, depth: int = 0) -> tuple[str, list[tuple[str, str]]]:
        """Substitute every ``${...}`` in ``text``. Returns the new text and the
        unresolved variables as (name, how it was looked up). Raises ``_Cycle`` for a
        cycle and ``_Limit`` past :data:`MAX_DEPTH` or :data:`MAX_VALUE_CHARS`."""
        stack = stack or []
        self._reach(depth, stack)
        unresolved: list[tuple[str, str]] = []
        out: list[str] = []
        size = 0
        i = 0
        n = len(text)
        while i < n:
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                size += n - i
                break
            if start > i and text[start - 1] == "$":
                # "$${" is an escaped "${"
                out.append(text[i : start - 1] + "${")
                size += start + 1 - i
                i = start + 2
                continue
            out.append(text[i:start])
            size += start - i
            end = _matching_brace(text, start + 2)
            if end < 0:
                out.append(text[start:])
                size += n - start
                break
            raw_name = text[start + 2 : end]
            name, inner = self.resolve(raw_name, stack, depth + 1) if "${" in raw_name else (raw_name, [])
            unresolved.extend(inner)
            name, sep, default = name.partition(":-")
            if name in stack:
                raise _Cycle([*stack, name])
            value, how, inner = self.lookup(name, stack, depth)
            unresolved.extend(inner)
            if value is None and sep:
                value, in_default = self.resolve(default, stack, depth + 1)
                unresolved.extend(in_default)
            if value is None:
                unresolved.append((name, how))
                piece = text[start : end + 1]
            else:
                piece = value
            out.append(piece)
            size += len(piece)
            if size > MAX_VALUE_CHARS:
                raise _Limit(
                    f"the value expands to more than {MAX_VALUE_CHARS:,} characters (at ${{{name}}})",
                    "variables that repeat other variables grow exponentially; write the value out, "
                    f"or keep it under {MAX_VALUE_CHARS:,} characters",
                )
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
    total = 0
    for key, loc in entries.items():
        if "${" not in loc.value:
            out[key] = loc
            continue
        try:
            value, unresolved = sub.resolve(loc.value, [key])
            total += len(value)
            if total > MAX_TOTAL_CHARS:
                raise _Limit(
                    f"the substituted values of the configuration expand to more than {MAX_TOTAL_CHARS:,} characters "
                    "in all (this value crosses the limit)",
                    "refer to big variables from fewer keys, or write the values out",
                )
        except _Limit as limit:
            issues.append(SubstitutionIssue("error", f"substitution stopped: {limit}", loc.file, loc.line, key, "", limit.suggestion))
            out[key] = loc
            continue
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
