#!/usr/bin/env bash
# Compares two runnel broker builds in one run, alternating them three times on the same data:
# consume throughput of a 1 GB, 8-partition topic and the broker's CPU time while serving it.
# Build an older commit into its own target dir first, e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && CARGO_TARGET_DIR=$PWD/target/old cargo build --release -p runnel)
# Usage: scripts/compare_builds.sh OLD_RUNNEL NEW_RUNNEL
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"
NEW="$2"
DATA=$(mktemp -d "$PWD/target/compare.XXXXXX")
B=127.0.0.1:29096
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA.out"' EXIT
run_broker() {
    "$1" serve --data-dir "$DATA" --listen $B > "$DATA.out" 2>/dev/null &
    PID=$!
    until grep -q listening "$DATA.out" 2>/dev/null; do sleep 0.01; done
}
stop_broker() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
run_broker "$NEW"
"$NEW" bench produce --brokers $B --topic c8 --partitions 8 --records 1000000 --acks 1 > /dev/null
stop_broker
for round in 1 2 3; do
    for which in old new; do
        BIN=$NEW
        [ $which = old ] && BIN=$OLD
        run_broker "$BIN"
        t0=$(ticks)
        out=$("$NEW" bench consume --brokers $B --topic c8 --records 1000000 --output json)
        t1=$(ticks)
        stop_broker
        mb=$(echo "$out" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["mb_per_s"])')
        cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')
        echo "round $round, $which build: consume $mb MB/s, broker CPU $cpu s"
    done
done
