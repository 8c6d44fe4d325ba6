"""flafka.entry_points lists what importlib.metadata lists, without importing it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from flafka import entry_points as ep_module
from flafka.entry_points import entry_points


def _key(ep: object) -> tuple[str, str, str, str, str]:
    dist = ep.dist  # type: ignore[attr-defined]
    return (ep.name, ep.value, ep.group, dist.name, dist.version)  # type: ignore[attr-defined]


@pytest.mark.parametrize("group", ["flafka", "console_scripts", "pytest11"])
def test_same_entry_points_as_importlib_metadata(group: str) -> None:
    assert [_key(e) for e in entry_points(group)] == [_key(e) for e in importlib.metadata.entry_points(group=group)]


def _dist_info(base: Path, stem: str, entry_points_txt: str, name: str) -> None:
    d = base / f"{stem}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {stem.partition('-')[2]}\n\nName: not-this\n")
    (d / "entry_points.txt").write_text(entry_points_txt)


def test_first_distribution_of_a_name_wins_and_sections_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _dist_info(first, "My.Plugin-1.0", "# comment\n[flafka]\none = json:dumps\n\n[other]\nx = y\n", "My.Plugin")
    _dist_info(second, "my_plugin-2.0", "[flafka]\none = json:loads\n", "my_plugin")
    _dist_info(second, "other_plugin-3.0", "[flafka]\n two = json \n", "other-plugin")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    found = entry_points("flafka")
    assert [_key(e) for e in found] == [_key(e) for e in importlib.metadata.entry_points(group="flafka")]
    assert sorted((e.name, e.value, e.dist.name, e.dist.version) for e in found) == [
        ("one", "json:dumps", "My.Plugin", "1.0"),
        ("two", "json", "other-plugin", "3.0"),
    ]
    import json

    assert {e.name: e.load() for e in found} == {"one": json.dumps, "two": json}


def test_a_zip_on_sys_path_falls_back_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "lib.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    monkeypatch.setattr(sys, "path", [str(archive), *sys.path])
    assert not ep_module._simple_layout()
    assert [_key(e) for e in entry_points("flafka")] == [_key(e) for e in importlib.metadata.entry_points(group="flafka")]


def test_flafka_agent_path_does_not_import_importlib_metadata() -> None:
    code = (
        "import sys\n"
        "from flafka.plugins import plugin_report\n"
        "report = plugin_report()\n"
        "assert report.registry.lookup('source', 'spooldir') is not None\n"
        "print('importlib.metadata' in sys.modules, 'flafka.pipeline_test' in sys.modules, 'http.server' in sys.modules)\n"
        "import flafka.cli, flafka.agent, flafka.metrics.status\n"
        "print('flafka.pipeline_test' in sys.modules, 'flafka.top' in sys.modules, 'http.server' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "False", "False", "False"]
