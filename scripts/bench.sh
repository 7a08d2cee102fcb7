#!/usr/bin/env bash
# Measures a release runnel broker with `runnel bench` (rdkafka clients) beside this machine's
# own limits (scripts/limits.sh): produce and consume throughput with 1 KiB records at 1 and 8
# partitions, acks=all and acks=1, end-to-end latency at 1,000 records/s, start-up time, RSS,
# the broker's CPU time per bench, and a 1,000-partition topic.
# Usage: scripts/bench.sh [records]   (default 1000000). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
cargo build --release -p runnel
./scripts/limits.sh

BIN=./target/release/runnel
PORT=29092
B=127.0.0.1:$PORT
DATA="$(mktemp -d "${PWD}/target/bench-data.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".out "$DATA".log; }
trap cleanup EXIT

start_broker() {
    local started
    started=$(date +%s%N)
    $BIN serve --data-dir "$DATA" --listen "$B" > "$DATA.out" 2> "$DATA.log" &
    PID=$!
    until grep -q "listening" "$DATA.out" 2>/dev/null; do sleep 0.002; done
    echo "start-up to listening ($1): $(( ($(date +%s%N) - started) / 1000000 )) ms (process spawn included)"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

# Runs one bench and prints its table and the broker's CPU time during it.
bench() {
    local before after
    before=$(cpu_ticks)
    $BIN bench "$@" --brokers "$B"
    after=$(cpu_ticks)
    echo "broker CPU   $(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f s", t / hz}')"
    echo
}

start_broker "empty data directory"
echo "idle RSS: $(ps -o rss= -p "$PID" | tr -d ' ') KiB"
echo
for P in 1 8; do
    bench produce --topic "all-$P" --partitions "$P" --records "$RECORDS" --acks all
    bench consume --topic "all-$P" --records "$RECORDS"
    bench consume --topic "all-$P" --records "$RECORDS" --consumers 2
    bench produce --topic "one-$P" --partitions "$P" --records "$RECORDS" --acks 1
done
bench e2e --topic latency --partitions 1 --records 10000 --rate 1000 --acks all
echo "peak RSS: $(grep VmHWM "/proc/$PID/status" | awk '{print $2}') KiB"

echo
echo "== 1,000 partitions"
bench produce --topic many --partitions 1000 --records 200000 --acks 1
echo "RSS with 1,000 more partitions: $(ps -o rss= -p "$PID" | tr -d ' ') KiB, open files: $(ls /proc/"$PID"/fd | wc -l)"
kill -TERM "$PID"; wait "$PID" || true
start_broker "1,003 partitions, after a clean shutdown"
echo "RSS after start-up: $(ps -o rss= -p "$PID" | tr -d ' ') KiB"
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
start_broker "1,003 partitions, after SIGKILL (recovery scans every last segment)"
