#!/usr/bin/env bash
# Measures a release runnel broker with `runnel bench` (rdkafka clients): produce and consume
# throughput with 1 KiB records at 1 and 8 partitions, and end-to-end latency at 1,000 records/s.
# Usage: scripts/bench.sh [records]   (default 1000000). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
cargo build --release -p runnel
DATA="$(mktemp -d "${PWD}/target/bench-data.XXXXXX")"
PORT=29092
BIN=./target/release/runnel
START=$(date +%s%N)
$BIN serve --data-dir "$DATA" --listen 127.0.0.1:$PORT > "$DATA.stdout" 2> "$DATA.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$DATA.stdout" "$DATA.log"' EXIT
until grep -q "listening" "$DATA.stdout" 2>/dev/null; do sleep 0.005; done
echo "start-up to listening: $(( ($(date +%s%N) - START) / 1000000 )) ms (process spawn included)"
echo "idle RSS: $(ps -o rss= -p $PID | tr -d ' ') KiB"
B=127.0.0.1:$PORT
for P in 1 8; do
    $BIN bench produce --brokers $B --topic all-$P --partitions $P --records "$RECORDS" --acks all
    $BIN bench consume --brokers $B --topic all-$P --partitions $P --records "$RECORDS"
    $BIN bench produce --brokers $B --topic one-$P --partitions $P --records "$RECORDS" --acks 1
done
$BIN bench e2e --brokers $B --topic latency --partitions 1 --records 10000 --rate 1000 --acks all
echo "peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2}') KiB"
