"""Where a file system's WebHDFS is, from Hadoop's own client configuration — so that a
Flume config naming ``hdfs://namenode:8020/…``, ``hdfs://mycluster/…`` (an HA name
service) or a bare ``/path`` (the default file system) runs unchanged.

Files: ``core-site.xml`` and ``hdfs-site.xml``, each taken from the first of
``$HADOOP_CONF_DIR``, ``$HADOOP_HOME/etc/hadoop`` and ``/etc/hadoop/conf`` that holds it
(as the first one on Flume's classpath wins). ``${name}`` and ``${env.NAME}`` in values are
expanded as Hadoop's ``Configuration`` does. Local files only, no DNS, so this is safe
during validation.

Resolution of an authority (Hadoop's client rules, mapped to the HTTP side):

* none (``hdfs:///x``, ``/x``): ``fs.defaultFS`` (``fs.default.name``) gives it;
* a name service (``dfs.nameservices`` or ``dfs.ha.namenodes.<ns>``, no port): every
  NameNode of ``dfs.ha.namenodes.<ns>``, each at ``dfs.namenode.http-address.<ns>.<nn>``
  (``.<ns>`` for a federated name service without HA); WebHDFS fails over between them;
* ``host[:port]`` (port 8020 when absent): the NameNode whose
  ``dfs.namenode.rpc-address[.<ns>[.<nn>]]`` is that address, at the matching
  ``http-address``; the default file system's own authority uses
  ``dfs.namenode.http-address`` when no rpc-address is set;
* anything else: ``http://host:9870`` — an assumption, returned with a note that says so.

``dfs.http.policy = HTTPS_ONLY`` selects ``https-address`` keys (default port 9871) and
``https://``. A wildcard host (``0.0.0.0``) is replaced by the NameNode's RPC host.
Problems (an unreadable file, a NameNode without an address) raise ConfigError naming the
file and the key.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flafka.errors import ConfigError

DEFAULT_HTTP_PORT = 9870
DEFAULT_HTTPS_PORT = 9871
DEFAULT_RPC_PORT = 8020
_VAR = re.compile(r"\$\{([^}$\s]+)\}")
_WILDCARDS = ("0.0.0.0", "::", "[::]", "*")


def conf_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where Hadoop's client configuration is looked for, in order."""
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
    except OSError as exc:
        raise ConfigError(f"cannot read Hadoop's configuration {path} ({exc.strerror or exc}); fix its permissions or HADOOP_CONF_DIR")
    except ET.ParseError as exc:
        raise ConfigError(f"{path} is not valid XML ({exc}); fix the file or point HADOOP_CONF_DIR at a valid configuration")
    out = {}
    for prop in root.iter("property"):
        name, value = prop.findtext("name"), prop.findtext("value")
        if name and value is not None:
            out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class HadoopConf:
    """``core-site.xml`` and ``hdfs-site.xml`` as found (empty when absent)."""

    core: dict[str, str] = field(default_factory=dict)
    hdfs: dict[str, str] = field(default_factory=dict)
    core_file: str = ""
    hdfs_file: str = ""
    searched: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> HadoopConf:
        env = dict(os.environ if env is None else env)
        dirs = conf_dirs(env)
        found: dict[str, tuple[dict[str, str], str]] = {}
        for name in ("core-site.xml", "hdfs-site.xml"):
            for d in dirs:
                if (d / name).is_file():
                    found[name] = (_properties(d / name), str(d / name))
                    break
        core, core_file = found.get("core-site.xml", ({}, ""))
        hdfs, hdfs_file = found.get("hdfs-site.xml", ({}, ""))
        return cls(core, hdfs, core_file, hdfs_file, tuple(str(d) for d in dirs), env)

    @property
    def found(self) -> bool:
        return bool(self.core_file or self.hdfs_file)

    def where(self) -> str:
        """The files read (or the directories searched) for messages."""
        files = [f for f in (self.core_file, self.hdfs_file) if f]
        return " and ".join(files) if files else f"no core-site.xml or hdfs-site.xml in {', '.join(self.searched)}"

    def file_of(self, key: str) -> str:
        """The file that sets ``key`` (where it would go when unset: hdfs-site.xml)."""
        if key in self.hdfs:
            return self.hdfs_file
        return self.core_file if key in self.core else self.hdfs_file or "hdfs-site.xml"

    def get(self, key: str) -> str:
        """The value of ``key`` (hdfs-site.xml over core-site.xml, as Hadoop's HdfsConfiguration
        loads it last), ``${…}`` expanded; '' when unset."""
        raw = self.hdfs.get(key, self.core.get(key, ""))
        for _ in range(20):
            expanded = _VAR.sub(self._var, raw)
            if expanded == raw:
                break
            raw = expanded
        return raw.strip()

    def _var(self, m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("env."):
            return self.env.get(name[4:], "")
        return self.hdfs.get(name, self.core.get(name, m.group(0)))

    def names(self, key: str) -> list[str]:
        return [n.strip() for n in self.get(key).split(",") if n.strip()]


@dataclass(frozen=True)
class Resolved:
    """WebHDFS base URLs (several for an HA name service) and how they were found."""

    urls: tuple[str, ...]
    how: str
    assumed: bool = False

    @property
    def url(self) -> str:
        """The ``;``-separated form the ``hdfs`` client fails over between."""
        return ";".join(self.urls)


def _split(address: str) -> tuple[str, str]:
    """``host:port`` (or ``[v6]:port``) into host and port ('' when absent)."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.lstrip(":")
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    return host, port


def _same(a_host: str, a_port: str, b_address: str) -> bool:
    host, port = _split(b_address)
    return host.lower() == a_host.lower() and (port or str(DEFAULT_RPC_PORT)) == (a_port or str(DEFAULT_RPC_PORT))


class _Resolver:
    def __init__(self, conf: HadoopConf) -> None:
        self.conf = conf
        self.https = conf.get("dfs.http.policy").upper() == "HTTPS_ONLY"
        self.scheme = "https" if self.https else "http"
        self.http_key = "dfs.namenode.https-address" if self.https else "dfs.namenode.http-address"
        self.default_port = DEFAULT_HTTPS_PORT if self.https else DEFAULT_HTTP_PORT
        self.policy = " (dfs.http.policy = HTTPS_ONLY)" if self.https else ""

    def http_url(self, suffix: str, rpc_host: str, what: str) -> tuple[str, str]:
        """The WebHDFS URL of the NameNode of ``suffix`` ('', '.ns' or '.ns.nn') and the key used."""
        conf = self.conf
        key = f"{self.http_key}{suffix}"
        address = conf.get(key)
        rpc_key = f"dfs.namenode.rpc-address{suffix}"
        where = f"{key} in {conf.file_of(key)}"
        if not address:
            if suffix and not conf.get(rpc_key):
                raise ConfigError(
                    f"{what}: neither {key} nor {rpc_key} is set in {conf.hdfs_file or 'hdfs-site.xml'}, so this "
                    f"NameNode's WebHDFS address is unknown; add {key} = <host>:{self.default_port}{self.policy}, or set "
                    f"hdfs.webhdfs.url"
                )
            address = f"0.0.0.0:{self.default_port}"  # Hadoop's default, on the RPC host
            where = f"{key} unset: Hadoop's default port {self.default_port} on the RPC host"
        host, port = _split(address)
        if not host or host in _WILDCARDS:
            rpc_host_conf = _split(conf.get(rpc_key))[0] if conf.get(rpc_key) else rpc_host
            if not rpc_host_conf or rpc_host_conf in _WILDCARDS:
                raise ConfigError(
                    f"{what}: {key} = {address} in {conf.file_of(key)} listens on every interface and {rpc_key} names "
                    f"no host either; set {rpc_key} = <host>:8020 or hdfs.webhdfs.url"
                )
            host = rpc_host_conf
        if not port:
            port = str(self.default_port)
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{port}", where

    def resolve(self, authority: str, what: str) -> Resolved:
        conf = self.conf
        authority = authority.rsplit("@", 1)[-1]
        how_default = ""
        if not authority:
            default_fs = conf.get("fs.defaultFS") or conf.get("fs.default.name")
            key = "fs.defaultFS" if conf.get("fs.defaultFS") else "fs.default.name"
            m = re.match(r"^([A-Za-z][\w+.-]*)://([^/]*)", default_fs)
            if not m or not m.group(2):
                raise ConfigError(
                    f"{what} uses the default file system, but no hdfs:// fs.defaultFS was found ({conf.where()}"
                    f"{': ' + key + ' = ' + default_fs if default_fs else ''}); write hdfs://<namenode>/<path>, set "
                    f"hdfs.webhdfs.url = http://<namenode>:9870, or point HADOOP_CONF_DIR at your core-site.xml"
                )
            scheme, authority = m.group(1).lower(), m.group(2).rsplit("@", 1)[-1]
            how_default = f"{key} = {default_fs} in {conf.file_of(key)}; "
            if scheme in ("webhdfs", "swebhdfs"):
                return Resolved((f"{'https' if scheme == 'swebhdfs' else 'http'}://{authority}",), how_default.rstrip("; "))
            if scheme != "hdfs":
                raise ConfigError(
                    f"{what} uses the default file system {default_fs} ({key} in {conf.file_of(key)}), which is not HDFS; "
                    f"write hdfs://<namenode>/<path> or set hdfs.webhdfs.url"
                )
        host, port = _split(authority)
        ns_key = f"dfs.ha.namenodes.{host}"
        if host in conf.names("dfs.nameservices") or conf.get(ns_key):
            if port:
                raise ConfigError(
                    f"{what}: '{host}' is a name service ({conf.hdfs_file or 'hdfs-site.xml'}: dfs.nameservices / "
                    f"{ns_key}), which has no port; write hdfs://{host}/<path>"
                )
            nns = conf.names(ns_key)
            suffixes = [f".{host}.{nn}" for nn in nns] or [f".{host}"]
            urls, keys = [], []
            for suffix in suffixes:
                rpc_host = _split(conf.get(f"dfs.namenode.rpc-address{suffix}"))[0]
                url, key = self.http_url(suffix, rpc_host, what)
                urls.append(url)
                keys.append(key)
            source = f"{ns_key} = {','.join(nns)}" if nns else f"dfs.nameservices = {conf.get('dfs.nameservices')}"
            return Resolved(tuple(urls), f"{how_default}{source} in {conf.file_of(ns_key)}; {'; '.join(keys)}")
        suffixes = ["", *sorted(k[len("dfs.namenode.rpc-address") :] for k in conf.hdfs if k.startswith("dfs.namenode.rpc-address."))]
        for suffix in suffixes:
            rpc_key = f"dfs.namenode.rpc-address{suffix}"
            if conf.get(rpc_key) and _same(host, port, conf.get(rpc_key)):
                url, key = self.http_url(suffix, host, what)
                return Resolved((url,), f"{how_default}{rpc_key} = {conf.get(rpc_key)}, {key}")
        if how_default and not any(conf.get(f"dfs.namenode.rpc-address{s}") for s in suffixes):
            url, key = self.http_url("", host, what)
            return Resolved((url,), f"{how_default}{key}")
        return Resolved(
            (f"{self.scheme}://{host}:{self.default_port}",),
            f"'{authority}' is neither a name service nor a NameNode RPC address in Hadoop's configuration ({conf.where()}); "
            f"assuming WebHDFS at Hadoop's default port {self.default_port}{self.policy} — if that is wrong, add the "
            f"NameNode to hdfs-site.xml (dfs.namenode.rpc-address / {self.http_key}) or set hdfs.webhdfs.url",
            assumed=True,
        )


def resolve(authority: str, what: str = "hdfs.path", env: Mapping[str, str] | None = None, conf: HadoopConf | None = None) -> Resolved:
    """WebHDFS base URL(s) of ``hdfs://<authority>`` ('' for the default file system);
    ``what`` names the setting in messages. Raises ConfigError naming the file and key."""
    return _Resolver(conf or HadoopConf.load(env)).resolve(authority, what)


def default_webhdfs_url(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(webhdfs base URL(s), how it was found)`` for the default file system, or None
    when Hadoop's configuration names none."""
    conf = HadoopConf.load(env)
    if not (conf.get("fs.defaultFS") or conf.get("fs.default.name")):
        return None
    found = resolve("", "the default file system", conf=conf)
    return found.url, found.how
