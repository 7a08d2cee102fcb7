#!/usr/bin/env bash
# Measures a release broker with many partitions: creating and deleting a topic of N partitions,
# open files and RSS with them, and start-up after a clean stop and after SIGKILL, under an
# open-file limit of FILES (so the segment files rotate through a budget of FILES/2). Where perf
# is installed, the produce bench also reports the broker's and the producer's CPU time.
# Usage: [RECORDS=200000] scripts/many_partitions.sh [N=10000] [FILES=1024]   (RECORDS=0: no
#        produce bench)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
FILES="${2:-1024}"
RECORDS="${RECORDS:-200000}"
BIN="$PWD/target/release/runnel"
[ -x "$BIN" ] || cargo build --release -p runnel
DATA=$(mktemp -d "$PWD/target/partitions.XXXXXX")
B=127.0.0.1:29097
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA.out" "$DATA.properties" "$DATA.bench" "$DATA".*.cpu' EXIT
ms() { date +%s%3N; }
# max.broker.partitions defaults to 4 x the open-file budget and max.partitions.per.request to
# 10,000: raise both to N for this run.
printf 'max.broker.partitions=%s\nmax.partitions.per.request=%s\n' "$((N + 100))" "$N" > "$DATA.properties"
STARTUP_MS=0
start() {
    local t0
    t0=$(ms)
    rm -f "$DATA.out"
    (ulimit -n "$FILES" && exec "$BIN" serve --data-dir "$DATA" --listen $B -c "$DATA.properties" > "$DATA.out" 2>/dev/null) &
    PID=$!
    until grep -q listening "$DATA.out" 2>/dev/null; do sleep 0.005; done
    STARTUP_MS=$(($(ms) - t0))
}
fds() { ls "/proc/$PID/fd" | wc -l; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }

start
echo "start-up, empty: $STARTUP_MS ms; open files $(fds), RSS $(rss_mb) MB"
t0=$(ms)
"$BIN" topic create wide -p "$N" --brokers $B > /dev/null
echo "create a topic of $N partitions: $(($(ms) - t0)) ms; open files $(fds), RSS $(rss_mb) MB"
bench=("$BIN" bench produce --brokers $B --topic wide --records "$RECORDS" --acks 1 --output json)
if [ "$RECORDS" -eq 0 ]; then
    echo "produce: skipped (RECORDS=0)"
elif perf stat -e task-clock -- true > /dev/null 2>&1; then
    perf stat -x, -e task-clock -p "$PID" -o "$DATA.broker.cpu" -- \
        perf stat -x, -e task-clock -o "$DATA.producer.cpu" "${bench[@]}" > "$DATA.bench"
    cpu() { awk -F, '/task-clock/ {printf "%d ms", $1}' "$1"; }
    cpu_note="; CPU: broker $(cpu "$DATA.broker.cpu"), producer $(cpu "$DATA.producer.cpu")"
else
    "${bench[@]}" > "$DATA.bench"
    cpu_note=""
fi
[ "$RECORDS" -eq 0 ] || echo "produce $RECORDS records over them (acks=1): $(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(", ".join(f"{k} {v}" for k, v in r.items() if not isinstance(v, (dict, list))))' "$DATA.bench")$cpu_note"
echo "after $RECORDS records over them: open files $(fds), RSS $(rss_mb) MB"
kill -TERM "$PID"; wait "$PID" || true
start
echo "start-up after a clean stop: $STARTUP_MS ms; open files $(fds), RSS $(rss_mb) MB"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start
echo "start-up after SIGKILL: $STARTUP_MS ms; open files $(fds), RSS $(rss_mb) MB"
t0=$(ms)
"$BIN" topic delete wide --brokers $B > /dev/null
echo "delete the topic: $(($(ms) - t0)) ms; open files $(fds), RSS $(rss_mb) MB"
