"""The shared source contract for exec, syslogtcp, multiport_syslogtcp and http (netcat's
and TAILDIR's are beside their own tests). ``produce`` starts a real client that waits
for the source to listen and, for http, resends what got 503."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from flafka.sources.exec import ExecSource
from flafka.sources.http import HttpSource
from flafka.sources.syslog import SyslogTcpSource
from flafka.sources.syslogmultiport import MultiportSyslogTcpSource
from flafka_testkit.contracts import SourceCapabilities, SourceContract
from flafka_testkit.services.base import free_port

from .conftest import connect


class TestExecContract(SourceContract):
    source_class = ExecSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"command": f"cat {tmp_path / 'input.txt'}", "batchTimeout": "50"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        Path(settings["command"].split()[1]).write_bytes(b"".join(b + b"\n" for b in bodies))


def _syslog_sender(port: int, bodies: list[bytes]) -> None:
    def run() -> None:
        with connect(port, timeout=30) as c:
            c.sendall(b"".join(b"<13>Oct 11 22:14:15 host " + b + b"\n" for b in bodies))
            time.sleep(30)  # keep the connection open while the source reads (back-pressure)

    threading.Thread(target=run, daemon=True).start()


class TestSyslogTcpContract(SourceContract):
    source_class = SyslogTcpSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(free_port())}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        _syslog_sender(int(settings["port"]), bodies)


class TestMultiportSyslogContract(SourceContract):
    source_class = MultiportSyslogTcpSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "ports": f"{free_port()} {free_port()}"}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        _syslog_sender(int(settings["ports"].split()[0]), bodies)


class TestHttpContract(SourceContract):
    source_class = HttpSource
    capabilities = SourceCapabilities(replayable=False)

    @pytest.fixture
    def source_settings(self) -> dict[str, str]:
        return {"bind": "127.0.0.1", "port": str(free_port())}

    def produce(self, settings: dict[str, str], bodies: list[bytes]) -> None:
        port = int(settings["port"])

        def run() -> None:
            connect(port, timeout=30).close()
            for start in range(0, len(bodies), 40):
                payload = json.dumps([{"body": b.decode()} for b in bodies[start : start + 40]]).encode()
                while True:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("POST", "/", body=payload)
                    status = conn.getresponse().status
                    conn.close()
                    if status == 200:
                        break
                    time.sleep(0.05)  # 503: the channel is full, retry

        threading.Thread(target=run, daemon=True).start()
