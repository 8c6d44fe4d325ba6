"""spooldir keys, defaults, Flume names and configuration errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flafka.errors import ConfigError
from flafka.registry import Registry
from flafka.sources import spooldir
from flafka.sources.spooldir import SpoolDirectorySource

FLUME_DEFAULTS = {
    "fileSuffix": ".COMPLETED",
    "deletePolicy": "never",
    "fileHeader": False,
    "fileHeaderKey": "file",
    "basenameHeader": False,
    "basenameHeaderKey": "basename",
    "includePattern": "^.*$",
    "ignorePattern": "^$",
    "trackerDir": ".flumespool",
    "trackingPolicy": "rename",
    "consumeOrder": "oldest",
    "pollDelay": 500,
    "recursiveDirectorySearch": False,
    "maxBackoff": 4000,
    "batchSize": 100,
    "inputCharset": "UTF-8",
    "decodeErrorPolicy": "FAIL",
    "deserializer": "LINE",
    "deserializer.maxLineLength": 2048,
    "deserializer.outputCharset": "UTF-8",
    "deserializer.maxBlobLength": 100000000,
    "deserializer.schemaType": "HASH",
    "quarantineDir": ".flafka-quarantine",
    "backoffSleepIncrement": 1000,
    "maxBackoffSleep": 5000,
}

GIVEN = {
    "fileSuffix": (".DONE", ".DONE"),
    "deletePolicy": ("IMMEDIATE", "immediate"),
    "fileHeader": ("true", True),
    "fileHeaderKey": ("path", "path"),
    "basenameHeader": ("true", True),
    "basenameHeaderKey": ("name", "name"),
    "includePattern": (r"^.*\.log$", r"^.*\.log$"),
    "ignorePattern": (r"^tmp.*$", r"^tmp.*$"),
    "trackerDir": ("/var/lib/t", "/var/lib/t"),
    "trackingPolicy": ("tracker_dir", "tracker_dir"),
    "consumeOrder": ("youngest", "youngest"),
    "pollDelay": ("50", 50),
    "recursiveDirectorySearch": ("true", True),
    "maxBackoff": ("1000", 1000),
    "batchSize": ("7", 7),
    "inputCharset": ("ISO-8859-1", "ISO-8859-1"),
    "decodeErrorPolicy": ("replace", "REPLACE"),
    "deserializer": ("BLOB", "BLOB"),
    "deserializer.maxLineLength": ("10", 10),
    "deserializer.outputCharset": ("ISO-8859-1", "ISO-8859-1"),
    "deserializer.maxBlobLength": ("1000", 1000),
    "deserializer.schemaType": ("LITERAL", "LITERAL"),
    "quarantineDir": ("/q", "/q"),
    "backoffSleepIncrement": ("10", 10),
    "maxBackoffSleep": ("20", 20),
    "bufferMaxLines": ("10", 10),
    "bufferMaxLineLength": ("10", 10),
}


def test_every_flume_key_has_flumes_default(h, spool: Path) -> None:
    settings = h.parse(spool)
    assert settings["spoolDir"] == str(spool)
    for key, default in FLUME_DEFAULTS.items():
        assert settings[key] == default, key
    assert set(FLUME_DEFAULTS) | {"spoolDir", "bufferMaxLines", "bufferMaxLineLength"} == set(
        SpoolDirectorySource.settings_schema.known_keys()
    )


@pytest.mark.parametrize("key", sorted(GIVEN))
def test_every_key_parses(h, spool: Path, key: str) -> None:
    raw, value = GIVEN[key]
    settings = h.parse(spool, {key: raw})
    assert settings[key] == value
    SpoolDirectorySource("s", settings)  # the constructor accepts it too


def test_spooldir_is_required_and_bad_values_are_reported() -> None:
    _, problems = SpoolDirectorySource.settings_schema.parse({"deletePolicy": "sometimes", "batchSize": "0"})
    keys = {p.key for p in problems if p.severity == "error"}
    assert keys == {"spoolDir", "deletePolicy", "batchSize"}


def test_registered_under_flume_names() -> None:
    reg = Registry()
    for cls in spooldir.COMPONENTS:
        reg.add(cls, "builtins")
    assert reg.lookup("source", "spooldir") is SpoolDirectorySource
    assert reg.lookup("source", "org.apache.flume.source.SpoolDirectorySource") is SpoolDirectorySource
    assert SpoolDirectorySource.replayable


def test_blob_builder_class_name_is_accepted(h, spool: Path) -> None:
    src = SpoolDirectorySource("s", h.parse(spool, {"deserializer": "org.apache.flume.sink.solr.morphline.BlobDeserializer$Builder"}))
    assert src._kind == "BLOB"


@pytest.mark.parametrize("value", ["AVRO", "avro", "org.apache.flume.serialization.AvroEventDeserializer$Builder"])
def test_avro_deserializer_spellings(h, spool: Path, value: str) -> None:
    assert SpoolDirectorySource("s", h.parse(spool, {"deserializer": value}))._kind == "AVRO"


def test_unknown_deserializer_is_a_config_error(h, spool: Path) -> None:
    with pytest.raises(ConfigError, match=r"use LINE, BLOB .* or AVRO"):
        SpoolDirectorySource("s", h.parse(spool, {"deserializer": "com.x.My"}))


def test_avro_without_fastavro_says_how_to_install_it(h, spool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def no_fastavro(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        if name == "fastavro":
            raise ImportError("No module named 'fastavro'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_fastavro)
    with pytest.raises(ConfigError, match=r"source 's': deserializer = AVRO needs the fastavro package.*pip install 'flafka-core\[avro\]'"):
        SpoolDirectorySource("s", h.parse(spool, {"deserializer": "AVRO"}))


def test_non_ascii_compatible_charset_is_a_config_error(h, spool: Path) -> None:
    with pytest.raises(ConfigError, match="UTF-16"):
        SpoolDirectorySource("s", h.parse(spool, {"inputCharset": "UTF-16"}))


def test_obsolete_buffer_keys_warn(h, spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        SpoolDirectorySource("s", h.parse(spool, {"bufferMaxLines": "100"}))
    assert "bufferMaxLines is obsolete" in caplog.text


def test_missing_spooldir_fails_at_start_naming_the_path_and_fix(h, tmp_path: Path) -> None:
    src = h.make_source(tmp_path / "nope", start=False)
    with pytest.raises(ConfigError) as info:
        src.start()
    assert str(tmp_path / "nope") in str(info.value) and "mkdir -p" in str(info.value)


def test_relative_dirs_are_under_spooldir_absolute_dirs_are_kept(h, spool: Path, tmp_path: Path) -> None:
    h.make_source(spool)
    assert (spool / ".flumespool").is_dir() and (spool / ".flafka-quarantine").is_dir()
    h.make_source(spool, {"trackerDir": str(tmp_path / "t"), "quarantineDir": str(tmp_path / "q")})
    assert (tmp_path / "t").is_dir() and (tmp_path / "q").is_dir()


def test_backoff_delays(h, spool: Path) -> None:
    src = h.make_source(spool, {"pollDelay": "50", "maxBackoff": "1000"})
    src._backoff_reason = "idle"
    assert src.backoff_delay(7) == 0.05
    src._backoff_reason = "full"
    assert [src.backoff_delay(n) for n in (1, 2, 3, 4, 9)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    src = h.make_source(spool, {"maxBackoffSleep": "300", "backoffSleepIncrement": "100"})
    src._backoff_reason = "full"
    assert [src.backoff_delay(n) for n in (1, 2, 5)] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("key", ["pollDelay", "maxBackoff"])
def test_delays_have_a_maximum(key: str, tmp_path: Path) -> None:
    """Issue 17: pollDelay = 99999999999999 passed validation and killed the source thread
    (OverflowError in the idle wait); the value is refused, naming the key and the bound."""
    _, problems = SpoolDirectorySource.settings_schema.parse({"spoolDir": str(tmp_path), key: "99999999999999"})
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 and errors[0].key == key and "above the maximum" in errors[0].message
    settings, problems = SpoolDirectorySource.settings_schema.parse({"spoolDir": str(tmp_path), key: "86400000"})
    assert not [p for p in problems if p.severity == "error"] and settings[key] == 86_400_000
