"""The plugin manager, with an isolated set of entry points (fake EntryPoint objects that
point at modules written to tmp_path), so nothing else installed in the venv matters."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from flafka import plugins
from flafka.cli import main
from flafka.plugins import load_plugins

_ids = itertools.count()

SINK_PLUGIN = """
from flafka import Sink, hookimpl
from flafka.settings import Schema, Setting

class {cls}(Sink):
    type_name = "{type_name}"
    aliases = ("com.example.{cls}",)
    summary = "a test sink"
    settings_schema = Schema(Setting("topic", "str", "t", "where to write"))

    def write(self, events):
        return None

@hookimpl
def flafka_register_components():
    return [{cls}]
"""


def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Write a uniquely named module under tmp_path (on sys.path); return its name."""
    name = f"flafka_test_plugin_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, "flafka")


BUILTINS = ep("builtins", "flafka.builtins")


def sink_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, type_name: str, cls: str = "TestSink") -> str:
    return module(tmp_path, monkeypatch, SINK_PLUGIN.format(cls=cls, type_name=type_name))


def test_builtins_register_core_components() -> None:
    report = load_plugins(env={}, entry_points=[BUILTINS])
    assert report.errors == []
    [info] = report.plugins
    assert info.name == "builtins"
    assert info.hooks == ["flafka_register_components"]
    assert ("channel", "memory", ("org.apache.flume.channel.MemoryChannel",)) in info.components
    assert report.registry.lookup("channel", "org.apache.flume.channel.MemoryChannel") is not None


def test_real_discovery_finds_core_builtins() -> None:
    report = load_plugins(env={"FLAFKA_PLUGINS": "builtins"})
    info = report.plugin("builtins")
    assert info is not None
    assert (info.distribution, info.version) == ("flafka-core", __import__("flafka").__version__)


def test_good_plugin_registers_its_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = sink_plugin(tmp_path, monkeypatch, "fake")
    report = load_plugins(env={}, entry_points=[ep("fakeplug", mod), BUILTINS])
    assert report.errors == []
    assert [p.name for p in report.plugins] == ["builtins", "fakeplug"]  # builtins first
    fake = report.plugin("fakeplug")
    assert fake is not None
    assert fake.components == [("sink", "fake", ("com.example.TestSink",))]
    cls = report.registry.lookup("sink", "COM.EXAMPLE.TESTSINK")
    assert cls is not None and cls.type_name == "fake"
    assert report.registry.registration("sink", "fake").plugin == "fakeplug"  # type: ignore[union-attr]


def test_import_failure_is_recorded_and_others_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = module(tmp_path, monkeypatch, "raise ImportError('No module named confluent_kafka')\n")
    report = load_plugins(env={}, entry_points=[BUILTINS, ep("kafka", broken)])
    assert [p.name for p in report.plugins] == ["builtins"]
    [err] = report.errors
    assert err.plugin == "kafka"
    assert "confluent_kafka" in err.error and "failed to import" in err.error
    assert err.fix == "set FLAFKA_DISABLE_PLUGINS=kafka"
    assert "FLAFKA_DISABLE_PLUGINS=kafka" in err.format()
    assert report.registry.lookup("channel", "memory") is not None


def test_missing_module_and_syntax_error_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_syntax = module(tmp_path, monkeypatch, "def (:\n")
    exiting = module(tmp_path, monkeypatch, "import sys\nsys.exit(3)\n")
    report = load_plugins(env={}, entry_points=[ep("gone", "flafka_no_such_module_xyz"), ep("syntax", bad_syntax), ep("exits", exiting)])
    assert sorted(e.plugin for e in report.errors) == ["exits", "gone", "syntax"]
    assert report.plugins == []


def test_failing_hook_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = module(
        tmp_path,
        monkeypatch,
        """
        from flafka import hookimpl

        @hookimpl
        def flafka_register_components():
            raise RuntimeError("boom")
        """,
    )
    report = load_plugins(env={}, entry_points=[BUILTINS, ep("boomer", mod)])
    [err] = report.errors
    assert err.plugin == "boomer" and "RuntimeError: boom" in err.error
    assert report.registry.lookup("sink", "null") is not None


def test_non_component_and_unnamed_classes_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = module(
        tmp_path,
        monkeypatch,
        """
        from flafka import Sink, hookimpl

        class NoName(Sink):
            pass

        @hookimpl
        def flafka_register_components():
            return [dict, NoName]
        """,
    )
    report = load_plugins(env={}, entry_points=[ep("odd", mod)])
    messages = [e.error for e in report.errors]
    assert any("not a flafka Component class" in m for m in messages)
    assert any("NoName has no type_name" in m for m in messages)


def test_duplicate_type_names_both_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = sink_plugin(tmp_path, monkeypatch, "dup", "SinkOne")
    two = sink_plugin(tmp_path, monkeypatch, "dup", "SinkTwo")
    report = load_plugins(env={}, entry_points=[ep("alpha", one), ep("beta", two)])
    [err] = report.errors
    assert err.plugin == "beta"
    assert "'alpha'" in err.error and "'beta'" in err.error
    conflict = report.conflict_for("sink", "DUP")
    assert conflict is not None and (conflict.kept, conflict.refused) == ("alpha", "beta")
    assert report.conflict_for("sink", "com.example.SinkTwo") is not None  # the refused class's own names too
    assert report.conflict_for("source", "dup") is None


def test_disable_list_skips_without_importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = module(tmp_path, monkeypatch, "raise RuntimeError('imported')\n")
    report = load_plugins(env={"FLAFKA_DISABLE_PLUGINS": " broken , other"}, entry_points=[BUILTINS, ep("broken", broken)])
    assert report.errors == []
    assert report.disabled == ["broken"]


def test_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = sink_plugin(tmp_path, monkeypatch, "fake")
    report = load_plugins(env={"FLAFKA_PLUGINS": "fakeplug"}, entry_points=[BUILTINS, ep("fakeplug", mod)])
    assert [p.name for p in report.plugins] == ["fakeplug"]
    assert report.disabled == ["builtins"]
    assert report.registry.lookup("channel", "memory") is None


def test_unknown_hook_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = module(
        tmp_path,
        monkeypatch,
        """
        from flafka import hookimpl

        @hookimpl
        def flafka_register_component():
            return []
        """,
    )
    report = load_plugins(env={}, entry_points=[ep("typo", mod)])
    [err] = report.errors
    assert "flafka_register_component'" in err.error and "flafka_register_components" in err.error
    assert "typo" in err.fix


def test_same_entry_point_name_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = sink_plugin(tmp_path, monkeypatch, "a1", "SinkA")
    b = sink_plugin(tmp_path, monkeypatch, "b1", "SinkB")
    report = load_plugins(env={}, entry_points=[ep("same", a), ep("same", b)])
    assert len(report.plugins) == 1
    [err] = report.errors
    assert "already used" in err.error


# -- commands added by plugins ------------------------------------------------------------

COMMAND_PLUGIN = """
import click
from flafka import hookimpl

@hookimpl
def flafka_register_commands(cli):
    @cli.command(name="{name}")
    def _cmd():
        \"\"\"A plugin command.\"\"\"
        click.echo("hello from {name}")
"""


@pytest.fixture
def use_report(monkeypatch: pytest.MonkeyPatch) -> Callable[[plugins.PluginReport], plugins.PluginReport]:
    def install(report: plugins.PluginReport) -> plugins.PluginReport:
        monkeypatch.setattr(plugins, "plugin_report", lambda: report)
        return report

    return install


def test_plugin_commands_are_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_report: Callable[[plugins.PluginReport], plugins.PluginReport]
) -> None:
    mod = module(tmp_path, monkeypatch, COMMAND_PLUGIN.format(name="greet"))
    use_report(load_plugins(env={}, entry_points=[BUILTINS, ep("greeter", mod)]))
    runner = CliRunner()
    assert "greet" in runner.invoke(main, ["--help"]).output
    result = runner.invoke(main, ["greet"])
    assert result.exit_code == 0, result.output
    assert "hello from greet" in result.output


def test_plugin_cannot_replace_core_command_and_failing_hook_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_report: Callable[[plugins.PluginReport], plugins.PluginReport]
) -> None:
    hijack = module(tmp_path, monkeypatch, COMMAND_PLUGIN.format(name="version"))
    failing = module(
        tmp_path,
        monkeypatch,
        """
        from flafka import hookimpl

        @hookimpl
        def flafka_register_commands(cli):
            raise ValueError("nope")
        """,
    )
    report = use_report(load_plugins(env={}, entry_points=[BUILTINS, ep("hijack", hijack), ep("failing", failing)]))
    runner = CliRunner()
    result = runner.invoke(main, ["version"])
    assert result.exit_code == 0 and "flafka-core" in result.output
    assert "hello from" not in result.output
    listing = runner.invoke(main, ["plugins", "--json"])
    errors = {e["plugin"]: e["error"] for e in json.loads(listing.stdout)["errors"]}
    assert "replace the core command 'flafka version'" in errors["hijack"]
    assert "ValueError: nope" in errors["failing"]
    assert len(report.errors) == 2


# -- an installed distribution (dist-info on PYTHONPATH), through the real CLI -------------


def _install_fake_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[flafka]\n{lines}\n")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


def _run(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "flafka", *args], capture_output=True, text=True, env=env, timeout=60)


def test_installed_plugins_in_a_real_process(tmp_path: Path) -> None:
    _install_fake_distribution(
        tmp_path,
        "flafka-fake",
        "1.2.3",
        {"fake": "flafka_fake_mod"},
        {"flafka_fake_mod": SINK_PLUGIN.format(cls="FakeSink", type_name="fake")},
    )
    _install_fake_distribution(
        tmp_path, "flafka-broken", "0.0.1", {"broken": "flafka_broken_mod"}, {"flafka_broken_mod": "import flafka_missing_dep_xyz\n"}
    )
    env = {"PYTHONPATH": str(tmp_path), "FLAFKA_PLUGINS": "builtins,fake,broken"}
    result = _run(["plugins", "--json"], env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    fake = next(p for p in doc["plugins"] if p["name"] == "fake")
    assert (fake["distribution"], fake["version"]) == ("flafka-fake", "1.2.3")
    assert fake["components"] == {"sink": [{"type": "fake", "aliases": ["com.example.FakeSink"], "summary": "a test sink"}]}
    [err] = doc["errors"]
    assert (err["plugin"], err["distribution"], err["version"]) == ("broken", "flafka-broken", "0.0.1")
    assert err["fix"] == "set FLAFKA_DISABLE_PLUGINS=broken or pip uninstall flafka-broken"
    # the broken plugin never breaks the CLI; --strict turns it into a failure for CI
    assert _run(["--help"], env).returncode == 0
    assert _run(["plugins", "--strict"], env).returncode == 1
    assert _run(["plugins", "--strict"], {**env, "FLAFKA_DISABLE_PLUGINS": "broken"}).returncode == 0
