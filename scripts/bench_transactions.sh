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
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
cargo build --release -p runnel

BIN=./target/release/runnel
B=127.0.0.1:29094
DATA="$(mktemp -d "${PWD}/target/bench-data.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA".out "$DATA".log; }
trap cleanup EXIT

$BIN serve --data-dir "$DATA" --listen "$B" > "$DATA.out" 2> "$DATA.log" &
PID=$!
until grep -q "listening" "$DATA.out" 2>/dev/null; do sleep 0.01; done

# throughput ARGS...: one bench's records/s.
throughput() {
    $BIN bench "$@" --brokers "$B" --output json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["records_per_s"]))'
}

drop() { for topic in "$@"; do $BIN topic delete "$topic" --brokers "$B" > /dev/null; done; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }

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
