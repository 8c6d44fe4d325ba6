"""A third-party serializer, registered through a ``flafka`` entry point, used by
file_roll by name: lookup, its own keys checked by its schema, begin/encode/end, and
``flafka validate``-style diagnostics with did-you-mean."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from flafka import plugins
from flafka.component import Component
from flafka.config.loader import load_config
from flafka.errors import ConfigError
from flafka.event import Event
from flafka.registry import Registry
from flafka.serializers import resolve_serializer, serializer_or_raise
from flafka.settings import Schema, Setting
from flafka.sinks.file_roll import RollingFileSink
from flafka.testing import make

PLUGINS = Path(__file__).resolve().parents[3] / "tests" / "plugins"


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """The process registry holds core's built-ins and the test plugin (entry point 'hexlines')."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    report = plugins.load_plugins(
        env={},
        entry_points=[EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("hexlines", "flafka_test_serializer", "flafka")],
    )
    assert not report.errors, [e.format() for e in report.errors]
    monkeypatch.setattr(plugins, "get_registry", lambda: report.registry)
    yield report.registry
    sys.modules.pop("flafka_test_serializer", None)


def test_the_plugin_is_registered_as_a_serializer(registry: Registry) -> None:
    cls = registry.lookup("serializer", "HEXLINES")
    assert cls is not None and cls.type_name == "hexlines"
    assert registry.lookup("serializer", "com.example.flume.HexLinesSerializer$Builder") is cls
    assert registry.registration("serializer", "hexlines").plugin == "hexlines"  # type: ignore[union-attr]


def test_file_roll_writes_through_the_plugin_begin_encode_end(registry: Registry, tmp_path: Path) -> None:
    sink = make(RollingFileSink, "k", **{"sink.directory": str(tmp_path), "sink.serializer": "hexlines", "sink.serializer.separator": "|"})
    assert sink.serializer_kind == "hexlines"
    sink.start()
    sink.write([Event(b"\x00a", {"h": "1"}), Event(b"b")])
    sink.write([Event(b"")])
    sink.stop()
    (name,) = [p.name for p in tmp_path.iterdir()]
    assert (tmp_path / name).read_bytes() == b"# hexlines\n0061|1\n62|0\n|0\n# end\n"


def test_a_plugin_serializer_is_not_newline_framed_so_no_tail_is_cut(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "1700000000000-1").write_bytes(b"# hexlines\n00|0\n# end")  # no final newline: not ours to cut
    sink = make(RollingFileSink, "k", **{"sink.directory": str(tmp_path), "sink.serializer": "hexlines"})
    sink.start()
    sink.stop()
    assert (tmp_path / "1700000000000-1").read_bytes() == b"# hexlines\n00|0\n# end"


def test_plugin_keys_are_checked_by_its_schema(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'sink\.serializer\.separater'.*did you mean 'sink\.serializer\.separator'"):
        make(RollingFileSink, "k", **{"sink.directory": str(tmp_path), "sink.serializer": "hexlines", "sink.serializer.separater": "|"})
    with pytest.raises(ConfigError, match=r"sink\.serializer\.separator: separator is empty; set it to one character"):
        make(RollingFileSink, "k", **{"sink.directory": str(tmp_path), "sink.serializer": "hexlines", "sink.serializer.separator": ""})


def test_validate_reports_unknown_serializers_and_keys_on_their_lines(registry: Registry, tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(
        "a.sources = s\na.channels = c\na.sinks = k\n"
        "a.sources.s.type = seq\na.sources.s.channels = c\na.channels.c.type = memory\n"
        "a.sinks.k.type = file_roll\na.sinks.k.channel = c\n"
        f"a.sinks.k.sink.directory = {tmp_path}\n"
        "a.sinks.k.sink.serializer = hexline\n"
    )
    result = load_config([conf], "a", registry)
    errors = [d for d in result.diagnostics if d.is_error]
    assert len(errors) == 1 and errors[0].line == 10
    assert "unknown serializer 'hexline'" in errors[0].message and "did you mean 'hexlines'" in errors[0].suggestion
    conf.write_text(conf.read_text().replace("= hexline\n", "= hexlines\na.sinks.k.sink.serializer.titel = x\n"))
    result = load_config([conf], "a", registry)
    (error,) = [d for d in result.diagnostics if d.is_error]
    assert error.line == 11 and error.key == "a.sinks.k.sink.serializer.titel" and "sink.serializer.title" in error.suggestion
    conf.write_text(conf.read_text().replace("titel", "title"))
    assert load_config([conf], "a", registry).plan is not None


# -- serializer families: file sinks resolve file serializers only --------------------------


class RowSerializer(Component):
    """A serializer of another family (as flafka-hbase's HBaseEventSerializer): same kind,
    its own base class."""

    kind = "serializer"
    family = "rows"
    type_name = "rows_simple"
    aliases = ("com.example.RowsSimpleSerializer",)
    settings_schema = Schema(Setting("payloadColumn", "str", "p", "column of the body"))


@pytest.fixture
def mixed_registry() -> Registry:
    report = plugins.load_plugins(env={}, entry_points=[EntryPoint("builtins", "flafka.builtins", "flafka")])
    report.registry.add(RowSerializer, "rows")
    return report.registry


def test_a_serializer_of_another_family_is_named_as_such(mixed_registry: Registry) -> None:
    spec, problems = resolve_serializer("k", "sink.serializer", "ROWS_SIMPLE", {}, mixed_registry)
    assert spec is None
    (p,) = problems
    assert p.key == "sink.serializer" and p.severity == "error"
    assert p.message == "serializer 'ROWS_SIMPLE' belongs to the rows serializer family, not to the file serializers this sink writes with"
    assert "rows_simple" not in p.suggestion and "TEXT" in p.suggestion
    with pytest.raises(ConfigError, match=r"'com.example.RowsSimpleSerializer' \('rows_simple'\) belongs to the rows serializer family"):
        serializer_or_raise("k", "sink.serializer", "com.example.RowsSimpleSerializer", {}, mixed_registry)


def test_names_and_hints_come_from_the_file_family_only(mixed_registry: Registry) -> None:
    # a near miss of another family's name: no did-you-mean towards it, the list is the file family's
    _, (p,) = resolve_serializer("k", "sink.serializer", "rows_simpel", {}, mixed_registry)
    assert p.message == "unknown serializer 'rows_simpel'"
    assert "rows_simple" not in p.suggestion and "did you mean" not in p.suggestion and "TEXT" in p.suggestion
    _, (p,) = resolve_serializer("k", "sink.serializer", "com.example.RowsSimpleSerializr", {}, mixed_registry)
    assert "did you mean" not in p.suggestion and "TEXT" in p.suggestion
    # another family's key is an unknown key, not "a key of the rows_simple serializer: set serializer = rows_simple"
    _, (p,) = resolve_serializer("k", "sink.serializer", "TEXT", {"payloadColumn": "x"}, mixed_registry)
    assert p.severity == "error" and p.message == "unknown key 'sink.serializer.payloadColumn' for serializer TEXT"
    assert "rows_simple" not in p.suggestion
    # a file serializer's own near miss still gets its did-you-mean
    _, (p,) = resolve_serializer("k", "sink.serializer", "TEXTT", {}, mixed_registry)
    assert p.suggestion.startswith("did you mean 'TEXT'?")
