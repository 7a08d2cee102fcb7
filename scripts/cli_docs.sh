#!/usr/bin/env bash
# Regenerates docs/cli.md: runs every CLI command against a fresh runnel broker and records
# the real output. Usage: scripts/cli_docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The same build as scripts/test.sh: building runnel alone resolves other features and would
# rebuild the broker and its dependencies a second time.
cargo build -q --workspace --all-targets
BIN="$PWD/target/debug/runnel"
export PATH="$PWD/target/debug:$PATH"
DATA="$(mktemp -d)"
PORT=29190
"$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT > "$DATA.out" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$DATA.out"' EXIT
until grep -q listening "$DATA.out"; do sleep 0.05; done
export RUNNEL_BROKERS=127.0.0.1:$PORT
OUT=docs/cli.md

show() {   # show "description" command...
    local what="$1"; shift
    {
        echo
        if [ -n "$what" ]; then
            echo "$what"
            echo
        fi
        echo '```console'
        echo "\$ $*"
        (cd "$DATA" && bash -c "$*" 2>&1) || true
        echo '```'
    } >> "$OUT"
}

cat > "$OUT" <<'HEAD'
# The runnel CLI

Every client command speaks the Kafka protocol through librdkafka (`transaction`, whose
requests librdkafka lacks, through a small protocol client of runnel's own), so it works the
same against `runnel serve` or an Apache Kafka or Redpanda cluster. `--brokers HOST:PORT` (or the
`RUNNEL_BROKERS` environment variable; default `127.0.0.1:9092`) names the bootstrap servers.
Output is a table for people; `--output json` gives JSON for scripts (`consume` prints one
JSON object per record). Errors are one line on stderr with a non-zero exit.

The outputs below are real: `scripts/cli_docs.sh` regenerates this page by running each
command against a fresh broker on 127.0.0.1:29190 (`RUNNEL_BROKERS=127.0.0.1:29190`).

## Planning partitions

`partitions = max(ceil(P / C), 2 x B)`, rounded up to a power of two: P is what the producers
write per second, C what one consumer reads per second, B the broker count.
HEAD
show "The user's notes' example, one broker:" "runnel plan --producer-rate 1000 --consumer-rate 100"
show "Ten brokers:" "runnel plan --producer-rate 1000 --consumer-rate 100 --broker-count 10 --output json"
show "Measured against the cluster (one producer, then one consumer, on a one-partition topic; a progress bar shows on a terminal):" "runnel plan --measure plan-probe --records 50000"

echo -e "\n## Topics" >> "$OUT"
show "Create with a partition count and configs:" "runnel topic create orders -p 4 -c retention.ms=86400000"
show "Or sized by the planner (B is read from the cluster):" "runnel topic create clicks --producer-rate 1000 --consumer-rate 100"
show "" "runnel topic list"
show "Partitions with earliest and latest offsets, and configs:" "runnel topic describe orders"
show "Partitions can be added but never removed:" "runnel topic add-partitions orders --to 2; echo \"exit status \$?\""
show "" "runnel topic add-partitions orders --to 8"
show "Change configs, keeping the others (\`--delete KEY\` returns one to the broker's value):" "runnel topic alter-config orders retention.ms=3600000 cleanup.policy=compact"
show "" "runnel topic alter-config orders --delete cleanup.policy"
show "" "runnel topic delete clicks"

echo -e "\n## Producing and consuming" >> "$OUT"
show "One record per line; \`--key-separator\` splits key from value; \`-H\` adds headers:" "printf 'alice:hello\\nbob:hi there\\nalice:how are you?\\n' | runnel produce chat --key-separator : -H room=lobby"
show "From a file, with the result as JSON:" "printf 'one\\ntwo\\n' > lines.txt && runnel produce chat --file lines.txt --output json"
show "Read from the beginning to the end of the log, with a format (%t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers):" "runnel consume chat --from-beginning -e --format '%o %k: %v (%h)'"
show "From an offset, or from a time:" "runnel consume chat --offset 3 -n 2"
show "" "runnel consume chat --timestamp 0 -n 1 --output json"
show "Only records outside transactions or of committed ones (Kafka's isolation levels; read_uncommitted, the default of Kafka's tools, shows records of open and aborted transactions too):" "runnel consume chat --from-beginning -e -n 2 --isolation read_committed"
show "As a member of a group: prints 2 records and commits exactly those (the bookmark):" "runnel consume chat -g alice-phone --from-beginning -n 2"
show "The next read in the group resumes at the bookmark:" "runnel consume chat -g alice-phone -e"

echo -e "\n## Consumer groups" >> "$OUT"
show "" "runnel group list"
show "State, members, and per partition the committed offset, log end and lag:" "runnel group describe alice-phone"
show "Move the bookmark (earliest, latest, an offset, or a time in ms since the epoch; refused while the group has members, as in Kafka):" "runnel group seek alice-phone --to 1"
show "" "runnel group describe alice-phone --output json"
show "" "runnel group delete alice-phone"
show "" "runnel group delete alice-phone; echo \"exit status \$?\""

echo -e "\n## Transactions" >> "$OUT"
# Transactions to show: the bench's transactional producer commits every 500 records.
"$BIN" bench produce --topic payments --partitions 2 --records 1000 --record-size 100 \
    --transaction-records 500 --output json > /dev/null
show "Transactional ids (here \`runnel bench produce --transaction-records 500\`'s) with their coordinator, producer id and state; \`--state Ongoing\` finds open ones, as kafka-transactions.sh list:" "runnel transaction list"
show "One id's producer, state, timeout, and the partitions of its open transaction (none: its last one committed):" "runnel transaction describe runnel-bench-payments-0"
show "" "runnel transaction describe checkout; echo \"exit status \$?\""
show "The producers a topic's partitions track; TXN_START is the first offset of an open transaction, which holds back read_committed consumers (\`-\`: none open):" "runnel transaction describe-producers --topic payments"

echo -e "\n## Users and ACLs" >> "$OUT"
echo -e "\nSee [security.md](security.md) for listeners, SASL, TLS and what each ACL allows; on a secured broker add the librdkafka security properties with \`-X\`." >> "$OUT"
show "A SCRAM user (the password from stdin, salted here):" "echo 'wonderland' | runnel user add alice --mechanism SCRAM-SHA-256"
show "" "runnel user list"
show "ACLs, as kafka-acls.sh adds them:" "runnel acl add --principal User:alice --operation read --operation describe --topic orders"
show "" "runnel acl add --principal User:alice --operation read --group orders- --prefixed"
show "" "runnel acl list"
show "" "runnel acl delete --principal User:alice --topic orders"

echo -e "\n## The cluster" >> "$OUT"
show "" "runnel cluster info"
show "When nothing answers:" "runnel topic list --brokers 127.0.0.1:1; echo \"exit status \$?\""
# runnel monitor runs until stopped: its first line, from a run against this broker.
MONITOR_LINE=$(timeout 3 "$BIN" monitor --http-listen 127.0.0.1:9645 --history-dir "$DATA/monitor-history" 2>/dev/null | head -1 || true)
cat >> "$OUT" <<DOC

## Monitoring any cluster

\`runnel monitor\` serves \`/metrics\` (the topic, group and lag metrics \`runnel serve\` reports for
itself) and the console at \`/\` for any Kafka cluster; see [monitoring.md](monitoring.md).

\`\`\`console
\$ runnel monitor --http-listen 127.0.0.1:9645
$MONITOR_LINE
\`\`\`

| Option | Default | Meaning |
|---|---|---|
| \`--http-listen ADDR\` | \`127.0.0.1:9645\` | Where \`/metrics\` and the console are served; port 0 picks one |
| \`--history-dir DIR\` | \`runnel-monitor-history\` | The console's history (one monitor per directory) |
| \`-c, --config FILE\` | none | A properties file with \`console.*\` settings |
| \`--alert-webhook URL\` | none | Where firing and resolved alerts are posted, as Alertmanager's webhook JSON |
DOC
echo "wrote $OUT"
