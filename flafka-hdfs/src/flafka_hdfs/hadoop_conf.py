"""Where the default file system is, from Hadoop's own configuration files — so that a
Flume config with ``hdfs.path = /flume/events`` (which Flume resolves through
``fs.defaultFS`` in ``core-site.xml``) runs unchanged.

Looks in ``$HADOOP_CONF_DIR``, then ``$HADOOP_HOME/etc/hadoop``, then ``/etc/hadoop/conf``.
Reads local files only (no network), so it is safe during validation.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

DEFAULT_HTTP_PORT = 9870


def conf_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    dirs = []
    if env.get("HADOOP_CONF_DIR"):
        dirs.append(Path(env["HADOOP_CONF_DIR"]))
    if env.get("HADOOP_HOME"):
        dirs.append(Path(env["HADOOP_HOME"]) / "etc" / "hadoop")
    dirs.append(Path("/etc/hadoop/conf"))
    return dirs


def _properties(path: Path) -> dict[str, str]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    out = {}
    for prop in root.iter("property"):
        name, value = prop.findtext("name"), prop.findtext("value")
        if name and value is not None:
            out[name.strip()] = value.strip()
    return out


def default_webhdfs_url(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(webhdfs base URL, the file it came from)`` for the default file system, or None.

    ``fs.defaultFS = hdfs://nn:8020`` gives ``http://nn:<port>`` where the port comes from
    ``dfs.namenode.http-address`` (or ``https-address`` with ``dfs.http.policy =
    HTTPS_ONLY``) in ``hdfs-site.xml``, else 9870. ``webhdfs://``/``swebhdfs://`` defaults
    are used as they are. HA name services (no host in the URI) are not resolved.
    """
    for d in conf_dirs(env):
        core = d / "core-site.xml"
        default_fs = _properties(core).get("fs.defaultFS") or _properties(core).get("fs.default.name")
        if not default_fs or "://" not in default_fs:
            continue
        scheme, rest = default_fs.split("://", 1)
        authority = rest.split("/", 1)[0]
        host = authority.split(":", 1)[0]
        if not host:
            continue
        scheme = scheme.lower()
        if scheme in ("webhdfs", "swebhdfs"):
            return f"{'https' if scheme == 'swebhdfs' else 'http'}://{authority}", str(core)
        if scheme != "hdfs":
            continue
        site = _properties(d / "hdfs-site.xml")
        https = site.get("dfs.http.policy", "").upper() == "HTTPS_ONLY"
        address = site.get("dfs.namenode.https-address" if https else "dfs.namenode.http-address", "")
        port = address.rsplit(":", 1)[-1] if ":" in address else str(DEFAULT_HTTP_PORT if not https else 9871)
        return f"{'https' if https else 'http'}://{host}:{port}", str(core)
    return None
