"""http handlers are a plugin kind: a third-party handler registered through a ``flafka``
entry point serves requests by name (and alias), its ``handler.*`` keys are checked by its
schema, Flume's handler class names resolve through the registry, module paths still work,
and ``flafka validate`` names an unknown handler with did-you-mean on its line."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from flafka import plugins
from flafka.cli import main
from flafka.config.loader import load_config
from flafka.errors import ConfigError
from flafka.plugins import PluginReport
from flafka.sources.http import HttpSource
from flafka.sources.httphandlers import BLOBHandler, JSONHandler, MorphlineBlobHandler, resolve_handler
from flafka.testing import make

from .conftest import drain, wire

PLUGINS = Path(__file__).resolve().parents[3] / "tests" / "plugins"


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginReport]:
    """The process's plugins: core's built-ins and the test plugin (entry point 'csvlines')."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    rep = plugins.load_plugins(
        env={},
        entry_points=[EntryPoint("builtins", "flafka.builtins", "flafka"), EntryPoint("csvlines", "flafka_test_http_handler", "flafka")],
    )
    assert not rep.errors, [e.format() for e in rep.errors]
    monkeypatch.setattr(plugins, "plugin_report", lambda: rep)
    monkeypatch.setattr(plugins, "get_registry", lambda: rep.registry)
    yield rep
    sys.modules.pop("flafka_test_http_handler", None)


def post(port: int, body: bytes, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def serve(**keys: object) -> tuple[HttpSource, object]:
    src = make(HttpSource, "h1", bind="127.0.0.1", port=0, **keys)
    ch = wire(src)
    src.start()
    return src, ch


def test_the_plugin_is_registered_as_an_http_handler(report: PluginReport) -> None:
    cls = report.registry.lookup("http_handler", "CSVLINES")
    assert cls is not None and cls.type_name == "csvlines"
    assert report.registry.lookup("http_handler", "com.example.flume.CsvLinesHandler") is cls
    assert report.registry.registration("http_handler", "csvlines").plugin == "csvlines"  # type: ignore[union-attr]
    entries = report.plugin("csvlines").components  # type: ignore[union-attr]
    assert [(e.kind, e.type_name) for e in entries] == [("http_handler", "csvlines")]


@pytest.mark.parametrize("name", ["csvlines", "com.example.flume.CsvLinesHandler"])
def test_a_plugin_handler_serves_requests_by_name_and_alias(report: PluginReport, name: str) -> None:
    src, ch = serve(handler=name, **{"handler.headerName": "k"})
    try:
        assert post(src.address[1], b"a,1\nb,2\n")[0] == 200
        assert [(e.headers, e.body) for e in drain(ch)] == [({"k": "a"}, b"1"), ({"k": "b"}, b"2")]
        status, reason = post(src.address[1], b"no comma")
        assert status == 400 and b"line 1 has no comma" in reason
        assert drain(ch) == []
    finally:
        src.stop()


def test_plugin_keys_are_checked_by_its_schema(report: PluginReport) -> None:
    with pytest.raises(ConfigError, match=r"source 'h1': handler\.headerNam: unknown key.*did you mean 'handler\.headerName'"):
        make(HttpSource, "h1", port=0, handler="csvlines", **{"handler.headerNam": "k"})
    with pytest.raises(ConfigError, match=r"handler\.headerName: headerName is empty; set it to a header name"):
        make(HttpSource, "h1", port=0, handler="csvlines", **{"handler.headerName": ""})


def test_flume_class_names_resolve_through_the_registry(report: PluginReport) -> None:
    reg = report.registry
    assert reg.lookup("http_handler", "org.apache.flume.source.http.JSONHandler") is JSONHandler
    assert reg.lookup("http_handler", "org.apache.flume.source.http.BLOBHandler") is BLOBHandler
    assert reg.lookup("http_handler", "org.apache.flume.sink.solr.morphline.BlobHandler") is MorphlineBlobHandler
    spec, problems = resolve_handler("h1", "org.apache.flume.sink.solr.morphline.BlobHandler", {"maxBlobLength": "5"})
    assert problems == [] and spec is not None and spec.cls is MorphlineBlobHandler


def test_morphline_blob_handler_headers_and_max_length(report: PluginReport) -> None:
    src, ch = serve(handler="org.apache.flume.sink.solr.morphline.BlobHandler", **{"handler.maxBlobLength": "8"})
    try:
        status, _ = post(src.address[1], b"\x00blob\xff", "/?resourceName=x.avro", {"Content-Type": "application/octet-stream"})
        assert status == 200
        (event,) = drain(ch)
        assert event.body == b"\x00blob\xff" and event.headers == {"resourceName": "x.avro", "Content-Type": "application/octet-stream"}
        status, reason = post(src.address[1], b"123456789")
        assert status == 400 and b"handler.maxBlobLength (8)" in reason  # refused, never cut
        assert drain(ch) == []
    finally:
        src.stop()


def test_validate_names_an_unknown_handler_with_did_you_mean_on_its_line(report: PluginReport, tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(
        "a.sources = s\na.channels = c\na.sinks = k\n"
        "a.sources.s.type = http\na.sources.s.port = 0\na.sources.s.channels = c\n"
        "a.sources.s.handler = csvline\n"
        "a.channels.c.type = memory\na.sinks.k.type = null\na.sinks.k.channel = c\n"
    )
    result = load_config([conf], "a", report.registry)
    (error,) = [d for d in result.diagnostics if d.is_error]
    assert error.line == 7 and "unknown http handler 'csvline'" in error.message and "did you mean 'csvlines'" in error.suggestion
    conf.write_text(conf.read_text().replace("csvline\n", "org.apache.flume.source.http.JSONHandlr\n"))
    out = CliRunner().invoke(main, ["validate", "-f", str(conf), "-n", "a"])
    assert out.exit_code == 2, out.output
    assert "unknown http handler 'org.apache.flume.source.http.JSONHandlr'" in out.stdout
    assert "did you mean 'org.apache.flume.source.http.JSONHandler'" in out.stdout
    conf.write_text(conf.read_text().replace("JSONHandlr", "JSONHandler") + "a.sources.s.handler.mandatoryParameters = x\n")
    (error,) = [d for d in load_config([conf], "a", report.registry).diagnostics if d.is_error]
    assert error.line == 11 and "unknown key 'a.sources.s.handler.mandatoryParameters' for http handler JSONHandler" in error.message
    text = conf.read_text().replace("org.apache.flume.source.http.JSONHandler", "csvlines")
    conf.write_text(text.replace("mandatoryParameters", "headerName"))
    assert load_config([conf], "a", report.registry).plan is not None


def test_flafka_describe_lists_the_handler_kind(report: PluginReport) -> None:
    out = CliRunner().invoke(main, ["describe", "csvlines", "--kind", "http_handler"])
    assert out.exit_code == 0, out.output
    assert "headerName" in out.stdout
