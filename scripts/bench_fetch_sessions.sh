#!/usr/bin/env bash
# What fetch sessions (KIP-227) save the broker: a Java consumer idle-polls every partition of
# a topic of N partitions at its end for S seconds, against a release broker with fetch sessions
# (the default) and with none (max.incremental.fetch.session.cache.slots=0: every fetch names
# every partition), and, with BEFORE=path/to/runnel, against that build with sessions too;
# alternating twice in one run. Each broker is first left alone for S seconds with the topic,
# so its own background CPU can be taken out. Reports the broker's CPU time and Fetch requests
# over each window, and the CPU per Fetch above the idle broker's. CPU is the broker's
# task-clock from `perf stat` where perf is installed (sub-millisecond), else /proc ticks (10 ms).
# Usage: [BEFORE=runnel-binary] scripts/bench_fetch_sessions.sh [N=1000] [S=30]
#        (needs a JDK; jars from PyPI)
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
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DATA" "$DATA".* "$classes"' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# The broker's CPU time in ms over running "$@" (perf's task-clock, else /proc ticks).
cpu_ms_during() {
    if command -v perf > /dev/null && perf stat -e task-clock -p "$PID" -- true > /dev/null 2>&1; then
        perf stat -x, -e task-clock -p "$PID" -- "$@" 2> "$DATA.perf" > "$DATA.cmd"
        awk -F, '/task-clock/ {printf "%d", $1}' "$DATA.perf"
    else
        local t0; t0=$(ticks)
        "$@" > "$DATA.cmd"
        echo $((($(ticks) - t0) * 1000 / $(getconf CLK_TCK)))
    fi
}
fetches() { curl -s "$1/metrics" | awk '/^runnel_requests_total\{api="Fetch"\}/ {print $2}'; }
run() { # run LABEL BINARY SLOTS
    printf 'max.incremental.fetch.session.cache.slots=%s\n' "$3" > "$DATA.properties"
    "$2" serve --data-dir "$DATA/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 -c "$DATA.properties" \
        > "$DATA.out" 2>/dev/null &
    PID=$!
    until grep -q "^runnel listening" "$DATA.out" 2>/dev/null; do sleep 0.05; done
    local bootstrap http t0 f0 polls idle_ms
    bootstrap=$(awk '/^runnel listening on/ {print $4}' "$DATA.out")
    http=$(awk '/^runnel http listening on/ {print $5}' "$DATA.out")
    # The topic exists from the first run on: only the windows are measured.
    java -cp "$classpath$classes" IdlePoller "$bootstrap" idle "$N" 3 > /dev/null 2>&1
    idle_ms=$(cpu_ms_during sleep "$S")
    f0=$(fetches "$http")
    local cpu_ms fetched
    cpu_ms=$(cpu_ms_during java -cp "$classpath$classes" IdlePoller "$bootstrap" idle "$N" "$S")
    polls=$(cat "$DATA.cmd")
    fetched=$(python3 -c "print(int(float('$(fetches "$http")') - float('$f0')))")
    printf '%-24s idle broker %4d ms, polled %5d ms over %s s, %4d Fetch requests, %6.1f us of CPU per Fetch above idle (%s polls)\n' \
        "$1" "$idle_ms" "$cpu_ms" "$S" "$fetched" "$(python3 -c "print(($cpu_ms - $idle_ms) * 1000 / max(1, $fetched))")" "$polls"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
for round in 1 2; do
    run "sessions (default)" "$BIN" 1000
    run "no sessions (slots=0)" "$BIN" 0
    if [ -n "${BEFORE:-}" ]; then run "sessions, BEFORE build" "$BEFORE" 1000; fi
done
