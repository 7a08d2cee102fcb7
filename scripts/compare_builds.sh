#!/usr/bin/env bash
# Compares two runnel broker builds in one run, alternating them three times on the same data:
# consume (default) or acks=all produce throughput of 1 GB over 8 partitions, and the broker's
# CPU time meanwhile.
# Build an older commit into its own target dir first, e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && CARGO_TARGET_DIR=$PWD/target/old cargo build --release -p runnel)
# Usage: scripts/compare_builds.sh OLD_RUNNEL NEW_RUNNEL [consume|produce]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$1"
NEW="$2"
MODE="${3:-consume}"
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
        if [ "$MODE" = produce ]; then
            out=$("$NEW" bench produce --brokers $B --topic "p8-$round-$which" --partitions 8 --records 1000000 --acks all --output json)
        else
            out=$("$NEW" bench consume --brokers $B --topic c8 --records 1000000 --output json)
        fi
        t1=$(ticks)
        stop_broker
        mb=$(echo "$out" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["mb_per_s"])')
        cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')
        echo "round $round, $which build: $MODE $mb MB/s, broker CPU $cpu s"
    done
done
