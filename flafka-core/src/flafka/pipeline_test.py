"""``flafka test``: unit tests for a config, as ``vector test`` does for transforms.

Each test feeds events into a named source's channel processor (its interceptors and
selector as configured) and checks what reaches each channel, or the channel of a named
sink. No source, channel or sink of the config is started: every channel is replaced by
an in-memory capture, so nothing is written anywhere.

The tests file (TOML)::

    [[tests]]
    name = "static header added"
    [[tests.inputs]]
    source = "gen"                  # a source of the agent
    body = "hello"
    headers = { host = "web1" }     # optional
    [[tests.outputs]]
    channel = "mem"                 # or: sink = "k1"
    body = "hello"                  # optional
    headers = { dc = "tokyo" }      # these must be present with these values
    # count = 1                     # optional: exactly this many events reach it (0: none)

Every output names a channel or sink; each expected event (``body``/``headers``) must match
a different event that reached it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flafka.event import Event

if TYPE_CHECKING:
    from flafka.config.plan import AgentPlan
    from flafka.registry import Registry

CAPTURE_CAPACITY = 1_000_000


class TestFileError(Exception):
    """The tests file is invalid; the message names the file, line and key."""


@dataclass
class Input:
    source: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Output:
    target: str  # "channel" or "sink"
    name: str
    line: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    count: int | None = None


@dataclass
class PipelineTest:
    name: str
    line: int
    inputs: list[Input]
    outputs: list[Output]


@dataclass
class Result:
    test: PipelineTest
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


# -- the tests file -------------------------------------------------------------------


def _header_lines(text: str) -> list[tuple[str, int]]:
    """``([[tests]]`` | ``[[tests.inputs]]`` | ``[[tests.outputs]]``, line) in order."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*\[\[\s*(tests(?:\.inputs|\.outputs)?)\s*\]\]", line)
        if m:
            out.append((m.group(1), i))
    return out


def _key_line(text: str, start: int, key: str) -> int:
    """The line of ``key =`` at or after ``start`` (the table's header line), else ``start``."""
    lines = text.splitlines()
    for i in range(start, len(lines)):
        if i > start and re.match(r"\s*\[", lines[i]):
            break
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start


class _Where:
    """Line numbers of the tables of one tests file."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.tests: list[int] = []
        self.inputs: list[list[int]] = []
        self.outputs: list[list[int]] = []
        for kind, line in _header_lines(text):
            if kind == "tests":
                self.tests.append(line)
                self.inputs.append([])
                self.outputs.append([])
            elif self.tests:
                (self.inputs if kind == "tests.inputs" else self.outputs)[-1].append(line)

    def line(self, table: str, t: int, i: int | None = None, key: str | None = None) -> int:
        try:
            start = self.tests[t] if table == "tests" else (self.inputs if table == "inputs" else self.outputs)[t][i or 0]
        except IndexError:
            return 1
        return _key_line(self.text, start, key) if key else start

    def error(self, line: int, message: str) -> TestFileError:
        return TestFileError(f"{self.path}:{line}: {message}")


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}the agent has: {', '.join(sorted(choices)) or 'none'}"


def _headers(value: Any, where: _Where, line: int, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float | bool) for v in value.values()):
        raise where.error(line, f"'{key}' must be a table of strings, e.g. {key} = {{ host = \"web1\" }}")
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _body(value: Any, where: _Where, line: int, key: str) -> bytes:
    if not isinstance(value, str):
        raise where.error(line, f"'{key}' must be a string, e.g. body = \"hello\"")
    return value.encode()


_INPUT_KEYS = {"source", "body", "headers"}
_OUTPUT_KEYS = {"channel", "sink", "body", "headers", "count"}


def parse_tests(path: str, plan: AgentPlan) -> list[PipelineTest]:
    """Read and check ``path`` against ``plan``; raise :class:`TestFileError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise TestFileError(f"{path}: cannot read the tests file: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TestFileError(f"{path}: not valid TOML: {exc}") from None
    where = _Where(path, text)
    unknown = set(doc) - {"tests"}
    if unknown:
        raise where.error(1, f"unknown top-level key(s) {', '.join(sorted(unknown))}; a tests file holds [[tests]] tables")
    raw_tests = doc.get("tests")
    if not isinstance(raw_tests, list) or not raw_tests:
        raise where.error(1, "no tests: add a [[tests]] table with name, [[tests.inputs]] and [[tests.outputs]]")
    tests: list[PipelineTest] = []
    for t, raw in enumerate(raw_tests):
        tline = where.line("tests", t)
        extra = set(raw) - {"name", "inputs", "outputs"}
        if extra:
            raise where.error(tline, f"test #{t + 1}: unknown key(s) {', '.join(sorted(extra))}; use name, inputs, outputs")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise where.error(tline, f'test #{t + 1} has no name; add name = "..."')
        inputs: list[Input] = []
        for i, item in enumerate(raw.get("inputs") or []):
            line = where.line("inputs", t, i)
            bad = set(item) - _INPUT_KEYS
            if bad:
                raise where.error(line, f"test '{name}': unknown input key(s) {', '.join(sorted(bad))}; use source, body, headers")
            source = item.get("source")
            if source not in plan.sources:
                raise where.error(
                    where.line("inputs", t, i, "source"),
                    f"test '{name}': source = {source!r} is not a source of agent '{plan.name}'; "
                    f"{_suggest(str(source), list(plan.sources))}",
                )
            if "body" not in item:
                raise where.error(line, f"test '{name}': an input needs a body, e.g. body = \"hello\"")
            inputs.append(
                Input(
                    source,
                    _body(item["body"], where, where.line("inputs", t, i, "body"), "body"),
                    _headers(item.get("headers"), where, where.line("inputs", t, i, "headers"), "headers"),
                )
            )
        if not inputs:
            raise where.error(tline, f"test '{name}' has no input; add [[tests.inputs]] with source and body")
        outputs: list[Output] = []
        for o, item in enumerate(raw.get("outputs") or []):
            line = where.line("outputs", t, o)
            bad = set(item) - _OUTPUT_KEYS
            if bad:
                raise where.error(
                    line, f"test '{name}': unknown output key(s) {', '.join(sorted(bad))}; use channel or sink, body, headers, count"
                )
            if ("channel" in item) == ("sink" in item):
                raise where.error(line, f'test \'{name}\': an output names exactly one of channel = "..." or sink = "..."')
            target = "channel" if "channel" in item else "sink"
            target_name = item[target]
            known = plan.channels if target == "channel" else plan.sinks
            if target_name not in known:
                raise where.error(
                    where.line("outputs", t, o, target),
                    f"test '{name}': {target} = {target_name!r} is not a {target} of agent '{plan.name}'; "
                    f"{_suggest(str(target_name), list(known))}",
                )
            count = item.get("count")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                raise where.error(where.line("outputs", t, o, "count"), f"test '{name}': count must be a whole number >= 0")
            body = _body(item["body"], where, where.line("outputs", t, o, "body"), "body") if "body" in item else None
            headers = _headers(item.get("headers"), where, where.line("outputs", t, o, "headers"), "headers")
            if body is None and not headers and count is None:
                raise where.error(line, f"test '{name}': an output expects nothing; give body, headers or count")
            outputs.append(Output(target, target_name, line, body, headers, count))
        if not outputs:
            raise where.error(tline, f"test '{name}' has no output; add [[tests.outputs]] with channel (or sink) and body/headers/count")
        tests.append(PipelineTest(name, tline, inputs, outputs))
    return tests


# -- running --------------------------------------------------------------------------


def _capture_channels(plan: AgentPlan) -> dict[str, Any]:
    from flafka.channels.memory import MemoryChannel
    from flafka.testing import make

    channels: dict[str, Any] = {}
    for name in plan.channels:
        channel = make(MemoryChannel, name, capacity=CAPTURE_CAPACITY, transactionCapacity=CAPTURE_CAPACITY, **{"keep-alive": 0})
        channel.start()
        channels[name] = channel
    return channels


def _processor(plan: AgentPlan, source: str, channels: dict[str, Any], registry: Registry | None) -> Any:
    from flafka.metrics.counters import SourceCounter
    from flafka.processor import ChannelProcessor

    splan = plan.sources[source]
    interceptors: list[Any] = []
    for iplan in splan.interceptors:
        interceptor = iplan.cls(iplan.name, iplan.settings)
        interceptor.agent_name = plan.name
        interceptor.start()
        interceptors.append(interceptor)
    selector_plan = splan.selector
    if selector_plan is None:
        from flafka.selectors.builtin import ReplicatingChannelSelector

        selector: Any = ReplicatingChannelSelector("selector", ReplicatingChannelSelector.settings_schema.parse({})[0])
    else:
        selector = selector_plan.cls(selector_plan.name, selector_plan.settings)
    selector.bind({name: channels[name] for name in splan.channels})
    return ChannelProcessor(selector, interceptors, SourceCounter(source), acknowledgements=False)


def _drain(channel: Any) -> list[Event]:
    tx = channel.take_transaction()
    events = tx.take(CAPTURE_CAPACITY)
    tx.commit()
    return list(events)


def _show(event: Event) -> str:
    return f"body {event.body.decode(errors='replace')!r} headers {dict(event.headers or {})}"


def _difference(expected: Output, event: Event) -> str:
    parts = []
    if expected.body is not None and event.body != expected.body:
        parts.append(f"body {event.body.decode(errors='replace')!r} != expected {expected.body.decode(errors='replace')!r}")
    headers = event.headers or {}
    for key, value in expected.headers.items():
        if key not in headers:
            parts.append(f"header {key!r} missing (expected {value!r})")
        elif headers[key] != value:
            parts.append(f"header {key!r} = {headers[key]!r}, expected {value!r}")
    return "; ".join(parts)


def _matches(expected: Output, event: Event) -> bool:
    return not _difference(expected, event)


def run_test(plan: AgentPlan, test: PipelineTest, registry: Registry | None = None) -> Result:
    """Feed ``test``'s inputs (one batch per input, in order) and check its outputs."""
    channels = _capture_channels(plan)
    failures: list[str] = []
    processors: dict[str, Any] = {}
    for item in test.inputs:
        processor = processors.get(item.source) or _processor(plan, item.source, channels, registry)
        processors[item.source] = processor
        try:
            processor.process_batch([Event(item.body, dict(item.headers))])
        except Exception as exc:
            failures.append(f"source '{item.source}' could not put the event ({exc})")
    got = {name: _drain(ch) for name, ch in channels.items()}
    for ch in channels.values():
        ch.stop()
    used: set[int] = set()  # events an expectation already matched (by id)
    for expected in test.outputs:
        channel = expected.name if expected.target == "channel" else plan.sinks[expected.name].channel
        label = f"{expected.target} '{expected.name}'" + (f" (channel '{channel}')" if expected.target == "sink" else "")
        events = got[channel]
        if expected.count is not None and len(events) != expected.count:
            shown = "".join(f"\n      got: {_show(e)}" for e in events[:5])
            failures.append(f"line {expected.line}: {label}: {len(events)} events reached it, expected {expected.count}{shown}")
        if expected.body is None and not expected.headers:
            continue
        match = next((e for e in events if id(e) not in used and _matches(expected, e)), None)
        if match is not None:
            used.add(id(match))  # each expectation matches a different event
            continue
        want = _show(Event(expected.body or b"", expected.headers)) if expected.body is not None else f"headers {expected.headers}"
        if not events:
            failures.append(f"line {expected.line}: {label}: no event reached it; expected {want}")
            continue
        lines = [f"line {expected.line}: {label}: no event matches; expected {want}"]
        for event in events[:5]:
            taken = " (already matched by an earlier expectation)" if id(event) in used else ""
            lines.append(f"      got: {_show(event)}{taken}\n           {_difference(expected, event) or 'same'}")
        failures.append("\n".join(lines))
    return Result(test, failures)


# -- the command ----------------------------------------------------------------------


def _command() -> Any:
    import sys

    import click

    @click.command("test")
    @click.option(
        "-f", "--conf-file", "conf_files", multiple=True, required=True, metavar="FILE", help="Flume properties file (repeat to merge)."
    )
    @click.option("-n", "--name", "name", required=True, metavar="AGENT", help="The agent whose pipeline is tested.")
    @click.option("-D", "defines", multiple=True, metavar="KEY=VALUE", help="System property for ${sys:...} substitution.")
    @click.argument("test_files", nargs=-1, required=True, metavar="TESTS.toml...")
    def test(conf_files: tuple[str, ...], name: str, defines: tuple[str, ...], test_files: tuple[str, ...]) -> None:
        """Unit-test a config: feed events into a source's interceptors and selector and
        check what reaches each channel (or sink); nothing is started or written.

        \b
        Exit status: 0 every test passed, 1 a test failed, 2 the config or a tests file is invalid.
        """
        from flafka.cli import _report, load, parse_defines

        report = _report()
        result = load(list(conf_files), name, report, parse_defines(defines))
        errors = [d for d in result.diagnostics if d.is_error]
        for d in errors:
            click.echo(d.format(), err=True)
        if result.plan is None:
            click.echo(f"flafka test: the configuration of agent '{name}' is invalid; `flafka validate` prints the same report", err=True)
            sys.exit(2)
        plan = result.plan
        suites: list[tuple[str, list[PipelineTest]]] = []
        for path in test_files:
            try:
                suites.append((path, parse_tests(path, plan)))
            except TestFileError as exc:
                click.echo(f"flafka test: {exc}", err=True)
                sys.exit(2)
        failed = total = 0
        for path, tests in suites:
            for case in tests:
                total += 1
                outcome = run_test(plan, case, report.registry)
                if outcome.ok:
                    click.echo(f"ok      {path}:{case.line}: {case.name}")
                else:
                    failed += 1
                    click.echo(f"FAILED  {path}:{case.line}: {case.name}")
                    for failure in outcome.failures:
                        click.echo(f"    {failure}")
        click.echo(f"{total} tests, {total - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)

    return test


test_command = _command()
