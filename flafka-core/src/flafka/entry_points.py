"""The ``flafka`` entry points without importing :mod:`importlib.metadata`.

``importlib.metadata`` pulls in the email parser, zipfile, csv and tempfile (about a
fifth of ``flafka agent``'s imports). For the common layout — every ``sys.path`` entry a
directory (or missing), no custom distribution finder — :func:`entry_points` reads the
``entry_points.txt`` of each ``*.dist-info`` / ``*.egg-info`` directory itself, with
``importlib.metadata``'s rules: ``sys.path`` order, the first distribution of a
normalised name wins, ``name = value`` lines of the group's section. Anything else (a zip
on ``sys.path``, an ``.egg``, a finder with ``find_distributions``) is handed to
``importlib.metadata``.
"""

from __future__ import annotations

import os
import re
import sys
from functools import reduce
from importlib import import_module
from pathlib import Path
from typing import Any

_NORMALIZE = re.compile(r"[-_.]+")
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class MetadataDir:
    """A distribution's ``*.dist-info`` / ``*.egg-info`` directory (what ``EntryPoint.dist``
    is for ``importlib.metadata``): ``read_text``, ``name`` and ``version``."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def read_text(self, filename: str) -> str | None:
        try:
            return (self._path / filename).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def _header(self, key: str) -> str:
        text = self.read_text("METADATA") or self.read_text("PKG-INFO") or ""
        for line in text.partition("\n\n")[0].splitlines():
            k, _, value = line.partition(":")
            if k == key:
                return value.strip()
        return ""

    @property
    def name(self) -> str:
        return self._header("Name")

    @property
    def version(self) -> str:
        return self._header("Version")


class LightEntryPoint:
    """``name = value`` of group ``group`` in a distribution's ``entry_points.txt``;
    :meth:`load` behaves as ``importlib.metadata.EntryPoint.load``."""

    def __init__(self, name: str, value: str, group: str, dist: MetadataDir) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r}: {self.value!r} is not 'module' or 'module:attribute'")
        module = import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return reduce(getattr, attrs, module)

    def __repr__(self) -> str:
        return f"LightEntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _simple_layout() -> bool:
    """True when every distribution can be found by listing ``sys.path`` directories."""
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and getattr(finder, "__name__", "") != "PathFinder":
            return False
    for entry in sys.path:
        path = entry or "."
        if path.endswith(".egg") or (os.path.exists(path) and not os.path.isdir(path)):
            return False
    return True


def _normalized(stem: str) -> str:
    return _NORMALIZE.sub("-", stem.partition("-")[0]).lower().replace("-", "_")


def _group_lines(text: str, group: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def entry_points(group: str) -> list[Any]:
    """Every entry point of ``group``, as ``importlib.metadata.entry_points(group=group)``
    lists them (objects with ``name``, ``value``, ``group``, ``dist`` and ``load()``)."""
    if not _simple_layout():
        import importlib.metadata

        return list(importlib.metadata.entry_points(group=group))
    seen: set[str] = set()
    found: list[Any] = []
    for entry in sys.path:
        base = entry or "."
        try:
            children = os.listdir(base)
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            name = _normalized(low.rpartition(".")[0])
            if name in seen:
                continue
            seen.add(name)
            dist = MetadataDir(Path(base, child))
            text = dist.read_text("entry_points.txt")
            if text:
                found.extend(LightEntryPoint(n, v, group, dist) for n, v in _group_lines(text, group))
    return found


__all__ = ["LightEntryPoint", "MetadataDir", "entry_points"]
