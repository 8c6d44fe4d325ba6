"""${...} substitution (Flume 1.10 style)."""

from __future__ import annotations

from flafka.config.grammar import Located
from flafka.config.substitute import SubstitutionIssue, substitute


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
