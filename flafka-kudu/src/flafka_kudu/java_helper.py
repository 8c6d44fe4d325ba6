"""The batch helper (``FlafkaKuduBatch.java``, shipped as source): compiled once per
machine into the jar cache with the JDK's compiler (``javax.tools``, called in-process
through JPype) and loaded with a ``URLClassLoader``. Without a JDK (a JRE has no
compiler) :func:`load` returns None and the backend keeps the per-cell path.

With it, a batch crosses into Java once per column (to build the column's array) plus one
call that builds and applies every operation, instead of once per cell.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from flafka_kudu import jars

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("FlafkaKuduBatch.java")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def load(classpath: list[str] | None = None) -> Any:
    """The ``FlafkaKuduBatch`` class (the JVM must be running), or None when it cannot be
    compiled here. ``FLAFKA_KUDU_HELPER=0`` disables it."""
    if os.environ.get("FLAFKA_KUDU_HELPER", "1") == "0":
        return None
    with _lock:
        if "cls" in _loaded:
            return _loaded["cls"]
        _loaded["cls"] = cls = _compile_and_load(classpath)
        return cls


def _compile_and_load(classpath: list[str] | None) -> Any:
    import jpype

    text = SOURCE.read_bytes()
    out = jars.cache_dir() / f"helper-{hashlib.sha256(text).hexdigest()[:16]}"
    try:
        if not (out / "FlafkaKuduBatch.class").is_file():
            tools = jpype.JClass("javax.tools.ToolProvider")
            compiler = tools.getSystemJavaCompiler()
            if compiler is None:
                log.info("no Java compiler (a JRE, not a JDK): the Kudu sink crosses into Java per cell")
                return None
            out.mkdir(parents=True, exist_ok=True)
            cp = os.pathsep.join(classpath or jars.classpath())
            tmp = out.with_name(out.name + f".{os.getpid()}")
            tmp.mkdir(parents=True, exist_ok=True)
            args = jpype.JArray(jpype.JString)(["-nowarn", "-d", str(tmp), "-cp", cp, str(SOURCE)])
            if compiler.run(None, None, None, args) != 0:
                log.warning("the Kudu batch helper did not compile; the sink crosses into Java per cell")
                return None
            (tmp / "FlafkaKuduBatch.class").replace(out / "FlafkaKuduBatch.class")
            tmp.rmdir()
        URL = jpype.JClass("java.net.URL")
        loader = jpype.JClass("java.net.URLClassLoader")(
            jpype.JArray(URL)([jpype.JClass("java.io.File")(str(out) + "/").toURI().toURL()]),
            jpype.JClass("java.lang.ClassLoader").getSystemClassLoader(),
        )
        return jpype.JClass("FlafkaKuduBatch", loader=loader)
    except Exception as exc:
        log.warning("the Kudu batch helper is unavailable (%s); the sink crosses into Java per cell", exc)
        return None
