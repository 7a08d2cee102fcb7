#!/usr/bin/env bash
# Runs Apache Kafka's Java client (kafka-clients 3.9) against runnel serve: the checks in
# tests/java, then the notes' producer-consumer jar (examples/java), built with javac and jar
# and run twice with `java -jar`. The jars come from PyPI (scripts/java_classpath.sh; no
# Maven). Needs a JDK (java, javac and jar, 17 or later).
# Usage: scripts/java_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

classpath=$(scripts/java_classpath.sh)
libs="$(dirname "${classpath%%:*}")"
classes="$PWD/target/java-clients/classes"
mkdir -p "$classes"
javac -d "$classes" -cp "$classpath" tests/java/RunnelJavaClients.java tests/java/RunnelJavaSasl.java \
    tests/java/RunnelJavaFetchSessions.java

# The same build as scripts/test.sh: building runnel alone resolves other features and would
# rebuild the broker and its dependencies a second time.
cargo build --quiet --workspace --all-targets
work=$(mktemp -d)
sasl_broker=""
trap 'kill $broker $sasl_broker 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
target/debug/runnel serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    > "$work/out" 2> "$work/broker.log" &
broker=$!
for _ in $(seq 100); do grep -q "^runnel listening" "$work/out" && break; sleep 0.1; done
bootstrap=$(awk '/^runnel listening on/ {print $4}' "$work/out")
[ -n "$bootstrap" ] || { cat "$work/broker.log" >&2; exit 1; }
version=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("kafka/kafka-version.properties").decode())' \
    "$libs/kafka-clients.jar" | sed -n 's/^version=//p')
echo "==> kafka-clients $version against runnel at $bootstrap"
if ! java -cp "$classpath$classes" RunnelJavaClients "$bootstrap"; then
    echo "the broker's log:" >&2
    tail -50 "$work/broker.log" >&2
    exit 1
fi

echo "==> kafka-clients $version reading 1,000 partitions through a fetch session (KIP-227)"
if ! java -cp "$classpath$classes" RunnelJavaFetchSessions "$bootstrap"; then
    tail -50 "$work/broker.log" >&2
    exit 1
fi
# The number a metric has on the broker at $1 (its HTTP address).
metric() {
    python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$1/metrics" |
        awk -v name="$2" '$1 == name {print $2}'
}
plain_http=$(awk '/^runnel http listening on/ {print $5}' "$work/out")
incremental=$(metric "$plain_http" runnel_incremental_fetches_total)
echo "incremental fetches counted by the broker: $incremental"
awk -v n="$incremental" 'BEGIN { exit !(n >= 5) }' || { echo "the Java consumer sent no incremental fetches" >&2; exit 1; }
skipped=$(metric "$plain_http" runnel_fetch_session_idle_partitions_skipped_total)
echo "partitions its idle incremental fetches left unread: $skipped"
awk -v n="$skipped" 'BEGIN { exit !(n >= 1000) }' || { echo "idle incremental fetches still read every partition" >&2; exit 1; }

echo "==> examples/java: the producer-consumer jar, run twice (the second run starts at the first's bookmark)"
example="$PWD/examples/java/target"
mkdir -p "$example/classes"
javac -d "$example/classes" -cp "$classpath" examples/java/src/main/java/example/ProducerConsumer.java
printf 'Main-Class: example.ProducerConsumer\nClass-Path: %s\n' "$(printf '%s ' "$libs"/*.jar)" > "$example/manifest.txt"
jar --create --file "$example/kafka-producer-consumer-1.0-SNAPSHOT.jar" --manifest "$example/manifest.txt" \
    -C "$example/classes" .
for run in 1 2; do
    output=$(java -jar "$example/kafka-producer-consumer-1.0-SNAPSHOT.jar" "$bootstrap" chat-java 10 2>/dev/null) || {
        echo "$output"; echo "the example's run $run failed" >&2; exit 1; }
    summary=$(grep '^consumed' <<< "$output")
    echo "run $run: $summary"
    [ "$summary" = "consumed 10 messages, 10 of them from this run" ] || {
        echo "expected run $run to read exactly its own 10 messages (the bookmark)" >&2; exit 1; }
done

echo "==> kafka-clients $version on SASL_PLAINTEXT (SCRAM), SASL_SSL (SCRAM-SHA-512) and SSL with client certificates"
target/debug/runnel storage format -t "$(target/debug/runnel storage random-uuid)" --data-dir "$work/sasl-data" \
    --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]' > /dev/null
scripts/test_certificates.sh "$work/certs"
cat > "$work/sasl.properties" <<PROPERTIES
listeners=SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,MTLS://127.0.0.1:0
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
ssl.keystore.type=PEM
ssl.keystore.location=$work/certs/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$work/certs/ca.pem
listener.name.mtls.ssl.client.auth=required
super.users=User:admin;User:CN=alice,O=example
allow.everyone.if.no.acl.found=true
# Sessions of 3 s: the Java client re-authenticates on its open connections (KIP-368).
connections.max.reauth.ms=3000
PROPERTIES
target/debug/runnel serve --data-dir "$work/sasl-data" -c "$work/sasl.properties" --http-listen 127.0.0.1:0 \
    > "$work/sasl-out" 2> "$work/sasl-broker.log" &
sasl_broker=$!
for _ in $(seq 100); do grep -q "^runnel listening" "$work/sasl-out" && break; sleep 0.1; done
sasl_bootstrap=$(awk '/^runnel listening on/ {print $4}' "$work/sasl-out")
[ -n "$sasl_bootstrap" ] || { cat "$work/sasl-broker.log" >&2; exit 1; }
sasl_ssl_bootstrap=$(awk '/^runnel listener SASL_SSL / {print $NF}' "$work/sasl-out")
mtls_bootstrap=$(awk '/^runnel listener MTLS / {print $NF}' "$work/sasl-out")
if ! java -cp "$classpath$classes" RunnelJavaSasl "$sasl_bootstrap" "$sasl_ssl_bootstrap" "$mtls_bootstrap" "$work/certs"; then
    echo "the broker's log:" >&2
    tail -50 "$work/sasl-broker.log" >&2
    exit 1
fi
# The sends above outlived their sessions on open connections: the broker counted the
# client's re-authentications.
sasl_http=$(awk '/^runnel http listening on/ {print $5}' "$work/sasl-out")
reauthentications=$(metric "$sasl_http" runnel_successful_reauthentications_total)
echo "re-authentications counted by the broker: $reauthentications"
awk -v n="$reauthentications" 'BEGIN { exit !(n >= 1) }' || {
    echo "the Java client never re-authenticated (KIP-368)" >&2; exit 1; }
