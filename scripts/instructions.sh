#!/usr/bin/env bash
# Counts the instructions a broker build executes (user space, valgrind's callgrind) to take a
# fixed produce and consume workload: a measure of CPU cost that, unlike throughput on a shared
# disk, repeats to within a fraction of a percent. Compare builds by running it on each.
# With HTTP=on the broker runs its HTTP listener and console (sampling every 15 s, as by
# default); otherwise both are off, so only the request path's own counting is measured.
# Usage: [HTTP=on] scripts/instructions.sh RUNNEL_BINARY [RECORDS=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$1"
RECORDS="${2:-20000}"
CLIENT="$PWD/target/release/runnel"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
DATA=$(mktemp -d "$PWD/target/instructions.XXXXXX")
B=127.0.0.1:29101
HTTP_ARGS=()
if [ "${HTTP:-off}" = on ]; then
    HTTP_ARGS=(--http-listen 127.0.0.1:0)
elif "$BIN" serve --help | grep -q -- --http-listen; then
    HTTP_ARGS=(--http-listen off)
fi
valgrind --tool=callgrind --callgrind-out-file="$DATA.out" "$BIN" serve --data-dir "$DATA" --listen $B \
    "${HTTP_ARGS[@]}" > "$DATA.log" 2>/dev/null &
PID=$!
trap 'kill "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA.log" "$DATA.out"' EXIT
until grep -q "runnel listening" "$DATA.log" 2>/dev/null; do sleep 0.1; done
"$CLIENT" bench produce --brokers $B --topic cost --partitions 4 --records "$RECORDS" --acks all --output json > /dev/null
"$CLIENT" bench consume --brokers $B --topic cost --records "$RECORDS" --output json > /dev/null
kill -TERM "$PID"
wait "$PID" || true
total=$(callgrind_annotate "$DATA.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "$BIN (HTTP ${HTTP:-off}): $total instructions for $RECORDS records produced (acks=all) and consumed"
