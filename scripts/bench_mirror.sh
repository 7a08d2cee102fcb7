#!/usr/bin/env bash
# Measures `runnel mirror` on two release runnel brokers ("us" and "eu") on this machine, in one
# run: a plain consume of a topic (runnel bench consume, one consumer) against the mirror copying
# the same topic to the other broker, timed from the first record on the target to the last
# (as the consume bench times from its first record). Each round mirrors to a new target topic.
# Usage: scripts/bench_mirror.sh [records] [rounds]   (defaults 1000000 and 2; 100-byte records,
# 4 partitions). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
ROUNDS="${2:-2}"
cargo build --release -p runnel

BIN=./target/release/runnel
US=127.0.0.1:29291
EU=127.0.0.1:29292
DATA="$(mktemp -d "${PWD}/target/bench-mirror.XXXXXX")"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

for side in us eu; do
    listen=$US; [ "$side" = eu ] && listen=$EU
    $BIN serve --data-dir "$DATA/$side" --listen "$listen" --http-listen off > "$DATA/$side.out" 2> "$DATA/$side.log" &
    PIDS+=($!)
    until grep -q "listening" "$DATA/$side.out" 2>/dev/null; do sleep 0.01; done
done

$BIN bench produce --brokers "$US" --topic orders --partitions 4 --records "$RECORDS" --record-size 100 \
    --output json > /dev/null

# records on the target topic $1
held() {
    $BIN topic describe "$1" --brokers "$EU" --output json 2>/dev/null |
        python3 -c 'import json,sys; print(sum(p["latest"] - p["earliest"] for p in json.load(sys.stdin)["partitions"]))' 2>/dev/null ||
        echo 0
}

printf '%-6s %16s %16s %8s\n' "round" "consume (r/s)" "mirror (r/s)" "ratio"
for round in $(seq 1 "$ROUNDS"); do
    consume=$($BIN bench consume --brokers "$US" --topic orders --records "$RECORDS" --output json |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_s"]))')
    alias="r$round"
    $BIN mirror --source "$US" --target "$EU" --topics orders --source-alias "$alias" --target-alias eu \
        --http-listen off 2> "$DATA/mirror-$round.log" &
    mirror=$!
    # Timed from the first record on the target, as the consume bench times from its first.
    until [ "$(held "$alias.orders")" -gt 0 ]; do sleep 0.01; done
    started=$(date +%s.%N)
    until [ "$(held "$alias.orders")" -ge "$RECORDS" ]; do sleep 0.01; done
    finished=$(date +%s.%N)
    kill "$mirror"; wait "$mirror" 2>/dev/null || true
    mirror_rate=$(awk -v n="$RECORDS" -v a="$started" -v b="$finished" 'BEGIN {printf "%.0f", n / (b - a)}')
    printf '%-6s %16s %16s %7.0f%%\n' "$round" "$consume" "$mirror_rate" "$(awk -v a="$mirror_rate" -v b="$consume" 'BEGIN {print 100 * a / b}')"
done
