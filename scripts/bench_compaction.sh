#!/usr/bin/env bash
# Measures the log cleaner on a release broker, in one run: compaction throughput (MB of log
# read per second of the pass) on a topic of RECORDS records of 1 KiB over KEYS keys, and the
# throughput of a concurrent acks=all produce to another topic while the cleaner runs, against
# the same produce just before with the cleaner idle.
# Usage: scripts/bench_compaction.sh [RECORDS=2000000] [KEYS=10000] [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-2000000}"
KEYS="${2:-10000}"
SECONDS_="${3:-5}"
cargo build --release -p runnel
BIN="$PWD/target/release/runnel"
B=127.0.0.1:29099
WORK=$(mktemp -d "$PWD/target/bench-compaction.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
printf 'log.cleaner.backoff.ms=200\n' > "$WORK/server.properties"
"$BIN" serve --data-dir "$WORK/data" --listen $B --http-listen off -c "$WORK/server.properties" \
    > "$WORK/out" 2> "$WORK/log" &
PID=$!
until grep -q listening "$WORK/out" 2>/dev/null; do sleep 0.01; done
rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_s"]))'; }

"$BIN" topic create kv -p 1 -c segment.bytes=67108864 --brokers $B > /dev/null
echo "writing $RECORDS records of 1 KiB over $KEYS keys (not compacted yet)"
"$BIN" bench produce --brokers $B --topic kv --partitions 1 --records "$RECORDS" --keys "$KEYS" --acks 1 \
    --output json > /dev/null
"$BIN" bench produce --brokers $B --topic load --partitions 8 --records 100000 --output json > /dev/null
idle=$("$BIN" bench produce --brokers $B --topic load --partitions 8 --duration "$SECONDS_" --output json | rate)
"$BIN" topic alter-config kv cleanup.policy=compact --brokers $B > /dev/null
busy=$("$BIN" bench produce --brokers $B --topic load --partitions 8 --duration "$SECONDS_" --output json | rate)
until grep -q 'log cleaned topic="\?kv' "$WORK/log"; do sleep 0.1; done
line=$(grep 'log cleaned topic="\?kv' "$WORK/log" | head -1)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<< "$line"; }
read_bytes=$(field read_bytes); written=$(field written_bytes); took=$(field took_ms); removed=$(field records_removed)
echo "compaction: read $((read_bytes / 1048576)) MiB, wrote $((written / 1048576)) MiB, removed $removed records in $took ms:" \
    "$(awk -v b="$read_bytes" -v t="$took" 'BEGIN {printf "%.0f", b / 1048576 / (t / 1000)}') MiB/s"
echo "concurrent produce, 8 partitions, acks=all, 1 KiB: $idle rec/s with the cleaner idle," \
    "$busy rec/s while it cleans ($(awk -v a="$busy" -v b="$idle" 'BEGIN {printf "%.0f%%", 100 * a / b}'))"
[ "$took" -gt $((SECONDS_ * 1000)) ] || echo "note: the pass ($took ms) was shorter than the produce run ($SECONDS_ s)"
