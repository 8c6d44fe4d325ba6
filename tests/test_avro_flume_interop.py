"""Avro files checked by Flume 1.11's own Java code (the test kit's Flume classpath):
Avro Java's ``DataFileReader`` reads what file_roll's Avro serializers write (every codec),
and Flume's ``AvroEventDeserializer`` turns a spool file into the same event bodies and
schema header as flafka's ``deserializer = AVRO``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

fastavro = pytest.importorskip("fastavro")

from flafka.event import Event  # noqa: E402
from flafka.sinks.file_roll import RollingFileSink  # noqa: E402
from flafka.sources.deserializers import AvroDeserializer  # noqa: E402
from flafka.testing import make  # noqa: E402

pytestmark = pytest.mark.integration

TOOL = r"""
import java.io.File;
import java.util.*;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.*;
import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.serialization.*;

public class AvroTool {
  static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) s.append(String.format("%02x", x));
    return s.toString();
  }
  public static void main(String[] a) throws Exception {
    if (a[0].equals("read")) {
      try (DataFileReader<GenericRecord> r = new DataFileReader<>(new File(a[1]), new GenericDatumReader<GenericRecord>())) {
        System.out.println(r.getMetaString("avro.codec"));
        for (GenericRecord rec : r) {
          if (rec.getSchema().getName().equals("Event")) {
            TreeMap<String, String> h = new TreeMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) rec.get("headers")).entrySet()) {
              h.put(e.getKey().toString(), e.getValue().toString());
            }
            java.nio.ByteBuffer body = (java.nio.ByteBuffer) rec.get("body");
            byte[] bytes = new byte[body.remaining()]; body.get(bytes);
            System.out.println(h + " " + hex(bytes));
          } else {
            System.out.println(rec);
          }
        }
      }
    } else {
      Context ctx = new Context();
      ctx.put("schemaType", a[2]);
      File file = new File(a[1]);
      PositionTracker tracker = DurablePositionTracker.getInstance(new File(a[3]), file.getPath());
      ResettableInputStream in = new ResettableFileInputStream(file, tracker);
      EventDeserializer d = EventDeserializerFactory.getInstance("AVRO", ctx, in);
      List<Event> events;
      while (!(events = d.readEvents(7)).isEmpty()) {
        for (Event e : events) System.out.println(new TreeMap<>(e.getHeaders()) + " " + hex(e.getBody()));
        d.mark();
      }
      d.close();
    }
  }
}
"""

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Row",
    "fields": [{"name": "n", "type": "long"}, {"name": "s", "type": ["null", "string"]}],
}


@pytest.fixture(scope="module")
def tool(flume_home: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AvroTool compiled once against Flume's classpath (javac beside the kit's java)."""
    out = tmp_path_factory.mktemp("avrotool")
    (out / "AvroTool.java").write_text(TOOL)
    beside = Path(flume_home.java).resolve().with_name("javac")
    javac = str(beside) if beside.exists() else shutil.which("javac")
    assert javac, "javac not found: install a JDK 17 (openjdk-17-jdk-headless), not only a JRE"
    cmd = [javac, "-nowarn", "-cp", f"{flume_home.lib}/*", "-d", str(out), str(out / "AvroTool.java")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


NEEDED = ("avro-1", "jackson-core", "jackson-databind", "jackson-annotations", "slf4j-api", "snappy-java", "xz-", "commons-compress",
          "flume-ng-core", "flume-ng-sdk", "flume-ng-configuration", "guava", "commons-io", "commons-lang", "commons-codec")  # fmt: skip


def java(flume_home: Any, tool: Path, *args: str) -> list[str]:
    """Run AvroTool with the few jars it needs (the whole Flume classpath costs seconds per start)."""
    jars = [str(p) for p in sorted(Path(flume_home.lib).glob("*.jar")) if any(n in p.name for n in NEEDED)]
    cmd = [flume_home.java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", ":".join([str(tool), *jars]), "AvroTool", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


def java_map(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(headers.items())) + "}"


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_avro_java_reads_file_roll_avro_event(flume_home: Any, tool: Path, tmp_path: Path, codec: str) -> None:
    out = tmp_path / "out"
    sink = make(
        RollingFileSink,
        "k",
        **{
            "sink.directory": str(out),
            "sink.serializer": "avro_event",
            "sink.serializer.compressionCodec": codec,
            "sink.serializer.syncIntervalBytes": "500",
        },
    )
    sink.start()
    events = [Event(b"body-%d\x00\xff" % i, {"n": str(i), "k": "välue"} if i % 3 else {}) for i in range(200)]
    for i in range(0, 200, 50):
        sink.write(events[i : i + 50])
    sink.stop()
    (path,) = list(out.iterdir())
    lines = java(flume_home, tool, "read", str(path))
    assert lines[0] == codec
    assert lines[1:] == [f"{java_map(e.headers)} {e.body.hex()}" for e in events]


def test_avro_java_reads_avro_event_serializer_output(flume_home: Any, tool: Path, tmp_path: Path) -> None:
    (tmp_path / "row.avsc").write_text(json.dumps(SCHEMA))
    out = tmp_path / "out"
    sink = make(
        RollingFileSink,
        "k",
        **{
            "sink.directory": str(out),
            "sink.serializer": "org.apache.flume.sink.hdfs.AvroEventSerializer$Builder",
            "sink.serializer.schemaURL": (tmp_path / "row.avsc").as_uri(),
            "sink.serializer.compressionCodec": "snappy",
        },
    )
    sink.start()
    rows = [{"n": i, "s": None if i % 2 else f"s{i}"} for i in range(100)]
    datums = []
    for r in rows:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(SCHEMA), r)
        datums.append(Event(buf.getvalue()))
    sink.write(datums)
    sink.stop()
    (path,) = list(out.iterdir())
    lines = java(flume_home, tool, "read", str(path))
    assert lines[0] == "snappy"
    assert [json.loads(line) for line in lines[1:]] == rows


@pytest.mark.parametrize("schema_type", ["HASH", "LITERAL"])
def test_flumes_avro_event_deserializer_gives_the_same_events(flume_home: Any, tool: Path, tmp_path: Path, schema_type: str) -> None:
    rows = [{"n": i, "s": None if i % 2 else "é" * (i % 5)} for i in range(60)]
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(SCHEMA), rows, codec="deflate", sync_interval=200)
    spool_file = tmp_path / "rows.avro"
    spool_file.write_bytes(buf.getvalue())
    flume = java(flume_home, tool, "deser", str(spool_file), schema_type, str(tmp_path / "tracker.meta"))
    ours = AvroDeserializer(io.BytesIO(buf.getvalue()), schema_type=schema_type)
    bodies: list[bytes] = []
    while batch := ours.read(7):
        bodies += batch
    if schema_type == "HASH":
        assert flume == [f"{java_map(ours.headers)} {b.hex()}" for b in bodies]
    else:  # Flume prints the literal schema from Schema.toString(); ours is the file header's text
        assert [line.rsplit(" ", 1)[1] for line in flume] == [b.hex() for b in bodies]
        literal = flume[0].rsplit(" ", 1)[0].removeprefix("{flume.avro.schema.literal=").removesuffix("}")
        assert json.loads(literal) == json.loads(ours.headers["flume.avro.schema.literal"])
