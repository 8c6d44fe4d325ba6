"""Load Flume configuration files into an :class:`~flafka.config.plan.AgentPlan`,
reporting every problem at once as :class:`~flafka.config.diagnostics.Diagnostic`.

Pipeline: read each ``-f`` file (:mod:`~flafka.config.properties`), merge them in order
(later files override earlier ones), substitute ``${...}`` in values
(:mod:`~flafka.config.substitute`), split keys by Flume's grammar
(:mod:`~flafka.config.grammar`), then validate the named agent the way Flume does — but
where Flume silently drops a line or a component, flafka says so, and anything that would
leave the pipeline different from what is written is an error. Finally every component
is built (constructors do no I/O by contract: no files written, no sockets, no threads),
so a value a constructor refuses is reported on its line here, not at ``flafka agent``
start.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from flafka.component import Component
from flafka.config.diagnostics import BUILDING, Diagnostic
from flafka.config.flume_types import missing_advice, missing_type
from flafka.config.grammar import MAX_LISTED, SECTIONS, Grammar, Located, RawAgent, RawComponent, parse_keys
from flafka.config.plan import AgentPlan, ComponentPlan, SinkGroupPlan, SinkPlan, SourcePlan
from flafka.config.properties import NotAConfigFile, parse_file
from flafka.config.substitute import substitute
from flafka.errors import ConfigError
from flafka.registry import KindError, Registry
from flafka.settings import Problem, Settings, looks_secret

Severity = Literal["error", "warning"]

SOURCE_RESERVED = ("type", "channels", "channel", "selector", "interceptors", "acknowledgements")
"""Source keys the framework reads (and their ``<key>.*`` sub-keys); never passed to a
source's schema. (``channel`` is reserved to report the singular/plural mix-up.)"""
SINK_RESERVED = ("type", "channel", "channels", "errors")
CHANNEL_RESERVED = ("type",)

MASK = "******"

_SUGGEST_BUDGET = 10_000
"""Name comparisons one list's did-you-mean suggestions may make (about a second; 10,000 unlisted names
against 10,000 listed ones would take minutes; past the budget, no suggestion)."""

_JAVA_CLASS = re.compile(r"^[a-z_][\w]*(\.[a-z_][\w]*)*\.[A-Z][\w$]*$")
"""A fully qualified Java class name (``org.example.MySource``, ``a.b.Builder$Inner``)."""


_QUOTED_KEY = re.compile(r"'(?P<key>[A-Za-z][\w.\-]*)'")
_ASSIGNED_KEY = re.compile(r"(?<![\w.'\-])(?P<key>[A-Za-z][\w.\-]*)(?= = )")


def full_keys(text: str, prefix: str, known: Callable[[str], bool]) -> str:
    """``text`` (a component's problem message or fix) with the component's keys written
    in full — ``'sink.directory'`` and ``add sink.directory = ...`` become
    ``'a1.sinks.k1.sink.directory'`` and ``add a1.sinks.k1.sink.directory = ...`` — so a
    fix can be pasted into the file as it is. Only keys ``known`` to the component are
    touched (quoted values, type names and prose stay as they are)."""
    if not text or not prefix:
        return text

    def widen(m: re.Match[str]) -> str:
        key = m.group("key")
        if key.startswith(prefix) or not known(key):
            return m.group(0)
        start = m.start("key") - m.start(0)
        whole = m.group(0)
        return whole[:start] + prefix + key + whole[start + len(key) :]

    return _ASSIGNED_KEY.sub(widen, _QUOTED_KEY.sub(widen, text))


@dataclass
class LoadResult:
    """The outcome of :func:`load_config`: ``plan`` is None iff any diagnostic is an error."""

    plan: AgentPlan | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    """Every agent name found in the files."""
    typos: dict[str, str] = field(default_factory=dict)
    """Agent names that are mistyped prefixes of another agent's lines (``agent4`` ->
    ``agent``): the lines are reported per line under the real agent, which
    ``flafka validate`` without ``-n`` validates instead of the typo."""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return self.plan is not None

    def format(self) -> str:
        """Every diagnostic (``Diagnostic.format``) and a one-line summary."""
        lines = [d.format() for d in self.diagnostics]
        n_err, n_warn = len(self.errors), len(self.warnings)
        lines.append(f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}")
        return "\n".join(lines)


def _reserved(key: str, names: Sequence[str]) -> bool:
    return any(key == r or key.startswith(r + ".") for r in names)


def _close(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str:
    hits = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return hits[0] if hits else ""


def _mask(message: str, value: str) -> str:
    return message.replace(value, MASK) if value else message


class _Collector:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(
        self,
        severity: Severity,
        message: str,
        loc: Located | None = None,
        *,
        key: str = "",
        suggestion: str = "",
        file: str = "",
        line: int = 0,
    ) -> None:
        if loc is not None:
            file, line, key = loc.file, loc.line, key or loc.key
        self.items.append(Diagnostic(severity, message, file, line, key, suggestion))

    def error(
        self, message: str, loc: Located | None = None, *, key: str = "", suggestion: str = "", file: str = "", line: int = 0
    ) -> None:
        self.add("error", message, loc, key=key, suggestion=suggestion, file=file, line=line)

    def warning(
        self, message: str, loc: Located | None = None, *, key: str = "", suggestion: str = "", file: str = "", line: int = 0
    ) -> None:
        self.add("warning", message, loc, key=key, suggestion=suggestion, file=file, line=line)


def _read_files(files: Sequence[str | Path], out: _Collector) -> tuple[dict[str, Located], bool]:
    """Parse and merge the files (later overrides earlier). Returns (merged, all read)."""
    merged: dict[str, Located] = {}
    all_read = True
    for f in files:
        name = str(f)
        path = Path(f)
        try:
            parsed = parse_file(path)
        except FileNotFoundError:
            all_read = False
            where = "" if path.is_absolute() else f" (relative to the current directory {os.getcwd()})"
            out.error(
                f"config file '{name}' does not exist{where}",
                file=name,
                suggestion="check the path given with -f/--conf-file; it names the properties file itself (-c/--conf names the directory)",
            )
            continue
        except IsADirectoryError:
            all_read = False
            out.error(
                f"'{name}' is a directory, not a config file",
                file=name,
                suggestion="give the properties file with -f/--conf-file (a directory goes with -c/--conf)",
            )
            continue
        except NotAConfigFile as exc:
            all_read = False
            out.error(
                f"config file {exc}",
                file=name,
                suggestion="give the Flume properties file itself with -f/--conf-file (write a pipe's contents to a file first)",
            )
            continue
        except PermissionError:
            all_read = False
            out.error(
                f"config file '{name}' cannot be read: permission denied",
                file=name,
                suggestion="make the file readable by the user running flafka (chmod o+r, or run as its owner)",
            )
            continue
        except OSError as exc:
            all_read = False
            out.error(
                f"config file '{name}' cannot be read: {exc.strerror or exc}",
                file=name,
                suggestion="check the path given with -f/--conf-file",
            )
            continue
        for problem in parsed.problems:
            out.add(problem.severity, problem.message, file=problem.file, line=problem.line, key=problem.key, suggestion=problem.suggestion)  # type: ignore[arg-type]
            if problem.severity == "error":
                all_read = False
        for earlier, later in parsed.duplicates:
            out.warning(
                f"'{later.key}' is set twice, on line {earlier.line} and on line {later.line}; the value on line {later.line} wins",
                file=name,
                line=later.line,
                key=later.key,
                suggestion=f"delete one of the two lines (Flume silently keeps the last one); the other is {name}:{earlier.line}",
            )
        for entry in parsed.entries:
            merged[entry.key] = Located(entry.key, entry.value, name, entry.line)
    return merged, all_read


def load_config(
    files: Sequence[str | Path],
    agent_name: str,
    registry: Registry,
    system_properties: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load ``files`` (merged in order) and validate agent ``agent_name``.

    ``system_properties`` are ``-Dkey=value`` options (``${sys:key}`` and
    ``AgentPlan.system_properties``); ``env`` defaults to ``os.environ``. Never raises for
    a bad configuration: every problem is in ``diagnostics``, and ``plan`` is None when
    any of them is an error.
    """
    out = _Collector()
    file_order = {str(f): i for i, f in enumerate(files)}
    if not files:
        out.error("no config file given", suggestion="pass the Flume properties file with -f/--conf-file FILE")
    merged, all_read = _read_files(files, out)
    values, issues, referenced = substitute(merged, system_properties, env)
    for issue in issues:
        out.add(issue.severity, issue.message, file=issue.file, line=issue.line, key=issue.key, suggestion=issue.suggestion)  # type: ignore[arg-type]
    grammar = parse_keys(values.values())
    for loc in grammar.no_agent:
        if loc.key in referenced:
            continue
        out.warning(
            f"'{loc.key}' names no agent (Flume keys look like <agent>.sources = ...); Flume ignores this line",
            loc,
            suggestion=(
                f"if it belongs to agent '{agent_name}', write {agent_name}.{loc.key.lstrip('.')}; "
                f"if it is a variable, refer to it as ${{{loc.key}}}"
            ),
        )
    plan: AgentPlan | None = None
    agent = grammar.agents.get(agent_name)
    if agent is None:
        if all_read and files:
            _no_such_agent(agent_name, grammar, files, out)
    else:
        _OtherAgents(agent, grammar, out).report()
        plan = _AgentValidator(agent, grammar, registry, out).validate()
        if plan is not None:
            plan.system_properties = dict(system_properties or {})
    diagnostics = _ordered(out.items, file_order)
    if any(d.is_error for d in diagnostics):
        plan = None
    return LoadResult(plan, diagnostics, sorted(grammar.agents), typo_agents(grammar))


def _standalone(agent: RawAgent) -> bool:
    """An agent of its own: it lists its channels and its sources or sinks."""
    return "channels" in agent.lists and ("sources" in agent.lists or "sinks" in agent.lists)


def _targets(me: RawAgent, line: Located, other: str) -> bool:
    """True when a line written for agent ``other`` configures a component (or a list)
    of agent ``me``."""
    section, name, _ = _split_rest(other, line.key)
    if section not in SECTIONS:
        return False
    if not name:
        return section not in me.lists
    return me.is_listed(section, name)


def _meant_for(other: RawAgent, me: RawAgent) -> tuple[bool, bool]:
    """(the lines of ``other`` look meant for ``me``, the names are close). An agent that
    stands alone is never a typo; otherwise a close name or a line that configures one
    of ``me``'s components is enough."""
    close = bool(_close(me.name, [other.name]))
    if _standalone(other):
        return False, close
    return close or any(_targets(me, loc, other.name) for loc in other.lines), close


def typo_agents(grammar: Grammar) -> dict[str, str]:
    """Mistyped agent prefix -> the agent its lines are meant for (see :func:`_meant_for`)."""
    out: dict[str, str] = {}
    hosts = [a for a in grammar.agents.values() if a.has_lists]
    for other in grammar.agents.values():
        if _standalone(other):
            continue
        fits = [me for me in hosts if me is not other and (_standalone(me) or not other.has_lists) and _meant_for(other, me)[0]]
        if fits:
            best = max(fits, key=lambda me: difflib.SequenceMatcher(None, me.name, other.name).ratio())
            out[other.name] = best.name
    return out


def _ordered(items: list[Diagnostic], file_order: dict[str, int]) -> list[Diagnostic]:
    unique = list(dict.fromkeys(items))
    return sorted(unique, key=lambda d: (0 if d.file else 1, file_order.get(d.file, len(file_order)), d.line))


def _no_such_agent(agent_name: str, grammar: Grammar, files: Sequence[str | Path], out: _Collector) -> None:
    names = sorted(grammar.agents)
    where = ", ".join(str(f) for f in files)
    if not names:
        out.error(
            f"no agent is configured in {where}: no key of the form <agent>.sources/channels/sinks",
            suggestion=f"write the agent's keys as {agent_name}.sources = ..., {agent_name}.channels = ..., {agent_name}.sinks = ...",
        )
        return
    found = ", ".join(f"'{n}'" for n in names)
    hint = _close(agent_name, names)
    suggestion = (
        f"did you mean '{hint}'? start the agent with -n {hint}" if hint else f"start the agent with -n and one of: {', '.join(names)}"
    )
    out.error(f"no configuration for agent '{agent_name}' in {where}; the agents found are {found}", suggestion=suggestion)


def _split_rest(agent: str, key: str) -> tuple[str, str, str]:
    """(section, component name, rest) of a full key; name '' for list lines."""
    rest = key[len(agent) + 1 :]
    if rest in SECTIONS:
        return rest, "", ""
    section, _, tail = rest.partition(".")
    name, _, ckey = tail.partition(".")
    return section, name, ckey


class _OtherAgents:
    """Lines written for other agent names: per line when they look meant for the
    started agent (typo in the name, or they configure its components), else a summary."""

    def __init__(self, agent: RawAgent, grammar: Grammar, out: _Collector) -> None:
        self.agent = agent
        self.grammar = grammar
        self.out = out

    def report(self) -> None:
        summary: list[RawAgent] = []
        me = self.agent.name
        for other in self.grammar.agents.values():
            if other is self.agent:
                continue
            meant, close = _meant_for(other, self.agent)
            if not meant:
                summary.append(other)
                continue
            for loc in other.lines:
                rest = loc.key[len(other.name) + 1 :]
                fixed = f"{me}.{rest}"
                severity: Severity = "error" if _targets(self.agent, loc, other.name) else "warning"
                consequence = " (ignoring it leaves the agent incomplete)" if severity == "error" else "; Flume ignores it"
                suggestion = f"did you mean '{me}'? write {fixed}" if close else f"if it is meant for agent '{me}', write {fixed}"
                self.out.add(
                    severity,
                    f"this line is for agent '{other.name}' but the agent is started as '{me}'{consequence}",
                    loc,
                    suggestion=suggestion,
                )
        if summary:
            lines = [loc for a in summary for loc in a.lines + a.empty]
            first = min(lines, key=lambda loc: (loc.file, loc.line), default=None)
            names = ", ".join(f"'{a.name}'" for a in summary[:10]) + (f" and {len(summary) - 10} more" if len(summary) > 10 else "")
            self.out.warning(
                f"the configuration also has {len(lines)} line(s) for agent(s) {names}; "
                f"they are ignored when the agent is started as '{me}'",
                first,
                key="",
                suggestion="nothing to do if the file holds several agents; otherwise fix the agent name at the start of those keys",
            )


class _AgentValidator:
    """Validates one agent and builds its plan (None when anything is wrong)."""

    def __init__(self, agent: RawAgent, grammar: Grammar, registry: Registry, out: _Collector) -> None:
        self.agent = agent
        self.a = agent.name
        self.grammar = grammar
        self.registry = registry
        self.out = out
        self.channels: dict[str, ComponentPlan] = {}
        self.sources: dict[str, SourcePlan] = {}
        self.sinks: dict[str, SinkPlan] = {}
        self.groups: dict[str, SinkGroupPlan] = {}
        self.unbuildable: set[int] = set()
        """ids of Settings whose schema reported errors (their constructors are not called)."""
        self.strays: dict[tuple[str, str], list[tuple[str, Located]]] = {}
        for other in grammar.agents.values():
            if other is agent:
                continue
            for loc in other.lines:
                section, name, _ = _split_rest(other.name, loc.key)
                self.strays.setdefault((section, name), []).append((other.name, loc))

    # -- helpers ---------------------------------------------------------------------------

    def key(self, section: str, name: str, rest: str = "") -> str:
        return f"{self.a}.{section}.{name}" + (f".{rest}" if rest else "")

    def stray_hint(self, section: str, name: str, rest: str | None = None) -> str:
        """'line 12 sets agent4.channels.c.type; did you mean agent.channels.c.type?' or ''."""
        hits = [
            (other, loc) for other, loc in self.strays.get((section, name), []) if rest is None or _split_rest(other, loc.key)[2] == rest
        ]
        if not hits:
            return ""
        other, loc = hits[0]
        fixed = f"{self.a}.{loc.key[len(other) + 1 :]}"
        return f"{Path(loc.file).name}:{loc.line} sets {loc.key} for agent '{other}'; did you mean {fixed}?"

    def known_types(self, kind: str) -> str:
        names = self.registry.names(kind)
        if not names:
            return f"no {kind} types are installed"
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return f"known {kind.replace('_', ' ')} types: {shown}; `flafka plugins` lists all"

    def resolve_type(self, kind: str, label: str, type_loc: Located) -> type[Component] | None:
        try:
            cls = self.registry.lookup(kind, type_loc.value)
        except KindError as exc:  # a plugin's deferred component failed to import
            reg = self.registry.registration(kind, type_loc.value)
            plugin = reg.plugin if reg else "?"
            self.out.error(
                f"{label}: type '{type_loc.value}' cannot be loaded: {exc}",
                type_loc,
                suggestion=f"reinstall the plugin's distribution (`flafka plugins` lists it), or set FLAFKA_DISABLE_PLUGINS={plugin}",
            )
            return None
        if cls is not None:
            return cls
        flume = missing_type(kind, type_loc.value)
        if flume is not None:
            what, fix = missing_advice(flume)
            self.out.error(f"{label}: type '{type_loc.value}' is not installed: {what}", type_loc, suggestion=fix)
            return None
        hint = self.registry.suggest(kind, type_loc.value)
        suggestion = f"did you mean '{hint}'?" if hint else self.known_types(kind)
        message = f"{label}: unknown {kind.replace('_', ' ')} type '{type_loc.value}'"
        if _JAVA_CLASS.match(type_loc.value):
            message += ": it names a Java class, and running Java components is not implemented in flafka"
            plugin = "provide the type as a flafka plugin written in Python (docs/plugins.md), or keep this agent on Flume"
            suggestion = f"did you mean '{hint}'? Otherwise {plugin}" if hint else plugin
        self.out.error(message, type_loc, suggestion=suggestion)
        return None

    def parse_settings(
        self, cls: type[Component], label: str, raw: Mapping[str, Located], key_prefix: str, fallback: Located | None
    ) -> tuple[Settings, bool]:
        """Run the class's schema on ``raw`` (relative key -> located value); report its
        problems on the right lines. Returns (settings, no errors)."""
        settings, problems = cls.settings_schema.parse({k: loc.value for k, loc in raw.items()})
        checked = cls.check_settings(settings) if not any(p.severity == "error" for p in problems) else []
        ok = True
        for problem in problems:
            ok = ok and problem.severity != "error"
            self.report_problem(cls, label, raw, key_prefix, fallback, problem)
        for problem in checked:  # the component's own words: its keys are written in full
            ok = ok and problem.severity != "error"
            self.report_problem(cls, label, raw, key_prefix, fallback, problem, full=True)
        if not ok:
            self.unbuildable.add(id(settings))
        return settings, ok

    def report_problem(
        self,
        cls: type[Component],
        label: str,
        raw: Mapping[str, Located],
        key_prefix: str,
        fallback: Located | None,
        problem: Problem,
        full: bool = False,
    ) -> None:
        """Report ``problem`` on its key's line. ``full``: a ``check_settings`` problem.
        Those are cross-key checks whose message and fix often name *another* key than the
        line's ("useDualCheckpoints = true needs backupCheckpointDir": add
        backupCheckpointDir = ...), so the component's keys in them are written in full
        (:func:`full_keys`) and the fix can be pasted; a schema problem is about the line's
        own key, which the key column already names in full."""
        loc = raw.get(problem.key)
        schema = cls.settings_schema

        def known(key: str) -> bool:
            return key in raw or key == problem.key or schema.get(key) is not None or schema.map_for(key) is not None

        prefix = key_prefix if full else ""
        message = f"{label}: {full_keys(problem.message, prefix, known)}"
        setting = schema.get(problem.key)
        if loc is not None and (looks_secret(problem.key) or (setting is not None and setting.secret)):
            message = _mask(message, loc.value)
        where = loc or fallback
        self.out.add(
            problem.severity,
            message,
            where,
            key=f"{key_prefix}{problem.key}",
            suggestion=full_keys(problem.suggestion, prefix, known),
        )

    def typed(self, section: str, name: str) -> tuple[RawComponent, type[Component]] | None:
        """The component's raw props and class, or None after reporting why not."""
        kind = section[:-1]
        comp = self.agent.component(section, name)
        list_loc = self.agent.lists[section]
        type_loc = comp.props.get("type") if comp else None
        if comp is None or type_loc is None:
            where = (comp.first if comp else None) or list_loc
            detail = "" if comp else f": no {self.key(section, name)}.* line configures it"
            hint = self.stray_hint(section, name, "type") or self.stray_hint(section, name)
            add = f"add {self.key(section, name, 'type')} = <type>; {self.known_types(kind)}"
            self.out.error(
                f"{kind} '{name}' has no type{detail}",
                where,
                key=self.key(section, name, "type"),
                suggestion=f"{hint} Otherwise {add}" if hint else add,
            )
            return None
        cls = self.resolve_type(kind, f"{kind} '{name}'", type_loc)
        return (comp, cls) if cls else None

    # -- the agent -------------------------------------------------------------------------

    def validate(self) -> AgentPlan | None:
        agent = self.agent
        for loc in agent.empty:
            self.out.warning(
                f"'{loc.key}' has an empty value; Flume ignores the line",
                loc,
                suggestion="give it a value or delete the line",
            )
        for bad in agent.invalid:
            self.out.error(
                f"invalid key: {bad.reason}; Flume ignores this line",
                bad.located,
                suggestion=f"did you mean {bad.suggestion}?"
                if bad.suggestion
                else "keys look like <agent>.sources|channels|sinks|sinkgroups.<name>.<key>",
            )
        for section in SECTIONS:
            list_loc = agent.lists.get(section)
            if list_loc is not None:
                names = list_loc.value.split()
                distinct = len(set(names))
                if distinct > MAX_LISTED:
                    self.out.error(
                        f"{section} list names {distinct:,} components; flafka takes at most {MAX_LISTED:,} per list "
                        f"and checks the first {MAX_LISTED:,} only",
                        list_loc,
                        suggestion=f"split the components over several agents, or list at most {MAX_LISTED:,}",
                    )
                dups = sorted(n for n, count in Counter(names).items() if count > 1)
                if dups:
                    self.out.warning(
                        f"{section} list names {', '.join(repr(d) for d in dups)} more than once",
                        list_loc,
                        suggestion="list each name once",
                    )
            self.unlisted(section)
        if "configfilters" in agent.lists or agent.components["configfilters"]:
            self.config_filters()

        self.validate_channels()
        for name in agent.listed("sources"):
            self.validate_source(name)
        for name in agent.listed("sinks"):
            self.validate_sink(name)
        grouped: dict[str, str] = {}
        for name in agent.listed("sinkgroups"):
            self.validate_group(name, grouped)
        self.check_batches()
        self.check_connected()
        self.build_all()
        return AgentPlan(self.a, self.sources, self.channels, self.sinks, self.groups)

    # -- building: what `flafka agent` would refuse at start -------------------------------

    def build_all(self) -> None:
        """Call the constructor of every component whose settings parsed, as the agent
        will: a value a constructor refuses (``ConfigError``, or any other exception) is
        an error on the line that sets it. Constructors do no I/O (the component
        contract), so this is safe in ``flafka validate``."""
        for name, cplan in self.channels.items():
            self.build(cplan, "channels", name, "")
        for name, splan in self.sources.items():
            self.build(splan, "sources", name, "")
            if splan.selector is not None:
                self.build(splan.selector, "sources", name, "selector.", f"source '{name}' selector")
            for iplan in splan.interceptors:
                self.build(iplan, "sources", name, f"interceptors.{iplan.name}.", f"source '{name}' interceptor '{iplan.name}'")
        for name, kplan in self.sinks.items():
            self.build(kplan, "sinks", name, "")
        for name, gplan in self.groups.items():
            self.build(gplan.processor, "sinkgroups", name, "processor.", f"sink group '{name}' processor")

    def build(self, plan: ComponentPlan, section: str, name: str, sub: str, label: str = "") -> None:
        """Call one constructor; its exception is an error and each warning it logs a
        warning, on the line of the key the message names (the ``type`` line otherwise)."""
        if id(plan.settings) in self.unbuildable:
            return
        kind = section[:-1] if section != "sinkgroups" else "sink group"
        label = label or f"{kind} '{name}'"
        capture = _LogCapture()
        root = logging.getLogger()
        root.addHandler(capture)
        building = BUILDING.set(True)
        try:
            plan.cls(plan.name, plan.settings)
        except Exception as exc:  # a constructor's refusal, whatever its type, is a diagnostic
            text = str(exc).strip() or type(exc).__name__
            suggestion = ""
            if not isinstance(exc, ConfigError):
                text = f"the settings are refused by the '{plan.type_name}' type ({type(exc).__name__}: {text})"
                suggestion = (
                    f"check the values of {label}; if they are right, report this to the maintainers of the '{plan.type_name}' type"
                )
            self.built_problem("error", text, suggestion, plan, section, name, sub, label)
        finally:
            BUILDING.reset(building)
            root.removeHandler(capture)
        for text in capture.messages:
            self.built_problem("warning", text, "", plan, section, name, sub, label)

    def built_problem(
        self, severity: Severity, text: str, suggestion: str, plan: ComponentPlan, section: str, name: str, sub: str, label: str
    ) -> None:
        kind = section[:-1] if section != "sinkgroups" else "sink group"
        for prefix in (f"{label}: ", f"{kind} '{name}': "):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        comp = self.agent.component(section, name)
        props = {k[len(sub) :]: loc for k, loc in comp.props.items() if k.startswith(sub)} if comp else {}
        loc, rel = _mentioned(text, props, plan.cls)
        fallback = comp.props.get("type") if comp and not sub else None
        if loc is None and comp is not None:
            loc = props.get("type") or fallback or comp.first
        if loc is not None and rel and (looks_secret(rel) or _is_secret(plan.cls, rel)):
            text = _mask(text, loc.value)
        self.out.add(severity, f"{label}: {text}", loc, key=self.key(section, name, sub + rel) if rel else "", suggestion=suggestion)

    def config_filters(self) -> None:
        """Flume 1.9+ config filters are not implemented: a value that uses one
        (``${f1['key']}``) is an error (it would stay as written), an unused one a warning."""
        agent = self.agent
        names = list(dict.fromkeys([*agent.listed("configfilters"), *agent.components["configfilters"]]))
        for name in names:
            comp = agent.component("configfilters", name)
            type_loc = comp.props.get("type") if comp else None
            kind = f"config filter '{name}'" + (f" of type '{type_loc.value}'" if type_loc else "")
            used = next((loc for loc in agent.lines if f"${{{name}[" in loc.value), None)
            where = used or type_loc or (comp.first if comp else None) or agent.lists.get("configfilters")
            message = f"{kind} is not implemented in flafka yet (no Flume 1.9+ config filter is)"
            if used is not None:
                self.out.error(
                    f"{message}, so ${{{name}['...']}} in this value would stay as written",
                    where,
                    suggestion="use ${env:NAME} or ${sys:NAME} substitution instead (e.g. export the secret as an environment variable)",
                )
            else:
                self.out.warning(f"{message}; it is not used by any value", where, suggestion=f"remove the {name} lines")

    def unlisted(self, section: str) -> None:
        listed = self.agent.listed(section)
        kind = section[:-1]
        shown = " ".join(listed) if len(listed) <= 10 else f"{' '.join(listed[:3])} ... {listed[-1]}"
        budget = _SUGGEST_BUDGET
        for name, comp in self.agent.components[section].items():
            if self.agent.is_listed(section, name) or section == "configfilters":
                continue
            close = ""
            if budget >= len(listed):  # did-you-mean costs one comparison per listed name
                budget -= len(listed)
                close = _close(name, listed)
            first = comp.first
            suggestion = f"add it to the list: {self.a}.{section} = {shown} {name}".replace("=  ", "= ")
            if close:
                suggestion = f"did you mean '{close}' (listed in {self.a}.{section})? Otherwise {suggestion}"
            self.out.warning(
                f"{kind} '{name}' is configured but not listed in {self.a}.{section}, so it is ignored",
                first,
                suggestion=suggestion,
            )

    # -- channels --------------------------------------------------------------------------

    def validate_channels(self) -> None:
        names = self.agent.listed("channels")
        if not names:
            empty = next((loc for loc in self.agent.empty if loc.key == f"{self.a}.channels"), None)
            configured = list(self.agent.components["channels"])
            hint = self.stray_hint("channels", "", None)
            suggestion = f"add {self.a}.channels = {' '.join(configured) or '<channel names>'}"
            if hint:
                suggestion = f"{hint} Otherwise {suggestion}"
            self.out.error(
                f"agent '{self.a}' has no channels: {self.a}.channels is {'empty' if empty else 'missing'}, "
                "and an agent needs at least one",
                empty,
                key=f"{self.a}.channels",
                suggestion=suggestion,
            )
            return
        for name in names:
            typed = self.typed("channels", name)
            if typed is None:
                continue
            comp, cls = typed
            raw = {k: loc for k, loc in comp.props.items() if not _reserved(k, CHANNEL_RESERVED)}
            settings, ok = self.parse_settings(cls, f"channel '{name}'", raw, self.key("channels", name) + ".", comp.props["type"])
            if ok:
                self.check_capacity(name, comp, settings)
            self.channels[name] = ComponentPlan(name, cls, settings, comp.props["type"].value, origin=_origin(comp.props["type"]))

    def check_capacity(self, name: str, comp: RawComponent, settings: Settings) -> None:
        cap, tx = settings.get("capacity"), settings.get("transactionCapacity")
        if isinstance(cap, int) and isinstance(tx, int) and tx > cap:
            self.out.error(
                f"channel '{name}': transactionCapacity ({tx}) is larger than capacity ({cap})",
                comp.props.get("transactionCapacity") or comp.props.get("capacity") or comp.props["type"],
                key=self.key("channels", name, "transactionCapacity"),
                suggestion=f"set transactionCapacity <= capacity (e.g. {self.key('channels', name, 'capacity')} = {max(tx, cap) * 10})",
            )

    # -- sources ---------------------------------------------------------------------------

    def validate_source(self, name: str) -> None:
        typed = self.typed("sources", name)
        comp = self.agent.component("sources", name)
        channels = self.source_channels(name, comp)
        if typed is None or comp is None:
            return
        comp, cls = typed
        label = f"source '{name}'"
        prefix = self.key("sources", name) + "."
        raw = {k: loc for k, loc in comp.props.items() if not _reserved(k, SOURCE_RESERVED)}
        settings, _ = self.parse_settings(cls, label, raw, prefix, comp.props["type"])
        selector = self.selector(name, comp)
        interceptors = self.interceptors(name, comp)
        acks = True
        ack_loc = comp.props.get("acknowledgements")
        if ack_loc is not None:
            low = ack_loc.value.lower()
            if low in ("true", "false"):
                acks = low == "true"
            else:
                self.out.error(
                    f"{label}: acknowledgements must be true or false, not '{ack_loc.value}'",
                    ack_loc,
                    suggestion="use true (the default: end-to-end acknowledgements) or false (Flume's rule)",
                )
        bare = comp.props.get("selector")
        if bare is not None:
            self.out.error(f"{label}: '{prefix}selector' is not a key", bare, suggestion=f"write {prefix}selector.type = {bare.value}")
        self.sources[name] = SourcePlan(
            name,
            cls,
            settings,
            comp.props["type"].value,
            origin=_origin(comp.props["type"]),
            channels=channels,
            selector=selector,
            interceptors=interceptors,
            acknowledgements=acks,
        )

    def source_channels(self, name: str, comp: RawComponent | None) -> list[str]:
        label = f"source '{name}'"
        key = self.key("sources", name, "channels")
        listed = self.agent.listed("channels")
        loc = comp.props.get("channels") if comp else None
        singular = comp.props.get("channel") if comp else None
        if loc is None:
            if singular is not None:
                self.out.error(
                    f"{label} uses 'channel' (singular); sources name their channels with 'channels' (plural), "
                    "so it is bound to no channel",
                    singular,
                    suggestion=f"rename the key to {key}",
                )
                return []
            hint = self.stray_hint("sources", name, "channels")
            add = f"add {key} = {' '.join(listed) or '<channel names>'}"
            self.out.error(
                f"{label} is bound to no channel: {key} is missing",
                (comp.first if comp else None) or self.agent.lists["sources"],
                key=key,
                suggestion=f"{hint} Otherwise {add}" if hint else add,
            )
            return []
        if singular is not None:
            self.out.error(f"{label}: sources use 'channels' (plural); 'channel' is ignored", singular, suggestion="delete this line")
        names = list(dict.fromkeys(loc.value.split()))
        for ch in names:
            if not self.agent.is_listed("channels", ch):
                close = _close(ch, listed)
                self.out.error(
                    f"{label} writes to channel '{ch}', which is not listed in {self.a}.channels",
                    loc,
                    suggestion=f"did you mean '{close}'?"
                    if close
                    else f"add '{ch}' to {self.a}.channels and configure it, or remove it from this list",
                )
        return names

    def selector(self, source: str, comp: RawComponent) -> ComponentPlan | None:
        raw = {k[len("selector.") :]: loc for k, loc in comp.props.items() if k.startswith("selector.")}
        type_loc = raw.pop("type", None)
        if type_loc is None:
            cls = self.registry.lookup("selector", "replicating")
            if cls is None:
                if raw:
                    self.out.error(
                        f"source '{source}': the default 'replicating' selector is not installed",
                        next(iter(raw.values())),
                        suggestion="reinstall flafka-core",
                    )
                return None
            type_name = "replicating"
        else:
            found = self.resolve_type("selector", f"source '{source}' selector", type_loc)
            if found is None:
                return None
            cls, type_name = found, type_loc.value
        prefix = self.key("sources", source, "selector.")
        settings, _ = self.parse_settings(cls, f"source '{source}' selector", raw, prefix, type_loc or comp.props["type"])
        return ComponentPlan(f"{source}.selector", cls, settings, type_name)

    def interceptors(self, source: str, comp: RawComponent) -> list[ComponentPlan]:
        list_loc = comp.props.get("interceptors")
        names = list(dict.fromkeys(list_loc.value.split())) if list_loc else []
        by_name: dict[str, dict[str, Located]] = {}
        for k, loc in comp.props.items():
            if not k.startswith("interceptors."):
                continue
            iname, dot, ikey = k[len("interceptors.") :].partition(".")
            if not dot or not ikey:
                self.out.error(
                    f"source '{source}': '{k}' names no interceptor key",
                    loc,
                    suggestion=f"write {self.key('sources', source, 'interceptors')}.<name>.type = <type>",
                )
                continue
            by_name.setdefault(iname, {})[ikey] = loc
        for iname, props in by_name.items():
            if iname not in names:
                self.out.warning(
                    f"source '{source}': interceptor '{iname}' is configured but not listed in "
                    f"{self.key('sources', source, 'interceptors')}, so it is ignored",
                    min(props.values(), key=lambda loc: loc.line),
                    suggestion=f"add it: {self.key('sources', source, 'interceptors')} = {' '.join([*names, iname])}",
                )
        plans: list[ComponentPlan] = []
        for iname in names:
            props = dict(by_name.get(iname, {}))
            type_loc = props.pop("type", None)
            label = f"source '{source}' interceptor '{iname}'"
            prefix = self.key("sources", source, f"interceptors.{iname}.")
            if type_loc is None:
                self.out.error(
                    f"{label} has no type",
                    list_loc,
                    key=f"{prefix}type",
                    suggestion=f"add {prefix}type = <type>; {self.known_types('interceptor')}",
                )
                continue
            cls = self.resolve_type("interceptor", label, type_loc)
            if cls is None:
                continue
            settings, _ = self.parse_settings(cls, label, props, prefix, type_loc)
            plans.append(ComponentPlan(iname, cls, settings, type_loc.value))
        return plans

    # -- sinks -----------------------------------------------------------------------------

    def validate_sink(self, name: str) -> None:
        typed = self.typed("sinks", name)
        comp = self.agent.component("sinks", name)
        channel = self.sink_channel(name, comp)
        if typed is None:
            return
        comp, cls = typed
        prefix = self.key("sinks", name) + "."
        raw = {k: loc for k, loc in comp.props.items() if not _reserved(k, SINK_RESERVED)}
        settings, _ = self.parse_settings(cls, f"sink '{name}'", raw, prefix, comp.props["type"])
        errors = {k[len("errors.") :]: loc.value for k, loc in comp.props.items() if k.startswith("errors.")}
        self.sinks[name] = SinkPlan(
            name, cls, settings, comp.props["type"].value, origin=_origin(comp.props["type"]), channel=channel or "", errors=errors
        )

    def sink_channel(self, name: str, comp: RawComponent | None) -> str | None:
        label = f"sink '{name}'"
        key = self.key("sinks", name, "channel")
        listed = self.agent.listed("channels")
        loc = comp.props.get("channel") if comp else None
        plural = comp.props.get("channels") if comp else None
        if loc is None:
            if plural is not None:
                self.out.error(
                    f"{label} uses 'channels' (plural); a sink reads from one channel, named with 'channel' (singular)",
                    plural,
                    suggestion=f"rename the key to {key}" + (" and keep one channel name" if len(plural.value.split()) > 1 else ""),
                )
                return None
            hint = self.stray_hint("sinks", name, "channel")
            add = f"add {key} = <{' | '.join(listed) or 'channel name'}>"
            self.out.error(
                f"{label} reads from no channel: {key} is missing",
                (comp.first if comp else None) or self.agent.lists["sinks"],
                key=key,
                suggestion=f"{hint} Otherwise {add}" if hint else add,
            )
            return None
        if plural is not None:
            self.out.error(f"{label}: sinks use 'channel' (singular); 'channels' is ignored", plural, suggestion="delete this line")
        names = loc.value.split()
        if len(names) > 1:
            self.out.error(
                f"{label} names {len(names)} channels ('{loc.value}'); a sink reads from exactly one channel",
                loc,
                suggestion="keep one channel here, and define one more sink for each other channel",
            )
            return None
        ch = names[0]
        if not self.agent.is_listed("channels", ch):
            close = _close(ch, listed)
            self.out.error(
                f"{label} reads from channel '{ch}', which is not listed in {self.a}.channels",
                loc,
                suggestion=f"did you mean '{close}'?" if close else f"add '{ch}' to {self.a}.channels and configure it",
            )
            return None
        return ch

    # -- sink groups -----------------------------------------------------------------------

    def validate_group(self, name: str, grouped: dict[str, str]) -> None:
        comp = self.agent.component("sinkgroups", name)
        list_loc = self.agent.lists["sinkgroups"]
        label = f"sink group '{name}'"
        sinks_key = self.key("sinkgroups", name, "sinks")
        sinks_loc = comp.props.get("sinks") if comp else None
        if comp is None or sinks_loc is None:
            self.out.error(
                f"{label} has no sinks: {sinks_key} is missing",
                (comp.first if comp else None) or list_loc,
                key=sinks_key,
                suggestion=f"add {sinks_key} = <sink names from {self.a}.sinks>",
            )
            return
        listed_sinks = self.agent.listed("sinks")
        members: list[str] = []
        for sink in dict.fromkeys(sinks_loc.value.split()):
            if not self.agent.is_listed("sinks", sink):
                close = _close(sink, listed_sinks)
                self.out.error(
                    f"{label} names sink '{sink}', which is not listed in {self.a}.sinks",
                    sinks_loc,
                    suggestion=f"did you mean '{close}'?" if close else f"add '{sink}' to {self.a}.sinks and configure it",
                )
                continue
            if sink in grouped:
                self.out.error(
                    f"sink '{sink}' is in sink groups '{grouped[sink]}' and '{name}'; a sink belongs to one group at most",
                    sinks_loc,
                    suggestion=f"remove '{sink}' from one of the two groups",
                )
                continue
            grouped[sink] = name
            members.append(sink)
        for k, loc in comp.props.items():
            if k == "sinks" or k.startswith("processor."):
                continue
            close = _close(k, ["sinks", "processor.type"])
            self.out.error(
                f"{label}: unknown key '{k}'",
                loc,
                suggestion=f"did you mean '{close}'?" if close else "sink groups take 'sinks' and 'processor.*' keys",
            )
        raw = {k[len("processor.") :]: loc for k, loc in comp.props.items() if k.startswith("processor.")}
        type_loc = raw.pop("type", None)
        cls: type[Component] | None
        if type_loc is None:
            cls = self.registry.lookup("sink_processor", "default")
            if cls is None:
                from flafka.runtime import DefaultSinkProcessor

                cls = DefaultSinkProcessor
            type_name = "default"
        else:
            cls = self.resolve_type("sink_processor", f"{label} processor", type_loc)
            type_name = type_loc.value
        if cls is None:
            return
        settings, _ = self.parse_settings(cls, f"{label} processor", raw, self.key("sinkgroups", name, "processor."), type_loc or sinks_loc)
        self.groups[name] = SinkGroupPlan(name, members, ComponentPlan(name, cls, settings, type_name))

    # -- cross-component checks ------------------------------------------------------------

    def batch_line(self, section: str, name: str, cls: type[Component]) -> tuple[Located | None, str]:
        """The line and key that set a component's batch size (its type line if default)."""
        comp = self.agent.components[section][name]
        key = str(getattr(cls, "batch_size_key", "batchSize"))
        setting = cls.settings_schema.get(key)
        for k in (key, *(setting.legacy if setting else ())):
            if k in comp.props:
                return comp.props[k], k
        return comp.props.get("type"), key

    def check_batches(self) -> None:
        pairs: list[tuple[str, ComponentPlan, list[str]]] = [
            *(("sources", p, p.channels) for p in self.sources.values()),
            *(("sinks", p, [p.channel]) for p in self.sinks.values()),
        ]
        for section, plan, channel_names in pairs:
            sizer = getattr(plan.cls, "batch_size_from", None)
            if sizer is None:
                continue
            try:
                batch = int(sizer(plan.settings))
            except (TypeError, ValueError):
                continue  # a bad batch size was reported by the schema
            for ch in channel_names:
                cplan = self.channels.get(ch)
                capacity_of = getattr(cplan.cls, "transaction_capacity_from", None) if cplan else None
                if cplan is None or capacity_of is None:
                    continue
                try:
                    tx = capacity_of(cplan.settings)
                except (TypeError, ValueError):
                    continue
                if tx is None or batch <= tx:
                    continue
                loc, key = self.batch_line(section, plan.name, plan.cls)
                kind = section[:-1]
                default = "" if loc is not None and loc.key.endswith("." + key) else ", its default"
                self.out.error(
                    f"{kind} '{plan.name}' batch size ({key} = {batch}{default}) is larger than channel '{ch}' transactionCapacity ({tx}); "
                    f"Flume 1.9+ refuses this, since every batch must fit in one channel transaction",
                    loc,
                    key=self.key(section, plan.name, key),
                    suggestion=(
                        f"set {self.key('channels', ch, 'transactionCapacity')} = {batch} or more, "
                        f"or lower {self.key(section, plan.name, key)} to {tx} or less"
                    ),
                )

    def check_connected(self) -> None:
        """A channel nothing is connected to is dropped (warning, as Flume does); a channel
        a source writes to and no sink reads is an error: once full, the source stalls
        (unless the channel type keeps events elsewhere: ``needs_sink = False``)."""
        writers: dict[str, list[str]] = {}
        read: set[str] = set()
        for name in self.agent.listed("sources"):
            comp = self.agent.component("sources", name)
            if comp and comp.get("channels"):
                for ch in (comp.get("channels") or "").split():
                    writers.setdefault(ch, []).append(name)
        for name in self.agent.listed("sinks"):
            comp = self.agent.component("sinks", name)
            if comp and comp.get("channel"):
                read.update((comp.get("channel") or "").split())
        for name, cplan in self.channels.items():
            comp = self.agent.components["channels"][name]
            if name not in writers and name not in read:
                self.out.warning(
                    f"channel '{name}' has no source or sink connected; Flume removes it",
                    comp.props.get("type"),
                    suggestion=(
                        f"connect it with {self.a}.sources.<source>.channels or {self.a}.sinks.<sink>.channel, "
                        f"or remove it from {self.a}.channels"
                    ),
                )
            elif name not in read and getattr(cplan.cls, "needs_sink", True):
                sources = ", ".join(f"'{s}'" for s in writers[name])
                sinks = self.agent.listed("sinks")
                taken = set(sinks)
                new_sink = next(f"k{i}" for i in range(1, len(sinks) + 2) if f"k{i}" not in taken)
                self.out.error(
                    f"channel '{name}' is written by source {sources} but no sink reads it: once it is full every put "
                    "fails, so the source stalls (or, for an optional channel, drops those events)",
                    comp.props.get("type"),
                    key=self.key("channels", name, "type"),
                    suggestion=(
                        f"add a sink that reads it ({self.a}.sinks = {' '.join([*sinks, new_sink])}, "
                        f"{self.a}.sinks.{new_sink}.type = ..., {self.a}.sinks.{new_sink}.channel = {name}), "
                        f"or remove '{name}' from {self.key('sources', writers[name][0], 'channels')}"
                    ),
                )
        if not self.agent.listed("sources") and not self.agent.listed("sinks"):
            self.out.error(
                f"agent '{self.a}' has no sources and no sinks, so it moves nothing",
                self.agent.lists.get("channels"),
                key=f"{self.a}.sources",
                suggestion=f"list them with {self.a}.sources = <names> and {self.a}.sinks = <names>"
                + (f" ({self.stray_hint('sources', '', None)})" if self.stray_hint("sources", "", None) else ""),
            )


class _LogCapture(logging.Handler):
    """Collects the warnings a constructor logs on this thread (other threads of a running
    agent log on as usual)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            try:
                self.messages.append(record.getMessage())
            except Exception:  # a malformed log call must not break validation
                self.messages.append(str(record.msg))


def _is_secret(cls: type[Component], key: str) -> bool:
    setting = cls.settings_schema.get(key)
    return setting is not None and setting.secret


def _mentioned(text: str, props: Mapping[str, Located], cls: type[Component]) -> tuple[Located | None, str]:
    """The line and relative key a constructor's message names (the longest key of the
    component found in it, Flume 1.6 spellings by their new name); (None, '') if none."""
    names: list[tuple[str, str]] = []
    for rel in props:
        names.append((rel, rel))
        for setting in cls.settings_schema.settings:
            if rel in setting.legacy:
                names.append((setting.key, rel))
    for said, rel in sorted(names, key=lambda pair: -len(pair[0])):
        if re.search(r"(?<![\w.-])" + re.escape(said) + r"(?![\w-])", text):
            return props[rel], rel
    return None, ""


def _origin(loc: Located) -> str:
    return f"{loc.file}:{loc.line}" if loc.file else ""
