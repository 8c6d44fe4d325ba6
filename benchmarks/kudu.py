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
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _services import bench_services  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", help="a running Kudu master (default: start the test kit's)")
    parser.add_argument("--lines", type=int, default=200_000, help="events of the end-to-end run")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the crossings run")
    args = parser.parse_args()
    # the kit's Kudu in a new temporary FLAFKA_RUN_DIR, stopped (and the directory removed) at the end
    with bench_services(["kudu"]) if args.master is None else nullcontext() as services:
        if services is not None:
            args.master = services.address("kudu")
            print(f"kudu: {args.master}", flush=True)
        status = subprocess.call([sys.executable, str(HERE / "kudu_crossings.py"), args.master, str(args.rows)])
        return status or subprocess.call([sys.executable, str(HERE / "kudu_e2e.py"), args.master, str(args.lines)])


if __name__ == "__main__":
    sys.exit(main())
