"""``flafka migrate``: rewrite Flume 1.6 key spellings to their 1.7+ names in place.

Which keys are legacy comes from each component's schema (``Setting.legacy``), so the
rewrite follows the components that are installed: ``agent.sinks.k.brokerList`` becomes
``agent.sinks.k.kafka.bootstrap.servers`` when ``k``'s type is the Kafka sink. Only the key
text changes: values, comments, blank lines, separators, line endings and the order of
lines stay as they were. When the new key is also set, the old line is commented out
(the new key already wins). Keys of components whose type is unknown are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flafka.config.grammar import SECTIONS, java_trim
from flafka.config.properties import Entry, decode, escape, natural_lines, parse_text
from flafka.registry import Registry


@dataclass(frozen=True)
class MigrationChange:
    """One rewritten line: ``action`` is ``renamed`` or ``commented out``."""

    line: int
    old_key: str
    new_key: str
    action: str

    def __str__(self) -> str:
        if self.action == "renamed":
            return f"line {self.line}: {self.old_key} -> {self.new_key}"
        return f"line {self.line}: {self.old_key} commented out ({self.new_key} is also set and wins)"


def _subcomponent(section: str, ckey: str, props: dict[str, str]) -> tuple[str, str, str] | None:
    """(registry kind, type, key relative to that component's schema) for a component key,
    or None when the key is framework-owned or has no schema to consult."""
    if section == "sources":
        if ckey.startswith("selector."):
            return "selector", props.get("selector.type", "replicating"), ckey[len("selector.") :]
        if ckey.startswith("interceptors."):
            name, _, rest = ckey[len("interceptors.") :].partition(".")
            itype = props.get(f"interceptors.{name}.type")
            return ("interceptor", itype, rest) if itype and rest else None
        return ("source", props["type"], ckey) if "type" in props else None
    if section == "sinkgroups":
        if ckey.startswith("processor."):
            return "sink_processor", props.get("processor.type", "default"), ckey[len("processor.") :]
        return None
    if section in ("channels", "sinks") and "type" in props:
        return section[:-1], props["type"], ckey
    return None


def migrate_text(text: str, registry: Registry, file: str = "<config>") -> tuple[str, list[MigrationChange]]:
    """Return ``text`` with legacy keys renamed, and the list of changes made."""
    parsed = parse_text(text, file)
    # per (agent, section, name): the winning value of every component key
    props: dict[tuple[str, str, str], dict[str, str]] = {}
    where: list[tuple[Entry, tuple[str, str, str], str]] = []
    for entry in parsed.entries:
        key = java_trim(entry.key)
        agent, dot, rest = key.partition(".")
        section, dot2, tail = rest.partition(".")
        name, dot3, ckey = tail.partition(".")
        if not (dot and dot2 and dot3 and agent and name and ckey) or section not in SECTIONS:
            continue
        props.setdefault((agent, section, name), {})[ckey] = java_trim(entry.value)
        where.append((entry, (agent, section, name), ckey))
    all_keys = {java_trim(e.key) for e in parsed.entries}
    line_starts = {number: offset for number, offset, _ in natural_lines(text)}
    edits: list[tuple[int, int, str]] = []
    changes: list[MigrationChange] = []
    for entry, comp, ckey in where:
        sub = _subcomponent(comp[1], ckey, props[comp])
        if sub is None:
            continue
        kind, type_name, rel = sub
        cls = registry.lookup(kind, type_name)
        if cls is None:
            continue
        legacy = {old: s.key for s in cls.settings_schema.settings for old in s.legacy}
        if rel not in legacy:
            continue
        old_key = java_trim(entry.key)
        new_key = old_key[: len(old_key) - len(rel)] + legacy[rel]
        if new_key in all_keys:
            for number in range(entry.line, (entry.end_line or entry.line) + 1):
                edits.append((line_starts[number], line_starts[number], "# "))
            changes.append(MigrationChange(entry.line, old_key, new_key, "commented out"))
        else:
            edits.append((entry.key_start, entry.key_end, escape(new_key, is_key=True)))
            changes.append(MigrationChange(entry.line, old_key, new_key, "renamed"))
    out = text
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + replacement + out[end:]
    return out, changes


def migrate_file(path: str | Path, registry: Registry) -> tuple[str, list[MigrationChange]]:
    """Read ``path`` (UTF-8, see :mod:`flafka.config.properties`) and migrate its text.
    The caller decides whether to write the result back."""
    text, _ = decode(Path(path).read_bytes(), str(path))
    return migrate_text(text, registry, str(path))
