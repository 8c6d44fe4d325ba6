"""Flume's ``SimpleKuduOperationsProducer`` and ``SimpleKeyedKuduOperationsProducer``."""

from __future__ import annotations

from flafka.event import Event
from flafka.settings import Problem, Schema, Setting, Settings
from flafka_kudu.backend import Op, TableInfo
from flafka_kudu.producers.base import OperationsProducer, Produced

FLUME = "org.apache.flume.sink.kudu."
KUDU = "org.apache.kudu.flume.sink."


def check_column(table: TableInfo, key: str, name: str, types: tuple[str, ...]) -> None:
    """Raise ValueError naming the key and the fix when ``name`` is not a column of one of ``types``."""
    for c in table.columns:
        if c.name == name:
            if c.type not in types:
                raise ValueError(f"producer.{key} = {name}: column '{name}' of table {table.name} is {c.type}, not {'/'.join(types)}")
            return
    raise ValueError(
        f"producer.{key} = {name}: table {table.name} has no column '{name}' (columns: {', '.join(c.name for c in table.columns)})"
    )


class SimpleProducer(OperationsProducer):
    """One insert per event: the body into the BINARY column ``payloadColumn``; headers ignored."""

    type_name = "simple"
    aliases = (FLUME + "SimpleKuduOperationsProducer", KUDU + "SimpleKuduOperationsProducer")
    summary = "one insert per event, the body into a BINARY column"
    settings_schema = Schema(Setting("payloadColumn", "str", "payload", "BINARY column the event body goes to"))

    def __init__(self, sink: str, settings: Settings) -> None:
        super().__init__(sink, settings)
        self.payload: str = settings["payloadColumn"]

    def initialize(self, table: TableInfo) -> None:
        super().initialize(table)
        check_column(table, "payloadColumn", self.payload, ("BINARY",))

    def operations(self, events: list[Event]) -> Produced:
        column = self.payload
        return Produced([Op("insert", {column: e.body}, i) for i, e in enumerate(events)])


class SimpleKeyedProducer(OperationsProducer):
    """One insert or upsert per event: the header named ``keyColumn`` into that STRING key
    column, the body into ``payloadColumn``. An event without the header is rejected."""

    type_name = "simple_keyed"
    aliases = (FLUME + "SimpleKeyedKuduOperationsProducer", KUDU + "SimpleKeyedKuduOperationsProducer")
    summary = "one insert/upsert per event: header keyColumn -> key column, body -> payload column"
    settings_schema = Schema(
        Setting("payloadColumn", "str", "payload", "BINARY column the event body goes to"),
        Setting("keyColumn", "str", "key", "STRING key column; its value is the event header of the same name"),
        Setting("operation", "str", "upsert", "upsert or insert (case-insensitive)"),
    )

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        # Flume checks this per event (every event then fails); flafka at configure time
        if settings["operation"].lower() not in ("upsert", "insert"):
            return [Problem("operation", f"unexpected operation {settings['operation']}", "use upsert or insert")]
        return []

    def __init__(self, sink: str, settings: Settings) -> None:
        super().__init__(sink, settings)
        self.payload: str = settings["payloadColumn"]
        self.key: str = settings["keyColumn"]
        self.kind = "insert" if settings["operation"].lower() == "insert" else "upsert"

    def initialize(self, table: TableInfo) -> None:
        super().initialize(table)
        check_column(table, "payloadColumn", self.payload, ("BINARY",))
        check_column(table, "keyColumn", self.key, ("STRING",))

    def operations(self, events: list[Event]) -> Produced:
        out = Produced()
        key, payload, kind = self.key, self.payload, self.kind
        for i, e in enumerate(events):
            value = e.headers.get(key)
            if value is None:
                out.failed.append((i, f"event {i} of the batch has no header '{key}': no value provided for key column {key}"))
                continue
            out.ops.append(Op(kind, {key: value, payload: e.body}, i))  # type: ignore[arg-type]
        return out
