#!/usr/bin/env bash
# Measures start-up after SIGKILL with many partitions and gigabytes on disk: creates a topic of
# PARTITIONS partitions, writes RECORDS records of 1 KiB with `runnel bench` (acks=1), waits for
# a recovery checkpoint round, writes TAIL more records, SIGKILLs the broker and times the
# restart to listening. Then the same after a clean stop, and a SIGKILL with nothing new since
# the last checkpoint. Each BIN given runs the same sequence on its own data directory, one after
# the other, so builds compare within one run.
# With COLD=1 the page cache is dropped before each restart (needs root), so the restart reads
# from the disk.
# Usage: scripts/crash_restart.sh [RECORDS=3000000] [TAIL=20000] [PARTITIONS=1000] [BIN...]
#        (default BIN: target/release/runnel, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-3000000}"
TAIL="${2:-20000}"
PARTITIONS="${3:-1000}"
shift $(($# < 3 ? $# : 3))
BINS=("$@")
if [ ${#BINS[@]} -eq 0 ]; then
    [ -x target/release/runnel ] || cargo build --release -p runnel
    BINS=("$PWD/target/release/runnel")
fi
B=127.0.0.1:29098
WORK=$(mktemp -d "$PWD/target/crash-restart.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
ms() { date +%s%3N; }
cat > "$WORK/server.properties" <<EOF
max.broker.partitions=$((PARTITIONS + 100))
log.flush.offset.checkpoint.interval.ms=1000
EOF

STARTUP_MS=0
start() {   # start BIN DATA
    local t0
    if [ "${COLD:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
    t0=$(ms)
    rm -f "$WORK/out"
    "$1" serve --data-dir "$2" --listen $B --http-listen off -c "$WORK/server.properties" > "$WORK/out" 2> "$WORK/log" &
    PID=$!
    until grep -q listening "$WORK/out" 2>/dev/null; do sleep 0.002; done
    STARTUP_MS=$(($(ms) - t0))
}
sigkill() { kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

printf '%-40s %12s %14s %14s %14s\n' "binary" "on disk" "SIGKILL+tail" "clean stop" "SIGKILL idle"
for bin in "${BINS[@]}"; do
    data="$WORK/data"
    rm -rf "$data"
    start "$bin" "$data"
    "$bin" topic create wide -p "$PARTITIONS" --brokers $B > /dev/null
    "$bin" bench produce --brokers $B --topic wide --records "$RECORDS" --record-size 1024 --acks 1 \
        --output json > /dev/null
    sleep 5   # at least one recovery checkpoint round over every partition
    "$bin" bench produce --brokers $B --topic wide --records "$TAIL" --record-size 1024 --acks 1 \
        --output json > /dev/null
    sigkill
    on_disk=$(du -sh "$data" | cut -f1)
    start "$bin" "$data"
    after_crash=$STARTUP_MS
    kill -TERM "$PID"; wait "$PID" || true; PID=""
    start "$bin" "$data"
    after_clean=$STARTUP_MS
    sigkill
    start "$bin" "$data"
    after_idle_crash=$STARTUP_MS
    sigkill
    printf '%-40s %12s %11s ms %11s ms %11s ms\n' "$(basename "$(dirname "$bin")")/$(basename "$bin")" "$on_disk" \
        "$after_crash" "$after_clean" "$after_idle_crash"
done
