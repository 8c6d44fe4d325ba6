"""A plugin defines a component kind of its own (``flafka_register_kinds``): its
components, and other plugins' components of that kind, are registered and looked up
like core's; bad kinds and classes are plugin errors with the fix, never a crash."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest

from flafka import Component, Event, hookimpl, plugins
from flafka.registry import KindError, KindSpec, Registry


class OperationsProducer(Component):
    """Turns an event into row operations (the base of the kind)."""

    kind: ClassVar[str] = "flafka_example.producer"  # subclasses inherit it

    def operations(self, event: Event) -> list[str]:
        raise NotImplementedError


@hookimpl
def flafka_register_kinds() -> list[KindSpec]:
    return [KindSpec("flafka_example.producer", OperationsProducer, "event -> row operations")]


Producer = OperationsProducer


class SimpleProducer(Producer):
    type_name = "simple"
    aliases = ("org.example.SimpleProducer",)


class JsonProducer(Producer):
    type_name = "json"


class NotAProducer(Component):
    kind: ClassVar[str] = "flafka_example.producer"
    type_name = "stray"


class Unknown(Component):
    kind: ClassVar[str] = "flafka_other.thing"
    type_name = "x"


@pytest.fixture
def load() -> Iterator[Callable[..., plugins.PluginReport]]:
    """``load(name=hooks, ...)``: plugins as in-memory modules, plus core's builtins."""
    made: list[str] = []

    def run(**mods: dict[str, Callable[[], Any]]) -> plugins.PluginReport:
        eps = [EntryPoint("builtins", "flafka.builtins", "flafka")]
        for name, hooks in mods.items():
            module = types.ModuleType(f"flafka_test_kind_{name}")
            for hook, fn in hooks.items():
                setattr(module, hook, hookimpl(fn))
            sys.modules[module.__name__] = module
            made.append(module.__name__)
            eps.append(EntryPoint(name, module.__name__, "flafka"))
        return plugins.load_plugins(env={}, entry_points=eps)

    yield run
    for name in made:
        sys.modules.pop(name, None)


SPEC = flafka_register_kinds()[0]


def test_a_plugin_kind_and_another_plugins_components_of_it(load: Callable[..., plugins.PluginReport]) -> None:
    report = load(
        rows={"flafka_register_kinds": flafka_register_kinds, "flafka_register_components": lambda: [SimpleProducer]},
        extra={"flafka_register_components": lambda: [JsonProducer]},  # a third party adds one
    )
    assert not report.errors, [e.format() for e in report.errors]
    reg = report.registry
    assert reg.lookup("flafka_example.producer", "SIMPLE") is SimpleProducer
    assert reg.lookup("flafka_example.producer", "org.example.simpleproducer") is SimpleProducer
    assert reg.lookup("flafka_example.producer", "json") is JsonProducer
    assert reg.names("flafka_example.producer") == ["json", "simple"]
    assert reg.suggest("flafka_example.producer", "jsn") == "json"
    assert reg.kind_names()[-1] == "flafka_example.producer" and reg.kinds["flafka_example.producer"] == (SPEC, "rows")
    assert reg.lookup("source", "simple") is None  # kinds keep their own namespaces


def test_bad_kinds_and_classes_are_plugin_errors(load: Callable[..., plugins.PluginReport]) -> None:
    report = load(
        rows={
            "flafka_register_kinds": lambda: [SPEC, KindSpec("producer", Producer), KindSpec("sink", Producer), "nope"],
            "flafka_register_components": lambda: [NotAProducer, Unknown, SimpleProducer],
        },
    )
    errors = [e.error for e in report.errors]
    assert "kind name 'producer' is not namespaced: use '<your package>.<kind>' in lower case (e.g. 'flafka_kudu.producer')" in errors
    assert "kind 'sink' is a core kind; a plugin defines new kinds only" in errors
    assert "flafka_register_kinds returned 'nope', not a flafka.registry.KindSpec" in errors
    assert any("NotAProducer has kind 'flafka_example.producer' but does not derive from its base" in e for e in errors)
    assert any("Unknown has no valid kind ('flafka_other.thing'" in e and "flafka_register_kinds" in e for e in errors)
    assert report.registry.lookup("flafka_example.producer", "simple") is SimpleProducer  # the good ones still register


def test_the_registry_refuses_a_class_of_an_undefined_kind() -> None:
    reg = Registry()
    with pytest.raises(KindError, match="has no valid kind"):
        reg.add(SimpleProducer, "rows")
    reg.add_kind(SPEC, "rows")
    reg.add(SimpleProducer, "rows")
    reg.add_kind(SPEC, "rows")  # the same definition again: harmless
    twice = r"kind 'flafka_example\.producer' is defined twice: by plugin 'rows' and by plugin 'clash'; uninstall one"
    with pytest.raises(KindError, match=twice):
        reg.add_kind(KindSpec("flafka_example.producer", JsonProducer), "clash")
    with pytest.raises(KindError, match=r"must be a flafka Component subclass with kind = 'flafka_example\.other'"):
        reg.add_kind(KindSpec("flafka_example.other", Producer), "rows")
