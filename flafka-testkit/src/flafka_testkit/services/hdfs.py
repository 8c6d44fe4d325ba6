"""HDFS: one NameNode and one DataNode (two JVMs) with WebHDFS, all on 127.0.0.1.

Jars: ``hadoop-hdfs`` + ``hadoop-hdfs-client`` + ``hadoop-common`` (the first declares the
others ``provided``) + the ``hadoop-hdfs`` *tests* jar (the only artifact on Maven Central
with ``webapps/hdfs``, without which the NameNode refuses to start); hadoop-common already
brings the reload4j binding. The config
directory goes first on the classpath. The DataNode registers as ``127.0.0.1``
(``dfs.datanode.hostname``), so WebHDFS redirects stay on loopback. Ready when a WebHDFS
CREATE (NameNode, then the redirect to the DataNode) and GETFILESTATUS succeed.

Address: the WebHDFS URL ``http://127.0.0.1:<port>``; endpoints also has ``rpc``
(``hdfs://127.0.0.1:<port>``, for Flume's HDFS sink), ``user`` and ``conf`` (the directory
holding the cluster's ``core-site.xml`` and ``hdfs-site.xml``: point ``HADOOP_CONF_DIR``
at it to resolve ``hdfs://`` URIs as a client of this cluster does).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import ClassVar

from flafka_testkit.services.base import LocalService, ServiceError, find_java, free_port
from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

HADOOP_VERSION = os.environ.get("FLAFKA_HADOOP_VERSION", "3.4.2")
USER = "flafka"

CLASSPATH = Classpath(
    "hdfs",
    (
        *(Coordinate("org.apache.hadoop", artifact, HADOOP_VERSION) for artifact in ("hadoop-hdfs", "hadoop-hdfs-client", "hadoop-common")),
        # The published hadoop-hdfs jar has no webapps/ (the tarball ships them beside it);
        # the NameNode's HTTP server (WebHDFS) needs webapps/hdfs on the classpath. The tests
        # jar carries webapps/{hdfs,datanode,...} (that is how MiniDFSCluster finds them).
        Coordinate("org.apache.hadoop", "hadoop-hdfs", HADOOP_VERSION, type="test-jar", classifier="tests"),
    ),
)

#: Java 17 flags of hadoop-functions.sh (hadoop_finalize_jpms_opts, HADOOP-19310).
JPMS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(
        f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
        for pkg in (
            "java.io", "java.lang", "java.lang.reflect", "java.math", "java.net", "java.nio", "java.text",
            "java.util", "java.util.concurrent", "java.util.zip", "sun.nio.ch", "sun.security.util",
            "sun.security.x509",
        )
    ),
    "-Djava.net.preferIPv4Stack=true",
]  # fmt: skip

LOG4J = """log4j.rootLogger=INFO,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
"""


def site(props: dict[str, str]) -> str:
    body = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


def _webhdfs(base: str) -> str:
    base = base if "://" in base else f"http://{base}"
    return base.rstrip("/")


def probe(address: str, timeout: float = 5.0) -> None:
    """GETFILESTATUS of ``/`` over WebHDFS, and at least one live DataNode (NameNode JMX)."""
    base = _webhdfs(address)
    with urllib.request.urlopen(f"{base}/webhdfs/v1/?op=GETFILESTATUS&user.name={USER}", timeout=timeout) as resp:
        status = json.load(resp)["FileStatus"]
        if status.get("type") != "DIRECTORY":
            raise ServiceError(f"WebHDFS at {base} answered oddly: {status}")
    query = urllib.parse.quote("Hadoop:service=NameNode,name=FSNamesystemState")
    with urllib.request.urlopen(f"{base}/jmx?qry={query}", timeout=timeout) as resp:
        beans = json.load(resp).get("beans", [])
    if beans and int(beans[0].get("NumLiveDataNodes", 0)) < 1:
        raise ServiceError(f"HDFS at {base} has no live DataNode yet")


def write_probe(address: str, timeout: float = 10.0, expect_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
    """Create a small file through WebHDFS (NameNode redirect, then DataNode), overwrite=true;
    the redirect must name one of ``expect_hosts`` (where the DataNode must be reachable)."""
    base = _webhdfs(address)
    url = f"{base}/webhdfs/v1/tmp/.flafka-probe?op=CREATE&overwrite=true&user.name={USER}"
    first = urllib.request.Request(url, method="PUT")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(first, timeout=timeout)
        raise ServiceError("WebHDFS CREATE did not redirect to a DataNode")
    except urllib.error.HTTPError as exc:
        if exc.code != 307:
            raise ServiceError(f"WebHDFS CREATE answered HTTP {exc.code}: {exc.read()[:300]!r}")
        location = exc.headers["Location"]
    host = urllib.parse.urlsplit(location).hostname
    if host not in expect_hosts:
        raise ServiceError(f"the DataNode advertises {host}, not {' or '.join(expect_hosts)} (dfs.datanode.hostname is not applied)")
    with urllib.request.urlopen(urllib.request.Request(location, data=b"ok", method="PUT"), timeout=timeout) as resp:
        if resp.status != 201:
            raise ServiceError(f"WebHDFS CREATE on the DataNode answered HTTP {resp.status}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HdfsService(LocalService):
    """Hadoop ``HADOOP_VERSION`` (env ``FLAFKA_HADOOP_VERSION``): NameNode + DataNode, 512 MiB each."""

    name = "hdfs"
    start_timeout = 150.0
    hints: ClassVar = (
        ("Incompatible clusterIDs", "the DataNode's data directory is stale: `flafka testkit down hdfs`, start again."),
        ("NameNode is not formatted", "the name directory is stale or empty: `flafka testkit down hdfs`, start again."),
        ("SafeModeException", "the NameNode is in safe mode (low disk space? dfs.namenode.resource.du.reserved)."),
    )

    def prepare(self) -> None:
        self.java = find_java(17)
        self.lib = resolve_classpath(CLASSPATH)

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("hdfs is not started")
        probe(self.address)

    def launch(self, deadline: float) -> None:
        ports = {k: free_port() for k in ("rpc", "http", "dn_data", "dn_http", "dn_ipc")}
        if len(set(ports.values())) < len(ports):
            ports = {k: free_port() for k in ports}
        name_dir, data = self.data_dir / "name", self.data_dir / "data"
        core = {
            "fs.defaultFS": f"hdfs://127.0.0.1:{ports['rpc']}",
            "hadoop.tmp.dir": str(self.data_dir / "tmp"),
            "hadoop.http.staticuser.user": USER,
        }
        hdfs = {
            "dfs.replication": "1",
            "dfs.permissions.enabled": "false",
            "dfs.webhdfs.enabled": "true",
            "dfs.namenode.name.dir": f"file://{name_dir}",
            "dfs.datanode.data.dir": f"file://{data}",
            "dfs.namenode.rpc-address": f"127.0.0.1:{ports['rpc']}",
            "dfs.namenode.http-address": f"127.0.0.1:{ports['http']}",
            "dfs.namenode.secondary.http-address": "127.0.0.1:0",
            "dfs.datanode.address": f"127.0.0.1:{ports['dn_data']}",
            "dfs.datanode.http.address": f"127.0.0.1:{ports['dn_http']}",
            "dfs.datanode.ipc.address": f"127.0.0.1:{ports['dn_ipc']}",
            "dfs.datanode.hostname": "127.0.0.1",
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.client.use.datanode.hostname": "true",
            "dfs.datanode.use.datanode.hostname": "true",
            "dfs.namenode.safemode.extension": "0",
            "dfs.heartbeat.interval": "1",
            "dfs.blocksize": "16777216",
            "dfs.namenode.resource.du.reserved": "10485760",
        }
        (self.conf_dir / "core-site.xml").write_text(site(core))
        (self.conf_dir / "hdfs-site.xml").write_text(site(hdfs))
        (self.conf_dir / "log4j.properties").write_text(LOG4J)
        opts = [
            *JPMS, f"-Dhadoop.log.dir={self.log_dir}", f"-Dhadoop.home.dir={self.home}",
            f"-Dlog4j.configuration=file:{self.conf_dir / 'log4j.properties'}",
        ]  # fmt: skip
        classpath = f"{self.conf_dir}:{self.lib}/*"
        env = {"HADOOP_USER_NAME": USER}
        webhdfs = f"http://127.0.0.1:{ports['http']}"
        self.state.update(
            address=webhdfs,
            endpoints={"webhdfs": webhdfs, "rpc": f"hdfs://127.0.0.1:{ports['rpc']}", "user": USER, "conf": str(self.conf_dir)},
            ports=ports,
        )
        self.run_tool(
            "format",
            [self.java, "-Xmx256m", "-XX:TieredStopAtLevel=1", *opts, "-cp", classpath,
             "org.apache.hadoop.hdfs.server.namenode.NameNode", "-format", "-force", "-nonInteractive",
             "-clusterid", "flafka"],
            timeout=deadline - time.monotonic(), env=env,
        )  # fmt: skip
        nn = "org.apache.hadoop.hdfs.server.namenode.NameNode"
        dn = "org.apache.hadoop.hdfs.server.datanode.DataNode"
        self.spawn("namenode", [self.java, "-Xmx512m", *opts, "-cp", classpath, nn], env)
        self.spawn("datanode", [self.java, "-Xmx512m", *opts, "-cp", classpath, dn], env)
        self.wait_ready("HDFS did not become ready", lambda: probe(webhdfs), deadline)
        self.wait_ready("HDFS did not accept a write", lambda: write_probe(webhdfs), deadline)
