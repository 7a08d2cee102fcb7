#!/usr/bin/env bash
# Runs tests of librdkafka's own C test suite against runnel. The suite is built from the
# librdkafka source the rdkafka-sys crate carries (found with cargo metadata: no download),
# once per librdkafka version, under target/librdkafka-tests/. A fresh `runnel serve` is
# configured as the suite's default scenario expects (auto-created topics of 4 partitions) and
# with the 3 s initial rebalance delay its group tests assume. TEST_KAFKA_VERSION is 3.9.0:
# runnel serves that protocol (with Kafka 4.0's minimum versions).
# Usage: scripts/librdkafka_tests.sh TEST...     e.g. scripts/librdkafka_tests.sh 0001 0012
# Each test's log goes to target/librdkafka-tests/logs/TEST.log; exits 1 if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 TEST... (test numbers such as 0001 0012)" >&2; exit 2; }

manifest=$(cargo metadata --format-version 1 --locked |
    python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rdkafka-sys"))')
source="$(dirname "$manifest")/librdkafka"
version=$(basename "$(dirname "$manifest")")
root="$PWD/target/librdkafka-tests"
build="$root/$version"
if [ ! -x "$build/tests/test-runner" ]; then
    echo "==> building librdkafka's test runner from $source (about a minute on 2 cores)"
    rm -rf "$build" && mkdir -p "$root" && cp -r "$source" "$build"
    (cd "$build" &&
        ./configure --disable-ssl --disable-gssapi --disable-sasl --disable-curl --disable-lz4-ext > build-configure.txt 2>&1 &&
        make -j"$(nproc)" libs > build-libs.txt 2>&1 &&
        make -j"$(nproc)" -C tests build > build-tests.txt 2>&1) ||
        { echo "build failed; see the logs in $build" >&2; exit 1; }
fi

cargo build --quiet -p runnel
work=$(mktemp -d)
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$work"' EXIT
printf 'num.partitions=4\nauto.create.topics.enable=true\ngroup.initial.rebalance.delay.ms=3000\n' > "$work/server.properties"
target/debug/runnel serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen off \
    -c "$work/server.properties" > "$work/out" 2> "$work/broker.log" &
broker=$!
for _ in $(seq 100); do grep -q "^runnel listening" "$work/out" && break; sleep 0.1; done
bootstrap=$(awk '/^runnel listening on/ {print $4}' "$work/out")
echo "metadata.broker.list=$bootstrap" > "$build/tests/test.conf"
mkdir -p "$root/logs"

failed=0
printf '%-8s %-6s %s\n' TEST RESULT SECONDS
for test in "$@"; do
    started=$(date +%s%N)
    # In a shell of its own, whose report of a test runner's abort goes to the test's log.
    if (cd "$build/tests" && TESTS="$test" TEST_KAFKA_VERSION=3.9.0 LD_LIBRARY_PATH=../src:../src-cpp \
        bash -c 'timeout 600 ./test-runner; status=$?; exit $status' > "$root/logs/$test.log" 2>&1); then
        result=PASS
    else
        result=FAIL
        failed=1
    fi
    ms=$((($(date +%s%N) - started) / 1000000))
    printf '%-8s %-6s %d.%d\n' "$test" "$result" $((ms / 1000)) $((ms % 1000 / 100))
done
cp "$work/broker.log" "$root/logs/broker.log"
echo "logs in $root/logs (the broker's: broker.log)"
exit $failed
