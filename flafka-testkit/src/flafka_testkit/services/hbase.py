"""HBase 2.6 standalone (master + region server + ZooKeeper in one JVM) and the Thrift1
server happybase talks to (a second JVM), all on 127.0.0.1.

Jars: ``hbase-server:2.6.1-hadoop3`` + ``hbase-thrift:2.6.1`` — Maven Central has **no**
``hbase-thrift:*-hadoop3`` and no hbase-thrift after 2.6.1, so the Thrift module is taken
from the plain 2.6.1 build with its Hadoop 2 and HBase dependencies excluded (the
``-hadoop3`` server brings them) — plus a log4j2 binding (HBase declares it ``provided``);
the reload4j binding Hadoop drags in is excluded (one SLF4J binding per JVM).

Address: the Thrift server ``127.0.0.1:<port>`` (buffered transport, binary protocol:
happybase's defaults); endpoints also has ``zookeeper`` (``127.0.0.1:<port>``, for Flume's
HBase2 sink and the Java client). Ready when happybase lists tables and a probe table
takes a put and returns it.
"""

from __future__ import annotations

import os
from typing import ClassVar

from flafka_testkit.services.base import LocalService, ServiceError, find_java, free_port, port_open
from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

HBASE_VERSION = os.environ.get("FLAFKA_HBASE_VERSION", "2.6.1-hadoop3")
THRIFT_VERSION = os.environ.get("FLAFKA_HBASE_THRIFT_VERSION", "2.6.1")
LOG4J2_VERSION = "2.24.3"
NO_RELOAD4J = ("org.slf4j:slf4j-reload4j", "ch.qos.reload4j:reload4j", "org.slf4j:slf4j-log4j12", "log4j:log4j")

CLASSPATH = Classpath(
    "hbase",
    (
        Coordinate("org.apache.hbase", "hbase-server", HBASE_VERSION, exclusions=NO_RELOAD4J),
        Coordinate(
            "org.apache.hbase",
            "hbase-thrift",
            THRIFT_VERSION,
            exclusions=("org.apache.hadoop:*", "org.apache.hbase:*", *NO_RELOAD4J),
        ),
        *(
            Coordinate("org.apache.logging.log4j", artifact, LOG4J2_VERSION)
            for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl", "log4j-1.2-api")
        ),
    ),
)

#: Java 17 flags of bin/hbase (add_jdk11_jvm_flags).
JPMS = [
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
    "--add-modules", "jdk.unsupported",
    *(
        f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
        for pkg in ("java.io", "java.nio", "sun.nio.ch", "java.lang", "jdk.internal.ref", "java.lang.reflect",
                    "java.util", "java.util.concurrent")
    ),
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-exports=java.base/sun.net.dns=ALL-UNNAMED",
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "-Djava.net.preferIPv4Stack=true",
    "-XX:+UseG1GC",
]  # fmt: skip

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger = INFO,console
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = INFO
"""

PROBE_TABLE = b"flafka_probe"
#: ZooKeeper session timeout of the standalone HBase (region server, master, Thrift server).
ZK_SESSION_TIMEOUT_MS = 120_000


def _connect(address: str, timeout: float) -> object:
    try:
        import happybase
    except ImportError:
        raise ServiceError("the HBase readiness check needs happybase. Fix: pip install 'flafka-testkit[hbase]'.") from None
    host, _, port = address.rpartition(":")
    return happybase.Connection(host, int(port), timeout=int(timeout * 1000), autoconnect=True)


def probe(address: str, timeout: float = 10.0) -> None:
    """List tables through the Thrift server (happybase)."""
    host, _, port = address.rpartition(":")
    if not port_open(host, int(port)):
        raise ServiceError(f"nothing listens on {address} yet")
    conn = _connect(address, timeout)
    try:
        conn.tables()  # type: ignore[attr-defined]
    finally:
        conn.close()  # type: ignore[attr-defined]


def write_probe(address: str, timeout: float = 30.0) -> None:
    """Create ``flafka_probe`` (once), put a cell and read it back."""
    conn = _connect(address, timeout)
    try:
        if PROBE_TABLE not in conn.tables():  # type: ignore[attr-defined]
            conn.create_table(PROBE_TABLE, {"cf": {}})  # type: ignore[attr-defined]
        table = conn.table(PROBE_TABLE)  # type: ignore[attr-defined]
        table.put(b"row", {b"cf:c": b"ok"})
        if table.row(b"row").get(b"cf:c") != b"ok":
            raise ServiceError("HBase did not return the probe cell")
    finally:
        conn.close()  # type: ignore[attr-defined]


def site(props: dict[str, str]) -> str:
    body = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items())
    return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'


class HBaseService(LocalService):
    """HBase ``HBASE_VERSION`` standalone (1 GiB heap) + Thrift1 server (512 MiB)."""

    name = "hbase"
    start_timeout = 180.0
    # After SIGTERM the region server waits ~20 s for ZooKeeper, which the same JVM already
    # shut down; the data is throw-away, so SIGKILL after 5 s.
    stop_grace = 5.0
    hints: ClassVar = (
        ("Could not start ZK at requested port", "the ZooKeeper port is taken: free it or `flafka testkit down`."),
        ("StreamLacksCapabilityException", "set hbase.unsafe.stream.capability.enforce=false (a testkit bug)."),
        ("PleaseHoldException", "the master was still initializing; a slow machine may need FLAFKA_START_TIMEOUT=300."),
    )

    def prepare(self) -> None:
        try:
            import happybase  # noqa: F401  (the readiness check needs it: fail before starting a JVM)
        except ImportError:
            raise ServiceError("the HBase readiness check needs happybase. Fix: pip install 'flafka-testkit[hbase]'.") from None
        self.java = find_java(17)
        self.lib = resolve_classpath(CLASSPATH)

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("hbase is not started")
        probe(self.address)

    def launch(self, deadline: float) -> None:
        ports = {k: free_port() for k in ("zookeeper", "thrift", "master", "regionserver")}
        while len(set(ports.values())) < len(ports):
            ports = {k: free_port() for k in ports}
        props = {
            "hbase.cluster.distributed": "false",
            "hbase.rootdir": f"file://{self.data_dir / 'root'}",
            "hbase.tmp.dir": str(self.data_dir / "tmp"),
            "hbase.zookeeper.property.dataDir": str(self.data_dir / "zk"),
            "hbase.zookeeper.quorum": "127.0.0.1",
            "hbase.zookeeper.property.clientPort": str(ports["zookeeper"]),
            "hbase.unsafe.stream.capability.enforce": "false",
            "hbase.master.hostname": "127.0.0.1",
            "hbase.unsafe.regionserver.hostname": "127.0.0.1",
            "hbase.master.ipc.address": "127.0.0.1",
            "hbase.regionserver.ipc.address": "127.0.0.1",
            "hbase.master.port": str(ports["master"]),
            "hbase.regionserver.port": str(ports["regionserver"]),
            "hbase.master.info.port": "-1",
            "hbase.regionserver.info.port": "-1",
            "hbase.thrift.info.port": "-1",
            "hbase.thrift.server.socket.read.timeout": "3600000",
            "hbase.thrift.stop.timeout.seconds": "2",
            "hbase.regionserver.thrift.framed.max_frame_size_in_mb": "64",
            # Standalone mode sets the region server's ZooKeeper session to 10 s
            # (zookeeper.session.timeout.localHBaseCluster) and the embedded ZooKeeper caps
            # sessions at 20 ticks (40 s): a JVM paused (SIGSTOP, a long GC, a starved CPU)
            # for longer aborts on resume ("ZooKeeper session expired"). 120 s lets the
            # fault tests pause it for 30 s and resume.
            "zookeeper.session.timeout.localHBaseCluster": str(ZK_SESSION_TIMEOUT_MS),
            "zookeeper.session.timeout": str(ZK_SESSION_TIMEOUT_MS),
            "hbase.zookeeper.property.maxSessionTimeout": str(ZK_SESSION_TIMEOUT_MS),
        }
        (self.conf_dir / "hbase-site.xml").write_text(site(props))
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        opts = [
            *JPMS, f"-Dhbase.log.dir={self.log_dir}", "-Dhbase.log.file=hbase.log",
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.properties'}",
        ]  # fmt: skip
        classpath = f"{self.conf_dir}:{self.lib}/*"
        thrift = f"127.0.0.1:{ports['thrift']}"
        self.state.update(
            address=thrift,
            endpoints={"thrift": thrift, "zookeeper": f"127.0.0.1:{ports['zookeeper']}"},
            ports=ports,
        )
        self.spawn("master", [self.java, "-Xmx1g", *opts, "-cp", classpath,
                              "org.apache.hadoop.hbase.master.HMaster", "start"])  # fmt: skip
        self.spawn("thrift", [self.java, "-Xmx512m", *opts, "-cp", classpath,
                              "org.apache.hadoop.hbase.thrift.ThriftServer",
                              "-b", "127.0.0.1", "-p", str(ports["thrift"]), "start"])  # fmt: skip
        self.wait_ready("the HBase Thrift server did not answer", lambda: probe(thrift), deadline)
        self.wait_ready("HBase did not take a write", lambda: write_probe(thrift), deadline, interval=1.0)
