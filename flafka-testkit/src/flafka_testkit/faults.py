"""Fault injection for local test services: SIGKILL and restart, pause (SIGSTOP) and resume
(SIGCONT), working on the PIDs a :class:`~flafka_testkit.services.base.LocalService` records
in its ``state.json``. (To SIGKILL and restart a flafka agent, use
:class:`flafka_testkit.crash.AgentProcess`; to stop a service cleanly, ``service.stop()``.)

A restart runs each process again exactly as it ran — the same command line, working
directory and the environment the kit added — so it comes back on the same ports with the
same configuration and **keeps its data directory** (``service.start()`` would start afresh
on new ports with an empty one). The command lines are read from ``/proc/<pid>`` before the
kill and kept in ``state.json`` under ``"faults"``, so a restart works from another process
too.

    from flafka_testkit import faults
    service = KafkaService(home=run_dir() / "crash-kafka")   # a broker of the test's own
    service.start()
    faults.kill(service)             # SIGKILL every process of the service, reaped
    faults.restart(service)          # same ports, same data; returns once it answers
    with faults.paused(service, 60): # SIGSTOP now, SIGCONT after 60 s (or on error)
        ...

Only processes recorded for the service are signalled. Linux only (``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flafka_testkit.services.base import LocalService, ServiceError, _reap, pid_alive, wait_for

__all__ = ["kill", "pause", "paused", "restart", "resume", "roles"]


def roles(service: LocalService, role: str | None = None) -> dict[str, int]:
    """``{role: pid}`` of the service's processes (only ``role`` when given)."""
    service.state = service._load()
    pids = service.pids()
    if role is not None:
        if role not in pids:
            raise ServiceError(f"{service.name} has no process '{role}' (it has: {', '.join(pids) or 'none'}).")
        return {role: pids[role]}
    if not pids:
        raise ServiceError(f"{service.name} is not running (no PIDs in {service.state_file}). Fix: start it first.")
    return pids


def _command(pid: int) -> dict[str, Any]:
    """How ``pid`` was started: argv, working directory, and the environment entries that
    differ from this process's (what the kit's ``spawn`` added)."""
    proc = Path(f"/proc/{pid}")
    argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
    cwd = os.readlink(proc / "cwd")
    env: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for item in (proc / "environ").read_bytes().split(b"\0"):
            key, sep, value = item.decode(errors="replace").partition("=")
            if sep and os.environ.get(key) != value:
                env[key] = value
    return {"argv": argv, "cwd": cwd, "env": env}


def _remember(service: LocalService, targets: dict[str, int]) -> None:
    """Record each target's command line (once per PID) so :func:`restart` can rerun it."""
    saved: dict[str, Any] = service.state.setdefault("faults", {})
    for role, pid in targets.items():
        if saved.get(role, {}).get("pid") != pid and pid_alive(pid):
            saved[role] = {"pid": pid, **_command(pid)}
    service._save()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill(service: LocalService, role: str | None = None, timeout: float = 10.0) -> dict[str, int]:
    """SIGKILL the service's processes (or only ``role``) and wait until they are gone.
    Returns the PIDs killed. A paused process dies too (SIGKILL needs no SIGCONT)."""
    targets = roles(service, role)
    _remember(service, targets)
    for pid in targets.values():
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for role_name, pid in targets.items():
        while pid_alive(pid):
            _reap(pid)
            if time.monotonic() > deadline:
                raise ServiceError(f"{service.name}: process {role_name} (pid {pid}) survived SIGKILL for {timeout:.0f}s.")
            time.sleep(0.02)
        _reap(pid)
    return targets


def restart(service: LocalService, role: str | None = None, timeout: float = 120.0) -> dict[str, int]:
    """Run again the processes :func:`kill` killed (or ``role`` only) with their original
    command line — same ports, same data directory — then wait until the service answers
    its readiness probe. Processes still alive are left alone. Returns the new PIDs."""
    service.state = service._load()
    saved: dict[str, Any] = service.state.get("faults", {})
    wanted = [role] if role is not None else list(service.pids())
    new: dict[str, int] = {}
    for name in wanted:
        pid = service.pids().get(name)
        if pid is not None and pid_alive(pid):
            continue
        command = saved.get(name)
        if command is None:
            raise ServiceError(
                f"{service.name}: no recorded command line for '{name}'; only processes killed by faults.kill can be restarted."
            )
        new[name] = service.spawn(name, command["argv"], env=command["env"], cwd=Path(command["cwd"]))
        saved[name] = {**command, "pid": new[name]}
        service.state["faults"] = saved
        service._save()
    wait_for(service._probed, timeout=timeout, what=f"{service.name} did not answer after a restart", alive=service.died, interval=0.2)
    return new


def pause(service: LocalService, role: str | None = None) -> dict[str, int]:
    """SIGSTOP the service's processes (or ``role``): they hold their sockets open but
    answer nothing, like a machine that froze. Returns the PIDs stopped."""
    targets = roles(service, role)
    for pid in targets.values():
        _signal(pid, signal.SIGSTOP)
    return targets


def resume(service: LocalService, role: str | None = None) -> dict[str, int]:
    """SIGCONT what :func:`pause` stopped. Returns the PIDs resumed."""
    targets = roles(service, role)
    for pid in targets.values():
        _signal(pid, signal.SIGCONT)
    return targets


@contextlib.contextmanager
def paused(service: LocalService, seconds: float | None = None, role: str | None = None) -> Iterator[dict[str, int]]:
    """Pause for the ``with`` block (and at least ``seconds`` when given); always resumes."""
    targets = pause(service, role)
    started = time.monotonic()
    try:
        yield targets
        if seconds is not None:
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        for pid in targets.values():
            _signal(pid, signal.SIGCONT)
