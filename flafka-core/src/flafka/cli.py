"""The ``flafka`` command: ``agent`` (the ``flume-ng agent`` flags), ``validate``,
``plugins``, ``describe``, ``migrate``, ``version``, and the commands plugins add through
``flafka_register_commands``.

Exit statuses of ``flafka agent``: 0 stopped cleanly (channels drained), 1 the stop timed
out or failed (events left in channels), 2 configuration error, 3 runtime failure.
``validate``, ``describe`` and ``migrate`` exit 2 on user errors.

Startup is kept fast: the runtime, config loader and plugins are imported when a command
needs them, never at import of this module.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from flafka import __version__

if TYPE_CHECKING:
    from flafka.agent import Agent
    from flafka.config.diagnostics import Diagnostic
    from flafka.config.loader import LoadResult
    from flafka.plugins import PluginReport

MAX_AGENTS_WITHOUT_NAME = 100
"""Agents ``flafka validate`` without ``-n`` checks (each is a full pass over the files)."""

EXIT_OK = 0
EXIT_STOP_FAILED = 1
EXIT_CONFIG = 2
EXIT_RUNTIME = 3

CORE_COMMANDS = ("agent", "validate", "plugins", "describe", "migrate", "version", "top", "test")
KINDS = ("source", "channel", "sink", "interceptor", "selector", "sink_processor", "serializer", "http_handler")

log = logging.getLogger("flafka.cli")


def _err(text: str) -> None:
    click.echo(text, err=True)


def _fail(text: str, status: int = EXIT_CONFIG) -> NoReturn:
    _err(f"flafka: {text}")
    sys.exit(status)


def _report() -> PluginReport:
    from flafka.plugins import plugin_report

    return plugin_report()


# -- the command group --------------------------------------------------------------------


LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "test": ("flafka.pipeline_test", "test_command"),
    "top": ("flafka.top", "top"),
}
"""Core commands in their own modules, imported when named (``flafka agent`` never imports
them): command name -> (module, attribute)."""


class FlafkaGroup(click.Group):
    """A click group that adds plugin commands on first need: ``flafka agent`` never loads
    plugin commands, ``flafka --help`` and unknown command names do. The core commands of
    :data:`LAZY_COMMANDS` are imported the first time they are named or listed."""

    _loaded_for: object = None

    def _lazy_command(self, cmd_name: str) -> None:
        where = LAZY_COMMANDS.get(cmd_name)
        if where is not None and cmd_name not in self.commands:
            import importlib

            self.add_command(getattr(importlib.import_module(where[0]), where[1]), cmd_name)

    def _plugin_commands(self) -> None:
        report = _report()
        if self._loaded_for is report:
            return
        self._loaded_for = report
        for cmd_name in LAZY_COMMANDS:  # before plugins: a plugin may not replace them either
            self._lazy_command(cmd_name)
        from flafka.plugins import register_commands

        register_commands(self, report, protected=CORE_COMMANDS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._lazy_command(cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command


@click.group(cls=FlafkaGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="flafka", message="%(prog)s %(version)s")
def main() -> None:
    """Flafka runs Apache Flume configuration files in Python.

    \b
    flafka agent -n agent -f pipeline.conf     run an agent (flume-ng agent flags)
    flafka validate -f pipeline.conf           report every problem in a config
    flafka describe spooldir                   the keys a component type accepts
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")  # a config's lone surrogate never crashes a message


# -- -D system properties, logging, config ------------------------------------------------


def parse_defines(defines: Iterable[str]) -> dict[str, str]:
    """``-Dkey=value`` options as a dict (``-Dkey`` alone sets ``""``, as Java does)."""
    props: dict[str, str] = {}
    for item in defines:
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            _fail(f"'-D{item}' names no property; write -Dkey=value (e.g. -Dflume.monitoring.type=http)")
        props[key] = value.strip()
    return props


_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 10,
}
LOG_FORMAT = "%(asctime)s %(levelname)-5s [%(threadName)s] %(name)s: %(message)s"


def setup_logging(props: Mapping[str, str]) -> list[str]:
    """Apply ``-Dflume.root.logger=LEVEL,appender`` (``console`` is stderr; ``LOGFILE``
    writes ``${flume.log.dir}/${flume.log.file}``, default ``./logs/flume.log``). The
    default is ``INFO,console``. Returns notes for the user (unknown appenders...)."""
    notes: list[str] = []
    spec = props.get("flume.root.logger", "INFO,console")
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    level_name = (parts[0] if parts else "INFO").upper()
    level = _LEVELS.get(level_name)
    if level is None:
        notes.append(f"unknown log level '{parts[0]}' in -Dflume.root.logger; using INFO (levels: {', '.join(_LEVELS)})")
        level = logging.INFO
    handlers: list[logging.Handler] = []
    for appender in parts[1:] or ["console"]:
        low = appender.lower()
        if low == "console":
            handlers.append(logging.StreamHandler(sys.stderr))
        elif low in ("logfile", "rollingfile", "daily"):
            directory = Path(props.get("flume.log.dir", "./logs"))
            try:
                directory.mkdir(parents=True, exist_ok=True)
                handlers.append(logging.FileHandler(directory / props.get("flume.log.file", "flume.log"), encoding="utf-8"))
            except OSError as exc:
                notes.append(f"cannot write the log file in '{directory}' ({exc.strerror or exc}); logging to the console instead")
                handlers.append(logging.StreamHandler(sys.stderr))
        else:
            notes.append(f"unknown log appender '{appender}' in -Dflume.root.logger; use console or LOGFILE")
    if not handlers:
        handlers.append(logging.StreamHandler(sys.stderr))
    from flafka.config.diagnostics import not_building

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    formatter = logging.Formatter(LOG_FORMAT)
    for h in handlers:
        h.setFormatter(formatter)
        h.addFilter(not_building)  # what constructors log while the loader builds them is a diagnostic
        root.addHandler(h)
    root.setLevel(level)
    return notes


def conflict_diagnostics(files: Sequence[str], agent_name: str, report: PluginReport) -> list[Diagnostic]:
    """Errors for every ``type`` line of ``agent_name`` that names a type two plugins claim."""
    from flafka.config.diagnostics import Diagnostic
    from flafka.config.properties import parse_file

    if not report.conflicts:
        return []
    out: list[Diagnostic] = []
    for f in files:
        try:
            parsed = parse_file(f)
        except OSError:
            continue  # the loader reports unreadable files
        for entry in parsed.entries:
            parts = entry.key.strip().split(".")
            if parts[0] != agent_name or len(parts) < 4 or not (parts[-1] in ("type", "handler") or parts[-1].endswith("serializer")):
                continue
            conflict = report.conflict_for(_kind_of_key(parts), entry.value)
            if conflict is None:
                continue
            out.append(
                Diagnostic(
                    "error",
                    f"type '{entry.value.strip()}' is claimed by two plugins ('{conflict.kept}' and '{conflict.refused}'), "
                    "so flafka cannot tell which one you mean",
                    entry.file,
                    entry.line,
                    entry.key.strip(),
                    f"uninstall one of them, or disable one with FLAFKA_DISABLE_PLUGINS={conflict.refused}",
                )
            )
    return out


def _kind_of_key(parts: list[str]) -> str | None:
    section = parts[1]
    if section == "sources":
        if "interceptors" in parts[3:]:
            return "interceptor"
        if parts[3] == "selector":
            return "selector"
        if parts[3:] == ["handler"]:
            return "http_handler"
        return "source" if len(parts) == 4 else None
    if section == "channels":
        return "channel" if len(parts) == 4 else None
    if section == "sinks":
        return "sink" if len(parts) == 4 else None
    if section == "sinkgroups":
        return "sink_processor"
    return None


def load(files: Sequence[str], agent_name: str, report: PluginReport, props: Mapping[str, str]) -> LoadResult:
    """The loader's result for ``agent_name``, plus errors for types two plugins claim."""
    from flafka.config.loader import load_config

    result = load_config(list(files), agent_name, report.registry, system_properties=dict(props), env=os.environ)
    conflicts = conflict_diagnostics(files, agent_name, report)
    if conflicts:
        result.diagnostics.extend(conflicts)
        result.plan = None
    return result


def _print_plugin_errors(report: PluginReport) -> None:
    for err in report.errors:
        _err(f"warning: {err.format()}")


def _counts(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


# -- flafka agent -------------------------------------------------------------------------


class _FlumeArgs(click.Command):
    """Accepts flume-ng's JVM options (``-Xmx512m``) and ignores them with a note."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        kept: list[str] = []
        ignored: list[str] = []
        for arg in args:
            if arg.startswith("-X") and len(arg) > 2:
                ignored.append(arg)
            elif arg == "-prov":
                kept.append("--conf-provider")
            else:
                kept.append(arg)
        ctx.meta["flafka.ignored_jvm_options"] = ignored
        return super().parse_args(ctx, kept)


def _conf_dir_notes(conf_dir: str) -> list[str]:
    path = Path(conf_dir)
    if not path.is_dir():
        return [f"--conf directory '{conf_dir}' does not exist; flafka does not need it (the config file goes with -f)"]
    notes = []
    unused = sorted(p.name for p in path.iterdir() if p.name == "flume-env.sh" or p.name.startswith("log4j"))
    if unused:
        notes.append(
            f"{', '.join(unused)} in '{conf_dir}' not used: flafka reads no flume-env.sh (set environment variables in the shell) "
            "and no log4j file (use -Dflume.root.logger=LEVEL,console or LEVEL,LOGFILE)"
        )
    return notes


MAX_PROPERTY_SECONDS = 2**31 - 1
"""The largest number of seconds a ``-D`` time property takes (68 years; every wait the
runtime makes can use it)."""
MAX_GC_THRESHOLD = 2**31 - 1
"""The largest ``-Dflafka.gc.threshold`` (the collector's threshold is a C int)."""


def _float_prop(props: Mapping[str, str], key: str, default: float, maximum: float = MAX_PROPERTY_SECONDS) -> float:
    """A ``-D`` number of seconds: finite, 0 <= value <= ``maximum``; anything else exits 2."""
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        _fail(f"-D{key}={raw} is not a number; give seconds, e.g. -D{key}={default:g}")
    if not math.isfinite(value):
        _fail(f"-D{key}={raw} is not a finite number; give seconds, e.g. -D{key}={default:g}")
    if value < 0:
        _fail(f"-D{key}={raw} is negative; give 0 or more seconds")
    if value > maximum:
        _fail(f"-D{key}={raw} is above the maximum {maximum:.0f}; give at most {maximum:.0f}")
    return value


def runtime_properties(props: Mapping[str, str]) -> tuple[float, float, int]:
    """(stop timeout, status interval, GC threshold) from ``-Dflafka.*``; a bad value
    exits 2 with a sentence naming the property (``agent`` and ``validate`` alike)."""
    from flafka.metrics.status import DEFAULT_INTERVAL
    from flafka.tuning import DEFAULT_YOUNG_THRESHOLD

    return (
        _float_prop(props, "flafka.stop.timeout", 30.0),
        _float_prop(props, "flafka.status.interval", DEFAULT_INTERVAL),
        _int_prop(props, "flafka.gc.threshold", DEFAULT_YOUNG_THRESHOLD, MAX_GC_THRESHOLD),
    )


def _int_prop(props: Mapping[str, str], key: str, default: int, maximum: int) -> int:
    """A ``-D`` whole number, 0 <= value <= ``maximum``; anything else exits 2."""
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        _fail(f"-D{key}={raw} is not a whole number; give e.g. -D{key}={default}")
    if not 0 <= value <= maximum:
        _fail(f"-D{key}={raw} is out of range; give 0 to {maximum} (0 keeps Python's defaults)")
    return value


class _Signals:
    """SIGTERM/SIGINT request a graceful stop (a second one forces exit 1); SIGHUP
    requests a reload."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.received = 0
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._on_stop)
        if hasattr(signal, "SIGHUP"):
            self.previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hup)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _on_stop(self, signum: int, frame: object) -> None:
        self.received += 1
        if self.received > 1:
            os.write(2, b"flafka: second stop signal: exiting now without draining\n")
            os._exit(EXIT_STOP_FAILED)
        log.info("%s received: stopping (sources first, then sinks drain); send it again to exit at once", signal.Signals(signum).name)
        self.stop.set()

    def _on_hup(self, signum: int, frame: object) -> None:
        self.reload.set()


def _mtimes(files: Sequence[str]) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for f in files:
        try:
            st = os.stat(f)
            out[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[f] = None
    return out


def _start_monitoring(props: Mapping[str, str], counters: Callable[[], Any]) -> Any:
    kind = props.get("flume.monitoring.type", "").strip()
    if not kind:
        return None
    if kind.lower() != "http":
        log.warning(
            "flume.monitoring.type=%s is not supported; only http is (Flume-compatible JSON at /metrics, Prometheus at "
            "/metrics/prometheus); continuing without monitoring",
            kind,
        )
        return None
    from flafka.metrics.http import DEFAULT_HOST, DEFAULT_PORT, MetricsServer

    raw_port = props.get("flume.monitoring.port", str(DEFAULT_PORT)).strip()
    try:
        port = int(raw_port)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        _fail(f"-Dflume.monitoring.port={raw_port} is not a port number; give 1-65535 (default {DEFAULT_PORT})")
    host = props.get("flume.monitoring.host", DEFAULT_HOST).strip() or DEFAULT_HOST
    server = MetricsServer(counters, host, port)
    try:
        server.start()
    except OSError as exc:
        _fail(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; choose another port with -Dflume.monitoring.port=N",
            EXIT_RUNTIME,
        )
    log.info("metrics at %s (Prometheus text at %s/prometheus)", server.url, server.url)
    return server


@main.command(cls=_FlumeArgs, context_settings={"ignore_unknown_options": False})
@click.option("-n", "--name", "name", required=True, metavar="AGENT", help="Agent name: the prefix of the keys to run.")
@click.option("-f", "--conf-file", "conf_files", multiple=True, metavar="FILE", help="Flume properties file; repeat to merge (later wins).")
@click.option("-c", "--conf", "conf_dir", metavar="DIR", help="Flume's conf directory (accepted; flafka does not need it).")
@click.option("-D", "defines", multiple=True, metavar="KEY=VALUE", help="System property, e.g. -Dflume.monitoring.type=http.")
@click.option("--no-reload-conf", is_flag=True, help="Do not reload the config when the files change (or on SIGHUP).")
@click.option(
    "-i",
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to check the config files for changes.",
)
@click.option("--exit-when-drained", is_flag=True, help="Stop (exit 0) once every source is exhausted and every channel is empty.")
@click.option("-C", "--classpath", hidden=True)
@click.option("--plugins-path", hidden=True)
@click.option("-z", "--zkConnString", "zk", hidden=True)
@click.option("-p", "--zkBasePath", "zk_base", hidden=True)
@click.option("-u", "--conf-uri", "conf_uris", multiple=True, hidden=True)
@click.option("--conf-provider", hidden=True)
@click.pass_context
def agent(
    ctx: click.Context,
    name: str,
    conf_files: tuple[str, ...],
    conf_dir: str | None,
    defines: tuple[str, ...],
    no_reload_conf: bool,
    poll_interval: float,
    exit_when_drained: bool,
    classpath: str | None,
    plugins_path: str | None,
    zk: str | None,
    zk_base: str | None,
    conf_uris: tuple[str, ...],
    conf_provider: str | None,
) -> None:
    """Run an agent (same flags as `flume-ng agent`).

    \b
    Exit status: 0 stopped cleanly, 1 stop timed out (events left in channels),
    2 configuration error, 3 runtime failure.
    SIGTERM/Ctrl-C: sources stop, sinks drain (-Dflafka.stop.timeout, default 30 s);
    a second Ctrl-C exits at once. SIGHUP or a changed file reloads the config.
    """
    props = parse_defines(defines)
    notes = setup_logging(props)
    if zk or zk_base:
        _fail("ZooKeeper configuration (-z/-p) is not supported; save the properties to a file and pass it with -f")
    if conf_provider:
        _fail("custom configuration providers (-prov/--conf-provider) are not supported; pass the properties file with -f")
    files = list(conf_files)
    for uri in conf_uris:
        if uri.startswith("file:"):
            files.append(uri[len("file://") :] if uri.startswith("file://") else uri[len("file:") :])
        else:
            _fail(f"--conf-uri {uri}: only file: URIs are supported; download the file and pass it with -f")
    if not files:
        _fail("no config file given; pass the Flume properties file with -f/--conf-file FILE (-c/--conf names a directory)")
    ignored = ctx.meta.get("flafka.ignored_jvm_options") or []
    if ignored:
        notes.append(f"JVM options ignored: {' '.join(ignored)}")
    if classpath or plugins_path:
        notes.append("--classpath/--plugins-path ignored: flafka finds plugins by Python entry points (`flafka plugins`)")
    if conf_dir:
        notes.extend(_conf_dir_notes(conf_dir))
    for note in notes:
        _err(f"note: {note}")
    status = run_agent(files, name, props, reload_conf=not no_reload_conf, poll_interval=poll_interval, exit_when_drained=exit_when_drained)
    sys.exit(status)


def run_agent(
    files: Sequence[str],
    name: str,
    props: Mapping[str, str],
    *,
    reload_conf: bool = True,
    poll_interval: float = 30.0,
    exit_when_drained: bool = False,
) -> int:
    """Load, validate and run agent ``name`` until stopped; return the exit status.

    The cyclic garbage collector is off while the agent loads and starts (imports and the
    loader allocate tens of thousands of long-lived objects: young collections would only
    walk them); :func:`~flafka.tuning.tune_gc` turns it back on once the agent runs, and a
    failed start turns it back on as it was."""
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_agent(files, name, props, reload_conf, poll_interval, exit_when_drained, gc_enabled)
    finally:
        if gc_enabled:
            gc.enable()


def _run_agent(
    files: Sequence[str],
    name: str,
    props: Mapping[str, str],
    reload_conf: bool,
    poll_interval: float,
    exit_when_drained: bool,
    gc_enabled: bool,
) -> int:
    report = _report()
    _print_plugin_errors(report)
    stamps = _mtimes(files)
    result = load(files, name, report, props)
    for d in result.diagnostics:
        _err(d.format())
    if result.plan is None:
        _err(f"flafka: agent '{name}' not started: {_counts(result.diagnostics)} (`flafka validate` prints the same report)")
        return EXIT_CONFIG

    from flafka.agent import Agent, StartError
    from flafka.errors import ConfigError
    from flafka.tuning import tune_gc

    stop_timeout, status_interval, gc_threshold = runtime_properties(props)
    agent = Agent(result.plan, report.registry)
    signals = _Signals()
    signals.install()
    server = _start_monitoring(props, _live_counters(agent))
    try:
        try:
            agent.start()
        except StartError as exc:
            _err(f"flafka: agent '{name}' could not start: {exc}")
            agent.stop(timeout=1.0)
            return EXIT_RUNTIME
        except ConfigError as exc:
            _err(f"flafka: agent '{name}' could not start: {exc}")
            agent.stop(timeout=1.0)
            return EXIT_CONFIG
        except Exception as exc:
            log.exception("agent '%s' could not start: %s", name, exc)
            agent.stop(timeout=1.0)
            return EXIT_RUNTIME
        tune_gc(gc_threshold)
        if gc_enabled:
            gc.enable()
        progress = _progress(agent, props) if exit_when_drained else None
        status = _wait(agent, files, name, report, props, signals, stamps, reload_conf, poll_interval, exit_when_drained, status_interval)
        if progress is not None:
            progress.stop()
        log.info("stopping agent '%s' (waiting up to %gs for sinks to drain)", name, stop_timeout)
        try:
            drained = agent.stop(timeout=stop_timeout)
        except Exception:
            log.exception("agent '%s' failed to stop cleanly", name)
            return EXIT_STOP_FAILED
        if status != EXIT_OK:
            return status
        if not drained:
            log.warning("agent '%s' stopped before its channels drained (raise -Dflafka.stop.timeout to wait longer)", name)
            return EXIT_STOP_FAILED
        log.info("agent '%s' stopped", name)
        return EXIT_OK
    finally:
        if server is not None:
            server.stop()
        signals.restore()


def _wait(
    agent: Agent,
    files: Sequence[str],
    name: str,
    report: PluginReport,
    props: Mapping[str, str],
    signals: _Signals,
    stamps: dict[str, tuple[int, int] | None],
    reload_conf: bool,
    poll_interval: float,
    exit_when_drained: bool,
    status_interval: float,
) -> int:
    """Run until a stop signal, the drain condition or a runtime failure; returns the
    status to exit with (EXIT_OK unless a runtime failure)."""
    from flafka.metrics.status import StatusReporter

    reporter = StatusReporter(agent.counters)
    status_log = logging.getLogger("flafka.status")
    now = time.monotonic()
    next_poll = now + poll_interval
    next_status = now + status_interval if status_interval > 0 else float("inf")
    tick = min(0.1, poll_interval, status_interval or 0.1)
    while not signals.stop.wait(tick):
        now = time.monotonic()
        if signals.reload.is_set() or (reload_conf and now >= next_poll):
            forced = signals.reload.is_set()
            signals.reload.clear()
            next_poll = now + poll_interval
            current = _mtimes(files)
            if forced or current != stamps:
                stamps = current
                _reload(agent, files, name, report, props, "SIGHUP" if forced else "a config file changed")
        if exit_when_drained and agent.drained():
            log.info("agent '%s' drained: every source is exhausted and every channel is empty", name)
            return EXIT_OK
        failed = agent.failed_sinks()
        if failed:
            log.error("sink runner(s) %s died; stopping the agent", ", ".join(failed))
            return EXIT_RUNTIME
        if now >= next_status:
            next_status = now + status_interval
            for line in reporter.lines():
                status_log.info("%s", line)
    return EXIT_OK


def _reload(agent: Agent, files: Sequence[str], name: str, report: PluginReport, props: Mapping[str, str], why: str) -> None:
    log.info("reloading the configuration (%s)", why)
    result = load(files, name, report, props)
    for d in result.diagnostics:
        (log.error if d.is_error else log.warning)("%s", d.format())
    if result.plan is None:
        log.error("the new configuration is invalid (%s); still running the previous one", _counts(result.diagnostics))
        return
    old = agent.plan
    try:
        agent.reload(result.plan)
    except Exception as exc:
        log.error("the new configuration failed to start (%s); going back to the previous one", exc)
        try:
            agent.reload(old)
        except Exception:
            log.exception("the previous configuration failed to start again; the agent runs nothing until the config is fixed")
        return
    log.info("configuration reloaded")


# -- flafka validate ----------------------------------------------------------------------


@main.command()
@click.option("-f", "--conf-file", "conf_files", multiple=True, required=True, metavar="FILE", help="Properties file (repeatable).")
@click.option("-n", "--name", "name", metavar="AGENT", help="Agent to validate (default: every agent in the files).")
@click.option("-c", "--conf", "conf_dir", metavar="DIR", hidden=True)
@click.option("-D", "defines", multiple=True, metavar="KEY=VALUE", help="System property (for ${sys:...}).")
def validate(conf_files: tuple[str, ...], name: str | None, conf_dir: str | None, defines: tuple[str, ...]) -> None:
    """Report every problem in a configuration without running it.

    Exit status 0 when valid (warnings allowed), 2 when invalid.
    """
    props = parse_defines(defines)
    runtime_properties(props)
    _validate_logging()
    report = _report()
    _print_plugin_errors(report)
    files = list(conf_files)
    typos: dict[str, str] = {}
    if name:
        names = [name]
    else:
        first = load(files, "", report, props)
        typos = first.typos
        names = [a for a in first.agents if a not in typos]
        if not names:
            for d in first.diagnostics:
                click.echo(d.format())
            click.echo(f"invalid: no agent found in {', '.join(files)}; {_counts(first.errors)}")
            sys.exit(EXIT_CONFIG)
        if len(names) > MAX_AGENTS_WITHOUT_NAME:
            shown = ", ".join(names[:5])
            click.echo(
                f"invalid: {len(names):,} agents found in {', '.join(files)} ({shown}, ...); without -n, validate checks at most "
                f"{MAX_AGENTS_WITHOUT_NAME} agents\n    fix: name the agent to check with -n AGENT"
            )
            sys.exit(EXIT_CONFIG)
    seen: dict[Diagnostic, None] = {}
    verdicts: list[str] = []
    ok = True
    for typo, meant in sorted(typos.items()):
        verdicts.append(f"'{typo}': not an agent of its own; its lines look meant for agent '{meant}' (reported above)")
    for agent_name in names:
        result = load(files, agent_name, report, props)
        for d in result.diagnostics:
            if d not in seen:
                seen[d] = None
                click.echo(d.format())
        if result.plan is None:
            ok = False
            n_err = sum(1 for d in result.diagnostics if d.is_error)
            verdicts.append(f"agent '{agent_name}': invalid ({n_err} error{'s' * (n_err != 1)})")
        else:
            p = result.plan
            parts = [_n(len(p.sources), "source"), _n(len(p.channels), "channel"), _n(len(p.sinks), "sink")]
            if p.sinkgroups:
                parts.append(_n(len(p.sinkgroups), "sink group"))
            verdicts.append(f"agent '{agent_name}': valid ({', '.join(parts)})")
    for v in verdicts:
        click.echo(v)
    click.echo(f"{'valid' if ok else 'invalid'}: {_counts(list(seen))}")
    sys.exit(EXIT_OK if ok else EXIT_CONFIG)


def _validate_logging() -> None:
    """Warnings logged during validation go to stderr, except what a constructor logs while
    the loader builds it: that is reported as a diagnostic with its file and line."""
    from flafka.config.diagnostics import not_building

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(not_building)
    logging.getLogger().addHandler(handler)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


# -- flafka plugins -----------------------------------------------------------------------


def plugins_document(report: PluginReport) -> dict[str, Any]:
    """What ``flafka plugins --json`` prints."""
    registry = report.registry
    plugins = []
    for p in report.plugins:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for entry in p.components:
            cls = registry.lookup(entry.kind, entry.type_name)
            by_kind.setdefault(entry.kind, []).append(
                {"type": entry.type_name, "aliases": list(entry.aliases), "summary": getattr(cls, "summary", "") if cls else ""}
            )
        plugins.append({"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": p.hooks, "components": by_kind})
    errors = [
        {"plugin": e.plugin, "distribution": e.distribution, "version": e.version, "error": e.error, "fix": e.fix} for e in report.errors
    ]
    return {"plugins": plugins, "errors": errors, "disabled": report.disabled}


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 when any plugin failed (for CI).")
def plugins(as_json: bool, strict: bool) -> None:
    """List installed plugins, the component types they provide, and plugin errors."""
    report = _report()
    main_group = click.get_current_context().find_root().command
    if isinstance(main_group, FlafkaGroup):
        main_group._plugin_commands()  # so command-hook failures show up too
    doc = plugins_document(report)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        for p in doc["plugins"]:
            dist = " ".join(x for x in (p["distribution"], p["version"]) if x)
            click.echo(f"{p['name']}" + (f"  ({dist})" if dist else ""))
            click.echo(f"  hooks: {', '.join(p['hooks']) or '-'}")
            for kind in KINDS:
                entries = p["components"].get(kind)
                if not entries:
                    continue
                click.echo(f"  {kind.replace('_', ' ')}s:")
                for e in entries:
                    aliases = f"  (also: {', '.join(e['aliases'])})" if e["aliases"] else ""
                    click.echo(f"    {e['type']}{aliases}")
        if doc["disabled"]:
            click.echo(f"disabled (FLAFKA_PLUGINS / FLAFKA_DISABLE_PLUGINS): {', '.join(doc['disabled'])}")
        if report.errors:
            click.echo(f"{len(report.errors)} plugin error{'s' * (len(report.errors) != 1)}:")
            for err in report.errors:
                click.echo("  " + err.format().replace("\n", "\n  "))
    sys.exit(1 if strict and report.errors else 0)


# -- flafka describe ----------------------------------------------------------------------


_FRAMEWORK_KEYS: dict[str, str] = {
    "source": "channels (required), selector.type, selector.*, interceptors, interceptors.<name>.*, acknowledgements",
    "sink": "channel (required), errors.* (dead letter: errors.deadletter.directory)",
    "channel": "",
}


def _jsonable(value: Any) -> Any:
    from flafka.settings import REQUIRED

    if value is REQUIRED:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def describe_document(cls: Any, report: PluginReport) -> dict[str, Any]:
    """What ``flafka describe TYPE --json`` prints for one class."""
    reg = report.registry.registration(cls.kind, cls.type_name)
    plugin = report.plugin(reg.plugin) if reg else None
    settings = []
    for s in cls.settings_schema.settings:
        settings.append(
            {
                "key": s.key,
                "kind": s.kind,
                "default": _jsonable(s.default),
                "required": s.required,
                "legacy": list(s.legacy),
                "doc": s.doc,
                "since": s.since,
                "choices": list(s.choices),
                "secret": s.secret,
                "minimum": s.minimum,
                "maximum": s.maximum,
            }
        )
    return {
        "type": cls.type_name,
        "kind": cls.kind,
        "aliases": list(cls.aliases),
        "summary": cls.summary,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "plugin": reg.plugin if reg else "",
        "distribution": plugin.distribution if plugin else "",
        "version": plugin.version if plugin else "",
        "framework_keys": _FRAMEWORK_KEYS.get(cls.kind, ""),
        "settings": settings,
    }


JAVA_LONG_MAX = 2**63 - 1


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _describe_text(doc: dict[str, Any]) -> str:
    lines = [f"{doc['type']} ({doc['kind'].replace('_', ' ')})" + (f": {doc['summary']}" if doc["summary"] else "")]
    origin = " ".join(x for x in (doc["distribution"], doc["version"]) if x)
    lines.append(f"  class: {doc['class']}   plugin: {doc['plugin']}" + (f" ({origin})" if origin else ""))
    if doc["aliases"]:
        lines.append(f"  aliases: {', '.join(doc['aliases'])}")
    if doc["framework_keys"]:
        lines.append(f"  framework keys: {doc['framework_keys']}")
    if not doc["settings"]:
        lines.append("  settings: none")
        return "\n".join(lines)
    lines.append("  settings:")
    for s in doc["settings"]:
        if s["required"]:
            default = "required"
        elif s["default"] is None or s["default"] == {}:
            default = "no default"
        else:
            default = f"default {json.dumps(s['default']) if not isinstance(s['default'], str) else s['default']!r}"
        flags = [s["kind"], default]
        if s["secret"]:
            flags.append("secret")
        if s["minimum"] is not None:
            flags.append(f">= {_number(s['minimum'])}")
        if s["maximum"] is not None and s["maximum"] != JAVA_LONG_MAX:  # Java's long: every whole number's default bound
            flags.append(f"<= {_number(s['maximum'])}")
        lines.append(f"    {s['key']}  ({', '.join(flags)})")
        if s["doc"]:
            lines.append(f"        {s['doc']}")
        extra = []
        if s["choices"]:
            extra.append(f"choices: {', '.join(s['choices'])}")
        if s["legacy"]:
            extra.append(f"Flume 1.6 spelling: {', '.join(s['legacy'])}")
        if s["since"]:
            extra.append(f"since {s['since']}")
        if extra:
            lines.append(f"        {'; '.join(extra)}")
    return "\n".join(lines)


@main.command()
@click.argument("type_name", metavar="TYPE")
@click.option(
    "--kind", "kind", type=click.Choice([*KINDS, "sink-processor", "sinkprocessor"], case_sensitive=False), help="Component kind."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def describe(type_name: str, kind: str | None, as_json: bool) -> None:
    """Show the settings a component type accepts (keys, defaults, legacy spellings)."""
    report = _report()
    registry = report.registry
    if kind:
        kind = kind.lower().replace("-", "_")
        kind = "sink_processor" if kind == "sinkprocessor" else kind
    kinds = [kind] if kind else list(KINDS)
    found = [cls for k in kinds if (cls := registry.lookup(k, type_name)) is not None]
    if not found:
        hints = [(k, hint) for k in kinds if (hint := registry.suggest(k, type_name))]
        what = f"{kind.replace('_', ' ')} type" if kind else "component type"
        if hints:
            grouped: dict[str, list[str]] = {}
            for k, hint in hints:
                grouped.setdefault(hint, []).append(k.replace("_", " "))
            guess = ", ".join(f"'{h}' ({', '.join(ks)})" for h, ks in list(grouped.items())[:3])
            _fail(f"unknown {what} '{type_name}'; did you mean {guess}?")
        _fail(f"unknown {what} '{type_name}'; `flafka plugins` lists every installed type")
    docs = [describe_document(cls, report) for cls in found]
    if as_json:
        click.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        click.echo("\n\n".join(_describe_text(d) for d in docs))
    for d in docs:
        conflict = report.conflict_for(d["kind"], type_name)
        if conflict:
            _err(f"warning: {conflict.message}")


# -- flafka migrate -----------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--write", is_flag=True, help="Rewrite FILE in place (default: print the new text).")
def migrate(file: str, write: bool) -> None:
    """Rewrite Flume 1.6 key spellings to the 1.7+ ones (comments and layout are kept)."""
    from flafka.config.properties import decode

    path = Path(file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        _fail(f"'{file}' does not exist")
    except OSError as exc:
        _fail(f"cannot read '{file}': {exc.strerror or exc}")
    try:
        from flafka.config.migrate import migrate_text
    except ImportError:
        _fail("flafka migrate is not available in this installation (flafka.config.migrate is missing)", EXIT_RUNTIME)
    text, _ = decode(data, file)
    new_text, changes = migrate_text(text, _report().registry)
    changes = list(changes)
    for change in changes:
        formatter = getattr(change, "format", None)
        _err(f"{file}: {formatter() if callable(formatter) else change}")
    if not write:
        click.echo(new_text, nl=False)
        _err(f"{_n(len(changes), 'change')}" + ("; --write applies them to the file" if changes else ""))
        return
    if not changes:
        _err(f"nothing to migrate in {file}")
        return
    encoding = "utf-8"
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = "iso-8859-1"
    tmp = path.with_name(f".{path.name}.flafka-migrate")
    try:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail(f"cannot write '{file}': {exc.strerror or exc}")
    except UnicodeEncodeError:
        tmp.unlink(missing_ok=True)
        _fail(f"the migrated text cannot be written in {encoding}; save '{file}' as UTF-8 first")
    _err(f"{file}: {_n(len(changes), 'change')} written")


# -- flafka version -----------------------------------------------------------------------


@main.command()
def version() -> None:
    """Print the flafka-core and Python versions."""
    click.echo(f"flafka-core {__version__}")
    click.echo(f"Python {sys.version.split()[0]} ({sys.executable})")


# -- commands in their own modules --------------------------------------------------------


def _live_counters(agent: Agent) -> Callable[[], Any]:
    from flafka.metrics.live import LiveCounters

    return LiveCounters(agent)


def _progress(agent: Agent, props: Mapping[str, str]) -> Any:
    from flafka.progress import DEFAULT_INTERVAL, ProgressReporter

    reporter = ProgressReporter(lambda: agent.sources, interval=_float_prop(props, "flafka.progress.interval", DEFAULT_INTERVAL))
    reporter.start()
    return reporter
