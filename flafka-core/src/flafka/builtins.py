"""flafka-core's own plugin: registers the built-in components through the same hook
third-party plugins use (entry point ``flafka = builtins``).

Each module listed in :data:`MODULES` defines ``COMPONENTS``, a list of component classes.
"""

from __future__ import annotations

import importlib

from flafka.component import Component
from flafka.hookspecs import hookimpl

MODULES = (
    "flafka.channels.memory",
    "flafka.channels.file",
    "flafka.sources.seq",
    "flafka.sources.spooldir",
    "flafka.sinks.null",
    "flafka.sinks.logger",
    "flafka.sinks.file_roll",
    "flafka.interceptors.builtin",
    "flafka.selectors.builtin",
    "flafka.sinkprocessors.builtin",
    "flafka.serializers.text",
    "flafka.serializers.avro",
)


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    classes: list[type[Component]] = []
    for name in MODULES:
        classes.extend(importlib.import_module(name).COMPONENTS)
    return classes
