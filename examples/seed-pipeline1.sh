#!/usr/bin/env bash
# The seed article's pipeline 1, end to end, on a fresh machine:
#   spooling directory -> memory channel -> Kafka sink (topic `eventtopic`)
# with examples/seed/spooldir_kafka.conf (the article's config, its mistakes fixed).
#
# 1. installs flafka-core, flafka-kafka and flafka-testkit[kafka] into ./.venv (once);
# 2. uses the broker named by KAFKA_BOOTSTRAP (or FLAFKA_TEST_KAFKA), host:port[,...];
#    when neither is set, starts a local one with `flafka testkit up kafka` (Kafka from
#    Maven Central: needs Java 17 and Maven; the first start downloads ~45 MB);
# 3. drops three web-server log files into a new spooling directory;
# 4. runs `flafka agent -n agent -f examples/seed/spooldir_kafka.conf --exit-when-drained`;
# 5. reads the topic and shows what arrived in it during this run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
cd "$root"

if ! { [ -x "$venv/bin/flafka" ] && "$venv/bin/python" -c 'import flafka_kafka, flafka_testkit, confluent_kafka' 2>/dev/null; }; then
  echo "== installing flafka-core, flafka-kafka, flafka-testkit[kafka] into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root/flafka-core" -e "$root/flafka-kafka" -e "$root/flafka-testkit[kafka]"
fi

bootstrap=${KAFKA_BOOTSTRAP:-${FLAFKA_TEST_KAFKA:-}}
if [ -n "$bootstrap" ]; then
  echo "== using the Kafka broker at $bootstrap"
  local_broker=no
else
  echo "== starting a local Kafka broker: flafka testkit up kafka"
  if ! "$venv/bin/flafka" testkit up kafka; then
    echo "could not start a local broker (the message above says why); or name one: KAFKA_BOOTSTRAP=host:9092 $0" >&2
    exit 1
  fi
  bootstrap=$("$venv/bin/flafka" testkit status --json kafka |
    "$venv/bin/python" -c 'import json, sys; print(next(s["address"] for s in json.load(sys.stdin) if s["name"] == "kafka"))')
  local_broker=yes
fi

demo=$(mktemp -d "${TMPDIR:-/tmp}/flafka-seed1.XXXXXX")
spool="$demo/weblogs"
mkdir -p "$spool" "$demo/incoming"
"$venv/bin/python" - "$demo/incoming" "$spool" <<'PY'
import pathlib, sys
incoming, spool = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
pages = ["/", "/index.html", "/products/42", "/cart", "/search?q=flume", "/login"]
for f in range(3):
    lines = [
        f'192.168.0.{(i * 7 + f) % 254 + 1} - - [25/Nov/2026:12:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
        f'"GET {pages[i % len(pages)]} HTTP/1.1" {404 if i % 50 == 0 else 200} {512 + i % 997} host=web{f} seq={i}'
        for i in range(1000)
    ]
    tmp = incoming / f"access-{f}.log"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(spool / tmp.name)  # a spooled file must be complete when it appears
PY
echo "== dropped 3 files of 1,000 web-log lines into $spool"

# Where every partition of the topic ends now, so that only this run's records are shown.
offsets="$demo/offsets.json"
"$venv/bin/python" - "$bootstrap" "$offsets" <<'PY'
import json, sys, uuid
from confluent_kafka import Consumer, TopicPartition
bootstrap, out = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"seed1-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
try:
    topic = c.list_topics("eventtopic", timeout=10).topics.get("eventtopic")
    parts = [] if topic is None or topic.error is not None else sorted(topic.partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition("eventtopic", p), timeout=10)[1] for p in parts}
finally:
    c.close()
json.dump(ends, open(out, "w"))
PY

echo "== running: SPOOL_DIR=$spool KAFKA_BOOTSTRAP=$bootstrap \\"
echo "     flafka agent -n agent -f examples/seed/spooldir_kafka.conf --exit-when-drained"
SPOOL_DIR="$spool" KAFKA_BOOTSTRAP="$bootstrap" \
  "$venv/bin/flafka" agent -n agent -f examples/seed/spooldir_kafka.conf --exit-when-drained -Dflume.root.logger=INFO,console

echo "== spooling directory after the run (completed files are renamed):"
ls "$spool"
echo "== what arrived in topic 'eventtopic' during this run:"
"$venv/bin/python" - "$bootstrap" "$offsets" "$spool" <<'PY'
import collections, json, pathlib, sys, time, uuid
from confluent_kafka import Consumer, TopicPartition
bootstrap, before, spool = sys.argv[1], json.load(open(sys.argv[2])), pathlib.Path(sys.argv[3])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"seed1-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
try:
    parts = sorted(c.list_topics("eventtopic", timeout=10).topics["eventtopic"].partitions)
    start = {p: int(before.get(str(p), 0)) for p in parts}
    end = {p: c.get_watermark_offsets(TopicPartition("eventtopic", p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition("eventtopic", p, start[p]) for p in parts])
    records, pos, deadline = [], dict(start), time.monotonic() + 30
    while any(pos[p] < end[p] for p in parts) and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            if m.error() is None and m.offset() < end[m.partition()]:
                records.append(m.value())
                pos[m.partition()] = m.offset() + 1
finally:
    c.close()
sent = [line for f in sorted(spool.glob("*.COMPLETED")) for line in f.read_bytes().splitlines()]
counts = collections.Counter(records)
missing = sum(1 for line in sent if line not in counts)
twice = sum(n - 1 for n in counts.values() if n > 1)
print(f"{len(records)} records arrived ({len(sent)} lines were dropped); missing: {missing}, duplicates: {twice}")
print(f"topic 'eventtopic' now holds {sum(end.values())} records in {len(parts)} partition(s); the first of this run:")
for r in records[:5]:
    print("  ", r.decode(errors="replace"))
sys.exit(0 if missing == 0 and twice == 0 and len(records) == len(sent) else 1)
PY

echo "== the spooling directory stays in $demo (delete it when done)"
if [ "$local_broker" = yes ]; then
  echo "== the local broker keeps running for the next try; stop it with:"
  echo "     ${FLAFKA_RUN_DIR:+FLAFKA_RUN_DIR=$FLAFKA_RUN_DIR }$venv/bin/flafka testkit down kafka"
fi
