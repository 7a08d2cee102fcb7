#!/usr/bin/env bash
# What fetch sessions (KIP-227) save the broker: a Java consumer idle-polls every partition of
# a topic of N partitions at its end for S seconds, against a release broker with fetch sessions
# (the default) and with none (max.incremental.fetch.session.cache.slots=0: every fetch names
# every partition), alternating twice in one run. Reports the broker's CPU time and Fetch
# requests over each window, and the CPU per Fetch.
# Usage: scripts/bench_fetch_sessions.sh [N=1000] [S=30]   (needs a JDK; jars from PyPI)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
S="${2:-30}"
BIN="$PWD/target/release/runnel"
[ -x "$BIN" ] || cargo build --release -p runnel
classpath=$(scripts/java_classpath.sh)
classes=$(mktemp -d)
javac -d "$classes" -cp "$classpath" scripts/java/IdlePoller.java
DATA=$(mktemp -d "$PWD/target/sessions.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DATA" "$classes"' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
fetches() { curl -s "$1/metrics" | awk '/^runnel_requests_total\{api="Fetch"\}/ {print $2}'; }
run() { # run LABEL SLOTS
    printf 'max.incremental.fetch.session.cache.slots=%s\n' "$2" > "$DATA.properties"
    "$BIN" serve --data-dir "$DATA/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 -c "$DATA.properties" \
        > "$DATA.out" 2>/dev/null &
    PID=$!
    until grep -q "^runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.05; done
    local bootstrap http t0 f0 polls
    bootstrap=$(awk '/^runnel listening on/ {print $4}' "$DATA.out")
    http=$(awk '/^runnel http listening on/ {print $5}' "$DATA.out")
    # The topic exists from the first run on: only the polling window is measured.
    java -cp "$classpath$classes" IdlePoller "$bootstrap" idle "$N" 3 > /dev/null 2>&1
    t0=$(ticks); f0=$(fetches "$http")
    polls=$(java -cp "$classpath$classes" IdlePoller "$bootstrap" idle "$N" "$S" 2>/dev/null)
    local cpu_ms=$((($(ticks) - t0) * 1000 / $(getconf CLK_TCK))) fetched
    fetched=$(python3 -c "print(int(float('$(fetches "$http")') - float('$f0')))")
    printf '%-22s broker CPU %6d ms over %s s, %5d Fetch requests, %6.1f us of CPU per Fetch (%s polls)\n' \
        "$1" "$cpu_ms" "$S" "$fetched" "$(python3 -c "print($cpu_ms * 1000 / max(1, $fetched))")" "$polls"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
for round in 1 2; do
    run "sessions (default)" 1000
    run "no sessions (slots=0)" 0
done
