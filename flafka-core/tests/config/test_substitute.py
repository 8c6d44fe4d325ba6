"""${...} substitution (Flume 1.10 style)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from flafka.config.grammar import Located
from flafka.config.substitute import MAX_DEPTH, MAX_TOTAL_CHARS, MAX_VALUE_CHARS, SubstitutionIssue, substitute


def run(
    config: dict[str, str], env: dict[str, str] | None = None, sys: dict[str, str] | None = None
) -> tuple[dict[str, str], list[SubstitutionIssue], set[str]]:
    entries = {k: Located(k, v, "f.conf", i + 1) for i, (k, v) in enumerate(config.items())}
    out, issues, referenced = substitute(entries, sys or {}, env or {})
    return {k: loc.value for k, loc in out.items()}, issues, referenced


def test_env_sys_and_config_keys() -> None:
    values, issues, referenced = run(
        {
            "NC_PORT": "44444",
            "a.sources.r.port": "${NC_PORT}",
            "a.sources.r.bind": "${env:BIND_HOST}",
            "a.sinks.k.dir": "${sys:data.dir}/out",
            "a.sinks.k.home": "${sys:user.home}",
        },
        env={"BIND_HOST": "0.0.0.0"},
        sys={"data.dir": "/var/data"},
    )
    assert values["a.sources.r.port"] == "44444"
    assert values["a.sources.r.bind"] == "0.0.0.0"
    assert values["a.sinks.k.dir"] == "/var/data/out"
    assert values["a.sinks.k.home"] and "${" not in values["a.sinks.k.home"]
    assert issues == []
    assert referenced == {"NC_PORT"}


def test_plain_name_falls_back_to_environment() -> None:
    values, issues, _ = run({"a.sources.r.port": "${PORT}"}, env={"PORT": "9"})
    assert values["a.sources.r.port"] == "9"
    assert issues == []


def test_config_wins_over_environment() -> None:
    values, _, _ = run({"PORT": "1", "a.x.y.z": "${PORT}"}, env={"PORT": "2"})
    assert values["a.x.y.z"] == "1"


def test_unresolved_stays_literal_with_a_warning_naming_it() -> None:
    values, issues, _ = run({"a": "x", "a.sinks.k.path": "/data/${env:NOPE}/${ALSO_NOPE}"})
    assert values["a.sinks.k.path"] == "/data/${env:NOPE}/${ALSO_NOPE}"
    assert [(i.severity, i.line, i.key, i.variable) for i in issues] == [
        ("warning", 2, "a.sinks.k.path", "env:NOPE"),
        ("warning", 2, "a.sinks.k.path", "ALSO_NOPE"),
    ]
    assert "NOPE" in issues[0].suggestion and issues[0].file == "f.conf"


def test_default_values() -> None:
    values, issues, _ = run({"k.x.y.z": "${env:NOPE:-fallback} ${sys:nope:-}"})
    assert values["k.x.y.z"] == "fallback "
    assert issues == []


def test_nested_and_recursive() -> None:
    values, issues, _ = run(
        {"WHICH": "HOST", "BASE": "${env:${WHICH}}", "a.s.r.url": "http://${BASE}:${PORT}"},
        env={"HOST": "example.org", "PORT": "80"},
    )
    assert values["a.s.r.url"] == "http://example.org:80"
    assert values["BASE"] == "example.org"
    assert issues == []


def test_escaped_dollar() -> None:
    values, issues, _ = run({"a.s.r.pattern": "$${literal} and ${env:X}"}, env={"X": "x"})
    assert values["a.s.r.pattern"] == "${literal} and x"
    assert issues == []


def test_cycle_is_an_error() -> None:
    values, issues, _ = run({"A": "${B}", "B": "${A}", "a.s.r.v": "${A}"})
    assert values["a.s.r.v"] == "${A}"
    assert any(i.severity == "error" and "loops" in i.message for i in issues)


def test_unterminated_reference_is_left_alone() -> None:
    values, issues, _ = run({"a.s.r.v": "cost ${ 5"})
    assert values["a.s.r.v"] == "cost ${ 5"
    assert issues == []


def test_secret_values_never_appear_in_messages() -> None:
    secret = "s3cr3t-value"
    _, issues, _ = run(
        {"a.sinks.k.kafka.producer.ssl.key.password": f"{secret}${{env:MISSING}}"},
        env={},
    )
    assert issues
    for issue in issues:
        assert secret not in issue.message and secret not in issue.suggestion


# -- limits: bad input never hangs or overflows the stack (issue 9 item 7, issue 17 items 1-2) --


def _timed(config: dict[str, str]) -> tuple[float, dict[str, str], list[SubstitutionIssue]]:
    started = time.perf_counter()
    values, issues, _ = run(config)
    return time.perf_counter() - started, values, issues


@pytest.mark.timeout(20)
def test_doubling_chain_stops_at_the_size_limit_naming_the_key() -> None:
    config = {"v0": "ab", **{f"v{i}": f"${{v{i - 1}}}${{v{i - 1}}}" for i in range(1, 25)}, "a.sinks.k.x": "${v24}"}
    elapsed, values, issues = _timed(config)
    assert elapsed < 2
    bad = {i.key: i for i in issues}
    assert "v19" not in bad and len(values["v19"]) == 2 * 2**19  # under the limit: expanded
    for key in ("v20", "v24", "a.sinks.k.x"):
        assert bad[key].severity == "error" and f"more than {MAX_VALUE_CHARS:,} characters" in bad[key].message
        assert values[key] == config[key]  # kept as written


@pytest.mark.timeout(20)
def test_ten_copies_seven_levels_is_bounded_in_time_and_memory() -> None:
    """31 s and 343 MB before the limits."""
    config = {"w0": "0123456789", **{f"w{i}": f"${{w{i - 1}}}" * 10 for i in range(1, 8)}, "a.sinks.k.x": "${w7}"}
    tracemalloc.start()
    elapsed, _, issues = _timed(config)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 2 and peak < 64 * 1024 * 1024
    assert {i.key for i in issues if i.severity == "error"} == {"w6", "w7", "a.sinks.k.x"}


@pytest.mark.timeout(20)
def test_each_variable_is_expanded_once() -> None:
    """Eleven levels of ten references to an empty value: 10**11 expansions without reuse."""
    config = {"w0": "", **{f"w{i}": f"${{w{i - 1}}}" * 10 for i in range(1, 12)}, "a.sinks.k.x": "x${w11}y"}
    elapsed, values, issues = _timed(config)
    assert elapsed < 2 and issues == [] and values["a.sinks.k.x"] == "xy"


@pytest.mark.timeout(20)
def test_thousand_nested_references_stop_at_the_depth_limit() -> None:
    """RecursionError before the limit."""
    elapsed, _, issues = _timed({"a.sinks.k.x": "${" * 1000 + "x" + "}" * 1000})
    assert elapsed < 2
    [issue] = issues
    assert issue.severity == "error" and f"nest more than {MAX_DEPTH} levels" in issue.message and issue.line == 1


@pytest.mark.timeout(20)
@pytest.mark.parametrize("reverse", [False, True])
def test_long_acyclic_chain_stops_at_the_depth_limit_in_any_line_order(reverse: bool) -> None:
    chain = {"c0": "end", **{f"c{i}": f"${{c{i - 1}}}" for i in range(1, 501)}, "a.sinks.k.x": "${c500}"}
    config = dict(reversed(chain.items())) if reverse else chain
    elapsed, values, issues = _timed(config)
    assert elapsed < 2
    bad = {i.key for i in issues if i.severity == "error"}
    assert "a.sinks.k.x" in bad and "c500" in bad
    assert not bad & {f"c{i}" for i in range(MAX_DEPTH)}  # short enough: resolved
    assert values[f"c{MAX_DEPTH - 1}"] == "end"


def test_chain_at_the_depth_limit_resolves() -> None:
    config = {"c0": "end", **{f"c{i}": f"${{c{i - 1}}}" for i in range(1, MAX_DEPTH)}, "a.sinks.k.x": f"${{c{MAX_DEPTH - 1}}}"}
    values, issues, _ = run(dict(reversed(config.items())))
    assert issues == [] and values["a.sinks.k.x"] == "end"


@pytest.mark.timeout(20)
def test_total_size_limit() -> None:
    big = "x" * (MAX_VALUE_CHARS - 10)
    config = {"BIG": big, **{f"a.sinks.k{i}.x": "${BIG}" for i in range(20)}}
    _, values, issues = _timed(config)
    errors = [i for i in issues if i.severity == "error"]
    assert errors and all("in all" in i.message for i in errors)
    assert sum(len(v) for v in values.values()) < MAX_TOTAL_CHARS + 2 * MAX_VALUE_CHARS
