"""The Flume 1.11 User Guide's configuration examples, one ``.conf`` per example (issue 9
item 8): flafka must accept every one that uses only component types it implements, and
refuse every other one naming the missing type and saying it is not implemented yet.

Each file was written for this test from the guide's example (the section and line are in
its first comment) with the same component types, keys and values; where the guide shows
only part of an agent, the lines after ``# added`` complete it with ``seq`` sources,
``memory`` channels and ``null`` sinks (the example's own names are kept, and a type the
example states is never replaced). The
``table_*`` files set every key a property table of the guide documents for a type flafka
implements (Flume's default values), so a documented key flafka does not read is caught.
The ``# expect:`` comment says what flafka must do:

- ``# expect: valid``: ``flafka validate`` exits 0;
- ``# expect: missing TYPE``: exit 2, a diagnostic names ``TYPE`` and says it is not
  implemented in flafka yet;
- ``# expect: custom CLASS``: a user's own Java class (the guide's "Custom ..." sections):
  exit 2 naming the class and saying Java components are not implemented;
- ``# expect: refused KEY``: the guide itself misspells a key (``filePrefix`` without
  ``hdfs.`` in "Flume Interceptors"), which Flume ignores silently; flafka refuses it
  naming the key, since the pipeline would not do what the line says. (The Kafka sink
  example's ``kafka.flumeBatchSize`` is read as ``flumeBatchSize`` with a warning.)

- ``# expect: unsupported KEY``: a Flume feature flafka does not implement on purpose
  (file-channel encryption): exit 2 naming the key, saying it is not supported and what
  to do instead.

``# no-warning: KEY`` additionally requires that no warning names ``KEY`` (a key the guide
documents for 1.11 must not be called an old spelling). ``# xfail: REASON`` marks
examples that need work other helpers do at the same time (the reason names the item);
they are strict=False so the lead can flip them after merging.

The HDFS examples give ``hdfs.path`` without a NameNode, as a cluster's client config
allows: the test points ``HADOOP_CONF_DIR`` at a ``core-site.xml`` with ``fs.defaultFS``.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flafka import plugins
from flafka.cli import main

CORPUS = Path(__file__).parent
FILES = sorted(CORPUS.glob("*.conf"))
CORE_SITE = """<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://namenode:8020</value></property>
</configuration>
"""


def _header(path: Path) -> tuple[str, str, str]:
    """(expectation, argument, xfail reason) from the file's comments."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^# expect: (\w+) ?(.*)$", text, re.M)
    assert m, f"{path.name} has no '# expect:' line"
    xfail = re.search(r"^# xfail: (.+)$", text, re.M)
    return m.group(1), m.group(2).strip(), xfail.group(1) if xfail else ""


def _cases() -> list[object]:
    cases: list[object] = []
    for path in FILES:
        _, _, xfail = _header(path)
        marks = [pytest.mark.xfail(reason=xfail, strict=False)] if xfail else []
        cases.append(pytest.param(path, id=path.stem, marks=marks))
    return cases


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "hadoop-conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text(CORE_SITE)
    monkeypatch.setenv("HADOOP_CONF_DIR", str(conf))
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    monkeypatch.delenv("NC_PORT", raising=False)
    monkeypatch.delenv("FLAFKA_PLUGINS", raising=False)
    monkeypatch.delenv("FLAFKA_DISABLE_PLUGINS", raising=False)
    plugins.reset()  # the report of every installed plugin, whatever an earlier test cached


def test_corpus_is_complete() -> None:
    """Every example of the guide is here: 93 files for the code blocks with an agent's keys
    (fragments merged into the example they continue, plus the property-table settings the
    review found refused), and 13 ``table_*`` files that set every key of the property
    tables of the types flafka implements."""
    assert len(FILES) == 106
    installed = {"kafka", "hdfs"}
    names = {p.name for p in plugins.plugin_report().plugins}
    assert installed <= names, f"the corpus needs flafka-kafka and flafka-hdfs installed; found {sorted(names)}"


@pytest.fixture
def no_side_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation builds every component; constructors must not write files, create
    directories, connect or start threads (reading a config file is fine). Each of those
    fails the example here (the loader reports the exception as a refused setting)."""

    def forbidden(what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"a constructor did I/O during validation: {what}{args[:2]}")

        return refuse

    real_open = builtins.open

    def read_only_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            raise AssertionError(f"a constructor opened {file!r} for writing during validation")
        return real_open(file, mode, *args, **kwargs)

    real_os_open = os.open

    def read_only_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise AssertionError(f"a constructor opened {path!r} for writing during validation")
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only_open)
    monkeypatch.setattr(io, "open", read_only_open)
    monkeypatch.setattr(os, "open", read_only_os_open)
    for name in ("mkdir", "makedirs", "rename", "replace", "remove", "unlink"):
        monkeypatch.setattr(os, name, forbidden(f"os.{name}"))
    monkeypatch.setattr(socket.socket, "connect", forbidden("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", forbidden("socket.create_connection"))
    monkeypatch.setattr(threading.Thread, "start", forbidden("Thread.start"))


@pytest.mark.parametrize("path", _cases())
def test_guide_example(path: Path, no_side_effects: None) -> None:
    expect, arg, _ = _header(path)
    result = CliRunner().invoke(main, ["validate", "-f", str(path)])
    out = result.output
    assert "Traceback" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if expect == "valid":
        assert result.exit_code == 0, out
        quiet = re.search(r"^# no-warning: (\S+)$", path.read_text(encoding="utf-8"), re.M)
        if quiet:
            assert not [w for w in out.splitlines() if ": warning: " in w and f".{quiet.group(1)}:" in w], out
        return
    assert result.exit_code == 2, out
    errors = [line for line in out.splitlines() if ": error: " in line]
    if expect == "missing":
        hits = [e for e in errors if f"'{arg}'" in e and "is not implemented in flafka yet" in e]
        assert hits, f"no error names '{arg}' as not implemented yet:\n{out}"
    elif expect == "custom":
        hits = [e for e in errors if f"'{arg}'" in e and "Java class" in e and "not implemented in flafka" in e]
        assert hits, f"no error names the Java class '{arg}':\n{out}"
    elif expect == "unsupported":
        assert any(f"{arg}:" in e and "not supported" in e for e in errors), out
    elif expect == "refused":
        assert any(f"{arg}:" in e and "unknown key" in e for e in errors), out
    else:  # pragma: no cover - a typo in a corpus file
        pytest.fail(f"{path.name}: unknown expectation '{expect}'")
