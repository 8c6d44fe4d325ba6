"""The test kit's services for one benchmark run: one context manager, :func:`bench_services`,
used by every benchmark script that needs Kafka, HDFS, HBase, Kudu or Flume.

The caller puts ``flafka-testkit/src`` on ``sys.path`` first (every script does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flafka_testkit.services.base import LocalService

RUN_DIR_PREFIX = "flafka-bench-services-"
"""Prefix of the temporary FLAFKA_RUN_DIR made when the caller names none."""


@dataclass
class Services(Mapping[str, "LocalService"]):
    """The services of one :func:`bench_services` block, by name, in start order."""

    run_dir: Path
    """The FLAFKA_RUN_DIR they run in."""
    by_name: dict[str, LocalService] = field(default_factory=dict)
    started: list[LocalService] = field(default_factory=list)
    """Those this block started (the only ones it may stop)."""

    def __getitem__(self, name: str) -> LocalService:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    def address(self, name: str) -> str:
        """The client address of ``name`` (e.g. Kafka's bootstrap servers)."""
        address = self.by_name[name].address
        assert address is not None, f"{name} has no address: it is not running"
        return address


@contextmanager
def bench_services(names: Sequence[str], run_dir: Path | None = None, keep: bool = False) -> Iterator[Services]:
    """Start the test kit's local ``names`` (in that order) for a benchmark; yield them.

    Contract:
    - ``FLAFKA_RUN_DIR`` is set in ``os.environ`` (children inherit it) to ``run_dir``, or to
      a new temporary directory when ``run_dir`` is None; it stays set after the block.
    - Each service is started, or used as is when it already runs in that directory, and a
      line ``<name>: ready in <s> s (<address>)`` is printed. ``names`` may be empty.
    - On leaving the block (normally, by an exception, or when a start fails), unless
      ``keep``: the services this block started are stopped (reverse order, 10 s grace), and
      the run directory is removed if this block made it. Services that were already running
      are never stopped; with ``keep`` nothing is stopped or removed.
    """
    made = run_dir is None
    root = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX)) if run_dir is None else run_dir
    os.environ["FLAFKA_RUN_DIR"] = str(root)
    from flafka_testkit.services import local_service

    services = Services(root)
    try:
        for name in names:
            service = local_service(name)
            began = time.monotonic()
            if service.start():
                services.started.append(service)
            services.by_name[name] = service
            print(f"{name}: ready in {time.monotonic() - began:.1f} s ({service.address})", flush=True)
        yield services
    finally:
        if not keep:
            for service in reversed(services.started):
                service.stop(10.0)
            if made:
                shutil.rmtree(root, ignore_errors=True)


__all__ = ["Services", "bench_services"]
