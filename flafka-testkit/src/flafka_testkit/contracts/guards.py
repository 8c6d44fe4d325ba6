"""A guard that records file-system, process and network I/O done by one thread, used by
the contract suites to prove that building a component does none (``flafka validate``
builds every component of a config, so a constructor that opens, creates or lists files
touches the machine just to check a config).

It listens to Python's audit events (:func:`sys.addaudithook`, PEP 578): ``open`` (every
``open()``, ``io.open``, ``os.open``, ``Path.open/read_*/write_*``), ``os.*`` (``mkdir``,
``listdir``, ``scandir``, ``remove``, ``rename``, ``chmod``, ``truncate``, ...),
``shutil.*``, ``tempfile.*``, ``glob.*``, ``pathlib.*``, ``subprocess.Popen``,
``socket.connect``/``bind``, ``sqlite3.connect``. Reads done by the import system (a
lazy ``import`` in ``__init__``) and by ``linecache`` are not I/O of the component.
``os.stat``-style checks (``Path.exists``, ``os.path.isdir``) raise no audit event and are
allowed: they change nothing.

One hook is installed per process, the first time a guard is used; it costs a function
call per audit event and does nothing while no guard is active.
"""

from __future__ import annotations

import contextlib
import sys
import sysconfig
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

_IO_PREFIXES = ("os.", "shutil.", "tempfile.", "glob.", "pathlib.")
_IO_EVENTS = frozenset({"open", "subprocess.Popen", "socket.connect", "socket.bind", "sqlite3.connect", "mmap.__new__"})
_NOT_IO = frozenset({"os.putenv", "os.unsetenv"})
_EXEMPT_FILES = ("<frozen importlib", "<frozen zipimport")
_EXEMPT_MODULES = ("linecache", "tokenize", "importlib", "zipimport", "pkgutil")
_STDLIB = sysconfig.get_paths()["stdlib"]

_lock = threading.Lock()
_installed = False
_active: dict[int, list[str]] = {}
"""Thread id -> what that thread did while guarded."""


def _caller(frame: FrameType | None) -> str:
    """``file:line`` of the innermost frame outside the standard library and this module."""
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith((_STDLIB, "<")) and name != __file__:
            return f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "(no frame outside the standard library)"


def _exempt(frame: FrameType | None) -> bool:
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_EXEMPT_FILES) or frame.f_globals.get("__name__", "").startswith(_EXEMPT_MODULES):
            return True
        frame = frame.f_back
    return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    if event not in _IO_EVENTS and (not event.startswith(_IO_PREFIXES) or event in _NOT_IO):
        return
    seen = _active.get(threading.get_ident())
    if seen is None:
        return
    frame = sys._getframe(1)
    if _exempt(frame):
        return
    what = f"{event}({args[0]!r})" if args else event
    seen.append(f"{what} at {_caller(frame)}")


@contextlib.contextmanager
def recording_io() -> Iterator[list[str]]:
    """Record the I/O this thread does inside the block: yields the list that fills with
    one line per call (``open('/x/pos.json') at src/mine/source.py:42 in __init__``)."""
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
    seen: list[str] = []
    ident = threading.get_ident()
    _active[ident] = seen
    try:
        yield seen
    finally:
        _active.pop(ident, None)


def build_without_io(cls: type[Any], name: str, raw: dict[str, str]) -> Any:
    """Parse ``raw``, run ``cls.check_settings`` and construct ``cls`` (as ``flafka
    validate`` does); raise AssertionError listing every file, process or network call
    made on the way, with where it was made and the fix."""
    from flafka_testkit.contracts.harness import build

    with recording_io() as seen:
        settings, _ = cls.settings_schema.parse(raw)
        cls.check_settings(settings)
        component = build(cls, name, raw)
    if seen:
        kind = getattr(cls, "kind", "component")
        calls = "\n  ".join(seen)
        raise AssertionError(
            f"the {kind} {cls.__name__} did I/O while its settings were checked or it was constructed "
            f"(flafka validate builds every component, so this runs on a machine that only checks a config):\n  {calls}\n"
            f"Fix: keep __init__ and check_settings pure (read settings, build plain objects); open, create or list "
            f"files, start processes and connect in start()"
        )
    return component

