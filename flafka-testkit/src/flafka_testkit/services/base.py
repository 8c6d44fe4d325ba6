"""Test services: the protocol, process management and the shared helpers.

A :class:`Service` has a ``name``, an ``address`` (what a client connects to), ``start()``
(idempotent: returns at once when the service already answers), ``stop()``, ``status()`` and
``is_ready()`` — a real client call, never just an open port. Where a service comes from:

* :class:`ExternalService` — an address given by ``FLAFKA_TEST_<NAME>``, used as is;
* ``DockerService`` (``docker.py``) — testcontainers, when a Docker engine answers;
* :class:`LocalService` — JVM/C++ processes from Maven Central artifacts on 127.0.0.1.

A local service keeps its state under ``<run dir>/<name>/`` (``$FLAFKA_RUN_DIR`` or
``<cache>/run``): ``state.json`` (PIDs, ports, endpoints), ``logs/`` (one log per process)
and ``data/`` (wiped on every fresh start: test services are throw-away). Every wait has
a deadline; every failure is a :class:`ServiceError` naming the cause, the fix, and the last
lines of the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar


class ServiceError(Exception):
    """A service could not be provided; the message names the cause and the fix."""


def cache_dir() -> Path:
    """The cache root (``$FLAFKA_CACHE_DIR`` or ``~/.cache/flafka``), created on demand."""
    root = Path(os.environ.get("FLAFKA_CACHE_DIR") or Path.home() / ".cache" / "flafka").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_dir() -> Path:
    """Where local services keep state, logs and data (``$FLAFKA_RUN_DIR`` or ``<cache>/run``)."""
    root = Path(os.environ.get("FLAFKA_RUN_DIR") or cache_dir() / "run").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str | None:
    """'pid N (command)' of the process listening on ``port`` (Linux /proc), or None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    return f"pid {pid_dir.name} ({cmd[:160].strip()})"
        except OSError:
            continue
    return "another process"


def check_port_free(port: int, service: str) -> None:
    """Raise a 'port taken' :class:`ServiceError` when 127.0.0.1:port is in use."""
    if port_open("127.0.0.1", port, 0.5):
        owner = port_owner(port) or "another process"
        raise ServiceError(
            f"{service}: port 127.0.0.1:{port} is already taken by {owner}. Fix: stop that process "
            f"(`flafka testkit down {service}` if it is an old test service), or choose another port."
        )


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def find_java(minimum: int = 17) -> str:
    """The ``java`` to use ($JAVA_HOME/bin/java or PATH), at least version ``minimum``."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ServiceError(
            f"Java is not installed (no java on PATH{', nor in JAVA_HOME' if home else ''}); the local test "
            f"services are JVM servers that need Java {minimum}+. Fix: `apt-get install -y openjdk-17-jre-headless` "
            "(or set JAVA_HOME), or give the service's address with FLAFKA_TEST_<SERVICE>=host:port."
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"`{java} -version` failed ({exc}). Fix: repair the Java installation or set JAVA_HOME.")
    match = _JAVA_VERSION.search(out)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        if major < minimum:
            raise ServiceError(
                f"{java} is Java {major}; the test services need Java {minimum}+. "
                "Fix: `apt-get install -y openjdk-17-jre-headless` and set JAVA_HOME to it."
            )
    return java


def wait_for(
    check: Callable[[], object],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = 0.5,
) -> Any:
    """Call ``check`` until it returns a truthy value (returned) or the deadline passes.

    ``check`` may raise: the last exception is reported on timeout. ``alive`` returns a
    reason string as soon as waiting is pointless (a process died) — then the wait stops."""
    deadline = time.monotonic() + timeout
    last: str = "no answer yet"
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # a readiness probe failing is the normal case while starting
            last = f"{type(exc).__name__}: {exc}"[:500]
        reason = alive()
        if reason:
            raise ServiceError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise ServiceError(f"{what}: not ready after {timeout:.0f}s (last probe: {last})")
        time.sleep(interval)


@contextmanager
def file_lock(path: Path, timeout: float = 900.0) -> Iterator[None]:
    """An exclusive lock on ``path`` (waits up to ``timeout`` seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"timed out waiting for the lock {path} (another start or stop runs).")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Status:
    """What ``status`` shows: where a service comes from, where it answers, whether it is up."""

    name: str
    source: str  # "local", "env", "docker" or "-"
    running: bool
    ready: bool
    address: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Service(ABC):
    """One test service. Subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]
    source: ClassVar[str] = "-"

    @property
    @abstractmethod
    def address(self) -> str | None:
        """The primary client address (e.g. Kafka bootstrap servers), None when not started."""

    @property
    def endpoints(self) -> dict[str, str]:
        """Every address a client may need (e.g. HDFS ``rpc`` and ``webhdfs``)."""
        return {"address": self.address} if self.address else {}

    @abstractmethod
    def start(self, timeout: float | None = None) -> bool:
        """Make the service answer; True when this call started it, False when it already ran."""

    @abstractmethod
    def stop(self, grace: float | None = None) -> None:
        """Stop what this kit started (no-op for services it did not start)."""

    @abstractmethod
    def status(self) -> Status:
        """Where and whether it runs."""

    def is_ready(self) -> bool:
        """One real client call against the service (not a port check)."""
        if not self.address:
            return False
        try:
            self.probe()
            return True
        except Exception:
            return False

    @abstractmethod
    def probe(self) -> None:
        """A real client call; raises with the reason when the service does not answer."""

    def _probed(self) -> bool:
        self.probe()
        return True

    def died(self) -> str | None:
        """A sentence with the last log lines when a process of this service has died, else None."""
        return None


class ExternalService(Service):
    """A service at an address the user gave (``FLAFKA_TEST_<NAME>``): used as is, never stopped."""

    source = "env"

    def __init__(self, name: str, address: str, probe: Callable[[str], None], env_var: str) -> None:
        self.name = name  # type: ignore[misc]
        self._address = address
        self._probe = probe
        self.env_var = env_var

    @property
    def address(self) -> str:
        return self._address

    def probe(self) -> None:
        self._probe(self._address)

    def start(self, timeout: float | None = None) -> bool:
        wait_for(
            self._probed,
            timeout=timeout or 60.0,
            what=f"{self.name} at {self._address} (from {self.env_var}) does not answer. Fix: start it there, "
            f"or unset {self.env_var} to let the test kit start one",
        )
        return False

    def stop(self, grace: float | None = None) -> None:
        return None

    def status(self) -> Status:
        ready = self.is_ready()
        return Status(self.name, "env", ready, ready, self._address, self.endpoints, detail=f"from {self.env_var}")


class LocalService(Service):
    """Processes started on 127.0.0.1 from cached artifacts. Subclasses implement
    :meth:`prepare` (resolve artifacts, once), :meth:`launch` (spawn processes with
    :meth:`spawn`, wait for each) and :meth:`probe`."""

    source = "local"
    start_timeout: ClassVar[float] = 180.0
    #: seconds between SIGTERM and SIGKILL (test data is throw-away: no need to wait long)
    stop_grace: ClassVar[float] = 30.0
    #: hint appended to a failed start (the likely fix)
    hints: ClassVar[Sequence[tuple[str, str]]] = ()

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or run_dir() / self.name
        self.state: dict[str, Any] = self._load()

    # -- state ---------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    def _load(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.state_file.read_text())
            return loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.state_file)

    @property
    def address(self) -> str | None:
        return self.state.get("address") if self.state.get("pids") else None

    @property
    def endpoints(self) -> dict[str, str]:
        return dict(self.state.get("endpoints", {})) if self.state.get("pids") else {}

    def pids(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.state.get("pids", {}).items()}

    def running(self) -> bool:
        pids = self.pids()
        return bool(pids) and all(pid_alive(p) for p in pids.values())

    # -- abstract ------------------------------------------------------------------------
    @abstractmethod
    def prepare(self) -> None:
        """Resolve/download artifacts (cached); raise ServiceError on failure."""

    @abstractmethod
    def launch(self, deadline: float) -> None:
        """Write config, spawn the processes, set ``self.state['address'/'endpoints']`` and
        wait (until ``deadline``, a time.monotonic() value) for readiness."""

    # -- processes -----------------------------------------------------------------------
    def spawn(self, role: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Start one long-running process in its own session, output to ``logs/<role>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{role}.log"
        full_env = {**os.environ, **(env or {})}
        with open(log, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(cwd or self.home), env=full_env, start_new_session=True,
            )  # fmt: skip
        self.state.setdefault("pids", {})[role] = proc.pid
        self.state.setdefault("logs", {})[role] = str(log)
        self._save()
        return proc.pid

    def run_tool(self, role: str, argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> None:
        """Run a short command (e.g. a storage format) to completion; output to ``logs/<role>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{role}.log"
        with open(log, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            try:
                rc = subprocess.run(
                    list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=str(self.home), env={**os.environ, **(env or {})}, timeout=max(timeout, 1.0),
                ).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                raise ServiceError(self._explain(f"`{role}` did not finish within {timeout:.0f}s", log))
        if rc != 0:
            raise ServiceError(self._explain(f"`{role}` failed with exit code {rc}", log))

    def died(self) -> str | None:
        for role, pid in self.pids().items():
            if not pid_alive(pid):
                log = Path(self.state.get("logs", {}).get(role, self.log_dir / f"{role}.log"))
                return self._explain(f"process {role} (pid {pid}) has exited", log)
        return None

    def _explain(self, what: str, log: Path) -> str:
        text = tail(log, 400)
        fixes = [fix for needle, fix in (*COMMON_HINTS, *self.hints) if needle in text]
        fix = " ".join(dict.fromkeys(fixes)) or (
            f"read {log}; `flafka testkit down {self.name}` then `flafka testkit up {self.name}` starts afresh."
        )
        return f"{self.name}: {what}. Likely fix: {fix}\nLast lines of {log}:\n{tail(log)}"

    # -- protocol ------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> bool:
        timeout = timeout or float(os.environ.get("FLAFKA_START_TIMEOUT", self.start_timeout))
        with file_lock(self.home.parent / f".{self.name}.lock"):
            self.state = self._load()
            if self.running():
                try:
                    wait_for(self._probed, timeout=min(timeout, 30.0), what=f"{self.name} (already running)")
                    return False
                except ServiceError:
                    pass  # runs but does not answer: start afresh
            self._stop_locked(grace=10.0)
            self.prepare()
            self.state = {"started_at": time.time()}
            self._fresh_dirs()
            started = time.monotonic()
            try:
                self.launch(started + timeout)
            except BaseException:
                self._stop_locked(grace=5.0, keep_state=True)
                raise
            self.state["start_seconds"] = round(time.monotonic() - started, 1)
            self._save()
            return True

    def _fresh_dirs(self) -> None:
        for directory in (self.data_dir, self.log_dir, self.conf_dir):
            try:
                shutil.rmtree(directory)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ServiceError(
                    f"{self.name}: the old data directory {directory} cannot be removed ({exc}). Fix: stop whatever "
                    f"still uses it (`flafka testkit down {self.name}`), then `rm -rf {directory}`."
                )
            directory.mkdir(parents=True)

    def stop(self, grace: float | None = None) -> None:
        with file_lock(self.home.parent / f".{self.name}.lock"):
            self.state = self._load()
            self._stop_locked(self.stop_grace if grace is None else grace)

    def _stop_locked(self, grace: float, keep_state: bool = False) -> None:
        pids = self.pids()
        for pid in reversed(list(pids.values())):  # reverse start order
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for pid in pids.values():
            while pid_alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                kill_deadline = time.monotonic() + 10
                while pid_alive(pid) and time.monotonic() < kill_deadline:
                    _reap(pid)
                    time.sleep(0.1)
            _reap(pid)
        if keep_state:
            self.state["pids"] = {}
            self._save()
        else:
            self.state = {}
            self.state_file.unlink(missing_ok=True)

    def status(self) -> Status:
        self.state = self._load()
        running = self.running()
        ready = running and self.is_ready()
        died = self.died() if self.pids() and not running else ""
        return Status(
            self.name, "local", running, ready, self.state.get("address") if running else None,
            self.endpoints if running else {}, self.pids(), dict(self.state.get("logs", {})),
            detail=(f"started in {self.state.get('start_seconds')}s" if running else (died or "not running")),
        )  # fmt: skip

    def wait_ready(self, what: str, check: Callable[[], object], deadline: float, interval: float = 0.5) -> None:
        """Call ``check`` (a real client call; success = it does not raise) until ``deadline``;
        stop early when a process dies."""

        def passed() -> bool:
            check()
            return True

        try:
            wait_for(passed, timeout=max(deadline - time.monotonic(), 1.0), what=what, alive=self.died, interval=interval)
        except ServiceError as exc:
            message = str(exc)
            if "Last lines of" not in message:
                logs = [Path(p) for p in self.state.get("logs", {}).values()]
                message = self._explain(message.split(": ", 1)[-1], logs[-1]) if logs else message
            raise ServiceError(message) from None


def _reap(pid: int) -> None:
    """Collect a child's exit status (when this process spawned it) so it is not a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


COMMON_HINTS: tuple[tuple[str, str], ...] = (
    ("Address already in use", "a port is taken by another process: `flafka testkit down` old services or free it."),
    ("BindException", "a port is taken by another process: `flafka testkit down` old services or free it."),
    ("OutOfMemoryError", "the JVM ran out of heap; free memory or raise the -Xmx of this service."),
    ("UnsupportedClassVersionError", "the JVM is too old: install Java 17 (`apt-get install openjdk-17-jre-headless`)."),
    ("No space left on device", "the disk is full: free space or point FLAFKA_RUN_DIR at a larger disk."),
    ("InaccessibleObjectException", "a Java 17 --add-opens flag is missing for this server (a testkit bug)."),
)
