#!/usr/bin/env bash
# Runs librdkafka's own C test suite against runnel. The suite is built from the librdkafka
# source the rdkafka-sys crate carries (found with cargo metadata: no download), once per
# librdkafka version, under target/librdkafka-tests/. Fresh `runnel serve` brokers are
# configured as the suite's scenarios expect: "default" (auto-created topics of 4 partitions)
# and, when an entry asks for it, "noautocreate"; both with the 3 s initial rebalance delay its
# group tests assume.
# TEST_KAFKA_VERSION is 3.9.0: runnel serves that protocol (with Kafka 4.0's minimum versions).
#
# Usage: scripts/librdkafka_tests.sh [--jobs N] [--list FILE] [--update-docs] [ENTRY...]
#   No ENTRY: every entry of the list (tests/librdkafka/tests.list) marked "yes", longest first;
#   --update-docs then writes the results table into docs/compatibility.md.
#   ENTRY is TEST[:SUBTEST][@SCENARIO]: a test number (0081), a substring of its sub-test names
#   (do_test_CreateTopics; "+" stands for a space) and default, noautocreate, or consumer (the
#   default broker, with the suite's consumers on KIP-848's group.protocol=consumer).
#   Entries run in parallel (--jobs, default 4), each in a test runner of its own. Logs go to
#   target/librdkafka-tests/logs/; each line of its results.txt reads "ENTRY RESULT SECONDS
#   [NOTE]", RESULT being PASS, FAIL or SKIP (the runner, or every sub-test, skipped it).
#   Exits 1 unless every entry passed.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=4
list=tests/librdkafka/tests.list
update_docs=false
while [ $# -gt 0 ]; do
    case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --list) list=$2; shift 2 ;;
    --update-docs) update_docs=true; shift ;;
    -h | --help) sed -n '2,17p' "$0" | cut -c3-; exit 0 ;;
    *) break ;;
    esac
done
if [ $# -gt 0 ]; then
    entries=("$@")
else
    # Longest first, so that the parallel runs end together.
    mapfile -t entries < <(awk '!/^#/ && $3 == "yes" { print $4, $1 "@" $2 }' "$list" | sort -rn | cut -d' ' -f2)
fi

manifest=$(cargo metadata --format-version 1 --locked |
    python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rdkafka-sys"))')
source="$(dirname "$manifest")/librdkafka"
version=$(basename "$(dirname "$manifest")")
root="$PWD/target/librdkafka-tests"
# RapidJSON (Debian's rapidjson-dev) lets the suite check statistics JSON (0110 needs it): a
# runner built with it is kept apart from one built without.
if [ -f /usr/include/rapidjson/schema.h ]; then flavour=rapidjson; else
    flavour=plain
    echo "note: rapidjson-dev is not installed; tests that check statistics JSON will skip" >&2
fi
build="$root/$version-$flavour"
if [ ! -x "$build/tests/test-runner" ]; then
    echo "==> building librdkafka's test runner from $source (about 3 minutes on 2 cores)"
    rm -rf "$build" && mkdir -p "$root" && cp -r "$source" "$build"
    # Build logs must not be named configure.*: mklove would load them as modules.
    (cd "$build" &&
        ./configure --disable-ssl --disable-gssapi --disable-sasl --disable-curl --disable-lz4-ext > build-configure.txt 2>&1 &&
        make -j"$(nproc)" libs > build-libs.txt 2>&1 &&
        make -j"$(nproc)" -C tests build > build-tests.txt 2>&1) ||
        { echo "build failed; see the logs in $build" >&2; exit 1; }
fi

# The same build as scripts/test.sh: building runnel alone resolves other features and would
# rebuild the broker and its dependencies a second time.
cargo build --quiet --workspace --all-targets
work=$(mktemp -d)
brokers=()
cleanup() {
    for pid in "${brokers[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Disowned, so not waitable: watch them go.
    for pid in "${brokers[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
    rm -rf "$work"
}
trap cleanup EXIT
logs="$root/logs"
rm -rf "$logs" && mkdir -p "$logs"

# start_broker SCENARIO AUTO_CREATE: a broker of its own, and the test.conf that points at it.
start_broker() {
    local scenario=$1 auto_create=$2 dir="$work/$1"
    mkdir -p "$dir"
    printf 'num.partitions=4\nauto.create.topics.enable=%s\ngroup.initial.rebalance.delay.ms=3000\n' \
        "$auto_create" > "$dir/server.properties"
    target/debug/runnel serve --data-dir "$dir/data" --listen 127.0.0.1:0 --http-listen off \
        -c "$dir/server.properties" > "$dir/out" 2> "$logs/broker-$scenario.log" &
    brokers+=($!)
    disown # not one of the test jobs counted and waited for below
    for _ in $(seq 100); do grep -q "^runnel listening" "$dir/out" && break; sleep 0.1; done
    local bootstrap
    bootstrap=$(awk '/^runnel listening on/ {print $4}' "$dir/out")
    [ -n "$bootstrap" ] || { echo "the $scenario broker did not start; see $logs/broker-$scenario.log" >&2; exit 1; }
    echo "metadata.broker.list=$bootstrap" > "$work/$scenario.conf"
}
start_broker default true
if printf '%s\n' "${entries[@]}" | grep -q '@noautocreate$'; then start_broker noautocreate false; fi

# run_one ENTRY: one test runner for TEST[:SUBTEST][@SCENARIO]; appends its line to results.
run_one() {
    local entry=$1 test subtest="" scenario=default started ms result
    test=${entry%@*}
    [ "$test" != "$entry" ] && scenario=${entry##*@}
    if [[ $test == *:* ]]; then subtest=${test#*:}; test=${test%%:*}; fi
    subtest=${subtest//+/ } # "+" stands for a space in a list entry
    local log="$logs/${entry//[:@\/]/_}.log" protocol=""
    if [ "$scenario" = consumer ]; then scenario=default protocol=consumer; fi
    started=$(date +%s%N)
    # PASS: the runner succeeded and ran the test; SKIP: it succeeded without running it (a
    # test the runner skips for this broker version or scenario does not belong on the list).
    # CI=1 always: the runner's CI mode (longer timeouts, its latency measurements skipped) on
    # every machine, so a run here gives the same verdicts as CI's.
    if (cd "$build/tests" &&
        CI=1 TESTS="$test" SUBTESTS="$subtest" TEST_KAFKA_VERSION=3.9.0 RDKAFKA_TEST_CONF="$work/$scenario.conf" \
            LD_LIBRARY_PATH=../src:../src-cpp env ${protocol:+TEST_CONSUMER_GROUP_PROTOCOL=$protocol} \
            timeout 600 ./test-runner -L -s "$scenario" > "$log" 2>&1); then
        if grep -q "= Test .* PASSED =" "$log"; then result=PASS; else result=SKIP; fi
    else
        result=FAIL
    fi
    # Sub-tests the test itself skips (needing SASL, say) are counted; all skipped is a SKIP.
    local passed skipped note=""
    passed=$(grep -ac ": PASS (" "$log" || true)
    skipped=$(grep -ac ": SKIP: " "$log" || true)
    if [ "$skipped" -gt 0 ]; then
        note="$skipped sub-tests skipped"
        [ "$result" = PASS ] && [ "$passed" -eq 0 ] && result=SKIP
    fi
    ms=$((($(date +%s%N) - started) / 1000000))
    printf '%-45s %-5s %5d.%d %s\n' "$entry" "$result" $((ms / 1000)) $((ms % 1000 / 100)) "$note" |
        tee -a "$logs/results.txt"
    # CI keeps only the console: a failure shows the end of its log there.
    if [ "$result" = FAIL ]; then
        grep -av "test(s) running" "$log" | tail -n 40 | cut -c1-300 | sed "s/^/    $entry| /" >&2 || true
    fi
}

echo "==> ${#entries[@]} entries, $jobs at a time; logs in $logs"
started=$(date +%s)
for entry in "${entries[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$entry" &
done
wait $(jobs -rp) 2>/dev/null || true
failed=$(awk '$2 != "PASS"' "$logs/results.txt" | wc -l)
if $update_docs && [ $# -eq 0 ]; then
    python3 scripts/librdkafka_table.py "$list" "$logs/results.txt" "$build/tests/test.c" docs/compatibility.md
    echo "==> wrote the results table into docs/compatibility.md"
fi
echo "==> $((${#entries[@]} - failed)) passed, $failed failed or skipped in $(($(date +%s) - started)) s"
[ "$failed" -eq 0 ]
