#!/usr/bin/env bash
# Measures what transactions cost on a release runnel broker, back to back in one run:
# transactional produce (--transaction-records, 1,000 records of 1 KiB per transaction,
# acks=all) against idempotent produce with the same clients, streaming and flushing as often
# as the transactions commit (--flush-records: the drain a commit makes, without the
# transaction), and a read_committed consumer against a read_uncommitted one on the
# transactional topic. Every producer runs with linger.ms=0: a commit or flush in librdkafka
# and Java sends what lingers at once, which rdkafka's Rust API cannot ask for reliably, so
# linger is taken out of every side rather than left to delay the transactional one.
# With a JDK, the produce comparison again with Apache Kafka's Java producer
# (scripts/java/TransactionBench.java; linger.ms=5 and 256 KiB batches on both sides).
# Usage: scripts/bench_transactions.sh [records]   (default 1000000). Results go to stdout.
# With BEFORE=<an older runnel binary>: instead, the transactional produce of one rdkafka
# producer (1 and 8 partitions) on a broker of each build in turn (before, after, after, before;
# the client is this build's), with the broker's mean time per AddPartitionsToTxn, Produce and EndTxn.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
cargo build --release -p runnel
BEFORE="${BEFORE:-}"

BIN=./target/release/runnel
B=127.0.0.1:29094
DATA="$(mktemp -d "${PWD}/target/bench-data.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".out "$DATA".log; }
trap cleanup EXIT

# start_broker BINARY: a broker of that build on a fresh data directory.
start_broker() {
    rm -rf "$DATA" && mkdir -p "$DATA" && : > "$DATA.out"
    "$1" serve --data-dir "$DATA" --listen "$B" > "$DATA.out" 2> "$DATA.log" &
    PID=$!
    until grep -q "listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done
}
start_broker "$BIN"

# throughput ARGS...: one bench's records/s.
throughput() {
    $BIN bench "$@" --brokers "$B" --output json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_s"]))'
}

drop() { for topic in "$@"; do $BIN topic delete "$topic" --brokers "$B" > /dev/null; done; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }

if [ -n "$BEFORE" ]; then
    # A broker of each build in turn on a fresh data directory, with its metrics served, so
    # that the broker's own time per request shows apart from the client's.
    HTTP=127.0.0.1:29095
    start_broker_with_metrics() {
        rm -rf "$DATA" && mkdir -p "$DATA" && : > "$DATA.out"
        "$1" serve --data-dir "$DATA" --listen "$B" --http-listen "$HTTP" > "$DATA.out" 2> "$DATA.log" &
        PID=$!
        until grep -q "listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done
    }
    # before, after, after, before: the second broker of a pair starts while the first one's
    # writes are still draining to the disk, so each build takes each place once; `sync` lets
    # the drain finish first.
    for build in before after after before; do
        broker=$BIN
        [ "$build" = before ] && broker=$BEFORE
        kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true
        rm -rf "$DATA"; sync
        start_broker_with_metrics "$broker"
        for partitions in 1 8; do
            transactional=$(throughput produce --topic "txn-$partitions" --partitions "$partitions" \
                --records "$RECORDS" -X linger.ms=0 --transaction-records 1000)
            echo "$build, 1 rdkafka producer, $partitions partition(s), 1,000 per txn: $transactional records/s"
        done
        # The broker's mean time per request over both benches (runnel_request_duration_seconds).
        curl -s "http://$HTTP/metrics" | python3 -c '
import re, sys
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r"runnel_request_duration_seconds_(sum|count)\{api=\"(\w+)\"[^}]*\} (\S+)", line)
    if m:
        into = sums if m.group(1) == "sum" else counts
        into[m.group(2)] = into.get(m.group(2), 0) + float(m.group(3))
for api in ["AddPartitionsToTxn", "Produce", "EndTxn"]:
    if counts.get(api):
        print("    %-20s %6d requests, mean %.3f ms" % (api, counts[api], 1000 * sums[api] / counts[api]))
'
    done
    exit 0
fi

printf '%-48s %11s %11s %11s %9s %9s\n' "produce, 1 KiB, acks=all (records/s)" "idempotent" "flushing" \
    "transact." "tx/idem" "tx/flush"
# producers, partitions, records per transaction (and per flush)
for case in "1 1 1000" "1 8 1000" "4 8 1000" "8 8 1000" "1 8 10000"; do
    read -r producers partitions per_txn <<< "$case"
    common=(--partitions "$partitions" --producers "$producers" --records "$RECORDS" -X linger.ms=0)
    idempotent=$(throughput produce --topic "idem-$producers-$partitions-$per_txn" "${common[@]}" \
        -X enable.idempotence=true)
    flushing=$(throughput produce --topic "flush-$producers-$partitions-$per_txn" "${common[@]}" \
        -X enable.idempotence=true --flush-records "$per_txn")
    transactional=$(throughput produce --topic "txn-$producers-$partitions-$per_txn" "${common[@]}" \
        --transaction-records "$per_txn")
    printf '%-48s %11s %11s %11s %9s %9s\n' "$producers producer(s), $partitions partition(s), $per_txn per txn" \
        "$idempotent" "$flushing" "$transactional" "$(ratio "$transactional" "$idempotent")" \
        "$(ratio "$transactional" "$flushing")"
    # A gigabyte per bench: only the topics read below are kept, so the disk does not fill.
    drop "idem-$producers-$partitions-$per_txn" "flush-$producers-$partitions-$per_txn"
    [ "$producers $per_txn" = "1 1000" ] || drop "txn-$producers-$partitions-$per_txn"
done

echo
printf '%-48s %14s %14s %7s\n' "consume, transactional topic" "uncommitted" "committed" "ratio"
for partitions in 1 8; do
    topic="txn-1-$partitions-1000"
    uncommitted=$(throughput consume --topic "$topic" --records "$RECORDS" --isolation read_uncommitted)
    committed=$(throughput consume --topic "$topic" --records "$RECORDS" --isolation read_committed)
    printf '%-48s %10s r/s %10s r/s %7s\n' "1 consumer, $partitions partition(s)" \
        "$uncommitted" "$committed" "$(ratio "$committed" "$uncommitted")"
done
drop txn-1-1-1000 txn-1-8-1000

if command -v javac >/dev/null; then
    echo
    classpath=$(scripts/java_classpath.sh)
    classes="$PWD/target/java-clients/bench-classes"
    mkdir -p "$classes"
    javac -d "$classes" -cp "$classpath" scripts/java/TransactionBench.java
    printf '%-48s %11s %11s %9s\n' "Java producer (kafka-clients), 1 KiB, acks=all" "idempotent" "transact." "tx/idem"
    for partitions in 1 8; do
        read -r idempotent transactional ratio < <(java -cp "$classpath$classes" TransactionBench "$B" "$RECORDS" 1000 "$partitions" 2>/dev/null)
        printf '%-48s %11s %11s %9s\n' "1 producer, $partitions partition(s), 1000 per txn" "$idempotent" "$transactional" "$ratio"
    done
fi
