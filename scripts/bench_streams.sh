#!/usr/bin/env bash
# Measures runnel-streams on a release runnel broker, in one run: a stateless map pipeline
# against the same work with rdkafka alone (consume, upper-case, produce with key, timestamp
# and headers), exactly-once against at-least-once, a tumbling-window count, and the restore
# of a 1,000,000-key state by a new instance, in memory and on disk. Each pipeline reads the same input topic
# (1,000,000 records of 100 bytes, 4 partitions, written once).
# Usage: scripts/bench_streams.sh [records] [rounds]   (defaults 1000000 and 2). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
ROUNDS="${2:-2}"
cargo build --release -p runnel

BIN=./target/release/runnel
B=127.0.0.1:29095
DATA="$(mktemp -d "${PWD}/target/bench-data.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".out "$DATA".log "$DATA".state; }
trap cleanup EXIT

$BIN serve --data-dir "$DATA" --listen "$B" --http-listen off > "$DATA.out" 2> "$DATA.log" &
PID=$!
until grep -q "listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done

# bench ARGS...: one run's JSON report.
bench() { $BIN bench streams --brokers "$B" --records "$RECORDS" --output json "$@" 2>/dev/null; }
field() { python3 -c "import json,sys; print(round(json.load(sys.stdin)[\"$1\"], 2))"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }

printf '%-6s %14s %14s %14s %14s %14s\n' "round" "copy (rdkafka)" "map" "map/copy" "map EOS" "EOS/ALOS"
for round in $(seq 1 "$ROUNDS"); do
    copy=$(bench --pipeline copy | field records_per_s)
    map=$(bench --pipeline map | field records_per_s)
    eos=$(bench --pipeline map --exactly-once | field records_per_s)
    printf '%-6s %14s %14s %14s %14s %14s\n' "$round" "$copy" "$map" "$(ratio "$map" "$copy")" "$eos" "$(ratio "$eos" "$map")"
done

echo
printf '%-6s %22s %22s\n' "round" "window count (ALOS)" "window count (EOS)"
for round in $(seq 1 "$ROUNDS"); do
    alos=$(bench --pipeline window-count | field records_per_s)
    eos=$(bench --pipeline window-count --exactly-once | field records_per_s)
    printf '%-6s %22s %22s\n' "$round" "$alos" "$eos"
done

echo
restore=$(bench --pipeline restore)
printf 'restore of %s keys: %s changelog records in %s s\n' "$RECORDS" \
    "$(echo "$restore" | field restored)" "$(echo "$restore" | field restore_seconds)"
disk=$(bench --pipeline restore --state-dir "$DATA.state")
printf 'on disk (fjall): state built at %s records/s, restored by a new instance: %s records in %s s;\n' \
    "$(echo "$disk" | field records_per_s)" "$(echo "$disk" | field restored)" "$(echo "$disk" | field restore_seconds)"
printf '  the first instance restarted on its own state after a clean stop: %s records in %s s\n' \
    "$(echo "$disk" | field restart_restored)" "$(echo "$disk" | field restart_seconds)"
