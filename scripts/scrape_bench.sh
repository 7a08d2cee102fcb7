#!/usr/bin/env bash
# Measures a /metrics scrape of a release broker holding TOPICS topics of 10 partitions, each
# with records, and one group per topic committed at the earliest offsets (so every partition
# has lag and a time lag read from its log): the median time of 20 scrapes and the size; then
# the console's pages over the same cluster (median of 20 each) and the time one sample takes.
# Usage: scripts/scrape_bench.sh [TOPICS=100]
set -euo pipefail
cd "$(dirname "$0")/.."
TOPICS="${1:-100}"
BIN="$PWD/target/release/runnel"
[ -x "$BIN" ] || cargo build --release -p runnel
DATA=$(mktemp -d "$PWD/target/scrape.XXXXXX")
B=127.0.0.1:29098
H=127.0.0.1:29099
printf 'console.sample.interval.ms=1000\n' > "$DATA.properties"
"$BIN" serve --data-dir "$DATA" --listen $B --http-listen $H -c "$DATA.properties" > "$DATA.out" 2>/dev/null &
PID=$!
trap 'kill "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA.out" "$DATA.properties"' EXIT
until grep -q "runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done
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
for page in / /topics /groups /groups/group-1 /topics/scrape-1; do
    times=()
    for _ in $(seq 1 20); do
        times+=("$(curl -s -o "$DATA.page" -w '%{time_total}' "http://$H$page")")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 10p)
    echo "console $page: median $(awk -v t="$median" 'BEGIN {printf "%.1f", t * 1000}') ms of 20, $(wc -c < "$DATA.page") bytes"
done
sample_ms=$(curl -s "http://$H/" | grep -o 'id="sample-ms">[0-9.]*' | grep -o '[0-9.]*$')
echo "console sample of the cluster: $sample_ms ms (one every second here, 15 s by default)"
rm -f "$DATA.page"
