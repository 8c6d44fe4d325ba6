"""Operation producers: the plugin kind that turns events into Kudu operations
(Flume's ``KuduOperationsProducer``), and their registry.

Contract of an :class:`OperationsProducer`:

* ``__init__(sink, settings)`` is pure (no I/O): ``settings`` are the sink's ``producer.*``
  keys with the prefix removed, parsed by ``settings_schema``; ``check_settings`` adds
  cross-key checks (``flafka validate`` shows them on the right line).
* ``initialize(table)`` is called once the table is open, with its columns.
* ``operations(events)`` turns a **whole batch** into :class:`~flafka_kudu.backend.Op` lists
  in pure Python (``op.event`` = the event's index), before anything is applied. An event
  that cannot be converted (a REJECT policy, a missing key header) is reported in
  ``failed`` as ``(index, message)`` — message naming the event's position and the column —
  and yields no operation; the other events' operations are still returned.
* Runs on the data path: no per-event logging (use :class:`RateLimitedLog`), no plugin calls.

Registry: a package adds producers through the entry point group ``flafka_kudu.producers``;
the entry point names a module with a ``PRODUCERS`` list of classes. ``producer = NAME``
matches a class's ``type_name`` or one of its ``aliases`` (Flume's class names),
case-insensitively.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

from flafka.event import Event
from flafka.settings import Problem, Schema, Settings
from flafka_kudu.backend import Op, TableInfo

ENTRY_POINT_GROUP = "flafka_kudu.producers"


@dataclass
class Produced:
    """What a producer made of a batch."""

    ops: list[Op] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    """(event index, message) of every event rejected by the producer."""


class ProducerError(Exception):
    """An event cannot be turned into operations (the message names the column and the fix)."""


class OperationsProducer:
    """Base of all operation producers (see the module docstring)."""

    type_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    settings_schema: ClassVar[Schema] = Schema()

    def __init__(self, sink: str, settings: Settings) -> None:
        self.sink = sink
        self.settings = settings

    @classmethod
    def check_settings(cls, settings: Settings) -> list[Problem]:
        return []

    def initialize(self, table: TableInfo) -> None:
        self.table = table

    def operations(self, events: list[Event]) -> Produced:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``initialize`` acquired (default: nothing)."""


class RateLimitedLog:
    """Warnings about bad input, logged the 1st, 10th, 100th, ... time and every 10,000th
    after that, each with the running count (bad input never floods the log)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.count = 0

    def warn(self, message: str, *args: Any) -> None:
        self.count += 1
        n = self.count
        if n in (1, 10, 100, 1000) or n % 10000 == 0:
            self.logger.warning(message + " (%d so far)", *args, n)


def registry() -> dict[str, type[OperationsProducer]]:
    """Every installed producer by lower-cased type name and alias."""
    out: dict[str, type[OperationsProducer]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide the others
            logging.getLogger(__name__).error("Kudu producer plugin '%s' cannot be loaded: %s", ep.name, exc)
            continue
        for cls in getattr(module, "PRODUCERS", ()):
            for name in (cls.type_name, *cls.aliases):
                out.setdefault(name.lower(), cls)
    if not out:  # running from a source tree without the package's metadata
        from flafka_kudu.producers import builtin

        for cls in builtin.PRODUCERS:
            for name in (cls.type_name, *cls.aliases):
                out[name.lower()] = cls
    return out


def lookup(name: str) -> type[OperationsProducer] | None:
    return registry().get(name.strip().lower())


def known_names() -> list[str]:
    return sorted({cls.type_name for cls in registry().values()})
