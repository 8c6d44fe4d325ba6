"""Apache Flume 1.11.0 (the reference implementation) from Maven Central, with its Kafka,
HDFS and HBase2 components — to run the same config through Flume and Flafka.

Flume is not a server: :class:`FlumeHome` is the resolved classpath plus
:meth:`FlumeHome.run_agent`, which starts ``org.apache.flume.node.Application`` (what
``bin/flume-ng agent`` runs) on a config text and waits until Flume's log says it started
every source, channel, sink and sink group of the config. HTTP monitoring (``/metrics`` JSON) is opt-in
(``monitoring=True``): Flume 1.11's ``HTTPMetricsServer`` has no bind option and listens on
0.0.0.0, which breaks the "loopback only" rule, so it is off by default. :class:`FlumeService` is the
``flafka testkit up flume`` face: it resolves the jars and proves them with a short agent
(netcat source -> memory channel -> null sink), then stops it.

Jars: ``flume-ng-node`` + the kafka source/sink/channel, the TAILDIR source, hdfs and hbase2 sinks (sub-groupIds
``org.apache.flume.flume-ng-{sources,sinks,channels}``) + hadoop-common/hdfs-client 3.4.2 and
hbase-client 2.6.1-hadoop3 (the sinks declare them ``optional``) + Flume's own log4j2
2.18.0 binding; Hadoop's reload4j binding is excluded.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

from flafka.config.properties import parse_text
from flafka_testkit.services import hbase as _hbase
from flafka_testkit.services import hdfs as _hdfs
from flafka_testkit.services.base import LocalService, ServiceError, find_java, free_port, tail, wait_for
from flafka_testkit.services.maven import Classpath, Coordinate, resolve_classpath

FLUME_VERSION = "1.11.0"
LOG4J2_VERSION = "2.18.0"  # what Flume 1.11.0's tarball ships
NO_RELOAD4J = ("org.slf4j:slf4j-reload4j", "ch.qos.reload4j:reload4j", "org.slf4j:slf4j-log4j12", "log4j:log4j")


def _flume(group: str, artifact: str) -> Coordinate:
    return Coordinate(f"org.apache.flume{group}", artifact, FLUME_VERSION, exclusions=NO_RELOAD4J)


CLASSPATH = Classpath(
    "flume",
    (
        _flume("", "flume-ng-node"),
        _flume(".flume-ng-sources", "flume-kafka-source"),
        _flume(".flume-ng-sources", "flume-taildir-source"),
        _flume(".flume-ng-sinks", "flume-ng-kafka-sink"),
        _flume(".flume-ng-channels", "flume-kafka-channel"),
        _flume(".flume-ng-sinks", "flume-hdfs-sink"),
        _flume(".flume-ng-sinks", "flume-ng-hbase2-sink"),
        Coordinate("org.apache.hadoop", "hadoop-common", _hdfs.HADOOP_VERSION, exclusions=NO_RELOAD4J),
        Coordinate("org.apache.hadoop", "hadoop-hdfs-client", _hdfs.HADOOP_VERSION, exclusions=NO_RELOAD4J),
        Coordinate("org.apache.hbase", "hbase-client", _hbase.HBASE_VERSION, exclusions=NO_RELOAD4J),
        *(
            Coordinate("org.apache.logging.log4j", artifact, LOG4J2_VERSION)
            for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl", "log4j-1.2-api")
        ),
    ),
)

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger = INFO,console
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
"""

#: Hadoop's and HBase's Java 17 flags; the HDFS and HBase2 sinks run their client code.
JPMS = list(dict.fromkeys([*_hdfs.JPMS, *_hbase.JPMS]))

SMOKE_CONFIG = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
"""


class FlumeAgent:
    """A running Flume agent process; ``metrics()`` reads its JSON counters, ``stop()`` ends it."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, metrics_url: str | None, name: str) -> None:
        self.proc, self.log, self.metrics_url, self.name = proc, log, metrics_url, name

    @property
    def pid(self) -> int:
        return self.proc.pid

    def metrics(self, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """``/metrics``: {"SOURCE.r1": {"EventReceivedCount": "3", ...}, ...} (needs ``monitoring=True``)."""
        if self.metrics_url is None:
            raise ServiceError("this agent runs without HTTP monitoring: start it with run_agent(..., monitoring=True)")
        if self.proc.poll() is not None:
            raise ServiceError(f"the Flume agent {self.name} has exited (code {self.proc.returncode}):\n{tail(self.log)}")
        with urllib.request.urlopen(self.metrics_url, timeout=timeout) as resp:
            data: dict[str, dict[str, Any]] = json.load(resp)
            return data

    def stop(self, grace: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> FlumeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FlumeHome:
    """Flume 1.11.0's resolved classpath and a launcher for agents."""

    def __init__(self) -> None:
        self.java = find_java(17)
        self.lib = resolve_classpath(CLASSPATH)
        self.version = FLUME_VERSION

    def command(self, conf_file: Path, agent: str, conf_dir: Path, monitoring_port: int | None = None, heap: str = "512m") -> list[str]:
        """The java command line ``bin/flume-ng agent`` would run (heap raised from its 20 MiB)."""
        monitoring = ["-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={monitoring_port}"] if monitoring_port else []
        return [
            self.java, f"-Xmx{heap}", *JPMS, *monitoring,
            f"-Dlog4j2.configurationFile={conf_dir / 'log4j2.properties'}",
            "-cp", f"{conf_dir}:{self.lib}/*",
            "org.apache.flume.node.Application", "-n", agent, "-f", str(conf_file), "--no-reload-conf",
        ]  # fmt: skip

    def run_agent(self, config: str, workdir: Path, name: str = "a1", *, monitoring: bool = False, timeout: float = 90.0) -> FlumeAgent:
        """Start an agent on ``config`` (Flume properties text) in ``workdir``; wait until its log
        says every source, channel, sink and sink group of ``name`` was started (or raise with
        the log). Flume 1.11 config text as ``flume-ng`` reads it (``\\`` continuations, ``:``)."""
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / f"{name}.conf"
        conf.write_text(config)
        (workdir / "log4j2.properties").write_text(LOG4J2)
        port = free_port() if monitoring else None
        log = workdir / f"{name}.log"
        log.write_bytes(b"")
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self.command(conf, name, workdir, port), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=str(workdir), start_new_session=True,
            )  # fmt: skip
        agent = FlumeAgent(proc, log, f"http://127.0.0.1:{port}/metrics" if port else None, name)
        expected = _started_lines(config, name)

        def started() -> bool:
            return _all_logged(log.read_text(errors="replace"), expected)

        def died() -> str | None:
            if proc.poll() is None:
                return None
            return f"the Flume agent exited with code {proc.returncode}. Last lines of {log}:\n{tail(log)}"

        try:
            wait_for(started, timeout=timeout, what=f"Flume agent {name} did not start {expected}", alive=died)
        except BaseException:
            agent.stop(5)
            raise
        return agent


def _started_lines(config: str, agent: str) -> list[str]:
    """The ``node.Application`` log lines announcing each component of ``agent``.

    Flume starts one ``SinkRunner`` per sink group and per sink outside a group, and logs
    ``Starting Sink <runner>``: a group's name, never the names of its sinks. Groups are
    resolved as Flume does: a sink goes to the first group that lists it, if ``sinks``
    lists it too; a group left without sinks is dropped (its sinks run on their own)."""
    props = parse_text(config).as_dict()

    def names(kind: str) -> list[str]:
        return list(dict.fromkeys(props.get(f"{agent}.{kind}", "").split()))

    sinks = names("sinks")
    grouped: set[str] = set()
    runners: list[str] = []
    for group in names("sinkgroups"):
        members = [s for s in props.get(f"{agent}.sinkgroups.{group}.sinks", "").split() if s in sinks and s not in grouped]
        if members:
            grouped.update(members)
            runners.append(group)
    lines = [f"Starting Source {n}" for n in names("sources")]
    lines += [f"Starting Channel {n}" for n in names("channels")]
    lines += [f"Starting Sink {n}" for n in sinks if n not in grouped]
    lines += [f"Starting Sink {n}" for n in runners]
    return lines


def _all_logged(text: str, lines: list[str]) -> bool:
    """True when every one of ``lines`` ends a line of ``text`` (``Sink k1`` is not ``Sink k10``)."""
    return all(re.search(rf"{re.escape(line)}\r?$", text, re.MULTILINE) for line in lines)


class FlumeService(LocalService):
    """``up flume``: resolve Flume 1.11.0 and prove it runs an agent; nothing keeps running."""

    name = "flume"
    start_timeout = 120.0
    hints: ClassVar = ()

    def __init__(self, home: Path | None = None) -> None:
        super().__init__(home)

    @property
    def address(self) -> str | None:
        return self.state.get("address")

    @property
    def endpoints(self) -> dict[str, str]:
        return dict(self.state.get("endpoints", {}))

    def running(self) -> bool:
        return bool(self.state.get("address")) and Path(self.state["address"]).is_dir()

    def prepare(self) -> None:
        self.flume = FlumeHome()

    def probe(self) -> None:
        if not self.running():
            raise ServiceError("flume is not resolved")

    def launch(self, deadline: float) -> None:
        workdir = self.data_dir / "smoke"
        agent = self.flume.run_agent(SMOKE_CONFIG.format(port=free_port()), workdir, timeout=max(deadline - time.monotonic(), 5.0))
        agent.stop()
        self.state.update(address=str(self.flume.lib), endpoints={"lib": str(self.flume.lib), "java": self.flume.java})
        self.state["logs"] = {"smoke": str(workdir / "a1.log")}

    def died(self) -> str | None:
        return None

    def stop(self, grace: float | None = None) -> None:
        self.state = {}
        self.state_file.unlink(missing_ok=True)
