"""The plugin module (entry point ``flafka: jsonl = flafka_example_jsonl.plugin``).

Flafka calls ``flafka_register_components`` once at start-up — never on the data path —
and registers the classes it returns.
"""

from __future__ import annotations

from flafka import Component, hookimpl


@hookimpl
def flafka_register_components() -> list[type[Component]]:
    from flafka_example_jsonl.sink import JsonLinesSink
    from flafka_example_jsonl.source import JsonLinesSource

    return [JsonLinesSink, JsonLinesSource]
