#!/usr/bin/env bash
# Measures what TLS costs on a release runnel broker, in one run: one broker with a PLAINTEXT
# and an SSL listener (certificates from scripts/test_certificates.sh), and the same benches
# through each, alternating so that both sides see the same machine: produce (1 KiB records,
# acks=all, one producer on 1 and on 8 partitions) and consume (one consumer) of the topic
# just written, over the same listener. SASL_SSL costs what SSL does once signed in, so the
# rounds use SSL.
# Usage: scripts/bench_tls.sh [records] [rounds]   (defaults 1000000 and 2). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
ROUNDS="${2:-2}"
cargo build --release -p runnel

BIN=./target/release/runnel
DATA="$(mktemp -d "${PWD}/target/bench-tls.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

scripts/test_certificates.sh "$DATA/certs"
cat > "$DATA/server.properties" <<PROPERTIES
listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0
ssl.keystore.type=PEM
ssl.keystore.location=$DATA/certs/broker-keystore.pem
PROPERTIES
$BIN serve --data-dir "$DATA/data" -c "$DATA/server.properties" --http-listen off > "$DATA/out" 2> "$DATA/log" &
PID=$!
until grep -q "^runnel listening" "$DATA/out" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$DATA/log" >&2; exit 1; }
    sleep 0.01
done
PLAIN=$(awk '/^runnel listener PLAINTEXT / {print $NF}' "$DATA/out")
TLS=$(awk '/^runnel listener SSL / {print $NF}' "$DATA/out")
TLS_ARGS=(-X security.protocol=SSL -X "ssl.ca.location=$DATA/certs/ca.pem")

# bench SIDE ARGS...: one bench's MB/s through the listener of SIDE (plain or tls).
bench() {
    local side="$1"
    shift
    if [ "$side" = tls ]; then
        $BIN bench "$@" --brokers "$TLS" "${TLS_ARGS[@]}" --output json
    else
        $BIN bench "$@" --brokers "$PLAIN" --output json
    fi | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["mb_per_s"])'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }

printf '%-34s %6s %12s %12s %8s\n' "1 KiB records, MB/s" "round" "PLAINTEXT" "SSL" "SSL/PT"
for round in $(seq "$ROUNDS"); do
    for partitions in 1 8; do
        declare -A produced=() consumed=()
        for side in plain tls; do
            topic="$side-$partitions-$round"
            produced[$side]=$(bench "$side" produce --topic "$topic" --partitions "$partitions" \
                --records "$RECORDS" --record-size 1024 --acks all)
            consumed[$side]=$(bench "$side" consume --topic "$topic" --records "$RECORDS" --consumers 1)
            $BIN topic delete "$topic" --brokers "$PLAIN" > /dev/null
        done
        printf '%-34s %6s %12s %12s %8s\n' "produce, acks=all, $partitions partition(s)" "$round" \
            "${produced[plain]}" "${produced[tls]}" "$(ratio "${produced[tls]}" "${produced[plain]}")"
        printf '%-34s %6s %12s %12s %8s\n' "consume, $partitions partition(s)" "$round" \
            "${consumed[plain]}" "${consumed[tls]}" "$(ratio "${consumed[tls]}" "${consumed[plain]}")"
    done
done
