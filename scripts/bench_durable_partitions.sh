#!/usr/bin/env bash
# What durability costs as the partition count grows: one release broker, one rdkafka producer
# (`runnel bench produce`, 1 KiB records), acks=1 and acks=all at 1, 8 and 1,000 partitions,
# ROUNDS rounds in one run, beside fio's fdatasync write (scripts/limits.sh's yardstick).
# For each bench: throughput, the broker's and the producer's CPU time (perf's task-clock where
# perf is installed), and the broker's fsyncs (runnel_fsync_duration_seconds_count) with their
# mean duration. With BEFORE=path/to/runnel, each round runs that build too, on a broker of its
# own. PRODUCER_ARGS adds options to every producer (`-X linger.ms=50`, say). Installs fio from
# Debian's packages when missing.
# Usage: [BEFORE=runnel-binary] [PRODUCER_ARGS=...] scripts/bench_durable_partitions.sh [RECORDS=300000] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-300000}"
ROUNDS="${2:-2}"
PRODUCER_ARGS="${PRODUCER_ARGS:-}"
BIN="$PWD/target/release/runnel"
[ -x "$BIN" ] || cargo build --release -p runnel
if ! command -v fio > /dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fio > /dev/null
fi
DATA=$(mktemp -d "$PWD/target/durable.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".*' EXIT

fio_mb_s() {
    rm -f "$DATA.fio"
    fio --name=seq --filename="$DATA.fio" --rw=write --bs=1m --size=1g --ioengine=psync --fdatasync=1 \
        --output-format=json 2> /dev/null |
        python3 -c "import json,sys; d=json.load(sys.stdin); print('%.1f' % (d['jobs'][0]['write']['bw_bytes']/1e6))"
    rm -f "$DATA.fio"
}

# start BINARY: a broker on an empty data directory.
start() {
    rm -rf "$DATA/data"
    "$1" serve --data-dir "$DATA/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 > "$DATA.out" 2> "$DATA.log" &
    PID=$!
    until grep -q "^runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.05; done
    bootstrap=$(awk '/^runnel listening on/ {print $4}' "$DATA.out")
    http=$(awk '/^runnel http listening on/ {print $5}' "$DATA.out")
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
metric() { curl -s "$http/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
use_perf=false
perf stat -e task-clock -- true > /dev/null 2>&1 && use_perf=true

# bench PARTITIONS ACKS: one line of figures.
bench() {
    local topic="t-$1-$2-$RANDOM" out f0 s0 f1 s1 broker_ms client_ms
    f0=$(metric runnel_fsync_duration_seconds_count); s0=$(metric runnel_fsync_duration_seconds_sum)
    if $use_perf; then
        out=$(perf stat -x, -e task-clock -p "$PID" -o "$DATA.broker" -- \
            perf stat -x, -e task-clock -o "$DATA.client" \
            "$BIN" bench produce --brokers "$bootstrap" --topic "$topic" --partitions "$1" \
            --records "$RECORDS" --record-size 1024 --acks "$2" --output json $PRODUCER_ARGS 2>/dev/null)
        broker_ms=$(awk -F, '/task-clock/ {printf "%d", $1}' "$DATA.broker")
        client_ms=$(awk -F, '/task-clock/ {printf "%d", $1}' "$DATA.client")
    else
        out=$("$BIN" bench produce --brokers "$bootstrap" --topic "$topic" --partitions "$1" \
            --records "$RECORDS" --record-size 1024 --acks "$2" --output json $PRODUCER_ARGS 2>/dev/null)
        broker_ms="-"; client_ms="-"
    fi
    f1=$(metric runnel_fsync_duration_seconds_count); s1=$(metric runnel_fsync_duration_seconds_sum)
    python3 - "$1" "$2" "$out" "$broker_ms" "$client_ms" "$f0" "$f1" "$s0" "$s1" "$fio" "$label" <<'PY'
import json, sys
p, acks, out, broker, client, f0, f1, s0, s1, fio, label = sys.argv[1:]
mb = json.loads(out)["mb_per_s"]
fsyncs = int(float(f1) - float(f0))
mean = (float(s1) - float(s0)) / fsyncs * 1000 if fsyncs else 0
print(f"{label:<7}{p:>5} partitions  acks={acks:<3}  {mb:7.1f} MB/s  {100 * mb / float(fio):3.0f}% of fio  "
      f"broker CPU {broker:>5} ms  producer CPU {client:>5} ms  fsyncs {fsyncs:6d} (mean {mean:.2f} ms)")
PY
    "$BIN" topic delete "$topic" --brokers "$bootstrap" > /dev/null 2>&1 || true
}

for round in $(seq "$ROUNDS"); do
    fio=$(fio_mb_s)
    echo "== round $round: fio sequential write, fdatasync after every 1 MiB: $fio MB/s"
    for build in this ${BEFORE:+before}; do
        label=$build
        if [ "$build" = this ]; then start "$BIN"; else start "$BEFORE"; fi
        for partitions in 1 8 1000; do
            for acks in 1 all; do bench "$partitions" "$acks"; done
        done
        stop
    done
done
