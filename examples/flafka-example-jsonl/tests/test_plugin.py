"""The installed distribution as users meet it: `flafka plugins` and `flafka describe`, run
in a subprocess so nothing of this test process's imports leaks in. Needs the package
installed (`pip install -e examples/flafka-example-jsonl`), since the entry point lives in
its metadata."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from typing import Any

import pytest

DIST = "flafka-example-jsonl"


def flafka(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flafka", *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})


@pytest.fixture(scope="module")
def version() -> str:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{DIST} is not installed in this environment; run: pip install -e examples/flafka-example-jsonl")


def test_plugins_lists_the_jsonl_sink_and_source_with_distribution_and_version(version: str) -> None:
    run = flafka("plugins", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    ours = [p for p in doc["plugins"] if p["name"] == "jsonl"]
    assert len(ours) == 1, f"no plugin 'jsonl' in `flafka plugins --json`: {[p['name'] for p in doc['plugins']]}"
    plugin: dict[str, Any] = ours[0]
    assert (plugin["distribution"], plugin["version"]) == (DIST, version)
    assert plugin["hooks"] == ["flafka_register_components"]
    assert [c["type"] for c in plugin["components"]["sink"]] == ["jsonl"]
    assert [c["type"] for c in plugin["components"]["source"]] == ["jsonl"]
    assert plugin["components"]["sink"][0]["summary"] and plugin["components"]["source"][0]["summary"]
    assert not [e for e in doc["errors"] if e["plugin"] == "jsonl"]


def test_plugins_text_output_names_the_distribution(version: str) -> None:
    run = flafka("plugins", FLAFKA_PLUGINS="builtins,jsonl")
    assert run.returncode == 0, run.stderr
    assert f"jsonl  ({DIST} {version})" in run.stdout
    assert "  sources:\n    jsonl\n  sinks:\n    jsonl\n" in run.stdout


def test_describe_shows_every_key(version: str) -> None:
    run = flafka("describe", "jsonl", "--kind", "sink", FLAFKA_PLUGINS="builtins,jsonl")
    assert run.returncode == 0, run.stderr
    for expected in (
        "jsonl (sink)",
        f"plugin: jsonl ({DIST} {version})",
        "directory  (str, required)",
        "prefix  (str, default 'events')",
        "rollSize  (int, default '67108864', >= 0)",
        "batchSize  (int, default '100', >= 1)",
        "fsync  (bool, default 'false')",
    ):
        assert expected in run.stdout, f"{expected!r} missing from:\n{run.stdout}"


def test_describe_source_shows_every_key(version: str) -> None:
    run = flafka("describe", "jsonl", "--kind", "source", FLAFKA_PLUGINS="builtins,jsonl")
    assert run.returncode == 0, run.stderr
    for expected in (
        "jsonl (source)",
        "class: flafka_example_jsonl.source.JsonLinesSource",
        "framework keys: channels (required)",
        "positionFile  (str, default '')",
        "writePosInterval  (int, default '3000', >= 0)",
    ):
        assert expected in run.stdout, f"{expected!r} missing from:\n{run.stdout}"


def test_describe_json_matches_the_schema(version: str) -> None:
    from flafka_example_jsonl.sink import JsonLinesSink
    from flafka_example_jsonl.source import JsonLinesSource

    for kind, cls in (("sink", JsonLinesSink), ("source", JsonLinesSource)):
        run = flafka("describe", "jsonl", "--kind", kind, "--json", FLAFKA_PLUGINS="builtins,jsonl")
        assert run.returncode == 0, run.stderr
        doc = json.loads(run.stdout)
        assert doc["class"] == f"{cls.__module__}.{cls.__name__}"
        assert [s["key"] for s in doc["settings"]] == cls.settings_schema.known_keys()


def test_disabling_the_plugin_hides_it() -> None:
    run = flafka("plugins", "--json", FLAFKA_DISABLE_PLUGINS="jsonl")
    doc = json.loads(run.stdout)
    assert "jsonl" in doc["disabled"]
    assert not [p for p in doc["plugins"] if p["name"] == "jsonl"]
    run = flafka("describe", "jsonl", FLAFKA_DISABLE_PLUGINS="jsonl")
    assert run.returncode != 0 and "unknown component type 'jsonl'" in run.stderr
