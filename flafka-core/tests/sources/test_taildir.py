"""TAILDIR: lines, headers, Flume's position file, delivery-only positions, rotation,
truncation, idle last lines, bad position files, and the shared source contract."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flafka.position import PositionFileError
from flafka.source import Status
from flafka.sources.taildir import TaildirSource
from flafka.testing import make
from flafka_testkit.contracts import SourceCapabilities, SourceContract

from .conftest import drain, wire


def _source(tmp_path: Path, **keys: object) -> TaildirSource:
    raw = {
        "filegroups": "f1",
        "filegroups.f1": str(tmp_path / "logs" / r"app.*\.log"),
        "positionFile": str(tmp_path / "pos" / "taildir_position.json"),
        "writePosInterval": 0,
        **keys,
    }
    return make(TaildirSource, "t1", **raw)


def _poll(src: TaildirSource, times: int = 5) -> None:
    for _ in range(times):
        if src.process() is Status.BACKOFF:
            break


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


def test_lines_headers_and_flume_position_file(tmp_path: Path, logs: Path) -> None:
    (logs / "app1.log").write_bytes(b"one\r\ntwo\n")
    (logs / "other.txt").write_bytes(b"not matched\n")
    src = _source(tmp_path, **{"headers.f1.dc": "eu", "fileHeader": "true", "byteOffsetHeader": "true"})
    ch = wire(src)
    src.start()
    _poll(src)
    events = drain(ch)
    path = str(logs / "app1.log")
    assert [(e.body, e.headers) for e in events] == [
        (b"one", {"dc": "eu", "file": path, "byteoffset": "0"}),
        (b"two", {"dc": "eu", "file": path, "byteoffset": "5"}),
    ]
    _poll(src)
    src.stop()
    saved = json.loads((tmp_path / "pos" / "taildir_position.json").read_text())
    assert saved == [{"inode": os.stat(logs / "app1.log").st_ino, "pos": 9, "file": path}]


def test_position_advances_only_past_delivered_events(tmp_path: Path, logs: Path) -> None:
    (logs / "app.log").write_bytes(b"".join(b"line-%d\n" % i for i in range(250)))
    src = _source(tmp_path)
    ch = wire(src, capacity=1000)
    src.start()
    _poll(src)
    assert ch.size() == 250  # read, not delivered
    src.stop()
    assert not (tmp_path / "pos" / "taildir_position.json").exists()
    again = _source(tmp_path)
    ch2 = wire(again)
    again.start()
    _poll(again)
    assert [e.body for e in drain(ch2)] == [b"line-%d" % i for i in range(250)]
    _poll(again)
    again.stop()
    third = _source(tmp_path)
    ch3 = wire(third)
    third.start()
    _poll(third)
    assert drain(ch3) == []
    third.stop()


def test_unterminated_line_waits_then_comes_out_when_idle(tmp_path: Path, logs: Path) -> None:
    f = logs / "app.log"
    f.write_bytes(b"whole\npart")
    src = _source(tmp_path, idleTimeout=300)
    ch = wire(src)
    src.start()
    _poll(src)
    assert [e.body for e in drain(ch)] == [b"whole"]
    with f.open("ab") as out:
        out.write(b"ial")
    _poll(src)
    assert drain(ch) == []
    time.sleep(0.4)
    _poll(src)
    assert [e.body for e in drain(ch)] == [b"partial"]
    src.stop()


def test_rename_rotation_reads_every_line_once(tmp_path: Path, logs: Path) -> None:
    f = logs / "app.log"
    src = _source(tmp_path, **{"filegroups.f1": str(logs / r"app\.log")})
    ch = wire(src, capacity=10_000)
    src.start()
    got: list[bytes] = []
    n = 0
    for rotation in range(5):
        with f.open("ab") as out:
            for _ in range(100):
                out.write(b"r%d-%d\n" % (rotation, n))
                n += 1
            out.flush()
            if rotation % 2:
                _poll(src)  # sometimes read part before the rotation
            else:
                src._refresh()  # only seen (a file never seen before it is renamed away cannot be followed)
            for _ in range(50):
                out.write(b"r%d-%d\n" % (rotation, n))
                n += 1
        os.rename(f, logs / f"app.log.{rotation}")
        _poll(src)
        got += [e.body for e in drain(ch)]
    _poll(src)
    got += [e.body for e in drain(ch)]
    src.stop()
    assert sorted(got, key=lambda b: int(b.split(b"-")[1])) == got  # in order
    assert [int(b.split(b"-")[1]) for b in got] == list(range(n))


def test_copytruncate_reads_from_zero(tmp_path: Path, logs: Path) -> None:
    f = logs / "app.log"
    f.write_bytes(b"a\nb\n")
    src = _source(tmp_path)
    ch = wire(src)
    src.start()
    _poll(src)
    assert len(drain(ch)) == 2
    f.write_bytes(b"c\n")  # truncated and rewritten
    _poll(src)
    assert [e.body for e in drain(ch)] == [b"c"]
    src.stop()


def test_skip_to_end(tmp_path: Path, logs: Path) -> None:
    f = logs / "app.log"
    f.write_bytes(b"old\n")
    src = _source(tmp_path, skipToEnd="true")
    ch = wire(src)
    src.start()
    with f.open("ab") as out:
        out.write(b"new\n")
    _poll(src)
    assert [e.body for e in drain(ch)] == [b"new"]
    src.stop()


def test_long_line_is_cut_with_exact_offsets(tmp_path: Path, logs: Path) -> None:
    (logs / "app.log").write_bytes(b"x" * 2500 + b"\nshort\n")
    src = _source(tmp_path, maxLineLength=1000)
    ch = wire(src)
    src.start()
    _poll(src)
    assert [len(e.body) for e in drain(ch)] == [1000, 1000, 500, 5]
    assert src.counter.errors[("line_cut", "receiving")] == 2
    src.stop()


def test_corrupt_position_file_is_a_sentence_with_the_fix(tmp_path: Path, logs: Path) -> None:
    pos = tmp_path / "pos" / "taildir_position.json"
    pos.parent.mkdir()
    pos.write_text('[{"inode": 1, "pos": ')
    src = _source(tmp_path)
    wire(src)
    with pytest.raises(PositionFileError, match="move it away"):
        src.start()


def test_vanished_files_in_the_position_file_are_one_warning(tmp_path: Path, logs: Path, caplog) -> None:
    pos = tmp_path / "pos" / "taildir_position.json"
    pos.parent.mkdir()
    pos.write_text('[{"inode": 999999999, "pos": 10, "file": "/gone/app.log"}]')
    (logs / "app.log").write_bytes(b"x\n")
    src = _source(tmp_path)
    ch = wire(src)
    src.start()
    _poll(src)
    assert [e.body for e in drain(ch)] == [b"x"]
    assert caplog.text.count("no file group matches") == 1 and "/gone/app.log" in caplog.text
    src.stop()


def test_missing_group_path_is_reported() -> None:
    settings, _ = TaildirSource.settings_schema.parse({"filegroups": "f1 f2", "filegroups.f1": "/var/log/a.log"})
    assert [p.key for p in TaildirSource.check_settings(settings)] == ["filegroups.f2"]


class TestTaildirContract(SourceContract):
    source_class = TaildirSource
    capabilities = SourceCapabilities(replayable=True, empty_bodies=True, settle_seconds=1.0)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        (tmp_path / "logs").mkdir(exist_ok=True)
        return {
            "filegroups": "f1",
            "filegroups.f1": str(tmp_path / "logs" / r".*\.log"),
            "positionFile": str(tmp_path / "pos.json"),
            "writePosInterval": "0",
        }

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        directory = Path(settings["filegroups.f1"]).parent
        with (directory / "data.log").open("ab") as out:
            out.write(b"".join(b + b"\n" for b in bodies))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=50))
def test_fuzz_every_byte_is_read_once(tmp_path_factory: pytest.TempPathFactory, data: bytes, limit: int, batch: int) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "logs").mkdir()
    (tmp / "logs" / "app.log").write_bytes(data)
    src = _source(tmp, maxLineLength=limit, batchSize=batch, idleTimeout=0)
    ch = wire(src, capacity=100_000, tx=1000)
    src.start()
    for _ in range(len(data) + 3):
        src.process()
    events = drain(ch)
    src.stop()
    assert all(len(e.body) <= limit for e in events)
    # every byte but the newlines (and a \r right before one) comes back, in order
    assert b"".join(e.body for e in events) == data.replace(b"\r\n", b"\n").replace(b"\n", b"")
    assert sum(1 for _ in events) >= data.count(b"\n")
