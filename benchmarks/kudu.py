"""flafka's Kudu sink against the test kit's real Kudu: both benchmarks of flafka-kudu.

    python benchmarks/kudu.py [--master HOST:PORT] [--lines N] [--rows N]

Starts the kit's Kudu (master + tablet server from kudu-binary, in a temporary
FLAFKA_RUN_DIR) unless ``--master`` names one, then runs, each in its own process (one JVM
per process, as JPype requires):

* ``kudu_crossings.py``: Python<->Java crossings per batch vs per cell (rows/s, CPU s);
* ``kudu_e2e.py``: spooldir -> memory -> Kudu with the Regexp producer (events/s, CPU s,
  peak RSS).

No Apache Flume comparison: Flume's Kudu sink (``flume-ng-kudu-sink``) is built only in a
profile of Flume 1.10/1.11 and was never published on Maven Central, and Kudu's own
``kudu-flume-sink`` is not served either, so no Flume Kudu sink can be fetched here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", help="a running Kudu master (default: start the test kit's)")
    parser.add_argument("--lines", type=int, default=200_000, help="events of the end-to-end run")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the crossings run")
    args = parser.parse_args()
    run_dir = None
    service = None
    if args.master is None:
        run_dir = Path(tempfile.mkdtemp(prefix="flafka-bench-kudu-"))
        os.environ["FLAFKA_RUN_DIR"] = str(run_dir)
        from flafka_testkit.services import local_service

        service = local_service("kudu")
        service.start()
        args.master = service.address
        print(f"kudu: {args.master}", flush=True)
    try:
        status = subprocess.call([sys.executable, str(HERE / "kudu_crossings.py"), args.master, str(args.rows)])
        return status or subprocess.call([sys.executable, str(HERE / "kudu_e2e.py"), args.master, str(args.lines)])
    finally:
        if service is not None:
            service.stop(10.0)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
