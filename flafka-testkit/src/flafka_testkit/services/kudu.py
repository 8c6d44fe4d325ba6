"""Kudu: one master and one tablet server from the ``kudu-binary`` jar, on 127.0.0.1.

``org.apache.kudu:kudu-binary:<v>:jar:linux-x86_64`` holds native binaries (``bin/kudu``,
``bin/kudu-master``, ``bin/kudu-tserver``) and their shared libraries. It is downloaded
once, unzipped (the exec bits are restored) and run with ``LD_LIBRARY_PATH=<lib>``: the
bundled ``libkrb5.so.3`` has no RUNPATH, so without it the loader picks the system's
``libkrb5support`` and the binaries die with ``undefined symbol: krb5int_push_fscreatecon_for``.
Ready when ``kudu tserver list <master>`` shows one live tablet server.

Address: the master RPC address ``127.0.0.1:<port>``; endpoints also has ``tserver`` and
``kudu_cli`` (path of the ``kudu`` tool, e.g. for ``kudu table scan`` in tests).
"""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import ClassVar

from flafka_testkit.services.base import LocalService, ServiceError, cache_dir, file_lock, free_port
from flafka_testkit.services.maven import Coordinate, fetch_artifact

KUDU_VERSION = os.environ.get("FLAFKA_KUDU_VERSION", "1.18.1")
ARTIFACT = Coordinate("org.apache.kudu", "kudu-binary", KUDU_VERSION, classifier="linux-x86_64")

#: Kudu servers probe cloud metadata services (169.254.169.254, metadata.google.internal) at
#: start-up to detect AWS/Azure/GCE/OpenStack. Test services must talk to loopback only, so
#: every probe URL points at a closed port on 127.0.0.1 (refused at once).
NO_CLOUD_PROBES = [
    *(f"--cloud_{cloud}=http://127.0.0.1:9/" for cloud in
      ("aws_instance_id_url", "azure_instance_id_url", "gce_instance_id_url", "openstack_metadata_url")),
    "--cloud_metadata_server_request_timeout_ms=100",
    "--cloud_aws_ntp_server=127.0.0.1", "--cloud_gce_ntp_server=127.0.0.1",
]  # fmt: skip


def install() -> Path:
    """Download and unzip kudu-binary once; return its home (with bin/, lib/, www/)."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise ServiceError(
            f"kudu-binary exists for Linux x86-64 only (this is {platform.system()} {platform.machine()}). "
            "Fix: run a Kudu cluster elsewhere and set FLAFKA_TEST_KUDU=host:7051."
        )
    root = cache_dir() / "kudu"
    home = root / f"kudu-binary-{KUDU_VERSION}-linux-x86_64"
    marker = root / f".{home.name}.complete"
    if marker.exists():
        return home
    jar = fetch_artifact(ARTIFACT)
    with file_lock(root / ".install.lock"):
        if marker.exists():
            return home
        shutil.rmtree(home, ignore_errors=True)
        with zipfile.ZipFile(jar) as archive:
            archive.extractall(root)
        for binary in (home / "bin").iterdir():
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        marker.write_text("ok\n")
    return home


def _env(home: Path) -> dict[str, str]:
    env = {"LD_LIBRARY_PATH": f"{home / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")}
    if (home / "lib" / "sasl2").is_dir():
        env["SASL_PATH"] = str(home / "lib" / "sasl2")
    return env


def cli(home: Path, *args: str, timeout: float = 20.0) -> str:
    """Run the ``kudu`` tool; return stdout, raise ServiceError with stderr on failure."""
    proc = subprocess.run(
        [str(home / "bin" / "kudu"), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **_env(home)}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ServiceError(f"`kudu {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-600:]}")
    return proc.stdout


def probe(address: str, timeout: float = 20.0) -> None:
    """``kudu tserver list <master>`` must show at least one tablet server."""
    out = cli(install(), "tserver", "list", address, "-format=csv", timeout=timeout)
    if not [line for line in out.splitlines() if line.strip()]:
        raise ServiceError(f"the Kudu master at {address} has no tablet server yet")


class KuduService(LocalService):
    """Kudu ``KUDU_VERSION`` (env ``FLAFKA_KUDU_VERSION``): master (512 MiB) + tablet server (1 GiB)."""

    name = "kudu"
    start_timeout = 90.0
    hints: ClassVar = (
        ("undefined symbol", "the kudu binaries picked system libraries: LD_LIBRARY_PATH must name kudu-binary's lib/."),
        ("Clock considered unsynchronized", "use --time_source=system_unsync (set by the testkit)."),
        ("Block cache capacity exceeds", "--block_cache_capacity_mb must stay below 60% of --memory_limit_hard_bytes."),
        ("hole punching", "this filesystem cannot punch holes: the testkit would need --block_manager=file."),
    )

    def prepare(self) -> None:
        self.kudu_home = install()

    def probe(self) -> None:
        if not self.address:
            raise ServiceError("kudu is not started")
        probe(self.address)

    def launch(self, deadline: float) -> None:
        ports = {k: free_port() for k in ("master", "master_http", "tserver", "tserver_http")}
        while len(set(ports.values())) < len(ports):
            ports = {k: free_port() for k in ports}
        home = self.kudu_home
        common = [
            "--unlock_unsafe_flags", "--unlock_experimental_flags", "--time_source=system_unsync",
            "--never_fsync", "--enable_minidumps=false", "--redact=none", f"--webserver_doc_root={home / 'www'}",
            "--logtostderr", "--webserver_interface=127.0.0.1", "--block_cache_capacity_mb=64",
            *NO_CLOUD_PROBES,
        ]  # fmt: skip
        master = f"127.0.0.1:{ports['master']}"
        tserver = f"127.0.0.1:{ports['tserver']}"
        self.state.update(
            address=master,
            endpoints={"master": master, "tserver": tserver, "kudu_cli": str(home / "bin" / "kudu")},
            ports=ports,
        )
        m, t = self.data_dir / "master", self.data_dir / "tserver"
        m.mkdir(parents=True, exist_ok=True)
        t.mkdir(parents=True, exist_ok=True)
        self.spawn(
            "master",
            [str(home / "bin" / "kudu-master"), *common, f"--fs_wal_dir={m / 'wal'}", f"--fs_data_dirs={m / 'data'}",
             f"--rpc_bind_addresses={master}", f"--webserver_port={ports['master_http']}",
             "--default_num_replicas=1", "--memory_limit_hard_bytes=536870912"],
            _env(home),
        )  # fmt: skip
        self.spawn(
            "tserver",
            [str(home / "bin" / "kudu-tserver"), *common, f"--fs_wal_dir={t / 'wal'}", f"--fs_data_dirs={t / 'data'}",
             f"--rpc_bind_addresses={tserver}", "--local_ip_for_outbound_sockets=127.0.0.1",
             f"--webserver_port={ports['tserver_http']}", f"--tserver_master_addrs={master}",
             "--memory_limit_hard_bytes=1073741824"],
            _env(home),
        )  # fmt: skip
        self.wait_ready("Kudu did not become ready", lambda: probe(master, timeout=10), deadline)
