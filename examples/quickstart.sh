#!/usr/bin/env bash
# Runs a real pipeline on a fresh machine: installs flafka-core into ./.venv (once),
# drops three files of 100,000 log lines into a spooling directory, runs
# spooldir -> memory -> file_roll until everything is delivered, and shows the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
if [ ! -x "$venv/bin/flafka" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root/flafka-core"
fi
demo=$(mktemp -d "${TMPDIR:-/tmp}/flafka-demo.XXXXXX")
mkdir -p "$demo/spool" "$demo/out"
"$venv/bin/python" - "$demo/spool" <<'PY'
import sys, pathlib
spool = pathlib.Path(sys.argv[1])
for f in range(3):
    lines = (f"2026-11-25T12:00:{i % 60:02d} GET /page/{f}/{i} 200 {i % 997} bytes" for i in range(100_000))
    tmp = spool / f".weblog-{f}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(spool / f"weblog-{f}.log")
PY
echo "== running: flafka agent -n agent -f examples/spooldir-file_roll.conf --exit-when-drained"
FLAFKA_DEMO_DIR="$demo" "$venv/bin/flafka" agent -n agent -f "$root/examples/spooldir-file_roll.conf" \
  --exit-when-drained -Dflume.root.logger=INFO,console
echo "== spool directory after the run (completed files are renamed):"
ls "$demo/spool"
echo "== lines delivered to $demo/out:"
cat "$demo"/out/* | wc -l
echo "== first lines:"
cat "$demo"/out/* | head -3
