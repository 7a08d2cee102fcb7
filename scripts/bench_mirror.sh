#!/usr/bin/env bash
# Measures `runnel mirror` on two release runnel brokers ("us" and "eu") on this machine, in one
# run: a plain consume of a topic (runnel bench consume, one consumer) against the mirror copying
# the same topic to the other broker, timed from the first record on the target to the last
# (as the consume bench times from its first record), the same mirror writing through
# librdkafka's producer (--target-writer librdkafka, as to a cluster of several brokers), and the
# mirror again with --preserve-offsets (the copy keeps the source's offsets). Each round mirrors
# to a new target topic.
# Then, in the same run: replication latency at a steady rate (runnel bench e2e writing RATE
# records/s to "us" for 30 s and reading them back from the mirror's copy on "eu", against the
# same bench reading "us" itself), and, when DELAY_MS is set, mirror rounds to a third broker
# ("far") reached through scripts/delay_proxy.py, with no delay and then DELAY_MS each way.
# Usage: [DELAY_MS=25] [RATE=10000] scripts/bench_mirror.sh [records] [rounds]   (defaults
# 1000000 and 2; 100-byte records, 4 partitions). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
ROUNDS="${2:-2}"
DELAY_MS="${DELAY_MS:-0}"
RATE="${RATE:-10000}"
# Extra `runnel mirror` options for the throughput rounds (split on spaces, no globbing).
MIRROR_ARGS="${MIRROR_ARGS:-}"
set -f
cargo build --release -p runnel

BIN=./target/release/runnel
US=127.0.0.1:29291
EU=127.0.0.1:29292
DATA="$(mktemp -d "${PWD}/target/bench-mirror.XXXXXX")"
PIDS=()
# `|| true`: under `set -e` a process already gone would end the cleanup before the rest.
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

# Waits for broker $1 (pid $2) to listen; stops the bench with its log if it exits instead
# (its port taken by a broker left over from another run, say).
wait_listening() {
    until grep -q "listening" "$DATA/$1.out" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { echo "broker $1 did not start:" >&2; cat "$DATA/$1.log" >&2; exit 1; }
        sleep 0.01
    done
}

for side in us eu; do
    listen=$US; [ "$side" = eu ] && listen=$EU
    $BIN serve --data-dir "$DATA/$side" --listen "$listen" --http-listen off > "$DATA/$side.out" 2> "$DATA/$side.log" &
    PIDS+=($!)
    wait_listening "$side" $!
done

$BIN bench produce --brokers "$US" --topic orders --partitions 4 --records "$RECORDS" --record-size 100 \
    --output json > /dev/null

# records on the target topic $1 (on $2, "eu" by default)
held() {
    $BIN topic describe "$1" --brokers "${2:-$EU}" --output json 2>/dev/null |
        python3 -c 'import json,sys; print(sum(p["latest"] - p["earliest"] for p in json.load(sys.stdin)["partitions"]))' 2>/dev/null ||
        echo 0
}

# One mirror round to a new copy named after $1 (on $2, "eu" by default), with the options
# after; prints records/s.
mirror_round() {
    local alias="$1" target="${2:-$EU}" mirror started finished first
    shift 2 || shift $#
    $BIN mirror --source "$US" --target "$target" --topics orders --source-alias "$alias" --target-alias eu \
        --http-listen off $MIRROR_ARGS "$@" 2> "$DATA/mirror-$alias.log" &
    mirror=$!
    # Timed from the first records seen on the target, as the consume bench times from its
    # first; what was already there then (a pipelined writer's first burst) is not counted.
    first=0
    until [ "$first" -gt 0 ]; do
        kill -0 "$mirror" 2>/dev/null || { cat "$DATA/mirror-$alias.log" >&2; exit 1; }
        sleep 0.01
        # Stamped before the count is read: the rate errs low, not high.
        started=$(date +%s.%N)
        first=$(held "$alias.orders" "$target")
    done
    until [ "$(held "$alias.orders" "$target")" -ge "$RECORDS" ]; do sleep 0.01; done
    finished=$(date +%s.%N)
    kill "$mirror"; wait "$mirror" 2>/dev/null || true
    awk -v n="$((RECORDS - first))" -v a="$started" -v b="$finished" 'BEGIN {printf "%.0f", n / (b - a)}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }

printf '%-6s %14s %14s %7s %16s %7s %16s %7s\n' "round" "consume (r/s)" "mirror (r/s)" "ratio" \
    "librdkafka (r/s)" "ratio" "preserving (r/s)" "ratio"
for round in $(seq 1 "$ROUNDS"); do
    consume=$($BIN bench consume --brokers "$US" --topic orders --records "$RECORDS" --output json |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_s"]))')
    mirror_rate=$(mirror_round "r$round" "$EU")
    # The same translating mirror writing through librdkafka's producer, as it does to a
    # cluster of several brokers.
    librdkafka=$(mirror_round "l$round" "$EU" --target-writer librdkafka)
    preserving=$(mirror_round "p$round" "$EU" --preserve-offsets)
    printf '%-6s %14s %14s %7s %16s %7s %16s %7s\n' "$round" "$consume" "$mirror_rate" \
        "$(ratio "$mirror_rate" "$consume")" "$librdkafka" "$(ratio "$librdkafka" "$consume")" \
        "$preserving" "$(ratio "$preserving" "$consume")"
done

# Replication latency at a steady rate: the e2e bench on "us" alone, then through the mirror.
$BIN topic create latency --partitions 4 --brokers "$US" > /dev/null
$BIN mirror --source "$US" --target "$EU" --topics latency --source-alias us --target-alias eu \
    --http-listen off 2> "$DATA/mirror-latency.log" &
latency_mirror=$!
until $BIN topic describe us.latency --brokers "$EU" > /dev/null 2>&1; do sleep 0.1; done
sleep 2
e2e() {   # e2e [extra args...]: p50 p99 max in ms
    $BIN bench e2e --brokers "$US" --topic latency --partitions 4 --rate "$RATE" --duration 30 \
        --record-size 100 --output json "$@" |
        python3 -c 'import json,sys; l=json.load(sys.stdin)["latency_ms"]; print(l["p50"], l["p99"], l["max"])'
}
echo
printf '%-28s %10s %10s %10s\n' "at $RATE records/s" "p50 (ms)" "p99 (ms)" "max (ms)"
read -r p50 p99 max < <(e2e)
printf '%-28s %10s %10s %10s\n' "produce to consume, us" "$p50" "$p99" "$max"
read -r p50 p99 max < <(e2e --read-brokers "$EU" --read-topic us.latency)
printf '%-28s %10s %10s %10s\n' "produce on us to eu copy" "$p50" "$p99" "$max"
kill "$latency_mirror"; wait "$latency_mirror" 2>/dev/null || true

# A slow link: a third broker behind a proxy that delays every byte DELAY_MS each way.
if [ "$DELAY_MS" != 0 ]; then
    FAR_LISTEN=127.0.0.1:29293
    FAR=127.0.0.1:29294
    echo "advertised.listeners=PLAINTEXT://$FAR" > "$DATA/far.properties"
    $BIN serve --data-dir "$DATA/far" --listen "$FAR_LISTEN" --http-listen off -c "$DATA/far.properties" \
        > "$DATA/far.out" 2> "$DATA/far.log" &
    PIDS+=($!)
    wait_listening far $!
    proxy_round() {   # proxy_round DELAY ALIAS [OPTIONS]: a mirror round through the proxy; prints records/s
        python3 scripts/delay_proxy.py "${FAR##*:}" "$FAR_LISTEN" "$1" > /dev/null &
        local proxy=$!
        sleep 0.5
        mirror_round "$2" "$FAR" "${@:3}"
        kill "$proxy"; wait "$proxy" 2>/dev/null || true
    }
    fast=$(proxy_round 0 near)
    slow=$(proxy_round "$DELAY_MS" far)
    fast_preserving=$(proxy_round 0 pnear --preserve-offsets)
    slow_preserving=$(proxy_round "$DELAY_MS" pfar --preserve-offsets)
    echo
    printf '%-52s %12s\n' "mirror through the proxy, no delay (r/s)" "$fast" \
        "mirror through it, ${DELAY_MS} ms each way (r/s)" "$slow"
    echo "delayed / not delayed: $(ratio "$slow" "$fast")"
    printf '%-52s %12s\n' "preserving mirror through the proxy, no delay (r/s)" "$fast_preserving" \
        "preserving mirror through it, ${DELAY_MS} ms each way (r/s)" "$slow_preserving"
    echo "delayed / not delayed: $(ratio "$slow_preserving" "$fast_preserving")"
fi
