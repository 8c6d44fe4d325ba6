"""A ``flafka agent`` process for the sources' end-to-end tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


class AgentProc:
    """``python -m flafka agent -n NAME -f FILE`` with its output in ``agent.log``."""

    def __init__(self, workdir: Path, conf: str, name: str = "a1") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / f"{name}.conf"
        self.conf.write_text(conf)
        self.log = workdir / "agent.log"
        env = {**os.environ, "FLAFKA_PLUGINS": "builtins"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flafka", "agent", "-n", name, "-f", str(self.conf), "--no-reload-conf",
                 "-Dflume.root.logger=INFO,console"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text())
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"'{pattern}' not logged (exit {self.proc.poll()}):\n{self.text()}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)
