#!/usr/bin/env bash
# Measures a /metrics scrape of a release broker holding TOPICS topics of 10 partitions, each
# with records, and one group per topic committed at the earliest offsets (so every partition
# has lag and a time lag read from its log): the median time of 20 scrapes and the size; then
# the console's pages over the same cluster (median of 20 each) and the time one sample takes;
# then a day's worth of history (5,760 samples: 24 h at the default 15 s), made by sampling
# every 5 ms, and the restart and pages over it.
# Usage: scripts/scrape_bench.sh [TOPICS=100]
set -euo pipefail
cd "$(dirname "$0")/.."
TOPICS="${1:-100}"
BIN="$PWD/target/release/runnel"
[ -x "$BIN" ] || cargo build --release -p runnel
DATA=$(mktemp -d "$PWD/target/scrape.XXXXXX")
B=127.0.0.1:29098
H=127.0.0.1:29099
start() {
    printf 'console.sample.interval.ms=%s\n' "$1" > "$DATA.properties"
    "$BIN" serve --data-dir "$DATA" --listen $B --http-listen $H -c "$DATA.properties" > "$DATA.out" 2> "$DATA.log" &
    PID=$!
    until grep -q "runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done
}
stop() {
    kill "$PID"
    wait "$PID" || true
}
pages() {
    for page in "$@"; do
        times=()
        for _ in $(seq 1 20); do
            times+=("$(curl -s -o "$DATA.page" -w '%{time_total}' "http://$H$page")")
        done
        median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 10p)
        echo "console $page: median $(awk -v t="$median" 'BEGIN {printf "%.1f", t * 1000}') ms of 20, $(wc -c < "$DATA.page") bytes"
    done
}
start 1000
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA".*' EXIT
echo "filling $TOPICS topics of 10 partitions and committing one group on each"
for t in $(seq 1 "$TOPICS"); do
    "$BIN" bench produce --brokers $B --topic "scrape-$t" --partitions 10 --records 2000 --acks 1 --output json > /dev/null
    "$BIN" group seek "group-$t" --topic "scrape-$t" --to earliest --brokers $B > /dev/null
done
times=()
for _ in $(seq 1 20); do
    times+=("$(curl -s -o "$DATA.scrape" -w '%{time_total}' "http://$H/metrics")")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 10p)
size=$(wc -c < "$DATA.scrape")
partitions=$(grep -c '^kafka_topic_partition_current_offset{' "$DATA.scrape")
lags=$(grep -c '^kafka_consumergroup_group_lag_seconds{' "$DATA.scrape")
echo "scrape of $partitions partitions and $lags group partitions: median $(awk -v t="$median" 'BEGIN {printf "%.1f", t * 1000}') ms of 20, $size bytes"
rm -f "$DATA.scrape"
sleep 2  # a console sample of the filled cluster
pages / /topics /groups /groups/group-1 /topics/scrape-1
sample_ms=$(curl -s "http://$H/" | grep -o 'id="sample-ms">[0-9.]*' | grep -o '[0-9.]*$')
echo "console sample of the cluster: $sample_ms ms (one every second here, 15 s by default)"

echo "a day of history: sampling every 5 ms until 5,760 samples are kept (or the size cap stops the growth)"
stop
start 5
kept=0
for _ in $(seq 1 600); do
    sleep 2
    now=$(curl -s "http://$H/" | grep -o '[0-9]* samples of history' | grep -o '^[0-9]*')
    [ "$now" -ge 5760 ] || [ "$now" -eq "$kept" ] && break
    kept=$now
done
echo "broker resident memory after sampling that history: $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status)"
stop
echo "history on disk: $(du -sh "$DATA/__runnel_console-0" | cut -f1)"
start 60000
echo "restart to serving Kafka clients: $(grep -o 'startup_ms=[0-9]*' "$DATA.log")"
until grep -q 'console history loaded' "$DATA.log"; do sleep 0.1; done
grep -o 'console history loaded.*' "$DATA.log" | sed 's/\x1b\[[0-9;]*m//g'
curl -s "http://$H/" | grep -o '[0-9]* samples of history ([^)]*)'
echo "broker resident memory after a restart that loaded it: $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status)"
pages "/?range=all" "/groups/group-1?range=all" "/topics/scrape-1?range=all"
stop
"$BIN" serve --data-dir "$DATA" --listen $B --http-listen off > "$DATA.out" 2> "$DATA.log" &
PID=$!
until grep -q "runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done
sleep 2
echo "the same broker without the console (--http-listen off): $(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status) resident"
