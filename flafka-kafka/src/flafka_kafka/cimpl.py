"""confluent-kafka's client classes without the cost of importing its package.

``import confluent_kafka`` runs the package's ``__init__``, which imports the serializing
clients and, through them, ``asyncio``: 0.17 s of a loaded agent's start-up (``-X
importtime``), none of it used by flafka. Everything flafka needs (``Consumer``,
``Producer``, ``TopicPartition``, ``KafkaError``, ``KafkaException``, the ``OFFSET_*``
constants) lives in the C extension ``confluent_kafka.cimpl``; :func:`load` loads that
module alone (0.01 s) and registers it under its own name, so that a later ``import
confluent_kafka`` (another component, a test) re-uses it: one set of classes either way.
If the package is already imported, or loading the extension alone fails for any reason,
:func:`load` falls back to the ordinary import.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

_NAME = "confluent_kafka.cimpl"
_lock = threading.Lock()
_module: ModuleType | None = None


def load() -> ModuleType:
    """The ``confluent_kafka.cimpl`` module (loaded once; thread-safe)."""
    module = _module
    if module is not None:
        return module
    with _lock:
        return _load_locked()


def _load_locked() -> ModuleType:
    global _module
    if _module is None:
        _module = sys.modules.get(_NAME) or _load_alone() or importlib.import_module(_NAME)
    return _module


def _load_alone() -> ModuleType | None:
    """The extension loaded without running the package's ``__init__``, or None."""
    try:
        package = importlib.util.find_spec("confluent_kafka")  # a top-level name: finds, imports nothing
        if package is None or not package.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(_NAME, list(package.submodule_search_locations))
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not all(hasattr(module, name) for name in ("Consumer", "Producer", "TopicPartition", "KafkaError", "KafkaException")):
            return None
    except Exception:
        return None
    sys.modules.setdefault(_NAME, module)
    return sys.modules[_NAME]


__all__ = ["load"]
