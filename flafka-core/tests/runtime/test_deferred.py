"""Deferred registration: a component registered by name is imported only when a
configuration uses it, and every deferred entry shipped matches its class."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flafka import plugins
from flafka.config.loader import load_config
from flafka.registry import Deferred, DuplicateTypeError, KindError, Registry


def test_every_installed_deferred_entry_matches_its_class() -> None:
    registry = plugins.get_registry()
    deferred = [r for r in registry.registrations if r.deferred is not None]
    assert len(deferred) >= 20, "core, kafka, hdfs, hbase, kudu and avro register by name"
    for reg in deferred:
        cls = reg.cls  # imports it; KindError if names or kind differ
        assert (cls.kind, cls.type_name, tuple(cls.aliases)) == (reg.kind, reg.type_name, reg.aliases)


def test_a_mismatched_or_missing_target_is_a_kind_error_naming_the_plugin() -> None:
    reg = Registry()
    reg.add(Deferred("flafka.sinks.null:NullSink", "sink", "null", ("wrong.Alias",)), "mine")
    reg.add(Deferred("flafka_no_such_module:Sink", "sink", "ghost"), "ghosts")
    with pytest.raises(KindError, match=r"plugin 'mine': flafka.sinks.null:NullSink was registered as .* but the class says"):
        reg.lookup("sink", "null")
    with pytest.raises(KindError, match=r"plugin 'ghosts': sink type 'ghost' cannot be imported from flafka_no_such_module:Sink"):
        reg.lookup("sink", "GHOST")
    assert reg.names("sink") == ["ghost", "null"]  # names and suggestions never import
    assert reg.suggest("sink", "gost") == "ghost"
    with pytest.raises(KindError, match="neither a core kind"):
        reg.add(Deferred("x:Y", "nonsense", "y"), "mine")


def test_the_same_class_by_name_and_by_class_is_no_conflict_but_another_is() -> None:
    from flafka.sinks.null import NullSink

    reg = Registry()
    reg.add(Deferred("flafka.sinks.null:NullSink", "sink", "null", NullSink.aliases), "a")
    reg.add(NullSink, "b")
    with pytest.raises(DuplicateTypeError, match=r"sink type 'null' is registered twice: by plugin 'b' \(flafka.sinks.null.NullSink\)"):
        reg.add(Deferred("other.module:Null", "sink", "null"), "c")


def test_a_failed_import_is_a_config_error_on_the_type_line(tmp_path: Path) -> None:
    reg = Registry()
    for r in plugins.get_registry().registrations:
        reg.add(r.deferred or r.cls, r.plugin)
    reg.add(Deferred("flafka_no_such_module:Sink", "sink", "ghost"), "ghosts")
    conf = tmp_path / "a.conf"
    conf.write_text("a.sources = s\na.channels = c\na.sinks = k\na.sources.s.type = seq\na.sources.s.channels = c\n"
                    "a.channels.c.type = memory\na.sinks.k.type = ghost\na.sinks.k.channel = c\n")
    result = load_config([conf], "a", reg, env={})
    assert result.plan is None
    (error,) = [d for d in result.diagnostics if d.severity == "error"]
    assert error.line == 7 and "type 'ghost' cannot be loaded" in error.message
    assert "FLAFKA_DISABLE_PLUGINS=ghosts" in (error.suggestion or "")


def test_an_agent_imports_only_the_connectors_its_configuration_uses(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(
        "a.sources = s\na.channels = c\na.sinks = k\n"
        "a.sources.s.type = seq\na.sources.s.totalEvents = 10\na.sources.s.channels = c\n"
        "a.channels.c.type = memory\n"
        f"a.sinks.k.type = file_roll\na.sinks.k.sink.directory = {tmp_path}\na.sinks.k.channel = c\n"
    )
    probe = (
        "import json, sys\n"
        "from flafka import plugins\n"
        "from flafka.agent import Agent\n"
        "from flafka.config.loader import load_config\n"
        f"result = load_config([{str(conf)!r}], 'a', plugins.get_registry(), env={{}})\n"
        "agent = Agent(result.plan, registry=plugins.get_registry())\n"
        "heavy = ('flafka_kafka.', 'flafka_hdfs.sink', 'flafka_hbase.sink', 'flafka_kudu.sink', 'flafka_avro.', 'confluent_kafka', "
        "'fastavro', 'happybase', 'jpype', 'msgspec', 'flafka.sources.http', 'flafka.channels.file', 'flafka.sources.taildir')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy) and not m.endswith('.plugin'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
