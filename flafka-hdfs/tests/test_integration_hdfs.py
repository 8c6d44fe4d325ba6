"""The sink against a real NameNode + DataNode (the test kit's ``hdfs_service``): the
SinkContract, Hadoop's own readers on every format and codec, SIGKILL recovery, an
outage, and safe mode."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flafka.event import Event
from flafka.sink import Sink
from flafka.testing import make
from flafka_hdfs.client import Target
from flafka_hdfs.sink import HdfsSink
from flafka_testkit.contracts import SinkCapabilities, SinkContract

pytestmark = pytest.mark.integration

USER = "flafka"


# -- helpers ---------------------------------------------------------------------------------


def client(url: str) -> Any:
    import hdfs

    return hdfs.InsecureClient(url, user=USER)


def final_files(url: str, directory: str) -> list[str]:
    """Final-named files under ``directory`` (recursively), in the order they were named."""
    c = client(url)
    out = []
    if c.status(directory, strict=False) is None:  # nothing uploaded yet
        return out
    for root, _, files in c.walk(directory):
        out += [f"{root}/{f}" for f in files if not f.endswith(".tmp")]
    return sorted(out, key=lambda p: (p.rsplit("/", 1)[0], int(p.rsplit(".", 1)[-1]) if p.rsplit(".", 1)[-1].isdigit() else p))


def read(url: str, path: str) -> bytes:
    with client(url).read(path) as fh:
        return bytes(fh.read())


def avro_events(data: bytes) -> list[Event]:
    """The Flume events of an Avro container file, read with fastavro."""
    import io

    import fastavro

    return [Event(r["body"], r["headers"]) for r in fastavro.reader(io.BytesIO(data))]


def hadoop(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Hadoop tool class with the test kit's Hadoop jars (``hadoop fs``'s FsShell, DFSAdmin)."""
    from flafka_testkit.services.base import cache_dir, find_java
    from flafka_testkit.services.hdfs import CLASSPATH, JPMS
    from flafka_testkit.services.maven import resolve_classpath

    lib = resolve_classpath(CLASSPATH)
    conf = cache_dir() / "hdfs-client-conf"
    conf.mkdir(parents=True, exist_ok=True)
    empty = '<?xml version="1.0"?>\n<configuration></configuration>\n'
    for name in ("core-site.xml", "hdfs-site.xml"):
        (conf / name).write_text(empty)
    cmd = [find_java(17), "-Xmx256m", "-XX:TieredStopAtLevel=1", *JPMS, "-cp", f"{conf}:{lib}/*", *args]
    env = {**os.environ, "HADOOP_USER_NAME": USER}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def fs_text(rpc: str, paths: list[str]) -> list[str]:
    """``hadoop fs -text`` (Hadoop's SequenceFile reader and codecs) on HDFS paths."""
    proc = hadoop("org.apache.hadoop.fs.FsShell", "-text", *[f"{rpc}{p}" for p in paths])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


@pytest.fixture
def webhdfs(hdfs_service: Any) -> str:
    return str(hdfs_service.address)


@pytest.fixture
def base_dir() -> str:
    return f"/it/{uuid.uuid4().hex[:10]}"


def new_sink(url: str, directory: str, tmp_path: Path, **raw: Any) -> HdfsSink:
    keys = {
        "hdfs.path": directory,
        "hdfs.webhdfs.url": url,
        "hdfs.webhdfs.user": USER,
        "hdfs.stagingDir": str(tmp_path / "staging"),
        "hdfs.rollInterval": 0,
        "hdfs.rollSize": 0,
        "hdfs.rollCount": 0,
        **raw,
    }
    return make(HdfsSink, "k1", **keys)


# -- the contract ----------------------------------------------------------------------------


class TestHdfsSinkContract(SinkContract):
    """DataStream + avro_event (headers travel), one file per 500 events, real HDFS."""

    sink_class = HdfsSink
    capabilities = SinkCapabilities(headers=True, outage=True, secret_keys=("hdfs.webhdfs.token",))
    opt_out = {
        "test_outage_rolls_back_and_recovers_without_loss": (
            "by design: during an HDFS outage write() stays durable in the local staging directory, so events "
            "leave the channel; test_outage_* in this module shows nothing is lost and hdfs.stagingMaxBytes pushes back"
        )
    }

    @pytest.fixture
    def sink_settings(self, webhdfs: str, base_dir: str, tmp_path: Path) -> dict[str, str]:
        self.url = webhdfs
        return {
            "hdfs.path": f"hdfs://ignored{base_dir}",
            "hdfs.webhdfs.url": webhdfs,
            "hdfs.webhdfs.user": USER,
            "hdfs.webhdfs.token": "",
            "hdfs.fileType": "DataStream",
            "serializer": "avro_event",
            "hdfs.rollCount": "500",
            "hdfs.rollSize": "0",
            "hdfs.rollInterval": "0",
            "hdfs.batchSize": "100",
            "hdfs.stagingDir": str(tmp_path / "staging"),
        }

    def read_back(self, sink: Sink) -> list[Event]:
        assert isinstance(sink, HdfsSink)
        assert sink.flush(60), sink.uploader.last_error
        out: list[Event] = []
        for path in final_files(self.url, sink.target.path):
            out += avro_events(read(self.url, path))
        return out

    @contextlib.contextmanager
    def outage(self, sink: Sink) -> Iterator[None]:
        assert isinstance(sink, HdfsSink)
        real = sink.target
        sink.target = Target("http://127.0.0.1:9", real.path)
        try:
            yield
        finally:
            sink.target = real


# -- Hadoop reads what we write -----------------------------------------------------------------


FORMATS = [
    ("SequenceFile", "", "Writable"),
    ("SequenceFile", "", "Text"),
    ("SequenceFile", "gzip", "Writable"),
    ("SequenceFile", "bzip2", "Writable"),
    ("SequenceFile", "snappy", "Text"),
    ("SequenceFile", "default", "Writable"),
    ("CompressedStream", "gzip", ""),
    ("CompressedStream", "bzip2", ""),
    ("CompressedStream", "snappy", ""),
    ("CompressedStream", "deflate", ""),
    ("DataStream", "", ""),
]


def test_hadoop_reads_every_format_and_codec(hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path) -> None:
    rpc = hdfs_service.endpoints["rpc"]
    expected: dict[str, list[str]] = {}
    bodies = [b"line-%05d %s" % (i, b"x" * (i % 300)) for i in range(1200)]
    for n, (file_type, codec, write_format) in enumerate(FORMATS):
        directory = f"{base_dir}/{n}-{file_type}-{codec or 'none'}-{write_format}"
        raw = {"hdfs.fileType": file_type, "hdfs.rollCount": 700, "hdfs.batchSize": 250}
        if codec:
            raw["hdfs.codeC"] = codec
        if write_format:
            raw["hdfs.writeFormat"] = write_format
        sink = new_sink(webhdfs, directory, tmp_path / str(n), **raw)
        sink.start()
        for i in range(0, len(bodies), 250):
            assert sink.write([Event(b, {"timestamp": str(1_700_000_000_000 + j)}) for j, b in enumerate(bodies[i : i + 250], i)]) is None
        assert sink.flush(60), sink.uploader.last_error
        sink.stop()
        files = final_files(webhdfs, directory)
        assert len(files) == 2, files
        if codec and file_type == "CompressedStream":
            assert all(f.endswith({"gzip": ".gz", "bzip2": ".bz2", "snappy": ".snappy", "deflate": ".deflate"}[codec]) for f in files)
        for f in files:
            expected[f] = (
                [f"{1_700_000_000_000 + i}\t{b.decode()}" for i, b in enumerate(bodies)]
                if write_format == "Text"
                else [f"{1_700_000_000_000 + i}\t{b.hex(' ')}" for i, b in enumerate(bodies)]
                if write_format
                else [b.decode() for b in bodies]
            )
        if codec == "gzip" and file_type == "CompressedStream":  # the standard tool, too
            assert gzip.decompress(b"".join(read(webhdfs, f) for f in files)).splitlines() == bodies
        if codec == "bzip2" and file_type == "CompressedStream":
            assert bz2.decompress(b"".join(read(webhdfs, f) for f in files)).splitlines() == bodies
    by_dir: dict[str, list[str]] = {}
    for f in expected:
        by_dir.setdefault(f.rsplit("/", 1)[0], []).append(f)
    for directory, files in by_dir.items():
        got = fs_text(rpc, files)
        assert got == expected[files[0]], f"{directory}: {got[:3]} ..."


# -- crashes, outages, safe mode ------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import collections, sys
    from flafka.event import Event
    from flafka.testing import make
    from flafka_hdfs.sink import HdfsSink
    url, directory, staging, depth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sink = make(HdfsSink, "k1", **{"hdfs.path": directory, "hdfs.webhdfs.url": url, "hdfs.webhdfs.user": "flafka",
        "hdfs.stagingDir": staging, "hdfs.fileType": "SequenceFile", "hdfs.rollCount": "0", "hdfs.rollSize": "30000",
        "hdfs.rollInterval": "0"})
    sink.start()
    n = 0
    pending = collections.deque()
    while True:  # as the runtime drives a pipelined sink: up to `depth` batches sent, completed in order
        batch = [Event(b"ev-%08d" % (n + i), {"timestamp": "1700000000000"}) for i in range(100)]
        n += 100
        pending.append((n, sink.send(batch)))
        if len(pending) >= depth:
            done, oldest = pending.popleft()
            assert oldest.wait() is None
            print(done, flush=True)  # committed: its wait() returned
    """
)


@pytest.mark.parametrize("depth", [1, 4], ids=["write", "pipelined"])
def test_sigkill_mid_stream_loses_nothing_and_leaves_no_partial_final_file(
    hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path, depth: int
) -> None:
    staging = str(tmp_path / "staging")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, webhdfs, base_dir, staging, str(depth)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    committed = 0
    while committed < 5000 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: files open, uploads in flight
    proc.wait()
    assert committed >= 5000, "the child did not get going"
    sink = new_sink(webhdfs, base_dir, tmp_path, **{"hdfs.fileType": "SequenceFile"})
    sink.start()  # recovery: uploads what the killed run left staged
    assert sink.flush(60), sink.uploader.last_error
    sink.stop()
    files = final_files(webhdfs, base_dir)
    assert files
    lines = fs_text(hdfs_service.endpoints["rpc"], files)  # Hadoop's reader: a truncated final file would fail here
    got = {bytes.fromhex(line.split("\t")[1].replace(" ", "")) for line in lines}
    want = {b"ev-%08d" % i for i in range(committed)}
    assert not want - got, f"lost {len(want - got)} committed events"
    assert len(lines) == len(got), "an event was written twice"
    assert not list((tmp_path / "staging").glob("*.stage"))


def test_outage_mid_stream_and_hdfs_down_at_start_lose_nothing(webhdfs: str, base_dir: str, tmp_path: Path) -> None:
    sink = new_sink(webhdfs, base_dir, tmp_path, **{"hdfs.fileType": "DataStream", "hdfs.rollCount": 50, "hdfs.retryInterval": 1})
    real = sink.target
    sink.target = Target("http://127.0.0.1:9", real.path)  # down at start
    sink.start()
    sink.write([Event(b"a%03d" % i) for i in range(100)])
    assert not sink.flush(2)
    assert "cannot reach WebHDFS at http://127.0.0.1:9" in sink.uploader.last_error
    sink.target = real  # back
    assert sink.flush(30), sink.uploader.last_error
    sink.write([Event(b"b%03d" % i) for i in range(100)])
    sink.target = Target("http://127.0.0.1:9", real.path)  # down mid-stream
    sink.write([Event(b"c%03d" % i) for i in range(100)])
    assert not sink.flush(2)
    sink.target = real
    assert sink.flush(30), sink.uploader.last_error
    sink.stop()
    got = [line for f in final_files(webhdfs, base_dir) for line in read(webhdfs, f).splitlines()]
    want = [b"%s%03d" % (letter, i) for letter in (b"a", b"b", b"c") for i in range(100)]
    assert sorted(got) == want


def test_safe_mode_is_named_and_uploads_resume_after_it(hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path) -> None:
    rpc = hdfs_service.endpoints["rpc"]
    enter = hadoop("org.apache.hadoop.hdfs.tools.DFSAdmin", "-fs", rpc, "-safemode", "enter")
    assert enter.returncode == 0, enter.stderr[-2000:]
    try:
        sink = new_sink(webhdfs, base_dir, tmp_path, **{"hdfs.fileType": "DataStream", "hdfs.retryInterval": 1})
        sink.start()
        sink.write([Event(b"s%03d" % i) for i in range(10)])
        assert not sink.flush(3)
        assert "safe mode" in sink.uploader.last_error and base_dir in sink.uploader.last_error
    finally:
        leave = hadoop("org.apache.hadoop.hdfs.tools.DFSAdmin", "-fs", rpc, "-safemode", "leave")
        assert leave.returncode == 0, leave.stderr[-2000:]
    assert sink.flush(30), sink.uploader.last_error
    sink.stop()
    assert [line for f in final_files(webhdfs, base_dir) for line in read(webhdfs, f).splitlines()] == [b"s%03d" % i for i in range(10)]


def test_no_room_is_named_and_uploads_resume_once_there_is(hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path) -> None:
    """A full HDFS, made real with a space quota (a quota below one block refuses every new
    block, as full DataNode disks do): the upload fails with the path and the fix, the
    staged events wait, and they arrive once there is room again."""
    rpc = hdfs_service.endpoints["rpc"]
    client(webhdfs).makedirs(base_dir)
    full = hadoop("org.apache.hadoop.hdfs.tools.DFSAdmin", "-fs", rpc, "-setSpaceQuota", "1k", base_dir)
    assert full.returncode == 0, full.stderr[-2000:]
    try:
        sink = new_sink(webhdfs, base_dir, tmp_path, **{"hdfs.fileType": "DataStream", "hdfs.retryInterval": 1})
        sink.start()
        assert sink.write([Event(b"q%03d" % i) for i in range(10)]) is None  # durable in the staging file
        assert not sink.flush(3)
        assert "HDFS has no room for" in sink.uploader.last_error and base_dir in sink.uploader.last_error
        assert "raise the quota" in sink.uploader.last_error
        assert final_files(webhdfs, base_dir) == []
    finally:
        room = hadoop("org.apache.hadoop.hdfs.tools.DFSAdmin", "-fs", rpc, "-clrSpaceQuota", base_dir)
        assert room.returncode == 0, room.stderr[-2000:]
    assert sink.flush(30), sink.uploader.last_error
    sink.stop()
    assert [line for f in final_files(webhdfs, base_dir) for line in read(webhdfs, f).splitlines()] == [b"q%03d" % i for i in range(10)]


# -- serializers: Avro (read back by Hadoop's own Avro reader) and a third-party plugin ----------

PLUGINS = Path(__file__).resolve().parents[2] / "tests" / "plugins"


def test_avro_serializers_and_a_plugin_serializer_on_real_hdfs(
    hdfs_service: Any, webhdfs: str, base_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json
    from importlib.metadata import EntryPoint

    import fastavro

    from flafka import plugins

    monkeypatch.syspath_prepend(str(PLUGINS))
    eps = [EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("hexlines", "flafka_test_serializer", "flafka")]
    report = plugins.load_plugins(env={}, entry_points=eps)
    monkeypatch.setattr(plugins, "get_registry", lambda: report.registry)
    rpc = hdfs_service.endpoints["rpc"]
    events = [Event(b"body-%03d" % i, {"n": str(i)}) for i in range(300)]
    schema = {"type": "record", "name": "Row", "fields": [{"name": "n", "type": "long"}, {"name": "s", "type": "string"}]}
    client(webhdfs).write(f"{base_dir}/schemas/row.avsc", data=json.dumps(schema), overwrite=True)
    rows = [{"n": i, "s": f"r{i}"} for i in range(300)]
    datums = []
    for r in rows:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), r)
        datums.append(Event(out.getvalue()))
    cases = {
        "flume-events-snappy": ({"serializer": "avro_event", "serializer.compressionCodec": "snappy"}, events),
        "datums-deflate": (
            {
                "serializer": "org.apache.flume.sink.hdfs.AvroEventSerializer$Builder",
                "serializer.compressionCodec": "deflate",
                "serializer.schemaURL": f"hdfs://namenode{base_dir}/schemas/row.avsc",  # read through the sink's WebHDFS
            },
            datums,
        ),
        "plugin": ({"serializer": "hexlines", "serializer.title": "from-hdfs"}, events[:3]),
    }
    for name, (raw, batch) in cases.items():
        sink = new_sink(webhdfs, f"{base_dir}/{name}", tmp_path / name, **{"hdfs.fileType": "DataStream", **raw})
        sink.start()
        for i in range(0, len(batch), 100):
            assert sink.write(batch[i : i + 100]) is None
        assert sink.flush(60), sink.uploader.last_error
        sink.stop()
    (flume_file,) = final_files(webhdfs, f"{base_dir}/flume-events-snappy")
    assert avro_events(read(webhdfs, flume_file)) == events
    shown = [json.loads(line) for line in fs_text(rpc, [flume_file])]  # Hadoop's Avro (Java) reader
    assert [(r["headers"], r["body"]) for r in shown] == [(e.headers, e.body.decode()) for e in events]
    (datum_file,) = final_files(webhdfs, f"{base_dir}/datums-deflate")
    assert list(fastavro.reader(io.BytesIO(read(webhdfs, datum_file)))) == rows
    assert [json.loads(line) for line in fs_text(rpc, [datum_file])] == rows
    (plugin_file,) = final_files(webhdfs, f"{base_dir}/plugin")
    assert read(webhdfs, plugin_file) == b"# from-hdfs\n626f64792d303030;1\n626f64792d303031;1\n626f64792d303032;1\n# end\n"
