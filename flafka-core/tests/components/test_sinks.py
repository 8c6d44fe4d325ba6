"""The everyday sinks: ``null``, ``logger`` (Flume's dump format) and ``file_roll``
(every key, naming, rolling with injected clocks, serializers, one write per batch,
failed writes, directory errors)."""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flafka.errors import ConfigError, RetriableError
from flafka.event import Event
from flafka.metrics.counters import SinkCounter
from flafka.runtime import SinkDriver, SinkFailure
from flafka.sinks import file_roll as file_roll_module
from flafka.sinks.file_roll import RollingFileSink
from flafka.sinks.logger import LoggerSink, dump_event, format_headers
from flafka.sinks.null import NullSink
from flafka.testing import make, settings_for

# -- null ----------------------------------------------------------------------------------


def test_null_sink_names_and_batch_size() -> None:
    assert NullSink.type_name == "null"
    assert "org.apache.flume.sink.NullSink" in NullSink.aliases
    assert make(NullSink, "k").batch_size() == 100
    assert make(NullSink, "k", batchSize=7).batch_size() == 7
    with pytest.raises(ConfigError, match="batchSize"):
        settings_for(NullSink, batchSize=0)


def test_null_sink_discards_and_delivers(memory_channel: Any) -> None:
    sink = make(NullSink, "k")
    assert sink.write([Event(b"x")] * 3) is None
    sink.channel = memory_channel
    sink.counter = SinkCounter("k", "null")
    with memory_channel.put_transaction() as tx:
        tx.put([Event(b"%d" % i) for i in range(50)])
    driver = SinkDriver(sink)
    driver.drive()
    assert memory_channel.is_empty()
    assert sink.counter.event_drain_success_count == 50


# -- logger --------------------------------------------------------------------------------


def test_dump_matches_flumes_format() -> None:
    # The line Flume's user guide shows for "Hello world!\r" from netcat.
    event = Event(b"Hello world!\r")
    assert dump_event(event) == "{ headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21 0D          Hello world!. }"


def test_dump_full_row_headers_and_truncation() -> None:
    event = Event(b"0123456789abcdefTAIL", {"host": "h1", "n": "2"})
    assert dump_event(event, 16) == "{ headers:{host=h1, n=2} body: 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 0123456789abcdef }"
    assert dump_event(event, 4) == "{ headers:{host=h1, n=2} body: 30 31 32 33                                     0123 }"


def test_dump_empty_body_and_zero_max_bytes() -> None:
    assert dump_event(Event(b"")) == "{ headers:{} body: }"
    assert dump_event(Event(b"abc", {"k": "v"}), 0) == "{ headers:{k=v} body: }"


def test_dump_rows_after_the_first_keep_their_offset() -> None:
    text = dump_event(Event(bytes(range(0x7A, 0x9E))), 100)  # 36 bytes: three rows
    rows = text.split("\n")
    assert rows[0] == "{ headers:{} body: 7A 7B 7C 7D 7E 7F 80 81 82 83 84 85 86 87 88 89 z{|}~..........."
    assert rows[1] == "00000010 8A 8B 8C 8D 8E 8F 90 91 92 93 94 95 96 97 98 99 ................"
    assert rows[2] == "00000020 9A 9B 9C 9D                                     .... }"


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=80))
def test_dump_shape_for_any_body(body: bytes, max_bytes: int) -> None:
    text = dump_event(Event(body), max_bytes)
    shown = body[:max_bytes]
    assert text.startswith("{ headers:{} body:") and text.endswith(" }")
    if shown:
        rows = text[len("{ headers:{} body:") : -2].split("\n")
        assert len(rows) == (len(shown) + 15) // 16
        hexes = [h for i, row in enumerate(rows) for h in (row if i == 0 else row[8:])[1:49].split()]
        assert bytes.fromhex("".join(hexes)) == shown


def test_format_headers_is_javas_map_format() -> None:
    assert format_headers({}) == "{}"
    assert format_headers({"a": "1", "b": "x=y"}) == "{a=1, b=x=y}"


def test_logger_sink_logs_each_event_at_info(caplog: pytest.LogCaptureFixture) -> None:
    sink = make(LoggerSink, "k", maxBytesToLog=3)
    with caplog.at_level(logging.INFO, logger="flafka.sinks.logger"):
        assert sink.write([Event(b"hello", {"a": "b"}), Event(b"")]) is None
    records = [r for r in caplog.records if r.name == "flafka.sinks.logger"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert records[0].getMessage() == "Event: { headers:{a=b} body: 68 65 6C                                        hel }"
    assert records[1].getMessage() == "Event: { headers:{} body: }"


def test_logger_sink_skips_formatting_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    sink = make(LoggerSink, "k")
    with caplog.at_level(logging.WARNING, logger="flafka.sinks.logger"):
        sink.write([Event(b"x")])
    assert [r for r in caplog.records if r.name == "flafka.sinks.logger"] == []


def test_logger_sink_settings() -> None:
    assert LoggerSink.type_name == "logger"
    assert "org.apache.flume.sink.LoggerSink" in LoggerSink.aliases
    s = settings_for(LoggerSink)
    assert s["maxBytesToLog"] == 16
    assert make(LoggerSink, "k").batch_size() == 100
    assert make(LoggerSink, "k", batchSize=5).batch_size() == 5
    with pytest.raises(ConfigError, match="maxBytesToLog"):
        settings_for(LoggerSink, maxBytesToLog=-1)


# -- file_roll -----------------------------------------------------------------------------


class Clocks:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self, wall: float = 1_700_000_000.123) -> None:
        self.wall_now = wall
        self.mono_now = 1000.0

    def wall(self) -> float:
        return self.wall_now

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        self.wall_now += seconds
        self.mono_now += seconds


def build_roll_sink(directory: Path, clocks: Clocks | None = None, /, **raw: Any) -> RollingFileSink:
    sink = make(RollingFileSink, "k1", **{"sink.directory": str(directory), **raw})
    if clocks is not None:
        sink.wall_clock = clocks.wall
        sink.clock = clocks.mono
    return sink


def roll_sink(directory: Path, clocks: Clocks | None = None, /, **raw: Any) -> RollingFileSink:
    """A started file_roll sink."""
    sink = build_roll_sink(directory, clocks, **raw)
    sink.start()
    return sink


def events(*bodies: bytes, headers: dict[str, str] | None = None) -> list[Event]:
    return [Event(b, dict(headers or {})) for b in bodies]


def files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_file_roll_names_and_defaults() -> None:
    assert RollingFileSink.type_name == "file_roll"
    assert "org.apache.flume.sink.RollingFileSink" in RollingFileSink.aliases
    assert RollingFileSink.batch_size_key == "sink.batchSize"
    s = settings_for(RollingFileSink, **{"sink.directory": "/tmp/x"})
    assert s["sink.rollInterval"] == 30
    assert s["sink.serializer"] == "TEXT"
    assert s["sink.serializer.*"] == {}
    assert s["sink.batchSize"] == 100
    assert s["sink.pathManager"] == "DEFAULT"
    assert s["sink.pathManager.extension"] == "" and s["sink.pathManager.prefix"] == ""
    assert s["sink.fsync"] is False
    assert RollingFileSink.batch_size_from(settings_for(RollingFileSink, **{"sink.directory": "/x", "sink.batchSize": 500})) == 500


def test_file_roll_directory_is_required_and_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"sink\.directory"):
        settings_for(RollingFileSink)
    _, problems = RollingFileSink.settings_schema.parse({"sink.directory": "/x", "sink.rollInterva": "5"})
    assert problems[0].key == "sink.rollInterva" and "sink.rollInterval" in problems[0].suggestion
    with pytest.raises(ConfigError, match=r"sink\.rollInterval"):
        settings_for(RollingFileSink, **{"sink.directory": "/x", "sink.rollInterval": -1})
    with pytest.raises(ConfigError, match=r"sink\.batchSize"):
        settings_for(RollingFileSink, **{"sink.directory": "/x", "sink.batchSize": 0})


def test_construction_does_no_io(tmp_path: Path) -> None:
    make(RollingFileSink, "k", **{"sink.directory": str(tmp_path / "later")})
    assert not (tmp_path / "later").exists()


def test_default_names_start_millis_and_counter(tmp_path: Path) -> None:
    clocks = Clocks(1_700_000_000.123)
    sink = roll_sink(tmp_path, clocks, **{"sink.rollInterval": 10})
    sink.write(events(b"a"))
    clocks.advance(10)
    sink.write(events(b"b"))
    clocks.advance(10)
    sink.tick()
    sink.write(events(b"c"))
    sink.stop()
    assert files(tmp_path) == ["1700000000123-1", "1700000000123-2", "1700000000123-3"]
    assert (tmp_path / "1700000000123-2").read_bytes() == b"b\n"


def test_prefix_and_extension(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks(1_600_000_000.0), **{"sink.pathManager.prefix": "web-", "sink.pathManager.extension": "log"})
    sink.write(events(b"x"))
    sink.stop()
    assert files(tmp_path) == ["web-1600000000000-1.log"]


def test_rolltime_path_manager(tmp_path: Path) -> None:
    clocks = Clocks(time.mktime((2024, 3, 9, 23, 59, 0, 0, 0, -1)))
    sink = roll_sink(tmp_path, clocks, **{"sink.pathManager": "rolltime", "sink.rollInterval": 20, "sink.pathManager.extension": "txt"})
    sink.write(events(b"1"))  # 23:59:00
    clocks.advance(30)
    sink.write(events(b"2"))  # 23:59:30
    clocks.advance(40)
    sink.write(events(b"3"))  # 00:00:10, past midnight: the number starts again
    sink.stop()
    assert files(tmp_path) == ["2024-03-09-1.txt", "2024-03-09.txt", "2024-03-10.txt"]


def test_path_manager_fqcn_and_unknown(tmp_path: Path) -> None:
    fqcn = "org.apache.flume.formatter.output.RollTimePathManager$Builder"
    sink = build_roll_sink(tmp_path, Clocks(), **{"sink.pathManager": fqcn})
    assert sink._path_manager_cls is file_roll_module.RollTimePathManager
    with pytest.raises(ConfigError, match=r"sink\.pathManager = 'ROLLTIMES'.*did you mean 'ROLLTIME'"):
        build_roll_sink(tmp_path, **{"sink.pathManager": "ROLLTIMES"})


def test_tick_rolls_after_the_interval_and_idle_time_makes_no_files(tmp_path: Path) -> None:
    clocks = Clocks()
    sink = roll_sink(tmp_path, clocks, **{"sink.rollInterval": 30})
    sink.tick()
    assert files(tmp_path) == []  # nothing written: no empty file
    sink.write(events(b"a"))
    clocks.advance(29)
    sink.tick()
    assert sink.counter.connection_closed_count == 0
    clocks.advance(1)
    sink.tick()
    assert sink.counter.connection_closed_count == 1
    clocks.advance(300)
    for _ in range(5):
        sink.tick()
    assert len(files(tmp_path)) == 1
    sink.write(events(b"b"))
    sink.stop()
    assert [(tmp_path / f).read_bytes() for f in sorted(files(tmp_path), key=lambda n: int(n.rsplit("-", 1)[1]))] == [b"a\n", b"b\n"]
    assert sink.counter.connection_created_count == 2
    assert sink.counter.connection_closed_count == 2


def test_roll_interval_zero_never_rolls(tmp_path: Path) -> None:
    clocks = Clocks()
    sink = roll_sink(tmp_path, clocks, **{"sink.rollInterval": 0})
    for i in range(5):
        sink.write(events(b"%d" % i))
        clocks.advance(10_000)
        sink.tick()
    sink.stop()
    assert len(files(tmp_path)) == 1
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"0\n1\n2\n3\n4\n"


def test_stop_closes_and_is_idempotent(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks())
    sink.write(events(b"a"))
    sink.stop()
    sink.stop()
    assert sink.counter.connection_closed_count == 1
    sink.write(events(b"b"))  # a stopped-and-restarted sink starts a new file
    sink.stop()
    assert len(files(tmp_path)) == 2


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "1700000000123-1").write_bytes(b"precious\n")
    sink = roll_sink(tmp_path, Clocks(1_700_000_000.123))
    sink.write(events(b"new"))
    sink.stop()
    assert (tmp_path / "1700000000123-1").read_bytes() == b"precious\n"
    assert (tmp_path / "1700000000123-2").read_bytes() == b"new\n"


# serializers


def test_text_serializer_writes_bodies_and_drops_headers(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks())
    sink.write(events(b"one", b"", b"\xff\x00bin", headers={"h": "v"}))
    sink.write(events(b"two"))
    sink.stop()
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"one\n\n\xff\x00bin\ntwo\n"


def test_text_serializer_without_newline(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "text", "sink.serializer.appendNewline": "false"})
    sink.write(events(b"a", b"b"))
    sink.write(events(b"c"))
    sink.stop()
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"abc"


def test_header_and_text_serializer(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "HEADER_AND_TEXT"})
    sink.write([Event(b"body1", {"host": "h1", "n": "ü"}), Event(b"body2")])
    sink.stop()
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == "{host=h1, n=ü} body1\n{} body2\n".encode()


def test_header_and_text_without_newline(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "header_and_text", "sink.serializer.appendNewline": "false"})
    sink.write([Event(b"x", {"a": "1"}), Event(b"y")])
    sink.stop()
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"{a=1} x{} y"


@pytest.mark.parametrize(
    ("spelling", "kind"),
    [
        ("TEXT", "TEXT"),
        ("Text", "TEXT"),
        ("org.apache.flume.serialization.BodyTextEventSerializer$Builder", "TEXT"),
        ("org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder", "HEADER_AND_TEXT"),
        ("avro_event", "avro_event"),
        ("AVRO_EVENT", "avro_event"),
        ("org.apache.flume.serialization.FlumeEventAvroEventSerializer$Builder", "avro_event"),
        ("org.apache.flume.sink.hdfs.AvroEventSerializer$Builder", "AvroEventSerializer"),
    ],
)
def test_serializer_spellings(tmp_path: Path, spelling: str, kind: str) -> None:
    assert build_roll_sink(tmp_path, **{"sink.serializer": spelling}).serializer_kind == kind


def test_unknown_serializer_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sink\.serializer = 'TXT': unknown serializer 'TXT'; did you mean 'TEXT'\?"):
        build_roll_sink(tmp_path, **{"sink.serializer": "TXT"})
    known = "AvroEventSerializer, HEADER_AND_TEXT, TEXT, avro_event"
    with pytest.raises(ConfigError, match=rf"MySerializer\$Builder'.*cannot load Java classes; use one of {known}"):
        build_roll_sink(tmp_path, **{"sink.serializer": "com.example.MySerializer$Builder"})


def test_serializer_sub_keys_are_checked_by_the_serializers_schema(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sink\.serializer\.compressionCodec: 'snapy' is not an Avro codec; did you mean 'snappy'"):
        build_roll_sink(tmp_path, **{"sink.serializer": "avro_event", "sink.serializer.compressionCodec": "snapy"})
    with pytest.raises(ConfigError, match=r"unknown key 'sink\.serializer\.appendNewLine'.*did you mean 'sink\.serializer\.appendNewline"):
        build_roll_sink(tmp_path, **{"sink.serializer.appendNewLine": "false"})
    with pytest.raises(ConfigError, match=r"sink\.serializer\.syncIntervalBytes: 'lots' is not a whole number"):
        build_roll_sink(tmp_path, **{"sink.serializer": "avro_event", "sink.serializer.syncIntervalBytes": "lots"})
    # a key of another serializer is only a warning (Flume ignores it); the sink builds
    build_roll_sink(tmp_path, **{"sink.serializer.compressionCodec": "snappy"})
    problems = RollingFileSink.check_settings(
        settings_for(RollingFileSink, **{"sink.directory": str(tmp_path), "sink.serializer.compressionCodec": "snappy"})
    )
    assert [(p.key, p.severity) for p in problems] == [("sink.serializer.compressionCodec", "warning")]
    assert "key of the AvroEventSerializer and avro_event serializer, not of TEXT" in problems[0].message


def read_avro(path: Path) -> tuple[dict[str, str], list[Event], int]:
    """Read an Avro container file of Flume's Event record with fastavro (independent of
    the writer). Returns metadata, events and the block count."""
    with open(path, "rb") as fh:
        reader = fastavro.block_reader(fh)
        meta = dict(reader.metadata)
        out: list[Event] = []
        blocks = 0
        for block in reader:
            blocks += 1
            out += [Event(r["body"], r["headers"]) for r in block]
    return meta, out, blocks


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_avro_event_serializer(tmp_path: Path, codec: str) -> None:
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "AVRO_EVENT", "sink.serializer.compressionCodec": codec.upper()})
    first = [Event(b"body%d" % i, {"seq": str(i), "ключ": "значение"} if i % 2 else {}) for i in range(50)]
    second = [Event(b""), Event(bytes(range(256)) * 100, {"h": ""})]
    sink.write(first)
    sink.write(second)
    sink.stop()
    meta, got, blocks = read_avro(tmp_path / files(tmp_path)[0])
    assert json.loads(meta["avro.schema"]) == {
        "type": "record",
        "name": "Event",
        "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}}, {"name": "body", "type": "bytes"}],
    }
    assert meta["avro.codec"] == codec
    assert got == first + second
    assert blocks == 2  # one block per batch


def test_avro_sync_interval_splits_a_batch_into_blocks(tmp_path: Path) -> None:
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "avro_event", "sink.serializer.syncIntervalBytes": 100})
    batch = [Event(b"x" * 40) for _ in range(10)]
    sink.write(batch)
    sink.stop()
    _, got, blocks = read_avro(tmp_path / files(tmp_path)[0])
    assert got == batch and blocks == 4  # 41-byte records, a block closes at >= 100 bytes: 3+3+3+1


def test_avro_each_rolled_file_is_a_whole_container(tmp_path: Path) -> None:
    clocks = Clocks()
    sink = roll_sink(tmp_path, clocks, **{"sink.serializer": "avro_event", "sink.rollInterval": 5})
    sink.write(events(b"a"))
    clocks.advance(5)
    sink.write(events(b"b"))
    sink.stop()
    names = sorted(files(tmp_path), key=lambda n: int(n.rsplit("-", 1)[1]))
    assert [read_avro(tmp_path / n)[1] for n in names] == [events(b"a"), events(b"b")]


# one write per batch, failures


class WriteSpy:
    """Wraps os.write: records the size of every call; can write short or fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = os.write
        self.calls: list[int] = []
        self.short = 0
        """Write at most this many bytes per call (0: no limit)."""
        self.fail_after: int | None = None
        """Raise ENOSPC on this call number (0-based), after writing half of it."""
        monkeypatch.setattr(os, "write", self)

    def __call__(self, fd: int, data: Any) -> int:
        n = len(self.calls)
        self.calls.append(len(data))
        if self.fail_after is not None and n >= self.fail_after:
            self.real(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        if self.short:
            return self.real(fd, bytes(data[: self.short]))
        return self.real(fd, data)


def test_each_batch_is_one_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = WriteSpy(monkeypatch)
    sink = roll_sink(tmp_path, Clocks(), **{"sink.batchSize": 1000})
    batch = [Event(b"line-%04d" % i) for i in range(1000)]
    sink.write(batch)
    sink.write(batch[:10])
    assert spy.calls == [10 * 1000, 10 * 10]
    sink.stop()


def test_avro_header_goes_with_the_first_batch_in_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = WriteSpy(monkeypatch)
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "avro_event"})
    sink.write(events(b"a", b"b"))
    sink.write(events(b"c"))
    sink.stop()
    assert len(spy.calls) == 2
    assert spy.calls[0] == (tmp_path / files(tmp_path)[0]).stat().st_size - spy.calls[1]


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = WriteSpy(monkeypatch)
    spy.short = 7
    sink = roll_sink(tmp_path, Clocks())
    sink.write([Event(b"abcdefghij"), Event(b"klmnopqrst")])
    sink.stop()
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"abcdefghij\nklmnopqrst\n"
    assert spy.calls == [22, 15, 8, 1]


def test_failed_write_leaves_no_partial_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = WriteSpy(monkeypatch)
    sink = roll_sink(tmp_path, Clocks())
    sink.write(events(b"first", b"batch"))
    spy.fail_after = 1
    with pytest.raises(RetriableError, match=r"cannot write to .*No space left on device.*retried"):
        sink.write(events(b"second", b"batch!"))
    assert len(files(tmp_path)) == 1
    assert (tmp_path / files(tmp_path)[0]).read_bytes() == b"first\nbatch\n"  # the torn half was cut off
    spy.fail_after = None
    sink.write(events(b"second", b"batch!"))  # the retry goes to a fresh file
    sink.stop()
    contents = [(tmp_path / f).read_bytes() for f in sorted(files(tmp_path), key=lambda n: int(n.rsplit("-", 1)[1]))]
    assert contents == [b"first\nbatch\n", b"second\nbatch!\n"]


def test_failed_first_write_removes_the_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = WriteSpy(monkeypatch)
    spy.fail_after = 0
    sink = roll_sink(tmp_path, Clocks(), **{"sink.serializer": "avro_event"})
    for _ in range(3):
        with pytest.raises(RetriableError):
            sink.write(events(b"x"))
    assert files(tmp_path) == []
    spy.fail_after = None
    sink.write(events(b"x"))
    sink.stop()
    assert [read_avro(tmp_path / f)[1] for f in files(tmp_path)] == [events(b"x")]


def test_fsync_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    def spy(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    sink = roll_sink(tmp_path, Clocks())
    sink.write(events(b"a"))
    assert synced == []
    sink.stop()
    sink = roll_sink(tmp_path, Clocks(), **{"sink.fsync": "true"})
    sink.write(events(b"a"))
    sink.write(events(b"b"))
    assert len(synced) == 3  # the directory entry once, then each batch
    sink.stop()
    assert len(synced) == 4  # and the file when it closes


# directories


def test_missing_directory_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    sink = roll_sink(target, Clocks())
    assert target.is_dir()
    sink.write(events(b"x"))
    sink.stop()
    assert len(files(target)) == 1


def test_directory_deleted_while_running_is_recreated_on_the_next_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    clocks = Clocks()
    sink = roll_sink(target, clocks, **{"sink.rollInterval": 1})
    sink.write(events(b"x"))
    clocks.advance(1)
    sink.tick()
    for f in files(target):
        (target / f).unlink()
    target.rmdir()
    sink.write(events(b"y"))
    sink.stop()
    assert [(target / f).read_bytes() for f in files(target)] == [b"y\n"]


def test_unusable_directory_is_retriable_and_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file where a directory should be")
    target = blocker / "out"
    with caplog.at_level(logging.WARNING):
        sink = roll_sink(target, Clocks())  # start() only warns
    assert any(str(target) in r.getMessage() for r in caplog.records)
    with pytest.raises(RetriableError) as info:
        sink.write(events(b"x"))
    message = str(info.value)
    assert str(target) in message and "sink.directory" in message and "create it" in message
    assert sink.counter.connection_failed_count == 1
    blocker.unlink()  # the operator fixes it
    sink.write(events(b"x"))
    sink.stop()
    assert [(target / f).read_bytes() for f in files(target)] == [b"x\n"]
    assert files(target)[0].endswith("-1")


def test_open_refused_is_retriable_and_keeps_the_file_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open
    refuse = [True]

    def fake_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if refuse[0] and str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fake_open)
    sink = roll_sink(tmp_path, Clocks(1_700_000_000.0))
    for _ in range(3):
        with pytest.raises(RetriableError, match=r"cannot use directory .*Permission denied.*sink\.directory"):
            sink.write(events(b"x"))
    assert sink.counter.connection_failed_count == 3
    refuse[0] = False
    sink.write(events(b"x"))
    sink.stop()
    assert files(tmp_path) == ["1700000000000-1"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_permission_denied_is_retriable(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        sink = roll_sink(target, Clocks())
        with pytest.raises(RetriableError, match="ro"):
            sink.write(events(b"x"))
    finally:
        target.chmod(0o700)


def test_through_the_sink_driver_a_failure_rolls_back(tmp_path: Path, memory_channel: Any) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    sink = roll_sink(blocker / "out", Clocks(), **{"sink.batchSize": 10})
    sink.channel = memory_channel
    sink.counter = SinkCounter("k1", "file_roll")
    with memory_channel.put_transaction() as tx:
        tx.put([Event(b"%d" % i) for i in range(25)])
    driver = SinkDriver(sink)
    with pytest.raises(SinkFailure) as info:
        driver.drive()
    assert info.value.retriable
    assert memory_channel.size() == 25
    blocker.unlink()
    while not memory_channel.is_empty():
        driver.drive()
    sink.stop()
    out = blocker / "out"
    assert (out / files(out)[0]).read_bytes() == b"".join(b"%d\n" % i for i in range(25))
    assert sink.counter.event_write_fail == 10 and sink.counter.event_drain_success_count == 25
    assert sink.counter.connection_failed_count == 1 and sink.counter.connection_created_count == 1


# the shared sink contract (flafka-testkit), with AVRO_EVENT so headers travel too

try:
    from flafka_testkit.contracts import SinkContract
except ImportError:  # pragma: no cover - the test kit is not installed
    SinkContract = None  # type: ignore[assignment,misc]

if SinkContract is not None:

    class TestFileRollContract(SinkContract):
        sink_class = RollingFileSink

        @pytest.fixture
        def sink_settings(self, tmp_path: Path) -> dict[str, str]:
            self.directory = tmp_path / "out"
            return {"sink.directory": str(self.directory), "sink.serializer": "avro_event"}

        def read_back(self, sink: Any) -> list[Event]:
            names = sorted(os.listdir(self.directory), key=lambda n: int(n.rsplit("-", 1)[1]))
            # a file opened by a write that then failed is still empty (the retry fills it)
            names = [n for n in names if (self.directory / n).stat().st_size]
            return [e for name in names for e in read_avro(self.directory / name)[1]]


def test_file_roll_cuts_a_torn_last_line_left_by_a_kill(tmp_path):  # type: ignore[no-untyped-def]
    """A SIGKILL mid-write leaves part of an uncommitted batch at the end of the newest
    file; the next start cuts it back to the last newline (the batch is re-delivered)."""
    from flafka.sinks.file_roll import RollingFileSink
    from flafka.testing import make

    out = tmp_path / "out"
    out.mkdir()
    (out / "1700000000000-1").write_bytes(b"a\nb\n")
    torn = out / "1700000000001-1"
    torn.write_bytes(b"c\nd\npartial-li")
    os.utime(out / "1700000000000-1", (1, 1))
    (out / "not-ours.txt").write_bytes(b"left alone")
    sink = make(RollingFileSink, "k", **{"sink.directory": str(out), "sink.rollInterval": "0"})
    sink.start()
    sink.stop()
    assert torn.read_bytes() == b"c\nd\n"
    assert (out / "1700000000000-1").read_bytes() == b"a\nb\n"
    assert (out / "not-ours.txt").read_bytes() == b"left alone"
